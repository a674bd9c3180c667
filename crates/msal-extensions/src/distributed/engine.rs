//! The cache logic, written once over [`Backend`]: lookups through L1 then
//! L2, compare-and-set writes with bounded retries, the outage state and the
//! queue of writes waiting for Redis.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::backend::{Backend, Cas, CasArgs, L2Error, Read, remaining};
use super::combine::{self, Combiner, Ticketed, Turn};
use super::crypto::{self, KeyRing};
use super::events::{CacheEvent, CacheMetrics, Counters, WriteOutcome};
use super::l1::{self, Doc, L1};
use super::partition::{Keys, Sub};
use super::queue::{Queue, Queued};
use super::{Partition, delta};
use crate::cache::{TokenCache, WriteConvention, unix_now};
use crate::error::{Error, Result};

/// The hook given to the builder.
pub(crate) type Hook = Arc<dyn Fn(&CacheEvent<'_>) + Send + Sync>;

/// Settings fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) prefix: String,
    pub(crate) l1_capacity: usize,
    pub(crate) l1_max_age: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) queue_capacity: usize,
    pub(crate) refresh_token_lifetime: Duration,
    pub(crate) max_probe_interval: Duration,
    /// How app-only tokens' `home_account_id` is written.
    pub(crate) convention: WriteConvention,
}

/// Whether Redis is considered reachable, and when to probe it next.
#[derive(Debug)]
struct Health {
    down_since: Option<Instant>,
    next_probe: Instant,
    backoff: Duration,
}

const MIN_PROBE: Duration = Duration::from_millis(20);

/// Why a write did not reach Redis.
pub(crate) enum WriteErr {
    /// Redis failed: the write goes to the queue.
    L2(L2Error),
    /// The call's bound passed (a slow server, or a long conflict streak):
    /// the write goes to the queue.
    Deadline,
    /// Not an outage: conflicts exhausted, a value that does not open or parse.
    Other(Error),
}

impl From<Error> for WriteErr {
    fn from(e: Error) -> Self {
        WriteErr::Other(e)
    }
}

/// What one step of the background writer did.
pub(crate) enum Step {
    /// Nothing to do.
    Idle,
    /// Did something; go on.
    Progress,
    /// Come back after this long (Redis down, or a busy partition).
    Wait(Duration),
}

/// The shared state of one cache.
pub(crate) struct Engine<B> {
    pub(crate) l2: B,
    pub(crate) cfg: Config,
    pub(crate) l1: L1,
    ring: RwLock<Option<Arc<KeyRing>>>,
    down: AtomicBool,
    health: Mutex<Health>,
    pub(crate) queue: Queue,
    combiner: Combiner,
    pub(crate) counters: Counters,
    hook: Option<Hook>,
}

impl<B: Backend> Engine<B> {
    pub(crate) fn new(l2: B, cfg: Config, ring: Option<KeyRing>, hook: Option<Hook>) -> Self {
        Engine {
            l2,
            l1: L1::new(cfg.l1_capacity),
            queue: Queue::new(cfg.queue_capacity),
            combiner: Combiner::default(),
            cfg,
            ring: RwLock::new(ring.map(Arc::new)),
            down: AtomicBool::new(false),
            health: Mutex::new(Health { down_since: None, next_probe: Instant::now(), backoff: MIN_PROBE }),
            counters: Counters::default(),
            hook,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.cfg.timeout
    }

    /// The least time worth starting a Redis round trip with.
    fn min_round_trip(&self) -> Duration {
        (self.cfg.timeout / 10).max(Duration::from_millis(2))
    }

    /// The bound of a background replay: nobody waits on it, and a large
    /// batch of queued writes takes longer than a caller's bound to merge.
    fn replay_deadline(&self) -> Instant {
        Instant::now() + self.cfg.timeout.max(Duration::from_secs(10))
    }

    pub(crate) fn keys(&self, p: &Partition) -> Keys {
        Keys::new(&self.cfg.prefix, p)
    }

    pub(crate) fn set_ring(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ring));
    }

    fn ring(&self) -> Option<Arc<KeyRing>> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    fn emit(&self, e: CacheEvent<'_>) {
        if let Some(h) = &self.hook {
            h(&e);
        }
    }

    pub(crate) fn metrics(&self) -> CacheMetrics {
        let mut m = self.counters.snapshot();
        m.queued_now = self.queue.len();
        m.l1_bytes = self.l1.bytes();
        m.l2_available = self.is_up();
        m
    }

    /// Records a failed Redis operation; the first failure of an outage is
    /// reported through the hook and the log.
    pub(crate) fn l2_failed(&self, op: &'static str, e: &L2Error) {
        Counters::bump(&self.counters.l2_errors);
        let first = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            let first = h.down_since.is_none();
            if first {
                h.down_since = Some(Instant::now());
                h.backoff = MIN_PROBE;
            } else {
                h.backoff = (h.backoff * 2).min(self.cfg.max_probe_interval);
            }
            h.next_probe = Instant::now() + h.backoff;
            self.down.store(true, Ordering::Release);
            first
        };
        if first {
            Counters::bump(&self.counters.outages);
            log::warn!(
                "distributed token cache: Redis {} unavailable during {op}; serving from L1 and queueing writes",
                self.l2.endpoint()
            );
            let error = e.0.as_deref().map(|e| e as &(dyn std::error::Error + Send + Sync + 'static));
            self.emit(CacheEvent::L2Unavailable { endpoint: self.l2.endpoint(), op, error });
            self.queue.wake();
        }
    }

    fn l2_ok(&self) {
        if self.is_up() {
            return;
        }
        let since = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            h.backoff = MIN_PROBE;
            self.down.store(false, Ordering::Release);
            h.down_since.take()
        };
        if let Some(since) = since {
            log::info!("distributed token cache: Redis {} is back", self.l2.endpoint());
            self.emit(CacheEvent::L2Recovered { endpoint: self.l2.endpoint(), down_for: since.elapsed() });
            self.queue.wake();
        }
    }

    /// The value to store for `plain` at `location` and `version`.
    fn seal(&self, plain: &[u8], location: &str, version: &str) -> Result<Vec<u8>> {
        match self.ring() {
            Some(r) => r.seal(plain, location, version),
            None => Ok(plain.to_vec()),
        }
    }

    /// The document stored at `location` and `version`.
    fn open(&self, location: &str, version: &str, data: Vec<u8>) -> Result<(TokenCache, usize)> {
        let plain = match (self.ring(), crypto::key_id_of(&data)) {
            (Some(r), _) => std::mem::take(&mut *r.open(&data, location, version)?),
            (None, Some(id)) => {
                return Err(Error::UnknownKey { location: location.to_owned(), key_id: id.to_owned() });
            }
            (None, None) => data,
        };
        let len = plain.len();
        let cache = TokenCache::parse_owned(plain)
            .map_err(|e| Error::Corrupt { location: location.to_owned(), reason: corrupt_reason(e) })?;
        Ok((cache, len))
    }

    /// Whether an L1 copy may answer without asking Redis.
    fn fresh(&self, d: &Doc) -> bool {
        d.checked.elapsed() < self.cfg.l1_max_age
    }

    /// Answers `f` from the document `sub` of a partition: from L1 when its
    /// copy is fresh (or Redis is down), else from Redis.
    pub(crate) async fn lookup<R>(
        &self,
        keys: &Keys,
        sub: &Sub,
        f: impl Fn(&TokenCache) -> Option<R>,
    ) -> Result<Option<R>> {
        let key = keys.blob(sub);
        let up = self.is_up();
        let hit = self.l1.with(&key, |d| if self.fresh(d) || !up { f(&d.cache) } else { None }).flatten();
        if let Some(r) = hit {
            Counters::bump(if up { &self.counters.l1_hits } else { &self.counters.served_during_outage });
            return Ok(Some(r));
        }
        let doc = self.l1.get(&key);
        if !up {
            return Ok(doc.and_then(|d| f(&d.cache)));
        }
        Counters::bump(&self.counters.l2_reads);
        let known = doc.as_ref().and_then(|d| d.version.as_deref());
        match self.l2.read(&key, known, self.deadline()).await {
            Ok(Read::Unchanged) => {
                self.l2_ok();
                self.l1.confirm(&key, known.unwrap_or(""));
                Ok(doc.and_then(|d| f(&d.cache)))
            }
            Ok(Read::Value { version, data }) => {
                self.l2_ok();
                let (cache, len) = self.open(&key, &version, data)?;
                let cache = self.put_l1(&key, Some(version.into()), cache, len);
                Ok(f(&cache))
            }
            Ok(Read::Absent) => {
                self.l2_ok();
                match doc {
                    Some(d) if d.dirty => Ok(f(&d.cache)),
                    _ => {
                        self.l1.remove(&key);
                        Ok(None)
                    }
                }
            }
            Err(e) => {
                self.l2_failed("read", &e);
                Counters::bump(&self.counters.served_during_outage);
                Ok(doc.and_then(|d| f(&d.cache)))
            }
        }
    }

    /// Stores a document read from or written to Redis in L1, with the
    /// queued writes for it merged in (they are not in Redis yet); returns
    /// the document L1 holds afterwards (a newer copy, if it had one).
    fn put_l1(
        &self,
        key: &str,
        version: Option<Arc<str>>,
        mut cache: TokenCache,
        len: usize,
    ) -> Arc<TokenCache> {
        let mut dirty = false;
        for d in self.queue.pending_for(key) {
            dirty |= cache.merge_entries(&d);
        }
        self.l1.put(key, Doc::new(version, cache, len, dirty), self.cfg.l1_max_age)
    }

    /// Writes `delta` into the document `sub` of `partition`; queues it when
    /// Redis is unavailable or too slow.
    pub(crate) async fn write(
        &self,
        partition: &Partition,
        sub: &Sub,
        delta: Arc<TokenCache>,
        companion: Option<i64>,
    ) -> Result<WriteOutcome> {
        if !self.is_up() {
            return Ok(self.enqueue(partition, sub, delta, companion));
        }
        let keys = self.keys(partition);
        let key = keys.blob(sub);
        let deadline = self.deadline();
        let ticket = self.combiner.post(&key, delta.clone(), companion, deadline);
        let mut pause = combine::POLL;
        loop {
            if let Some(t) = ticket.take() {
                return match t {
                    Ticketed::Done(o) => Ok(o),
                    Ticketed::Queue => Ok(self.enqueue(partition, sub, delta, companion)),
                    Ticketed::Failed(e) => Err(e),
                };
            }
            match self.combiner.turn(&key, &ticket, deadline) {
                Turn::Lead(batch) => self.store_batch(&keys, sub, &key, batch).await,
                Turn::Withdrawn => return Ok(self.enqueue(partition, sub, delta, companion)),
                Turn::Wait => {
                    // A batch takes a round trip or a few: poll often at
                    // first, then less, so waiters do not crowd the CPU.
                    self.l2.sleep(pause).await;
                    pause = (pause * 2).min(combine::MAX_POLL);
                }
            }
        }
    }

    /// Stores the entries of every writer in `batch` with one compare-and-set
    /// loop, and hands each its outcome.
    async fn store_batch(&self, keys: &Keys, sub: &Sub, key: &str, batch: Vec<combine::Item>) {
        let (delta, companion, deadline) = combine::merged(&batch);
        let result = self.write_l2(keys, sub, &delta, companion, deadline).await;
        if let Err(WriteErr::L2(e)) = &result {
            self.l2_failed("write", e);
        }
        self.combiner.finish(key, batch, |_| match &result {
            Ok(o) => Ticketed::Done(*o),
            Err(WriteErr::L2(_) | WriteErr::Deadline) => Ticketed::Queue,
            Err(WriteErr::Other(e)) => Ticketed::Failed(combine::duplicate(e)),
        });
    }

    /// The compare-and-set loop: merge `delta` into the newest version known,
    /// try to store it, and on a conflict merge into the version Redis
    /// answered with, a bounded number of times.
    pub(crate) async fn write_l2(
        &self,
        keys: &Keys,
        sub: &Sub,
        delta: &TokenCache,
        companion: Option<i64>,
        deadline: Instant,
    ) -> Result<WriteOutcome, WriteErr> {
        let key = keys.blob(sub);
        let (index, name) = (keys.index(), sub.name());
        let (mut expected, mut base, mut current) = match self.l1.get(&key) {
            Some(d) => (d.version.clone(), TokenCache::clone(&d.cache), !d.dirty && self.fresh(&d)),
            None => (None, TokenCache::new(), false),
        };
        // Versions only grow in this process's view, even across a key that
        // expired and was created again, so L1 can tell newer from older.
        let floor = l1::counter(expected.as_deref());
        let now = unix_now();
        let expire_at_ms = delta::expiry(delta, now, self.cfg.refresh_token_lifetime, companion) * 1000;
        for attempt in 1..=self.cfg.max_attempts {
            let mut cache = base;
            let changed = cache.merge_entries(delta) | (cache.remove_expired_access_tokens(now) > 0);
            if !changed && current {
                Counters::bump(&self.counters.writes_unchanged);
                return Ok(WriteOutcome::Unchanged);
            }
            let json = cache.serialize();
            let version = next_version(l1::counter(expected.as_deref()).max(floor));
            let data =
                if cache.is_empty() { Vec::new() } else { self.seal(json.as_bytes(), &key, &version)? };
            // A round trip started with almost no time left would time out
            // and be taken for an outage; hand the write to the queue instead.
            if remaining(deadline) < self.min_round_trip() {
                return Err(WriteErr::Deadline);
            }
            let args = CasArgs {
                key: &key,
                index: &index,
                sub: &name,
                expected: expected.as_deref().unwrap_or(""),
                version: &version,
                data: &data,
                expire_at_ms,
                extend_only: true,
            };
            let reply = self.l2.cas(&args, deadline).await.map_err(WriteErr::L2)?;
            self.l2_ok();
            match reply {
                Cas::Stored => {
                    self.put_l1(&key, Some(version.into()), cache, json.len());
                    Counters::bump(&self.counters.writes_stored);
                    return Ok(WriteOutcome::Stored);
                }
                Cas::Absent => (expected, base) = (None, TokenCache::new()),
                Cas::Conflict { version, data } => {
                    base = self.open(&key, &version, data)?.0;
                    expected = Some(version.into());
                }
            }
            current = true; // `base` is what Redis holds now
            Counters::bump(&self.counters.conflicts);
            if attempt > 1 {
                let pause = conflict_pause(attempt);
                if Instant::now() + pause >= deadline {
                    return Err(WriteErr::Deadline);
                }
                self.l2.sleep(pause).await;
            }
        }
        Err(WriteErr::Other(Error::ConflictRetriesExhausted {
            location: key,
            attempts: self.cfg.max_attempts,
        }))
    }

    /// Creates documents that do not exist yet, in one pipeline. Returns the
    /// outcome, and the documents that exist after all (or could not be
    /// sent) for the usual path. A document another writer created first
    /// comes back in the conflict reply; it goes to L1, so the usual path
    /// merges into it and stores with one compare-and-set instead of first
    /// repeating the failed creation.
    pub(crate) async fn create_many(
        &self,
        keys: &Keys,
        docs: &[(Sub, TokenCache)],
        companion: Option<i64>,
    ) -> Result<(WriteOutcome, Vec<(Sub, TokenCache)>)> {
        let now = unix_now();
        let index = keys.index();
        let mut prepared = Vec::with_capacity(docs.len());
        for (sub, delta) in docs {
            let mut cache = TokenCache::new();
            cache.merge_entries(delta);
            cache.remove_expired_access_tokens(now);
            let key = keys.blob(sub);
            let version = next_version(0);
            let json = cache.serialize();
            let data =
                if cache.is_empty() { Vec::new() } else { self.seal(json.as_bytes(), &key, &version)? };
            let expire_at_ms = delta::expiry(delta, now, self.cfg.refresh_token_lifetime, companion) * 1000;
            prepared.push((key, sub.name(), version, data, expire_at_ms, cache, json.len()));
        }
        let args: Vec<CasArgs<'_>> = prepared
            .iter()
            .map(|(key, name, version, data, expire_at_ms, ..)| CasArgs {
                key,
                index: &index,
                sub: name,
                expected: "",
                version,
                data,
                expire_at_ms: *expire_at_ms,
                extend_only: true,
            })
            .collect();
        let replies = match self.l2.cas_many(&args, self.deadline()).await {
            Ok(r) => r,
            Err(e) => {
                self.l2_failed("write", &e);
                return Ok((WriteOutcome::Unchanged, docs.to_vec()));
            }
        };
        self.l2_ok();
        let mut left = Vec::new();
        for ((reply, p), doc) in replies.into_iter().zip(prepared).zip(docs) {
            match reply {
                Cas::Stored => {
                    let (key, _, version, _, _, cache, len) = p;
                    self.put_l1(&key, Some(version.into()), cache, len);
                    Counters::bump(&self.counters.writes_stored);
                }
                Cas::Conflict { version, data } => {
                    Counters::bump(&self.counters.conflicts);
                    let key = &p.0;
                    // A value that does not open: the usual path meets it
                    // again and reports the error to the caller.
                    if let Ok((cache, len)) = self.open(key, &version, data) {
                        self.put_l1(key, Some(version.into()), cache, len);
                    }
                    left.push(doc.clone());
                }
                // Not answered to an expected-empty creation; tried again as usual.
                Cas::Absent => left.push(doc.clone()),
            }
        }
        Ok((WriteOutcome::Stored, left))
    }

    /// Keeps a write that could not reach Redis: in L1 at once (so this
    /// process sees it), and in the queue if there is room.
    fn enqueue(
        &self,
        partition: &Partition,
        sub: &Sub,
        delta: Arc<TokenCache>,
        companion: Option<i64>,
    ) -> WriteOutcome {
        let key = self.keys(partition).blob(sub);
        self.l1.update(&key, |old| {
            let (version, mut cache) = match old {
                Some(d) => (d.version.clone(), TokenCache::clone(&d.cache)),
                None => (None, TokenCache::new()),
            };
            cache.merge_entries(&delta);
            let len = cache.serialize().len();
            Doc::new(version, cache, len, true)
        });
        let item = Queued {
            partition: partition.clone(),
            sub: sub.clone(),
            key,
            delta,
            companion,
            failures: AtomicU32::new(0),
        };
        match self.queue.push(item) {
            Some(queued) => {
                Counters::bump(&self.counters.writes_queued);
                self.emit(CacheEvent::WriteQueued { partition, queued });
                WriteOutcome::Queued
            }
            None => {
                Counters::bump(&self.counters.writes_dropped);
                log::warn!("distributed token cache: write for {partition} kept in L1 only (queue full)");
                self.emit(CacheEvent::WriteDropped { partition });
                WriteOutcome::Dropped
            }
        }
    }

    /// One step of the background writer: probe Redis while it is down,
    /// else replay the oldest queued write (with the later ones to its
    /// document). One that fails for want of time or on conflicts goes
    /// behind the others, so one busy or slow document does not hold up
    /// the rest of the queue; nothing is dropped for it.
    pub(crate) async fn background_step(&self) -> Step {
        if !self.is_up() {
            let due = self.health.lock().unwrap_or_else(|p| p.into_inner()).next_probe;
            let now = Instant::now();
            if now < due {
                return Step::Wait(due - now);
            }
            match self.l2.ping(self.deadline()).await {
                Ok(()) => self.l2_ok(),
                Err(e) => {
                    self.l2_failed("reconnect", &e);
                    return Step::Progress;
                }
            }
        }
        let Some(batch) = self.queue.front_batch() else { return Step::Idle };
        let seqs: Vec<u64> = batch.iter().map(|(seq, _)| *seq).collect();
        let item = &batch[0].1;
        let mut delta = TokenCache::new();
        for (_, q) in &batch {
            delta.merge_entries(&q.delta);
        }
        let companion = batch.iter().filter_map(|(_, q)| q.companion).max();
        let keys = self.keys(&item.partition);
        match self.write_l2(&keys, &item.sub, &delta, companion, self.replay_deadline()).await {
            Ok(_) => {
                self.queue.remove(&seqs);
                self.counters.queued_replayed.fetch_add(seqs.len() as u64, Ordering::Relaxed);
                Step::Progress
            }
            Err(WriteErr::L2(e)) => {
                self.l2_failed("replay queued write", &e);
                Step::Progress
            }
            Err(e @ (WriteErr::Deadline | WriteErr::Other(Error::ConflictRetriesExhausted { .. }))) => {
                let error = match &e {
                    WriteErr::Other(e) => Some(e),
                    _ => None,
                };
                self.replay_failed(&batch, error);
                if self.queue.rotate(&item.key) {
                    Step::Progress
                } else {
                    Step::Wait(Duration::from_millis(10))
                }
            }
            Err(WriteErr::Other(e)) => {
                self.queue.remove(&seqs);
                log::warn!("distributed token cache: gave up queued writes for {}", item.partition);
                self.emit(CacheEvent::QueuedWriteFailed { partition: &item.partition, error: &e });
                Step::Progress
            }
        }
    }

    /// Counts a failed replay of `batch`, and reports it when one of its
    /// writes has now failed 2, 4, 8, ... times.
    fn replay_failed(&self, batch: &[(u64, Arc<Queued>)], error: Option<&Error>) {
        Counters::bump(&self.counters.queued_replay_failures);
        let failures =
            batch.iter().map(|(_, q)| q.failures.fetch_add(1, Ordering::Relaxed) + 1).max().unwrap_or(1);
        if failures >= 2 && failures.is_power_of_two() {
            let partition = &batch[0].1.partition;
            log::warn!(
                "distributed token cache: a queued write for {partition} failed to replay {failures} times; still queued"
            );
            self.emit(CacheEvent::QueuedWriteRetrying { partition, failures, error });
        }
    }

    /// Deletes a partition from Redis, L1 and the queue.
    pub(crate) async fn remove_partition(&self, partition: &Partition) -> Result<()> {
        let keys = self.keys(partition);
        self.queue.forget(partition);
        self.l1.remove_prefix(keys.head());
        self.l2
            .delete_partition(&keys.index(), keys.head(), self.deadline())
            .await
            .map_err(|e| self.unavailable("remove a partition", e))?;
        self.l2_ok();
        Ok(())
    }

    /// Every partition stored under the prefix.
    pub(crate) async fn partitions(&self) -> Result<Vec<Partition>> {
        let pattern = Keys::index_pattern(&self.cfg.prefix);
        let found = self
            .l2
            .scan(&pattern, self.deadline())
            .await
            .map_err(|e| self.unavailable("list partitions", e))?;
        let mut out: Vec<Partition> =
            found.iter().filter_map(|k| Keys::partition_of_index(&self.cfg.prefix, k)).collect();
        out.sort_by(|a, b| a.id().cmp(b.id()));
        out.dedup();
        Ok(out)
    }

    /// The documents of a partition, read from Redis (not L1), with their expiry (unix ms).
    pub(crate) async fn documents(&self, partition: &Partition) -> Result<Vec<(Sub, i64, TokenCache)>> {
        let keys = self.keys(partition);
        let index = self
            .l2
            .index(&keys.index(), self.deadline())
            .await
            .map_err(|e| self.unavailable("read an index", e))?;
        let mut out = Vec::with_capacity(index.len());
        for (name, expires_ms) in index {
            let Some(sub) = Sub::from_name(&name) else { continue };
            let key = keys.blob(&sub);
            match self
                .l2
                .read(&key, None, self.deadline())
                .await
                .map_err(|e| self.unavailable("read a document", e))?
            {
                Read::Value { version, data } => {
                    out.push((sub, expires_ms, self.open(&key, &version, data)?.0))
                }
                Read::Absent | Read::Unchanged => {}
            }
        }
        Ok(out)
    }

    fn unavailable(&self, op: &'static str, e: L2Error) -> Error {
        self.l2_failed(op, &e);
        Error::L2Unavailable { endpoint: self.l2.endpoint().to_owned(), op, source: e.0 }
    }
}

/// `n+1-<random>`: the counter orders versions for people; the random part
/// makes a version unique even if a key expired and was created again, so a
/// stale writer can never match it by chance (no ABA).
fn next_version(n: u64) -> String {
    let mut r = [0u8; 8];
    // Without OS randomness the counter alone still orders writes; the
    // chance of a stale writer matching a recreated key stays tiny.
    let _ = crypto::random_fill(&mut r);
    format!("{}-{:016x}", n + 1, u64::from_le_bytes(r))
}

/// A random pause before the `attempt`-th try, growing to at most ~16 ms:
/// spreads writers that keep colliding on one partition.
fn conflict_pause(attempt: u32) -> Duration {
    let mut r = [0u8; 4];
    let _ = crypto::random_fill(&mut r);
    let cap_us = 250u64 << attempt.min(6);
    Duration::from_micros(u64::from(u32::from_le_bytes(r)) % cap_us)
}

fn corrupt_reason(e: Error) -> String {
    match e {
        Error::Corrupt { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_and_never_repeat() {
        let a = next_version(0);
        assert!(a.starts_with("1-"), "{a}");
        let b = next_version(l1::counter(Some(&a)));
        assert!(b.starts_with("2-"), "{b}");
        assert_ne!(next_version(0), next_version(0));
    }

    #[test]
    fn conflict_pauses_stay_short() {
        for attempt in 1..100 {
            assert!(conflict_pause(attempt) < Duration::from_millis(17));
        }
    }
}
