//! The one platform switch. Each backend file exposes the same functions with
//! the same signatures; nothing outside `sys` carries a `#[cfg]` for them.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(not(any(unix, windows)), path = "unsupported.rs")]
mod imp;

pub(crate) use imp::*;

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
