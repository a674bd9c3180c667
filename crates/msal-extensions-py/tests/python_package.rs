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
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Scratch, peer_missing};
use msal_extensions::{
    CrossPlatLock, Error, LockOptions, Persistence, SecretServicePersistence, TokenResponse,
};
use support::{
    AUTHORITY, CLIENT, cache, has_token, json_of, package_python, peer, py_dir, pytest,
    secret_service_available,
};

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
