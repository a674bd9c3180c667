//! [`SecretItem`]: one secret in an operating system's secret store, and
//! [`SecretItemPersistence`], the one adapter that makes any such item a
//! [`Persistence`].
//!
//! A secret store (the macOS Keychain, the freedesktop Secret Service) has no
//! cheap "modified" time and no lockfile, so every MSAL extension library
//! pairs the item with a *signal file*: a plain file touched after every
//! save, whose [`ChangeToken`] tells readers to re-read the item, and beside
//! which the cross-process lock lives (`<signal file>.lockfile`). That
//! pairing is written once, here; a backend only says how to get, set and
//! delete its item ([`SecretServiceItem`](crate::SecretServiceItem),
//! [`KeychainItem`](crate::KeychainItem), or yours).

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::file::FilePersistence;
use crate::persistence::{ChangeToken, Persistence};
use crate::recovery::{CopyPlace, CopyReason, KeptCopy, content_tag};

/// One secret in a secret store: what a backend implements to become a
/// [`Persistence`] through [`SecretItemPersistence`].
///
/// The secret handed to [`set`](Self::set) and returned by [`get`](Self::get)
/// is the token cache's bytes; an item that stores another form (base64)
/// converts in both directions itself.
pub trait SecretItem: Send + Sync + fmt::Debug {
    /// The secret, or `None` when the item does not exist.
    ///
    /// # Errors
    /// The store's errors: [`Error::Unavailable`], [`Error::StoreLocked`],
    /// [`Error::Decryption`].
    fn get(&self) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// Creates the item, or replaces its secret.
    ///
    /// # Errors
    /// The store's errors: [`Error::Unavailable`], [`Error::StoreLocked`],
    /// [`Error::Encryption`].
    fn set(&self, secret: &[u8]) -> Result<()>;

    /// Deletes the item; `Ok(false)` when there was none.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    fn delete(&self) -> Result<bool>;

    /// The item's names for messages, e.g. `Keychain item
    /// service=… account=…`. Never the secret.
    fn describe(&self) -> String;

    /// The backend's short name, e.g. `"keychain"`.
    fn backend_name(&self) -> &'static str;

    /// Another item in the same store, distinguished by `tag`, that no
    /// program looking for this item can find: where a recoverable copy of
    /// this item's secret is kept.
    fn sibling(&self, tag: &str) -> Self
    where
        Self: Sized;

    /// Checks, without writing anything, that the store answers here (e.g.
    /// a bus and a provider for the Secret Service). The default has nothing
    /// to check.
    ///
    /// # Errors
    /// [`Error::Unavailable`], [`Error::StoreLocked`].
    fn check_available(&self) -> Result<()> {
        Ok(())
    }

    /// Checks that the store works here by writing, reading and deleting a
    /// throw-away item. The default does what
    /// [`check_available`](Self::check_available) does.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    fn verify(&self) -> Result<()> {
        self.check_available()
    }
}

/// A [`SecretItem`] with its signal file: a [`Persistence`].
///
/// [`SecretServicePersistence`](crate::SecretServicePersistence) and
/// [`KeychainPersistence`](crate::KeychainPersistence) are this type.
///
/// - save = set the item, then touch the signal file (created empty, `0600`);
/// - load = get the item ([`Error::NotFound`] naming the item when absent);
/// - delete = delete the item, then touch the signal file if there was one;
/// - change token, location, lockfile = the signal file's;
/// - a recoverable copy ([`keep_copy`](Persistence::keep_copy)) is a
///   [`sibling`](SecretItem::sibling) item in the same store: encrypted like
///   the original, never a plaintext file.
pub struct SecretItemPersistence<I> {
    signal: FilePersistence,
    item: I,
}

impl<I: SecretItem> SecretItemPersistence<I> {
    /// `item`, announced by the signal file at `signal_location` (`~` expanded).
    ///
    /// # Errors
    /// [`Error::Unavailable`] if the path starts with `~` and no home folder is known.
    pub fn with_item(signal_location: impl AsRef<Path>, item: I) -> Result<Self> {
        Ok(SecretItemPersistence { signal: FilePersistence::new(signal_location)?, item })
    }

    /// The item.
    pub fn item(&self) -> &I {
        &self.item
    }

    pub(crate) fn into_parts(self) -> (FilePersistence, I) {
        (self.signal, self.item)
    }

    pub(crate) fn from_parts(signal: FilePersistence, item: I) -> Self {
        SecretItemPersistence { signal, item }
    }

    /// Checks that the store works here (see [`SecretItem::verify`]).
    ///
    /// # Errors
    /// As [`SecretItem::verify`].
    pub fn verify(&self) -> Result<()> {
        self.item.verify()
    }

    /// Checks without writing that the store answers here (see
    /// [`SecretItem::check_available`]).
    ///
    /// # Errors
    /// As [`SecretItem::check_available`].
    pub fn check_available(&self) -> Result<()> {
        self.item.check_available()
    }
}

impl<I: SecretItem> Persistence for SecretItemPersistence<I> {
    /// Stores the item, then touches the signal file.
    fn save_bytes(&self, content: &[u8]) -> Result<()> {
        self.item.set(content)?;
        self.signal.touch()
    }

    fn load_bytes(&self) -> Result<Vec<u8>> {
        match self.item.get()? {
            Some(secret) => Ok(secret.to_vec()),
            None => Err(Error::NotFound { location: self.item.describe() }),
        }
    }

    /// Deletes the item and, if there was one, touches the signal file so
    /// readers notice.
    fn delete(&self) -> Result<()> {
        if self.item.delete()? {
            self.signal.touch()?;
        }
        Ok(())
    }

    /// The signal file's token: it changes on every save by any program that
    /// follows the protocol (Python, .NET, Node, Java and Go touch it too).
    fn change_token(&self) -> Result<ChangeToken> {
        self.signal.change_token()
    }

    /// The signal file.
    fn location(&self) -> &Path {
        self.signal.location()
    }

    fn is_encrypted(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        self.item.backend_name()
    }

    /// The item, and the signal file that announces it.
    fn describe(&self) -> String {
        format!("the {} (signal file {})", self.item.describe(), self.signal.location().display())
    }

    /// Keeps the copy in a sibling item of the same store.
    fn keep_copy(&self, reason: CopyReason) -> Result<Option<KeptCopy>> {
        let Some(content) = self.item.get()? else { return Ok(None) };
        let sibling = self.item.sibling(&format!("{}-{}", reason.tag(), content_tag(&content)));
        let new = sibling.get()?.is_none_or(|kept| kept.as_slice() != content.as_slice());
        if new {
            sibling.set(&content)?;
        }
        Ok(Some(KeptCopy::new(CopyPlace::Item(sibling.describe()), reason, new, true)))
    }
}

impl<I: SecretItem + Clone> Clone for SecretItemPersistence<I> {
    fn clone(&self) -> Self {
        SecretItemPersistence { signal: self.signal.clone(), item: self.item.clone() }
    }
}

impl<I: SecretItem> fmt::Debug for SecretItemPersistence<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretItemPersistence")
            .field("signal_file", &self.signal.location())
            .field("item", &self.item)
            .finish()
    }
}
