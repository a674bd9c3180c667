//! `msal-cache doctor`: everything that commonly goes wrong with a token
//! cache, each finding with the fix. Exit 1 when any finding is a problem.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use msal_extensions::TokenCache;
use msal_extensions::lock::{self, LockState};
use serde_json::json;

use crate::output::{clean, now, shell_quote, shown};
use crate::source::{self, Backend, Source, SourceArgs};
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
    let findings = examine(&src, !args.no_secret_store);
    if args.json {
        write_json(out, &src, &findings)?;
    } else {
        write_text(out, &src, &findings)?;
    }
    let bad = findings.iter().any(|f| f.level == Level::Problem);
    Ok(if bad { Outcome::Problem } else { Outcome::Ok })
}

/// Runs every check.
pub fn examine(src: &Source, check_store: bool) -> Vec<Finding> {
    let mut f = Vec::new();
    let hint = &src.hint;
    f.push(backend_finding(src, hint));
    f.extend(file_findings(&src.location, src.backend));
    f.push(folder_finding(&src.location));
    f.push(lock_finding(&src.lock_path(), hint));
    f.push(content_finding(src, hint));
    f.extend(leftover_finding(&src.location));
    if check_store && cfg!(target_os = "linux") {
        f.push(store_finding(src));
    }
    f
}

fn q(p: &Path) -> String {
    shell_quote(p.as_os_str())
}

fn backend_finding(src: &Source, hint: &str) -> Finding {
    match (src.backend, src.plaintext_owner()) {
        (Backend::File, Some(owner)) => finding(
            Level::Ok,
            "backend",
            format!(
                "plaintext file, as {tool} keeps it on this platform: {tool} reads no encrypted store, so \
                 moving the cache there would sign it out; the file's 0600 mode is its protection",
                tool = source::tool_name(owner)
            ),
            None,
        ),
        (Backend::File, None) => finding(
            Level::Warn,
            "backend",
            "plaintext file: the tokens are not encrypted, only protected by the file's permissions".into(),
            Some(format!(
                "encrypt it with `msal-cache migrate --to encrypted {hint}` where a Secret Service runs \
                 (only if every program using this cache reads the encrypted store too)"
            )),
        ),
        (Backend::SecretService, _) => {
            finding(Level::Ok, "backend", "Secret Service item (encrypted at rest)".into(), None)
        }
    }
}

/// What the file at the cache location is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// It holds the tokens (plaintext backend).
    Cache,
    /// It only tells peers the encrypted item changed (empty, or `{}` as Node writes).
    Signal,
}

fn file_findings(path: &Path, backend: Backend) -> Vec<Finding> {
    let role = if backend == Backend::File { Role::Cache } else { Role::Signal };
    let what = if role == Role::Cache { "cache file" } else { "signal file" };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mut v = permission_findings(path, &meta, role);
            // Node writes `{}` into signal files and .NET leaves them empty; more than
            // that is a plaintext cache written there as a fallback (Azure Identity does).
            if role == Role::Signal && !holds_nothing(path, &meta) {
                v.push(finding(
                    Level::Warn,
                    "file",
                    format!(
                        "the signal file holds {} bytes: probably a plaintext cache written as a fallback",
                        meta.len()
                    ),
                    Some(format!(
                        "inspect it with `msal-cache tokens --cache {p} --backend file`; move it into the \
                         store with `msal-cache migrate --to encrypted --cache {p} --backend file`, or delete it",
                        p = q(path)
                    )),
                ));
            }
            v
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![finding(
            if role == Role::Cache { Level::Warn } else { Level::Ok },
            "file",
            format!("{what} {} does not exist", shown(path)),
            (role == Role::Cache)
                .then(|| "sign in with the tool that uses this cache, or check the path".into()),
        )],
        Err(e) => vec![finding(
            Level::Problem,
            "file",
            format!("cannot read the metadata of {}: {e}", shown(path)),
            Some(format!("check the permissions of its folder {}", shown(&parent(path)))),
        )],
    }
}

/// `true` for a file with no content to protect: empty, or the `{}` that
/// msal-node writes into its signal files.
fn holds_nothing(path: &Path, meta: &std::fs::Metadata) -> bool {
    meta.len() == 0 || (meta.len() <= 2 && std::fs::read(path).is_ok_and(|b| b == b"{}"))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn permission_findings(path: &Path, meta: &std::fs::Metadata, role: Role) -> Vec<Finding> {
    vec![mode_finding(path, meta, role), owner_finding(path, meta, role)]
}

/// Judges the mode by what others could do with this file: read tokens
/// (only when it holds some) or change it (always a problem: a planted
/// cache is read as a fallback or as tokens).
#[cfg(unix)]
fn mode_finding(path: &Path, meta: &std::fs::Metadata, role: Role) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let what = if role == Role::Cache { "cache file" } else { "signal file" };
    let mode = meta.mode() & 0o777;
    let fix = Some(format!("chmod 600 {}", q(path)));
    let empty = holds_nothing(path, meta);
    if mode & 0o022 != 0 {
        let msg = format!("{what} mode is {mode:04o}: other users can change it (and plant tokens in it)");
        return finding(Level::Problem, "permissions", msg, fix);
    }
    if mode & 0o044 == 0 {
        return finding(Level::Ok, "permissions", format!("{what} mode {mode:04o}"), None);
    }
    match (empty, role) {
        (false, _) => finding(
            Level::Problem,
            "permissions",
            format!("{what} mode is {mode:04o}: other users can read the tokens in it"),
            fix,
        ),
        (true, Role::Signal) => finding(
            Level::Ok,
            "permissions",
            format!("{what} mode {mode:04o}: it holds nothing to read, and only its owner can change it"),
            None,
        ),
        (true, Role::Cache) => finding(
            Level::Warn,
            "permissions",
            format!(
                "{what} mode is {mode:04o}: empty now, but MSAL Python and msal-node write in place and keep \
                 the mode, so the tokens they save would be readable by other users"
            ),
            fix,
        ),
    }
}

#[cfg(unix)]
fn owner_finding(path: &Path, meta: &std::fs::Metadata, role: Role) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let what = if role == Role::Cache { "cache file" } else { "signal file" };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owner = meta.uid();
    if owner == me {
        return finding(Level::Ok, "owner", format!("owned by you (uid {me})"), None);
    }
    if me == 0 {
        return finding(
            Level::Warn,
            "owner",
            format!("{what} is owned by uid {owner}; you are root"),
            Some(format!("run msal-cache as its owner: `sudo -u '#{owner}' msal-cache doctor {}`", q(path))),
        );
    }
    finding(
        Level::Problem,
        "owner",
        format!("{what} is owned by uid {owner}, not by you (uid {me}): you cannot save it"),
        Some(format!(
            "run msal-cache as that user; if the file should be yours: `sudo chown {me} {}`",
            q(path)
        )),
    )
}

#[cfg(not(unix))]
fn permission_findings(_path: &Path, _meta: &std::fs::Metadata, _role: Role) -> Vec<Finding> {
    vec![finding(Level::Warn, "permissions", "not checked on this platform".into(), None)]
}

/// Saves write a temporary file in the cache's folder and rename it, and the
/// lockfile is created there: a folder we cannot write makes every save fail.
fn folder_finding(location: &Path) -> Finding {
    let mut dir = parent(location);
    // A missing folder is created by the first save, in its nearest existing ancestor.
    while !dir.exists() {
        match dir.parent() {
            Some(up) if !up.as_os_str().is_empty() => dir = up.to_path_buf(),
            _ => break,
        }
    }
    match writable(&dir) {
        Ok(()) => finding(Level::Ok, "folder", format!("{} is writable", shown(&dir)), None),
        Err(e) if is_read_only_fs(&e) => finding(
            Level::Problem,
            "folder",
            format!("{} is on a read-only file system: saves and the lockfile would fail", shown(&dir)),
            Some("remount it read-write, or give --cache a path on a writable file system".into()),
        ),
        Err(e) => finding(
            Level::Problem,
            "folder",
            format!("{} is not writable by you ({e}): saves and the lockfile would fail", shown(&dir)),
            Some(folder_fix(&dir)),
        ),
    }
}

#[cfg(unix)]
fn writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    match unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(unix))]
fn writable(dir: &Path) -> std::io::Result<()> {
    match std::fs::metadata(dir)?.permissions().readonly() {
        true => Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        false => Ok(()),
    }
}

fn is_read_only_fs(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ReadOnlyFilesystem
}

#[cfg(unix)]
fn folder_fix(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    match std::fs::metadata(dir).map(|m| m.uid()) {
        Ok(owner) if owner == me => format!("chmod u+w {}", q(dir)),
        Ok(owner) => format!(
            "it belongs to uid {owner}: run msal-cache as that user, or if the folder should be yours: \
             `sudo chown {me} {}`",
            q(dir)
        ),
        Err(_) => format!("check the permissions of {}", q(dir)),
    }
}

#[cfg(not(unix))]
fn folder_fix(dir: &Path) -> String {
    format!("clear the read-only attribute: `attrib -r {}`", q(dir))
}

/// msal-node waits on any existing lockfile until it gives up; Rust clears a dead holder's itself.
const NODE_ADVICE: &str = "msal-node has no stale-lock recovery and waits on it until it fails, while \
any msal-cache command or Rust program using msal-extensions clears a dead holder's lockfile by itself \
in under a millisecond";

fn lock_finding(lockfile: &Path, hint: &str) -> Finding {
    if let Some(f) = odd_lockfile(lockfile) {
        return f;
    }
    let state = match lock::inspect(lockfile) {
        Ok(s) => s,
        Err(e) => {
            return finding(
                Level::Problem,
                "lockfile",
                format!("cannot inspect {}: {}", shown(lockfile), crate::error_chain(&e)),
                Some(format!("check its permissions and its folder's: `ls -ld {}`", q(lockfile))),
            );
        }
    };
    let who = describe_holder(state.holder());
    let unlock = format!("msal-cache unlock-stale {hint}");
    let pid = state.holder().and_then(|h| h.pid);
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
                "held by {who} (running; an existence-only lock as msal-node or MSAL Python without \
                 portalocker take)"
            ),
            Some(format!(
                "wait for it to finish; if it is stuck, stop it{}, then run `{unlock}` ({NODE_ADVICE})",
                pid.map(|p| format!(" (`kill {p}`)")).unwrap_or_default()
            )),
        ),
        LockState::StaleDeadPid { .. } => finding(
            Level::Problem,
            "lockfile",
            format!("stale: recorded by {who}, which is no longer running; safe to remove"),
            Some(format!("run `{unlock}` ({NODE_ADVICE})")),
        ),
        LockState::Unidentified { stale: true, .. } => finding(
            Level::Problem,
            "lockfile",
            format!("stale: records no process id and is {who}; safe to remove"),
            Some(format!("run `{unlock}` ({NODE_ADVICE})")),
        ),
        _ => finding(
            Level::Warn,
            "lockfile",
            format!("records no process id yet and is recent ({who}): a process may be writing it"),
            Some(format!("run doctor again in 10 s; if it stays, `{unlock}`")),
        ),
    }
}

/// A lockfile path that holds something other than a regular file: every
/// process taking the lock would fail or wait on it. Looked at without
/// opening it (opening a FIFO blocks).
fn odd_lockfile(lockfile: &Path) -> Option<Finding> {
    let t = std::fs::symlink_metadata(lockfile).ok()?.file_type();
    if t.is_file() {
        return None;
    }
    let what = match () {
        _ if t.is_dir() => "a directory",
        _ if t.is_symlink() => "a symbolic link",
        _ => special_file_kind(&t),
    };
    let fix = if t.is_symlink() {
        format!("remove the link (not what it points to): `rm {}`", q(lockfile))
    } else {
        let mut aside = lockfile.as_os_str().to_owned();
        aside.push(".not-a-lockfile");
        format!("move it aside: `mv {} {}`", q(lockfile), shell_quote(&aside))
    };
    Some(finding(
        Level::Problem,
        "lockfile",
        format!(
            "{} is {what}, not a lockfile: every process taking the lock fails or waits on it",
            shown(lockfile)
        ),
        Some(fix),
    ))
}

#[cfg(unix)]
fn special_file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match () {
        _ if t.is_fifo() => "a FIFO (named pipe)",
        _ if t.is_socket() => "a socket",
        _ if t.is_char_device() || t.is_block_device() => "a device",
        _ => "not a regular file",
    }
}

#[cfg(not(unix))]
fn special_file_kind(_t: &std::fs::FileType) -> &'static str {
    "not a regular file"
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
        Err(e) => {
            return finding(
                Level::Problem,
                "content",
                format!("cannot open: {}", crate::error_chain(e.as_ref())),
                None,
            );
        }
    };
    let bytes = match p.load_bytes() {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return finding(
                Level::Warn,
                "content",
                "no cache stored yet".into(),
                Some("sign in with the tool that uses this cache first".into()),
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
            format!("not a valid token cache ({} bytes): {}", bytes.len(), corrupt_reason(&e)),
            Some(corrupt_fix(src, hint)),
        ),
    }
}

fn corrupt_reason(e: &msal_extensions::Error) -> String {
    match e {
        msal_extensions::Error::Corrupt { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn corrupt_fix(src: &Source, hint: &str) -> String {
    if src.backend != Backend::File {
        return format!("`msal-cache clear --yes {hint}`, then sign in again");
    }
    let mut aside = src.location.as_os_str().to_owned();
    aside.push(".corrupt");
    format!(
        "keep it for the record and start empty: `mv {} {}`, then sign in again (programs using \
         msal-extensions for Rust quarantine such a file by themselves)",
        q(&src.location),
        shell_quote(&aside)
    )
}

/// Copies of the cache kept beside it in plaintext: quarantined corrupt
/// content (`.corrupt-*`, written by the library) and `migrate` backups.
fn leftover_finding(location: &Path) -> Option<Finding> {
    let (dir, name) = (parent(location), location.file_name()?.to_str()?);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with(".corrupt-") || rest.starts_with(".backup-"))
        })
        .map(|e| e.path())
        .collect();
    if found.is_empty() {
        return None;
    }
    found.sort();
    let names: Vec<String> =
        found.iter().filter_map(|p| p.file_name()).map(|n| clean(&n.to_string_lossy())).collect();
    let quoted: Vec<String> = found.iter().map(|p| q(p)).collect();
    Some(finding(
        Level::Warn,
        "copies",
        format!("{} copies of the cache beside it in {}: {}", found.len(), shown(&dir), names.join(", ")),
        Some(format!(
            "they hold tokens in plaintext: delete them once you no longer need them: `rm {}`",
            quoted.join(" ")
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
    writeln!(out, "cache: {}", shown(&src.location))?;
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
