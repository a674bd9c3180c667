//! [`AsyncDistributedTokenCache`]: the async front end (feature
//! `redis-async`), and its background writer task.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::async_redis::AsyncRedis;
use super::backend::Backend;
use super::builder::DistributedCacheBuilder;
use super::engine::{Engine, Step};
use super::events::{CacheMetrics, WriteOutcome};
use super::listing::EntryInfo;
use super::{KeyRing, Partition};
use crate::cache::{AccessToken, AccessTokenQuery, Account, RefreshToken, TokenCache, TokenResponse};
use crate::error::{Error, Result};

/// [`DistributedTokenCache`](super::DistributedTokenCache) for async code on
/// tokio: the same cache, the same guarantees, every method `async`. Built
/// by [`DistributedCacheBuilder::build_async`] inside a tokio runtime (its
/// background writer is a task on it).
pub struct AsyncDistributedTokenCache {
    engine: Arc<Engine<AsyncRedis>>,
    worker: tokio::task::JoinHandle<()>,
}

impl DistributedCacheBuilder {
    /// Builds a cache with an async API. Does not connect.
    ///
    /// # Errors
    /// As [`build`](Self::build), and [`Error::InvalidInput`] when called
    /// outside a tokio runtime.
    pub fn build_async(self) -> Result<AsyncDistributedTokenCache> {
        let ring = self.checked_ring()?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::invalid("distributed cache", "build_async must be called inside a tokio runtime")
        })?;
        let l2 = AsyncRedis::new(&self.servers, self.cfg.timeout)?;
        let engine = Arc::new(Engine::new(l2, self.cfg, ring, self.hook));
        let worker = handle.spawn(background(engine.clone()));
        Ok(AsyncDistributedTokenCache { engine, worker })
    }
}

impl AsyncDistributedTokenCache {
    /// See [`DistributedTokenCache::access_token`](super::DistributedTokenCache::access_token).
    ///
    /// # Errors
    /// As there.
    pub async fn access_token(
        &self,
        partition: &Partition,
        query: &AccessTokenQuery<'_>,
    ) -> Result<Option<Arc<AccessToken>>> {
        self.engine.access_token(partition, query).await
    }

    /// See [`DistributedTokenCache::refresh_token`](super::DistributedTokenCache::refresh_token).
    ///
    /// # Errors
    /// As there.
    pub async fn refresh_token(
        &self,
        partition: &Partition,
        home_account_id: &str,
        client_id: &str,
    ) -> Result<Option<RefreshToken>> {
        self.engine.refresh_token(partition, home_account_id, client_id).await
    }

    /// See [`DistributedTokenCache::accounts`](super::DistributedTokenCache::accounts).
    ///
    /// # Errors
    /// As there.
    pub async fn accounts(&self, partition: &Partition) -> Result<Vec<Account>> {
        self.engine.accounts(partition).await
    }

    /// See [`DistributedTokenCache::add`](super::DistributedTokenCache::add).
    ///
    /// # Errors
    /// As there.
    pub async fn add(&self, partition: &Partition, response: &TokenResponse) -> Result<WriteOutcome> {
        self.engine.add_all(partition, std::slice::from_ref(response)).await
    }

    /// See [`DistributedTokenCache::add_all`](super::DistributedTokenCache::add_all).
    ///
    /// # Errors
    /// As there.
    pub async fn add_all(&self, partition: &Partition, responses: &[TokenResponse]) -> Result<WriteOutcome> {
        self.engine.add_all(partition, responses).await
    }

    /// See [`DistributedTokenCache::import`](super::DistributedTokenCache::import).
    ///
    /// # Errors
    /// As there.
    pub async fn import(&self, partition: &Partition, cache: &TokenCache) -> Result<WriteOutcome> {
        self.engine.import(partition, cache.clone()).await
    }

    /// See [`DistributedTokenCache::remove_partition`](super::DistributedTokenCache::remove_partition).
    ///
    /// # Errors
    /// As there.
    pub async fn remove_partition(&self, partition: &Partition) -> Result<()> {
        self.engine.remove_partition(partition).await
    }

    /// See [`DistributedTokenCache::load_partition`](super::DistributedTokenCache::load_partition).
    ///
    /// # Errors
    /// As there.
    pub async fn load_partition(&self, partition: &Partition) -> Result<TokenCache> {
        self.engine.load_partition(partition).await
    }

    /// See [`DistributedTokenCache::list_partitions`](super::DistributedTokenCache::list_partitions).
    ///
    /// # Errors
    /// As there.
    pub async fn list_partitions(&self) -> Result<Vec<Partition>> {
        self.engine.partitions().await
    }

    /// See [`DistributedTokenCache::partition_entries`](super::DistributedTokenCache::partition_entries).
    ///
    /// # Errors
    /// As there.
    pub async fn partition_entries(&self, partition: &Partition) -> Result<Vec<EntryInfo>> {
        self.engine.partition_entries(partition).await
    }

    /// See [`DistributedTokenCache::set_key_ring`](super::DistributedTokenCache::set_key_ring).
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
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let end = Instant::now() + timeout;
        self.engine.queue.wake();
        while self.engine.queue.len() > 0 {
            if Instant::now() >= end {
                return Err(Error::L2Unavailable {
                    endpoint: self.engine.l2.endpoint().to_owned(),
                    op: "flush queued writes",
                    source: None,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

/// The background writer task (see the blocking one).
async fn background(engine: Arc<Engine<AsyncRedis>>) {
    loop {
        let wait = match engine.background_step().await {
            Step::Progress => continue,
            Step::Idle => Duration::from_secs(1),
            Step::Wait(d) => d,
        };
        let _ = tokio::time::timeout(wait, engine.queue.notify.notified()).await;
    }
}

impl Drop for AsyncDistributedTokenCache {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl fmt::Debug for AsyncDistributedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncDistributedTokenCache")
            .field("l2", &self.engine.l2)
            .field("metrics", &self.engine.metrics())
            .finish_non_exhaustive()
    }
}
