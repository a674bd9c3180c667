//! Lookups an application needs, and removals.
//!
//! Matching follows MSAL: an entry matches when every given field is equal
//! (environment and ids compared case-insensitively) and, for access tokens,
//! when its `target` contains every requested scope (case-insensitively, in
//! any order). Stored keys are never consulted, so entries written by any SDK
//! are found.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::model::{AccessToken, Account, EntryFields, IdToken, Lazy, RefreshToken, Secret};
use super::{TokenCache, jwt};

/// The current time in unix seconds.
pub(crate) fn unix_now() -> i64 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => 0,
    }
}

/// What access token to look for: client, scopes, and optionally the
/// account, authority and the time margin a token must still have.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use msal_extensions::AccessTokenQuery;
/// let q = AccessTokenQuery::new("client", ["User.Read"])
///     .account("uid.utid")
///     .environment("login.microsoftonline.com")
///     .clock_skew(Duration::from_secs(60));
/// # let _ = q;
/// ```
#[derive(Debug, Clone)]
pub struct AccessTokenQuery<'a> {
    client_id: &'a str,
    scopes: Vec<&'a str>,
    home_account_id: Option<&'a str>,
    environment: Option<&'a str>,
    realm: Option<&'a str>,
    skew: Duration,
    now: Option<i64>,
}

impl<'a> AccessTokenQuery<'a> {
    /// An application token (client-credentials flow: no account) of
    /// `client_id` covering every scope in `scopes`.
    pub fn new(client_id: &'a str, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        AccessTokenQuery {
            client_id,
            scopes: scopes.into_iter().collect(),
            home_account_id: None,
            environment: None,
            realm: None,
            skew: Duration::from_secs(300),
            now: None,
        }
    }

    /// A token of the account with this `home_account_id` (`uid.utid`)
    /// instead of an application token.
    pub fn account(mut self, home_account_id: &'a str) -> Self {
        self.home_account_id = Some(home_account_id);
        self
    }

    /// Only tokens from this authority host or an alias of it (the same
    /// cloud under another host, see [`environment_aliases`](super::environment_aliases)).
    pub fn environment(mut self, environment: &'a str) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Only tokens for this tenant.
    pub fn realm(mut self, realm: &'a str) -> Self {
        self.realm = Some(realm);
        self
    }

    /// A token must stay valid for at least this long to be returned
    /// (default 5 minutes, MSAL's margin for clock differences and transit).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Evaluates expiry at `now` (unix seconds) instead of the current time.
    pub fn at_time(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The requested scopes (the distributed cache picks a sub-partition by them).
    #[cfg(feature = "redis")]
    pub(crate) fn scopes(&self) -> &[&'a str] {
        &self.scopes
    }

    fn matches(&self, at: &AccessToken, valid_after: i64) -> bool {
        let account_ok = match self.home_account_id {
            Some(h) => at.home_account_id.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h)),
            None => at.home_account_id.as_deref().unwrap_or("").is_empty(),
        };
        account_ok
            && at.client_id.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(self.client_id))
            && self.environment.is_none_or(|w| {
                at.environment.as_deref().is_some_and(|h| super::convention::same_cloud(w, h))
            })
            && opt_eq(self.realm, &at.realm)
            && at.expires_on.is_some_and(|e| e > valid_after)
            // MSAL isolates tokens bound to an extended cache key from plain requests.
            && !at.extra.contains_key("ext_cache_key")
            && covers(at.target.as_deref().unwrap_or(""), &self.scopes)
    }
}

fn opt_eq(want: Option<&str>, have: &Option<String>) -> bool {
    want.is_none_or(|w| have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)))
}

/// `true` when the space-separated `target` contains every scope of `wanted`.
fn covers(target: &str, wanted: &[&str]) -> bool {
    wanted.iter().all(|w| target.split_whitespace().any(|s| s.eq_ignore_ascii_case(w)))
}

impl TokenCache {
    /// The valid access token matching `query` that expires last, if any.
    ///
    /// Uses an index by scope, so the cost does not grow with the number of
    /// tokens for other scopes.
    pub fn access_token(&self, query: &AccessTokenQuery<'_>) -> Option<&AccessToken> {
        self.access_token_shared(query).map(|at| &**at)
    }

    /// [`access_token`](Self::access_token), shared rather than borrowed.
    pub(crate) fn access_token_shared(&self, query: &AccessTokenQuery<'_>) -> Option<&Arc<AccessToken>> {
        let valid_after = query.now.unwrap_or_else(unix_now) + query.skew.as_secs() as i64;
        let Some(first) = query.scopes.first() else {
            return best_match(self.access_tokens.values().map(Lazy::shared), query, valid_after);
        };
        let positions = self.positions_with_scope(first);
        let candidates =
            positions.iter().filter_map(|&p| self.access_tokens.get_index(p).map(|(_, at)| at.shared()));
        best_match(candidates, query, valid_after)
    }

    /// The refresh token of `client_id` for the account, if any (the most
    /// recently written one when there are several).
    pub fn refresh_token(&self, home_account_id: &str, client_id: &str) -> Option<&RefreshToken> {
        self.refresh_tokens
            .values()
            .filter(|rt| {
                field_is(rt, "home_account_id", home_account_id) && field_is(rt, "client_id", client_id)
            })
            .map(|rt| &**rt)
            .max_by_key(|rt| rt.last_modification_time)
    }

    /// A family (FOCI) refresh token of the account, usable by every client in
    /// the family `family_id` (Microsoft's is `"1"`).
    pub fn family_refresh_token(&self, home_account_id: &str, family_id: &str) -> Option<&RefreshToken> {
        self.refresh_tokens
            .values()
            .filter(|rt| {
                field_is(rt, "home_account_id", home_account_id) && field_is(rt, "family_id", family_id)
            })
            .map(|rt| &**rt)
            .max_by_key(|rt| rt.last_modification_time)
    }

    /// All accounts, in file order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// The accounts with this `home_account_id` (one per tenant it signed in to).
    pub fn accounts_of(&self, home_account_id: &str) -> impl Iterator<Item = &Account> {
        self.accounts.values().filter(move |a| eq(&a.home_account_id, home_account_id))
    }

    /// The id token of `client_id` for the account.
    pub fn id_token(&self, home_account_id: &str, client_id: &str) -> Option<&IdToken> {
        self.id_tokens
            .values()
            .find(|t| eq(&t.home_account_id, home_account_id) && eq(&t.client_id, client_id))
    }

    /// The claims of that id token, decoded (not verified: the token came
    /// from the identity provider over TLS). `None` when there is no id token
    /// or it cannot be decoded.
    pub fn id_token_claims(&self, home_account_id: &str, client_id: &str) -> Option<Map<String, Value>> {
        jwt::jwt_claims(self.id_token(home_account_id, client_id)?.secret.as_ref()?.expose())
    }

    /// Removes the account (in every tenant and environment) and all its
    /// access, refresh and id tokens, for every client. Returns how many
    /// entries were removed.
    pub fn remove_account(&mut self, home_account_id: &str) -> usize {
        let before = self.len();
        self.accounts.retain(|_, a| !eq(&a.home_account_id, home_account_id));
        self.access_tokens.retain(|_, t| !field_is(t, "home_account_id", home_account_id));
        self.refresh_tokens.retain(|_, t| !field_is(t, "home_account_id", home_account_id));
        self.id_tokens.retain(|_, t| !eq(&t.home_account_id, home_account_id));
        self.invalidate_index();
        let removed = before - self.len();
        if removed > 0 {
            self.note_change();
        }
        removed
    }

    /// Removes access tokens that expired before `now` (unix seconds), as
    /// MSAL does while searching. Returns how many were removed.
    ///
    /// Reads only each entry's `expires_on` (entries loaded from text stay
    /// unparsed when it is a string of digits, as MSAL writes it), so this
    /// costs far less than a full parse of every entry: the distributed
    /// cache calls it on every write of a document.
    pub fn remove_expired_access_tokens(&mut self, now: i64) -> usize {
        let before = self.access_tokens.len();
        self.access_tokens.retain(|_, t| {
            let expires = match t.str_field("expires_on") {
                // Any other form (a number, an odd string, absent): parse the entry.
                Some(v) => v.trim().parse().ok().or_else(|| t.expires_on),
                None => t.expires_on,
            };
            expires.is_none_or(|e| e >= now)
        });
        let removed = before - self.access_tokens.len();
        if removed > 0 {
            self.invalidate_index();
            self.note_change();
        }
        removed
    }

    /// Replaces the secret of the account's refresh tokens of `client_id`
    /// (after the identity provider rotated it) and stamps
    /// `last_modification_time`, keeping all other fields. Returns `false`
    /// when the account has no refresh token for that client.
    pub fn update_refresh_token(&mut self, home_account_id: &str, client_id: &str, new_secret: &str) -> bool {
        let now = unix_now();
        let mut found = false;
        for entry in self.refresh_tokens.values_mut() {
            if field_is(entry, "home_account_id", home_account_id) && field_is(entry, "client_id", client_id)
            {
                let mut rt = RefreshToken::clone(entry);
                rt.secret = Some(Secret::new(new_secret));
                rt.last_modification_time = Some(now);
                *entry = Lazy::new(rt);
                found = true;
            }
        }
        if found {
            self.note_change();
        }
        found
    }

    /// Stores an access token entry as is (under MSAL Python's key for it),
    /// replacing any entry with the same identity. For entries built by hand
    /// or copied from another cache; token responses go through
    /// [`add`](Self::add).
    pub fn insert_access_token(&mut self, entry: AccessToken) {
        self.note_change();
        self.upsert_access_token(entry);
    }
}

fn best_match<'c>(
    candidates: impl Iterator<Item = &'c Arc<AccessToken>>,
    query: &AccessTokenQuery<'_>,
    valid_after: i64,
) -> Option<&'c Arc<AccessToken>> {
    candidates.filter(|at| query.matches(at, valid_after)).max_by_key(|at| at.expires_on)
}

/// Whether a (possibly unparsed) entry's string field equals `want`, ignoring case.
fn field_is<E: EntryFields + serde::de::DeserializeOwned>(e: &Lazy<E>, name: &str, want: &str) -> bool {
    e.str_field(name).is_some_and(|have| have.eq_ignore_ascii_case(want))
}

fn eq(have: &Option<String>, want: &str) -> bool {
    have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_access_tokens_are_removed_by_their_expires_on() {
        let mut c = TokenCache::parse(
            r#"{"AccessToken":{"a":{"expires_on":"100"},"b":{"expires_on":"300"},"c":{"expires_on":150},"d":{},"e":{"expires_on":" 250 "}}}"#,
        )
        .unwrap();
        assert_eq!(c.remove_expired_access_tokens(200), 2);
        let left: Vec<&str> = c.access_tokens().map(|(k, _)| k).collect();
        assert_eq!(left, ["b", "d", "e"]);
        assert_eq!(c.remove_expired_access_tokens(200), 0);
    }
}
