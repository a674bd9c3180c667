//! `msal-cache redis partitions|tokens` against the real Redis servers that
//! `scripts/redis-servers.sh` starts (a single node, `MSALX_REDIS_URL`, and a
//! 3-master cluster, `MSALX_REDIS_CLUSTER`): partitions written by the
//! library are listed with the right counts and fingerprints; no token, key
//! or Redis password reaches stdout or stderr; a value written with a key the
//! ring lacks gives the library's typed error naming that key id.
//!
//! `scripts/redis-servers.sh test` runs this file (it is `test = false`, so
//! not part of the workspace run, where no server is up); without a server
//! the peer tests fail when `CI=true` and skip loudly otherwise.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;

use common::*;
use msal_extensions::TokenResponse;
use msal_extensions::distributed::{DistributedCacheBuilder, KeyRing, Partition};
use serde_json::Value;
use sha2::{Digest, Sha256};

const KEY_A: [u8; 32] = [0xA1; 32];
const CLIENT: &str = "web-app";
const TENANT: &str = "tenant-1";
const ENV: &str = "login.microsoftonline.com";

/// The CLI options naming the test server, or `None` (skipped) without one.
fn server(cluster: bool) -> Option<Vec<String>> {
    let (var, flag) =
        if cluster { ("MSALX_REDIS_CLUSTER", "--cluster") } else { ("MSALX_REDIS_URL", "--redis") };
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(vec![flag.to_owned(), v]),
        _ => peer_missing(
            &format!("a Redis server ({var})"),
            "run these tests through scripts/redis-servers.sh test (scripts/test.sh does)",
        ),
    }
}

fn builder(server: &[String]) -> DistributedCacheBuilder {
    match server[0].as_str() {
        "--redis" => DistributedCacheBuilder::new(&server[1]),
        _ => DistributedCacheBuilder::cluster(server[1].split(',')),
    }
}

/// A key prefix no other test (or earlier run) uses.
fn prefix(name: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("cli-{name}-{}-{n}", std::process::id())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fingerprint(secret: &str) -> String {
    format!("sha256:{}", &hex(&Sha256::digest(secret.as_bytes()))[..8])
}

fn app_response(scope: &str, secret: &str) -> TokenResponse {
    let body = format!(r#"{{"access_token": "{secret}", "expires_in": 3600, "token_type": "Bearer"}}"#);
    TokenResponse::new(CLIENT, [scope], &format!("https://{ENV}/{TENANT}"), &body).unwrap()
}

/// Runs `msal-cache redis ARGS... <server> --prefix PRE EXTRA...` and checks
/// that neither a fixture secret (`finish` does) nor key material was printed.
fn cli_redis(args: &[&str], server: &[String], pre: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = cli();
    c.arg("redis").args(args).args(server).args(["--prefix", pre]).args(extra).envs(env.iter().copied());
    let r = finish(&mut c, 60);
    let key_hex = hex(&KEY_A);
    for shown in [&r.out, &r.err] {
        assert!(!shown.contains(&key_hex[..16]), "key material printed:\n{shown}");
    }
    r
}

fn ok_json(r: Run) -> Value {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.out, r.err);
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{}", r.out))
}

/// An app partition with tokens for two resources and a user partition with
/// an account, written by the library, listed through the CLI.
fn library_partitions_are_listed(cluster: bool) {
    let Some(server) = server(cluster) else { return };
    let dir = Scratch::new("redis-list");
    let pre = prefix("list");
    let cache =
        builder(&server).key_prefix(&pre).key_ring(KeyRing::new("key-a", KEY_A).unwrap()).build().unwrap();
    let app = Partition::app(CLIENT, TENANT);
    let (graph, orders) = (format!("{SECRET_MARK}-graph"), format!("{SECRET_MARK}-orders"));
    cache.add(&app, &app_response("https://graph.microsoft.com/.default", &graph)).unwrap();
    cache.add(&app, &app_response("api://orders/.default", &orders)).unwrap();
    let user = Partition::user("uid-1.tenant-1");
    let at = format!("{SECRET_MARK}-user");
    cache.add(&user, &user_response(CLIENT, ENV, "uid-1", "tenant-1", "alice@contoso.com", &at)).unwrap();

    let key_file = dir.path("keys");
    std::fs::write(&key_file, format!("# test ring\nkey-a={}\n", hex(&KEY_A))).unwrap();
    let keys = ["--key-file", s(&key_file)];

    // Partitions with their counts, as JSON and as a table.
    let listed = ok_json(cli_redis(&["partitions"], &server, &pre, &[&keys[..], &["--json"]].concat(), &[]));
    let by_id: BTreeMap<&str, &Value> =
        listed.as_array().unwrap().iter().map(|p| (p["partition"].as_str().unwrap(), p)).collect();
    assert_eq!(by_id.keys().copied().collect::<Vec<_>>(), [app.id(), user.id()], "{listed}");
    let counts = |p: &Value| {
        ["kind", "accounts", "access_tokens", "refresh_tokens", "id_tokens", "resources"]
            .map(|k| p[k].to_string())
    };
    assert_eq!(counts(by_id[app.id()]), ["\"app\"", "0", "2", "0", "0", "2"]);
    assert_eq!(counts(by_id[user.id()]), ["\"user\"", "1", "1", "1", "1", "1"]);
    let table = cli_redis(&["partitions"], &server, &pre, &keys, &[]);
    assert_eq!(table.code, 0, "{}", table.err);
    let lines: Vec<Vec<&str>> = table.out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["PARTITION", "KIND", "ACCOUNTS", "ACCESS", "REFRESH", "ID", "RESOURCES"]);
    assert_eq!(lines[1], [app.id(), "app", "0", "2", "0", "0", "2"]);
    assert_eq!(lines[2], [user.id(), "user", "1", "1", "1", "1", "1"]);

    // The user's tokens by fingerprint, the key ring given through the environment (base64).
    let b64 = "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaE="; // base64 of KEY_A
    let env = [("MSAL_CACHE_KEY_RING", format!("key-old={},key-a={b64}", hex(&[7; 32])))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tokens = ok_json(cli_redis(&["tokens", "--partition", user.id()], &server, &pre, &["--json"], &env));
    let got: BTreeMap<String, (String, String, String, Value)> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_str().unwrap_or("").to_owned();
            (f("kind"), (f("fingerprint"), f("account"), f("client_id"), t["family_id"].clone()))
        })
        .collect();
    let alice = "alice@contoso.com".to_owned();
    assert_eq!(got["access"], (fingerprint(&at), alice.clone(), CLIENT.to_owned(), Value::Null));
    assert_eq!(got["refresh"], (fingerprint(&format!("rt-{at}")), alice.clone(), CLIENT.into(), "1".into()));
    assert_eq!(got["id"].1, alice);
    assert!(got["id"].0.starts_with("sha256:") && got.len() == 3, "{tokens}");

    // The app's tokens as a table: one row per resource, each with its token's fingerprint.
    let t = cli_redis(&["tokens", "--partition", app.id()], &server, &pre, &keys, &[]);
    assert_eq!(t.code, 0, "{}", t.err);
    assert!(t.out.starts_with("KIND "), "{}", t.out);
    for secret in [&graph, &orders] {
        let row =
            t.out.lines().find(|l| l.contains(&fingerprint(secret))).unwrap_or_else(|| panic!("{}", t.out));
        assert!(row.starts_with("access  ") && row.contains("(app)"), "{row}");
    }
    cache.remove_partition(&app).unwrap();
    cache.remove_partition(&user).unwrap();
}

#[test]
#[ignore = "needs redis-server; scripts/test.sh runs it"]
fn library_partitions_are_listed_single_node() {
    library_partitions_are_listed(false);
}

#[test]
#[ignore = "needs redis-server; scripts/test.sh runs it"]
fn library_partitions_are_listed_cluster() {
    library_partitions_are_listed(true);
}

/// A partition written with a key the given ring lacks: the library's
/// `UnknownKey` message, naming the key id, for both commands; the other
/// partitions are still listed.
#[test]
#[ignore = "needs redis-server; scripts/test.sh runs it"]
fn unknown_key_names_the_key_id() {
    let Some(server) = server(false) else { return };
    let dir = Scratch::new("redis-unknown");
    let pre = prefix("unknown");
    let app = Partition::app(CLIENT, TENANT);
    let old =
        builder(&server).key_prefix(&pre).key_ring(KeyRing::new("key-a", KEY_A).unwrap()).build().unwrap();
    old.add(&app, &app_response("api://x/.default", &format!("{SECRET_MARK}-a"))).unwrap();
    let other = Partition::app("other-app", TENANT);
    let z = [0x5A; 32];
    let new = builder(&server).key_prefix(&pre).key_ring(KeyRing::new("key-z", z).unwrap()).build().unwrap();
    new.add(&other, &app_response("api://x/.default", &format!("{SECRET_MARK}-z"))).unwrap();
    let key_file = dir.path("keys");
    std::fs::write(&key_file, format!("key-z={}\n", hex(&z))).unwrap();
    let keys = ["--key-file", s(&key_file)];

    let t = cli_redis(&["tokens", "--partition", app.id()], &server, &pre, &keys, &[]);
    assert_eq!(t.code, 2, "{}{}", t.out, t.err);
    assert!(t.out.is_empty(), "{}", t.out);
    let said = t.err.trim_end();
    assert!(said.starts_with("msal-cache: the value at ") && said.contains(&pre), "{said}");
    assert!(
        said.ends_with(r#"was encrypted with key id "key-a", which is not in the key ring; add that key to the ring (as an old key) to read it"#),
        "{said}"
    );

    let p = cli_redis(&["partitions"], &server, &pre, &keys, &[]);
    assert_eq!(p.code, 2, "{}{}", p.out, p.err);
    let row = |cells: [&str; 7]| p.out.lines().any(|l| l.split_whitespace().eq(cells));
    assert!(row([app.id(), "app", "?", "?", "?", "?", "?"]), "{}", p.out);
    assert!(row([other.id(), "app", "0", "1", "0", "0", "1"]), "{}", p.out);
    assert!(
        p.err.contains(&format!("partition {}: ", app.id())) && p.err.contains(r#"key id "key-a""#),
        "{}",
        p.err
    );
    assert!(p.err.contains("1 of 2 partitions could not be read"), "{}", p.err);
    for shown in [&t.out, &t.err, &p.out, &p.err] {
        assert!(!shown.contains(&hex(&z)[..16]), "key material printed:\n{shown}");
    }
    old.remove_partition(&app).unwrap();
    new.remove_partition(&other).unwrap();
}

/// A password in the URL stays out of every message: a server that has
/// none configured refuses the AUTH, an unreachable one times out.
#[test]
#[ignore = "needs redis-server; scripts/test.sh runs it"]
fn passwords_in_urls_are_never_printed() {
    let Some(server) = server(false) else { return };
    let with_password = server[1].replacen("redis://", &format!("redis://:{SECRET_MARK}-pw@"), 1);
    for (url, args) in [
        (with_password.as_str(), vec!["--unencrypted"]),
        ("redis://:SECRETVAL-pw@127.0.0.1:1", vec!["--unencrypted", "--timeout", "0.5"]),
    ] {
        let r = cli_redis(&["partitions"], &["--redis".into(), url.into()], "p", &args, &[]);
        assert_eq!(r.code, 2, "{url}: {}{}", r.out, r.err);
        assert!(r.err.starts_with("msal-cache: ") && r.err.contains("127.0.0.1"), "{}", r.err);
        // Through the environment too, the way the help advises for passwords.
        let mut c = cli();
        c.args(["redis", "partitions", "--unencrypted", "--timeout", "0.5"]).env("MSAL_CACHE_REDIS_URL", url);
        let r = finish(&mut c, 60);
        assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    }
}

/// Usage errors: no encryption choice, an unreadable key file, a bad key, a
/// bad partition id: exit 2, saying what to give, never echoing a key.
#[test]
fn usage_errors_say_what_to_give() {
    let dir = Scratch::new("redis-usage");
    let url = ["--redis".to_owned(), "redis://127.0.0.1:1".to_owned()];
    let r = cli_redis(&["partitions"], &url, "p", &[], &[]);
    assert!(r.code == 2 && r.err.contains("--key-file PATH") && r.err.contains("--unencrypted"), "{}", r.err);
    let missing = dir.path("no-such-keys");
    let r = cli_redis(&["partitions"], &url, "p", &["--key-file", s(&missing)], &[]);
    assert!(
        r.code == 2 && r.err.contains("cannot read the key file") && r.err.contains(s(&missing)),
        "{}",
        r.err
    );
    let short = hex(&KEY_A[..31]);
    let r = cli_redis(&["partitions"], &url, "p", &[], &[("MSAL_CACHE_KEY_RING", &format!("k1={short}"))]);
    assert!(r.code == 2 && r.err.contains(r#"the key of "k1" is not 64 hex digits"#), "{}", r.err);
    assert!(!r.err.contains(&short[..16]), "{}", r.err);
    let r = cli_redis(&["tokens", "--partition", "nope"], &url, "p", &["--unencrypted"], &[]);
    assert!(r.code == 2 && r.err.contains(r#""nope" is not a partition id"#), "{}", r.err);
    let r = run(&["redis", "partitions", "--unencrypted"]);
    assert!(r.code == 2 && r.err.contains("--redis <URL>"), "{}", r.err);
}
