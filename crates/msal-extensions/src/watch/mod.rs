//! Change notification: be told when another program signs in, signs out or
//! clears the shared token cache (cargo feature `watch`).
//!
//! # Which type do I want?
//!
//! | you want to | use |
//! |---|---|
//! | wait for changes on a thread of your own (blocking iterator, or with a timeout) | [`PersistedTokenCache::watch`] → [`Subscription`] |
//! | have a function called on every change | [`PersistedTokenCache::on_change`] → [`CallbackSubscription`] |
//! | also hear about this cache's own writes | [`WatchOptions::own_writes`] with [`watch_with`](PersistedTokenCache::watch_with) |
//! | know what changed | [`CacheEvent`] (accounts as [`AccountSummary`]: no secrets) |
//!
//! Drop a subscription to unsubscribe.
//!
//! # How it works
//! - **The folder is watched, not the file**, with the operating system's
//!   notification (inotify, FSEvents or kqueue, ReadDirectoryChangesW, through
//!   the `notify` crate), so the atomic rename that replaces the cache, and the
//!   signal file that Keychain and Secret Service writers touch on every save,
//!   are both seen. Every backend works: the watched path is
//!   [`Persistence::location`](crate::Persistence::location).
//! - **Debounced.** The first event for a cache opens a short window
//!   ([`DEBOUNCE`]); everything that arrives in it costs one reload.
//! - **Reloaded under the cross-process lock**, and only when the store's
//!   [`ChangeToken`](crate::ChangeToken) differs from the last one seen, so a
//!   watcher never sees half of a peer's write (not even of a peer that writes
//!   in place, like MSAL Python), and a burst of events for one write costs
//!   one `stat` each after the first.
//! - **Only real differences are reported.** Accounts are compared by home
//!   account id *and* environment (so the same user in the public cloud and
//!   in a sovereign cloud are two accounts), then by username and tenants.
//!   A token refresh, or a write that changed nothing, reports nothing;
//!   this cache's own writes report nothing unless asked.
//! - **Nothing costs anything until someone subscribes.** The first
//!   subscription in the process starts one watcher thread (plus the
//!   `notify` backend's own event-loop thread); every later one, for any
//!   cache, shares them; when the last is dropped both end. While nothing
//!   changes neither wakes up.
//! - **It survives the folder being deleted** (reported as
//!   [`CacheEvent::Cleared`]): the watcher falls back to the nearest existing
//!   parent folder and returns to the cache's folder when it is recreated.
//! - **Failures are retried.** A reload that fails (the lock stays held for
//!   more than 2 s, the Secret Service is gone) is logged and tried again
//!   after 1 s, doubling up to 30 s, so no change is lost, only late; the
//!   short lock wait keeps one busy cache from holding up the events of the
//!   others (reloads run one at a time on the one watcher thread).
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use msal_extensions::{CacheEvent, FilePersistence, PersistedTokenCache, TokenResponse};
//! # let dir = std::env::temp_dir().join(format!("msalx-doc-watch-{}", std::process::id()));
//! let path = dir.join("msal_token_cache.json");
//! let ours = Arc::new(PersistedTokenCache::new(FilePersistence::new(&path)?));
//! let events = ours.watch()?;
//!
//! // Another program (here another handle on the same file) signs a user in.
//! # let b64 = |v: &str| { use base64::Engine as _; base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v) };
//! # let id_token = format!("{}.{}.sig", b64(r#"{"alg":"none"}"#),
//! #     b64(r#"{"iss":"https://login.microsoftonline.com/t1/v2.0","oid":"o1","preferred_username":"ada@contoso.com"}"#));
//! # let client_info = b64(r#"{"uid":"u1","utid":"t1"}"#);
//! let body = format!(r#"{{"access_token": "at", "expires_in": 3600, "refresh_token": "rt",
//!                         "id_token": "{id_token}", "client_info": "{client_info}"}}"#);
//! let peer = PersistedTokenCache::new(FilePersistence::new(&path)?);
//! peer.add(&TokenResponse::new("my-client-id", ["User.Read"],
//!     "https://login.microsoftonline.com/common", &body)?)?;
//!
//! match events.recv_timeout(Duration::from_secs(10)) {
//!     Some(CacheEvent::AccountAdded(a)) => {
//!         assert_eq!(a.username.as_deref(), Some("ada@contoso.com"));
//!         assert_eq!((a.home_account_id.as_str(), a.environment.as_str()), ("u1.t1", "login.microsoftonline.com"));
//!     }
//!     other => panic!("expected a sign-in, got {other:?}"),
//! }
//! drop(events); // unsubscribes; with no other subscription the watcher threads end
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), msal_extensions::Error>(())
//! ```

mod accounts;
mod hub;
mod subscription;

use std::time::Duration;

pub(crate) use accounts::Snapshot;
pub use accounts::{AccountSummary, CacheEvent};
pub(crate) use hub::{Registration, Target};
pub use subscription::{CallbackSubscription, Subscription};
pub(crate) use subscription::{Sink, new_callback, new_channel};

#[cfg(doc)]
use crate::PersistedTokenCache;

/// How long the watcher collects a burst of file-system events for one cache
/// before reloading it: long enough to fold the events of one save (rename,
/// attribute change, lockfile) into one reload, short enough to stay well
/// inside a person's notion of "at once".
pub const DEBOUNCE: Duration = Duration::from_millis(5);

/// The longest the watcher waits for a cache's cross-process lock before it
/// moves on to other caches and tries again later (1 s, doubling to 30 s).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Options of a subscription.
///
/// # Examples
/// ```
/// use msal_extensions::WatchOptions;
/// let all = WatchOptions::new().own_writes(true);
/// # let _ = all;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub(crate) own_writes: bool,
}

impl WatchOptions {
    /// The defaults: only changes made by others (other processes, or other
    /// [`PersistedTokenCache`] values on the same store).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also report changes made through this same [`PersistedTokenCache`]
    /// (`add`, `modify`, `remove_account`...). Default: `false`.
    pub fn own_writes(mut self, yes: bool) -> Self {
        self.own_writes = yes;
        self
    }
}
