//! Windows primitives: atomic replace, lockfile creation, identity, process liveness.
//!
//! # Lockfile
//! On Windows the kernel enforces what Unix can only advise, and this file
//! leans on that. The holder creates the lockfile with `CREATE_NEW`, asking
//! for `DELETE` access and sharing only read and write (no
//! `FILE_SHARE_DELETE`), writes `"<pid> <argv0>"` and takes `LockFileEx` on
//! it. While that handle is open:
//!
//! - nobody can delete or rename the lockfile;
//! - nobody can open it asking for `DELETE` (our waiters do), and nobody who
//!   refuses to share delete access (Python's `open`, Node, most C runtimes)
//!   can open it at all: they get `ERROR_SHARING_VIOLATION`;
//! - a reader that does get a handle cannot read the locked bytes
//!   (`ERROR_LOCK_VIOLATION`), so the holder is often unidentifiable on Windows.
//!
//! Release marks the file for deletion *through the holder's handle*
//! (`SetFileInformationByHandle`; POSIX semantics where the file system has
//! them, so the name disappears at once), then closes it. `DeleteFileW` by
//! path would fail, because our own handle does not share delete access.
//! Between the mark and the last handle closing the file is *delete
//! pending*: creating or opening it fails with `ERROR_ACCESS_DENIED`. All of
//! access-denied, sharing-violation, lock-violation and delete-pending mean
//! "someone else is using the lockfile" here, so [`is_busy`] reports them as
//! busy and the lock waits instead of failing.
//!
//! A crashed holder's handle is closed by the kernel, which also drops its
//! `LockFileEx` lock; the file stays, naming a dead pid, and the next waiter
//! takes it over (see [`process_state`]).
//!
//! # Atomic replace
//! A save writes a uniquely named hidden temporary file in the same folder,
//! flushes it (`FlushFileBuffers`) when durability is asked for, closes it
//! and renames it over the cache (see [`replace`]: POSIX-semantics rename
//! where available, else `MoveFileExW(MOVEFILE_REPLACE_EXISTING)`). The
//! rename fails while another program has the cache open without
//! `FILE_SHARE_DELETE` (a Python or .NET reader, an antivirus scanner), and
//! with the fallback while anyone has it open, so sharing and access errors
//! are retried for up to two seconds before the save fails with an I/O
//! error. Windows cannot flush a folder, so durability rests on the flushed
//! file and NTFS's journaled rename.
//!
//! # Privacy
//! Files and folders get the ACL inherited from their parent, which under the
//! user profile (`%USERPROFILE%`, `%LOCALAPPDATA%`) grants only the user,
//! `SYSTEM` and Administrators. No explicit ACL is set.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_DELETE_PENDING, ERROR_INVALID_PARAMETER, ERROR_LOCK_VIOLATION,
    ERROR_SHARING_VIOLATION, FILETIME, GENERIC_READ, GENERIC_WRITE, GetLastError, HANDLE, STILL_ACTIVE,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, DELETE, FILE_DISPOSITION_FLAG_DELETE, FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    FILE_DISPOSITION_INFO, FILE_DISPOSITION_INFO_EX, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FileDispositionInfo,
    FileDispositionInfoEx, GetFileInformationByHandle, SetFileInformationByHandle,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::{FileId, ProcessState, file_stem, parent_dir, temp_name};

/// How long a rename over the cache keeps retrying sharing violations.
const REPLACE_RETRY_FOR: Duration = Duration::from_secs(2);

/// Seconds from 1601-01-01 (the `FILETIME` epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

/// (0, 0, creation time in ns since 1601) of `meta`.
///
/// Stable std exposes no file index from `Metadata`; the change token
/// still differs on every save through the modification time and size, and
/// the creation time of the file that replaced the old one.
pub(crate) fn identity_of(meta: &fs::Metadata) -> (u64, u64, i128) {
    (0, 0, i128::from(meta.creation_time()) * 100)
}

pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle is valid for the lifetime of `file`; `info` is a
    // properly sized, writable struct the call fills in.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let ino = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok(FileId { dev: u64::from(info.dwVolumeSerialNumber), ino })
}

/// Identity of what the path itself names (a symbolic link is not followed).
///
/// Opens with no access rights and every share mode, so it works even while
/// a lock holder's handle refuses to share delete access.
pub(crate) fn path_id(path: &Path) -> io::Result<FileId> {
    let f = OpenOptions::new()
        .access_mode(0)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    file_id(&f)
}

/// Creates `dir` and any missing parents; they inherit the parent's ACL.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)
}

/// Opens an existing lockfile so that it can be locked and, if stale,
/// deleted through the handle. A symbolic link is opened, not followed.
///
/// Fails with a sharing violation while a holder has it open (see the module
/// docs). The probe itself shares delete access, so that an existence-only
/// peer (Python without portalocker, Node) releasing its lock can delete the
/// file while we are looking at it; the identity check after locking notices.
pub(crate) fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .access_mode(GENERIC_READ | DELETE)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// Opens `path` for reading (Windows has no FIFOs at file paths to block on).
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens `path` for appending.
pub(crate) fn open_append_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Opens (creating it if missing) the lock's companion file: locked, never
/// deleted or written. The handle refuses to share delete access, so nobody
/// can delete it while a holder (or waiter) has it open.
pub(crate) fn open_or_create_companion(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    super::ensure_regular(&file.metadata()?)?;
    Ok(file)
}

/// Names a non-regular file type for messages.
pub(crate) fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Files inherit their folder's ACL on Windows: nothing to copy.
pub(crate) fn copy_owner(_original: &Path, _copy: &Path) {}

/// Not read on Windows: a live holder's program is not compared.
pub(crate) fn process_names(_pid: u32) -> Option<Vec<String>> {
    None
}

/// Creates a new file at `path`; fails if anything exists there.
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create_new(true).open(path)
}

/// Replaces `path` with `content` atomically; with `durable`, flushed to disk too.
///
/// Returns the operation that failed with its error, so the caller can name it.
pub(crate) fn write_atomic(
    path: &Path,
    content: &[u8],
    durable: bool,
) -> Result<(), (&'static str, PathBuf, io::Error)> {
    let dir = parent_dir(path);
    let (tmp, file) =
        temp_file_in(&dir, &file_stem(path)).map_err(|e| ("create a temporary file in", dir, e))?;
    let result = fill(file, content, durable)
        .map_err(|e| ("write the temporary file", tmp.clone(), e))
        .and_then(|()| replace(&tmp, path).map_err(|e| ("replace", path.to_path_buf(), e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fill(mut file: File, content: &[u8], durable: bool) -> io::Result<()> {
    file.write_all(content)?;
    if durable {
        file.sync_all()?;
    }
    Ok(()) // dropped (closed) here: MoveFileExW needs delete access to the source
}

fn temp_file_in(dir: &Path, stem: &str) -> io::Result<(PathBuf, File)> {
    loop {
        let name = dir.join(temp_name(stem));
        match create_new_private(&name) {
            Ok(f) => return Ok((name, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Renames `from` over `to`, retrying briefly while someone has `to` open
/// in a way that forbids it.
///
/// `fs::rename` renames with POSIX semantics where the file system has them
/// (Windows 10 1607 and later, NTFS), which replaces a file that readers
/// hold open with `FILE_SHARE_DELETE`; elsewhere (older Windows, FAT, SMB,
/// Wine) it falls back to `MoveFileExW(MOVEFILE_REPLACE_EXISTING)`, which
/// fails while any handle is open on the target.
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    let deadline = Instant::now() + REPLACE_RETRY_FOR;
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::rename(from, to) {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => std::thread::sleep(pause),
            Err(e) => return Err(e),
        }
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Creates the lockfile at `path` holding `content`, locked, with a handle
/// that refuses to share delete access. `Ok(None)` when the path is taken
/// (it exists, or is being deleted by its last holder).
pub(crate) fn create_stamped_lockfile(path: &Path, content: &[u8]) -> io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .access_mode(GENERIC_READ | GENERIC_WRITE | DELETE)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists || is_busy(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Err(e) = stamp(&file, content) {
        let _ = delete_held(&file, path);
        return Err(e);
    }
    Ok(Some(file))
}

fn stamp(file: &File, content: &[u8]) -> io::Result<()> {
    let mut f = file;
    f.write_all(content)?;
    file.try_lock().map_err(|e| match e {
        fs::TryLockError::Error(e) => e,
        fs::TryLockError::WouldBlock => {
            io::Error::other("a freshly created lockfile was locked by someone else")
        }
    })
}

/// Deletes the file open as `file` (at `path`) through its own handle, so
/// it works while that handle refuses to share delete access. The handle
/// must have been opened with `DELETE` access.
pub(crate) fn delete_held(file: &File, _path: &Path) -> io::Result<()> {
    let handle = file.as_raw_handle() as HANDLE;
    let posix = FILE_DISPOSITION_INFO_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    };
    // SAFETY: the handle is valid while `file` lives; the buffer is a
    // FILE_DISPOSITION_INFO_EX of exactly the size passed.
    let ok = unsafe {
        SetFileInformationByHandle(
            handle,
            FileDispositionInfoEx,
            (&raw const posix).cast(),
            size_of::<FILE_DISPOSITION_INFO_EX>() as u32,
        )
    };
    if ok != 0 {
        return Ok(());
    }
    // Older Windows, FAT, network shares and Wine: classic delete-on-close.
    let classic = FILE_DISPOSITION_INFO { DeleteFile: true };
    // SAFETY: as above, with a FILE_DISPOSITION_INFO of exactly the size passed.
    let ok = unsafe {
        SetFileInformationByHandle(
            handle,
            FileDispositionInfo,
            (&raw const classic).cast(),
            size_of::<FILE_DISPOSITION_INFO>() as u32,
        )
    };
    if ok != 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Access denied, sharing violation, lock violation and delete pending: the
/// lockfile is in use by another process, so the lock should wait.
pub(crate) fn is_busy(e: &io::Error) -> bool {
    let busy = [ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION, ERROR_DELETE_PENDING];
    e.raw_os_error().and_then(|c| u32::try_from(c).ok()).is_some_and(|c| busy.contains(&c))
}

/// Whether process `pid` exists on this host, and when it started if known.
pub(crate) fn process_state(pid: u32) -> ProcessState {
    if pid == 0 {
        return ProcessState::Unknown; // the System Idle Process: never a lock holder
    }
    // SAFETY: OpenProcess has no memory-safety preconditions; a null return is checked.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        // SAFETY: GetLastError only reads this thread's last-error value.
        return match unsafe { GetLastError() } {
            ERROR_INVALID_PARAMETER => ProcessState::Dead, // no process has this id
            ERROR_ACCESS_DENIED => ProcessState::Alive { started: None }, // exists, another user's
            _ => ProcessState::Unknown,
        };
    }
    // SAFETY: `raw` is a valid process handle we own; OwnedHandle closes it exactly once.
    let process = unsafe { OwnedHandle::from_raw_handle(raw) };
    query_process(&process)
}

fn query_process(process: &OwnedHandle) -> ProcessState {
    let h = process.as_raw_handle() as HANDLE;
    let mut code = 0u32;
    // SAFETY: `h` is a valid process handle with query rights; `code` is writable.
    if unsafe { GetExitCodeProcess(h, &mut code) } != 0 && code != STILL_ACTIVE as u32 {
        return ProcessState::Dead; // exited, kept in the table only by someone's handle
    }
    let (mut created, mut exited, mut kernel, mut user) =
        (FILETIME::default(), FILETIME::default(), FILETIME::default(), FILETIME::default());
    // SAFETY: `h` is valid; the four FILETIMEs are writable and outlive the call.
    let ok = unsafe { GetProcessTimes(h, &mut created, &mut exited, &mut kernel, &mut user) };
    let started = if ok != 0 { filetime_to_system(created) } else { None };
    ProcessState::Alive { started }
}

fn filetime_to_system(ft: FILETIME) -> Option<SystemTime> {
    let ticks = (u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime);
    let since_1601 = Duration::from_nanos(ticks.checked_mul(100)?);
    let unix = since_1601.checked_sub(Duration::from_secs(FILETIME_UNIX_OFFSET_SECS))?;
    SystemTime::UNIX_EPOCH.checked_add(unix)
}
