//! Platforms without a freedesktop Secret Service: the constructors refuse
//! with [`Error::Unavailable`] (see `AVAILABLE`), so code using
//! [`SecretServicePersistence`](super::SecretServicePersistence) compiles
//! everywhere and fails with a typed error; `Connection` is never built.

use zeroize::Zeroizing;

use super::{BACKEND, ItemSpec};
use crate::error::{Error, Result};

/// No Secret Service here.
pub(crate) const AVAILABLE: bool = false;

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

    pub(crate) fn check(&self, _spec: &ItemSpec) -> Result<()> {
        match *self {}
    }
}
