//! Writes waiting for Redis to come back, in arrival order, bounded in bytes.
//!
//! An item is removed only once Redis acknowledged it, so a write is never
//! lost between "taken from the queue" and "stored". Replaying merges the
//! item into the newest version of its document, so order between items of
//! different processes does not matter and a replay after an uncertain
//! reply (the server died after storing, before answering) is harmless.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Partition;
use super::partition::Sub;
use crate::cache::TokenCache;

/// One queued write.
pub(crate) struct Queued {
    pub(crate) partition: Partition,
    pub(crate) sub: Sub,
    /// The document's Redis key.
    pub(crate) key: String,
    /// The entries to merge (timestamps already fixed).
    pub(crate) delta: Arc<TokenCache>,
    /// Expiry of the tokens written with it, for documents without tokens.
    pub(crate) companion: Option<i64>,
    /// How many replays of it failed so far.
    pub(crate) failures: AtomicU32,
}

struct State {
    items: VecDeque<(u64, Arc<Queued>, usize)>,
    bytes: usize,
    next_seq: u64,
    stop: bool,
    /// Bumped by every wake-up, so a waiter can tell it was woken.
    generation: u64,
}

/// The queue, with a condition variable for the blocking background writer
/// and for callers of `flush`.
pub(crate) struct Queue {
    state: Mutex<State>,
    cv: Condvar,
    capacity: usize,
    #[cfg(feature = "redis-async")]
    pub(crate) notify: tokio::sync::Notify,
}

impl Queue {
    /// A queue holding at most `capacity` bytes of writes (0: none).
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                next_seq: 0,
                stop: false,
                generation: 0,
            }),
            cv: Condvar::new(),
            capacity,
            #[cfg(feature = "redis-async")]
            notify: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a write; `None` when it does not fit. Returns the number queued.
    pub(crate) fn push(&self, item: Queued) -> Option<usize> {
        let size = item.delta.serialize().len() + item.key.len();
        let mut s = self.lock();
        if s.bytes + size > self.capacity {
            return None;
        }
        let seq = s.next_seq;
        s.next_seq += 1;
        s.bytes += size;
        s.items.push_back((seq, Arc::new(item), size));
        let n = s.items.len();
        drop(s);
        self.wake();
        Some(n)
    }

    /// The oldest write and every later one to the same document (replayed
    /// as one), not removed.
    pub(crate) fn front_batch(&self) -> Option<Vec<(u64, Arc<Queued>)>> {
        let s = self.lock();
        let key = &s.items.front()?.1.key;
        Some(s.items.iter().filter(|(_, q, _)| q.key == *key).map(|(seq, q, _)| (*seq, q.clone())).collect())
    }

    /// Moves every write to the document `key` behind all others, keeping
    /// their order: after a failed replay, the other documents go first.
    /// Returns whether another document's write is now the oldest.
    pub(crate) fn rotate(&self, key: &str) -> bool {
        let mut s = self.lock();
        let (mut others, mut mine): (VecDeque<_>, VecDeque<_>) =
            std::mem::take(&mut s.items).into_iter().partition(|(_, q, _)| q.key != key);
        let moved = !others.is_empty();
        others.append(&mut mine);
        s.items = others;
        moved
    }

    /// Removes the writes `seqs` (once Redis has them).
    pub(crate) fn remove(&self, seqs: &[u64]) {
        let mut s = self.lock();
        let mut freed = 0;
        s.items.retain(|(q, _, size)| {
            let keep = !seqs.contains(q);
            if !keep {
                freed += size;
            }
            keep
        });
        s.bytes -= freed;
        drop(s);
        self.wake();
    }

    /// Drops the writes of a partition (it is being removed).
    pub(crate) fn forget(&self, partition: &Partition) {
        let mut s = self.lock();
        let mut freed = 0;
        s.items.retain(|(_, q, size)| {
            let keep = q.partition != *partition;
            if !keep {
                freed += size;
            }
            keep
        });
        s.bytes -= freed;
    }

    /// The queued deltas for one document, oldest first.
    pub(crate) fn pending_for(&self, key: &str) -> Vec<Arc<TokenCache>> {
        let s = self.lock();
        if s.items.is_empty() {
            return Vec::new();
        }
        s.items.iter().filter(|(_, q, _)| q.key == key).map(|(_, q, _)| q.delta.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Wakes the background writer and `flush` callers.
    pub(crate) fn wake(&self) {
        self.lock().generation += 1;
        self.cv.notify_all();
        #[cfg(feature = "redis-async")]
        self.notify.notify_one();
    }

    /// Asks the background writer to stop.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake();
    }

    pub(crate) fn stopped(&self) -> bool {
        self.lock().stop
    }

    /// Blocks the background writer until woken or `timeout` passes.
    pub(crate) fn wait(&self, timeout: Duration) {
        let s = self.lock();
        if s.stop {
            return;
        }
        let generation = s.generation;
        let _unused = self
            .cv
            .wait_timeout_while(s, timeout, |s| !s.stop && s.generation == generation)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Waits until the queue is empty, at most until `deadline`; returns how
    /// many writes are still queued.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> usize {
        let mut s = self.lock();
        while !s.items.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = self.cv.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        s.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str) -> Queued {
        Queued {
            partition: Partition::app("c", "t"),
            sub: Sub::Base,
            key: key.to_owned(),
            delta: Arc::new(TokenCache::new()),
            companion: None,
            failures: AtomicU32::new(0),
        }
    }

    #[test]
    fn a_failed_document_goes_behind_the_others_and_keeps_its_order() {
        let q = Queue::new(1 << 20);
        for k in ["a", "b", "a", "c"] {
            q.push(item(k)).unwrap();
        }
        let front = |q: &Queue| {
            q.front_batch().unwrap().iter().map(|(seq, i)| (*seq, i.key.clone())).collect::<Vec<_>>()
        };
        assert_eq!(front(&q), [(0, "a".to_owned()), (2, "a".to_owned())]);
        assert!(q.rotate("a"));
        assert_eq!(front(&q), [(1, "b".to_owned())]);
        assert!(q.rotate("b"));
        assert_eq!(front(&q), [(3, "c".to_owned())]);
        assert!(q.rotate("c"));
        assert_eq!(front(&q), [(0, "a".to_owned()), (2, "a".to_owned())], "nothing dropped, order kept");
        assert_eq!(q.len(), 4);
        q.remove(&[1, 3]);
        assert!(!q.rotate("a"), "the only document left");
        assert_eq!(front(&q), [(0, "a".to_owned()), (2, "a".to_owned())]);
    }
}
