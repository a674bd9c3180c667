//! Single flight across processes: a *renewal lease* per account (or per
//! application token), so that when many processes find the same token
//! expired at once, one asks the identity provider and the others use its
//! answer.
//!
//! # Why a separate lease, and not the cache lock
//! Holding the cache's own lock (`<cache>.lockfile`) during a token request
//! would stall every reader and writer of the cache, in every program
//! sharing it (Azure CLI, MSAL Python, .NET, Node), for as long as the
//! request takes, and a hung connection would hold it for the HTTP timeout.
//! So renewal takes a different lockfile beside the cache,
//! `<cache>.renew-<16 hex>.lockfile`, named by a hash of what is renewed:
//!
//! 1. Take the lease (with the storage crate's `LockOptions`, so a holder
//!    that crashed is detected by its pid and replaced at once), waiting at
//!    most the worst-case duration of one renewal
//!    ([`HttpOptions::worst_case`](crate::HttpOptions::worst_case) plus a margin).
//! 2. Re-read the cache: if another process renewed meanwhile (while we
//!    waited, or just before we took the lease), use its token and make no request.
//! 3. Otherwise request the token, holding only the lease; then take the
//!    cache lock for the short write (one `modify`), and release the lease.
//!
//! The cache lock is never held across a network call. If the lease cannot
//! be had in time (a holder stuck longer than its bound, an unwritable
//! folder), the process renews on its own: single flight is an
//! optimisation, never a reason to fail. Peers that do not know about
//! leases (MSAL Python, Azure CLI) are unaffected; they renew as they always do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use msal_extensions::{CrossPlatLock, LockOptions};

/// A held renewal lease (or none, when it could not be had); released on drop.
#[derive(Debug)]
pub(crate) struct Lease {
    _lock: Option<CrossPlatLock>,
    /// Whether someone else held it when we arrived.
    pub(crate) waited: bool,
}

/// The lease file for `key` beside the cache at `location`.
pub(crate) fn lease_path(location: &Path, key: &str) -> PathBuf {
    let digest = crate::crypto::sha256(key.to_ascii_lowercase().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut name = location.as_os_str().to_owned();
    name.push(format!(".renew-{hex}.lockfile"));
    PathBuf::from(name)
}

/// Takes the lease for `key`, waiting at most `bound`.
pub(crate) fn take(location: &Path, key: &str, bound: Duration) -> Lease {
    let path = lease_path(location, key);
    // A first, non-waiting attempt tells whether another process is renewing.
    if let Ok(lock) = LockOptions::new().guard(false).timeout(Duration::ZERO).acquire(&path) {
        return Lease { _lock: Some(lock), waited: false };
    }
    match LockOptions::new().guard(false).timeout(bound).acquire(&path) {
        Ok(lock) => Lease { _lock: Some(lock), waited: true },
        Err(e) => {
            log::warn!("renewal lease {}: {e}; renewing without it", path.display());
            Lease { _lock: None, waited: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_paths_are_per_key_and_beside_the_cache() {
        let loc = Path::new("/tmp/x/msal_token_cache.json");
        let a = lease_path(loc, "user|login.microsoftonline.com|uid.utid");
        assert!(a.starts_with("/tmp/x"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("msal_token_cache.json.renew-") && name.ends_with(".lockfile"), "{name}");
        assert_ne!(a, lease_path(loc, "user|login.microsoftonline.com|other"));
        assert_eq!(a, lease_path(loc, "USER|login.microsoftonline.com|UID.UTID"));
    }
}
