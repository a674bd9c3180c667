//! [`PersistedTokenCache`]: a [`TokenCache`] kept in a [`Persistence`] and
//! shared by threads and processes; the one read-modify-write path.
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
//! - **No write without a change.** Every [`TokenCache`] method that changes
//!   an entry moves the cache's revision; `modify` saves only when it moved
//!   (or the closure replaced the cache), so a no-op leaves the store, its
//!   modification time and every peer's cached copy alone.
//! - **The layout is kept.** A cache written indented (MSAL Python) is saved
//!   indented, a compact one (MSAL .NET) compact, unless a [`Layout`] is set.
//! - **Reads take no lock.** Saves replace the file atomically, so a reader
//!   sees a whole old or new cache. Peers that write in place (MSAL Python's
//!   `FilePersistence` truncates then writes) can expose a partial file for a
//!   moment: a read that finds corrupt content retries once, then re-reads
//!   under the lock before concluding the content is really corrupt (so
//!   such a read can wait for the lock; an intact cache never does).
//! - **Corrupt content is never silently dropped.** With
//!   [`OnCorrupt::Quarantine`] (the default) a recoverable copy is kept by the
//!   store itself ([`Persistence::keep_copy`]: the encrypted blob for DPAPI,
//!   a second item for a secret store, never decrypted plaintext), once per
//!   distinct content, a warning is logged, and the cache goes on empty; a
//!   complete cache followed by junk (msal-node can leave one) is recovered
//!   instead: its leading document is kept. With [`OnCorrupt::Fail`] the
//!   [`Error::Corrupt`] is returned and nothing is written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::cache::{
    AccessToken, AccessTokenQuery, Account, RefreshToken, TokenCache, TokenResponse, WriteConvention,
};
use crate::error::{Error, Result};
use crate::lock::{CrossPlatLock, LockOptions};
use crate::persistence::{ChangeToken, Persistence};
use crate::recovery::{CopyReason, KeptCopy};

// Change notification: subscribers and their hook (a no-op without the `watch` feature).
mod watch;

/// What to do when the stored cache stays unreadable (not JSON, wrong
/// structure) even when re-read under the lock.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCorrupt {
    /// Keep a recoverable copy of the bad content
    /// ([`Persistence::keep_copy`], once per distinct content), log a
    /// warning, and continue with an empty cache (or, for a complete cache
    /// followed by junk, with that cache); the next change replaces the bad
    /// content. Sign-ins are repeated; no program stays stuck.
    #[default]
    Quarantine,
    /// Return [`Error::Corrupt`] from every operation until someone repairs
    /// or deletes the content; never write (for read-only tools).
    /// [`replace`](PersistedTokenCache::replace) still repairs.
    Fail,
}

/// How a save lays the JSON out.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// As the stored content is: indented if it was indented (MSAL Python
    /// writes indent 4), else compact; compact for a new store. The default.
    #[default]
    Keep,
    /// Compact, like MSAL .NET: smaller and faster.
    Compact,
    /// Indented by four spaces, like MSAL Python.
    Indented,
}

/// What a change did to the store.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaveReport {
    /// Whether the store was written (`false`: nothing changed, nothing written).
    pub written: bool,
    /// The recoverable copy of the content that was replaced, when one was
    /// kept ([`PersistedTokenCache::keep_replaced`], or corrupt content
    /// replaced by [`replace`](PersistedTokenCache::replace)).
    pub copy: Option<KeptCopy>,
}

/// How long a reader waits before re-reading content that looked corrupt:
/// long enough for a peer's in-place write of a large cache to finish.
const CORRUPT_RETRY_DELAY: Duration = Duration::from_millis(20);

/// Stamps set on the cache before a closure runs, to tell whether it changed
/// anything; never 0, the revision of a fresh [`TokenCache`].
static STAMPS: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct State {
    cache: TokenCache,
    /// The token of the content `cache` was loaded from (or saved as); `None`
    /// forces a reload.
    seen: Option<ChangeToken>,
    /// Whether the stored content is indented (`None`: nothing stored).
    indented: Option<bool>,
    /// The stored content was corrupt and `cache` is what was made of it:
    /// the next change writes even if its closure changes nothing.
    repaired: bool,
}

/// A cache loaded from the store.
struct Loaded {
    cache: TokenCache,
    indented: Option<bool>,
    repaired: bool,
}

impl Loaded {
    fn empty() -> Self {
        Loaded { cache: TokenCache::new(), indented: None, repaired: false }
    }

    /// The state of a cache that writes by `convention`: the one place a
    /// loaded cache gets it, so every reader sees the configured convention.
    fn into_state(self, st: &mut State, token: ChangeToken, convention: WriteConvention) {
        let mut cache = self.cache;
        cache.set_write_convention(convention);
        *st = State { cache, seen: Some(token), indented: self.indented, repaired: self.repaired };
    }
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
    layout: Layout,
    keep_replaced: bool,
    convention: WriteConvention,
    state: RwLock<State>,
    /// The version of the store last copied aside and where, so that threads
    /// meeting the same corrupt content one after another read it once.
    quarantined: Mutex<Option<(ChangeToken, Option<KeptCopy>)>>,
    /// Subscribers of [`watch`](Self::watch) (feature `watch`).
    observers: watch::Observers,
}

impl<P: Persistence> PersistedTokenCache<P> {
    /// A cache stored in `persistence`, with the default lock options,
    /// [`OnCorrupt::Quarantine`] and [`Layout::Keep`]. Nothing is read until
    /// the first use.
    pub fn new(persistence: P) -> Self {
        PersistedTokenCache {
            persistence,
            lock_options: LockOptions::default(),
            on_corrupt: OnCorrupt::default(),
            layout: Layout::default(),
            keep_replaced: false,
            convention: WriteConvention::default(),
            state: RwLock::new(State::default()),
            quarantined: Mutex::new(None),
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

    /// How saves lay the JSON out. Default: [`Layout::Keep`]. Every SDK reads both layouts.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// `true`: [`Layout::Indented`], like MSAL Python; `false`: [`Layout::Compact`].
    pub fn pretty(self, pretty: bool) -> Self {
        self.layout(if pretty { Layout::Indented } else { Layout::Compact })
    }

    /// Before every write over existing content, keep a recoverable copy of
    /// that content ([`Persistence::keep_copy`] with [`CopyReason::Replaced`])
    /// and report where ([`SaveReport::copy`]). For tools that change a cache
    /// on a user's request (import, migrate, clear). Default: `false`.
    pub fn keep_replaced(mut self, keep: bool) -> Self {
        self.keep_replaced = keep;
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
        *st = State::default();
        if let Some(loaded) = self.load_unlocked(token)? {
            loaded.into_state(&mut st, token, self.convention);
            return Ok(f(&st.cache));
        }
        // Unreadable twice: re-read under the cross-process lock, which is
        // always taken before the state lock (as in `modify`), never after.
        drop(st);
        let lock = self.acquire()?;
        let mut st = self.write_state();
        let token = self.persistence.change_token()?;
        self.load_locked(token)?.into_state(&mut st, token, self.convention);
        lock.release()?;
        Ok(f(&st.cache))
    }

    /// Applies `f` as one atomic change: lock, reload if changed, apply,
    /// save if `f` changed anything, unlock. If `f` returns an error nothing
    /// is saved.
    ///
    /// # Errors
    /// [`Error::LockTimeout`] when the lock stays held; the error of `f`;
    /// the persistence's save errors; [`Error::Corrupt`] under [`OnCorrupt::Fail`].
    pub fn modify<R>(&self, f: impl FnOnce(&mut TokenCache) -> Result<R>) -> Result<R> {
        self.modify_reporting(f).map(|(r, _)| r)
    }

    /// [`modify`](Self::modify), also saying whether it wrote and where the
    /// replaced content was kept ([`keep_replaced`](Self::keep_replaced)).
    ///
    /// # Errors
    /// As [`modify`](Self::modify).
    pub fn modify_reporting<R>(
        &self,
        f: impl FnOnce(&mut TokenCache) -> Result<R>,
    ) -> Result<(R, SaveReport)> {
        self.locked(|held| held.modify(f))
    }

    /// Replaces the whole cache with `cache` in one lock round, unless it
    /// holds exactly what is stored (then nothing is written). Works on a
    /// corrupt store too, whatever [`OnCorrupt`] says: the corrupt content is
    /// kept as a recoverable copy first ([`CopyReason::Corrupt`]), so this
    /// is how a tool repairs a cache (`replace(TokenCache::new())` clears it).
    ///
    /// # Errors
    /// As [`modify`](Self::modify), without [`Error::Corrupt`].
    pub fn replace(&self, cache: TokenCache) -> Result<SaveReport> {
        self.locked(|held| held.replace(cache))
    }

    /// Deletes the stored cache ([`Persistence::delete`]) in one lock round,
    /// after keeping a copy when [`keep_replaced`](Self::keep_replaced) is set.
    ///
    /// # Errors
    /// As [`modify`](Self::modify), without [`Error::Corrupt`].
    pub fn remove(&self) -> Result<SaveReport> {
        self.locked(|held| held.remove())
    }

    /// A copy of the cache as stored now, read under the lock (a torn read
    /// of a peer's in-place write is impossible).
    ///
    /// # Errors
    /// As [`read`](Self::read), and [`Error::LockTimeout`].
    pub fn snapshot(&self) -> Result<TokenCache> {
        self.locked(|held| held.snapshot())
    }

    /// Operations on this cache under a lock the caller already holds, for
    /// several steps in one lock round, or for two caches that share a
    /// lockfile (a file and a secret item whose signal file is at the same
    /// path, as in a migration between them).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `lock` is not this cache's lockfile.
    pub fn holding<'a>(&'a self, lock: &'a CrossPlatLock) -> Result<Held<'a, P>> {
        let ours = crate::lock::absolute(&self.persistence.lock_path());
        if lock.path() != ours {
            return Err(Error::invalid(
                "lock",
                format!("{} is not the lockfile of this cache ({})", lock.path().display(), ours.display()),
            ));
        }
        Ok(Held { cache: self, _lock: lock })
    }

    /// Takes this cache's cross-process lock with its lock options.
    ///
    /// # Errors
    /// As [`LockOptions::acquire`].
    pub fn lock(&self) -> Result<CrossPlatLock> {
        self.acquire()
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
    /// many entries were removed (nothing is written when none was).
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

    fn acquire(&self) -> Result<CrossPlatLock> {
        self.lock_options.acquire(self.persistence.lock_path())
    }

    /// Runs `f` holding the cross-process lock.
    fn locked<R>(&self, f: impl FnOnce(&Held<'_, P>) -> Result<R>) -> Result<R> {
        let lock = self.acquire()?;
        let r = f(&Held { cache: self, _lock: &lock })?;
        lock.release()?;
        Ok(r)
    }

    /// Loads without the lock, retrying once; `None` when the content was
    /// unreadable both times (perhaps a peer writing in place: the caller
    /// re-reads under the lock).
    fn load_unlocked(&self, token: ChangeToken) -> Result<Option<Loaded>> {
        if token.is_absent() {
            return Ok(Some(Loaded::empty()));
        }
        for attempt in 0..2 {
            if attempt > 0 {
                std::thread::sleep(CORRUPT_RETRY_DELAY);
            }
            match self.try_load() {
                Ok(loaded) => return Ok(Some(loaded)),
                Err(Error::Corrupt { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        log::debug!("{}: unreadable twice (token {token:?}); re-reading under the lock", self.where_());
        Ok(None)
    }

    fn try_load(&self) -> Result<Loaded> {
        let Some(bytes) = self.load_bytes()? else { return Ok(Loaded::empty()) };
        let indented = looks_indented(&bytes);
        let cache = TokenCache::parse_owned(bytes)?;
        Ok(Loaded { cache, indented, repaired: false })
    }

    /// Loads while holding the lock: corrupt content now is really corrupt.
    fn load_locked(&self, token: ChangeToken) -> Result<Loaded> {
        if token.is_absent() {
            return Ok(Loaded::empty());
        }
        let Some(bytes) = self.load_bytes()? else { return Ok(Loaded::empty()) };
        let indented = looks_indented(&bytes);
        match TokenCache::parse_owned_or_back(bytes) {
            Ok(cache) => Ok(Loaded { cache, indented, repaired: false }),
            Err((reason, bytes)) => self.corrupt(&bytes, reason, token),
        }
    }

    /// The stored bytes; `None` when nothing is stored.
    fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        match self.persistence.load_bytes() {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Content that stays corrupt under the lock: recover a leading cache,
    /// or quarantine, or fail, as configured.
    fn corrupt(&self, bytes: &[u8], reason: String, token: ChangeToken) -> Result<Loaded> {
        if self.on_corrupt == OnCorrupt::Fail {
            return Err(Error::Corrupt { location: self.where_(), reason });
        }
        let copy = self.quarantine(token)?;
        let kept = match &copy {
            Some(c) => format!("kept a recoverable copy at {c}"),
            None => "kept no copy (this store offers no place for one that is as protected as itself)".into(),
        };
        if let Some((cache, end)) = crate::cache::leading_document(bytes) {
            log::warn!(
                "{}: a complete token cache followed by {} bytes of other data; {kept}, and continuing with \
                 the leading cache (the next change writes it back without the rest)",
                self.where_(),
                bytes.len() - end
            );
            return Ok(Loaded { cache, indented: looks_indented(bytes), repaired: true });
        }
        log::warn!("{}: {reason}; {kept}, and continuing with an empty cache", self.where_());
        Ok(Loaded { cache: TokenCache::new(), indented: looks_indented(bytes), repaired: true })
    }

    /// Keeps a copy of the corrupt content of version `token`, once per version
    /// in this process (and once per content in the store: copies are named
    /// by hash).
    fn quarantine(&self, token: ChangeToken) -> Result<Option<KeptCopy>> {
        let mut last = self.quarantined.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, copy)) = last.as_ref()
            && *seen == token
        {
            return Ok(copy.clone());
        }
        let copy = self.persistence.keep_copy(CopyReason::Corrupt)?;
        *last = Some((token, copy.clone()));
        Ok(copy)
    }

    fn where_(&self) -> String {
        self.persistence.describe()
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

    /// The state, reloaded under the lock if the store changed since it was read.
    fn current(&self) -> Result<(RwLockWriteGuard<'_, State>, ChangeToken)> {
        let mut st = self.write_state();
        let token = self.persistence.change_token()?;
        if st.seen != Some(token) {
            *st = State::default();
            self.load_locked(token)?.into_state(&mut st, token, self.convention);
        }
        // Watch hook: what others wrote is reported as theirs (one atomic load without subscribers).
        self.observers.observe(&st.cache, token, watch::Origin::Peer);
        Ok((st, token))
    }

    /// Saves `st.cache` over the content of version `before`, keeping a copy
    /// of that content first when asked.
    fn write(&self, st: &mut State, before: ChangeToken, copy: Option<KeptCopy>) -> Result<SaveReport> {
        st.seen = None; // until saved: on any failure below, memory is ahead of the store
        let copy = match copy {
            Some(c) => Some(c),
            None if self.keep_replaced && !before.is_absent() => {
                self.persistence.keep_copy(CopyReason::Replaced)?
            }
            None => None,
        };
        let indented = match self.layout {
            Layout::Keep => st.indented.unwrap_or(false),
            Layout::Compact => false,
            Layout::Indented => true,
        };
        let text = serialize(&st.cache, indented);
        self.persistence.save(&text)?;
        let saved = self.persistence.change_token()?;
        st.seen = Some(saved);
        st.indented = Some(indented);
        st.repaired = false;
        self.observers.observe(&st.cache, saved, watch::Origin::Own);
        Ok(SaveReport { written: true, copy })
    }
}

/// Operations under a cross-process lock already held; see
/// [`PersistedTokenCache::holding`].
pub struct Held<'a, P: Persistence> {
    cache: &'a PersistedTokenCache<P>,
    _lock: &'a CrossPlatLock,
}

impl<P: Persistence> Held<'_, P> {
    /// As [`PersistedTokenCache::modify_reporting`], without taking the lock.
    ///
    /// # Errors
    /// As [`PersistedTokenCache::modify`], without [`Error::LockTimeout`].
    pub fn modify<R>(&self, f: impl FnOnce(&mut TokenCache) -> Result<R>) -> Result<(R, SaveReport)> {
        let (mut st, before) = self.cache.current()?;
        let stamp = STAMPS.fetch_add(1, Ordering::Relaxed);
        st.cache.set_revision(stamp);
        let r = match f(&mut st.cache) {
            Ok(r) => r,
            Err(e) => {
                st.seen = None; // memory may hold an unsaved change: reload next time
                return Err(e);
            }
        };
        if st.cache.revision() == stamp && !st.repaired {
            return Ok((r, SaveReport::default()));
        }
        let report = self.cache.write(&mut st, before, None)?;
        Ok((r, report))
    }

    /// As [`PersistedTokenCache::replace`], without taking the lock.
    ///
    /// # Errors
    /// As [`PersistedTokenCache::replace`], without [`Error::LockTimeout`].
    pub fn replace(&self, cache: TokenCache) -> Result<SaveReport> {
        let mut st = self.cache.write_state();
        let before = self.cache.persistence.change_token()?;
        let (current, copy) = match self.load_for_replace(before)? {
            Ok(loaded) => (Some(loaded), None),
            Err(corrupt_copy) => (None, corrupt_copy),
        };
        if let Some(loaded) = current {
            let same = serialize(&loaded.cache, false) == serialize(&cache, false);
            loaded.into_state(&mut st, before, self.cache.convention);
            self.cache.observers.observe(&st.cache, before, watch::Origin::Peer);
            if same {
                return Ok(SaveReport::default());
            }
        }
        st.cache = cache;
        // The caller's cache becomes the state: it writes by this cache's convention too.
        st.cache.set_write_convention(self.cache.convention);
        self.cache.write(&mut st, before, copy)
    }

    /// The current content, or (`Err`) the copy kept of corrupt content.
    fn load_for_replace(&self, token: ChangeToken) -> Result<std::result::Result<Loaded, Option<KeptCopy>>> {
        if token.is_absent() {
            return Ok(Ok(Loaded::empty()));
        }
        let Some(bytes) = self.cache.load_bytes()? else { return Ok(Ok(Loaded::empty())) };
        let indented = looks_indented(&bytes);
        match TokenCache::parse_owned(bytes) {
            Ok(cache) => Ok(Ok(Loaded { cache, indented, repaired: false })),
            Err(Error::Corrupt { .. }) => Ok(Err(self.cache.quarantine(token)?)),
            Err(e) => Err(e),
        }
    }

    /// As [`PersistedTokenCache::remove`], without taking the lock.
    ///
    /// # Errors
    /// As [`PersistedTokenCache::remove`], without [`Error::LockTimeout`].
    pub fn remove(&self) -> Result<SaveReport> {
        let mut st = self.cache.write_state();
        let p = &self.cache.persistence;
        let before = p.change_token()?;
        if before.is_absent() {
            return Ok(SaveReport::default());
        }
        let copy = if self.cache.keep_replaced { p.keep_copy(CopyReason::Replaced)? } else { None };
        *st = State::default();
        p.delete()?;
        let after = p.change_token()?;
        Loaded::empty().into_state(&mut st, after, self.cache.convention);
        self.cache.observers.observe(&st.cache, after, watch::Origin::Own);
        Ok(SaveReport { written: after != before, copy })
    }

    /// As [`PersistedTokenCache::snapshot`], without taking the lock.
    ///
    /// # Errors
    /// As [`PersistedTokenCache::read`].
    pub fn snapshot(&self) -> Result<TokenCache> {
        Ok(self.cache.current()?.0.cache.clone())
    }
}

impl<P: Persistence> std::fmt::Debug for Held<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("persistence", &self.cache.persistence).finish_non_exhaustive()
    }
}

fn serialize(cache: &TokenCache, indented: bool) -> String {
    if indented { cache.serialize_pretty() } else { cache.serialize() }
}

/// Whether stored content is laid out indented: the top-level object's first
/// member starts on a new line (`json.dumps(indent=4)` in MSAL Python),
/// rather than right after `{` (MSAL .NET and Node). Only the top level
/// counts: entries kept verbatim from an indented file stay indented inside
/// a compact one. `None` when blank.
fn looks_indented(bytes: &[u8]) -> Option<bool> {
    let mut rest = bytes.iter().skip_while(|b| b.is_ascii_whitespace());
    match rest.next() {
        None => None,
        Some(b'{') => Some(matches!(rest.find(|b| !matches!(b, b' ' | b'\t')), Some(b'\n' | b'\r'))),
        Some(_) => Some(false),
    }
}

impl<P: Persistence> std::fmt::Debug for PersistedTokenCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedTokenCache")
            .field("persistence", &self.persistence)
            .field("on_corrupt", &self.on_corrupt)
            .field("layout", &self.layout)
            .field("keep_replaced", &self.keep_replaced)
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
        assert::<PersistedTokenCache<Box<dyn Persistence>>>();
        assert::<TokenCache>();
    }

    /// The configured convention is the state's from the moment it is
    /// loaded: a snapshot or read right after a reload (no `modify` since)
    /// reports it, not the [`WriteConvention::Mirror`] of a parsed cache.
    #[test]
    fn a_reload_carries_the_configured_convention() {
        let dir = std::env::temp_dir().join(format!("msalx-unit-convention-{}", std::process::id()));
        let store = crate::MemoryPersistence::at(dir.join("c.json"));
        let peer = PersistedTokenCache::new(store.clone());
        let ours = PersistedTokenCache::new(store).write_convention(WriteConvention::MsalNode);
        let response = |scope: &str| {
            TokenResponse::new(
                "client",
                [scope],
                "https://login.microsoftonline.com/t",
                r#"{"access_token": "at"}"#,
            )
            .unwrap()
        };
        peer.add(&response("a")).unwrap();
        assert_eq!(
            ours.snapshot().unwrap().write_convention(),
            WriteConvention::MsalNode,
            "snapshot reloads"
        );
        peer.add(&response("b")).unwrap();
        assert_eq!(ours.read(|c| c.write_convention()).unwrap(), WriteConvention::MsalNode, "read reloads");
        let held = ours.lock().unwrap();
        peer.persistence().save("{}").unwrap();
        assert_eq!(
            ours.holding(&held).unwrap().snapshot().unwrap().write_convention(),
            WriteConvention::MsalNode
        );
        held.release().unwrap();
        ours.replace(TokenCache::new()).unwrap();
        assert_eq!(ours.snapshot().unwrap().write_convention(), WriteConvention::MsalNode, "after replace");
        assert_eq!(peer.snapshot().unwrap().write_convention(), WriteConvention::Mirror, "the peer's own");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn layout_is_read_from_the_content() {
        assert_eq!(looks_indented(b"{\n    \"AccessToken\": {}}"), Some(true));
        assert_eq!(looks_indented(b" {\r\n\t\"AccessToken\": {}}"), Some(true));
        assert_eq!(looks_indented(br#"{"AccessToken":{}}"#), Some(false));
        assert_eq!(looks_indented(b"{\"AccessToken\":{\"k\": {\n    \"a\": 1}}}"), Some(false));
        assert_eq!(looks_indented(b"  \n"), None);
    }
}
