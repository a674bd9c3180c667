//! One cache file shared with the real MSAL Python (`msal` 1.39 and
//! `msal-extensions` 1.3.1 from PyPI), driven offline by tests/py/msal_peer.py.
//! Needs `MSALX_PYTHON` (see `scripts/python-peers.sh`): fails under CI=true
//! without it, skips loudly otherwise.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Scratch, py_script, python, worker_args, worker_command};
use msal_extensions::{AccessTokenQuery, FilePersistence, PersistedTokenCache, TokenResponse};
use serde_json::{Value, json};

const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
const GRAPH: &str = "https://graph.microsoft.com/.default";

fn py_command(py: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(py);
    c.arg(py_script("msal_peer.py")).args(args);
    c
}

/// Runs a msal_peer.py command and returns its JSON output.
fn run_py(py: &Path, args: &[&str]) -> Value {
    let out = py_command(py, args).output().expect("start python");
    assert!(out.status.success(), "python {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    PersistedTokenCache::new(FilePersistence::new(path).unwrap())
}

fn b64(v: &Value) -> String {
    common::b64url(v.to_string())
}

#[test]
#[ignore = "needs Python msal and msal-extensions; scripts/test.sh runs it"]
fn python_token_is_found_by_rust() {
    let Some(py) = python(true) else { return };
    let s = Scratch::new("interop-py2rs");
    let path = s.path("cache.json");
    let r = run_py(&py, &["cc_acquire", path.to_str().unwrap(), "py_client", GRAPH, "secret-from-python"]);
    assert_eq!(r["token_source"], "identity_provider", "{r}");
    let q = AccessTokenQuery::new("py_client", [GRAPH]);
    let at = cache(&path).access_token(&q).unwrap().expect("Rust finds the token Python stored");
    assert_eq!(at.secret.as_ref().unwrap().expose(), "secret-from-python");
    assert_eq!(at.realm.as_deref(), Some("contoso.onmicrosoft.com"));
    assert!(cache(&path).access_token(&AccessTokenQuery::new("other_client", [GRAPH])).unwrap().is_none());
}

#[test]
#[ignore = "needs Python msal and msal-extensions; scripts/test.sh runs it"]
fn rust_client_credentials_token_is_a_python_cache_hit() {
    let Some(py) = python(true) else { return };
    let s = Scratch::new("interop-rs2py-cc");
    let path = s.path("cache.json");
    let body = r#"{"access_token": "secret-from-rust", "expires_in": "3599", "token_type": "Bearer"}"#;
    let r =
        TokenResponse::new("rs_client", [GRAPH], AUTHORITY, body).unwrap().grant_type("client_credentials");
    cache(&path).add(&r).unwrap();
    let out = run_py(&py, &["cc_cached", path.to_str().unwrap(), "rs_client", GRAPH]);
    assert_eq!(out["token_source"], "cache", "{out}");
    assert_eq!(out["access_token"], "secret-from-rust", "{out}");
    assert_eq!(out["posts"], 0);
}

#[test]
#[ignore = "needs Python msal and msal-extensions; scripts/test.sh runs it"]
fn rust_user_sign_in_is_listed_and_silent_in_python() {
    let Some(py) = python(true) else { return };
    let s = Scratch::new("interop-rs2py-user");
    let path = s.path("cache.json");
    let claims = json!({"iss": "https://login.microsoftonline.com/utid9/v2.0", "sub": "sub9", "oid": "oid9",
                        "aud": "rs_public", "preferred_username": "ada@contoso.com"});
    let response = json!({
        "access_token": "user-at-from-rust", "expires_in": 3600, "token_type": "Bearer",
        "refresh_token": "user-rt-from-rust", "scope": "User.Read",
        "id_token": format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims)),
        "client_info": b64(&json!({"uid": "uid9", "utid": "utid9"})),
    });
    let r = TokenResponse::from_value("rs_public", ["User.Read"], AUTHORITY, response)
        .unwrap()
        .grant_type("authorization_code");
    cache(&path).add(&r).unwrap();
    let out = run_py(&py, &["pca_silent", path.to_str().unwrap(), "rs_public", "User.Read"]);
    assert_eq!(
        out["accounts"],
        json!([{"username": "ada@contoso.com", "home_account_id": "uid9.utid9"}]),
        "{out}"
    );
    assert_eq!(out["access_token"], "user-at-from-rust", "{out}");
    assert_eq!(out["token_source"], "cache");
    assert_eq!(out["posts"], 0, "no HTTP");
}

#[test]
#[ignore = "needs Python msal and msal-extensions; scripts/test.sh runs it"]
fn python_cache_with_unknown_data_survives_a_rust_round_trip() {
    let Some(py) = python(true) else { return };
    let s = Scratch::new("interop-roundtrip");
    let path = s.path("cache.json");
    run_py(&py, &["write_rich", path.to_str().unwrap()]);
    let original = s.path("original.json");
    std::fs::copy(&path, &original).unwrap();

    let c = cache(&path);
    assert_eq!(c.accounts().unwrap()[0].username.as_deref(), Some("rich@contoso.com"));
    let body = r#"{"access_token": "added-by-rust", "expires_in": 3600}"#;
    c.add(&TokenResponse::new("rich_client", ["api://x/.default"], AUTHORITY, body).unwrap()).unwrap();

    let check = run_py(&py, &["check_superset", original.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(check["missing"], json!([]), "{check}");
    let app = run_py(&py, &["cc_cached", path.to_str().unwrap(), "rich_client", GRAPH]);
    assert_eq!(
        (app["access_token"].as_str(), app["token_source"].as_str()),
        (Some("py-app-at"), Some("cache"))
    );
    let user = run_py(&py, &["pca_silent", path.to_str().unwrap(), "rich_client", "User.Read"]);
    assert_eq!(user["access_token"], "py-user-at", "{user}");
    let added = run_py(&py, &["cc_cached", path.to_str().unwrap(), "rich_client", "api://x/.default"]);
    assert_eq!(added["access_token"], "added-by-rust", "{added}");
}

const PER_PROCESS: usize = 5;

/// Worker entry point (a no-op unless started by `worker_command`): adds
/// PER_PROCESS tokens to the cache at args[0] with scopes `<args[1]>-<i>`.
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_add_many() {
    let Some(args) = worker_args() else { return };
    let c = cache(Path::new(&args[0]));
    for i in 0..PER_PROCESS {
        let scope = format!("{}-{i}", args[1]);
        let body = format!(r#"{{"access_token": "{scope}", "expires_in": 3600}}"#);
        c.add(&TokenResponse::new("shared_client", [scope.as_str()], AUTHORITY, &body).unwrap()).unwrap();
    }
}

#[test]
#[ignore = "needs Python msal and msal-extensions; scripts/test.sh runs it"]
fn eight_rust_and_eight_python_processes_lose_nothing() {
    let Some(py) = python(true) else { return };
    let s = Scratch::new("interop-concurrent");
    let path = s.path("cache.json");
    let p = path.to_str().unwrap().to_owned();
    let mut children: Vec<(String, Child)> = Vec::new();
    for n in 0..8 {
        let rs = format!("rust{n}");
        let child = worker_command("worker_add_many", &[p.clone(), rs.clone()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        children.push((rs, child));
        let pyp = format!("py{n}");
        let child = py_command(&py, &["add_many", &p, &pyp, &PER_PROCESS.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        children.push((pyp, child));
    }
    for (name, mut child) in children {
        assert!(child.wait().unwrap().success(), "{name} failed");
    }
    let c = cache(&path);
    let mut missing = Vec::new();
    for (prefix, n) in (0..8).flat_map(|n| [(format!("rust{n}"), n), (format!("py{n}"), n)]) {
        let _ = n;
        for i in 0..PER_PROCESS {
            let scope = format!("{prefix}-{i}");
            let q = AccessTokenQuery::new("shared_client", [scope.as_str()]);
            if c.access_token(&q).unwrap().is_none() {
                missing.push(scope);
            }
        }
    }
    assert!(missing.is_empty(), "lost updates: {missing:?}");
    assert_eq!(c.read(|c| c.access_tokens().count()).unwrap(), 16 * PER_PROCESS);
}
