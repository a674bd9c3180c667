//! [`TokenCache::add`]: store one token-endpoint response the way MSAL Python
//! 1.39 does (`TokenCache.__add`), entry for entry and field for field.

use std::fmt;

use serde_json::{Map, Value, json};

use super::jwt;
use super::model::{AccessToken, Account, AppMetadata, EntryFields, IdToken, Lazy, RefreshToken};
use super::{Section, TokenCache};
use crate::error::{Error, Result};

/// Grants after which MSAL Python records `account_source` on the account.
const ACCOUNT_SOURCES: [&str; 5] =
    ["broker", "authorization_code", "password", "urn:ietf:params:oauth:grant-type:device_code", "user_fic"];

/// One successful token-endpoint response with the request context MSAL
/// stores alongside it: client id, requested scopes, authority.
///
/// # Examples
/// ```
/// use msal_extensions::TokenResponse;
/// let r = TokenResponse::new(
///     "client", ["User.Read"],
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
///     r#"{"access_token": "a", "expires_in": "3599"}"#,
/// )?
/// .grant_type("authorization_code");
/// assert_eq!(r.environment(), "login.microsoftonline.com");
/// assert_eq!(r.realm(), "contoso.onmicrosoft.com");
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenResponse {
    client_id: String,
    scopes: Vec<String>,
    environment: String,
    realm: String,
    pub(super) response: Map<String, Value>,
    grant_type: Option<String>,
    username: Option<String>,
    key_id: Option<String>,
    skip_account: bool,
}

impl TokenResponse {
    /// A response (`response_json`, the token endpoint's body) to a request
    /// by `client_id` for `scopes` at `authority` (an authority URL such as
    /// `https://login.microsoftonline.com/<tenant>` or its token endpoint).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the authority is not an `https` URL with
    /// a tenant, or the response is not a JSON object.
    pub fn new<S: Into<String>>(
        client_id: &str,
        scopes: impl IntoIterator<Item = S>,
        authority: &str,
        response_json: &str,
    ) -> Result<Self> {
        let response = serde_json::from_str(response_json)
            // Never `{e}`: serde_json quotes unexpected values, e.g. a bare token string.
            .map_err(|e| Error::invalid("token response", super::describe(&e)))?;
        Self::from_value(client_id, scopes, authority, response)
    }

    /// Like [`new`](Self::new) with the response already parsed.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_value<S: Into<String>>(
        client_id: &str,
        scopes: impl IntoIterator<Item = S>,
        authority: &str,
        response: Value,
    ) -> Result<Self> {
        let Value::Object(response) = response else {
            return Err(Error::invalid("token response", "not a JSON object"));
        };
        let (environment, realm) = parse_authority(authority)?;
        Ok(TokenResponse {
            client_id: client_id.to_owned(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            environment,
            realm,
            response,
            grant_type: None,
            username: None,
            key_id: None,
            skip_account: false,
        })
    }

    /// Overrides the environment (authority host) taken from the authority,
    /// as MSAL does when the authority is an alias of the canonical host.
    pub fn environment_override(mut self, environment: &str) -> Self {
        self.environment = environment.to_owned();
        self
    }

    /// The OAuth2 grant that produced the response, e.g. `"authorization_code"`
    /// or `"client_credentials"`; an account records it as `account_source`.
    pub fn grant_type(mut self, grant_type: &str) -> Self {
        self.grant_type = Some(grant_type.to_owned());
        self
    }

    /// The username sent with the request (ROPC), used when the id token has none.
    pub fn username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The `key_id` sent with the request (proof-of-possession or SSH certificate tokens).
    pub fn key_id(mut self, key_id: &str) -> Self {
        self.key_id = Some(key_id.to_owned());
        self
    }

    /// Writes no `Account` entry, as MSAL Python does for a refresh-token
    /// grant (`skip_account_creation`), so that renewing a token cannot
    /// bring back an account that another process just removed.
    pub fn skip_account_creation(mut self) -> Self {
        self.skip_account = true;
        self
    }

    /// The authority host, lower-cased.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The tenant from the authority's path.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

/// Never shows the response body: it holds the tokens.
impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("environment", &self.environment)
            .field("realm", &self.realm)
            .field("response_fields", &self.response.keys().collect::<Vec<_>>())
            .field("grant_type", &self.grant_type)
            .finish()
    }
}

/// `https://Host[:port]/tenant/...` → (`host`, `tenant`), like MSAL Python's `canonicalize`.
fn parse_authority(authority: &str) -> Result<(String, String)> {
    let bad = |why: &str| Error::invalid("authority", format!("{why}: {authority:?}"));
    let rest = authority.strip_prefix("https://").ok_or_else(|| bad("not an https URL"))?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let first = path.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(sub) = host.strip_suffix(".ciamlogin.com") {
        let tenant = if first.is_empty() { format!("{sub}.onmicrosoft.com") } else { first.to_owned() };
        return Ok((host, tenant));
    }
    if first.is_empty() {
        return Err(bad("no tenant in the path"));
    }
    Ok((host, first.to_owned()))
}

/// The identity MSAL derives from a response: `home_account_id` and the id token claims.
pub(super) struct Identity {
    pub(super) home_account_id: Option<String>,
    has_client_info: bool,
    claims: Map<String, Value>,
}

pub(super) fn identity(r: &Map<String, Value>) -> Result<Identity> {
    let claims = match r.get("id_token_claims") {
        Some(Value::Object(c)) => c.clone(),
        _ => match r.get("id_token") {
            Some(Value::String(t)) => jwt::jwt_claims(t)
                .ok_or_else(|| Error::invalid("token response", "id_token is not a decodable JWT"))?,
            _ => Map::new(),
        },
    };
    if let Some(ci) = r.get("client_info") {
        let info = ci
            .as_str()
            .and_then(jwt::decode_json_object)
            .ok_or_else(|| Error::invalid("token response", "client_info is not base64url JSON"))?;
        if let (Some(uid), Some(utid)) = (info.get("uid"), info.get("utid")) {
            let hai = format!("{}.{}", py_str(uid), py_str(utid));
            return Ok(Identity { home_account_id: Some(hai), has_client_info: true, claims });
        }
    }
    let sub = claims.get("sub").map(py_str);
    let has_client_info = sub.is_some(); // Python then records {"uid": sub}: an account is written
    Ok(Identity { home_account_id: sub, has_client_info, claims })
}

/// How Python's `str.format` renders a JSON value in `"{uid}.{utid}"`.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads `expires_in`-like values: a number or a string of an integer (Python's `int()`).
fn seconds(v: &Value, what: &'static str) -> Result<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        _ => None,
    }
    .ok_or_else(|| Error::invalid("token response", format!("{what} is not a number of seconds")))
}

/// Builds an entry from `(field, value)` pairs, in the order MSAL Python writes them.
fn build<E: EntryFields>(fields: Vec<(&str, Value)>) -> E {
    let mut e = E::default();
    for (k, v) in fields {
        e.set(k, v);
    }
    e
}

fn opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// Entries computed from one response, before any is stored (so a bad
/// response changes nothing).
struct Planned {
    at: Option<AccessToken>,
    account: Option<Account>,
    idt: Option<IdToken>,
    rt: Option<RefreshToken>,
    app: AppMetadata,
}

impl TokenResponse {
    fn plan(&self, now: i64) -> Result<Planned> {
        let who = identity(&self.response)?;
        let target = {
            let mut s: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
            s.sort_unstable();
            s.join(" ")
        };
        Ok(Planned {
            at: self.plan_at(&who, &target, now)?,
            account: (who.has_client_info && !self.skip_account).then(|| self.plan_account(&who)),
            idt: self.response.get("id_token").filter(|t| truthy(t)).map(|t| self.plan_idt(&who, t)),
            rt: self
                .response
                .get("refresh_token")
                .filter(|t| truthy(t))
                .map(|t| self.plan_rt(&who, t, &target, now)),
            app: self.plan_app(),
        })
    }

    fn plan_at(&self, who: &Identity, target: &str, now: i64) -> Result<Option<AccessToken>> {
        let r = &self.response;
        let Some(secret) = r.get("access_token").filter(|t| truthy(t)) else { return Ok(None) };
        let default_in = match r.get("expires_on").filter(|v| truthy(v)) {
            Some(on) => seconds(on, "expires_on")? - now,
            None => 600,
        };
        let expires_in = r.get("expires_in").map_or(Ok(default_in), |v| seconds(v, "expires_in"))?;
        let ext_in = r.get("ext_expires_in").map_or(Ok(expires_in), |v| seconds(v, "ext_expires_in"))?;
        let mut f = vec![
            ("credential_type", json!("AccessToken")),
            ("secret", secret.clone()),
            ("home_account_id", opt(&who.home_account_id)),
            ("environment", json!(self.environment)),
            ("client_id", json!(self.client_id)),
            ("target", json!(target)),
            ("realm", json!(self.realm)),
            ("token_type", r.get("token_type").cloned().unwrap_or_else(|| json!("Bearer"))),
            ("cached_at", json!(now.to_string())),
            ("expires_on", json!((now + expires_in).to_string())),
            ("extended_expires_on", json!((now + ext_in).to_string())),
        ];
        if let Some(k) = &self.key_id {
            f.push(("key_id", json!(k)));
        }
        if let Some(v) = r.get("refresh_in") {
            f.push(("refresh_on", json!((now + seconds(v, "refresh_in")?).to_string())));
        }
        Ok(Some(build(f)))
    }

    fn plan_account(&self, who: &Identity) -> Account {
        let c = &who.claims;
        let local = c.get("oid").or_else(|| c.get("sub")).cloned().unwrap_or(Value::Null);
        let username = [c.get("preferred_username"), c.get("upn")]
            .into_iter()
            .flatten()
            .find(|v| truthy(v))
            .cloned()
            .or_else(|| self.username.as_ref().map(|u| json!(u)))
            .unwrap_or_else(|| json!(""));
        let authority_type = if self.realm == "adfs" { "ADFS" } else { "MSSTS" };
        let mut f = vec![
            ("home_account_id", opt(&who.home_account_id)),
            ("environment", json!(self.environment)),
            ("realm", json!(self.realm)),
            ("local_account_id", local),
            ("username", username),
            ("authority_type", json!(authority_type)),
        ];
        if let Some(g) = self.grant_type.as_deref().filter(|g| ACCOUNT_SOURCES.contains(g)) {
            f.push(("account_source", json!(g)));
        }
        build(f)
    }

    fn plan_idt(&self, who: &Identity, token: &Value) -> IdToken {
        build(vec![
            ("credential_type", json!("IdToken")),
            ("secret", token.clone()),
            ("home_account_id", opt(&who.home_account_id)),
            ("environment", json!(self.environment)),
            ("realm", json!(self.realm)),
            ("client_id", json!(self.client_id)),
        ])
    }

    fn plan_rt(&self, who: &Identity, token: &Value, target: &str, now: i64) -> RefreshToken {
        let mut f = vec![
            ("credential_type", json!("RefreshToken")),
            ("secret", token.clone()),
            ("home_account_id", opt(&who.home_account_id)),
            ("environment", json!(self.environment)),
            ("client_id", json!(self.client_id)),
            ("target", json!(target)),
            ("last_modification_time", json!(now.to_string())),
        ];
        if let Some(foci) = self.response.get("foci") {
            f.push(("family_id", foci.clone()));
        }
        build(f)
    }

    fn plan_app(&self) -> AppMetadata {
        let mut f = vec![("client_id", json!(self.client_id)), ("environment", json!(self.environment))];
        if let Some(foci) = self.response.get("foci") {
            f.push(("family_id", foci.clone()));
        }
        build(f)
    }
}

/// Python truthiness of a JSON value (`if access_token:`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Bool(true) => true,
    }
}

fn lower(s: &Option<String>) -> String {
    s.as_deref().unwrap_or("").to_lowercase()
}

/// MSAL Python's keys (see `TokenCache.key_makers`).
pub(crate) fn at_key(e: &AccessToken) -> String {
    let ext = e.extra.get("ext_cache_key").and_then(Value::as_str).filter(|s| !s.is_empty());
    let kind = if ext.is_some() { "atext" } else { "AccessToken" };
    let mut k = [lower(&e.home_account_id), lower(&e.environment), kind.to_lowercase(), lower(&e.client_id)]
        .join("-");
    for part in [lower(&e.realm), lower(&e.target)] {
        k.push('-');
        k.push_str(&part);
    }
    if let Some(x) = ext {
        k.push('-');
        k.push_str(&x.to_lowercase());
    }
    k
}

pub(crate) fn rt_key(e: &RefreshToken) -> String {
    let parts =
        [&e.home_account_id, &e.environment, &Some("RefreshToken".into()), &e.client_id, &None, &e.target];
    parts.iter().map(|p| lower(p)).collect::<Vec<_>>().join("-")
}

pub(crate) fn idt_key(e: &IdToken) -> String {
    let parts = [&e.home_account_id, &e.environment, &Some("IdToken".into()), &e.client_id, &e.realm, &None];
    parts.iter().map(|p| lower(p)).collect::<Vec<_>>().join("-")
}

pub(crate) fn account_key(e: &Account) -> String {
    [lower(&e.home_account_id), lower(&e.environment), lower(&e.realm)].join("-")
}

/// Not lower-cased: MSAL Python does not lower-case this one.
pub(crate) fn app_key(e: &AppMetadata) -> String {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    format!("appmetadata-{}-{}", s(&e.environment), s(&e.client_id))
}

/// Case-insensitive equality of two optional strings, `None` equal to `""`
/// (SDKs write a missing value either way).
pub(crate) fn same(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().unwrap_or("").eq_ignore_ascii_case(b.as_deref().unwrap_or(""))
}

/// The same cloud: equal ignoring case, or aliases of one cloud (see
/// `convention.rs`). `None` and `""` are equal, as in [`same`].
pub(crate) fn same_env(a: &Option<String>, b: &Option<String>) -> bool {
    super::convention::same_cloud(a.as_deref().unwrap_or(""), b.as_deref().unwrap_or(""))
}

/// Equal scope sets, ignoring case and order.
pub(crate) fn same_target(a: &Option<String>, b: &Option<String>) -> bool {
    super::unique_scopes(a.as_deref().unwrap_or("")) == super::unique_scopes(b.as_deref().unwrap_or(""))
}

pub(super) fn same_at(a: &AccessToken, b: &AccessToken) -> bool {
    same(&a.home_account_id, &b.home_account_id)
        && same_env(&a.environment, &b.environment)
        && same(&a.client_id, &b.client_id)
        && same(&a.realm, &b.realm)
        && a.extra.get("ext_cache_key") == b.extra.get("ext_cache_key")
        && same_target(&a.target, &b.target)
}

/// Whether a stored refresh token has the identity of `new` (account,
/// environment, client, scopes), read from its fields without parsing it.
pub(super) fn same_rt(stored: &Lazy<RefreshToken>, new: &RefreshToken) -> bool {
    let field = |name| stored.str_field(name);
    let same_str = |name, want: &Option<String>| {
        field(name).as_deref().unwrap_or("").eq_ignore_ascii_case(want.as_deref().unwrap_or(""))
    };
    same_str("home_account_id", &new.home_account_id)
        && super::convention::same_cloud(
            field("environment").as_deref().unwrap_or(""),
            new.environment.as_deref().unwrap_or(""),
        )
        && same_str("client_id", &new.client_id)
        && super::unique_scopes(field("target").as_deref().unwrap_or(""))
            == super::unique_scopes(new.target.as_deref().unwrap_or(""))
}

pub(super) fn same_idt(a: &IdToken, b: &IdToken) -> bool {
    same(&a.home_account_id, &b.home_account_id)
        && same_env(&a.environment, &b.environment)
        && same(&a.client_id, &b.client_id)
        && same(&a.realm, &b.realm)
}

pub(super) fn same_account(a: &Account, b: &Account) -> bool {
    same(&a.home_account_id, &b.home_account_id)
        && same_env(&a.environment, &b.environment)
        && same(&a.realm, &b.realm)
}

pub(super) fn same_app(a: &AppMetadata, b: &AppMetadata) -> bool {
    same_env(&a.environment, &b.environment) && same(&a.client_id, &b.client_id)
}

/// Whether an entry names its cloud. An entry without an `environment`
/// belongs to no cloud and is found by no MSAL library's lookup, so it is
/// nobody's duplicate: such entries are told apart by their keys only
/// (treating them all as one identity would collapse unrelated entries).
pub(super) fn identified(environment: Option<&str>) -> bool {
    environment.is_some_and(|e| !e.is_empty())
}

/// Positions in `section`, ascending, of the entries that hold what `entry`
/// under `key` is: the entry stored under `key` and, when `entry` names its
/// cloud, every entry with its identity (`same`) under another key, whatever
/// alias of that cloud it was stored under.
pub(super) fn holders<E, N>(
    section: &Section<E>,
    key: &str,
    entry: &N,
    identified: bool,
    same: impl Fn(&E, &N) -> bool,
) -> Vec<usize> {
    let at_key = section.get_index_of(key);
    if !identified {
        return at_key.into_iter().collect();
    }
    let same_identity = |(p, (_, e)): &(usize, (&String, &E))| Some(*p) == at_key || same(e, entry);
    section.iter().enumerate().filter(same_identity).map(|(p, _)| p).collect()
}

/// Stores `entry` under `key`, removing the entries at `holders` (from
/// [`holders`]) stored under other keys; an entry already under `key` is
/// replaced in place. With `carry`, first carries the extra fields of the
/// entry being replaced (the one under `key`, else the first holder) into
/// `entry` (see [`carry_extras`]). Returns `true` when removals shifted
/// positions.
pub(super) fn put<E>(
    section: &mut Section<E>,
    key: String,
    mut entry: E,
    holders: &[usize],
    carry: Option<fn(&mut E, &E)>,
) -> bool {
    if let Some(carry) = carry {
        let old =
            section.get(&key).or_else(|| holders.first().and_then(|&p| section.get_index(p)).map(|(_, e)| e));
        if let Some(old) = old {
            carry(&mut entry, old);
        }
    }
    let mut moved = false;
    for &p in holders.iter().rev() {
        if section.get_index(p).is_some_and(|(k, _)| *k != key) {
            section.shift_remove_index(p);
            moved = true;
        }
    }
    section.insert(key, entry);
    moved
}

/// Carries over the extra fields of the entry being replaced (other SDKs'
/// account and app data such as .NET's `wam_account_ids`), unless the new
/// entry sets them. Only for accounts and app metadata: credentials are not
/// merged, an old token's extras (a key id, .NET's `ext`) describe that token only.
pub(super) fn carry_extras<E: EntryFields>(entry: &mut E, old: &E) {
    for (k, v) in old.extra() {
        if !entry.has_known(k) && !entry.extra().contains_key(k) {
            entry.extra_mut().insert(k.clone(), v.clone());
        }
    }
}

impl TokenCache {
    /// Stores one token response, at the current time.
    ///
    /// # Errors
    /// As [`add_at`](Self::add_at).
    pub fn add(&mut self, response: &TokenResponse) -> Result<()> {
        self.add_at(response, crate::cache::query::unix_now())
    }

    /// Stores one token response as if received at `now` (unix seconds):
    /// the access token, account, id token, refresh token and app metadata
    /// entries MSAL Python 1.39 writes for it, an app-only token's
    /// `home_account_id` as the cache's [`WriteConvention`](super::WriteConvention)
    /// says. Each replaces the entry with the same identity (under any key,
    /// and under any alias of the same cloud, so that no MSAL library finds
    /// two matching entries).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `expires_in` (or `ext_expires_in`,
    /// `refresh_in`, `expires_on`) is not a number of seconds, `client_info`
    /// is not base64url JSON, or the `id_token` cannot be decoded. The cache
    /// is unchanged then.
    pub fn add_at(&mut self, response: &TokenResponse, now: i64) -> Result<()> {
        let p = response.plan(now)?;
        self.note_change();
        if let Some(mut at) = p.at {
            if at.home_account_id.is_none() {
                // App-only: the form the cache's owner reads (see `WriteConvention`).
                let form = self.convention.app_account_id(self);
                if form == super::convention::AppAccountId::Empty {
                    at.set("home_account_id", json!(""));
                }
            }
            self.upsert_access_token(at);
        }
        if let Some(a) = p.account {
            let (key, ident) = (account_key(&a), identified(a.environment.as_deref()));
            let h = holders(&self.accounts, &key, &a, ident, same_account);
            put(&mut self.accounts, key, a, &h, Some(carry_extras));
        }
        if let Some(i) = p.idt {
            let (key, ident) = (idt_key(&i), identified(i.environment.as_deref()));
            let h = holders(&self.id_tokens, &key, &i, ident, same_idt);
            put(&mut self.id_tokens, key, i, &h, None);
        }
        if let Some(r) = p.rt {
            let key = rt_key(&r);
            let h = self.rt_holders(&key, &r);
            put(&mut self.refresh_tokens, key, Lazy::new(r), &h, None);
        }
        let (key, ident) = (app_key(&p.app), identified(p.app.environment.as_deref()));
        let h = holders(&self.app_metadata, &key, &p.app, ident, same_app);
        put(&mut self.app_metadata, key, p.app, &h, Some(carry_extras));
        Ok(())
    }

    /// Positions of the refresh tokens holding `rt`'s identity or stored
    /// under `key` (see [`holders`]), read without parsing them.
    pub(super) fn rt_holders(&self, key: &str, rt: &RefreshToken) -> Vec<usize> {
        holders(&self.refresh_tokens, key, rt, identified(rt.environment.as_deref()), same_rt)
    }

    /// Positions of the access tokens holding `at`'s identity or stored
    /// under `key` (see [`holders`]). Only entries sharing the token's first
    /// scope can have its identity, so the scope index narrows the search
    /// and untouched entries stay unparsed.
    pub(super) fn at_holders(&self, key: &str, at: &AccessToken) -> Vec<usize> {
        let at_key = self.access_tokens.get_index_of(key);
        if !identified(at.environment.as_deref()) {
            return at_key.into_iter().collect();
        }
        let first =
            at.target.as_deref().and_then(|t| t.split_whitespace().next()).map(str::to_ascii_lowercase);
        let candidates: Vec<usize> = match &first {
            Some(f) => self.scope_index().get(f).cloned().unwrap_or_default(),
            None => (0..self.access_tokens.len()).collect(),
        };
        let mut v: Vec<usize> = candidates
            .into_iter()
            .filter(|&p| {
                Some(p) != at_key && self.access_tokens.get_index(p).is_some_and(|(_, e)| same_at(e, at))
            })
            .chain(at_key)
            .collect();
        v.sort_unstable();
        v
    }

    /// Stores an access token under `key`, removing the entries at `holders`
    /// (from [`at_holders`](Self::at_holders)) under other keys, and keeps
    /// the scope index right.
    pub(super) fn put_access_token(&mut self, key: String, at: Lazy<AccessToken>, holders: &[usize]) {
        let scopes =
            |e: &Lazy<AccessToken>| super::unique_scopes(e.str_field("target").as_deref().unwrap_or(""));
        let replaced_scopes = self.access_tokens.get(&key).map(scopes);
        let new_scopes = replaced_scopes.as_ref().map(|_| scopes(&at));
        let moved = put(&mut self.access_tokens, key.clone(), at, holders, None);
        match replaced_scopes {
            _ if moved => self.invalidate_index(),
            None => {
                let pos = self.access_tokens.len() - 1;
                self.index_appended(pos);
            }
            // Replaced in place: the index holds the position under the old scopes.
            Some(old) if new_scopes.as_ref() != Some(&old) => self.invalidate_index(),
            Some(_) => {}
        }
    }

    /// Stores an access token under MSAL Python's key, removing the entries
    /// with the same identity under other keys and other aliases.
    pub(crate) fn upsert_access_token(&mut self, at: AccessToken) {
        let key = at_key(&at);
        let holders = self.at_holders(&key, &at);
        self.put_access_token(key, Lazy::new(at), &holders);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        let p = |a| parse_authority(a).unwrap();
        assert_eq!(
            p("https://Login.MicrosoftOnline.com/contoso/oauth2/v2.0/token").0,
            "login.microsoftonline.com"
        );
        assert_eq!(p("https://login.microsoftonline.com/contoso").1, "contoso");
        assert_eq!(p("https://host:443/t?x=1").1, "t");
        assert_eq!(p("https://contoso.ciamlogin.com/").1, "contoso.onmicrosoft.com");
        for bad in ["http://x/t", "https:///t", "https://host", "https://host/", "x"] {
            assert!(matches!(parse_authority(bad), Err(Error::InvalidInput { .. })), "{bad}");
        }
    }

    /// A write merged late (a queued replay) never replaces the tokens
    /// another writer stored meanwhile; a newer write does.
    #[test]
    fn merge_entries_never_replaces_a_token_by_an_older_one() {
        let ci = "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"; // {"uid":"u","utid":"t"}
        let at = |secret: &str, now: i64| {
            let body = format!(
                r#"{{"access_token":"at-{secret}","expires_in":3600,"refresh_token":"rt-{secret}","client_info":"{ci}"}}"#
            );
            let r =
                TokenResponse::new("c", ["User.Read"], "https://login.microsoftonline.com/t", &body).unwrap();
            let mut c = TokenCache::new();
            c.add_at(&r, now).unwrap();
            c
        };
        let secrets = |c: &TokenCache| {
            let a = c.access_tokens().map(|(_, t)| t.secret.as_ref().unwrap().expose().to_owned());
            let r = c.refresh_tokens().map(|(_, t)| t.secret.as_ref().unwrap().expose().to_owned());
            a.chain(r).collect::<Vec<_>>()
        };
        let (old, new) = (at("old", 100), at("new", 200));

        let mut stored = new.clone();
        assert!(!stored.merge_entries(&old), "an older write changes nothing");
        assert_eq!(secrets(&stored), ["at-new", "rt-new"]);

        let mut stored = old.clone();
        assert!(stored.merge_entries(&new));
        assert_eq!(secrets(&stored), ["at-new", "rt-new"]);

        // Of two equally old entries, the write's wins (it is the later write).
        let mut stored = at("first", 200);
        assert!(stored.merge_entries(&new));
        assert_eq!(secrets(&stored), ["at-new", "rt-new"]);
    }

    /// The same for a token stored under another alias of the cloud: an
    /// older write under `login.microsoftonline.com` does not replace the
    /// newer token under `login.windows.net`; a newer one replaces it, leaving one.
    #[test]
    fn merge_entries_compares_age_across_aliases() {
        let at = |host: &str, secret: &str, now: i64| {
            let body = format!(r#"{{"access_token":"at-{secret}","expires_in":3600}}"#);
            let r = TokenResponse::new("c", ["User.Read"], &format!("https://{host}/t"), &body).unwrap();
            let mut c = TokenCache::new();
            c.add_at(&r, now).unwrap();
            c
        };
        let secrets = |c: &TokenCache| {
            c.access_tokens().map(|(_, t)| t.secret.as_ref().unwrap().expose().to_owned()).collect::<Vec<_>>()
        };
        // (Its app metadata, which has no time, is the later write's: that may move.)
        let mut stored = at("login.windows.net", "new", 200);
        stored.merge_entries(&at("login.microsoftonline.com", "old", 100));
        assert_eq!(secrets(&stored), ["at-new"]);
        assert_eq!(
            stored.access_tokens().next().unwrap().1.environment.as_deref(),
            Some("login.windows.net")
        );
        let mut stored = at("login.windows.net", "old", 100);
        assert!(stored.merge_entries(&at("login.microsoftonline.com", "new", 200)));
        assert_eq!(secrets(&stored), ["at-new"]);
    }

    #[test]
    fn truthiness_matches_python() {
        assert!(!truthy(&json!("")) && !truthy(&Value::Null) && truthy(&json!("x")));
    }
}
