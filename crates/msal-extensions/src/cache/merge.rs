//! [`TokenCache::merge`]: the union of two caches, newest entry winning.
//!
//! For tools that bring one cache into another (import, a migration into a
//! store that already holds tokens) without losing either side's tokens.

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
            |e| e.cached_at,
        );
        merge_section(
            &mut self.refresh_tokens,
            &other.refresh_tokens,
            &mut n,
            |a, b| **a == **b,
            |e| e.last_modification_time,
        );
        merge_section(&mut self.id_tokens, &other.id_tokens, &mut n, |a, b| a == b, |_| None);
        merge_section(&mut self.accounts, &other.accounts, &mut n, |a, b| a == b, |_| None);
        merge_section(&mut self.app_metadata, &other.app_metadata, &mut n, |a, b| a == b, |_| None);
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

/// Merges `from` into `into` by key; `same` compares entries, `time` reads
/// an entry's timestamp.
fn merge_section<E: Clone>(
    into: &mut Section<E>,
    from: &Section<E>,
    n: &mut MergeCounts,
    same: fn(&E, &E) -> bool,
    time: fn(&E) -> Option<i64>,
) {
    let newer = |a: &E, b: &E| time(a).unwrap_or(i64::MIN) > time(b).unwrap_or(i64::MIN);
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
