//! [`DistributedCacheBuilder`]: where Redis is, how to encrypt, the bounds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Config, Hook};
use super::events::CacheEvent;
use super::servers::Servers;
use super::{DistributedTokenCache, KeyRing};
use crate::cache::WriteConvention;
use crate::error::{Error, Result};

/// Configures a [`DistributedTokenCache`] (or, with the `redis-async`
/// feature, an `AsyncDistributedTokenCache`).
///
/// Defaults: key prefix `msal`, L1 of 64 MiB whose copies answer without
/// asking Redis for 30 s, a 1 s bound on every call, 32 compare-and-set
/// attempts per write, a 16 MiB queue for writes during an outage, refresh
/// tokens kept 90 days after their last write, Redis probed every 20 ms to
/// 2 s while down, app-only tokens written as MSAL Python writes them
/// ([`write_convention`](Self::write_convention)). Encryption must be
/// chosen explicitly: [`key_ring`](Self::key_ring) or
/// [`unencrypted`](Self::unencrypted).
#[must_use]
pub struct DistributedCacheBuilder {
    pub(crate) servers: Servers,
    pub(crate) cfg: Config,
    pub(crate) ring: Option<KeyRing>,
    pub(crate) unencrypted: bool,
    pub(crate) hook: Option<Hook>,
}

impl DistributedCacheBuilder {
    /// A cache on one Redis server (or Valkey, or any server speaking the
    /// Redis 7 protocol), e.g. `redis://127.0.0.1:6379` or
    /// `rediss://:password@host:6380/0` (TLS needs the `redis` crate's TLS
    /// features enabled by the application).
    pub fn new(url: &str) -> Self {
        Self::with_servers(Servers::Single(url.to_owned()))
    }

    /// A cache on a Redis Cluster, given some of its nodes' URLs.
    pub fn cluster<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self::with_servers(Servers::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    fn with_servers(servers: Servers) -> Self {
        DistributedCacheBuilder {
            servers,
            cfg: Config {
                prefix: "msal".to_owned(),
                l1_capacity: 64 << 20,
                l1_max_age: Duration::from_secs(30),
                timeout: Duration::from_secs(1),
                max_attempts: 32,
                queue_capacity: 16 << 20,
                refresh_token_lifetime: Duration::from_secs(90 * 86400),
                max_probe_interval: Duration::from_secs(2),
                convention: WriteConvention::MsalPython,
            },
            ring: None,
            unencrypted: false,
            hook: None,
        }
    }

    /// Encrypts every stored value with AES-256-GCM under the ring's current
    /// key; reads accept every key in the ring.
    pub fn key_ring(mut self, ring: KeyRing) -> Self {
        self.ring = Some(ring);
        self
    }

    /// Stores the MSAL JSON unencrypted (readable by anyone who can read
    /// Redis). Only for servers that are themselves encrypted at rest and
    /// access-controlled, or for interop with readers that cannot decrypt.
    pub fn unencrypted(mut self) -> Self {
        self.unencrypted = true;
        self
    }

    /// The start of every key (default `msal`); caches with different
    /// prefixes on one server do not see each other.
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.cfg.prefix = prefix.to_owned();
        self
    }

    /// The most memory L1 may hold, in bytes of stored JSON (0 turns L1 off,
    /// and with it lookups during an outage).
    pub fn l1_capacity_bytes(mut self, bytes: usize) -> Self {
        self.cfg.l1_capacity = bytes;
        self
    }

    /// How long an L1 copy answers lookups before Redis is asked whether it
    /// changed (a removal made by another machine is seen after at most
    /// this long). While Redis is down, L1 answers regardless.
    pub fn l1_max_age(mut self, age: Duration) -> Self {
        self.cfg.l1_max_age = age;
        self
    }

    /// The longest any call may block (connecting, waiting for Redis,
    /// retrying conflicts). Past it a lookup is answered from L1 and a write
    /// is queued. Default 1 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.cfg.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many compare-and-set attempts a write makes before
    /// [`Error::ConflictRetriesExhausted`] (default 32, at least 1).
    pub fn max_conflict_attempts(mut self, attempts: u32) -> Self {
        self.cfg.max_attempts = attempts.max(1);
        self
    }

    /// The most bytes of writes kept for Redis while it is unavailable
    /// (default 16 MiB). A write that does not fit is kept in L1 only
    /// ([`WriteOutcome::Dropped`](super::WriteOutcome::Dropped)); 0 drops every write made during an outage.
    pub fn queue_capacity_bytes(mut self, bytes: usize) -> Self {
        self.cfg.queue_capacity = bytes;
        self
    }

    /// How long a refresh token is assumed to live after its last write
    /// (default 90 days, Entra ID's inactivity limit); documents holding one
    /// expire no earlier.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.cfg.refresh_token_lifetime = lifetime;
        self
    }

    /// How app-only (client-credentials) access tokens are written: their
    /// `home_account_id`, which the MSAL libraries read differently (see
    /// [`WriteConvention`]). Default [`WriteConvention::MsalPython`]
    /// (`null`): found by MSAL Python, MSAL .NET, MSAL Go and this crate.
    /// Choose [`WriteConvention::MsalNode`] (`""`) when msal-node reads the
    /// same Redis. No single form serves MSAL Python and msal-node at once;
    /// reads accept every form. [`WriteConvention::Mirror`] writes as
    /// `MsalPython` here: a write is built from its token responses alone,
    /// with no stored token to mirror.
    pub fn write_convention(mut self, convention: WriteConvention) -> Self {
        self.cfg.convention = convention;
        self
    }

    /// Calls `hook` for every [`CacheEvent`]: Redis unavailable or back,
    /// writes queued, dropped or given up. Failures are also counted in
    /// [`CacheMetrics`](super::CacheMetrics) and logged (`log` crate).
    pub fn on_event(mut self, hook: impl Fn(&CacheEvent<'_>) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The key ring, once encryption was chosen one way or the other.
    pub(crate) fn checked_ring(&self) -> Result<Option<KeyRing>> {
        match (&self.ring, self.unencrypted) {
            (Some(_), true) => {
                Err(Error::invalid("distributed cache", "both a key ring and unencrypted were chosen"))
            }
            (None, false) => Err(Error::invalid(
                "distributed cache",
                "choose encryption: .key_ring(KeyRing::new(id, key)?) or, knowingly, .unencrypted()",
            )),
            (ring, _) => Ok(ring.clone()),
        }
    }

    /// Builds a cache with a blocking API. Does not connect: the first call
    /// does, and a Redis that is down at start is handled like an outage.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a URL is not a Redis URL, or encryption
    /// was not chosen.
    pub fn build(self) -> Result<DistributedTokenCache> {
        DistributedTokenCache::from_builder(self)
    }
}

impl fmt::Debug for DistributedCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributedCacheBuilder")
            .field("servers", &self.servers.endpoint())
            .field("config", &self.cfg)
            .field("key_ring", &self.ring)
            .field("unencrypted", &self.unencrypted)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}
