//! One cache shared with the real msal-node 7.2 + msal-node-extensions 5.6
//! (from npm, `scripts/node-peers.sh`), driven offline by tests/node/msal_peer.cjs,
//! on a plain file and on the Secret Service (msal-node-extensions'
//! `LibSecretPersistence`, a keytar item), and with MSAL Python as a third
//! writer. Each test needs the Node peers: it fails under CI=true without them
//! and skips loudly otherwise (and is `#[ignore]`d for plain `cargo test`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{NodePeer, Scratch, node_peer, worker_args, worker_command};
use msal_extensions::{
    AccessTokenQuery, FilePersistence, LockOptions, PersistedTokenCache, Persistence, SecretEncoding,
    SecretServicePersistence, TokenResponse, WriteConvention, presets::Preset,
};
use serde_json::{Value, json};

/// A tenant id, so that every library records the same realm: msal-node and
/// MSAL .NET take it from the id token's `tid`, MSAL Python from the authority.
const TENANT: &str = "7f3c2a1e-0000-4000-8000-00000000c0de";
const GRAPH: &str = "https://graph.microsoft.com/.default";

fn authority() -> String {
    format!("https://login.microsoftonline.com/{TENANT}")
}

/// Where the cache content lives, named the same for Rust and for Node.
enum Store {
    File(PathBuf),
    /// A keytar item (schema `org.freedesktop.Secret.Generic`, attributes
    /// `service` and `account`), as Azure Identity for JavaScript keeps it; the
    /// path is the signal file.
    Keyring {
        signal: PathBuf,
        service: String,
        account: String,
    },
}

impl Store {
    fn path(&self) -> &Path {
        match self {
            Store::File(p) | Store::Keyring { signal: p, .. } => p,
        }
    }

    fn node_env(&self) -> Vec<(&'static str, String)> {
        match self {
            Store::File(_) => vec![("MSALX_PEER_TENANT", TENANT.into())],
            Store::Keyring { service, account, .. } => vec![
                ("MSALX_PEER_TENANT", TENANT.into()),
                ("MSALX_PEER_BACKEND", "keyring".into()),
                ("MSALX_KEYRING_SERVICE", service.clone()),
                ("MSALX_KEYRING_ACCOUNT", account.clone()),
            ],
        }
    }
}

fn file_cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    PersistedTokenCache::new(FilePersistence::new(path).unwrap())
}

/// The Rust side of a keyring store: what presets.rs names for Azure Identity
/// for JavaScript, with this test's service and account.
fn keyring_cache(store: &Store) -> PersistedTokenCache<SecretServicePersistence> {
    let Store::Keyring { signal, service, account } = store else { panic!("not a keyring store") };
    let p = SecretServicePersistence::builder(signal)
        .schema_name("org.freedesktop.Secret.Generic")
        .attributes([("service".to_owned(), service.clone()), ("account".to_owned(), account.clone())])
        .label(String::new())
        .encoding(SecretEncoding::Utf8)
        .build()
        .unwrap();
    PersistedTokenCache::new(p)
}

fn run_node(peer: &NodePeer, store: &Store, args: &[&str]) -> Value {
    let mut cmd = peer.command(args);
    cmd.envs(store.node_env());
    let out = cmd.output().expect("start node");
    assert!(out.status.success(), "node {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn b64(v: &Value) -> String {
    common::b64url(v.to_string())
}

/// A token endpoint's answer to a user sign-in (authorization code grant).
fn user_response(uid: &str, client: &str, scope: &str, tag: &str) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"), "aud": client, "tid": TENANT,
        "sub": format!("sub-{uid}"), "oid": format!("oid-{uid}"), "preferred_username": format!("{uid}@contoso.com"),
        "iat": now, "nbf": now, "exp": now + 3600, "ver": "2.0",
    });
    json!({
        "token_type": "Bearer", "scope": scope, "expires_in": 3599, "ext_expires_in": 3599,
        "access_token": format!("at-{tag}"), "refresh_token": format!("rt-{tag}"),
        "id_token": format!("{}.{}.sig", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims)),
        "client_info": b64(&json!({"uid": uid, "utid": TENANT})),
    })
}

fn app_response(client: &str, scope: &str, secret: &str) -> TokenResponse {
    let body = json!({"access_token": secret, "expires_in": 3599, "token_type": "Bearer"});
    TokenResponse::from_value(client, [scope], &authority(), body).unwrap().grant_type("client_credentials")
}

fn rust_sign_in<P: Persistence>(
    cache: &PersistedTokenCache<P>,
    uid: &str,
    client: &str,
    scope: &str,
    tag: &str,
) {
    let r = TokenResponse::from_value(client, [scope], &authority(), user_response(uid, client, scope, tag))
        .unwrap()
        .grant_type("authorization_code");
    cache.add(&r).unwrap();
}

fn keyring_store(s: &Scratch, tag: &str) -> Option<Store> {
    if !common::secret_service() {
        return None;
    }
    let service = format!("msalx-node-interop-{tag}-{}", std::process::id());
    Some(Store::Keyring { signal: s.path("msal.cache"), service, account: "MSALCache".into() })
}

/// Rust → Node: app and user tokens (access, refresh and id tokens, account)
/// Rust stored are served by msal-node from the cache, with no token request.
fn rust_tokens_are_node_cache_hits<P: Persistence>(
    peer: &NodePeer,
    store: &Store,
    open: impl Fn() -> PersistedTokenCache<P>,
) {
    let p = store.path().to_str().unwrap();
    // The cache belongs to Azure Identity for JS: its owner's convention.
    let owner = WriteConvention::for_preset(Preset::AzureIdentityJs);
    let cache = open().write_convention(owner);
    cache.add(&app_response("rs_app", GRAPH, "app-at-from-rust")).unwrap();
    let out = run_node(peer, store, &["cc_cached", p, "rs_app", GRAPH]);
    assert_eq!(out, json!({"access_token": "app-at-from-rust", "from_cache": true, "posts": 0}), "app token");

    // Without a stated owner, Rust mirrors the file: Node wrote an app token
    // first, so the next Rust app token is written the way Node reads it.
    let out = run_node(peer, store, &["cc_acquire", p, "node_app", "api://n/.default", "node-app-at"]);
    assert_eq!(out["posts"], 1, "{out}");
    let mirror = open();
    mirror.add(&app_response("rs_app2", "api://r/.default", "app2-at-from-rust")).unwrap();
    let out = run_node(peer, store, &["cc_cached", p, "rs_app2", "api://r/.default"]);
    assert_eq!(out["access_token"], "app2-at-from-rust", "mirrored: {out}");
    assert_eq!(out["posts"], 0, "{out}");

    rust_sign_in(&cache, "uid1", "rs_public", "User.Read", "rust-user");
    let out = run_node(peer, store, &["pca_silent", p, "rs_public", "User.Read"]);
    // (the only account: the first one)
    assert_eq!(
        out["accounts"],
        json!([{"username": "uid1@contoso.com", "home_account_id": format!("uid1.{TENANT}"), "id_token_oid": "oid-uid1"}]),
        "the account and its id token: {out}"
    );
    assert_eq!(
        (&out["access_token"], &out["from_cache"], &out["posts"]),
        (&json!("at-rust-user"), &json!(true), &json!(0))
    );
    // With the access token bypassed, msal-node redeems the refresh token Rust stored.
    let out = run_node(peer, store, &["pca_refresh", p, "rs_public", "User.Read"]);
    assert_eq!(out["refresh_token_sent"], "rt-rust-user", "{out}");
    assert_eq!(out["posts"], 1, "{out}");
}

/// Node → Rust: every token msal-node stored (under login.windows.net, with
/// `""` for the app token's account) is found by Rust, with the right secret.
fn node_tokens_are_found_by_rust<P: Persistence>(
    peer: &NodePeer,
    store: &Store,
    open: impl Fn() -> PersistedTokenCache<P>,
) {
    let p = store.path().to_str().unwrap();
    let out = run_node(peer, store, &["cc_acquire", p, "node_app", GRAPH, "app-at-from-node"]);
    assert_eq!(out["posts"], 1, "{out}");
    let resp = user_response("uid2", "node_public", "User.Read", "node-user").to_string();
    let out = run_node(peer, store, &["sign_in", p, "node_public", "User.Read", &resp]);
    assert_eq!(out["access_token"], "at-node-user", "{out}");

    let cache = open();
    let q = AccessTokenQuery::new("node_app", [GRAPH]).environment("login.microsoftonline.com");
    let at = cache.access_token(&q).unwrap().expect("Rust finds Node's app token through an alias");
    assert_eq!(at.secret.as_ref().unwrap().expose(), "app-at-from-node");
    assert_eq!(at.environment.as_deref(), Some("login.windows.net"));
    let hai = format!("uid2.{TENANT}");
    let q = AccessTokenQuery::new("node_public", ["User.Read"]).account(&hai).realm(TENANT);
    let at = cache.access_token(&q).unwrap().expect("Node's user access token");
    assert_eq!(at.secret.as_ref().unwrap().expose(), "at-node-user");
    let rt = cache.refresh_token(&hai, "node_public").unwrap().expect("Node's refresh token");
    assert_eq!(rt.secret.as_ref().unwrap().expose(), "rt-node-user");
    let accounts = cache.accounts().unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0].username.as_deref(), Some("uid2@contoso.com"));
    let claims = cache.read(|c| c.id_token_claims(&hai, "node_public")).unwrap().expect("Node's id token");
    assert_eq!(claims["oid"], "oid-uid2");
}

#[test]
#[ignore = "needs the Node peers (scripts/node-peers.sh); scripts/test.sh runs it"]
fn rust_tokens_are_node_cache_hits_on_a_file() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-rs2node");
    let path = s.path("cache.json");
    rust_tokens_are_node_cache_hits(&peer, &Store::File(path.clone()), || file_cache(&path));
}

#[test]
#[ignore = "needs the Node peers (scripts/node-peers.sh); scripts/test.sh runs it"]
fn node_tokens_are_found_by_rust_on_a_file() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-node2rs");
    let path = s.path("cache.json");
    node_tokens_are_found_by_rust(&peer, &Store::File(path.clone()), || file_cache(&path));
}

#[test]
#[ignore = "needs the Node peers and a Secret Service; scripts/test.sh runs it"]
fn rust_tokens_are_node_cache_hits_on_the_secret_service() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-rs2node-ss");
    let Some(store) = keyring_store(&s, "rs2node") else { return };
    rust_tokens_are_node_cache_hits(&peer, &store, || keyring_cache(&store));
}

#[test]
#[ignore = "needs the Node peers and a Secret Service; scripts/test.sh runs it"]
fn node_tokens_are_found_by_rust_on_the_secret_service() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-node2rs-ss");
    let Some(store) = keyring_store(&s, "node2rs") else { return };
    node_tokens_are_found_by_rust(&peer, &store, || keyring_cache(&store));
}

/// Node caches under login.windows.net, Rust under login.microsoftonline.com:
/// storing the same token replaces Node's entry, so msal-node never sees two
/// matching tokens (it fails with `multiple_matching_tokens` when it does).
#[test]
#[ignore = "needs the Node peers (scripts/node-peers.sh); scripts/test.sh runs it"]
fn the_same_token_under_two_aliases_is_one_entry() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-alias");
    let store = Store::File(s.path("cache.json"));
    let p = store.path().to_str().unwrap();
    let out = run_node(&peer, &store, &["cc_acquire", p, "shared_app", GRAPH, "from-node"]);
    assert_eq!(out["posts"], 1, "{out}");
    let cache = file_cache(store.path()); // Mirror: Node's "" is in the file
    cache.add(&app_response("shared_app", GRAPH, "from-rust")).unwrap();
    let envs =
        cache.read(|c| c.access_tokens().map(|(_, a)| a.environment.clone()).collect::<Vec<_>>()).unwrap();
    assert_eq!(envs, [Some("login.microsoftonline.com".to_owned())], "Node's alias entry was replaced");
    let out = run_node(&peer, &store, &["cc_cached", p, "shared_app", GRAPH]);
    assert_eq!(out, json!({"access_token": "from-rust", "from_cache": true, "posts": 0}));
}

fn run_py(py: &Path, path: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(py)
        .arg(common::py_script("msal_peer.py"))
        .args(args.iter().map(|a| if *a == "PATH" { path } else { a }))
        .env("MSALX_PEER_TENANT", TENANT)
        .env("MSALX_PEER_DISCOVERY", "1")
        .output()
        .expect("start python");
    assert!(out.status.success(), "python {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// MSAL Python, msal-node and Rust take turns on one file. User tokens each
/// one stores are served to the other two from the cache. App tokens: the
/// two Microsoft libraries cannot agree (Python finds only `null`, Node only
/// `""`), so Rust's app tokens are served to the cache's owner, per owner.
#[test]
#[ignore = "needs the Node and Python peers; scripts/test.sh runs it"]
fn python_node_and_rust_take_turns_on_one_cache() {
    let Some(peer) = node_peer() else { return };
    let Some(py) = common::python(true) else { return };
    let s = Scratch::new("node-3way");
    let store = Store::File(s.path("cache.json"));
    let p = store.path().to_str().unwrap();
    let scope = "User.Read";

    // Each one signs a different user in, in turn.
    let resp = |uid: &str, client: &str, tag: &str| user_response(uid, client, scope, tag).to_string();
    let out = run_py(&py, p, &["sign_in", "PATH", "py_public", scope, &resp("pyuser", "py_public", "py")]);
    assert_eq!(out["access_token"], "at-py", "{out}");
    let out = run_node(
        &peer,
        &store,
        &["sign_in", p, "node_public", scope, &resp("nodeuser", "node_public", "node")],
    );
    assert_eq!(out["access_token"], "at-node", "{out}");
    rust_sign_in(&file_cache(store.path()), "rsuser", "rs_public", scope, "rust");

    // Each library's user tokens, served to the other two from the cache.
    for (client, uid, tag) in
        [("py_public", "pyuser", "py"), ("node_public", "nodeuser", "node"), ("rs_public", "rsuser", "rust")]
    {
        let want = json!(format!("at-{tag}"));
        let hai = format!("{uid}.{TENANT}");
        let py_out = run_py(&py, p, &["pca_silent", "PATH", client, scope, &hai]);
        assert_eq!(
            (&py_out["access_token"], &py_out["token_source"], &py_out["posts"]),
            (&want, &json!("cache"), &json!(0)),
            "Python reads {tag}'s: {py_out}"
        );
        // MSAL Python lists the accounts of one alias only (its own host's
        // when it has any): msal-node's, under login.windows.net, are found
        // for an account the app names, not listed.
        assert_eq!(py_out["listed"], tag != "node", "{py_out}");
        let node_out = run_node(&peer, &store, &["pca_silent", p, client, scope, &hai]);
        assert_eq!(
            (&node_out["access_token"], &node_out["from_cache"], &node_out["posts"]),
            (&want, &json!(true), &json!(0)),
            "Node reads {tag}'s: {node_out}"
        );
        let q = AccessTokenQuery::new(client, [scope]).account(&hai);
        let at = file_cache(store.path())
            .access_token(&q)
            .unwrap()
            .unwrap_or_else(|| panic!("Rust reads {tag}'s"));
        assert_eq!(json!(at.secret.as_ref().unwrap().expose()), want);
    }

    // App tokens. Python's and Node's are each found by Rust...
    assert_eq!(run_py(&py, p, &["cc_acquire", "PATH", "py_app", GRAPH, "py-app"])["posts"], 1);
    assert_eq!(run_node(&peer, &store, &["cc_acquire", p, "node_app", GRAPH, "node-app"])["posts"], 1);
    for (client, want) in [("py_app", "py-app"), ("node_app", "node-app")] {
        let at = file_cache(store.path()).access_token(&AccessTokenQuery::new(client, [GRAPH])).unwrap();
        assert_eq!(at.and_then(|a| a.secret.clone()).map(|s| s.expose().to_owned()).as_deref(), Some(want));
    }
    // ...but not by each other: Python's own null is invisible to Node and Node's "" to Python.
    // (a miss costs a token request, which the fake network refuses)
    let out = run_node(&peer, &store, &["cc_cached", p, "py_app", GRAPH]);
    assert_eq!(
        (&out["posts"], out["error"].is_string()),
        (&json!(1), true),
        "msal-node cannot see MSAL Python's: {out}"
    );
    let out = run_py(&py, p, &["cc_cached", "PATH", "node_app", GRAPH]);
    assert!(out["access_token"].is_null(), "MSAL Python cannot see msal-node's app token: {out}");
    // Rust's: served to whichever library the stated owner convention names.
    for (owner, client) in
        [(WriteConvention::MsalPython, "rs_app_py"), (WriteConvention::MsalNode, "rs_app_node")]
    {
        let cache = file_cache(store.path()).write_convention(owner);
        cache.add(&app_response(client, GRAPH, client)).unwrap();
        let py_out = run_py(&py, p, &["cc_cached", "PATH", client, GRAPH]);
        let node_out = run_node(&peer, &store, &["cc_cached", p, client, GRAPH]);
        let py_hit = py_out["token_source"] == "cache" && py_out["access_token"] == client;
        let node_hit = node_out["from_cache"] == true && node_out["access_token"] == client;
        assert_eq!(
            (py_hit, node_hit),
            (owner == WriteConvention::MsalPython, owner == WriteConvention::MsalNode),
            "{owner:?}: python {py_out}, node {node_out}"
        );
    }
}

const PER_PROCESS: usize = 25;

/// Worker entry point (a no-op unless started by `worker_command`): adds
/// PER_PROCESS app tokens to the file at args[0], scopes `<args[1]>-<i>`,
/// locking without the guard file when args[2] is `no-guard` (a control arm),
/// and reports errors on stdout instead of stopping at the first. Each change
/// holds the lock a few milliseconds and checks, through a marker file
/// created exclusively, that no other Rust process is inside the lock at the
/// same time.
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_node_mix_add() {
    let Some(args) = worker_args() else { return };
    let marker = format!("{}.rust-inside", args[0]);
    let guard = args.get(2).is_none_or(|a| a != "no-guard");
    let cache = PersistedTokenCache::new(FilePersistence::new(Path::new(&args[0])).unwrap())
        .lock_options(LockOptions::new().timeout(Duration::from_secs(60)).guard(guard));
    for i in 0..PER_PROCESS {
        let scope = format!("{}-{i}", args[1]);
        let r = cache.modify(|c| {
            let alone = std::fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok();
            std::thread::sleep(Duration::from_millis(3));
            c.add(&app_response("shared_client", &scope, &scope))?;
            if alone {
                std::fs::remove_file(&marker).unwrap();
            }
            Ok(alone)
        });
        match r {
            Ok(true) => {}
            Ok(false) => println!("RUST-ERROR {scope}: another Rust process held the lock too"),
            Err(e) => println!("RUST-ERROR {scope}: {e}"),
        }
    }
}

/// Starts the Rust workers adding to `path` (locking with the guard file
/// unless `guard` is `false`), waits for them, and returns their error lines.
fn run_rust_workers(path: &str, n: usize, guard: bool) -> Vec<String> {
    let workers: Vec<(String, Child)> = (0..n)
        .map(|i| {
            let name = format!("rust{i}");
            let args = [path.to_owned(), name.clone(), if guard { "guard" } else { "no-guard" }.to_owned()];
            (name, worker_command("worker_node_mix_add", &args).stdout(Stdio::piped()).spawn().unwrap())
        })
        .collect();
    let mut errors = Vec::new();
    for (name, child) in workers {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name} failed");
        let text = String::from_utf8_lossy(&out.stdout);
        errors.extend(text.lines().filter(|l| l.starts_with("RUST-ERROR")).map(str::to_owned));
    }
    errors
}

/// How many of the tokens the `prefix`-0.. processes added are in the cache.
fn kept(path: &Path, prefixes: impl Iterator<Item = String>) -> usize {
    let cache = file_cache(path);
    prefixes
        .flat_map(|p| (0..PER_PROCESS).map(move |i| format!("{p}-{i}")))
        .filter(|scope| {
            cache.access_token(&AccessTokenQuery::new("shared_client", [scope.as_str()])).unwrap().is_some()
        })
        .count()
}

fn node_json(child: Child, what: &str) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Our promise whatever a peer does to the lockfile: 4 Rust processes stay
/// mutually exclusive while 4 Node processes run msal-node-extensions'
/// release-without-holding (which deletes the lockfile of a live holder) in
/// a loop. 0 Rust tokens lost, 0 Rust errors.
///
/// Depends on the store work's companion lock (issue 10/11). A control arm
/// then runs the same workload with the guard off
/// (`LockOptions::guard(false)`, the lockfile protocol alone: what this
/// crate did before the guard) and prints what it lost, the figure
/// docs/reliability.md cites; nothing is asserted about that count.
#[test]
#[ignore = "needs the Node peers (scripts/node-peers.sh); scripts/test.sh runs it"]
fn rust_processes_stay_exclusive_while_node_deletes_live_lockfiles() {
    let Some(peer) = node_peer() else { return };
    let (deleted, errors, kept) = with_node_deleters(&peer, "node-deleters", "4000", true);
    eprintln!("guard on: Node deleted {deleted} live lockfiles; Rust kept {kept}/{}", 4 * PER_PROCESS);
    assert!(deleted > 0, "Node never deleted a held lockfile: the test did not test anything");
    assert_eq!(errors, Vec::<String>::new(), "Rust errors, or two Rust holders at once");
    assert_eq!(kept, 4 * PER_PROCESS, "Rust tokens lost");

    let (deleted, errors, kept) = with_node_deleters(&peer, "node-deleters-noguard", "2000", false);
    let overlaps = errors.iter().filter(|e| e.contains("another Rust process held the lock too")).count();
    eprintln!(
        "guard off (control): Node deleted {deleted} live lockfiles; Rust kept {kept}/{n} (lost {}), \
         {overlaps} overlaps, {} errors",
        4 * PER_PROCESS - kept,
        errors.len() - overlaps,
        n = 4 * PER_PROCESS
    );
}

/// 4 Rust workers add to a fresh cache while 4 Node processes delete its
/// lockfile for `millis` ms: how many lockfiles Node deleted, the Rust
/// workers' error lines, and how many Rust tokens the cache kept.
fn with_node_deleters(peer: &NodePeer, name: &str, millis: &str, guard: bool) -> (u64, Vec<String>, usize) {
    let s = Scratch::new(name);
    let path = s.path("cache.json");
    let p = path.to_str().unwrap().to_owned();
    let mut deleters: Vec<Child> = (0..4)
        .map(|_| peer.command(&["delete_lockfiles", &p, millis]).stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    // Each deleter writes the cache once (a real access) before it loops:
    // wait for that, so that only the deleting overlaps the Rust writers.
    for d in &mut deleters {
        let mut line = [0u8; 6];
        std::io::Read::read_exact(d.stdout.as_mut().unwrap(), &mut line).unwrap();
        assert_eq!(&line, b"ready\n");
    }
    let errors = run_rust_workers(&p, 4, guard);
    let deleted: u64 =
        deleters.into_iter().map(|d| node_json(d, "deleter")["deleted"].as_u64().unwrap()).sum();
    (deleted, errors, kept(&path, (0..4).map(|n| format!("rust{n}"))))
}

/// 4 msal-node and 4 Rust processes add tokens to one file; msal-node's plugin
/// deletes live lockfiles on its own. Asserted: 0 Rust errors, and no two
/// Rust processes inside the lock at once. Reported, not asserted: tokens
/// kept. msal-node decides whether to reload *before* it takes the lock, so
/// a Node writer that waited for the lock saves the snapshot it read before
/// waiting, erasing what Rust (or another Node process) wrote meanwhile;
/// runs here kept 0 to 100 of 100 Rust tokens and 36 to 79 of 100 Node ones.
/// Rust cannot undo a peer's stale save (see docs/reliability.md); with only
/// Node *readers* on the cache (the test above) no Rust token is lost.
///
/// Depends on the store work's companion lock, like the test above.
#[test]
#[ignore = "needs the Node peers (scripts/node-peers.sh); scripts/test.sh runs it"]
fn four_node_and_four_rust_processes_on_one_cache() {
    let Some(peer) = node_peer() else { return };
    let s = Scratch::new("node-mix");
    let path = s.path("cache.json");
    let p = path.to_str().unwrap().to_owned();
    let node: Vec<Child> = (0..4)
        .map(|n| {
            let args = ["add_many", &p, &format!("node{n}"), &PER_PROCESS.to_string()];
            peer.command(&args).stdout(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let errors = run_rust_workers(&p, 4, true);
    let node_errors: u64 =
        node.into_iter().map(|c| node_json(c, "node writer")["errors"].as_u64().unwrap()).sum();
    let rust_kept = kept(&path, (0..4).map(|n| format!("rust{n}")));
    let node_kept = kept(&path, (0..4).map(|n| format!("node{n}")));
    eprintln!(
        "mixed run: Rust kept {rust_kept}/{n}, Node kept {node_kept}/{n} ({node_errors} Node errors)",
        n = 4 * PER_PROCESS
    );
    assert_eq!(errors, Vec::<String>::new(), "Rust errors, or two Rust holders at once");
}

/// A file as msal-node-extensions leaves it when two of its saves interleave
/// (`fs.writeFile` truncates, then writes): a whole cache document followed by
/// the tail of a longer one (tests/fixtures/msal-node-doc-then-junk.json,
/// produced by `msal_peer.cjs make_junk`). The leading document is kept and
/// the whole original is quarantined beside the cache.
///
/// Needs no peer (the fixture is committed). Depends on the store work's
/// junk-after-document recovery (issue 10/11): before it, the whole file is
/// quarantined and the cache starts empty.
#[test]
fn a_whole_document_followed_by_junk_keeps_the_document() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msal-node-doc-then-junk.json");
    let original = std::fs::read(&fixture).unwrap();
    let s = Scratch::new("node-junk");
    let path = s.path("cache.json");
    std::fs::write(&path, &original).unwrap();
    let cache = file_cache(&path);
    let secret = |scope: &str| {
        let q = AccessTokenQuery::new("junk_client", [scope]);
        cache.access_token(&q).unwrap().map(|at| at.secret.as_ref().unwrap().expose().to_owned())
    };
    for i in 0..3 {
        assert_eq!(
            secret(&format!("scope-{i}")).as_deref(),
            Some(format!("junk-secret-{i}").as_str()),
            "kept {i}"
        );
    }
    assert_eq!(secret("scope-3"), None, "entries of the junk tail are not read");
    let copies: Vec<_> = std::fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &path && std::fs::read(p).is_ok_and(|b| b == original))
        .collect();
    assert_eq!(copies.len(), 1, "the whole original is kept once beside the cache");
    cache.add(&app_response("after", GRAPH, "after")).unwrap();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("the file is one document again");
    assert_eq!(doc["AccessToken"].as_object().unwrap().len(), 4, "{doc}");
}
