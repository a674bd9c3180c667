//! Recoverable copies: corrupt content is kept once per distinct content, in
//! the store's own form (never decrypted plaintext of an encrypted store);
//! a complete cache followed by junk is recovered; tools replacing a cache
//! get a copy of what they replaced and are told where.

mod common;

use std::path::{Path, PathBuf};

use common::Scratch;
use msal_extensions::{
    AccessTokenQuery, CopyPlace, CopyReason, FilePersistence, Layout, MemoryPersistence, OnCorrupt,
    PersistedTokenCache, Persistence, TokenCache, TokenResponse,
};

const MARK: &str = "PLAINTEXT-MARK";
const AUTH: &str = "https://login.microsoftonline.com/contoso";

fn logs_mentioning(needle: &str) -> Vec<String> {
    common::capture_logs().lines().into_iter().filter(|l| l.contains(needle)).collect()
}

fn response(scope: &str, secret: &str) -> TokenResponse {
    let body = format!(r#"{{"access_token": "{secret}", "expires_in": 3600}}"#);
    TokenResponse::new("client", [scope], AUTH, &body).unwrap()
}

fn find<P: Persistence>(c: &PersistedTokenCache<P>, scope: &str) -> Option<String> {
    let q = AccessTokenQuery::new("client", [scope]);
    c.access_token(&q).unwrap().and_then(|t| t.secret.as_ref().map(|s| s.expose().to_owned()))
}

fn copies(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&format!(".{tag}-")))
        .collect();
    v.sort();
    v
}

/// A corrupt *encrypted* store is never copied as plaintext: the memory
/// store (marked encrypted) keeps its copy inside itself, and no file
/// anywhere in the folder holds the secret.
#[test]
fn quarantine_of_an_encrypted_store_writes_no_plaintext() {
    let s = Scratch::new("quar-enc");
    let store = MemoryPersistence::at(s.path("cache.bin")).encrypted(true);
    let corrupt = format!(r#"{{"AccessToken": {{"k": {{"secret": "{MARK}""#);
    store.save(&corrupt).unwrap();
    let cache = PersistedTokenCache::new(store.clone());
    assert_eq!(find(&cache, "a"), None, "corrupt reads as empty");
    assert_eq!(store.copies(), vec![(CopyReason::Corrupt, corrupt.clone().into_bytes())]);
    cache.add(&response("a", "fresh")).unwrap();
    assert!(
        common::files_containing(&s.0, MARK).is_empty(),
        "plaintext written: {:?}",
        common::files_containing(&s.0, MARK)
    );
    assert_eq!(store.copies().len(), 1, "one copy");
}

/// The same for a plaintext store: the copy is a `0600` file beside it,
/// holding the original bytes, named by content; a second reader, or the
/// same content again later, finds it instead of making another.
#[test]
fn a_plaintext_copy_is_kept_once_per_content() {
    let s = Scratch::new("quar-plain");
    let path = s.path("cache.json");
    std::fs::write(&path, "not json").unwrap();
    for _ in 0..3 {
        assert_eq!(find(&PersistedTokenCache::new(FilePersistence::new(&path).unwrap()), "a"), None);
    }
    let kept = copies(&s.0, "corrupt");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), b"not json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::write(&path, "other junk").unwrap();
    assert_eq!(find(&PersistedTokenCache::new(FilePersistence::new(&path).unwrap()), "a"), None);
    assert_eq!(copies(&s.0, "corrupt").len(), 2, "new content, new copy");
}

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    let cache = PersistedTokenCache::new(FilePersistence::new(&args[0]).unwrap());
    assert_eq!(find(&cache, "a"), None);
}

/// Five processes meeting one corrupt file leave one copy.
#[test]
fn five_processes_leave_one_copy() {
    let s = Scratch::new("quar-5");
    let path = s.path("cache.json");
    std::fs::write(&path, "{\"AccessToken\": {\"k\": tru").unwrap();
    let mut children: Vec<_> = (0..5)
        .map(|_| {
            common::worker_command("worker_entry", &[path.display().to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(copies(&s.0, "corrupt").len(), 1, "{:?}", copies(&s.0, "corrupt"));
}

/// msal-node can leave a complete cache followed by junk: the leading cache
/// is kept, the whole original is kept as a copy, and a warning says so.
#[test]
fn a_complete_cache_followed_by_junk_is_recovered() {
    common::capture_logs();
    let s = Scratch::new("quar-junk");
    let path = s.path("cache.json");
    let good = PersistedTokenCache::new(FilePersistence::new(&path).unwrap());
    good.add(&response("a", "kept-token")).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"ken\": {}}}\n\xff junk");
    std::fs::write(&path, &bytes).unwrap();
    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap());
    assert_eq!(find(&cache, "a").as_deref(), Some("kept-token"), "the leading cache is kept");
    let kept = copies(&s.0, "corrupt");
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes, "the whole original is kept");
    let warned = logs_mentioning("followed by");
    assert!(warned.iter().any(|l| l.starts_with("WARN") && l.contains("cache.json")), "{warned:?}");
    // The next change writes the leading cache back, without the junk.
    cache.add(&response("b", "second")).unwrap();
    let fresh = PersistedTokenCache::new(FilePersistence::new(&path).unwrap()).on_corrupt(OnCorrupt::Fail);
    assert_eq!(find(&fresh, "a").as_deref(), Some("kept-token"));
    assert_eq!(find(&fresh, "b").as_deref(), Some("second"));
}

/// With `OnCorrupt::Fail` (a read-only tool) junk is an error and nothing is copied or written.
#[test]
fn junk_under_fail_is_an_error_naming_the_file() {
    let s = Scratch::new("quar-junk-fail");
    let path = s.path("cache.json");
    std::fs::write(&path, "{} trailing").unwrap();
    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap()).on_corrupt(OnCorrupt::Fail);
    let e = cache.accounts().unwrap_err().to_string();
    assert!(e.contains("cache.json") && e.contains("followed by other data"), "{e}");
    assert!(copies(&s.0, "corrupt").is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"{} trailing");
}

/// `replace` is the repair path: it works on a corrupt store (keeping a
/// copy first), writes nothing when the content is the same, and with
/// `keep_replaced` reports where the replaced content went.
#[test]
fn replace_repairs_backs_up_and_skips_identical_content() {
    let s = Scratch::new("quar-replace");
    let path = s.path("cache.json");
    std::fs::write(&path, "garbage").unwrap();
    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap())
        .on_corrupt(OnCorrupt::Fail)
        .keep_replaced(true);
    let report = cache.replace(TokenCache::new()).unwrap();
    assert!(report.written);
    let copy = report.copy.expect("the corrupt content was kept");
    assert_eq!(copy.reason, CopyReason::Corrupt);
    let CopyPlace::File(kept) = &copy.place else { panic!("{copy:?}") };
    assert_eq!(std::fs::read(kept).unwrap(), b"garbage");

    let token = cache.persistence().change_token().unwrap();
    let again = cache.replace(TokenCache::new()).unwrap();
    assert!(!again.written && again.copy.is_none(), "{again:?}");
    assert_eq!(cache.persistence().change_token().unwrap(), token, "identical content: no write");

    cache.add(&response("a", "A")).unwrap();
    let before = std::fs::read(&path).unwrap();
    let report = cache.replace(TokenCache::new()).unwrap();
    let copy = report.copy.unwrap();
    assert_eq!((copy.reason, copy.new, copy.encrypted), (CopyReason::Replaced, true, false));
    let CopyPlace::File(kept) = &copy.place else { panic!() };
    assert!(kept.to_string_lossy().contains(".backup-"), "{kept:?}");
    assert_eq!(std::fs::read(kept).unwrap(), before);
    assert!(copy.to_string().contains(&kept.display().to_string()));
}

/// `remove` deletes the store after keeping a copy; `holding` runs several
/// steps, on two caches sharing one lockfile, in one lock round.
#[test]
fn remove_and_steps_under_one_lock() {
    let s = Scratch::new("quar-remove");
    let from = PersistedTokenCache::new(FilePersistence::new(s.path("c.json")).unwrap()).keep_replaced(true);
    from.add(&response("a", "A")).unwrap();
    let to = PersistedTokenCache::new(MemoryPersistence::at(s.path("c.json"))).layout(Layout::Indented);
    let lock = from.lock().unwrap();
    let snapshot = from.holding(&lock).unwrap().snapshot().unwrap();
    assert!(to.holding(&lock).unwrap().replace(snapshot).unwrap().written);
    let report = from.holding(&lock).unwrap().remove().unwrap();
    assert!(report.written && report.copy.is_some());
    let other = PersistedTokenCache::new(FilePersistence::new(s.path("other.json")).unwrap());
    assert!(other.holding(&lock).is_err(), "another cache's lockfile is refused");
    lock.release().unwrap();
    assert!(!s.path("c.json").exists());
    assert_eq!(find(&to, "a").as_deref(), Some("A"));
    assert!(to.persistence().load().unwrap().starts_with("{\n    \""), "indented as asked");
}
