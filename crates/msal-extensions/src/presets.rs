//! [`Preset`]: where Microsoft's tools keep their token caches, so a program
//! (or the `msal-cache` tool) can open the very cache Azure CLI, Azure
//! Identity or Visual Studio use.
//!
//! A preset resolves, for one platform, to a [`ResolvedPreset`]: a
//! [`StoreSpec`] (the cache file or the signal file of a secret-store
//! backend, and the store's names: a plaintext file, a Secret Service item,
//! a Keychain item or a DPAPI-encrypted file), the lockfile beside it, the
//! [`Owner`] library whose conventions the cache follows, and whether the
//! owner falls back to a plaintext file at the same path.
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
//! # Opening
//! [`ResolvedPreset::open`] opens every backend on its own platform through
//! [`StoreSpec::open`]; where the owner falls back to a plaintext file at the
//! same path when its secret store is unusable (Azure Identity for Python on
//! Linux), `open` does too, and the [`ChosenPersistence`] it returns says so.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::encrypted::{ChosenPersistence, Fallback};
use crate::error::{Error, Result};
use crate::file::FilePersistence;
use crate::persistence::Persistence;
use crate::secret_service::{SecretCollection, SecretEncoding};
use crate::store::{StoreKind, StoreSpec};

/// A Microsoft tool's token cache.
///
/// # Examples
/// ```
/// use msal_extensions::presets::{Platform, Preset, PresetStorage};
/// let p = Preset::from_name("azure-cli").unwrap();
/// let env = |k: &str| (k == "HOME").then(|| "/home/me".into());
/// let r = p.resolve_for(Platform::Linux, &env)?;
/// assert_eq!(r.location(), std::path::Path::new("/home/me/.azure/msal_token_cache.json"));
/// assert_eq!(r.storage(), &PresetStorage::File);
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

/// Where a preset's cache content lives: the crate's one store description.
pub type PresetStorage = StoreKind;

/// The MSAL library that writes a preset's cache: whose conventions (e.g.
/// how app-only tokens record their account) a writer should follow so the
/// owner keeps finding its tokens.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// MSAL for Python (Azure CLI, Azure Identity for Python).
    MsalPython,
    /// MSAL.NET (Visual Studio, Azure Identity for .NET).
    MsalDotNet,
    /// MSAL Node (Azure Identity for JavaScript).
    MsalNode,
}

const IDENTITY_SERVICE: &str = "Microsoft.Developer.IdentityService";
const MSAL_CACHE: &str = "MSALCache";
/// Azure Identity for Python's default `TokenCachePersistenceOptions(name=...)`.
const IDENTITY_DEFAULT_NAME: &str = "msal.cache";

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
                "azure-identity 1.27 (Python) _persistent_cache.py: cache name = TokenCachePersistenceOptions \
                 name (default msal.cache) + .nocae or .cae; ~/.IdentityService/<cache name> signal file; \
                 Linux libsecret schema <cache name>, attribute MsalClientID=Microsoft.Developer.IdentityService, \
                 label MSALCache, raw JSON, with allow_unencrypted_storage a plaintext file at the same path \
                 when libsecret is unusable; macOS Keychain service Microsoft.Developer.IdentityService, \
                 account MSALCache for msal.cache.nocae and the cache name for every other name; Windows \
                 DPAPI in %LOCALAPPDATA%\\.IdentityService\\<cache name>."
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

    /// The MSAL library that writes this preset's cache.
    pub fn owner(self) -> Owner {
        match self {
            Preset::AzureCli | Preset::AzureIdentityPython | Preset::AzureIdentityPythonCae => {
                Owner::MsalPython
            }
            Preset::AzureIdentityJs => Owner::MsalNode,
            Preset::VisualStudio => Owner::MsalDotNet,
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
            Preset::AzureIdentityPython | Preset::AzureIdentityPythonCae => {
                return self.resolve_named_for(IDENTITY_DEFAULT_NAME, platform, env);
            }
            Preset::AzureIdentityJs => identity_js(platform, env)?,
            Preset::VisualStudio => visual_studio(platform, env)?,
        };
        Ok(ResolvedPreset::new(self, platform, StoreSpec::new(location, storage), false))
    }

    /// Resolves an Azure Identity for Python preset for the cache an
    /// application named with `TokenCachePersistenceOptions(name=name)`, on
    /// this platform: [`AzureIdentityPython`](Preset::AzureIdentityPython)
    /// for its `<name>.nocae` cache, [`AzureIdentityPythonCae`](Preset::AzureIdentityPythonCae)
    /// for `<name>.cae`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for other presets, or a name that is empty or
    /// holds a path separator; as [`resolve`](Self::resolve) otherwise.
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::presets::{Platform, Preset, PresetStorage};
    /// let env = |k: &str| (k == "HOME").then(|| "/home/me".into());
    /// let r = Preset::AzureIdentityPythonCae.resolve_named_for("my-app", Platform::MacOs, &env)?;
    /// assert_eq!(r.location(), std::path::Path::new("/home/me/.IdentityService/my-app.cae"));
    /// let PresetStorage::Keychain { account, .. } = r.storage() else { unreachable!() };
    /// assert_eq!(account, "my-app.cae");
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn resolve_named(self, name: &str) -> Result<ResolvedPreset> {
        self.resolve_named_for(name, Platform::current(), &|k| std::env::var_os(k))
    }

    /// [`resolve_named`](Self::resolve_named) for `platform`, reading the
    /// environment through `env`.
    ///
    /// # Errors
    /// As [`resolve_named`](Self::resolve_named).
    pub fn resolve_named_for(
        self,
        name: &str,
        platform: Platform,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<ResolvedPreset> {
        let suffix = match self {
            Preset::AzureIdentityPython => ".nocae",
            Preset::AzureIdentityPythonCae => ".cae",
            _ => {
                return Err(Error::invalid(
                    "preset",
                    format!(
                        "{self} has no cache name to choose; only the Azure Identity for Python presets do"
                    ),
                ));
            }
        };
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(Error::invalid(
                "cache name",
                "give the name passed to TokenCachePersistenceOptions(name=...): not empty, no path separator",
            ));
        }
        let cache_name = format!("{name}{suffix}");
        let (location, storage) = identity_python(platform, env, &cache_name)?;
        // Azure Identity falls back to a plaintext file at the signal path on Linux only.
        let fallback = platform == Platform::Linux;
        Ok(ResolvedPreset::new(self, platform, StoreSpec::new(location, storage), fallback))
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

fn keychain(account: &str) -> PresetStorage {
    PresetStorage::Keychain { service: IDENTITY_SERVICE.into(), account: account.into() }
}

fn secret_service(
    schema: &str,
    attributes: &[(&str, &str)],
    label: &str,
    encoding: SecretEncoding,
) -> PresetStorage {
    PresetStorage::SecretService {
        schema: schema.into(),
        attributes: attributes.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        label: label.into(),
        collection: SecretCollection::Default,
        encoding,
    }
}

fn dpapi() -> PresetStorage {
    PresetStorage::Dpapi { entropy: String::new(), scope: crate::DpapiScope::CurrentUser }
}

fn azure_cli(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    let dir = match env("AZURE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => home(platform, env)?.join(".azure"),
    };
    Ok(match platform {
        Platform::Windows => (dir.join("msal_token_cache.bin"), dpapi()),
        _ => (dir.join("msal_token_cache.json"), PresetStorage::File),
    })
}

/// Azure Identity for Python's store for `cache_name` (`<name>.nocae` or `<name>.cae`).
fn identity_python(platform: Platform, env: Env<'_>, cache_name: &str) -> Result<(PathBuf, PresetStorage)> {
    let location = identity_dir(platform, env)?.join(cache_name);
    let storage = match platform {
        Platform::Windows => dpapi(),
        // Only the default non-CAE cache uses the shared account name.
        Platform::MacOs if cache_name == "msal.cache.nocae" => keychain(MSAL_CACHE),
        Platform::MacOs => keychain(cache_name),
        Platform::Linux => secret_service(
            cache_name,
            &[("MsalClientID", IDENTITY_SERVICE)],
            MSAL_CACHE,
            SecretEncoding::Utf8,
        ),
    };
    Ok((location, storage))
}

fn identity_js(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    let location = identity_dir(platform, env)?.join("msal.cache");
    let storage = match platform {
        Platform::Windows => dpapi(),
        Platform::MacOs => keychain(MSAL_CACHE),
        Platform::Linux => secret_service(
            "org.freedesktop.Secret.Generic",
            &[("service", IDENTITY_SERVICE), ("account", MSAL_CACHE)],
            "",
            SecretEncoding::Utf8,
        ),
    };
    Ok((location, storage))
}

fn visual_studio(platform: Platform, env: Env<'_>) -> Result<(PathBuf, PresetStorage)> {
    Ok(match platform {
        Platform::Windows => (identity_dir(platform, env)?.join("msal.cache"), dpapi()),
        Platform::MacOs => {
            (home(platform, env)?.join(".local/.IdentityService/msal.cache"), keychain(MSAL_CACHE))
        }
        Platform::Linux => (
            home(platform, env)?.join(".local/.IdentityService/msal.cache"),
            secret_service(
                "msal.cache",
                &[("MsalClientID", IDENTITY_SERVICE), (IDENTITY_SERVICE, "1.0.0.0")],
                MSAL_CACHE,
                SecretEncoding::Base64,
            ),
        ),
    })
}

/// A [`Preset`] resolved for one platform: the store, its owner, and how
/// the owner falls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPreset {
    preset: Preset,
    platform: Platform,
    spec: StoreSpec,
    plaintext_fallback: bool,
}

impl ResolvedPreset {
    fn new(preset: Preset, platform: Platform, spec: StoreSpec, plaintext_fallback: bool) -> Self {
        ResolvedPreset { preset, platform, spec, plaintext_fallback }
    }

    /// The preset this was resolved from.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The platform it was resolved for.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The MSAL library that writes this cache.
    pub fn owner(&self) -> Owner {
        self.preset.owner()
    }

    /// The store: location, kind and names.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    /// The cache file, or the signal file of a Secret Service or Keychain item.
    pub fn location(&self) -> &Path {
        self.spec.location()
    }

    /// The lockfile every tool uses: `<location>.lockfile`.
    pub fn lock_path(&self) -> PathBuf {
        self.spec.lock_path()
    }

    /// Where the content lives.
    pub fn storage(&self) -> &PresetStorage {
        self.spec.kind()
    }

    /// Whether the owner, when its secret store is unusable here, keeps the
    /// cache in a plaintext file at [`location`](Self::location) instead
    /// (Azure Identity for Python on Linux, when the application allows it),
    /// so that [`open`](Self::open) reads that file then.
    pub fn plaintext_fallback(&self) -> bool {
        self.plaintext_fallback
    }

    /// Opens what the owner would open here: the preset's store, or, for a
    /// preset whose owner falls back to plaintext
    /// ([`plaintext_fallback`](Self::plaintext_fallback)), the plaintext file
    /// at the same path when the store is unavailable or locked. The result
    /// says which ([`ChosenPersistence::fallback_reason`]).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when resolved for another platform, and the
    /// errors of [`StoreSpec::open`] when there is no fallback.
    pub fn open(&self) -> Result<ChosenPersistence> {
        if self.platform != Platform::current() {
            return Err(unavailable(
                "preset",
                format!("{} was resolved for {:?}, not this platform", self.preset, self.platform),
            ));
        }
        let fallback = if self.plaintext_fallback { Fallback::PlaintextFile } else { Fallback::Never };
        ChosenPersistence::open(&self.spec, fallback, false)
    }

    /// [`open`](Self::open), as a [`PersistedTokenCache`](crate::PersistedTokenCache)
    /// that writes what the owner library reads
    /// ([`WriteConvention::for_owner`](crate::WriteConvention::for_owner)):
    /// the one-liner for sharing a Microsoft tool's cache.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Examples
    /// ```no_run
    /// use msal_extensions::presets::Preset;
    /// let cache = Preset::AzureCli.resolve()?.token_cache()?;
    /// for account in cache.accounts()? {
    ///     println!("{:?}", account.username);
    /// }
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn token_cache(&self) -> Result<crate::PersistedTokenCache<ChosenPersistence>> {
        Ok(self.token_cache_over(self.open()?))
    }

    /// [`token_cache`](Self::token_cache) over a store the caller opened
    /// (another of the owner's stores, such as Azure CLI's plaintext file
    /// where its encryption is turned off, or a boxed one): writes what the
    /// owner library reads.
    pub fn token_cache_over<P: Persistence>(&self, persistence: P) -> crate::PersistedTokenCache<P> {
        let convention = crate::WriteConvention::for_owner(self.owner());
        crate::PersistedTokenCache::new(persistence).write_convention(convention)
    }

    /// A plaintext file at the preset's location: what Azure Identity (and
    /// the .NET and Node libraries, when allowed) fall back to where there is
    /// no secret store, and what Azure CLI uses by default.
    ///
    /// # Errors
    /// As [`FilePersistence::new`].
    pub fn open_plaintext(&self) -> Result<FilePersistence> {
        FilePersistence::new(self.location())
    }
}

fn unavailable(backend: &'static str, message: String) -> Error {
    Error::Unavailable { backend, message, source: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preset's token cache writes as its owner does, even where the file
    /// holds another library's form (`Mirror` would copy that form).
    #[cfg(unix)]
    #[test]
    fn token_cache_writes_as_the_owner_does() {
        let dir = std::env::temp_dir().join(format!("msalx-preset-owner-{}", std::process::id()));
        let config = dir.to_string_lossy().into_owned();
        let env = move |k: &str| (k == "AZURE_CONFIG_DIR").then(|| OsString::from(&config));
        let r = Preset::AzureCli.resolve_for(Platform::current(), &env).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let node_form = r#"{"AccessToken":{"-login.microsoftonline.com-accesstoken-other-t-s":{"credential_type":"AccessToken","home_account_id":"","environment":"login.microsoftonline.com","client_id":"other","realm":"t","target":"s","secret":"x","cached_at":"1","expires_on":"9999999999"}}}"#;
        std::fs::write(r.location(), node_form).unwrap();
        let cache = r.token_cache().unwrap();
        let response = crate::TokenResponse::new(
            "az",
            ["https://management.azure.com/.default"],
            "https://login.microsoftonline.com/t",
            r#"{"access_token": "at", "expires_in": 3600}"#,
        )
        .unwrap();
        cache.add(&response).unwrap();
        let text = std::fs::read_to_string(r.location()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ours = doc["AccessToken"].as_object().unwrap().values().find(|e| e["client_id"] == "az").unwrap();
        assert_eq!(
            ours["home_account_id"],
            serde_json::Value::Null,
            "Azure CLI's MSAL Python finds only null"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
        assert_eq!(r.storage(), &dpapi());
        assert_eq!(r.owner(), Owner::MsalPython);
        assert!(r.location().to_string_lossy().ends_with("msal_token_cache.bin"));
    }

    #[test]
    fn identity_python_linux_matches_the_libsecret_item() {
        let r = Preset::AzureIdentityPythonCae.resolve_for(Platform::Linux, &env).unwrap();
        assert_eq!(r.location(), Path::new("/h/.IdentityService/msal.cache.cae"));
        let PresetStorage::SecretService { schema, attributes, label, encoding, .. } = r.storage() else {
            panic!("{r:?}")
        };
        assert_eq!(
            (schema.as_str(), label.as_str(), *encoding),
            ("msal.cache.cae", "MSALCache", SecretEncoding::Utf8)
        );
        assert_eq!(attributes, &[("MsalClientID".to_string(), IDENTITY_SERVICE.to_string())]);
        assert!(r.plaintext_fallback(), "Azure Identity falls back to plaintext at the signal path on Linux");
    }

    #[test]
    fn identity_python_keychain_account_follows_the_cache_name() {
        let account = |p: Preset, name: Option<&str>| {
            let r = match name {
                Some(n) => p.resolve_named_for(n, Platform::MacOs, &env).unwrap(),
                None => p.resolve_for(Platform::MacOs, &env).unwrap(),
            };
            assert!(!r.plaintext_fallback());
            let PresetStorage::Keychain { service, account } = r.storage().clone() else { panic!("{r:?}") };
            assert_eq!(service, IDENTITY_SERVICE);
            account
        };
        assert_eq!(account(Preset::AzureIdentityPython, None), "MSALCache");
        assert_eq!(account(Preset::AzureIdentityPythonCae, None), "msal.cache.cae");
        assert_eq!(account(Preset::AzureIdentityPython, Some("app")), "app.nocae");
        assert_eq!(account(Preset::AzureIdentityPythonCae, Some("app")), "app.cae");
        assert_eq!(account(Preset::AzureIdentityPython, Some("msal.cache")), "MSALCache");
    }

    #[test]
    fn custom_names_resolve_everywhere_and_bad_names_are_refused() {
        let r = Preset::AzureIdentityPython.resolve_named_for("app", Platform::Linux, &env).unwrap();
        assert_eq!(r.location(), Path::new("/h/.IdentityService/app.nocae"));
        let PresetStorage::SecretService { schema, label, .. } = r.storage() else { panic!() };
        assert_eq!((schema.as_str(), label.as_str()), ("app.nocae", "MSALCache"));
        let w = Preset::AzureIdentityPythonCae.resolve_named_for("app", Platform::Windows, &env).unwrap();
        assert!(w.location().to_string_lossy().ends_with("app.cae") && w.storage() == &dpapi());
        for bad in ["", "a/b", "..", r"a\b"] {
            let e = Preset::AzureIdentityPython.resolve_named_for(bad, Platform::Linux, &env).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad:?}: {e}");
        }
        assert!(Preset::AzureCli.resolve_named_for("x", Platform::Linux, &env).is_err());
    }

    #[test]
    fn every_preset_names_its_owner() {
        assert_eq!(Preset::AzureIdentityJs.owner(), Owner::MsalNode);
        assert_eq!(Preset::VisualStudio.owner(), Owner::MsalDotNet);
        assert_eq!(Preset::AzureIdentityPythonCae.owner(), Owner::MsalPython);
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
