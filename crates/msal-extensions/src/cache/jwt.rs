//! Decoding the two base64url-encoded JSON blobs a token response carries:
//! `client_info` and the payload of the `id_token` JWT.
//!
//! Like MSAL, this *decodes* and never *verifies*: the id token came over TLS
//! straight from the identity provider, and the cache only needs a few claims
//! (username, object id) to label the account. Every function here returns
//! `None` on malformed input instead of panicking, because the input comes
//! from the network or from a file another program wrote.

use serde_json::{Map, Value};

/// Decodes base64url (RFC 4648 §5), with or without `=` padding.
/// Standard-alphabet `+` and `/` are accepted too, as some peers emit them.
pub(crate) fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in trimmed.bytes() {
        acc = (acc << 6) | u32::from(sextet(b)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character (6 bits) cannot encode a byte: malformed.
    (bits < 6).then_some(out)
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'-' | b'+' => Some(62),
        b'_' | b'/' => Some(63),
        _ => None,
    }
}

/// Decodes a base64url blob holding a JSON object.
pub(crate) fn decode_json_object(input: &str) -> Option<Map<String, Value>> {
    let bytes = base64url_decode(input)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The claims of a JWT (its middle, payload part), unverified.
pub(crate) fn jwt_claims(jwt: &str) -> Option<Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    decode_json_object(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_and_without_padding() {
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64url_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("-_-_").unwrap(), vec![0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn rejects_garbage_without_panic() {
        for bad in ["a", "a$b", "é", "abcde", "\u{0}"] {
            assert!(base64url_decode(bad).is_none(), "{bad:?}");
        }
        assert!(jwt_claims("no-dots").is_none());
        assert!(jwt_claims("a.%%%.c").is_none());
        assert!(jwt_claims("a.W10.c").is_none(), "payload `[]` is not an object");
    }

    #[test]
    fn reads_claims() {
        // {"sub":"s","oid":"o"}
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIiwib2lkIjoibyJ9.sig";
        let c = jwt_claims(jwt).unwrap();
        assert_eq!(c["sub"], "s");
        assert_eq!(c["oid"], "o");
    }
}
