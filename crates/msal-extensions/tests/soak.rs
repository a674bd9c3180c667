//! Soak: 32 processes doing mixed reads, adds and removals on one
//! `PersistedTokenCache` for a while (default 120 s; `MSALX_SOAK_SECS`), then a
//! consistency check: every committed add is present unless its account was
//! removed, every removal stuck, the file parses, and no temporary file or
//! lockfile is left behind.
#![cfg(unix)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Scratch;
use msal_extensions::{
    AccessTokenQuery, FilePersistence, LockOptions, PersistedTokenCache, TokenCache, TokenResponse,
};

const AUTHORITY: &str = "https://login.microsoftonline.com/soak-tenant";
const APP: &str = "soak-app";
const WORKERS: usize = 32;
/// Cap on adds per worker, so the cache (re-parsed on every foreign write) stays a few MB.
const MAX_ADDS: usize = 40;

use common::b64url;

fn app_response(scope: &str) -> TokenResponse {
    let body =
        format!(r#"{{"access_token": "secret-{scope}", "expires_in": 86400, "token_type": "Bearer"}}"#);
    TokenResponse::new(APP, [scope], AUTHORITY, &body).unwrap()
}

/// A user sign-in: client_info makes the home account id `<uid>.soak-tenant`.
fn user_response(uid: &str, scope: &str) -> TokenResponse {
    let client_info = b64url(format!(r#"{{"uid": "{uid}", "utid": "soak-tenant"}}"#).as_bytes());
    let claims = b64url(
        format!(r#"{{"sub": "{uid}", "oid": "{uid}", "preferred_username": "{uid}@soak"}}"#).as_bytes(),
    );
    let id_token = format!("{}.{claims}.sig", b64url(br#"{"alg":"none"}"#));
    let body = format!(
        r#"{{"access_token": "secret-{scope}", "expires_in": 86400, "refresh_token": "rt-{uid}",
            "client_info": "{client_info}", "id_token": "{id_token}"}}"#
    );
    TokenResponse::new(APP, [scope], AUTHORITY, &body).unwrap().grant_type("authorization_code")
}

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    let [path, id, secs, log] = &args[..] else { panic!("bad args {args:?}") };
    soak_worker(Path::new(path), id, Duration::from_secs(secs.parse().unwrap()), Path::new(log));
}

/// Random mixed operations; every operation that returned Ok is logged
/// *after* it returned, so the log lists only committed changes.
fn soak_worker(path: &Path, id: &str, run: Duration, log: &Path) {
    // The opening burst oversubscribes the lock on purpose (32 processes, a
    // few milliseconds apart, each holding it for a reload of a megabyte-sized
    // cache in a debug build on a small machine). The lock is not FIFO, so one
    // waiter's wait has a long tail there; this test is about losing nothing,
    // so a waiter may wait as long as the soak runs, and the parent reports the
    // slowest mutation. A lock that is never released still fails the test.
    let cache = PersistedTokenCache::new(FilePersistence::new(path).unwrap())
        .lock_options(LockOptions::default().timeout(run + Duration::from_secs(60)));
    let mut log = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut rng = (u64::from(std::process::id()) * 2_654_435_761) | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut added, mut users): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let end = Instant::now() + run;
    let mut n = 0;
    // Longest mutation (lock wait + reload + save), reported by the parent.
    let mut slowest = Duration::ZERO;
    let mut timed = |started: Instant| slowest = slowest.max(started.elapsed());
    while Instant::now() < end {
        // Think time, as an application has between cache operations: 32
        // workers re-parsing a multi-megabyte cache in a tight loop would only
        // measure how a debug build starves two cores.
        std::thread::sleep(Duration::from_micros(1000 + next() % 9000));
        let roll = next() % 10;
        if roll < 2 && n < MAX_ADDS {
            let scope = format!("soak/{id}/{n}");
            let t = Instant::now();
            cache.add(&app_response(&scope)).unwrap();
            timed(t);
            writeln!(log, "A {scope}").unwrap();
            added.push(scope);
            n += 1;
        } else if roll < 3 && n < MAX_ADDS {
            let (uid, scope) = (format!("{id}u{n}"), format!("user/{id}/{n}"));
            let t = Instant::now();
            cache.add(&user_response(&uid, &scope)).unwrap();
            timed(t);
            writeln!(log, "U {uid}.soak-tenant {scope}").unwrap();
            users.push(format!("{uid}.soak-tenant"));
            n += 1;
        } else if roll < 4 && !users.is_empty() {
            let hai = users.swap_remove((next() % users.len() as u64) as usize);
            let t = Instant::now();
            assert!(cache.remove_account(&hai).unwrap() > 0, "{hai} vanished before its removal");
            timed(t);
            writeln!(log, "R {hai}").unwrap();
        } else if !added.is_empty() {
            let scope = &added[(next() % added.len() as u64) as usize];
            let found = cache.access_token(&AccessTokenQuery::new(APP, [scope.as_str()])).unwrap();
            assert!(found.is_some(), "worker {id}: committed token {scope} not found by a read");
        }
    }
    writeln!(log, "S {}", slowest.as_micros()).unwrap();
}

#[test]
#[ignore = "a 120 s soak; scripts/test.sh runs it"]
fn soak_mixed_operations_lose_nothing() {
    let secs: u64 = std::env::var("MSALX_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let dir = Scratch::new("soak");
    let path = dir.path("msal_token_cache.json");
    let logs: Vec<_> = (0..WORKERS).map(|i| dir.path(&format!("log.{i}"))).collect();
    let mut children: Vec<_> = (0..WORKERS)
        .map(|i| {
            let args = [
                path.display().to_string(),
                format!("w{i}"),
                secs.to_string(),
                logs[i].display().to_string(),
            ];
            common::worker_command("worker_entry", &args).stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for (i, c) in children.iter_mut().enumerate() {
        assert!(c.wait().unwrap().success(), "soak worker {i} failed");
    }
    let text = fs::read_to_string(&path).unwrap();
    let cache = TokenCache::parse(&text).expect("the cache parses after the soak");
    let (mut apps, mut users, mut removed) = (0, 0, 0);
    let mut slowest: Vec<u64> = Vec::new();
    for log in &logs {
        let log = fs::read_to_string(log).unwrap_or_default();
        let gone: HashSet<&str> = log.lines().filter_map(|l| l.strip_prefix("R ")).collect();
        removed += gone.len();
        for line in log.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["S", micros] => slowest.push(micros.parse().unwrap()),
                ["A", scope] => {
                    apps += 1;
                    assert!(
                        cache.access_token(&AccessTokenQuery::new(APP, [scope])).is_some(),
                        "lost {scope}"
                    );
                }
                ["U", hai, scope] => {
                    users += 1;
                    let q = AccessTokenQuery::new(APP, [scope]).account(hai);
                    let present = cache.access_token(&q).is_some();
                    assert_eq!(
                        present,
                        !gone.contains(hai),
                        "{hai}: present={present}, removed={}",
                        gone.contains(hai)
                    );
                    let account = cache.accounts().any(|a| a.home_account_id.as_deref() == Some(hai));
                    assert_eq!(account, !gone.contains(hai), "account {hai}");
                }
                _ => {}
            }
        }
    }
    let names: BTreeSet<String> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // The cache, and the lock's guard, which stays by design (lock/companion.rs).
    const KEPT: [&str; 2] = ["msal_token_cache.json", "msal_token_cache.json.lockfile.guard"];
    let stray: Vec<_> =
        names.iter().filter(|n| !n.starts_with("log.") && !KEPT.contains(&n.as_str())).collect();
    assert!(stray.is_empty(), "left behind: {stray:?}");
    slowest.sort_unstable();
    eprintln!(
        "soak {secs} s x {WORKERS} processes: {apps} app adds, {users} sign-ins, {removed} removals, all consistent; \
         slowest mutation per worker: median {} ms, worst {} ms",
        slowest.get(slowest.len() / 2).copied().unwrap_or(0) / 1000,
        slowest.last().copied().unwrap_or(0) / 1000,
    );
    assert!(apps + users > WORKERS, "too little work was done to prove anything");
}
