//! Platforms without a backend yet: everything compiles and every call
//! returns `ErrorKind::Unsupported`, which the public API reports as
//! [`Error::Unavailable`](crate::Error::Unavailable) or an I/O error naming the path.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::{FileId, ProcessState};

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "msal-extensions does not support this platform yet")
}

pub(crate) fn identity_of(_meta: &fs::Metadata) -> (u64, u64, i128) {
    (0, 0, 0)
}

pub(crate) fn file_id(_file: &File) -> io::Result<FileId> {
    Err(unsupported())
}

pub(crate) fn path_id(_path: &Path) -> io::Result<FileId> {
    Err(unsupported())
}

pub(crate) fn create_private_dir_all(_dir: &Path) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn make_private(_file: &File) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn open_existing(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

pub(crate) fn create_new_private(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

pub(crate) fn write_atomic(
    path: &Path,
    _content: &[u8],
    _durable: bool,
) -> Result<(), (&'static str, PathBuf, io::Error)> {
    Err(("replace", path.to_path_buf(), unsupported()))
}

pub(crate) fn create_stamped_lockfile(_path: &Path, _content: &[u8]) -> io::Result<Option<File>> {
    Err(unsupported())
}

pub(crate) fn delete_held(_file: &File, _path: &Path) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn is_busy(_e: &io::Error) -> bool {
    false
}

pub(crate) fn process_state(_pid: u32) -> ProcessState {
    ProcessState::Unknown
}

pub(crate) fn open_nonblocking(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

pub(crate) fn open_or_create_companion(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

pub(crate) fn kind_of(_ft: &fs::FileType) -> &'static str {
    "not a regular file"
}

pub(crate) fn copy_owner(_original: &Path, _copy: &Path) {}

pub(crate) fn process_names(_pid: u32) -> Option<Vec<String>> {
    None
}

pub(crate) fn open_append_nonblocking(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}
