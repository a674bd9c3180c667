//! The engine shared by [`PublicClient`](crate::PublicClient) and
//! [`ConfidentialClient`](crate::ConfidentialClient): token requests, storing
//! their answers as MSAL Python does, cache lookups, and silent renewal with
//! the renewal lease.

use std::sync::Arc;
use std::time::Duration;

use msal_extensions::{
    AccessTokenQuery, PersistedTokenCache, Persistence, RefreshToken, TokenCache, TokenResponse,
};
use serde_json::Value;

use crate::authority::{Authority, Endpoints};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::http::{Http, HttpOptions, Json};
use crate::lease;
use crate::result::{Account, AuthenticationResult, SilentOptions, TokenSource};

/// Scopes MSAL adds to every user sign-in and refresh: an id token, a
/// profile, and a refresh token.
const RESERVED: [&str; 3] = ["offline_access", "openid", "profile"];

/// MSAL's margin: an access token that expires within 5 minutes is renewed.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

pub(crate) struct Core<P: Persistence> {
    pub(crate) client_id: String,
    pub(crate) authority: Authority,
    pub(crate) cache: Arc<PersistedTokenCache<P>>,
    pub(crate) http: Http,
    pub(crate) credential: Option<Credential>,
    pub(crate) renewal_wait: Option<Duration>,
}

/// A cached access token found by a lookup.
enum Cached {
    /// Valid, and not yet due for renewal.
    Fresh(AuthenticationResult),
    /// Valid, but past its `refresh_on`: renew, and fall back to it if that fails.
    Aging(AuthenticationResult),
}

impl<P: Persistence> Core<P> {
    pub(crate) fn new(
        client_id: &str,
        cache: Arc<PersistedTokenCache<P>>,
        credential: Option<Credential>,
    ) -> Self {
        Core {
            client_id: client_id.to_owned(),
            authority: Authority::public_cloud("common").expect("`common` is a valid tenant"),
            cache,
            http: Http::new(HttpOptions::default()),
            credential,
            renewal_wait: None,
        }
    }

    pub(crate) fn set_http(&mut self, opts: HttpOptions) {
        self.http = Http::new(opts);
    }

    pub(crate) fn endpoints(&self) -> Result<Arc<Endpoints>> {
        self.authority.endpoints(&self.http)
    }

    /// The tenant cache entries of this authority are stored under, without
    /// a request (a cache lookup never waits on the network): the tenant for
    /// Entra hosts; for other providers the token endpoint's first path
    /// segment (MSAL Python's realm) when this process has discovered it,
    /// else the authority's tenant, the first path segment of the issuer or
    /// authority URL, which is the token endpoint's for the providers we know
    /// (a guess that misses only sends the lookup to a renewal, which
    /// discovers). Not "any realm": two tenants of one host must not serve
    /// each other's tokens.
    fn realm(&self) -> String {
        self.authority.known_realm().unwrap_or_else(|| self.authority.tenant().to_owned())
    }

    /// How long a process waits for another one's renewal before renewing itself.
    fn lease_bound(&self) -> Duration {
        self.renewal_wait.unwrap_or_else(|| self.http.options().worst_case() + Duration::from_secs(10))
    }

    // ---- requests -------------------------------------------------------

    /// POSTs a token request with the client's identity added, and returns the answer.
    pub(crate) fn token_request(
        &self,
        grant: &str,
        fields: &[(&str, &str)],
    ) -> Result<(Json, Arc<Endpoints>)> {
        let ep = self.endpoints()?;
        let mut form: Vec<(&str, &str)> =
            vec![("client_id", &self.client_id), ("grant_type", grant), ("client_info", "1")];
        form.extend_from_slice(fields);
        let cred = match &self.credential {
            Some(c) => c.get()?.form_fields(&self.client_id, &ep.token)?,
            None => Vec::new(),
        };
        form.extend(cred.iter().map(|(k, v)| (*k, v.as_str())));
        let json = self.http.post_form(&format!("token request ({grant})"), &ep.token, &form)?;
        Ok((json, ep))
    }

    /// Stores a token response as MSAL Python does and returns the result.
    /// `refreshed` is the stored key of the refresh token that was redeemed,
    /// if any: MSAL Python writes a rotated refresh token into that entry
    /// (and no other) rather than a new one, and adds no account.
    pub(crate) fn store(
        &self,
        mut json: Json,
        ep: &Endpoints,
        requested: &[&str],
        grant: &str,
        refreshed: Option<&str>,
    ) -> Result<AuthenticationResult> {
        let scopes = response_scopes(&json, requested);
        // MSAL Python keeps a rotated refresh token out of `add` and writes it
        // into the redeemed entry instead (`update_rt`).
        let rotated =
            refreshed.and_then(|_| json.remove("refresh_token")).and_then(|v| v.as_str().map(str::to_owned));
        let access_token = json.get("access_token").and_then(Value::as_str).map(msal_extensions::Secret::new);
        let access_token = access_token.ok_or_else(|| Error::InvalidResponse {
            operation: format!("token request ({grant})"),
            url: ep.token.clone(),
            reason: "no `access_token` in the answer".into(),
        })?;
        let token_type = json.get("token_type").and_then(Value::as_str).unwrap_or("Bearer").to_owned();
        let scope_refs = scopes.iter().map(String::as_str);
        let mut response =
            TokenResponse::from_value(&self.client_id, scope_refs, &ep.token, Value::Object(json))?
                .environment_override(self.authority.environment())
                .grant_type(grant);
        if refreshed.is_some() {
            response = response.skip_account_creation();
        }
        let home_account_id = response.home_account_id()?;
        let rotation = refreshed.zip(rotated.as_deref());
        let (expires_on, refresh_on) =
            self.write(&response, &scopes, home_account_id.as_deref(), rotation)?;
        let account = match home_account_id {
            Some(h) => self.account(&h)?.or_else(|| Some(Account::new(&h, self.authority.environment()))),
            None => None,
        };
        Ok(AuthenticationResult {
            access_token,
            token_type,
            expires_on,
            refresh_on,
            scopes,
            tenant_id: Some(response.realm().to_owned()),
            account,
            source: TokenSource::IdentityProvider,
        })
    }

    /// One `modify`: adds the response, writes a rotated refresh token into
    /// the entry it replaces, and reads back the stored token's expiry (so
    /// it follows the storage crate's rules for `expires_in`, `refresh_in`).
    fn write(
        &self,
        response: &TokenResponse,
        scopes: &[String],
        home_account_id: Option<&str>,
        rotation: Option<(&str, &str)>,
    ) -> Result<(i64, Option<i64>)> {
        let now = now();
        Ok(self.cache.modify(|c| {
            c.add_at(response, now)?;
            if let Some((key, new)) = rotation {
                // Gone (the account was removed meanwhile): not brought back.
                c.update_refresh_token_at(key, new);
            }
            let mut q = AccessTokenQuery::new(&self.client_id, scopes.iter().map(String::as_str))
                .environment(response.environment())
                .realm(response.realm())
                .clock_skew(Duration::ZERO)
                .at_time(now - 1);
            if let Some(h) = home_account_id {
                q = q.account(h);
            }
            Ok(c.access_token(&q).map_or((now, None), |at| (at.expires_on.unwrap_or(now), at.refresh_on)))
        })?)
    }

    // ---- cache lookups --------------------------------------------------

    /// The accounts of this authority's cloud, one per `home_account_id`.
    pub(crate) fn accounts(&self) -> Result<Vec<Account>> {
        let envs = self.authority.environment_aliases();
        Ok(self.cache.read(|c| {
            let mut out: Vec<Account> = Vec::new();
            for env in &envs {
                for a in c.accounts() {
                    let in_env = a.environment.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(env));
                    let user_kind = matches!(a.authority_type.as_deref(), Some("MSSTS" | "ADFS") | None);
                    let Some(acc) = Account::from_entry(a).filter(|_| in_env && user_kind) else { continue };
                    if !out.iter().any(|o| o.home_account_id.eq_ignore_ascii_case(&acc.home_account_id)) {
                        out.push(acc);
                    }
                }
                if !out.is_empty() {
                    break; // MSAL Python: the first alias with accounts wins
                }
            }
            out
        })?)
    }

    /// The account with this `home_account_id`, preferring its entry in this authority's tenant.
    pub(crate) fn account(&self, home_account_id: &str) -> Result<Option<Account>> {
        let accounts = self.accounts()?;
        Ok(accounts.into_iter().find(|a| a.home_account_id.eq_ignore_ascii_case(home_account_id)))
    }

    /// A valid cached access token for the account (or the application, with
    /// `None`) in this authority's cloud and tenant.
    fn cached(&self, account: Option<&Account>, scopes: &[&str]) -> Result<Option<Cached>> {
        let realm = self.realm();
        let now = now();
        // The storage crate matches the environment's aliases (the same cloud under another host).
        let mut q = AccessTokenQuery::new(&self.client_id, scopes.iter().copied())
            .environment(self.authority.environment())
            .realm(&realm)
            .clock_skew(EXPIRY_MARGIN)
            .at_time(now);
        if let Some(a) = account {
            q = q.account(&a.home_account_id);
        }
        let Some(at) = self.cache.access_token(&q)? else { return Ok(None) };
        let result = AuthenticationResult {
            access_token: at.secret.clone().unwrap_or_else(|| msal_extensions::Secret::new("")),
            token_type: at.token_type.clone().unwrap_or_else(|| "Bearer".into()),
            expires_on: at.expires_on.unwrap_or(0),
            refresh_on: at.refresh_on,
            scopes: at.target.as_deref().unwrap_or("").split_whitespace().map(str::to_owned).collect(),
            tenant_id: at.realm.clone(),
            account: account.cloned(),
            source: TokenSource::Cache,
        };
        let aging = at.refresh_on.is_some_and(|r| r <= now);
        Ok(Some(if aging { Cached::Aging(result) } else { Cached::Fresh(result) }))
    }

    // ---- silent ---------------------------------------------------------

    /// Cache first, then one renewal shared by all processes (see [`lease`]).
    /// `renew` makes the request(s) and stores the answer.
    fn cached_or_renew(
        &self,
        account: Option<&Account>,
        scopes: &[&str],
        opts: &SilentOptions,
        lease_key: &str,
        renew: impl FnOnce() -> Result<AuthenticationResult>,
    ) -> Result<AuthenticationResult> {
        check_scopes(scopes)?;
        let mut fallback = None;
        if opts.cache_allowed() {
            match self.cached(account, scopes)? {
                Some(Cached::Fresh(r)) => return Ok(r),
                Some(Cached::Aging(r)) => fallback = Some(r),
                None => {}
            }
        }
        let location = self.cache.persistence().location().to_owned();
        let lease = lease::take(&location, lease_key, self.lease_bound());
        // Re-read under the lease, waited or not: a renewal may have finished
        // between the first look and taking the lease. A `stat` when nothing
        // changed, against the request it may save.
        if opts.cache_allowed()
            && let Some(Cached::Fresh(r)) = self.cached(account, scopes)?
        {
            log::debug!("renewal: another process renewed (lease waited: {})", lease.waited);
            return Ok(r);
        }
        let result = renew();
        drop(lease);
        match (result, fallback) {
            (Ok(r), _) => Ok(r),
            // MSAL: a token past refresh_on is still valid; keep serving it
            // when the renewal fails for any reason.
            (Err(e), Some(old)) => {
                log::warn!("renewing a token past its refresh_on failed ({e}); using the cached one");
                Ok(old)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// `acquire_token_silent` with MSAL's semantics (cache, then refresh
    /// tokens of the app or its family).
    pub(crate) fn silent(
        &self,
        account: &Account,
        scopes: &[&str],
        opts: &SilentOptions,
    ) -> Result<AuthenticationResult> {
        let key = format!("user|{}|{}", self.authority.environment(), account.home_account_id);
        self.cached_or_renew(Some(account), scopes, opts, &key, || {
            self.refresh_from_cache(account, scopes, opts)
        })
    }

    /// `acquire_token_for_client`: cache, then the client credentials grant.
    pub(crate) fn for_client(&self, scopes: &[&str], opts: &SilentOptions) -> Result<AuthenticationResult> {
        if self.credential.is_none() {
            return Err(Error::invalid("client", "the client credentials grant needs a client credential"));
        }
        let mut sorted: Vec<String> = scopes.iter().map(|s| s.to_ascii_lowercase()).collect();
        sorted.sort();
        let key = format!(
            "app|{}|{}|{}|{}",
            self.authority.environment(),
            self.client_id,
            self.authority.tenant(),
            sorted.join(" ")
        );
        self.cached_or_renew(None, scopes, opts, &key, || {
            let scope = scopes.join(" ");
            let mut fields = vec![("scope", scope.as_str())];
            if let Some(c) = &opts.claims {
                fields.push(("claims", c));
            }
            let (json, ep) = self.token_request("client_credentials", &fields)?;
            self.store(json, &ep, scopes, "client_credentials", None)
        })
    }

    /// Redeems the account's refresh tokens in MSAL Python's order: family
    /// tokens first when this app's family is unknown or known, then the
    /// app's own; newest first; stop at the first success.
    fn refresh_from_cache(
        &self,
        account: &Account,
        scopes: &[&str],
        opts: &SilentOptions,
    ) -> Result<AuthenticationResult> {
        let envs = self.authority.environment_aliases();
        let (rts, family) = self.cache.read(|c| {
            (account_rts(c, &account.home_account_id, &envs), app_family(c, &self.client_id, &envs))
        })?;
        let mut tried: Vec<&str> = Vec::new();
        let mut last_err = None;
        // (family to try, stop that phase on `client_mismatch`); `None` = the app's own.
        let phases: Vec<(Option<&str>, bool)> = match family.as_deref() {
            None => vec![(Some("1"), true), (None, false)],
            Some(f) if !f.is_empty() => vec![(Some(f), false), (None, false)],
            Some(_) => vec![(None, false)],
        };
        for (family, stop_on_mismatch) in phases {
            let wanted = |(_, rt): &&(String, RefreshToken)| match family {
                Some(f) => same(rt.family_id.as_deref(), f),
                None => same(rt.client_id.as_deref(), &self.client_id),
            };
            for (key, rt) in rts.iter().filter(wanted) {
                let secret = rt.secret.as_ref().map_or("", |s| s.expose());
                if secret.is_empty() || tried.contains(&secret) {
                    continue;
                }
                tried.push(secret);
                match self.redeem(key, rt, scopes, opts.claims.as_deref()) {
                    Ok(r) => return Ok(r),
                    Err(e @ Error::IdentityProvider { .. }) => {
                        let mismatch =
                            e.idp().is_some_and(|i| i.additional_info.iter().any(|x| x == "client_mismatch"));
                        last_err = Some(e);
                        if mismatch && stop_on_mismatch {
                            break;
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        Err(match last_err {
            Some(e) => e.into_interaction_required(),
            None => Error::InteractionRequired {
                reason: format!(
                    "no refresh token for account {} of client {} in the cache; sign in first",
                    account.home_account_id, self.client_id
                ),
                idp: None,
            },
        })
    }

    /// One refresh-token grant (of the token stored under `key`), stored as
    /// MSAL Python stores it.
    fn redeem(
        &self,
        key: &str,
        rt: &RefreshToken,
        scopes: &[&str],
        claims: Option<&str>,
    ) -> Result<AuthenticationResult> {
        let scope = decorate(scopes);
        let secret = rt.secret.as_ref().map_or("", |s| s.expose());
        let mut fields = vec![("refresh_token", secret), ("scope", scope.as_str())];
        if let Some(c) = claims {
            fields.push(("claims", c));
        }
        let (json, ep) = self.token_request("refresh_token", &fields)?;
        self.store(json, &ep, scopes, "refresh_token", Some(key))
    }

    /// A refresh token from elsewhere (a migration), redeemed and stored.
    pub(crate) fn by_refresh_token(
        &self,
        refresh_token: &str,
        scopes: &[&str],
    ) -> Result<AuthenticationResult> {
        check_scopes(scopes)?;
        let scope = decorate(scopes);
        let (json, ep) = self
            .token_request("refresh_token", &[("refresh_token", refresh_token), ("scope", scope.as_str())])?;
        self.store(json, &ep, scopes, "refresh_token", None)
    }

    pub(crate) fn remove_account(&self, account: &Account) -> Result<usize> {
        Ok(self.cache.remove_account(&account.home_account_id)?)
    }
}

/// The account's refresh tokens in the given environments with their stored
/// keys (where a rotated token is written back), newest first.
fn account_rts(c: &TokenCache, home_account_id: &str, envs: &[&str]) -> Vec<(String, RefreshToken)> {
    let mut v: Vec<(String, RefreshToken)> = c
        .refresh_tokens()
        .filter(|(_, rt)| same(rt.home_account_id.as_deref(), home_account_id))
        .filter(|(_, rt)| envs.iter().any(|e| same(rt.environment.as_deref(), e)))
        .map(|(k, rt)| (k.to_owned(), rt.clone()))
        .collect();
    v.sort_by_key(|(_, rt)| std::cmp::Reverse(rt.last_modification_time.unwrap_or(0)));
    v
}

/// This app's family per its app metadata: `None` when the app has no
/// metadata yet, `Some("")` when it is in no family.
fn app_family(c: &TokenCache, client_id: &str, envs: &[&str]) -> Option<String> {
    c.app_metadata()
        .map(|(_, m)| m)
        .find(|m| {
            same(m.client_id.as_deref(), client_id) && envs.iter().any(|e| same(m.environment.as_deref(), e))
        })
        .map(|m| m.family_id.clone().unwrap_or_default())
}

/// The scopes a response is stored under: its `scope` field when present,
/// else those requested (what MSAL Python's `_obtain_token` does).
fn response_scopes(json: &Json, requested: &[&str]) -> Vec<String> {
    match json.get("scope").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
        _ => requested.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The requested scopes plus MSAL's reserved ones, space-separated.
pub(crate) fn decorate(scopes: &[&str]) -> String {
    let mut v: Vec<&str> = scopes.iter().copied().filter(|s| !RESERVED.contains(s)).collect();
    v.extend(RESERVED);
    v.join(" ")
}

pub(crate) fn check_scopes(scopes: &[&str]) -> Result<()> {
    if scopes.is_empty() || scopes.iter().any(|s| s.trim().is_empty() || s.contains(char::is_whitespace)) {
        return Err(Error::invalid("scopes", "give at least one scope, each without spaces"));
    }
    Ok(())
}

fn same(have: Option<&str>, want: &str) -> bool {
    have.unwrap_or("").eq_ignore_ascii_case(want)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorate_adds_reserved_scopes_once() {
        assert_eq!(decorate(&["User.Read", "openid"]), "User.Read offline_access openid profile");
        assert!(check_scopes(&[]).is_err());
        assert!(check_scopes(&["a b"]).is_err());
        assert!(check_scopes(&["https://graph.microsoft.com/.default"]).is_ok());
    }
}
