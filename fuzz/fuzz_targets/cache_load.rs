//! Fuzzes the token cache loader: any bytes must give `Ok` or `Error::Corrupt`,
//! never a panic; the loader (its own validating scanner) must accept exactly
//! the documents serde_json accepts and read them the same way; what loads
//! must serialise, re-load to the same document, and answer queries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal_extensions::{AccessTokenQuery, Error, TokenCache};

fuzz_target!(|data: &[u8]| {
    // The reference reading: serde_json through `TokenCache`'s Deserialize impl.
    let by_serde = std::str::from_utf8(data).ok().and_then(|t| {
        if t.bytes().all(|b| b.is_ascii_whitespace()) {
            return Some(TokenCache::new());
        }
        serde_json::from_str::<TokenCache>(t).ok()
    });
    let cache = match TokenCache::parse_bytes(data) {
        Ok(c) => c,
        Err(Error::Corrupt { .. }) => {
            assert!(by_serde.is_none(), "refused a document serde_json reads");
            return;
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    };
    let text = cache.serialize();
    let by_serde = by_serde.expect("accepted a document serde_json refuses");
    assert_eq!(by_serde.serialize(), text, "the two readings differ");
    let again = TokenCache::parse(&text).expect("our own output must load");
    assert_eq!(again.serialize(), text, "serialise/load is a fixed point");
    let _ = cache.serialize_pretty();
    let _ = cache.access_token(&AccessTokenQuery::new("c", ["s"]).at_time(0));
    for a in cache.accounts() {
        if let Some(h) = a.home_account_id.as_deref() {
            let _ = cache.id_token_claims(h, "c");
        }
    }
});
