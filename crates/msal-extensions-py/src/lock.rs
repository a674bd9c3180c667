//! [`NativeLock`]: the Rust cross-process lock, held between an `acquire()`
//! and a `release()` called from Python.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use msal_extensions::{CrossPlatLock, LockOptions};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::{NotFoundStyle, to_py};

/// The default wait before `LockError`: the longest the reference waits
/// (5 s for the lockfile to disappear, then 5 s for portalocker's `flock`).
/// The reference's own suite checks that 30 processes holding the lock for
/// 1 s each starve some of them, so this must stay well under 30 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One lockfile, acquired and released any number of times (not
/// re-entrant: a second `acquire()` before `release()` is an error, since
/// waiting for ourselves could only time out).
#[pyclass(frozen, name = "Lock", module = "msal_extensions._core")]
pub(crate) struct NativeLock {
    path: PathBuf,
    options: LockOptions,
    held: Mutex<Option<CrossPlatLock>>,
}

#[pymethods]
impl NativeLock {
    #[new]
    #[pyo3(signature = (path, timeout = None))]
    fn new(path: PathBuf, timeout: Option<f64>) -> PyResult<Self> {
        let timeout = match timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => Duration::try_from_secs_f64(t).map_err(|_| {
                PyValueError::new_err(format!("timeout must be a number of seconds >= 0, not {t}"))
            })?,
        };
        Ok(NativeLock { path, options: LockOptions::new().timeout(timeout), held: Mutex::new(None) })
    }

    /// Waits (without the GIL) until this process holds the lock;
    /// `LockError` naming the holder after the timeout.
    fn acquire(&self, py: Python<'_>) -> PyResult<()> {
        if self.slot().is_some() {
            return Err(PyRuntimeError::new_err(format!("the lock {} is already held", self.path.display())));
        }
        let lock =
            py.detach(|| self.options.acquire(&self.path)).map_err(|e| to_py(py, e, NotFoundStyle::File))?;
        *self.slot() = Some(lock);
        Ok(())
    }

    /// Releases the lock (deleting the lockfile while still holding it);
    /// a no-op when not held.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let Some(lock) = self.slot().take() else { return Ok(()) };
        py.detach(|| lock.release()).map_err(|e| to_py(py, e, NotFoundStyle::File))
    }

    /// `True` between `acquire()` and `release()`.
    #[getter]
    fn held(&self) -> bool {
        self.slot().is_some()
    }

    /// The lockfile.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The wait before `LockError`, in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.options.get_timeout().as_secs_f64()
    }
}

impl NativeLock {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<CrossPlatLock>> {
        // Only ever replaced whole, so a poisoned guard holds a consistent value.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
