//! `msal-cache watch` through the built binary: while another process (this
//! test process through the library, or another `msal-cache` run: `import`,
//! `remove-account`, `clear`) signs in, refreshes, signs out and clears, the
//! watcher prints exactly the expected lines (text, and `--json` that
//! parses), nothing for a token refresh or a write that changes nothing,
//! escapes what it prints, and ends with exit code 0 on SIGINT and SIGTERM,
//! after `--count` events or at `--timeout`.
//!
//! The Secret Service case needs `WITH_SECRET_SERVICE=1` (run under
//! `scripts/with-secret-service.sh`); it fails when `CI=true` and skips
//! loudly otherwise.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use msal_extensions::{FilePersistence, PersistedTokenCache, Persistence, StoreSpec, TokenCache};
use serde_json::{Value, json};

const PUBLIC: &str = "login.microsoftonline.com";
/// A sovereign cloud (US Government): the same user there is another account.
const USGOV: &str = "login.microsoftonline.us";
const CLIENT: &str = "watch-client";
/// The time every line shows: `cli()` pins "now" to `NOW`.
const TIME: &str = "2030-03-17 17:46:40Z";
/// How long an expected line may take (a generous bound, not a target).
const WAIT: Duration = Duration::from_secs(10);
/// How long to listen for an unexpected extra line after the expected ones.
const QUIET: Duration = Duration::from_millis(500);

/// A running `msal-cache watch`, its stdout lines and its stderr.
struct Watcher {
    child: Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    stderr: String,
}

/// Lines of `pipe`, one by one, into a channel.
fn lines_of<R: std::io::Read + Send + 'static>(pipe: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            assert!(!line.contains(SECRET_MARK), "secret printed: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watcher {
    /// Starts `msal-cache watch ARGS` and waits until it says it is
    /// watching (the baseline is taken: later writes are reported).
    fn start(args: &[&str]) -> Watcher {
        let mut child =
            cli().arg("watch").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = lines_of(child.stdout.take().unwrap());
        let err = lines_of(child.stderr.take().unwrap());
        let mut w = Watcher { child, out, err, stderr: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !w.stderr.contains("msal-cache: watching ") {
            let left = deadline.saturating_duration_since(Instant::now());
            match w.err.recv_timeout(left) {
                Ok(line) => w.stderr.push_str(&(line + "\n")),
                Err(_) => panic!("watch {args:?} did not start:\n{}", w.stderr),
            }
        }
        w
    }

    /// Waits for exactly `want` on stdout (in order), then checks that nothing else comes.
    fn expect(&mut self, step: &str, want: &[String]) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < want.len() {
            match self.out.recv_timeout(WAIT) {
                Ok(line) => got.push(line),
                Err(_) => break,
            }
        }
        if let Ok(extra) = self.out.recv_timeout(QUIET) {
            got.push(extra);
        }
        assert_eq!(got, want, "after {step}: lines differ; stderr:\n{}", self.drain_err());
        got
    }

    fn drain_err(&mut self) -> &str {
        while let Ok(line) = self.err.try_recv() {
            self.stderr.push_str(&(line + "\n"));
        }
        &self.stderr
    }

    /// Sends `signal` and returns the exit code; nothing more may be printed.
    fn stop_with(self, signal: libc::c_int) -> i32 {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
        self.wait()
    }

    /// Waits (bounded) for the watcher to exit by itself; its exit code.
    fn wait(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "watch did not exit; stderr:\n{}", self.drain_err());
            std::thread::sleep(Duration::from_millis(10));
        };
        let rest: Vec<String> = self.out.try_iter().collect();
        assert!(rest.is_empty(), "printed after the last expected line: {rest:?}");
        status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {status:?}; stderr:\n{}", self.drain_err()))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sign-in (or a token refresh, with another `at`) of `uid` in tenant `tenant1`.
fn sign_in<P: Persistence>(cache: &PersistedTokenCache<P>, env: &str, uid: &str, username: &str, at: &str) {
    let at = format!("{SECRET_MARK}-{at}");
    cache.add(&user_response(CLIENT, env, uid, "tenant1", username, &at)).unwrap();
}

fn text(kind: &str, hid: &str, env: &str, user: &str) -> String {
    format!("{TIME}  {kind:<15}  {hid}  {env}  {user}")
}

fn file_cache(path: &Path) -> PersistedTokenCache<FilePersistence> {
    PersistedTokenCache::new(FilePersistence::new(path).unwrap())
}

/// Another msal-cache process acting on the cache.
fn other_cli(args: &[&str]) {
    let r = run(args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.out, r.err);
}

#[test]
fn text_lines_for_sign_in_refresh_sign_out_and_clear_then_sigterm_ends_with_0() {
    let dir = Scratch::new("watch-text");
    let path = dir.path("msal_token_cache.json");
    let peer = file_cache(&path);
    let mut w = Watcher::start(&["--cache", s(&path)]);
    assert!(w.stderr.contains("no token cache at"), "a cache that does not exist yet is said:\n{}", w.stderr);

    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "1");
    w.expect("sign-in", &[text("account-added", "ada.tenant1", PUBLIC, "ada@contoso.com")]);
    sign_in(&peer, USGOV, "ada", "ada@contoso.us", "1");
    w.expect("sign-in, sovereign cloud", &[text("account-added", "ada.tenant1", USGOV, "ada@contoso.us")]);
    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "2");
    w.expect("token refresh", &[]);
    peer.modify(|_| Ok(())).unwrap();
    w.expect("a write that changes nothing", &[]);
    // A crafted username cannot drive the terminal or fake a line.
    sign_in(&peer, PUBLIC, "eve", "eve\x1b[2J\n@contoso.com", "1");
    w.expect(
        "sign-in, crafted name",
        &[text("account-added", "eve.tenant1", PUBLIC, r"eve\x1b[2J\x0a@contoso.com")],
    );
    other_cli(&["remove-account", "--cache", s(&path), "eve.tenant1"]);
    w.expect(
        "sign-out by msal-cache",
        &[text("account-removed", "eve.tenant1", PUBLIC, r"eve\x1b[2J\x0a@contoso.com")],
    );
    other_cli(&["clear", "--yes", "--cache", s(&path)]);
    w.expect("clear by msal-cache", &[format!("{TIME}  cleared")]);
    assert_eq!(w.stop_with(libc::SIGTERM), 0);
}

#[test]
fn json_lines_parse_and_sigint_ends_with_0() {
    let dir = Scratch::new("watch-json");
    let path = dir.path("c.json");
    let peer = file_cache(&path);
    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "1"); // before: no event
    let mut w = Watcher::start(&["--cache", s(&path), "--json"]);
    assert!(!w.stderr.contains("no token cache"), "{}", w.stderr);

    // A sign-in by another msal-cache process: `import` of a cache holding alice.
    let import = write_cache(&dir.path("alice.json"), &fixture());
    other_cli(&["import", "--cache", s(&path), s(&import)]);
    let alice = json!({"home_account_id": "uid.utid", "environment": ENV, "username": "alice@contoso.com",
                       "realms": ["contoso"]});
    let parse = |lines: Vec<String>| -> Vec<Value> {
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    };
    let event = |kind: &str, accounts: Value| json!({"time": NOW.parse::<i64>().unwrap(), "kind": kind, "accounts": accounts});
    let want = event("account-added", json!([alice]));
    assert_eq!(parse(w.expect("import", &[want.to_string()])), [want]);
    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "2");
    w.expect("token refresh", &[]);
    // A username with controls comes back as the same text from the JSON.
    sign_in(&peer, PUBLIC, "eve", "eve\u{9b}\u{202e}@contoso.com", "1");
    let line = w.out.recv_timeout(WAIT).expect("the sign-in's line");
    assert!(!line.contains('\u{9b}') && !line.contains('\u{202e}'), "raw controls printed: {line}");
    let got: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(got["accounts"][0]["username"], "eve\u{9b}\u{202e}@contoso.com");
    assert_eq!(
        (got["kind"].as_str(), got["accounts"][0]["home_account_id"].as_str()),
        (Some("account-added"), Some("eve.tenant1"))
    );
    w.expect("nothing more", &[]);
    assert!(peer.remove_account("uid.utid").unwrap() > 0);
    let want = event("account-removed", json!([alice]));
    assert_eq!(parse(w.expect("sign-out", &[want.to_string()])), [want]);
    peer.replace(TokenCache::new()).unwrap();
    w.expect("clear", &[event("cleared", json!([])).to_string()]);
    assert_eq!(w.stop_with(libc::SIGINT), 0);
}

#[test]
fn count_and_timeout_end_the_watch() {
    let dir = Scratch::new("watch-end");
    let path = dir.path("c.json");
    let peer = file_cache(&path);
    // --count: exits by itself after N events, 0.
    let mut w = Watcher::start(&["--cache", s(&path), "--count", "2"]);
    sign_in(&peer, PUBLIC, "a", "a@contoso.com", "1");
    sign_in(&peer, PUBLIC, "b", "b@contoso.com", "1");
    w.expect(
        "two sign-ins",
        &[
            text("account-added", "a.tenant1", PUBLIC, "a@contoso.com"),
            text("account-added", "b.tenant1", PUBLIC, "b@contoso.com"),
        ],
    );
    assert_eq!(w.wait(), 0);
    // --timeout alone: 0 with nothing printed; with --count not reached: 1, said on stderr.
    let mut c = cli();
    c.args(["watch", "--cache", s(&path), "--timeout", "0.3"]);
    let r = finish(&mut c, 30);
    assert_eq!((r.code, r.out.as_str()), (0, ""), "{}", r.err);
    let mut c = cli();
    c.args(["watch", "--cache", s(&path), "--timeout", "0.3", "--count", "1"]);
    let r = finish(&mut c, 30);
    assert_eq!((r.code, r.out.as_str()), (1, ""), "{}", r.err);
    assert!(r.err.contains("0 of 1 events came before the timeout"), "{}", r.err);
    // Bad values are usage errors.
    for bad in [["--count", "0"], ["--timeout", "soon"], ["--timeout", "-1"], ["--timeout", "NaN"]] {
        let r = run(&[&["watch", "--cache", s(&path)][..], &bad].concat());
        assert_eq!(r.code, 2, "{bad:?}: {}", r.err);
    }
}

/// The Secret Service backend: writers touch the item's signal file, which
/// the watcher sees; the reload reads the item from the real daemon.
#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn secret_service_writes_are_watched() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("watch-ss");
    let path = dir.path("signal.json");
    let peer = PersistedTokenCache::new(StoreSpec::secret_service(&path).open().unwrap());
    let mut w = Watcher::start(&["--cache", s(&path), "--backend", "secret-service"]);
    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "1");
    w.expect("sign-in", &[text("account-added", "ada.tenant1", PUBLIC, "ada@contoso.com")]);
    sign_in(&peer, PUBLIC, "ada", "ada@contoso.com", "2");
    w.expect("token refresh", &[]);
    sign_in(&peer, USGOV, "ada", "ada@contoso.us", "1");
    w.expect("sign-in, sovereign cloud", &[text("account-added", "ada.tenant1", USGOV, "ada@contoso.us")]);
    sign_in(&peer, PUBLIC, "bob", "bob@contoso.com", "1");
    w.expect("sign-in", &[text("account-added", "bob.tenant1", PUBLIC, "bob@contoso.com")]);
    assert!(peer.remove_account("ada.tenant1").unwrap() > 0);
    w.expect(
        "sign-out of both clouds",
        &[
            text("account-removed", "ada.tenant1", PUBLIC, "ada@contoso.com"),
            text("account-removed", "ada.tenant1", USGOV, "ada@contoso.us"),
        ],
    );
    other_cli(&["clear", "--yes", "--cache", s(&path), "--backend", "secret-service"]);
    w.expect("clear by msal-cache", &[format!("{TIME}  cleared")]);
    assert_eq!(w.stop_with(libc::SIGTERM), 0);
    peer.persistence().delete().unwrap();
}

#[test]
fn b64url_matches_rfc4648() {
    // RFC 4648 section 10, without padding.
    let cases =
        [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE")];
    for (plain, encoded) in cases {
        assert_eq!(b64url(plain), encoded);
    }
    assert_eq!(b64url([0xfb, 0xff]), "-_8");
}
