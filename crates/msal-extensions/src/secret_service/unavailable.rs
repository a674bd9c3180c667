//! Platforms without a freedesktop Secret Service: every operation returns
//! [`Error::Unavailable`], so code using [`SecretServicePersistence`](super::SecretServicePersistence)
//! compiles everywhere and fails with a typed error.

use zeroize::Zeroizing;

use super::{BACKEND, ItemSpec};
use crate::error::{Error, Result};

/// Never constructed: [`Connection::open`] always fails here.
pub(crate) enum Connection {}

impl Connection {
    pub(crate) fn open(_spec: &ItemSpec) -> Result<Self> {
        Err(Error::Unavailable {
            backend: BACKEND,
            message: "the freedesktop Secret Service exists on Linux only; use the platform's \
                      encrypted backend (build_encrypted_persistence) instead"
                .into(),
            source: None,
        })
    }

    pub(crate) fn store(&self, _spec: &ItemSpec, _secret: &[u8]) -> Result<()> {
        match *self {}
    }

    pub(crate) fn lookup(&self, _spec: &ItemSpec) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match *self {}
    }

    pub(crate) fn clear(&self, _spec: &ItemSpec) -> Result<usize> {
        match *self {}
    }
}
