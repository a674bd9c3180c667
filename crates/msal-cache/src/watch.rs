//! `watch`: one line per change another program makes to the cache (a
//! sign-in, a sign-out, an account that changed, a clear), as the library's
//! change notification reports it (`PersistedTokenCache::on_change`), until
//! interrupted or until `--count` events or `--timeout` seconds.
//!
//! The events arrive on the library's watcher thread and the signals
//! (SIGINT, SIGTERM, SIGHUP; Ctrl-C and Ctrl-Break on Windows) on `ctrlc`'s
//! thread; both go into one channel that this thread blocks on, so nothing
//! wakes up while nothing happens.

use std::io::{self, Write};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use clap::Args;
use msal_extensions::{AccountSummary, CacheEvent, WatchOptions};
use serde_json::{Value, json};

use crate::output::{clean, now, utc};
use crate::source::SourceArgs;
use crate::{BoxResult, Outcome};

/// Options of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print one JSON object per line (time, kind, accounts) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this many seconds (with --count: exit 1 if fewer events came).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        // Capped at a year: a huge timeout means "no timeout", not an overflow.
        Ok(secs) if secs >= 0.0 => Ok(Duration::from_secs_f64(secs.min(365.0 * 86_400.0))),
        _ => Err("expected a number of seconds, 0 or more".to_owned()),
    }
}

/// What the main thread waits for.
enum Msg {
    Event(CacheEvent),
    /// A signal asked us to stop.
    Stop,
    /// `--timeout` passed.
    TimedOut,
}

/// `msal-cache watch`.
pub fn run(args: &WatchArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let cache = Arc::new(src.cache()?);
    let (tx, rx) = mpsc::channel();
    let stop = tx.clone();
    // Before subscribing: a signal that comes while the baseline is read still ends us cleanly.
    ctrlc::set_handler(move || {
        let _ = stop.send(Msg::Stop);
    })?;
    let place = clean(&cache.persistence().describe());
    if cache.persistence().change_token()?.is_absent() {
        eprintln!("msal-cache: note: no token cache at {place} yet; its first sign-in will be shown");
    }
    let _subscription = cache
        .on_change(WatchOptions::new(), move |e| {
            let _ = tx.send(Msg::Event(e));
        })
        .map_err(|e| src.explain(e))?;
    // On stderr, so stdout holds only events; tests and scripts wait for it before writing.
    eprintln!("msal-cache: watching {place} (Ctrl-C to stop)");
    stream(&rx, args, out)
}

/// Prints events as they come until a signal, `--count` or `--timeout`.
fn stream(rx: &mpsc::Receiver<Msg>, args: &WatchArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let deadline = args.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut seen = 0u64;
    while args.count.is_none_or(|n| seen < n) {
        match next(rx, deadline) {
            Msg::Stop => break,
            Msg::TimedOut => return Ok(timed_out(args.count, seen)),
            Msg::Event(e) => {
                let line = if args.json { json_line(&e, now()) } else { text_line(&e, now()) };
                if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                    return reader_gone(err);
                }
                seen += 1;
            }
        }
    }
    Ok(Outcome::Ok)
}

/// The next message, blocking until it comes or `deadline` passes. The
/// senders (the subscription's callback, the signal handler) live until
/// the process ends; should they be gone, there is nothing left to wait for.
fn next(rx: &mpsc::Receiver<Msg>, deadline: Option<Instant>) -> Msg {
    let Some(deadline) = deadline else { return rx.recv().unwrap_or(Msg::Stop) };
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(m) => m,
        Err(mpsc::RecvTimeoutError::Timeout) => Msg::TimedOut,
        Err(mpsc::RecvTimeoutError::Disconnected) => Msg::Stop,
    }
}

/// The end of `--timeout`: a problem only when `--count` events were expected and did not all come.
fn timed_out(count: Option<u64>, seen: u64) -> Outcome {
    match count {
        Some(n) if seen < n => {
            eprintln!("msal-cache: {seen} of {n} events came before the timeout");
            Outcome::Problem
        }
        _ => Outcome::Ok,
    }
}

/// A failed write to stdout. A closed pipe (`msal-cache watch | head -1`)
/// means the reader has all it wanted: end quietly with 0, at once, since
/// `main`'s final flush would only meet the closed pipe again.
fn reader_gone(err: io::Error) -> BoxResult<Outcome> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(err.into())
}

/// `2030-03-17 17:46:40Z  account-added    uid.utid  login.microsoftonline.com  ada@contoso.com`;
/// a `replaced` event lists the accounts now in the cache, `; `-separated.
/// Every field is escaped (a newline in a username cannot fake a line).
fn text_line(e: &CacheEvent, time: i64) -> String {
    let accounts: Vec<String> = e
        .accounts()
        .iter()
        .map(|a| {
            let user = a.username.as_deref().filter(|u| !u.is_empty()).unwrap_or("-");
            format!("{}  {}  {}", clean(&a.home_account_id), clean(&a.environment), clean(user))
        })
        .collect();
    let line = format!("{}  {:<15}  {}", utc(time), e.kind(), accounts.join("; "));
    line.trim_end().to_owned()
}

/// `{"time": 1900000000, "kind": "account-added", "accounts": [{...}]}` on one line.
fn json_line(e: &CacheEvent, time: i64) -> String {
    let accounts: Vec<Value> = e.accounts().iter().map(account_json).collect();
    json!({"time": time, "kind": e.kind(), "accounts": accounts}).to_string()
}

fn account_json(a: &AccountSummary) -> Value {
    json!({"home_account_id": a.home_account_id, "environment": a.environment,
           "username": a.username, "realms": a.realms})
}
