//! `export` and `import`: a cache as JSON out (secrets redacted unless
//! asked for), and a cache file merged in under the lock (the newer version
//! of an entry wins, as in `migrate --merge`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use msal_extensions::{Error, FilePersistence, Persistence, TokenCache};
use serde_json::Value;

use crate::output::{fingerprint, shown};
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
    let Some(sink) = target else {
        out.write_all(text.as_bytes())?;
        return Ok(Outcome::Ok);
    };
    let to_stdout = matches!(sink, sink::Sink::Stdout);
    let (place, copy) = sink.write(&text, out)?;
    if to_stdout {
        // Standard output holds the JSON: the report goes to stderr.
        eprintln!("msal-cache: exported {n} entries to {place}");
    } else {
        writeln!(out, "exported {n} entries to {place}")?;
        say_copy(out, copy.as_ref(), "the file's previous content")?;
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

/// `msal-cache import`: merges the file into the cache under the lock, as
/// `migrate --merge` does ([`TokenCache::merge`]): a token the cache lacks
/// (under any host alias of its cloud) is added, one it holds is replaced only
/// by a newer version, nothing is removed, and a `null` section changes nothing.
pub fn import(args: &ImportArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let incoming = read_import(&args.file)?;
    let (n, report) =
        src.cache()?.modify_reporting(|c| Ok(c.merge(&incoming))).map_err(|e| src.explain(e))?;
    writeln!(
        out,
        "imported {} entries ({} new, {} replaced) from {}; {} left as they were (the cache holds the same \
         or a newer version)",
        n.added + n.replaced,
        n.added,
        n.replaced,
        shown(&args.file),
        n.kept
    )?;
    say_copy(out, report.copy.as_ref(), "the content before the import")?;
    Ok(Outcome::Ok)
}

/// Reads and checks a file to import: a regular file (opened without
/// blocking, so a FIFO or a device is refused at once, never waited on or
/// read for ever), an MSAL token cache, no redacted secret.
fn read_import(file: &Path) -> BoxResult<TokenCache> {
    let shown_file = shown(file);
    let bytes = FilePersistence::new(file)?.load_bytes().map_err(|e| match e {
        Error::NotFound { .. } => format!("cannot read {shown_file}: it does not exist; check the path"),
        e => format!("{}; nothing was imported", crate::error_chain(&e)),
    })?;
    let incoming = TokenCache::parse_bytes(&bytes).map_err(|e| {
        let reason = match e {
            Error::Corrupt { reason, .. } => reason,
            other => other.to_string(),
        };
        format!("{shown_file} is not an MSAL token cache: {reason}; nothing was imported")
    })?;
    if has_redacted(&bytes) {
        return Err(format!(
            "{shown_file} holds redacted secrets (a plain export); export with --include-secrets \
             to import it; nothing was imported"
        )
        .into());
    }
    Ok(incoming)
}

/// Whether `text` holds a secret [`redact`] replaced (a string starting with
/// [`REDACTED`]), in any section, at any depth.
fn has_redacted(text: &[u8]) -> bool {
    let marker = format!("\"{REDACTED}");
    text.windows(marker.len()).any(|w| w == marker.as_bytes())
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
        assert!(!has_redacted(doc.to_string().as_bytes()));
        redact(&mut doc);
        let s = doc.to_string();
        assert!(!s.contains("TOPSECRET") && !s.contains("\"RT\"") && s.contains(REDACTED), "{s}");
        assert!(has_redacted(s.as_bytes()));
        assert!(has_redacted(serde_json::to_string_pretty(&doc).unwrap().as_bytes()));
    }
}
