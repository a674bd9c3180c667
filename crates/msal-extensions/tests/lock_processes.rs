//! Many OS processes (not threads) doing lock-protected read-modify-write of
//! one file through `FilePersistence`: nothing may be lost and no two
//! processes may be inside the critical section at once, among Rust processes
//! and mixed with the Python reference (with and without portalocker).
#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use msal_extensions::{Durability, FilePersistence, LockOptions, Persistence};

/// Entry point of a worker process (see `common::worker_command`); a no-op
/// in a normal test run, hence ignored.
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    match args[0].as_str() {
        "rmw" => rmw_worker(&args[1..]),
        other => panic!("unknown worker {other}"),
    }
}

/// The Rust side of the workload: the same cycle as tests/py/lock_worker.py.
fn rmw_worker(args: &[String]) {
    let [data, k, tag, ready, result, run_ms, think_ms, guard] = args else {
        panic!("bad worker args {args:?}")
    };
    let run = Duration::from_millis(run_ms.parse().unwrap());
    let think_ms: u64 = think_ms.parse().unwrap();
    let mut rng = u64::from(std::process::id()) | 1;
    let data = PathBuf::from(data);
    let k: usize = k.parse().unwrap();
    let cache = FilePersistence::new(&data).unwrap().with_durability(Durability::ProcessCrash);
    let marker = marker_path(&data);
    let lock = LockOptions::new().timeout(Duration::from_secs(120)).guard(guard == "guard");
    fs::write(ready, "").unwrap();
    io::stdin().read_line(&mut String::new()).unwrap();
    let end = Instant::now() + run;
    let (mut ok, mut overlaps, mut errors) = (0, 0, 0);
    for i in 0..k {
        if !run.is_zero() && Instant::now() >= end {
            break;
        }
        if think_ms > 0 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::thread::sleep(Duration::from_micros(rng % (think_ms * 1000)));
        }
        let Ok(guard) = lock.acquire(cache.lock_path()) else {
            errors += 1;
            continue;
        };
        let mine = fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok();
        overlaps += usize::from(!mine);
        let old =
            cache.load().or_else(|e| if e.is_not_found() { Ok(String::new()) } else { Err(e) }).unwrap();
        cache.save(&format!("{old}{tag} {i}\n")).unwrap();
        if mine {
            fs::remove_file(&marker).unwrap();
        }
        drop(guard);
        ok += 1;
    }
    let report = format!("ok={ok}\noverlaps={overlaps}\nlock_errors={errors}\nerrors={{}}\nlock_impl=rust\n");
    fs::write(result, report).unwrap();
}

fn marker_path(data: &Path) -> PathBuf {
    let mut s = data.as_os_str().to_owned();
    s.push(".marker");
    s.into()
}

#[derive(Clone)]
enum Peer {
    Rust,
    Python(PathBuf),
}

struct Spawned {
    tag: String,
    child: Child,
    result: PathBuf,
}

struct Summary {
    per_worker: Vec<BTreeMap<String, String>>,
    lines: Vec<String>,
}

impl Summary {
    fn total(&self, key: &str) -> usize {
        self.per_worker.iter().map(|w| w[key].parse::<usize>().unwrap()).sum()
    }

    /// Every successful cycle of every worker left exactly one line.
    fn assert_nothing_lost(&self, expected_cycles: Option<usize>) {
        assert_eq!(self.total("lock_errors"), 0, "lock errors: {:?}", self.per_worker);
        for w in &self.per_worker {
            assert_eq!(w["errors"], "{}", "worker errors: {w:?}");
            assert!(w["ok"] != "0", "worker {} never got the lock", w["tag"]);
        }
        let expected_cycles = expected_cycles.unwrap_or_else(|| self.total("ok"));
        assert_eq!(self.total("ok"), expected_cycles, "not every cycle completed: {:?}", self.per_worker);
        let distinct: HashSet<&String> = self.lines.iter().collect();
        assert_eq!(distinct.len(), self.lines.len(), "duplicate lines: the file was garbled");
        assert_eq!(self.lines.len(), expected_cycles, "lost updates: {}", expected_cycles - self.lines.len());
        assert_eq!(self.total("overlaps"), 0, "two processes were inside the critical section at once");
    }
}

/// How each worker runs: at most `k` cycles, for at most `run_ms` (0: no
/// limit), pausing a random 0..`think_ms` between cycles; Rust workers lock
/// with the guard file unless `guard` is `false` (a control arm only).
#[derive(Clone, Copy)]
struct Plan {
    k: usize,
    run_ms: u64,
    think_ms: u64,
    guard: bool,
}

/// Runs `plan` in each of `peers` against one file and gathers the outcome.
fn run_workload(dir: &Scratch, peers: &[Peer], plan: Plan) -> Summary {
    let data = dir.path("shared.txt");
    let mut spawned: Vec<Spawned> =
        peers.iter().enumerate().map(|(i, p)| spawn(dir, &data, p, i, plan)).collect();
    wait_for_ready(dir, peers.len(), &mut spawned);
    for s in &mut spawned {
        s.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let per_worker = spawned.into_iter().map(finish).collect();
    let text = fs::read_to_string(&data).unwrap_or_default();
    let lines = text.lines().map(str::to_owned).collect();
    assert!(!data.with_extension("txt.lockfile").exists(), "a lockfile was left behind");
    Summary { per_worker, lines }
}

fn spawn(dir: &Scratch, data: &Path, peer: &Peer, i: usize, plan: Plan) -> Spawned {
    let tag = format!("w{i}");
    let ready = dir.path(&format!("ready.{i}"));
    let result = dir.path(&format!("result.{i}"));
    let mut args: Vec<String> = [data, Path::new(&plan.k.to_string()), Path::new(&tag), &ready, &result]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    args.extend([plan.run_ms.to_string(), plan.think_ms.to_string()]);
    let mut cmd = match peer {
        Peer::Rust => {
            let guard = if plan.guard { "guard" } else { "no-guard" }.to_owned();
            common::worker_command("worker_entry", &[&["rmw".to_owned()], &args[..], &[guard]].concat())
        }
        Peer::Python(py) => {
            let mut c = std::process::Command::new(py);
            c.arg(common::py_script("lock_worker.py")).args(&args);
            c
        }
    };
    let child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn worker");
    Spawned { tag, child, result }
}

fn wait_for_ready(dir: &Scratch, n: usize, spawned: &mut [Spawned]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while (0..n).any(|i| !dir.path(&format!("ready.{i}")).exists()) {
        for s in spawned.iter_mut() {
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!("worker {} exited before starting: {status}", s.tag);
            }
        }
        assert!(Instant::now() < deadline, "workers did not start within 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn finish(mut s: Spawned) -> BTreeMap<String, String> {
    let status = s.child.wait().unwrap();
    assert!(status.success(), "worker {} failed: {status}", s.tag);
    let text =
        fs::read_to_string(&s.result).unwrap_or_else(|e| panic!("worker {} wrote no result: {e}", s.tag));
    let mut map: BTreeMap<String, String> =
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    map.insert("tag".into(), s.tag);
    map
}

fn rust_only(n: usize, k: usize) {
    let dir = Scratch::new(&format!("lockproc{n}"));
    let summary = run_workload(&dir, &vec![Peer::Rust; n], Plan { k, run_ms: 0, think_ms: 0, guard: true });
    summary.assert_nothing_lost(Some(n * k));
}

#[test]
fn rust_processes_2() {
    rust_only(2, 50);
}

#[test]
fn rust_processes_8() {
    rust_only(8, 40);
}

#[test]
fn rust_processes_32() {
    rust_only(32, 20);
}

#[test]
fn rust_processes_64() {
    rust_only(64, 10);
}

/// msal-node-extensions deletes the lockfile of a live holder. Here a
/// thread deletes the live lockfile over and over while 6 Rust processes
/// run the workload: the guard every Rust holder also locks
/// (`<lockfile>.guard`, which nobody deletes) keeps them mutually exclusive.
///
/// Then a control arm, shorter, runs the same workload with the guard off
/// (`LockOptions::guard(false)`, the lockfile protocol alone) and prints what
/// was lost, the figure docs/design.md and docs/reliability.md cite. Nothing
/// is asserted about that count (it depends on timing); only the guarded
/// run must lose nothing.
#[test]
fn rust_processes_stay_exclusive_while_a_peer_deletes_the_live_lockfile() {
    let (summary, deleted) =
        with_lockfile_deleter("lockdelete", Plan { k: 100_000, run_ms: 3000, think_ms: 1, guard: true });
    eprintln!("guard on: live lockfiles deleted: {deleted}, cycles: {}", summary.total("ok"));
    assert!(deleted > 50, "the deleter must really have deleted live lockfiles");
    summary.assert_nothing_lost(None);

    let (control, deleted) = with_lockfile_deleter(
        "lockdelete-noguard",
        Plan { k: 100_000, run_ms: 1500, think_ms: 1, guard: false },
    );
    let cycles = control.total("ok");
    eprintln!(
        "guard off (control, 1.5 s): live lockfiles deleted: {deleted}, cycles: {cycles}, lost updates: {}, \
         overlaps: {}",
        cycles.saturating_sub(control.lines.len()),
        control.total("overlaps")
    );
    assert!(deleted > 0, "the control's deleter must really have deleted live lockfiles");
}

/// Runs `plan` in 6 Rust processes while a thread deletes the lockfile every
/// 0.2 ms; returns the outcome and how many lockfiles it deleted.
fn with_lockfile_deleter(name: &str, plan: Plan) -> (Summary, usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = Scratch::new(name);
    let lockfile = dir.path("shared.txt.lockfile");
    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicUsize::new(0));
    let deleter = {
        let (stop, deleted) = (Arc::clone(&stop), Arc::clone(&deleted));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if fs::remove_file(&lockfile).is_ok() {
                    deleted.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let summary = std::panic::catch_unwind(|| run_workload(&dir, &vec![Peer::Rust; 6], plan));
    stop.store(true, Ordering::Relaxed);
    deleter.join().unwrap();
    (summary.unwrap(), deleted.load(Ordering::Relaxed))
}

/// Four Rust and four Python processes hammer one file for the same 3 s, so
/// their critical sections interleave throughout.
fn mixed(portalocker: bool, expected_impl: &str) {
    let Some(py) = common::python(portalocker) else { return };
    let dir = Scratch::new("lockmixed");
    let peers: Vec<Peer> =
        (0..8).map(|i| if i % 2 == 0 { Peer::Rust } else { Peer::Python(py.clone()) }).collect();
    let summary = run_workload(&dir, &peers, Plan { k: 100_000, run_ms: 3000, think_ms: 4, guard: true });
    for w in summary.per_worker.iter().filter(|w| w["lock_impl"] != "rust") {
        assert_eq!(w["lock_impl"], expected_impl, "the Python peer used another lock than intended");
    }
    eprintln!(
        "mixed workload cycles per worker: {:?}",
        summary.per_worker.iter().map(|w| (&w["tag"], &w["ok"])).collect::<Vec<_>>()
    );
    summary.assert_nothing_lost(None);
}

#[test]
#[ignore = "needs Python msal-extensions with portalocker; scripts/test.sh runs it"]
fn mixed_with_python_portalocker() {
    mixed(true, "msal_extensions.cache_lock");
}

#[test]
#[ignore = "needs Python msal-extensions without portalocker; scripts/test.sh runs it"]
fn mixed_with_python_existence_lock() {
    mixed(false, "msal_extensions.filelock");
}
