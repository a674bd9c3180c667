//! SIGKILL of writers at random moments (while waiting, while holding the
//! lock, in the middle of a save) with other processes running: no torn
//! file, no lost committed update, and the survivors go on, taking over the
//! lockfiles the killed holders left behind.
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use msal_extensions::{FilePersistence, LockOptions, Persistence};

const SURVIVORS: usize = 4;
const KILLS: usize = 40;

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    let [data, tag, cycles, log] = &args[..] else { panic!("bad args {args:?}") };
    rmw(Path::new(data), tag, cycles.parse().unwrap(), Path::new(log));
}

/// Locked read-modify-write cycles appending `"<tag> <i>"`; each cycle is
/// logged as committed only after the save returned and the lock was released.
/// `cycles == 0`: run until `<data>.stop` exists.
fn rmw(data: &Path, tag: &str, cycles: usize, log: &Path) {
    let stop = data.with_extension("stop");
    let cache = FilePersistence::new(data).unwrap();
    let lock = LockOptions::new().timeout(Duration::from_secs(60));
    let mut log = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    for i in 0.. {
        if (cycles > 0 && i >= cycles) || (cycles == 0 && stop.exists()) {
            break;
        }
        let guard = lock.acquire(cache.lock_path()).unwrap();
        let old =
            cache.load().or_else(|e| if e.is_not_found() { Ok(String::new()) } else { Err(e) }).unwrap();
        let line = format!("{tag} {i}");
        cache.save(&format!("{old}{line}\n")).unwrap();
        guard.release().unwrap();
        writeln!(log, "{line}").unwrap();
    }
}

fn spawn(data: &Path, tag: &str, cycles: usize, log: &Path) -> Child {
    let args = [data.display().to_string(), tag.to_owned(), cycles.to_string(), log.display().to_string()];
    common::worker_command("worker_entry", &args).stdout(Stdio::null()).spawn().unwrap()
}

fn committed(logs: &[PathBuf]) -> Vec<String> {
    logs.iter()
        .flat_map(|l| {
            fs::read_to_string(l).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn killed_holders_lose_no_committed_update_and_block_no_one() {
    let dir = Scratch::new("killholders");
    let data = dir.path("shared.txt");
    let mut logs = Vec::new();
    let mut survivors: Vec<Child> = (0..SURVIVORS)
        .map(|i| {
            logs.push(dir.path(&format!("log.s{i}")));
            spawn(&data, &format!("s{i}"), 0, &logs[i])
        })
        .collect();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let started = Instant::now();
    for k in 0..KILLS {
        let log = dir.path(&format!("log.v{k}"));
        logs.push(log.clone());
        let mut victim = spawn(&data, &format!("v{k}"), 1_000_000, &log);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // 5-45 ms: long enough to start and take the lock some of the time,
        // short enough to die mid-cycle.
        std::thread::sleep(Duration::from_micros(5_000 + rng % 40_000));
        victim.kill().unwrap(); // SIGKILL, wherever it is
        victim.wait().unwrap();
        let text = fs::read_to_string(&data).unwrap_or_default();
        assert!(text.is_empty() || text.ends_with('\n'), "torn file after kill {k}");
    }
    fs::write(data.with_extension("stop"), "").unwrap();
    for (i, s) in survivors.iter_mut().enumerate() {
        assert!(s.wait().unwrap().success(), "survivor {i} failed (a killed holder blocked it?)");
    }
    let text = fs::read_to_string(&data).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let present: HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(present.len(), lines.len(), "duplicate lines: two writers overlapped");
    let committed = committed(&logs);
    let lost: Vec<&String> = committed.iter().filter(|l| !present.contains(l.as_str())).collect();
    assert!(lost.is_empty(), "committed updates lost: {lost:?}");
    let by_victims = committed.iter().filter(|l| l.starts_with('v')).count();
    eprintln!(
        "{KILLS} kills in {:.1} s; {} committed updates ({by_victims} by processes later killed), all present",
        started.elapsed().as_secs_f64(),
        committed.len()
    );
    assert!(by_victims > 0, "no victim ever committed: the kills proved nothing");
    // The last victim may have died holding the lock after the survivors
    // finished: its lockfile must not block the next process.
    let lock = LockOptions::new().timeout(Duration::from_secs(5)).acquire(dir.path("shared.txt.lockfile"));
    lock.expect("a killed holder's lockfile blocks newcomers").release().unwrap();
    assert!(!dir.path("shared.txt.lockfile").exists(), "a lockfile was left behind");
}
