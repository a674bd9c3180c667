//! What the Python package's integration tests share: finding the package's
//! venv (the peer rule), running pytest and `tests/py/peer.py`, and reading
//! a token cache with the Rust crate.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use msal_extensions::{AccessTokenQuery, FilePersistence, PersistedTokenCache};
use serde_json::Value;

use crate::common::peer_missing;

pub const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
pub const CLIENT: &str = "shared_client";

/// The venv's python, or `None` after the peer rule (panic in CI, loud skip elsewhere).
pub fn package_python() -> Option<PathBuf> {
    match std::env::var_os("MSALX_PY_PACKAGE_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => peer_missing(
            "the msal-extensions-rs package (MSALX_PY_PACKAGE_PYTHON)",
            "run scripts/py-package.sh, or the whole suite with scripts/test.sh",
        ),
    }
}

pub fn secret_service_available() -> bool {
    if std::env::var("WITH_SECRET_SERVICE").as_deref() == Ok("1") {
        return true;
    }
    peer_missing::<()>("a Secret Service", "run under scripts/with-secret-service.sh");
    false
}

pub fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Runs `python -m pytest <args>` in `cwd`; fails with its output unless it passed.
pub fn pytest(py: &Path, cwd: &Path, args: &[&str]) -> String {
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
pub fn peer(py: &Path, rs: bool, args: &[&str]) -> Command {
    let mut c = Command::new(py);
    c.arg(py_dir().join("peer.py")).args(args).env("MSAL_EXTENSIONS_RS", if rs { "on" } else { "off" });
    c.stdin(Stdio::null());
    c
}

pub fn json_of(out: Output) -> Value {
    assert!(out.status.success(), "peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub fn cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    PersistedTokenCache::new(FilePersistence::new(path).unwrap())
}

pub fn has_token(c: &PersistedTokenCache<FilePersistence>, scope: &str) -> bool {
    c.access_token(&AccessTokenQuery::new(CLIENT, [scope])).unwrap().is_some()
}
