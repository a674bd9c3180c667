//! Fuzzes the token cache loader: any bytes must give `Ok` or `Error::Corrupt`,
//! never a panic; what loads must serialise, re-load to the same document,
//! and answer queries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal_extensions::{AccessTokenQuery, Error, TokenCache};

fuzz_target!(|data: &[u8]| {
    let cache = match TokenCache::parse_bytes(data) {
        Ok(c) => c,
        Err(Error::Corrupt { .. }) => return,
        Err(other) => panic!("unexpected error kind: {other:?}"),
    };
    let text = cache.serialize();
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
