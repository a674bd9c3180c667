//! Secrets never reach `Debug` output, error messages (with their source
//! chains) or logs at any level, on the normal path and on the error paths
//! (corrupt caches holding tokens, bad responses).

mod common;

use common::Scratch;
use msal_extensions::{
    AccessTokenQuery, Error, FilePersistence, OnCorrupt, PersistedTokenCache, Persistence, TokenCache,
    TokenResponse,
};

const MARK: &str = "S3CR3T";
const AUTH: &str = "https://login.microsoftonline.com/contoso";

fn capture_logs() {
    common::capture_logs();
}

use common::b64url as b64;

fn user_response(tag: &str) -> TokenResponse {
    let body = serde_json::json!({
        "access_token": format!("{MARK}-at-{tag}"),
        "refresh_token": format!("{MARK}-rt-{tag}"),
        "id_token": format!("{}.{}.{MARK}-sig", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"u","preferred_username":"u@x"}"#)),
        "client_info": b64(r#"{"uid":"u","utid":"t"}"#),
        "expires_in": 3600,
    });
    TokenResponse::from_value("app", ["s"], AUTH, body).unwrap().grant_type("authorization_code")
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARK), "a secret leaked through {what}: {text}");
}

fn error_chain(e: &Error) -> String {
    let mut s = format!("{e} | {e:?}");
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(&format!(" | {c} | {c:?}"));
        cur = c.source();
    }
    s
}

#[test]
fn debug_of_every_type_holding_secrets_is_redacted() {
    let r = user_response("dbg");
    assert_clean("TokenResponse Debug", &format!("{r:?}"));
    let mut cache = TokenCache::new();
    cache.add(&r).unwrap();
    assert_clean("TokenCache Debug", &format!("{cache:?}"));
    for (_, at) in cache.access_tokens() {
        assert_clean("AccessToken Debug", &format!("{at:?}"));
    }
    for (_, rt) in cache.refresh_tokens() {
        assert_clean("RefreshToken Debug", &format!("{rt:?}"));
    }
    for (_, idt) in cache.id_tokens() {
        assert_clean("IdToken Debug", &format!("{idt:?}"));
    }
    assert!(
        cache.serialize().contains(MARK),
        "the fixture must hold the secrets, or this test proves nothing"
    );
}

#[test]
fn persisted_cache_logs_and_debug_hold_no_secret() {
    capture_logs();
    let dir = Scratch::new("secrets-ptc");
    let cache = PersistedTokenCache::new(FilePersistence::new(dir.path("c.json")).unwrap());
    cache.add(&user_response("a")).unwrap();
    let at = cache.access_token(&AccessTokenQuery::new("app", ["s"]).account("u.t")).unwrap().unwrap();
    assert_clean("AccessToken Debug", &format!("{at:?}"));
    assert_clean("PersistedTokenCache Debug", &format!("{cache:?}"));
    // A corrupt cache full of tokens: quarantined with a warning that must not quote it.
    let text = cache.persistence().load().unwrap();
    std::fs::write(dir.path("c.json"), &text[..text.len() / 2]).unwrap();
    cache.add(&user_response("b")).unwrap();
    let logs = common::capture_logs().lines().join("\n");
    assert!(logs.contains("corrupt") || logs.contains("quarantin"), "the quarantine was not logged: {logs}");
    assert_clean("the logs", &logs);
}

#[test]
fn corrupt_data_errors_hold_no_secret() {
    let dir = Scratch::new("secrets-corrupt");
    let path = dir.path("c.json");
    let mut full = TokenCache::new();
    full.add(&user_response("c")).unwrap();
    let text = full.serialize();
    for cut in [text.len() / 3, text.len() / 2, text.len() - 2] {
        std::fs::write(&path, &text[..cut]).unwrap();
        let cache =
            PersistedTokenCache::new(FilePersistence::new(&path).unwrap()).on_corrupt(OnCorrupt::Fail);
        let err = cache.accounts().unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert_clean("a corrupt-data error", &error_chain(&err));
        let err = TokenCache::parse(&text[..cut]).unwrap_err();
        assert_clean("a parse error", &error_chain(&err));
    }
}

#[test]
fn bad_response_errors_hold_no_secret() {
    let bad = [
        format!(r#"{{"access_token": "{MARK}-1", "expires_in": "soon"}}"#),
        format!(r#"{{"access_token": "{MARK}-2", "client_info": "{MARK}%%"}}"#),
        format!(r#"{{"access_token": "{MARK}-3", "expires_in": 3600"#),
        format!(r#"["{MARK}-4"]"#),
        format!(r#""{MARK}-5""#),
    ];
    for body in bad {
        let mut cache = TokenCache::new();
        match TokenResponse::new("app", ["s"], AUTH, &body) {
            Err(e) => assert_clean("a response error", &error_chain(&e)),
            Ok(r) => {
                assert_clean("TokenResponse Debug", &format!("{r:?}"));
                if let Err(e) = cache.add(&r) {
                    assert_clean("an add error", &error_chain(&e));
                }
            }
        }
    }
}
