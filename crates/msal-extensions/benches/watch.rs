//! Change-notification benchmarks, run by `scripts/bench-watch.sh`.
//!
//! `cargo bench --bench watch -- [--quick] [--dir DIR]` (the dev-dependency on
//! this crate turns the `watch` feature on for benches). Works in a fresh
//! `msalx-bench-watch-<pid>` folder inside DIR (default: the temp dir) and
//! deletes only that one.
//!
//! - **Latency**: a peer process signs accounts in and out of the cache (one
//!   `PersistedTokenCache` write every 20-60 ms) and prints the wall-clock
//!   time each write returned; this process records when the matching event
//!   arrives from `PersistedTokenCache::watch`. p50 / p99 / max of the
//!   difference (targets: 20 / 100 ms). Anchor, same writes: a thread that
//!   polls the change token once a second, what a program without
//!   notification does (MSAL's other SDKs offer nothing better).
//! - **Idle cost**: with a subscription and no writes for 60 s (10 s with
//!   `--quick`), the context switches (voluntary + involuntary, from
//!   `/proc/self/task/*/status`) of the watcher threads, per minute. Anchor:
//!   a thread that polls the cache's change token once a second (what a
//!   program without notification does).
//! - **Threads**: `/proc/self/task` entries before anything, after reading
//!   and writing caches without a subscription, with 1 and with 20
//!   subscriptions, and after dropping them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use msal_extensions::{CacheEvent, FilePersistence, PersistedTokenCache, Persistence, TokenResponse};

const WORKER: &str = "MSALX_BENCH_WATCH_WORKER";
const CLIENT: &str = "bench-client";

fn main() {
    if let Ok(spec) = std::env::var(WORKER) {
        return writer(&spec);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let base = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map_or_else(std::env::temp_dir, PathBuf::from);
    // Our own folder inside the one given: never delete the user's.
    let dir = base.join(format!("msalx-bench-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let writes = if quick { 60 } else { 300 };
    let idle = Duration::from_secs(if quick { 10 } else { 60 });
    println!(
        "msal-extensions watch benchmarks (pid {}, {} cpus, {})",
        std::process::id(),
        cpus(),
        dir.display()
    );
    threads(&dir);
    latency(&dir, writes);
    idle_cost(&dir, idle);
    let _ = std::fs::remove_dir_all(&dir);
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `dir`, emptied (always inside this run's own folder), and the cache path in it.
fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    dir.join("msal_token_cache.json")
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

fn cache(path: &Path) -> Arc<PersistedTokenCache<FilePersistence>> {
    Arc::new(PersistedTokenCache::new(FilePersistence::new(path).unwrap()))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn sign_in(uid: &str) -> TokenResponse {
    let claims = format!(
        r#"{{"iss":"https://login.microsoftonline.com/t/v2.0","oid":"{uid}","preferred_username":"{uid}@contoso.com"}}"#
    );
    let body = format!(
        r#"{{"access_token":"at","expires_in":3600,"refresh_token":"rt","id_token":"{}.{}.s","client_info":"{}"}}"#,
        b64(r#"{"alg":"none"}"#),
        b64(&claims),
        b64(&format!(r#"{{"uid":"{uid}","utid":"t"}}"#))
    );
    TokenResponse::new(CLIENT, ["User.Read"], "https://login.microsoftonline.com/t", &body).unwrap()
}

/// The peer: `n path`. Write i signs `u<i>` in (even i) or `u<i-1>` out
/// (odd i) through a `PersistedTokenCache` with the default durability, and
/// prints `i <wall-clock ns>` once the write returned.
fn writer(spec: &str) {
    let (n, path) = spec.split_once(' ').unwrap();
    let n: usize = n.parse().unwrap();
    let c = PersistedTokenCache::new(FilePersistence::new(path).unwrap());
    let mut out = std::io::stdout().lock();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(20 + (x >> 33) % 40));
        if i % 2 == 0 {
            c.add(&sign_in(&format!("u{i}"))).unwrap();
        } else {
            c.remove_account(&format!("u{}.t", i - 1)).unwrap();
        }
        writeln!(out, "{i} {}", now_ns()).unwrap();
        out.flush().unwrap();
    }
}

/// Runs the peer and returns the completion time of each write.
fn run_writer(n: usize, path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env(WORKER, format!("{n} {}", path.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn completions(child: &mut std::process::Child) -> Vec<i128> {
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let done: Vec<i128> = lines.map(|l| l.unwrap().split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert!(child.wait().unwrap().success());
    done
}

fn report(label: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {label:<44} n={:<4} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        ms.len(),
        q(0.5),
        q(0.99),
        ms[ms.len() - 1]
    );
    q(0.5)
}

/// A program without notification: look at the change token every second.
/// Returns the times it saw a change, once stopped.
fn poller(path: &Path, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<i128>> {
    let (stop, p) = (stop.clone(), FilePersistence::new(path).unwrap());
    std::thread::Builder::new()
        .name("anchor-poller".into())
        .spawn(move || {
            let mut last = p.change_token().ok();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let now = p.change_token().ok();
                if now != last {
                    seen.push(now_ns());
                    last = now;
                }
            }
            seen
        })
        .unwrap()
}

fn latency(dir: &Path, writes: usize) {
    println!("\n## latency: peer's completed write -> event ({writes} writes, 20-60 ms apart)");
    let path = fresh(dir);
    let ours = cache(&path);
    // An account that stays, so that a sign-out and the next sign-in seen in one
    // look are two events (with none left, they would be one `Replaced`).
    ours.add(&sign_in("base")).unwrap();
    let sub = ours.watch().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let anchor = poller(&path, &stop);
    let mut child = run_writer(writes, &path);
    let mut got = vec![0i128; writes];
    let mut extra = 0;
    let deadline = Instant::now() + Duration::from_secs(writes as u64);
    let mut n = 0;
    while n < writes && Instant::now() < deadline {
        let Some(e) = sub.recv_timeout(Duration::from_secs(5)) else { break };
        let t = now_ns();
        match write_of(&e) {
            Some(i) if i < writes && got[i] == 0 => {
                got[i] = t;
                n += 1;
            }
            _ => extra += 1,
        }
    }
    let done = completions(&mut child);
    std::thread::sleep(Duration::from_millis(1100));
    stop.store(true, Ordering::Relaxed);
    let polled = anchor.join().unwrap();
    let missed = got.iter().filter(|t| **t == 0).count();
    let ms = |d: &i128, t: &i128| (t - d).max(0) as f64 / 1e6;
    let ours: Vec<f64> = done.iter().zip(&got).filter(|(_, g)| **g != 0).map(|(d, g)| ms(d, g)).collect();
    let polled: Vec<f64> =
        done.iter().filter_map(|d| polled.iter().find(|t| *t >= d).map(|t| ms(d, t))).collect();
    let o50 = report("PersistedTokenCache::watch event", ours);
    let a50 = report("anchor: 1 s change-token poller notices", polled);
    println!("  p50 ratio ours / anchor: {:.3}", o50 / a50);
    println!(
        "  writes with no event: {missed} (a sign-in and its sign-out inside one look cancel out); unexpected events: {extra}"
    );
}

/// Which write an event reports: sign-in of `u<i>` is write i, its sign-out write i + 1.
fn write_of(e: &CacheEvent) -> Option<usize> {
    let index = |hid: &str| hid.strip_prefix('u')?.strip_suffix(".t")?.parse::<usize>().ok();
    match e {
        CacheEvent::AccountAdded(a) => index(&a.home_account_id),
        CacheEvent::AccountRemoved(a) => index(&a.home_account_id).map(|i| i + 1),
        _ => None,
    }
}

/// Context switches of this process's threads whose name starts with one of `names`.
fn switches(names: &[&str]) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !names.iter().any(|n| comm.starts_with(n)) {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

fn idle_cost(dir: &Path, idle: Duration) {
    println!("\n## idle cost: {} s with a subscription and no writes", idle.as_secs());
    let path = fresh(dir);
    let c = cache(&path);
    c.add(&sign_in("idle")).unwrap();
    let sub = c.watch().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let anchor = poller(&path, &stop);
    std::thread::sleep(Duration::from_millis(200)); // let start-up settle
    let watcher_threads = ["msal-cache-watc", "notify-rs inoti"];
    let (w0, p0) = (switches(&watcher_threads), switches(&["anchor-poller"]));
    std::thread::sleep(idle);
    let (w1, p1) = (switches(&watcher_threads), switches(&["anchor-poller"]));
    stop.store(true, Ordering::Relaxed);
    anchor.join().unwrap();
    let per_min = |d: u64| d as f64 * 60.0 / idle.as_secs_f64();
    println!("  watcher threads (ours + notify's): {:>6.1} wake-ups/min", per_min(w1 - w0));
    println!("  anchor: a 1 s change-token poller:  {:>6.1} wake-ups/min", per_min(p1 - p0));
    assert!(sub.try_recv().is_none(), "no event without a write");
}

fn tasks() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn threads(dir: &Path) {
    println!("\n## threads (/proc/self/task)");
    let base = tasks();
    let paths: Vec<PathBuf> = (0..4).map(|i| fresh(&dir.join(format!("t{i}")))).collect();
    let caches: Vec<_> = paths.iter().map(|p| cache(p)).collect();
    for c in &caches {
        c.add(&sign_in("t")).unwrap();
        c.accounts().unwrap();
    }
    println!("  at start: {base}; after reads and writes, no subscription: {}", tasks());
    let one = caches[0].watch().unwrap();
    let with_one = tasks();
    let many: Vec<_> = (0..19).map(|i| caches[i % 4].watch().unwrap()).collect();
    println!("  1 subscription: {with_one}; 20 subscriptions on 4 folders: {}", tasks());
    drop((one, many));
    let deadline = Instant::now() + Duration::from_secs(5);
    while tasks() != base && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("  after dropping them all: {}", tasks());
}
