//! [`Authority`]: where tokens come from, and how its endpoints are found.
//!
//! Entra ID hosts (the public cloud, the sovereign clouds, and any host the
//! caller declares Entra-compatible with [`Authority::entra`]) have fixed
//! endpoint paths, so their token, device-code and authorize endpoints are
//! derived from the host and tenant without a request, as MSAL.NET does: a
//! cold renewal costs one HTTP request. Other hosts publish their endpoints
//! in an OpenID Connect discovery document, fetched once per process and
//! authority URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::http::Http;

/// The public cloud's host.
pub const AZURE_PUBLIC: &str = "login.microsoftonline.com";
/// The US Government cloud's host.
pub const AZURE_US_GOVERNMENT: &str = "login.microsoftonline.us";
/// The cloud operated by 21Vianet in China.
pub const AZURE_CHINA: &str = "login.partner.microsoftonline.cn";

/// `true` when `host` (without port) is one of Microsoft's Entra ID hosts.
pub fn is_known_entra_host(host: &str) -> bool {
    msal_extensions::cache::is_microsoft_cloud_host(host)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Endpoints derived from host and tenant.
    Entra,
    /// Endpoints read from this discovery document.
    Oidc { discovery_url: String },
}

/// The identity provider and tenant tokens are requested from.
///
/// # Which constructor?
/// | you have | use |
/// |---|---|
/// | a tenant on Microsoft's public cloud | [`Authority::public_cloud`] |
/// | a sovereign or private Entra ID cloud, or any host that serves Entra's endpoint paths | [`Authority::entra`] |
/// | an authority URL from configuration | [`Authority::parse`] |
/// | another OpenID Connect provider (its issuer URL) | [`Authority::oidc`] |
///
/// The tenant is a tenant id (GUID), a tenant domain name, or one of
/// `common` (work, school and personal accounts), `organizations` (work and
/// school) and `consumers` (personal Microsoft accounts).
///
/// # Examples
/// ```
/// use msal_client::Authority;
/// let a = Authority::public_cloud("organizations")?;
/// assert_eq!(a.url(), "https://login.microsoftonline.com/organizations");
/// let b = Authority::parse("https://login.microsoftonline.us/contoso.onmicrosoft.com")?;
/// assert!(b.is_entra());
/// // A host you declare Entra-compatible: no discovery request.
/// let c = Authority::entra("login.contoso-cloud.example:8443", "my-tenant")?;
/// assert_eq!(c.environment(), "login.contoso-cloud.example");
/// # Ok::<(), msal_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lower-cased `host[:port]`.
    host: String,
    tenant: String,
    kind: Kind,
}

impl Authority {
    /// `tenant` on Microsoft's public cloud (`login.microsoftonline.com`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the tenant is empty or holds `/`, `?`, `#` or spaces.
    pub fn public_cloud(tenant: &str) -> Result<Self> {
        Self::entra(AZURE_PUBLIC, tenant)
    }

    /// `tenant` on `host` (`name[:port]`), treated as an Entra ID host: its
    /// endpoints are `https://<host>/<tenant>/oauth2/v2.0/{token,devicecode,authorize}`,
    /// derived without a discovery request. Use it for Microsoft's clouds
    /// and for private clouds or gateways that serve the same paths.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty host or a malformed tenant.
    pub fn entra(host: &str, tenant: &str) -> Result<Self> {
        Ok(Authority { host: check_host(host)?, tenant: check_tenant(tenant)?, kind: Kind::Entra })
    }

    /// An OpenID Connect provider identified by its issuer URL: endpoints come
    /// from `<issuer>/.well-known/openid-configuration`, fetched on first use
    /// and kept for the life of the process. The tenant is the issuer's first
    /// path segment.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `issuer` is not `https://host/path`.
    pub fn oidc(issuer: &str) -> Result<Self> {
        let (host, tenant) = split_url(issuer)?;
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        Ok(Authority { host, tenant, kind: Kind::Oidc { discovery_url } })
    }

    /// An authority URL `https://host/tenant`. A known Entra ID host gives an
    /// Entra authority (no discovery); any other host is discovered at
    /// `<url>/v2.0/.well-known/openid-configuration`, the path MSAL uses for
    /// hosts it does not know.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `url` is not `https://host/tenant`.
    pub fn parse(url: &str) -> Result<Self> {
        let (host, tenant) = split_url(url)?;
        if is_known_entra_host(host_only(&host)) {
            return Ok(Authority { host, tenant, kind: Kind::Entra });
        }
        let discovery_url = format!("https://{host}/{tenant}/v2.0/.well-known/openid-configuration");
        Ok(Authority { host, tenant, kind: Kind::Oidc { discovery_url } })
    }

    /// `https://host[:port]/tenant` (a trailing `/` allowed, nothing more in
    /// the path) as an Entra authority, whatever the host: what
    /// [`entra`](Self::entra) makes of that host and tenant. For authority
    /// URLs from configuration or command lines that are Entra ID (or serve
    /// its endpoint paths) by declaration.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `url` is not `https://host[:port]/tenant`.
    ///
    /// # Examples
    /// ```
    /// use msal_client::Authority;
    /// let a = Authority::parse_entra("https://login.contoso-cloud.example:8443/my-tenant/")?;
    /// assert!(a.is_entra());
    /// assert_eq!((a.host(), a.tenant()), ("login.contoso-cloud.example:8443", "my-tenant"));
    /// assert!(Authority::parse_entra("https://host/tenant/more").is_err());
    /// # Ok::<(), msal_client::Error>(())
    /// ```
    pub fn parse_entra(url: &str) -> Result<Self> {
        let (host, tenant, rest) = split_url_rest(url)?;
        if !(rest.is_empty() || rest == "/") {
            return Err(Error::invalid(
                "authority",
                format!("more than a tenant in the path: {url:?} (expected https://host[:port]/tenant)"),
            ));
        }
        Self::entra(&host, &tenant)
    }

    /// The same host with another tenant. A discovered authority's new
    /// tenant is discovered at `https://<host>/<tenant>/v2.0/.well-known/openid-configuration`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed tenant.
    pub fn with_tenant(&self, tenant: &str) -> Result<Self> {
        let tenant = check_tenant(tenant)?;
        let kind = match &self.kind {
            Kind::Entra => Kind::Entra,
            Kind::Oidc { .. } => Kind::Oidc {
                discovery_url: format!(
                    "https://{}/{tenant}/v2.0/.well-known/openid-configuration",
                    self.host
                ),
            },
        };
        Ok(Authority { host: self.host.clone(), tenant, kind })
    }

    /// `host[:port]`, lower-cased.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without port: the `environment` of cache entries.
    pub fn environment(&self) -> &str {
        host_only(&self.host)
    }

    /// The tenant as given.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `https://host/tenant`.
    pub fn url(&self) -> String {
        format!("https://{}/{}", self.host, self.tenant)
    }

    /// `true` when endpoints are derived without discovery.
    pub fn is_entra(&self) -> bool {
        self.kind == Kind::Entra
    }

    /// The cache environments this authority's tokens may be stored under:
    /// its own host first, then the other names of the same cloud.
    pub fn environment_aliases(&self) -> Vec<&str> {
        let own = self.environment();
        let mut v = vec![own];
        let others = msal_extensions::cache::environment_aliases(own).into_iter();
        v.extend(others.filter(|h| !h.eq_ignore_ascii_case(own)));
        v
    }

    /// The realm cache entries of this authority are stored under, when it is
    /// known without a request: the tenant of an Entra authority, the
    /// discovered token endpoint's first path segment once this process has
    /// discovered the provider; `None` before that.
    pub(crate) fn known_realm(&self) -> Option<String> {
        match &self.kind {
            Kind::Entra => Some(self.tenant.clone()),
            Kind::Oidc { discovery_url } => discovered()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(discovery_url)
                .map(|e| e.realm.clone()),
        }
    }

    /// The endpoints: derived for Entra hosts, discovered (once per process) otherwise.
    pub(crate) fn endpoints(&self, http: &Http) -> Result<Arc<Endpoints>> {
        match &self.kind {
            Kind::Entra => {
                let base = format!("https://{}/{}/oauth2/v2.0", self.host, self.tenant);
                Ok(Arc::new(Endpoints {
                    token: format!("{base}/token"),
                    device_code: Some(format!("{base}/devicecode")),
                    authorize: format!("{base}/authorize"),
                    realm: self.tenant.clone(),
                }))
            }
            Kind::Oidc { discovery_url } => discover(discovery_url, http),
        }
    }
}

/// The endpoints of one authority.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) token: String,
    pub(crate) device_code: Option<String>,
    pub(crate) authorize: String,
    /// The tenant cache entries are stored under: the first path segment of
    /// the token endpoint, as MSAL Python derives it.
    pub(crate) realm: String,
}

fn discovered() -> &'static Mutex<HashMap<String, Arc<Endpoints>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Endpoints>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Fetches (or recalls) a discovery document. Two threads discovering the
/// same authority at once may both fetch it; the map keeps one answer.
fn discover(url: &str, http: &Http) -> Result<Arc<Endpoints>> {
    if let Some(e) = discovered().lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(e.clone());
    }
    let op = "OpenID Connect discovery";
    let doc = http.get_json(op, url)?;
    let field = |name: &str| -> Result<String> {
        doc.get(name)
            .and_then(|v| v.as_str())
            .filter(|s| s.starts_with("https://"))
            .map(str::to_owned)
            .ok_or_else(|| Error::InvalidResponse {
                operation: op.into(),
                url: url.into(),
                reason: format!("no https `{name}`"),
            })
    };
    let token = field("token_endpoint")?;
    let authorize = field("authorization_endpoint")?;
    let device_code = field("device_authorization_endpoint").ok();
    let (_, realm) = split_url(&token).map_err(|_| Error::InvalidResponse {
        operation: op.into(),
        url: url.into(),
        reason: "`token_endpoint` has no tenant in its path".into(),
    })?;
    let e = Arc::new(Endpoints { token, device_code, authorize, realm });
    let mut map = discovered().lock().unwrap_or_else(|p| p.into_inner());
    Ok(map.entry(url.to_owned()).or_insert(e).clone())
}

fn host_only(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn check_host(host: &str) -> Result<String> {
    let ok = !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']);
    ok.then(|| host.to_ascii_lowercase())
        .ok_or_else(|| Error::invalid("authority host", format!("{host:?} is not a host name")))
}

fn check_tenant(tenant: &str) -> Result<String> {
    let ok = !tenant.is_empty() && !tenant.contains(['/', '?', '#', ' ']);
    ok.then(|| tenant.to_owned())
        .ok_or_else(|| Error::invalid("tenant", format!("{tenant:?} is not a tenant id or name")))
}

/// `https://host[:port]/first[/...]` → (`host[:port]` lower-cased, `first`).
fn split_url(url: &str) -> Result<(String, String)> {
    split_url_rest(url).map(|(host, first, _)| (host, first))
}

/// [`split_url`], and what follows `first` in the URL.
fn split_url_rest(url: &str) -> Result<(String, String, &str)> {
    let bad =
        |why: &str| Error::invalid("authority", format!("{why}: {url:?} (expected https://host/tenant)"));
    let rest = url.strip_prefix("https://").ok_or_else(|| bad("not an https URL"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let first = path.split(['/', '?', '#']).next().unwrap_or("");
    if first.is_empty() {
        return Err(bad("no tenant in the path"));
    }
    Ok((check_host(host).map_err(|_| bad("no host"))?, first.to_owned(), &path[first.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_endpoints_need_no_request() {
        let a = Authority::entra("Login.MicrosoftOnline.com", "contoso").unwrap();
        let e = a.endpoints(&Http::new(Default::default())).unwrap();
        assert_eq!(e.token, "https://login.microsoftonline.com/contoso/oauth2/v2.0/token");
        assert_eq!(
            e.device_code.as_deref(),
            Some("https://login.microsoftonline.com/contoso/oauth2/v2.0/devicecode")
        );
        assert_eq!(e.authorize, "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize");
        assert_eq!(e.realm, "contoso");
    }

    #[test]
    fn parse_knows_microsoft_hosts() {
        assert!(Authority::parse("https://login.windows.net/common").unwrap().is_entra());
        assert!(Authority::parse("https://login.partner.microsoftonline.cn/t/").unwrap().is_entra());
        let other = Authority::parse("https://idp.example:8443/t1?x=1").unwrap();
        assert!(!other.is_entra());
        assert_eq!(other.host(), "idp.example:8443");
        assert_eq!(other.environment(), "idp.example");
        for bad in
            ["http://login.microsoftonline.com/t", "https://login.microsoftonline.com", "https:///t", "x"]
        {
            assert!(Authority::parse(bad).is_err(), "{bad}");
        }
        assert!(Authority::public_cloud("a/b").is_err());
        assert!(Authority::public_cloud("").is_err());
    }

    #[test]
    fn parse_entra_takes_any_host_and_exactly_a_tenant() {
        let a = Authority::parse_entra("https://Idp.Example:8443/t1").unwrap();
        assert_eq!((a.is_entra(), a.host(), a.tenant()), (true, "idp.example:8443", "t1"));
        assert_eq!(Authority::parse_entra("https://idp.example/t1/").unwrap().tenant(), "t1");
        for bad in [
            "http://idp.example/t",
            "https://idp.example",
            "https://idp.example/",
            "https:///t",
            "https://idp.example/t/x",
            "https://idp.example/t?x=1",
        ] {
            assert!(Authority::parse_entra(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_start_with_own_host() {
        let a = Authority::entra("login.windows.net", "t").unwrap();
        let al = a.environment_aliases();
        assert_eq!(al[0], "login.windows.net");
        assert!(al.contains(&"login.microsoftonline.com") && al.len() == 4);
        assert_eq!(Authority::entra("127.0.0.1:1234", "t").unwrap().environment_aliases(), ["127.0.0.1"]);
    }
}
