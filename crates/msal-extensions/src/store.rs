//! [`StoreSpec`]: one description of where a token cache is kept, and the
//! one place that turns such a description into a [`Persistence`].
//!
//! # The store concept
//! Every backend is one of two shapes:
//!
//! - **a file**: [`FilePersistence`] (plaintext, replaced atomically), and
//!   [`DpapiPersistence`], an encrypting layer over that same file;
//! - **a secret item with a signal file**: a [`SecretItem`]
//!   ([`SecretServiceItem`], [`KeychainItem`]) in the one adapter
//!   [`SecretItemPersistence`], which adds the signal file, the change token
//!   and the lockfile.
//!
//! A [`StoreSpec`] names one of them with its location and names;
//! [`StoreSpec::open`] is the only code that maps a description to a backend.
//! [`EncryptedPersistenceBuilder`](crate::EncryptedPersistenceBuilder), the
//! [presets](crate::presets) and the `msal-cache` tool all go through it.
//!
//! # When "unavailable" is reported
//! [`Error::Unavailable`] (and [`Error::StoreLocked`]) come from
//! [`StoreSpec::open`]: it refuses a backend this platform lacks (DPAPI off
//! Windows, the Keychain off macOS, the Secret Service off Linux) and, for
//! the Secret Service, connects and checks that a provider answers and the
//! collection is unlocked, writing nothing. The backends' own constructors
//! make the platform check only (they contact nothing), so with them a
//! missing session bus or provider shows at the first operation; after a
//! successful `open`, an operation reports `Unavailable` only if the store
//! goes away meanwhile (the provider exits).
//!
//! Each platform-specific backend has one switch, in one style: a private
//! `imp` module chosen by `#[cfg_attr(..., path = ...)]` that exposes
//! `AVAILABLE` and the same functions on every platform, and a constructor
//! that checks `AVAILABLE` through one function, `require_platform`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dpapi::{DpapiPersistence, DpapiScope};
use crate::error::{Error, Result};
use crate::file::{Durability, FilePersistence};
#[cfg(doc)]
use crate::item::SecretItemPersistence;
use crate::keychain::{self, KeychainPersistence};
use crate::persistence::Persistence;
use crate::presets::Platform;
use crate::secret_service::{
    SecretCollection, SecretEncoding, SecretServicePersistence, default_schema_name,
};
#[cfg(doc)]
use crate::{KeychainItem, SecretItem, SecretServiceItem};

/// Where and how a token cache is stored: a location and a [`StoreKind`].
///
/// # Examples
/// ```
/// use msal_extensions::{PersistedTokenCache, StoreKind, StoreSpec};
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-spec-{}", std::process::id()));
/// let spec = StoreSpec::file(dir.join("msal_token_cache.json"));
/// assert_eq!(spec.kind(), &StoreKind::File);
/// let cache = PersistedTokenCache::new(spec.open()?);
/// assert_eq!(cache.accounts()?.len(), 0);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSpec {
    location: PathBuf,
    kind: StoreKind,
    durability: Durability,
}

/// What kind of store a [`StoreSpec`] names, with the store's own names.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// A plaintext file at the location ([`FilePersistence`]).
    File,
    /// A file encrypted with Windows DPAPI at the location ([`DpapiPersistence`]).
    Dpapi {
        /// Extra entropy mixed into the encryption (empty: none).
        entropy: String,
        /// Whose key encrypts.
        scope: DpapiScope,
    },
    /// A macOS Keychain generic password; the location is its signal file.
    Keychain {
        /// The item's service.
        service: String,
        /// The item's account.
        account: String,
    },
    /// A freedesktop Secret Service item; the location is its signal file.
    SecretService {
        /// The `xdg:schema` attribute.
        schema: String,
        /// The other attributes identifying the item.
        attributes: Vec<(String, String)>,
        /// The item's label.
        label: String,
        /// The collection holding it.
        collection: SecretCollection,
        /// How the cache is written into the secret.
        encoding: SecretEncoding,
    },
}

/// What the file at a store's location holds, as the owner of the store
/// creates it: what `msal-cache doctor` judges permissions by.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationRole {
    /// The cache in plaintext: tokens. Owners create it `0600`.
    PlaintextCache,
    /// The cache encrypted (DPAPI): unreadable to anyone but the user's key,
    /// though still best kept private.
    EncryptedCache,
    /// The signal file of a secret item: created empty (often `0644`) and
    /// only touched, so it holds no secret, unless something wrote a
    /// plaintext cache there (Azure Identity's fallback uses the same path).
    SignalFile,
}

impl LocationRole {
    /// Whether a file of `len` bytes in this role holds tokens in plaintext.
    /// An empty signal file does not.
    pub fn holds_plaintext_secrets(self, len: u64) -> bool {
        match self {
            LocationRole::PlaintextCache => len > 0,
            LocationRole::EncryptedCache => false,
            // `{}` is 2 bytes: anything larger in a signal file is a cache.
            LocationRole::SignalFile => len > 2,
        }
    }
}

impl StoreSpec {
    /// `kind` at `location` (kept as given: `~` is expanded by [`open`](Self::open)).
    pub fn new(location: impl AsRef<Path>, kind: StoreKind) -> Self {
        StoreSpec { location: location.as_ref().to_path_buf(), kind, durability: Durability::default() }
    }

    /// A plaintext file.
    pub fn file(location: impl AsRef<Path>) -> Self {
        Self::new(location, StoreKind::File)
    }

    /// A DPAPI-encrypted file, current user, no entropy (the reference's defaults).
    pub fn dpapi(location: impl AsRef<Path>) -> Self {
        Self::new(location, StoreKind::Dpapi { entropy: String::new(), scope: DpapiScope::CurrentUser })
    }

    /// A Keychain item with the reference's defaults: service
    /// `msal-extensions`, account the SHA-256 of the signal path as given.
    pub fn keychain(signal_location: impl AsRef<Path>) -> Self {
        let account = keychain::default_account(signal_location.as_ref());
        let service = keychain::DEFAULT_SERVICE.to_owned();
        Self::new(signal_location, StoreKind::Keychain { service, account })
    }

    /// A Secret Service item with the reference's defaults: schema the
    /// SHA-256 of the signal path as given, no attributes, empty label,
    /// default collection, raw UTF-8.
    pub fn secret_service(signal_location: impl AsRef<Path>) -> Self {
        let kind = StoreKind::SecretService {
            schema: default_schema_name(signal_location.as_ref()),
            attributes: Vec::new(),
            label: String::new(),
            collection: SecretCollection::Default,
            encoding: SecretEncoding::Utf8,
        };
        Self::new(signal_location, kind)
    }

    /// This platform's encrypted store with the reference's defaults: the
    /// Secret Service on Linux, DPAPI on Windows, the Keychain on macOS (on
    /// other systems, the Secret Service, which [`open`](Self::open) then
    /// reports unavailable).
    pub fn encrypted_default(location: impl AsRef<Path>) -> Self {
        match Platform::current() {
            Platform::Windows => Self::dpapi(location),
            Platform::MacOs => Self::keychain(location),
            Platform::Linux => Self::secret_service(location),
        }
    }

    /// The same description with another kind at the same location (e.g. the
    /// plaintext file where an encrypted store keeps its signal file).
    pub fn with_kind(mut self, kind: StoreKind) -> Self {
        self.kind = kind;
        self
    }

    /// How hard file saves work to survive crashes (file and DPAPI stores;
    /// signal files are only touched). Default: [`Durability::PowerLoss`].
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The cache file, or the signal file of a secret item, as given.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// The lockfile every MSAL library uses for this store: `<location>.lockfile`.
    pub fn lock_path(&self) -> PathBuf {
        crate::lock::default_lock_path(&self.location)
    }

    /// The kind of store, with its names.
    pub fn kind(&self) -> &StoreKind {
        &self.kind
    }

    /// `true` unless the store is a plaintext file.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self.kind, StoreKind::File)
    }

    /// The backend's short name, as [`Persistence::backend_name`] reports it.
    pub fn backend_name(&self) -> &'static str {
        match self.kind {
            StoreKind::File => "file",
            StoreKind::Dpapi { .. } => "dpapi",
            StoreKind::Keychain { .. } => "keychain",
            StoreKind::SecretService { .. } => "secret-service",
        }
    }

    /// What the file at [`location`](Self::location) holds.
    pub fn location_role(&self) -> LocationRole {
        match self.kind {
            StoreKind::File => LocationRole::PlaintextCache,
            StoreKind::Dpapi { .. } => LocationRole::EncryptedCache,
            StoreKind::Keychain { .. } | StoreKind::SecretService { .. } => LocationRole::SignalFile,
        }
    }

    /// Opens the store: the one mapping from a description to a backend.
    ///
    /// Checks that the backend exists on this platform and, for the Secret
    /// Service, that a provider answers and the collection is unlocked
    /// (nothing is written). DPAPI and the Keychain are not probed, like the
    /// reference: a probe could fail only in the ways a save would, or raise
    /// a Keychain prompt.
    ///
    /// # Errors
    /// [`Error::Unavailable`] (no such backend here; no bus, provider or
    /// collection), [`Error::StoreLocked`], and [`Error::Unavailable`] when
    /// the location starts with `~` and no home folder is known.
    pub fn open(&self) -> Result<Box<dyn Persistence>> {
        Ok(match &self.kind {
            StoreKind::File => Box::new(self.file_persistence()?),
            StoreKind::Dpapi { entropy, scope } => Box::new(
                DpapiPersistence::new(&self.location)?
                    .with_entropy(entropy)
                    .with_scope(*scope)
                    .with_durability(self.durability),
            ),
            StoreKind::Keychain { service, account } => Box::new(
                KeychainPersistence::new(&self.location)?.with_service(service).with_account(account),
            ),
            StoreKind::SecretService { .. } => {
                let p = self.secret_service_persistence()?;
                p.check_available()?;
                Box::new(p)
            }
        })
    }

    /// [`open`](Self::open), then checks that the store works by writing,
    /// reading and deleting a throw-away item (the Secret Service; the
    /// reference's `trial_run`). Other stores are opened as by `open`.
    ///
    /// # Errors
    /// As [`open`](Self::open), and the store's write and read errors.
    pub fn open_verified(&self) -> Result<Box<dyn Persistence>> {
        if let StoreKind::SecretService { .. } = self.kind {
            let p = self.secret_service_persistence()?;
            p.verify()?;
            return Ok(Box::new(p));
        }
        self.open()
    }

    fn file_persistence(&self) -> Result<FilePersistence> {
        Ok(FilePersistence::new(&self.location)?.with_durability(self.durability))
    }

    fn secret_service_persistence(&self) -> Result<SecretServicePersistence> {
        let StoreKind::SecretService { schema, attributes, label, collection, encoding } = &self.kind else {
            return Err(Error::invalid("store description", "not a Secret Service store"));
        };
        SecretServicePersistence::builder(&self.location)
            .schema_name(schema.clone())
            .attributes(attributes.iter().cloned())
            .label(label.clone())
            .collection(collection.clone())
            .encoding(*encoding)
            .build()
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSpec")
            .field("location", &self.location)
            .field("kind", &self.kind)
            .field("durability", &self.durability)
            .finish()
    }
}

impl fmt::Debug for StoreKind {
    /// Shows whether DPAPI entropy is set, never its text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreKind::File => f.write_str("File"),
            StoreKind::Dpapi { entropy, scope } => f
                .debug_struct("Dpapi")
                .field("entropy", &if entropy.is_empty() { "<none>" } else { "<set>" })
                .field("scope", scope)
                .finish(),
            StoreKind::Keychain { service, account } => {
                f.debug_struct("Keychain").field("service", service).field("account", account).finish()
            }
            StoreKind::SecretService { schema, attributes, label, collection, encoding } => f
                .debug_struct("SecretService")
                .field("schema", schema)
                .field("attributes", attributes)
                .field("label", label)
                .field("collection", collection)
                .field("encoding", encoding)
                .finish(),
        }
    }
}

/// `Ok` when `available`; else the one [`Error::Unavailable`] a backend
/// reports on a platform that lacks it.
pub(crate) fn require_platform(backend: &'static str, available: bool) -> Result<()> {
    if available {
        return Ok(());
    }
    let only = match backend {
        "dpapi" => "Windows DPAPI exists only on Windows",
        "keychain" => "the macOS Keychain exists only on macOS",
        _ => "the freedesktop Secret Service is used on Linux only",
    };
    Err(Error::Unavailable {
        backend,
        message: format!("{only}; use this platform's own encrypted store, or a plain file"),
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_backends_own() {
        let ss = StoreSpec::secret_service("~/x/c");
        let StoreKind::SecretService { schema, .. } = ss.kind() else { panic!() };
        assert_eq!(schema, &default_schema_name("~/x/c"), "hashed before ~ expansion");
        let kc = StoreSpec::keychain("~/x/c");
        let StoreKind::Keychain { account, service } = kc.kind() else { panic!() };
        assert_eq!(
            (service.as_str(), account.clone()),
            ("msal-extensions", keychain::default_account(Path::new("~/x/c")))
        );
        assert_eq!(StoreSpec::file("/a/b").lock_path(), Path::new("/a/b.lockfile"));
        assert!(!StoreSpec::file("/a").is_encrypted() && StoreSpec::dpapi("/a").is_encrypted());
    }

    #[test]
    fn platform_lacking_a_backend_says_so_at_open() {
        for spec in [StoreSpec::dpapi("/x"), StoreSpec::keychain("/x"), StoreSpec::secret_service("/x")] {
            let native = [
                ("dpapi", cfg!(windows)),
                ("keychain", cfg!(target_os = "macos")),
                ("secret-service", cfg!(target_os = "linux")),
            ];
            let here = native.iter().any(|(b, yes)| *b == spec.backend_name() && *yes);
            if here {
                continue;
            }
            let e = spec.open().unwrap_err();
            assert!(matches!(e, Error::Unavailable { .. }), "{e}");
        }
    }

    #[test]
    fn debug_hides_dpapi_entropy() {
        let s = StoreSpec::new(
            "/x",
            StoreKind::Dpapi { entropy: "s3cret".into(), scope: DpapiScope::CurrentUser },
        );
        let d = format!("{s:?}");
        assert!(!d.contains("s3cret") && d.contains("<set>"), "{d}");
    }

    #[test]
    fn signal_files_hold_no_secret_unless_written() {
        assert!(!LocationRole::SignalFile.holds_plaintext_secrets(0));
        assert!(LocationRole::SignalFile.holds_plaintext_secrets(300));
        assert!(LocationRole::PlaintextCache.holds_plaintext_secrets(300));
        assert!(!LocationRole::EncryptedCache.holds_plaintext_secrets(300));
    }
}
