//! Helpers shared by the CLI's test files: scratch folders, running the
//! built binary (asserting no fixture secret is ever printed), peers
//! (Python), snapshots.
#![allow(dead_code)] // each test file uses its own subset

// Scratch folders, the CI rule for peers (`in_ci`, `peer_missing`), base64url,
// worker processes: the storage crate's test helpers, shared (this file's
// `python` shadows theirs: the CLI's tests need only the portalocker venv).
#[path = "../../../msal-extensions/tests/common/mod.rs"]
mod shared;
pub use shared::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use msal_extensions::TokenResponse;
use serde_json::{Value, json};

/// Every secret in the fixtures contains this.
pub const SECRET_MARK: &str = "SECRETVAL";
/// The "now" the fixtures' times are relative to.
pub const NOW: &str = "1900000000";

pub fn python() -> Option<PathBuf> {
    match std::env::var_os("MSALX_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => peer_missing(
            "Python msal (MSALX_PYTHON)",
            "run the tests through scripts/test.sh, which creates the venv",
        ),
    }
}

/// Writes the rich fixture with the real MSAL Python.
pub fn python_cache(dir: &Scratch) -> Option<PathBuf> {
    let py = python()?;
    let path = dir.path("msal_token_cache.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/write_cache.py");
    let st = Command::new(py).arg(script).arg("rich").arg(&path).status().unwrap();
    assert!(st.success(), "write_cache.py failed");
    Some(path)
}

/// The result of one run: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// The built binary with "now" pinned and no stdin.
pub fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msal-cache"));
    c.env("MSAL_CACHE_NOW", NOW).stdin(Stdio::null());
    c
}

/// Runs `c` to completion within `secs` (killed and failed past it),
/// capturing its output, and checks that no fixture secret reached it.
pub fn finish(c: &mut Command, secs: u64) -> Run {
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Drain both pipes meanwhile, so a chatty child never blocks on a full pipe.
    let (ot, et) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{:?} did not finish within {secs} s", c.get_args().collect::<Vec<_>>());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let r = Run {
        code: status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&ot.join().unwrap()).into_owned(),
        err: String::from_utf8_lossy(&et.join().unwrap()).into_owned(),
    };
    assert!(
        !r.out.contains(SECRET_MARK) && !r.err.contains(SECRET_MARK),
        "secret printed by {:?}:\n{}{}",
        c.get_args().collect::<Vec<_>>(),
        r.out,
        r.err
    );
    r
}

fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            p.read_to_end(&mut buf).unwrap();
        }
        buf
    })
}

pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = cli();
    c.args(args).envs(env.iter().copied());
    finish(&mut c, 120)
}

pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

pub fn ok(args: &[&str]) -> String {
    let r = run(args);
    assert_eq!(r.code, 0, "{args:?}\nstdout:\n{}\nstderr:\n{}", r.out, r.err);
    r.out
}

pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("{args:?} printed invalid JSON: {e}"))
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Compares `actual` (with `dir` replaced by `<DIR>`) to tests/snapshots/NAME.
/// `UPDATE_SNAPSHOTS=1` rewrites the file instead.
pub fn snapshot(name: &str, actual: &str, dir: &Scratch) {
    let actual = actual.replace(s(&dir.0), "<DIR>");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(&file, &actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("missing snapshot {}", file.display()));
    assert_eq!(actual, expected, "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)");
}

// ---- MSAL-schema fixtures written here (no peer needed), and doctor's output

pub const ENV: &str = "login.microsoftonline.com";
pub const APP_AT: &str = "-login.microsoftonline.com-accesstoken-app1-contoso-api://a/.default";
pub const APP_AT_NULL: &str = "-login.microsoftonline.com-accesstoken-app2-contoso-api://b/.default";

/// One app-only token with `""` and one with `null` as home account id, and
/// alice's account with an access, refresh and id token.
pub fn fixture() -> Value {
    let at = |client: &str, hai: Value, target: &str, secret: &str| {
        json!({"credential_type": "AccessToken", "secret": secret, "home_account_id": hai,
               "environment": ENV, "client_id": client, "target": target, "realm": "contoso",
               "token_type": "Bearer", "cached_at": "1899990000", "expires_on": "1900003600",
               "extended_expires_on": "1900003600"})
    };
    json!({
        "AccessToken": {
            APP_AT: at("app1", json!(""), "api://a/.default", "SECRETVAL-app1"),
            APP_AT_NULL: at("app2", Value::Null, "api://b/.default", "SECRETVAL-app2"),
            "uid.utid-login.microsoftonline.com-accesstoken-cli-contoso-user.read":
                at("cli", json!("uid.utid"), "User.Read", "SECRETVAL-user"),
        },
        "RefreshToken": {
            "uid.utid-login.microsoftonline.com-refreshtoken-cli--": {"credential_type": "RefreshToken",
                "secret": "SECRETVAL-rt", "home_account_id": "uid.utid", "environment": ENV, "client_id": "cli"}
        },
        "IdToken": {
            "uid.utid-login.microsoftonline.com-idtoken-cli-contoso-": {"credential_type": "IdToken",
                "secret": "SECRETVAL-id", "home_account_id": "uid.utid", "environment": ENV,
                "client_id": "cli", "realm": "contoso"}
        },
        "Account": {
            "uid.utid-login.microsoftonline.com-contoso": {"home_account_id": "uid.utid", "environment": ENV,
                "realm": "contoso", "local_account_id": "uid", "username": "alice@contoso.com",
                "authority_type": "MSSTS"}
        },
        "AppMetadata": {}
    })
}

/// Writes `doc` at `path`, `0600`.
pub fn write_cache(path: &Path, doc: &Value) -> PathBuf {
    std::fs::write(path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_path_buf()
}

pub fn token_count(cache: &Path) -> usize {
    json(&["tokens", "--cache", s(cache), "--json"]).as_array().unwrap().len()
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o777
}

pub fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

/// The `fix:` line of `doctor`'s finding on `topic`.
pub fn fix_of(doctor_out: &str, topic: &str) -> String {
    let mut lines = doctor_out.lines();
    let found = lines.find(|l| l.contains(&format!("] {topic}: "))).unwrap_or_else(|| panic!("{doctor_out}"));
    let fix = lines.next().and_then(|l| l.trim().strip_prefix("fix: ")).map(str::to_owned);
    fix.unwrap_or_else(|| panic!("no fix after {found:?}:\n{doctor_out}"))
}

/// Runs a command `doctor` printed, as a user pasting it into a shell would.
pub fn paste_into_shell(command: &str) {
    let command = command.replace("msal-cache ", &format!("{} ", env!("CARGO_BIN_EXE_msal-cache")));
    let o = Command::new("bash").arg("-c").arg(&command).output().unwrap();
    assert!(o.status.success(), "{command}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The text between the first pair of backticks.
pub fn quoted_command(fix: &str) -> &str {
    fix.split('`').nth(1).unwrap_or_else(|| panic!("no `command` in {fix:?}"))
}

/// The files beside `cache` whose names continue its name with `infix`.
pub fn copies_of(cache: &Path, infix: &str) -> Vec<PathBuf> {
    let name = cache.file_name().unwrap().to_str().unwrap().to_owned();
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{name}{infix}")))
        .collect();
    found.sort();
    found
}

// ---- Token responses as Entra ID returns them, for writers using the library

/// A sign-in (or, again, a refresh) of user `uid` in tenant `utid` at
/// `https://{env}/{utid}`: access token `at`, refresh token `rt-{at}`, an id
/// token naming `username`, `client_info`.
pub fn user_response(
    client: &str,
    env: &str,
    uid: &str,
    utid: &str,
    username: &str,
    at: &str,
) -> TokenResponse {
    let claims = json!({"iss": format!("https://{env}/{utid}/v2.0"), "oid": uid, "tid": utid,
                        "aud": client, "preferred_username": username});
    let body = json!({
        "access_token": at, "expires_in": 3600, "token_type": "Bearer", "refresh_token": format!("rt-{at}"),
        "scope": "User.Read", "foci": "1",
        "id_token": format!("{}.{}.sig", b64url(r#"{"alg":"none"}"#), b64url(claims.to_string())),
        "client_info": b64url(json!({"uid": uid, "utid": utid}).to_string()),
    });
    TokenResponse::from_value(client, ["User.Read"], &format!("https://{env}/{utid}"), body)
        .unwrap()
        .grant_type("authorization_code")
}
