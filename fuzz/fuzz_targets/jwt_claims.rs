//! Fuzzes the base64url + JSON readers behind id tokens and client_info:
//! directly, and through `TokenCache::add` of a response carrying them.
//! Input: `<id_token>\0<client_info>` (either part may be anything).
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal_extensions::{TokenCache, TokenResponse, cache::decode_jwt_claims};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (id_token, client_info) = text.split_once('\0').unwrap_or((&text, ""));
    let _ = decode_jwt_claims(id_token);
    let response = json!({
        "access_token": "at", "expires_in": 3600, "refresh_token": "rt",
        "id_token": id_token, "client_info": client_info,
    });
    let Ok(r) = TokenResponse::from_value("c", ["s"], "https://login.microsoftonline.com/t", response) else {
        return;
    };
    let mut cache = TokenCache::new();
    if cache.add_at(&r, 1_700_000_000).is_ok() {
        let text = cache.serialize();
        TokenCache::parse(&text).expect("our own output must load");
        for a in cache.accounts() {
            let _ = a.username.as_deref();
        }
    }
});
