//! Encryption at rest: AES-256-GCM (`ring`) with a key ring.
//!
//! A stored value is `MXE1 | key-id length (1 byte) | key id | nonce (12) |
//! ciphertext+tag`. The associated data binds it to its Redis key and
//! version, so a value copied to another partition, or an older value put
//! back under a newer version, does not open. Nonces are random (96 bits):
//! one key can seal about 2^32 values before the birthday bound matters, far
//! more than a key's lifetime between rotations.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"MXE1";
const NONCE_LEN: usize = 12;
const AAD_TAG: &[u8] = b"msal-extensions distributed cache v1\0";

/// The AES-256 keys a distributed cache encrypts with: one *current* key for
/// new writes, and older keys still accepted for reading.
///
/// Rotation without downtime: first give every process a ring that has the
/// new key as an old (read-only) key, then make it current
/// ([`DistributedTokenCache::set_key_ring`](super::DistributedTokenCache::set_key_ring)
/// or a restart), and drop the old key once every partition has been
/// rewritten or has expired (at most the longest token lifetime, e.g. 90
/// days for refresh tokens).
///
/// Keys never appear in `Debug` output, only their ids do. The raw key
/// given to the ring is wiped once expanded; the expanded key lives in
/// `ring`'s key type, which does not wipe itself when dropped.
///
/// # Examples
/// ```
/// use msal_extensions::distributed::KeyRing;
/// let ring = KeyRing::new("2026-12", [7u8; 32])?.with_old_key("2026-06", [3u8; 32])?;
/// assert_eq!(ring.current_key_id(), "2026-12");
/// assert_eq!(format!("{ring:?}"), r#"KeyRing { current: "2026-12", old: ["2026-06"] }"#);
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    current: String,
    /// Key id → the key, expanded once (expanding an AES key costs more
    /// than sealing a small document).
    keys: HashMap<String, Arc<LessSafeKey>>,
}

impl KeyRing {
    /// A ring whose current key is `key`, named `key_id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the key id is empty, longer than 64
    /// bytes, or has characters other than ASCII letters, digits, `.`, `_`
    /// and `-` (ids are stored beside the ciphertext and shown in errors).
    pub fn new(key_id: &str, key: [u8; 32]) -> Result<Self> {
        check_id(key_id)?;
        let mut keys = HashMap::new();
        keys.insert(key_id.to_owned(), cipher(key));
        Ok(KeyRing { current: key_id.to_owned(), keys })
    }

    /// Adds a key that values may have been written with, still accepted for
    /// reading. Adding the current id again is refused.
    ///
    /// # Errors
    /// As [`new`](Self::new), and when `key_id` is already in the ring.
    pub fn with_old_key(mut self, key_id: &str, key: [u8; 32]) -> Result<Self> {
        check_id(key_id)?;
        if self.keys.contains_key(key_id) {
            return Err(Error::invalid("key id", format!("{key_id:?} is already in the key ring")));
        }
        self.keys.insert(key_id.to_owned(), cipher(key));
        Ok(self)
    }

    /// The id of the key new writes use.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Whether values written with `key_id` can be read.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Encrypts `plain` for the Redis key `location` at `version`.
    pub(crate) fn seal(&self, plain: &[u8], location: &str, version: &str) -> Result<Vec<u8>> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        random_fill(&mut nonce).map_err(|_| Error::Encryption {
            location: location.to_owned(),
            message: "the operating system gave no random bytes for the nonce".into(),
            source: None,
        })?;
        let aad = aad(location, version);
        let mut sealed = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), &mut sealed)
            .map_err(|_| Error::Encryption {
                location: location.to_owned(),
                message: "AES-GCM refused the value (too large)".into(),
                source: None,
            })?;
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + self.current.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.push(self.current.len() as u8);
        out.extend_from_slice(self.current.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value read from `location` at `version`.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] naming the key id when the ring lacks it;
    /// [`Error::Decryption`] naming it when the key does not open the value
    /// (another key under the same id, a tampered or moved value), or when
    /// the value is not an encrypted one at all.
    pub(crate) fn open(&self, value: &[u8], location: &str, version: &str) -> Result<Zeroizing<Vec<u8>>> {
        let bad =
            |message: String| Error::Decryption { location: location.to_owned(), message, source: None };
        let (key_id, nonce, sealed) = split(value).ok_or_else(|| {
            bad(if value.first() == Some(&b'{') {
                "it is stored unencrypted, but this cache was given a key ring; \
                 configure the same encryption on every process sharing it"
                    .into()
            } else {
                "it is not a value written by this cache (no MXE1 header)".into()
            })
        })?;
        let Some(key) = self.keys.get(key_id) else {
            return Err(Error::UnknownKey { location: location.to_owned(), key_id: key_id.to_owned() });
        };
        let aad = aad(location, version);
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(&aad), &mut buf)
            .map_err(|_| {
                bad(format!(
                    "the key with id {key_id:?} does not open it: the value was changed or moved, \
                     or another key was given that id"
                ))
            })?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// The expanded key; this copy of the raw key is wiped.
fn cipher(key: [u8; 32]) -> Arc<LessSafeKey> {
    let key = Zeroizing::new(key);
    let unbound = UnboundKey::new(&AES_256_GCM, &key[..]).expect("an AES-256 key is 32 bytes");
    Arc::new(LessSafeKey::new(unbound))
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_fill(buf: &mut [u8]) -> Result<(), ring::error::Unspecified> {
    static RNG: std::sync::OnceLock<SystemRandom> = std::sync::OnceLock::new();
    RNG.get_or_init(SystemRandom::new).fill(buf)
}

/// The id of the key a stored value was sealed with, if it is a sealed value.
pub(crate) fn key_id_of(value: &[u8]) -> Option<&str> {
    split(value).map(|(id, ..)| id)
}

/// `(key id, nonce, ciphertext+tag)` of a sealed value.
fn split(value: &[u8]) -> Option<(&str, &[u8; NONCE_LEN], &[u8])> {
    let rest = value.strip_prefix(MAGIC)?;
    let (&len, rest) = rest.split_first()?;
    let (id, rest) = rest.split_at_checked(len as usize)?;
    let id = std::str::from_utf8(id).ok().filter(|id| check_id(id).is_ok())?;
    let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>()?;
    Some((id, nonce, sealed))
}

fn aad(location: &str, version: &str) -> Vec<u8> {
    [AAD_TAG, location.as_bytes(), b"\0", version.as_bytes()].concat()
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("key id", "use 1 to 64 ASCII letters, digits, '.', '_' or '-'"))
    }
}

/// Ids only, never keys.
impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut old: Vec<&String> = self.keys.keys().filter(|k| **k != self.current).collect();
        old.sort();
        f.debug_struct("KeyRing").field("current", &self.current).field("old", &old).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_current_and_old_keys() {
        let old = KeyRing::new("k1", [1; 32]).unwrap();
        let v1 = old.seal(b"{\"a\":1}", "loc", "1-x").unwrap();
        let rotated = KeyRing::new("k2", [2; 32]).unwrap().with_old_key("k1", [1; 32]).unwrap();
        assert_eq!(&**rotated.open(&v1, "loc", "1-x").unwrap(), b"{\"a\":1}");
        let v2 = rotated.seal(b"x", "loc", "2-y").unwrap();
        assert_eq!(&v2[5..7], b"k2");
        match old.open(&v2, "loc", "2-y") {
            Err(Error::UnknownKey { key_id, location }) => assert_eq!((&*key_id, &*location), ("k2", "loc")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn moved_or_rolled_back_values_do_not_open() {
        let ring = KeyRing::new("k", [9; 32]).unwrap();
        let v = ring.seal(b"secret", "a", "1-x").unwrap();
        for (loc, ver) in [("b", "1-x"), ("a", "2-x")] {
            let e = ring.open(&v, loc, ver).unwrap_err();
            assert!(matches!(e, Error::Decryption { .. }) && e.to_string().contains("\"k\""), "{e}");
        }
        let mut tampered = v.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(ring.open(&tampered, "a", "1-x"), Err(Error::Decryption { .. })));
        for junk in [&b"{\"AccessToken\":{}}"[..], b"", b"MXE1", b"MXE1\x05ab"] {
            assert!(matches!(ring.open(junk, "a", "1-x"), Err(Error::Decryption { .. })));
        }
    }

    #[test]
    fn ids_are_checked_and_debug_hides_keys() {
        assert!(KeyRing::new("", [0; 32]).is_err());
        assert!(KeyRing::new("a b", [0; 32]).is_err());
        assert!(KeyRing::new("k", [0; 32]).unwrap().with_old_key("k", [1; 32]).is_err());
        let d = format!("{:?}", KeyRing::new("k", [0xAB; 32]).unwrap());
        assert!(!d.contains("171") && !d.to_lowercase().contains("ab, "), "{d}");
    }
}
