//! Presets open what their owner would open, on Linux: every preset's
//! `open()` goes straight into a `PersistedTokenCache`; with no Secret
//! Service, Azure Identity for Python's preset reads the plaintext file the
//! owner falls back to at the same path, and says so.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsString;
use std::path::Path;

use common::Scratch;
use msal_extensions::presets::{Platform, Preset};
use msal_extensions::{AccessTokenQuery, Error, PersistedTokenCache, Persistence, TokenResponse};

fn env_for(home: &Path) -> impl Fn(&str) -> Option<OsString> + '_ {
    move |k| (k == "HOME").then(|| home.as_os_str().to_owned())
}

fn response(secret: &str) -> TokenResponse {
    let body = format!(r#"{{"access_token": "{secret}", "expires_in": 3600}}"#);
    TokenResponse::new("client", ["scope"], "https://login.microsoftonline.com/t", &body).unwrap()
}

fn found<P: Persistence>(cache: &PersistedTokenCache<P>) -> Option<String> {
    let q = AccessTokenQuery::new("client", ["scope"]);
    cache.access_token(&q).unwrap().map(|t| t.secret.as_ref().unwrap().expose().to_owned())
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn every_preset_opens_into_a_persisted_token_cache() {
    if !common::secret_service() {
        return;
    }
    let home = Scratch::new("presets-all");
    for preset in Preset::ALL {
        let resolved = preset.resolve_for(Platform::Linux, &env_for(&home.0)).unwrap();
        let opened = resolved.open().unwrap();
        assert!(opened.fallback_reason().is_none(), "{preset}: the Secret Service is here");
        assert_eq!(opened.is_encrypted(), resolved.spec().is_encrypted(), "{preset}");
        let cache = PersistedTokenCache::new(opened);
        cache.add(&response(&format!("at-{preset}"))).unwrap();
        let again = PersistedTokenCache::new(resolved.open().unwrap());
        assert_eq!(found(&again).as_deref(), Some(format!("at-{preset}").as_str()), "{preset}");
        if resolved.spec().is_encrypted() {
            let signal = std::fs::read(resolved.location()).unwrap();
            assert!(signal.is_empty(), "{preset}: the signal file holds nothing");
            cache.persistence().delete().unwrap();
        }
    }
}

#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_entry() {
    let Some(args) = common::worker_args() else { return };
    let home = Path::new(&args[0]);
    let env = env_for(home);
    // Azure Identity for Python: reads the plaintext cache it would have written.
    let python = Preset::AzureIdentityPython.resolve_for(Platform::Linux, &env).unwrap();
    assert!(python.plaintext_fallback());
    let opened = python.open().unwrap();
    assert!(matches!(opened.fallback_reason(), Some(Error::Unavailable { .. })), "{opened:?}");
    assert_eq!((opened.backend_name(), opened.is_encrypted()), ("file", false));
    assert_eq!(found(&PersistedTokenCache::new(opened)).as_deref(), Some("plaintext-fallback"));
    // Visual Studio (.NET) has no such fallback: unavailable, said so, nothing written.
    let vs = Preset::VisualStudio.resolve_for(Platform::Linux, &env).unwrap();
    assert!(!vs.plaintext_fallback());
    assert!(matches!(vs.open(), Err(Error::Unavailable { .. })));
    assert!(!vs.location().exists());
    println!("WORKER-OK");
}

#[test]
fn without_a_secret_service_the_python_preset_reads_its_plaintext_fallback() {
    let home = Scratch::new("presets-fallback");
    let runtime = home.path("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // What Azure Identity writes with allow_unencrypted_storage=True (MSAL Python, indented).
    let python = Preset::AzureIdentityPython.resolve_for(Platform::Linux, &env_for(&home.0)).unwrap();
    let writer = PersistedTokenCache::new(python.open_plaintext().unwrap()).pretty(true);
    writer.add(&response("plaintext-fallback")).unwrap();
    let out = common::worker_command("worker_entry", &[home.0.display().to_string()])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("WORKER-OK"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
