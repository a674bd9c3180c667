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
