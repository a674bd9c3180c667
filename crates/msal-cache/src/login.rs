//! `msal-cache login`: sign a user in to a cache with a device code or the
//! browser, for a given client id and authority. Prompts and progress go to
//! stderr; stdout says who signed in (never a token). With `--preset
//! azure-cli` the client id defaults to Azure CLI's and the scope to Azure
//! Resource Manager; Azure CLI's profile (`azureProfile.json`) is not
//! changed, so `az` uses the sign-in only for a user its profile names.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use msal_client::azure_cli::AZURE_CLI_CLIENT_ID;
use msal_client::{InteractiveOptions, PublicClient};
use msal_extensions::presets::Preset;
use serde_json::json;

use crate::source::SourceArgs;
use crate::token::{authority, http_options};
use crate::{BoxResult, Outcome};

/// Azure CLI's default scope: Azure Resource Manager in the public cloud.
const ARM: &str = "https://management.core.windows.net//.default";

/// Options of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Sign in on any device with a code (shown on stderr).
    #[arg(long, conflicts_with = "browser", required_unless_present = "browser")]
    pub device_code: bool,
    /// Sign in through the system browser (authorization code with PKCE, loopback redirect).
    #[arg(long)]
    pub browser: bool,
    /// Print the sign-in URL but do not open a browser (with --browser).
    #[arg(long, requires = "browser")]
    pub no_open: bool,
    /// The application (client) id; default with --preset azure-cli: Azure CLI's.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The authority, `https://HOST[:PORT]/TENANT`, treated as Entra ID.
    #[arg(long, value_name = "URL", conflicts_with = "tenant")]
    pub authority: Option<String>,
    /// The tenant on the public cloud (default: organizations).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Scopes to consent to (space-separated or repeated); default with --preset azure-cli: Azure Resource Manager.
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    pub scopes: Vec<String>,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the browser to come back.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Print who signed in as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LoginArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let azure_cli = args.source.preset == Some(Preset::AzureCli);
    let client_id = match (&args.client_id, azure_cli) {
        (Some(id), _) => id.clone(),
        (None, true) => AZURE_CLI_CLIENT_ID.to_owned(),
        (None, false) => return Err("give --client-id (the application to sign in to)".into()),
    };
    let scopes = match (&args.scopes[..], azure_cli) {
        ([], true) => vec![ARM.to_owned()],
        ([], false) => return Err("give --scope (what the application will ask for)".into()),
        (s, _) => s.to_vec(),
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let source = args.source.resolve()?;
    let cache = Arc::new(source.cache()?);
    let mut app = PublicClient::new(&client_id, cache)
        .with_authority(authority(args.authority.as_deref(), args.tenant.as_deref())?);
    if let Some(http) = http_options(args.ca_file.as_ref())? {
        app = app.with_http(http);
    }
    let result = if args.device_code {
        app.acquire_token_by_device_code(&scopes, |info| {
            eprintln!("{}", info.message);
            eprintln!("Waiting for the sign-in (the code expires in {} s)...", info.expires_in.as_secs());
        })?
    } else {
        let options = InteractiveOptions::new()
            .open_browser(!args.no_open)
            .timeout(Duration::from_secs(args.timeout))
            .on_url(|url| {
                eprintln!("Sign in at this address (opening the browser unless --no-open):\n{url}")
            });
        app.acquire_token_interactive(&scopes, options)?
    };
    let account = result.account.ok_or("the identity provider signed nobody in (no id token)")?;
    if azure_cli {
        eprintln!(
            "Note: Azure CLI's profile (azureProfile.json) is unchanged; `az` uses this sign-in for a user it already names."
        );
    }
    if args.json {
        let v = json!({
            "username": account.username, "home_account_id": account.home_account_id,
            "environment": account.environment, "tenant_id": result.tenant_id, "client_id": client_id,
            "cache": source.location(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "Signed in as {} (home account id {}) for client {client_id}; tokens saved in {}",
            crate::output::clean(&account.username),
            account.home_account_id,
            crate::output::shown(source.location())
        )?;
    }
    Ok(Outcome::Ok)
}
