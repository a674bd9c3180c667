//! A write as the cache stores it: the entries of token responses, already
//! stamped with their time, split into the documents they belong to.

use std::collections::HashMap;
use std::time::Duration;

use super::partition::Sub;
use crate::cache::TokenCache;
use crate::cache::parse_seconds;

/// Entries to merge into each document of a partition, with the expiry of
/// the tokens among them (for documents that hold none).
pub(crate) struct Split {
    /// `(sub-partition, entries)`: access tokens by resource, then the base
    /// (accounts, id and refresh tokens, app metadata) last, so that a
    /// partition's base never names an account whose tokens are missing.
    pub(crate) docs: Vec<(Sub, TokenCache)>,
    /// The latest expiry (unix seconds) among the access tokens.
    pub(crate) companion: Option<i64>,
}

/// Splits `all` (the entries of one or more token responses) into documents.
pub(crate) fn split(all: TokenCache) -> Split {
    let mut by_resource: HashMap<Sub, TokenCache> = HashMap::new();
    let mut order: Vec<Sub> = Vec::new();
    let mut companion: Option<i64> = None;
    let TokenCache { access_tokens, refresh_tokens, id_tokens, accounts, app_metadata, .. } = all;
    for (k, at) in access_tokens {
        companion = companion.max(at.expires_on.max(at.extended_expires_on));
        let sub = Sub::for_target(at.target.as_deref().unwrap_or(""));
        if !by_resource.contains_key(&sub) {
            order.push(sub.clone());
        }
        by_resource.entry(sub).or_default().access_tokens.insert(k, at);
    }
    let mut docs: Vec<(Sub, TokenCache)> =
        order.into_iter().map(|s| (s.clone(), by_resource.remove(&s).unwrap_or_default())).collect();
    let mut base = TokenCache::new();
    (base.refresh_tokens, base.id_tokens, base.accounts, base.app_metadata) =
        (refresh_tokens, id_tokens, accounts, app_metadata);
    if !base.is_empty() {
        docs.push((Sub::Base, base));
    }
    Split { docs, companion }
}

/// When a document holding `delta` may expire (unix seconds): when its
/// longest-lived token does. Access tokens count with their extended
/// expiry; refresh tokens, which carry no expiry in the MSAL schema, live
/// `rt_lifetime` from their last write (unless the entry says `expires_on`).
/// A document without tokens lives as long as the tokens written with it
/// (`companion`), else a day. Stored expiries only ever grow (Redis
/// `PEXPIREAT ... GT`), so the key outlives every token it holds.
pub(crate) fn expiry(delta: &TokenCache, now: i64, rt_lifetime: Duration, companion: Option<i64>) -> i64 {
    let ats = delta.access_tokens().map(|(_, at)| at.expires_on.max(at.extended_expires_on));
    let rts = delta.refresh_tokens().map(|(_, rt)| {
        let stated = rt.extra.get("expires_on").and_then(parse_seconds);
        Some(
            stated.unwrap_or_else(|| rt.last_modification_time.unwrap_or(now) + rt_lifetime.as_secs() as i64),
        )
    });
    ats.chain(rts).flatten().max().or(companion).unwrap_or(now + 24 * 3600).max(now + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenResponse;

    fn user_response(scope: &str) -> TokenResponse {
        let ci = "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"; // {"uid":"u","utid":"t"}
        let body = format!(
            r#"{{"access_token":"a","expires_in":3600,"ext_expires_in":7200,"refresh_token":"r","client_info":"{ci}"}}"#
        );
        TokenResponse::new("c", [scope], "https://login.microsoftonline.com/t", &body).unwrap()
    }

    #[test]
    fn access_tokens_go_to_their_resource_the_rest_to_the_base() {
        let mut all = TokenCache::new();
        all.add_at(&user_response("https://graph.microsoft.com/User.Read"), 1000).unwrap();
        all.add_at(&user_response("api://x/read"), 1000).unwrap();
        let s = split(all);
        let subs: Vec<String> = s.docs.iter().map(|(s, _)| s.name()).collect();
        assert_eq!(subs, ["r:https%3A%2F%2Fgraph.microsoft.com", "r:api%3A%2F%2Fx", "b"]);
        assert_eq!(s.companion, Some(1000 + 7200));
        let base = &s.docs[2].1;
        assert_eq!((base.access_tokens().count(), base.refresh_tokens().count()), (0, 2));
    }

    #[test]
    fn expiry_follows_the_longest_lived_token() {
        let mut all = TokenCache::new();
        all.add_at(&user_response("User.Read"), 1000).unwrap();
        let day = Duration::from_secs(86400);
        assert_eq!(
            expiry(&all, 1000, day, None),
            1000 + 86400,
            "the refresh token outlives the access token"
        );
        let s = split(all);
        assert_eq!(expiry(&s.docs[0].1, 1000, day, None), 1000 + 7200, "extended expiry counts");
        assert_eq!(expiry(&TokenCache::new(), 1000, day, Some(5000)), 5000);
        assert_eq!(expiry(&TokenCache::new(), 1000, day, None), 1000 + 86400);
    }
}
