//! Single flight across processes: 32 processes find the same access token
//! expired at the same moment; exactly one asks the identity provider, all
//! 32 get the new token, and nothing else in the cache is lost.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use msal_client::PublicClient;
use msal_extensions::TokenResponse;

const PROCESSES: usize = 32;

/// Worker: wait for the start signal, then one silent acquisition; prints the token.
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = worker_args() else { return };
    let [cache, host, ca, go] = <[String; 4]>::try_from(args).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&go).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let ca_pem = std::fs::read_to_string(ca).unwrap();
    let app = PublicClient::new(AZ_CLI, cache_at(&PathBuf::from(cache)))
        .with_authority(msal_client::Authority::entra(&host, msal_test_idp::TENANT).unwrap())
        .with_http(http_options(&ca_pem));
    let account = app.accounts().unwrap().into_iter().next().expect("signed-in account");
    let r = app.acquire_token_silent(&account, &[SCOPE]).unwrap();
    println!("TOKEN {}", r.access_token.expose());
}

/// 40 application tokens of other clients, which must survive the herd.
fn seed_unrelated(cache: &msal_extensions::PersistedTokenCache<msal_extensions::FilePersistence>) {
    cache
        .modify(|c| {
            for i in 0..40 {
                let body = serde_json::json!({"access_token": format!("other-{i}"), "expires_in": 3600});
                let r = TokenResponse::from_value(
                    &format!("other-client-{i}"),
                    ["api://x/.default"],
                    "https://127.0.0.1/t",
                    body,
                )?;
                c.add(&r)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn thirty_two_processes_one_renewal() {
    if worker_args().is_some() {
        return;
    }
    let f = Fixture::new("herd");
    let cache_path = f.dir.path("msal_token_cache.json");
    let cache = cache_at(&cache_path);
    let app = f.public(AZ_CLI, &cache);
    f.idp.set_expires_in(120); // expired by MSAL's 5-minute rule
    f.sign_in(&app);
    f.idp.set_expires_in(3600);
    seed_unrelated(&cache);
    // A slow IdP: every process arrives while the renewal is in flight.
    f.idp.set_token_delay(Duration::from_millis(300));
    f.idp.reset_counts();

    let go = f.dir.path("go");
    let args = [
        cache_path.display().to_string(),
        f.idp.host(),
        f.idp.ca_path().display().to_string(),
        go.display().to_string(),
    ];
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            worker_command("worker_entry", &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // let them start and wait at the barrier
    std::fs::write(&go, "").unwrap();
    let mut tokens = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "worker failed: {}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
        let t = stdout.lines().find_map(|l| l.strip_prefix("TOKEN ")).expect("a token").to_owned();
        tokens.push(t);
    }
    assert_eq!(f.idp.count("token"), 1, "exactly one request reached the IdP: {:?}", f.idp.counts());
    let issued = f.idp.issued_access_tokens();
    let newest = issued.last().unwrap();
    assert!(tokens.iter().all(|t| t == newest), "all {PROCESSES} got the renewed token");

    // Nothing lost: the 40 other tokens, the user's renewed token, one account, one refresh token.
    let c = msal_extensions::TokenCache::parse(&std::fs::read_to_string(&cache_path).unwrap()).unwrap();
    assert_eq!(c.access_tokens().count(), 41);
    assert_eq!(c.access_tokens().filter(|(_, a)| a.client_id.as_deref() == Some(AZ_CLI)).count(), 1);
    assert_eq!(c.accounts().count(), 1);
    assert_eq!(c.refresh_tokens().count(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&f.dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("lockfile"))
        .collect();
    // The cache lock's guard stays by design (nobody deletes it); a lease has none.
    let guard = std::ffi::OsString::from("msal_token_cache.json.lockfile.guard");
    assert_eq!(leftovers, [guard], "leases and locks are released, only the cache lock's guard stays");
}
