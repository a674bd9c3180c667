//! Fixtures shared by the integration tests: scratch folders, peer discovery
//! (Python, Secret Service, ...) with the CI rule, and re-running this test
//! binary as a worker process.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let d = std::env::temp_dir().join(format!("msalx-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `true` when running under CI (`CI=true`): missing peers are then failures.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// A required peer is missing: panic in CI, skip loudly elsewhere.
/// Returns `None` so callers can `let Some(x) = ... else { return }`.
pub fn peer_missing<T>(what: &str, how: &str) -> Option<T> {
    let msg = format!("{what} is not available: {how}");
    if in_ci() {
        panic!("CI=true and {msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    None
}

/// Whether a Secret Service runs on the session bus (`WITH_SECRET_SERVICE=1`,
/// set by `scripts/with-secret-service.sh`); when not, fails in CI and skips
/// loudly elsewhere ([`peer_missing`]).
pub fn secret_service() -> bool {
    std::env::var("WITH_SECRET_SERVICE").as_deref() == Ok("1")
        || peer_missing::<()>(
            "a Secret Service on the session bus (WITH_SECRET_SERVICE=1)",
            "run the tests under scripts/with-secret-service.sh (scripts/test.sh does)",
        )
        .is_some()
}

/// The Python interpreter from `scripts/python-peers.sh` (env `MSALX_PYTHON`,
/// or `MSALX_PYTHON_NO_PORTALOCKER` when `portalocker` is false).
pub fn python(portalocker: bool) -> Option<PathBuf> {
    let var = if portalocker { "MSALX_PYTHON" } else { "MSALX_PYTHON_NO_PORTALOCKER" };
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => peer_missing(
            &format!("Python msal-extensions ({var})"),
            "run the tests through scripts/test.sh, which creates the venvs",
        ),
    }
}

/// The folder holding this crate's Python helper scripts.
pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

/// Environment variable that turns a run of this test binary into a worker.
pub const WORKER_ENV: &str = "MSALX_TEST_WORKER";

/// A command that re-runs this test binary as a worker: it runs only the test
/// named `entry` (which must call [`worker_args`] and act on them). Callers
/// that do not read its stdout should null it, or the worker's own harness
/// summary line lands in this run's output.
pub fn worker_command(entry: &str, args: &[String]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([entry, "--exact", "--include-ignored", "--nocapture", "--test-threads=1", "-q"]);
    c.env(WORKER_ENV, args.join("\u{1f}"));
    c
}

/// The worker arguments if this process was started by [`worker_command`].
pub fn worker_args() -> Option<Vec<String>> {
    std::env::var(WORKER_ENV).ok().map(|s| s.split('\u{1f}').map(str::to_owned).collect())
}

/// base64url without padding, as `client_info` and JWT parts are encoded.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Every log record at every level, from every crate, as `LEVEL target: message`
/// lines (for tests that check no secret is ever logged).
pub struct LogCapture(std::sync::Mutex<Vec<String>>);

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!("{} {}: {}", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

static LOGS: LogCapture = LogCapture(std::sync::Mutex::new(Vec::new()));

/// Installs the capturing logger (once per test binary) and returns it.
pub fn capture_logs() -> &'static LogCapture {
    if log::set_logger(&LOGS).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    &LOGS
}

impl LogCapture {
    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Whether `bytes` contain `needle`.
pub fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Files under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| contains(&b, needle)) {
            hits.push(path);
        }
    }
    hits
}

/// Everything logged so far in this test binary.
pub fn captured_logs() -> String {
    LOGS.0.lock().unwrap().join("\n")
}

/// An error's `Display` and `Debug`, and those of its whole source chain.
pub fn error_chain<E: std::error::Error + 'static>(e: &E) -> String {
    let mut s = format!("{e} | {e:?}");
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(" | {c} | {c:?}"));
        cur = c.source();
    }
    s
}

/// The Node peers from `scripts/node-peers.sh`: the `node` binary (env
/// `MSALX_NODE`) and the `node_modules` folder holding msal-node,
/// msal-node-extensions and keytar (env `MSALX_NODE_MODULES`).
pub struct NodePeer {
    pub node: PathBuf,
    pub modules: PathBuf,
}

/// The Node peers, or [`peer_missing`] when `scripts/node-peers.sh` has not run.
pub fn node_peer() -> Option<NodePeer> {
    let var = |k: &str| std::env::var_os(k).map(PathBuf::from).filter(|p| p.exists());
    match (var("MSALX_NODE"), var("MSALX_NODE_MODULES")) {
        (Some(node), Some(modules)) => Some(NodePeer { node, modules }),
        _ => peer_missing(
            "msal-node and msal-node-extensions (MSALX_NODE, MSALX_NODE_MODULES)",
            "run the tests through scripts/test.sh, or eval \"$(bash scripts/node-peers.sh)\" and export both",
        ),
    }
}

impl NodePeer {
    /// `node tests/node/msal_peer.cjs ARGS...` with the peers on `NODE_PATH`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.node);
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/msal_peer.cjs")).args(args);
        c.env("NODE_PATH", &self.modules);
        c
    }
}
