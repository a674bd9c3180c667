//! SIGKILL at random moments during back-to-back saves of a ~1 MB payload:
//! after every kill the file must hold one whole payload, old or new. (The
//! reference leaves it empty or truncated in ~90% of such kills.)
#![cfg(unix)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Scratch;
use msal_extensions::{FilePersistence, Persistence};

const SIZE: usize = 1 << 20;
const TRIALS: usize = 200;

/// Payload `n`: a JSON object whose `data` is `SIZE` copies of one letter.
fn payload(n: usize) -> String {
    let letter = char::from(b'a' + (n % 26) as u8);
    format!(r#"{{"seq": {n}, "data": "{}"}}"#, letter.to_string().repeat(SIZE))
}

/// `Some(seq)` if `text` is one whole payload.
fn whole_payload(text: &str) -> Option<usize> {
    let rest = text.strip_prefix(r#"{"seq": "#)?;
    let (seq, _) = rest.split_once(", \"data\": \"")?;
    let seq: usize = seq.parse().ok()?;
    (text == payload(seq)).then_some(seq)
}

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    let [cmd, path, ready] = &args[..] else { panic!("bad worker args {args:?}") };
    assert_eq!(cmd, "save-loop");
    let p = FilePersistence::new(path).unwrap();
    let payloads: Vec<String> = (0..4).map(payload).collect();
    fs::write(ready, "").unwrap();
    for n in (0..4).cycle() {
        p.save(&payloads[n]).unwrap();
    }
}

#[test]
fn sigkill_during_saves_never_leaves_a_torn_file() {
    let dir = Scratch::new("crash");
    let cache = dir.path("cache.json");
    FilePersistence::new(&cache).unwrap().save(&payload(25)).unwrap();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut seen = [0usize; 26];
    for trial in 0..TRIALS {
        let ready = dir.path(&format!("ready.{trial}"));
        let args = ["save-loop".to_owned(), cache.display().to_string(), ready.display().to_string()];
        let mut child = common::worker_command("worker_entry", &args)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn writer");
        wait_for(&ready);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 60_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let text =
            fs::read_to_string(&cache).unwrap_or_else(|e| panic!("trial {trial}: cache unreadable: {e}"));
        let seq = whole_payload(&text)
            .unwrap_or_else(|| panic!("trial {trial}: torn file ({} bytes) after SIGKILL", text.len()));
        seen[seq] += 1;
        fs::remove_file(&ready).unwrap();
    }
    let leftovers: Vec<_> = fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    eprintln!("{TRIALS} kills, all whole; payload seen after kill: {seen:?}; folder now: {leftovers:?}");
    assert!(
        seen[..4].iter().sum::<usize>() > 0,
        "the writer never completed a save: the test proved nothing"
    );
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "writer did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
}
