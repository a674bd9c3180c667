//! Where `export -o FILE` writes, decided before anything is read: a regular
//! file (replaced atomically, `0600`), or a terminal, pipe or character
//! device written to as it is (so `-o /dev/stdout` never replaces the link
//! by a file of secrets). Refused: the cache itself, its lockfile, anything
//! else that is not a regular file, and a symbolic link to a regular file
//! other than our own output (the file written must be the one named).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use msal_extensions::{CopyReason, FilePersistence, KeptCopy, Persistence};

use crate::BoxResult;
use crate::output::shown;
use crate::source::same_file;

/// An export destination that passed the checks.
#[derive(Debug)]
pub enum Sink {
    /// This process's own standard output (`-o /dev/stdout`, `/dev/fd/1`...).
    Stdout,
    /// A regular file, created or replaced atomically.
    File(PathBuf),
    /// A terminal, pipe or character device, opened and written as it is.
    Device(PathBuf),
}

/// Checks `path` as an export destination; `protected` are the store's own
/// files (the cache or signal file, the lockfile).
pub fn choose(path: &Path, protected: &[PathBuf]) -> BoxResult<Sink> {
    let shown_path = shown(path);
    if let Some(p) = protected.iter().find(|p| same_file(p, path)) {
        let what = if protected.first() == Some(p) {
            "the cache itself: the export would replace its content"
        } else {
            "part of the cache's lock: the export would break the lock every program takes"
        };
        return Err(
            format!("refusing to export to {shown_path}: it is {what}; name another file with -o").into()
        );
    }
    let link = match fs::symlink_metadata(path) {
        Ok(m) => m.file_type().is_symlink(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Sink::File(path.to_path_buf())),
        Err(e) => return Err(format!("cannot look at {shown_path}: {e}; check the path").into()),
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "refusing to export to {shown_path}: it is a symbolic link to a file that does not exist; \
                 name the file itself with -o"
            )
            .into());
        }
        Err(e) => return Err(format!("cannot look at {shown_path}: {e}; check the path").into()),
    };
    if is_own_stdout(&meta) {
        return Ok(Sink::Stdout);
    }
    classify(path, &meta, link)
}

/// A regular file, a device, or a refusal naming what `path` is.
fn classify(path: &Path, meta: &fs::Metadata, link: bool) -> BoxResult<Sink> {
    let shown_path = shown(path);
    if meta.is_file() {
        if link {
            let target = fs::canonicalize(path).map(|t| shown(&t)).unwrap_or_else(|_| "another file".into());
            return Err(format!(
                "refusing to export to {shown_path}: it is a symbolic link to {target}; name that file \
                 with -o, so the file written is the one you named"
            )
            .into());
        }
        return Ok(Sink::File(path.to_path_buf()));
    }
    match special_kind(meta) {
        None => Ok(Sink::Device(path.to_path_buf())),
        Some(what) => Err(format!(
            "refusing to export to {shown_path}: it is {what}, not a file; name a file, a terminal \
             or a pipe with -o"
        )
        .into()),
    }
}

/// What `meta` is when it is no place to write an export to; `None` for a
/// terminal, pipe or character device.
#[cfg(unix)]
fn special_kind(meta: &fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    match () {
        _ if t.is_fifo() || t.is_char_device() => None,
        _ if t.is_dir() => Some("a directory"),
        _ if t.is_block_device() => Some("a block device (a disk)"),
        _ if t.is_socket() => Some("a socket"),
        _ => Some("not a regular file"),
    }
}

#[cfg(not(unix))]
fn special_kind(meta: &fs::Metadata) -> Option<&'static str> {
    if meta.is_dir() { Some("a directory") } else { Some("not a regular file") }
}

/// `true` when `meta` is the very object this process's standard output
/// writes to (whatever it is: a terminal, a pipe, a socket, a file).
#[cfg(unix)]
fn is_own_stdout(meta: &fs::Metadata) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else { return false };
    fs::File::from(fd).metadata().is_ok_and(|out| (out.dev(), out.ino()) == (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn is_own_stdout(_meta: &fs::Metadata) -> bool {
    false
}

impl Sink {
    /// Writes `text` to the destination: [`Sink::Stdout`] through `out`
    /// (this process's standard output); a [`Sink::File`] replaced
    /// atomically after keeping a recoverable copy of what it held; a
    /// [`Sink::Device`] as it is. Returns the place written, as shown to the
    /// user, and the copy kept, if any.
    pub fn write(self, text: &str, out: &mut impl Write) -> BoxResult<(String, Option<KeptCopy>)> {
        match self {
            Sink::Stdout => {
                out.write_all(text.as_bytes())?;
                Ok(("standard output".into(), None))
            }
            Sink::File(path) => {
                let file = FilePersistence::new(&path)?;
                let copy = file.keep_copy(CopyReason::Replaced)?;
                file.save(text)?;
                Ok((shown(&path), copy))
            }
            Sink::Device(path) => {
                write_device(&path, text.as_bytes())
                    .map_err(|e| format!("cannot write to {}: {e}", shown(&path)))?;
                Ok((shown(&path), None))
            }
        }
    }
}

/// Opens a terminal, pipe or device without creating or truncating anything.
/// The open does not block (a pipe nobody reads is an error, not a hang);
/// the writes do, as a pipe's writer should.
#[cfg(unix)]
fn write_device(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => io::Error::other("no process is reading that pipe"),
            _ => e,
        })?;
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is passed.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    f.write_all(bytes)?;
    f.flush()
}

#[cfg(not(unix))]
fn write_device(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::OpenOptions::new().write(true).open(path)?.write_all(bytes)
}
