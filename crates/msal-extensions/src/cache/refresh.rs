//! What a client that redeems refresh tokens needs beyond [`TokenCache::add`]:
//! the identity a response is stored under
//! ([`TokenResponse::home_account_id`]), and writing a rotated refresh token
//! into the one entry that was redeemed ([`TokenCache::update_refresh_token_at`],
//! MSAL Python's `TokenCache.update_rt`).

use super::TokenCache;
use super::add::{TokenResponse, identity};
use super::model::{Lazy, RefreshToken, Secret};
use super::query::unix_now;
use crate::error::Result;

impl TokenResponse {
    /// The `home_account_id` [`add`](TokenCache::add) stores this response
    /// under, derived as MSAL Python derives it: `<uid>.<utid>` from
    /// `client_info`, else the id token's `sub` (from `id_token_claims` when
    /// given, else the decoded `id_token`); `None` for an application token
    /// (neither is present).
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `client_info`
    /// or `id_token` cannot be decoded (what `add` refuses too).
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::TokenResponse;
    /// // client_info {"uid":"u","utid":"t"}
    /// let r = TokenResponse::new("c", ["s"], "https://login.microsoftonline.com/t",
    ///     r#"{"access_token": "a", "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"}"#)?;
    /// assert_eq!(r.home_account_id()?.as_deref(), Some("u.t"));
    /// let app = TokenResponse::new("c", ["s"], "https://login.microsoftonline.com/t", r#"{"access_token": "a"}"#)?;
    /// assert_eq!(app.home_account_id()?, None);
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn home_account_id(&self) -> Result<Option<String>> {
        Ok(identity(&self.response)?.home_account_id)
    }
}

impl TokenCache {
    /// Writes `new_secret` into the refresh token stored under `key` (a key
    /// from [`refresh_tokens`](Self::refresh_tokens)) and stamps its
    /// `last_modification_time`, as MSAL Python's `update_rt` does after
    /// redeeming that token and receiving a rotated one. No other entry
    /// changes: other environments, families or targets of the same account
    /// keep their own tokens (unlike
    /// [`update_refresh_token`](Self::update_refresh_token), which rewrites
    /// every refresh token of an account and client).
    ///
    /// Returns `false`, changing nothing, when no entry has that key (another
    /// process removed it, e.g. signed the account out: a renewal does not
    /// bring it back).
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::{TokenCache, TokenResponse};
    /// let mut cache = TokenCache::new();
    /// let r = TokenResponse::new("c", ["s"], "https://login.microsoftonline.com/t",
    ///     r#"{"access_token": "a", "refresh_token": "rt-1", "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"}"#)?;
    /// cache.add(&r)?;
    /// let key = cache.refresh_tokens().next().unwrap().0.to_owned();
    /// assert!(cache.update_refresh_token_at(&key, "rt-2"));
    /// let (_, rt) = cache.refresh_tokens().next().unwrap();
    /// assert_eq!(rt.secret.as_ref().unwrap().expose(), "rt-2");
    /// assert!(!cache.update_refresh_token_at("no such key", "rt-3"));
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn update_refresh_token_at(&mut self, key: &str, new_secret: &str) -> bool {
        let Some(entry) = self.refresh_tokens.get_mut(key) else { return false };
        let mut rt = RefreshToken::clone(entry);
        rt.secret = Some(Secret::new(new_secret));
        rt.last_modification_time = Some(unix_now());
        *entry = Lazy::new(rt);
        self.note_change();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: &str) -> TokenResponse {
        TokenResponse::new("c", ["s"], "https://login.microsoftonline.com/t", json).unwrap()
    }

    #[test]
    fn home_account_id_is_what_add_stores() {
        // client_info with standard-alphabet padding and uid/utid.
        let r = response(r#"{"access_token": "a", "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ=="}"#);
        assert_eq!(r.home_account_id().unwrap().as_deref(), Some("u.t"));
        // No client_info: the id token claims' sub.
        let r = response(r#"{"access_token": "a", "id_token_claims": {"sub": "s1"}}"#);
        assert_eq!(r.home_account_id().unwrap().as_deref(), Some("s1"));
        let r = response(r#"{"access_token": "a", "id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9."}"#);
        assert_eq!(r.home_account_id().unwrap().as_deref(), Some("42"));
        assert!(response(r#"{"access_token": "a", "client_info": "%%%"}"#).home_account_id().is_err());
        let mut cache = TokenCache::new();
        let r = response(
            r#"{"access_token": "a", "refresh_token": "r", "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"}"#,
        );
        cache.add(&r).unwrap();
        let (_, rt) = cache.refresh_tokens().next().unwrap();
        assert_eq!(rt.home_account_id, r.home_account_id().unwrap());
    }

    #[test]
    fn update_at_changes_only_that_entry() {
        let mut cache = TokenCache::new();
        let ci = "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ";
        for (host, rt) in [("login.microsoftonline.com", "rt-a"), ("login.microsoftonline.us", "rt-b")] {
            let body = format!(r#"{{"access_token": "a", "refresh_token": "{rt}", "client_info": "{ci}"}}"#);
            cache.add(&TokenResponse::new("c", ["s"], &format!("https://{host}/t"), &body).unwrap()).unwrap();
        }
        let key = cache
            .refresh_tokens()
            .find(|(_, t)| t.secret.as_ref().unwrap().expose() == "rt-a")
            .unwrap()
            .0
            .to_owned();
        let before = cache.revision();
        assert!(cache.update_refresh_token_at(&key, "rt-a2"));
        assert_ne!(cache.revision(), before, "a change is noted");
        let mut secrets: Vec<String> =
            cache.refresh_tokens().map(|(_, t)| t.secret.as_ref().unwrap().expose().to_owned()).collect();
        secrets.sort();
        assert_eq!(secrets, ["rt-a2", "rt-b"]);
        assert!(!cache.update_refresh_token_at("missing", "x"));
    }
}
