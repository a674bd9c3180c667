//! [`DpapiPersistence`]: the cache in a file encrypted with Windows DPAPI.
//!
//! # Format and compatibility
//! The file holds exactly the blob `CryptProtectData` returns, nothing else,
//! as the Python reference's `FilePersistenceWithDataProtection` writes it:
//! the plaintext is the cache's UTF-8 text, the optional entropy is the
//! UTF-8 bytes of a string (an empty string means no entropy), the flags are
//! `CRYPTPROTECT_UI_FORBIDDEN` (plus `CRYPTPROTECT_LOCAL_MACHINE` for
//! [`DpapiScope::LocalMachine`]), and the description is `"python_data"`,
//! the reference's. So a cache the Python package (or .NET, Node, Go, all of
//! which write raw blobs) wrote for the same user decrypts here, and the
//! other way round.
//!
//! # What DPAPI protects against
//! The key is derived from the user's logon secret: another user, or the
//! same file copied to another machine or profile, cannot decrypt it. A
//! program running as the same user can. It also means an administrator's
//! password reset, a different profile, or an SSH / CI session without the
//! user's keys make the file undecryptable or unencryptable: see the
//! messages of [`Error::Decryption`] and [`Error::Encryption`].

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

use crate::error::{BoxError, Error, Result};
use crate::file::{Durability, FilePersistence};
use crate::persistence::{ChangeToken, Persistence};
use crate::recovery::{CopyPlace, CopyReason, KeptCopy, copy_beside};

/// [`Persistence::backend_name`] of this backend.
const BACKEND: &str = "dpapi";

// The platform switch, in the crate's one style (see `store.rs`).
#[cfg_attr(windows, path = "dpapi/windows.rs")]
#[cfg_attr(not(windows), path = "dpapi/unsupported.rs")]
mod imp;

/// The description stored (in clear) in every blob; the reference's value.
const DESCRIPTION: &str = "python_data";

/// `NTE_BAD_KEY_STATE`, "Key not valid for use in specified state.":
/// the user's DPAPI master key changed.
pub(crate) const BAD_KEY_STATE: u32 = 0x8009_000B; // -2146893813
/// `SEC_E_DELEGATION_REQUIRED`, "must be trusted for delegation": no user
/// key material in this (remote, service or CI) session.
pub(crate) const DELEGATION_REQUIRED: u32 = 0x8009_0345; // -2146892987
/// `ERROR_INVALID_DATA`, "The data is invalid.".
pub(crate) const INVALID_DATA: u32 = 13;

/// Whose key DPAPI uses.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpapiScope {
    /// The signed-in user's key: only this user (on this machine, with this
    /// profile) can decrypt. The reference's and every peer's default.
    #[default]
    CurrentUser,
    /// The machine's key (`CRYPTPROTECT_LOCAL_MACHINE`): any user of this
    /// machine can decrypt. Only for caches that several accounts share on
    /// purpose; the file's ACL is then the only per-user protection.
    LocalMachine,
}

/// The token cache in a file encrypted with Windows DPAPI, compatible with
/// the Python reference's `FilePersistenceWithDataProtection`.
///
/// Saves are atomic like [`FilePersistence`]'s: the new blob is written to a
/// temporary file in the same folder and renamed over the cache, retrying
/// briefly while another program has the file open. The decrypted text is
/// zeroed in the buffer Windows returned before that buffer is freed.
///
/// # Platform behavior
/// Windows only. On other platforms [`new`](Self::new) returns
/// [`Error::Unavailable`].
///
/// This is an encrypting layer over [`FilePersistence`]: every file property
/// (atomic replace, durability, owner and mode kept) is the plain file's. A
/// recoverable copy ([`Persistence::keep_copy`]) keeps the encrypted blob as
/// stored, never the decrypted text.
///
/// # Errors
/// - [`Error::NotFound`] from `load` before the first save.
/// - [`Error::Decryption`] when the file is not a DPAPI blob for this user,
///   was tampered with, or was written with a different entropy, and when the
///   user's key changed (code -2146893813): then the cache cannot be
///   recovered; sign in again, and [`quarantine`](Self::quarantine) the file.
/// - [`Error::Encryption`] when Windows refuses to encrypt, typically in an
///   SSH, remote or CI session (code -2146892987): use a plain
///   [`FilePersistence`] there.
///
/// # Examples
/// ```no_run
/// use msal_extensions::{DpapiPersistence, Persistence};
/// let cache = DpapiPersistence::new(r"~\AppData\Local\.IdentityService\msal.cache")?
///     .with_entropy("my-app");
/// cache.save(r#"{"AccessToken": {}}"#)?;
/// assert_eq!(cache.load()?, r#"{"AccessToken": {}}"#);
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[doc(alias = "FilePersistenceWithDataProtection")]
#[derive(Clone)]
pub struct DpapiPersistence {
    file: FilePersistence,
    entropy: Option<Zeroizing<Vec<u8>>>,
    scope: DpapiScope,
}

impl DpapiPersistence {
    /// A DPAPI-encrypted file at `path` (`~` expanded), [`DpapiScope::CurrentUser`],
    /// no entropy. Nothing is created until the first save.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms other than Windows, or if the path
    /// starts with `~` and no home folder is known.
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        crate::store::require_platform(BACKEND, imp::AVAILABLE)?;
        Ok(DpapiPersistence {
            file: FilePersistence::new(path)?,
            entropy: None,
            scope: DpapiScope::default(),
        })
    }

    /// Mixes the UTF-8 bytes of `entropy` into the encryption, like the
    /// reference's `entropy` argument: the same string is needed to decrypt.
    /// An empty string means no entropy, as in the reference.
    pub fn with_entropy(mut self, entropy: &str) -> Self {
        self.entropy = Some(Zeroizing::new(entropy.as_bytes().to_vec())).filter(|e| !e.is_empty());
        self
    }

    /// Chooses whose key encrypts new saves. Loading works for either scope:
    /// the blob records it.
    pub fn with_scope(mut self, scope: DpapiScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets how hard saves work to survive crashes (see [`Durability`]).
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.file = self.file.with_durability(durability);
        self
    }

    /// The scope new saves are encrypted for.
    pub fn scope(&self) -> DpapiScope {
        self.scope
    }

    /// Sets an undecryptable cache file aside: keeps its blob as a
    /// recoverable copy (`<file>.corrupt-<hash>`, see
    /// [`Persistence::keep_copy`]) and deletes the file, so that the next save
    /// starts a fresh cache. Returns the copy's path, or `None` if there was
    /// no file.
    ///
    /// Call it, under the cache's lock, after [`Error::Decryption`] when the
    /// user has signed in again.
    pub fn quarantine(&self) -> Result<Option<PathBuf>> {
        let Some(copy) = self.keep_copy(CopyReason::Corrupt)? else { return Ok(None) };
        self.file.delete()?;
        match copy.place {
            CopyPlace::File(path) => Ok(Some(path)),
            _ => Ok(None),
        }
    }

    fn entropy(&self) -> Option<&[u8]> {
        self.entropy.as_deref().map(Vec::as_slice)
    }

    fn location_string(&self) -> String {
        self.file.location().display().to_string()
    }
}

impl Persistence for DpapiPersistence {
    fn save_bytes(&self, content: &[u8]) -> Result<()> {
        let local_machine = self.scope == DpapiScope::LocalMachine;
        let blob = imp::protect(content, DESCRIPTION, self.entropy(), local_machine)
            .map_err(|code| encryption_error(&self.location_string(), code))?;
        self.file.save_bytes(&blob)
    }

    fn load_bytes(&self) -> Result<Vec<u8>> {
        let blob = self.file.load_bytes()?;
        imp::unprotect(&blob, self.entropy()).map_err(|code| decryption_error(&self.location_string(), code))
    }

    /// Like the default, but the decrypted bytes are zeroed if they are not UTF-8.
    fn load(&self) -> Result<String> {
        let bytes = self.load_bytes()?;
        String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            e.into_bytes().zeroize();
            Error::Corrupt {
                location: self.location_string(),
                reason: format!("decrypted content is not UTF-8 text (invalid byte at offset {offset})"),
            }
        })
    }

    fn delete(&self) -> Result<()> {
        self.file.delete()
    }

    fn change_token(&self) -> Result<ChangeToken> {
        self.file.change_token()
    }

    fn location(&self) -> &Path {
        self.file.location()
    }

    fn is_encrypted(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    /// Keeps the file's bytes as stored, the encrypted blob, beside it: the
    /// copy needs the same user's key (and entropy) to read, like the cache.
    fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
        match self.file.load_bytes() {
            Ok(blob) => copy_beside(self.file.location(), reason, &blob, true).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for DpapiPersistence {
    /// Shows whether entropy is set, never its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpapiPersistence")
            .field("path", &self.file.location())
            .field("scope", &self.scope)
            .field("entropy", &if self.entropy.is_some() { "<set>" } else { "<none>" })
            .field("durability", &self.file.durability())
            .finish()
    }
}

/// A DPAPI failure code, kept as the error's `source`.
#[derive(Debug)]
struct DpapiCode {
    api: &'static str,
    code: u32,
}

impl fmt::Display for DpapiCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with error {} (0x{:08X})", self.api, self.code as i32, self.code)
    }
}

impl std::error::Error for DpapiCode {}

fn source(api: &'static str, code: u32) -> Option<BoxError> {
    Some(Box::new(DpapiCode { api, code }))
}

/// Maps a `CryptProtectData` failure to an actionable [`Error::Encryption`].
pub(crate) fn encryption_error(location: &str, code: u32) -> Error {
    let message = match code {
        DELEGATION_REQUIRED => {
            "Windows has no DPAPI key for this session (-2146892987, \"the computer must be \
             trusted for delegation\"), as in SSH, remote, service and CI sessions; run where the user is \
             signed in interactively, or store the cache unencrypted in this environment"
                .to_owned()
        }
        BAD_KEY_STATE => {
            "the user's DPAPI key is not usable (-2146893813, \"key not valid for use in specified \
             state\"), usually after a password reset by an administrator or in another user's or an \
             elevated session; sign in again as the user, or disable encryption here"
                .to_owned()
        }
        _ => format!(
            "CryptProtectData failed with error {}; if this session cannot use DPAPI, disable encryption here",
            code as i32
        ),
    };
    Error::Encryption { location: location.to_owned(), message, source: source("CryptProtectData", code) }
}

/// Maps a `CryptUnprotectData` failure to an actionable [`Error::Decryption`].
pub(crate) fn decryption_error(location: &str, code: u32) -> Error {
    let message = match code {
        BAD_KEY_STATE => "the user's DPAPI key changed since the cache was written (-2146893813, \"key not \
             valid for use in specified state\": a password reset by an administrator, another user or an \
             elevated session, or a copied profile); the cache cannot be recovered: move the file aside or \
             delete it, and sign in again"
            .to_owned(),
        DELEGATION_REQUIRED => {
            "Windows has no DPAPI key for this session (-2146892987, \"the computer must be \
             trusted for delegation\"), as in SSH, remote, service and CI sessions; read the cache where the \
             user is signed in interactively, or disable encryption in this environment"
                .to_owned()
        }
        INVALID_DATA => {
            "the data is invalid (13): the file is not a DPAPI blob for this user, was modified, \
             or was written with a different entropy; if it was written unencrypted, save it once through \
             this persistence; otherwise sign in again and quarantine the file"
                .to_owned()
        }
        _ => format!(
            "CryptUnprotectData failed with error {}: the file may have been written by another user, \
             another machine or with a different entropy, or modified",
            code as i32
        ),
    };
    Error::Decryption { location: location.to_owned(), message, source: source("CryptUnprotectData", code) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn known_codes_have_actionable_messages() {
        let e = decryption_error("c.bin", BAD_KEY_STATE);
        let s = e.to_string();
        assert!(matches!(e, Error::Decryption { .. }));
        assert!(
            s.contains("-2146893813") && s.contains("sign in again") && s.contains("move the file aside"),
            "{s}"
        );
        assert!(e.source().unwrap().to_string().contains("0x8009000B"));
        let s = encryption_error("c.bin", DELEGATION_REQUIRED).to_string();
        assert!(s.contains("-2146892987") && s.contains("unencrypted"), "{s}");
        let s = decryption_error("c.bin", INVALID_DATA).to_string();
        assert!(s.contains("invalid (13)") && s.contains("entropy"), "{s}");
        let s = decryption_error("c.bin", 0x8009_0005).to_string();
        assert!(s.contains("-2146893819"), "{s}");
    }

    #[test]
    fn debug_never_shows_entropy() {
        let p = DpapiPersistence {
            file: FilePersistence::new("x.bin").unwrap(),
            entropy: Some(Zeroizing::new(b"s3cret-entropy".to_vec())),
            scope: DpapiScope::CurrentUser,
        };
        let d = format!("{p:?}");
        assert!(!d.contains("s3cret") && d.contains("<set>"), "{d}");
    }

    #[test]
    fn empty_entropy_means_none() {
        let p = DpapiPersistence {
            file: FilePersistence::new("x.bin").unwrap(),
            entropy: None,
            scope: DpapiScope::default(),
        };
        assert!(p.clone().with_entropy("").entropy().is_none());
        assert_eq!(p.with_entropy("é").entropy(), Some("é".as_bytes()));
    }

    #[cfg(not(windows))]
    #[test]
    fn unavailable_off_windows() {
        let e = DpapiPersistence::new("x.bin").unwrap_err();
        assert!(matches!(e, Error::Unavailable { backend: "dpapi", .. }), "{e}");
    }
}

/// Tests against the real DPAPI: run on Windows, and under Wine by `scripts/cross-target.sh`.
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        std::env::temp_dir().join(format!("msalx-dpapi-{name}-{}-{n}", std::process::id()))
    }

    #[test]
    fn round_trip_without_and_with_entropy() {
        let d = scratch("rt");
        for entropy in ["", "some entropy é"] {
            let p = DpapiPersistence::new(d.join("c.bin")).unwrap().with_entropy(entropy);
            p.save(r#"{"AccessToken": {"k": "secret-token"}}"#).unwrap();
            let raw = std::fs::read(d.join("c.bin")).unwrap();
            assert!(!raw.windows(12).any(|w| w == b"secret-token"), "the file must not hold the plaintext");
            assert_eq!(p.load().unwrap(), r#"{"AccessToken": {"k": "secret-token"}}"#);
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn wrong_or_missing_entropy_is_a_decryption_error() {
        let d = scratch("entropy");
        let right = DpapiPersistence::new(d.join("c.bin")).unwrap().with_entropy("right");
        right.save("{}").unwrap();
        let wrong = DpapiPersistence::new(d.join("c.bin")).unwrap().with_entropy("wrong");
        assert!(matches!(wrong.load(), Err(Error::Decryption { .. })));
        let none = DpapiPersistence::new(d.join("c.bin")).unwrap();
        assert!(matches!(none.load(), Err(Error::Decryption { .. })));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn tampered_or_plaintext_file_is_a_decryption_error() {
        let d = scratch("tamper");
        let p = DpapiPersistence::new(d.join("c.bin")).unwrap();
        p.save("{\"a\": 1}").unwrap();
        let mut blob = std::fs::read(d.join("c.bin")).unwrap();
        let n = blob.len();
        blob[n - 1] ^= 0x5a;
        std::fs::write(d.join("c.bin"), &blob).unwrap();
        assert!(matches!(p.load(), Err(Error::Decryption { .. })));
        std::fs::write(d.join("c.bin"), "{\"plain\": true}").unwrap();
        assert!(matches!(p.load(), Err(Error::Decryption { .. })));
        std::fs::write(d.join("c.bin"), "").unwrap();
        assert!(matches!(p.load(), Err(Error::Decryption { .. })));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_file_is_not_found_and_quarantine_moves_aside() {
        let d = scratch("missing");
        let p = DpapiPersistence::new(d.join("c.bin")).unwrap();
        assert!(p.load().unwrap_err().is_not_found());
        assert_eq!(p.quarantine().unwrap(), None);
        p.save("{}").unwrap();
        let blob = std::fs::read(d.join("c.bin")).unwrap();
        let aside = p.quarantine().unwrap().unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), blob, "the copy is the encrypted blob, never plaintext");
        assert!(p.load().unwrap_err().is_not_found());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn local_machine_scope_round_trips() {
        let d = scratch("machine");
        let p = DpapiPersistence::new(d.join("c.bin")).unwrap().with_scope(DpapiScope::LocalMachine);
        p.save("{}").unwrap();
        assert_eq!(DpapiPersistence::new(d.join("c.bin")).unwrap().load().unwrap(), "{}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
