//! The checks `doctor` runs, each returning findings with the fix to
//! advise and, where `doctor --fix` can apply it, the [`Action`].

use std::path::{Path, PathBuf};

use msal_extensions::lock::{self, LockState};
use msal_extensions::{CopyReason, Error, LocationRole, Persistence, StoreKind, TokenCache};

use super::fix::Action;
use super::{Finding, Level, finding};
use crate::output::{clean, now, shell_quote, shown};
use crate::source::{self, Source};

/// Runs every check.
pub fn examine(src: &Source, check_store: bool) -> Vec<Finding> {
    let mut f = Vec::new();
    let (hint, role) = (&src.hint, src.spec.location_role());
    f.push(backend_finding(src, hint));
    f.extend(file_findings(src.location(), role));
    f.push(folder_finding(src.location()));
    f.push(lock_finding(&src.lock_path(), hint));
    f.push(content_finding(src, hint));
    f.extend(leftover_finding(src.location(), role));
    let secret_service = matches!(src.encrypted.kind(), StoreKind::SecretService { .. });
    if check_store && secret_service {
        f.push(store_finding(src));
    }
    f
}

fn q(p: &Path) -> String {
    shell_quote(p.as_os_str())
}

fn backend_finding(src: &Source, hint: &str) -> Finding {
    if src.spec.is_encrypted() {
        let msg = format!("{} (encrypted at rest)", src.spec.backend_name());
        return finding(Level::Ok, "backend", msg, None);
    }
    match src.plaintext_owner() {
        Some(owner) => finding(
            Level::Ok,
            "backend",
            format!(
                "plaintext file, as {tool} keeps it on this platform: {tool} reads no encrypted store, so \
                 moving the cache there would sign it out; the file's 0600 mode is its protection",
                tool = source::tool_name(owner)
            ),
            None,
        ),
        None => finding(
            Level::Warn,
            "backend",
            "plaintext file: the tokens are not encrypted, only protected by the file's permissions".into(),
            Some(format!(
                "encrypt it with `msal-cache migrate --to encrypted {hint}` where an encrypted store is \
                 available (only if every program using this cache reads the encrypted store too)"
            )),
        ),
    }
}

/// How the file at the location is called in messages.
fn what(role: LocationRole) -> &'static str {
    match role {
        LocationRole::SignalFile => "signal file",
        _ => "cache file",
    }
}

fn file_findings(path: &Path, role: LocationRole) -> Vec<Finding> {
    let what = what(role);
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mut v = permission_findings(path, &meta, role);
            // Node writes `{}` into signal files and .NET leaves them empty; more than
            // that is a plaintext cache written there as a fallback (Azure Identity does).
            if role == LocationRole::SignalFile && role.holds_plaintext_secrets(meta.len()) {
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
            if role == LocationRole::SignalFile { Level::Ok } else { Level::Warn },
            "file",
            format!("{what} {} does not exist", shown(path)),
            (role != LocationRole::SignalFile)
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

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn permission_findings(path: &Path, meta: &std::fs::Metadata, role: LocationRole) -> Vec<Finding> {
    vec![mode_finding(path, meta, role), owner_finding(path, meta, role)]
}

/// Judges the mode by what others could do with this file: read tokens
/// (only when it holds some, as the owner tool creates it: an empty signal
/// file holds none) or change it (always a problem: a planted cache is read
/// as tokens, or as Azure Identity's plaintext fallback).
#[cfg(unix)]
fn mode_finding(path: &Path, meta: &std::fs::Metadata, role: LocationRole) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let what = what(role);
    let mode = meta.mode() & 0o777;
    let fix = |level, msg| {
        let advice = format!("`chmod 600 {}`", q(path));
        Finding {
            action: Some(Action::Chmod600(path.to_path_buf())),
            ..finding(level, "permissions", msg, Some(advice))
        }
    };
    if mode & 0o022 != 0 {
        return fix(
            Level::Problem,
            format!("{what} mode is {mode:04o}: other users can change it (and plant tokens in it)"),
        );
    }
    if mode & 0o044 == 0 {
        return finding(Level::Ok, "permissions", format!("{what} mode {mode:04o}"), None);
    }
    if role.holds_plaintext_secrets(meta.len()) {
        return fix(
            Level::Problem,
            format!("{what} mode is {mode:04o}: other users can read the tokens in it"),
        );
    }
    match role {
        LocationRole::SignalFile => finding(
            Level::Ok,
            "permissions",
            format!("{what} mode {mode:04o}: it holds nothing to read, and only its owner can change it"),
            None,
        ),
        LocationRole::EncryptedCache => fix(
            Level::Warn,
            format!(
                "{what} mode is {mode:04o}: other users can read the encrypted cache (only your key decrypts it)"
            ),
        ),
        _ => fix(
            Level::Warn,
            format!(
                "{what} mode is {mode:04o}: empty now, but MSAL Python and msal-node write in place and keep \
                 the mode, so the tokens they save would be readable by other users"
            ),
        ),
    }
}

#[cfg(unix)]
fn owner_finding(path: &Path, meta: &std::fs::Metadata, role: LocationRole) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let what = what(role);
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
fn permission_findings(_path: &Path, _meta: &std::fs::Metadata, _role: LocationRole) -> Vec<Finding> {
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
        Err(e) => {
            let (advice, action) = folder_fix(&dir);
            let msg =
                format!("{} is not writable by you ({e}): saves and the lockfile would fail", shown(&dir));
            Finding { action, ..finding(Level::Problem, "folder", msg, Some(advice)) }
        }
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

/// The advice for a folder we cannot write, and the action when `--fix` can take it (our own folder).
#[cfg(unix)]
fn folder_fix(dir: &Path) -> (String, Option<Action>) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    match std::fs::metadata(dir).map(|m| m.uid()) {
        Ok(owner) if owner == me => {
            (format!("`chmod u+wx {}`", q(dir)), Some(Action::OwnerWritable(dir.to_path_buf())))
        }
        Ok(owner) => (
            format!(
                "it belongs to uid {owner}: run msal-cache as that user, or if the folder should be yours: \
                 `sudo chown {me} {}`",
                q(dir)
            ),
            None,
        ),
        Err(_) => (format!("check the permissions of {}", q(dir)), None),
    }
}

#[cfg(not(unix))]
fn folder_fix(dir: &Path) -> (String, Option<Action>) {
    let advice = format!("clear the read-only attribute: `attrib -r {}`", q(dir));
    (advice, Some(Action::OwnerWritable(dir.to_path_buf())))
}

/// msal-node waits on any existing lockfile until it gives up; Rust clears a dead holder's itself.
const NODE_ADVICE: &str = "msal-node has no stale-lock recovery and waits on it until it fails, while \
any msal-cache command or Rust program using msal-extensions clears a dead holder's lockfile by itself \
in under a millisecond";

fn lock_finding(lockfile: &Path, hint: &str) -> Finding {
    // The library never follows a symbolic link at the lockfile path, and
    // reports it as an I/O error: named here, with its own fix.
    if std::fs::symlink_metadata(lockfile).is_ok_and(|m| m.file_type().is_symlink()) {
        return not_a_lockfile(lockfile, "a symbolic link");
    }
    // The library opens the lockfile without blocking (a FIFO cannot hang
    // doctor) and names anything that is not a regular file.
    let state = match lock::inspect(lockfile) {
        Ok(s) => s,
        Err(Error::LockfileUnusable { found, .. }) => return not_a_lockfile(lockfile, found),
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
    // The library's word when the live pid evidently runs another program
    // now (a reused pid): stopping that process would be harmful.
    let advice = state.advice(lockfile);
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
            Some(advice.unwrap_or_else(|| {
                format!(
                    "wait for it to finish; if it is stuck, stop it{}, then run `{unlock}` ({NODE_ADVICE})",
                    pid.map(|p| format!(" (`kill {p}`)")).unwrap_or_default()
                )
            })),
        ),
        LockState::StaleDeadPid { .. } => stale(
            format!("stale: recorded by {who}, which is no longer running; safe to remove"),
            format!("run `{unlock}` ({NODE_ADVICE})"),
            lockfile,
        ),
        LockState::Unidentified { stale: true, .. } => stale(
            format!("stale: records no process id and is {who}; safe to remove"),
            format!("run `{unlock}` ({NODE_ADVICE})"),
            lockfile,
        ),
        _ => finding(
            Level::Warn,
            "lockfile",
            format!("records no process id yet and is recent ({who}): a process may be writing it"),
            Some(format!("run doctor again in 10 s; if it stays, `{unlock}`")),
        ),
    }
}

fn stale(message: String, advice: String, lockfile: &Path) -> Finding {
    let action = Some(Action::UnlockStale(lockfile.to_path_buf()));
    Finding { action, ..finding(Level::Problem, "lockfile", message, Some(advice)) }
}

/// A lockfile path that holds `what` (a symbolic link, or what the library
/// found there instead of a regular file): every process taking the lock
/// fails at once. The fix removes a link (not its target) and moves anything
/// else aside.
fn not_a_lockfile(lockfile: &Path, what: &str) -> Finding {
    let (fix, action) = if what == "a symbolic link" {
        let advice = format!("remove the link (not what it points to): `rm {}`", q(lockfile));
        (advice, Action::RemoveLink(lockfile.to_path_buf()))
    } else {
        let mut aside = lockfile.as_os_str().to_owned();
        aside.push(".not-a-lockfile");
        let advice = format!("move it aside: `mv {} {}`", q(lockfile), shell_quote(&aside));
        (advice, Action::MoveAside(lockfile.to_path_buf(), PathBuf::from(aside)))
    };
    let message =
        format!("{} is {what}, not a lockfile: every process taking the lock fails at once", shown(lockfile));
    Finding { action: Some(action), ..finding(Level::Problem, "lockfile", message, Some(fix)) }
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
            let msg = format!("cannot open: {}", crate::error_chain(e.as_ref()));
            let fix = e.downcast_ref::<Error>().map(|e| read_fix(src, e));
            return finding(Level::Problem, "content", msg, fix);
        }
    };
    let cache = src.cache_of(p);
    match cache.persistence().change_token() {
        Ok(t) if t.is_absent() => {
            let fix = Some("sign in with the tool that uses this cache first".into());
            return finding(Level::Warn, "content", "no cache stored yet".into(), fix);
        }
        Ok(_) => {}
        Err(e) => return unreadable(src, &e),
    }
    match cache.read(counts) {
        Ok(counted) => finding(Level::Ok, "content", counted, None),
        Err(Error::Corrupt { reason, .. }) => Finding {
            action: Some(Action::Repair),
            ..finding(
                Level::Problem,
                "content",
                format!(
                    "{} is not a valid token cache: {}",
                    clean(&cache.persistence().describe()),
                    clean(&reason)
                ),
                Some(format!(
                    "`msal-cache doctor --fix {hint}` keeps a copy of the bad content, then keeps the complete \
                     cache at its start if there is one (msal-node can leave junk after it), else empties the \
                     cache (sign in again then); programs using msal-extensions for Rust do the same by themselves"
                )),
            )
        },
        Err(e) => unreadable(src, &e),
    }
}

fn unreadable(src: &Source, e: &Error) -> Finding {
    let msg = format!("cannot read: {}", crate::error_chain(e));
    finding(Level::Problem, "content", msg, Some(read_fix(src, e)))
}

/// Copies of the cache kept beside it: quarantined corrupt content
/// (`.corrupt-*`) and the content commands replaced (`.backup-*`).
fn leftover_finding(location: &Path, role: LocationRole) -> Option<Finding> {
    let (dir, name) = (parent(location), location.file_name()?.to_str()?);
    // `<cache>.<tag>-<hash>`, named as the library names its copies.
    let infixes = [CopyReason::Corrupt, CopyReason::Replaced].map(|r| format!(".{}-", r.tag()));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(name))
                .is_some_and(|rest| infixes.iter().any(|i| rest.starts_with(i.as_str())))
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
    let kind = match role {
        LocationRole::EncryptedCache => "they are encrypted like the cache",
        _ => "they hold tokens in plaintext (0600)",
    };
    Some(finding(
        Level::Warn,
        "copies",
        format!("{} copies of the cache beside it in {}: {}", found.len(), shown(&dir), names.join(", ")),
        Some(format!("{kind}: delete them once you no longer need them: `rm {}`", quoted.join(" "))),
    ))
}

fn read_fix(src: &Source, e: &Error) -> String {
    match e {
        Error::Unavailable { .. } | Error::StoreLocked { .. } if src.spec.is_encrypted() => format!(
            "start or unlock the keyring (e.g. log in to a desktop session, or `gnome-keyring-daemon --unlock`), \
             or read a plaintext copy with `msal-cache tokens {} --backend file`",
            src.hint
        ),
        _ => format!("check the permissions of the file and of its folder: `ls -ld {}`", q(src.location())),
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

/// Whether this location's Secret Service item works (a probe item is
/// stored, read and deleted): a problem when the cache lives there.
fn store_finding(src: &Source) -> Finding {
    let level = if src.spec.is_encrypted() { Level::Problem } else { Level::Warn };
    match src.encrypted.open_verified() {
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
