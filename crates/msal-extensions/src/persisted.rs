//! [`PersistedTokenCache`]: a [`TokenCache`] kept in a [`Persistence`] and
//! shared by threads and processes.
//!
//! # How it stays correct and cheap
//! - **Change detection by equality.** Before every read the persistence's
//!   [`ChangeToken`] (one `stat`) is compared with the one seen at the last
//!   load; only a different token causes a reload. Clocks are never compared,
//!   so a write within the same second, or by a host with a skewed clock, is
//!   still seen.
//! - **One lock round per mutation.** [`modify`](PersistedTokenCache::modify)
//!   takes the cross-process lock once, reloads if the token changed, applies
//!   the whole change, saves and unlocks. The Python reference takes three to
//!   five rounds for one `add`, and another process can interleave between them.
//! - **Reads take no lock.** Saves replace the file atomically, so a reader
//!   sees a whole old or new cache. Peers that write in place (MSAL Python's
//!   `FilePersistence` truncates then writes) can expose a partial file for a
//!   moment: a read that finds corrupt content retries once, then re-reads
//!   under the lock before concluding the content is really corrupt (so
//!   such a read can wait for the lock; an intact cache never does).
//! - **Corrupt content is never silently dropped.** With
//!   [`OnCorrupt::Quarantine`] (the default) a copy is kept beside the cache
//!   as `<name>.corrupt-<unix seconds>`, a warning is logged, and the cache
//!   goes on empty; with [`OnCorrupt::Fail`] the [`Error::Corrupt`] is returned.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::cache::{
    AccessToken, AccessTokenQuery, Account, RefreshToken, TokenCache, TokenResponse, WriteConvention,
};
use crate::error::{Error, Result};
use crate::lock::LockOptions;
use crate::persistence::{ChangeToken, Persistence};

// Change notification: subscribers and their hook (a no-op without the `watch` feature).
mod watch;

/// What to do when the stored cache stays unreadable (not JSON, wrong
/// structure) even when re-read under the lock.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCorrupt {
    /// Copy the bad content to `<name>.corrupt-<unix seconds>` beside the
    /// cache, log a warning, and continue with an empty cache (the next save
    /// replaces the bad file). Sign-ins are repeated; no program stays stuck.
    #[default]
    Quarantine,
    /// Return [`Error::Corrupt`] from every operation until someone repairs
    /// or deletes the file.
    Fail,
}

/// How long a reader waits before re-reading content that looked corrupt:
/// long enough for a peer's in-place write of a large cache to finish.
const CORRUPT_RETRY_DELAY: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    cache: TokenCache,
    /// The token of the content `cache` was loaded from (or saved as); `None`
    /// forces a reload.
    seen: Option<ChangeToken>,
}

/// A token cache stored in a [`Persistence`], safe to share between threads
/// (`Send + Sync`) and, through the cross-process lock, between processes,
/// including MSAL Python, .NET and Node programs using the same file.
///
/// # Examples
/// ```
/// use msal_extensions::{AccessTokenQuery, FilePersistence, PersistedTokenCache, TokenResponse};
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-ptc-{}", std::process::id()));
/// let cache = PersistedTokenCache::new(FilePersistence::new(dir.join("msal_token_cache.json"))?);
/// let response = TokenResponse::new(
///     "my-client-id",
///     ["https://graph.microsoft.com/.default"],
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com",
///     r#"{"access_token": "at", "expires_in": 3600}"#,
/// )?;
/// cache.add(&response)?; // one lock round
/// let q = AccessTokenQuery::new("my-client-id", ["https://graph.microsoft.com/.default"]);
/// let at = cache.access_token(&q)?.expect("just added");
/// assert_eq!(at.secret.as_ref().unwrap().expose(), "at");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
pub struct PersistedTokenCache<P: Persistence> {
    persistence: P,
    lock_options: LockOptions,
    on_corrupt: OnCorrupt,
    pretty: bool,
    convention: WriteConvention,
    state: RwLock<State>,
    /// The version of the store last copied aside, so that threads meeting
    /// the same corrupt content one after another keep a single copy.
    quarantined: std::sync::Mutex<Option<ChangeToken>>,
    /// Subscribers of [`watch`](Self::watch) (feature `watch`).
    observers: watch::Observers,
}

impl<P: Persistence> PersistedTokenCache<P> {
    /// A cache stored in `persistence`, with the default lock options and
    /// [`OnCorrupt::Quarantine`]. Nothing is read until the first use.
    pub fn new(persistence: P) -> Self {
        PersistedTokenCache {
            persistence,
            lock_options: LockOptions::default(),
            on_corrupt: OnCorrupt::default(),
            pretty: false,
            convention: WriteConvention::default(),
            state: RwLock::new(State::default()),
            quarantined: std::sync::Mutex::new(None),
            observers: Default::default(),
        }
    }

    /// How the cross-process lock waits (timeout, backoff).
    pub fn lock_options(mut self, options: LockOptions) -> Self {
        self.lock_options = options;
        self
    }

    /// What to do with content that stays corrupt.
    pub fn on_corrupt(mut self, policy: OnCorrupt) -> Self {
        self.on_corrupt = policy;
        self
    }

    /// Write JSON indented by four spaces like MSAL Python (`true`) or compact
    /// like MSAL .NET (`false`, the default: smaller and faster). Every SDK reads both.
    pub fn pretty(mut self, pretty: bool) -> Self {
        self.pretty = pretty;
        self
    }

    /// How writes settle what the MSAL libraries disagree on (see
    /// [`WriteConvention`]; default [`WriteConvention::Mirror`]: as the cache
    /// already holds). For a Microsoft tool's cache, the tool's library:
    /// [`WriteConvention::for_preset`].
    pub fn write_convention(mut self, convention: WriteConvention) -> Self {
        self.convention = convention;
        self
    }

    /// The persistence the cache lives in.
    pub fn persistence(&self) -> &P {
        &self.persistence
    }

    /// Runs `f` on the current cache: reloaded first if another process (or
    /// handle) wrote since the last look, else straight from memory after one
    /// `stat`. Takes no cross-process lock.
    ///
    /// # Errors
    /// [`Error::Io`] (or a backend's error) when the store cannot be read;
    /// [`Error::Corrupt`] under [`OnCorrupt::Fail`].
    pub fn read<R>(&self, f: impl FnOnce(&TokenCache) -> R) -> Result<R> {
        let token = self.persistence.change_token()?;
        {
            let st = self.read_state();
            if st.seen == Some(token) {
                return Ok(f(&st.cache));
            }
        }
        // One thread reloads while the others wait for its result instead of
        // parsing the same file in parallel.
        let mut st = self.write_state();
        if st.seen == Some(token) {
            return Ok(f(&st.cache));
        }
        // Free the old entries first, so the new ones reuse their memory.
        st.seen = None;
        st.cache = TokenCache::new();
        if let Some(cache) = self.load_unlocked(token)? {
            st.cache = cache;
            st.seen = Some(token);
            return Ok(f(&st.cache));
        }
        // Unreadable twice: re-read under the cross-process lock, which is
        // always taken before the state lock (as in `modify`), never after.
        drop(st);
        let cache = self.load_under_lock()?;
        let mut st = self.write_state();
        st.cache = cache;
        st.seen = Some(token);
        Ok(f(&st.cache))
    }

    /// Applies `f` as one atomic change: lock, reload if changed, apply, save,
    /// unlock. If `f` returns an error nothing is saved.
    ///
    /// # Errors
    /// [`Error::LockTimeout`] when the lock stays held; the error of `f`;
    /// the persistence's save errors; [`Error::Corrupt`] under [`OnCorrupt::Fail`].
    pub fn modify<R>(&self, f: impl FnOnce(&mut TokenCache) -> Result<R>) -> Result<R> {
        let lock = self.lock_options.acquire(self.persistence.lock_path())?;
        let mut st = self.write_state();
        let result = self.modify_locked(&mut st, f);
        if result.is_err() {
            st.seen = None; // memory may hold an unsaved change: reload next time
        }
        drop(st);
        let r = result?;
        lock.release()?;
        Ok(r)
    }

    fn modify_locked<R>(&self, st: &mut State, f: impl FnOnce(&mut TokenCache) -> Result<R>) -> Result<R> {
        let token = self.persistence.change_token()?;
        if st.seen != Some(token) {
            st.cache = if token.is_absent() { TokenCache::new() } else { self.load_locked()? };
        }
        st.cache.set_write_convention(self.convention);
        // Watch hook: what others wrote is reported as theirs, then our change as ours.
        self.observers.observe(&st.cache, token, watch::Origin::Peer);
        let r = f(&mut st.cache)?;
        let text = if self.pretty { st.cache.serialize_pretty() } else { st.cache.serialize() };
        self.persistence.save(&text)?;
        let saved = self.persistence.change_token()?;
        st.seen = Some(saved);
        self.observers.observe(&st.cache, saved, watch::Origin::Own);
        Ok(r)
    }

    /// Stores one token response (see [`TokenCache::add`]) in one lock round.
    ///
    /// # Errors
    /// As [`modify`](Self::modify) and [`TokenCache::add`].
    pub fn add(&self, response: &TokenResponse) -> Result<()> {
        self.modify(|c| c.add(response))
    }

    /// The best valid access token for `query` (see [`TokenCache::access_token`]).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn access_token(&self, query: &AccessTokenQuery<'_>) -> Result<Option<Arc<AccessToken>>> {
        // Shared, not cloned: a hit costs a reference count, not a dozen string copies.
        self.read(|c| c.access_token_shared(query).cloned())
    }

    /// All accounts.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| c.accounts().cloned().collect())
    }

    /// The refresh token of `client_id` for the account.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn refresh_token(&self, home_account_id: &str, client_id: &str) -> Result<Option<RefreshToken>> {
        self.read(|c| c.refresh_token(home_account_id, client_id).cloned())
    }

    /// Removes the account and all its tokens in one lock round; returns how
    /// many entries were removed.
    ///
    /// # Errors
    /// As [`modify`](Self::modify).
    pub fn remove_account(&self, home_account_id: &str) -> Result<usize> {
        self.modify(|c| Ok(c.remove_account(home_account_id)))
    }

    /// Replaces a rotated refresh token in one lock round (see
    /// [`TokenCache::update_refresh_token`]).
    ///
    /// # Errors
    /// As [`modify`](Self::modify).
    pub fn update_refresh_token(
        &self,
        home_account_id: &str,
        client_id: &str,
        new_secret: &str,
    ) -> Result<bool> {
        self.modify(|c| Ok(c.update_refresh_token(home_account_id, client_id, new_secret)))
    }

    /// Loads without the lock, retrying once; `None` when the content was
    /// unreadable both times (perhaps a peer writing in place: see `load_under_lock`).
    fn load_unlocked(&self, token: ChangeToken) -> Result<Option<TokenCache>> {
        if token.is_absent() {
            return Ok(Some(TokenCache::new()));
        }
        for attempt in 0..2 {
            if attempt > 0 {
                std::thread::sleep(CORRUPT_RETRY_DELAY);
            }
            match self.try_load() {
                Ok(c) => return Ok(Some(c)),
                Err(Error::Corrupt { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        log::debug!("{}: unreadable twice (token {token:?}); re-reading under the lock", self.where_());
        Ok(None)
    }

    /// Takes the cross-process lock and loads: corrupt content now is really corrupt.
    fn load_under_lock(&self) -> Result<TokenCache> {
        let lock = self.lock_options.acquire(self.persistence.lock_path())?;
        let cache = self.load_locked()?;
        lock.release()?;
        Ok(cache)
    }

    /// Loads while holding the lock: corrupt content now is really corrupt.
    fn load_locked(&self) -> Result<TokenCache> {
        let bytes = match self.persistence.load_bytes() {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(TokenCache::new()),
            Err(e) => return Err(e),
        };
        match TokenCache::parse_owned_or_back(bytes) {
            Ok(c) => Ok(c),
            Err((e, bytes)) => self.corrupt(&bytes, e),
        }
    }

    fn try_load(&self) -> Result<TokenCache> {
        match self.persistence.load_bytes() {
            Ok(b) => TokenCache::parse_owned(b),
            Err(e) if e.is_not_found() => Ok(TokenCache::new()),
            Err(e) => Err(e),
        }
    }

    fn corrupt(&self, bytes: &[u8], err: Error) -> Result<TokenCache> {
        let reason = match err {
            Error::Corrupt { reason, .. } => reason,
            other => other.to_string(),
        };
        if self.on_corrupt == OnCorrupt::Fail {
            return Err(Error::Corrupt { location: self.where_(), reason });
        }
        // Called under the cross-process lock, so the content cannot change
        // between this stat and the read that found it corrupt.
        let token = self.persistence.change_token()?;
        let mut last = self.quarantined.lock().unwrap_or_else(|p| p.into_inner());
        if *last == Some(token) {
            return Ok(TokenCache::new());
        }
        let copy = quarantine(self.persistence.location(), bytes)?;
        *last = Some(token);
        log::warn!(
            "{}: {reason}; kept a copy at {} and continuing with an empty cache",
            self.where_(),
            copy.display()
        );
        Ok(TokenCache::new())
    }

    fn where_(&self) -> String {
        self.persistence.location().display().to_string()
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // A panic inside a caller's closure cannot leave `State` half-built
        // (fields are replaced whole); `modify` resets `seen` on its errors.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        match self.state.write() {
            Ok(g) => g,
            Err(p) => {
                // The panicking closure may have half-applied a change: reload.
                let mut g = p.into_inner();
                g.seen = None;
                self.state.clear_poison();
                g
            }
        }
    }
}

/// Writes `bytes` to a new `<location>.corrupt-<unix seconds>[-n]` file (`0600`).
fn quarantine(location: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let now = crate::cache::unix_now();
    for n in 0..100 {
        let mut name = location.as_os_str().to_owned();
        name.push(format!(".corrupt-{now}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let path = PathBuf::from(name);
        match crate::sys::create_new_private(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io("write", &path, e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("create", &path, e)),
        }
    }
    Err(Error::io("create a quarantine copy beside", location, std::io::ErrorKind::AlreadyExists.into()))
}

impl<P: Persistence> std::fmt::Debug for PersistedTokenCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedTokenCache")
            .field("persistence", &self.persistence)
            .field("on_corrupt", &self.on_corrupt)
            .field("pretty", &self.pretty)
            .field("convention", &self.convention)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<PersistedTokenCache<crate::FilePersistence>>();
        assert::<TokenCache>();
    }
}
