//! Azure CLI as a token source: what `az account get-access-token` gives,
//! read from Azure CLI's own sign-in state and token cache, without running
//! `az` (milliseconds instead of seconds), renewed silently when needed and
//! written back where Azure CLI finds it.
//!
//! # Which type do I want?
//!
//! | you want to | use |
//! |---|---|
//! | a token for whoever is signed in to Azure CLI (user or service principal) | [`AzureCli::new`] + [`AzureCli::get_access_token`] |
//! | choose the scope, resource, subscription or tenant, as `az account get-access-token --scope/--resource/--subscription/--tenant` | [`AzureCliRequest`] |
//! | the JSON `az account get-access-token -o json` prints | [`AzureCliToken::to_az_json`] |
//! | an `azure_core` `TokenCredential` (Azure SDK for Rust) | `azure_sdk::AzureCliCredential` (feature `azure-core`) |
//!
//! # What is read, and where the facts come from
//! Read in azure-cli-core 2.91 and azure-cli 2.91 (PyPI), the versions the
//! tests drive:
//!
//! - **Folder**: `$AZURE_CONFIG_DIR`, else `~/.azure` (`_environment.py` `get_config_dir`).
//! - **Cloud**: `config`'s `[cloud] name` (env `AZURE_CLOUD_NAME`; default
//!   `AzureCloud`), its login endpoint (`endpoint_active_directory`) and ARM
//!   audience (`endpoint_active_directory_resource_id`) from the built-in
//!   list or `clouds.config` (`cloud.py` `get_active_cloud`, `get_clouds`;
//!   knack `CLIConfig.get` for the `AZURE_<SECTION>_<OPTION>` overrides).
//!   [`AzureCli::with_login_endpoint`] overrides the endpoint.
//! - **Subscription and identity**: `azureProfile.json` (read as `utf-8-sig`,
//!   written with a BOM): the active cloud's subscriptions, the one with
//!   `isDefault`, or the one whose id or name is asked (case-insensitive);
//!   its `user.name`, `user.type` (`user` | `servicePrincipal`) and
//!   `tenantId` (`_profile.py` `Profile.get_subscription`, `get_raw_token`,
//!   `_create_credential`).
//! - **Users**: Azure CLI's public client `04b07795-8ddb-461a-bbee-02f9e1bf7b46`
//!   (`auth/constants.py`) on the authority `<login endpoint>/<tenant>`; the
//!   MSAL account whose username is `user.name`; a silent request
//!   (`auth/msal_credentials.py` `UserCredential`), renewed with the refresh
//!   token when the access token has expired.
//! - **Service principals**: `service_principal_entries.json`, the entry for
//!   the client id in the tenant, else its first entry (`auth/identity.py`
//!   `ServicePrincipalStore.load_entry`); a secret, or a certificate PEM
//!   holding key and certificate (`use_cert_sn_issuer` sends `x5c`);
//!   client credentials on the same cache (`ServicePrincipalCredential`).
//!   Azure CLI's MSAL signs with RS256 and the SHA-1 `x5t` because it passes
//!   a thumbprint; this crate signs PS256 with `x5t#S256`, which Entra ID
//!   accepts for the same certificate.
//! - **Cache**: `msal_token_cache.json` in plaintext, or `.bin` with DPAPI
//!   when `core.encrypt_token_cache` is on (the default on Windows only;
//!   `auth/persistence.py` `build_persistence`, `util.py`
//!   `should_encrypt_token_cache`), opened through the storage crate's
//!   `azure-cli` preset.
//! - **Scopes**: `--scope` as given; `--resource R` becomes `R/.default`
//!   with R's trailing slash kept (`auth/util.py` `resource_to_scopes`);
//!   neither means the cloud's ARM audience + `/.default`, e.g.
//!   `https://management.core.windows.net//.default`.
//! - **Answer** (`command_modules/profile/custom.py` `get_access_token`,
//!   knack's JSON output with sorted keys): `accessToken`, `expiresOn` (local
//!   time, `%Y-%m-%d %H:%M:%S.%f`), `expires_on` (unix seconds),
//!   `subscription` (omitted when a tenant was asked), `tenant`, `tokenType`
//!   (always `Bearer`).
//!
//! # Not supported (a typed error, never a panic)
//! [`Error::Unsupported`] for managed identities (`az login --identity`),
//! Cloud Shell accounts inside Cloud Shell, ADFS (Azure Stack) login
//! endpoints, federated-token service principals, and the opt-in encrypted
//! cache on Linux and macOS (Azure CLI stores it under placeholder names).
//! Not signed in, or no token can be had without signing in again:
//! [`Error::InteractionRequired`] saying to run `az login`.
//!
//! # Example
//! ```no_run
//! use msal_client::azure_cli::{AzureCli, AzureCliRequest};
//! let az = AzureCli::new()?;
//! let token = az.get_access_token(&AzureCliRequest::new().scope("https://graph.microsoft.com/.default"))?;
//! println!("Bearer {} (expires {})", token.access_token.expose(), token.expires_on_local());
//! # Ok::<(), msal_client::Error>(())
//! ```

mod config;
mod profile;
mod service_principal;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use msal_extensions::presets::{Platform, Preset};
use msal_extensions::{FilePersistence, PersistedTokenCache, Persistence, Secret};
use serde_json::{Map, Value};

use crate::authority::Authority;
use crate::clients::{ConfidentialClient, PublicClient};
use crate::error::{Error, Result};
use crate::http::HttpOptions;
use crate::result::{AuthenticationResult, TokenSource};
use config::{CliConfig, Cloud};
use profile::SignedIn;

/// Azure CLI's public client id (a FOCI family "1" application).
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Azure CLI's token cache, opened with the backend Azure CLI uses here.
pub type AzureCliCache = PersistedTokenCache<Box<dyn Persistence>>;

/// Makes the [`AzureCliCache`] over the store Azure CLI uses here (see
/// [`AzureCli::with_cache_builder`]).
type BuildCache = dyn Fn(Box<dyn Persistence>) -> AzureCliCache + Send + Sync;

/// The caller's [`BuildCache`], if any.
#[derive(Clone, Default)]
struct CacheBuilder(Option<Arc<BuildCache>>);

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "CacheBuilder(caller's)" } else { "CacheBuilder(preset's)" })
    }
}

/// Whoever is signed in to Azure CLI, as a token source. Cheap to create;
/// the profile is re-read on every call (so `az account set` is seen), the
/// token cache is opened once.
///
/// # Examples
/// ```no_run
/// use msal_client::azure_cli::{AzureCli, AzureCliRequest};
/// let az = AzureCli::new()?;
/// let token = az.get_access_token(&AzureCliRequest::new())?; // ARM, default subscription
/// print!("{}", token.to_az_json());
/// # Ok::<(), msal_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AzureCli {
    dir: PathBuf,
    http: HttpOptions,
    login_endpoint: Option<String>,
    build_cache: CacheBuilder,
    cache: Arc<OnceLock<Arc<AzureCliCache>>>,
}

impl AzureCli {
    /// Azure CLI's folder as `az` finds it (`$AZURE_CONFIG_DIR`, else
    /// `~/.azure`), and, as `az` does, extra trusted roots from the PEM
    /// file named by `REQUESTS_CA_BUNDLE` when it is set (for a
    /// TLS-inspecting proxy).
    ///
    /// # Errors
    /// [`Error::Cache`] when the home folder is unknown;
    /// [`Error::InvalidInput`] when `REQUESTS_CA_BUNDLE` cannot be read.
    pub fn new() -> Result<Self> {
        Self::in_dir(config::default_dir()?)
    }

    /// Azure CLI's state in `dir` (what `AZURE_CONFIG_DIR=dir az ...` uses).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `REQUESTS_CA_BUNDLE` is set and cannot be read.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        let mut http = HttpOptions::new();
        if let Some(bundle) = std::env::var_os("REQUESTS_CA_BUNDLE").filter(|v| !v.is_empty()) {
            let pem = std::fs::read(&bundle).map_err(|e| {
                Error::invalid(
                    "REQUESTS_CA_BUNDLE",
                    format!("{} cannot be read: {e}", Path::new(&bundle).display()),
                )
            })?;
            http = http.trusted_roots_pem(&pem)?;
        }
        Ok(AzureCli {
            dir: dir.into(),
            http,
            login_endpoint: None,
            build_cache: CacheBuilder::default(),
            cache: Arc::default(),
        })
    }

    /// Timeouts, retries, trusted roots of token requests (replaces the
    /// `REQUESTS_CA_BUNDLE` roots).
    pub fn with_http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Uses this login endpoint (`https://host[:port]`) instead of the
    /// active cloud's `endpoint_active_directory`.
    pub fn with_login_endpoint(mut self, endpoint: &str) -> Self {
        self.login_endpoint = Some(endpoint.to_owned());
        self
    }

    /// Opens the token cache with the caller's settings: `build` gets the
    /// store Azure CLI uses here (chosen as without this call: its file, or
    /// DPAPI where it encrypts) and returns the cache over it, e.g. with lock
    /// options, [`OnCorrupt`](msal_extensions::OnCorrupt) or
    /// `keep_replaced` of the caller's choosing. It should keep the write
    /// convention Azure CLI's MSAL Python reads
    /// (`Preset::AzureCli.resolve()?.token_cache_over(store)` has it).
    /// Without this call the cache is the `azure-cli` preset's
    /// [`token_cache`](msal_extensions::presets::ResolvedPreset::token_cache)
    /// settings.
    pub fn with_cache_builder(
        mut self,
        build: impl Fn(Box<dyn Persistence>) -> AzureCliCache + Send + Sync + 'static,
    ) -> Self {
        self.build_cache = CacheBuilder(Some(Arc::new(build)));
        self.cache = Arc::default();
        self
    }

    /// The configuration folder in use.
    pub fn config_dir(&self) -> &Path {
        &self.dir
    }

    /// What `az account get-access-token` gives for `request`: from the
    /// cache when valid (no request), else renewed once for all processes
    /// sharing the cache, and stored where Azure CLI finds it.
    ///
    /// # Errors
    /// [`Error::InteractionRequired`] when nobody is signed in or the
    /// sign-in expired (run `az login`); [`Error::Unsupported`] for
    /// identities this source cannot use; [`Error::AzureCli`] for an
    /// unreadable profile or an unknown subscription; provider, transport
    /// and cache errors otherwise.
    pub fn get_access_token(&self, request: &AzureCliRequest) -> Result<AzureCliToken> {
        if request.subscription.is_some() && request.tenant.is_some() {
            return Err(Error::invalid("request", "give a subscription or a tenant, not both"));
        }
        let env = |k: &str| std::env::var(k).ok();
        let config = CliConfig::load(&self.dir, &env)?;
        let scopes = request.effective_scopes(&config.cloud.arm_resource);
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let profile_path = self.dir.join("azureProfile.json");
        let subscriptions = profile::load(&profile_path, env("ACC_CLOUD").is_some())?;
        let sub = profile::select(
            &subscriptions,
            &config.cloud.name,
            request.subscription.as_deref(),
            &profile_path,
        )?;
        let tenant = request.tenant.as_deref().unwrap_or(&sub.tenant_id);
        let authority = self.authority(&config.cloud, tenant)?;
        let result = match &sub.identity {
            SignedIn::User(name) => self.user_token(name, authority, &scopes, &config)?,
            SignedIn::ServicePrincipal(id) => self.app_token(id, tenant, authority, &scopes, &config)?,
            SignedIn::ManagedIdentity => {
                return Err(unsupported_identity(
                    "Azure CLI is signed in with a managed identity (`az login --identity`)",
                ));
            }
            SignedIn::CloudShell => {
                return Err(unsupported_identity("Azure CLI is signed in with Cloud Shell's own account"));
            }
            SignedIn::Other(kind) => {
                return Err(Error::azure_cli(&profile_path, format!("names an unknown user type {kind:?}")));
            }
        };
        Ok(AzureCliToken {
            access_token: result.access_token,
            token_type: "Bearer".into(),
            expires_on: result.expires_on,
            subscription: request.tenant.is_none().then(|| sub.id.clone()),
            tenant: tenant.to_owned(),
            source: result.source,
        })
    }

    /// `<login endpoint>/<tenant>` as an Entra authority (Azure CLI's clouds
    /// are Entra ID; their token endpoints need no discovery).
    fn authority(&self, cloud: &Cloud, tenant: &str) -> Result<Authority> {
        let endpoint = self.login_endpoint.as_deref().unwrap_or(&cloud.login_endpoint);
        let endpoint = endpoint.trim_end_matches('/').to_ascii_lowercase();
        if endpoint.ends_with("adfs") {
            return Err(Error::Unsupported {
                what: format!("the ADFS login endpoint {endpoint} of cloud {} (Azure Stack)", cloud.name),
                reason: "this source speaks to Entra ID only; use `az account get-access-token`".into(),
            });
        }
        Authority::parse_entra(&format!("{endpoint}/{tenant}")).map_err(|_| {
            Error::invalid(
                "login endpoint",
                format!(
                    "{endpoint} (cloud {}) is not https://host[:port], or tenant {tenant:?} is malformed",
                    cloud.name
                ),
            )
        })
    }

    /// Azure CLI's token cache: the `azure-cli` preset for this folder, or
    /// the plaintext file when encryption is turned off on Windows; with the
    /// preset's settings (written as Azure CLI's MSAL Python writes: app
    /// tokens' `home_account_id: null`), or the caller's
    /// ([`with_cache_builder`](Self::with_cache_builder)).
    fn cache(&self, config: &CliConfig) -> Result<Arc<AzureCliCache>> {
        if let Some(c) = self.cache.get() {
            return Ok(c.clone());
        }
        let dir = self.dir.as_os_str().to_owned();
        let env = |k: &str| if k == "AZURE_CONFIG_DIR" { Some(dir.clone()) } else { std::env::var_os(k) };
        let preset = Preset::AzureCli.resolve_for(Platform::current(), &env)?;
        let persistence: Box<dyn Persistence> = match (config.encrypt, cfg!(windows)) {
            (false, true) => Box::new(FilePersistence::new(self.dir.join("msal_token_cache.json"))?),
            (true, false) => return Err(service_principal::unsupported_encryption()),
            _ => Box::new(preset.open()?),
        };
        let cache = match &self.build_cache.0 {
            Some(build) => build(persistence),
            None => preset.token_cache_over(persistence),
        };
        Ok(self.cache.get_or_init(|| Arc::new(cache)).clone())
    }

    fn user_token(
        &self,
        username: &str,
        authority: Authority,
        scopes: &[&str],
        config: &CliConfig,
    ) -> Result<AuthenticationResult> {
        let cache = self.cache(config)?;
        let location = cache.persistence().location().to_path_buf();
        let app = PublicClient::new(AZURE_CLI_CLIENT_ID, cache)
            .with_authority(authority)
            .with_http(self.http.clone());
        let mut accounts = app.accounts()?.into_iter().filter(|a| a.username.eq_ignore_ascii_case(username));
        match (accounts.next(), accounts.next()) {
            (Some(account), None) => app.acquire_token_silent(&account, scopes),
            (None, _) => Err(Error::InteractionRequired {
                reason: format!(
                    "{username} is not in Azure CLI's token cache {}; run `az login`",
                    location.display()
                ),
                idp: None,
            }),
            (Some(_), Some(_)) => Err(Error::azure_cli(
                &location,
                format!("holds several accounts named {username}; run `az logout` and `az login`"),
            )),
        }
    }

    fn app_token(
        &self,
        client_id: &str,
        tenant: &str,
        authority: Authority,
        scopes: &[&str],
        config: &CliConfig,
    ) -> Result<AuthenticationResult> {
        // Read and checked only when a renewal needs it: a cache hit reads
        // neither the entries nor the certificate, nor parses the key.
        let (dir, encrypt) = (self.dir.clone(), config.encrypt);
        let (id, tenant) = (client_id.to_owned(), tenant.to_owned());
        let credential = move || {
            let store = service_principal::path(&dir, encrypt);
            let entries = service_principal::load(&dir, encrypt)?;
            service_principal::pick(&entries, &id, &tenant, &store)?.credential(&store)
        };
        ConfidentialClient::with_deferred_credential(client_id, credential, self.cache(config)?)
            .with_authority(authority)
            .with_http(self.http.clone())
            .acquire_token_for_client(scopes)
    }
}

fn unsupported_identity(what: &str) -> Error {
    Error::Unsupported {
        what: what.to_owned(),
        reason: "its tokens come from the host's identity endpoint, not from Azure CLI's cache; use the \
                 Azure SDK's ManagedIdentityCredential, or `az account get-access-token`"
            .into(),
    }
}

/// What to ask for: the options of `az account get-access-token`.
///
/// # Examples
/// ```
/// use msal_client::azure_cli::AzureCliRequest;
/// let r = AzureCliRequest::new().resource("https://vault.azure.net").tenant("contoso.onmicrosoft.com");
/// # let _ = r;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct AzureCliRequest {
    /// `--scope`: the scopes; they win over `resource`.
    pub scopes: Vec<String>,
    /// `--resource`: an Entra ID v1 resource; asked for as `<resource>/.default`.
    pub resource: Option<String>,
    /// `--subscription`: a subscription id or name instead of the default one.
    pub subscription: Option<String>,
    /// `--tenant`: a token from this tenant instead of the subscription's
    /// (the answer then names no subscription).
    pub tenant: Option<String>,
}

impl AzureCliRequest {
    /// Azure Resource Manager, the default subscription.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scope (`--scope`).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_owned());
        self
    }

    /// `--resource`.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// `--subscription`.
    pub fn subscription(mut self, subscription: &str) -> Self {
        self.subscription = Some(subscription.to_owned());
        self
    }

    /// `--tenant`.
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    /// `get_raw_token`: scopes, else `resource_to_scopes(resource)`, else
    /// the cloud's ARM audience (its trailing slash kept).
    fn effective_scopes(&self, arm_resource: &str) -> Vec<String> {
        if !self.scopes.is_empty() {
            return self.scopes.clone();
        }
        vec![format!("{}/.default", self.resource.as_deref().unwrap_or(arm_resource))]
    }
}

/// What `az account get-access-token` answers. `Debug` never shows the token.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct AzureCliToken {
    /// `accessToken`.
    pub access_token: Secret,
    /// `tokenType`: `Bearer`.
    pub token_type: String,
    /// `expires_on`: unix seconds.
    pub expires_on: i64,
    /// `subscription`: the subscription whose identity and tenant were used;
    /// `None` when a tenant was asked for.
    pub subscription: Option<String>,
    /// `tenant`.
    pub tenant: String,
    /// Whether the token came from the cache or a request.
    pub source: TokenSource,
}

impl AzureCliToken {
    /// `expiresOn`: the expiry in local time, `2026-01-02 03:04:05.000000`
    /// (Python's `datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f")`).
    pub fn expires_on_local(&self) -> String {
        local_time(self.expires_on)
    }

    /// The JSON `az account get-access-token -o json` prints: keys sorted,
    /// two-space indent, a final newline. It holds the token.
    pub fn to_az_json(&self) -> String {
        az_json(
            &self.access_token,
            &self.token_type,
            self.expires_on,
            self.subscription.as_deref(),
            &self.tenant,
        )
    }
}

/// The JSON `az account get-access-token -o json` prints for a token (what
/// [`AzureCliToken::to_az_json`] gives), for tools printing it for tokens
/// from other caches: `accessToken`, `expiresOn` (local time,
/// `%Y-%m-%d %H:%M:%S.%f`), `expires_on` (unix seconds), `subscription`
/// (when given), `tenant`, `tokenType`; keys sorted, two-space indent, a
/// final newline. It holds the token.
pub fn az_json(
    access_token: &Secret,
    token_type: &str,
    expires_on: i64,
    subscription: Option<&str>,
    tenant: &str,
) -> String {
    let mut m = Map::new();
    m.insert("accessToken".into(), access_token.expose().into());
    m.insert("expiresOn".into(), local_time(expires_on).into());
    m.insert("expires_on".into(), expires_on.into());
    if let Some(s) = subscription {
        m.insert("subscription".into(), s.into());
    }
    m.insert("tenant".into(), tenant.into());
    m.insert("tokenType".into(), token_type.into());
    let mut s = serde_json::to_string_pretty(&Value::Object(m)).expect("strings and numbers serialise");
    s.push('\n');
    s
}

/// Unix seconds as local time, `%Y-%m-%d %H:%M:%S.000000`, through the C
/// library's `localtime_r`/`localtime_s` as Python's `datetime.fromtimestamp`
/// (so `TZ` is honoured the same way). A time outside 1970–2999 (only a
/// damaged cache holds one) is clamped into it: Windows' `localtime_s`
/// takes no more, and Python would raise where this prints.
fn local_time(epoch: i64) -> String {
    /// 2999-12-31 23:59:59 UTC.
    const LATEST: i64 = 32_503_679_999;
    let (y, mo, d, h, mi, s) = local_fields(epoch.clamp(0, LATEST)).unwrap_or((1970, 1, 1, 0, 0, 0));
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.000000")
}

type Fields = (i64, u32, u32, u32, u32, u32);

#[cfg(unix)]
fn local_fields(epoch: i64) -> Option<Fields> {
    let t = libc::time_t::try_from(epoch).ok()?;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid for the call; localtime_r writes only
    // into `tm` and returns null on failure, checked before `tm` is read.
    let tm = unsafe {
        if libc::localtime_r(&t, tm.as_mut_ptr()).is_null() {
            return None;
        }
        tm.assume_init()
    };
    Some(tm_fields(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec))
}

#[cfg(windows)]
fn local_fields(epoch: i64) -> Option<Fields> {
    let t = libc::time_t::try_from(epoch).ok()?;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid for the call; localtime_s writes only
    // into `tm` and returns non-zero on failure, checked before `tm` is read.
    let tm = unsafe {
        if libc::localtime_s(tm.as_mut_ptr(), &t) != 0 {
            return None;
        }
        tm.assume_init()
    };
    Some(tm_fields(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec))
}

#[cfg(not(any(unix, windows)))]
fn local_fields(_: i64) -> Option<Fields> {
    None
}

#[cfg(any(unix, windows))]
fn tm_fields(year: i32, mon: i32, mday: i32, hour: i32, min: i32, sec: i32) -> Fields {
    let u = |v: i32| u32::try_from(v).unwrap_or(0);
    (i64::from(year) + 1900, u(mon + 1), u(mday), u(hour), u(min), u(sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_as_get_raw_token_builds_them() {
        let arm = "https://management.core.windows.net/";
        assert_eq!(
            AzureCliRequest::new().effective_scopes(arm),
            ["https://management.core.windows.net//.default"]
        );
        let r = AzureCliRequest::new().resource("https://vault.azure.net");
        assert_eq!(r.effective_scopes(arm), ["https://vault.azure.net/.default"]);
        let r = r.scope("https://graph.microsoft.com/User.Read");
        assert_eq!(r.effective_scopes(arm), ["https://graph.microsoft.com/User.Read"], "scopes win");
    }

    #[test]
    fn json_is_what_knack_prints() {
        let t = AzureCliToken {
            access_token: Secret::new("at"),
            token_type: "Bearer".into(),
            expires_on: 0,
            subscription: Some("sub".into()),
            tenant: "ten".into(),
            source: TokenSource::Cache,
        };
        let expected = format!(
            "{{\n  \"accessToken\": \"at\",\n  \"expiresOn\": \"{}\",\n  \"expires_on\": 0,\n  \
             \"subscription\": \"sub\",\n  \"tenant\": \"ten\",\n  \"tokenType\": \"Bearer\"\n}}\n",
            local_time(0)
        );
        assert_eq!(t.to_az_json(), expected);
        let no_sub = AzureCliToken { subscription: None, ..t };
        assert!(!no_sub.to_az_json().contains("subscription"));
        assert!(!format!("{no_sub:?}").contains("\"at\""));
    }

    #[test]
    fn local_time_is_well_formed_for_any_value() {
        for t in [0, 1_795_983_135, -5, i64::MIN, i64::MAX] {
            let text = local_time(t);
            assert_eq!(text.len(), "2026-11-29 20:12:15.000000".len(), "{t}: {text}");
            assert!(text.ends_with(".000000"));
        }
        assert_eq!(local_time(i64::MAX), local_time(32_503_679_999), "clamped");
    }
}
