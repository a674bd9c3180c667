//! Change notification (`PersistedTokenCache::watch`, feature `watch`)
//! against real writers: other Rust processes (this binary re-run as a
//! worker), the real MSAL Python + msal-extensions (`tests/py/watch_peer.py`,
//! venvs from `scripts/python-peers.sh`), and the Secret Service backend on a
//! real gnome-keyring (`scripts/with-secret-service.sh`). Peer tests are
//! `#[ignore]`d for plain `cargo test`; `scripts/test.sh` runs them, and with
//! `CI=true` a missing peer fails them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{Scratch, b64url, worker_args, worker_command};
use msal_extensions::{
    CacheEvent, Durability, FilePersistence, PersistedTokenCache, Persistence, TokenCache, TokenResponse,
    WatchOptions,
};

const PUBLIC: &str = "login.microsoftonline.com";
/// A sovereign cloud (US Government): the same user there is another account.
const USGOV: &str = "login.microsoftonline.us";
const CLIENT: &str = "watch-client";
/// How long an expected event may take (a generous bound, not a target: see docs/benchmarks.md).
const WAIT: Duration = Duration::from_secs(10);
/// How long to listen for an unexpected extra event after the expected ones.
const QUIET: Duration = Duration::from_millis(400);

/// An event as the tests compare them: kind and `home_account_id@environment` of each account.
type Seen = (&'static str, Vec<String>);

fn seen(e: &CacheEvent) -> Seen {
    (e.kind(), e.accounts().iter().map(|a| format!("{}@{}", a.home_account_id, a.environment)).collect())
}

fn ev(kind: &'static str, accounts: &[&str]) -> Seen {
    (kind, accounts.iter().map(|s| s.to_string()).collect())
}

/// Waits for exactly `want` (in order), then checks that nothing else comes.
fn expect(sub: &msal_extensions::Subscription, step: &str, want: &[Seen]) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        match sub.recv_timeout(WAIT) {
            Some(e) => got.push(seen(&e)),
            None => break,
        }
    }
    if let Some(extra) = sub.recv_timeout(QUIET) {
        got.push(seen(&extra));
    }
    assert_eq!(got, want, "after {step}: events differ");
}

fn file_cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    let p = FilePersistence::new(path).unwrap().with_durability(Durability::ProcessCrash);
    PersistedTokenCache::new(p)
}

/// A sign-in (or refresh) response for user `uid` of tenant `utid` in `env`.
fn user_response(env: &str, uid: &str, username: &str, at: &str) -> TokenResponse {
    let utid = "tenant1";
    let claims = serde_json::json!({"iss": format!("https://{env}/{utid}/v2.0"), "oid": uid, "tid": utid,
                                    "aud": CLIENT, "preferred_username": username});
    let body = serde_json::json!({
        "access_token": at, "expires_in": 3600, "token_type": "Bearer", "refresh_token": format!("rt-{at}"),
        "scope": "User.Read",
        "id_token": format!("{}.{}.sig", b64url(r#"{"alg":"none"}"#), b64url(claims.to_string())),
        "client_info": b64url(serde_json::json!({"uid": uid, "utid": utid}).to_string()),
    });
    TokenResponse::from_value(CLIENT, ["User.Read"], &format!("https://{env}/{utid}"), body)
        .unwrap()
        .grant_type("authorization_code")
}

/// One write step of a peer, as the Rust worker and the Python peer both understand it.
fn rust_step<P: Persistence>(cache: &PersistedTokenCache<P>, step: &[String]) {
    let arg = |i: usize| step[i].as_str();
    match arg(0) {
        "sign_in" => cache.add(&user_response(arg(1), arg(2), arg(3), "at-1")).unwrap(),
        "refresh" => cache.add(&user_response(arg(1), arg(2), arg(3), "at-2")).unwrap(),
        "rewrite" => cache.modify(|_| Ok(())).unwrap(),
        "sign_out" => assert!(cache.remove_account(&format!("{}.tenant1", arg(1))).unwrap() > 0),
        "clear" => cache
            .modify(|c| {
                *c = TokenCache::new();
                Ok(())
            })
            .unwrap(),
        "churn" => churn(cache, arg(1).parse().unwrap(), arg(2).parse().unwrap()),
        other => panic!("unknown step {other}"),
    }
}

/// Worker entry point (a no-op unless started by `worker_command`):
/// args = [path, backend (file|secret-service), step...].
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_peer_step() {
    let Some(args) = worker_args() else { return };
    let path = Path::new(&args[0]);
    match args[1].as_str() {
        "file" => rust_step(&file_cache(path), &args[2..]),
        #[cfg(target_os = "linux")]
        "secret-service" => {
            let p = msal_extensions::SecretServicePersistence::new(path).unwrap();
            rust_step(&PersistedTokenCache::new(p), &args[2..]);
        }
        other => panic!("unknown backend {other}"),
    }
}

/// Runs one step in another process and waits for it.
fn rust_peer(path: &Path, backend: &str, step: &[&str]) {
    let mut args = vec![path.to_str().unwrap().to_owned(), backend.to_owned()];
    args.extend(step.iter().map(|s| s.to_string()));
    let out = worker_command("worker_peer_step", &args).stdout(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "peer step {step:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The scenario every peer goes through, with the events it must cause:
/// sign-in, the same user in a sovereign cloud, a token refresh, a write
/// that changes nothing, sign-out, another sign-in, clear.
fn scenario(sub: &msal_extensions::Subscription, mut peer: impl FnMut(&[&str])) {
    let ada_pub = format!("ada.tenant1@{PUBLIC}");
    let ada_gov = format!("ada.tenant1@{USGOV}");
    let steps: [(&[&str], Vec<Seen>); 7] = [
        (&["sign_in", PUBLIC, "ada", "ada@contoso.com"], vec![ev("account-added", &[&ada_pub])]),
        (&["sign_in", USGOV, "ada", "ada@contoso.us"], vec![ev("account-added", &[&ada_gov])]),
        (&["refresh", PUBLIC, "ada", "ada@contoso.com"], vec![]),
        (&["rewrite"], vec![]),
        (
            &["sign_in", PUBLIC, "bob", "bob@contoso.com"],
            vec![ev("account-added", &[&format!("bob.tenant1@{PUBLIC}")])],
        ),
        (&["sign_out", "bob"], vec![ev("account-removed", &[&format!("bob.tenant1@{PUBLIC}")])]),
        (&["clear"], vec![ev("cleared", &[])]),
    ];
    for (step, want) in steps {
        peer(step);
        expect(sub, &step.join(" "), &want);
    }
}

#[test]
fn events_for_writes_by_another_rust_process() {
    let s = Scratch::new("watch-rust-peer");
    let path = s.path("cache.json");
    let cache = Arc::new(file_cache(&path));
    let sub = cache.watch().unwrap();
    scenario(&sub, |step| rust_peer(&path, "file", step));
}

#[test]
fn own_writes_are_reported_only_when_asked() {
    let s = Scratch::new("watch-own");
    let path = s.path("cache.json");
    let cache = Arc::new(file_cache(&path));
    let others_only = cache.watch().unwrap();
    let all = cache.watch_with(WatchOptions::new().own_writes(true)).unwrap();
    let added = |who: &str| vec![ev("account-added", &[&format!("{who}.tenant1@{PUBLIC}")])];

    cache.add(&user_response(PUBLIC, "own", "own@contoso.com", "a")).unwrap();
    expect(&all, "own sign-in", &added("own"));
    expect(&others_only, "own sign-in", &[]);

    // Another handle on the same file is another writer, even in this process.
    file_cache(&path).add(&user_response(PUBLIC, "peer", "peer@contoso.com", "a")).unwrap();
    expect(&all, "peer sign-in", &added("peer"));
    expect(&others_only, "peer sign-in", &added("peer"));

    // A peer's write that our next write folds in is still reported as the peer's.
    file_cache(&path).add(&user_response(PUBLIC, "late", "late@contoso.com", "a")).unwrap();
    cache.add(&user_response(PUBLIC, "own2", "own2@contoso.com", "a")).unwrap();
    let mut both = added("late");
    both.extend(added("own2"));
    expect(&all, "peer then own", &both);
    expect(&others_only, "peer then own", &added("late"));
}

#[test]
fn callbacks_get_events_survive_a_panic_and_may_unsubscribe_themselves() {
    let s = Scratch::new("watch-callback");
    let path = s.path("cache.json");
    let cache = Arc::new(file_cache(&path));
    let (tx, rx) = mpsc::channel();
    let me: Arc<Mutex<Option<msal_extensions::CallbackSubscription>>> = Arc::default();
    let me2 = me.clone();
    let mut calls = 0;
    let sub = cache
        .on_change(WatchOptions::new(), move |e| {
            calls += 1;
            tx.send(seen(&e)).unwrap();
            match calls {
                1 => panic!("a buggy callback"),
                2 => drop(me2.lock().unwrap().take()), // unsubscribes from inside
                _ => {}
            }
        })
        .unwrap();
    *me.lock().unwrap() = Some(sub);
    let peer = file_cache(&path);
    // Names that sort in write order: writes that land in one look are
    // reported in account order.
    for who in ["u1", "u2", "u3"] {
        peer.add(&user_response(PUBLIC, who, who, "a")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let got: Vec<Seen> = rx.recv_timeout(WAIT).into_iter().chain(rx.recv_timeout(WAIT)).collect();
    assert_eq!(
        got,
        [
            ev("account-added", &[&format!("u1.tenant1@{PUBLIC}")]),
            ev("account-added", &[&format!("u2.tenant1@{PUBLIC}")])
        ]
    );
    assert!(rx.recv_timeout(QUIET).is_err(), "no call after the callback dropped its subscription");
}

// Unix only: under Wine, deleting a folder that ReadDirectoryChangesW watches
// never completes (`remove_dir_all` hangs); real Windows is not available here.
#[cfg(unix)]
#[test]
fn survives_the_folder_being_deleted_and_recreated() {
    let s = Scratch::new("watch-folder");
    let path = s.path("a/b/cache.json");
    let cache = Arc::new(file_cache(&path));
    let sub = cache.watch().unwrap(); // the folder does not exist yet
    let peer = || file_cache(&path);
    let added = |who: &str| vec![ev("account-added", &[&format!("{who}.tenant1@{PUBLIC}")])];

    peer().add(&user_response(PUBLIC, "first", "first", "a")).unwrap();
    expect(&sub, "sign-in into a new folder", &added("first"));
    std::fs::remove_dir_all(s.path("a")).unwrap();
    expect(&sub, "folder deleted", &[ev("cleared", &[])]);
    peer().add(&user_response(PUBLIC, "second", "second", "a")).unwrap();
    expect(&sub, "sign-in into the recreated folder", &added("second"));
    peer().add(&user_response(PUBLIC, "third", "third", "a")).unwrap();
    expect(&sub, "a later sign-in", &added("third"));
}

/// The thread counts once they equal `want`, or the last ones seen when
/// [`WAIT`] has passed.
#[cfg(target_os = "linux")]
fn settle(want: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = threads();
        if now == want || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// This process's threads, and how many of them are our watcher (names are
/// cut to 15 bytes).
#[cfg(target_os = "linux")]
fn threads() -> (usize, usize) {
    let mut total = 0;
    let mut ours = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        total += 1;
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        ours += usize::from(comm.starts_with("msal-cache-watc"));
    }
    (total, ours)
}

/// Worker: counts threads in a process of its own (the test harness's
/// other tests would start watchers of their own).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_thread_counts() {
    let Some(args) = worker_args() else { return };
    let dir = Path::new(&args[0]);
    let base = threads();
    let caches: Vec<_> =
        (0..3).map(|i| Arc::new(file_cache(&dir.join(format!("f{i}/cache.json"))))).collect();
    caches[0].add(&user_response(PUBLIC, "x", "x", "a")).unwrap();
    caches[1].accounts().unwrap();
    assert_eq!(threads(), base, "reading and writing without a subscription starts no thread");

    // Ours plus the notify backend's event loop, for however many subscriptions.
    let one = (base.0 + 2, 1);
    let first = caches[0].watch().unwrap();
    // A new thread names itself once it runs: wait for that, not for a fixed time.
    assert_eq!(settle(one), one, "one watcher thread (and notify's loop) with one subscription");
    let many: Vec<_> = (0..12).map(|i| caches[i % 3].watch().unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(threads(), one, "12 more subscriptions on 3 folders start no thread");
    drop(first);
    drop(many);
    assert_eq!(settle(base), base, "the last unsubscribe ends the threads");
    let again = caches[2].watch().unwrap();
    assert_eq!(settle(one), one, "a new subscription starts them again");
    drop(again);
}

#[cfg(target_os = "linux")]
#[test]
fn no_thread_without_subscribers_one_watcher_for_all() {
    let s = Scratch::new("watch-threads");
    let out = worker_command("worker_thread_counts", &[s.0.to_str().unwrap().to_owned()])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Account pool of the churn: small, so that workers sign the same accounts in and out.
const POOL: u64 = 6;

/// `n` writes: sign in or out an account of the pool, or refresh one, chosen pseudo-randomly.
fn churn<P: Persistence>(cache: &PersistedTokenCache<P>, seed: u64, n: usize) {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let who = format!("c{}", (x >> 33) % POOL);
        let hid = format!("{who}.tenant1");
        match (x >> 40) % 3 {
            0 => cache.add(&user_response(PUBLIC, &who, &who, "a")).unwrap(),
            1 => drop(cache.remove_account(&hid).unwrap()),
            _ => cache.modify(|_| Ok(())).unwrap(),
        }
    }
}

/// Follows the events, checking each is consistent with what came before.
#[derive(Default)]
struct Tracker(BTreeSet<String>);

impl Tracker {
    fn apply(&mut self, e: &CacheEvent) {
        let (kind, accounts) = seen(e);
        match kind {
            "account-added" => assert!(self.0.insert(accounts[0].clone()), "added twice: {e:?}"),
            "account-removed" => assert!(self.0.remove(&accounts[0]), "removed but absent: {e:?}"),
            "account-changed" => assert!(self.0.contains(&accounts[0]), "changed but absent: {e:?}"),
            "cleared" => self.0.clear(),
            "replaced" => self.0 = accounts.into_iter().collect(),
            other => panic!("unknown event {other}"),
        }
    }
}

#[test]
fn a_thousand_writes_from_eight_processes_end_in_the_files_account_set() {
    let s = Scratch::new("watch-churn");
    let path = s.path("cache.json");
    let cache = Arc::new(file_cache(&path));
    let sub = cache.watch().unwrap();
    let p = path.to_str().unwrap().to_owned();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let args = [p.clone(), "file".into(), "churn".into(), w.to_string(), "125".into()];
            worker_command("worker_peer_step", &args).stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    let mut tracker = Tracker::default();
    for mut w in workers {
        while w.try_wait().unwrap().is_none() {
            while let Some(e) = sub.try_recv() {
                tracker.apply(&e);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(w.wait().unwrap().success());
    }
    let truth: BTreeSet<String> = file_cache(&path)
        .accounts()
        .unwrap()
        .iter()
        .map(|a| format!("{}@{}", a.home_account_id.as_deref().unwrap(), a.environment.as_deref().unwrap()))
        .collect();
    let deadline = Instant::now() + WAIT;
    while tracker.0 != truth && Instant::now() < deadline {
        if let Some(e) = sub.recv_timeout(Duration::from_millis(50)) {
            tracker.apply(&e);
        }
    }
    while let Some(e) = sub.recv_timeout(QUIET) {
        tracker.apply(&e);
    }
    assert_eq!(tracker.0, truth, "the watcher's account set equals the file's");
}

// ---------------------------------------------------------------- peers

/// Runs one step of `tests/py/watch_peer.py` (the real MSAL Python).
fn python_peer(py: &Path, path: &Path, backend: Option<&str>, step: &[&str]) {
    let mut c = Command::new(py);
    c.arg(common::py_script("watch_peer.py")).arg(step[0]).arg(path).args(&step[1..]);
    if let Some(b) = backend {
        c.env("MSALX_PEER_BACKEND", b);
    }
    let out = c.output().expect("start python");
    assert!(out.status.success(), "python {step:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
#[ignore = "needs MSAL Python (scripts/python-peers.sh); scripts/test.sh runs it"]
fn events_for_writes_by_msal_python() {
    let Some(py) = common::python(true) else { return };
    let s = Scratch::new("watch-python");
    let path = s.path("cache.json");
    let cache = Arc::new(file_cache(&path));
    let sub = cache.watch().unwrap();
    scenario(&sub, |step| python_peer(&py, &path, None, step));
}

#[cfg(target_os = "linux")]
mod secret_service {
    use super::*;
    use msal_extensions::SecretServicePersistence;

    fn watched(
        signal: &Path,
    ) -> (Arc<PersistedTokenCache<SecretServicePersistence>>, msal_extensions::Subscription) {
        let cache = Arc::new(PersistedTokenCache::new(SecretServicePersistence::new(signal).unwrap()));
        let sub = cache.watch().unwrap();
        (cache, sub)
    }

    #[test]
    #[ignore = "needs gnome-keyring (scripts/with-secret-service.sh); scripts/test.sh runs it"]
    fn events_for_secret_service_writes_by_another_rust_process() {
        if !common::secret_service() {
            return;
        }
        let s = Scratch::new("watch-ss-rust");
        let signal = s.path("msal.cache");
        let (cache, sub) = watched(&signal);
        scenario(&sub, |step| rust_peer(&signal, "secret-service", step));
        cache.persistence().delete().unwrap();
    }

    #[test]
    #[ignore = "needs gnome-keyring and MSAL Python's LibsecretPersistence; scripts/test.sh runs it"]
    fn events_for_secret_service_writes_by_msal_python() {
        if !common::secret_service() {
            return;
        }
        let Some(py) = common::python(true) else { return };
        let s = Scratch::new("watch-ss-python");
        let signal = s.path("msal.cache");
        let (cache, sub) = watched(&signal);
        scenario(&sub, |step| python_peer(&py, &signal, Some("libsecret"), step));
        cache.persistence().delete().unwrap();
    }
}
