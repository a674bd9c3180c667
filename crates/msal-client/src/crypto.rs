//! The few cryptographic primitives the protocols need, all from `ring`
//! (already linked for TLS): random bytes, SHA-256, base64url, PKCE.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // getrandom(2) / BCryptGenRandom do not fail on supported platforms; a
    // failure here means the OS cannot give randomness at all.
    SystemRandom::new().fill(&mut b).expect("the operating system's random number generator failed");
    b
}

/// base64url without padding (JWT parts, PKCE, thumbprints).
pub(crate) fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding (`x5c` certificates).
pub(crate) fn b64std(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A PKCE pair (RFC 7636, method S256): a 43-character verifier from 32
/// random bytes, and its challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = b64url(random_bytes::<32>());
    let challenge = b64url(sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// An unguessable value for `state` and `jti`.
pub(crate) fn nonce() -> String {
    b64url(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        // RFC 7636 Appendix B's verifier and challenge.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(b64url(sha256(v.as_bytes())), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let (v, c) = pkce();
        assert_eq!(v.len(), 43);
        assert_eq!(c, b64url(sha256(v.as_bytes())));
        assert_ne!(nonce(), nonce());
    }
}
