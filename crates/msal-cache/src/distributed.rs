//! `redis partitions` and `redis tokens`: what a Redis-backed distributed
//! token cache (the library's `distributed` module, cargo feature `redis`)
//! holds, without a secret: partitions with their counts, and the tokens of
//! one partition by fingerprint, like `tokens` for a file cache.
//!
//! Keys come from a key file or the environment, never from the command line
//! (where other users see them in the process list); neither keys nor
//! tokens nor a Redis password reach the output or an error message.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use clap::{ArgGroup, Args, Subcommand};
use msal_extensions::distributed::{
    DistributedCacheBuilder, DistributedTokenCache, EntryInfo, EntryKind, KeyRing, Partition, PartitionKind,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::output::{clean, now, shown, table};
use crate::view::{TokenRow, write_tokens_json, write_tokens_table};
use crate::{BoxResult, Outcome};

/// The environment variable that may hold the key ring itself (the key file's format).
pub const KEY_RING_ENV: &str = "MSAL_CACHE_KEY_RING";

/// `msal-cache redis ...`.
#[derive(Debug, Args)]
pub struct RedisArgs {
    #[command(subcommand)]
    pub command: RedisCommand,
}

/// The `redis` subcommands.
#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// List the partitions (app, user, on-behalf-of) with their numbers of accounts, tokens and resources.
    Partitions(ServerArgs),
    /// List the tokens of one partition: kind, client, account, scopes, expiry, family, fingerprint.
    Tokens(TokensArgs),
}

/// Options of `redis tokens`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// The partition, as `redis partitions` lists it: `app:<client id>:<tenant>`,
    /// `user:<home account id>` or `obo:<sha-256>`.
    #[arg(long, value_name = "ID")]
    pub partition: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Where the distributed cache is and how to open it.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("server").required(true).args(["redis", "cluster"])))]
pub struct ServerArgs {
    /// The Redis (or Valkey) server, e.g. redis://127.0.0.1:6379. Give a URL with a password
    /// through the environment variable rather than here, where other users can see it.
    #[arg(long, value_name = "URL", env = "MSAL_CACHE_REDIS_URL", hide_env_values = true)]
    pub redis: Option<String>,
    /// Some nodes of a Redis Cluster, comma-separated.
    #[arg(
        long,
        value_name = "URL,...",
        value_delimiter = ',',
        env = "MSAL_CACHE_REDIS_CLUSTER",
        hide_env_values = true
    )]
    pub cluster: Vec<String>,
    /// The cache's key prefix (DistributedCacheBuilder::key_prefix).
    #[arg(long, value_name = "PREFIX", default_value = "msal")]
    pub prefix: String,
    /// The key ring of an encrypted cache: one key per line, KEY_ID=KEY, the key as 64 hex
    /// digits or the base64 of 32 bytes (e.g. `echo "2026-12=$(openssl rand -hex 32)"`); `#`
    /// starts a comment. The environment variable MSAL_CACHE_KEY_RING may hold the same text
    /// instead (entries separated by newlines, spaces or commas).
    #[arg(
        long,
        value_name = "PATH",
        env = "MSAL_CACHE_KEY_FILE",
        hide_env_values = true,
        conflicts_with = "unencrypted"
    )]
    pub key_file: Option<PathBuf>,
    /// The cache stores plain MSAL JSON (DistributedCacheBuilder::unencrypted).
    #[arg(long)]
    pub unencrypted: bool,
    /// Seconds any one request to Redis may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Print JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `msal-cache redis ...`.
pub fn run(args: &RedisArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let server = match &args.command {
        RedisCommand::Partitions(s) => s,
        RedisCommand::Tokens(t) => &t.server,
    };
    let result = match &args.command {
        RedisCommand::Partitions(s) => partitions(s, out),
        RedisCommand::Tokens(t) => tokens(t, out),
    };
    // The library keeps credentials out of its messages; this makes sure of it.
    result.map_err(|e| server.scrub(&crate::error_chain(e.as_ref())).into())
}

impl ServerArgs {
    fn open(&self) -> BoxResult<DistributedTokenCache> {
        let builder = match &self.redis {
            Some(url) => DistributedCacheBuilder::new(url),
            None => DistributedCacheBuilder::cluster(self.cluster.iter().cloned()),
        };
        let timeout = Duration::try_from_secs_f64(self.timeout.clamp(0.001, 86_400.0)).unwrap_or_default();
        // A tool reads each partition once: no L1 copies to keep.
        let builder = builder.key_prefix(&self.prefix).timeout(timeout).l1_capacity_bytes(0);
        let builder = match (self.key_ring()?, self.unencrypted) {
            (Some(ring), _) => builder.key_ring(ring),
            (None, true) => builder.unencrypted(),
            (None, false) => {
                return Err(format!(
                    "say how the cache is encrypted: --key-file PATH (or {KEY_RING_ENV} holding its \
                     content) for an encrypted cache, --unencrypted for a plaintext one"
                )
                .into());
            }
        };
        Ok(builder.build()?)
    }

    /// The key ring from `--key-file`, else from the environment, if either is given.
    fn key_ring(&self) -> BoxResult<Option<KeyRing>> {
        if let Some(path) = &self.key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the key file {}: {e}", shown(path)))?;
            return parse_key_ring(&Zeroizing::new(text), &shown(path)).map(Some);
        }
        match std::env::var(KEY_RING_ENV) {
            Ok(text) => parse_key_ring(&Zeroizing::new(text), KEY_RING_ENV).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// `message` with the password of every server URL replaced.
    fn scrub(&self, message: &str) -> String {
        let mut s = message.to_owned();
        for url in self.redis.iter().chain(&self.cluster) {
            if let Some(password) = password_of(url) {
                s = s.replace(password, "<password>");
            }
        }
        clean(&s)
    }
}

/// The password in `redis://user:password@host...`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!password.is_empty()).then_some(password)
}

/// A key ring from `KEY_ID=KEY` entries; the first is the current key (it
/// does not matter for reading). Errors name the entry, never its key.
fn parse_key_ring(text: &str, origin: &str) -> BoxResult<KeyRing> {
    let mut ring: Option<KeyRing> = None;
    let entries = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split([' ', '\t', ',', '\r']))
        .filter(|e| !e.is_empty());
    for (n, entry) in entries.enumerate() {
        let bad = |why: &str| format!("{origin}: key entry {}: {why}", n + 1);
        let (id, key) = entry.split_once('=').ok_or_else(|| bad("expected KEY_ID=KEY"))?;
        let key = Zeroizing::new(decode_key(key).ok_or_else(|| {
            bad(&format!("the key of {:?} is not 64 hex digits or the base64 of 32 bytes", clean(id)))
        })?);
        ring = Some(match ring {
            None => KeyRing::new(id, *key)?,
            Some(r) => r.with_old_key(id, *key)?,
        });
    }
    ring.ok_or_else(|| format!("{origin} holds no key (expected lines of KEY_ID=KEY)").into())
}

/// 32 bytes from 64 hex digits or from base64 (standard or URL-safe, padding optional).
fn decode_key(text: &str) -> Option<[u8; 32]> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut key = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            key[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        return Some(key);
    }
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let engine =
        if text.contains(['-', '_']) { &base64::alphabet::URL_SAFE } else { &base64::alphabet::STANDARD };
    let bytes = Zeroizing::new(base64::engine::GeneralPurpose::new(engine, config).decode(text).ok()?);
    bytes.as_slice().try_into().ok()
}

/// What one partition holds, counted.
#[derive(Debug, Default)]
struct Counts {
    accounts: usize,
    access: usize,
    refresh: usize,
    id: usize,
    resources: usize,
}

fn count(entries: &[EntryInfo]) -> Counts {
    let mut c = Counts::default();
    let mut resources = std::collections::HashSet::new();
    for e in entries {
        match e.kind {
            EntryKind::Account => c.accounts += 1,
            EntryKind::AccessToken => {
                c.access += 1;
                resources.insert(e.resource.as_deref());
            }
            EntryKind::RefreshToken => c.refresh += 1,
            EntryKind::IdToken => c.id += 1,
            _ => {}
        }
    }
    c.resources = resources.len();
    c
}

fn kind_name(p: &Partition) -> &'static str {
    match p.kind() {
        PartitionKind::App => "app",
        PartitionKind::User => "user",
        PartitionKind::OnBehalfOf => "obo",
        _ => "other",
    }
}

/// `msal-cache redis partitions`. A partition that cannot be read (e.g.
/// written with a key the ring lacks) is named on stderr with the
/// library's error; the others are still listed, and the exit code is 2.
fn partitions(args: &ServerArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let cache = args.open()?;
    let mut failed = 0;
    let rows: Vec<(Partition, Option<Counts>)> = cache
        .list_partitions()?
        .into_iter()
        .map(|p| match cache.partition_entries(&p) {
            Ok(entries) => (p, Some(count(&entries))),
            Err(e) => {
                failed += 1;
                eprintln!("msal-cache: partition {}: {}", clean(p.id()), args.scrub(&crate::error_chain(&e)));
                (p, None)
            }
        })
        .collect();
    if args.json {
        write_partitions_json(out, &rows)?;
    } else if rows.is_empty() {
        writeln!(out, "no partitions under the prefix {}", clean(&args.prefix))?;
    } else {
        write_partitions_table(out, &rows)?;
    }
    if failed > 0 {
        out.flush()?;
        return Err(format!("{failed} of {} partitions could not be read (see above)", rows.len()).into());
    }
    Ok(Outcome::Ok)
}

/// Partitions as JSON: an array of objects; one that could not be read has `"error": true`.
fn write_partitions_json(out: &mut impl Write, rows: &[(Partition, Option<Counts>)]) -> BoxResult<()> {
    let v: Vec<Value> = rows
        .iter()
        .map(|(p, c)| {
            let mut o = json!({"partition": p.id(), "kind": kind_name(p)});
            match c {
                Some(c) => {
                    o["accounts"] = c.accounts.into();
                    o["access_tokens"] = c.access.into();
                    o["refresh_tokens"] = c.refresh.into();
                    o["id_tokens"] = c.id.into();
                    o["resources"] = c.resources.into();
                }
                None => o["error"] = true.into(),
            }
            o
        })
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

/// Partitions as a table; `?` for the counts of one that could not be read.
fn write_partitions_table(out: &mut impl Write, rows: &[(Partition, Option<Counts>)]) -> BoxResult<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(p, c)| {
            let n = |f: fn(&Counts) -> usize| c.as_ref().map_or("?".to_owned(), |c| f(c).to_string());
            vec![
                p.id().to_owned(),
                kind_name(p).into(),
                n(|c| c.accounts),
                n(|c| c.access),
                n(|c| c.refresh),
                n(|c| c.id),
                n(|c| c.resources),
            ]
        })
        .collect();
    table(out, &["PARTITION", "KIND", "ACCOUNTS", "ACCESS", "REFRESH", "ID", "RESOURCES"], &cells)?;
    Ok(())
}

/// `msal-cache redis tokens --partition ID`.
fn tokens(args: &TokensArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let partition = Partition::from_id(&args.partition).ok_or_else(|| {
        format!(
            "{:?} is not a partition id: give one that `msal-cache redis partitions` lists \
             (app:<client id>:<tenant>, user:<home account id> or obo:<sha-256>)",
            clean(&args.partition)
        )
    })?;
    let cache = args.server.open()?;
    let entries = cache.partition_entries(&partition)?;
    if entries.is_empty() {
        // A mistyped id must not look like an empty partition.
        eprintln!(
            "msal-cache: note: nothing is stored for partition {}; `msal-cache redis partitions` lists those that exist",
            clean(partition.id())
        );
    }
    let rows = token_rows(&entries);
    if args.server.json {
        write_tokens_json(out, &rows, now())?;
    } else {
        write_tokens_table(out, &rows, now())?;
    }
    Ok(Outcome::Ok)
}

/// The partition's tokens as `tokens` lists a file cache's: access, refresh, id.
fn token_rows(entries: &[EntryInfo]) -> Vec<TokenRow> {
    // Accounts are labelled by username where the partition records one.
    let usernames: HashMap<String, &str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Account)
        .filter_map(|e| Some((e.home_account_id.as_deref()?.to_ascii_lowercase(), e.username.as_deref()?)))
        .filter(|(_, u)| !u.is_empty())
        .collect();
    let account = |e: &EntryInfo| match e.home_account_id.as_deref().filter(|h| !h.is_empty()) {
        None => "(app)".to_owned(),
        Some(h) => usernames.get(&h.to_ascii_lowercase()).map_or(h, |u| u).to_owned(),
    };
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut rows = Vec::new();
    for (kind, name) in
        [(EntryKind::AccessToken, "access"), (EntryKind::RefreshToken, "refresh"), (EntryKind::IdToken, "id")]
    {
        rows.extend(entries.iter().filter(|e| e.kind == kind).map(|e| TokenRow {
            kind: name,
            client: s(&e.client_id),
            account: account(e),
            scopes: s(&e.target),
            expires_on: e.expires_on,
            family_id: s(&e.family_id),
            fingerprint: e.fingerprint.clone().unwrap_or_else(|| "-".into()),
        }));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_base64_and_errors_never_show_them() {
        let hex = "a1".repeat(32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xB2u8; 32]);
        let ring = parse_key_ring(&format!("# ring\nkey-a={hex}\n\nkey-b={b64} # old\n"), "f").unwrap();
        assert_eq!(ring.current_key_id(), "key-a");
        assert!(ring.has_key("key-b"));
        let env = parse_key_ring(&format!("key-a={hex},key-b={}", b64.trim_end_matches('=')), "E").unwrap();
        assert!(env.has_key("key-a") && env.has_key("key-b"));
        for bad in [format!("key-a={}", &hex[..62]), format!("key-a{hex}"), "".into(), format!("a b={hex}")] {
            let e = parse_key_ring(&bad, "f").map(|_| ()).unwrap_err().to_string();
            assert!(!e.contains(&hex[..16]), "{e}");
        }
    }

    #[test]
    fn passwords_are_found_in_urls() {
        assert_eq!(password_of("redis://:hunter2@h:1/0"), Some("hunter2"));
        assert_eq!(password_of("rediss://user:p%40ss@h"), Some("p%40ss"));
        assert_eq!(password_of("redis://h:1"), None);
        assert_eq!(password_of("redis://user@h:1"), Some("user"));
    }
}
