//! Each grant end to end against the local identity provider over HTTPS,
//! with what it leaves in the cache checked against what MSAL Python writes.

mod common;

use std::time::Duration;

use common::*;
use msal_client::{
    AssertionAlgorithm, Authority, ClientCertificate, ClientCredential, ConfidentialClient, Error,
    InteractiveOptions, TokenSource,
};
use serde_json::Value;

const APP: &str = "app-7c1e0000-0000-4000-8000-000000000001";

fn cache_json(f: &Fixture, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(f.dir.path(name)).unwrap()).unwrap()
}

fn section<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
    doc.get(name).and_then(Value::as_object).map(|m| m.values().collect()).unwrap_or_default()
}

#[test]
fn client_credentials_with_secret_then_from_cache() {
    let f = Fixture::new("cc-secret");
    f.idp.register_secret_client(APP, "s3cret-value");
    let cache = f.cache("app.json");
    let app = ConfidentialClient::new(APP, ClientCredential::secret("s3cret-value"), cache)
        .with_authority(f.authority())
        .with_http(f.http());
    let first = app.acquire_token_for_client(&[SCOPE]).unwrap();
    assert_eq!(first.source, TokenSource::IdentityProvider);
    assert!(first.account.is_none());
    let second = app.acquire_token_for_client(&[SCOPE]).unwrap();
    assert_eq!(second.source, TokenSource::Cache);
    assert_eq!(second.access_token, first.access_token);
    assert_eq!(f.idp.count("token:client_credentials"), 1);
    assert_eq!(f.idp.count("discovery"), 0, "an Entra-compatible host needs no discovery");

    // MSAL Python's entry for an app token: home_account_id null, realm = tenant.
    let doc = cache_json(&f, "app.json");
    let ats = section(&doc, "AccessToken");
    assert_eq!(ats.len(), 1);
    assert_eq!(ats[0]["home_account_id"], Value::Null);
    assert_eq!(ats[0]["environment"], "127.0.0.1");
    assert_eq!(ats[0]["realm"], msal_test_idp::TENANT);
    assert_eq!(ats[0]["target"], SCOPE);
    let key = doc["AccessToken"].as_object().unwrap().keys().next().unwrap().clone();
    assert_eq!(key, format!("-127.0.0.1-accesstoken-{APP}-{}-{SCOPE}", msal_test_idp::TENANT));
    assert!(section(&doc, "Account").is_empty() && section(&doc, "RefreshToken").is_empty());
}

#[test]
fn a_wrong_secret_is_an_identity_provider_error_without_the_secret() {
    let f = Fixture::new("cc-bad");
    f.idp.register_secret_client(APP, "right");
    let app = ConfidentialClient::new(APP, ClientCredential::secret("wrong-secret-value"), f.cache("c.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    let e = app.acquire_token_for_client(&[SCOPE]).unwrap_err();
    let idp = e.idp().expect("the IdP's answer");
    assert_eq!((idp.status, idp.error.as_str(), idp.aadsts()), (401, "invalid_client", Some(7000215)));
    assert_eq!(idp.correlation_id.as_deref(), Some("test-correlation-id"));
    let shown = format!("{e} {e:?} {app:?}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(!shown.contains("wrong-secret-value"), "secret leaked: {shown}");
}

#[test]
fn client_credentials_with_a_certificate_ps256_and_rs256() {
    let f = Fixture::new("cc-cert");
    let (cert_pem, key_pem) = msal_test_idp::client_certificate("msal-client test app");
    f.idp.register_certificate_client(APP, &cert_pem);
    for alg in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let cert =
            ClientCertificate::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap().algorithm(alg);
        let app = ConfidentialClient::new(
            APP,
            ClientCredential::certificate(cert),
            f.cache(&format!("{alg:?}.json")),
        )
        .with_authority(f.authority())
        .with_http(f.http());
        let r = app.acquire_token_for_client(&[SCOPE]).unwrap();
        assert_eq!(r.source, TokenSource::IdentityProvider, "{alg:?}");
    }
    assert_eq!(f.idp.count("token:client_credentials"), 2);

    // Another certificate's key is refused by the IdP (signature checked there).
    let (other_cert, other_key) = msal_test_idp::client_certificate("impostor");
    let impostor = ClientCertificate::from_pem(other_cert.as_bytes(), other_key.as_bytes()).unwrap();
    let app = ConfidentialClient::new(APP, ClientCredential::certificate(impostor), f.cache("x.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    let e = app.acquire_token_for_client(&[SCOPE]).unwrap_err();
    assert_eq!(e.idp().unwrap().error, "invalid_client");

    // A key that does not belong to the certificate fails at load, before any request.
    let e = ClientCertificate::from_pem(cert_pem.as_bytes(), other_key.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::Credential { .. }), "{e}");
    assert!(!format!("{e:?}").contains("PRIVATE"), "no key material in errors");
}

#[test]
fn device_code_sign_in_writes_what_msal_python_writes() {
    let f = Fixture::new("device");
    let cache = f.cache("msal_token_cache.json");
    let app = f.public(AZ_CLI, &cache);
    let ca = f.idp.ca_pem().to_owned();
    let mut shown = String::new();
    let r = app
        .acquire_token_by_device_code(&[SCOPE], |info| {
            shown = info.message.clone();
            approve(&ca, &info.verification_uri, &info.user_code);
        })
        .unwrap();
    assert!(shown.contains("/device") && shown.contains("enter the code"), "{shown}");
    let account = r.account.clone().expect("a user token has an account");
    assert_eq!(account.home_account_id, msal_test_idp::home_account_id());
    assert_eq!(account.username, msal_test_idp::USERNAME);
    assert_eq!(f.idp.count("devicecode"), 1);

    let doc = cache_json(&f, "msal_token_cache.json");
    let acc = section(&doc, "Account");
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0]["account_source"], "urn:ietf:params:oauth:grant-type:device_code");
    assert_eq!(acc[0]["authority_type"], "MSSTS");
    let rts = section(&doc, "RefreshToken");
    assert_eq!((rts.len(), &rts[0]["family_id"]), (1, &Value::from("1")));
    assert_eq!(section(&doc, "IdToken").len(), 1);
    let apps = section(&doc, "AppMetadata");
    assert_eq!(apps[0]["family_id"], "1");
    assert_eq!(app.accounts().unwrap(), vec![account]);
}

#[test]
fn device_code_pending_then_slow_down_then_approved() {
    let f = Fixture::new("device-slow");
    f.idp.slow_down_once();
    let app = f.public(LONE_APP, &f.cache("c.json"));
    let ca = f.idp.ca_pem().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let t0 = std::time::Instant::now();
    let user = std::thread::spawn(move || {
        let (uri, code): (String, String) = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        approve(&ca, &uri, &code);
    });
    let r = app.acquire_token_by_device_code(&[SCOPE], move |info| {
        tx.send((info.verification_uri.clone(), info.user_code.clone())).unwrap();
    });
    user.join().unwrap();
    r.unwrap();
    // Poll 1 at once: slow_down; then interval 1 s + 5 s: approved meanwhile.
    assert!(t0.elapsed() >= Duration::from_secs(6), "slow_down adds 5 s to the interval");
    assert_eq!(f.idp.count("token:urn:ietf:params:oauth:grant-type:device_code"), 2);
}

#[test]
fn device_code_that_nobody_approves_expires() {
    let f = Fixture::new("device-expire");
    f.idp.set_device_code_timing(2, 1);
    let app = f.public(LONE_APP, &f.cache("c.json"));
    let e = app.acquire_token_by_device_code(&[SCOPE], |_| {}).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    let polls = f.idp.count("token:urn:ietf:params:oauth:grant-type:device_code");
    assert!((1..=3).contains(&polls), "polled at the interval, not in a loop: {polls}");
}

#[test]
fn authorization_code_with_pkce_through_the_loopback_redirect() {
    let f = Fixture::new("authcode");
    let cache = f.cache("c.json");
    let app = f.public(LONE_APP, &cache);
    let ca = f.idp.ca_pem().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let browser = std::thread::spawn(move || {
        let url: String = rx.recv().unwrap();
        // A forged redirect with the wrong state is refused and the wait goes on.
        let port = url.split("localhost%3A").nth(1).unwrap().split('&').next().unwrap().to_owned();
        let forged = ureq::get(format!("http://127.0.0.1:{port}/?code=stolen&state=wrong"))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap();
        assert_eq!(forged.status(), 400);
        browse_sign_in(&ca, &url)
    });
    let opts = InteractiveOptions::new()
        .open_browser(false)
        .timeout(Duration::from_secs(30))
        .on_url(move |u| tx.send(u.to_owned()).unwrap());
    let r = app.acquire_token_interactive(&[SCOPE], opts).unwrap();
    assert_eq!(browser.join().unwrap(), 200);
    assert_eq!(r.account.unwrap().username, msal_test_idp::USERNAME);
    assert_eq!(f.idp.count("authorize"), 1);
    assert_eq!(f.idp.count("token:authorization_code"), 1);
    let doc = cache_json(&f, "c.json");
    assert_eq!(section(&doc, "Account")[0]["account_source"], "authorization_code");
}

#[test]
fn interactive_sign_in_times_out_when_nobody_comes_back() {
    let f = Fixture::new("authcode-timeout");
    let app = f.public(LONE_APP, &f.cache("c.json"));
    let opts = InteractiveOptions::new().open_browser(false).timeout(Duration::from_millis(300));
    let e = app.acquire_token_interactive(&[SCOPE], opts).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
}

#[test]
fn throttling_is_retried_after_retry_after() {
    let f = Fixture::new("throttle");
    f.idp.register_secret_client(APP, "s");
    f.idp.throttle_next(1, 429, Some(1));
    let app = ConfidentialClient::new(APP, ClientCredential::secret("s"), f.cache("c.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    let t0 = std::time::Instant::now();
    app.acquire_token_for_client(&[SCOPE]).unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
    assert_eq!(f.idp.count("token"), 2);

    // More 503s than retries: the error keeps the IdP's answer.
    f.idp.reset_counts();
    f.idp.throttle_next(3, 503, Some(0));
    let e = app
        .acquire_token_for_client_with(&[SCOPE], &msal_client::SilentOptions::new().force_refresh(true))
        .unwrap_err();
    assert_eq!(e.idp().map(|i| i.status), Some(503), "{e}");
    assert_eq!(f.idp.count("token"), 3, "1 try + 2 retries");

    // A Retry-After longer than we are willing to wait ends the call at once.
    f.idp.reset_counts();
    f.idp.throttle_next(1, 429, Some(3600));
    let e = app
        .acquire_token_for_client_with(&[SCOPE], &msal_client::SilentOptions::new().force_refresh(true))
        .unwrap_err();
    assert_eq!(e.idp().map(|i| i.status), Some(429));
    assert_eq!(f.idp.count("token"), 1);
}

#[test]
fn oidc_discovery_runs_once_per_process() {
    let f = Fixture::new("oidc");
    f.idp.register_secret_client(APP, "s");
    let issuer = format!("{}/{}/v2.0", f.idp.base_url(), "oidc-tenant");
    for i in 0..3 {
        let app = ConfidentialClient::new(APP, ClientCredential::secret("s"), f.cache(&format!("c{i}.json")))
            .with_authority(Authority::oidc(&issuer).unwrap())
            .with_http(f.http());
        app.acquire_token_for_client(&[SCOPE]).unwrap();
    }
    assert_eq!(f.idp.count("discovery"), 1);
    assert_eq!(f.idp.count("token"), 3);
    // The realm comes from the discovered token endpoint, as in MSAL Python.
    let doc = cache_json(&f, "c0.json");
    assert_eq!(section(&doc, "AccessToken")[0]["realm"], "oidc-tenant");
}

#[test]
fn an_unreachable_idp_is_a_transport_error_with_its_source() {
    let f = Fixture::new("down");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = ConfidentialClient::new(APP, ClientCredential::secret("s"), f.cache("c.json"))
        .with_authority(Authority::entra(&format!("127.0.0.1:{port}"), "t").unwrap())
        .with_http(f.http().timeout(Duration::from_secs(2)));
    let e = app.acquire_token_for_client(&[SCOPE]).unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn a_refresh_token_from_elsewhere_is_redeemed_and_stored_with_its_account() {
    let f = Fixture::new("migrate");
    let old = f.cache("old.json");
    f.sign_in(&f.public(AZ_CLI, &old));
    let rt = old.read(|c| c.refresh_tokens().next().unwrap().1.secret.clone().unwrap()).unwrap();
    let fresh = f.cache("new.json");
    let app = f.public(AZ_CLI, &fresh);
    let r = app.acquire_token_by_refresh_token(rt.expose(), &[SCOPE]).unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let accounts = app.accounts().unwrap();
    assert_eq!(accounts.len(), 1, "migration establishes the account");
    let cached = app.acquire_token_silent(&accounts[0], &[SCOPE]).unwrap();
    assert_eq!((cached.source, cached.access_token), (TokenSource::Cache, r.access_token));
    assert_eq!(section(&cache_json(&f, "new.json"), "RefreshToken").len(), 1);
}
