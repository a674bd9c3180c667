//! Azure CLI's settings that decide where its tokens are and where they come
//! from: the configuration folder, the active cloud (its login endpoint and
//! Azure Resource Manager audience) and whether the token cache is encrypted.
//!
//! Read as azure-cli-core 2.91 reads them (`_environment.py`
//! `get_config_dir`, `cloud.py` `get_active_cloud`/`get_clouds`, knack's
//! `CLIConfig.get`): `$AZURE_CONFIG_DIR/config` and `clouds.config` are
//! Python `configparser` files, and an environment variable
//! `AZURE_<SECTION>_<OPTION>` overrides the `config` file's option.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The clouds built into azure-cli-core 2.91 (`cloud.py` `HARD_CODED_CLOUD_LIST`):
/// name, `endpoints.active_directory`, `endpoints.active_directory_resource_id`.
const KNOWN_CLOUDS: [(&str, &str, &str); 4] = [
    ("AzureCloud", "https://login.microsoftonline.com", "https://management.core.windows.net/"),
    ("AzureChinaCloud", "https://login.chinacloudapi.cn", "https://management.core.chinacloudapi.cn/"),
    ("AzureUSGovernment", "https://login.microsoftonline.us", "https://management.core.usgovcloudapi.net/"),
    ("AzureBleuCloud", "https://login.sovcloud-identity.fr", "https://management.sovcloud-api.fr/"),
];

/// The cloud subscriptions and tokens are looked up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cloud {
    /// `AzureCloud`, or a name registered with `az cloud register`.
    pub(crate) name: String,
    /// `endpoint_active_directory`, e.g. `https://login.microsoftonline.com`.
    pub(crate) login_endpoint: String,
    /// `endpoint_active_directory_resource_id`: Azure CLI's default resource (ARM).
    pub(crate) arm_resource: String,
}

/// What Azure CLI's configuration says.
#[derive(Debug, Clone)]
pub(crate) struct CliConfig {
    pub(crate) cloud: Cloud,
    /// `core.encrypt_token_cache` (default: on Windows only).
    pub(crate) encrypt: bool,
}

/// Reads environment variables; a function so tests give their own.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl CliConfig {
    /// Reads `config` and `clouds.config` in `dir`, with `env` overriding `config`.
    pub(crate) fn load(dir: &Path, env: Env<'_>) -> Result<Self> {
        let config = read_ini(&dir.join("config"))?;
        let setting = |section: &str, option: &str| {
            env(&format!("AZURE_{}_{}", section.to_uppercase(), option.to_uppercase()))
                .or_else(|| config.get(section)?.get(option).cloned())
        };
        let name = setting("cloud", "name").unwrap_or_else(|| "AzureCloud".into());
        let encrypt = match setting("core", "encrypt_token_cache") {
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::azure_cli(
                    dir.join("config"),
                    format!("core.encrypt_token_cache is not a boolean: {v:?}"),
                )
            })?,
            None => cfg!(windows),
        };
        let cloud = find_cloud(&name, &read_ini(&dir.join("clouds.config"))?).unwrap_or_else(|| {
            // Azure CLI resets an unknown active cloud to AzureCloud (with a warning).
            log::warn!("Azure CLI's active cloud {name:?} is not registered; using AzureCloud");
            find_cloud("AzureCloud", &HashMap::new()).expect("AzureCloud is built in")
        });
        Ok(CliConfig { cloud, encrypt })
    }
}

/// A built-in cloud with `clouds.config`'s section of the same name laid
/// over it, or a cloud registered there only (`get_clouds`).
fn find_cloud(name: &str, clouds: &Ini) -> Option<Cloud> {
    let known = KNOWN_CLOUDS.iter().find(|(n, _, _)| *n == name);
    let section = clouds.get(name);
    if known.is_none() && section.is_none() {
        return None;
    }
    let endpoint = |key: &str, fallback: Option<&str>| {
        section.and_then(|s| s.get(key).cloned()).or_else(|| fallback.map(str::to_owned)).unwrap_or_default()
    };
    Some(Cloud {
        name: name.to_owned(),
        login_endpoint: endpoint("endpoint_active_directory", known.map(|k| k.1)),
        arm_resource: endpoint("endpoint_active_directory_resource_id", known.map(|k| k.2)),
    })
}

/// knack's `_BOOLEAN_STATES`.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Sections (names as written) of options (names lower-cased).
pub(crate) type Ini = HashMap<String, HashMap<String, String>>;

/// A missing file reads as empty, as `ConfigParser.read` does.
fn read_ini(path: &Path) -> Result<Ini> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini::new()),
        Err(e) => Err(Error::AzureCli {
            path: path.to_path_buf(),
            reason: "cannot be read".into(),
            source: Some(Box::new(e)),
        }),
    }
}

/// The subset of Python's `configparser` that Azure CLI writes: `[section]`,
/// `key = value` or `key: value`, `#`/`;` comment lines, indented lines
/// continuing the previous value.
pub(crate) fn parse_ini(text: &str) -> Ini {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<String> = None;
    for line in text.trim_start_matches('\u{feff}').lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let Some(current) = section.as_ref() else {
            section = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')).map(str::to_owned);
            continue;
        };
        if line.starts_with([' ', '\t']) {
            if let Some(v) = last_key.as_ref().and_then(|k| ini.get_mut(current)?.get_mut(k)) {
                v.push('\n');
                v.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = Some(name.to_owned());
            last_key = None;
            continue;
        }
        let Some(at) = trimmed.find(['=', ':']) else { continue };
        let key = trimmed[..at].trim().to_lowercase();
        let value = trimmed[at + 1..].trim().to_owned();
        ini.entry(current.clone()).or_default().insert(key.clone(), value);
        last_key = Some(key);
    }
    ini
}

/// Azure CLI's configuration folder: `$AZURE_CONFIG_DIR`, else `~/.azure`
/// (the storage crate's `azure-cli` preset resolves it the same way).
pub(crate) fn default_dir() -> Result<PathBuf> {
    let preset = msal_extensions::presets::Preset::AzureCli.resolve()?;
    Ok(preset.location().parent().map(Path::to_path_buf).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configparser_subset() {
        let ini = parse_ini(
            "\u{feff}[cloud]\nname = MyCloud\n\n# comment\n[core]\nEncrypt_Token_Cache: False\n  more\n; c\n[x]\nk=v=w\n",
        );
        assert_eq!(ini["cloud"]["name"], "MyCloud");
        assert_eq!(ini["core"]["encrypt_token_cache"], "False\nmore");
        assert_eq!(ini["x"]["k"], "v=w");
    }

    #[test]
    fn active_cloud_from_config_and_clouds_config_with_env_overrides() {
        let dir = std::env::temp_dir().join(format!("msal-client-azcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), "[cloud]\nname = Lab\n[core]\nencrypt_token_cache = true\n")
            .unwrap();
        std::fs::write(
            dir.join("clouds.config"),
            "[Lab]\nendpoint_active_directory = https://login.lab.example\n\
             endpoint_active_directory_resource_id = https://management.lab.example/\n\
             [AzureCloud]\nendpoint_active_directory = https://login.proxy.example\n",
        )
        .unwrap();
        let none = |_: &str| None;
        let c = CliConfig::load(&dir, &none).unwrap();
        assert_eq!(c.cloud.login_endpoint, "https://login.lab.example");
        assert_eq!(c.cloud.arm_resource, "https://management.lab.example/");
        assert!(c.encrypt);
        let env = |k: &str| match k {
            "AZURE_CLOUD_NAME" => Some("AzureCloud".to_string()),
            "AZURE_CORE_ENCRYPT_TOKEN_CACHE" => Some("no".to_string()),
            _ => None,
        };
        let c = CliConfig::load(&dir, &env).unwrap();
        assert_eq!(c.cloud.name, "AzureCloud");
        assert_eq!(
            c.cloud.login_endpoint, "https://login.proxy.example",
            "clouds.config overrides built-ins"
        );
        assert_eq!(c.cloud.arm_resource, "https://management.core.windows.net/");
        assert!(!c.encrypt);
        let unknown = |k: &str| (k == "AZURE_CLOUD_NAME").then(|| "Nope".to_string());
        assert_eq!(CliConfig::load(&dir, &unknown).unwrap().cloud.name, "AzureCloud");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
