//! [`MemoryPersistence`]: a store in this process's memory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::persistence::{ChangeToken, Persistence};
use crate::recovery::{CopyPlace, CopyReason, KeptCopy, content_tag};

/// Numbers every write of every memory store, so no two writes share a token.
static WRITES: AtomicU64 = AtomicU64::new(1);
/// Numbers the default locations of stores made with [`MemoryPersistence::new`].
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// A token cache kept in memory: for tests, and for applications that want
/// [`PersistedTokenCache`](crate::PersistedTokenCache)'s API without a file.
///
/// Clones share one store (as two processes share a file), and every write
/// gets a new [`ChangeToken`], so a [`PersistedTokenCache`](crate::PersistedTokenCache)
/// over one clone sees writes made through another. The *location* is a path
/// that is never written; only the cross-process lock uses it
/// (`<location>.lockfile`, created while a change is made and deleted after).
///
/// [`encrypted`](Self::encrypted) marks the store as encrypted at rest, so
/// code that must treat encrypted stores differently (quarantine never
/// writing plaintext) can be tested without a secret store.
///
/// # Examples
/// ```
/// use msal_extensions::{MemoryPersistence, PersistedTokenCache, Persistence, TokenResponse};
/// let store = MemoryPersistence::new();
/// let cache = PersistedTokenCache::new(store.clone());
/// cache.add(&TokenResponse::new("client", ["s"], "https://login.microsoftonline.com/t",
///     r#"{"access_token": "at", "expires_in": 3600}"#)?)?;
/// assert!(store.load()?.contains("AccessToken"));
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryPersistence {
    location: PathBuf,
    encrypted: bool,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    content: Option<Zeroizing<Vec<u8>>>,
    version: u64,
    modified: Option<SystemTime>,
    /// Recoverable copies: (content tag, reason, content).
    copies: Vec<(String, CopyReason, Zeroizing<Vec<u8>>)>,
}

impl MemoryPersistence {
    /// An empty store whose lockfile goes in the system's temporary folder.
    pub fn new() -> Self {
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Self::at(std::env::temp_dir().join(format!("msal-extensions-memory-{}-{n}", std::process::id())))
    }

    /// An empty store whose (never written) location is `location`: its
    /// lockfile is `<location>.lockfile`.
    pub fn at(location: impl AsRef<Path>) -> Self {
        MemoryPersistence {
            location: location.as_ref().to_path_buf(),
            encrypted: false,
            shared: Arc::default(),
        }
    }

    /// Marks the store as encrypted at rest (`true`) or not (the default).
    pub fn encrypted(mut self, encrypted: bool) -> Self {
        self.encrypted = encrypted;
        self
    }

    /// The recoverable copies kept by [`Persistence::keep_copy`], oldest first.
    pub fn copies(&self) -> Vec<(CopyReason, Vec<u8>)> {
        self.state().copies.iter().map(|(_, r, c)| (*r, c.to_vec())).collect()
    }

    fn state(&self) -> MutexGuard<'_, Shared> {
        // Every update replaces whole fields: a panic elsewhere cannot leave it half-done.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryPersistence {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    fn write(&mut self, content: Option<Zeroizing<Vec<u8>>>) {
        self.content = content;
        self.version = WRITES.fetch_add(1, Ordering::Relaxed);
        self.modified = Some(SystemTime::now());
    }
}

impl Persistence for MemoryPersistence {
    fn save_bytes(&self, content: &[u8]) -> Result<()> {
        self.state().write(Some(Zeroizing::new(content.to_vec())));
        Ok(())
    }

    fn load_bytes(&self) -> Result<Vec<u8>> {
        match &self.state().content {
            Some(c) => Ok(c.to_vec()),
            None => Err(Error::NotFound { location: self.describe() }),
        }
    }

    fn delete(&self) -> Result<()> {
        let mut st = self.state();
        if st.content.is_some() {
            st.write(None);
        }
        Ok(())
    }

    fn change_token(&self) -> Result<ChangeToken> {
        let st = self.state();
        Ok(match (&st.content, st.modified) {
            (Some(c), Some(m)) => ChangeToken::from_version(st.version, m, c.len() as u64),
            _ => ChangeToken::absent(),
        })
    }

    fn location(&self) -> &Path {
        &self.location
    }

    fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    fn backend_name(&self) -> &'static str {
        "memory"
    }

    fn describe(&self) -> String {
        format!("the in-memory store {}", self.location.display())
    }

    /// Keeps the copy inside the store itself (see [`copies`](Self::copies)).
    fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
        let mut st = self.state();
        let Some(content) = st.content.clone() else { return Ok(None) };
        let tag = content_tag(&content);
        let new = !st.copies.iter().any(|(t, _, _)| *t == tag);
        if new {
            st.copies.push((tag.clone(), reason, content));
        }
        Ok(Some(KeptCopy::new(CopyPlace::Memory(tag), reason, new, self.encrypted)))
    }
}

impl fmt::Debug for MemoryPersistence {
    /// The location and sizes, never the content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state();
        f.debug_struct("MemoryPersistence")
            .field("location", &self.location)
            .field("encrypted", &self.encrypted)
            .field("bytes", &st.content.as_ref().map(|c| c.len()))
            .field("copies", &st.copies.len())
            .finish()
    }
}
