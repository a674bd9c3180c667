//! Lock and file benchmarks, the Rust side of `scripts/bench.sh`.
//!
//! `cargo bench --bench lock -- [--quick] [--disk DIR] [--tmpfs DIR]`
//!
//! Works in a fresh `msalx-bench-lock-<pid>` folder inside each DIR (default:
//! the temp dir, and `/dev/shm`) and deletes only those: DIR itself and
//! anything else in it are left alone.
//!
//! Measures, in the same shapes as the Python reference's anchor scripts:
//! - contention: N processes x K lock-protected read-modify-write cycles of
//!   one file (cycles/s, p50/p99 acquire wait, lost updates, overlaps), on
//!   disk and on tmpfs, at N = 2, 8, 32, 64;
//! - SIGKILL during back-to-back 1 MB saves: torn files out of 200 kills;
//! - a stale lockfile (dead pid): time to acquire;
//! - uncontended 4 KiB save and load, and lock acquire+release.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msal_extensions::{CrossPlatLock, Durability, FilePersistence, LockOptions, Persistence};

const WORKER: &str = "MSALX_BENCH_WORKER";

fn main() {
    if let Ok(spec) = std::env::var(WORKER) {
        return worker(&spec);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let opt = |name: &str, default: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or(default.into())
    };
    let disk = own_folder(&PathBuf::from(opt("--disk", &std::env::temp_dir().to_string_lossy())));
    let tmpfs = own_folder(&PathBuf::from(opt("--tmpfs", "/dev/shm")));
    println!("msal-extensions lock benchmarks (pid {}, {} cpus)", std::process::id(), cpus());
    uncontended(&disk);
    stale_lock(&disk);
    let ns: &[usize] = if quick { &[2, 8] } else { &[2, 8, 32, 64] };
    contention("disk, Durability::PowerLoss (default)", &disk, ns, Durability::PowerLoss);
    contention(
        "disk, Durability::ProcessCrash (no fsync, like the reference)",
        &disk,
        ns,
        Durability::ProcessCrash,
    );
    contention("tmpfs, default durability", &tmpfs, ns, Durability::PowerLoss);
    crash(&disk, if quick { 40 } else { 200 });
    let _ = fs::remove_dir_all(&disk);
    let _ = fs::remove_dir_all(&tmpfs);
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `msalx-bench-lock-<pid>` inside `base` (created with `base` if missing):
/// the only folder this run deletes.
fn own_folder(base: &Path) -> PathBuf {
    let dir = base.join(format!("msalx-bench-lock-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `dir`, emptied (always inside this run's own folder).
fn fresh(dir: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| f()).collect();
    v.sort();
    pct(&v, 0.5)
}

fn uncontended(dir: &Path) {
    let dir = fresh(&dir.join("floor"));
    let body = "x".repeat(4096);
    println!("\n## uncontended (median of 200, disk {})", dir.display());
    for (label, dur) in [
        ("save 4 KiB, PowerLoss", Durability::PowerLoss),
        ("save 4 KiB, ProcessCrash", Durability::ProcessCrash),
    ] {
        let p = FilePersistence::new(dir.join("c.json")).unwrap().with_durability(dur);
        let t = median_of(200, || {
            let s = Instant::now();
            p.save(&body).unwrap();
            s.elapsed()
        });
        println!("{label:<40} {:>9.1} us", t.as_secs_f64() * 1e6);
    }
    let p = FilePersistence::new(dir.join("c.json")).unwrap();
    let t = median_of(200, || {
        let s = Instant::now();
        std::hint::black_box(p.load().unwrap());
        s.elapsed()
    });
    println!("{:<40} {:>9.1} us", "load 4 KiB", t.as_secs_f64() * 1e6);
    let t = median_of(200, || {
        let s = Instant::now();
        std::hint::black_box(p.change_token().unwrap());
        s.elapsed()
    });
    println!("{:<40} {:>9.1} us", "change_token (one stat)", t.as_secs_f64() * 1e6);
    let t = median_of(200, || {
        let s = Instant::now();
        drop(CrossPlatLock::acquire(dir.join("c.json.lockfile")).unwrap());
        s.elapsed()
    });
    println!("{:<40} {:>9.1} us", "CrossPlatLock acquire+release", t.as_secs_f64() * 1e6);
}

fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn stale_lock(dir: &Path) {
    let dir = fresh(&dir.join("stale"));
    let lf = dir.join("c.json.lockfile");
    let pid = dead_pid();
    let t = median_of(20, || {
        fs::write(&lf, format!("{pid} /crashed/app.py")).unwrap();
        let s = Instant::now();
        drop(CrossPlatLock::acquire(&lf).unwrap());
        s.elapsed()
    });
    println!("\n## stale lockfile (dead pid {pid}), median of 20: acquire {:.3} ms", ms(t));
}

/// One contention run: `n` processes x `k` cycles.
fn contention(label: &str, base: &Path, ns: &[usize], durability: Durability) {
    println!("\n## contention: {label}, {}", base.display());
    println!(
        "{:>4} {:>4} {:>8} {:>10} {:>6} {:>6} {:>9} {:>9} {:>9}",
        "N", "K", "wall_s", "cyc/s", "lost", "ovlap", "wait50ms", "wait99ms", "waitmax"
    );
    for &n in ns {
        let k = 50;
        let dir = fresh(&base.join(format!("n{n}")));
        let r = run_processes(&dir, n, k, durability);
        println!(
            "{n:>4} {k:>4} {:>8.2} {:>10.1} {:>6} {:>6} {:>9.2} {:>9.2} {:>9.2}",
            r.wall.as_secs_f64(),
            r.cycles as f64 / r.wall.as_secs_f64(),
            r.lost,
            r.overlaps,
            ms(pct(&r.waits, 0.5)),
            ms(pct(&r.waits, 0.99)),
            ms(*r.waits.last().unwrap_or(&Duration::ZERO)),
        );
    }
}

struct RunResult {
    wall: Duration,
    cycles: usize,
    lost: usize,
    overlaps: usize,
    waits: Vec<Duration>,
}

fn run_processes(dir: &Path, n: usize, k: usize, durability: Durability) -> RunResult {
    let data = dir.join("shared.txt");
    let dur = if durability == Durability::PowerLoss { "power" } else { "crash" };
    let mut children: Vec<Child> = (0..n)
        .map(|i| {
            let spec = format!(
                "rmw|{}|{k}|w{i}|{}|{}|{dur}",
                data.display(),
                dir.join(format!("ready{i}")).display(),
                dir.join(format!("res{i}")).display()
            );
            Command::new(std::env::current_exe().unwrap())
                .env(WORKER, spec)
                .stdin(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    while (0..n).any(|i| !dir.join(format!("ready{i}")).exists()) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let go = Instant::now();
    for c in &mut children {
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let wall = go.elapsed();
    let (mut cycles, mut overlaps, mut waits) = (0, 0, Vec::new());
    for i in 0..n {
        let text = fs::read_to_string(dir.join(format!("res{i}"))).unwrap();
        let mut lines = text.lines();
        let head: Vec<usize> = lines.next().unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
        cycles += head[0];
        overlaps += head[1];
        waits.extend(lines.map(|l| Duration::from_nanos(l.parse().unwrap())));
    }
    waits.sort();
    let text = fs::read_to_string(&data).unwrap_or_default();
    let distinct: std::collections::HashSet<&str> = text.lines().collect();
    RunResult { wall, cycles, lost: cycles.saturating_sub(distinct.len()), overlaps, waits }
}

fn worker(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    match parts[0] {
        "rmw" => rmw_worker(&parts[1..]),
        "save-loop" => save_loop(&parts[1..]),
        other => panic!("unknown worker {other}"),
    }
}

fn rmw_worker(p: &[&str]) {
    let [data, k, tag, ready, result, dur] = p else { panic!("bad spec") };
    let durability = if *dur == "power" { Durability::PowerLoss } else { Durability::ProcessCrash };
    let cache = FilePersistence::new(data).unwrap().with_durability(durability);
    let marker = format!("{data}.marker");
    let opts = LockOptions::new().timeout(Duration::from_secs(300));
    fs::write(ready, "").unwrap();
    io::stdin().read_line(&mut String::new()).unwrap();
    let (mut ok, mut overlaps, mut waits) = (0usize, 0usize, Vec::new());
    for i in 0..k.parse::<usize>().unwrap() {
        let t = Instant::now();
        let lock = opts.acquire(cache.lock_path()).unwrap();
        waits.push(t.elapsed());
        let mine = fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok();
        overlaps += usize::from(!mine);
        let old = cache.load().unwrap_or_default();
        cache.save(&format!("{old}{tag} {i}\n")).unwrap();
        if mine {
            fs::remove_file(&marker).unwrap();
        }
        drop(lock);
        ok += 1;
    }
    let mut out = format!("{ok} {overlaps}\n");
    for w in waits {
        out.push_str(&format!("{}\n", w.as_nanos()));
    }
    fs::write(result, out).unwrap();
}

const PAYLOAD: usize = 1 << 20;

fn payload(n: usize) -> String {
    let letter = char::from(b'a' + n as u8);
    format!(r#"{{"seq": {n}, "data": "{}"}}"#, letter.to_string().repeat(PAYLOAD))
}

fn save_loop(p: &[&str]) {
    let [path, ready] = p else { panic!("bad spec") };
    let cache = FilePersistence::new(path).unwrap();
    let payloads: Vec<String> = (0..4).map(payload).collect();
    fs::write(ready, "").unwrap();
    for n in (0..4).cycle() {
        cache.save(&payloads[n]).unwrap();
    }
}

fn crash(dir: &Path, trials: usize) {
    let dir = fresh(&dir.join("crash"));
    let path = dir.join("payload.json");
    fs::write(&path, payload(3)).unwrap();
    let wholes: Vec<String> = (0..4).map(payload).collect();
    let (mut whole, mut empty, mut torn) = (0, 0, 0);
    let mut rng: u64 = 12345;
    let started = Instant::now();
    for t in 0..trials {
        let ready = dir.join(format!("ready{t}"));
        let spec = format!("save-loop|{}|{}", path.display(), ready.display());
        let mut c = Command::new(std::env::current_exe().unwrap()).env(WORKER, spec).spawn().unwrap();
        while !ready.exists() {
            std::thread::sleep(Duration::from_micros(200));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 60_000));
        c.kill().unwrap();
        c.wait().unwrap();
        let got = fs::read_to_string(&path).unwrap_or_default();
        match () {
            _ if wholes.contains(&got) => whole += 1,
            _ if got.is_empty() => empty += 1,
            _ => torn += 1,
        }
    }
    let leftovers = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    println!(
        "\n## SIGKILL during back-to-back 1 MiB saves (PowerLoss), kill after U(0,60 ms): {trials} trials in {:.1} s\n\
         whole {whole}, empty {empty}, truncated/corrupt {torn}; hidden temp files left: {leftovers}",
        started.elapsed().as_secs_f64()
    );
}
