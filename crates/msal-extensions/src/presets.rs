//! [`Preset`]: where Microsoft's tools keep their token caches, so a program
//! (or the `msal-cache` tool) can open the very cache Azure CLI, Azure
//! Identity or Visual Studio use.
//!
//! A preset resolves, for one platform, to a [`ResolvedPreset`]: the cache
//! file (or the signal file of a secret-store backend), the lockfile beside
//! it, and the storage ([`PresetStorage`]): a plaintext file, a Secret
//! Service item (schema, attributes, label, encoding), a Keychain item
//! (service, account) or a DPAPI-encrypted file.
//!
//! # Sources and confidence
//! The names were read from the tools' own source code (see each preset's
//! [`source`](Preset::source)). [`Confidence::High`] means the names were
//! read in the code that writes the cache today; [`Confidence::Medium`]
//! means read in code, but a detail that matters for sharing could not be
//! confirmed (noted in the source text). Tools change their names between
//! versions: check with `msal-cache doctor --preset NAME` before relying on
//! a preset.
//!
//! # This version
//! [`ResolvedPreset::open`] opens plaintext files and Secret Service items.
//! The Keychain and DPAPI backends are not in this version of the crate: for
//! those presets `open` returns [`Error::Unavailable`] saying so.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::file::FilePersistence;
use crate::persistence::Persistence;
use crate::secret_service::{SecretEncoding, SecretServicePersistence};

/// A Microsoft tool's token cache.
///
/// # Examples
/// ```
/// use msal_extensions::presets::{Platform, Preset, PresetStorage};
/// let p = Preset::from_name("azure-cli").unwrap();
/// let env = |k: &str| (k == "HOME").then(|| "/home/me".into());
/// let r = p.resolve_for(Platform::Linux, &env)?;
/// assert_eq!(r.location(), std::path::Path::new("/home/me/.azure/msal_token_cache.json"));
/// assert_eq!(r.storage(), &PresetStorage::PlaintextFile);
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Azure CLI (`az`), default settings: `~/.azure/msal_token_cache.json`
    /// in plaintext on Linux and macOS, `msal_token_cache.bin` (DPAPI) on
    /// Windows. Honours `AZURE_CONFIG_DIR`.
    AzureCli,
    /// Azure Identity for Python, `TokenCachePersistenceOptions()` with the
    /// default name: `msal.cache.nocae`.
    AzureIdentityPython,
    /// Azure Identity for Python, the cache of CAE-enabled requests: `msal.cache.cae`.
    AzureIdentityPythonCae,
    /// Azure Identity for JavaScript (`@azure/identity-cache-persistence`), default name `msal.cache`.
    AzureIdentityJs,
    /// Visual Studio, Azure Identity for .NET, Git Credential Manager, the
    /// Azure Artifacts credential provider: the shared `msal.cache` written
    /// through MSAL.NET's `MsalCacheHelper`.
    VisualStudio,
}

/// How sure the names of a preset are.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// Read in the code that writes the cache.
    High,
    /// Read in code, with a detail that matters for sharing not confirmed.
    Medium,
}

/// An operating system family whose names a preset knows.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux and other freedesktop systems.
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
}

impl Platform {
    /// The platform this program runs on (Linux for Unix systems other than macOS).
    pub fn current() -> Self {
        if cfg!(windows) {
            Platform::Windows
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }
}

/// Where a preset's cache content lives.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresetStorage {
    /// A plaintext JSON file at the location.
    PlaintextFile,
    /// A freedesktop Secret Service item; the location is the signal file.
    SecretService {
        /// The `xdg:schema` attribute.
        schema: String,
        /// The other attributes identifying the item.
        attributes: Vec<(String, String)>,
        /// The item's label.
        label: String,
        /// How the tool writes the secret.
        encoding: SecretEncoding,
    },
    /// A macOS Keychain generic password; the location is the signal file.
    Keychain {
        /// The item's service.
        service: String,
        /// The item's account.
        account: String,
    },
    /// A file encrypted with Windows DPAPI (current user) at the location.
    Dpapi,
}

impl PresetStorage {
    /// `true` unless the storage is a plaintext file.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, PresetStorage::PlaintextFile)
    }
}

const IDENTITY_SERVICE: &str = "Microsoft.Developer.IdentityService";
const MSAL_CACHE: &str = "MSALCache";

impl Preset {
    /// Every preset, in the order `msal-cache` lists them.
    pub const ALL: [Preset; 5] = [
        Preset::AzureCli,
        Preset::AzureIdentityPython,
        Preset::AzureIdentityPythonCae,
        Preset::AzureIdentityJs,
        Preset::VisualStudio,
    ];

    /// The preset's command-line name, e.g. `"azure-cli"`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::AzureCli => "azure-cli",
            Preset::AzureIdentityPython => "azure-identity-python",
            Preset::AzureIdentityPythonCae => "azure-identity-python-cae",
            Preset::AzureIdentityJs => "azure-identity-js",
            Preset::VisualStudio => "visual-studio",
        }
    }

    /// The preset called `name` (see [`name`](Self::name)), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Where the names come from, and what is not confirmed.
    pub fn source(self) -> &'static str {
        match self {
            Preset::AzureCli => {
                "azure-cli-core auth/persistence.py and identity.py: plaintext msal_token_cache.json \
                 (0600) on Linux and macOS, DPAPI msal_token_cache.bin on Windows, in AZURE_CONFIG_DIR \
                 or ~/.azure. The opt-in encrypted mode (core.encrypt_token_cache) uses placeholder \
                 names and is not a preset."
            }
            Preset::AzureIdentityPython | Preset::AzureIdentityPythonCae => {
                "azure-identity (Python) _persistent_cache.py: ~/.IdentityService/<name> signal file; \
                 Linux libsecret schema <name>, attribute MsalClientID=Microsoft.Developer.IdentityService, \
                 label MSALCache, raw JSON, plaintext fallback at the same path; macOS Keychain \
                 Microsoft.Developer.IdentityService/MSALCache for every name; Windows DPAPI in \
                 %LOCALAPPDATA%\\.IdentityService."
            }
            Preset::AzureIdentityJs => {
                "@azure/identity-cache-persistence via msal-node-extensions and keytar: \
                 ~/.IdentityService/msal.cache signal file; Linux schema org.freedesktop.Secret.Generic \
                 with service=Microsoft.Developer.IdentityService, account=MSALCache, raw JSON; macOS \
                 Keychain Microsoft.Developer.IdentityService/MSALCache; Windows DPAPI."
            }
            Preset::VisualStudio => {
                "Azure.Identity Constants.cs and artifacts-credprovider MsalCache.cs (MSAL.NET \
                 MsalCacheHelper): Windows DPAPI %LOCALAPPDATA%\\.IdentityService\\msal.cache; macOS \
                 signal ~/.local/.IdentityService/msal.cache and Keychain \
                 Microsoft.Developer.IdentityService/MSALCache; Linux schema msal.cache, attributes \
                 MsalClientID=Microsoft.Developer.IdentityService and \
                 Microsoft.Developer.IdentityService=1.0.0.0, label MSALCache, base64. Not confirmed: \
                 MSAL.NET looks items up with SECRET_SCHEMA_DONT_MATCH_NAME, while this crate always \
                 matches xdg:schema; newer Azure.Identity appends .nocae/.cae and uses the name as label."
            }
        }
    }

    /// How sure the names are; see [`source`](Self::source).
    pub fn confidence(self) -> Confidence {
        match self {
            Preset::VisualStudio => Confidence::Medium,
            _ => Confidence::High,
        }
    }

    /// Resolves the preset on this platform, from this process's environment.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the home folder (or `%LOCALAPPDATA%`) is unknown.
    pub fn resolve(self) -> Result<ResolvedPreset> {
        self.resolve_for(Platform::current(), &|k| std::env::var_os(k))
    }

    /// Resolves the preset for `platform`, reading environment variables
    /// (`HOME`, `USERPROFILE`, `LOCALAPPDATA`, `AZURE_CONFIG_DIR`) through `env`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when a folder the preset needs is not in `env`.
    pub fn resolve_for(
        self,
        platform: Platform,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<ResolvedPreset> {
        let (location, storage) = match self {
            Preset::AzureCli => azure_cli(platform, env)?,
            Preset::AzureIdentityPython => identity_python(platform, env, "msal.cache.nocae")?,
            Preset::AzureIdentityPythonCae => identity_python(platform, env, "msal.cache.cae")?,
            Preset::AzureIdentityJs => identity_js(platform, env)?,
            Preset::VisualStudio => visual_studio(platform, env)?,
        };
        Ok(ResolvedPreset { preset: self, platform, location, storage })
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn folder(env: Env<'_>, var: &str) -> Result<PathBuf> {
    env(var).filter(|v| !v.is_empty()).map(PathBuf::from).ok_or_else(|| Error::Unavailable {
        backend: "preset",
        message: format!("the environment variable {var} is not set, so the cache folder is unknown; set it"),
        source: None,
    })
}

fn home(platform: Platform, env: Env<'_>) -> Result<PathBuf> {
    folder(env, if platform == Platform::Windows { "USERPROFILE" } else { "HOME" })
}

fn identity_dir(platform: Platform, env: Env<'_>) -> Result<PathBuf> {
    match platform {
        Platform::Windows => Ok(folder(env, "LOCALAPPDATA")?.join(".IdentityService")),
        _ => Ok(home(platform, env)?.join(".IdentityService")),
    }
}

fn keychain() -> PresetStorage {
    PresetStorage::Keychain { service: IDENTITY_SERVICE.into(), account: MSAL_CACHE.into() }
}

fn azure_cli(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    let dir = match env("AZURE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => home(platform, env)?.join(".azure"),
    };
    Ok(match platform {
        Platform::Windows => (dir.join("msal_token_cache.bin"), PresetStorage::Dpapi),
        _ => (dir.join("msal_token_cache.json"), PresetStorage::PlaintextFile),
    })
}

fn identity_python(platform: Platform, env: Env<'_>, name: &str) -> Result<(PathBuf, PresetStorage)> {
    let location = identity_dir(platform, env)?.join(name);
    let storage = match platform {
        Platform::Windows => PresetStorage::Dpapi,
        Platform::MacOs => keychain(),
        Platform::Linux => PresetStorage::SecretService {
            schema: name.into(),
            attributes: vec![("MsalClientID".into(), IDENTITY_SERVICE.into())],
            label: MSAL_CACHE.into(),
            encoding: SecretEncoding::Utf8,
        },
    };
    Ok((location, storage))
}

fn identity_js(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    let location = identity_dir(platform, env)?.join("msal.cache");
    let storage = match platform {
        Platform::Windows => PresetStorage::Dpapi,
        Platform::MacOs => keychain(),
        Platform::Linux => PresetStorage::SecretService {
            schema: "org.freedesktop.Secret.Generic".into(),
            attributes: vec![
                ("service".into(), IDENTITY_SERVICE.into()),
                ("account".into(), MSAL_CACHE.into()),
            ],
            label: String::new(),
            encoding: SecretEncoding::Utf8,
        },
    };
    Ok((location, storage))
}

fn visual_studio(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    Ok(match platform {
        Platform::Windows => (identity_dir(platform, env)?.join("msal.cache"), PresetStorage::Dpapi),
        Platform::MacOs => (home(platform, env)?.join(".local/.IdentityService/msal.cache"), keychain()),
        Platform::Linux => (
            home(platform, env)?.join(".local/.IdentityService/msal.cache"),
            PresetStorage::SecretService {
                schema: "msal.cache".into(),
                attributes: vec![
                    ("MsalClientID".into(), IDENTITY_SERVICE.into()),
                    (IDENTITY_SERVICE.into(), "1.0.0.0".into()),
                ],
                label: MSAL_CACHE.into(),
                encoding: SecretEncoding::Base64,
            },
        ),
    })
}

/// A [`Preset`] resolved for one platform: paths and store names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPreset {
    preset: Preset,
    platform: Platform,
    location: PathBuf,
    storage: PresetStorage,
}

impl ResolvedPreset {
    /// The preset this was resolved from.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The platform it was resolved for.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The cache file, or the signal file of a Secret Service or Keychain item.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// The lockfile every tool uses: `<location>.lockfile`.
    pub fn lock_path(&self) -> PathBuf {
        crate::lock::default_lock_path(&self.location)
    }

    /// Where the content lives.
    pub fn storage(&self) -> &PresetStorage {
        &self.storage
    }

    /// Opens the preset's own backend.
    ///
    /// # Errors
    /// [`Error::Unavailable`] for Keychain and DPAPI storage (not in this
    /// version of the crate) and when resolved for another platform; the
    /// backends' construction errors otherwise.
    pub fn open(&self) -> Result<Box<dyn Persistence>> {
        if self.platform != Platform::current() {
            return Err(unavailable(
                "preset",
                format!("{} was resolved for {:?}, not this platform", self.preset, self.platform),
            ));
        }
        match &self.storage {
            PresetStorage::PlaintextFile => Ok(Box::new(FilePersistence::new(&self.location)?)),
            PresetStorage::SecretService { schema, attributes, label, encoding } => {
                let p = SecretServicePersistence::builder(&self.location)
                    .schema_name(schema.clone())
                    .attributes(attributes.iter().cloned())
                    .label(label.clone())
                    .encoding(*encoding)
                    .build()?;
                Ok(Box::new(p))
            }
            PresetStorage::Keychain { .. } => {
                Err(unavailable("keychain", "the macOS Keychain backend is not in this version yet".into()))
            }
            PresetStorage::Dpapi => Err(unavailable(
                "dpapi",
                "the DPAPI-encrypted file backend is not in this version yet".into(),
            )),
        }
    }

    /// A plaintext file at the preset's location: what Azure Identity (and
    /// the .NET and Node libraries, when allowed) fall back to where there is
    /// no secret store, and what Azure CLI uses by default.
    ///
    /// # Errors
    /// As [`FilePersistence::new`].
    pub fn open_plaintext(&self) -> Result<FilePersistence> {
        FilePersistence::new(&self.location)
    }
}

fn unavailable(backend: &'static str, message: String) -> Error {
    Error::Unavailable { backend, message, source: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<OsString> {
        match k {
            "HOME" => Some("/h".into()),
            "USERPROFILE" => Some(r"C:\Users\me".into()),
            "LOCALAPPDATA" => Some(r"C:\Users\me\AppData\Local".into()),
            _ => None,
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for p in Preset::ALL {
            assert_eq!(Preset::from_name(p.name()), Some(p));
            assert!(!p.source().is_empty());
        }
        assert_eq!(Preset::from_name("nope"), None);
    }

    #[test]
    fn azure_cli_honours_config_dir() {
        let r = Preset::AzureCli.resolve_for(Platform::Linux, &env).unwrap();
        assert_eq!(r.location(), Path::new("/h/.azure/msal_token_cache.json"));
        assert_eq!(r.lock_path(), Path::new("/h/.azure/msal_token_cache.json.lockfile"));
        let custom = |k: &str| if k == "AZURE_CONFIG_DIR" { Some("/cfg".into()) } else { env(k) };
        let r = Preset::AzureCli.resolve_for(Platform::MacOs, &custom).unwrap();
        assert_eq!(r.location(), Path::new("/cfg/msal_token_cache.json"));
        let r = Preset::AzureCli.resolve_for(Platform::Windows, &env).unwrap();
        assert_eq!(r.storage(), &PresetStorage::Dpapi);
        assert!(r.location().to_string_lossy().ends_with("msal_token_cache.bin"));
    }

    #[test]
    fn identity_python_linux_matches_the_libsecret_item() {
        let r = Preset::AzureIdentityPythonCae.resolve_for(Platform::Linux, &env).unwrap();
        assert_eq!(r.location(), Path::new("/h/.IdentityService/msal.cache.cae"));
        let PresetStorage::SecretService { schema, attributes, label, encoding } = r.storage() else {
            panic!("{r:?}")
        };
        assert_eq!(
            (schema.as_str(), label.as_str(), *encoding),
            ("msal.cache.cae", "MSALCache", SecretEncoding::Utf8)
        );
        assert_eq!(attributes, &[("MsalClientID".to_string(), IDENTITY_SERVICE.to_string())]);
        let mac = Preset::AzureIdentityPython.resolve_for(Platform::MacOs, &env).unwrap();
        assert_eq!(mac.storage(), &keychain());
    }

    #[test]
    fn missing_home_is_an_error_not_a_panic() {
        let none = |_: &str| None;
        for p in Preset::ALL {
            for platform in [Platform::Linux, Platform::MacOs, Platform::Windows] {
                assert!(
                    matches!(p.resolve_for(platform, &none), Err(Error::Unavailable { .. })),
                    "{p} {platform:?}"
                );
            }
        }
    }

    #[test]
    fn other_platform_presets_do_not_open() {
        let other =
            if Platform::current() == Platform::Windows { Platform::Linux } else { Platform::Windows };
        let r = Preset::AzureCli.resolve_for(other, &env).unwrap();
        assert!(matches!(r.open(), Err(Error::Unavailable { .. })));
    }
}
