//! Property tests over generated caches and responses:
//! - load -> save -> load is the identity on any valid cache, unknown
//!   sections and unknown fields included;
//! - `add` then search finds exactly what was added;
//! - removing an account removes its entries and nothing else.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use msal_extensions::{AccessTokenQuery, TokenCache, TokenResponse};

const AUTH: &str = "https://login.microsoftonline.com/prop-tenant";
const NOW: i64 = 1_700_000_000;

mod common;

use common::b64url as b64;

/// Any JSON value a peer might put in an unknown field.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn unix_seconds() -> impl Strategy<Value = Value> {
    (1_000_000_000i64..2_000_000_000).prop_map(|n| json!(n.to_string()))
}

/// An entry of `section` with its known fields (as MSAL writes them) and extras.
fn entry(section: &'static str) -> impl Strategy<Value = Value> {
    let known = (
        "[a-z0-9.-]{0,20}",
        "[a-z.]{3,20}",
        "[a-z0-9-]{1,12}",
        "[a-z0-9-]{1,12}",
        "[A-Za-z0-9._/ -]{0,30}",
        "[!-~]{1,40}",
        unix_seconds(),
        unix_seconds(),
    );
    let extras = prop::collection::btree_map("x_[a-z_]{1,10}", any_json(), 0..4);
    (known, extras).prop_map(move |((hai, env, client, realm, target, secret, t1, t2), extras)| {
        let mut m = Map::new();
        m.insert("home_account_id".into(), if hai.is_empty() { Value::Null } else { json!(hai) });
        m.insert("environment".into(), json!(env));
        match section {
            "AccessToken" | "RefreshToken" | "IdToken" => {
                let kind = section;
                m.insert("credential_type".into(), json!(kind));
                m.insert("client_id".into(), json!(client));
                m.insert("secret".into(), json!(secret));
                m.insert("realm".into(), json!(realm));
                if section != "IdToken" {
                    m.insert("target".into(), json!(target));
                }
                if section == "AccessToken" {
                    m.insert("cached_at".into(), t1);
                    m.insert("expires_on".into(), t2);
                }
            }
            "Account" => {
                m.insert("realm".into(), json!(realm));
                m.insert("username".into(), json!(format!("{client}@example.com")));
                m.insert("authority_type".into(), json!("MSSTS"));
            }
            _ => {
                m.insert("client_id".into(), json!(client));
            }
        }
        m.extend(extras);
        Value::Object(m)
    })
}

fn section(name: &'static str) -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z0-9.-]{1,30}", entry(name), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A whole cache: the five sections plus unknown top-level sections.
fn cache_doc() -> impl Strategy<Value = Value> {
    (
        section("AccessToken"),
        section("RefreshToken"),
        section("IdToken"),
        section("Account"),
        section("AppMetadata"),
        prop::collection::btree_map("[A-Z][a-zA-Z]{2,10}", any_json(), 0..3),
    )
        .prop_map(|(at, rt, idt, acc, app, unknown)| {
            let mut m = Map::new();
            for (k, v) in unknown {
                m.insert(k, v);
            }
            m.insert("AccessToken".into(), at);
            m.insert("RefreshToken".into(), rt);
            m.insert("IdToken".into(), idt);
            m.insert("Account".into(), acc);
            m.insert("AppMetadata".into(), app);
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn load_save_load_is_identity(doc in cache_doc(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&doc).unwrap() } else { doc.to_string() };
        let once = TokenCache::parse(&text).unwrap();
        let saved = once.serialize();
        let again: Value = serde_json::from_str(&saved).unwrap();
        prop_assert_eq!(&again, &doc, "a load/save changed the document");
        prop_assert_eq!(TokenCache::parse(&saved).unwrap().serialize(), saved);
    }

    #[test]
    fn add_then_search_finds_it(
        client in "[a-z0-9-]{1,20}",
        scopes in prop::collection::btree_set("[A-Za-z./]{1,16}", 1..4),
        secret in "[!-~]{1,64}",
        expires_in in 600i64..100_000,
        as_string in any::<bool>(),
    ) {
        let expires = if as_string { json!(expires_in.to_string()) } else { json!(expires_in) };
        let resp = json!({"access_token": secret, "expires_in": expires});
        let r = TokenResponse::from_value(&client, scopes.iter().map(String::as_str), AUTH, resp).unwrap();
        let mut cache = TokenCache::new();
        cache.add_at(&r, NOW).unwrap();
        for subset in [scopes.iter().take(1).collect::<Vec<_>>(), scopes.iter().collect()] {
            let q = AccessTokenQuery::new(&client, subset.iter().map(|s| s.as_str())).at_time(NOW);
            let found = cache.access_token(&q);
            prop_assert!(found.is_some(), "not found by {:?}", subset);
            prop_assert_eq!(found.unwrap().secret.as_ref().unwrap().expose(), secret.as_str());
        }
        let other = AccessTokenQuery::new(&client, ["scope-never-requested"]).at_time(NOW);
        prop_assert!(cache.access_token(&other).is_none());
        let later = AccessTokenQuery::new(&client, scopes.iter().map(String::as_str)).at_time(NOW + expires_in + 1);
        prop_assert!(cache.access_token(&later).is_none(), "an expired token was returned");
    }

    #[test]
    fn removal_removes_exactly_one_account(uids in prop::collection::btree_set("[a-z0-9]{1,10}", 2..6), pick in any::<prop::sample::Index>()) {
        let uids: Vec<String> = uids.into_iter().collect();
        let mut cache = TokenCache::new();
        for uid in &uids {
            let client_info = b64(json!({"uid": uid, "utid": "prop-tenant"}).to_string().as_bytes());
            let claims = b64(json!({"sub": uid, "preferred_username": format!("{uid}@x")}).to_string().as_bytes());
            let resp = json!({
                "access_token": format!("at-{uid}"), "expires_in": 3600, "refresh_token": format!("rt-{uid}"),
                "client_info": client_info, "id_token": format!("{}.{claims}.s", b64(b"{}")),
            });
            let r = TokenResponse::from_value("app", ["s"], AUTH, resp).unwrap().grant_type("authorization_code");
            cache.add_at(&r, NOW).unwrap();
        }
        let victim = format!("{}.prop-tenant", uids[pick.index(uids.len())]);
        let before = cache.len();
        let removed = cache.remove_account(&victim);
        prop_assert_eq!(removed, 4, "account, access, refresh and id token");
        prop_assert_eq!(cache.len(), before - 4);
        for uid in &uids {
            let hai = format!("{uid}.prop-tenant");
            let present = cache.accounts().any(|a| a.home_account_id.as_deref() == Some(hai.as_str()));
            prop_assert_eq!(present, hai != victim);
            let q = AccessTokenQuery::new("app", ["s"]).account(&hai).at_time(NOW);
            prop_assert_eq!(cache.access_token(&q).is_some(), hai != victim);
            prop_assert_eq!(cache.refresh_token(&hai, "app").is_some(), hai != victim);
        }
    }
}
