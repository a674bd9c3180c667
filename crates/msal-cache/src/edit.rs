//! Commands that change a cache or its lockfile: `remove-account`, `clear`,
//! `unlock-stale`, `migrate`, `export`, `import`. Every change is made under
//! the cross-process lock, so running MSAL programs never lose an update.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use msal_extensions::lock::{self, LockState};
use msal_extensions::{FilePersistence, Persistence, TokenCache};
use serde_json::{Map, Value};

use crate::output::{clean, fingerprint, shown};
use crate::sink;
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
    if args.account.trim().is_empty() {
        // An empty id would match every app-only token (their home account id is "" or null).
        return Err("give the account to remove: its username or home account id (`uid.utid`); \
                    list them with `msal-cache accounts`"
            .into());
    }
    let src = args.source.resolve()?;
    let p = src.open()?;
    let removed = modify(p.as_ref(), &src.lock_options(), |c| {
        let ids = matching_ids(c, &args.account);
        let n: usize = ids.iter().map(|id| c.remove_account(id)).sum();
        Ok((n, n > 0))
    })?;
    if removed == 0 {
        writeln!(
            out,
            "no account matches {}; list them with `msal-cache accounts {}`",
            quoted(&args.account),
            src.hint
        )?;
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
        .filter(|h| !h.trim().is_empty())
        .collect();
    let token_ids = c.refresh_tokens().filter_map(|(_, t)| t.home_account_id.clone());
    ids.extend(token_ids.filter(|h| !h.trim().is_empty() && h.eq_ignore_ascii_case(who)));
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
    if !args.yes && !confirm(&format!("Remove every token and account from {}?", shown(&src.location)))? {
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
        return Err(
            "refusing to clear without --yes: stdin is not a terminal to ask on; nothing was changed".into(),
        );
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
    let shown = shown(&path);
    let who =
        state.holder().and_then(|h| h.pid).map(|p| format!("pid {p}")).unwrap_or_else(|| "no pid".into());
    let (msg, outcome) = match &state {
        LockState::Absent => (format!("no lockfile at {shown}: nothing to do"), Outcome::Ok),
        s if s.is_stale() => {
            (format!("removed the stale lockfile {shown} ({who}, no longer running)"), Outcome::Ok)
        }
        s if s.is_held() => (
            format!(
                "not removed: {shown} is held by a running process ({who}); wait for it, or if it is stuck \
                 stop it{}",
                state.holder().and_then(|h| h.pid).map(|p| format!(" (`kill {p}`)")).unwrap_or_default()
            ),
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

/// Where `migrate` moves the cache to.
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
    /// The backend to move the cache to (the other one is the source, unless --backend names it).
    #[arg(long, value_enum)]
    pub to: Target,
}

/// `msal-cache migrate`: copy under the lock, verify by reading back, keep a
/// backup, and only then retire the original (emptied file, or deleted
/// Secret Service item). On any failure the original is untouched.
pub fn migrate(args: &MigrateArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let mut src = args.source.resolve()?;
    if let (Target::Encrypted, Some(owner)) = (args.to, src.plaintext_owner()) {
        let tool = source::tool_name(owner);
        return Err(format!(
            "refusing to move {} out of its plaintext file: {tool} keeps its tokens there on this \
             platform and reads no encrypted store, so it would sign you out; nothing was changed \
             (keep the file private instead: `chmod 600 {}`)",
            shown(&src.location),
            crate::output::shell_quote(src.location.as_os_str())
        )
        .into());
    }
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
        .map_err(|e| format!("{e}; the original is untouched, backup at {}", shown(&backup)))?;
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
        "backup of the original content: {} (0600, plaintext: delete it with `rm {}` once you have checked)",
        shown(&backup),
        crate::output::shell_quote(backup.as_os_str())
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
    /// Include the tokens themselves (otherwise each secret is replaced by its fingerprint).
    #[arg(long)]
    pub include_secrets: bool,
    /// Write to this file (created 0600, replaced atomically) instead of standard output; a
    /// terminal, pipe or character device (e.g. /dev/stdout) is written to as it is. Never the
    /// cache itself, its lockfile, a directory, or a symbolic link to another file.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The prefix of a redacted secret in an export.
const REDACTED: &str = "<redacted ";

/// `msal-cache export`.
pub fn export(args: &ExportArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    // Decided before reading anything: a refused output leaves no trace.
    let target = args.output.as_deref().map(|p| sink::choose(p, &src.protected_paths())).transpose()?;
    let cache = source::load(src.open()?.as_ref())?;
    let mut doc: Value = serde_json::from_str(&cache.serialize())?;
    if !args.include_secrets {
        redact(&mut doc);
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match target {
        None => out.write_all(text.as_bytes())?,
        Some(sink::Sink::Stdout) => {
            out.write_all(text.as_bytes())?;
            eprintln!("msal-cache: exported {} entries to standard output", cache.len());
        }
        Some(sink) => {
            let shown = sink.write(&text)?;
            writeln!(out, "exported {} entries to {shown}", cache.len())?;
        }
    }
    Ok(Outcome::Ok)
}

/// Replaces every `secret` field, at any depth and of any JSON type (a
/// string, or an array or object a malformed writer left), by
/// `<redacted sha256:…>`. `null` holds nothing and is left alone.
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) && !value.is_null() {
                    let text = match &*value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    *value = Value::String(format!("{REDACTED}{}>", fingerprint(&text)));
                } else {
                    redact(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("secret")
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
/// `null` sections and entries hold nothing to import and are skipped; any
/// other section or entry that is not an object refuses the whole import.
pub fn import(args: &ImportArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let (incoming, skipped) = read_import(&args.file)?;
    let p = src.open()?;
    let (added, replaced) = modify(p.as_ref(), &src.lock_options(), |c| {
        let mut doc: Value = serde_json::from_str(&c.serialize())?;
        let counts = merge(&mut doc, &incoming)
            .map_err(|e| format!("{e} in the cache at {}; nothing was imported", shown(p.location())))?;
        *c = TokenCache::parse(&serde_json::to_string(&doc)?)?;
        Ok((counts, counts != (0, 0)))
    })?;
    for note in skipped {
        writeln!(out, "skipped {note} in {}: nothing to import from it", shown(&args.file))?;
    }
    writeln!(
        out,
        "imported {} entries ({added} new, {replaced} replaced) from {}",
        added + replaced,
        shown(&args.file)
    )?;
    Ok(Outcome::Ok)
}

/// Reads and checks a file to import: JSON, an object of sections, each an
/// object of entries, no redacted secret. Returns the document without its
/// `null` sections and entries, and a note naming each one dropped.
fn read_import(file: &Path) -> BoxResult<(Value, Vec<String>)> {
    let shown_file = shown(file);
    let text = std::fs::read(file).map_err(|e| format!("cannot read {shown_file}: {e}; check the path"))?;
    let refuse =
        |why: String| format!("{shown_file} is not an MSAL token cache: {why}; nothing was imported");
    let mut doc: Value = serde_json::from_slice(&text).map_err(|e| refuse(format!("not JSON ({e})")))?;
    let skipped = drop_nulls(&mut doc).map_err(refuse)?;
    TokenCache::parse(&doc.to_string()).map_err(|e| refuse(corrupt_reason(&e)))?;
    if has_redacted(&doc) {
        return Err(format!(
            "{shown_file} holds redacted secrets (a plain export); export with --include-secrets \
             to import it; nothing was imported"
        )
        .into());
    }
    Ok((doc, skipped))
}

/// Removes `null` sections and entries, naming each; refuses any other
/// section or entry that is not an object.
fn drop_nulls(doc: &mut Value) -> Result<Vec<String>, String> {
    let Value::Object(sections) = doc else {
        return Err(format!("the top level is {}, not an object of sections", kind(doc)));
    };
    let mut skipped = Vec::new();
    sections.retain(|name, section| {
        let keep = !section.is_null();
        if !keep {
            skipped.push(format!("section {} (null)", quoted(name)));
        }
        keep
    });
    for (name, section) in sections.iter_mut() {
        let Value::Object(entries) = section else {
            return Err(format!("section {} is {}, not an object of entries", quoted(name), kind(section)));
        };
        entries.retain(|key, entry| {
            let keep = !entry.is_null();
            if !keep {
                skipped.push(format!("entry {} of section {} (null)", quoted(key), quoted(name)));
            }
            keep
        });
        if let Some((key, entry)) = entries.iter().find(|(_, e)| !e.is_object()) {
            return Err(format!(
                "entry {} of section {} is {}, not an object",
                quoted(key),
                quoted(name),
                kind(entry)
            ));
        }
    }
    Ok(skipped)
}

/// A name from a file, quoted and terminal-safe.
fn quoted(name: &str) -> String {
    format!("\"{}\"", clean(name))
}

/// "a number", "an array"...: the JSON type of `v`, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The reason in a library parse error, without the library's location
/// (which, for content parsed from memory, is no place a user can find).
fn corrupt_reason(e: &msal_extensions::Error) -> String {
    match e {
        msal_extensions::Error::Corrupt { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn has_redacted(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(key, value)| match value {
            Value::String(s) if is_secret_key(key) => s.starts_with(REDACTED),
            other => has_redacted(other),
        }),
        Value::Array(items) => items.iter().any(has_redacted),
        _ => false,
    }
}

/// Merges `incoming` (checked by [`read_import`]: every section an object)
/// into `doc` key by key; returns (new, replaced) entry counts. A section of
/// `doc` that is not an object is never replaced: that is an error.
fn merge(doc: &mut Value, incoming: &Value) -> Result<(usize, usize), String> {
    let (Some(target), Some(sections)) = (doc.as_object_mut(), incoming.as_object()) else {
        return Ok((0, 0));
    };
    let (mut added, mut replaced) = (0, 0);
    for (name, entries) in sections {
        let Some(entries) = entries.as_object() else { continue };
        let slot = target.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
        let kind = kind(slot);
        let Some(slot) = slot.as_object_mut() else {
            return Err(format!("section {} is {kind}, not an object of entries", quoted(name)));
        };
        for (key, entry) in entries {
            match slot.insert(key.clone(), entry.clone()) {
                Some(_) => replaced += 1,
                None => added += 1,
            }
        }
    }
    Ok((added, replaced))
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
        assert_eq!(merge(&mut doc, &inc), Ok((2, 1)));
        assert_eq!(doc["AccessToken"]["a"]["secret"], "2");
        assert!(doc["Keep"]["z"].is_object());
    }
}
