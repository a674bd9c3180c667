//! Recoverable copies: "keep what is about to be replaced, and say where".
//!
//! One mechanism serves two callers: [`PersistedTokenCache`](crate::PersistedTokenCache)
//! quarantining content it cannot read ([`CopyReason::Corrupt`]), and tools
//! that replace a cache on a user's request ([`CopyReason::Replaced`]: import,
//! migrate, clear). Each backend keeps the copy in its own form, so a copy is
//! never less protected than the store it comes from
//! ([`Persistence::keep_copy`](crate::Persistence::keep_copy)):
//!
//! | store | the copy |
//! |---|---|
//! | plaintext file | `<file>.<reason>-<hash>` beside it, `0600`, same owner |
//! | DPAPI file | the same, holding the encrypted blob as stored (never decrypted) |
//! | Secret Service, Keychain | a second item in the same store (see each backend) |
//! | memory | a list inside the value |
//! | a backend of yours | a file as above if it is not encrypted, else no copy |
//!
//! Copies are named by the SHA-256 of the content as stored, so meeting the
//! same content again (five processes finding one corrupt file, a tool run
//! twice) finds the copy already there instead of making another: at most one
//! copy per distinct content.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Why a copy is kept; it names the copy (`.corrupt-…`, `.backup-…`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyReason {
    /// The content could not be read as a token cache and is set aside.
    Corrupt,
    /// The content is about to be replaced on request (import, migrate, clear).
    Replaced,
}

impl CopyReason {
    /// The word used in the copy's name: `corrupt` or `backup`.
    pub fn tag(self) -> &'static str {
        match self {
            CopyReason::Corrupt => "corrupt",
            CopyReason::Replaced => "backup",
        }
    }
}

/// Where a recoverable copy is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CopyPlace {
    /// A file (plaintext for a plaintext store, the encrypted blob for DPAPI).
    File(PathBuf),
    /// An item in a secret store (Secret Service, Keychain), described by its names.
    Item(String),
    /// Inside a [`MemoryPersistence`](crate::MemoryPersistence), by content hash.
    Memory(String),
}

impl fmt::Display for CopyPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyPlace::File(p) => write!(f, "{}", p.display()),
            CopyPlace::Item(d) => f.write_str(d),
            CopyPlace::Memory(h) => write!(f, "the in-memory copy {h}"),
        }
    }
}

/// A recoverable copy kept by [`Persistence::keep_copy`](crate::Persistence::keep_copy).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCopy {
    /// Where it is.
    pub place: CopyPlace,
    /// Why it was kept.
    pub reason: CopyReason,
    /// `false` when a copy of the same content was already there (nothing was written).
    pub new: bool,
    /// Whether the copy is encrypted at rest like its store.
    pub encrypted: bool,
}

impl KeptCopy {
    pub(crate) fn new(place: CopyPlace, reason: CopyReason, new: bool, encrypted: bool) -> Self {
        KeptCopy { place, reason, new, encrypted }
    }
}

impl fmt::Display for KeptCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.encrypted { "encrypted" } else { "plaintext, 0600" };
        write!(f, "{} ({kind})", self.place)
    }
}

/// The first 16 hex digits of the SHA-256 of `content`: names a copy.
pub(crate) fn content_tag(content: &[u8]) -> String {
    Sha256::digest(content).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Keeps `content` (the store's bytes as stored) in a file beside `location`:
/// `<location>.<reason>-<hash>`, `0600`, owned like `location` when that is
/// permitted. Reuses a file that already holds the same content.
pub(crate) fn copy_beside(
    location: &Path,
    reason: CopyReason,
    content: &[u8],
    encrypted: bool,
) -> Result<KeptCopy> {
    let base = format!(".{}-{}", reason.tag(), content_tag(content));
    // A name taken by other content (a copy cut short by a crash) gets a suffix.
    for n in 0..16 {
        let mut name = location.as_os_str().to_owned();
        name.push(&base);
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let path = PathBuf::from(name);
        match crate::sys::create_new_private(&path) {
            Ok(file) => {
                fill(file, content).map_err(|e| Error::io("write the recoverable copy", &path, e))?;
                crate::sys::copy_owner(location, &path);
                return Ok(KeptCopy::new(CopyPlace::File(path), reason, true, encrypted));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if holds(&path, content) {
                    return Ok(KeptCopy::new(CopyPlace::File(path), reason, false, encrypted));
                }
            }
            Err(e) => return Err(Error::io("create the recoverable copy", &path, e)),
        }
    }
    Err(Error::io(
        "find a free name for a recoverable copy beside",
        location,
        io::ErrorKind::AlreadyExists.into(),
    ))
}

fn fill(mut file: std::fs::File, content: &[u8]) -> io::Result<()> {
    file.write_all(content)?;
    file.sync_all()
}

/// Whether the regular file at `path` holds exactly `content`.
fn holds(path: &Path, content: &[u8]) -> bool {
    let Ok(file) = crate::sys::open_regular(path) else { return false };
    let mut buf = Vec::with_capacity(content.len());
    file.take(content.len() as u64 + 1).read_to_end(&mut buf).is_ok() && buf == content
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_kept_once_other_content_again() {
        let d = std::env::temp_dir().join(format!("msalx-recovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let loc = d.join("c.json");
        let a = copy_beside(&loc, CopyReason::Corrupt, b"bad{", false).unwrap();
        let b = copy_beside(&loc, CopyReason::Corrupt, b"bad{", false).unwrap();
        assert!(a.new && !b.new && a.place == b.place, "{a:?} {b:?}");
        let c = copy_beside(&loc, CopyReason::Corrupt, b"other", false).unwrap();
        assert!(c.new && c.place != a.place);
        let CopyPlace::File(p) = &a.place else { panic!() };
        assert!(p.to_string_lossy().contains(".corrupt-"));
        assert_eq!(std::fs::read(p).unwrap(), b"bad{");
        // A name holding other bytes (a copy cut short) is not reused.
        std::fs::write(p, b"ba").unwrap();
        let d2 = copy_beside(&loc, CopyReason::Corrupt, b"bad{", false).unwrap();
        assert!(d2.new && d2.place != a.place);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
