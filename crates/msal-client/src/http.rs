//! HTTP to the identity provider: [`HttpOptions`] and the blocking client
//! built on `ureq` (rustls with ring).
//!
//! - **Bounded.** Every request has a connect timeout and an overall
//!   timeout; 429 and 5xx answers are retried at most
//!   [`max_retries`](HttpOptions::max_retries) times, waiting what
//!   `Retry-After` says when it says it (and giving up at once when it asks
//!   for more than [`max_retry_after`](HttpOptions::max_retry_after)), so
//!   [`HttpOptions::worst_case`] bounds one call.
//! - **No secrets in logs or errors.** Secrets travel only in request
//!   bodies (never the URL or a header); this crate logs methods and URLs
//!   without query, and its errors carry the identity provider's error
//!   fields, never a body. (`ureq`'s own `trace` level logs request and
//!   response *heads*, which hold no secret either.)
//! - **No redirects.** A token endpoint that redirects is an error, so a
//!   request body is never replayed to another host.
//! - **Lazy.** The TLS configuration is built on the first request, so a
//!   program that finds its token in the cache never pays for it.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Map, Value};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::error::{Error, IdpError, Result};

/// How this crate talks to the identity provider.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use msal_client::HttpOptions;
/// let opts = HttpOptions::new()
///     .timeout(Duration::from_secs(20))
///     .max_retries(1)
///     .app_name("my-tool/1.2");
/// assert!(opts.worst_case() >= Duration::from_secs(40));
/// ```
#[derive(Clone)]
pub struct HttpOptions {
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    max_retry_after: Duration,
    extra_roots: Vec<Certificate<'static>>,
    app_name: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 2,
            max_retry_after: Duration::from_secs(30),
            extra_roots: Vec::new(),
            app_name: None,
        }
    }
}

impl HttpOptions {
    /// 30 s per request, 10 s to connect, 2 retries, `Retry-After` up to 30 s,
    /// Mozilla's root certificates.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most one request may take, from connecting to the last byte.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most connecting (DNS, TCP, TLS) may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a 429 or 5xx answer is retried (0 = never).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The longest `Retry-After` this client waits for; a longer one ends
    /// the call with the 429/503 error at once.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Trusts the CA certificates in `pem` in addition to Mozilla's roots:
    /// for a private cloud, a TLS-inspecting proxy, or a test identity provider.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `pem` holds no certificate or a malformed one.
    pub fn trusted_roots_pem(mut self, pem: &[u8]) -> Result<Self> {
        let before = self.extra_roots.len();
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(PemItem::Certificate(c)) => self.extra_roots.push(c),
                Ok(_) => {}
                Err(_) => return Err(Error::invalid("trusted roots", "the PEM text is malformed")),
            }
        }
        if self.extra_roots.len() == before {
            return Err(Error::invalid("trusted roots", "no CERTIFICATE block in the PEM text"));
        }
        Ok(self)
    }

    /// Trusts one DER-encoded CA certificate in addition to Mozilla's roots.
    pub fn trusted_root_der(mut self, der: &[u8]) -> Self {
        self.extra_roots.push(Certificate::from_der(der).to_owned());
        self
    }

    /// Appended to the `User-Agent` header (e.g. `"my-tool/1.2"`).
    pub fn app_name(mut self, name: &str) -> Self {
        self.app_name = Some(name.to_owned());
        self
    }

    /// The most one call can take with its retries: each attempt's timeout
    /// plus each allowed wait. Cross-process renewal leases are bounded by it.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.max_retries + 1;
        self.timeout.saturating_mul(attempts) + self.max_retry_after.saturating_mul(self.max_retries)
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("max_retry_after", &self.max_retry_after)
            .field("extra_roots", &self.extra_roots.len())
            .field("app_name", &self.app_name)
            .finish()
    }
}

/// The `User-Agent` and `x-client-*` values MSAL libraries send.
const SKU: &str = "MSAL.Rust";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A lazily built `ureq` agent with this crate's retry and error rules.
pub(crate) struct Http {
    opts: HttpOptions,
    agent: OnceLock<ureq::Agent>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.opts.fmt(f)
    }
}

/// A JSON object the identity provider answered.
pub(crate) type Json = Map<String, Value>;

impl Http {
    pub(crate) fn new(opts: HttpOptions) -> Self {
        Http { opts, agent: OnceLock::new() }
    }

    pub(crate) fn options(&self) -> &HttpOptions {
        &self.opts
    }

    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            let roots = if self.opts.extra_roots.is_empty() {
                RootCerts::WebPki
            } else {
                let mozilla =
                    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| Certificate::from_der(c));
                RootCerts::new_with_certs(
                    &mozilla.chain(self.opts.extra_roots.iter().cloned()).collect::<Vec<_>>(),
                )
            };
            let mut ua = format!("{SKU}/{VERSION}");
            if let Some(app) = &self.opts.app_name {
                ua.push(' ');
                ua.push_str(app);
            }
            ureq::Agent::config_builder()
                .timeout_global(Some(self.opts.timeout))
                .timeout_connect(Some(self.opts.connect_timeout))
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(ua)
                .tls_config(TlsConfig::builder().root_certs(roots).build())
                .build()
                .new_agent()
        })
    }

    /// POSTs a form and returns the JSON object of a 2xx answer.
    pub(crate) fn post_form(&self, operation: &str, url: &str, form: &[(&str, &str)]) -> Result<Json> {
        self.send("POST", operation, url, |agent, cid| {
            let req = agent.post(url);
            headers(req, cid).send_form(form.iter().copied())
        })
    }

    /// GETs a JSON document (OpenID Connect discovery).
    pub(crate) fn get_json(&self, operation: &str, url: &str) -> Result<Json> {
        self.send("GET", operation, url, |agent, cid| headers(agent.get(url), cid).call())
    }

    fn send(
        &self,
        method: &str,
        operation: &str,
        url: &str,
        call: impl Fn(&ureq::Agent, &str) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Json> {
        let shown = strip_query(url);
        let mut attempt = 0;
        loop {
            let cid = new_correlation_id();
            log::debug!("{operation}: {method} {shown} (client-request-id {cid}, attempt {})", attempt + 1);
            let mut resp = call(self.agent(), &cid).map_err(|e| Error::Transport {
                operation: operation.into(),
                url: shown.into(),
                source: Box::new(e),
            })?;
            let status = resp.status().as_u16();
            let retry_after = header(&resp, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            let server_cid = header(&resp, "client-request-id");
            let body = resp.body_mut().read_to_string().map_err(|e| Error::Transport {
                operation: operation.into(),
                url: shown.into(),
                source: Box::new(e),
            })?;
            if (200..300).contains(&status) {
                return parse_object(&body).ok_or_else(|| Error::InvalidResponse {
                    operation: operation.into(),
                    url: shown.into(),
                    reason: format!("HTTP {status} with a body that is not a JSON object"),
                });
            }
            let mut idp = idp_error(status, &body);
            if idp.correlation_id.is_none() {
                idp.correlation_id = server_cid.or(Some(cid));
            }
            if let Some(wait) = self.retry_wait(status, retry_after, attempt) {
                log::info!("{operation}: {shown} answered HTTP {status}; retrying in {wait:?}");
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            return Err(Error::IdentityProvider {
                operation: operation.into(),
                url: shown.into(),
                idp: Box::new(idp),
            });
        }
    }

    /// How long to wait before retrying, or `None` to give up.
    fn retry_wait(&self, status: u16, retry_after: Option<u64>, attempt: u32) -> Option<Duration> {
        let retryable = status == 429 || (500..600).contains(&status);
        if !retryable || attempt >= self.opts.max_retries {
            return None;
        }
        let wait = match retry_after {
            Some(s) => Duration::from_secs(s),
            // No hint: 1 s, then 2 s, ... (MSAL's default backoff).
            None => Duration::from_secs(1 << attempt.min(5)),
        };
        (wait <= self.opts.max_retry_after).then_some(wait)
    }
}

fn headers<B>(req: ureq::RequestBuilder<B>, cid: &str) -> ureq::RequestBuilder<B> {
    req.header("Accept", "application/json")
        .header("x-client-sku", SKU)
        .header("x-client-ver", VERSION)
        .header("x-client-os", std::env::consts::OS)
        .header("x-ms-lib-capability", "retry-after, h429")
        .header("client-request-id", cid)
        .header("return-client-request-id", "true")
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn parse_object(body: &str) -> Option<Json> {
    match serde_json::from_str(body).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Reads an OAuth2 error answer; a body that is not one gives `http_<status>`.
fn idp_error(status: u16, body: &str) -> IdpError {
    let m = parse_object(body).unwrap_or_default();
    let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let list = |k: &str| m.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    IdpError {
        status,
        error: s("error").unwrap_or_else(|| format!("http_{status}")),
        description: s("error_description"),
        error_codes: list("error_codes").iter().filter_map(Value::as_u64).collect(),
        suberror: s("suberror"),
        correlation_id: s("correlation_id"),
        trace_id: s("trace_id"),
        claims: s("claims"),
        additional_info: list("error_additional_info")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    }
}

/// The URL without its query or fragment, for messages and logs.
pub(crate) fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A random UUID (version 4), the form Entra ID expects in `client-request-id`.
pub(crate) fn new_correlation_id() -> String {
    let mut b = crate::crypto::random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        let h = Http::new(HttpOptions::new().max_retries(2).max_retry_after(Duration::from_secs(5)));
        assert_eq!(h.retry_wait(429, Some(1), 0), Some(Duration::from_secs(1)));
        assert_eq!(h.retry_wait(503, None, 1), Some(Duration::from_secs(2)));
        assert_eq!(h.retry_wait(429, Some(1), 2), None, "retries exhausted");
        assert_eq!(h.retry_wait(429, Some(60), 0), None, "asks for more than we wait");
        assert_eq!(h.retry_wait(400, Some(1), 0), None, "not retryable");
    }

    #[test]
    fn error_fields_are_read() {
        let e = idp_error(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS50076: MFA","error_codes":[50076],
                "suberror":"basic_action","claims":"{\"access_token\":{}}","correlation_id":"c","trace_id":"t",
                "error_additional_info":["client_mismatch"]}"#,
        );
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.aadsts(), Some(50076));
        assert_eq!(e.claims.as_deref(), Some(r#"{"access_token":{}}"#));
        assert_eq!(e.additional_info, ["client_mismatch"]);
        assert_eq!(idp_error(502, "<html>bad gateway</html>").error, "http_502");
    }

    #[test]
    fn correlation_ids_are_uuid_v4() {
        let a = new_correlation_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, new_correlation_id());
        assert_eq!(strip_query("https://h/t?x=secret#f"), "https://h/t");
    }

    #[test]
    fn roots_must_be_certificates() {
        assert!(HttpOptions::new().trusted_roots_pem(b"not pem").is_err());
        assert!(
            HttpOptions::new()
                .trusted_roots_pem(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
