//! Bad cache content never panics: every prefix of a real MSAL Python cache,
//! and every single-byte corruption of it, loads or gives `Error::Corrupt`;
//! whatever loads serialises and re-loads to the same document.
//! (The cargo-fuzz target `fuzz/fuzz_targets/cache_load.rs` explores further.)

use msal_extensions::{AccessTokenQuery, Error, TokenCache};

/// A cache written by MSAL Python 1.39 (`json.dumps(indent=4)`), with unknown
/// fields and sections; also the seed of the fuzz corpus.
const PYTHON_CACHE: &[u8] = include_bytes!("../../../fuzz/corpus/cache_load/python_rich.json");

fn check(bytes: &[u8]) -> bool {
    match TokenCache::parse_bytes(bytes) {
        Ok(c) => {
            let text = c.serialize();
            let again = TokenCache::parse(&text).expect("our own output must load");
            assert_eq!(again.serialize(), text);
            let _ = c.access_token(&AccessTokenQuery::new("rich_client", ["User.Read"]).at_time(0));
            true
        }
        Err(Error::Corrupt { .. }) => false,
        Err(e) => panic!("unexpected error kind {e:?}"),
    }
}

#[test]
fn the_seed_is_a_real_cache() {
    let c = TokenCache::parse_bytes(PYTHON_CACHE).unwrap();
    assert_eq!(c.accounts().count(), 1);
    assert!(c.unknown_section("FutureSection").is_some());
}

#[test]
fn every_truncation_is_handled() {
    let loaded = (0..PYTHON_CACHE.len()).filter(|&n| check(&PYTHON_CACHE[..n])).count();
    // Only the empty and whitespace prefixes load; every other cut is corrupt.
    assert_eq!(loaded, 1, "only the empty prefix is a (empty) cache");
}

#[test]
fn every_single_byte_corruption_is_handled() {
    let mut buf = PYTHON_CACHE.to_vec();
    for i in 0..buf.len() {
        for b in [b'"', b'}', 0xff] {
            let orig = buf[i];
            buf[i] = b;
            check(&buf);
            buf[i] = orig;
        }
    }
}

#[test]
fn wrong_types_everywhere_load_without_panic() {
    let fields = [
        "secret",
        "home_account_id",
        "environment",
        "client_id",
        "realm",
        "target",
        "expires_on",
        "cached_at",
        "family_id",
        "username",
        "credential_type",
    ];
    let values = ["null", "1", "-1.5e300", "true", "[]", "{}", "\"\"", "\"x y\"", "18446744073709551616"];
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"] {
        for f in fields {
            for v in values {
                let text = format!(r#"{{"{section}": {{"k": {{"{f}": {v}}}}}}}"#);
                assert!(check(text.as_bytes()), "{text}");
            }
        }
    }
}

/// Corrupt content is described by what it is and where, never as "not
/// valid JSON at line 1 column 1" for a byte-order mark or deep nesting, and
/// a cache not read from a store says no "at <location>".
#[test]
fn messages_say_what_is_wrong() {
    let bom = TokenCache::parse_bytes(b"\xEF\xBB\xBF{\"AccessToken\": {}}").unwrap_err().to_string();
    assert!(bom.contains("byte-order mark") && bom.contains("remove those three bytes"), "{bom}");
    assert!(bom.starts_with("the token cache is corrupt: "), "{bom}");
    let deep = format!("{{\"Other\": {}{}}}", "[".repeat(200), "]".repeat(200));
    let deep = TokenCache::parse(&deep).unwrap_err().to_string();
    assert!(deep.contains("more than 128 levels deep"), "{deep}");
    let deep_obj = format!("{}1{}", "{\"a\": ".repeat(300), "}".repeat(300));
    let deep_obj = TokenCache::parse(&deep_obj).unwrap_err().to_string();
    assert!(deep_obj.contains("more than 128 levels deep"), "{deep_obj}");
    let junk = TokenCache::parse("{} x").unwrap_err().to_string();
    assert!(junk.contains("followed by other data") && junk.contains("line 1 column 4"), "{junk}");
}
