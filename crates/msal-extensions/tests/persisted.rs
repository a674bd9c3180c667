//! PersistedTokenCache: reload only on change, one save per mutation,
//! corrupt content quarantined or reported, thread safety.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Scratch;
use msal_extensions::{
    AccessTokenQuery, ChangeToken, Durability, Error, FilePersistence, OnCorrupt, PersistedTokenCache,
    Persistence, TokenResponse,
};

const CLIENT: &str = "client";
const AUTH: &str = "https://login.microsoftonline.com/contoso";

/// A real FilePersistence that counts the calls made to it.
#[derive(Debug)]
struct Counting {
    inner: FilePersistence,
    loads: AtomicUsize,
    saves: AtomicUsize,
    /// Content served instead of the file's for the next N loads (a peer's half-written file).
    torn_loads: AtomicUsize,
}

impl Counting {
    fn new(p: FilePersistence) -> Self {
        Counting { inner: p, loads: 0.into(), saves: 0.into(), torn_loads: 0.into() }
    }
}

impl Persistence for Counting {
    fn save_bytes(&self, c: &[u8]) -> msal_extensions::Result<()> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save_bytes(c)
    }
    fn load_bytes(&self) -> msal_extensions::Result<Vec<u8>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let full = self.inner.load_bytes()?;
        if self.torn_loads.load(Ordering::SeqCst) > 0 {
            self.torn_loads.fetch_sub(1, Ordering::SeqCst);
            return Ok(full[..full.len() / 2].to_vec());
        }
        Ok(full)
    }
    fn delete(&self) -> msal_extensions::Result<()> {
        self.inner.delete()
    }
    fn change_token(&self) -> msal_extensions::Result<ChangeToken> {
        self.inner.change_token()
    }
    fn location(&self) -> &std::path::Path {
        self.inner.location()
    }
    fn is_encrypted(&self) -> bool {
        false
    }
    fn backend_name(&self) -> &'static str {
        "counting"
    }
}

fn file(s: &Scratch) -> FilePersistence {
    FilePersistence::new(s.path("cache.json")).unwrap().with_durability(Durability::ProcessCrash)
}

fn response(scope: &str, secret: &str) -> TokenResponse {
    let body = format!(r#"{{"access_token": "{secret}", "expires_in": 3600}}"#);
    TokenResponse::new(CLIENT, [scope], AUTH, &body).unwrap()
}

fn find(c: &PersistedTokenCache<impl Persistence>, scope: &str) -> Option<String> {
    let q = AccessTokenQuery::new(CLIENT, [scope]);
    c.access_token(&q).unwrap().map(|t| t.secret.as_ref().unwrap().expose().to_owned())
}

fn quarantined(s: &Scratch) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("cache.json.corrupt-"))
        .collect()
}

#[test]
fn reloads_only_when_the_change_token_differs() {
    let s = Scratch::new("ptc-reload");
    let mine = PersistedTokenCache::new(Counting::new(file(&s)));
    let theirs = PersistedTokenCache::new(file(&s));
    theirs.add(&response("a", "A")).unwrap();
    assert_eq!(find(&mine, "a").as_deref(), Some("A"));
    for _ in 0..10 {
        assert_eq!(find(&mine, "a").as_deref(), Some("A"));
    }
    assert_eq!(mine.persistence().loads.load(Ordering::SeqCst), 1, "an unchanged file is not re-read");
    theirs.add(&response("b", "B")).unwrap();
    assert_eq!(find(&mine, "b").as_deref(), Some("B"), "a foreign write is seen at once");
    assert_eq!(mine.persistence().loads.load(Ordering::SeqCst), 2);
}

#[test]
fn one_save_and_no_reload_per_mutation() {
    let s = Scratch::new("ptc-rounds");
    let c = PersistedTokenCache::new(Counting::new(file(&s)));
    for i in 0..5 {
        c.add(&response(&format!("s{i}"), "x")).unwrap();
    }
    let token = c.persistence().change_token().unwrap();
    assert_eq!(c.remove_account("nobody").unwrap(), 0);
    let p = c.persistence();
    assert_eq!(
        p.saves.load(Ordering::SeqCst),
        5,
        "one save per add, none for a removal that removed nothing"
    );
    assert_eq!(p.change_token().unwrap(), token, "a no-op leaves the file (and its mtime) alone");
    assert_eq!(p.loads.load(Ordering::SeqCst), 0, "own writes are not re-read");
    assert!(!s.path("cache.json.lockfile").exists(), "lock released");
    assert!(find(&c, "s4").is_some());
    assert_eq!(p.loads.load(Ordering::SeqCst), 0);
}

#[test]
fn a_torn_read_is_retried_not_quarantined() {
    let s = Scratch::new("ptc-torn");
    PersistedTokenCache::new(file(&s)).add(&response("a", "A")).unwrap();
    let c = PersistedTokenCache::new(Counting::new(file(&s)));
    c.persistence().torn_loads.store(1, Ordering::SeqCst);
    assert_eq!(find(&c, "a").as_deref(), Some("A"));
    assert_eq!(c.persistence().loads.load(Ordering::SeqCst), 2, "read once torn, retried once");
    assert!(quarantined(&s).is_empty());
}

#[test]
fn corrupt_content_is_quarantined_then_replaced() {
    for bad in ["not json", "{\"AccessToken\": {\"k\": {\"secret\": \"x\"", "[1,2]", "{\"AccessToken\": 5}"] {
        let s = Scratch::new("ptc-corrupt");
        std::fs::write(s.path("cache.json"), bad).unwrap();
        let c = PersistedTokenCache::new(file(&s));
        assert_eq!(find(&c, "a"), None, "corrupt reads as empty");
        let q = quarantined(&s);
        assert_eq!(q.len(), 1, "{bad}");
        assert_eq!(std::fs::read_to_string(&q[0]).unwrap(), bad, "the copy holds the original bytes");
        assert_eq!(std::fs::read_to_string(s.path("cache.json")).unwrap(), bad, "a read does not write");
        find(&c, "a");
        assert_eq!(quarantined(&s).len(), 1, "one copy per corrupt version, not per read");
        c.add(&response("a", "A")).unwrap();
        assert_eq!(find(&PersistedTokenCache::new(file(&s)), "a").as_deref(), Some("A"));
        assert_eq!(quarantined(&s).len(), 1);
    }
}

#[test]
fn corrupt_content_can_be_an_error_instead() {
    let s = Scratch::new("ptc-fail");
    std::fs::write(s.path("cache.json"), "not json").unwrap();
    let c = PersistedTokenCache::new(file(&s)).on_corrupt(OnCorrupt::Fail);
    let q = AccessTokenQuery::new(CLIENT, ["a"]);
    assert!(matches!(c.access_token(&q), Err(Error::Corrupt { .. })));
    assert!(matches!(c.add(&response("a", "A")), Err(Error::Corrupt { .. })));
    assert_eq!(std::fs::read_to_string(s.path("cache.json")).unwrap(), "not json", "nothing overwritten");
    assert!(quarantined(&s).is_empty());
}

#[test]
fn empty_missing_and_wrongly_typed_files_are_not_corrupt() {
    let s = Scratch::new("ptc-empty");
    let c = PersistedTokenCache::new(file(&s));
    assert_eq!(find(&c, "a"), None, "missing file = empty cache");
    std::fs::write(s.path("cache.json"), "").unwrap();
    assert_eq!(find(&c, "a"), None, "empty file = empty cache");
    let typed =
        r#"{"AccessToken": {"k": {"client_id": "client", "target": "a", "secret": 7, "expires_on": [1]}}}"#;
    std::fs::write(s.path("cache.json"), typed).unwrap();
    assert_eq!(find(&c, "a"), None, "an entry with unusable fields is not returned");
    c.add(&response("b", "B")).unwrap();
    let text = std::fs::read_to_string(s.path("cache.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["AccessToken"]["k"]["secret"], 7, "kept verbatim: {text}");
    assert_eq!(doc["AccessToken"]["k"]["expires_on"], serde_json::json!([1]), "kept verbatim: {text}");
    assert!(quarantined(&s).is_empty());
}

#[test]
fn shared_by_threads_and_handles_without_losing_updates() {
    let s = Scratch::new("ptc-threads");
    let shared = Arc::new(PersistedTokenCache::new(file(&s)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let path = s.path("cache.json");
            std::thread::spawn(move || {
                // Half the threads use their own handle on the same file.
                let own = PersistedTokenCache::new(FilePersistence::new(path).unwrap());
                for i in 0..20 {
                    let scope = format!("t{t}-{i}");
                    let r = response(&scope, &scope);
                    if t % 2 == 0 {
                        shared.add(&r).unwrap()
                    } else {
                        own.add(&r).unwrap()
                    }
                    assert_eq!(find(&*shared, &scope).as_deref(), Some(scope.as_str()), "read-your-writes");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let fresh = PersistedTokenCache::new(file(&s));
    for t in 0..8 {
        for i in 0..20 {
            let scope = format!("t{t}-{i}");
            assert_eq!(find(&fresh, &scope).as_deref(), Some(scope.as_str()));
        }
    }
    assert_eq!(fresh.read(|c| c.access_tokens().count()).unwrap(), 160);
}

#[test]
fn readers_of_a_corrupt_file_and_writers_do_not_deadlock() {
    let s = Scratch::new("ptc-corrupt-threads");
    std::fs::write(s.path("cache.json"), "{\"AccessToken\": {\"trunc").unwrap();
    let shared = Arc::new(PersistedTokenCache::new(file(&s)));
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..8 {
        let (shared, tx) = (Arc::clone(&shared), tx.clone());
        std::thread::spawn(move || {
            for i in 0..10 {
                let scope = format!("t{t}-{i}");
                if t % 2 == 0 {
                    shared.add(&response(&scope, &scope)).unwrap();
                } else {
                    find(&*shared, &scope);
                }
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..8 {
        rx.recv_timeout(std::time::Duration::from_secs(60)).expect("a thread is stuck: lock-order deadlock?");
    }
    for t in (0..8).step_by(2) {
        assert!(find(&*shared, &format!("t{t}-9")).is_some());
    }
    assert_eq!(quarantined(&s).len(), 1, "the corrupt version is kept once");
}

#[test]
fn pretty_output_is_indented_like_msal_python() {
    let s = Scratch::new("ptc-pretty");
    let c = PersistedTokenCache::new(file(&s)).pretty(true);
    c.add(&response("a", "A")).unwrap();
    let text = std::fs::read_to_string(s.path("cache.json")).unwrap();
    assert!(text.starts_with("{\n    \"AccessToken\": {\n        \""), "{text}");
    assert_eq!(find(&PersistedTokenCache::new(file(&s)), "a").as_deref(), Some("A"));
}

/// A save keeps the stored layout: indented (MSAL Python) stays indented,
/// compact (MSAL .NET) stays compact, unless a layout is set.
#[test]
fn the_stored_layout_is_kept_unless_told_otherwise() {
    use msal_extensions::Layout;
    let s = Scratch::new("ptc-layout");
    let indented = s.path("cache.json");
    PersistedTokenCache::new(file(&s)).layout(Layout::Indented).add(&response("a", "A")).unwrap();
    PersistedTokenCache::new(file(&s)).add(&response("b", "B")).unwrap();
    let text = std::fs::read_to_string(&indented).unwrap();
    assert!(text.starts_with("{\n    \"AccessToken\": {\n"), "indented kept: {text}");
    PersistedTokenCache::new(file(&s)).layout(Layout::Compact).add(&response("c", "C")).unwrap();
    let text = std::fs::read_to_string(&indented).unwrap();
    assert!(text.starts_with("{\"AccessToken\":{"), "compact on request: {text}");
    PersistedTokenCache::new(file(&s)).add(&response("d", "D")).unwrap();
    let text = std::fs::read_to_string(&indented).unwrap();
    // Entries the write did not touch are kept byte for byte (indented here); the layout is the top level's.
    assert!(text.starts_with("{\"AccessToken\":{"), "compact kept: {text}");
    assert_eq!(find(&PersistedTokenCache::new(file(&s)), "a").as_deref(), Some("A"));
}

/// A change whose closure changes nothing writes nothing: the file, its
/// modification time and change token stay as they were, and the report says so.
#[test]
fn a_no_op_change_writes_nothing() {
    let s = Scratch::new("ptc-noop");
    let c = PersistedTokenCache::new(file(&s));
    let (_, report) = c.modify_reporting(|_| Ok(())).unwrap();
    assert!(!report.written && !s.path("cache.json").exists(), "no file is created for nothing");
    c.add(&response("a", "A")).unwrap();
    let token = c.persistence().change_token().unwrap();
    let mtime = std::fs::metadata(s.path("cache.json")).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let other = PersistedTokenCache::new(file(&s)); // a fresh handle loads first
    for cache in [&c, &other] {
        let (n, report) = cache.modify_reporting(|t| Ok(t.remove_account("nobody"))).unwrap();
        assert_eq!((n, report.written), (0, false));
        assert!(!cache.update_refresh_token("nobody", "client", "x").unwrap());
    }
    assert_eq!(c.persistence().change_token().unwrap(), token);
    assert_eq!(std::fs::metadata(s.path("cache.json")).unwrap().modified().unwrap(), mtime);
    let (_, report) = c.modify_reporting(|t| t.add(&response("b", "B"))).unwrap();
    assert!(report.written);
}

/// `preset.open()` and other boxed, shared or borrowed stores go straight in.
#[test]
fn boxed_shared_and_borrowed_stores_are_persistences() {
    let s = Scratch::new("ptc-box");
    let boxed: Box<dyn Persistence> = msal_extensions::StoreSpec::file(s.path("cache.json")).open().unwrap();
    PersistedTokenCache::new(boxed).add(&response("a", "A")).unwrap();
    let shared = Arc::new(file(&s));
    assert_eq!(find(&PersistedTokenCache::new(Arc::clone(&shared)), "a").as_deref(), Some("A"));
    assert_eq!(find(&PersistedTokenCache::new(&*shared), "a").as_deref(), Some("A"));
}
