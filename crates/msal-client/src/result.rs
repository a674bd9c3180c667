//! What acquisition returns: [`AuthenticationResult`], [`Account`], and the
//! options of a silent request, [`SilentOptions`].

use msal_extensions::Secret;

/// Where a token came from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// Found valid in the token cache: no request was made.
    Cache,
    /// Obtained from the identity provider just now (and stored in the cache).
    IdentityProvider,
}

/// A user known to the token cache: one per `home_account_id` (a person in
/// their home tenant), whichever tenants they signed in to.
///
/// Obtain one from [`PublicClient::accounts`](crate::PublicClient::accounts)
/// (or an [`AuthenticationResult`]) and pass it to `acquire_token_silent`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `<object id>.<home tenant id>`: the key of the user's tokens in the cache.
    pub home_account_id: String,
    /// The authority host the account signed in at, e.g. `login.microsoftonline.com`.
    pub environment: String,
    /// The sign-in name (`preferred_username`), e.g. `alice@contoso.com`; may be empty.
    pub username: String,
    /// The tenant of the entry this account was read from.
    pub tenant_id: Option<String>,
    /// The user's object id in that tenant.
    pub local_account_id: Option<String>,
}

impl Account {
    /// An account known only by its `home_account_id` and environment (for
    /// callers that stored those two themselves).
    pub fn new(home_account_id: &str, environment: &str) -> Self {
        Account {
            home_account_id: home_account_id.to_owned(),
            environment: environment.to_ascii_lowercase(),
            username: String::new(),
            tenant_id: None,
            local_account_id: None,
        }
    }

    pub(crate) fn from_entry(a: &msal_extensions::Account) -> Option<Self> {
        Some(Account {
            home_account_id: a.home_account_id.clone().filter(|h| !h.is_empty())?,
            environment: a.environment.clone().unwrap_or_default(),
            username: a.username.clone().unwrap_or_default(),
            tenant_id: a.realm.clone(),
            local_account_id: a.local_account_id.clone(),
        })
    }
}

/// A token and what is known about it. `Debug` never shows the token.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    /// The access token, to send as `Authorization: <token_type> <token>`.
    pub access_token: Secret,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When the token expires, in unix seconds.
    pub expires_on: i64,
    /// When the identity provider asked for it to be renewed (`refresh_in`),
    /// in unix seconds.
    pub refresh_on: Option<i64>,
    /// The scopes the token is valid for.
    pub scopes: Vec<String>,
    /// The tenant that issued it.
    pub tenant_id: Option<String>,
    /// The signed-in user; `None` for application tokens.
    pub account: Option<Account>,
    /// Whether a request was made.
    pub source: TokenSource,
}

/// Options of a silent request.
///
/// # Examples
/// ```
/// use msal_client::SilentOptions;
/// let o = SilentOptions::new().claims(r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#);
/// # let _ = o;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct SilentOptions {
    /// A claims challenge from a resource (`WWW-Authenticate: ... claims=`):
    /// cached access tokens are skipped and the challenge is sent along.
    pub claims: Option<String>,
    /// Renew even when the cached access token is valid.
    pub force_refresh: bool,
}

impl SilentOptions {
    /// No claims, no forced refresh.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends this claims challenge and skips cached access tokens.
    pub fn claims(mut self, claims: &str) -> Self {
        self.claims = Some(claims.to_owned());
        self
    }

    /// Renews even when a cached access token is valid.
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// Whether a cached access token may answer.
    pub(crate) fn cache_allowed(&self) -> bool {
        !self.force_refresh && self.claims.is_none()
    }
}
