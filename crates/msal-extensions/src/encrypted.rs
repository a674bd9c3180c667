//! [`build_encrypted_persistence`]: the platform's encrypted backend, with an
//! explicit policy for machines where there is none.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::file::FilePersistence;
use crate::persistence::{ChangeToken, Persistence};
use crate::recovery::{CopyReason, KeptCopy};
use crate::store::StoreSpec;

/// What [`EncryptedPersistenceBuilder::build`] does when the platform's
/// encrypted store cannot be used here.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Return the error. The default: tokens are never written in plaintext
    /// unless the application asked for it.
    #[default]
    Never,
    /// Use a plaintext [`FilePersistence`] at the same path (as Azure
    /// Identity and the .NET and Node libraries do when asked), and log a
    /// warning once per process through the `log` crate. Applies when the
    /// store is [`Error::Unavailable`] (no D-Bus session, no Secret Service
    /// provider, unsupported platform) or [`Error::StoreLocked`] (a locked
    /// keyring on a headless machine); any other error is returned.
    PlaintextFile,
}

/// Chooses and checks the persistence for a token cache at a path.
///
/// # Examples
/// ```no_run
/// use msal_extensions::{EncryptedPersistenceBuilder, Fallback, Persistence};
/// let chosen = EncryptedPersistenceBuilder::new("~/.cache/my-app/msal.cache")
///     .fallback(Fallback::PlaintextFile)
///     .build()?;
/// println!("using {} (encrypted: {})", chosen.backend_name(), chosen.is_encrypted());
/// if let Some(why) = chosen.fallback_reason() {
///     println!("not encrypted because: {why}");
/// }
/// chosen.save("{}")?;
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct EncryptedPersistenceBuilder {
    location: PathBuf,
    fallback: Fallback,
}

impl EncryptedPersistenceBuilder {
    /// A builder for the cache at `location` (the cache file, or the signal
    /// file of a secret-store backend), with [`Fallback::Never`].
    pub fn new(location: impl AsRef<Path>) -> Self {
        EncryptedPersistenceBuilder { location: location.as_ref().to_path_buf(), fallback: Fallback::Never }
    }

    /// What to do when encryption is not available. Default: [`Fallback::Never`].
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Opens the platform's encrypted backend and checks that it works (the
    /// Secret Service backend stores, reads and deletes a probe item), or
    /// falls back as configured.
    ///
    /// | platform | backend |
    /// |---|---|
    /// | Linux | [`SecretServicePersistence`](crate::SecretServicePersistence) with the reference's defaults |
    /// | Windows | [`DpapiPersistence`](crate::DpapiPersistence), CurrentUser, no entropy (not probed, like the reference) |
    /// | macOS | [`KeychainPersistence`](crate::KeychainPersistence) with the reference's defaults (not probed) |
    /// | others | [`Error::Unavailable`] |
    ///
    /// # Errors
    /// With [`Fallback::Never`], the backend's error: [`Error::Unavailable`],
    /// [`Error::StoreLocked`], [`Error::Encryption`], [`Error::Decryption`].
    /// With [`Fallback::PlaintextFile`], only errors other than those two
    /// first kinds, and [`Error::Unavailable`] if `~` cannot be expanded.
    pub fn build(self) -> Result<ChosenPersistence> {
        ChosenPersistence::open(&StoreSpec::encrypted_default(&self.location), self.fallback, true)
    }
}

/// Builds the platform's encrypted persistence for `location`, never
/// falling back to plaintext: the same as
/// `EncryptedPersistenceBuilder::new(location).build()`.
///
/// The counterpart of the Python reference's `build_encrypted_persistence`.
///
/// # Errors
/// See [`EncryptedPersistenceBuilder::build`].
///
/// # Examples
/// ```no_run
/// use msal_extensions::{build_encrypted_persistence, Persistence};
/// let p = build_encrypted_persistence("~/.cache/my-app/msal.cache")?;
/// assert!(p.is_encrypted());
/// # Ok::<(), msal_extensions::Error>(())
/// ```
pub fn build_encrypted_persistence(location: impl AsRef<Path>) -> Result<ChosenPersistence> {
    EncryptedPersistenceBuilder::new(location).build()
}

static WARNED: AtomicBool = AtomicBool::new(false);

fn warn_once(file: &FilePersistence, reason: &Error) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "encrypted token-cache storage is not available ({reason}); storing the cache UNENCRYPTED in {} \
             as the application allowed (Fallback::PlaintextFile)",
            file.location().display()
        );
    }
}

/// The persistence [`EncryptedPersistenceBuilder::build`] chose, and why.
///
/// It is itself a [`Persistence`] that delegates to the chosen backend, so it
/// can be used directly; [`backend_name`](Persistence::backend_name) and
/// [`is_encrypted`](Persistence::is_encrypted) say what was chosen.
pub struct ChosenPersistence {
    inner: Box<dyn Persistence>,
    fallback_reason: Option<Error>,
}

impl ChosenPersistence {
    /// Opens `spec` ([`StoreSpec::open_verified`] when `verify`, else
    /// [`StoreSpec::open`]) and, when it is unavailable or locked and
    /// `fallback` allows it, a plaintext file at the same location instead.
    ///
    /// # Errors
    /// As [`EncryptedPersistenceBuilder::build`].
    pub fn open(spec: &StoreSpec, fallback: Fallback, verify: bool) -> Result<Self> {
        let opened = if verify { spec.open_verified() } else { spec.open() };
        let err = match opened {
            Ok(p) => return Ok(ChosenPersistence { inner: p, fallback_reason: None }),
            Err(e) => e,
        };
        let may_fall_back = matches!(err, Error::Unavailable { .. } | Error::StoreLocked { .. });
        if fallback != Fallback::PlaintextFile || !may_fall_back || !spec.is_encrypted() {
            return Err(err);
        }
        let file = FilePersistence::new(spec.location())?;
        warn_once(&file, &err);
        Ok(ChosenPersistence { inner: Box::new(file), fallback_reason: Some(err) })
    }

    /// Why the encrypted backend was not used, when the build fell back to
    /// a plaintext file; `None` when the data is encrypted.
    pub fn fallback_reason(&self) -> Option<&Error> {
        self.fallback_reason.as_ref()
    }

    /// The chosen backend.
    pub fn persistence(&self) -> &dyn Persistence {
        self.inner.as_ref()
    }

    /// The chosen backend, owned.
    pub fn into_inner(self) -> Box<dyn Persistence> {
        self.inner
    }
}

impl Persistence for ChosenPersistence {
    fn save_bytes(&self, content: &[u8]) -> Result<()> {
        self.inner.save_bytes(content)
    }

    fn load_bytes(&self) -> Result<Vec<u8>> {
        self.inner.load_bytes()
    }

    fn delete(&self) -> Result<()> {
        self.inner.delete()
    }

    fn change_token(&self) -> Result<ChangeToken> {
        self.inner.change_token()
    }

    fn location(&self) -> &Path {
        self.inner.location()
    }

    fn is_encrypted(&self) -> bool {
        self.inner.is_encrypted()
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
        self.inner.keep_copy(reason)
    }

    fn load(&self) -> Result<String> {
        self.inner.load()
    }

    fn lock_path(&self) -> PathBuf {
        self.inner.lock_path()
    }
}

impl fmt::Debug for ChosenPersistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChosenPersistence")
            .field("backend", &self.inner)
            .field("fallback_reason", &self.fallback_reason)
            .finish()
    }
}
