//! `msal-cache doctor`: everything that commonly goes wrong with a token
//! cache, each finding with the fix. Exit 1 when any finding is a problem.

use std::io::Write;
use std::path::Path;

use clap::Args;
use msal_extensions::TokenCache;
use msal_extensions::lock::{self, LockState};
use serde_json::json;

use crate::output::{clean, now};
use crate::source::{Backend, Source, SourceArgs};
use crate::{BoxResult, Outcome};

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the Secret Service check (it stores, reads and deletes a probe item).
    #[arg(long)]
    pub no_secret_store: bool,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fine.
    Ok,
    /// Worth knowing; not a failure.
    Warn,
    /// Something is broken or unsafe: exit 1.
    Problem,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Problem => "problem",
        }
    }
}

/// One finding: what was checked, what was found, and the fix.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

fn finding(level: Level, topic: &'static str, message: String, fix: Option<String>) -> Finding {
    Finding { level, topic, message, fix }
}

/// `msal-cache doctor`.
pub fn run(args: &DoctorArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let findings = examine(&src, &args.source, !args.no_secret_store);
    if args.json {
        write_json(out, &src, &findings)?;
    } else {
        write_text(out, &src, &findings)?;
    }
    let bad = findings.iter().any(|f| f.level == Level::Problem);
    Ok(if bad { Outcome::Problem } else { Outcome::Ok })
}

/// Runs every check.
pub fn examine(src: &Source, args: &SourceArgs, check_store: bool) -> Vec<Finding> {
    let mut f = Vec::new();
    let hint = cli_source(args);
    f.push(backend_finding(src, &hint));
    f.extend(file_findings(&src.location, src.backend));
    f.push(lock_finding(&src.lock_path(), &hint));
    f.push(content_finding(src, &hint));
    f.extend(leftover_finding(&src.location));
    if check_store && cfg!(target_os = "linux") {
        f.push(store_finding(src));
    }
    f
}

/// How to name this cache again on a command line, for the fixes.
fn cli_source(args: &SourceArgs) -> String {
    match (&args.cache, args.preset) {
        (Some(p), _) => format!("--cache {}", p.display()),
        (None, Some(p)) => format!("--preset {p}"),
        _ => String::new(),
    }
}

fn backend_finding(src: &Source, hint: &str) -> Finding {
    match src.backend {
        Backend::File => finding(
            Level::Warn,
            "backend",
            "plaintext file: the tokens are not encrypted, only protected by the file's permissions".into(),
            Some(format!(
                "encrypt it with `msal-cache migrate --to encrypted {hint}` where a Secret Service runs"
            )),
        ),
        Backend::SecretService => {
            finding(Level::Ok, "backend", "Secret Service item (encrypted at rest)".into(), None)
        }
    }
}

fn file_findings(path: &Path, backend: Backend) -> Vec<Finding> {
    let what = if backend == Backend::File { "cache file" } else { "signal file" };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mut v = permission_findings(path, &meta, what);
            // Node writes `{}` into signal files and .NET leaves them empty; more than
            // that is a plaintext cache written there as a fallback (Azure Identity does).
            if backend == Backend::SecretService && meta.len() > 2 {
                v.push(finding(
                    Level::Warn,
                    "file",
                    format!(
                        "the signal file holds {} bytes: probably a plaintext cache written as a fallback",
                        meta.len()
                    ),
                    Some(
                        "inspect it with --backend file; move it into the store with \
                         `msal-cache migrate --to encrypted --backend file`, or delete it"
                            .into(),
                    ),
                ));
            }
            v
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![finding(
            if backend == Backend::File { Level::Warn } else { Level::Ok },
            "file",
            format!("{what} {} does not exist", path.display()),
            (backend == Backend::File)
                .then(|| "sign in with the tool that uses this cache, or check the path".into()),
        )],
        Err(e) => vec![finding(
            Level::Problem,
            "file",
            format!("cannot read the metadata of {}: {e}", path.display()),
            Some("check the folder's permissions".into()),
        )],
    }
}

#[cfg(unix)]
fn permission_findings(path: &Path, meta: &std::fs::Metadata, what: &str) -> Vec<Finding> {
    use std::os::unix::fs::MetadataExt;
    let mut v = Vec::new();
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        v.push(finding(
            Level::Problem,
            "permissions",
            format!("{what} mode is {mode:04o}: other users can read or change it"),
            Some(format!("chmod 600 {}", path.display())),
        ));
    } else {
        v.push(finding(Level::Ok, "permissions", format!("{what} mode {mode:04o}"), None));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { geteuid() };
    if meta.uid() != me {
        v.push(finding(
            Level::Problem,
            "owner",
            format!("{what} is owned by uid {}, not by you (uid {me})", meta.uid()),
            Some(format!("chown {me} {} (or run as its owner)", path.display())),
        ));
    } else {
        v.push(finding(Level::Ok, "owner", format!("owned by you (uid {me})"), None));
    }
    v
}

#[cfg(unix)]
unsafe extern "C" {
    /// POSIX `geteuid` (`uid_t` is 32 bits on every supported Unix).
    fn geteuid() -> u32;
}

#[cfg(not(unix))]
fn permission_findings(_path: &Path, _meta: &std::fs::Metadata, _what: &str) -> Vec<Finding> {
    vec![finding(Level::Warn, "permissions", "not checked on this platform".into(), None)]
}

fn lock_finding(lockfile: &Path, hint: &str) -> Finding {
    let state = match lock::inspect(lockfile) {
        Ok(s) => s,
        Err(e) => {
            return finding(
                Level::Problem,
                "lockfile",
                format!("cannot inspect {}: {e}", lockfile.display()),
                Some("check its permissions; if it is a symbolic link, remove it".into()),
            );
        }
    };
    let who = describe_holder(state.holder());
    match state {
        LockState::Absent => finding(Level::Ok, "lockfile", "absent: nobody holds the lock".into(), None),
        LockState::HeldByFlock { .. } => finding(
            Level::Ok,
            "lockfile",
            format!("held by {who} (running)"),
            Some("if that process is stuck, stop it; the lock is released when it exits".into()),
        ),
        LockState::HeldByLivePid { .. } => finding(
            Level::Warn,
            "lockfile",
            format!(
                "held by {who} (running; an existence-only lock as Node or Python without portalocker take)"
            ),
            Some("wait for it to finish; if it is stuck, stop it, then run `msal-cache unlock-stale`".into()),
        ),
        LockState::StaleDeadPid { .. } => finding(
            Level::Problem,
            "lockfile",
            format!("stale: recorded by {who}, which is no longer running; safe to remove"),
            Some(format!("msal-cache unlock-stale {hint}")),
        ),
        LockState::Unidentified { stale: true, .. } => finding(
            Level::Problem,
            "lockfile",
            format!("stale: records no process id and is {who}; safe to remove"),
            Some(format!("msal-cache unlock-stale {hint}")),
        ),
        _ => finding(
            Level::Warn,
            "lockfile",
            format!("being created by a process that has not written its pid yet ({who})"),
            Some("run doctor again in a few seconds".into()),
        ),
    }
}

fn describe_holder(h: Option<&msal_extensions::LockHolder>) -> String {
    let Some(h) = h else { return "an unknown process".into() };
    let mut s = match h.pid {
        Some(pid) => format!("pid {pid}"),
        None => "no pid".into(),
    };
    if let Some(p) = &h.program {
        s.push_str(&format!(" ({})", clean(p)));
    }
    if let Some(d) = h.held_for {
        s.push_str(&format!(", {} s old", d.as_secs()));
    }
    s
}

fn content_finding(src: &Source, hint: &str) -> Finding {
    let p = match src.open() {
        Ok(p) => p,
        Err(e) => return finding(Level::Problem, "content", format!("cannot open: {e}"), None),
    };
    let bytes = match p.load_bytes() {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return finding(
                Level::Warn,
                "content",
                "no cache stored yet".into(),
                Some("sign in first".into()),
            );
        }
        Err(e) => {
            return finding(
                Level::Problem,
                "content",
                format!("cannot read: {}", crate::error_chain(&e)),
                Some(read_fix(src, &e)),
            );
        }
    };
    match TokenCache::parse_bytes(&bytes) {
        Ok(c) => finding(Level::Ok, "content", counts(&c), None),
        Err(e) => finding(
            Level::Problem,
            "content",
            format!("not a valid token cache ({} bytes): {e}", bytes.len()),
            Some(format!(
                "keep a copy for the record, then `msal-cache clear --yes {hint}` and sign in again \
                 (programs using msal-extensions for Rust quarantine such a file by themselves)"
            )),
        ),
    }
}

/// Copies of the cache kept beside it in plaintext: quarantined corrupt
/// content (`.corrupt-*`, written by the library) and `migrate` backups.
fn leftover_finding(location: &Path) -> Option<Finding> {
    let (dir, name) = (location.parent()?, location.file_name()?.to_str()?);
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(".corrupt-") || rest.starts_with(".backup-"))
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    found.sort();
    Some(finding(
        Level::Warn,
        "copies",
        format!("{} copies of the cache beside it: {}", found.len(), found.join(", ")),
        Some(format!(
            "they hold tokens in plaintext: delete them from {} once you no longer need them",
            dir.display()
        )),
    ))
}

fn read_fix(src: &Source, e: &msal_extensions::Error) -> String {
    match (src.backend, crate::source::is_unavailable(e)) {
        (Backend::SecretService, true) => {
            "start or unlock the keyring (e.g. log in to a desktop session, or `gnome-keyring-daemon --unlock`), \
             or read a plaintext copy with --backend file"
                .into()
        }
        _ => "check the file's permissions and the folder's".into(),
    }
}

fn counts(c: &TokenCache) -> String {
    let t = now();
    let expired = c.access_tokens().filter(|(_, a)| a.expires_on.is_some_and(|e| e <= t)).count();
    format!(
        "valid JSON: {} accounts, {} access tokens ({expired} expired), {} refresh tokens, {} id tokens, {} app metadata",
        c.accounts().count(),
        c.access_tokens().count(),
        c.refresh_tokens().count(),
        c.id_tokens().count(),
        c.app_metadata().count()
    )
}

fn store_finding(src: &Source) -> Finding {
    let level = if src.backend == Backend::SecretService { Level::Problem } else { Level::Warn };
    match src.spec_as(Backend::SecretService).open_verified() {
        Ok(_) => finding(Level::Ok, "secret store", "Secret Service reachable and unlocked: encryption available".into(), None),
        Err(e) => finding(
            level,
            "secret store",
            format!("Secret Service not usable: {}", crate::error_chain(&e)),
            Some(
                "on a desktop, log in to the session (gnome-keyring or KeePassXC provide it); headless, run under \
                 `dbus-run-session` with `gnome-keyring-daemon --unlock`; otherwise keep the plaintext file (0600)"
                    .into(),
            ),
        ),
    }
}

/// Findings as text, one per line, fixes indented.
pub fn write_text<W: Write>(out: &mut W, src: &Source, findings: &[Finding]) -> BoxResult<()> {
    writeln!(out, "cache: {}", src.location.display())?;
    if let Some(p) = &src.preset {
        writeln!(out, "preset: {} ({:?} confidence)", p.preset(), p.preset().confidence())?;
    }
    for f in findings {
        writeln!(out, "[{:<7}] {}: {}", f.level.tag(), f.topic, f.message)?;
        if let (Some(fix), true) = (&f.fix, f.level != Level::Ok) {
            writeln!(out, "          fix: {fix}")?;
        }
    }
    let problems = findings.iter().filter(|f| f.level == Level::Problem).count();
    writeln!(out, "{problems} problem(s)")?;
    Ok(())
}

/// Findings as JSON.
pub fn write_json<W: Write>(out: &mut W, src: &Source, findings: &[Finding]) -> BoxResult<()> {
    let list: Vec<_> = findings
        .iter()
        .map(|f| json!({"level": f.level.tag(), "topic": f.topic, "message": f.message, "fix": f.fix}))
        .collect();
    let v = json!({
        "cache": src.location.display().to_string(),
        "backend": match src.backend { Backend::File => "file", Backend::SecretService => "secret-service" },
        "encrypted": src.backend == Backend::SecretService,
        "problems": findings.iter().filter(|f| f.level == Level::Problem).count(),
        "findings": list,
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}
