//! [`NativePersistence`]: one Python class over the four Rust backends, and
//! [`ChangeToken`], the fingerprint `PersistedTokenCache` compares.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use msal_extensions::{
    CopyReason, DpapiPersistence, Error, FilePersistence, KeychainPersistence, Persistence, SecretCollection,
    SecretServicePersistence,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;

use crate::errors::{NotFoundStyle, to_py};

enum Backend {
    File(FilePersistence),
    Dpapi(DpapiPersistence),
    Keychain(KeychainPersistence),
    SecretService(SecretServicePersistence),
}

/// A Rust persistence, as the Python layer's persistence classes hold it
/// (`self._native`). Saves are atomic (file backends) or a single store
/// replace (secret stores); every call releases the GIL while it works.
#[pyclass(frozen, name = "Persistence", module = "msal_extensions._core")]
pub(crate) struct NativePersistence {
    backend: Backend,
}

impl NativePersistence {
    fn get(&self) -> &dyn Persistence {
        match &self.backend {
            Backend::File(p) => p,
            Backend::Dpapi(p) => p,
            Backend::Keychain(p) => p,
            Backend::SecretService(p) => p,
        }
    }

    fn style(&self) -> NotFoundStyle {
        match self.backend {
            Backend::File(_) | Backend::Dpapi(_) => NotFoundStyle::File,
            Backend::Keychain(_) => NotFoundStyle::Keychain,
            Backend::SecretService(_) => NotFoundStyle::Keyring,
        }
    }

    /// Runs `f` without the GIL and converts its error.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&dyn Persistence) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let p = self.get();
        py.detach(|| f(p)).map_err(|e| to_py(py, e, self.style()))
    }
}

/// Converts a constructor's error (the style does not matter: constructors
/// never report "not found").
fn built<T>(py: Python<'_>, r: Result<T, Error>) -> PyResult<T> {
    r.map_err(|e| to_py(py, e, NotFoundStyle::File))
}

/// The reference names libsecret collections by D-Bus path, `None` meaning
/// the default one; aliases are paths under `/org/freedesktop/secrets/aliases/`.
fn collection(path: Option<String>) -> SecretCollection {
    const ALIASES: &str = "/org/freedesktop/secrets/aliases/";
    match path {
        None => SecretCollection::Default,
        Some(p) => match p.strip_prefix(ALIASES) {
            Some("default") => SecretCollection::Default,
            Some("session") => SecretCollection::Session,
            Some(alias) => SecretCollection::Alias(alias.to_owned()),
            None => SecretCollection::Path(p),
        },
    }
}

#[pymethods]
impl NativePersistence {
    /// A plaintext file, saved atomically, `0600`.
    #[staticmethod]
    fn file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(NativePersistence { backend: Backend::File(built(py, FilePersistence::new(path))?) })
    }

    /// A DPAPI-encrypted file (Windows; elsewhere the error the reference's
    /// constructor also gives: the platform cannot do it).
    #[staticmethod]
    #[pyo3(signature = (path, entropy = String::new()))]
    fn dpapi(py: Python<'_>, path: PathBuf, entropy: String) -> PyResult<Self> {
        let p = built(py, DpapiPersistence::new(path))?.with_entropy(&entropy);
        Ok(NativePersistence { backend: Backend::Dpapi(p) })
    }

    /// A macOS Keychain item plus its signal file.
    #[staticmethod]
    fn keychain(py: Python<'_>, signal_path: PathBuf, service: String, account: String) -> PyResult<Self> {
        let p =
            built(py, KeychainPersistence::new(signal_path))?.with_service(&service).with_account(&account);
        Ok(NativePersistence { backend: Backend::Keychain(p) })
    }

    /// A Secret Service item (the one libsecret's password API writes for
    /// the same schema and attributes) plus its signal file.
    #[staticmethod]
    #[pyo3(signature = (signal_path, schema_name, attributes, label = String::new(), collection_path = None))]
    fn secret_service(
        py: Python<'_>,
        signal_path: PathBuf,
        schema_name: String,
        attributes: BTreeMap<String, String>,
        label: String,
        collection_path: Option<String>,
    ) -> PyResult<Self> {
        let p = SecretServicePersistence::builder(signal_path)
            .schema_name(schema_name)
            .attributes(attributes)
            .label(label)
            .collection(collection(collection_path))
            .build();
        Ok(NativePersistence { backend: Backend::SecretService(built(py, p)?) })
    }

    /// Replaces the stored content.
    fn save(&self, py: Python<'_>, content: PyBackedStr) -> PyResult<()> {
        self.run(py, |p| p.save(&content))
    }

    /// The stored content; `PersistenceNotFound` before the first save.
    fn load(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |p| p.load())
    }

    /// The stored content, or `None` before the first save (no exception
    /// on the token cache's hot path).
    fn load_optional(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.run(py, |p| match p.load() {
            Err(e) if e.is_not_found() => Ok(None),
            other => other.map(Some),
        })
    }

    /// The stored bytes as they are (decrypted for DPAPI and the secret
    /// stores), or `None` before the first save: what `PersistedTokenCache`
    /// recovers a leading cache from when the content is not UTF-8 text.
    fn load_bytes_optional<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let bytes = self.run(py, |p| match p.load_bytes() {
            Err(e) if e.is_not_found() => Ok(None),
            other => other.map(Some),
        })?;
        Ok(bytes.map(|b| PyBytes::new(py, &b)))
    }

    /// Keeps a recoverable copy of the content stored now as corrupt (the
    /// core's `keep_copy(CopyReason::Corrupt)`): in the store's own form (a
    /// `<file>.corrupt-<hash>` file beside a plaintext or DPAPI file, the
    /// blob never decrypted; a sibling item in the Keychain or Secret
    /// Service), once per distinct content. Where the copy is, or `None`
    /// when nothing is stored.
    fn keep_copy(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let kept = self.run(py, |p| p.keep_copy(CopyReason::Corrupt))?;
        Ok(kept.map(|k| k.place.to_string()))
    }

    /// The fingerprint of what is stored now (one `stat`).
    fn change_token(&self, py: Python<'_>) -> PyResult<ChangeToken> {
        self.run(py, |p| p.change_token()).map(ChangeToken)
    }

    /// The modification time, in seconds since the epoch, as
    /// `os.path.getmtime` gives it; `PersistenceNotFound` before the first save.
    fn time_last_modified(&self, py: Python<'_>) -> PyResult<f64> {
        let t = self.run(py, |p| p.time_last_modified())?;
        Ok(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        })
    }

    /// Creates the file if needed and sets its modification time to now
    /// (plain files only: the others touch their signal file on save).
    fn touch(&self, py: Python<'_>) -> PyResult<()> {
        match &self.backend {
            Backend::File(f) => py.detach(|| f.touch()).map_err(|e| to_py(py, e, NotFoundStyle::File)),
            _ => Err(pyo3::exceptions::PyTypeError::new_err("touch() is for plain file persistences")),
        }
    }

    /// Checks that the secret store works here (stores, reads back and
    /// deletes a probe item); other backends have nothing to check.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        match &self.backend {
            Backend::SecretService(s) => {
                py.detach(|| s.verify()).map_err(|e| to_py(py, e, NotFoundStyle::Keyring))
            }
            _ => Ok(()),
        }
    }

    /// The file (or signal file) this persistence is about.
    #[getter]
    fn location(&self) -> PathBuf {
        self.get().location().to_path_buf()
    }

    /// `True` when the content is encrypted at rest.
    #[getter]
    fn is_encrypted(&self) -> bool {
        self.get().is_encrypted()
    }

    /// The backend's short name, e.g. `"file"` or `"secret-service"`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.get().backend_name()
    }

    fn __repr__(&self) -> String {
        format!(
            "<msal_extensions._core.Persistence {} at {}>",
            self.backend(),
            self.get().location().display()
        )
    }
}

/// What was stored when it was taken (modification time in nanoseconds,
/// size, file identity). Only `==` means anything: equal tokens mean nobody
/// wrote in between; no clock is ever compared.
#[pyclass(frozen, eq, hash, name = "ChangeToken", module = "msal_extensions._core")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct ChangeToken(msal_extensions::ChangeToken);

#[pymethods]
impl ChangeToken {
    /// `True` when nothing was stored when the token was taken.
    #[getter]
    fn absent(&self) -> bool {
        self.0.is_absent()
    }

    fn __repr__(&self) -> String {
        format!("<{:?}>", self.0)
    }
}
