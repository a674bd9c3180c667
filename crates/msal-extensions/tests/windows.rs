//! Windows behaviour of the lock, the file backend and DPAPI, across real
//! processes. Run under Wine by `scripts/cross-target.sh` (which also
//! produces the reference-call-shape DPAPI blobs), and natively on Windows.
//! Wine's DPAPI and file sharing are reimplementations, not Windows': these
//! tests show the code drives the APIs correctly, not that Windows agrees.
#![cfg(windows)]

mod common;

use std::fs::{self, OpenOptions};
use std::os::windows::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Scratch, peer_missing, worker_args, worker_command};
use msal_extensions::{CrossPlatLock, DpapiPersistence, Error, FilePersistence, LockOptions, Persistence};

/// The plaintext `dpapi_reference_blob.exe` encrypts (UTF-8, with a non-ASCII letter).
const REFERENCE_TEXT: &str =
    "{\"AccessToken\": {\"reference\": \"caf\u{e9} written like msal_extensions.windows\"}}";
/// The entropy string it uses for `entropy.bin`.
const REFERENCE_ENTROPY: &str = "msal-extensions-rs reference entropy \u{e9}";

const ROUNDS: usize = 25;

/// The worker: `count <cache> <rounds>` increments a counter under the lock;
/// `hold <lockfile> <marker> <ms>` holds the lock, announces it, and sleeps.
#[test]
fn worker_entry() {
    let Some(args) = worker_args() else { return };
    match args.first().map(String::as_str) {
        Some("count") => count(Path::new(&args[1]), args[2].parse().unwrap()),
        Some("hold") => {
            let lock = CrossPlatLock::acquire(&args[1]).unwrap();
            fs::write(&args[2], "held").unwrap();
            std::thread::sleep(Duration::from_millis(args[3].parse().unwrap()));
            lock.release().unwrap();
        }
        other => panic!("unknown worker command {other:?}"),
    }
}

fn count(cache: &Path, rounds: usize) {
    let p = FilePersistence::new(cache).unwrap();
    for _ in 0..rounds {
        let _lock = CrossPlatLock::acquire(p.lock_path()).unwrap();
        let n: usize = match p.load() {
            Ok(s) => s.trim().parse().unwrap(),
            Err(e) if e.is_not_found() => 0,
            Err(e) => panic!("{e}"),
        };
        p.save(&(n + 1).to_string()).unwrap();
    }
}

fn spawn(args: &[&str]) -> std::process::Child {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    worker_command("worker_entry", &args).spawn().unwrap()
}

#[test]
fn processes_contending_lose_no_update() {
    let d = Scratch::new("win-count");
    let cache = d.path("counter.json");
    let c = cache.to_str().unwrap();
    let rounds = ROUNDS.to_string();
    let workers: Vec<_> = (0..2).map(|_| spawn(&["count", c, &rounds])).collect();
    count(&cache, ROUNDS); // this process contends too
    for mut w in workers {
        assert!(w.wait().unwrap().success(), "a worker failed");
    }
    assert_eq!(fs::read_to_string(&cache).unwrap(), (3 * ROUNDS).to_string());
    assert!(!d.path("counter.json.lockfile").exists(), "the last release deletes the lockfile");
}

#[test]
fn a_lock_held_by_another_process_times_out_then_frees() {
    let d = Scratch::new("win-held");
    let lockfile = d.path("c.json.lockfile");
    let marker = d.path("marker");
    let mut holder = spawn(&["hold", lockfile.to_str().unwrap(), marker.to_str().unwrap(), "1500"]);
    wait_for(&marker);
    let e = LockOptions::new().timeout(Duration::from_millis(200)).acquire(&lockfile).unwrap_err();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
    assert!(lockfile.exists());
    let lock = LockOptions::new().timeout(Duration::from_secs(30)).acquire(&lockfile).unwrap();
    assert!(holder.wait().unwrap().success());
    lock.release().unwrap();
    assert!(!lockfile.exists());
}

#[test]
fn lockfile_of_a_dead_process_is_taken_over() {
    let d = Scratch::new("win-stale");
    let lockfile = d.path("c.json.lockfile");
    // Never a live pid on Windows: pids are multiples of 4.
    fs::write(&lockfile, "4294967 C:\\crashed.exe").unwrap();
    let started = Instant::now();
    let lock = LockOptions::new().timeout(Duration::from_secs(5)).acquire(&lockfile).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // Like Python's `open`: sharing read and write but not delete, so the holder's handle forbids it.
    let e = OpenOptions::new().read(true).share_mode(1 | 2).open(&lockfile).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(32), "ERROR_SHARING_VIOLATION expected, got {e}");
    lock.release().unwrap();
    assert!(!lockfile.exists());
}

#[test]
fn save_waits_out_readers_holding_the_cache_open() {
    let d = Scratch::new("win-share");
    let p = FilePersistence::new(d.path("c.json")).unwrap();
    p.save("old").unwrap();
    // 1|2: share read and write but not delete, like Python's and .NET's readers;
    // 1|2|4: share everything, like Rust's default (still blocks a MoveFileExW replace).
    for (share, text) in [(1 | 2, "new"), (1 | 2 | 4, "newer")] {
        let reader = OpenOptions::new().read(true).share_mode(share).open(p.location()).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(reader);
        });
        p.save(text).unwrap();
        t.join().unwrap();
        assert_eq!(p.load().unwrap(), text);
    }
    let names: Vec<_> = fs::read_dir(&d.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
}

#[test]
fn save_sweeps_temporary_files_of_dead_writers() {
    let d = Scratch::new("win-sweep");
    let p = FilePersistence::new(d.path("c.json")).unwrap();
    let orphan = d.path(".c.json.4294967.0.tmp"); // pid never alive on Windows
    let ours = d.path(&format!(".c.json.{}.999999.tmp", std::process::id()));
    fs::write(&orphan, "half").unwrap();
    fs::write(&ours, "in flight").unwrap();
    p.save("{}").unwrap();
    assert!(!orphan.exists() && ours.exists());
}

#[test]
fn dpapi_persistence_shares_the_lock_protocol() {
    let d = Scratch::new("win-dpapi");
    let p = DpapiPersistence::new(d.path("msal_token_cache.bin")).unwrap().with_entropy("app");
    {
        let _lock = CrossPlatLock::acquire(p.lock_path()).unwrap();
        p.save("{}").unwrap();
    }
    assert_eq!(p.load().unwrap(), "{}");
    assert!(p.is_encrypted() && p.backend_name() == "dpapi");
}

/// Blobs written by `scripts/xtarget/dpapi_reference_blob.c`, which calls
/// `CryptProtectData` exactly as the Python reference does, decrypt here.
#[test]
#[ignore = "needs the reference-call-shape DPAPI blobs; scripts/cross-target.sh runs it"]
fn reference_call_shape_blobs_decrypt() {
    let Some(dir) = reference_dir() else { return };
    let plain = DpapiPersistence::new(dir.join("no-entropy.bin")).unwrap();
    assert_eq!(plain.load().unwrap(), REFERENCE_TEXT);
    let salted = DpapiPersistence::new(dir.join("entropy.bin")).unwrap().with_entropy(REFERENCE_ENTROPY);
    assert_eq!(salted.load().unwrap(), REFERENCE_TEXT);
    let unsalted = DpapiPersistence::new(dir.join("entropy.bin")).unwrap();
    assert!(matches!(unsalted.load(), Err(Error::Decryption { .. })));
}

fn reference_dir() -> Option<PathBuf> {
    match std::env::var_os("MSALX_DPAPI_REFERENCE_DIR").map(PathBuf::from) {
        Some(d) if d.join("entropy.bin").exists() => Some(d),
        _ => peer_missing(
            "reference-call-shape DPAPI blobs (MSALX_DPAPI_REFERENCE_DIR)",
            "run the Windows tests through scripts/cross-target.sh, which builds and runs dpapi_reference_blob.exe",
        ),
    }
}

fn wait_for(marker: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the worker never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
}
