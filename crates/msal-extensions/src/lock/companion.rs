//! The lock's companion file: what keeps processes using this crate mutually
//! exclusive even when a peer deletes the lockfile under a live holder.
//!
//! # Why
//! msal-node-extensions releases its lock by deleting `<cache>.lockfile`
//! after every cache access, whether or not it holds the lock, so it can
//! delete the lockfile of a live Rust holder. The lockfile protocol cannot
//! survive that: the next Rust process finds no lockfile, creates its own, and
//! two processes hold "the" lock.
//!
//! # Protocol
//! Before the lockfile protocol (see [`crate::lock`]), a Rust process takes
//! an OS lock (`flock`; `LockFileEx` on Windows) on a second file,
//! `<lockfile>.guard`, and holds it until after the lockfile is released:
//!
//! - The guard is created empty (`0600`) on first use and **never deleted or
//!   written** by this crate, and no MSAL peer knows its name, so nobody
//!   deletes it: an OS lock on it excludes every other holder of the same
//!   file, with none of the deleted-inode races a deleted lockfile has.
//! - Acquire = guard, then lockfile; release = lockfile, then guard. A Rust
//!   process therefore enters only when no other Rust process holds the
//!   guard, whatever happened to the lockfile meanwhile.
//! - Peers are unaffected: they never open the guard, and the lockfile is
//!   created, stamped, locked and deleted exactly as before, so every peer
//!   sees what it always saw. The guard only adds an ordering among our own
//!   processes (which also makes them queue on it instead of on the lockfile).
//!
//! If the guard cannot be opened for lack of permission (a folder shared
//! read-only, a guard left by another user), the lock goes on with the
//! lockfile protocol alone, as before the guard existed, and says so once in
//! the log.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, IoResultExt, Result};
use crate::sys;

/// `<lockfile>.guard`.
pub(crate) fn guard_path(lockfile: &Path) -> PathBuf {
    let mut s = lockfile.as_os_str().to_owned();
    s.push(".guard");
    PathBuf::from(s)
}

/// The guard's OS lock, held while this value lives.
#[derive(Debug)]
pub(crate) struct Guard(#[allow(dead_code)] File); // held for its lock; closing releases it

/// What [`acquire`] found.
pub(crate) enum Acquired {
    /// We hold the guard.
    Held(Guard),
    /// The guard cannot be used here; go on with the lockfile alone.
    Unusable,
    /// Another process held the guard until the deadline.
    TimedOut,
}

/// Takes the guard of `lockfile`, pausing with `pause` between tries
/// (`false` from it means the deadline passed).
pub(crate) fn acquire(lockfile: &Path, mut pause: impl FnMut() -> bool) -> Result<Acquired> {
    let path = guard_path(lockfile);
    let Some(file) = open(&path)? else { return Ok(Acquired::Unusable) };
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Acquired::Held(Guard(file))),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        if !pause() {
            return Ok(Acquired::TimedOut);
        }
    }
}

/// Opens the guard, creating it (and its folder) when missing. `None` when
/// this process may not open it.
fn open(path: &Path) -> Result<Option<File>> {
    let opened = match sys::open_or_create_companion(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = sys::parent_dir(path);
            sys::create_private_dir_all(&dir).with_path("create the folder", &dir)?;
            sys::open_or_create_companion(path)
        }
        other => other,
    };
    let e = match opened {
        Ok(file) => return Ok(Some(file)),
        Err(e) => e,
    };
    if let Some(found) = sys::not_regular_kind(&e) {
        return Err(Error::LockfileUnusable { lockfile: path.to_path_buf(), found });
    }
    if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) {
        warn_unusable(path);
        return Ok(None);
    }
    Err(Error::io("open the lock's guard file", path, e))
}

fn warn_unusable(path: &Path) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "cannot open the lock's guard file {} (permission denied); locking with the lockfile alone, \
             which a peer deleting the lockfile can defeat",
            path.display()
        );
    }
}
