//! Fault injection on the file backend and the lock: disk full, file-size
//! limit, permission denied, folder deleted. Each failure must be a typed
//! error naming the path, leave the previous cache intact, and leave no
//! temporary file behind.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Scratch;
use msal_extensions::{CrossPlatLock, Error, FilePersistence, LockOptions, Persistence};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn assert_io_naming(err: &Error, needle: &Path) {
    assert!(matches!(err, Error::Io { .. }), "expected an I/O error, got {err:?}");
    let shown = err.to_string();
    let dir = needle.parent().unwrap_or(needle);
    assert!(
        shown.contains(&needle.display().to_string()) || shown.contains(&dir.display().to_string()),
        "error does not name {}: {shown}",
        needle.display()
    );
    assert!(std::error::Error::source(err).is_some(), "the OS error must be kept as the source");
}

/// A tmpfs of `kib` KiB mounted at `at`, unmounted on drop.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(at: PathBuf, kib: u32) -> Option<Self> {
        fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0700"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(TinyFs(at))
        } else {
            common::peer_missing("a small tmpfs (mount as root)", "run the tests as root, as CI does")
        }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_keeps_the_previous_cache_and_no_temp_file() {
    let dir = Scratch::new("fault-full");
    let Some(mnt) = TinyFs::mount(dir.path("mnt"), 512) else { return };
    let path = mnt.0.join("cache.json");
    let cache = FilePersistence::new(&path).unwrap();
    cache.save(r#"{"AccessToken": {}}"#).unwrap();
    let err = cache.save(&"x".repeat(2 << 20)).unwrap_err();
    assert_io_naming(&err, &path);
    assert_eq!(cache.load().unwrap(), r#"{"AccessToken": {}}"#);
    assert_eq!(listing(&mnt.0), ["cache.json"]);
}

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    match args[0].as_str() {
        "fsize" => fsize_worker(&args[1]),
        "as-nobody" => as_nobody_worker(&args[1..]),
        other => panic!("unknown worker {other}"),
    }
}

/// Saves 1 MiB with RLIMIT_FSIZE at 64 KiB: the write fails with EFBIG.
fn fsize_worker(path: &str) {
    // SAFETY: ignoring SIGXFSZ turns the signal into an EFBIG error; setrlimit
    // gets a valid pointer to a local struct.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit { rlim_cur: 64 << 10, rlim_max: 64 << 10 };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let cache = FilePersistence::new(path).unwrap();
    let err = cache.save(&"y".repeat(1 << 20)).unwrap_err();
    assert_io_naming(&err, Path::new(path));
    assert_eq!(cache.load().unwrap(), "small");
}

#[test]
fn file_size_limit_is_an_error_naming_the_path() {
    let dir = Scratch::new("fault-fsize");
    let path = dir.path("cache.json");
    FilePersistence::new(&path).unwrap().save("small").unwrap();
    let status = common::worker_command("worker_entry", &["fsize".into(), path.display().to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "worker failed: {status}");
    assert_eq!(listing(&dir.0), ["cache.json"], "no temporary file may be left");
}

/// Runs as uid/gid nobody: every operation on root's private files is denied.
fn as_nobody_worker(args: &[String]) {
    // SAFETY: plain syscalls on our own process; the order (gid first) is required.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
        assert_eq!(libc::setgid(NOBODY), 0);
        assert_eq!(libc::setuid(NOBODY), 0);
    }
    let (folder, cache_path) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let into_folder = FilePersistence::new(folder.join("new.json")).unwrap();
    assert_io_naming(&into_folder.save("x").unwrap_err(), &folder.join("new.json"));
    let existing = FilePersistence::new(&cache_path).unwrap();
    let err = existing.load().unwrap_err();
    assert!(!err.is_not_found(), "permission denied must not look like 'no cache yet'");
    assert_io_naming(&err, &cache_path);
    let lock_err = LockOptions::new().acquire(folder.join("new.json.lockfile")).unwrap_err();
    assert_io_naming(&lock_err, &folder.join("new.json.lockfile"));
}

#[test]
fn permission_denied_is_an_error_naming_the_path() {
    if !is_root() {
        return eprintln!("!!!!!!!! SKIPPED: needs root to switch to uid nobody (CI runs as root) !!!!!!!!");
    }
    let dir = Scratch::new("fault-perm");
    let folder = dir.path("private");
    let cache_path = folder.join("cache.json");
    FilePersistence::new(&cache_path).unwrap().save("root's tokens").unwrap();
    // The scratch folder itself must be traversable by nobody.
    fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let args = ["as-nobody".into(), folder.display().to_string(), cache_path.display().to_string()];
    let status = common::worker_command("worker_entry", &args).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "worker failed: {status}");
    assert_eq!(fs::read_to_string(&cache_path).unwrap(), "root's tokens");
    assert_eq!(listing(&folder), ["cache.json"]);
}

#[test]
fn folder_deleted_while_in_use_is_recreated_private() {
    let dir = Scratch::new("fault-rmdir");
    let folder = dir.path("cfg");
    let cache = FilePersistence::new(folder.join("cache.json")).unwrap();
    cache.save("one").unwrap();
    let lock = CrossPlatLock::acquire(cache.lock_path()).unwrap();
    fs::remove_dir_all(&folder).unwrap();
    assert!(cache.load().unwrap_err().is_not_found());
    cache.save("two").unwrap();
    assert_eq!(cache.load().unwrap(), "two");
    let mode = fs::metadata(&folder).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o700);
    // The guard's lockfile went with the folder; releasing must not fail or delete anything else.
    lock.release().unwrap();
    assert_eq!(listing(&folder), ["cache.json"]);
}

#[test]
fn files_are_private_whatever_the_umask() {
    let dir = Scratch::new("fault-umask");
    // SAFETY: umask only changes this process's file-creation mask; tests in
    // this binary that create files do not depend on it.
    let old = unsafe { libc::umask(0o000) };
    let cache = FilePersistence::new(dir.path("a/b/cache.json")).unwrap();
    cache.save("{}").unwrap();
    let lock = CrossPlatLock::acquire(cache.lock_path()).unwrap();
    let lock_mode = fs::metadata(cache.lock_path()).unwrap().permissions();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let mode =
        |p: &Path| std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&dir.path("a/b/cache.json")), 0o600);
    assert_eq!(mode(&dir.path("a/b")), 0o700);
    assert_eq!(mode(&dir.path("a")), 0o700);
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&lock_mode) & 0o777, 0o600);
    drop(lock);
}

#[test]
fn symlink_planted_at_the_cache_path_is_replaced_not_written_through() {
    let dir = Scratch::new("fault-symlink");
    let victim = dir.path("victim");
    fs::write(&victim, "do not overwrite").unwrap();
    let path = dir.path("cache.json");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    FilePersistence::new(&path).unwrap().save("tokens").unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "do not overwrite");
    assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(&path).unwrap(), "tokens");
}

/// Root saving another user's cache (e.g. `sudo` running a tool on it)
/// leaves the file that user's, with its mode: owner, group and permission
/// bits of the replaced file are kept. Recoverable copies go to the owner too.
#[test]
fn a_save_keeps_the_owner_group_and_mode_of_the_file() {
    use msal_extensions::{CopyPlace, CopyReason, PersistedTokenCache, TokenResponse};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !is_root() {
        return common::peer_missing("root", "run the tests as root (CI does) to change a file's owner")
            .unwrap_or(());
    }
    let dir = Scratch::new("fault-owner");
    let path = dir.path("cache.json");
    fs::write(&path, "{}").unwrap();
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let owner = |p: &Path| {
        let m = fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o777)
    };
    FilePersistence::new(&path).unwrap().save("{\"AccessToken\": {}}").unwrap();
    assert_eq!(owner(&path), (NOBODY, NOBODY, 0o640), "a plain save");
    let cache = PersistedTokenCache::new(FilePersistence::new(&path).unwrap()).keep_replaced(true);
    let r = TokenResponse::new("c", ["s"], "https://login.microsoftonline.com/t", r#"{"access_token": "a"}"#);
    let (_, report) = cache.modify_reporting(|c| c.add(&r.unwrap())).unwrap();
    assert_eq!(owner(&path), (NOBODY, NOBODY, 0o640), "a cache change");
    let copy = report.copy.expect("a copy of the replaced content");
    assert_eq!(copy.reason, CopyReason::Replaced);
    let CopyPlace::File(kept) = copy.place else { panic!() };
    assert_eq!(owner(&kept), (NOBODY, NOBODY, 0o600), "the copy is the owner's, and private");
    // A new file is root's own and private.
    let fresh = dir.path("new.json");
    FilePersistence::new(&fresh).unwrap().save("{}").unwrap();
    assert_eq!(owner(&fresh), (0, 0, 0o600));
    // The lock's guard, created by root in a user's folder, is the user's: it
    // is never deleted, so otherwise that user could never lock again.
    let users = dir.path("users-folder");
    fs::create_dir(&users).unwrap();
    std::os::unix::fs::chown(&users, Some(NOBODY), Some(NOBODY)).unwrap();
    drop(CrossPlatLock::acquire(users.join("c.json.lockfile")).unwrap());
    assert_eq!(owner(&users.join("c.json.lockfile.guard")), (NOBODY, NOBODY, 0o600));
}
