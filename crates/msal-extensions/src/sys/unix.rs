//! Unix primitives: atomic replace, private files, lockfile creation, process liveness.
//!
//! # Atomic replace
//! A save writes the new content into an anonymous file (`O_TMPFILE`, Linux)
//! or a uniquely named hidden temporary file in the same folder, makes it
//! `0600`, `fsync`s it, gives it a name with `linkat`, `rename`s it over the
//! cache and `fsync`s the folder. `rename` within one folder is atomic on
//! every local Unix file system, so readers and crashes see the old or the new
//! file in full. The anonymous file means a SIGKILL during the (long) write
//! leaves nothing behind; only a kill in the microseconds between `linkat` and
//! `rename` can leave a `.<name>.<pid>.<n>.tmp` file.
//!
//! # Lockfile creation
//! The lockfile must never be seen empty or unlocked by a peer, or peers that
//! judge staleness by its content would mistake a fresh lock for a stale one.
//! So it is born complete: the content is written into an anonymous (or
//! temporary) file, `flock`ed, and only then linked to the lockfile path with
//! `link`, which fails with `EEXIST` if the path is taken, like `O_EXCL`.
//! File systems without hard links fall back to `O_CREAT|O_EXCL`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

// Only the Linux paths (O_TMPFILE + linkat, /proc) need these.
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt,
    time::{Duration, SystemTime},
};

use super::{FileId, ProcessState, file_stem, parent_dir, temp_name};

const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

/// Set once `O_TMPFILE` + `linkat` failed here, so later calls go straight to named files.
static NO_TMPFILE: AtomicBool = AtomicBool::new(false);

/// (dev, ino, ctime in ns) of `meta`.
pub(crate) fn identity_of(meta: &fs::Metadata) -> (u64, u64, i128) {
    let ctime = meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128;
    (meta.dev(), meta.ino(), ctime)
}

pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    let m = file.metadata()?;
    Ok(FileId { dev: m.dev(), ino: m.ino() })
}

/// Identity of what the path itself names (a symlink is not followed).
pub(crate) fn path_id(path: &Path) -> io::Result<FileId> {
    let m = fs::symlink_metadata(path)?;
    Ok(FileId { dev: m.dev(), ino: m.ino() })
}

/// Creates `dir` and any missing parents, each created one `0700` whatever the umask.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_DIR).create(dir) {
        // The umask may have removed bits we asked for; set them exactly.
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes `file` readable and writable by its owner only.
pub(crate) fn make_private(file: &File) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE))
}

/// Opens an existing file for locking, refusing to follow a symlink planted
/// at `path`. Never blocks: `O_NONBLOCK` makes opening a FIFO return at once
/// (the caller then refuses it as not a regular file), and `O_NOCTTY` keeps a
/// terminal device from becoming ours.
pub(crate) fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens `path` (following symlinks) for reading, never blocking on a FIFO or device.
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

/// Opens `path` (following symlinks) for appending, never blocking on a FIFO or device.
pub(crate) fn open_append_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens (creating it `0600` if missing) a file that is locked but never
/// deleted or written: the lock's companion. Refuses symlinks; never blocks.
/// The common case (it exists) costs one `open` and one `fstat`.
pub(crate) fn open_or_create_companion(path: &Path) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    let existing = || OpenOptions::new().read(true).write(true).custom_flags(flags).open(path);
    let file = match existing() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(PRIVATE_FILE)
                .custom_flags(flags)
                .open(path)
            {
                Ok(created) => {
                    give_to_folder_owner(&created, path);
                    created
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existing()?,
                Err(e) => return Err(e),
            }
        }
        other => other?,
    };
    super::ensure_regular(&file.metadata()?)?;
    Ok(file)
}

/// A file root created in another user's folder goes to that user, or the
/// user could never open it again (the companion is never deleted).
fn give_to_folder_owner(file: &File, path: &Path) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let Ok(dir) = fs::metadata(parent_dir(path)) else { return };
    if dir.uid() != 0 {
        // SAFETY: fchown on a descriptor we own; no pointers involved.
        let _ = unsafe { libc::fchown(file.as_raw_fd(), dir.uid(), dir.gid()) };
    }
}

/// Names a non-regular file type for messages.
pub(crate) fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a named pipe (FIFO)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Gives `copy` the owner and group of `original`, when they differ and the
/// process may (root editing another user's cache). Best effort: a copy the
/// process cannot hand over stays its own and private.
pub(crate) fn copy_owner(original: &Path, copy: &Path) {
    let (Ok(from), Ok(to)) = (fs::metadata(original), fs::metadata(copy)) else { return };
    if (from.uid(), from.gid()) != (to.uid(), to.gid()) {
        let _ = std::os::unix::fs::chown(copy, Some(from.uid()), Some(from.gid()));
    }
}

/// Makes the new content's file carry the replaced file's owner, group and
/// permission bits, so a save (as root, or by a group member) never takes a
/// cache away from its owner. The owner is changed only when it differs and
/// the process may change it (`EPERM` otherwise, ignored: then the file is
/// ours, as it would be had it been created by us).
fn keep_owner_and_mode(file: &File, original: &fs::Metadata) {
    let Ok(ours) = file.metadata() else { return };
    if (ours.uid(), ours.gid()) != (original.uid(), original.gid()) {
        // SAFETY: fchown on a descriptor we own; no pointers involved.
        let _ = unsafe { libc::fchown(file.as_raw_fd(), original.uid(), original.gid()) };
    }
    let mode = original.mode() & 0o777;
    if mode != ours.mode() & 0o777 {
        let _ = file.set_permissions(fs::Permissions::from_mode(mode));
    }
}

/// Creates a new private file at `path`; fails if anything exists there (no symlink is followed).
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    make_private(&f)?;
    Ok(f)
}

/// An open, private, nameless-or-temporary file in `dir`, and its temporary name if it has one.
struct Scratch {
    file: File,
    name: Option<PathBuf>,
}

impl Scratch {
    /// Gives the scratch file the name `target`: `linkat` for an anonymous
    /// file, `link` for a named one. Fails with `AlreadyExists` if taken.
    fn link_to(&self, target: &Path) -> io::Result<()> {
        match &self.name {
            Some(name) => fs::hard_link(name, target),
            None => link_anonymous(&self.file, target),
        }
    }

    fn discard(self) {
        if let Some(name) = &self.name {
            let _ = fs::remove_file(name);
        }
    }
}

fn scratch_in(dir: &Path, stem: &str) -> io::Result<Scratch> {
    if !NO_TMPFILE.load(Ordering::Relaxed)
        && let Some(file) = anonymous_file(dir)
    {
        return Ok(Scratch { file, name: None });
    }
    loop {
        let name = dir.join(temp_name(stem));
        match create_new_private(&name) {
            Ok(file) => return Ok(Scratch { file, name: Some(name) }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn anonymous_file(dir: &Path) -> Option<File> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(PRIVATE_FILE)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir);
    match opened {
        Ok(f) if make_private(&f).is_ok() => Some(f),
        _ => {
            NO_TMPFILE.store(true, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn anonymous_file(_dir: &Path) -> Option<File> {
    None
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_anonymous(file: &File, target: &Path) -> io::Result<()> {
    // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; following the
    // /proc/self/fd magic link does not.
    let src = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("BUG: no NUL in a number");
    let dst = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the
    // call; linkat does not retain them.
    let rc = unsafe {
        libc::linkat(libc::AT_FDCWD, src.as_ptr(), libc::AT_FDCWD, dst.as_ptr(), libc::AT_SYMLINK_FOLLOW)
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_anonymous(_file: &File, _target: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Replaces `path` with `content` atomically; with `durable`, also survives power loss.
///
/// Returns the operation that failed with its error, so the caller can name it.
pub(crate) fn write_atomic(
    path: &Path,
    content: &[u8],
    durable: bool,
) -> Result<(), (&'static str, PathBuf, io::Error)> {
    let dir = parent_dir(path);
    let stem = file_stem(path);
    let scratch = scratch_in(&dir, &stem).map_err(|e| ("create a temporary file in", dir.clone(), e))?;
    let original = fs::metadata(path).ok().filter(fs::Metadata::is_file);
    let result = fill_and_rename(&scratch, &dir, &stem, path, content, durable, original.as_ref());
    if result.is_err() {
        scratch.discard();
    }
    result
}

fn fill_and_rename(
    scratch: &Scratch,
    dir: &Path,
    stem: &str,
    path: &Path,
    content: &[u8],
    durable: bool,
    original: Option<&fs::Metadata>,
) -> Result<(), (&'static str, PathBuf, io::Error)> {
    let tmp_err = |op, e| (op, scratch.name.clone().unwrap_or_else(|| dir.to_path_buf()), e);
    (&scratch.file).write_all(content).map_err(|e| tmp_err("write the temporary file in", e))?;
    if let Some(original) = original {
        keep_owner_and_mode(&scratch.file, original);
    }
    if durable {
        scratch.file.sync_all().map_err(|e| tmp_err("flush to disk the temporary file in", e))?;
    }
    let named = match &scratch.name {
        Some(n) => n.clone(),
        None => link_scratch(scratch, dir, stem)
            .map_err(|e| ("name the temporary file in", dir.to_path_buf(), e))?,
    };
    if let Err(e) = fs::rename(&named, path) {
        let _ = fs::remove_file(&named);
        return Err(("replace", path.to_path_buf(), e));
    }
    if durable {
        sync_dir(dir).map_err(|e| ("flush to disk the folder", dir.to_path_buf(), e))?;
    }
    Ok(())
}

fn link_scratch(scratch: &Scratch, dir: &Path, stem: &str) -> io::Result<PathBuf> {
    loop {
        let name = dir.join(temp_name(stem));
        match scratch.link_to(&name) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the lockfile at `path` already holding `content` and already
/// `flock`ed. `Ok(None)` when the path is taken.
pub(crate) fn create_stamped_lockfile(path: &Path, content: &[u8]) -> io::Result<Option<File>> {
    let dir = parent_dir(path);
    let scratch = scratch_in(&dir, &file_stem(path))?;
    let outcome = stamp_and_link(&scratch, path, content);
    let Scratch { file, name } = scratch;
    if let Some(name) = name {
        let _ = fs::remove_file(name); // the lockfile path, if linked, keeps the inode
    }
    match outcome {
        Ok(true) => Ok(Some(file)),
        Ok(false) => Ok(None),
        Err(e) if no_hard_links(&e) => create_exclusive_lockfile(path, content),
        Err(e) => Err(e),
    }
}

fn stamp_and_link(scratch: &Scratch, path: &Path, content: &[u8]) -> io::Result<bool> {
    (&scratch.file).write_all(content)?;
    scratch.file.try_lock().map_err(|e| match e {
        fs::TryLockError::Error(e) => e,
        fs::TryLockError::WouldBlock => io::Error::other("BUG: a fresh private file is already locked"),
    })?;
    match scratch.link_to(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn no_hard_links(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EXDEV) | Some(libc::EMLINK)
    ) || e.kind() == io::ErrorKind::Unsupported
}

/// The `O_EXCL` fallback: for a moment the file exists empty and unlocked,
/// which peers tolerate for a grace period.
fn create_exclusive_lockfile(path: &Path, content: &[u8]) -> io::Result<Option<File>> {
    let file = match create_new_private(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    };
    file.try_lock().map_err(|_| io::Error::other("a freshly created lockfile was locked by someone else"))?;
    (&file).write_all(content)?;
    Ok(Some(file))
}

/// Deletes the lockfile at `path` while `file` (its open handle) keeps it
/// locked. On Unix the name goes at once; the open descriptor stays valid.
pub(crate) fn delete_held(_file: &File, path: &Path) -> io::Result<()> {
    fs::remove_file(path)
}

/// Whether an error opening or creating the lockfile means "in use, wait".
/// Never on Unix: there, contention shows as `EEXIST` or a busy `flock`.
pub(crate) fn is_busy(_e: &io::Error) -> bool {
    false
}

/// Whether process `pid` exists on this host, and when it started if known.
/// A pid no process can have here (above `i32::MAX`, or above the kernel's
/// `pid_max`) is dead.
pub(crate) fn process_state(pid: u32) -> ProcessState {
    let Ok(raw) = libc::pid_t::try_from(pid) else { return ProcessState::Dead };
    if raw <= 0 {
        return ProcessState::Unknown;
    }
    if pid_max().is_some_and(|max| u64::from(pid) > max) {
        return ProcessState::Dead;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists.
    let rc = unsafe { libc::kill(raw, 0) };
    if rc != 0 {
        return match io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => ProcessState::Dead,
            Some(libc::EPERM) => ProcessState::Alive { started: None },
            _ => ProcessState::Unknown,
        };
    }
    proc_stat(pid)
}

/// Reads `/proc/<pid>/stat`: a zombie counts as dead; the start time detects pid reuse.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_stat(pid: u32) -> ProcessState {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcessState::Alive { started: None };
    };
    // The command name (field 2) may contain spaces and parentheses; the fields after it do not.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return ProcessState::Alive { started: None };
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return ProcessState::Dead;
    }
    // Field 22 (starttime, clock ticks after boot) is index 19 after the ')'.
    let started = fields.get(19).and_then(|t| t.parse::<u64>().ok()).and_then(start_time_from_ticks);
    ProcessState::Alive { started }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn proc_stat(_pid: u32) -> ProcessState {
    ProcessState::Alive { started: None }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn start_time_from_ticks(ticks: u64) -> Option<SystemTime> {
    let boot = boot_time()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|h| *h > 0)?;
    boot.checked_add(Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / hz)))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn boot_time() -> Option<SystemTime> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let secs = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse::<u64>().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The largest pid the kernel hands out (Linux: `/proc/sys/kernel/pid_max`,
/// read once).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pid_max() -> Option<u64> {
    static MAX: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| fs::read_to_string("/proc/sys/kernel/pid_max").ok()?.trim().parse().ok())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pid_max() -> Option<u64> {
    None
}

/// The program running as `pid`, as far as this host tells: the base name of
/// its `argv[0]` and its command name (Linux `/proc`), for telling whether it
/// could be the program that wrote a lockfile.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn process_names(pid: u32) -> Option<Vec<String>> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut names: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) {
        names.push(comm.trim().to_owned());
    }
    Some(names).filter(|n| !n.is_empty())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn process_names(_pid: u32) -> Option<Vec<String>> {
    None
}
