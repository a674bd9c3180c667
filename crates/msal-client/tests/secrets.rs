//! Secrets (client secrets, keys, assertions, access/refresh/id tokens,
//! device codes, authorization codes, PKCE verifiers) never reach logs at any
//! level (this crate's, ureq's, rustls'), `Debug` output, or error messages
//! with their source chains, on success and on error paths. Every grant runs
//! (client credentials with a secret and a certificate, device code,
//! authorization code with PKCE through the loopback redirect, refresh
//! token), and the set checked holds every secret the IdP received
//! (`Idp::received_secrets`) besides those it issued.

mod common;

use common::*;
use std::time::Duration;

use msal_client::{
    ClientCertificate, ClientCredential, ConfidentialClient, InteractiveOptions, SilentOptions,
};

#[test]
fn no_secret_in_logs_debug_or_errors() {
    capture_logs();
    let f = Fixture::new("secrets");
    let mut shown = Vec::new();
    let mut secrets = vec!["S3CR3T-client-secret".to_owned()];

    // Client secret: success, then a wrong one (error path).
    f.idp.register_secret_client("app-secret", &secrets[0]);
    let app = ConfidentialClient::new(
        "app-secret",
        ClientCredential::secret(secrets[0].clone()),
        f.cache("a.json"),
    )
    .with_authority(f.authority())
    .with_http(f.http());
    shown.push(format!("{:?} {app:?}", app.acquire_token_for_client(&[SCOPE]).unwrap()));
    let bad =
        ConfidentialClient::new("app-secret", ClientCredential::secret("S3CR3T-wrong"), f.cache("b.json"))
            .with_authority(f.authority())
            .with_http(f.http());
    shown.push(error_chain(&bad.acquire_token_for_client(&[SCOPE]).unwrap_err()));
    secrets.push("S3CR3T-wrong".into());

    // Certificate: the key and the signed assertion.
    let (cert_pem, key_pem) = msal_test_idp::client_certificate("secrets test");
    f.idp.register_certificate_client("app-cert", &cert_pem);
    let cert = ClientCertificate::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    shown.push(format!("{cert:?}"));
    let app = ConfidentialClient::new("app-cert", ClientCredential::certificate(cert), f.cache("c.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    shown.push(format!("{:?}", app.acquire_token_for_client(&[SCOPE]).unwrap()));
    let key_body: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    secrets.push(key_body[..40].to_owned());

    // A user: device code, renewal (refresh token sent), then a refused refresh token.
    let cache = f.cache("u.json");
    let public = f.public(AZ_CLI, &cache);
    let signed = f.sign_in(&public);
    shown.push(format!("{signed:?} {public:?}"));
    let account = signed.account.clone().unwrap();
    let renewed = public
        .acquire_token_silent_with(&account, &[SCOPE], &SilentOptions::new().force_refresh(true))
        .unwrap();
    shown.push(format!("{renewed:?}"));
    f.idp.revoke_refresh_tokens();
    let e = public
        .acquire_token_silent_with(&account, &[SCOPE], &SilentOptions::new().force_refresh(true))
        .unwrap_err();
    shown.push(error_chain(&e));

    // A user again, interactively: authorization code and PKCE verifier.
    let cache_i = f.cache("i.json");
    let interactive = f.public(LONE_APP, &cache_i);
    let ca = f.idp.ca_pem().to_owned();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let browser = std::thread::spawn(move || browse_sign_in(&ca, &rx.recv().unwrap()));
    let opts = InteractiveOptions::new()
        .open_browser(false)
        .timeout(Duration::from_secs(30))
        .on_url(move |u| tx.send(u.to_owned()).unwrap());
    let signed = interactive.acquire_token_interactive(&[SCOPE], opts).unwrap();
    assert_eq!(browser.join().unwrap(), 200);
    shown.push(format!("{signed:?} {interactive:?}"));
    assert_eq!(f.idp.count("token:authorization_code"), 1, "the interactive grant ran");

    // What clients sent: secrets, assertions, refresh tokens, device code,
    // authorization code, PKCE verifier.
    let received = f.idp.received_secrets();
    assert!(received.iter().any(|s| s.starts_with("dc-")), "a device code was received");
    assert!(received.iter().any(|s| s.matches('.').count() == 2 && s.len() > 200), "an assertion");
    let code = received.iter().position(|s| s.starts_with("code-")).expect("an authorization code");
    assert!(received.get(code + 1).is_some_and(|v| v.len() >= 43), "its PKCE verifier, sent with it");
    assert!(received.len() >= 8, "{}", received.len());
    secrets.extend(received);

    // Every token the IdP issued, and the refresh and id tokens in the caches.
    secrets.extend(f.idp.issued_access_tokens());
    for name in ["u.json", "a.json", "c.json", "i.json"] {
        let c =
            msal_extensions::TokenCache::parse(&std::fs::read_to_string(f.dir.path(name)).unwrap()).unwrap();
        secrets
            .extend(c.refresh_tokens().filter_map(|(_, t)| t.secret.as_ref().map(|s| s.expose().to_owned())));
        secrets.extend(c.id_tokens().filter_map(|(_, t)| t.secret.as_ref().map(|s| s.expose().to_owned())));
    }
    assert!(secrets.len() > 8, "{}", secrets.len());

    let logs = captured_logs();
    assert!(logs.contains("msal_client") && logs.contains("ureq"), "trace logs were captured");
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret reached the logs: {s}");
        for text in &shown {
            assert!(!text.contains(s.as_str()), "a secret reached Debug/Display: {text}");
        }
    }
}
