//! `msal-cache token`: print an access token from a cache, renewed silently
//! when it has expired. The one command that prints a secret: printing the
//! token is its job (stdout only; never in errors or on stderr).
//!
//! - `--preset azure-cli` (without `--client-id`): whoever is signed in to
//!   Azure CLI, exactly as `az account get-access-token` gives it
//!   (`msal_client::azure_cli`); `--json` prints the same JSON.
//! - Any other cache (`--cache`/`--preset` with `--client-id`): that
//!   client's token for the account (`--username`, or the only one) on the
//!   authority (`--authority https://host/tenant`, an Entra ID host; or
//!   `--tenant` on the public cloud; default `organizations`).
//!
//! A cache hit reads the files and prints: nothing HTTP-related is set up
//! unless a renewal is needed (`msal_client` builds its agent lazily).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use msal_client::azure_cli::{AzureCli, AzureCliRequest, az_json};
use msal_client::{Authority, HttpOptions, PublicClient};
use msal_extensions::presets::Preset;

use crate::source::SourceArgs;
use crate::{BoxResult, Outcome};

/// Options of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Scopes (space-separated or repeated), e.g. `https://graph.microsoft.com/.default`.
    /// Default with --preset azure-cli: Azure Resource Manager.
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    pub scopes: Vec<String>,
    /// An Entra ID v1 resource, asked for as RESOURCE/.default (ignored when --scope is given).
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
    /// The tenant to get the token from (Azure CLI: instead of the subscription's).
    #[arg(long, value_name = "TENANT", conflicts_with = "authority")]
    pub tenant: Option<String>,
    /// Azure CLI's subscription (id or name) whose identity and tenant to use.
    #[arg(long, value_name = "ID_OR_NAME", conflicts_with = "tenant")]
    pub subscription: Option<String>,
    /// The application (client) id whose tokens to use (not for Azure CLI's own).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The authority, `https://HOST[:PORT]/TENANT`, treated as Entra ID (no discovery).
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,
    /// The signed-in user whose token to use (default: the only one in the cache).
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Also trust the CA certificates in this PEM file (a private cloud, a TLS-inspecting proxy).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Print the JSON `az account get-access-token -o json` prints, instead of the token alone.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TokenArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let azure_cli = args.source.preset == Some(Preset::AzureCli) && args.client_id.is_none();
    let (token, json) = if azure_cli { from_azure_cli(args)? } else { from_cache(args)? };
    if args.json {
        out.write_all(json.as_bytes())?;
    } else {
        writeln!(out, "{token}")?;
    }
    Ok(Outcome::Ok)
}

/// Extra trusted roots from `--ca-file`.
pub fn http_options(ca_file: Option<&PathBuf>) -> BoxResult<Option<HttpOptions>> {
    let Some(path) = ca_file else { return Ok(None) };
    let pem = std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
    Ok(Some(HttpOptions::new().trusted_roots_pem(&pem)?))
}

fn from_azure_cli(args: &TokenArgs) -> BoxResult<(String, String)> {
    if args.authority.is_some() || args.username.is_some() {
        return Err(
            "--authority and --username are for --client-id; Azure CLI's own profile names both".into()
        );
    }
    // The CLI's one way to a cache: AzureCli picks Azure CLI's store (its
    // `core.encrypt_token_cache` included); this source's settings (lock
    // timeout, corrupt content is an error, replaced content kept) open it.
    let source = args.source.resolve()?;
    let mut az = AzureCli::new()?.with_cache_builder(move |store| source.cache_of(store));
    if let Some(http) = http_options(args.ca_file.as_ref())? {
        az = az.with_http(http);
    }
    let mut request = AzureCliRequest::new();
    request.scopes = args.scopes.clone();
    request.resource = args.resource.clone();
    request.subscription = args.subscription.clone();
    request.tenant = args.tenant.clone();
    let t = az.get_access_token(&request)?;
    Ok((t.access_token.expose().to_owned(), t.to_az_json()))
}

/// The authority `--authority` (an Entra host) or `--tenant` (public cloud) names.
pub fn authority(authority: Option<&str>, tenant: Option<&str>) -> BoxResult<Authority> {
    let Some(url) = authority else {
        return Ok(Authority::public_cloud(tenant.unwrap_or("organizations"))?);
    };
    Authority::parse_entra(url)
        .map_err(|_| format!("--authority {url}: expected https://HOST[:PORT]/TENANT").into())
}

fn from_cache(args: &TokenArgs) -> BoxResult<(String, String)> {
    let client_id =
        args.client_id.as_deref().ok_or("give --client-id (the application whose tokens to use)")?;
    if args.subscription.is_some() {
        return Err("--subscription is for --preset azure-cli".into());
    }
    let scopes: Vec<String> = match (&args.scopes[..], &args.resource) {
        ([], Some(r)) => vec![format!("{r}/.default")],
        ([], None) => return Err("give --scope (or --resource)".into()),
        (s, _) => s.to_vec(),
    };
    // The CLI's one way to a cache: the owner's backend and write convention, the lock timeout.
    let cache = Arc::new(args.source.resolve()?.cache()?);
    let mut app = PublicClient::new(client_id, cache)
        .with_authority(authority(args.authority.as_deref(), args.tenant.as_deref())?);
    if let Some(http) = http_options(args.ca_file.as_ref())? {
        app = app.with_http(http);
    }
    let accounts = app.accounts()?;
    let account = match &args.username {
        Some(u) => accounts.iter().find(|a| a.username.eq_ignore_ascii_case(u)),
        None if accounts.len() == 1 => accounts.first(),
        None if accounts.is_empty() => None,
        None => {
            return Err(
                format!("{} accounts in the cache; choose one with --username", accounts.len()).into()
            );
        }
    };
    let account = account.ok_or("no such account in the cache; sign in with `msal-cache login` first")?;
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let t = app.acquire_token_silent(account, &scopes)?;
    let tenant = t.tenant_id.as_deref().unwrap_or_default();
    let json = az_json(&t.access_token, &t.token_type, t.expires_on, None, tenant);
    Ok((t.access_token.expose().to_owned(), json))
}
