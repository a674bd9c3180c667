//! The crate's one error type.
//!
//! Every variant names the file or store it is about and, where there is
//! one, what to do next. The operating system's own error is never formatted
//! into the message; it is kept as [`std::error::Error::source`] so that a
//! caller printing the chain sees it exactly once.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A boxed error from a platform API, kept as the [`source`](std::error::Error::source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, msal_extensions::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while persisting or locking a token cache.
///
/// Match on the variant to decide what to do; print it (with its
/// [`source`](std::error::Error::source) chain) to tell a person. No variant
/// ever carries secret material: messages hold paths, names, process ids and
/// platform error codes only.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The store has no data yet (no cache file, no keychain item, no secret).
    ///
    /// This is the normal state before the first save; a token cache treats it
    /// as an empty cache.
    NotFound {
        /// The file, keychain item or secret that does not exist.
        location: String,
    },
    /// The platform refused to encrypt the data; nothing was written.
    Encryption {
        /// The store the data was meant for.
        location: String,
        /// What went wrong and what to do about it.
        message: String,
        /// The platform error, when there is one.
        source: Option<BoxError>,
    },
    /// The stored data exists but could not be decrypted (wrong key, wrong
    /// entropy, a changed user profile, or a tampered file).
    Decryption {
        /// The store whose data could not be decrypted.
        location: String,
        /// What went wrong and what to do about it.
        message: String,
        /// The platform error, when there is one.
        source: Option<BoxError>,
    },
    /// The backend cannot be used here at all: unsupported platform, no
    /// D-Bus session, no Secret Service provider, no keychain.
    Unavailable {
        /// Which backend, e.g. `"secret-service"` or `"dpapi"`.
        backend: &'static str,
        /// Why it is unavailable and what to do about it.
        message: String,
        /// The platform error, when there is one.
        source: Option<BoxError>,
    },
    /// The secret store exists but is locked (a locked keyring collection or
    /// keychain) and needs the user to unlock it.
    StoreLocked {
        /// The store that is locked.
        location: String,
        /// How to unlock it.
        message: String,
    },
    /// The cross-process lock was not acquired before the deadline.
    LockTimeout {
        /// The lockfile that stayed held.
        lockfile: PathBuf,
        /// How long this process waited.
        waited: Duration,
        /// Who held it when we gave up, as far as the lockfile tells.
        holder: Option<LockHolder>,
    },
    /// The lockfile path holds something no lock protocol creates (a
    /// directory, a FIFO, a socket, a device), so no lock can be taken there
    /// until it is removed. Reported at once: nothing waits on it.
    LockfileUnusable {
        /// The lockfile path.
        lockfile: PathBuf,
        /// What is there instead of a regular file, e.g. `"a named pipe (FIFO)"`.
        found: &'static str,
    },
    /// The stored data is not what it should be (not UTF-8, not JSON, wrong
    /// types). Nothing was changed.
    Corrupt {
        /// The file or store holding the bad data; empty when the data was
        /// given directly (e.g. to [`TokenCache::parse`](crate::TokenCache::parse)).
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument given to this crate is unusable, e.g. a token response
    /// that is not a JSON object or an authority that is not an `https` URL.
    /// Nothing was changed.
    InvalidInput {
        /// What was wrong, e.g. `"token response"`.
        what: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// A distributed cache write kept meeting newer versions written by
    /// other processes and gave up after its bound of attempts. Nothing of
    /// this write was stored; calling again is safe.
    ConflictRetriesExhausted {
        /// The Redis key of the (sub-)partition.
        location: String,
        /// How many compare-and-set attempts were made.
        attempts: u32,
    },
    /// A distributed cache value was encrypted with a key that is not in
    /// this process's key ring (a key retired too early, or a process
    /// configured with another ring). Never reported as a parse error.
    UnknownKey {
        /// The Redis key holding the value.
        location: String,
        /// The id of the key the value was written with.
        key_id: String,
    },
    /// The distributed cache's Redis server (L2) could not be reached or did
    /// not answer within the configured bound.
    L2Unavailable {
        /// The server or cluster, as `redis://host:port` (no credentials).
        endpoint: String,
        /// What was being done, e.g. `"list partitions"`.
        op: &'static str,
        /// The client's error, when there is one (none for a timeout).
        source: Option<BoxError>,
    },
    /// An I/O operation on a file failed.
    Io {
        /// What was being done, e.g. `"rename temporary file over"`.
        op: &'static str,
        /// The file or folder it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Who holds a cross-process lock, as recorded in the lockfile.
///
/// Peers write `"<pid> <program>"` (Python, .NET), `"{<pid>} {<program>}"`
/// (Go) or just `"<pid>"` (Node); all of them are understood.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The process id recorded in the lockfile, if it had one.
    pub pid: Option<u32>,
    /// The program name recorded after the pid, if any.
    pub program: Option<String>,
    /// How long the lockfile has existed in its current form (from its
    /// modification time), if that could be read.
    pub held_for: Option<Duration>,
    /// Set when the recorded process is alive but evidently is not the
    /// program that wrote the lockfile (its pid was reused after a crash):
    /// the name it runs under now. Read on Linux (`/proc`); `None` elsewhere,
    /// and when the lockfile names no program (Node).
    pub unrelated_process: Option<String>,
}

impl LockHolder {
    /// What to do about a lockfile held by this holder, in words a user can
    /// act on, when its process evidently is not an MSAL program: names the
    /// lockfile and the command that removes it. `None` otherwise.
    pub fn advice(&self, lockfile: &Path) -> Option<String> {
        let now = self.unrelated_process.as_deref()?;
        let pid = self.pid?;
        let wrote = self.program.as_deref().unwrap_or("another program");
        Some(format!(
            "pid {pid} is alive but now runs `{now}`, not `{wrote}` which wrote the lockfile: the lockfile was \
             probably left by a crash and its pid reused; if no program using this token cache is running, \
             remove it: {}",
            remove_command(lockfile, false)
        ))
    }
}

/// The shell command that removes `path` (a directory when `dir`), quoted
/// for the platform's usual shell.
pub(crate) fn remove_command(path: &Path, dir: bool) -> String {
    let shown = path.display().to_string();
    if cfg!(windows) {
        let verb = if dir { "rmdir" } else { "del" };
        return format!("{verb} \"{}\"", shown.replace('"', ""));
    }
    let verb = if dir { "rmdir" } else { "rm" };
    format!("{verb} '{}'", shown.replace('\'', "'\\''"))
}

impl Error {
    /// An I/O error with the operation and the path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    /// The not-found error for a file path.
    pub(crate) fn not_found(path: &Path) -> Self {
        Error::NotFound { location: path.display().to_string() }
    }

    /// An [`Error::InvalidInput`].
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what, reason: reason.into() }
    }

    /// `true` for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Adds the operation and path to an `io::Result`.
pub(crate) trait IoResultExt<T> {
    /// Wraps the error as [`Error::Io`].
    fn with_path(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn with_path(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { location } => write!(f, "no token cache stored at {location} yet"),
            Error::Encryption { location, message, .. } => {
                write!(f, "could not encrypt the token cache for {location}: {message}")
            }
            Error::Decryption { location, message, .. } => {
                write!(f, "could not decrypt the token cache at {location}: {message}")
            }
            Error::Unavailable { backend, message, .. } => {
                write!(f, "the {backend} backend is not available: {message}")
            }
            Error::StoreLocked { location, message } => {
                write!(f, "the secret store for {location} is locked: {message}")
            }
            Error::LockTimeout { lockfile, waited, holder } => {
                fmt_lock_timeout(f, lockfile, *waited, holder.as_ref())
            }
            Error::LockfileUnusable { lockfile, found } => write!(
                f,
                "cannot lock {}: it is {found}, not a lockfile (no MSAL library creates one there); remove it: {}",
                lockfile.display(),
                remove_command(lockfile, *found == "a directory")
            ),
            Error::Corrupt { location, reason } if location.is_empty() => {
                write!(f, "the token cache is corrupt: {reason}")
            }
            Error::Corrupt { location, reason } => {
                write!(f, "the token cache at {location} is corrupt: {reason}")
            }
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::Io { op, path, .. } => write!(f, "failed to {op} {}", path.display()),
            Error::ConflictRetriesExhausted { location, attempts } => write!(
                f,
                "gave up writing {location} after {attempts} attempts: other writers kept changing it; \
                 retry, or raise the conflict bound if this partition is that busy"
            ),
            Error::UnknownKey { location, key_id } => write!(
                f,
                "the value at {location} was encrypted with key id {key_id:?}, which is not in the key ring; \
                 add that key to the ring (as an old key) to read it"
            ),
            Error::L2Unavailable { endpoint, op, .. } => write!(
                f,
                "could not {op}: the Redis server {endpoint} is unreachable or did not answer in time"
            ),
        }
    }
}

fn fmt_lock_timeout(
    f: &mut fmt::Formatter<'_>,
    lockfile: &Path,
    waited: Duration,
    holder: Option<&LockHolder>,
) -> fmt::Result {
    write!(f, "timed out after {:.1} s waiting for the lock {}", waited.as_secs_f64(), lockfile.display())?;
    let Some(h) = holder else {
        return write!(f, " (the holder could not be identified)");
    };
    match h.pid {
        Some(pid) => write!(f, "; held by pid {pid}")?,
        None => write!(f, "; held by a process that recorded no pid")?,
    }
    if let Some(p) = &h.program {
        write!(f, " ({p})")?;
    }
    if let Some(d) = h.held_for {
        write!(f, " for {:.1} s", d.as_secs_f64())?;
    }
    if let Some(advice) = h.advice(lockfile) {
        return write!(f, "; {advice}");
    }
    write!(
        f,
        "; if that process is stuck, stop it; a lockfile whose process has exited is taken over automatically"
    )
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Encryption { source, .. }
            | Error::Decryption { source, .. }
            | Error::Unavailable { source, .. }
            | Error::L2Unavailable { source, .. } => {
                source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
            }
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// Keeps a matching [`io::ErrorKind`] so callers working in `io::Result` can use `?`.
    fn from(err: Error) -> io::Error {
        let kind = match &err {
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::Io { source, .. } => source.kind(),
            Error::LockTimeout { .. } => io::ErrorKind::TimedOut,
            Error::Corrupt { .. } | Error::Decryption { .. } => io::ErrorKind::InvalidData,
            Error::InvalidInput { .. } | Error::LockfileUnusable { .. } => io::ErrorKind::InvalidInput,
            Error::Unavailable { .. } => io::ErrorKind::Unsupported,
            Error::StoreLocked { .. } => io::ErrorKind::PermissionDenied,
            Error::UnknownKey { .. } => io::ErrorKind::InvalidData,
            Error::L2Unavailable { .. } => io::ErrorKind::NotConnected,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_error_keeps_source_and_names_path() {
        let e = Error::io("read", "/x/y", io::Error::from_raw_os_error(13));
        assert_eq!(e.to_string(), "failed to read /x/y");
        assert!(e.source().is_some());
    }

    #[test]
    fn timeout_names_holder() {
        let e = Error::LockTimeout {
            lockfile: "/c.lockfile".into(),
            waited: Duration::from_millis(1500),
            holder: Some(LockHolder {
                pid: Some(42),
                program: Some("az".into()),
                held_for: Some(Duration::from_secs(3)),
                unrelated_process: None,
            }),
        };
        let s = e.to_string();
        assert!(s.contains("pid 42") && s.contains("(az)") && s.contains("3.0 s"), "{s}");
        assert!(!s.contains("rm '"), "no removal advice for a plausible holder: {s}");
    }

    #[test]
    fn unrelated_live_holder_gets_removal_advice() {
        let holder = LockHolder {
            pid: Some(42),
            program: Some("/usr/bin/az".into()),
            held_for: None,
            unrelated_process: Some("sleep".into()),
        };
        let e = Error::LockTimeout {
            lockfile: "/c/it's.lockfile".into(),
            waited: Duration::ZERO,
            holder: Some(holder),
        };
        let s = e.to_string();
        assert!(s.contains("now runs `sleep`"), "{s}");
        let rm = if cfg!(windows) { r#"del "/c/it's.lockfile""# } else { r"rm '/c/it'\''s.lockfile'" };
        assert!(s.contains(rm), "quoted for the platform's shell: {s}");
    }

    #[test]
    fn corrupt_without_location_does_not_say_at() {
        let e = Error::Corrupt { location: String::new(), reason: "r".into() };
        assert_eq!(e.to_string(), "the token cache is corrupt: r");
    }

    #[test]
    fn error_is_send_sync() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<Error>();
    }
}
