//! Which cache a command works on. `--cache`/`--preset` and the store
//! options become one [`StoreSpec`], the library's description of a store;
//! the library opens it ([`StoreSpec::open`], or [`ResolvedPreset::open`]
//! for a preset, which opens what the owner tool would, plaintext fallback
//! included), and every read-modify-write goes through
//! [`PersistedTokenCache`] ([`Source::cache`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use msal_extensions::lock;
use msal_extensions::presets::{Preset, ResolvedPreset};
use msal_extensions::{
    Error, KeptCopy, LockOptions, OnCorrupt, PersistedTokenCache, Persistence, SecretEncoding, StoreKind,
    StoreSpec, WriteConvention,
};

use crate::BoxResult;
use crate::output::{clean, shell_quote, shown};

/// `--backend`: the kind of store at the cache's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// A plaintext JSON file (`0600`).
    File,
    /// A freedesktop Secret Service item (Linux); the path is its signal file.
    SecretService,
    /// A macOS Keychain item; the path is its signal file.
    Keychain,
    /// A file encrypted with Windows DPAPI.
    Dpapi,
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
    /// The cache file (or, with an encrypted --backend, its signal file).
    #[arg(long, value_name = "PATH", required_unless_present = "preset", conflicts_with = "preset")]
    pub cache: Option<PathBuf>,
    /// A Microsoft tool's cache: azure-cli, azure-identity-python, azure-identity-python-cae,
    /// azure-identity-js, visual-studio. It is opened as its owner tool opens it here
    /// (its encrypted store, or the owner's plaintext fallback where it has one).
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<Preset>,
    /// With --preset azure-identity-python[-cae]: the name the application gave
    /// TokenCachePersistenceOptions(name=...) (default: msal.cache).
    #[arg(long, value_name = "NAME", requires = "preset")]
    pub name: Option<String>,
    /// The store at that path: a plaintext file, or an encrypted store
    /// (default: file for --cache, the preset's own store for --preset).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Secret Service schema name (default: the preset's, else sha256 of the path, like Python
    /// msal-extensions).
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
    /// Seconds to wait for the cross-process lock (`inf`: for ever).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    pub lock_timeout: Duration,
}

/// A number of seconds, 0 or more; one too large to count (`inf`) waits for
/// ever (the library takes `Duration::MAX` as no deadline).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| "expected a number of seconds".to_owned())?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => Ok(d),
        Err(_) if secs > 0.0 => Ok(Duration::MAX),
        Err(_) => Err("expected a number of seconds, 0 or more".into()),
    }
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

/// A resolved `--cache`/`--preset`: the store commands work on, and this
/// location's encrypted store (for `migrate` and `doctor`).
#[derive(Debug, Clone)]
pub struct Source {
    /// The store the command works on.
    pub spec: StoreSpec,
    /// This location's encrypted store: the preset's own, else the
    /// platform's default with the options' names.
    pub encrypted: StoreSpec,
    /// The preset, when `--preset` named the cache.
    pub preset: Option<ResolvedPreset>,
    pub lock_timeout: Duration,
    /// The options naming this cache again, shell-quoted, for the fixes messages suggest.
    pub hint: String,
}

impl SourceArgs {
    /// Resolves the options (and the preset) into a [`Source`].
    pub fn resolve(&self) -> BoxResult<Source> {
        let preset = match (self.preset, &self.name) {
            (Some(p), Some(name)) => Some(p.resolve_named(name)?),
            (Some(p), None) => Some(p.resolve()?),
            (None, _) => None,
        };
        let (own, location) = match (&preset, &self.cache) {
            (Some(r), _) => (r.spec().clone(), r.location().to_path_buf()),
            (None, Some(path)) => (StoreSpec::file(path), path.clone()),
            (None, None) => return Err("give --cache PATH or --preset NAME".into()),
        };
        let encrypted =
            if own.is_encrypted() { own.clone() } else { StoreSpec::encrypted_default(&location) };
        let encrypted = self.with_names(encrypted);
        let spec = match self.backend {
            None if own.is_encrypted() => encrypted.clone(),
            None => own,
            Some(b) => self.with_names(of_kind(b, &encrypted)),
        };
        Ok(Source { spec, encrypted, preset, lock_timeout: self.lock_timeout, hint: self.hint() })
    }

    /// `spec` with the Secret Service names the options give, over its own.
    fn with_names(&self, spec: StoreSpec) -> StoreSpec {
        let StoreKind::SecretService { schema, attributes, label, collection, encoding } =
            spec.kind().clone()
        else {
            return spec;
        };
        let kind = StoreKind::SecretService {
            schema: self.schema.clone().unwrap_or(schema),
            attributes: if self.attributes.is_empty() { attributes } else { self.attributes.clone() },
            label: self.label.clone().unwrap_or(label),
            collection,
            encoding: match self.encoding {
                Some(Encoding::Utf8) => SecretEncoding::Utf8,
                Some(Encoding::Base64) => SecretEncoding::Base64,
                None => encoding,
            },
        };
        spec.with_kind(kind)
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
        let mut opt = |name: &str, value: &str| parts.extend([name.into(), shell_quote(value.as_ref())]);
        if let Some(n) = &self.name {
            opt("--name", n);
        }
        if let Some(b) = self.backend.and_then(|b| b.to_possible_value()) {
            opt("--backend", b.get_name());
        }
        if let Some(s) = &self.schema {
            opt("--schema", s);
        }
        for (k, v) in &self.attributes {
            opt("--attribute", &format!("{k}={v}"));
        }
        if let Some(l) = &self.label {
            opt("--label", l);
        }
        if let Some(e) = self.encoding.and_then(|e| e.to_possible_value()) {
            opt("--encoding", e.get_name());
        }
        parts.join(" ")
    }
}

/// The store of kind `b` at `encrypted`'s location: `encrypted` itself when
/// it is of that kind (keeping a preset's names), else the library's default
/// description of that kind.
fn of_kind(b: BackendArg, encrypted: &StoreSpec) -> StoreSpec {
    let location = encrypted.location();
    let fresh = match b {
        BackendArg::File => return StoreSpec::file(location),
        BackendArg::SecretService => StoreSpec::secret_service(location),
        BackendArg::Keychain => StoreSpec::keychain(location),
        BackendArg::Dpapi => StoreSpec::dpapi(location),
    };
    if fresh.backend_name() == encrypted.backend_name() { encrypted.clone() } else { fresh }
}

impl Source {
    /// The cache file, or the signal file of an encrypted item.
    pub fn location(&self) -> &Path {
        self.spec.location()
    }

    /// Opens the store. A preset's own store is opened as its owner opens
    /// it, so where the owner falls back to a plaintext file (Azure Identity
    /// for Python without a Secret Service) that file is read, and a note
    /// says so on stderr.
    pub fn open(&self) -> BoxResult<Box<dyn Persistence>> {
        match &self.preset {
            Some(r) if r.spec() == &self.spec => {
                let chosen = r.open()?;
                if let Some(why) = chosen.fallback_reason() {
                    eprintln!(
                        "msal-cache: note: {}; reading {}'s plaintext fallback {} instead, as it would",
                        clean(&crate::error_chain(why)),
                        tool_name(r.preset()),
                        shown(self.location())
                    );
                }
                Ok(Box::new(chosen))
            }
            _ => Ok(self.spec.open()?),
        }
    }

    /// The cache as a [`PersistedTokenCache`]: the one read-modify-write path.
    /// Corrupt content is an error here; two commands repair it: `clear`
    /// (through [`PersistedTokenCache::replace`]) and `doctor --fix` (a
    /// modify under [`OnCorrupt::Quarantine`], which keeps the complete cache
    /// at the content's start if there is one). Every write keeps a
    /// recoverable copy of what it replaces; a preset's cache is written the
    /// way its owner library reads it.
    pub fn cache(&self) -> BoxResult<PersistedTokenCache<Box<dyn Persistence>>> {
        Ok(self.cache_of(self.open()?))
    }

    /// [`cache`](Self::cache) over an already opened store.
    pub fn cache_of(&self, p: Box<dyn Persistence>) -> PersistedTokenCache<Box<dyn Persistence>> {
        let mut c = PersistedTokenCache::new(p)
            .lock_options(self.lock_options())
            .on_corrupt(OnCorrupt::Fail)
            .keep_replaced(true);
        if let Some(r) = &self.preset {
            c = c.write_convention(WriteConvention::for_owner(r.owner()));
        }
        c
    }

    /// The lock options for this source.
    pub fn lock_options(&self) -> LockOptions {
        LockOptions::new().timeout(self.lock_timeout)
    }

    /// The lockfile of this source.
    pub fn lock_path(&self) -> PathBuf {
        self.spec.lock_path()
    }

    /// Files that are part of the store and that an export must never write:
    /// the cache (or signal) file, the lockfile, and the lock's companion
    /// guard ([`lock::guard_path`]).
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        let lock = self.lock_path();
        let guard = lock::guard_path(&lock);
        vec![self.location().to_path_buf(), lock, guard]
    }

    /// The preset whose owner tool keeps this very cache as a plaintext file
    /// on this platform and reads no other store (Azure CLI on Linux and
    /// macOS): moving it to an encrypted store would sign that tool out.
    pub fn plaintext_owner(&self) -> Option<Preset> {
        let plaintext = |r: &ResolvedPreset| !r.spec().is_encrypted();
        if let Some(r) = &self.preset {
            return plaintext(r).then(|| r.preset());
        }
        Preset::ALL
            .into_iter()
            .find(|p| p.resolve().is_ok_and(|r| plaintext(&r) && same_file(r.location(), self.location())))
    }

    /// `e`, with what to do next when the cache is corrupt: the library
    /// names the place and the reason; this adds the repair command.
    pub fn explain(&self, e: Error) -> Box<dyn std::error::Error> {
        match e {
            Error::Corrupt { .. } => format!(
                "{e}; nothing was changed. `msal-cache doctor --fix {hint}` repairs it: it keeps a copy of the \
                 bad content, then the complete cache at its start if there is one, else an empty cache",
                hint = self.hint
            )
            .into(),
            other => other.into(),
        }
    }
}

/// Tells where the content a command replaced is kept, if it replaced any.
pub fn say_copy(out: &mut impl std::io::Write, copy: Option<&KeptCopy>, what: &str) -> std::io::Result<()> {
    match copy {
        Some(c) if c.new => writeln!(out, "{what} is kept at {}", clean(&c.to_string())),
        Some(c) => writeln!(out, "{what} was already kept at {}", clean(&c.to_string())),
        None => Ok(()),
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

/// Reads the cache (no lock unless the content looks corrupt: then it is
/// re-read under the lock, so a peer's in-place write is never mistaken for
/// corruption) and runs `f` on it. A cache that does not exist is an error
/// naming the place, so a mistyped path is not shown as an empty cache.
pub fn read<R>(src: &Source, f: impl FnOnce(&msal_extensions::TokenCache) -> R) -> BoxResult<R> {
    let cache = src.cache()?;
    if cache.persistence().change_token()?.is_absent() {
        return Err(format!(
            "no token cache at {} yet; check the path (or --preset), or sign in with the tool that writes it \
             first",
            clean(&cache.persistence().describe())
        )
        .into());
    }
    let r = cache.read(f).map_err(|e| src.explain(e))?;
    // The process exits next: freeing thousands of entries one by one would only cost time.
    std::mem::forget(cache);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        source: SourceArgs,
    }

    fn args(argv: &[&str]) -> Result<SourceArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("msal-cache").chain(argv.iter().copied())).map(|c| c.source)
    }

    #[test]
    fn a_suggested_command_names_the_encoding_of_a_base64_item() {
        let a =
            args(&["--cache", "/c s.bin", "--backend", "secret-service", "--encoding", "base64"]).unwrap();
        assert_eq!(a.hint(), "--cache '/c s.bin' --backend secret-service --encoding base64");
        assert_eq!(args(&["--cache", "/c.bin"]).unwrap().hint(), "--cache /c.bin");
    }

    #[test]
    fn any_lock_timeout_of_0_or_more_is_taken_and_others_refused() {
        let t = |v: &str| args(&["--cache", "c", "--lock-timeout", v]).map(|a| a.lock_timeout);
        assert_eq!(args(&["--cache", "c"]).unwrap().lock_timeout, Duration::from_secs(10));
        assert_eq!(t("0").unwrap(), Duration::ZERO);
        assert_eq!(t("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(t("1e300").unwrap(), Duration::MAX, "more than a Duration holds waits for ever");
        assert_eq!(t("inf").unwrap(), Duration::MAX);
        assert_eq!(t("86401").unwrap(), Duration::from_secs(86_401), "no cap at a day");
        for bad in ["-1", "NaN", "ten", ""] {
            assert!(t(bad).is_err(), "{bad:?} was taken");
        }
    }
}
