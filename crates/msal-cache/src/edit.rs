//! Commands that change a cache or its lockfile: `remove-account`, `clear`,
//! `unlock-stale` (`migrate`, `export` and `import` have their own modules).
//! Every change goes through [`PersistedTokenCache`](msal_extensions::PersistedTokenCache)
//! under the cross-process lock, so running MSAL programs never lose an
//! update, and keeps a recoverable copy of the content it replaces.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use msal_extensions::lock::{self, LockState};
use msal_extensions::{Error, TokenCache};

use crate::output::{clean, shown};
use crate::source::{SourceArgs, say_copy};
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
    let cache = src.cache()?;
    let (removed, report) = cache
        .modify_reporting(|c| {
            let ids = matching_ids(c, &args.account);
            Ok(ids.iter().map(|id| c.remove_account(id)).sum::<usize>())
        })
        .map_err(|e| src.explain(e))?;
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
    say_copy(out, report.copy.as_ref(), "the content before the removal")?;
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

/// `msal-cache clear`: empties the cache in one lock round, keeping a
/// recoverable copy of what it held. A corrupt cache is repaired this way:
/// its content is kept as a copy and the cache starts empty.
pub fn clear(args: &ClearArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    if !args.yes && !confirm(&format!("Remove every token and account from {}?", shown(src.location())))? {
        writeln!(out, "nothing changed")?;
        return Ok(Outcome::Problem);
    }
    let cache = src.cache()?;
    let lock = cache.lock()?;
    let held = cache.holding(&lock)?;
    let before = match held.snapshot() {
        Ok(c) => Ok(c.len()),
        Err(Error::Corrupt { reason, .. }) => Err(reason),
        Err(e) => return Err(e.into()),
    };
    let report = held.replace(TokenCache::new())?;
    lock.release()?;
    match before {
        Ok(0) if !report.written => writeln!(out, "nothing to clear: the cache holds no tokens or accounts")?,
        Ok(n) => {
            writeln!(out, "removed {n} entries; every program using this cache will ask to sign in again")?
        }
        Err(reason) => writeln!(
            out,
            "the cache was corrupt ({}): emptied it; every program using it will ask to sign in again",
            clean(&reason)
        )?,
    }
    say_copy(out, report.copy.as_ref(), "the content it held")?;
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
        s if s.is_held() => {
            // A reused pid: the library says what to do instead of stopping an unrelated program.
            let what_to_do = state.advice(&path).unwrap_or_else(|| {
                let kill = state.holder().and_then(|h| h.pid).map(|p| format!(" (`kill {p}`)"));
                format!("wait for it, or if it is stuck stop it{}", kill.unwrap_or_default())
            });
            (
                format!("not removed: {shown} is held by a running process ({who}); {what_to_do}"),
                Outcome::Problem,
            )
        }
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

/// A name from the command line or a file, quoted and terminal-safe.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", clean(name))
}
