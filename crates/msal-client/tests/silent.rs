//! `acquire_token_silent` with MSAL's semantics, against the local IdP:
//! cache hits, renewal when expired or past `refresh_on`, family refresh
//! tokens, and the typed "interaction required" error.

mod common;

use common::*;
use msal_client::{Account, Authority, Error, PublicClient, SilentOptions, TokenSource};
use msal_extensions::TokenResponse;
use serde_json::Value;

fn doc(f: &Fixture, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(f.dir.path(name)).unwrap()).unwrap()
}

fn entries<'a>(d: &'a Value, section: &str) -> Vec<&'a Value> {
    d.get(section).and_then(Value::as_object).map(|m| m.values().collect()).unwrap_or_default()
}

/// Signs in with an access token that MSAL already considers expired
/// (lifetime under its 5-minute margin); later tokens live an hour.
fn signed_in_with_expired_token(
    f: &Fixture,
    client: &str,
) -> (PublicClient<msal_extensions::FilePersistence>, Account) {
    let cache = f.cache("msal_token_cache.json");
    let app = f.public(client, &cache);
    f.idp.set_expires_in(120);
    let account = f.sign_in(&app).account.unwrap();
    f.idp.set_expires_in(3600);
    f.idp.reset_counts();
    (app, account)
}

#[test]
fn a_valid_cached_token_is_returned_without_a_request() {
    let f = Fixture::new("hit");
    let cache = f.cache("msal_token_cache.json");
    let app = f.public(AZ_CLI, &cache);
    let signed = f.sign_in(&app);
    f.idp.reset_counts();
    let account = &app.accounts().unwrap()[0];
    let r = app.acquire_token_silent(account, &[SCOPE]).unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    assert_eq!(r.access_token, signed.access_token);
    assert_eq!(f.idp.counts().values().sum::<u64>(), 0, "no request at all");
}

#[test]
fn an_expired_token_is_renewed_once_and_the_rotated_refresh_token_kept() {
    let f = Fixture::new("renew");
    let (app, account) = signed_in_with_expired_token(&f, AZ_CLI);
    let old_rt = entries(&doc(&f, "msal_token_cache.json"), "RefreshToken")[0]["secret"].clone();
    let r = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(f.idp.count("token:refresh_token"), 1);
    assert_eq!(f.idp.count("token"), 1, "a cold renewal is one request to a known Entra host");
    assert_eq!(f.idp.count("discovery"), 0);
    assert!(r.expires_on > msal_client_now() + 3000);

    let d = doc(&f, "msal_token_cache.json");
    let rts = entries(&d, "RefreshToken");
    assert_eq!(rts.len(), 1, "the rotated token replaces the old one in its entry");
    assert_ne!(rts[0]["secret"], old_rt);
    assert_eq!(entries(&d, "AccessToken").len(), 1, "the new access token replaces the old one");
    assert_eq!(entries(&d, "Account").len(), 1);

    let again = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!((again.source, &again.access_token), (TokenSource::Cache, &r.access_token));
    assert_eq!(f.idp.count("token"), 1);
}

fn msal_client_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_token_past_refresh_on_is_renewed_and_served_if_renewal_fails() {
    let f = Fixture::new("refresh-on");
    let cache = f.cache("msal_token_cache.json");
    let app = f.public(AZ_CLI, &cache);
    f.idp.set_refresh_in(Some(0)); // due for renewal at once, valid for an hour
    let first = f.sign_in(&app);
    assert!(first.refresh_on.is_some());
    let account = first.account.unwrap();
    f.idp.reset_counts();

    let renewed = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(renewed.source, TokenSource::IdentityProvider, "refresh_on passed: renewed early");
    assert_eq!(f.idp.count("token:refresh_token"), 1);

    // The IdP now fails: the still-valid token is served.
    f.idp.throttle_next(3, 503, Some(0));
    let served = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(served.source, TokenSource::Cache);
    assert_eq!(served.access_token, renewed.access_token);
}

#[test]
fn invalid_grant_becomes_interaction_required_with_the_claims_challenge() {
    let f = Fixture::new("invalid-grant");
    let (app, account) = signed_in_with_expired_token(&f, AZ_CLI);
    let challenge = r#"{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}"#;
    f.idp.require_claims(Some(challenge));
    let e = app.acquire_token_silent(&account, &[SCOPE]).unwrap_err();
    assert!(e.is_interaction_required(), "{e}");
    assert_eq!(e.claims(), Some(challenge));
    let idp = e.idp().unwrap();
    assert_eq!(
        (idp.error.as_str(), idp.aadsts(), idp.suberror.as_deref()),
        ("invalid_grant", Some(50076), Some("basic_action"))
    );
    assert!(e.to_string().contains("AADSTS50076"), "{e}");

    // A revoked refresh token: interaction required too, without claims.
    f.idp.require_claims(None);
    f.idp.revoke_refresh_tokens();
    let e = app.acquire_token_silent(&account, &[SCOPE]).unwrap_err();
    assert!(matches!(&e, Error::InteractionRequired { .. }) && e.claims().is_none(), "{e}");
    assert_eq!(e.idp().unwrap().aadsts(), Some(700082));
}

#[test]
fn a_claims_request_skips_the_cached_token() {
    let f = Fixture::new("claims");
    let cache = f.cache("msal_token_cache.json");
    let app = f.public(AZ_CLI, &cache);
    let first = f.sign_in(&app);
    f.idp.reset_counts();
    let opts = SilentOptions::new().claims(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#);
    let r = app.acquire_token_silent_with(&first.account.unwrap(), &[SCOPE], &opts).unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_ne!(r.access_token, first.access_token);
    assert_eq!(f.idp.count("token:refresh_token"), 1);
}

#[test]
fn a_family_refresh_token_serves_a_second_client_of_the_family() {
    let f = Fixture::new("foci");
    let (_az, account) = signed_in_with_expired_token(&f, AZ_CLI);
    let cache = f.cache("msal_token_cache.json");
    let second = f.public(SECOND_FAMILY_APP, &cache);
    let r = second.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(f.idp.count("token:refresh_token"), 1);

    let d = doc(&f, "msal_token_cache.json");
    let apps = entries(&d, "AppMetadata");
    let meta =
        apps.iter().find(|m| m["client_id"] == SECOND_FAMILY_APP).expect("app metadata of the second client");
    assert_eq!(meta["family_id"], "1");
    let ats: Vec<_> =
        entries(&d, "AccessToken").into_iter().filter(|a| a["client_id"] == SECOND_FAMILY_APP).collect();
    assert_eq!(ats.len(), 1);
    // As MSAL Python: the family token's own entry holds the rotated token.
    let rts = entries(&d, "RefreshToken");
    assert_eq!(rts.len(), 1);
    assert_eq!(rts[0]["client_id"], AZ_CLI);

    let again = second.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(again.source, TokenSource::Cache);
}

#[test]
fn a_client_outside_the_family_is_told_to_sign_in() {
    let f = Fixture::new("lone");
    let (_az, account) = signed_in_with_expired_token(&f, AZ_CLI);
    let lone = f.public(LONE_APP, &f.cache("msal_token_cache.json"));
    let e = lone.acquire_token_silent(&account, &[SCOPE]).unwrap_err();
    assert!(e.is_interaction_required(), "{e}");
    assert!(e.idp().unwrap().additional_info.iter().any(|x| x == "client_mismatch"));
    assert_eq!(f.idp.count("token"), 1, "one try of the family token, then stop");
}

#[test]
fn no_refresh_token_means_interaction_required_without_a_request() {
    let f = Fixture::new("empty");
    let app = f.public(AZ_CLI, &f.cache("c.json"));
    let e = app
        .acquire_token_silent(&Account::new(&msal_test_idp::home_account_id(), "127.0.0.1"), &[SCOPE])
        .unwrap_err();
    assert!(matches!(e, Error::InteractionRequired { idp: None, .. }), "{e}");
    assert_eq!(f.idp.counts().values().sum::<u64>(), 0);
}

#[test]
fn tokens_stored_under_another_name_of_the_cloud_are_found_offline() {
    // Written by a peer under login.windows.net; asked for at login.microsoftonline.com.
    let dir = Scratch::new("alias");
    let cache = cache_at(&dir.path("c.json"));
    let client_info = "eyJ1aWQiOiJ1aWQxIiwidXRpZCI6InV0aWQxIn0"; // {"uid":"uid1","utid":"utid1"}
    let resp = serde_json::json!({"access_token": "at-alias", "expires_in": 3600, "client_info": client_info,
        "id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIiwicHJlZmVycmVkX3VzZXJuYW1lIjoiYm9iQGV4YW1wbGUuY29tIn0."});
    let r = TokenResponse::from_value(AZ_CLI, [SCOPE], "https://login.windows.net/utid1", resp)
        .unwrap()
        .grant_type("authorization_code");
    cache.add(&r).unwrap();
    let app = PublicClient::new(AZ_CLI, cache).with_authority(Authority::public_cloud("utid1").unwrap());
    let account = app.accounts().unwrap().into_iter().next().expect("the account under the alias");
    assert_eq!(account.username, "bob@example.com");
    let t = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!((t.source, t.access_token.expose()), (TokenSource::Cache, "at-alias"));
    assert_eq!(app.remove_account(&account).unwrap(), 3);
    assert!(app.accounts().unwrap().is_empty());
}

#[test]
fn a_cached_token_of_an_oidc_authority_is_served_without_discovery_while_the_idp_hangs() {
    // Signed in through discovery: the token is stored under the discovered realm.
    let f = Fixture::new("oidc-offline");
    let cache = f.cache("c.json");
    let issuer = |host: &str| format!("https://{host}/{}/v2.0", msal_test_idp::TENANT);
    let app = PublicClient::new(AZ_CLI, cache.clone())
        .with_authority(Authority::oidc(&issuer(&f.idp.host())).unwrap())
        .with_http(f.http());
    let signed = f.sign_in(&app);
    assert_eq!(f.idp.count("discovery"), 1);

    // The same provider as a process that has not discovered it yet sees it
    // while it is unreachable: a port that takes connections and never
    // answers (every HTTP call would wait out its timeout, a minute here).
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", hanging.local_addr().unwrap().port());
    let offline = PublicClient::new(AZ_CLI, cache)
        .with_authority(Authority::oidc(&issuer(&host)).unwrap())
        .with_http(f.http().timeout(std::time::Duration::from_secs(60)));
    let account = offline.accounts().unwrap().into_iter().next().unwrap();
    let t0 = std::time::Instant::now();
    for _ in 0..2 {
        let r = offline.acquire_token_silent(&account, &[SCOPE]).unwrap();
        assert_eq!((r.source, &r.access_token), (TokenSource::Cache, &signed.access_token));
    }
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "waited {:?}", t0.elapsed());
    hanging.set_nonblocking(true).unwrap();
    assert!(hanging.accept().is_err(), "a cache hit connects to nothing");
}

#[test]
fn a_rotated_refresh_token_replaces_only_the_one_redeemed() {
    let f = Fixture::new("rotate-one");
    let (app, account) = signed_in_with_expired_token(&f, AZ_CLI);
    // The same account and client hold a refresh token in another cloud too.
    let client_info = {
        use base64::Engine as _;
        let info = serde_json::json!({"uid": msal_test_idp::USER_OID, "utid": msal_test_idp::TENANT});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info.to_string())
    };
    let other = serde_json::json!({"access_token": "at-us", "expires_in": 3600, "refresh_token": "rt-us-gov",
        "client_info": client_info});
    let authority = format!("https://login.microsoftonline.us/{}", msal_test_idp::TENANT);
    let r = TokenResponse::from_value(AZ_CLI, [SCOPE], &authority, other).unwrap();
    assert_eq!(r.home_account_id().unwrap(), Some(account.home_account_id.clone()));
    f.cache("msal_token_cache.json").add(&r).unwrap();
    let secret_of = |env: &str| {
        let d = doc(&f, "msal_token_cache.json");
        let rts = entries(&d, "RefreshToken");
        rts.iter().find(|rt| rt["environment"] == env).map(|rt| rt["secret"].clone()).unwrap()
    };
    let before = secret_of("127.0.0.1");

    let renewed = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(renewed.source, TokenSource::IdentityProvider);
    assert_eq!(f.idp.count("token:refresh_token"), 1);
    assert_ne!(secret_of("127.0.0.1"), before, "the redeemed entry holds the rotated token");
    assert_eq!(secret_of("login.microsoftonline.us"), "rt-us-gov", "the other entry is untouched");
    assert_eq!(entries(&doc(&f, "msal_token_cache.json"), "RefreshToken").len(), 2);
}
