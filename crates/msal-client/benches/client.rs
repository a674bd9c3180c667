//! msal-client's acquisition costs, side by side with MSAL Python 1.39 +
//! msal-extensions 1.3.1 in the same run, against the local identity
//! provider (msal-test-idp, HTTPS on 127.0.0.1):
//!
//! 1. **warm silent**: `acquire_token_silent` in a process that already
//!    loaded a 1,000-token cache (the token is valid): per-call median and p99;
//!    MSAL Python's `acquire_token_silent` on the same file alongside.
//! 2. **cold renewal**: one process, expired token: requests reaching the
//!    IdP (expected: exactly one token request, no discovery).
//! 3. **herd**: 64 processes start at once with one expired access token:
//!    token requests at the IdP and wall time until all 64 hold a token,
//!    ours vs MSAL Python + msal-extensions.
//!
//! Run: `bash scripts/bench-client.sh` (or `cargo bench -p msal-client --bench client`
//! with `MSALX_PYTHON` set; without it the Python columns are skipped).
//! Options: `-- --herd 64 --iters 20000 --delay-ms 100`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msal_client::azure_cli::AZURE_CLI_CLIENT_ID;
use msal_client::{Account, Authority, HttpOptions, PublicClient};
use msal_extensions::{FilePersistence, PersistedTokenCache, TokenCache, TokenResponse};
use msal_test_idp::Idp;

const SCOPE: &str = "https://management.azure.com/.default";
const WORKER: &str = "MSALC_BENCH_WORKER";

struct Opts {
    herd: usize,
    iters: usize,
    delay_ms: u64,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Opts {
        herd: get("--herd", 64) as usize,
        iters: get("--iters", 20_000) as usize,
        delay_ms: get("--delay-ms", 100),
    }
}

fn cache_at(path: &Path) -> Arc<PersistedTokenCache<FilePersistence>> {
    Arc::new(PersistedTokenCache::new(FilePersistence::new(path).expect("cache path")))
}

fn client(
    cache: Arc<PersistedTokenCache<FilePersistence>>,
    host: &str,
    ca_pem: &str,
) -> PublicClient<FilePersistence> {
    let http = HttpOptions::new().trusted_roots_pem(ca_pem.as_bytes()).expect("CA");
    PublicClient::new(AZURE_CLI_CLIENT_ID, cache)
        .with_authority(Authority::entra(host, msal_test_idp::TENANT).expect("authority"))
        .with_http(http)
}

/// Worker process: wait for the start file, one silent acquisition, exit.
fn worker(args: &str) {
    let v: Vec<&str> = args.split('\u{1f}').collect();
    let (cache, host, ca, go) = (v[0], v[1], v[2], v[3]);
    println!("ready");
    // Bounded as the tests' workers are: a parent that died never leaves a worker polling.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(go).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let ca_pem = std::fs::read_to_string(ca).expect("CA file");
    let app = client(cache_at(Path::new(cache)), host, &ca_pem);
    let account = app.accounts().expect("accounts").into_iter().next().expect("an account");
    let r = app.acquire_token_silent(&account, &[SCOPE]).expect("silent");
    assert!(!r.access_token.expose().is_empty());
}

fn python() -> Option<PathBuf> {
    std::env::var_os("MSALX_PYTHON").map(PathBuf::from).filter(|p| p.exists())
}

fn py_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/py/msal_bench.py")
}

fn stats(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[(xs.len() * 99 / 100).min(xs.len() - 1)])
}

/// Signs the test user in with a device code (approved over HTTPS), the
/// access token valid for `lifetime` seconds.
fn sign_in(idp: &Idp, cache: &Path, lifetime: u64) -> Account {
    idp.set_expires_in(lifetime);
    let app = client(cache_at(cache), &idp.host(), idp.ca_pem());
    let ca = idp.ca_pem().to_owned();
    let r = app
        .acquire_token_by_device_code(&[SCOPE], |info| {
            let cert = ureq::tls::Certificate::from_pem(ca.as_bytes()).expect("CA");
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build();
            let agent = ureq::Agent::config_builder().tls_config(tls).build().new_agent();
            agent
                .get(format!("{}?user_code={}", info.verification_uri, info.user_code))
                .call()
                .expect("approve");
        })
        .expect("sign in");
    idp.set_expires_in(3600);
    r.account.expect("account")
}

/// 999 other access tokens, so the cache holds 1,000.
fn fill(cache: &Path) {
    let c = cache_at(cache);
    c.modify(|tc: &mut TokenCache| {
        for i in 0..999 {
            let body =
                serde_json::json!({"access_token": format!("other token {i}"), "expires_in": 86400 * 365});
            let scope = format!("https://graph.microsoft.com/s{i:04}");
            tc.add(&TokenResponse::from_value(
                &format!("client-{}", i % 10),
                [scope],
                "https://127.0.0.1/t",
                body,
            )?)?;
        }
        Ok(())
    })
    .expect("fill cache");
}

fn warm(idp: &Idp, dir: &Path, o: &Opts) {
    println!("\n== warm silent acquisition, 1,000-token cache, {} calls", o.iters);
    let path = dir.join("warm.json");
    sign_in(idp, &path, 3600);
    fill(&path);
    let app = client(cache_at(&path), &idp.host(), idp.ca_pem());
    let account = app.accounts().expect("accounts").remove(0);
    let before = idp.count("token");
    let mut xs = Vec::with_capacity(o.iters);
    for _ in 0..o.iters {
        let t = Instant::now();
        let r = app.acquire_token_silent(&account, &[SCOPE]).expect("warm silent");
        xs.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(r);
    }
    let (med, p99) = stats(xs);
    println!(
        "rust   acquire_token_silent: median {med:.2} us, p99 {p99:.2} us (token requests: {})",
        idp.count("token") - before
    );
    if let Some(py) = python() {
        let out = run_py(
            &py,
            &[
                "warm",
                &path.display().to_string(),
                &authority_url(idp),
                &ca(idp),
                AZURE_CLI_CLIENT_ID,
                SCOPE,
                "2000",
            ],
        );
        println!("python acquire_token_silent: {}", out.trim());
    } else {
        println!("python: SKIPPED (MSALX_PYTHON not set)");
    }
}

fn cold(idp: &Idp, dir: &Path) {
    println!("\n== cold renewal: one process, expired access token");
    let path = dir.join("cold.json");
    sign_in(idp, &path, 120);
    idp.reset_counts();
    let app = client(cache_at(&path), &idp.host(), idp.ca_pem());
    let account = app.accounts().expect("accounts").remove(0);
    let t = Instant::now();
    app.acquire_token_silent(&account, &[SCOPE]).expect("renewal");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let total: u64 = idp.counts().iter().filter(|(k, _)| !k.contains(':')).map(|(_, v)| v).sum();
    println!(
        "rust: {total} HTTP request(s): token {}, discovery {}; {ms:.1} ms (new TLS connection, IdP without delay)",
        idp.count("token"),
        idp.count("discovery")
    );
}

fn authority_url(idp: &Idp) -> String {
    format!("{}/{}", idp.base_url(), msal_test_idp::TENANT)
}

fn ca(idp: &Idp) -> String {
    idp.ca_path().display().to_string()
}

fn run_py(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).arg(py_script()).args(args).output().expect("run python");
    assert!(out.status.success(), "msal_bench.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `n` processes from `make`, waits until each says it is ready
/// (started, libraries loaded), releases them together, waits for all.
fn herd_run(n: usize, go: &Path, make: impl Fn() -> Command) -> (f64, usize, Vec<String>) {
    use std::io::BufRead;
    let _ = std::fs::remove_file(go);
    let mut children: Vec<_> = (0..n)
        .map(|_| make().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn"))
        .collect();
    for c in &mut children {
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("ready line");
        assert_eq!(line.trim(), "ready", "a member failed to start");
    }
    let t = Instant::now();
    std::fs::write(go, "").expect("go");
    let (mut ok, mut failures) = (0, Vec::new());
    for c in children {
        let out = c.wait_with_output().expect("wait");
        if out.status.success() {
            ok += 1;
        } else {
            failures.push(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").to_owned());
        }
    }
    (t.elapsed().as_secs_f64() * 1e3, ok, failures)
}

fn herd(idp: &Idp, dir: &Path, o: &Opts) {
    println!("\n== herd: {} processes, one expired access token, IdP answers in {} ms", o.herd, o.delay_ms);
    let go = dir.join("go");
    let path = dir.join("herd-rust.json");
    sign_in(idp, &path, 120);
    idp.set_token_delay(Duration::from_millis(o.delay_ms));
    idp.reset_counts();
    let exe = std::env::current_exe().expect("exe");
    let args = [path.display().to_string(), idp.host(), ca(idp), go.display().to_string()].join("\u{1f}");
    let (ms, ok, failures) = herd_run(o.herd, &go, || {
        let mut c = Command::new(&exe);
        c.env(WORKER, &args);
        c
    });
    println!(
        "rust:   {} token request(s) at the IdP; {ok}/{} served; {ms:.0} ms from release to all served",
        idp.count("token"),
        o.herd
    );
    report_failures(&failures);

    let Some(py) = python() else {
        println!("python: SKIPPED (MSALX_PYTHON not set)");
        return;
    };
    idp.set_token_delay(Duration::ZERO);
    let path = dir.join("herd-python.json");
    sign_in(idp, &path, 120);
    idp.set_token_delay(Duration::from_millis(o.delay_ms));
    idp.reset_counts();
    let (p, a, c, g) = (path.display().to_string(), authority_url(idp), ca(idp), go.display().to_string());
    let (ms, ok, failures) = herd_run(o.herd, &go, || {
        let mut cmd = Command::new(&py);
        cmd.arg(py_script()).args(["herd", &p, &a, &c, AZURE_CLI_CLIENT_ID, SCOPE, &g]);
        cmd
    });
    println!(
        "python: {} token request(s) at the IdP (+{} discovery GETs); {ok}/{} served; {ms:.0} ms from release to all served",
        idp.count("token"),
        idp.count("discovery"),
        o.herd
    );
    report_failures(&failures);
}

/// How many members failed, by their last line of stderr.
fn report_failures(failures: &[String]) {
    let mut by: Vec<(String, usize)> = Vec::new();
    for f in failures {
        match by.iter_mut().find(|(m, _)| m == f) {
            Some((_, n)) => *n += 1,
            None => by.push((f.clone(), 1)),
        }
    }
    for (msg, n) in by {
        println!("        {n} member(s) failed: {msg}");
    }
}

fn main() {
    if let Ok(args) = std::env::var(WORKER) {
        worker(&args);
        return;
    }
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` / listing: nothing to run
    }
    let o = opts();
    let dir = std::env::temp_dir().join(format!("msalc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let idp = Idp::start();
    idp.register_public_client(AZURE_CLI_CLIENT_ID, Some("1"));
    println!(
        "# msal-client bench: {} cpus, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    warm(&idp, &dir, &o);
    cold(&idp, &dir);
    herd(&idp, &dir, &o);
    drop(idp);
    let _ = std::fs::remove_dir_all(&dir);
}
