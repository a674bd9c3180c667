//! Runs the built `msal-cache` binary on caches written by the real MSAL
//! Python (and by this project's library): output snapshots, `--json`
//! parsing, secrets never printed, `doctor` on healthy and broken caches,
//! edits under the lock, and the encrypted migration round trip.
//!
//! Python is found through `MSALX_PYTHON` (set by `scripts/python-peers.sh`);
//! the Secret Service test needs `WITH_SECRET_SERVICE=1` (run under
//! `scripts/with-secret-service.sh`). A missing peer fails the test when
//! `CI=true` and skips it loudly otherwise.
//!
//! Unix only: the tests set file modes and use `true`/`sleep` as dead and live processes.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::*;

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn python_cache_tables_match_snapshots() {
    let dir = Scratch::new("snap");
    let Some(cache) = python_cache(&dir) else { return };
    snapshot("accounts.txt", &ok(&["accounts", "--cache", s(&cache)]), &dir);
    snapshot("tokens.txt", &ok(&["tokens", "--cache", s(&cache)]), &dir);
    snapshot("export-redacted.json", &ok(&["export", "--cache", s(&cache)]), &dir);
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(&cache).unwrap().uid();
    let doctor = ok(&["doctor", "--cache", s(&cache), "--no-secret-store"])
        .replace(&format!("uid {uid}"), "uid <UID>");
    snapshot("doctor-healthy.txt", &doctor, &dir);
}

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn python_cache_json_reports_accounts_foci_and_expiry() {
    let dir = Scratch::new("json");
    let Some(cache) = python_cache(&dir) else { return };
    let accounts = json(&["accounts", "--cache", s(&cache), "--json"]);
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let alice = accounts.iter().find(|a| a["username"] == "alice@contoso.com").unwrap();
    assert_eq!(alice["home_account_id"], "uid1.utid1");
    assert_eq!(alice["clients"], serde_json::json!(["04b07795-8ddb-461a-bbee-02f9e1bf7b46", "rich_client"]));
    let tokens = json(&["tokens", "--cache", s(&cache), "--json"]);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 4 + 3 + 3, "4 access, 3 refresh, 3 id tokens");
    let expired: Vec<_> = tokens.iter().filter(|t| t["expired"] == true).collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["client_id"], "rich_client");
    let foci = tokens.iter().filter(|t| t["family_id"] == "1").count();
    assert_eq!(foci, 1, "the Azure CLI refresh token is a family token");
    assert!(tokens.iter().all(|t| t["fingerprint"].as_str().unwrap().starts_with("sha256:")));
    let doctor = json(&["doctor", "--cache", s(&cache), "--json", "--no-secret-store"]);
    assert_eq!(doctor["problems"], 0, "{doctor}");
    assert_eq!(doctor["encrypted"], false);
}

#[test]
fn library_written_cache_is_listed() {
    use msal_extensions::{FilePersistence, PersistedTokenCache, TokenResponse};
    let dir = Scratch::new("lib");
    let path = dir.path("c.json");
    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap());
    for i in 0..3 {
        let body = format!(r#"{{"access_token": "{SECRET_MARK}-{i}", "expires_in": 3600}}"#);
        let r = TokenResponse::new(
            "lib_client",
            [format!("api://x/{i}")],
            "https://login.microsoftonline.com/t",
            &body,
        )
        .unwrap();
        cache.add(&r).unwrap();
    }
    let tokens = json(&["tokens", "--cache", s(&path), "--json"]);
    assert_eq!(tokens.as_array().unwrap().len(), 3);
    assert!(ok(&["accounts", "--cache", s(&path)]).starts_with("no accounts"));
    assert_eq!(json(&["doctor", "--cache", s(&path), "--json", "--no-secret-store"])["problems"], 0);
    let exported: Value = serde_json::from_str(&ok(&["export", "--cache", s(&path)])).unwrap();
    assert_eq!(exported["AccessToken"].as_object().unwrap().len(), 3);
    let full = dir.path("full.json");
    ok(&["export", "--cache", s(&path), "--include-secrets", "-o", s(&full)]);
    let other = dir.path("other.json");
    assert!(
        ok(&["import", "--cache", s(&other), s(&full)]).contains("imported 4 entries (4 new, 0 replaced)")
    );
    assert_eq!(json(&["tokens", "--cache", s(&other), "--json"]), tokens);
    assert!(ok(&["clear", "--cache", s(&path), "--yes"]).contains("removed 4 entries"));
}

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn export_with_secrets_includes_them_and_imports_back() {
    let dir = Scratch::new("export");
    let Some(cache) = python_cache(&dir) else { return };
    let before = json(&["tokens", "--cache", s(&cache), "--json"]);
    let exported = dir.path("export.json");
    ok(&["export", "--cache", s(&cache), "--include-secrets", "-o", s(&exported)]);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains(SECRET_MARK), "the grep for secrets must be able to fail");
    assert_eq!(std::fs::metadata(&exported).unwrap().permissions().mode() & 0o777, 0o600);
    ok(&["clear", "--cache", s(&cache), "--yes"]);
    assert_eq!(json(&["tokens", "--cache", s(&cache), "--json"]), serde_json::json!([]));
    assert!(ok(&["import", "--cache", s(&cache), s(&exported)]).contains("16 new"));
    // `import` merges every section it knows, so the unknown ones come back too.
    let after = json(&["tokens", "--cache", s(&cache), "--json"]);
    assert_eq!(before, after);
    let redacted = dir.path("redacted.json");
    std::fs::write(&redacted, ok(&["export", "--cache", s(&cache)])).unwrap();
    let r = run(&["import", "--cache", s(&cache), s(&redacted)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--include-secrets"), "{}", r.err);
}

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn remove_account_keeps_the_rest_and_unknown_fields() {
    let dir = Scratch::new("remove");
    let Some(cache) = python_cache(&dir) else { return };
    assert!(ok(&["remove-account", "--cache", s(&cache), "BOB@fabrikam.com"]).contains("removed 4 entries"));
    let accounts = json(&["accounts", "--cache", s(&cache), "--json"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains("FutureSection") && text.contains("x_future_field") && text.contains("\n    "));
    // MSAL Python still reads the edited cache, and sees only the remaining account.
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../msal-extensions/tests/py/msal_peer.py");
    let o = Command::new(python().unwrap())
        .arg(peer)
        .args(["pca_silent", s(&cache), "rich_client", "User.Read"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["accounts"],
        serde_json::json!([{"username": "alice@contoso.com", "home_account_id": "uid1.utid1"}])
    );
    let r = run(&["remove-account", "--cache", s(&cache), "nobody@example.com"]);
    assert_eq!(r.code, 1, "an account that is not there is a finding");
}

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn clear_refuses_without_yes_when_it_cannot_ask() {
    let dir = Scratch::new("clear");
    let Some(cache) = python_cache(&dir) else { return };
    let before = std::fs::read(&cache).unwrap();
    let r = run(&["clear", "--cache", s(&cache)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--yes"), "{}", r.err);
    assert_eq!(std::fs::read(&cache).unwrap(), before);
    let absent = dir.path("absent.json");
    assert!(ok(&["clear", "--cache", s(&absent), "--yes"]).contains("nothing to clear"));
    assert!(!absent.exists(), "clearing a cache that does not exist does not create one");
}

#[test]
fn doctor_finds_corrupt_json() {
    let dir = Scratch::new("corrupt");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{\"AccessToken\": {\"k\": {\"secret\": \"SECRETVAL-x\"}}}}extra").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("is not a valid token cache"), "{}", r.out);
    assert!(r.out.contains("fix: `msal-cache doctor --fix --cache"), "{}", r.out);
    let r = run(&["accounts", "--cache", s(&cache)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("msal-cache doctor"), "{}", r.err);
}

#[test]
fn doctor_finds_wrong_permissions() {
    let dir = Scratch::new("perm");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{\"AccessToken\": {}}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("mode is 0644: other users can read"), "{}", r.out);
    assert!(r.out.contains(&format!("fix: `chmod 600 {}`", s(&cache))), "{}", r.out);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(run(&["doctor", "--cache", s(&cache), "--no-secret-store"]).code, 0);
}

/// A pid that is not running: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn doctor_and_unlock_stale_on_a_dead_pid_lockfile() {
    let dir = Scratch::new("stale");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lockfile = dir.path("c.json.lockfile");
    let pid = dead_pid();
    std::fs::write(&lockfile, format!("{pid} /usr/bin/az")).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains(&format!("stale: recorded by pid {pid} (/usr/bin/az)")), "{}", r.out);
    assert!(r.out.contains("fix: run `msal-cache unlock-stale --cache"), "{}", r.out);
    assert!(ok(&["unlock-stale", "--cache", s(&cache)]).contains("removed the stale lockfile"));
    assert!(!lockfile.exists());
    assert_eq!(run(&["doctor", "--cache", s(&cache), "--no-secret-store"]).code, 0);
    assert!(ok(&["unlock-stale", "--cache", s(&cache)]).contains("nothing to do"));
}

#[test]
fn doctor_and_unlock_stale_respect_live_holders() {
    let dir = Scratch::new("live");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lockfile = dir.path("c.json.lockfile");
    // A flock holder: this test process, through the library.
    let held = msal_extensions::CrossPlatLock::acquire(&lockfile).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(
        r.out.contains(&format!("held by pid {} ", std::process::id())) && r.out.contains("(running)"),
        "{}",
        r.out
    );
    assert_eq!(run(&["unlock-stale", "--cache", s(&cache)]).code, 1);
    assert!(lockfile.exists());
    drop(held);
    // An existence-only holder (Node, Python without portalocker) that is alive.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&lockfile, format!("{} node", sleeper.id())).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store", "--json"]);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    let lock = v["findings"].as_array().unwrap().iter().find(|f| f["topic"] == "lockfile").unwrap().clone();
    assert!(lock["message"].as_str().unwrap().contains(&format!("pid {} (node)", sleeper.id())), "{lock}");
    let r = run(&["unlock-stale", "--cache", s(&cache)]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(lockfile.exists(), "a live holder's lockfile is never removed");
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_eq!(run(&["unlock-stale", "--cache", s(&cache)]).code, 0);
    assert!(!lockfile.exists());
}

#[test]
fn doctor_reports_an_absent_secret_service() {
    let dir = Scratch::new("nobus");
    let cache = dir.path("c.json");
    let nobus = [("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/msal-cache-test-bus")];
    // For a plaintext cache it is a warning (encryption is not available)...
    std::fs::write(&cache, "{}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run_env(&["doctor", "--cache", s(&cache)], &nobus);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("[warn   ] secret store: Secret Service not usable"), "{}", r.out);
    // ...for an encrypted cache it is a problem, with the fix.
    let r = run_env(&["doctor", "--cache", s(&cache), "--backend", "secret-service"], &nobus);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("[problem] secret store"), "{}", r.out);
    assert!(r.out.contains("gnome-keyring-daemon --unlock"), "{}", r.out);
    // And migrating to it changes nothing.
    let before = std::fs::read(&cache).unwrap();
    let r = run_env(&["migrate", "--cache", s(&cache), "--to", "encrypted"], &nobus);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("nothing was changed"), "{}", r.err);
    assert_eq!(std::fs::read(&cache).unwrap(), before);
}

#[test]
fn usage_errors_exit_2_and_say_what_to_do() {
    let r = run(&["accounts", "--preset", "no-such-tool"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("azure-cli"), "{}", r.err);
    let r = run(&["accounts", "--cache", "/nonexistent/msal-cache-test.json"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("check the path"), "{}", r.err);
    assert_eq!(run(&["accounts"]).code, 2);
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn migrate_round_trip_through_the_secret_service() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("migrate");
    let Some(cache) = python_cache(&dir) else { return };
    let original: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let schema = format!("msal-cache-test-{}", std::process::id());
    let sec = ["--schema", schema.as_str(), "--attribute", "test=msal-cache"];
    let to_enc = [&["migrate", "--cache", s(&cache), "--to", "encrypted"][..], &sec[..]].concat();
    assert!(ok(&to_enc).contains("verified"));
    let signal = std::fs::read(&cache).unwrap();
    assert_eq!(signal, b"{}", "the plaintext file is emptied once the encrypted copy is verified");
    let enc_tokens =
        [&["tokens", "--json", "--cache", s(&cache), "--backend", "secret-service"][..], &sec[..]].concat();
    assert_eq!(json(&enc_tokens).as_array().unwrap().len(), 10);
    let to_plain = [&["migrate", "--cache", s(&cache), "--to", "plaintext"][..], &sec[..]].concat();
    assert!(ok(&to_plain).contains("verified"));
    let back: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(back, original, "every entry, field and unknown section survives the round trip");
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(
        r.out.contains("[warn   ] copies: 1 copies of the cache beside it"),
        "the plaintext source's copy is pointed out (the item's copy is a sibling item):\n{}",
        r.out
    );
    let gone = json(&enc_tokens);
    assert_eq!(
        gone,
        serde_json::json!([]),
        "the Secret Service item is deleted after the verified copy back"
    );
}

#[test]
#[ignore = "needs Python msal (writes the cache); scripts/test.sh runs it"]
fn presets_find_the_tools_caches_under_home() {
    let dir = Scratch::new("preset");
    let Some(cache) = python_cache(&dir) else { return };
    let home = dir.path("home");
    std::fs::create_dir_all(home.join(".azure")).unwrap();
    std::fs::copy(&cache, home.join(".azure/msal_token_cache.json")).unwrap();
    let env = [("HOME", s(&home)), ("AZURE_CONFIG_DIR", "")];
    let r = run_env(&["accounts", "--preset", "azure-cli", "--json"], &env);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(serde_json::from_str::<Value>(&r.out).unwrap().as_array().unwrap().len(), 2);
    // AZURE_CONFIG_DIR wins over ~/.azure, as in Azure CLI.
    let r = run_env(
        &["accounts", "--preset", "azure-cli"],
        &[("HOME", s(&home)), ("AZURE_CONFIG_DIR", s(&dir.0))],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    // Azure Identity's plaintext fallback sits at the Secret Service signal path.
    std::fs::create_dir_all(home.join(".IdentityService")).unwrap();
    std::fs::copy(&cache, home.join(".IdentityService/msal.cache.nocae")).unwrap();
    let r = run_env(&["tokens", "--preset", "azure-identity-python", "--backend", "file", "--json"], &env);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = run_env(
        &["doctor", "--preset", "azure-identity-python", "--backend", "file", "--no-secret-store"],
        &env,
    );
    assert!(r.out.contains("preset: azure-identity-python (High confidence"), "{}", r.out);
    // Read through the preset's own store (none here), doctor spots the plaintext fallback.
    let nobus =
        [("HOME", s(&home)), ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/msal-cache-test-bus")];
    let r = run_env(&["doctor", "--preset", "azure-identity-python"], &nobus);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("probably a plaintext cache written as a fallback"), "{}", r.out);
}

#[test]
fn presets_are_listed_with_their_sources() {
    let r = run_env(&["presets", "--json"], &[("HOME", "/home/someone"), ("AZURE_CONFIG_DIR", "")]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    let cli = v.as_array().unwrap().iter().find(|p| p["name"] == "azure-cli").unwrap();
    assert_eq!(cli["location"], "/home/someone/.azure/msal_token_cache.json");
    assert_eq!(cli["store"], "plaintext file");
    assert!(cli["source"].as_str().unwrap().contains("azure-cli-core"));
    let vs = v.as_array().unwrap().iter().find(|p| p["name"] == "visual-studio").unwrap();
    assert_eq!(vs["confidence"], "Medium");
    let table = run_env(&["presets"], &[("HOME", "/home/someone")]).out;
    assert!(table.starts_with("PRESET") && table.lines().count() == 6, "{table}");
}

#[test]
fn demo_shares_one_cache_between_processes_and_loses_nothing() {
    let dir = Scratch::new("demo");
    let r = run(&["demo", "--processes", "4", "--updates", "5", "--plaintext", "--dir", s(&dir.0)]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("OK: nothing lost: 20 of 20 tokens present"), "{}", r.out);
    assert_eq!(r.out.matches("api://msal-cache-demo/").count(), 20, "every token is listed:\n{}", r.out);
    assert!(!r.out.contains("demo-secret"), "a demo secret was printed:\n{}", r.out);
}

#[test]
fn an_infinite_lock_timeout_does_not_panic() {
    let dir = Scratch::new("inf");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{}").unwrap();
    let r = run(&["remove-account", "--cache", s(&cache), "--lock-timeout", "inf", "x"]);
    assert_eq!(r.code, 1, "{}", r.err);
}

/// Azure Identity for Python's exact Secret Service item, written by the real
/// `LibsecretPersistence`, read and edited through `--preset`, read back by Python.
#[test]
#[ignore = "needs a Secret Service and Python msal-extensions; scripts/test.sh runs it"]
fn azure_identity_preset_shares_the_python_libsecret_item() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("libsecret");
    let Some(cache) = python_cache(&dir) else { return };
    let home = dir.path("home");
    let signal = home.join(".IdentityService/msal.cache.nocae");
    std::fs::create_dir_all(signal.parent().unwrap()).unwrap();
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../msal-extensions/tests/py/libsecret_peer.py");
    let names = [
        "--schema",
        "msal.cache.nocae",
        "--attr",
        "MsalClientID=Microsoft.Developer.IdentityService",
        "--label",
        "MSALCache",
    ];
    let py = |op: &str, extra: &[&str]| {
        let o = Command::new(python().unwrap())
            .arg(&peer)
            .arg(op)
            .arg(&signal)
            .args(names)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "libsecret_peer {op}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    py("save", &[s(&cache)]);
    let env = [("HOME", s(&home))];
    let r = run_env(&["accounts", "--preset", "azure-identity-python", "--json"], &env);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(serde_json::from_str::<Value>(&r.out).unwrap().as_array().unwrap().len(), 2);
    let r = run_env(&["remove-account", "--preset", "azure-identity-python", "bob@fabrikam.com"], &env);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let back: Value = serde_json::from_str(&py("load", &[])).unwrap();
    let accounts = back["Account"].as_object().unwrap();
    assert_eq!(accounts.len(), 1, "Python sees the edit made through the preset");
    assert!(back["FutureSection"].is_object(), "unknown sections survive");
}

/// The scopes of every access token in the cache.
fn scopes(cache: &Path) -> std::collections::HashSet<String> {
    let tokens = json(&["tokens", "--cache", s(cache), "--json"]);
    let access = tokens.as_array().unwrap().iter().filter(|t| t["kind"] == "access");
    access
        .flat_map(|t| t["scopes"].as_array().unwrap().clone())
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A cache file with one app token for `scope` (and, with `user`, an account with its tokens).
fn entries(scope: &str, user: Option<&str>) -> Value {
    let at = |hai: &str, client: &str, target: &str| {
        serde_json::json!({"credential_type": "AccessToken", "secret": format!("{SECRET_MARK}-{target}"),
            "home_account_id": hai, "environment": ENV, "client_id": client, "target": target,
            "realm": "contoso", "cached_at": "1899990000", "expires_on": "1900003600"})
    };
    let mut doc = serde_json::json!({"AccessToken": {format!("-{ENV}-accesstoken-app-contoso-{scope}"): at("", "app", scope)}});
    if let Some(u) = user {
        let (hai, target) = (format!("{u}.t"), format!("api://user/{u}"));
        doc["AccessToken"][format!("{hai}-{ENV}-accesstoken-cli-contoso-{target}")] =
            at(&hai, "cli", &target);
        doc["RefreshToken"] = serde_json::json!({format!("{hai}-{ENV}-refreshtoken-cli--"): {
            "credential_type": "RefreshToken", "secret": format!("{SECRET_MARK}-rt-{u}"), "home_account_id": hai,
            "environment": ENV, "client_id": "cli"}});
        doc["Account"] = serde_json::json!({format!("{hai}-{ENV}-contoso"): {"home_account_id": hai,
            "environment": ENV, "realm": "contoso", "username": format!("{u}@contoso.com"), "authority_type": "MSSTS"}});
    }
    doc
}

const WRITERS: usize = 4;
const UPDATES: usize = 25;

/// Runs `round(k)` for k = 0, 1, ... for as long as 4 processes each add 25
/// tokens to `cache` through `PersistedTokenCache` (msal-cache's demo
/// worker), and at least `min_rounds` times; then checks that every token
/// the writers added is there. Returns the number of rounds run.
fn with_library_writers(cache: &Path, min_rounds: usize, mut round: impl FnMut(usize)) -> usize {
    let mut writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_msal-cache"))
                .args(["demo-worker", s(cache), "--updates", &UPDATES.to_string(), "--tag", &format!("w{i}")])
                .args(["--store", "file"])
                .spawn()
                .unwrap()
        })
        .collect();
    let mut rounds = 0;
    while rounds < min_rounds || writers.iter_mut().any(|w| w.try_wait().unwrap().is_none()) {
        round(rounds);
        rounds += 1;
    }
    for mut w in writers {
        assert!(w.wait().unwrap().success(), "a library writer failed");
    }
    let present = scopes(cache);
    let lost: Vec<String> = (0..WRITERS)
        .flat_map(|i| (0..UPDATES).map(move |u| format!("api://msal-cache-demo/w{i}.{u}")))
        .filter(|s| !present.contains(s))
        .collect();
    assert!(lost.is_empty(), "{} of {} library tokens lost: {lost:?}", lost.len(), WRITERS * UPDATES);
    rounds
}

#[test]
fn four_library_writers_and_concurrent_import_and_remove_account_lose_nothing() {
    let dir = Scratch::new("contention");
    let cache = dir.path("c.json");
    std::fs::write(&cache, entries("api://before", Some("first")).to_string()).unwrap();
    let rounds = with_library_writers(&cache, 4, |k| {
        let file = dir.path(&format!("in-{k}.json"));
        std::fs::write(&file, entries(&format!("api://import/{k}"), Some(&format!("user{k}"))).to_string())
            .unwrap();
        ok(&["import", "--cache", s(&cache), s(&file)]);
        let previous = if k == 0 { "first.t".to_owned() } else { format!("user{}.t", k - 1) };
        assert!(ok(&["remove-account", "--cache", s(&cache), &previous]).contains("removed 3 entries"));
    });
    let present = scopes(&cache);
    for k in 0..rounds {
        assert!(present.contains(&format!("api://import/{k}")), "imported app token {k} lost");
        assert_eq!(present.contains(&format!("api://user/user{k}")), k == rounds - 1, "user{k}'s token");
    }
    assert!(present.contains("api://before"), "the first app token is kept");
    let accounts = json(&["accounts", "--cache", s(&cache), "--json"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1, "only the last imported account is left: {accounts}");
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn four_library_writers_and_concurrent_migrate_merge_lose_nothing() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("contention-migrate");
    let cache = dir.path("c.json");
    std::fs::write(&cache, entries("api://before", None).to_string()).unwrap();
    let item = msal_extensions::StoreSpec::secret_service(&cache).open().unwrap();
    let rounds = with_library_writers(&cache, 4, |k| {
        // Tokens kept in the encrypted item, merged into the file the writers are writing.
        msal_extensions::Persistence::save(&*item, &entries(&format!("api://item/{k}"), None).to_string())
            .unwrap();
        let out = ok(&["migrate", "--cache", s(&cache), "--to", "plaintext", "--merge"]);
        assert!(out.contains("moved 1 entries") && out.contains("merged with the"), "{out}");
    });
    let present = scopes(&cache);
    for k in 0..rounds {
        assert!(present.contains(&format!("api://item/{k}")), "migrated token {k} lost");
    }
    assert!(present.contains("api://before"));
}
