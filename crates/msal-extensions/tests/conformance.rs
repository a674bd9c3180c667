//! One conformance suite for every `Persistence` backend that can run here:
//! a new backend is tested by one `conformance!` line giving its
//! constructor.
//!
//! Each line checks, on a fresh store: not found before the first save,
//! byte-exact round trips, a new change token on every save, delete (also
//! of nothing), the lockfile beside the location, messages naming the
//! place, recoverable copies kept once and never as plaintext of an
//! encrypted store, and `PersistedTokenCache` on top of it (through a
//! `Box<dyn Persistence>`, as `StoreSpec::open` returns): adds, no-op
//! changes that write nothing, and corrupt content quarantined.
//!
//! Where: file, memory (plain and marked encrypted) and `StoreSpec::open`
//! everywhere; DPAPI on Windows (under Wine, by `scripts/cross-target.sh`);
//! the Secret Service against a real gnome-keyring (through
//! `scripts/with-secret-service.sh`); the Keychain on macOS (compiled for
//! macOS in CI, run only there).

mod common;

use std::path::{Path, PathBuf};

use common::Scratch;
use msal_extensions::{
    AccessTokenQuery, ChangeToken, CopyPlace, CopyReason, FilePersistence, MemoryPersistence, OnCorrupt,
    PersistedTokenCache, Persistence, StoreSpec, TokenResponse,
};

/// Text that must never appear in a file when the store is encrypted.
const MARK: &str = "C0NF0RMANCE-SECRET";

/// `conformance!(name, |dir| -> Option<Box<dyn Persistence>>, #[attrs]...)`:
/// one test running the whole suite on the store the closure opens in `dir`
/// (`None`: a peer is missing and the test was skipped by `peer_missing`).
macro_rules! conformance {
    ($name:ident, $open:expr $(, #[$attr:meta])*) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            let dir = Scratch::new(concat!("conf-", stringify!($name)));
            let open: fn(&Scratch) -> Option<Box<dyn Persistence>> = $open;
            let Some(store) = open(&dir) else { return };
            suite(store, &dir.0);
        }
    };
}

conformance!(file, |d| Some(Box::new(FilePersistence::new(d.path("c.json")).unwrap())));
conformance!(file_through_store_spec, |d| Some(StoreSpec::file(d.path("c.json")).open().unwrap()));
conformance!(memory, |d| Some(Box::new(MemoryPersistence::at(d.path("c.json")))));
conformance!(memory_marked_encrypted, |d| Some(Box::new(MemoryPersistence::at(d.path("c")).encrypted(true))));
#[cfg(windows)]
conformance!(dpapi, |d| Some(StoreSpec::dpapi(d.path("c.bin")).open().unwrap()));
#[cfg(target_os = "linux")]
conformance!(
    secret_service,
    |d| common::secret_service().then(|| StoreSpec::secret_service(d.path("c.signal")).open().unwrap()),
    #[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
);
#[cfg(target_os = "macos")]
conformance!(keychain, |d| Some(StoreSpec::keychain(d.path("c.signal")).open().unwrap()));

fn suite(store: Box<dyn Persistence>, dir: &Path) {
    fresh_store(&*store);
    round_trips_and_change_tokens(&*store);
    names_its_place(&*store);
    copies(&*store, dir);
    deletes(&*store);
    persisted_token_cache(store, dir);
}

fn fresh_store(p: &dyn Persistence) {
    assert!(p.load_bytes().unwrap_err().is_not_found(), "nothing saved yet");
    assert!(p.change_token().unwrap().is_absent());
    p.delete().expect("deleting nothing is Ok");
    assert!(p.keep_copy(CopyReason::Replaced).unwrap().is_none(), "no copy of nothing");
}

fn round_trips_and_change_tokens(p: &dyn Persistence) {
    let mut seen: Vec<ChangeToken> = Vec::new();
    for content in [format!("{{\"a\": \"{MARK} caf\u{e9}\"}}"), "{}".into(), "{}".into(), "x".repeat(70_000)]
    {
        p.save(&content).unwrap();
        assert_eq!(p.load().unwrap(), content);
        assert_eq!(p.load_bytes().unwrap(), content.as_bytes());
        let t = p.change_token().unwrap();
        assert!(!t.is_absent() && !seen.contains(&t), "every save, even of equal content, gives a new token");
        assert_eq!(p.change_token().unwrap(), t, "no write, no change");
        seen.push(t);
        p.time_last_modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2)); // coarse-mtime file systems
    }
}

fn names_its_place(p: &dyn Persistence) {
    assert_eq!(p.lock_path(), PathBuf::from(format!("{}.lockfile", p.location().display())));
    let d = p.describe();
    assert!(!d.is_empty() && !d.contains(MARK), "{d}");
    assert!(!p.backend_name().is_empty());
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(MARK), "Debug shows no content: {dbg}");
}

fn copies(p: &dyn Persistence, dir: &Path) {
    let content = format!("{{\"AccessToken\": {{\"k\": {{\"secret\": \"{MARK}\"}}}}}}");
    p.save(&content).unwrap();
    let first = p.keep_copy(CopyReason::Replaced).unwrap();
    let again = p.keep_copy(CopyReason::Replaced).unwrap();
    if let (Some(first), Some(again)) = (&first, &again) {
        assert!(first.new && !again.new && first.place == again.place, "kept once: {first:?} {again:?}");
        assert_eq!(first.encrypted, p.is_encrypted());
        if let CopyPlace::File(path) = &first.place {
            let kept = std::fs::read(path).unwrap();
            if p.is_encrypted() {
                assert!(!common::contains(&kept, MARK), "an encrypted store's copy is not plaintext");
            } else {
                assert_eq!(kept, content.as_bytes());
            }
        }
    } else {
        assert!(p.is_encrypted(), "only an encrypted store may decline to keep a copy");
    }
    assert_no_plaintext(p, dir);
}

fn deletes(p: &dyn Persistence) {
    p.save("{}").unwrap();
    let before = p.change_token().unwrap();
    p.delete().unwrap();
    assert!(p.load_bytes().unwrap_err().is_not_found());
    assert_ne!(p.change_token().unwrap(), before, "readers can tell a delete happened");
    p.delete().unwrap();
}

fn persisted_token_cache(store: Box<dyn Persistence>, dir: &Path) {
    let encrypted = store.is_encrypted();
    let cache = PersistedTokenCache::new(store);
    let body = format!(r#"{{"access_token": "{MARK}-at", "expires_in": 3600}}"#);
    let r = TokenResponse::new("client", ["scope"], "https://login.microsoftonline.com/t", &body).unwrap();
    cache.add(&r).unwrap();
    let q = AccessTokenQuery::new("client", ["scope"]);
    let hit = cache.access_token(&q).unwrap().expect("added");
    assert_eq!(hit.secret.as_ref().unwrap().expose(), format!("{MARK}-at"));
    let token = cache.persistence().change_token().unwrap();
    let (_, report) = cache.modify_reporting(|c| Ok(c.remove_account("nobody"))).unwrap();
    assert!(
        !report.written && cache.persistence().change_token().unwrap() == token,
        "a no-op writes nothing"
    );

    // Corrupt content: quarantined by the store's own rule, never as plaintext of an encrypted store.
    cache.persistence().save(&format!("{{\"AccessToken\": {{\"{MARK}\"")).unwrap();
    assert!(cache.access_token(&q).unwrap().is_none(), "corrupt reads as empty");
    let fail = PersistedTokenCache::new(&**cache.persistence()).on_corrupt(OnCorrupt::Fail);
    let err = fail.accounts().unwrap_err().to_string();
    assert!(err.contains(&cache.persistence().describe()) && !err.contains(MARK), "{err}");
    cache.add(&r).unwrap();
    assert!(fail.access_token(&q).unwrap().is_some(), "the next change replaced the corrupt content");
    if encrypted {
        assert_no_plaintext(&**cache.persistence(), dir);
    }
    cache.persistence().delete().unwrap();
}

fn assert_no_plaintext(p: &dyn Persistence, dir: &Path) {
    if p.is_encrypted() {
        let leaks = common::files_containing(dir, MARK);
        assert!(leaks.is_empty(), "plaintext of an encrypted store in {leaks:?}");
    }
}
