//! [`TokenCache::merge`]: the union of two caches, newest entry winning.
//!
//! For tools that bring one cache into another (import, a migration into a
//! store that already holds tokens) without losing either side's tokens, and,
//! through [`TokenCache::merge_entries`], for the distributed cache's merge of
//! a write into a stored document. Both go entry by entry through the same
//! identity rules as [`TokenCache::add`]: one identity is one entry, whatever
//! key or alias of its cloud it is stored under (see `convention.rs`).

use super::add::{carry_extras, holders, identified, put, same_account, same_app, same_idt};
use super::model::{AccessToken, RefreshToken};
use super::{Section, TokenCache};

/// What [`TokenCache::merge`] did.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeCounts {
    /// Entries of the other cache whose identity this cache did not hold.
    pub added: usize,
    /// Entries of the other cache that replaced what this cache held for
    /// their identity (the entry under the same key, and the same entry
    /// under another key or another alias of its cloud), being newer.
    pub replaced: usize,
    /// Entries of the other cache not taken: this cache holds the same, or
    /// a newer version (under any key or alias).
    pub kept: usize,
}

impl MergeCounts {
    /// `true` when the merge changed this cache.
    pub fn changed(&self) -> bool {
        self.added + self.replaced > 0
    }
}

/// Which side wins between two entries equally new (or without a time:
/// accounts, id tokens, app metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ties {
    /// The entry this cache holds ([`TokenCache::merge`]).
    Here,
    /// The entry merged in ([`TokenCache::merge_entries`]: it is the later write).
    From,
}

/// What to do with one entry of the other cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Add,
    Replace,
    Keep,
}

impl TokenCache {
    /// Adds every entry of `other` to this cache, entry by entry in the five
    /// known sections, by identity as [`add`](Self::add) stores entries: the
    /// entry under the same key and every entry with the same identifying
    /// fields under another key or another alias of the same cloud
    /// (`login.windows.net` and `login.microsoftonline.com`, ...) hold the
    /// same entry. An entry whose identity is not here is added (under its
    /// key in `other`); one that is here replaces what is here only when it
    /// is newer than every entry here holding its identity (`cached_at` of
    /// access tokens, `last_modification_time` of refresh tokens), which are
    /// then replaced by it alone, so no MSAL library finds two matching
    /// entries; entries without a time (accounts, id tokens, app metadata)
    /// are kept as they are here. An entry without an `environment` is
    /// matched by its key only. Unknown top-level sections of `other` that
    /// this cache lacks are added. Nothing but an entry's older copies is
    /// ever removed, and an empty or `null` section in `other` changes nothing.
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::TokenCache;
    /// let mut here = TokenCache::parse(r#"{"AccessToken": {"a": {"secret": "1", "cached_at": "10"}}}"#)?;
    /// let other = TokenCache::parse(
    ///     r#"{"AccessToken": {"a": {"secret": "2", "cached_at": "20"}, "b": {"secret": "3"}}, "RefreshToken": null}"#,
    /// )?;
    /// let counts = here.merge(&other);
    /// assert_eq!((counts.added, counts.replaced), (1, 1));
    /// assert_eq!(here.access_tokens().count(), 2);
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn merge(&mut self, other: &TokenCache) -> MergeCounts {
        let mut n = self.merge_by_identity(other, Ties::Here);
        for name in &other.order {
            let Some(section) = other.other.get(name) else { continue };
            if !self.other.contains_key(name) {
                self.other.insert(name.clone(), section.clone());
                self.order.push(name.clone());
                n.added += 1;
            }
        }
        if n.changed() {
            self.note_change();
        }
        n
    }

    /// Stores every entry of `from` as [`merge`](Self::merge) does, except
    /// that of two equally new entries (and of two different accounts, id
    /// tokens or app metadata) `from`'s wins: `from` is the later write.
    /// Returns whether anything changed. The distributed cache merges every
    /// write into the newest version of a document with this, so a write
    /// replayed late (queued during an outage, retried after a conflict)
    /// never replaces a token another process refreshed meanwhile, under
    /// whichever alias it stored it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn merge_entries(&mut self, from: &TokenCache) -> bool {
        self.merge_by_identity(from, Ties::From).changed()
    }

    /// The one merge of the known sections behind [`merge`](Self::merge) and
    /// [`merge_entries`](Self::merge_entries).
    pub(super) fn merge_by_identity(&mut self, from: &TokenCache, ties: Ties) -> MergeCounts {
        let mut n = MergeCounts::default();
        for (key, at) in &from.access_tokens {
            let h = self.at_holders(key, at);
            let d = decide(
                &self.access_tokens,
                key,
                at,
                &h,
                ties,
                |a, b| newer_access_token(a, b),
                |a, b| **a == **b,
            );
            if d != Decision::Keep {
                self.put_access_token(key.clone(), at.clone(), &h);
            }
            n.count(d);
        }
        for (key, rt) in &from.refresh_tokens {
            let h = self.rt_holders(key, rt);
            let d = decide(
                &self.refresh_tokens,
                key,
                rt,
                &h,
                ties,
                |a, b| newer_refresh_token(a, b),
                |a, b| **a == **b,
            );
            if d != Decision::Keep {
                put(&mut self.refresh_tokens, key.clone(), rt.clone(), &h, None);
            }
            n.count(d);
        }
        for (key, e) in &from.accounts {
            let h = holders(&self.accounts, key, e, identified(e.environment.as_deref()), same_account);
            let d = decide(&self.accounts, key, e, &h, ties, |_, _| false, |a, b| a == b);
            if d != Decision::Keep {
                put(&mut self.accounts, key.clone(), e.clone(), &h, Some(carry_extras));
            }
            n.count(d);
        }
        for (key, e) in &from.id_tokens {
            let h = holders(&self.id_tokens, key, e, identified(e.environment.as_deref()), same_idt);
            let d = decide(&self.id_tokens, key, e, &h, ties, |_, _| false, |a, b| a == b);
            if d != Decision::Keep {
                put(&mut self.id_tokens, key.clone(), e.clone(), &h, None);
            }
            n.count(d);
        }
        for (key, e) in &from.app_metadata {
            let h = holders(&self.app_metadata, key, e, identified(e.environment.as_deref()), same_app);
            let d = decide(&self.app_metadata, key, e, &h, ties, |_, _| false, |a, b| a == b);
            if d != Decision::Keep {
                put(&mut self.app_metadata, key.clone(), e.clone(), &h, Some(carry_extras));
            }
            n.count(d);
        }
        n
    }
}

impl MergeCounts {
    fn count(&mut self, d: Decision) {
        match d {
            Decision::Add => self.added += 1,
            Decision::Replace => self.replaced += 1,
            Decision::Keep => self.kept += 1,
        }
    }
}

/// Whether `entry` (under `key`) is added, replaces the entries at
/// `holders` (those holding its identity here), or is not taken: it
/// replaces them only when it is newer than every one of them (or, with
/// [`Ties::From`], not older than any), and never when the one entry holding
/// it is the same entry under the same key.
fn decide<E>(
    section: &Section<E>,
    key: &str,
    entry: &E,
    holders: &[usize],
    ties: Ties,
    newer: impl Fn(&E, &E) -> bool,
    equal: impl Fn(&E, &E) -> bool,
) -> Decision {
    let here = |p: usize| section.get_index(p).map(|(k, e)| (k.as_str(), e));
    match holders {
        [] => Decision::Add,
        [p] if here(*p).is_some_and(|(k, e)| k == key && equal(e, entry)) => Decision::Keep,
        _ if holders
            .iter()
            .filter_map(|&p| here(p))
            .all(|(_, e)| newer(entry, e) || (ties == Ties::From && !newer(e, entry))) =>
        {
            Decision::Replace
        }
        _ => Decision::Keep,
    }
}

/// Whether access token `a` was cached after `b` (`cached_at`; an entry
/// without one counts as the oldest). What [`TokenCache::merge`] and the
/// distributed cache's merge of a write into a stored document go by.
pub(super) fn newer_access_token(a: &AccessToken, b: &AccessToken) -> bool {
    newer(a.cached_at, b.cached_at)
}

/// Whether refresh token `a` was written after `b` (`last_modification_time`;
/// an entry without one counts as the oldest). See [`newer_access_token`].
pub(super) fn newer_refresh_token(a: &RefreshToken, b: &RefreshToken) -> bool {
    newer(a.last_modification_time, b.last_modification_time)
}

fn newer(a: Option<i64>, b: Option<i64>) -> bool {
    a.unwrap_or(i64::MIN) > b.unwrap_or(i64::MIN)
}
