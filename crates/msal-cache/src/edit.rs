//! Commands that change a cache or its lockfile: `remove-account`, `clear`,
//! `unlock-stale`, `migrate`, `export`, `import`. Every change is made under
//! the cross-process lock, so running MSAL programs never lose an update.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use msal_extensions::lock::{self, LockState};
use msal_extensions::{FilePersistence, Persistence, TokenCache};
use serde_json::{Map, Value};

use crate::output::{clean, fingerprint};
use crate::source::{self, Backend, SourceArgs, modify};
use crate::{BoxResult, Outcome};

/// Options of `remove-account`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The account: its home account id (`uid.utid`) or its username.
    pub account: String,
}

/// `msal-cache remove-account`.
pub fn remove_account(args: &RemoveArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let p = src.open()?;
    let removed = modify(p.as_ref(), &src.lock_options(), |c| {
        let ids = matching_ids(c, &args.account);
        let n: usize = ids.iter().map(|id| c.remove_account(id)).sum();
        Ok((n, n > 0))
    })?;
    if removed == 0 {
        writeln!(out, "no account matches {:?}; list them with `msal-cache accounts`", clean(&args.account))?;
        return Ok(Outcome::Problem);
    }
    writeln!(out, "removed {removed} entries of {}", clean(&args.account))?;
    Ok(Outcome::Ok)
}

/// Home account ids whose id or username equals `who` (case-insensitive).
fn matching_ids(c: &TokenCache, who: &str) -> Vec<String> {
    let mut ids: Vec<String> = c
        .accounts()
        .filter(|a| {
            [&a.home_account_id, &a.username]
                .iter()
                .any(|f| f.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(who)))
        })
        .filter_map(|a| a.home_account_id.clone())
        .collect();
    let token_ids = c.refresh_tokens().filter_map(|(_, t)| t.home_account_id.clone());
    ids.extend(token_ids.filter(|h| h.eq_ignore_ascii_case(who)));
    ids.sort();
    ids.dedup();
    ids
}

/// Options of `clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// `msal-cache clear`.
pub fn clear(args: &ClearArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    if !args.yes && !confirm(&format!("Remove every token and account from {}?", src.location.display()))? {
        writeln!(out, "nothing changed")?;
        return Ok(Outcome::Problem);
    }
    let p = src.open()?;
    let removed = modify(p.as_ref(), &src.lock_options(), |c| {
        let n = c.len();
        *c = TokenCache::new();
        Ok((n, n > 0)) // nothing to clear: leave the file (or its absence) alone
    })?;
    if removed == 0 {
        writeln!(out, "nothing to clear: the cache holds no tokens or accounts")?;
    } else {
        writeln!(out, "removed {removed} entries; every program using this cache will ask to sign in again")?;
    }
    Ok(Outcome::Ok)
}

/// Asks on the terminal; refuses (an error) when stdin is not a terminal.
fn confirm(question: &str) -> BoxResult<bool> {
    if !std::io::stdin().is_terminal() {
        return Err("refusing to clear without --yes: stdin is not a terminal to ask on".into());
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// `msal-cache unlock-stale`.
pub fn unlock_stale(args: &SourceArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let path = args.resolve()?.lock_path();
    let state = lock::remove_stale(&path)?;
    let shown = path.display();
    let who =
        state.holder().and_then(|h| h.pid).map(|p| format!("pid {p}")).unwrap_or_else(|| "no pid".into());
    let (msg, outcome) = match &state {
        LockState::Absent => (format!("no lockfile at {shown}: nothing to do"), Outcome::Ok),
        s if s.is_stale() => {
            (format!("removed the stale lockfile {shown} ({who}, no longer running)"), Outcome::Ok)
        }
        s if s.is_held() => (
            format!("not removed: {shown} is held by a running process ({who}); wait for it, or stop it"),
            Outcome::Problem,
        ),
        _ => (
            format!(
                "not removed: {shown} records no pid and is recent, a process may be creating it; try again in 10 s"
            ),
            Outcome::Problem,
        ),
    };
    writeln!(out, "{msg}")?;
    Ok(outcome)
}

/// Where `migrate` copies the cache to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The Secret Service item named by the backend options (or the preset).
    Encrypted,
    /// A plaintext file (`0600`) at the cache path.
    Plaintext,
}

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The backend to move the cache to.
    #[arg(long, value_enum)]
    pub to: Target,
}

/// `msal-cache migrate`: copy under the lock, verify by reading back, keep a
/// backup, and only then retire the original (emptied file, or deleted
/// Secret Service item). On any failure the original is untouched.
pub fn migrate(args: &MigrateArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let mut src = args.source.resolve()?;
    if args.source.backend.is_none() {
        src.backend = match args.to {
            Target::Encrypted => Backend::File,
            Target::Plaintext => Backend::SecretService,
        };
    }
    let to_backend = match args.to {
        Target::Encrypted => Backend::SecretService,
        Target::Plaintext => Backend::File,
    };
    if src.backend == to_backend {
        return Err("the cache is already in that backend; give --backend to name the source".into());
    }
    if to_backend == Backend::SecretService {
        src.spec_as(Backend::SecretService)
            .open_verified()
            .map_err(|e| format!("{}; nothing was changed", crate::error_chain(&e)))?;
    }
    let (from, to) = (src.open()?, src.open_as(to_backend)?);
    let lock = src.lock_options().acquire(src.lock_path())?;
    let bytes = from.load_bytes().map_err(|e| format!("nothing to migrate: {e}"))?;
    let cache = source::parse(bytes.clone(), from.location())?;
    let backup = backup_path(&src.location);
    FilePersistence::new(&backup)?.save_bytes(&bytes)?;
    let text = if source::looks_indented(&bytes) { cache.serialize_pretty() } else { cache.serialize() };
    to.save(&text)?;
    verify_copy(to.as_ref(), &cache)
        .map_err(|e| format!("{e}; the original is untouched, backup at {}", backup.display()))?;
    retire(&src, src.backend)?;
    lock.release()?;
    writeln!(
        out,
        "migrated {} entries from {} to {}; read back and verified",
        cache.len(),
        from.backend_name(),
        to.backend_name()
    )?;
    writeln!(
        out,
        "backup of the original content: {} (0600, plaintext: delete it once you have checked)",
        backup.display()
    )?;
    Ok(Outcome::Ok)
}

fn backup_path(location: &Path) -> PathBuf {
    let mut s = location.as_os_str().to_owned();
    // Real time (not `now()`, which tests may pin), to the nanosecond: two
    // migrations never share a backup name.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    s.push(format!(".backup-{}{:09}", t.as_secs(), t.subsec_nanos()));
    PathBuf::from(s)
}

fn verify_copy(to: &dyn Persistence, cache: &TokenCache) -> BoxResult<()> {
    let back = TokenCache::parse_bytes(&to.load_bytes()?)?;
    if back.serialize() != cache.serialize() {
        return Err("the copy read back differs from the original".into());
    }
    Ok(())
}

/// Retires the source after a verified copy: a plaintext file becomes an
/// empty signal file; a Secret Service item is deleted.
fn retire(src: &source::Source, backend: Backend) -> BoxResult<()> {
    match backend {
        Backend::File => FilePersistence::new(&src.location)?.save("")?,
        Backend::SecretService => src.open_as(Backend::SecretService)?.delete()?,
    }
    Ok(())
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Include the tokens themselves (otherwise each is replaced by its fingerprint).
    #[arg(long)]
    pub include_secrets: bool,
    /// Write to this file (created 0600) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The prefix of a redacted secret in an export.
const REDACTED: &str = "<redacted ";

/// `msal-cache export`.
pub fn export(args: &ExportArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let cache = source::load(src.open()?.as_ref())?;
    let mut doc: Value = serde_json::from_str(&cache.serialize())?;
    if !args.include_secrets {
        redact(&mut doc);
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match &args.output {
        Some(path) => {
            FilePersistence::new(path)?.save(&text)?;
            writeln!(out, "exported {} entries to {}", cache.len(), path.display())?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(Outcome::Ok)
}

/// Replaces every entry's `secret` by `<redacted sha256:…>`.
fn redact(doc: &mut Value) {
    let Some(sections) = doc.as_object_mut() else { return };
    for entries in sections.values_mut().filter_map(Value::as_object_mut) {
        for entry in entries.values_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::String(s)) = entry.get_mut("secret") {
                *s = format!("{REDACTED}{}>", fingerprint(s));
            }
        }
    }
}

/// Options of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The cache to merge in: an export made with --include-secrets, or any MSAL cache file.
    pub file: PathBuf,
}

/// `msal-cache import`: merges entry by entry under the lock; an entry with
/// the same key as an existing one replaces it, everything else is kept.
pub fn import(args: &ImportArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let text = std::fs::read(&args.file).map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    source::parse(text.clone(), &args.file)?;
    let incoming: Value = serde_json::from_slice(&text)?;
    if has_redacted(&incoming) {
        return Err(format!(
            "{} holds redacted secrets; export with --include-secrets to import it",
            args.file.display()
        )
        .into());
    }
    let p = src.open()?;
    let (added, replaced) = modify(p.as_ref(), &src.lock_options(), |c| {
        let mut doc: Value = serde_json::from_str(&c.serialize())?;
        let counts = merge(&mut doc, &incoming);
        *c = TokenCache::parse(&serde_json::to_string(&doc)?)?;
        Ok((counts, counts != (0, 0)))
    })?;
    writeln!(
        out,
        "imported {} entries ({added} new, {replaced} replaced) from {}",
        added + replaced,
        args.file.display()
    )?;
    Ok(Outcome::Ok)
}

fn has_redacted(doc: &Value) -> bool {
    let Some(sections) = doc.as_object() else { return false };
    sections
        .values()
        .filter_map(Value::as_object)
        .flat_map(|e| e.values())
        .any(|entry| entry.get("secret").and_then(Value::as_str).is_some_and(|s| s.starts_with(REDACTED)))
}

/// Merges `incoming` into `doc` key by key; returns (new, replaced) entry counts.
fn merge(doc: &mut Value, incoming: &Value) -> (usize, usize) {
    let (Some(target), Some(sections)) = (doc.as_object_mut(), incoming.as_object()) else { return (0, 0) };
    let (mut added, mut replaced) = (0, 0);
    for (name, entries) in sections {
        let Some(entries) = entries.as_object() else {
            target.insert(name.clone(), entries.clone());
            continue;
        };
        let slot = target.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
        let Some(slot) = slot.as_object_mut() else { continue };
        for (key, entry) in entries {
            match slot.insert(key.clone(), entry.clone()) {
                Some(_) => replaced += 1,
                None => added += 1,
            }
        }
    }
    (added, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_secret_and_import_refuses_it() {
        let mut doc: Value = serde_json::from_str(
            r#"{"AccessToken":{"k":{"secret":"TOPSECRET","client_id":"c"}},"Odd":{"x":1},"RefreshToken":{"r":{"secret":"RT"}}}"#,
        )
        .unwrap();
        redact(&mut doc);
        let s = doc.to_string();
        assert!(!s.contains("TOPSECRET") && !s.contains("\"RT\"") && s.contains(REDACTED), "{s}");
        assert!(has_redacted(&doc));
    }

    #[test]
    fn merge_counts_new_and_replaced() {
        let mut doc: Value =
            serde_json::from_str(r#"{"AccessToken":{"a":{"secret":"1"}},"Keep":{"z":{}}}"#).unwrap();
        let inc: Value = serde_json::from_str(
            r#"{"AccessToken":{"a":{"secret":"2"},"b":{"secret":"3"}},"Account":{"x":{}}}"#,
        )
        .unwrap();
        assert_eq!(merge(&mut doc, &inc), (2, 1));
        assert_eq!(doc["AccessToken"]["a"]["secret"], "2");
        assert!(doc["Keep"]["z"].is_object());
    }
}
