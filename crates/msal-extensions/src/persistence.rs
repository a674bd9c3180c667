//! The [`Persistence`] trait: where a token cache's bytes live.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::recovery::{CopyReason, KeptCopy};

/// A place that stores one token cache: a plain file, an encrypted file, a
/// keychain item or a Secret Service item.
///
/// This mirrors the Python reference's `BasePersistence` (`save`, `load`,
/// `time_last_modified`, `get_location`, `is_encrypted`) and adds a
/// [`change_token`](Persistence::change_token) so that a cache can tell
/// cheaply, by equality, whether another process wrote since it last looked.
///
/// Implementations must be safe to call from several threads; writes from
/// several *processes* are serialised by the caller with a
/// [`CrossPlatLock`](crate::CrossPlatLock) on
/// [`lock_path`](Persistence::lock_path).
///
/// It is implemented for `Box<P>` (including `Box<dyn Persistence>`),
/// `Arc<P>` and `&P`, so what [`StoreSpec::open`](crate::StoreSpec::open)
/// returns goes straight into a [`PersistedTokenCache`](crate::PersistedTokenCache).
///
/// Every backend of this crate passes one conformance suite
/// (`tests/conformance.rs`); a new backend is added to it with one line.
pub trait Persistence: Send + Sync + fmt::Debug {
    /// Replaces the stored content with `content`.
    ///
    /// Backends that write files do so atomically: a concurrent reader, or a
    /// crash at any moment, sees either the old or the new content in full.
    fn save_bytes(&self, content: &[u8]) -> Result<()>;

    /// Returns the stored content.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing has been saved yet.
    fn load_bytes(&self) -> Result<Vec<u8>>;

    /// Removes the stored content; `Ok` when nothing was stored. Afterwards
    /// [`load_bytes`](Persistence::load_bytes) returns [`Error::NotFound`]
    /// and [`change_token`](Persistence::change_token) differs from before
    /// (a backend with a signal file touches it, so readers notice).
    fn delete(&self) -> Result<()>;

    /// A cheap fingerprint of the stored state (one `stat`, no read).
    ///
    /// Two equal tokens mean "nothing was written in between" as far as the
    /// file system can tell; compare tokens with `==`, never with a clock.
    /// A store with nothing saved yet returns [`ChangeToken::absent`].
    fn change_token(&self) -> Result<ChangeToken>;

    /// The file this persistence reads and writes; for a keychain or Secret
    /// Service backend, the *signal file* touched on every save.
    ///
    /// The cross-process lock lives beside it, at `<location>.lockfile`.
    fn location(&self) -> &Path;

    /// `true` when the data is encrypted at rest by the operating system.
    fn is_encrypted(&self) -> bool;

    /// A short name of the backend, e.g. `"file"` or `"secret-service"`.
    fn backend_name(&self) -> &'static str;

    /// Where the content is, for messages: the file for file backends; the
    /// item (never the signal file alone) for a secret store.
    fn describe(&self) -> String {
        self.location().display().to_string()
    }

    /// Keeps a recoverable copy of the content stored now, in a place no less
    /// protected than the store itself, and says where (see
    /// [`recovery`](crate::recovery)). `Ok(None)` when nothing is stored, or
    /// when the backend has no such place. Copies are named by their
    /// content's hash: the same content is kept once, however often asked.
    ///
    /// The default suits a plaintext backend: a `0600` file beside
    /// [`location`](Persistence::location). An encrypted backend that does
    /// not override it keeps no copy, so plaintext of an encrypted store is
    /// never written.
    fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
        if self.is_encrypted() {
            return Ok(None);
        }
        match self.load_bytes() {
            Ok(bytes) => crate::recovery::copy_beside(self.location(), reason, &bytes, false).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves UTF-8 text (the serialised cache).
    fn save(&self, content: &str) -> Result<()> {
        self.save_bytes(content.as_bytes())
    }

    /// Loads the content as UTF-8 text.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing has been saved yet;
    /// [`Error::Corrupt`] when the content is not UTF-8.
    fn load(&self) -> Result<String> {
        let bytes = self.load_bytes()?;
        String::from_utf8(bytes).map_err(|e| Error::Corrupt {
            location: self.describe(),
            reason: format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        })
    }

    /// When the content was last saved, as the file system recorded it.
    ///
    /// For display only: use [`change_token`](Persistence::change_token) to
    /// detect changes.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing has been saved yet.
    fn time_last_modified(&self) -> Result<SystemTime> {
        self.change_token()?.modified().ok_or_else(|| Error::not_found(self.location()))
    }

    /// Where the cross-process lock for this store lives: `<location>.lockfile`,
    /// the name every MSAL extension library uses.
    fn lock_path(&self) -> PathBuf {
        crate::lock::default_lock_path(self.location())
    }
}

/// Forwards every method, the provided ones too, so a wrapped backend's
/// overrides (e.g. DPAPI's zeroizing `load`) are kept.
macro_rules! forward_persistence {
    ($($impl_head:tt)*) => {
        $($impl_head)* {
            fn save_bytes(&self, content: &[u8]) -> Result<()> {
                (**self).save_bytes(content)
            }
            fn load_bytes(&self) -> Result<Vec<u8>> {
                (**self).load_bytes()
            }
            fn delete(&self) -> Result<()> {
                (**self).delete()
            }
            fn change_token(&self) -> Result<ChangeToken> {
                (**self).change_token()
            }
            fn location(&self) -> &Path {
                (**self).location()
            }
            fn is_encrypted(&self) -> bool {
                (**self).is_encrypted()
            }
            fn backend_name(&self) -> &'static str {
                (**self).backend_name()
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
            fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
                (**self).keep_copy(reason)
            }
            fn save(&self, content: &str) -> Result<()> {
                (**self).save(content)
            }
            fn load(&self) -> Result<String> {
                (**self).load()
            }
            fn time_last_modified(&self) -> Result<SystemTime> {
                (**self).time_last_modified()
            }
            fn lock_path(&self) -> PathBuf {
                (**self).lock_path()
            }
        }
    };
}

forward_persistence!(impl<P: Persistence + ?Sized> Persistence for Box<P>);
forward_persistence!(impl<P: Persistence + ?Sized> Persistence for Arc<P>);
forward_persistence!(impl<P: Persistence + ?Sized> Persistence for &P);

/// A cheap fingerprint of a stored cache: modification time in nanoseconds,
/// size, and file identity.
///
/// Obtained from [`Persistence::change_token`]. Only equality is meaningful:
/// a different token means someone wrote (or the file was replaced); an equal
/// token means no write the file system can see.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeToken(Option<Stamp>);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Stamp {
    mtime_ns: i128,
    ctime_ns: i128,
    size: u64,
    dev: u64,
    ino: u64,
    /// For stores that count their writes instead of stat-ing a file.
    version: Option<u64>,
}

impl ChangeToken {
    /// The token of a store that holds nothing yet.
    pub const fn absent() -> Self {
        ChangeToken(None)
    }

    /// `true` when the store held nothing when the token was taken.
    pub fn is_absent(&self) -> bool {
        self.0.is_none()
    }

    /// The token of the file described by `meta`.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        let (dev, ino, ctime_ns) = crate::sys::identity_of(meta);
        let mtime_ns = meta.modified().map(system_time_ns).unwrap_or(0);
        ChangeToken(Some(Stamp { mtime_ns, ctime_ns, size: meta.len(), dev, ino, version: None }))
    }

    /// The token of a store that numbers its writes (a database, a server, an
    /// in-memory store): `version` must change on every write, `modified`
    /// and `size` describe the content stored.
    ///
    /// # Examples
    /// ```
    /// use std::time::SystemTime;
    /// use msal_extensions::ChangeToken;
    /// let t = SystemTime::now();
    /// assert_eq!(ChangeToken::from_version(7, t, 2), ChangeToken::from_version(7, t, 2));
    /// assert_ne!(ChangeToken::from_version(7, t, 2), ChangeToken::from_version(8, t, 2));
    /// ```
    pub fn from_version(version: u64, modified: SystemTime, size: u64) -> Self {
        let mtime_ns = system_time_ns(modified);
        ChangeToken(Some(Stamp { mtime_ns, ctime_ns: 0, size, dev: 0, ino: 0, version: Some(version) }))
    }

    /// The token of the file at `path`, or [`absent`](Self::absent) if there is none.
    pub fn of_path(path: &Path) -> Result<Self> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Self::from_metadata(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::absent()),
            Err(e) => Err(Error::io("read metadata of", path, e)),
        }
    }

    /// The modification time recorded in the token, if the store existed.
    pub fn modified(&self) -> Option<SystemTime> {
        let ns = self.0?.mtime_ns;
        let d = std::time::Duration::from_nanos(ns.unsigned_abs() as u64);
        if ns >= 0 { SystemTime::UNIX_EPOCH.checked_add(d) } else { SystemTime::UNIX_EPOCH.checked_sub(d) }
    }

    /// The size in bytes recorded in the token, if the store existed.
    pub fn size(&self) -> Option<u64> {
        self.0.map(|s| s.size)
    }
}

fn system_time_ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

impl fmt::Debug for ChangeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("ChangeToken(absent)"),
            Some(Stamp { version: Some(v), size, .. }) => write!(f, "ChangeToken(version={v}, size={size})"),
            Some(s) => {
                write!(f, "ChangeToken(mtime_ns={}, size={}, id={}:{})", s.mtime_ns, s.size, s.dev, s.ino)
            }
        }
    }
}
