//! [`CrossPlatLock`]: a cross-process lock on `<cache>.lockfile` that every
//! MSAL extension library respects.
//!
//! # Protocol
//! MSAL's libraries disagree on what "the lock is held" means. Python without
//! portalocker and Node treat the lockfile's *existence* as the lock; Python
//! with portalocker, .NET and Go hold `flock` on it. A holder here does both:
//!
//! 1. **Create, already stamped and locked.** The content `"<pid> <argv0>"`
//!    is written into a nameless file, which is `flock`ed and then linked to
//!    the lockfile path (`link` fails if the path is taken, like `O_EXCL`).
//!    Peers therefore never see our lockfile empty or unlocked.
//! 2. **If the path is taken**, open the existing file and try its `flock`.
//!    Busy means a live `flock` holder: wait. Free means either an
//!    existence-only holder (Python without portalocker, Node) or a crashed
//!    one. After taking the `flock`, check that the path *still names the
//!    inode we locked* (else the holder just released it: start over). Then
//!    read the pid: a live pid is an existence-only holder, so let go and
//!    wait; a dead pid (or one whose process started after the lockfile was
//!    written, i.e. a reused pid) is a crashed holder: delete the file while
//!    holding its `flock` and start over. A file with no readable pid is
//!    judged stale only after it has sat unchanged and unlocked for a grace
//!    period, because peers create it empty and write their pid a moment later.
//! 3. **Release:** delete the path while still holding the `flock`, then
//!    close. Waiters that were polling the old inode see it is no longer the
//!    path's and start over, so the classic "flock on a deleted lockfile" race
//!    cannot give two holders among processes using this crate.
//!
//! 4. **Guard.** Around all of this a holder also holds an OS lock on a
//!    companion file, `<lockfile>.guard`, that nobody deletes, so two
//!    processes using this crate never hold the lock at once even when a peer
//!    (msal-node-extensions) deletes the lockfile of a live holder. See
//!    `lock/companion.rs` for the protocol and why peers are unaffected.
//!
//! Nothing here ever blocks in the kernel: lockfiles are opened with
//! `O_NONBLOCK`, and a lockfile path holding anything but a regular file (a
//! directory, a FIFO, a socket) is reported at once as
//! [`Error::LockfileUnusable`], naming the path and the command that removes it.
//!
//! On Windows the same steps run on Windows primitives: the lockfile is
//! created with `CREATE_NEW` and a handle that does not share delete access,
//! then locked with `LockFileEx`; it is deleted through the holder's own
//! handle; and the sharing, access and delete-pending errors a holder causes
//! for others count as "busy". See `sys/windows.rs` for the details.
//!
//! Waiting is a jittered exponential backoff from 0.2 ms to 2 ms (the
//! reference polls every 250 ms), bounded by a timeout (30 s by default).
//! Threads of one process queue on an in-process condition variable first,
//! so a handoff between threads costs no polling. A process that comes
//! straight back for a lock it just released after waiting for it steps back
//! for about a millisecond first, so that waiters sleeping in backoff get
//! their turn instead of starving.
//!
//! Waiters are not served in arrival order: after a release, whichever
//! looks first wins. Under sustained oversubscription a waiter's wait has a
//! long tail (`docs/reliability.md` has figures); raise the timeout if an
//! application expects that kind of load.
//!
//! # Advisory
//! Like every lockfile protocol, this one binds only processes that follow
//! it. It coordinates cooperating programs; it is not a security boundary.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, IoResultExt, LockHolder, Result};
use crate::sys::{self, FileId, ProcessState};

mod companion;

/// The lockfile path for a cache at `location`: `<location>.lockfile`.
pub fn default_lock_path(location: &Path) -> PathBuf {
    let mut s = location.as_os_str().to_owned();
    s.push(".lockfile");
    PathBuf::from(s)
}

/// The lock's companion guard file for `lockfile`: `<lockfile>.guard` (see
/// the [module docs](crate::lock)). It is part of the lock, like the
/// lockfile: a tool must never write, replace or delete it.
///
/// # Examples
/// ```
/// use std::path::{Path, PathBuf};
/// use msal_extensions::lock::guard_path;
/// assert_eq!(guard_path(Path::new("/c.json.lockfile")), PathBuf::from("/c.json.lockfile.guard"));
/// ```
pub fn guard_path(lockfile: &Path) -> PathBuf {
    companion::guard_path(lockfile)
}

/// How [`CrossPlatLock`] waits.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use msal_extensions::LockOptions;
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-lockopt-{}", std::process::id()));
/// let lock = LockOptions::new()
///     .timeout(Duration::from_secs(5))
///     .acquire(dir.join("cache.json.lockfile"))?;
/// drop(lock);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOptions {
    timeout: Duration,
    unidentified_grace: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    guard: bool,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            timeout: Duration::from_secs(30),
            unidentified_grace: Duration::from_secs(2),
            min_backoff: Duration::from_micros(200),
            max_backoff: Duration::from_millis(2),
            guard: true,
        }
    }
}

/// Files without a readable pid older than this are stale however recently we first saw them:
/// no peer takes longer than a few seconds between creating its lockfile and stamping it.
const UNIDENTIFIED_MAX_AGE: Duration = Duration::from_secs(10);

impl LockOptions {
    /// The defaults: 30 s timeout, 2 s grace for lockfiles without a pid,
    /// backoff between 0.2 ms and 2 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long [`acquire`](Self::acquire) waits before giving up with
    /// [`Error::LockTimeout`]. `Duration::ZERO` tries once; a timeout too
    /// long for the clock to count (such as `Duration::MAX`) waits for ever.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a lockfile with no readable pid (empty, or garbage) must stay
    /// unchanged and unlocked before it is treated as stale. Peers create the
    /// file and write their pid a moment later, so this must not be zero.
    pub fn unidentified_grace(mut self, grace: Duration) -> Self {
        self.unidentified_grace = grace;
        self
    }

    /// The range of the jittered exponential backoff between attempts.
    /// `max` is raised to `min` if smaller.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Whether to also hold the companion guard `<lockfile>.guard` (default
    /// `true`; see the [module docs](crate::lock)). The guard keeps this
    /// crate's processes exclusive when a peer deletes a live lockfile, and
    /// stays in the folder for good. Turn it off only for a lockfile no MSAL
    /// peer knows about (a program's own private lock, such as msal-client's
    /// renewal leases): there nobody deletes a live lockfile, the lockfile
    /// protocol alone is exclusive, and no guard file is left behind.
    pub fn guard(mut self, yes: bool) -> Self {
        self.guard = yes;
        self
    }

    /// The timeout in force.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// Acquires the lock at `lockfile`, waiting up to the timeout.
    ///
    /// # Errors
    /// [`Error::LockTimeout`] naming the holder when the deadline passes;
    /// [`Error::LockfileUnusable`] at once when the path holds a directory,
    /// FIFO, socket or device; [`Error::Io`] when the lockfile or its folder
    /// cannot be created or opened (e.g. permission denied, or a symbolic
    /// link planted at the lockfile path).
    pub fn acquire(&self, lockfile: impl AsRef<Path>) -> Result<CrossPlatLock> {
        CrossPlatLock::acquire_inner(lockfile.as_ref(), self)
    }
}

/// A held cross-process lock; released (and its lockfile deleted) on drop.
///
/// Equivalent to the Python reference's `CrossPlatLock` context manager, and
/// compatible with it (with or without portalocker) and with the .NET, Go and
/// Node libraries locking the same `<cache>.lockfile`. See the
/// [module docs](crate::lock) for the protocol.
///
/// # Examples
/// ```
/// use msal_extensions::{CrossPlatLock, FilePersistence, Persistence};
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-lock-{}", std::process::id()));
/// let cache = FilePersistence::new(dir.join("cache.json"))?;
/// {
///     let _lock = CrossPlatLock::acquire(cache.lock_path())?;
///     // read-modify-write under the lock
///     let old = cache.load().unwrap_or_default();
///     cache.save(&(old + "x"))?;
/// } // released here
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct CrossPlatLock {
    path: PathBuf,
    file: Option<File>,
    /// The guard's OS lock (see `lock/companion.rs`), released after the lockfile.
    guard: Option<companion::Guard>,
    id: FileId,
    slot: Option<ProcessSlot>,
    /// Whether we had to wait for it (others are likely waiting too).
    contended: bool,
}

impl CrossPlatLock {
    /// Acquires the lock at `lockfile` with the default [`LockOptions`].
    ///
    /// # Errors
    /// See [`LockOptions::acquire`].
    pub fn acquire(lockfile: impl AsRef<Path>) -> Result<Self> {
        LockOptions::default().acquire(lockfile)
    }

    /// The lockfile this guard holds.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the lock now, reporting a failure to delete the lockfile
    /// (dropping the guard does the same but ignores errors).
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn acquire_inner(lockfile: &Path, opts: &LockOptions) -> Result<Self> {
        let started = Instant::now();
        let deadline = deadline_after(started, opts.timeout);
        let path = absolute(lockfile);
        let slot = ProcessSlot::enter(&path, deadline).ok_or_else(|| Error::LockTimeout {
            lockfile: path.clone(),
            waited: started.elapsed(),
            holder: Some(LockHolder {
                pid: Some(std::process::id()),
                program: Some(own_program()),
                held_for: None,
                unrelated_process: None,
            }),
        })?;
        let stamp = format!("{} {}", std::process::id(), own_program());
        let mut waiter = Waiter::new(opts);
        yield_to_waiters(&path, deadline, &mut waiter.rng);
        let acquired = if opts.guard {
            companion::acquire(&path, || waiter.pause(deadline))?
        } else {
            companion::Acquired::Unusable
        };
        let guard = match acquired {
            companion::Acquired::Held(g) => Some(g),
            companion::Acquired::Unusable => None,
            companion::Acquired::TimedOut => {
                let holder = holder_at(&path);
                return Err(Error::LockTimeout { lockfile: path, waited: started.elapsed(), holder });
            }
        };
        loop {
            match attempt(&path, stamp.as_bytes(), &mut waiter, opts)? {
                Attempt::Acquired(file, id) => {
                    let contended = waiter.paused;
                    let slot = Some(slot);
                    return Ok(CrossPlatLock { path, file: Some(file), guard, id, slot, contended });
                }
                // Starting over is immediate, but not past the deadline: a
                // folder or lockfile deleted over and over must not spin forever.
                Attempt::Retry if Instant::now() < deadline => continue,
                Attempt::Retry => {}
                // The latest reason to wait: a live existence holder, or a flock holder (None).
                Attempt::Busy(holder) => waiter.last_holder = holder,
            }
            if !waiter.pause(deadline) {
                // Read who holds it once, when giving up, not on every poll.
                let holder = match waiter.last_holder.take() {
                    Some(existence_holder) => Some(identify(existence_holder)),
                    None => holder_at(&path),
                };
                return Err(Error::LockTimeout { lockfile: path, waited: started.elapsed(), holder });
            }
        }
    }

    fn release_inner(&mut self) -> Result<()> {
        let Some(file) = self.file.take() else { return Ok(()) };
        let result = self.delete_if_ours(&file);
        drop(file); // closing the descriptor releases the flock
        drop(self.guard.take()); // then the guard, so the next Rust holder finds the lockfile gone
        if self.contended {
            note_contended_release(&self.path);
        }
        drop(self.slot.take());
        result
    }

    /// Deletes the lockfile while we still hold its flock, so existence-based
    /// peers see it free, unless the path no longer names our file, or a peer
    /// emptied it while we held it (Python with portalocker opens the lockfile
    /// with `O_TRUNC` and then waits for our flock on *this* inode: deleting it
    /// would hand that peer a lock on a deleted file while others create a new one).
    fn delete_if_ours(&self, file: &File) -> Result<()> {
        let emptied_by_waiter = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
        if emptied_by_waiter || sys::path_id(&self.path).ok() != Some(self.id) {
            return Ok(());
        }
        match sys::delete_held(file, &self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io("delete the lockfile", &self.path, e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for CrossPlatLock {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

impl fmt::Debug for CrossPlatLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossPlatLock").field("path", &self.path).field("held", &self.file.is_some()).finish()
    }
}

enum Attempt {
    Acquired(File, FileId),
    Busy(Option<LockHolder>),
    Retry,
}

/// One try: create the lockfile, or judge the existing one.
fn attempt(path: &Path, stamp: &[u8], waiter: &mut Waiter, opts: &LockOptions) -> Result<Attempt> {
    // Probe an existing lockfile first: while the lock is busy this is the
    // cheap path (open + flock), and it is what every waiter repeats.
    match open_lockfile(path)? {
        Opened::File(file) => return judge_existing(path, file, waiter, opts),
        Opened::Absent => {}
        Opened::Busy => return Ok(Attempt::Busy(None)), // Windows: in use or being deleted
    }
    match sys::create_stamped_lockfile(path, stamp) {
        Ok(Some(file)) => {
            let id = sys::file_id(&file).with_path("read the identity of", path)?;
            Ok(Attempt::Acquired(file, id))
        }
        Ok(None) => Ok(Attempt::Retry), // created by someone else meanwhile: judge theirs
        Err(e) if sys::is_busy(&e) => Ok(Attempt::Busy(None)),
        // The folder is missing (first use, or deleted): create it only then,
        // so the common acquire costs no extra stat.
        Err(e) if e.kind() == io::ErrorKind::NotFound => match path.parent() {
            Some(dir) => {
                sys::create_private_dir_all(dir).with_path("create the folder", dir)?;
                Ok(Attempt::Retry)
            }
            None => Err(Error::io("create the lockfile", path, e)),
        },
        Err(e) => Err(Error::io("create the lockfile", path, e)),
    }
}

fn judge_existing(path: &Path, file: File, waiter: &mut Waiter, opts: &LockOptions) -> Result<Attempt> {
    match file.try_lock() {
        Ok(()) => judge_unlocked(path, file, waiter, opts),
        Err(TryLockError::WouldBlock) => Ok(Attempt::Busy(None)),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// An existing lockfile, opened without blocking.
enum Opened {
    File(File),
    Absent,
    /// Windows: a holder's handle forbids ours, or the file is being deleted.
    Busy,
}

/// Opens the lockfile at `path` without ever blocking, and refuses anything
/// that is not a regular file with [`Error::LockfileUnusable`].
fn open_lockfile(path: &Path) -> Result<Opened> {
    match sys::open_existing(path) {
        Ok(file) => match file.metadata() {
            Ok(m) if m.is_file() => Ok(Opened::File(file)),
            Ok(m) => Err(unusable(path, &m)),
            Err(e) => Err(Error::io("read the metadata of the lockfile", path, e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Opened::Absent),
        Err(e) => {
            // A socket cannot be opened, and on Windows neither can a directory
            // (access denied, which would otherwise read as "busy").
            match fs::symlink_metadata(path) {
                Ok(m) if !m.is_file() && !m.file_type().is_symlink() => Err(unusable(path, &m)),
                _ if sys::is_busy(&e) => Ok(Opened::Busy),
                _ => Err(open_error(path, e)),
            }
        }
    }
}

fn unusable(path: &Path, meta: &fs::Metadata) -> Error {
    Error::LockfileUnusable { lockfile: path.to_path_buf(), found: sys::kind_of(&meta.file_type()) }
}

fn open_error(path: &Path, e: io::Error) -> Error {
    // O_NOFOLLOW reports a symlink as ELOOP (Linux) or EMLINK (BSD).
    if fs::symlink_metadata(path).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
        return Error::io(
            "open (it is a symbolic link, which is never followed; remove it) the lockfile",
            path,
            e,
        );
    }
    Error::io("open the lockfile", path, e)
}

/// We hold the flock of an existing lockfile: decide whether its holder is
/// alive (an existence-only peer), crashed (take it over), or just left.
fn judge_unlocked(path: &Path, file: File, waiter: &mut Waiter, opts: &LockOptions) -> Result<Attempt> {
    let Ok(id) = sys::file_id(&file) else { return Ok(Attempt::Retry) };
    if sys::path_id(path).ok() != Some(id) {
        return Ok(Attempt::Retry); // released (and maybe re-created) while we opened it
    }
    let holder = read_holder(&file);
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    let verdict = match holder.as_ref().and_then(|h| h.pid) {
        Some(pid) => judge_pid(pid, modified),
        None => waiter.judge_unidentified(id, modified, opts),
    };
    if verdict == Verdict::Alive {
        return Ok(Attempt::Busy(holder));
    }
    log::warn!("taking over stale lockfile {} (holder {:?} is gone)", path.display(), holder);
    // Delete while holding its flock: a rival breaker that locks it after us
    // finds the path no longer names it and starts over.
    match sys::delete_held(&file, path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("delete the stale lockfile", path, e)),
        _ => Ok(Attempt::Retry),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Alive,
    Stale,
}

fn judge_pid(pid: u32, lockfile_modified: Option<SystemTime>) -> Verdict {
    if pid == std::process::id() {
        // Our threads queue in-process before touching the file, so a
        // lockfile naming us that nobody flocks is left over from an earlier
        // process that had our pid.
        return Verdict::Stale;
    }
    match sys::process_state(pid) {
        ProcessState::Dead => Verdict::Stale,
        ProcessState::Alive { started: Some(s) } if started_after(s, lockfile_modified) => Verdict::Stale,
        _ => Verdict::Alive,
    }
}

/// `start + timeout`, or, when that is past what an [`Instant`] can hold
/// (`Duration::MAX` for "wait for ever"), the farthest instant it can hold
/// within a factor of two: centuries away, in effect no deadline.
fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    let mut wait = timeout;
    loop {
        // Ends: `start + 0` always fits.
        match start.checked_add(wait) {
            Some(deadline) => return deadline,
            None => wait /= 2,
        }
    }
}

/// A process that started after the lockfile was written cannot have written
/// it: the pid was reused. One second of slack covers the coarse boot time.
fn started_after(started: SystemTime, lockfile_modified: Option<SystemTime>) -> bool {
    lockfile_modified.is_some_and(|m| started > m + Duration::from_secs(1))
}

/// The holder recorded in the lockfile at `path`, if it can be read.
fn holder_at(path: &Path) -> Option<LockHolder> {
    match open_lockfile(path) {
        Ok(Opened::File(f)) => read_holder(&f),
        _ => None,
    }
}

/// Adds to an existence holder (its `flock` is free, its pid alive) whether
/// the live process evidently is not the program that wrote the lockfile.
fn identify(mut holder: LockHolder) -> LockHolder {
    if let (Some(pid), Some(program)) = (holder.pid, holder.program.as_deref()) {
        holder.unrelated_process = unrelated_process(pid, program);
    }
    holder
}

/// The name `pid` runs under now, when none of its names (argv, command
/// name) can be the `recorded` program that wrote the lockfile. Lenient on
/// purpose: Python records its script (`.../__main__.py`) while the process
/// runs as `python3`, so a Python script and a Python interpreter match.
fn unrelated_process(pid: u32, recorded: &str) -> Option<String> {
    let names = sys::process_names(pid)?;
    let want = stem(recorded);
    let python_script = recorded.to_ascii_lowercase().ends_with(".py");
    let related = want.is_empty()
        || names.iter().any(|n| {
            let have = stem(n);
            n == recorded || have == want || (python_script && have.starts_with("python"))
        });
    if related { None } else { names.first().map(|n| stem_display(n)) }
}

/// The lower-cased file name of a program path, without extension.
fn stem(program: &str) -> String {
    let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
    let name = name.strip_suffix(".exe").or_else(|| name.strip_suffix(".py")).unwrap_or(name);
    name.to_ascii_lowercase()
}

fn stem_display(program: &str) -> String {
    let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
    name.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Reads the holder recorded in a lockfile (at most 4 KiB of it).
fn read_holder(file: &File) -> Option<LockHolder> {
    let mut buf = Vec::with_capacity(64);
    file.take(4096).read_to_end(&mut buf).ok()?;
    let held_for = file.metadata().and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok());
    let (pid, program) = parse_lock_content(&String::from_utf8_lossy(&buf));
    Some(LockHolder { pid, program, held_for, unrelated_process: None })
}

/// What [`inspect`] found at a lockfile path: whether a lock is held, by
/// whom, and whether a leftover file is provably stale.
///
/// The verdicts are the ones [`CrossPlatLock`] itself acts on, so a file
/// reported stale here is one any waiting [`CrossPlatLock`] would take over.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No lockfile: nobody holds the lock.
    Absent,
    /// A live process holds the `flock` on it (this crate, Python with
    /// portalocker, .NET, Go): the lock is held.
    HeldByFlock {
        /// What the lockfile records, if anything.
        holder: Option<LockHolder>,
    },
    /// Nobody holds the `flock`, but the recorded process is alive: an
    /// existence-only holder (Python without portalocker, Node). Held.
    HeldByLivePid {
        /// What the lockfile records.
        holder: LockHolder,
    },
    /// Nobody holds the `flock` and the recorded process is dead (or its pid
    /// was reused by a process started after the lockfile was written): the
    /// file is left over from a crash and safe to remove.
    StaleDeadPid {
        /// What the lockfile records.
        holder: LockHolder,
    },
    /// Nobody holds the `flock` and the file records no readable pid.
    /// Peers stamp their pid within moments of creating the file, so one
    /// older than 10 s is `stale`; a younger one may be a peer mid-creation.
    Unidentified {
        /// What could be read (its age).
        holder: Option<LockHolder>,
        /// `true` when the file is old enough to be provably stale.
        stale: bool,
    },
}

impl LockState {
    /// `true` when the lockfile exists and is provably stale (safe to remove).
    pub fn is_stale(&self) -> bool {
        matches!(self, LockState::StaleDeadPid { .. } | LockState::Unidentified { stale: true, .. })
    }

    /// `true` when some live process holds the lock.
    pub fn is_held(&self) -> bool {
        matches!(self, LockState::HeldByFlock { .. } | LockState::HeldByLivePid { .. })
    }

    /// What to tell a user about this state when its holder evidently is not
    /// an MSAL program (see [`LockHolder::advice`]); `None` otherwise.
    pub fn advice(&self, lockfile: &Path) -> Option<String> {
        match self {
            LockState::HeldByLivePid { holder } => holder.advice(lockfile),
            _ => None,
        }
    }

    /// What the lockfile records about its holder, when it exists.
    pub fn holder(&self) -> Option<&LockHolder> {
        match self {
            LockState::Absent => None,
            LockState::HeldByFlock { holder } | LockState::Unidentified { holder, .. } => holder.as_ref(),
            LockState::HeldByLivePid { holder } | LockState::StaleDeadPid { holder } => Some(holder),
        }
    }
}

/// Looks at the lockfile at `lockfile` without taking the lock: absent, held
/// (by a `flock` holder or an existence-only holder whose process is alive),
/// or stale (dead or reused pid; no pid and older than 10 s).
///
/// It takes the lockfile's `flock` for a moment to tell a live `flock` holder
/// from an existence-only one, exactly as a waiting [`CrossPlatLock`] does,
/// and never changes the file.
///
/// # Errors
/// [`Error::LockfileUnusable`] when the path holds a directory, FIFO, socket
/// or device; [`Error::Io`] when the lockfile exists but cannot be opened or
/// locked (e.g. permission denied, or it is a symbolic link).
///
/// # Examples
/// ```
/// use msal_extensions::lock::{inspect, LockState};
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-inspect-{}", std::process::id()));
/// let path = dir.join("cache.json.lockfile");
/// assert_eq!(inspect(&path)?, LockState::Absent);
/// let lock = msal_extensions::CrossPlatLock::acquire(&path)?;
/// assert!(inspect(&path)?.is_held());
/// drop(lock);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
pub fn inspect(lockfile: impl AsRef<Path>) -> Result<LockState> {
    Ok(examine(lockfile.as_ref())?.0)
}

/// Deletes the lockfile at `lockfile` if, and only if, [`inspect`] finds it
/// provably stale, deciding and deleting while holding its `flock` and after
/// checking that the path still names the file judged. Returns the state
/// found: the file was deleted exactly when [`LockState::is_stale`] is `true`.
///
/// A held lock is never broken. (A waiting [`CrossPlatLock`] takes over a
/// stale lockfile by itself; this is for tools and people who want it gone
/// now, e.g. so that Node or Python peers without that recovery stop waiting.)
///
/// # Errors
/// As [`inspect`], plus [`Error::Io`] when the deletion fails.
pub fn remove_stale(lockfile: impl AsRef<Path>) -> Result<LockState> {
    let path = lockfile.as_ref();
    let (state, file) = examine(path)?;
    let Some(file) = file else { return Ok(state) };
    if !state.is_stale() {
        return Ok(state);
    }
    let same = sys::file_id(&file).ok().is_some_and(|id| sys::path_id(path).ok() == Some(id));
    if !same {
        // Released and maybe re-created while we looked: judge the new file afresh.
        drop(file);
        return inspect(path);
    }
    match sys::delete_held(&file, path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("delete the stale lockfile", path, e)),
        _ => Ok(state),
    }
}

/// The state of the lockfile, and the file itself with its `flock` held
/// when we could take it (so a caller can act on the verdict atomically).
fn examine(path: &Path) -> Result<(LockState, Option<File>)> {
    let file = match open_lockfile(path)? {
        Opened::File(f) => f,
        Opened::Absent => return Ok((LockState::Absent, None)),
        // Windows: a holder's handle forbids ours (or the file is being deleted).
        Opened::Busy => return Ok((LockState::HeldByFlock { holder: None }, None)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Ok((LockState::HeldByFlock { holder: read_holder(&file) }, None));
        }
        Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
    }
    let holder = read_holder(&file);
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    let state = match holder.clone().filter(|h| h.pid.is_some()) {
        Some(h) => match judge_pid(h.pid.unwrap_or_default(), modified) {
            Verdict::Alive => LockState::HeldByLivePid { holder: identify(h) },
            Verdict::Stale => LockState::StaleDeadPid { holder: h },
        },
        None => {
            let age = modified.and_then(|m| m.elapsed().ok());
            LockState::Unidentified { holder, stale: age.is_some_and(|a| a >= UNIDENTIFIED_MAX_AGE) }
        }
    };
    Ok((state, Some(file)))
}

/// Parses every peer's lockfile format: `"<pid> <argv0>"` (Python, .NET),
/// `"{<pid>} {<argv0>}"` (Go), `"<pid>"` (Node), `"<pid> <host>"` (Java).
/// Anything else yields no pid; never panics.
pub fn parse_lock_content(content: &str) -> (Option<u32>, Option<String>) {
    let content = content.trim();
    let (first, rest) = content.split_once(char::is_whitespace).unwrap_or((content, ""));
    let pid = first.trim_matches(|c| c == '{' || c == '}').parse::<u32>().ok().filter(|p| *p > 0);
    let program: String = rest
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let program = Some(program).filter(|p| !p.is_empty() && pid.is_some());
    (pid, program)
}

fn own_program() -> String {
    std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().chars().filter(|c| !c.is_control()).collect())
        .unwrap_or_else(|| "rust".into())
}

/// `path`, made absolute against the current folder (as lockfiles are held).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// Backoff state and memory of unidentified lockfiles, for one acquire.
struct Waiter {
    delay: Duration,
    min: Duration,
    max: Duration,
    rng: u64,
    last_holder: Option<LockHolder>,
    unidentified_since: Option<(FileId, Option<SystemTime>, Instant)>,
    /// Whether this acquire had to wait at least once.
    paused: bool,
}

impl Waiter {
    fn new(opts: &LockOptions) -> Self {
        Waiter {
            delay: opts.min_backoff,
            min: opts.min_backoff,
            max: opts.max_backoff,
            rng: seed(),
            last_holder: None,
            unidentified_since: None,
            paused: false,
        }
    }

    /// Sleeps for the next jittered delay, capped at the deadline. `false` if the deadline has passed.
    fn pause(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        // Full jitter in [delay/2, delay]: waiters spread out instead of polling in step.
        self.paused = true;
        let frac = 0.5 + (next_random(&mut self.rng) % 1024) as f64 / 2048.0;
        let sleep = self.delay.mul_f64(frac).min(deadline - now);
        std::thread::sleep(sleep);
        self.delay = (self.delay * 2).clamp(self.min, self.max);
        true
    }

    /// A lockfile with no pid is stale once it is old, or once we have seen
    /// it unchanged (same inode, same mtime) and unlocked for the grace period.
    fn judge_unidentified(
        &mut self,
        id: FileId,
        modified: Option<SystemTime>,
        opts: &LockOptions,
    ) -> Verdict {
        if modified.and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= UNIDENTIFIED_MAX_AGE) {
            return Verdict::Stale;
        }
        match self.unidentified_since {
            Some((seen, m, since)) if seen == id && m == modified => {
                if since.elapsed() >= opts.unidentified_grace { Verdict::Stale } else { Verdict::Alive }
            }
            _ => {
                self.unidentified_since = Some((id, modified, Instant::now()));
                Verdict::Alive
            }
        }
    }
}

/// xorshift64: jitter needs spread, not quality.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn seed() -> u64 {
    let t =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    let s = t ^ (u64::from(std::process::id()) << 32) ^ std::hash::Hasher::finish(&h);
    s | 1
}

/// In-process queue: one thread per lockfile path at a time talks to the file system.
struct Registry {
    held: Mutex<HashSet<PathBuf>>,
    freed: Condvar,
    /// When this process last released a lock it had to wait for, per path.
    contended_release: Mutex<HashMap<PathBuf, Instant>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        held: Mutex::new(HashSet::new()),
        freed: Condvar::new(),
        contended_release: Mutex::new(HashMap::new()),
    })
}

/// How soon after releasing a contended lock a process counts as "coming straight back".
const POLITE_WINDOW: Duration = Duration::from_millis(2);

/// A process that just released a lock others were waiting for would
/// otherwise win it again every time (the path is free for microseconds,
/// while waiters sleep in backoff): it steps back for about a millisecond so
/// a waiter can get its turn. Uncontended re-locking pays nothing.
fn yield_to_waiters(path: &Path, deadline: Instant, rng: &mut u64) {
    let released = registry().contended_release.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
    if released.is_none_or(|at| at.elapsed() >= POLITE_WINDOW) {
        return;
    }
    let pause = Duration::from_micros(500 + next_random(rng) % 1000);
    std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
}

fn note_contended_release(path: &Path) {
    let mut map = registry().contended_release.lock().unwrap_or_else(|p| p.into_inner());
    map.insert(path.to_path_buf(), Instant::now());
}

fn held_set() -> MutexGuard<'static, HashSet<PathBuf>> {
    // A panic while holding this mutex cannot leave the set inconsistent
    // (every operation is a single insert or remove), so poisoning is ignored.
    registry().held.lock().unwrap_or_else(|p| p.into_inner())
}

/// This thread's turn at a lockfile path within the process.
struct ProcessSlot(PathBuf);

impl ProcessSlot {
    fn enter(path: &Path, deadline: Instant) -> Option<Self> {
        let mut held = held_set();
        while held.contains(path) {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            held = registry().freed.wait_timeout(held, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        held.insert(path.to_path_buf());
        Some(ProcessSlot(path.to_path_buf()))
    }
}

impl Drop for ProcessSlot {
    fn drop(&mut self) {
        held_set().remove(&self.0);
        registry().freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_peer_format() {
        assert_eq!(parse_lock_content("123 /usr/bin/az"), (Some(123), Some("/usr/bin/az".into())));
        assert_eq!(parse_lock_content("{77} {/bin/go app}"), (Some(77), Some("/bin/go app".into())));
        assert_eq!(parse_lock_content("4242"), (Some(4242), None));
        assert_eq!(parse_lock_content("4242\n"), (Some(4242), None));
        assert_eq!(parse_lock_content("99 dotnet\n"), (Some(99), Some("dotnet".into())));
        assert_eq!(parse_lock_content(""), (None, None));
        assert_eq!(parse_lock_content("garbage here"), (None, None));
        assert_eq!(parse_lock_content("-5 x"), (None, None));
        assert_eq!(parse_lock_content("0 x"), (None, None));
        assert_eq!(parse_lock_content("99999999999999999999 x"), (None, None));
        assert_eq!(parse_lock_content("\u{0}\u{ff}\u{1b}[31m"), (None, None));
    }

    #[test]
    #[cfg(unix)] // relies on pid 1 and `true`
    fn inspect_tells_held_stale_and_unidentified_apart() {
        let dir =
            std::env::temp_dir().join(format!("msalx-inspect-{}-{:?}", std::process::id(), Instant::now()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.lockfile");
        assert_eq!(inspect(&path).unwrap(), LockState::Absent);
        let held = CrossPlatLock::acquire(&path).unwrap();
        let state = inspect(&path).unwrap();
        assert!(
            matches!(&state, LockState::HeldByFlock { holder: Some(h) } if h.pid == Some(std::process::id()))
        );
        assert!(!remove_stale(&path).unwrap().is_stale() && path.exists(), "a held lock is never removed");
        drop(held);
        // pid 1 is alive on every Unix host: an existence-only holder.
        fs::write(&path, "1 init").unwrap();
        assert!(matches!(inspect(&path).unwrap(), LockState::HeldByLivePid { .. }));
        assert!(!remove_stale(&path).unwrap().is_stale() && path.exists());
        fs::write(&path, "").unwrap();
        assert!(matches!(inspect(&path).unwrap(), LockState::Unidentified { stale: false, .. }));
        assert!(path.exists());
        let dead = dead_pid();
        fs::write(&path, format!("{dead} crashed-app")).unwrap();
        let state = remove_stale(&path).unwrap();
        assert!(
            matches!(&state, LockState::StaleDeadPid { holder } if holder.pid == Some(dead)),
            "{state:?}"
        );
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A pid that is not running: a child that has exited and been reaped.
    #[cfg(unix)]
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn guard_stays_by_default_and_is_never_made_when_turned_off() {
        let dir =
            std::env::temp_dir().join(format!("msalx-guardopt-{}-{:?}", std::process::id(), Instant::now()));
        let (with, without) = (dir.join("a.lockfile"), dir.join("b.lockfile"));
        LockOptions::new().acquire(&with).unwrap().release().unwrap();
        LockOptions::new().guard(false).acquire(&without).unwrap().release().unwrap();
        let mut names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["a.lockfile.guard"], "only the guarded lock leaves its guard");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_timeout_past_the_clock_waits_without_a_deadline_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::from_secs(5)), now + Duration::from_secs(5));
        let far = deadline_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(100 * 365 * 86_400), "{:?}", far - now);
        let dir =
            std::env::temp_dir().join(format!("msalx-maxwait-{}-{:?}", std::process::id(), Instant::now()));
        let path = dir.join("c.lockfile");
        let lock = LockOptions::new().timeout(Duration::MAX).acquire(&path).unwrap();
        drop(lock);
        // A held lock: the waiter waits (no panic), and gets it once released.
        let held = CrossPlatLock::acquire(&path).unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || LockOptions::new().timeout(Duration::MAX).acquire(&path).map(drop))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a waiter with no deadline keeps waiting");
        drop(held);
        waiter.join().unwrap().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_path_appends_suffix() {
        assert_eq!(default_lock_path(Path::new("/a/b.json")), PathBuf::from("/a/b.json.lockfile"));
    }

    #[test]
    fn guard_is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<CrossPlatLock>();
    }
}
