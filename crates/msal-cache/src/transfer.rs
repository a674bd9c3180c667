//! `export` and `import`: a cache as JSON out (secrets redacted unless
//! asked for), and a cache file merged in, entry by entry, under the lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use msal_extensions::{CopyReason, Error, FilePersistence, Persistence, TokenCache};
use serde_json::{Map, Value};

use crate::edit::quoted;
use crate::output::{clean, fingerprint, shown};
use crate::sink;
use crate::source::{self, SourceArgs, say_copy};
use crate::{BoxResult, Outcome};

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Include the tokens themselves (otherwise each secret is replaced by its fingerprint).
    #[arg(long)]
    pub include_secrets: bool,
    /// Write to this file (created 0600, replaced atomically; what an existing file held is kept
    /// as `FILE.backup-<hash>`) instead of standard output; a terminal, pipe or character device
    /// (e.g. /dev/stdout) is written to as it is. Never the cache itself, its lockfile, a
    /// directory, or a symbolic link to another file.
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
    let (text, n) = source::read(&src, |c| (c.serialize(), c.len()))?;
    let mut doc: Value = serde_json::from_str(&text)?;
    if !args.include_secrets {
        redact(&mut doc);
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match target {
        None => out.write_all(text.as_bytes())?,
        Some(sink::Sink::Stdout) => {
            out.write_all(text.as_bytes())?;
            eprintln!("msal-cache: exported {n} entries to standard output");
        }
        Some(sink::Sink::File(path)) => {
            // An existing file is replaced: what it held stays recoverable.
            let file = FilePersistence::new(&path)?;
            let copy = file.keep_copy(CopyReason::Replaced)?;
            file.save(&text)?;
            writeln!(out, "exported {n} entries to {}", shown(&path))?;
            say_copy(out, copy.as_ref(), "the file's previous content")?;
        }
        Some(sink) => {
            let shown = sink.write(&text)?;
            writeln!(out, "exported {n} entries to {shown}")?;
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
    let cache = src.cache()?;
    let where_ = cache.persistence().describe();
    let ((added, replaced), report) = cache
        .modify_reporting(|c| {
            let mut doc: Value = serde_json::from_str(&c.serialize()).map_err(|e| Error::Corrupt {
                location: where_.clone(),
                reason: format!("serialised back as invalid JSON ({e})"),
            })?;
            let counts = merge(&mut doc, &incoming).map_err(|reason| Error::InvalidInput {
                what: "cache to import into",
                reason: format!("{reason} in {}; nothing was imported", clean(&where_)),
            })?;
            if counts != (0, 0) {
                *c = TokenCache::parse(&doc.to_string())?;
            }
            Ok(counts)
        })
        .map_err(|e| src.explain(e))?;
    for note in skipped {
        writeln!(out, "skipped {note} in {}: nothing to import from it", shown(&args.file))?;
    }
    writeln!(
        out,
        "imported {} entries ({added} new, {replaced} replaced) from {}",
        added + replaced,
        shown(&args.file)
    )?;
    say_copy(out, report.copy.as_ref(), "the content before the import")?;
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
