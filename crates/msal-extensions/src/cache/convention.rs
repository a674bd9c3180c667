//! Writing entries every peer on the cache reads, and reading theirs.
//!
//! Two places where Microsoft's MSAL libraries disagree on the same file:
//! - **App-only tokens' `home_account_id`** (client-credentials tokens have no
//!   account). MSAL Python writes `null` and finds only `null`; msal-node
//!   writes `""` and finds only `""`; MSAL .NET and Go omit the field and find
//!   any of the three. No single value serves Python and Node at once, so a
//!   write follows a [`WriteConvention`]: the owner of the cache, or what the
//!   cache already holds. Reads accept every form.
//! - **Host aliases.** One cloud answers under several hosts
//!   (`login.microsoftonline.com`, `login.windows.net`, ...). msal-node and
//!   MSAL .NET store under the cloud's preferred cache alias
//!   (`login.windows.net`) and match any alias when reading, so the same token
//!   stored under two aliases is "two matching tokens" to them (msal-node's
//!   client-credentials lookup then fails with `multiple_matching_tokens`).
//!   Storing an entry therefore replaces the entry with the same identity under
//!   every alias of its cloud, and lookups by environment match any alias.
//!
//! The alias groups are those Microsoft publishes in instance discovery and
//! that msal-common and MSAL .NET ship hard-coded (`docs/design.md` has the
//! whole comparison table).

use super::TokenCache;
use super::model::{AccessToken, Lazy};
use crate::presets::{Owner, Preset};

/// How [`TokenCache::add`] writes what the MSAL libraries disagree on: today
/// the `home_account_id` of app-only (client-credentials) access tokens.
/// Reads accept every convention whatever this says.
///
/// | convention | app-only `home_account_id` | found by |
/// |---|---|---|
/// | [`MsalPython`](Self::MsalPython) | `null` | MSAL Python, .NET, Go, this crate |
/// | [`MsalNode`](Self::MsalNode) | `""` | msal-node, .NET, Go, this crate |
/// | [`MsalDotnet`](Self::MsalDotnet) | `""` | msal-node, .NET, Go, this crate |
///
/// MSAL .NET itself omits the field, which only .NET and Go read: on Windows
/// its shared cache (`%LOCALAPPDATA%\.IdentityService\msal.cache`) is also the
/// file Azure Identity for JavaScript (msal-node) uses, so for a .NET-owned
/// cache this crate writes what msal-node finds too.
///
/// # Examples
/// ```
/// use msal_extensions::{TokenCache, TokenResponse, WriteConvention};
/// let mut cache = TokenCache::new().with_write_convention(WriteConvention::MsalNode);
/// let r = TokenResponse::new(
///     "app", ["https://graph.microsoft.com/.default"],
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com",
///     r#"{"access_token": "at", "expires_in": 3600}"#,
/// )?;
/// cache.add(&r)?;
/// assert!(cache.serialize().contains(r#""home_account_id":"""#));
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum WriteConvention {
    /// Follow the cache: write app-only tokens the way the most recently
    /// cached app-only token in it was written (by whichever library owns the
    /// cache); in a cache that holds none, like [`MsalPython`](Self::MsalPython).
    #[default]
    Mirror,
    /// As MSAL Python (Azure CLI, Azure Identity for Python): `null`.
    MsalPython,
    /// As msal-node (Azure Identity for JavaScript): `""`.
    MsalNode,
    /// For a cache owned by MSAL .NET (Visual Studio, Azure Identity for
    /// .NET, Azure PowerShell): `""` (see the type's documentation).
    MsalDotnet,
}

/// The concrete form an app-only token's `home_account_id` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppAccountId {
    /// `"home_account_id": null` (MSAL Python).
    Null,
    /// `"home_account_id": ""` (msal-node).
    Empty,
}

impl WriteConvention {
    /// The convention of the library that owns `preset`'s cache.
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::{WriteConvention, presets::Preset};
    /// assert_eq!(WriteConvention::for_preset(Preset::AzureCli), WriteConvention::MsalPython);
    /// assert_eq!(WriteConvention::for_preset(Preset::AzureIdentityJs), WriteConvention::MsalNode);
    /// ```
    pub fn for_preset(preset: Preset) -> Self {
        Self::for_owner(preset.owner())
    }

    /// The convention of `owner`, the library that writes a cache.
    pub fn for_owner(owner: Owner) -> Self {
        match owner {
            Owner::MsalPython => Self::MsalPython,
            Owner::MsalNode => Self::MsalNode,
            Owner::MsalDotNet => Self::MsalDotnet,
        }
    }

    /// The form to write in `cache`.
    pub(crate) fn app_account_id(self, cache: &TokenCache) -> AppAccountId {
        match self {
            Self::MsalPython => AppAccountId::Null,
            Self::MsalNode | Self::MsalDotnet => AppAccountId::Empty,
            Self::Mirror => mirrored(cache).unwrap_or(AppAccountId::Null),
        }
    }
}

/// The form of the most recently cached app-only access token, if any.
/// A missing field (MSAL .NET, Go) reads as `""`: those libraries accept
/// either, and `""` also serves msal-node, with which .NET shares caches.
fn mirrored(cache: &TokenCache) -> Option<AppAccountId> {
    cache
        .access_tokens
        .values()
        .filter_map(|at| Some((app_form(at)?, cached_at(at))))
        .max_by_key(|&(_, cached_at)| cached_at)
        .map(|(form, _)| form)
}

/// How an access token stores an absent account, or `None` for a user token.
fn app_form(at: &Lazy<AccessToken>) -> Option<AppAccountId> {
    match at.str_field("home_account_id") {
        Some(h) if h.is_empty() => Some(AppAccountId::Empty),
        Some(_) => None,
        // `null`, absent, or another JSON type: only a parse tells which.
        None => match at.extra.get("home_account_id") {
            Some(serde_json::Value::Null) => Some(AppAccountId::Null),
            Some(_) => None,
            None => Some(AppAccountId::Empty),
        },
    }
}

fn cached_at(at: &Lazy<AccessToken>) -> i64 {
    match at.str_field("cached_at") {
        Some(s) => s.trim().parse().unwrap_or(0),
        None => at.cached_at.unwrap_or(0),
    }
}

/// The alias groups of Microsoft's clouds, as instance discovery publishes
/// them (and msal-common and MSAL .NET ship them hard-coded).
const CLOUDS: &[&[&str]] = &[
    &["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
    &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    &["login.microsoftonline.de"],
    &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    &["login-us.microsoftonline.com"],
    &["login.sovcloud-identity.fr"],
    &["login.sovcloud-identity.de"],
    &["login.sovcloud-identity.sg"],
];

/// The hosts under which the cloud of `environment` (an authority host such
/// as `login.microsoftonline.com`) stores tokens, `environment`'s own spelling
/// included; just `environment` for a host outside Microsoft's known clouds
/// (ADFS, B2C, CIAM and custom domains have no aliases).
///
/// # Examples
/// ```
/// let aliases = msal_extensions::cache::environment_aliases("Login.Windows.Net");
/// assert!(aliases.contains(&"login.microsoftonline.com"));
/// assert_eq!(msal_extensions::cache::environment_aliases("contoso.b2clogin.com"), ["contoso.b2clogin.com"]);
/// ```
pub fn environment_aliases(environment: &str) -> Vec<&str> {
    match cloud_of(environment) {
        Some(group) => group.to_vec(),
        None => vec![environment],
    }
}

/// Whether `host` is one of Microsoft's Entra ID hosts (any cloud, any
/// alias), i.e. has a published alias group; ADFS, B2C, CIAM and custom
/// domains are not.
///
/// # Examples
/// ```
/// assert!(msal_extensions::cache::is_microsoft_cloud_host("login.microsoftonline.us"));
/// assert!(!msal_extensions::cache::is_microsoft_cloud_host("login.contoso.com"));
/// ```
pub fn is_microsoft_cloud_host(host: &str) -> bool {
    cloud_of(host).is_some()
}

fn cloud_of(environment: &str) -> Option<&'static [&'static str]> {
    CLOUDS.iter().copied().find(|group| group.iter().any(|h| h.eq_ignore_ascii_case(environment)))
}

/// Whether two environments name the same cloud: equal ignoring case, or
/// aliases of one another.
pub(crate) fn same_cloud(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || cloud_of(a).is_some_and(|group| group.iter().any(|h| h.eq_ignore_ascii_case(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_group_by_cloud_only() {
        assert!(same_cloud("login.windows.net", "LOGIN.MICROSOFTONLINE.COM"));
        assert!(same_cloud("sts.windows.net", "login.microsoft.com"));
        assert!(same_cloud("login.chinacloudapi.cn", "login.partner.microsoftonline.cn"));
        assert!(!same_cloud("login.microsoftonline.com", "login.microsoftonline.us"));
        assert!(!same_cloud("login.microsoftonline.de", "login.microsoftonline.com"));
        assert!(same_cloud("adfs.contoso.com", "ADFS.contoso.com"));
        assert!(!same_cloud("adfs.contoso.com", "login.microsoftonline.com"));
        assert!(!same_cloud("", "login.microsoftonline.com"));
    }

    #[test]
    fn presets_map_to_their_owner() {
        for p in Preset::ALL {
            assert_ne!(WriteConvention::for_preset(p), WriteConvention::Mirror, "{p}");
        }
    }
}
