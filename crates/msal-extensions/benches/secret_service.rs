//! Save and load latency through a real Secret Service daemon, cold
//! (a new persistence: connect + open the DH session + the operation) versus
//! warm (the same persistence, connection and session reused), for 4 KiB and
//! 1 MiB caches. `benches/py/libsecret_bench.py` measures the Python
//! reference the same way; run both inside one private session:
//!
//! ```text
//! scripts/with-secret-service.sh sh -c 'cargo bench -p msal-extensions --bench secret_service;
//!     $MSALX_PYTHON crates/msal-extensions/benches/py/libsecret_bench.py'
//! ```
//!
//! Prints one Markdown table row per case: median and p99 in milliseconds.

use std::time::{Duration, Instant};

use msal_extensions::{Persistence, SecretServicePersistence};

fn main() {
    if std::env::var("WITH_SECRET_SERVICE").as_deref() != Ok("1") {
        eprintln!(
            "secret_service bench: no Secret Service (run it under scripts/with-secret-service.sh); skipped"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            std::process::exit(1);
        }
        return;
    }
    let dir = std::env::temp_dir().join(format!("msalx-bench-ss-{}", std::process::id()));
    println!("| implementation | payload | operation | n | median ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (label, size, warm_n, cold_n) in [("4 KiB", 4 * 1024, 200, 50), ("1 MiB", 1024 * 1024, 30, 15)] {
        let content = cache_of_size(size);
        let signal = dir.join(format!("cache-{size}"));
        let warm = SecretServicePersistence::new(&signal).expect("build");
        warm.save(&content).expect("first save");

        let rows = [
            ("save, warm", measure(warm_n, || warm.save(&content).unwrap())),
            ("load, warm", measure(warm_n, || assert_eq!(warm.load().unwrap().len(), size))),
            (
                "save, cold (connect + session + save)",
                measure(cold_n, || fresh(&signal).save(&content).unwrap()),
            ),
            (
                "load, cold (connect + session + load)",
                measure(cold_n, || assert_eq!(fresh(&signal).load().unwrap().len(), size)),
            ),
            (
                "load, cold + verify() (like the reference's constructor)",
                measure(cold_n, || {
                    let p = fresh(&signal);
                    p.verify().unwrap();
                    assert_eq!(p.load().unwrap().len(), size);
                }),
            ),
        ];
        for (op, samples) in rows {
            let (median, p99) = stats(samples.clone());
            println!(
                "| Rust SecretServicePersistence | {label} | {op} | {} | {median:.3} | {p99:.3} |",
                samples.len()
            );
        }
        warm.delete().expect("clean up");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn fresh(signal: &std::path::Path) -> SecretServicePersistence {
    SecretServicePersistence::new(signal).expect("build")
}

/// A JSON document of exactly `size` bytes, shaped like a token cache.
fn cache_of_size(size: usize) -> String {
    let head = r#"{"AccessToken": {"k": {"secret": ""#;
    let tail = r#""}}}"#;
    let fill = size - head.len() - tail.len();
    let body: String = (0..fill).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    format!("{head}{body}{tail}")
}

fn measure(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm-up, not counted
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// (median, p99) in milliseconds, nearest-rank.
fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let rank = |q: f64| {
        let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e3
    };
    (rank(0.5), rank(0.99))
}
