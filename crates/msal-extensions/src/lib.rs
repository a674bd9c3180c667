//! Keep an MSAL token cache on disk between runs, encrypted by the operating
//! system's secret store where there is one, and shared safely by many
//! processes at once, including programs using Microsoft's MSAL libraries in
//! Python, .NET and Node on the same cache file.
//!
//! This is a Rust counterpart of Microsoft's Python package
//! `msal-extensions` 1.3.1, compatible with it on disk and on the lockfile,
//! without its failure modes: lost updates under contention, empty or
//! truncated caches after a crash during a save, and a five-second stall on
//! every leftover lockfile.
//!
//! # Which type do I want?
//!
//! | you want to | use |
//! |---|---|
//! | share one token cache between threads and processes (Rust, Python, .NET, Node): the one read-modify-write path | [`PersistedTokenCache`] |
//! | store the cache encrypted by the platform's secret store, optionally falling back to a file | [`EncryptedPersistenceBuilder`], [`build_encrypted_persistence`] |
//! | open the cache of Azure CLI, Azure Identity or Visual Studio | [`presets::Preset`] (custom Azure Identity names: [`Preset::resolve_named`](presets::Preset::resolve_named)) |
//! | describe any store (file, DPAPI, Keychain, Secret Service, with its names) and open it | [`StoreSpec`], [`StoreSpec::open`] |
//! | store the cache as a plain file (`0600`), never half-written | [`FilePersistence`] |
//! | encrypt it with Windows DPAPI, readable by the Python reference | [`DpapiPersistence`] |
//! | keep it in the macOS Keychain, like the Python reference | [`KeychainPersistence`] |
//! | share an encrypted cache with Python's `LibsecretPersistence` (Linux) | [`SecretServicePersistence`] |
//! | keep a cache in memory (tests, or no file at all) | [`MemoryPersistence`] |
//! | write your own backend | implement [`Persistence`]; for a secret store, only [`SecretItem`] (+ [`SecretItemPersistence`]) |
//! | replace, clear or migrate a cache keeping a recoverable copy of what was there | [`PersistedTokenCache::keep_replaced`], [`replace`](PersistedTokenCache::replace), [`recovery`] |
//! | serialise read-modify-write across processes | [`CrossPlatLock`] (or [`LockOptions`] for a timeout) |
//! | see who holds a lockfile, or remove a provably stale one | [`lock::inspect`], [`lock::remove_stale`] |
//! | read, query or edit an MSAL token cache in memory (unified schema, any SDK's file) | [`TokenCache`] (+ [`TokenResponse`], [`AccessTokenQuery`]) |
//! | write app-only tokens the way the library that owns the cache reads them (Python vs Node) | [`WriteConvention`] |
#![cfg_attr(
    feature = "watch",
    doc = "| be told when another program signs in, signs out or clears the cache (feature `watch`) | [`PersistedTokenCache::watch`], [`watch`] |"
)]
#![cfg_attr(
    not(feature = "watch"),
    doc = "| be told when another program signs in, signs out or clears the cache | `PersistedTokenCache::watch`, with the cargo feature `watch` |"
)]
//! | share a token cache between the machines of a fleet, through Redis (feature `redis`) | `distributed::DistributedTokenCache` |
//!
//! # Design
//!
//! - **Nothing is lost.** Saves write a temporary file in the same folder,
//!   flush it and rename it over the cache ([`Durability`]), so a reader
//!   without the lock, or a crash at any instant, sees the old or the new
//!   content in full.
//! - **The lock is really exclusive**, against this crate and against every
//!   MSAL peer: it honours both the lockfile's existence (Python without
//!   portalocker, Node) and the `flock` on it (Python with portalocker, .NET,
//!   Go), checks after locking that the path still names the file it locked,
//!   and deletes the lockfile only while holding it. Processes of this crate
//!   also hold a guard file nobody deletes, so they stay exclusive even when
//!   a peer deletes a live lockfile. No lockfile content or file type makes
//!   it wait past its timeout. See [`lock`].
//! - **One store concept.** A store is a file (plain, or DPAPI-encrypted) or
//!   a secret item with a signal file; [`StoreSpec`] describes any of them
//!   and [`StoreSpec::open`] is the one place that opens them ([`store`]).
//! - **No write without a change; nothing dropped silently.**
//!   [`PersistedTokenCache`] writes only when an entry changed, keeps the
//!   file's layout, and keeps a recoverable copy of corrupt content in the
//!   store's own form (never decrypted plaintext), once per content.
//! - **Crashed holders do not block anyone.** A lockfile whose recorded
//!   process is dead on this host is taken over at once; one whose holder
//!   may be alive is never broken.
//! - **Changes are detected by equality** of a [`ChangeToken`] (mtime in
//!   nanoseconds, size, file identity), never by comparing a modification time
//!   with the local clock.
//!
//! # Security
//!
//! - Files and lockfiles are created `0600` and folders `0700` whatever the
//!   umask; a save over an existing file keeps its owner, group and mode (root
//!   editing a user's cache leaves it the user's); a symbolic link planted at
//!   the lockfile path is refused, and one at the cache path is replaced by
//!   the rename, never written through.
//! - Error messages and `Debug` output hold paths, process ids and platform
//!   codes, never cache content.
//! - The lock is advisory: it coordinates cooperating programs and is not a
//!   security boundary.
//!
//! # Platform notes
//!
//! Unix (Linux, macOS, the BSDs) and Windows are supported for files and the
//! lock; DPAPI on Windows, the Keychain on macOS, the Secret Service on
//! Linux. Every backend compiles everywhere; on a platform that lacks it,
//! its constructor (and [`StoreSpec::open`]) returns [`Error::Unavailable`].
//! How each platform is verified (natively, under Wine, or compiled and
//! linted only) is in the repository's `docs/platforms.md`: in short, the
//! Windows code runs in CI under Wine, whose DPAPI and file sharing are
//! reimplementations, and the macOS Keychain code is compiled and linted but
//! not run.
//!
//! Encryption at rest: on Linux, [`SecretServicePersistence`] stores the cache
//! in the freedesktop Secret Service (gnome-keyring, KeePassXC...) over D-Bus,
//! item for item compatible with the Python reference's
//! `LibsecretPersistence`, without libsecret or PyGObject;
//! [`build_encrypted_persistence`] picks the platform's backend and, only if
//! asked ([`Fallback::PlaintextFile`]), falls back to a plain file.
//!
//! # Minimum supported Rust version
//!
//! 1.89, for `File::lock` and `File::try_lock`.
//!
//! # Example
//!
//! ```
//! use msal_extensions::{PersistedTokenCache, StoreSpec, TokenResponse};
//! # let dir = std::env::temp_dir().join(format!("msalx-doc-crate-{}", std::process::id()));
//! // Any store: StoreSpec::encrypted_default(..) or a preset opens the encrypted ones.
//! let cache = PersistedTokenCache::new(StoreSpec::file(dir.join("msal_token_cache.json")).open()?);
//! let response = TokenResponse::new("my-client-id", ["https://graph.microsoft.com/.default"],
//!     "https://login.microsoftonline.com/contoso.onmicrosoft.com",
//!     r#"{"access_token": "at", "expires_in": 3600}"#)?;
//! cache.add(&response)?; // lock, reload if another process wrote, add, save, unlock
//! let (removed, report) = cache.modify_reporting(|c| Ok(c.remove_account("nobody")))?;
//! assert_eq!(removed, 0);
//! assert!(!report.written, "nothing changed, so nothing was written");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), msal_extensions::Error>(())
//! ```

pub mod cache;
#[cfg(feature = "redis")]
pub mod distributed;
mod dpapi;
mod encrypted;
mod error;
mod file;
mod item;
mod keychain;
pub mod lock;
mod memory;
mod persisted;
mod persistence;
pub mod presets;
pub mod recovery;
pub mod secret_service;
pub mod store;
mod sys;
#[cfg(feature = "watch")]
pub mod watch;

pub use cache::{
    AccessToken, AccessTokenQuery, Account, AppMetadata, IdToken, MergeCounts, RefreshToken, Secret,
    TokenCache, TokenResponse, WriteConvention,
};
pub use dpapi::{DpapiPersistence, DpapiScope};
pub use encrypted::{ChosenPersistence, EncryptedPersistenceBuilder, Fallback, build_encrypted_persistence};
pub use error::{BoxError, Error, LockHolder, Result};
pub use file::{Durability, FilePersistence};
pub use item::{SecretItem, SecretItemPersistence};
pub use keychain::{KeychainItem, KeychainPersistence};
pub use lock::{CrossPlatLock, LockOptions};
pub use memory::MemoryPersistence;
pub use persisted::{Held, Layout, OnCorrupt, PersistedTokenCache, SaveReport};
pub use persistence::{ChangeToken, Persistence};
pub use recovery::{CopyPlace, CopyReason, KeptCopy};
pub use secret_service::{
    SecretCollection, SecretEncoding, SecretServiceBuilder, SecretServiceItem, SecretServicePersistence,
    SessionEncryption, default_schema_name,
};
pub use store::{LocationRole, StoreKind, StoreSpec};
#[cfg(feature = "watch")]
pub use watch::{AccountSummary, CacheEvent, CallbackSubscription, Subscription, WatchOptions};
