//! The one platform switch. Each backend file exposes the same functions with
//! the same signatures; nothing outside `sys` carries a `#[cfg]` for them.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(not(any(unix, windows)), path = "unsupported.rs")]
mod imp;

pub(crate) use imp::*;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Identity of a file: what a path names, or what an open handle refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// What this host knows about a process id found in a lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessState {
    /// It exists (or exists but belongs to another user); `started` when known.
    Alive { started: Option<SystemTime> },
    /// No such process, or a zombie.
    Dead,
    /// Cannot tell (not a valid pid, or the check failed).
    Unknown,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<stem>.<pid>.<n>.tmp`: hidden, unique within this process, and carrying
/// the pid so a leftover can be traced to its writer (and swept once it is dead).
pub(crate) fn temp_name(stem: &str) -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{stem}.{}.{n}.tmp", std::process::id())
}

/// The folder holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The file name of `path`, the stem of its temporary files.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "cache".into())
}

/// Removes [`temp_name`] files of `stem` in `dir` whose writer is dead: left by
/// a writer killed before its rename. Returns how many were removed; errors are
/// ignored (this is housekeeping).
pub(crate) fn remove_orphan_temps(dir: &Path, stem: &str) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let prefix = format!(".{stem}.");
    entries
        .filter_map(Result::ok)
        .filter(|e| temp_writer(&e.file_name().to_string_lossy(), &prefix).is_some_and(writer_is_dead))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// The writer's pid in a [`temp_name`].
fn temp_writer(name: &str, prefix: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(prefix)?.strip_suffix(".tmp")?.split_once('.')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn writer_is_dead(pid: u32) -> bool {
    pid != std::process::id() && process_state(pid) == ProcessState::Dead
}

/// Something other than a regular file where a file was expected (a FIFO, a
/// directory, a socket, a device): the `source` of the error that reports it.
#[derive(Debug)]
pub(crate) struct NotRegular(pub(crate) &'static str);

impl fmt::Display for NotRegular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "it is {}, not a regular file", self.0)
    }
}

impl std::error::Error for NotRegular {}

/// `Ok` for a regular file, else an error whose inner error is [`NotRegular`].
pub(crate) fn ensure_regular(meta: &fs::Metadata) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, NotRegular(kind_of(&meta.file_type()))))
}

/// What kind of non-regular file `e` reports, if it is a [`NotRegular`] error.
pub(crate) fn not_regular_kind(e: &io::Error) -> Option<&'static str> {
    e.get_ref().and_then(|i| i.downcast_ref::<NotRegular>()).map(|n| n.0)
}

/// Opens `path` for reading without ever blocking (a FIFO planted there
/// cannot hang the caller) and refuses anything but a regular file.
pub(crate) fn open_regular(path: &Path) -> io::Result<fs::File> {
    let file = open_nonblocking(path)?;
    ensure_regular(&file.metadata()?)?;
    Ok(file)
}

/// Opens `path` for appending without ever blocking (a FIFO with no reader
/// planted there fails instead of hanging) and refuses anything but a
/// regular file.
pub(crate) fn open_append_regular(path: &Path) -> io::Result<fs::File> {
    let file = open_append_nonblocking(path)?;
    ensure_regular(&file.metadata()?)?;
    Ok(file)
}
