//! The Python package msal-extensions-rs, run by the programs it is for.
//!
//! `scripts/py-package.sh` builds the wheel and a venv holding it beside
//! Microsoft's msal-extensions 1.3.1, azure-identity and azure-cli-core, and
//! exports `MSALX_PY_PACKAGE_PYTHON` (the venv's python) and
//! `MSALX_PY_UPSTREAM_SDIST` (the reference's sdist, for its tests/).
//! `scripts/test.sh` runs these tests inside a private Secret Service
//! (`scripts/with-secret-service.sh`); with CI=true a missing peer fails.
//!
//! - the reference's own test suite passes on the package, libsecret tests included;
//! - the package's pytest suites: API and behaviour (`tests/py/test_api.py`),
//!   sharing with the reference (`test_cross_compat.py`), Azure Identity and
//!   Azure CLI unchanged (`test_azure.py`);
//! - a mixed fleet of Python and Rust processes on a loaded machine loses
//!   nothing (and the same fleet on the reference shows what it loses);
//! - the package and the Rust crate share files, lockfiles and Secret Service items.

#[path = "../../msal-extensions/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, peer_missing, worker_args, worker_command};
use msal_extensions::{
    AccessTokenQuery, CrossPlatLock, Error, FilePersistence, LockOptions, PersistedTokenCache, Persistence,
    SecretServicePersistence, TokenResponse,
};
use serde_json::Value;

const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
const CLIENT: &str = "shared_client";

/// The venv's python, or `None` after the peer rule (panic in CI, loud skip elsewhere).
fn package_python() -> Option<PathBuf> {
    match std::env::var_os("MSALX_PY_PACKAGE_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => peer_missing(
            "the msal-extensions-rs package (MSALX_PY_PACKAGE_PYTHON)",
            "run scripts/py-package.sh, or the whole suite with scripts/test.sh",
        ),
    }
}

fn secret_service_available() -> bool {
    if std::env::var("WITH_SECRET_SERVICE").as_deref() == Ok("1") {
        return true;
    }
    peer_missing::<()>("a Secret Service", "run under scripts/with-secret-service.sh");
    false
}

fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Runs `python -m pytest <args>` in `cwd`; fails with its output unless it passed.
fn pytest(py: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(py)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "-rfEs", "--tb=short"])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("start pytest");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "pytest {args:?} failed (output above)");
    text
}

/// `tests/py/peer.py <args>` on the package (`rs`) or on the reference.
fn peer(py: &Path, rs: bool, args: &[&str]) -> Command {
    let mut c = Command::new(py);
    c.arg(py_dir().join("peer.py")).args(args).env("MSAL_EXTENSIONS_RS", if rs { "on" } else { "off" });
    c.stdin(Stdio::null());
    c
}

fn json_of(out: Output) -> Value {
    assert!(out.status.success(), "peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    PersistedTokenCache::new(FilePersistence::new(path).unwrap())
}

fn has_token(c: &PersistedTokenCache<FilePersistence>, scope: &str) -> bool {
    c.access_token(&AccessTokenQuery::new(CLIENT, [scope])).unwrap().is_some()
}

#[test]
#[ignore = "needs the msal-extensions-rs wheel (scripts/py-package.sh); scripts/test.sh runs it"]
fn the_references_own_test_suite_passes_on_the_package() {
    let Some(py) = package_python() else { return };
    let Some(sdist) = std::env::var_os("MSALX_PY_UPSTREAM_SDIST").map(PathBuf::from) else {
        peer_missing::<()>(
            "the msal-extensions 1.3.1 sdist (MSALX_PY_UPSTREAM_SDIST)",
            "run scripts/py-package.sh",
        );
        return;
    };
    // The sdist's tests/ plus our stand-ins for the helpers it leaves out, in
    // a folder without the sdist's own msal_extensions/ package.
    let s = Scratch::new("py-upstream");
    let tests = s.path("tests");
    std::fs::create_dir_all(&tests).unwrap();
    let standins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream");
    for dir in [sdist.join("tests"), standins] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tests.join(entry.file_name())).unwrap();
        }
    }
    let out = pytest(&py, &s.0, &["tests"]);
    // Every test that can run on Linux, the libsecret ones included (the
    // reference itself fails those without PyGObject).
    let linux = [
        "test_agnostic_backend.py::test_token_cache_roundtrip_with_persistence_builder",
        "test_agnostic_backend.py::test_token_cache_roundtrip_with_file_persistence",
        "test_agnostic_backend.py::test_file_not_found_error_is_not_raised",
        "test_cache_lock_file_perf.py::test_lock_for_normal_workload",
        "test_cache_lock_file_perf.py::test_lock_for_high_workload",
        "test_cache_lock_file_perf.py::test_lock_for_timeout",
        "test_crossplatlock.py::test_ensure_file_deleted",
        "test_persistence.py::test_file_persistence",
        "test_persistence.py::test_nonexistent_file_persistence",
        "test_persistence.py::test_libsecret_persistence",
        "test_persistence.py::test_nonexistent_libsecret_persistence",
    ];
    for t in linux {
        assert!(out.contains(&format!("tests/{t} PASSED")), "{t} did not pass");
    }
}

#[test]
#[ignore = "needs the msal-extensions-rs wheel (scripts/py-package.sh); scripts/test.sh runs it"]
fn the_packages_api_and_sharing_with_the_reference() {
    let Some(py) = package_python() else { return };
    pytest(&py, &py_dir(), &["test_api.py", "test_cross_compat.py"]);
}

#[test]
#[ignore = "needs the msal-extensions-rs wheel (scripts/py-package.sh); scripts/test.sh runs it"]
fn azure_identity_and_azure_cli_run_unchanged_on_the_package() {
    let Some(py) = package_python() else { return };
    pytest(&py, &py_dir(), &["test_azure.py"]);
}

const TOKENS_PER_PROCESS: usize = 10;

/// Worker entry point (a no-op unless started by `worker_command`): for
/// scopes `<args[1]>-<i>`, TOKENS_PER_PROCESS times what an MSAL client
/// does for a token request: look it up (a miss), then add it. Like the
/// Python workers (`peer.py add-many`), it first creates `<go>.<prefix>`
/// and waits for the file `<go>` (args[2]), so that all start together.
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_add_tokens() {
    let Some(args) = worker_args() else { return };
    let c = cache(Path::new(&args[0]));
    std::fs::write(format!("{}.{}", args[2], args[1]), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !Path::new(&args[2]).exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 0..TOKENS_PER_PROCESS {
        let scope = format!("{}-{i}", args[1]);
        assert!(!has_token(&c, &scope));
        let body = format!(r#"{{"access_token": "at-{scope}", "expires_in": 3600}}"#);
        c.add(&TokenResponse::new(CLIENT, [scope.as_str()], AUTHORITY, &body).unwrap()).unwrap();
    }
}

/// Child processes killed (by their own pid) when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct FleetResult {
    rust_kept: usize,
    python_kept: usize,
    python_errors: Vec<Value>,
    took: Duration,
}

/// 8 Python processes (on the package, or on the reference) and 8 Rust
/// processes, interleaved, each adding TOKENS_PER_PROCESS tokens to one cache.
fn run_fleet(py: &Path, rs: bool, dir: &Path) -> FleetResult {
    let path = dir.join("msal_token_cache.json");
    let p = path.to_str().unwrap().to_owned();
    let go = dir.join("go");
    let g = go.to_str().unwrap().to_owned();
    let mut rust = Vec::new();
    let mut python = Vec::new();
    for n in 0..8 {
        let args = [p.clone(), format!("rust{n}"), g.clone()];
        rust.push(worker_command("worker_add_tokens", &args).stdout(Stdio::null()).spawn().unwrap());
        let args = ["add-many", &p, &format!("py{n}"), &TOKENS_PER_PROCESS.to_string(), &g];
        python.push(peer(py, rs, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    }
    let ready = || {
        let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name());
        names.filter(|n| n.to_string_lossy().starts_with("go.")).count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready() < 16 {
        assert!(Instant::now() < deadline, "the workers did not all get ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    std::fs::write(&go, "").unwrap();
    for mut c in rust {
        assert!(c.wait().unwrap().success(), "a Rust worker failed");
    }
    let python_errors = python
        .into_iter()
        .map(|c| {
            let v = json_of(c.wait_with_output().unwrap());
            assert_eq!(v["rs"], rs, "the worker ran on the wrong implementation: {v}");
            v["errors"].clone()
        })
        .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    let took = started.elapsed();
    let c = cache(&path);
    let kept = |who: &str| {
        (0..8)
            .flat_map(|n| (0..TOKENS_PER_PROCESS).map(move |i| (n, i)))
            .filter(|(n, i)| has_token(&c, &format!("{who}{n}-{i}")))
            .count()
    };
    FleetResult { rust_kept: kept("rust"), python_kept: kept("py"), python_errors, took }
}

#[test]
#[ignore = "needs the msal-extensions-rs wheel (scripts/py-package.sh); scripts/test.sh runs it"]
fn a_mixed_fleet_on_a_loaded_machine_loses_nothing() {
    let Some(py) = package_python() else { return };
    // Four busy loops beside the fleet: the machine has 2 cores. On disk, not
    // tmpfs: Rust saves `fsync` the new file before renaming it over the
    // cache, which widens the window in which the reference's clock test
    // (`_last_sync < mtime`) misses a write, as it does on real machines.
    let _load = Children(
        (0..4).map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap()).collect(),
    );
    let all = 16 * TOKENS_PER_PROCESS;
    for round in 0..3 {
        let s = Scratch::new("py-fleet");
        let r = run_fleet(&py, true, &s.0);
        println!(
            "package round {round}: kept {} of {all} ({} Rust, {} Python) in {:.1} s",
            r.rust_kept + r.python_kept,
            r.rust_kept,
            r.python_kept,
            r.took.as_secs_f64()
        );
        assert!(r.python_errors.is_empty(), "Python workers failed: {:?}", r.python_errors);
        assert_eq!((r.rust_kept, r.python_kept), (all / 2, all / 2), "round {round} lost tokens");
    }
    // The same fleet with Microsoft's package in the Python processes: its
    // losses are the point of this package; printed, never a failure.
    let s = Scratch::new("py-fleet-ref");
    let r = run_fleet(&py, false, &s.0);
    println!(
        "REFERENCE (msal-extensions 1.3.1): kept {} of {all}: {} of {} Rust tokens, {} of {} Python tokens, \
         in {:.1} s; Python errors: {:?}",
        r.rust_kept + r.python_kept,
        r.rust_kept,
        all / 2,
        r.python_kept,
        all / 2,
        r.took.as_secs_f64(),
        r.python_errors
    );
}

#[test]
#[ignore = "needs the msal-extensions-rs wheel (scripts/py-package.sh); scripts/test.sh runs it"]
fn the_package_and_the_rust_crate_share_files_lockfiles_and_items() {
    let Some(py) = package_python() else { return };
    let s = Scratch::new("py-rust-share");

    // The token cache file, both ways.
    let path = s.path("msal_token_cache.json");
    let p = path.to_str().unwrap();
    let body = r#"{"access_token": "from-rust", "expires_in": 3600}"#;
    cache(&path).add(&TokenResponse::new(CLIENT, ["rs-scope"], AUTHORITY, body).unwrap()).unwrap();
    let found = json_of(peer(&py, true, &["find", p, "rs-scope"]).output().unwrap());
    assert_eq!(found["secret"], "from-rust");
    json_of(peer(&py, true, &["add-many", p, "py", "3"]).output().unwrap());
    let c = cache(&path);
    assert!((0..3).all(|i| has_token(&c, &format!("py-{i}"))) && has_token(&c, "rs-scope"));

    // The lockfile, both ways.
    let lockfile = s.path("msal_token_cache.json.lockfile");
    let lf = lockfile.to_str().unwrap();
    let mut holder = peer(&py, true, &["hold-lock", lf, "2"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let short = LockOptions::new().timeout(Duration::from_millis(300));
    assert!(
        matches!(short.acquire(&lockfile), Err(Error::LockTimeout { .. })),
        "Python's lock excludes Rust"
    );
    drop(LockOptions::new().timeout(Duration::from_secs(20)).acquire(&lockfile).unwrap());
    assert!(holder.wait().unwrap().success());
    let held = CrossPlatLock::acquire(&lockfile).unwrap();
    let tried = json_of(peer(&py, true, &["try-lock", lf, "0.3"]).output().unwrap());
    assert_eq!(tried["result"], "LockError", "Rust's lock excludes Python: {tried}");
    held.release().unwrap();
    let tried = json_of(peer(&py, true, &["try-lock", lf, "5"]).output().unwrap());
    assert_eq!(tried["result"], "acquired");

    // The Secret Service item (Azure Identity's Linux names), both ways.
    if !secret_service_available() {
        return;
    }
    let signal = s.path("IdentityService/msal.cache.nocae");
    let rust_item = SecretServicePersistence::builder(&signal)
        .schema_name("msal.cache.nocae")
        .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
        .label("MSALCache")
        .build()
        .unwrap();
    rust_item.save(r#"{"from": "rust"}"#).unwrap();
    let sig = signal.to_str().unwrap();
    let loaded = json_of(peer(&py, true, &["secret-load", sig]).output().unwrap());
    assert_eq!(loaded["content"], r#"{"from": "rust"}"#);
    json_of(peer(&py, true, &["secret-save", sig, r#"{"from": "python"}"#]).output().unwrap());
    assert_eq!(rust_item.load().unwrap(), r#"{"from": "python"}"#);
    rust_item.delete().unwrap();
}
