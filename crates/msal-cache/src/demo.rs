//! `msal-cache demo`: the project's main job, shown with real processes.
//!
//! Spawns `--processes` copies of this program. Each adds `--updates` token
//! responses to one shared cache through [`PersistedTokenCache`] (one
//! cross-process lock round per token), in the platform's encrypted store
//! when there is one, else in a plaintext file (with a warning). Afterwards
//! every token is listed (fingerprints only, never secrets) and the demo
//! checks that none was lost: with the Python reference, most updates are
//! lost at a few dozen processes.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use clap::{Args, ValueEnum};
use msal_extensions::{
    EncryptedPersistenceBuilder, Fallback, PersistedTokenCache, Persistence, StoreSpec, TokenCache,
    TokenResponse,
};

use crate::output::{now, shown};
use crate::view::{token_rows, write_tokens_table};
use crate::{BoxResult, Outcome};

const CLIENT: &str = "msal-cache-demo";
const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
const CACHE_NAME: &str = "msal_token_cache.bin";

/// Options of `msal-cache demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many processes share the cache.
    #[arg(long, default_value_t = 8)]
    processes: usize,
    /// How many tokens each process adds.
    #[arg(long, default_value_t = 5)]
    updates: usize,
    /// Folder in which to create the demo's own new folder (kept afterwards; an existing cache
    /// is never touched). Default: a new private folder in the temp dir, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Use a plaintext file even where an encrypted store is available.
    #[arg(long)]
    plaintext: bool,
}

/// Options of the hidden worker subcommand.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    file: PathBuf,
    #[arg(long)]
    updates: usize,
    #[arg(long)]
    tag: String,
    #[arg(long, value_enum, default_value = "file")]
    store: Store,
}

/// The store the demo's processes share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Store {
    /// A plaintext file.
    File,
    /// This platform's encrypted store, with the library's default names for the path.
    Encrypted,
}

impl Store {
    fn spec(self, file: &Path) -> StoreSpec {
        match self {
            Store::File => StoreSpec::file(file),
            Store::Encrypted => StoreSpec::encrypted_default(file),
        }
    }
}

/// Runs the demo and reports to `out`.
pub fn run(args: &DemoArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    // Always a folder this run creates: an existing cache is never touched.
    let (parent, temporary) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", shown(d)))?;
            (d.clone(), false)
        }
        None => (std::env::temp_dir(), true),
    };
    let dir = fresh_private_dir(&parent)
        .map_err(|e| format!("cannot create a private folder in {}: {e}; give --dir", shown(&parent)))?;
    let file = dir.join(CACHE_NAME);
    let (persistence, store) = choose(&file, args.plaintext, out)?;
    writeln!(
        out,
        "{} processes each add {} tokens to one {} cache at {}",
        args.processes,
        args.updates,
        persistence.backend_name(),
        shown(&file)
    )?;
    out.flush()?;
    let started = Instant::now();
    let succeeded = wait_all(spawn_workers(&file, args, store)?)?;
    let elapsed = started.elapsed();
    let cache = TokenCache::parse_bytes(&persistence.load_bytes()?)?;
    write_tokens_table(out, &token_rows(&cache), now())?;
    let report = check(&cache, args, &succeeded);
    writeln!(out, "{report}")?;
    writeln!(out, "took {:.2} s", elapsed.as_secs_f64())?;
    if let Err(e) = if temporary { remove_all(store, &file, &dir) } else { Ok(()) } {
        writeln!(out, "note: could not remove the demo's cache: {}", crate::error_chain(e.as_ref()))?;
    }
    Ok(if report.ok() { Outcome::Ok } else { Outcome::Problem })
}

/// The encrypted store when it works here, else a plaintext file, said loudly.
fn choose(file: &Path, plaintext: bool, out: &mut impl Write) -> BoxResult<(Box<dyn Persistence>, Store)> {
    if plaintext {
        return Ok((Store::File.spec(file).open()?, Store::File));
    }
    let chosen = EncryptedPersistenceBuilder::new(file).fallback(Fallback::PlaintextFile).build()?;
    if let Some(why) = chosen.fallback_reason() {
        let why = crate::output::clean(&why.to_string());
        writeln!(out, "WARNING: no encrypted store here ({why}); the demo uses a plaintext file (0600)")?;
        return Ok((Store::File.spec(file).open()?, Store::File));
    }
    Ok((chosen.into_inner(), Store::Encrypted))
}

/// Creates a new folder in `parent` as `mkdtemp` does: a name nobody can
/// predict, created only if it did not exist (never an existing folder,
/// never through a symbolic link), `0700`, so it is ours alone.
pub fn fresh_private_dir(parent: &Path) -> io::Result<PathBuf> {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..64 {
        // Each RandomState is seeded from the OS's random source.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let dir = parent.join(format!("msal-cache-demo-{:016x}", h.finish()));
        match create_private(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "64 random names were all taken"))
}

#[cfg(unix)]
fn create_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    // The umask may have removed bits we need; it can never have added any.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir) // under the user's profile temp folder, which only they can open
}

/// Deletes the demo's folder and, when it used one, its Secret Service item,
/// so repeated runs leave nothing in the user's keyring.
fn remove_all(store: Store, file: &Path, dir: &Path) -> BoxResult<()> {
    if store == Store::Encrypted {
        store.spec(file).open()?.delete()?;
    }
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

fn spawn_workers(file: &Path, args: &DemoArgs, store: Store) -> BoxResult<Vec<Child>> {
    let exe = std::env::current_exe()?;
    let store = store.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    (0..args.processes)
        .map(|i| {
            Command::new(&exe)
                .arg("demo-worker")
                .arg(file)
                .args(["--updates", &args.updates.to_string(), "--tag", &format!("p{i}"), "--store", &store])
                .stdin(Stdio::null())
                .spawn()
                .map_err(Into::into)
        })
        .collect()
}

/// Which workers (by index) exited successfully.
fn wait_all(children: Vec<Child>) -> io::Result<Vec<bool>> {
    children.into_iter().map(|mut c| Ok(c.wait()?.success())).collect()
}

fn scope(tag: &str, i: usize) -> String {
    format!("api://msal-cache-demo/{tag}.{i}")
}

/// What the shared cache holds after the run. A token is lost when the
/// worker that added it succeeded and it is missing; a worker that failed
/// (its error is printed above the table) may not have added its tokens, so
/// they are counted apart rather than called lost.
struct Report {
    expected: usize,
    found: usize,
    failed_workers: usize,
}

impl Report {
    fn ok(&self) -> bool {
        self.found == self.expected && self.failed_workers == 0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = self.expected - self.found;
        let verdict = if lost == 0 { "OK: nothing lost" } else { "FAILED: tokens were lost" };
        write!(f, "{verdict}: {} of {} tokens present, {lost} lost", self.found, self.expected)?;
        if self.failed_workers > 0 {
            write!(
                f,
                "\nFAILED: {} worker(s) stopped with an error (above); their tokens are not counted",
                self.failed_workers
            )?;
        }
        Ok(())
    }
}

fn check(cache: &TokenCache, args: &DemoArgs, succeeded: &[bool]) -> Report {
    let present: HashSet<&str> = cache.access_tokens().filter_map(|(_, t)| t.target.as_deref()).collect();
    let expected: Vec<String> = (0..args.processes)
        .filter(|&p| succeeded.get(p).copied().unwrap_or(false))
        .flat_map(|p| (0..args.updates).map(move |u| scope(&format!("p{p}"), u)))
        .collect();
    let found = expected.iter().filter(|s| present.contains(s.as_str())).count();
    let failed_workers = succeeded.iter().filter(|&&ok| !ok).count();
    Report { expected: expected.len(), found, failed_workers }
}

/// One worker: `updates` tokens added through a [`PersistedTokenCache`].
pub fn worker(args: &WorkerArgs) -> BoxResult<Outcome> {
    add_tokens(&PersistedTokenCache::new(args.store.spec(&args.file).open()?), args)
}

fn add_tokens<P: Persistence>(cache: &PersistedTokenCache<P>, args: &WorkerArgs) -> BoxResult<Outcome> {
    for i in 0..args.updates {
        let secret = format!("demo-secret-{}-{i}-{}", args.tag, std::process::id());
        let body = serde_json::json!({"access_token": secret, "expires_in": 3600, "token_type": "Bearer"});
        let response = TokenResponse::from_value(CLIENT, [scope(&args.tag, i)], AUTHORITY, body)?;
        cache.add(&response)?;
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(processes: usize, updates: usize) -> DemoArgs {
        DemoArgs { processes, updates, dir: None, plaintext: false }
    }

    /// The cache after workers `tags` each added `updates` tokens.
    fn cache_with(tags: &[&str], updates: usize) -> TokenCache {
        let mut cache = TokenCache::new();
        for tag in tags {
            for i in 0..updates {
                let body =
                    serde_json::json!({"access_token": "x", "expires_in": 3600, "token_type": "Bearer"});
                cache
                    .add(&TokenResponse::from_value(CLIENT, [scope(tag, i)], AUTHORITY, body).unwrap())
                    .unwrap();
            }
        }
        cache
    }

    #[test]
    fn a_failed_worker_is_reported_as_failed_not_as_lost_tokens() {
        let report = check(&cache_with(&["p0", "p2"], 2), &args(3, 2), &[true, false, true]);
        let text = report.to_string();
        assert!(!report.ok());
        assert!(text.starts_with("OK: nothing lost: 4 of 4 tokens present, 0 lost"), "{text}");
        assert!(text.contains("FAILED: 1 worker(s) stopped with an error"), "{text}");
    }

    #[test]
    fn a_missing_token_of_a_successful_worker_is_lost() {
        let report = check(&cache_with(&["p0"], 1), &args(2, 1), &[true, true]);
        assert!(!report.ok());
        assert_eq!(report.to_string(), "FAILED: tokens were lost: 1 of 2 tokens present, 1 lost");
        assert!(check(&cache_with(&["p0", "p1"], 1), &args(2, 1), &[true, true]).ok());
    }
}
