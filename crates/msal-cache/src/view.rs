//! `accounts` and `tokens`: what a cache holds, as a table or as JSON.
//! Secrets are never printed; a token is identified by its fingerprint.
//! Rows hold the cache's text as it is: the table escapes terminal controls
//! cell by cell, and JSON output keeps the exact value (escaped as JSON).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use clap::Args;
use msal_extensions::{Secret, TokenCache};
use serde_json::{Value, json};

use crate::output::{fingerprint, now, relative, table, utc};
use crate::source::{self, SourceArgs};
use crate::{BoxResult, Outcome};

/// Options of the read commands.
#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One account as listed.
#[derive(Debug)]
pub struct AccountRow {
    pub username: String,
    pub home_account_id: String,
    pub environment: String,
    pub realm: String,
    pub authority_type: String,
    pub clients: Vec<String>,
}

/// One token as listed (no secret: its fingerprint only).
#[derive(Debug)]
pub struct TokenRow {
    pub kind: &'static str,
    pub client: String,
    pub account: String,
    pub scopes: String,
    pub expires_on: Option<i64>,
    pub family_id: String,
    pub fingerprint: String,
}

fn s(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").to_owned()
}

fn fp(secret: &Option<Secret>) -> String {
    secret.as_ref().map(|s| fingerprint(s.expose())).unwrap_or_else(|| "-".into())
}

/// The accounts, each with the clients holding tokens for it in its environment.
///
/// One pass over the tokens (not one per account), and access tokens are
/// looked at only when there are accounts: an app-only cache of thousands of
/// tokens is listed without parsing them.
pub fn account_rows(c: &TokenCache) -> Vec<AccountRow> {
    if c.accounts().next().is_none() {
        return Vec::new();
    }
    let mut clients: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    let mut note = |hai: Option<&str>, env: Option<&str>, client: Option<&str>| {
        if let (Some(h), Some(c)) = (hai.filter(|h| !h.is_empty()), client) {
            let key = (h.to_ascii_lowercase(), env.unwrap_or("").to_ascii_lowercase());
            let set = clients.entry(key).or_default();
            if !set.contains(c) {
                set.insert(c.to_owned());
            }
        }
    };
    // Only three fields of each access token are needed: read them without parsing the tokens.
    c.access_token_owners().for_each(|[h, e, cl]| note(h.as_deref(), e.as_deref(), cl.as_deref()));
    c.refresh_token_owners().for_each(|[h, e, cl]| note(h.as_deref(), e.as_deref(), cl.as_deref()));
    c.id_tokens().for_each(|(_, t)| {
        note(t.home_account_id.as_deref(), t.environment.as_deref(), t.client_id.as_deref())
    });
    c.accounts()
        .map(|a| {
            let key = (s(&a.home_account_id).to_ascii_lowercase(), s(&a.environment).to_ascii_lowercase());
            AccountRow {
                username: s(&a.username),
                home_account_id: s(&a.home_account_id),
                environment: s(&a.environment),
                realm: s(&a.realm),
                authority_type: s(&a.authority_type),
                clients: clients
                    .get(&key)
                    .map(|c| c.iter().filter(|c| !c.is_empty()).cloned().collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The username of `home_account_id`, else the id itself, else "(app)".
fn account_label(c: &TokenCache, hai: &Option<String>) -> String {
    let Some(id) = hai.as_deref().filter(|h| !h.is_empty()) else { return "(app)".into() };
    c.accounts_of(id)
        .find_map(|a| a.username.clone().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| id.to_owned())
}

/// Every access, refresh and id token.
pub fn token_rows(c: &TokenCache) -> Vec<TokenRow> {
    // What every kind of token has; each kind adds its own fields.
    let row = |kind, client: &Option<String>, hai: &Option<String>, secret: &Option<Secret>| TokenRow {
        kind,
        client: s(client),
        account: account_label(c, hai),
        scopes: String::new(),
        expires_on: None,
        family_id: String::new(),
        fingerprint: fp(secret),
    };
    let access = c.access_tokens().map(|(_, t)| TokenRow {
        scopes: s(&t.target),
        expires_on: t.expires_on,
        ..row("access", &t.client_id, &t.home_account_id, &t.secret)
    });
    let refresh = c.refresh_tokens().map(|(_, t)| TokenRow {
        scopes: s(&t.target),
        family_id: s(&t.family_id),
        ..row("refresh", &t.client_id, &t.home_account_id, &t.secret)
    });
    let id = c.id_tokens().map(|(_, t)| row("id", &t.client_id, &t.home_account_id, &t.secret));
    access.chain(refresh).chain(id).collect()
}

/// `msal-cache accounts`.
pub fn accounts(args: &ViewArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let rows = source::read(&src, account_rows)?;
    if args.json {
        write_accounts_json(out, &rows)?;
    } else {
        write_accounts_table(out, &rows)?;
    }
    Ok(Outcome::Ok)
}

/// Accounts as JSON: an array of objects.
pub fn write_accounts_json<W: Write>(out: &mut W, rows: &[AccountRow]) -> BoxResult<()> {
    let v: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "username": r.username, "home_account_id": r.home_account_id,
                "environment": r.environment, "realm": r.realm,
                "authority_type": r.authority_type, "clients": r.clients,
            })
        })
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

/// Accounts as a table.
pub fn write_accounts_table<W: Write>(out: &mut W, rows: &[AccountRow]) -> BoxResult<()> {
    if rows.is_empty() {
        writeln!(out, "no accounts (app-only tokens, if any, are listed by `msal-cache tokens`)")?;
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.username.clone(),
                r.home_account_id.clone(),
                r.environment.clone(),
                r.realm.clone(),
                r.clients.join(","),
            ]
        })
        .collect();
    table(out, &["USERNAME", "HOME ACCOUNT ID", "ENVIRONMENT", "REALM", "CLIENTS"], &cells)?;
    Ok(())
}

/// `msal-cache tokens`.
pub fn tokens(args: &ViewArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let rows = source::read(&src, token_rows)?;
    if args.json {
        write_tokens_json(out, &rows, now())?;
    } else {
        write_tokens_table(out, &rows, now())?;
    }
    Ok(Outcome::Ok)
}

/// Tokens as JSON: an array of objects (no secrets).
pub fn write_tokens_json<W: Write>(out: &mut W, rows: &[TokenRow], now: i64) -> BoxResult<()> {
    let v: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "kind": r.kind, "client_id": r.client, "account": r.account,
                "scopes": r.scopes.split_whitespace().collect::<Vec<_>>(),
                "expires_on": r.expires_on, "expired": r.expires_on.map(|e| e <= now),
                "family_id": (!r.family_id.is_empty()).then_some(&r.family_id),
                "fingerprint": r.fingerprint,
            })
        })
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

/// Tokens as a table.
pub fn write_tokens_table<W: Write>(out: &mut W, rows: &[TokenRow], now: i64) -> BoxResult<()> {
    if rows.is_empty() {
        writeln!(out, "no tokens")?;
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let (abs, rel) = match r.expires_on {
                Some(e) => (utc(e), relative(e, now)),
                None => ("-".into(), String::new()),
            };
            let family = if r.family_id.is_empty() { "-".into() } else { r.family_id.clone() };
            vec![
                r.kind.into(),
                r.client.clone(),
                r.account.clone(),
                r.scopes.clone(),
                abs,
                rel,
                family,
                r.fingerprint.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["KIND", "CLIENT", "ACCOUNT", "SCOPES", "EXPIRES (UTC)", "EXPIRY", "FAMILY", "FINGERPRINT"],
        &cells,
    )?;
    Ok(())
}

/// Options of `presets`.
#[derive(Debug, Args)]
pub struct PresetsArgs {
    /// Print JSON (with each preset's source) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `msal-cache presets`: every preset, resolved on this machine, with the
/// store its owner uses here and the MSAL library that writes it.
pub fn presets(args: &PresetsArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    use msal_extensions::presets::{Preset, PresetStorage};
    let rows: Vec<(Preset, String, String)> = Preset::ALL
        .into_iter()
        .map(|p| match p.resolve() {
            Ok(r) => {
                let mut store = match r.storage() {
                    PresetStorage::File => "plaintext file".to_owned(),
                    PresetStorage::SecretService { schema, .. } => format!("Secret Service, schema {schema}"),
                    PresetStorage::Keychain { service, account } => format!("Keychain {service}/{account}"),
                    PresetStorage::Dpapi { .. } => "DPAPI file".to_owned(),
                    other => format!("{other:?}"),
                };
                if r.plaintext_fallback() {
                    store.push_str(" (plaintext file if unavailable)");
                }
                (p, store, r.location().display().to_string())
            }
            Err(e) => (p, "-".to_owned(), format!("({e})")),
        })
        .collect();
    if args.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|(p, store, loc)| {
                json!({"name": p.name(), "confidence": format!("{:?}", p.confidence()),
                       "owner": format!("{:?}", p.owner()),
                       "store": store, "location": loc, "source": p.source()})
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|(p, store, loc)| {
                let owner = format!("{:?}", p.owner());
                vec![p.name().into(), format!("{:?}", p.confidence()), owner, store.clone(), loc.clone()]
            })
            .collect();
        table(out, &["PRESET", "CONFIDENCE", "OWNER", "STORE", "LOCATION"], &cells)?;
    }
    Ok(Outcome::Ok)
}
