//! The native half of the Python package `msal-extensions-rs`: the module
//! `msal_extensions._core`, which the package's Python modules wrap into
//! the API of Microsoft's `msal-extensions` 1.3.1.
//!
//! # Which type do I want?
//!
//! Nobody imports this module directly; the Python layer does:
//!
//! | Python layer | native type here | Rust type underneath |
//! |---|---|---|
//! | `FilePersistence`, `FilePersistenceWithDataProtection`, `KeychainPersistence`, `LibsecretPersistence` | `_core.Persistence` (`src/persistence.rs`) | [`msal_extensions::FilePersistence`], [`msal_extensions::DpapiPersistence`], [`msal_extensions::KeychainPersistence`], [`msal_extensions::SecretServicePersistence`] |
//! | `CrossPlatLock`, and the lock rounds of `PersistedTokenCache` | `_core.Lock` (`src/lock.rs`) | [`msal_extensions::CrossPlatLock`] |
//! | `PersistedTokenCache`'s "did anyone write since I loaded?" | `_core.ChangeToken` (`src/persistence.rs`) | [`msal_extensions::ChangeToken`] |
//!
//! The token cache itself stays MSAL Python's (`msal.SerializableTokenCache`
//! holds it as dicts); what comes from Rust is everything that decides whether
//! a shared cache survives many processes: the atomic save, the lock, and the
//! change detection by equality.
//!
//! Errors become the Python exception classes the reference raises
//! (`src/errors.rs`); every wait and every file or D-Bus operation runs with the
//! GIL released, so other Python threads keep running.

use pyo3::prelude::*;

mod errors;
mod lock;
mod persistence;

/// `msal_extensions._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<persistence::NativePersistence>()?;
    m.add_class::<persistence::ChangeToken>()?;
    m.add_class::<lock::NativeLock>()?;
    m.add_function(wrap_pyfunction!(errors::register_errors, m)?)?;
    m.add("DEFAULT_LOCK_TIMEOUT", lock::DEFAULT_TIMEOUT.as_secs_f64())?;
    m.add("CORE_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
