//! TokenCache: what `add` writes (checked field by field against what MSAL
//! Python 1.39 writes for the same response), queries, removal, tolerance.

use msal_extensions::{AccessTokenQuery, Error, TokenCache, TokenResponse};
use serde_json::{Value, json};

const CLIENT: &str = "my_client_id";
const AUTH: &str = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
const NOW: i64 = 1_700_000_000;

mod common;

fn b64(v: &Value) -> String {
    common::b64url(v.to_string())
}

fn id_token(claims: Value) -> String {
    format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims))
}

fn user_response() -> Value {
    json!({
        "access_token": "AT-user", "token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 7200,
        "refresh_token": "RT-user", "foci": "1",
        "client_info": b64(&json!({"uid": "uid1", "utid": "utid1"})),
        "id_token": id_token(json!({"sub": "sub1", "oid": "oid1", "preferred_username": "john@contoso.com"})),
    })
}

fn cache_with(resp: Value, scopes: &[&str], grant: &str) -> TokenCache {
    let mut c = TokenCache::new();
    let r = TokenResponse::from_value(CLIENT, scopes.iter().copied(), AUTH, resp).unwrap().grant_type(grant);
    c.add_at(&r, NOW).unwrap();
    c
}

fn doc(c: &TokenCache) -> Value {
    serde_json::from_str(&c.serialize()).unwrap()
}

#[test]
fn client_credentials_entries_match_msal_python() {
    let c =
        cache_with(json!({"access_token": "AT", "expires_in": "3599"}), &["s2", "s1"], "client_credentials");
    let d = doc(&c);
    let key = "-login.microsoftonline.com-accesstoken-my_client_id-contoso-s1 s2";
    assert_eq!(
        d["AccessToken"][key],
        json!({
            "credential_type": "AccessToken", "secret": "AT", "home_account_id": null,
            "environment": "login.microsoftonline.com", "client_id": CLIENT, "target": "s1 s2",
            "realm": "contoso", "token_type": "Bearer", "cached_at": NOW.to_string(),
            "expires_on": (NOW + 3599).to_string(), "extended_expires_on": (NOW + 3599).to_string(),
        })
    );
    assert_eq!(
        d["AppMetadata"]["appmetadata-login.microsoftonline.com-my_client_id"],
        json!({"client_id": CLIENT, "environment": "login.microsoftonline.com"})
    );
    assert!(d.get("Account").is_none() && d.get("RefreshToken").is_none() && d.get("IdToken").is_none());
}

/// A refresh-token grant writes tokens but no account (MSAL Python passes
/// `skip_account_creation=True` there), so a renewal cannot bring back an
/// account removed meanwhile.
#[test]
fn skip_account_creation_writes_tokens_but_no_account() {
    let mut c = TokenCache::new();
    let r = TokenResponse::from_value(CLIENT, ["User.Read"], AUTH, user_response())
        .unwrap()
        .grant_type("refresh_token")
        .skip_account_creation();
    c.add_at(&r, NOW).unwrap();
    let d = doc(&c);
    assert!(d.get("Account").is_none(), "no account entry");
    assert_eq!(d["AccessToken"].as_object().unwrap().len(), 1);
    assert_eq!(d["IdToken"].as_object().unwrap().len(), 1);
    assert_eq!(d["RefreshToken"].as_object().unwrap().len(), 1);
}

#[test]
fn user_sign_in_entries_match_msal_python() {
    let c = cache_with(user_response(), &["User.Read"], "authorization_code");
    let d = doc(&c);
    let hai = "uid1.utid1";
    assert_eq!(
        d["Account"]["uid1.utid1-login.microsoftonline.com-contoso"],
        json!({"home_account_id": hai, "environment": "login.microsoftonline.com", "realm": "contoso",
               "local_account_id": "oid1", "username": "john@contoso.com", "authority_type": "MSSTS",
               "account_source": "authorization_code"})
    );
    let rt = &d["RefreshToken"]["uid1.utid1-login.microsoftonline.com-refreshtoken-my_client_id--user.read"];
    assert_eq!(rt["secret"], "RT-user");
    assert_eq!(rt["family_id"], "1");
    assert_eq!(rt["target"], "User.Read");
    assert_eq!(rt["last_modification_time"], NOW.to_string());
    let idt = &d["IdToken"]["uid1.utid1-login.microsoftonline.com-idtoken-my_client_id-contoso-"];
    assert_eq!(idt["credential_type"], "IdToken");
    assert_eq!(idt["home_account_id"], hai);
    let at =
        &d["AccessToken"]["uid1.utid1-login.microsoftonline.com-accesstoken-my_client_id-contoso-user.read"];
    assert_eq!(at["extended_expires_on"], (NOW + 7200).to_string());
    assert_eq!(d["AppMetadata"]["appmetadata-login.microsoftonline.com-my_client_id"]["family_id"], "1");
    assert_eq!(c.id_token_claims(hai, CLIENT).unwrap()["oid"], "oid1");
    assert_eq!(c.accounts().next().unwrap().username.as_deref(), Some("john@contoso.com"));
}

#[test]
fn expiry_variants() {
    let at = |resp: Value| {
        doc(&cache_with(resp, &["s"], "x"))["AccessToken"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone()
    };
    assert_eq!(at(json!({"access_token": "a"}))["expires_on"], (NOW + 600).to_string(), "default 600 s");
    assert_eq!(
        at(json!({"access_token": "a", "expires_on": NOW + 50}))["expires_on"],
        (NOW + 50).to_string()
    );
    assert_eq!(
        at(json!({"access_token": "a", "expires_in": 10, "refresh_in": 5}))["refresh_on"],
        (NOW + 5).to_string()
    );
    let bad =
        TokenResponse::from_value(CLIENT, ["s"], AUTH, json!({"access_token": "a", "expires_in": "soon"}))
            .unwrap();
    let mut c = TokenCache::new();
    assert!(matches!(c.add_at(&bad, NOW), Err(Error::InvalidInput { .. })));
    assert!(c.is_empty(), "a rejected response changes nothing");
}

#[test]
fn bad_responses_are_typed_errors() {
    let mut c = TokenCache::new();
    for resp in [
        json!({"access_token": "a", "client_info": "%%%"}),
        json!({"id_token": "x.y"}),
        json!({"access_token": "a", "expires_in": {}}),
    ] {
        let r = TokenResponse::from_value(CLIENT, ["s"], AUTH, resp.clone()).unwrap();
        assert!(matches!(c.add_at(&r, NOW), Err(Error::InvalidInput { .. })), "{resp}");
    }
    assert!(TokenResponse::new(CLIENT, ["s"], AUTH, "not json").is_err());
    assert!(TokenResponse::new(CLIENT, ["s"], AUTH, "[1]").is_err());
    assert!(TokenResponse::new(CLIENT, ["s"], "http://insecure/t", "{}").is_err());
}

#[test]
fn access_token_query_matches_subset_account_and_expiry() {
    let mut c = cache_with(user_response(), &["User.Read", "Mail.Read"], "authorization_code");
    let app = TokenResponse::from_value(
        CLIENT,
        ["api/.default"],
        AUTH,
        json!({"access_token": "APP", "expires_in": 1000}),
    )
    .unwrap();
    c.add_at(&app, NOW).unwrap();
    let q = |scopes: Vec<&'static str>| AccessTokenQuery::new(CLIENT, scopes).at_time(NOW);
    let secret =
        |q: AccessTokenQuery<'_>| c.access_token(&q).map(|t| t.secret.clone().unwrap().expose().to_owned());
    assert_eq!(
        secret(q(vec!["mail.read"]).account("UID1.utid1")).as_deref(),
        Some("AT-user"),
        "subset, any case"
    );
    assert_eq!(secret(q(vec!["Mail.Read", "User.Read"]).account("uid1.utid1")).as_deref(), Some("AT-user"));
    assert_eq!(secret(q(vec!["Mail.Read", "Files.Read"]).account("uid1.utid1")), None, "not a superset");
    assert_eq!(secret(q(vec!["Mail.Read"])), None, "an app query never returns a user token");
    assert_eq!(secret(q(vec!["api/.default"])).as_deref(), Some("APP"));
    assert_eq!(secret(q(vec!["api/.default"]).realm("other")), None);
    assert_eq!(
        secret(q(vec!["api/.default"]).environment("login.microsoftonline.us")),
        None,
        "another cloud"
    );
    assert_eq!(
        secret(q(vec!["api/.default"]).environment("login.windows.net")).as_deref(),
        Some("APP"),
        "an alias of the same cloud"
    );
    // 1000 s left: valid with the default 300 s skew at NOW+600, not at NOW+800.
    assert!(secret(q(vec!["api/.default"]).at_time(NOW + 600)).is_some());
    assert!(secret(q(vec!["api/.default"]).at_time(NOW + 800)).is_none());
    let skew = std::time::Duration::from_secs(0);
    assert!(secret(q(vec!["api/.default"]).at_time(NOW + 800).clock_skew(skew)).is_some());
}

#[test]
fn re_adding_replaces_entries_stored_under_foreign_keys() {
    let mut c = cache_with(json!({"access_token": "old", "expires_in": 100}), &["b", "a"], "x");
    // Re-key the entry the way another SDK might, then add again: one entry must remain.
    let mut text = c.serialize();
    text = text.replace("-contoso-a b", "-contoso-a b--");
    c = TokenCache::parse(&text).unwrap();
    let r = TokenResponse::from_value(
        CLIENT,
        ["A", "B"],
        AUTH,
        json!({"access_token": "new", "expires_in": 100}),
    )
    .unwrap();
    c.add_at(&r, NOW).unwrap();
    let ats: Vec<_> = c.access_tokens().collect();
    assert_eq!(ats.len(), 1, "{:?}", ats.iter().map(|(k, _)| k).collect::<Vec<_>>());
    assert_eq!(ats[0].1.secret.as_ref().unwrap().expose(), "new");
}

#[test]
fn refresh_tokens_by_client_and_family_update_and_removal() {
    let mut c = cache_with(user_response(), &["User.Read"], "authorization_code");
    let other = TokenResponse::from_value("other_app", ["x"], AUTH, json!({"access_token": "o", "refresh_token": "RT-o", "client_info": b64(&json!({"uid": "u2", "utid": "t2"}))})).unwrap();
    c.add_at(&other, NOW).unwrap();
    assert_eq!(c.refresh_token("uid1.utid1", CLIENT).unwrap().secret.as_ref().unwrap().expose(), "RT-user");
    assert_eq!(c.family_refresh_token("uid1.utid1", "1").unwrap().client_id.as_deref(), Some(CLIENT));
    assert!(c.family_refresh_token("u2.t2", "1").is_none());
    assert!(c.update_refresh_token("uid1.utid1", CLIENT, "RT-rotated"));
    assert_eq!(
        c.refresh_token("uid1.utid1", CLIENT).unwrap().secret.as_ref().unwrap().expose(),
        "RT-rotated"
    );
    assert!(!c.update_refresh_token("nobody", CLIENT, "x"));
    let removed = c.remove_account("uid1.utid1");
    assert_eq!(removed, 4, "account, AT, RT, IdToken");
    assert!(c.refresh_token("uid1.utid1", CLIENT).is_none());
    assert_eq!(c.accounts().count(), 1, "the other account stays");
    assert!(
        c.access_token(&AccessTokenQuery::new("other_app", ["x"]).account("u2.t2").at_time(NOW)).is_some()
    );
}

#[test]
fn foreign_variants_are_read() {
    // .NET-style compact JSON, numeric timestamps, Go's "IDToken", nulls, unknown fields/sections.
    let src = json!({
        "AccessToken": {"opaque-key-1": {"credential_type": "AccessToken", "secret": "net", "home_account_id": "h.t",
            "environment": "login.microsoftonline.com", "client_id": CLIENT, "realm": "contoso",
            "target": "User.Read openid", "cached_at": NOW, "expires_on": NOW + 4000, "kid": "k1", "ext": {"z": 1}}},
        "IdToken": {"k": {"credential_type": "IDToken", "secret": id_token(json!({"sub": "s", "name": "N"})),
            "home_account_id": "h.t", "environment": "login.microsoftonline.com", "realm": "contoso", "client_id": CLIENT}},
        "Account": {"k": {"home_account_id": "h.t", "username": null, "environment": "login.microsoftonline.com", "tenantProfiles": []}},
        "Future": [1, 2, 3],
    });
    let text = src.to_string();
    let c = TokenCache::parse(&text).unwrap();
    let q = AccessTokenQuery::new(CLIENT, ["user.read"]).account("h.t").at_time(NOW);
    assert_eq!(c.access_token(&q).unwrap().extra["kid"], "k1");
    assert_eq!(c.id_token_claims("h.t", CLIENT).unwrap()["name"], "N");
    assert_eq!(c.accounts().next().unwrap().username, None);
    // Written back: every field and section as read; an access token that was
    // only read is copied verbatim (its numeric timestamps stay numbers).
    assert_eq!(doc(&c), src);
}

#[test]
fn removal_of_expired_tokens_and_index_consistency() {
    let mut c = TokenCache::new();
    for i in 0..50 {
        let r = TokenResponse::from_value(
            CLIENT,
            [format!("s{i}")],
            AUTH,
            json!({"access_token": format!("t{i}"), "expires_in": i * 10}),
        )
        .unwrap();
        c.add_at(&r, NOW).unwrap();
        // Query after each add so the index is built early and kept up to date incrementally.
        let s = format!("s{i}");
        let q = AccessTokenQuery::new(CLIENT, [s.as_str()]).at_time(NOW - 1000);
        assert_eq!(c.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), format!("t{i}"));
    }
    assert_eq!(c.remove_expired_access_tokens(NOW + 250), 25);
    for i in 0..50 {
        let s = format!("s{i}");
        let found =
            c.access_token(&AccessTokenQuery::new(CLIENT, [s.as_str()]).at_time(NOW - 1000)).is_some();
        assert_eq!(found, i >= 25, "{s}");
    }
}

#[test]
fn re_adding_keeps_foreign_account_and_app_fields_but_replaces_credentials_whole() {
    let mut c = cache_with(user_response(), &["User.Read"], "authorization_code");
    let mut d = doc(&c);
    for section in ["Account", "AppMetadata", "AccessToken"] {
        for e in d[section].as_object_mut().unwrap().values_mut() {
            e["x_sdk_field"] = json!([1]);
        }
    }
    c = TokenCache::parse(&d.to_string()).unwrap();
    let r = TokenResponse::from_value(CLIENT, ["User.Read"], AUTH, user_response()).unwrap();
    c.add_at(&r, NOW + 1).unwrap();
    let d = doc(&c);
    let first = |s: &str| d[s].as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(first("Account")["x_sdk_field"], json!([1]));
    assert_eq!(first("AppMetadata")["x_sdk_field"], json!([1]));
    assert!(
        first("AccessToken").get("x_sdk_field").is_none(),
        "a new token does not inherit the old one's extras"
    );
    assert_eq!(first("AccessToken")["cached_at"], (NOW + 1).to_string());
}

/// Merging keeps both sides' tokens: new keys are added, a key is replaced
/// only by a newer entry, a `null` section changes nothing, and merging the
/// same cache again changes nothing.
#[test]
fn merge_is_the_union_with_the_newest_entry_winning() {
    let mut here = TokenCache::parse(
        r#"{"AccessToken": {"a": {"secret": "old", "cached_at": "10"}, "k": {"secret": "mine", "cached_at": "50"}},
            "Account": {"x": {"username": "here"}}, "Future": {"f": 1}}"#,
    )
    .unwrap();
    let other = TokenCache::parse(
        r#"{"AccessToken": {"a": {"secret": "new", "cached_at": "20"}, "k": {"secret": "older", "cached_at": "40"},
            "b": {"secret": "b"}}, "RefreshToken": null, "Account": {"x": {"username": "there"}, "y": {}},
            "Other": {"o": 2}}"#,
    )
    .unwrap();
    let n = here.merge(&other);
    assert_eq!((n.added, n.replaced, n.kept), (3, 1, 2), "{n:?}");
    let secret = |c: &TokenCache, k: &str| {
        c.access_tokens()
            .find(|(key, _)| *key == k)
            .map(|(_, t)| t.secret.as_ref().unwrap().expose().to_owned())
    };
    assert_eq!(secret(&here, "a").as_deref(), Some("new"), "newer wins");
    assert_eq!(secret(&here, "k").as_deref(), Some("mine"), "older loses");
    assert_eq!(secret(&here, "b").as_deref(), Some("b"), "new key added");
    assert_eq!(here.accounts().find(|a| a.username.as_deref() == Some("here")).map(|_| ()), Some(()));
    assert!(here.unknown_section("Future").is_some() && here.unknown_section("Other").is_some());
    assert!(!here.merge(&other).changed(), "merging again changes nothing");
}
