//! A local OAuth2 / OpenID Connect identity provider for `msal-client`'s
//! tests and benchmarks: HTTPS on `127.0.0.1` with a CA generated at start,
//! speaking the Entra ID dialect of the protocol (endpoint paths, error
//! fields, `client_info`, `foci`, `refresh_in`).
//!
//! It runs on threads of the process that starts it; other processes (test
//! workers, MSAL Python) reach it over HTTPS by trusting [`Idp::ca_path`].
//! Every request is counted per endpoint and grant ([`Idp::count`]); the
//! tokens it issues and the secrets clients send are kept
//! ([`Idp::issued_access_tokens`], [`Idp::received_secrets`]).
//!
//! | endpoint | what it does |
//! |---|---|
//! | `GET /{tenant}/v2.0/.well-known/openid-configuration` | discovery document |
//! | `POST /{tenant}/oauth2/v2.0/token` | `client_credentials` (secret or signed assertion, verified), `refresh_token` (rotates; family tokens), device code polling, `authorization_code` (PKCE S256 checked) |
//! | `POST /{tenant}/oauth2/v2.0/devicecode` | issues a device code |
//! | `GET /device?user_code=...` | the user approves a device code |
//! | `GET /{tenant}/oauth2/v2.0/authorize` | the user consents: 302 to `redirect_uri` with `code` and `state` |
//! | `GET /resource` | a protected API: 200 for `Authorization: Bearer <a token this IdP issued>`, else 401 |
//!
//! Behaviours tests switch on: [`Idp::throttle_next`] (429/503 with
//! `Retry-After`), [`Idp::require_claims`] (`invalid_grant` with a claims
//! challenge), [`Idp::revoke_refresh_tokens`], [`Idp::slow_down_once`],
//! [`Idp::set_token_delay`], token lifetimes.

mod certs;
mod endpoints;
mod http;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use certs::client_certificate;

/// The tenant id of the test user's home tenant.
pub const TENANT: &str = "7e57c0de-0000-4000-8000-00000000a11c";
/// The test user's object id.
pub const USER_OID: &str = "0b1ec7ed-0000-4000-8000-00000000b0b0";
/// The test user's sign-in name.
pub const USERNAME: &str = "alice@contoso.example";
/// `home_account_id` of the test user: `<oid>.<tenant>`.
pub fn home_account_id() -> String {
    format!("{USER_OID}.{TENANT}")
}

/// How a registered client authenticates.
#[derive(Debug, Clone)]
pub(crate) enum ClientAuth {
    Public,
    Secret(String),
    Certificate(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) auth: ClientAuth,
    pub(crate) family: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RtInfo {
    pub(crate) client_id: String,
    pub(crate) family: Option<String>,
    pub(crate) revoked: bool,
}

#[derive(Debug)]
pub(crate) struct DeviceCode {
    pub(crate) user_code: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) approved: bool,
    pub(crate) polls: u32,
    pub(crate) expires_at: std::time::Instant,
}

#[derive(Debug)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) scope: String,
}

/// Everything the IdP knows and every switch tests can set.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) base: String,
    pub(crate) counts: HashMap<String, u64>,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) refresh_tokens: HashMap<String, RtInfo>,
    pub(crate) device_codes: HashMap<String, DeviceCode>,
    pub(crate) auth_codes: HashMap<String, AuthCode>,
    pub(crate) issued_access_tokens: Vec<String>,
    pub(crate) received_secrets: Vec<String>,
    pub(crate) serial: u64,
    pub(crate) expires_in: u64,
    pub(crate) refresh_in: Option<u64>,
    pub(crate) throttle: Vec<(u16, Option<u64>)>,
    pub(crate) claims_challenge: Option<String>,
    pub(crate) slow_down_once: bool,
    pub(crate) device_lifetime: u64,
    pub(crate) device_interval: u64,
    pub(crate) token_delay: Duration,
}

/// A running identity provider; stopped when dropped.
#[derive(Debug)]
pub struct Idp {
    port: u16,
    ca_pem: String,
    dir: PathBuf,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Idp {
    /// Generates a CA and a certificate for `127.0.0.1`, writes the CA to a
    /// temporary folder ([`ca_path`](Self::ca_path)) and starts serving on a
    /// free port.
    pub fn start() -> Idp {
        let certs = certs::server_certs();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs.chain, certs.key)
            .expect("server certificate");
        let tls = Arc::new(tls);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("msal-test-idp-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("IdP temp dir");
        std::fs::write(dir.join("ca.pem"), &certs.ca_pem).expect("write CA");
        let state = Arc::new(Mutex::new(State::new(format!("https://127.0.0.1:{port}"))));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(listener, tls, state, stop))
        };
        Idp { port, ca_pem: certs.ca_pem, dir, state, stop, acceptor: Some(acceptor) }
    }

    /// `127.0.0.1:<port>`: the host of an `Authority::entra`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The test CA, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A file holding [`ca_pem`](Self::ca_pem) (for `requests`' `verify=`).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a public client (no secret), optionally in a FOCI family.
    pub fn register_public_client(&self, client_id: &str, family: Option<&str>) {
        let c = Client { auth: ClientAuth::Public, family: family.map(str::to_owned) };
        self.state().clients.insert(client_id.to_owned(), c);
    }

    /// Registers a confidential client with a secret.
    pub fn register_secret_client(&self, client_id: &str, secret: &str) {
        let c = Client { auth: ClientAuth::Secret(secret.to_owned()), family: None };
        self.state().clients.insert(client_id.to_owned(), c);
    }

    /// Registers a confidential client with a certificate (PEM); its
    /// assertions must be signed by the certificate's key.
    pub fn register_certificate_client(&self, client_id: &str, cert_pem: &str) {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("certificate PEM").to_vec();
        let c = Client { auth: ClientAuth::Certificate(der), family: None };
        self.state().clients.insert(client_id.to_owned(), c);
    }

    /// How many requests reached `name`: an endpoint (`token`, `devicecode`,
    /// `authorize`, `discovery`, `device_approve`, `resource`) or a token grant
    /// (`token:refresh_token`, `token:client_credentials`, ...).
    pub fn count(&self, name: &str) -> u64 {
        self.state().counts.get(name).copied().unwrap_or(0)
    }

    /// All counters.
    pub fn counts(&self) -> HashMap<String, u64> {
        self.state().counts.clone()
    }

    /// Sets every counter back to zero.
    pub fn reset_counts(&self) {
        self.state().counts.clear();
    }

    /// Lifetime of issued access tokens (`expires_in`, default 3600 s).
    /// Below 300 s, MSAL clients treat a token as expired at once.
    pub fn set_expires_in(&self, seconds: u64) {
        self.state().expires_in = seconds;
    }

    /// `refresh_in` sent with access tokens (default none).
    pub fn set_refresh_in(&self, seconds: Option<u64>) {
        self.state().refresh_in = seconds;
    }

    /// The next `n` token requests are answered `status` (429 or 5xx) with
    /// `Retry-After: retry_after` when given.
    pub fn throttle_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        let mut s = self.state();
        for _ in 0..n {
            s.throttle.push((status, retry_after));
        }
    }

    /// While set, refresh-token grants are refused with `invalid_grant`
    /// (AADSTS50076, suberror `basic_action`) carrying this claims challenge.
    pub fn require_claims(&self, claims: Option<&str>) {
        self.state().claims_challenge = claims.map(str::to_owned);
    }

    /// Makes every refresh token issued so far invalid (`invalid_grant`, AADSTS700082).
    pub fn revoke_refresh_tokens(&self) {
        for rt in self.state().refresh_tokens.values_mut() {
            rt.revoked = true;
        }
    }

    /// The first poll of the next device code is answered `slow_down`.
    pub fn slow_down_once(&self) {
        self.state().slow_down_once = true;
    }

    /// Lifetime and polling interval of device codes (default 600 s, 1 s).
    pub fn set_device_code_timing(&self, lifetime_secs: u64, interval_secs: u64) {
        let mut s = self.state();
        s.device_lifetime = lifetime_secs;
        s.device_interval = interval_secs;
    }

    /// Every token request waits this long before answering (a slow IdP).
    pub fn set_token_delay(&self, delay: Duration) {
        self.state().token_delay = delay;
    }

    /// Every access token issued, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.state().issued_access_tokens.clone()
    }

    /// Every secret a client sent to the token endpoint, oldest first: client
    /// secrets and assertions, refresh tokens, device codes, authorization
    /// codes and PKCE verifiers (the form fields that prove something), so
    /// tests can check none of them leaked.
    pub fn received_secrets(&self) -> Vec<String> {
        self.state().received_secrets.clone()
    }

    /// Where the CA file lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(tcp) = conn else { continue };
        let (tls, state) = (tls.clone(), state.clone());
        std::thread::spawn(move || http::serve(tcp, tls, &|req| endpoints::handle(&state, req)));
    }
}
