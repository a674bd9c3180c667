//! [`DistributedTokenCache`]: the blocking front end, and its background
//! writer thread.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::backend::block_on;
use super::builder::DistributedCacheBuilder;
use super::engine::{Engine, Step};
use super::events::{CacheMetrics, WriteOutcome};
use super::listing::EntryInfo;
use super::sync_redis::SyncRedis;
use super::{KeyRing, Partition};
use crate::cache::{AccessToken, AccessTokenQuery, Account, RefreshToken, TokenCache, TokenResponse};
use crate::error::{Error, Result};

/// A token cache shared by every process of a fleet through Redis, with an
/// in-process L1 in front; blocking API (for threads; see
/// `AsyncDistributedTokenCache`, feature `redis-async`, for async code).
///
/// Cheap to share: wrap it in an `Arc` and use it from many threads; each
/// call takes a pooled connection. Built by [`DistributedCacheBuilder`].
/// Every call returns within the builder's [`timeout`](DistributedCacheBuilder::timeout).
///
/// Dropping it stops its background writer; writes still queued then are
/// lost, so call [`flush`](Self::flush) before a planned shutdown.
pub struct DistributedTokenCache {
    engine: Arc<Engine<SyncRedis>>,
    worker: Option<JoinHandle<()>>,
}

impl DistributedTokenCache {
    pub(crate) fn from_builder(b: DistributedCacheBuilder) -> Result<Self> {
        let ring = b.checked_ring()?;
        let l2 = SyncRedis::new(&b.servers, b.cfg.timeout)?;
        let engine = Arc::new(Engine::new(l2, b.cfg, ring, b.hook));
        let bg = engine.clone();
        let worker = std::thread::Builder::new()
            .name("msal-distributed-cache".into())
            .spawn(move || background(&bg))
            .map_err(|e| Error::io("start the background writer thread for", "distributed cache", e))?;
        Ok(DistributedTokenCache { engine, worker: Some(worker) })
    }

    /// The valid access token for `query` in `partition` that expires last.
    /// Reads L1, then (when L1 has no answer or its copy is older than the
    /// L1 age) Redis. While Redis is unavailable, answers from L1 only: a
    /// token L1 does not hold is then `None` (a cache miss: acquire a new
    /// one), and the outage is reported through the hook and metrics.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] or [`Error::Decryption`] when the stored value
    /// does not open with the key ring; [`Error::Corrupt`] when it is not an
    /// MSAL cache.
    pub fn access_token(
        &self,
        partition: &Partition,
        query: &AccessTokenQuery<'_>,
    ) -> Result<Option<Arc<AccessToken>>> {
        block_on(self.engine.access_token(partition, query))
    }

    /// The refresh token of `client_id` for the account, from the
    /// partition's base document.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub fn refresh_token(
        &self,
        partition: &Partition,
        home_account_id: &str,
        client_id: &str,
    ) -> Result<Option<RefreshToken>> {
        block_on(self.engine.refresh_token(partition, home_account_id, client_id))
    }

    /// The accounts of the partition.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub fn accounts(&self, partition: &Partition) -> Result<Vec<Account>> {
        block_on(self.engine.accounts(partition))
    }

    /// Stores one token response in `partition`, as MSAL Python writes it
    /// (see [`TokenCache::add`]). Expired access tokens of the documents it
    /// touches are dropped in the same write.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad response;
    /// [`Error::ConflictRetriesExhausted`] when other writers kept winning;
    /// [`Error::UnknownKey`], [`Error::Decryption`], [`Error::Corrupt`] when
    /// the stored document cannot be read (it is then left as it is).
    /// An unavailable Redis is not an error: see [`WriteOutcome`].
    pub fn add(&self, partition: &Partition, response: &TokenResponse) -> Result<WriteOutcome> {
        self.add_all(partition, std::slice::from_ref(response))
    }

    /// Stores many token responses in `partition`, one write per document
    /// they touch (the fast way to import a cache).
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn add_all(&self, partition: &Partition, responses: &[TokenResponse]) -> Result<WriteOutcome> {
        block_on(self.engine.add_all(partition, responses))
    }

    /// Stores every entry of an MSAL cache in `partition` (e.g. to move a
    /// file cache of one application into Redis), one write per document.
    /// Entries replace those with the same identity; expired access tokens
    /// are not stored.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn import(&self, partition: &Partition, cache: &TokenCache) -> Result<WriteOutcome> {
        block_on(self.engine.import(partition, cache.clone()))
    }

    /// Deletes the partition (sign-out), from Redis, L1 and the write queue.
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis cannot be reached (nothing was
    /// removed from Redis then; call again).
    pub fn remove_partition(&self, partition: &Partition) -> Result<()> {
        block_on(self.engine.remove_partition(partition))
    }

    /// The whole partition as one MSAL cache (every document merged), read
    /// from Redis, e.g. to export it to a file any MSAL can load.
    ///
    /// # Errors
    /// [`Error::L2Unavailable`], and as [`access_token`](Self::access_token).
    pub fn load_partition(&self, partition: &Partition) -> Result<TokenCache> {
        block_on(self.engine.load_partition(partition))
    }

    /// Every partition stored under the key prefix (a `SCAN` of every
    /// master: for tools, not for request paths).
    ///
    /// # Errors
    /// [`Error::L2Unavailable`].
    pub fn list_partitions(&self) -> Result<Vec<Partition>> {
        block_on(self.engine.partitions())
    }

    /// The entries of a partition: kinds, owners, scopes, expiry and secret
    /// fingerprints, never secrets. Read from Redis.
    ///
    /// # Errors
    /// As [`load_partition`](Self::load_partition).
    pub fn partition_entries(&self, partition: &Partition) -> Result<Vec<EntryInfo>> {
        block_on(self.engine.partition_entries(partition))
    }

    /// Replaces the key ring (rotation without a restart): new writes use
    /// its current key at once.
    pub fn set_key_ring(&self, ring: KeyRing) {
        self.engine.set_ring(ring);
    }

    /// Counters and the current state.
    pub fn metrics(&self) -> CacheMetrics {
        self.engine.metrics()
    }

    /// Waits until every queued write reached Redis, at most `timeout`.
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when writes are still queued at the end.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.engine.queue.wake();
        match self.engine.queue.wait_empty(Instant::now() + timeout) {
            0 => Ok(()),
            _ => Err(Error::L2Unavailable {
                endpoint: super::backend::Backend::endpoint(&self.engine.l2).to_owned(),
                op: "flush queued writes",
                source: None,
            }),
        }
    }
}

/// The background writer: probes Redis while it is down and replays queued
/// writes, until the cache is dropped.
fn background(engine: &Engine<SyncRedis>) {
    while !engine.queue.stopped() {
        match block_on(engine.background_step()) {
            Step::Progress => {}
            Step::Idle => engine.queue.wait(Duration::from_secs(1)),
            Step::Wait(d) => engine.queue.wait(d),
        }
    }
}

impl Drop for DistributedTokenCache {
    fn drop(&mut self) {
        self.engine.queue.stop();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl fmt::Debug for DistributedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributedTokenCache")
            .field("l2", &self.engine.l2)
            .field("metrics", &self.engine.metrics())
            .finish_non_exhaustive()
    }
}
