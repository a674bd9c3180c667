//! Leftover and foreign lockfiles: a crashed holder's file is taken over, a
//! live existence-lock holder's file is respected, and no content a peer (or
//! an attacker) can leave behind makes the lock panic.
#![cfg(unix)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::Scratch;
use msal_extensions::{CrossPlatLock, Error, LockOptions};

/// A pid that certainly belongs to no process: one of ours that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A live process that holds no lock (like a Python or Node existence-lock holder).
fn live_process() -> Child {
    Command::new("sleep").arg("60").spawn().unwrap()
}

fn set_age(path: &Path, age: Duration) {
    let f = fs::File::options().append(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn quick() -> LockOptions {
    LockOptions::new().timeout(Duration::from_millis(400))
}

fn our_stamp(lockfile: &Path) -> String {
    fs::read_to_string(lockfile).unwrap()
}

#[test]
fn dead_pid_lockfile_is_taken_over_and_restamped() {
    let dir = Scratch::new("stale-dead");
    let lf = dir.path("cache.json.lockfile");
    fs::write(&lf, format!("{} /crashed/app.py", dead_pid())).unwrap();
    // A long grace proves the takeover did not come from waiting out a timer.
    let lock = LockOptions::new().unidentified_grace(Duration::from_secs(3600)).acquire(&lf).unwrap();
    assert!(our_stamp(&lf).starts_with(&format!("{} ", std::process::id())));
    drop(lock);
    assert!(!lf.exists(), "release deletes the lockfile");
}

#[test]
fn every_peer_format_with_a_dead_pid_is_taken_over() {
    let dir = Scratch::new("stale-formats");
    let lf = dir.path("c.lockfile");
    let pid = dead_pid();
    for content in [format!("{pid}"), format!("{{{pid}}} {{/usr/bin/app}}"), format!("{pid} dotnet\n")] {
        fs::write(&lf, &content).unwrap();
        let lock = quick().unidentified_grace(Duration::from_secs(3600)).acquire(&lf);
        assert!(lock.is_ok(), "{content:?}: {lock:?}");
    }
}

#[test]
fn live_existence_holder_is_respected_and_named_in_the_timeout() {
    let dir = Scratch::new("stale-live");
    let lf = dir.path("c.lockfile");
    let mut holder = live_process();
    fs::write(&lf, format!("{} /usr/bin/node", holder.id())).unwrap();
    let err = quick().acquire(&lf).unwrap_err();
    let Error::LockTimeout { holder: Some(h), .. } = &err else { panic!("expected a timeout, got {err:?}") };
    assert_eq!(h.pid, Some(holder.id()));
    assert_eq!(h.program.as_deref(), Some("/usr/bin/node"));
    assert!(err.to_string().contains(&format!("pid {}", holder.id())), "{err}");
    assert!(lf.exists(), "a live holder's lockfile must not be deleted");
    holder.kill().unwrap();
    holder.wait().unwrap();
    drop(quick().acquire(&lf).expect("taken over once the holder is gone"));
}

#[test]
fn reused_pid_is_recognised_by_start_time() {
    let dir = Scratch::new("stale-reuse");
    let lf = dir.path("c.lockfile");
    let mut unrelated = live_process();
    // The lockfile claims to be older than the process now carrying that pid.
    fs::write(&lf, format!("{} /old/app", unrelated.id())).unwrap();
    set_age(&lf, Duration::from_secs(120));
    let lock = quick().unidentified_grace(Duration::from_secs(3600)).acquire(&lf);
    unrelated.kill().unwrap();
    unrelated.wait().unwrap();
    drop(lock.expect("a lockfile older than its pid's process is stale"));
}

#[test]
fn empty_or_garbage_lockfile_waits_out_the_grace_then_is_taken_over() {
    let dir = Scratch::new("stale-garbage");
    let lf = dir.path("c.lockfile");
    for content in ["", "garbage", "\u{0}\u{0}\u{ff}", "-1 x", "{} {}", "99999999999999999999"] {
        fs::write(&lf, content).unwrap();
        // Fresh and unidentified: a peer may be about to stamp it, so wait.
        let err = quick().unidentified_grace(Duration::from_secs(3600)).acquire(&lf).unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{content:?}: {err:?}");
        // Unchanged and unlocked for the grace period: stale.
        let lock = LockOptions::new().unidentified_grace(Duration::from_millis(50)).acquire(&lf);
        assert!(lock.is_ok(), "{content:?}: {lock:?}");
    }
}

#[test]
fn old_empty_lockfile_is_taken_over_at_once() {
    let dir = Scratch::new("stale-old-empty");
    let lf = dir.path("c.lockfile");
    fs::write(&lf, "").unwrap();
    set_age(&lf, Duration::from_secs(60));
    let lock = quick().unidentified_grace(Duration::from_secs(3600)).acquire(&lf);
    drop(lock.expect("an old empty lockfile is stale"));
}

#[test]
fn huge_lockfile_is_handled() {
    let dir = Scratch::new("stale-huge");
    let lf = dir.path("c.lockfile");
    fs::write(&lf, vec![b'7'; 1 << 20]).unwrap();
    let lock = LockOptions::new().unidentified_grace(Duration::from_millis(20)).acquire(&lf);
    assert!(lock.is_ok(), "{lock:?}");
}

#[test]
fn symlink_at_lockfile_path_is_refused_not_followed() {
    let dir = Scratch::new("lock-symlink");
    let target = dir.path("victim");
    fs::write(&target, "precious").unwrap();
    let lf = dir.path("c.lockfile");
    std::os::unix::fs::symlink(&target, &lf).unwrap();
    let err = quick().acquire(&lf).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn threads_of_one_process_are_serialised() {
    let dir = Scratch::new("lock-threads");
    let lf = Arc::new(dir.path("c.lockfile"));
    let inside = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (lf, inside, counter) = (lf.clone(), inside.clone(), counter.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _g = CrossPlatLock::acquire(&*lf).unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two threads inside");
                    // A non-atomic read-modify-write that loses updates unless serialised.
                    let v = counter.load(Ordering::SeqCst);
                    std::thread::yield_now();
                    counter.store(v + 1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 400);
}

#[test]
fn timeout_zero_tries_once() {
    let dir = Scratch::new("lock-zero");
    let lf = dir.path("c.lockfile");
    let held = CrossPlatLock::acquire(&lf).unwrap();
    let lf2 = lf.clone();
    let other =
        std::thread::spawn(move || LockOptions::new().timeout(Duration::ZERO).acquire(&lf2).map(drop));
    assert!(matches!(other.join().unwrap(), Err(Error::LockTimeout { .. })));
    held.release().unwrap();
}

/// Runs `f` on a thread and fails the test if it has not returned within
/// 20 s: what is checked is "returns instead of hanging", not a speed.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(20)).expect("hung: the call did not return")
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo keeps no pointer.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{}", std::io::Error::last_os_error());
}

/// A FIFO at the lockfile path used to block `open` forever, before any
/// timeout applied. Now every entry point returns at once with an error
/// naming the lockfile and the command that removes it.
#[test]
fn a_fifo_at_the_lockfile_path_is_refused_at_once() {
    let dir = Scratch::new("stale-fifo");
    let lf = dir.path("c.json.lockfile");
    mkfifo(&lf);
    let lf2 = lf.clone();
    let err =
        returns(move || LockOptions::new().timeout(Duration::from_millis(200)).acquire(&lf2).unwrap_err());
    let Error::LockfileUnusable { lockfile, found } = &err else { panic!("{err:?}") };
    assert_eq!((lockfile.as_path(), *found), (lf.as_path(), "a named pipe (FIFO)"));
    let msg = err.to_string();
    assert!(msg.contains(&format!("rm '{}'", lf.display())), "{msg}");
    let lf2 = lf.clone();
    assert!(matches!(
        returns(move || msal_extensions::lock::inspect(&lf2)),
        Err(Error::LockfileUnusable { .. })
    ));
    let lf2 = lf.clone();
    assert!(matches!(
        returns(move || msal_extensions::lock::remove_stale(&lf2)),
        Err(Error::LockfileUnusable { .. })
    ));
    // A FIFO at the cache path does not hang a read either.
    let cache = dir.path("c.json");
    mkfifo(&cache);
    let err = returns(move || {
        use msal_extensions::Persistence;
        msal_extensions::FilePersistence::new(cache).unwrap().load_bytes().unwrap_err()
    });
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("c.json") && chain.contains("named pipe"), "{chain}");
    // Nor does touching a FIFO planted at a signal file (a secret store's save).
    let signal = dir.path("signal");
    mkfifo(&signal);
    let err = returns(move || msal_extensions::FilePersistence::new(signal).unwrap().touch().unwrap_err());
    assert!(err.to_string().contains("signal"), "{err}");
}

/// A directory at the lockfile path is called a directory, with `rmdir`.
#[test]
fn a_directory_at_the_lockfile_path_is_named_as_one() {
    let dir = Scratch::new("stale-dir");
    let lf = dir.path("c.json.lockfile");
    fs::create_dir(&lf).unwrap();
    let err = quick().acquire(&lf).unwrap_err();
    assert!(matches!(err, Error::LockfileUnusable { found: "a directory", .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("rmdir '{}'", lf.display())), "{err}");
    assert!(matches!(msal_extensions::lock::inspect(&lf), Err(Error::LockfileUnusable { .. })));
}

/// No process can have a pid above `i32::MAX` or the kernel's `pid_max`:
/// such a lockfile is stale, not "alive".
#[test]
fn impossible_pids_are_stale() {
    let dir = Scratch::new("stale-impossible");
    let lf = dir.path("c.lockfile");
    let pid_max: u64 =
        fs::read_to_string("/proc/sys/kernel/pid_max").map_or(4_194_304, |s| s.trim().parse().unwrap());
    for pid in [(1u64 << 31) + 5, pid_max + 1, u64::from(u32::MAX)] {
        fs::write(&lf, format!("{pid} /usr/bin/az")).unwrap();
        assert!(msal_extensions::lock::inspect(&lf).unwrap().is_stale(), "pid {pid}");
        let lock = quick().unidentified_grace(Duration::from_secs(3600)).acquire(&lf);
        drop(lock.unwrap_or_else(|e| panic!("pid {pid} judged alive: {e}")));
    }
}

/// A live pid running another program than the one that wrote the lockfile
/// (pid reused after a crash, start time unknown or older) is not broken,
/// but the state and the timeout say how to remove the lockfile.
#[test]
fn a_live_pid_running_another_program_gets_removal_advice() {
    let dir = Scratch::new("stale-unrelated");
    let lf = dir.path("c.json.lockfile");
    let mut other = live_process(); // runs `sleep`
    fs::write(&lf, format!("{} /usr/bin/az", other.id())).unwrap();
    let state = msal_extensions::lock::inspect(&lf).unwrap();
    assert!(state.is_held(), "never broken: {state:?}");
    assert_eq!(state.holder().unwrap().unrelated_process.as_deref(), Some("sleep"));
    let advice = state.advice(&lf).expect("advice");
    assert!(advice.contains("`sleep`") && advice.contains(&format!("rm '{}'", lf.display())), "{advice}");
    let err = quick().acquire(&lf).unwrap_err().to_string();
    assert!(err.contains(&advice), "{err}");
    // The same pid recorded with its own program name is plausible: no advice.
    fs::write(&lf, format!("{} /bin/sleep", other.id())).unwrap();
    assert_eq!(msal_extensions::lock::inspect(&lf).unwrap().advice(&lf), None);
    other.kill().unwrap();
    other.wait().unwrap();
}
