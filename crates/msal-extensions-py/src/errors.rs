//! From [`msal_extensions::Error`] to the exceptions the reference raises.
//!
//! The exception classes are defined in Python (`persistence.py`,
//! `filelock.py`), with the reference's constructors and bases, and handed
//! to [`register_errors`] once at import; until then (or for a caller that
//! imports `_core` alone) the nearest built-in class is used instead.
//!
//! | Rust | Python |
//! |---|---|
//! | `NotFound` | `PersistenceNotFound` (the reference's message for the backend) |
//! | `Encryption` | `PersistenceEncryptionError("Encryption failed: ...")` |
//! | `Decryption` | `PersistenceDecryptionError("Decryption failed: ...")` |
//! | `Unavailable`, `StoreLocked` | `PersistenceError` (an `OSError`, as the reference's failures to load a platform library are) |
//! | `LockTimeout` | `LockError` |
//! | `Corrupt`, `InvalidInput` | `ValueError` (the reference raises `UnicodeDecodeError`, a `ValueError`, on non-UTF-8 content) |
//! | `Io` | `OSError(errno, text, path)`, so Python picks the subclass (`PermissionError`...) |

use std::error::Error as _;

use msal_extensions::Error;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

struct Classes {
    persistence: Py<PyType>,
    not_found: Py<PyType>,
    encryption: Py<PyType>,
    decryption: Py<PyType>,
    lock: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Called once by the Python layer with its exception classes.
#[pyfunction]
pub(crate) fn register_errors(
    py: Python<'_>,
    persistence_error: Py<PyType>,
    not_found: Py<PyType>,
    encryption: Py<PyType>,
    decryption: Py<PyType>,
    lock_error: Py<PyType>,
) {
    let _ = CLASSES.set(
        py,
        Classes { persistence: persistence_error, not_found, encryption, decryption, lock: lock_error },
    );
}

/// How a backend words "nothing saved yet": the reference's message, and
/// whether it names a location.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NotFoundStyle {
    /// `FilePersistence` and `FilePersistenceWithDataProtection`.
    File,
    /// `KeychainPersistence`.
    Keychain,
    /// `LibsecretPersistence`.
    Keyring,
}

impl NotFoundStyle {
    fn message(self) -> &'static str {
        match self {
            NotFoundStyle::File => "Persistence not initialized. You can recover by calling a save() first.",
            NotFoundStyle::Keychain => {
                "Keychain persistence not initialized. You can recover by call a save() first."
            }
            NotFoundStyle::Keyring => {
                "Keyring persistence not initialized. You can recover by call a save() first."
            }
        }
    }
}

const DECRYPTION_GUIDANCE: &str = "App developer may consider this guidance: \
    https://github.com/AzureAD/microsoft-authentication-extensions-for-python/wiki/PersistenceDecryptionError";

/// The Python exception for `err`.
pub(crate) fn to_py(py: Python<'_>, err: Error, style: NotFoundStyle) -> PyErr {
    let Some(c) = CLASSES.get(py) else { return fallback(err) };
    let persistence = |message: String, location: Option<String>| {
        PyErr::from_type(c.persistence.bind(py).clone(), (py.None(), message, location))
    };
    match err {
        Error::NotFound { location } => {
            PyErr::from_type(c.not_found.bind(py).clone(), (py.None(), style.message(), Some(location)))
        }
        Error::Encryption { ref location, ref message, .. } => PyErr::from_type(
            c.encryption.bind(py).clone(),
            (
                py.None(),
                format!("Encryption failed: {message}{} Consider disable encryption.", chain(&err)),
                location.clone(),
            ),
        ),
        Error::Decryption { ref location, ref message, .. } => PyErr::from_type(
            c.decryption.bind(py).clone(),
            (
                py.None(),
                format!("Decryption failed: {message}{} {DECRYPTION_GUIDANCE}", chain(&err)),
                location.clone(),
            ),
        ),
        Error::Unavailable { .. } => persistence(with_chain(&err), None),
        Error::StoreLocked { ref location, .. } => {
            let location = location.clone();
            persistence(with_chain(&err), Some(location))
        }
        Error::LockTimeout { .. } => PyErr::from_type(c.lock.bind(py).clone(), (err.to_string(),)),
        other => fallback(other),
    }
}

/// The error as the nearest built-in exception.
fn fallback(err: Error) -> PyErr {
    match err {
        Error::Io { op, path, source } => {
            let text = format!("{source} (while trying to {op})");
            match source.raw_os_error() {
                Some(errno) => PyOSError::new_err((errno, text, path)),
                None => PyOSError::new_err((text, path)),
            }
        }
        Error::Corrupt { .. } | Error::InvalidInput { .. } => PyValueError::new_err(err.to_string()),
        other => PyOSError::new_err(with_chain(&other)),
    }
}

/// The error's message followed by its sources: Python users see only
/// `str(exception)`, so the platform's reason must be in it. Sources are
/// platform error texts (D-Bus names, OS status codes), never secrets.
fn with_chain(err: &Error) -> String {
    format!("{err}{}", chain(err))
}

fn chain(err: &Error) -> String {
    let mut out = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        // Wrapping errors often repeat their source's text: say it once.
        let text = s.to_string();
        if !out.contains(&text) && !err.to_string().contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
