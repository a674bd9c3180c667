//! Our side of scripts/bench-redis.sh: the distributed token cache on a real
//! Redis, in the same workloads as the anchor (bench/redis-anchor/anchor.mjs).
//!
//!   distributed lookup-l1 URL PREFIX N TOKENS   lookups answered by L1
//!   distributed lookup-l2 URL PREFIX N TOKENS   lookups read from Redis (L1 off)
//!   distributed large-l1|large-l2 URL PREFIX N TOKENS   the same, TOKENS tokens in the partition
//!   distributed update URL PREFIX PROC THREADS SECONDS   lookup (miss) + add, concurrently
//!   distributed count URL PREFIX                 access tokens stored in the partition
//!
//! Prints one line `RESULT key=value ...`. Encrypted (AES-256-GCM), as a
//! deployment would run it; the anchor stores plain JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use msal_extensions::distributed::{
    DistributedCacheBuilder, DistributedTokenCache, KeyRing, Partition, WriteOutcome,
};
use msal_extensions::{AccessTokenQuery, TokenCache, TokenResponse};

const CLIENT: &str = "client-bench";
const AUTHORITY: &str = "https://login.microsoftonline.com/tenant-1";

fn cache(url: &str, prefix: &str, l1: bool) -> DistributedTokenCache {
    DistributedCacheBuilder::new(url)
        .key_prefix(prefix)
        .key_ring(KeyRing::new("bench", [7; 32]).unwrap())
        .l1_capacity_bytes(if l1 { 64 << 20 } else { 0 })
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn partition() -> Partition {
    Partition::app(CLIENT, "tenant-1")
}

fn response(scope: &str, secret: &str) -> TokenResponse {
    let body = format!(
        r#"{{"access_token":"{secret}","expires_in":3599,"ext_expires_in":3599,"token_type":"Bearer"}}"#
    );
    TokenResponse::new(CLIENT, [scope], AUTHORITY, &body).unwrap()
}

/// A partition of `tokens` app tokens, one per resource (as the anchor seeds it).
fn seed(url: &str, prefix: &str, tokens: usize) {
    let c = cache(url, prefix, true);
    c.remove_partition(&partition()).unwrap();
    let exp = 4_000_000_000i64;
    let mut json = String::from(r#"{"AccessToken":{"#);
    for r in 0..tokens {
        let sep = if r == 0 { "" } else { "," };
        json.push_str(&format!(
            r#"{sep}"-login.microsoftonline.com-accesstoken-{CLIENT}-tenant-1-api://res-{r}/.default":{{"credential_type":"AccessToken","secret":"tok-seed-{r}","home_account_id":"","environment":"login.microsoftonline.com","client_id":"{CLIENT}","realm":"tenant-1","target":"api://res-{r}/.default","token_type":"Bearer","cached_at":"0","expires_on":"{exp}","extended_expires_on":"{exp}"}}"#
        ));
    }
    json.push_str("}}");
    c.import(&partition(), &TokenCache::parse(&json).unwrap()).unwrap();
}

fn percentiles(mut us: Vec<f64>) -> String {
    us.sort_by(f64::total_cmp);
    let p = |q: f64| us[((q * us.len() as f64) as usize).min(us.len() - 1)];
    format!("p50_us={:.2} p99_us={:.2} n={}", p(0.5), p(0.99), us.len())
}

fn lookups(url: &str, prefix: &str, n: usize, tokens: usize, l1: bool) -> String {
    seed(url, prefix, tokens);
    // A fresh cache, as another process of the fleet would be.
    let c = cache(url, prefix, l1);
    let scope = format!("api://res-{}/.default", tokens / 2);
    let q = AccessTokenQuery::new(CLIENT, [scope.as_str()]);
    let p = partition();
    assert!(c.access_token(&p, &q).unwrap().is_some(), "seeded token not found");
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let found = c.access_token(&p, &q).unwrap();
        us.push(t0.elapsed().as_secs_f64() * 1e6);
        assert!(found.is_some());
    }
    let m = c.metrics();
    format!("{} l1_hits={} l2_reads={}", percentiles(us), m.l1_hits, m.l2_reads)
}

/// `threads` threads each look a new scope up (a miss) and store its token,
/// until `seconds` pass.
fn update(url: &str, prefix: &str, proc_id: &str, threads: usize, seconds: u64) -> String {
    let c = Arc::new(cache(url, prefix, true));
    let end = Instant::now() + Duration::from_secs(seconds);
    let (ok, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            let (c, ok, other, proc_id) = (c.clone(), ok.clone(), other.clone(), proc_id.to_owned());
            std::thread::spawn(move || {
                let p = partition();
                let mut i = 0;
                while Instant::now() < end {
                    let scope = format!("api://res-{}/p{proc_id}-w{w}-i{i}", i % 50);
                    let q = AccessTokenQuery::new(CLIENT, [scope.as_str()]);
                    assert!(c.access_token(&p, &q).unwrap().is_none());
                    match c.add(&p, &response(&scope, &format!("tok-{proc_id}-{w}-{i}"))) {
                        Ok(WriteOutcome::Stored | WriteOutcome::Unchanged) => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    c.flush(Duration::from_secs(30)).unwrap();
    let m = c.metrics();
    format!(
        "ok={} failed={} conflicts={} writes_stored={}",
        ok.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
        m.conflicts,
        m.writes_stored
    )
}

fn count(url: &str, prefix: &str) -> String {
    let c = cache(url, prefix, false);
    let n = c.load_partition(&partition()).unwrap().access_tokens().count();
    c.remove_partition(&partition()).unwrap();
    format!("tokens={n}")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let num = |i: usize| -> usize { args[i].parse().unwrap() };
    let out = match args.first().map(String::as_str) {
        Some("lookup-l1") | Some("large-l1") => lookups(&args[1], &args[2], num(3), num(4), true),
        Some("lookup-l2") | Some("large-l2") => lookups(&args[1], &args[2], num(3), num(4), false),
        Some("update") => update(&args[1], &args[2], &args[3], num(4), num(5) as u64),
        Some("count") => count(&args[1], &args[2]),
        _ => {
            eprintln!("usage: see the header of benches/distributed.rs (run by scripts/bench-redis.sh)");
            return;
        }
    };
    println!("RESULT {out}");
}
