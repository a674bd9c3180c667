//! Fuzzes what a lockfile can contain: the parser must never panic and must
//! keep its output sane, and the real lock must handle a lockfile holding
//! these bytes (take it over or time out), never panic or hang.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use msal_extensions::{Error, LockOptions, lock::parse_lock_content};

fn lockfile() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("msalx-fuzz-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("c.lockfile")
    })
}

fuzz_target!(|data: &[u8]| {
    let (pid, program) = parse_lock_content(&String::from_utf8_lossy(data));
    if let Some(p) = pid {
        assert!(p > 0);
    }
    if let Some(p) = &program {
        assert!(pid.is_some() && !p.is_empty() && p.chars().count() <= 200);
        assert!(!p.chars().any(char::is_control), "control characters would reach messages");
    }
    std::fs::write(lockfile(), data).unwrap();
    // Tries once: the content decides between "stale, taken over" and "held".
    match LockOptions::new().timeout(Duration::ZERO).acquire(lockfile()) {
        Ok(guard) => guard.release().unwrap(),
        Err(Error::LockTimeout { .. }) => {}
        Err(other) => panic!("unexpected error: {other:?}"),
    }
});
