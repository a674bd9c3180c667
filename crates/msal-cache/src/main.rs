//! `msal-cache`: see, check, repair and migrate MSAL token caches — the files
//! (or Secret Service items) that Azure CLI, Azure Identity, Visual Studio
//! and any program using MSAL with `msal-extensions` keep their tokens in.
//!
//! Every command works on `--cache PATH` (a plaintext file, or with
//! `--backend secret-service` the signal file of a Secret Service item) or on
//! `--preset NAME` (a Microsoft tool's cache), except `redis`, which lists a
//! Redis-backed distributed cache (cargo feature `redis`, on by default).
//! Secrets are never printed, but for the access token `token` prints on
//! purpose: elsewhere tokens are shown by a short fingerprint (`sha256:` + 8
//! hex digits) at most.
//! Terminal control characters in anything printed (cache content, file
//! names, errors) are shown escaped (`\x1b`), and the commands suggested in
//! messages are quoted for the shell so they can be pasted as they are.
//!
//! Environment: `MSAL_CACHE_NOW=<unix seconds>` pins "now" for the
//! relative times ("in 42 min", "expired") so output can be compared
//! byte for byte (the snapshot tests use it).
//!
//! Exit codes: 0 success; 1 the command ran but found a problem (`doctor`
//! findings, a lockfile that is held and was not removed, an account that is
//! not in the cache, a demo that lost tokens, `watch --count` not reached by
//! `--timeout`); 2 usage or operational error
//! (bad arguments, unreadable or corrupt cache, store unavailable, lock timeout).

mod demo;
#[cfg(feature = "redis")]
mod distributed;
mod doctor;
mod edit;
#[cfg(feature = "acquire")]
mod login;
mod migrate;
mod output;
mod sink;
mod source;
#[cfg(feature = "acquire")]
mod token;
mod transfer;
mod view;
mod watch;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See, check, repair and migrate MSAL token caches.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 problem found (doctor findings, lock still held, \
account not found, demo lost tokens, watch --count not reached by --timeout); 2 usage or operational error.";

#[derive(Debug, Subcommand)]
enum Command {
    /// List the accounts: username, home account id, environment, realm, clients holding tokens.
    Accounts(view::ViewArgs),
    /// List the tokens: kind, client, account, scopes, expiry, family id (secrets never shown).
    Tokens(view::ViewArgs),
    /// List the presets for Microsoft tools' caches, resolved on this machine (--json adds their sources).
    Presets(view::PresetsArgs),
    /// Check backend, encryption, permissions, folder, lockfile, content and secret store; say how to fix each finding (--fix applies the safe fixes).
    Doctor(doctor::DoctorArgs),
    /// Remove an account (by home account id or username) and all its tokens, under the lock; a copy of the content before is kept.
    RemoveAccount(edit::RemoveArgs),
    /// Remove every token and account (asks first unless --yes), keeping a copy; repairs a corrupt cache.
    Clear(edit::ClearArgs),
    /// Remove the lockfile if, and only if, it is provably stale (its process is gone).
    UnlockStale(source::SourceArgs),
    /// Move the cache to the encrypted store or to a plaintext file (the source is emptied or deleted; backups are kept).
    ///
    /// In one lock round: the content is copied to the destination and read back to verify it;
    /// what the destination held is kept as a recoverable copy (a destination holding tokens is
    /// refused unless --merge or --force); then the source is retired: a plaintext file is
    /// emptied (it stays as the encrypted item's signal file), an encrypted item is deleted. A
    /// copy of the source's content is kept first: a `<cache>.backup-<hash>` file (0600) for a
    /// plaintext source, a sibling item in the same store for an encrypted one. Every copy's
    /// place is printed. On any failure before the retirement the source is left as it was.
    Migrate(migrate::MigrateArgs),
    /// Print the cache as JSON, secrets redacted unless --include-secrets.
    Export(transfer::ExportArgs),
    /// Merge a cache exported with --include-secrets (or any MSAL cache file) into this one, under the lock: where both hold an entry, the newer one wins (as migrate --merge); a copy of the content before is kept.
    Import(transfer::ImportArgs),
    /// Several processes add tokens to one shared cache at once; then every token is listed and checked.
    Demo(demo::DemoArgs),
    /// Print an access token (--json: what `az account get-access-token -o json` prints), renewed silently if expired.
    #[cfg(feature = "acquire")]
    Token(token::TokenArgs),
    /// Sign a user in with a device code or the browser and save the tokens in the cache.
    #[cfg(feature = "acquire")]
    Login(login::LoginArgs),
    /// Print a line for every change another program makes: sign-in, sign-out, account changed, cleared (until Ctrl-C, --count or --timeout).
    ///
    /// Text lines hold the time (UTC), the kind (account-added, account-removed,
    /// account-changed, cleared, replaced), and the account's home account id, environment
    /// and username; --json prints one object per line instead. Token refreshes and writes
    /// that change no account print nothing. SIGINT and SIGTERM end it with exit code 0.
    Watch(watch::WatchArgs),
    /// List a Redis-backed distributed token cache: its partitions, or one partition's tokens (secrets never shown).
    #[cfg(feature = "redis")]
    Redis(distributed::RedisArgs),
    /// One demo process (started by `demo`).
    #[command(hide = true)]
    DemoWorker(demo::WorkerArgs),
}

/// What a command asks `main` to exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: the command ran and found a problem.
    Problem,
}

/// The error type of every command: printed with its sources, exit 2.
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    match try_main() {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(io::stderr(), "msal-cache: {}", output::clean(&error_chain(e.as_ref())));
            ExitCode::from(2)
        }
    }
}

fn try_main() -> BoxResult<Outcome> {
    let cli = Cli::parse();
    let stdout = io::stdout();
    // Whatever a command prints passes the terminal-safety backstop.
    let mut out = output::Escaping::new(io::BufWriter::new(stdout.lock()));
    let outcome = run(cli.command, &mut out)?;
    out.flush()?;
    Ok(outcome)
}

fn run(command: Command, out: &mut impl Write) -> BoxResult<Outcome> {
    match command {
        Command::Accounts(a) => view::accounts(&a, out),
        Command::Tokens(a) => view::tokens(&a, out),
        Command::Presets(a) => view::presets(&a, out),
        Command::Doctor(a) => doctor::run(&a, out),
        Command::RemoveAccount(a) => edit::remove_account(&a, out),
        Command::Clear(a) => edit::clear(&a, out),
        Command::UnlockStale(a) => edit::unlock_stale(&a, out),
        Command::Migrate(a) => migrate::migrate(&a, out),
        Command::Export(a) => transfer::export(&a, out),
        Command::Import(a) => transfer::import(&a, out),
        Command::Demo(a) => demo::run(&a, out),
        Command::DemoWorker(a) => demo::worker(&a),
        #[cfg(feature = "acquire")]
        Command::Token(a) => token::run(&a, out),
        #[cfg(feature = "acquire")]
        Command::Login(a) => login::run(&a, out),
        Command::Watch(a) => watch::run(&a, out),
        #[cfg(feature = "redis")]
        Command::Redis(a) => distributed::run(&a, out),
    }
}

/// The error and its sources, each printed once (a source whose text the
/// message already ends with, as some wrapped errors repeat theirs, is not
/// printed again).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}
