//! What the cache reports: outcomes of writes, events for a hook, counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Partition;
use crate::error::Error;

/// What became of a write. Ordered from best to worst: a write touching
/// several documents reports the worst of their outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// Redis already held exactly these entries; nothing was written.
    Unchanged,
    /// Redis acknowledged it (with `appendfsync always`, it is on disk).
    Stored,
    /// Redis was unreachable or too slow: the write is in this process's L1
    /// and in its in-memory queue, and is replayed (merged into the newest
    /// version) as soon as Redis answers again. Lost if the process exits
    /// first; see [`flush`](super::DistributedTokenCache::flush).
    Queued,
    /// Redis was unreachable and the queue was full (or disabled): the write
    /// is only in this process's L1. A [`CacheEvent::WriteDropped`] reports it.
    Dropped,
}

/// Something the operator should know, passed to the hook given to
/// [`DistributedCacheBuilder::on_event`](super::DistributedCacheBuilder::on_event).
/// The hook runs on the thread that noticed the event: keep it short.
/// Events never hold tokens or keys.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheEvent<'a> {
    /// Redis failed or timed out; from now on lookups are served from L1 and
    /// writes are queued until a background probe reaches it again.
    /// Reported once per outage.
    L2Unavailable {
        /// The server or cluster (no credentials).
        endpoint: &'a str,
        /// What was being done, e.g. `"read"`.
        op: &'static str,
        /// The client's error (none for a timeout).
        error: Option<&'a (dyn std::error::Error + Send + Sync + 'static)>,
    },
    /// Redis answers again; queued writes are being replayed.
    L2Recovered {
        /// The server or cluster.
        endpoint: &'a str,
        /// How long it was unavailable.
        down_for: Duration,
    },
    /// A write was queued (see [`WriteOutcome::Queued`]).
    WriteQueued {
        /// Whose tokens.
        partition: &'a Partition,
        /// Writes now waiting.
        queued: usize,
    },
    /// A write could not be queued (see [`WriteOutcome::Dropped`]).
    WriteDropped {
        /// Whose tokens.
        partition: &'a Partition,
    },
    /// Replaying a queued write failed again because its bound passed (a
    /// slow server, or a long streak of conflicts on its document). It stays
    /// queued, behind the other documents' writes, and is tried again.
    /// Reported at its 2nd, 4th, 8th, ... failure; every failure is counted
    /// in [`CacheMetrics::queued_replay_failures`].
    QueuedWriteRetrying {
        /// Whose tokens.
        partition: &'a Partition,
        /// Failed replays of this write so far.
        failures: u32,
        /// [`Error::ConflictRetriesExhausted`]; none when the bound passed.
        error: Option<&'a Error>,
    },
    /// A queued write could not be replayed and was given up, e.g. because
    /// the stored value is encrypted with a key this process lacks.
    QueuedWriteFailed {
        /// Whose tokens.
        partition: &'a Partition,
        /// Why.
        error: &'a Error,
    },
}

/// Counters since the cache was built, and the current state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheMetrics {
    /// Lookups answered from L1 without asking Redis.
    pub l1_hits: u64,
    /// Lookups that asked Redis (L1 had no answer, or its copy was older than the L1 age).
    pub l2_reads: u64,
    /// Lookups answered from L1 because Redis was unavailable.
    pub served_during_outage: u64,
    /// Writes Redis acknowledged.
    pub writes_stored: u64,
    /// Writes that changed nothing.
    pub writes_unchanged: u64,
    /// Document writes queued during an outage (one `add` writes one or two documents).
    pub writes_queued: u64,
    /// Writes kept in L1 only (queue full or disabled).
    pub writes_dropped: u64,
    /// Queued writes replayed into Redis.
    pub queued_replayed: u64,
    /// Replays of queued writes that failed (bound passed, conflicts
    /// exhausted) and were put back behind the other documents' writes.
    pub queued_replay_failures: u64,
    /// Compare-and-set attempts that met a newer version and were retried.
    pub conflicts: u64,
    /// Failed or timed-out Redis operations.
    pub l2_errors: u64,
    /// Outages (transitions from available to unavailable).
    pub outages: u64,
    /// Writes waiting in the queue now.
    pub queued_now: usize,
    /// Bytes held by L1 now.
    pub l1_bytes: usize,
    /// Whether Redis is considered available now.
    pub l2_available: bool,
}

/// The atomic counters behind [`CacheMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l2_reads: AtomicU64,
    pub(crate) served_during_outage: AtomicU64,
    pub(crate) writes_stored: AtomicU64,
    pub(crate) writes_unchanged: AtomicU64,
    pub(crate) writes_queued: AtomicU64,
    pub(crate) writes_dropped: AtomicU64,
    pub(crate) queued_replayed: AtomicU64,
    pub(crate) queued_replay_failures: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) outages: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheMetrics {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheMetrics {
            l1_hits: g(&self.l1_hits),
            l2_reads: g(&self.l2_reads),
            served_during_outage: g(&self.served_during_outage),
            writes_stored: g(&self.writes_stored),
            writes_unchanged: g(&self.writes_unchanged),
            writes_queued: g(&self.writes_queued),
            writes_dropped: g(&self.writes_dropped),
            queued_replayed: g(&self.queued_replayed),
            queued_replay_failures: g(&self.queued_replay_failures),
            conflicts: g(&self.conflicts),
            l2_errors: g(&self.l2_errors),
            outages: g(&self.outages),
            ..CacheMetrics::default()
        }
    }
}
