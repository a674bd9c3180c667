//! Which cache a command works on (`--cache`/`--preset` and the backend
//! options), and the two ways to touch it: a lock-free read, and a
//! read-modify-write under the cross-process lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use msal_extensions::presets::{Preset, ResolvedPreset};
use msal_extensions::{
    Error, LockOptions, Persistence, SecretCollection, SecretEncoding, StoreKind, StoreSpec, TokenCache,
};

use crate::BoxResult;
use crate::output::{shell_quote, shown};

/// The backend a cache is read from and written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// A plaintext JSON file (`0600`).
    File,
    /// A freedesktop Secret Service item; `--cache` is its signal file.
    SecretService,
}

/// How a Secret Service item stores the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// Raw UTF-8 JSON (Python, Node).
    Utf8,
    /// Base64 of the JSON (.NET, Java, Go).
    Base64,
}

/// Options naming the cache, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The cache file (or, with `--backend secret-service`, its signal file).
    #[arg(long, value_name = "PATH", required_unless_present = "preset", conflicts_with = "preset")]
    pub cache: Option<PathBuf>,
    /// A Microsoft tool's cache: azure-cli, azure-identity-python, azure-identity-python-cae,
    /// azure-identity-js, visual-studio.
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<Preset>,
    /// Where the content is: a plaintext file, or a Secret Service item
    /// (default: file for --cache, the preset's own store for --preset).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Secret Service schema name (default: sha256 of the path, like Python msal-extensions).
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Secret Service attribute, repeatable.
    #[arg(long = "attribute", value_name = "KEY=VALUE", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// Secret Service item label.
    #[arg(long)]
    pub label: Option<String>,
    /// How the Secret Service item stores the cache when written (reads accept both).
    #[arg(long, value_enum)]
    pub encoding: Option<Encoding>,
    /// Seconds to wait for the cross-process lock.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub lock_timeout: f64,
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    Preset::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
        format!("unknown preset; use one of: {}", names.join(", "))
    })
}

fn parse_attribute(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// The Secret Service names to use: the options, over the preset's, over the defaults.
#[derive(Debug, Clone, Default)]
pub struct SecretSpec {
    pub schema: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub label: Option<String>,
    pub encoding: Option<SecretEncoding>,
}

/// A resolved `--cache`/`--preset`: the location, the backend chosen, and the
/// Secret Service names (used by that backend, or by `migrate`).
#[derive(Debug, Clone)]
pub struct Source {
    pub location: PathBuf,
    pub backend: Backend,
    pub secret: SecretSpec,
    pub preset: Option<ResolvedPreset>,
    pub lock_timeout: Duration,
    /// The options naming this cache again, shell-quoted, for the fixes messages suggest.
    pub hint: String,
}

impl SourceArgs {
    /// Resolves the options (and the preset) into a [`Source`].
    pub fn resolve(&self) -> BoxResult<Source> {
        // Capped at a day: an "infinite" timeout must not overflow the deadline arithmetic.
        let lock_timeout =
            Duration::try_from_secs_f64(self.lock_timeout.clamp(0.0, 86_400.0)).unwrap_or_default();
        let mut secret = SecretSpec::default();
        let (location, default_backend, preset) = match (&self.cache, self.preset) {
            (Some(path), _) => (path.clone(), Backend::File, None),
            (None, Some(p)) => {
                let r = p.resolve()?;
                let backend = preset_backend(&r, &mut secret)?;
                (r.location().to_path_buf(), backend, Some(r))
            }
            (None, None) => return Err("give --cache PATH or --preset NAME".into()),
        };
        if self.schema.is_some() {
            secret.schema = self.schema.clone();
        }
        if !self.attributes.is_empty() {
            secret.attributes = self.attributes.clone();
        }
        if self.label.is_some() {
            secret.label = self.label.clone();
        }
        if let Some(e) = self.encoding {
            secret.encoding = Some(match e {
                Encoding::Utf8 => SecretEncoding::Utf8,
                Encoding::Base64 => SecretEncoding::Base64,
            });
        }
        let backend = self.backend.unwrap_or(default_backend);
        Ok(Source { location, backend, secret, preset, lock_timeout, hint: self.hint() })
    }

    /// These options as a command line would give them (shell-quoted), so a
    /// suggested fix names the very same cache.
    pub fn hint(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match (&self.cache, self.preset) {
            (Some(p), _) => parts.extend(["--cache".into(), shell_quote(p.as_os_str())]),
            (None, Some(p)) => parts.extend(["--preset".into(), p.name().into()]),
            _ => {}
        }
        if let Some(b) = self.backend.and_then(|b| b.to_possible_value()) {
            parts.extend(["--backend".into(), b.get_name().into()]);
        }
        if let Some(s) = &self.schema {
            parts.extend(["--schema".into(), shell_quote(s.as_ref())]);
        }
        for (k, v) in &self.attributes {
            parts.extend(["--attribute".into(), shell_quote(format!("{k}={v}").as_ref())]);
        }
        if let Some(l) = &self.label {
            parts.extend(["--label".into(), shell_quote(l.as_ref())]);
        }
        parts.join(" ")
    }
}

fn preset_backend(r: &ResolvedPreset, secret: &mut SecretSpec) -> BoxResult<Backend> {
    match r.storage() {
        StoreKind::File => Ok(Backend::File),
        StoreKind::SecretService { schema, attributes, label, encoding, .. } => {
            *secret = SecretSpec {
                schema: Some(schema.clone()),
                attributes: attributes.clone(),
                label: Some(label.clone()),
                encoding: Some(*encoding),
            };
            Ok(Backend::SecretService)
        }
        other => Err(format!(
            "the {} preset keeps its cache in {other:?} here, which this version of msal-cache cannot \
             open yet; give --backend file to read a plaintext cache at {}",
            r.preset(),
            shown(r.location())
        )
        .into()),
    }
}

impl Source {
    /// Opens the backend chosen.
    pub fn open(&self) -> BoxResult<Box<dyn Persistence>> {
        self.open_as(self.backend)
    }

    /// Opens `backend` at this source's location (for `migrate`).
    pub fn open_as(&self, backend: Backend) -> BoxResult<Box<dyn Persistence>> {
        Ok(self.spec_as(backend).open()?)
    }

    /// The library's description of `backend` at this source's location.
    pub fn spec_as(&self, backend: Backend) -> StoreSpec {
        match backend {
            Backend::File => StoreSpec::file(&self.location),
            Backend::SecretService => {
                let s = &self.secret;
                let kind = StoreKind::SecretService {
                    schema: s
                        .schema
                        .clone()
                        .unwrap_or_else(|| msal_extensions::default_schema_name(&self.location)),
                    attributes: s.attributes.clone(),
                    label: s.label.clone().unwrap_or_default(),
                    collection: SecretCollection::Default,
                    encoding: s.encoding.unwrap_or_default(),
                };
                StoreSpec::new(&self.location, kind)
            }
        }
    }

    /// The lock options for this source.
    pub fn lock_options(&self) -> LockOptions {
        LockOptions::new().timeout(self.lock_timeout)
    }

    /// The lockfile of this source.
    pub fn lock_path(&self) -> PathBuf {
        msal_extensions::lock::default_lock_path(&self.location)
    }

    /// Files that are part of the store and that an export must never write:
    /// the cache (or signal) file and the lockfile.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        vec![self.location.clone(), self.lock_path()]
    }

    /// The preset whose owner tool keeps this very cache as a plaintext file
    /// on this platform and reads no other store (Azure CLI on Linux and
    /// macOS): moving it to an encrypted store would sign that tool out.
    pub fn plaintext_owner(&self) -> Option<Preset> {
        let plaintext = |r: &ResolvedPreset| r.storage() == &PresetStorage::PlaintextFile;
        if let Some(r) = &self.preset {
            return plaintext(r).then(|| r.preset());
        }
        Preset::ALL
            .into_iter()
            .find(|p| p.resolve().is_ok_and(|r| plaintext(&r) && same_file(r.location(), &self.location)))
    }
}

/// The tool behind a preset, as people call it.
pub fn tool_name(p: Preset) -> &'static str {
    match p {
        Preset::AzureCli => "Azure CLI",
        Preset::AzureIdentityPython | Preset::AzureIdentityPythonCae => "Azure Identity for Python",
        Preset::AzureIdentityJs => "Azure Identity for JavaScript",
        Preset::VisualStudio => "Visual Studio",
        _ => "the tool owning this cache",
    }
}

/// `true` when `a` and `b` name the same file: the same file system object
/// when both exist, else the same absolute path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}

/// Loads and parses the cache without the lock (saves are atomic).
///
/// Errors say what to do next: a missing cache names the path; a corrupt one
/// points to `doctor`.
pub fn load(p: &dyn Persistence) -> BoxResult<TokenCache> {
    let bytes = match p.load_bytes() {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return Err(format!(
                "{e}; check the path (or --preset), or sign in with the tool that writes it first"
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    parse(bytes, p.location())
}

/// Parses cache content read from `location`; a corrupt cache is reported
/// at that place (never the library's in-memory "token cache").
pub fn parse(bytes: Vec<u8>, location: &Path) -> BoxResult<TokenCache> {
    TokenCache::parse_owned(bytes).map_err(|e| {
        let reason = match &e {
            Error::Corrupt { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        format!(
            "the token cache at {} is corrupt: {reason}; nothing was changed; run `msal-cache doctor` \
             with the same options to see how to repair it",
            shown(location)
        )
        .into()
    })
}

/// Runs `f` on the cache under the cross-process lock and, when `f` reports a
/// change, saves the result (in the same JSON layout, indented or compact, as
/// it was read). A cache that does not exist yet is empty; a corrupt one is
/// never overwritten.
pub fn modify<R>(
    p: &dyn Persistence,
    opts: &LockOptions,
    f: impl FnOnce(&mut TokenCache) -> BoxResult<(R, bool)>,
) -> BoxResult<R> {
    let lock = opts.acquire(p.lock_path())?;
    let (mut cache, pretty) = match p.load_bytes() {
        Ok(bytes) => {
            let indented = looks_indented(&bytes);
            (parse(bytes, p.location())?, indented)
        }
        Err(e) if e.is_not_found() => (TokenCache::new(), false),
        Err(e) => return Err(e.into()),
    };
    let (r, changed) = f(&mut cache)?;
    if changed {
        p.save(&if pretty { cache.serialize_pretty() } else { cache.serialize() })?;
    }
    lock.release()?;
    Ok(r)
}

/// `true` when the JSON was written indented (MSAL Python does).
pub fn looks_indented(bytes: &[u8]) -> bool {
    bytes.windows(2).take(4096).any(|w| w == b"\n ")
}

/// `true` when `e` (an error from this crate's library) says a store is missing or unusable.
pub fn is_unavailable(e: &Error) -> bool {
    matches!(e, Error::Unavailable { .. } | Error::StoreLocked { .. })
}
