//! [`KeychainPersistence`]: the cache as a macOS Keychain generic password.
//!
//! # Mapping onto the Keychain
//! One generic-password item (`kSecClassGenericPassword`) in the user's
//! default keychain, identified by *service* and *account*, holding the
//! cache's UTF-8 text as its data. The defaults are the Python reference's:
//! service `"msal-extensions"` and account = the lowercase hex SHA-256 of
//! the signal-file path's UTF-8 text **exactly as the caller gave it**
//! (before `~` is expanded), so both libraries find the same item for the
//! same arguments. Microsoft's tools use their own names (for example
//! service `Microsoft.Developer.IdentityService`, account `MSALCache`); pass
//! them with [`with_service`](KeychainPersistence::with_service) and
//! [`with_account`](KeychainPersistence::with_account).
//!
//! Items are read and written with the `SecItem` API, which on macOS
//! addresses the same file-based login keychain the reference's legacy
//! `SecKeychain*` calls use.
//!
//! # Signal file
//! A keychain item has no cheap modification time, so every save also
//! touches the *signal file* (created empty if missing). Readers compare its
//! [`ChangeToken`] to learn whether to re-read the keychain, and the
//! cross-process lock lives beside it at `<signal file>.lockfile`.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::item::{SecretItem, SecretItemPersistence};
#[cfg(doc)]
use crate::persistence::Persistence;

// The platform switch, in the crate's one style (see `store.rs`).
#[cfg_attr(target_os = "macos", path = "keychain/macos.rs")]
#[cfg_attr(not(target_os = "macos"), path = "keychain/unsupported.rs")]
mod imp;

/// The reference's default service name (also its package name).
pub(crate) const DEFAULT_SERVICE: &str = "msal-extensions";
/// [`SecretItem::backend_name`] of this backend.
const BACKEND: &str = "keychain";

/// `errSecItemNotFound`.
const ITEM_NOT_FOUND: i32 = -25300;
/// `userCanceledErr`: the user refused or dismissed the access prompt.
const USER_CANCELED: i32 = -128;
/// `errSecAuthFailed`.
const AUTH_FAILED: i32 = -25293;
/// `errSecNoSuchKeychain`.
const NO_SUCH_KEYCHAIN: i32 = -25294;
/// `errSecNoDefaultKeychain`.
const NO_DEFAULT_KEYCHAIN: i32 = -25307;
/// `errSecInteractionNotAllowed`: the keychain is locked and no UI may be shown.
const INTERACTION_NOT_ALLOWED: i32 = -25308;

/// The token cache as a macOS Keychain generic password, compatible with the
/// Python reference's `KeychainPersistence`: a [`KeychainItem`] in the
/// [`SecretItemPersistence`] adapter.
///
/// # Platform behavior
/// macOS only. On other platforms [`new`](SecretItemPersistence::<KeychainItem>::new) returns
/// [`Error::Unavailable`]. **This code is compiled and linted for
/// `aarch64-apple-darwin` and `x86_64-apple-darwin` in CI, but not run
/// there**: no macOS machine is available to the project's CI.
///
/// # Errors
/// - [`Error::NotFound`] from `load` before the first save (-25300).
/// - [`Error::StoreLocked`] when the user refused the access prompt (-128),
///   the keychain could not be unlocked (-25293), or it is locked and no
///   prompt can be shown (-25308).
/// - [`Error::Unavailable`] when there is no keychain (-25294, -25307), as
///   in some SSH, CI and daemon sessions.
/// - [`Error::Encryption`] / [`Error::Decryption`] for other Keychain
///   failures while saving / loading, with the `OSStatus` as the source.
///
/// A recoverable copy ([`Persistence::keep_copy`]) is a second generic
/// password with the same service and the account `<account>.<reason>-<hash>`.
///
/// # Examples
/// ```no_run
/// use msal_extensions::{KeychainPersistence, Persistence};
/// let cache = KeychainPersistence::new("~/.IdentityService/msal.cache")?
///     .with_service("Microsoft.Developer.IdentityService")
///     .with_account("MSALCache");
/// cache.save("{}")?;
/// # Ok::<(), msal_extensions::Error>(())
/// ```
pub type KeychainPersistence = SecretItemPersistence<KeychainItem>;

impl SecretItemPersistence<KeychainItem> {
    /// A keychain item announced by the signal file at `signal_path` (`~`
    /// expanded), with the reference's default service and account.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms other than macOS, or if the path
    /// starts with `~` and no home folder is known.
    pub fn new(signal_path: impl AsRef<Path>) -> Result<Self> {
        crate::store::require_platform(BACKEND, imp::AVAILABLE)?;
        Self::new_unchecked(signal_path.as_ref())
    }

    fn new_unchecked(signal_path: &Path) -> Result<Self> {
        let item =
            KeychainItem { service: DEFAULT_SERVICE.to_owned(), account: default_account(signal_path) };
        SecretItemPersistence::with_item(signal_path, item)
    }

    /// Uses `service` instead of `"msal-extensions"`; empty keeps the default
    /// (as in the reference).
    pub fn with_service(self, service: &str) -> Self {
        self.map_item(|i| KeychainItem { service: non_empty(service, i.service), ..i })
    }

    /// Uses `account` instead of the hash of the signal path; empty keeps
    /// the default (as in the reference).
    pub fn with_account(self, account: &str) -> Self {
        self.map_item(|i| KeychainItem { account: non_empty(account, i.account), ..i })
    }

    /// The item's service name.
    pub fn service(&self) -> &str {
        &self.item().service
    }

    /// The item's account name.
    pub fn account(&self) -> &str {
        &self.item().account
    }

    fn map_item(self, f: impl FnOnce(KeychainItem) -> KeychainItem) -> Self {
        let (signal, item) = self.into_parts();
        SecretItemPersistence::from_parts(signal, f(item))
    }
}

fn non_empty(given: &str, default: String) -> String {
    if given.is_empty() { default } else { given.to_owned() }
}

/// One generic password in the user's default keychain: the [`SecretItem`]
/// behind [`KeychainPersistence`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeychainItem {
    service: String,
    account: String,
}

impl KeychainItem {
    /// The item with this service and account.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms other than macOS.
    pub fn new(service: &str, account: &str) -> Result<Self> {
        crate::store::require_platform(BACKEND, imp::AVAILABLE)?;
        Ok(KeychainItem { service: service.to_owned(), account: account.to_owned() })
    }

    /// `Service:<service> Account:<account>`, the reference's wording.
    fn item_name(&self) -> String {
        format!("Service:{} Account:{}", self.service, self.account)
    }
}

impl SecretItem for KeychainItem {
    fn get(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match imp::get(&self.service, &self.account) {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(ITEM_NOT_FOUND) => Ok(None),
            Err(status) => Err(keychain_error(status, Op::Load, &self.item_name())),
        }
    }

    fn set(&self, secret: &[u8]) -> Result<()> {
        imp::set(&self.service, &self.account, secret)
            .map_err(|status| keychain_error(status, Op::Save, &self.item_name()))
    }

    fn delete(&self) -> Result<bool> {
        match imp::delete(&self.service, &self.account) {
            Ok(()) => Ok(true),
            Err(ITEM_NOT_FOUND) => Ok(false),
            Err(status) => Err(keychain_error(status, Op::Save, &self.item_name())),
        }
    }

    fn describe(&self) -> String {
        format!("Keychain item {}", self.item_name())
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    /// The same service, account `<account>.<tag>`: Keychain lookups are by
    /// exact service and account, so no peer finds it.
    fn sibling(&self, tag: &str) -> Self {
        KeychainItem { service: self.service.clone(), account: format!("{}.{tag}", self.account) }
    }
}

/// The reference's default account: lowercase hex SHA-256 of the path text as given.
pub(crate) fn default_account(signal_path: &Path) -> String {
    let digest = Sha256::digest(signal_path.to_string_lossy().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Save,
    Load,
}

/// A Keychain `OSStatus`, kept as the error's `source`.
#[derive(Debug)]
struct OsStatus(i32);

impl fmt::Display for OsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keychain OSStatus {}", self.0)
    }
}

impl std::error::Error for OsStatus {}

/// Maps a Keychain `OSStatus` to the crate's error, with what to do next.
pub(crate) fn keychain_error(status: i32, op: Op, item: &str) -> Error {
    let location = item.to_owned();
    let locked =
        |message: &str| Error::StoreLocked { location: location.clone(), message: message.to_owned() };
    match status {
        ITEM_NOT_FOUND => Error::NotFound { location },
        USER_CANCELED => locked(
            "access was denied (-128): the prompt asking to let this program use the item was refused or \
             dismissed; run again and choose Allow or Always Allow",
        ),
        AUTH_FAILED => locked(
            "the keychain could not be unlocked (-25293, errSecAuthFailed): its password may differ from the \
             login password; lock and unlock it in Keychain Access or with `security unlock-keychain` \
             (a reboot often helps too)",
        ),
        INTERACTION_NOT_ALLOWED => locked(
            "the keychain is locked and this session cannot show the unlock prompt (-25308); unlock it with \
             `security unlock-keychain` first",
        ),
        NO_SUCH_KEYCHAIN | NO_DEFAULT_KEYCHAIN => Error::Unavailable {
            backend: "keychain",
            message: format!(
                "there is no keychain to use ({status}): usual in SSH, CI and daemon sessions; create or select \
                 a default keychain (`security default-keychain -s ...`), or use FilePersistence there"
            ),
            source: Some(Box::new(OsStatus(status))),
        },
        _ => {
            let source = Some(Box::new(OsStatus(status)) as crate::error::BoxError);
            match op {
                Op::Save => Error::Encryption {
                    location,
                    message: format!("the Keychain refused to store the item (OSStatus {status})"),
                    source,
                },
                Op::Load => Error::Decryption {
                    location,
                    message: format!("the Keychain refused to return the item (OSStatus {status})"),
                    source,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::Persistence as _;

    #[test]
    fn default_account_is_sha256_hex_of_the_path_as_given() {
        // sha256("~/.IdentityService/msal.cache"), as Python's hashlib computes it.
        assert_eq!(
            default_account(Path::new("~/.IdentityService/msal.cache")),
            "fa87f1d8b93fca976e987a8972850e104fedbc403b9b12feab7f00c68155332a"
        );
        let p = KeychainPersistence::new_unchecked(Path::new("~/x/signal")).unwrap();
        assert_eq!(p.account(), default_account(Path::new("~/x/signal")), "hashed before ~ expansion");
        assert!(!p.location().starts_with("~"));
        assert_eq!(p.service(), "msal-extensions");
    }

    #[test]
    fn empty_names_keep_the_defaults() {
        let p =
            KeychainPersistence::new_unchecked(Path::new("/s")).unwrap().with_service("").with_account("");
        assert_eq!(p.service(), DEFAULT_SERVICE);
        assert_eq!(p.account(), default_account(Path::new("/s")));
        let p = p.with_service("Microsoft.Developer.IdentityService").with_account("MSALCache");
        assert_eq!(p.item().item_name(), "Service:Microsoft.Developer.IdentityService Account:MSALCache");
        assert_eq!(p.item().sibling("corrupt-01").account, "MSALCache.corrupt-01");
    }

    #[test]
    fn statuses_map_to_distinct_errors() {
        let item = "Service:s Account:a";
        assert!(keychain_error(-25300, Op::Load, item).is_not_found());
        let msg = |s| keychain_error(s, Op::Load, item).to_string();
        assert!(matches!(keychain_error(-128, Op::Load, item), Error::StoreLocked { .. }));
        assert!(msg(-128).contains("-128") && msg(-128).contains("Allow"));
        assert!(msg(-25293).contains("-25293") && msg(-25293).contains("unlock"));
        assert_ne!(msg(-128), msg(-25293));
        for s in [-25294, -25307] {
            assert!(matches!(
                keychain_error(s, Op::Save, item),
                Error::Unavailable { backend: "keychain", .. }
            ));
            assert!(msg(s).contains(&s.to_string()));
        }
        assert!(matches!(keychain_error(-34018, Op::Save, item), Error::Encryption { .. }));
        assert!(matches!(keychain_error(-34018, Op::Load, item), Error::Decryption { .. }));
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn unavailable_off_macos() {
        let e = KeychainPersistence::new("/s").unwrap_err();
        assert!(matches!(e, Error::Unavailable { backend: "keychain", .. }), "{e}");
    }
}
