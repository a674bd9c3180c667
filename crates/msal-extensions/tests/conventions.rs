//! Where the MSAL libraries disagree on the shared file: app-only tokens'
//! `home_account_id` (`WriteConvention`) and host aliases. The real peers'
//! side of each rule is in node_interop.rs; these pin the rules themselves.

mod common;

use msal_extensions::{
    AccessTokenQuery, FilePersistence, PersistedTokenCache, TokenCache, TokenResponse, WriteConvention,
    presets::Preset,
};
use serde_json::{Value, json};

const GRAPH: &str = "https://graph.microsoft.com/.default";
const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";

fn app_response(client: &str, secret: &str) -> TokenResponse {
    let body = json!({"access_token": secret, "expires_in": 3600, "token_type": "Bearer"});
    TokenResponse::from_value(client, [GRAPH], AUTHORITY, body).unwrap()
}

/// An app-only access token as another library stored it (`hai`: the JSON
/// value of `home_account_id`, or `None` for no field), cached at `cached_at`.
fn foreign_app_token(env: &str, client: &str, hai: Option<Value>, cached_at: i64) -> (String, Value) {
    let mut e = json!({
        "environment": env, "credential_type": "AccessToken", "client_id": client,
        "secret": format!("{client}-foreign"), "realm": "contoso.onmicrosoft.com", "target": GRAPH,
        "cached_at": cached_at.to_string(), "expires_on": "4102444800", "extended_expires_on": "4102444800",
        "token_type": "Bearer",
    });
    if let Some(h) = hai {
        e["home_account_id"] = h;
    }
    (format!("-{env}-accesstoken-{client}-contoso.onmicrosoft.com-{GRAPH}--"), e)
}

fn cache_with(entries: Vec<(String, Value)>) -> TokenCache {
    let at: serde_json::Map<String, Value> = entries.into_iter().collect();
    TokenCache::parse(&json!({"AccessToken": at}).to_string()).unwrap()
}

/// The `home_account_id` of the entry `add` wrote for `client`: `Some(value)`, or `None` when absent.
fn written_hai(cache: &TokenCache, client: &str) -> Option<Value> {
    let doc: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let entry = doc["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["client_id"] == client && e["secret"] == format!("{client}-rust"))
        .unwrap_or_else(|| panic!("no entry for {client}: {doc}"))
        .clone();
    entry.get("home_account_id").cloned()
}

#[test]
fn mirror_writes_what_the_cache_already_holds() {
    let cases = [
        (vec![], Some(Value::Null), "an empty cache: MSAL Python's null"),
        (
            vec![foreign_app_token("login.windows.net", "node", Some(json!("")), 10)],
            Some(json!("")),
            "msal-node's",
        ),
        (
            vec![foreign_app_token("login.microsoftonline.com", "py", Some(Value::Null), 10)],
            Some(Value::Null),
            "Python's",
        ),
        (vec![foreign_app_token("login.windows.net", "net", None, 10)], Some(json!("")), ".NET's (no field)"),
        (
            vec![
                foreign_app_token("login.windows.net", "node", Some(json!("")), 20),
                foreign_app_token("login.microsoftonline.com", "py", Some(Value::Null), 10),
            ],
            Some(json!("")),
            "the most recently cached one",
        ),
    ];
    for (entries, want, what) in cases {
        let mut c = cache_with(entries);
        assert_eq!(c.write_convention(), WriteConvention::Mirror);
        c.add(&app_response("mine", "mine-rust")).unwrap();
        assert_eq!(written_hai(&c, "mine"), want, "{what}");
    }
}

#[test]
fn an_explicit_convention_overrides_the_file() {
    let node_file = || cache_with(vec![foreign_app_token("login.windows.net", "node", Some(json!("")), 10)]);
    for (conv, want) in [
        (WriteConvention::MsalPython, Value::Null),
        (WriteConvention::MsalNode, json!("")),
        (WriteConvention::MsalDotnet, json!("")),
    ] {
        let mut c = node_file().with_write_convention(conv);
        c.add(&app_response("mine", "mine-rust")).unwrap();
        assert_eq!(written_hai(&c, "mine"), Some(want), "{conv:?}");
    }
    assert_eq!(WriteConvention::for_preset(Preset::VisualStudio), WriteConvention::MsalDotnet);
    assert_eq!(WriteConvention::for_preset(Preset::AzureIdentityPython), WriteConvention::MsalPython);
}

#[test]
fn app_queries_find_every_form_of_no_account() {
    for hai in [Some(Value::Null), Some(json!("")), None] {
        let c = cache_with(vec![foreign_app_token("login.microsoftonline.com", "c", hai.clone(), 10)]);
        let at = c.access_token(&AccessTokenQuery::new("c", [GRAPH]));
        assert_eq!(at.and_then(|a| a.secret.as_ref()).map(|s| s.expose()), Some("c-foreign"), "{hai:?}");
    }
}

#[test]
fn storing_replaces_the_same_token_under_another_alias_of_the_cloud() {
    let mut c = cache_with(vec![
        foreign_app_token("login.windows.net", "c", Some(json!("")), 10),
        // Another cloud is another identity: kept.
        foreign_app_token("login.microsoftonline.us", "c", Some(json!("")), 10),
    ]);
    c.add(&app_response("c", "c-rust")).unwrap();
    let envs: Vec<_> = c.access_tokens().map(|(_, at)| at.environment.clone().unwrap()).collect();
    assert_eq!(envs, ["login.microsoftonline.us", "login.microsoftonline.com"]);
    let q = AccessTokenQuery::new("c", [GRAPH]).environment("login.windows.net");
    assert_eq!(c.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), "c-rust", "found via an alias");
    let q = AccessTokenQuery::new("c", [GRAPH]).environment("login.microsoftonline.us");
    assert_eq!(c.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), "c-foreign");
}

#[test]
fn user_entries_are_deduplicated_across_aliases_in_every_section() {
    let b64 = |v: &Value| common::b64url(v.to_string());
    let claims = json!({"sub": "s", "oid": "o", "tid": "t", "preferred_username": "u@contoso.com"});
    let response = |host: &str| {
        let body = json!({
            "access_token": "at", "refresh_token": "rt", "expires_in": 3600, "foci": "1",
            "id_token": format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims)),
            "client_info": b64(&json!({"uid": "u", "utid": "t"})),
        });
        TokenResponse::from_value("pub", ["User.Read"], &format!("https://{host}/t"), body).unwrap()
    };
    let mut c = TokenCache::new();
    c.add(&response("login.windows.net")).unwrap();
    c.add(&response("login.microsoftonline.com")).unwrap();
    let doc: Value = serde_json::from_str(&c.serialize()).unwrap();
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"] {
        let entries = doc[section].as_object().unwrap();
        assert_eq!(entries.len(), 1, "{section}: {:?}", entries.keys().collect::<Vec<_>>());
        let (_, e) = entries.iter().next().unwrap();
        assert_eq!(e["environment"], "login.microsoftonline.com", "{section}: the latest write wins");
    }
}

/// A user sign-in stored as `add` stores it (every section), through `host`,
/// at `now`, with tokens `at-{tag}` and `rt-{tag}`.
fn signed_in(host: &str, tag: &str, now: i64) -> TokenCache {
    let b64 = |v: &Value| common::b64url(v.to_string());
    let claims = json!({"sub": "s", "oid": "o", "tid": "t", "preferred_username": "u@contoso.com"});
    let body = json!({
        "access_token": format!("at-{tag}"), "refresh_token": format!("rt-{tag}"), "expires_in": 3600,
        "id_token": format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims)),
        "client_info": b64(&json!({"uid": "u", "utid": "t"})),
    });
    let r = TokenResponse::from_value("pub", ["User.Read"], &format!("https://{host}/t"), body).unwrap();
    let mut c = TokenCache::new();
    c.add_at(&r, now).unwrap();
    c
}

/// Every section of `c` as (environment, secret or "") per entry.
fn entries_by_section(c: &TokenCache) -> Vec<(String, Vec<(String, String)>)> {
    let doc: Value = serde_json::from_str(&c.serialize()).unwrap();
    ["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"]
        .iter()
        .map(|&section| {
            let entries = doc.get(section).and_then(Value::as_object).cloned().unwrap_or_default();
            let v = entries
                .values()
                .map(|e| {
                    let s = |f: &str| e.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
                    (s("environment"), if section == "IdToken" { String::new() } else { s("secret") })
                })
                .collect();
            (section.to_owned(), v)
        })
        .collect()
}

/// `TokenCache::merge` (msal-cache import, migrate --merge) goes by identity
/// as `add` does: the same token under two aliases of one cloud (msal-node
/// writes `login.windows.net`, MSAL Python `login.microsoftonline.com`) ends
/// as one entry, the newer, whichever side holds it and whichever alias it
/// is under; entries without a time stay as they are here.
#[test]
fn merge_keeps_one_entry_per_identity_across_aliases_the_newer_token_winning() {
    const NODE: &str = "login.windows.net";
    const PY: &str = "login.microsoftonline.com";
    let q = AccessTokenQuery::new("pub", ["User.Read"]).account("u.t").environment(PY).at_time(300);
    for (here_host, other_host) in [(NODE, PY), (PY, NODE)] {
        // The newer token merged in replaces the older one under the other alias.
        let mut here = signed_in(here_host, "old", 100);
        // Two searches build the scope index, which the merge must keep right.
        assert!(here.access_token(&q).is_some() && here.access_token(&q).is_some());
        let n = here.merge(&signed_in(other_host, "new", 200));
        assert_eq!((n.added, n.replaced, n.kept), (0, 2, 3), "{here_host} <- {other_host}: {n:?}");
        let got = entries_by_section(&here);
        let one = |env: &str, secret: &str| vec![(env.to_owned(), secret.to_owned())];
        assert_eq!(
            got,
            [
                ("AccessToken".to_owned(), one(other_host, "at-new")),
                ("RefreshToken".to_owned(), one(other_host, "rt-new")),
                ("IdToken".to_owned(), one(here_host, "")),
                ("Account".to_owned(), one(here_host, "")),
                ("AppMetadata".to_owned(), one(here_host, "")),
            ],
            "{here_host} <- {other_host}"
        );
        assert_eq!(here.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), "at-new");
        assert_eq!(here.refresh_tokens().count(), 1);

        // The older token merged in changes nothing: the newer one stays.
        let mut here = signed_in(here_host, "new", 200);
        let before = here.serialize();
        let n = here.merge(&signed_in(other_host, "old", 100));
        assert_eq!((n.added, n.replaced, n.kept), (0, 0, 5), "{here_host} <- {other_host}: {n:?}");
        assert!(!n.changed());
        assert_eq!(here.serialize(), before, "{here_host} <- {other_host}");
        assert_eq!(here.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), "at-new");
    }
}

/// Duplicates within the cache merged in (the same token under two aliases)
/// also end as one entry, the newer; another cloud is another identity.
#[test]
fn merge_collapses_the_other_caches_alias_duplicates_and_keeps_other_clouds() {
    let mut other = cache_with(vec![
        foreign_app_token("login.windows.net", "c", Some(json!("")), 30),
        foreign_app_token("login.microsoftonline.com", "c", Some(json!("")), 20),
        foreign_app_token("login.microsoftonline.us", "c", Some(json!("")), 10),
    ]);
    let mut here = TokenCache::new();
    let n = here.merge(&other);
    assert_eq!((n.added, n.replaced, n.kept), (2, 0, 1), "{n:?}");
    let envs: Vec<_> = here.access_tokens().map(|(_, at)| at.environment.clone().unwrap()).collect();
    assert_eq!(envs, ["login.windows.net", "login.microsoftonline.us"]);
    // An app-only token merged into a cache holding it under another alias, newer.
    other = cache_with(vec![foreign_app_token("sts.windows.net", "c", Some(json!("")), 40)]);
    let n = here.merge(&other);
    assert_eq!((n.added, n.replaced, n.kept), (0, 1, 0), "{n:?}");
    let envs: Vec<_> = here.access_tokens().map(|(_, at)| at.environment.clone().unwrap()).collect();
    assert_eq!(envs, ["login.microsoftonline.us", "sts.windows.net"]);
}

#[test]
fn persisted_cache_applies_its_convention_after_every_reload() {
    let s = common::Scratch::new("conv-persisted");
    let path = s.path("cache.json");
    let (k, e) = foreign_app_token("login.windows.net", "node", Some(json!("")), 10);
    std::fs::write(&path, json!({"AccessToken": {k: e}}).to_string()).unwrap();
    let c = PersistedTokenCache::new(FilePersistence::new(&path).unwrap())
        .write_convention(WriteConvention::MsalPython);
    c.add(&app_response("mine", "mine-rust")).unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mine = doc["AccessToken"].as_object().unwrap().values().find(|e| e["client_id"] == "mine").unwrap();
    assert_eq!(mine["home_account_id"], Value::Null, "{mine}");
    // Mirror (the default) follows the file instead.
    let c = PersistedTokenCache::new(FilePersistence::new(&path).unwrap());
    c.add(&app_response("other", "other-rust")).unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let other = doc["AccessToken"].as_object().unwrap().values().find(|e| e["client_id"] == "other").unwrap();
    assert_eq!(other["home_account_id"], Value::Null, "mirrors the most recent app token, now ours: {other}");
}
