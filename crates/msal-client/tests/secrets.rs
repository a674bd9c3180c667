//! Secrets (client secrets, keys, assertions, access/refresh/id tokens)
//! never reach logs at any level (this crate's, ureq's, rustls'), `Debug`
//! output, or error messages with their source chains, on success and on
//! error paths.

mod common;

use common::*;
use msal_client::{ClientCertificate, ClientCredential, ConfidentialClient, SilentOptions};

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

    // Every token the IdP issued, and the refresh and id tokens in the caches.
    secrets.extend(f.idp.issued_access_tokens());
    for name in ["u.json", "a.json", "c.json"] {
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
