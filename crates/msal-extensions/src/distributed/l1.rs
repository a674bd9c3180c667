//! The in-process L1: decrypted, parsed documents, bounded in bytes.
//!
//! Sharded so that threads looking up different partitions rarely wait on
//! one another; each shard is a least-recently-used map that evicts until
//! its share of the byte budget holds. An entry's weight is the size of its
//! JSON text plus its key and a fixed overhead, a stand-in for the memory
//! its parsed form takes that is cheap to know.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::cache::TokenCache;

const SHARDS: usize = 16;
/// Bookkeeping per entry besides its text (maps, `Arc`s, version string).
const ENTRY_OVERHEAD: usize = 256;

/// One cached document.
#[derive(Clone)]
pub(crate) struct Doc {
    /// The version it was last read or written at (`None`: never seen in
    /// Redis). Queued writes merged in since keep it and set `dirty`.
    pub(crate) version: Option<Arc<str>>,
    pub(crate) cache: Arc<TokenCache>,
    /// When Redis last confirmed this version (or it was written).
    pub(crate) checked: Instant,
    /// Weight in bytes.
    pub(crate) bytes: usize,
    /// Holds queued writes that Redis does not have yet.
    pub(crate) dirty: bool,
}

impl Doc {
    pub(crate) fn new(version: Option<Arc<str>>, cache: TokenCache, json_len: usize, dirty: bool) -> Self {
        Doc { version, cache: Arc::new(cache), checked: Instant::now(), bytes: json_len, dirty }
    }
}

/// The counter part of a version (`n-random`); 0 for none.
pub(crate) fn counter(version: Option<&str>) -> u64 {
    version.and_then(|v| v.split('-').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

struct Shard {
    map: LruCache<String, Doc>,
    bytes: usize,
}

/// The byte-bounded L1.
pub(crate) struct L1 {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
    hasher: RandomState,
}

impl L1 {
    /// An L1 holding at most `capacity` bytes (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        let shards =
            (0..SHARDS).map(|_| Mutex::new(Shard { map: LruCache::unbounded(), bytes: 0 })).collect();
        L1 { shards, shard_budget: capacity / SHARDS, hasher: RandomState::new() }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding a shard leaves plain data behind; keep going.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the document under `key`, marking it recently used.
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(&Doc) -> R) -> Option<R> {
        self.shard(key).map.get(key).map(f)
    }

    /// A copy of the document under `key` (cheap: the cache is shared).
    pub(crate) fn get(&self, key: &str) -> Option<Doc> {
        self.with(key, Doc::clone)
    }

    /// Stores `doc` under `key`, evicting least recently used documents of
    /// its shard until the budget holds. A document larger than a shard's
    /// budget is not kept (and any older copy is dropped). A copy with a
    /// newer version confirmed less than `keep_newer` ago stays: a read
    /// that started before a write must not undo it.
    /// Returns the document L1 holds for `key` afterwards (`doc`, or the
    /// newer copy it kept).
    pub(crate) fn put(&self, key: &str, mut doc: Doc, keep_newer: Duration) -> Arc<TokenCache> {
        doc.bytes += key.len() + ENTRY_OVERHEAD;
        let mut s = self.shard(key);
        if let Some(old) = s.map.peek(key)
            && old.checked.elapsed() < keep_newer
            && counter(old.version.as_deref()) > counter(doc.version.as_deref())
        {
            return old.cache.clone();
        }
        let kept = doc.cache.clone();
        insert(&mut s, key, doc, self.shard_budget);
        kept
    }

    /// Replaces the document under `key` with `f(current)` atomically (no
    /// other thread's change between the read and the write is lost).
    pub(crate) fn update(&self, key: &str, f: impl FnOnce(Option<&Doc>) -> Doc) {
        let mut s = self.shard(key);
        let mut doc = f(s.map.peek(key));
        doc.bytes += key.len() + ENTRY_OVERHEAD;
        insert(&mut s, key, doc, self.shard_budget);
    }

    /// Marks the document under `key` as confirmed by Redis now, if it is
    /// still at `version`.
    pub(crate) fn confirm(&self, key: &str, version: &str) {
        if let Some(d) = self.shard(key).map.get_mut(key)
            && d.version.as_deref() == Some(version)
        {
            d.checked = Instant::now();
        }
    }

    pub(crate) fn remove(&self, key: &str) {
        let mut s = self.shard(key);
        if let Some(old) = s.map.pop(key) {
            s.bytes -= old.bytes;
        }
    }

    /// Drops every document whose key starts with `prefix`.
    pub(crate) fn remove_prefix(&self, prefix: &str) {
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            let doomed: Vec<String> =
                s.map.iter().map(|(k, _)| k).filter(|k| k.starts_with(prefix)).cloned().collect();
            for k in doomed {
                if let Some(old) = s.map.pop(&k) {
                    s.bytes -= old.bytes;
                }
            }
        }
    }

    /// Bytes held, over all shards.
    pub(crate) fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).bytes).sum()
    }
}

/// Puts `doc` (already weighed) in its shard and evicts until the budget holds.
fn insert(s: &mut Shard, key: &str, doc: Doc, budget: usize) {
    if let Some(old) = s.map.pop(key) {
        s.bytes -= old.bytes;
    }
    if doc.bytes > budget {
        return;
    }
    s.bytes += doc.bytes;
    s.map.put(key.to_owned(), doc);
    while s.bytes > budget {
        match s.map.pop_lru() {
            Some((_, old)) => s.bytes -= old.bytes,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(len: usize) -> Doc {
        Doc::new(Some("1".into()), TokenCache::new(), len, false)
    }

    #[test]
    fn stays_within_its_byte_budget_evicting_least_recent() {
        let l1 = L1::new(SHARDS * 4096);
        for i in 0..1000 {
            l1.put(&format!("k{i}"), doc(1000), Duration::ZERO);
            assert!(l1.bytes() <= SHARDS * 4096);
        }
        // The most recent document of every shard survived.
        assert!(l1.get("k999").is_some());
        assert!(l1.get("k0").is_none());
    }

    #[test]
    fn oversized_documents_are_not_kept() {
        let l1 = L1::new(SHARDS * 1024);
        l1.put("k", doc(10), Duration::ZERO);
        l1.put("k", doc(5000), Duration::ZERO);
        assert!(l1.get("k").is_none());
        assert_eq!(l1.bytes(), 0);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let l1 = L1::new(0);
        l1.put("k", doc(1), Duration::ZERO);
        assert!(l1.get("k").is_none());
    }

    #[test]
    fn a_late_read_does_not_undo_a_newer_write() {
        let l1 = L1::new(SHARDS * 4096);
        let at = |v: &str| Doc::new(Some(v.into()), TokenCache::new(), 1, false);
        l1.put("k", at("5-a"), Duration::from_secs(60));
        l1.put("k", at("4-b"), Duration::from_secs(60));
        assert_eq!(l1.get("k").unwrap().version.as_deref(), Some("5-a"));
        l1.put("k", at("1-c"), Duration::ZERO); // once the newer copy is old, any version replaces it
        assert_eq!(l1.get("k").unwrap().version.as_deref(), Some("1-c"));
    }
}
