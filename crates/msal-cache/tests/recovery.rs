//! Issue 10's "the CLI never destroys data it did not back up", through the
//! built binary: every command that replaces content keeps a recoverable copy
//! and says where; `migrate` refuses to overwrite tokens unless told how to
//! merge; a corrupt cache can be repaired with the tool; no lockfile content
//! or file type makes a command wait past its timeout; editing another
//! user's cache as root keeps its owner.
//!
//! The Secret Service tests need `WITH_SECRET_SERVICE=1` (run under
//! `scripts/with-secret-service.sh`); the rest need no peer.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use msal_extensions::{Persistence, StoreSpec};
use serde_json::{Value, json};

mod common;
use common::*;

/// The file named in a "... is kept at PATH (plaintext, 0600)" line.
fn kept_file(out: &str, what: &str) -> PathBuf {
    let line = out.lines().find(|l| l.starts_with(what) && l.contains(" kept at ")).unwrap_or_else(|| {
        panic!("no line saying where {what} is kept:\n{out}");
    });
    let rest = line.split(" kept at ").nth(1).unwrap();
    PathBuf::from(
        rest.strip_suffix(" (plaintext, 0600)").unwrap_or_else(|| panic!("not a file copy: {line}")),
    )
}

#[test]
fn every_command_that_replaces_content_keeps_a_copy_and_says_where() {
    let dir = Scratch::new("copies");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let original = std::fs::read(&cache).unwrap();
    let out = ok(&["remove-account", "--cache", s(&cache), "alice@contoso.com"]);
    let copy = kept_file(&out, "the content before the removal");
    assert_eq!(std::fs::read(&copy).unwrap(), original);
    assert_eq!(mode(&copy), 0o600);

    let before_import = std::fs::read(&cache).unwrap();
    let file = dir.path("in.json");
    std::fs::write(&file, serde_json::to_string(&fixture()).unwrap()).unwrap();
    let out = ok(&["import", "--cache", s(&cache), s(&file)]);
    assert_eq!(std::fs::read(kept_file(&out, "the content before the import")).unwrap(), before_import);

    let before_clear = std::fs::read(&cache).unwrap();
    let out = ok(&["clear", "--cache", s(&cache), "--yes"]);
    assert_eq!(std::fs::read(kept_file(&out, "the content it held")).unwrap(), before_clear);
    assert_eq!(token_count(&cache), 0);
    // doctor points every copy out (the library's `.backup-`/`.corrupt-` names), and nothing else.
    std::fs::write(dir.path("c.json.backup"), "not a copy").unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(r.out.contains("copies: 3 copies of the cache beside it"), "{}", r.out);

    let target = dir.path("export.json");
    std::fs::write(&target, "an earlier export").unwrap();
    let out = ok(&["export", "--cache", s(&file), "-o", s(&target)]);
    assert_eq!(
        std::fs::read_to_string(kept_file(&out, "the file's previous content")).unwrap(),
        "an earlier export"
    );
    // The same content is kept once, however often it is replaced.
    std::fs::write(&target, "an earlier export").unwrap();
    ok(&["export", "--cache", s(&file), "-o", s(&target)]);
    assert_eq!(copies_of(&target, ".backup-").len(), 1);
}

#[test]
fn clear_repairs_a_corrupt_cache_keeping_its_content() {
    let dir = Scratch::new("clear-corrupt");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{\"AccessToken\": {\"k\": 5} SECRETVAL").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&["remove-account", "--cache", s(&cache), "alice"]);
    assert_eq!(r.code, 2, "edits refuse a corrupt cache: {}", r.out);
    assert!(r.err.contains(&format!("the token cache at {} is corrupt", s(&cache))), "{}", r.err);
    assert!(
        r.err.contains("nothing was changed") && r.err.contains("msal-cache doctor --fix --cache"),
        "{}",
        r.err
    );
    let out = ok(&["clear", "--cache", s(&cache), "--yes"]);
    assert!(out.contains("the cache was corrupt"), "{out}");
    let copy = copies_of(&cache, ".corrupt-");
    assert_eq!(copy.len(), 1, "{out}");
    assert!(out.contains(s(&copy[0])), "the copy's place is said: {out}");
    assert!(std::fs::read_to_string(&copy[0]).unwrap().contains("SECRETVAL"), "the bad content is kept");
    assert_eq!(token_count(&cache), 0);
}

#[test]
fn corrupt_content_is_described_at_its_place() {
    let dir = Scratch::new("corrupt-words");
    let deep = ["{\"Foo\": ".into(), "[".repeat(300), "]".repeat(300), "}".into()].concat();
    let cases: [(&str, &[u8], &str); 3] = [
        ("bom.json", b"\xef\xbb\xbf{}", "byte-order mark"),
        ("deep.json", deep.as_bytes(), "more than 128 levels deep"),
        ("type.json", b"{\"AccessToken\": 5}", "not an object"),
    ];
    for (name, bytes, says) in cases {
        let cache = dir.path(name);
        std::fs::write(&cache, bytes).unwrap();
        let r = run(&["tokens", "--cache", s(&cache)]);
        assert_eq!(r.code, 2, "{name}");
        assert!(r.err.contains(&format!("the token cache at {} is corrupt: ", s(&cache))), "{}", r.err);
        assert!(r.err.contains(says) && !r.err.contains("line 1 column 1;"), "{name}: {}", r.err);
    }
}

#[test]
fn doctor_fix_does_what_it_advises() {
    let dir = Scratch::new("doctor-fix");
    let cache = dir.path("c.json");
    // What msal-node can leave: a complete cache followed by junk. And a 0644 mode, a dead holder's lockfile.
    let doc = serde_json::to_string(&fixture()).unwrap();
    std::fs::write(&cache, format!("{doc}{{\"Acc")).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lockfile = dir.path("c.json.lockfile");
    std::fs::write(&lockfile, "4294967295 node").unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store", "--fix"]);
    assert_eq!(r.code, 0, "every problem fixed:\n{}{}", r.out, r.err);
    for done in [
        "fixed permissions: chmod 600",
        "fixed lockfile: ",
        "fixed content: kept the 6 entries of the complete cache at its start; kept the bad content at",
    ] {
        assert!(r.out.contains(done), "{done:?} not in:\n{}", r.out);
    }
    let after = r.out.split("after the fixes:").nth(1).unwrap();
    assert!(after.ends_with("0 problem(s)\n") && !after.contains("[problem]"), "{after}");
    assert_eq!(mode(&cache), 0o600);
    assert!(!lockfile.exists());
    assert_eq!(token_count(&cache), 5, "the leading cache is kept");
    assert_eq!(copies_of(&cache, ".corrupt-").len(), 1);
    // Something that is not a lockfile at its path is moved aside; JSON says what was done.
    std::fs::create_dir(&lockfile).unwrap();
    let v = json(&["doctor", "--cache", s(&cache), "--no-secret-store", "--fix", "--json"]);
    assert_eq!(v["problems"], 0, "{v}");
    assert_eq!(v["fixes"][0]["done"], true, "{v}");
    assert!(dir.path("c.json.lockfile.not-a-lockfile").is_dir() && !lockfile.exists());
}

/// Runs `args` with a 5 s lock timeout; it must end well before that.
fn prompt(args: &[&str]) -> Run {
    let started = Instant::now();
    let r = finish(cli().args(args).args(["--lock-timeout", "5"]), 30);
    assert!(started.elapsed() < Duration::from_secs(3), "{args:?} waited {:?}", started.elapsed());
    r
}

#[test]
fn a_fifo_at_the_lockfile_path_makes_every_command_fail_at_once() {
    let dir = Scratch::new("fifo-lock");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let before = std::fs::read(&cache).unwrap();
    let lockfile = dir.path("c.json.lockfile");
    mkfifo(&lockfile);
    let file = dir.path("in.json");
    std::fs::write(&file, "{}").unwrap();
    let c = s(&cache);
    for args in [
        &["remove-account", "--cache", c, "alice@contoso.com"][..],
        &["clear", "--cache", c, "--yes"],
        &["import", "--cache", c, s(&file)],
        &["unlock-stale", "--cache", c],
    ] {
        let r = prompt(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.out);
        assert!(
            r.err.contains("named pipe (FIFO), not a lockfile") && r.err.contains("rm "),
            "{args:?}: {}",
            r.err
        );
    }
    let r = prompt(&["doctor", "--cache", c, "--no-secret-store"]);
    assert!(r.code == 1 && r.out.contains("a named pipe (FIFO), not a lockfile"), "{}", r.out);
    assert_eq!(prompt(&["accounts", "--cache", c]).code, 0, "reads need no lock");
    assert_eq!(std::fs::read(&cache).unwrap(), before);
    assert!(std::fs::symlink_metadata(&lockfile).unwrap().file_type().is_fifo());
}

use std::os::unix::fs::FileTypeExt;

#[test]
fn a_pid_that_cannot_exist_in_a_lockfile_is_stale() {
    let dir = Scratch::new("big-pid");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let lockfile = dir.path("c.json.lockfile");
    for pid in ["4294967295", "2147483648"] {
        std::fs::write(&lockfile, format!("{pid} az")).unwrap();
        let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
        assert!(r.out.contains(&format!("stale: recorded by pid {pid}")), "{}", r.out);
    }
    // A writer takes it over at once.
    let r = prompt(&["remove-account", "--cache", s(&cache), "alice@contoso.com"]);
    assert_eq!(r.code, 0, "{}", r.err);
    std::fs::write(&lockfile, "2147483648 node").unwrap();
    assert!(ok(&["unlock-stale", "--cache", s(&cache)]).contains("removed the stale lockfile"));
    assert!(!lockfile.exists());
}

#[test]
fn as_root_editing_another_users_cache_keeps_its_owner_and_group() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return peer_missing::<()>("root", "CI runs the tests as root; run them as root").unwrap_or(());
    }
    let dir = Scratch::new("owner");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let (uid, gid) = (65534, 65533);
    std::os::unix::fs::chown(&cache, Some(uid), Some(gid)).unwrap();
    let owner = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o777)
    };
    let file = dir.path("in.json");
    std::fs::write(&file, serde_json::to_string(&fixture()).unwrap()).unwrap();
    let c = s(&cache);
    for args in [
        &["remove-account", "--cache", c, "alice@contoso.com"][..],
        &["import", "--cache", c, s(&file)],
        &["clear", "--cache", c, "--yes"],
    ] {
        ok(args);
        assert_eq!(owner(&cache), (uid, gid, 0o600), "after {args:?}");
    }
    for copy in copies_of(&cache, ".backup-") {
        assert_eq!(owner(&copy), (uid, gid, 0o600), "{copy:?}: a copy is its owner's too");
    }
}

/// The secrets by entry key, read with `export --include-secrets`.
fn secrets(cache: &Path, backend: &str, dir: &Scratch) -> Value {
    let out = dir.path("secrets.json");
    let _ = std::fs::remove_file(&out);
    ok(&["export", "--cache", s(cache), "--backend", backend, "--include-secrets", "-o", s(&out)]);
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    v
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn migrate_never_overwrites_tokens_it_did_not_back_up() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("migrate-safe");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let item = StoreSpec::secret_service(&cache).open().unwrap();
    // The item already holds a newer version of one app token, and a token of its own.
    let mut newer = fixture()["AccessToken"][APP_AT].clone();
    newer["secret"] = json!("SECRETVAL-newer");
    newer["cached_at"] = json!("1899999999");
    let mut own = newer.clone();
    own["target"] = json!("api://own/.default");
    let held = json!({"AccessToken": {APP_AT: newer, "-login.microsoftonline.com-accesstoken-app1-contoso-api://own/.default": own}});
    item.save(&held.to_string()).unwrap();
    let plain = std::fs::read(&cache).unwrap();

    let r = run(&["migrate", "--cache", s(&cache), "--to", "encrypted"]);
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.err.contains("already holds 2 entries") && r.err.contains("--merge") && r.err.contains("--force"),
        "{}",
        r.err
    );
    assert_eq!(std::fs::read(&cache).unwrap(), plain, "refused: nothing changed");

    let out = ok(&["migrate", "--cache", s(&cache), "--to", "encrypted", "--merge"]);
    assert!(out.contains("moved 6 entries") && out.contains("merged with the 2 entries"), "{out}");
    assert!(
        out.contains("the destination's previous content is kept at") && out.contains("(encrypted)"),
        "{out}"
    );
    let source_copy = kept_file(&out, "the source's content");
    assert_eq!(std::fs::read(&source_copy).unwrap(), plain);
    let union = secrets(&cache, "secret-service", &dir);
    assert_eq!(union["AccessToken"].as_object().unwrap().len(), 4, "{union}");
    assert_eq!(union["AccessToken"][APP_AT]["secret"], "SECRETVAL-newer", "the newer version wins");
    assert_eq!(std::fs::read(&cache).unwrap(), b"{}", "the plaintext file is left as an empty signal file");

    // Run twice: nothing to migrate, and the item keeps every token.
    let r = run(&["migrate", "--cache", s(&cache), "--to", "encrypted"]);
    assert!(r.code == 2 && r.err.contains("nothing to migrate"), "{}", r.err);
    assert_eq!(secrets(&cache, "secret-service", &dir), union);

    // Back to a plaintext file that holds tokens of its own: refused, then --force keeps a copy.
    write_cache(&cache, &fixture());
    let r = run(&["migrate", "--cache", s(&cache), "--to", "plaintext"]);
    assert!(r.code == 2 && r.err.contains("already holds 6 entries"), "{}", r.err);
    let out = ok(&["migrate", "--cache", s(&cache), "--to", "plaintext", "--force"]);
    let dest_copy = kept_file(&out, "the destination's previous content");
    assert_eq!(serde_json::from_slice::<Value>(&std::fs::read(&dest_copy).unwrap()).unwrap(), fixture());
    assert!(out.contains("the source's content is kept at") && out.contains("(encrypted)"), "{out}");
    assert_eq!(secrets(&cache, "file", &dir), union, "the plaintext file now holds what the item held");
    assert!(
        item.load_bytes().unwrap_err().is_not_found(),
        "the item is deleted (its copy is a sibling item)"
    );
}

const NO_BUS: (&str, &str) = ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/msal-cache-test-bus");

#[test]
fn without_a_secret_service_the_message_names_the_bus_and_a_fix() {
    let dir = Scratch::new("nobus");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let runtime = dir.path("runtime");
    let mut c = cli();
    c.args(["tokens", "--cache", s(&cache), "--backend", "secret-service"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &runtime);
    let r = finish(&mut c, 60);
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.err.contains(&format!("{}/bus", s(&runtime))),
        "the real path, not $XDG_RUNTIME_DIR: {}",
        r.err
    );
    assert!(
        r.err.contains("dbus-run-session") && !r.err.contains("::"),
        "a command, not a Rust API: {}",
        r.err
    );
    let once = "No such file or directory (os error 2)";
    assert!(r.err.matches(once).count() <= 1, "each cause once: {}", r.err);
}

/// Azure Identity for Python keeps a plaintext file at its signal path when no
/// Secret Service is usable; the preset reads it as the owner would, for the
/// default cache name and for a name the application chose.
#[test]
fn a_preset_reads_its_owners_plaintext_fallback_and_custom_names() {
    let dir = Scratch::new("fallback");
    let home = dir.path("home");
    let folder = home.join(".IdentityService");
    std::fs::create_dir_all(&folder).unwrap();
    let env = [("HOME", s(&home)), NO_BUS];
    for (file, extra) in [
        ("msal.cache.nocae", &["--preset", "azure-identity-python"][..]),
        ("myapp.nocae", &["--preset", "azure-identity-python", "--name", "myapp"]),
        ("myapp.cae", &["--preset", "azure-identity-python-cae", "--name", "myapp"]),
    ] {
        write_cache(&folder.join(file), &fixture());
        let r = run_env(&[&["tokens", "--json"][..], extra].concat(), &env);
        assert_eq!(r.code, 0, "{extra:?}: {}", r.err);
        assert_eq!(serde_json::from_str::<Value>(&r.out).unwrap().as_array().unwrap().len(), 5);
        assert!(r.err.contains("plaintext fallback") && r.err.contains(file), "{}", r.err);
    }
    let r = run(&["tokens", "--preset", "azure-cli", "--name", "x"]);
    assert!(r.code == 2 && r.err.contains("only the Azure Identity for Python presets"), "{}", r.err);
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn a_corrupt_keyring_item_is_named_and_repaired_inside_its_store() {
    if !secret_service() {
        return;
    }
    let dir = Scratch::new("corrupt-item");
    let signal = dir.path("msal.cache");
    let item = StoreSpec::secret_service(&signal).open().unwrap();
    item.save("{\"AccessToken\": SECRETVAL").unwrap();
    let r = run(&["tokens", "--cache", s(&signal), "--backend", "secret-service"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("the token cache at the Secret Service item xdg:schema="),
        "the item, not the signal file: {}",
        r.err
    );
    let out = ok(&["clear", "--cache", s(&signal), "--backend", "secret-service", "--yes"]);
    assert!(out.contains("the cache was corrupt") && out.contains("(encrypted)"), "{out}");
    let copies = [copies_of(&signal, ".corrupt-"), copies_of(&signal, ".backup-")].concat();
    assert_eq!(copies, Vec::<PathBuf>::new(), "no plaintext copy of an encrypted store");
    assert_eq!(json(&["tokens", "--cache", s(&signal), "--backend", "secret-service", "--json"]), json!([]));
}
