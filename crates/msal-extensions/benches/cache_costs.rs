//! Token cache costs, measured the way the Python reference
//! (`anchor-bench/cache_costs.py`) measures msal-extensions, for caches of
//! 10 / 1,000 / 10,000 access tokens:
//!
//! - search by scopes with the file unchanged (one `stat` + an index lookup);
//! - search right after *another process* rewrote the file (reload + parse);
//! - one `add` (lock, stat, apply, serialise, atomic save, unlock), with and
//!   without `fsync` (the reference never syncs);
//! - load+parse and serialise alone; heap memory held by the parsed cache.
//!
//! Run: `cargo bench --bench cache_costs [-- --sizes 10 1000 --iters 200 --dir /tmp/x]`.
//! The file is written in MSAL Python's format (indent 4) so that the reload
//! parses the same bytes the reference parses.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use msal_extensions::{
    AccessTokenQuery, Durability, FilePersistence, PersistedTokenCache, Persistence, TokenCache,
    TokenResponse,
};

const CLIENT: &str = "my_client_id";
const ENDPOINT: &str = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
const FAR: i64 = 10 * 365 * 24 * 3600;
/// base64url of {"uid": "uid", "utid": "utid"}, as in the reference.
const CLIENT_INFO: &str = "eyJ1aWQiOiAidWlkIiwgInV0aWQiOiAidXRpZCJ9";

fn scope(i: usize) -> String {
    format!("https://graph.microsoft.com/s{i:06}")
}

fn event(i: usize) -> TokenResponse {
    let body = format!(
        r#"{{"access_token": "an access token {i}", "token_type": "some type", "expires_in": {FAR}, "client_info": "{CLIENT_INFO}"}}"#
    );
    TokenResponse::new(CLIENT, [scope(i)], ENDPOINT, &body).expect("BUG: bench response")
}

fn stats(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    let med = xs[xs.len() / 2];
    let p90 = xs[(xs.len() * 9 / 10).min(xs.len() - 1)];
    (med, p90)
}

fn time<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_secs_f64() * 1e6, r)
}

/// Counts live heap bytes, so the memory held by a parsed cache is exact
/// (an RSS delta would miss memory reused from earlier frees).
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts sizes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as ours; the system allocator may grow in place.
        unsafe { std::alloc::System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_kib() -> usize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) / 1024
}

fn build_file(path: &Path, n: usize) -> usize {
    let mut c = TokenCache::new();
    for i in 0..n {
        c.add(&event(i)).expect("BUG: bench add");
    }
    let text = c.serialize_pretty();
    FilePersistence::new(path).unwrap().save(&text).unwrap();
    text.len()
}

/// Another process that re-saves the file on request (`resave` on stdin).
struct Helper {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Helper {
    fn start(path: &Path) -> Helper {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--helper", path.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Helper { child, out }
    }

    fn resave(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap(), "resave").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "done");
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn helper_main(path: &str) {
    let p = FilePersistence::new(path).unwrap().with_durability(Durability::ProcessCrash);
    let content = p.load_bytes().unwrap();
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        if line.unwrap().trim() == "resave" {
            p.save_bytes(&content).unwrap();
        }
        println!("done");
    }
}

fn bench_size(n: usize, iters: usize, dir: &Path) {
    let path = dir.join(format!("cache_{n}.json"));
    let size = build_file(&path, n);
    println!("\n== {n} access tokens: file {:.1} KiB (Python's indent-4 format)", size as f64 / 1024.0);

    let bytes = std::fs::read(&path).unwrap();
    let live0 = live_kib();
    let (parse_us, parsed) = time(|| TokenCache::parse_bytes(&bytes).unwrap());
    let held = live_kib().saturating_sub(live0);
    let (ser_us, s) = time(|| parsed.serialize());
    let (ser_pretty_us, _) = time(|| parsed.serialize_pretty());
    println!(
        "  load+parse alone {:.2} ms; serialise compact {:.2} ms ({:.1} KiB), indent-4 {:.2} ms",
        parse_us / 1e3,
        ser_us / 1e3,
        s.len() as f64 / 1024.0,
        ser_pretty_us / 1e3
    );
    println!("  heap held by the parsed cache: {held} KiB");
    drop(parsed);

    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap());
    let (cold_us, _) = time(|| {
        cache.access_token(&AccessTokenQuery::new(CLIENT, [scope(0).as_str()]).account("uid.utid")).unwrap()
    });
    println!("  cold first search (load+parse+index)      : {:9.2} ms", cold_us / 1e3);

    let xs: Vec<f64> = (0..iters.min(2000))
        .map(|j| {
            let s = scope((j * 7919) % n);
            let q = AccessTokenQuery::new(CLIENT, [s.as_str()]).account("uid.utid");
            let (us, r) = time(|| cache.access_token(&q).unwrap());
            assert!(r.is_some());
            us
        })
        .collect();
    let (m, p) = stats(xs);
    println!("  (a) unchanged file, search by scopes        : median {m:9.1} us  p90 {p:9.1} us");

    let mut helper = Helper::start(&path);
    let it_b = if n >= 10_000 { 60 } else { iters }.max(10);
    let xs: Vec<f64> = (0..it_b)
        .map(|j| {
            helper.resave();
            let s = scope((j * 7919) % n);
            let q = AccessTokenQuery::new(CLIENT, [s.as_str()]).account("uid.utid");
            let (us, r) = time(|| cache.access_token(&q).unwrap());
            assert!(r.is_some());
            us
        })
        .collect();
    drop(helper);
    let (m, p) = stats(xs);
    println!("  (b) after a foreign write, search by scopes : median {m:9.1} us  p90 {p:9.1} us");

    let it_c = if n >= 10_000 { 40 } else { iters }.max(10);
    for (label, durability) in [
        ("no fsync, like the reference", Durability::ProcessCrash),
        ("fsync (default)", Durability::PowerLoss),
    ] {
        let c = PersistedTokenCache::new(FilePersistence::new(&path).unwrap().with_durability(durability));
        c.access_token(&AccessTokenQuery::new(CLIENT, [scope(0).as_str()]).account("uid.utid")).unwrap(); // sync
        let base = if durability == Durability::PowerLoss { 30_000_000 } else { 20_000_000 };
        let xs: Vec<f64> = (0..it_c).map(|j| time(|| c.add(&event(base + j)).unwrap()).0).collect();
        let (m, p) = stats(xs);
        println!("  (c) one add, {label:<29}: median {:9.3} ms  p90 {:9.3} ms", m / 1e3, p / 1e3);
    }
}

/// `--parse-only FILE...`: the fastest of 20 parses of each file (noise-resistant).
fn parse_only(files: &[String]) {
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let best =
            (0..20).map(|_| time(|| TokenCache::parse_bytes(&bytes).unwrap()).0).fold(f64::MAX, f64::min);
        println!("{f}: {} bytes, parse min {:.3} ms", bytes.len(), best / 1e3);
        let skip = (0..20)
            .map(|_| time(|| serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).unwrap()).0)
            .fold(f64::MAX, f64::min);
        let value = (0..20)
            .map(|_| time(|| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()).0)
            .fold(f64::MAX, f64::min);
        println!("   skip-only (validate) {:.3} ms, serde_json::Value {:.3} ms", skip / 1e3, value / 1e3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--helper") {
        return helper_main(&args[1]);
    }
    if args.first().map(String::as_str) == Some("--parse-only") {
        return parse_only(&args[1..]);
    }
    let mut sizes = vec![10, 1000, 10_000];
    let mut iters = 200;
    let mut dir = std::env::temp_dir().join("msalx-cachebench");
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sizes" => {
                sizes.clear();
                while let Some(n) = args.get(i + 1).and_then(|a| a.parse().ok()) {
                    sizes.push(n);
                    i += 1;
                }
            }
            "--iters" => {
                iters = args[i + 1].parse().expect("--iters N");
                i += 1;
            }
            "--dir" => {
                dir = PathBuf::from(&args[i + 1]);
                i += 1;
            }
            _ => {} // `cargo bench` passes `--bench`
        }
        i += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!("msal-extensions (Rust) cache costs; files in {}", dir.display());
    for n in sizes {
        bench_size(n, iters, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
