//! [`TokenCache::merge`]: the union of two caches, newest entry winning.
//!
//! For tools that bring one cache into another (import, a migration into a
//! store that already holds tokens) without losing either side's tokens.

use super::model::{AccessToken, RefreshToken};
use super::{Section, TokenCache};

/// What [`TokenCache::merge`] did.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeCounts {
    /// Entries of the other cache whose key was not here.
    pub added: usize,
    /// Entries here replaced by a newer one with the same key.
    pub replaced: usize,
    /// Entries of the other cache not taken: the same as here, or older.
    pub kept: usize,
}

impl MergeCounts {
    /// `true` when the merge changed this cache.
    pub fn changed(&self) -> bool {
        self.added + self.replaced > 0
    }
}

impl TokenCache {
    /// Adds every entry of `other` to this cache, entry by entry (by key,
    /// in the five known sections): a key not here is added; a key here is
    /// replaced only by an entry that is newer (`cached_at` of access tokens,
    /// `last_modification_time` of refresh tokens); entries without a time
    /// (accounts, id tokens, app metadata) are kept as they are here. Unknown
    /// top-level sections of `other` that this cache lacks are added.
    /// Nothing here is ever removed, and an empty or `null` section in
    /// `other` changes nothing.
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
        let mut n = MergeCounts::default();
        merge_section(
            &mut self.access_tokens,
            &other.access_tokens,
            &mut n,
            |a, b| **a == **b,
            |a, b| newer_access_token(a, b),
        );
        merge_section(
            &mut self.refresh_tokens,
            &other.refresh_tokens,
            &mut n,
            |a, b| **a == **b,
            |a, b| newer_refresh_token(a, b),
        );
        merge_section(&mut self.id_tokens, &other.id_tokens, &mut n, |a, b| a == b, |_, _| false);
        merge_section(&mut self.accounts, &other.accounts, &mut n, |a, b| a == b, |_, _| false);
        merge_section(&mut self.app_metadata, &other.app_metadata, &mut n, |a, b| a == b, |_, _| false);
        for name in &other.order {
            let Some(section) = other.other.get(name) else { continue };
            if !self.other.contains_key(name) {
                self.other.insert(name.clone(), section.clone());
                self.order.push(name.clone());
                n.added += 1;
            }
        }
        if n.changed() {
            self.invalidate_index();
            self.note_change();
        }
        n
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

/// Merges `from` into `into` by key; `same` compares entries, `newer` tells
/// whether the first entry is newer than the second.
fn merge_section<E: Clone>(
    into: &mut Section<E>,
    from: &Section<E>,
    n: &mut MergeCounts,
    same: fn(&E, &E) -> bool,
    newer: fn(&E, &E) -> bool,
) {
    for (key, entry) in from {
        match into.get_mut(key) {
            None => {
                into.insert(key.clone(), entry.clone());
                n.added += 1;
            }
            Some(here) if !same(here, entry) && newer(entry, here) => {
                *here = entry.clone();
                n.replaced += 1;
            }
            Some(_) => n.kept += 1,
        }
    }
}
