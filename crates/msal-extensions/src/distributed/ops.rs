//! The operations both front ends offer, written once over the engine.

use std::sync::Arc;

use super::backend::Backend;
use super::engine::Engine;
use super::events::WriteOutcome;
use super::listing::{self, EntryInfo};
use super::partition::Sub;
use super::{Partition, delta};
use crate::cache::{
    AccessToken, AccessTokenQuery, Account, RefreshToken, TokenCache, TokenResponse, unix_now,
};
use crate::error::Result;

/// Documents created per pipeline by an import.
const IMPORT_PIPELINE: usize = 256;

impl<B: Backend> Engine<B> {
    pub(crate) async fn access_token(
        &self,
        partition: &Partition,
        query: &AccessTokenQuery<'_>,
    ) -> Result<Option<Arc<AccessToken>>> {
        let sub = Sub::for_scopes(query.scopes().iter().copied());
        self.lookup(&self.keys(partition), &sub, |c| c.access_token_shared(query).cloned()).await
    }

    pub(crate) async fn refresh_token(
        &self,
        partition: &Partition,
        home_account_id: &str,
        client_id: &str,
    ) -> Result<Option<RefreshToken>> {
        let keys = self.keys(partition);
        self.lookup(&keys, &Sub::Base, |c| c.refresh_token(home_account_id, client_id).cloned()).await
    }

    pub(crate) async fn accounts(&self, partition: &Partition) -> Result<Vec<Account>> {
        let keys = self.keys(partition);
        let found =
            self.lookup(&keys, &Sub::Base, |c| Some(c.accounts().cloned().collect::<Vec<_>>())).await?;
        Ok(found.unwrap_or_default())
    }

    /// Stores token responses: each document they touch is written once.
    pub(crate) async fn add_all(
        &self,
        partition: &Partition,
        responses: &[TokenResponse],
    ) -> Result<WriteOutcome> {
        let now = unix_now();
        // An update holds no earlier app-only token to mirror: the builder's
        // convention says how to write one.
        let mut all = TokenCache::new().with_write_convention(self.cfg.convention);
        for r in responses {
            all.add_at(r, now)?;
        }
        self.import(partition, all).await
    }

    /// Stores every entry of `all` in the partition, one write per document.
    /// Documents this process holds no copy of are first tried as
    /// creations, pipelined; the rest (and any that exist after all) go
    /// through the usual compare-and-set.
    pub(crate) async fn import(&self, partition: &Partition, all: TokenCache) -> Result<WriteOutcome> {
        let split = delta::split(all);
        let keys = self.keys(partition);
        let (fresh, known): (Vec<_>, Vec<_>) = split
            .docs
            .into_iter()
            .partition(|(sub, _)| self.is_up() && self.l1.get(&keys.blob(sub)).is_none());
        let mut outcome = WriteOutcome::Unchanged;
        let mut rest = known;
        for chunk in fresh.chunks(IMPORT_PIPELINE) {
            let (o, left) = self.create_many(&keys, chunk, split.companion).await?;
            outcome = outcome.max(o);
            rest.extend(left);
        }
        for (sub, doc) in rest {
            let o = self.write(partition, &sub, Arc::new(doc), split.companion).await?;
            outcome = outcome.max(o);
        }
        Ok(outcome)
    }

    /// Every document of the partition merged into one MSAL cache, read from Redis.
    pub(crate) async fn load_partition(&self, partition: &Partition) -> Result<TokenCache> {
        let mut all = TokenCache::new();
        for (_, _, doc) in self.documents(partition).await? {
            all.merge_entries(&doc);
        }
        Ok(all)
    }

    pub(crate) async fn partition_entries(&self, partition: &Partition) -> Result<Vec<EntryInfo>> {
        let mut out = Vec::new();
        for (sub, _, doc) in self.documents(partition).await? {
            listing::entries(&sub, &doc, &mut out);
        }
        Ok(out)
    }
}
