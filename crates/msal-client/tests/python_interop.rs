//! Interop with the real MSAL Python (msal 1.39 + msal-extensions 1.3.1,
//! from `scripts/python-peers.sh`) on one cache file and one identity
//! provider: a refresh token either side stored is renewed by the other,
//! and the first side then gets the new access token from the cache
//! without a token request. Also on the layout Azure CLI leaves behind
//! (`msal_token_cache.json` written by MSAL Python with Azure CLI's client
//! id, and `azureProfile.json` with a UTF-8 BOM).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use msal_client::{Account, PublicClient, TokenSource};
use msal_extensions::FilePersistence;
use serde_json::Value;

/// The scope Azure CLI asks for Azure Resource Manager (note the double slash).
const ARM: &str = "https://management.core.windows.net//.default";

/// Runs `msal_peer.py` and returns its JSON line.
fn peer(py: &Path, args: &[&str]) -> Value {
    let mut child = Command::new(py)
        .arg(py_script("msal_peer.py"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("msal_peer.py {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "msal_peer.py {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

struct Shared {
    f: Fixture,
    cache: String,
    authority: String,
    ca: String,
}

impl Shared {
    fn new(name: &str, folder: &str) -> Self {
        let f = Fixture::new(name);
        std::fs::create_dir_all(f.dir.path(folder)).unwrap();
        let cache = f.dir.path(&format!("{folder}/msal_token_cache.json")).display().to_string();
        let authority = format!("{}/{}", f.idp.base_url(), msal_test_idp::TENANT);
        let ca = f.idp.ca_path().display().to_string();
        Shared { f, cache, authority, ca }
    }

    fn python(&self, py: &Path, cmd: &str, scope: &str) -> Value {
        peer(py, &[cmd, &self.cache, &self.authority, &self.ca, AZ_CLI, scope])
    }

    fn rust(&self) -> PublicClient<FilePersistence> {
        self.f.public(AZ_CLI, &cache_at(Path::new(&self.cache)))
    }
}

#[test]
#[ignore = "needs MSAL Python (MSALX_PYTHON); scripts/test.sh runs it"]
fn msal_python_refresh_token_renewed_by_rust_then_served_to_python_from_cache() {
    let Some(py) = python(true) else { return };
    let s = Shared::new("py2rust", "c");
    s.f.idp.set_expires_in(120); // expired for both MSALs (5-minute margin)
    s.python(&py, "signin", SCOPE);
    s.f.idp.set_expires_in(3600);
    s.f.idp.reset_counts();

    let app = s.rust();
    let account = app.accounts().unwrap().into_iter().next().expect("the account MSAL Python stored");
    assert_eq!(account.username, msal_test_idp::USERNAME);
    let ours = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(ours.source, TokenSource::IdentityProvider);
    assert_eq!(s.f.idp.count("token"), 1);

    let theirs = s.python(&py, "silent", SCOPE);
    assert_eq!(theirs["access_token"], ours.access_token.expose());
    assert_eq!(theirs["token_source"], "cache");
    assert_eq!(s.f.idp.count("token"), 1, "MSAL Python made no token request: {:?}", s.f.idp.counts());
}

#[test]
#[ignore = "needs MSAL Python (MSALX_PYTHON); scripts/test.sh runs it"]
fn rust_refresh_token_renewed_by_msal_python_then_served_to_rust_from_cache() {
    let Some(py) = python(true) else { return };
    let s = Shared::new("rust2py", "c");
    let app = s.rust();
    s.f.idp.set_expires_in(120);
    let account = s.f.sign_in(&app).account.unwrap();
    s.f.idp.set_expires_in(3600);
    s.f.idp.reset_counts();

    let theirs = s.python(&py, "silent", SCOPE);
    assert_eq!(theirs["token_source"], "identity_provider");
    assert_eq!(s.f.idp.count("token:refresh_token"), 1);

    let ours = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    assert_eq!(ours.source, TokenSource::Cache);
    assert_eq!(ours.access_token.expose(), theirs["access_token"]);
    assert_eq!(s.f.idp.count("token"), 1);
}

/// Reads `azureProfile.json` as Azure CLI writes it: the default
/// subscription's user and tenant.
fn default_user(dir: &Path) -> (String, String) {
    let bytes = std::fs::read(dir.join("azureProfile.json")).unwrap();
    assert!(bytes.starts_with(b"\xef\xbb\xbf"), "Azure CLI writes a UTF-8 BOM");
    let doc: Value = serde_json::from_slice(&bytes[3..]).unwrap();
    let sub = doc["subscriptions"].as_array().unwrap().iter().find(|s| s["isDefault"] == true).unwrap();
    (sub["user"]["name"].as_str().unwrap().to_owned(), sub["tenantId"].as_str().unwrap().to_owned())
}

#[test]
#[ignore = "needs MSAL Python (MSALX_PYTHON); scripts/test.sh runs it"]
fn azure_cli_layout_both_ways() {
    let Some(py) = python(true) else { return };
    let s = Shared::new("azcli", ".azure");
    let azure_dir = s.f.dir.path(".azure");
    peer(&py, &["profile", &azure_dir.display().to_string(), msal_test_idp::TENANT, msal_test_idp::USERNAME]);
    s.f.idp.set_expires_in(120);
    s.python(&py, "signin", ARM); // `az login` with Azure CLI's client id and cache
    s.f.idp.set_expires_in(3600);
    s.f.idp.reset_counts();

    // Rust follows the profile to the user and tenant, renews, and Azure CLI's MSAL reads it.
    let (user, tenant) = default_user(&azure_dir);
    let app = PublicClient::new(AZ_CLI, cache_at(Path::new(&s.cache)))
        .with_authority(msal_client::Authority::entra(&s.f.idp.host(), &tenant).unwrap())
        .with_http(s.f.http());
    let account: Account =
        app.account_by_username(&user).unwrap().expect("the profile's user is in the cache");
    let ours = app.acquire_token_silent(&account, &[ARM]).unwrap();
    assert_eq!(ours.source, TokenSource::IdentityProvider);
    let theirs = peer(&py, &["silent", &s.cache, &s.authority, &s.ca, AZ_CLI, ARM, &user]);
    assert_eq!(
        (&theirs["access_token"], &theirs["token_source"]),
        (&Value::from(ours.access_token.expose()), &Value::from("cache"))
    );
    assert_eq!(s.f.idp.count("token"), 1);

    // The other way: Azure CLI's MSAL renews (forced by an expired token), Rust reads it.
    let c = cache_at(Path::new(&s.cache));
    c.modify(|tc| {
        let keys: Vec<String> = tc.access_tokens().map(|(k, _)| k.to_owned()).collect();
        for k in keys {
            let mut at = tc.access_tokens().find(|(kk, _)| *kk == k).unwrap().1.clone();
            at.expires_on = Some(0);
            tc.insert_access_token(at);
        }
        Ok(())
    })
    .unwrap();
    let renewed_by_python = peer(&py, &["silent", &s.cache, &s.authority, &s.ca, AZ_CLI, ARM, &user]);
    assert_eq!(renewed_by_python["token_source"], "identity_provider");
    let again = app.acquire_token_silent(&account, &[ARM]).unwrap();
    assert_eq!(
        (again.source, again.access_token.expose()),
        (TokenSource::Cache, renewed_by_python["access_token"].as_str().unwrap())
    );
    assert_eq!(s.f.idp.count("token"), 2);
}
