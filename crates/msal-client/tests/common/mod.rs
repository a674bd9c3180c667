//! Fixtures shared by msal-client's integration tests: a local identity
//! provider (msal-test-idp) with a cache folder, a "user" that approves
//! device codes and follows redirects over HTTPS, worker processes, and
//! peer discovery with the CI rule.
#![allow(dead_code)] // each test file uses a different subset

// Scratch folders, the CI rule for peers (`in_ci`, `peer_missing`), the Python
// peer (`python`), worker processes: the storage crate's test helpers, shared.
#[path = "../../../msal-extensions/tests/common/mod.rs"]
mod shared;
pub use shared::*;

pub mod az;

use std::path::Path;
use std::sync::Arc;

use msal_client::{Authority, HttpOptions, PublicClient};
use msal_extensions::{FilePersistence, PersistedTokenCache};
pub use msal_test_idp::Idp;

/// Azure CLI's public client id (a FOCI family "1" app).
pub use msal_client::azure_cli::AZURE_CLI_CLIENT_ID as AZ_CLI;
/// A second public client of family "1" (Visual Studio's id, as in MSAL's tests).
pub const SECOND_FAMILY_APP: &str = "872cd9fa-d31f-45e0-9eab-6e460a02d1f1";
/// A public client in no family.
pub const LONE_APP: &str = "11111111-2222-4333-8444-555555555555";
pub const SCOPE: &str = "https://management.azure.com/.default";

/// An IdP with the usual clients registered, and a scratch folder for caches.
pub struct Fixture {
    pub idp: Idp,
    pub dir: Scratch,
}

impl Fixture {
    pub fn new(name: &str) -> Self {
        let idp = Idp::start();
        idp.register_public_client(AZ_CLI, Some("1"));
        idp.register_public_client(SECOND_FAMILY_APP, Some("1"));
        idp.register_public_client(LONE_APP, None);
        Fixture { idp, dir: Scratch::new(name) }
    }

    /// The cache file at `name` in the scratch folder.
    pub fn cache(&self, name: &str) -> Arc<PersistedTokenCache<FilePersistence>> {
        cache_at(&self.dir.path(name))
    }

    /// The IdP as an Entra-compatible authority for the test tenant.
    pub fn authority(&self) -> Authority {
        Authority::entra(&self.idp.host(), msal_test_idp::TENANT).unwrap()
    }

    /// Trust the test CA; short waits so retry tests stay quick.
    pub fn http(&self) -> HttpOptions {
        http_options(self.idp.ca_pem())
    }

    pub fn public(
        &self,
        client_id: &str,
        cache: &Arc<PersistedTokenCache<FilePersistence>>,
    ) -> PublicClient<FilePersistence> {
        PublicClient::new(client_id, cache.clone()).with_authority(self.authority()).with_http(self.http())
    }

    /// Signs the test user in with a device code, approving it as the user would.
    pub fn sign_in(&self, app: &PublicClient<FilePersistence>) -> msal_client::AuthenticationResult {
        let ca = self.idp.ca_pem().to_owned();
        app.acquire_token_by_device_code(&[SCOPE], |info| {
            approve(&ca, &info.verification_uri, &info.user_code)
        })
        .expect("device code sign-in")
    }
}

pub fn cache_at(path: &Path) -> Arc<PersistedTokenCache<FilePersistence>> {
    Arc::new(PersistedTokenCache::new(FilePersistence::new(path).unwrap()))
}

pub fn http_options(ca_pem: &str) -> HttpOptions {
    HttpOptions::new()
        .trusted_roots_pem(ca_pem.as_bytes())
        .unwrap()
        .timeout(std::time::Duration::from_secs(20))
        .max_retry_after(std::time::Duration::from_secs(3))
}

/// An HTTPS client trusting only the test CA, following no redirects: the "user's browser".
pub fn browser(ca_pem: &str) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[ca])).build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// The user opens the verification page and enters the code.
pub fn approve(ca_pem: &str, verification_uri: &str, user_code: &str) {
    let r = browser(ca_pem).get(format!("{verification_uri}?user_code={user_code}")).call().unwrap();
    assert_eq!(r.status(), 200, "device code approval");
}

/// The user's browser: opens the sign-in URL, follows the IdP's redirect to
/// the loopback listener (connecting to 127.0.0.1 as the browser would for
/// `localhost`), and returns the listener's HTTP status.
pub fn browse_sign_in(ca_pem: &str, url: &str) -> u16 {
    let r = browser(ca_pem).get(url).call().unwrap();
    assert_eq!(r.status(), 302, "the IdP redirects back");
    let loc = r.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let loc = loc.replacen("http://localhost:", "http://127.0.0.1:", 1);
    let plain = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    plain.get(&loc).call().unwrap().status().as_u16()
}
