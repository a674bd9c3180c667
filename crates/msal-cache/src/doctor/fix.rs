//! `doctor --fix`: applies the fixes `doctor` advises where they are safe
//! to apply without a person deciding (file modes, a stale lockfile or
//! something that is not a lockfile at its path, a corrupt cache, which is
//! kept as a recoverable copy before it is emptied). Never applied: changes
//! of owner, moving a cache between stores, deleting copies.

use std::path::PathBuf;

use msal_extensions::lock;
use msal_extensions::{CopyReason, OnCorrupt, PersistedTokenCache, Persistence};

use crate::BoxResult;
use crate::output::{clean, shell_quote};
use crate::source::Source;

/// A fix `doctor --fix` can apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `chmod 600` the file.
    #[cfg_attr(not(unix), allow(dead_code))] // file modes are checked on Unix only
    Chmod600(PathBuf),
    /// `chmod u+wx` our own folder (Windows: clear its read-only attribute).
    OwnerWritable(PathBuf),
    /// Remove the lockfile if it is (still) provably stale.
    UnlockStale(PathBuf),
    /// Rename what sits at the lockfile path (a directory, a FIFO...) out of the way.
    MoveAside(PathBuf, PathBuf),
    /// Remove a symbolic link planted at the lockfile path (not its target).
    RemoveLink(PathBuf),
    /// Keep a copy of the corrupt content and empty the cache (`clear --yes`).
    Repair,
}

impl Action {
    /// Applies the fix; returns what was done, for the output.
    pub fn apply(&self, src: &Source) -> BoxResult<String> {
        let q = |p: &PathBuf| shell_quote(p.as_os_str());
        match self {
            Action::Chmod600(p) => {
                set_mode(p, |_| 0o600)?;
                Ok(format!("chmod 600 {}", q(p)))
            }
            Action::OwnerWritable(p) => {
                set_mode(p, |m| m | 0o300)?;
                Ok(format!("chmod u+wx {}", q(p)))
            }
            Action::UnlockStale(p) => match lock::remove_stale(p)? {
                s if s.is_stale() => Ok(format!("removed the stale lockfile {}", q(p))),
                // Reading a corrupt cache takes the lock, which clears a dead holder's lockfile.
                lock::LockState::Absent => Ok(format!("the stale lockfile {} is gone already", q(p))),
                _ => Err(format!("{} is no longer stale (a process took the lock): left alone", q(p)).into()),
            },
            Action::MoveAside(from, to) => {
                std::fs::rename(from, to)?;
                Ok(format!("mv {} {}", q(from), q(to)))
            }
            Action::RemoveLink(p) => {
                std::fs::remove_file(p)?;
                Ok(format!("removed the link {}", q(p)))
            }
            Action::Repair => repair(src),
        }
    }
}

/// Keeps a copy of the corrupt content, then lets the library make what it
/// can of it ([`OnCorrupt::Quarantine`]: the complete cache at its start,
/// else an empty cache) and writes that.
fn repair(src: &Source) -> BoxResult<String> {
    let p = src.open()?;
    let copy = p.keep_copy(CopyReason::Corrupt)?;
    let cache =
        PersistedTokenCache::new(p).lock_options(src.lock_options()).on_corrupt(OnCorrupt::Quarantine);
    let (kept, report) = cache.modify_reporting(|c| Ok(c.len()))?;
    let copy = match &copy {
        Some(c) => format!("kept the bad content at {}", clean(&c.to_string())),
        None => "this store keeps no copy".into(),
    };
    Ok(match (report.written, kept) {
        (false, _) => format!("the cache is readable again (written meanwhile by another program); {copy}"),
        (true, 0) => format!("emptied the cache; {copy}; sign in again"),
        (true, n) => format!("kept the {n} entries of the complete cache at its start; {copy}"),
    })
}

#[cfg(unix)]
fn set_mode(p: &std::path::Path, mode: impl Fn(u32) -> u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let now = std::fs::metadata(p)?.permissions().mode() & 0o7777;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode(now)))
}

#[cfg(not(unix))]
fn set_mode(p: &std::path::Path, _mode: impl Fn(u32) -> u32) -> std::io::Result<()> {
    let mut perms = std::fs::metadata(p)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)] // the Windows read-only attribute is what blocks saves
    perms.set_readonly(false);
    std::fs::set_permissions(p, perms)
}
