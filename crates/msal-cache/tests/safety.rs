//! Issue 10's findings in `msal-cache`, each reproduced through the built
//! binary: ways the tool lost or leaked a cache (import of `null` sections,
//! `export -o` onto the cache or through `/dev/stdout`, redaction of odd
//! secret types, `remove-account ""`, the demo's folders), and what it told
//! users (terminal escapes, unquoted fix commands, advice that would break
//! the tool owning the cache, misjudged files and folders).
//!
//! No peer is needed: the caches are written here in MSAL's schema.
//! Unix only: the tests use FIFOs, symbolic links, file modes and uids.
#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

mod common;
use common::*;

#[test]
fn import_of_a_null_section_or_entry_keeps_what_the_cache_holds() {
    let dir = Scratch::new("import-null");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    assert_eq!(token_count(&cache), 5);
    let file = dir.path("in.json");
    let bob = json!({"home_account_id": "b.t", "environment": ENV, "realm": "contoso",
                     "username": "bob@fabrikam.com", "authority_type": "MSSTS"});
    std::fs::write(
        &file,
        json!({"AccessToken": null, "Account": {"b.t-login.microsoftonline.com-contoso": bob}}).to_string(),
    )
    .unwrap();
    let out = ok(&["import", "--cache", s(&cache), s(&file)]);
    assert!(out.contains("imported 1 entries (1 new, 0 replaced)"), "{out}");
    assert_eq!(token_count(&cache), 5, "the cache's access tokens survive a null section");
    assert_eq!(json(&["accounts", "--cache", s(&cache), "--json"]).as_array().unwrap().len(), 2);

    // A null entry is no MSAL cache entry (the library refuses such a file, as
    // it would refuse such a cache): the whole import is refused.
    let before = std::fs::read(&cache).unwrap();
    for (bad, says) in [
        (json!({"AccessToken": {APP_AT: null}}).to_string(), "not an MSAL cache"),
        (
            r#"{"AccessToken": 5}"#.into(),
            "not an MSAL cache (a section or entry is not an object) at line 1 column 17",
        ),
        (r#"{"AccessToken": []}"#.into(), "not an MSAL cache"),
        (r#"{"AccessToken": {"k": "x"}}"#.into(), "not an MSAL cache"),
        ("[1]".into(), "not an MSAL cache"),
        ("{\"AccessToken\": {".into(), "ends early"),
    ] {
        std::fs::write(&file, &bad).unwrap();
        let r = run(&["import", "--cache", s(&cache), s(&file)]);
        assert_eq!(r.code, 2, "{bad}: {}", r.out);
        assert!(r.err.contains(says) && r.err.contains("nothing was imported"), "{bad}: {}", r.err);
        assert!(r.err.contains(s(&file)) && !r.err.contains("at token cache"), "names the file: {}", r.err);
        assert!(
            !r.err.contains("clear"),
            "a bad import file never leads to advice to clear the cache: {}",
            r.err
        );
        assert_eq!(std::fs::read(&cache).unwrap(), before, "{bad} changed the cache");
        assert_eq!(token_count(&cache), 5, "{bad}: a refused import keeps every token");
    }
}

#[test]
fn import_of_a_fifo_or_a_device_is_refused_at_once() {
    let dir = Scratch::new("import-fifo");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let before = std::fs::read(&cache).unwrap();
    let fifo = dir.path("pipe");
    mkfifo(&fifo);
    for (file, says) in [(fifo.as_path(), "a named pipe (FIFO)"), (Path::new("/dev/zero"), "a device")] {
        let started = std::time::Instant::now();
        // Nobody writes the FIFO and /dev/zero never ends: a read would never return.
        let r = finish(cli().args(["import", "--cache", s(&cache), s(file)]), 20);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{file:?}: {:?}", started.elapsed());
        assert_eq!(r.code, 2, "{file:?}: {}", r.out);
        assert!(r.err.contains(says) && r.err.contains("nothing was imported"), "{}", r.err);
        assert!(r.err.contains(s(file)), "names the file: {}", r.err);
        assert_eq!(std::fs::read(&cache).unwrap(), before, "{file:?} changed the cache");
    }
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn export_never_writes_over_the_cache_its_lockfile_or_through_a_link() {
    let dir = Scratch::new("export-target");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let before = std::fs::read(&cache).unwrap();
    let hard = dir.path("hard.json");
    std::fs::hard_link(&cache, &hard).unwrap();
    for (target, says) in [(&cache, "the cache itself"), (&hard, "the cache itself")] {
        for secrets in [false, true] {
            let mut args = vec!["export", "--cache", s(&cache), "-o", s(target)];
            args.extend(secrets.then_some("--include-secrets"));
            let r = run(&args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.out);
            assert!(r.err.contains(says), "{}", r.err);
            assert_eq!(std::fs::read(&cache).unwrap(), before, "{args:?} changed the cache");
        }
    }
    let lockfile = dir.path("c.json.lockfile");
    let guard = dir.path("c.json.lockfile.guard");
    for target in [&lockfile, &guard] {
        let r = run(&["export", "--cache", s(&cache), "-o", s(target)]);
        assert!(r.code == 2 && r.err.contains("the cache's lock"), "{}", r.err);
        assert!(!target.exists(), "nothing was created at {target:?}");
    }
    let r = run(&["export", "--cache", s(&cache), "-o", s(&dir.0)]);
    assert!(r.code == 2 && r.err.contains("a directory"), "{}", r.err);

    let named = dir.path("named.json");
    std::fs::write(&named, "mine").unwrap();
    let link = dir.path("link.json");
    std::os::unix::fs::symlink(&named, &link).unwrap();
    let r = run(&["export", "--cache", s(&cache), "--include-secrets", "-o", s(&link)]);
    assert!(r.code == 2 && r.err.contains("symbolic link to"), "{}", r.err);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&named).unwrap(), "mine", "no secret was written to a file not named");
    let dangling = dir.path("dangling.json");
    std::os::unix::fs::symlink(dir.path("nowhere.json"), &dangling).unwrap();
    let r = run(&["export", "--cache", s(&cache), "--include-secrets", "-o", s(&dangling)]);
    assert!(r.code == 2 && !dir.path("nowhere.json").exists(), "{}", r.err);
}

/// `/dev/stdout` is a symbolic link to `/proc/self/fd/1`. The same kind of
/// link is made here (so a regression replaces a link of this test's, not
/// the machine's `/dev/stdout`), and `/dev/stdout` itself is used once the
/// link survived.
#[test]
fn export_to_a_link_to_stdout_or_a_device_writes_through_and_keeps_the_link() {
    let dir = Scratch::new("export-stdout");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let plain = ok(&["export", "--cache", s(&cache)]);
    let to_stdout = dir.path("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &to_stdout).unwrap();
    for target in [to_stdout.as_path(), Path::new("/dev/stdout")] {
        let r = run(&["export", "--cache", s(&cache), "-o", s(target)]);
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(r.out, plain, "the export reaches standard output");
        assert!(r.err.contains("to standard output"), "the note stays off the JSON: {}", r.err);
        assert!(std::fs::symlink_metadata(target).unwrap().file_type().is_symlink(), "{target:?} replaced");
    }
    // With secrets, and standard output redirected to a file: the file gets them, the link stays.
    let captured = dir.path("captured.json");
    let st = cli()
        .args(["export", "--cache", s(&cache), "--include-secrets", "-o", s(&to_stdout)])
        .stdout(std::fs::File::create(&captured).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::read_to_string(&captured).unwrap().contains(SECRET_MARK));
    assert!(std::fs::symlink_metadata(&to_stdout).unwrap().file_type().is_symlink());
    // A link to a character device is written through; the device stays a device.
    let to_null = dir.path("null");
    std::os::unix::fs::symlink("/dev/null", &to_null).unwrap();
    assert!(ok(&["export", "--cache", s(&cache), "-o", s(&to_null)]).contains("exported 6 entries"));
    assert!(std::fs::symlink_metadata(&to_null).unwrap().file_type().is_symlink());
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

#[test]
fn export_to_a_fifo_fails_promptly_without_a_reader_and_streams_to_one() {
    let dir = Scratch::new("export-fifo");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let fifo = dir.path("pipe");
    mkfifo(&fifo);
    let r = finish(cli().args(["export", "--cache", s(&cache), "-o", s(&fifo)]), 20);
    assert!(r.code == 2 && r.err.contains("no process is reading that pipe"), "{}", r.err);
    // A reader that opened first (non-blocking, so this test never waits on it).
    use std::os::unix::fs::OpenOptionsExt;
    let reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let plain = ok(&["export", "--cache", s(&cache), "-o", s(&fifo)]);
    assert!(plain.contains("exported 6 entries"), "{plain}");
    let mut got = String::new();
    std::io::Read::read_to_string(&mut &reader, &mut got).unwrap();
    assert!(got.contains("<redacted sha256:"), "{got}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn plain_export_redacts_secrets_of_every_json_type() {
    let dir = Scratch::new("redact");
    let mut doc = fixture();
    doc["RefreshToken"]["uid.utid-login.microsoftonline.com-refreshtoken-cli--"]["secret"] =
        json!(["SECRETVAL-in-an-array"]);
    doc["IdToken"]["uid.utid-login.microsoftonline.com-idtoken-cli-contoso-"]["secret"] =
        json!({"v": "SECRETVAL-in-an-object"});
    doc["AccessToken"][APP_AT]["secret"] = json!(31_415_926_535_u64);
    doc["FutureSection"] = json!({"x": {"nested": [{"secret": "SECRETVAL-nested"}]}});
    let cache = write_cache(&dir.path("c.json"), &doc);
    // `run` fails the test if any SECRETVAL reaches the output.
    let out = ok(&["export", "--cache", s(&cache)]);
    assert!(!out.contains("31415926535"), "a number secret is a secret too:\n{out}");
    assert_eq!(out.matches("<redacted sha256:").count(), 6, "{out}");
    ok(&["tokens", "--cache", s(&cache)]);
    // And such an export is still refused by import.
    let redacted = dir.path("redacted.json");
    std::fs::write(&redacted, &out).unwrap();
    let r = run(&["import", "--cache", s(&dir.path("other.json")), s(&redacted)]);
    assert!(r.code == 2 && r.err.contains("--include-secrets"), "{}", r.err);
}

#[test]
fn remove_account_refuses_an_empty_name() {
    let dir = Scratch::new("remove-empty");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let before = std::fs::read(&cache).unwrap();
    for who in ["", " ", "\t"] {
        let r = run(&["remove-account", "--cache", s(&cache), who]);
        assert_eq!(r.code, 2, "{who:?}: {}", r.out);
        assert!(r.err.contains("msal-cache accounts"), "{}", r.err);
        assert_eq!(std::fs::read(&cache).unwrap(), before, "{who:?} removed something");
    }
    assert!(ok(&["remove-account", "--cache", s(&cache), "alice@contoso.com"]).contains("removed 4 entries"));
    assert_eq!(token_count(&cache), 2, "the two app-only tokens are left");
}

#[test]
fn everything_printed_shows_terminal_controls_escaped() {
    let dir = Scratch::new("escapes");
    let evil = dir.path("a\x1b[2J\u{9b}31m\u{202e}");
    std::fs::create_dir(&evil).unwrap();
    let mut doc = fixture();
    doc["Account"]["uid.utid-login.microsoftonline.com-contoso"]["username"] =
        json!("eve\x1b]0;owned\x07\r\n");
    let cache = write_cache(&evil.join("c\x1b[31m.json"), &doc);
    std::fs::write(evil.join("c\x1b[31m.json.backup-1\x1b[8m"), "{}").unwrap();
    std::fs::write(evil.join("c\x1b[31m.json.lockfile"), "999999999 evil\x1b[5m").unwrap();
    let runs = [
        run(&["accounts", "--cache", s(&cache)]),
        run(&["accounts", "--cache", s(&cache), "--json"]),
        run(&["tokens", "--cache", s(&cache)]),
        run(&["doctor", "--cache", s(&cache), "--no-secret-store"]),
        run(&["doctor", "--cache", s(&cache), "--no-secret-store", "--json"]),
        run(&["remove-account", "--cache", s(&cache), "nobody\x1b[2J"]),
        run(&["export", "--cache", s(&cache)]),
        run(&["accounts", "--cache", s(&evil.join("missing\x1b[2J.json"))]),
    ];
    for r in &runs {
        for text in [&r.out, &r.err] {
            assert!(
                !text.contains(['\x1b', '\u{9b}', '\u{202e}', '\x07', '\r']),
                "a raw control character was printed:\n{text:?}"
            );
        }
    }
    let doctor = &runs[3].out;
    assert!(doctor.contains(r"c\x1b[31m.json.backup-1\x1b[8m"), "file names are shown escaped:\n{doctor}");
    assert!(runs[0].out.contains(r"eve\x1b]0;owned\x07\x0d\x0a"), "{}", runs[0].out);
    // JSON output stays JSON, and means the same text.
    let accounts: Value = serde_json::from_str(&runs[1].out).unwrap();
    assert_eq!(accounts[0]["username"], "eve\x1b]0;owned\x07\r\n");
}

#[test]
fn doctor_fix_commands_can_be_pasted_into_a_shell() {
    let dir = Scratch::new("quote");
    let folder = dir.path("it's my cache");
    std::fs::create_dir(&folder).unwrap();
    let cache = write_cache(&folder.join("c $x.json"), &fixture());
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lockfile = folder.join("c $x.json.lockfile");
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    std::fs::write(&lockfile, format!("{pid} node")).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    paste_into_shell(quoted_command(&fix_of(&r.out, "permissions")));
    assert_eq!(mode(&cache), 0o600);
    let lock_fix = fix_of(&r.out, "lockfile");
    assert!(lock_fix.contains("msal-node has no stale-lock recovery"), "{lock_fix}");
    assert!(lock_fix.contains("under a millisecond"), "{lock_fix}");
    paste_into_shell(quoted_command(&lock_fix));
    assert!(!lockfile.exists(), "the pasted unlock-stale removed the stale lockfile");
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

/// A lockfile whose pid is alive but runs another program than the one that
/// wrote it (a crash, then a reused pid): stopping that process would kill an
/// unrelated program, so the advice is the library's (remove the lockfile).
#[test]
fn a_reused_pid_in_a_lockfile_never_draws_advice_to_kill_it() {
    let dir = Scratch::new("reused-pid");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let lockfile = dir.path("c.json.lockfile");
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&lockfile, format!("{} /usr/bin/az", other.id())).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    let fix = fix_of(&r.out, "lockfile");
    assert!(fix.contains("now runs `sleep`") && !fix.contains("kill"), "{}", r.out);
    let r = run(&["unlock-stale", "--cache", s(&cache)]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("now runs `sleep`") && !r.out.contains("kill"), "{}", r.out);
    assert!(lockfile.exists(), "a lock held as far as the protocol can tell is never removed by msal-cache");
    // The command the advice gives works when pasted.
    paste_into_shell(fix.split("remove it: ").nth(1).unwrap());
    assert!(!lockfile.exists());
    assert!(other.try_wait().unwrap().is_none(), "the unrelated process is left alone");
    other.kill().unwrap();
    other.wait().unwrap();
    // A live pid running the program that wrote the lockfile: waiting, or stopping it, is right.
    let mut same = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&lockfile, format!("{} /bin/sleep", same.id())).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(fix_of(&r.out, "lockfile").contains(&format!("kill {}", same.id())), "{}", r.out);
    same.kill().unwrap();
    same.wait().unwrap();
}

#[test]
fn doctor_reports_a_lockfile_that_is_not_a_file_and_its_fix_works() {
    let dir = Scratch::new("odd-lock");
    let cache = write_cache(&dir.path("c.json"), &fixture());
    let lockfile = dir.path("c.json.lockfile");
    std::fs::create_dir(&lockfile).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("is a directory, not a lockfile"), "{}", r.out);
    assert!(!r.out.contains("being created"), "{}", r.out);
    paste_into_shell(quoted_command(&fix_of(&r.out, "lockfile")));
    assert!(!lockfile.exists());
    assert_eq!(run(&["doctor", "--cache", s(&cache), "--no-secret-store"]).code, 0);
    // A FIFO is looked at without being opened: doctor does not hang on it.
    mkfifo(&lockfile);
    let r = finish(cli().args(["doctor", "--cache", s(&cache), "--no-secret-store"]), 20);
    assert!(r.code == 1 && r.out.contains("is a named pipe (FIFO), not a lockfile"), "{}", r.out);
    paste_into_shell(quoted_command(&fix_of(&r.out, "lockfile")));
    assert!(!lockfile.exists() && dir.path("c.json.lockfile.not-a-lockfile").exists());
    // A symbolic link (never followed): the link is removed, not what it points to.
    let target = dir.path("target");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, &lockfile).unwrap();
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(r.code == 1 && r.out.contains("is a symbolic link, not a lockfile"), "{}", r.out);
    paste_into_shell(quoted_command(&fix_of(&r.out, "lockfile")));
    assert!(std::fs::symlink_metadata(&lockfile).is_err() && target.exists());
    assert_eq!(run(&["doctor", "--cache", s(&cache), "--no-secret-store"]).code, 0);
}

#[test]
fn doctor_reports_a_folder_where_saves_would_fail() {
    let dir = Scratch::new("ro-folder");
    let folder = dir.path("ro");
    std::fs::create_dir(&folder).unwrap();
    let cache = write_cache(&folder.join("c.json"), &fixture());
    let writable = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert!(writable.out.contains("[ok     ] folder:"), "{}", writable.out);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let r = if root {
        // Root may write anywhere: the folder stays root's, and doctor runs as `nobody`, who owns the cache.
        let nobody = 65534;
        std::os::unix::fs::chown(&cache, Some(nobody), Some(nobody)).unwrap();
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.path("msal-cache");
        std::fs::copy(env!("CARGO_BIN_EXE_msal-cache"), &exe).unwrap();
        let mut c = Command::new(&exe);
        c.args(["doctor", "--cache", s(&cache), "--no-secret-store"]).uid(nobody).gid(nobody);
        finish(&mut c, 60)
    } else {
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
        let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        r
    };
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("is not writable by you") && r.out.contains("saves and the lockfile would fail"),
        "{}",
        r.out
    );
    let fix = fix_of(&r.out, "folder");
    assert!(fix.contains("chmod u+w") || fix.contains("belongs to uid 0"), "{fix}");
}

fn permissions_finding(cache: &Path, backend: &str, file_mode: u32, content: &str) -> Value {
    std::fs::write(cache, content).unwrap();
    std::fs::set_permissions(cache, std::fs::Permissions::from_mode(file_mode)).unwrap();
    let nobus = [("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/msal-cache-test-bus")];
    let r = run_env(
        &["doctor", "--cache", s(cache), "--backend", backend, "--no-secret-store", "--json"],
        &nobus,
    );
    let v: Value = serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}: {}{}", r.out, r.err));
    v["findings"].as_array().unwrap().iter().find(|f| f["topic"] == "permissions").unwrap().clone()
}

#[test]
fn doctor_judges_a_file_by_what_others_could_do_with_it() {
    let dir = Scratch::new("signal");
    let file = dir.path("msal.cache");
    // The signal files peers create: empty (msal-extensions, .NET) or `{}` (msal-node), 0644.
    for content in ["", "{}"] {
        let f = permissions_finding(&file, "secret-service", 0o644, content);
        assert_eq!(f["level"], "ok", "{content:?}: {f}");
        assert!(f["message"].as_str().unwrap().contains("holds nothing to read"), "{f}");
    }
    let f = permissions_finding(&file, "secret-service", 0o666, "");
    assert_eq!(f["level"], "problem", "{f}");
    assert!(f["message"].as_str().unwrap().contains("other users can change it"), "{f}");
    let plaintext = serde_json::to_string(&fixture()).unwrap();
    let f = permissions_finding(&file, "secret-service", 0o644, &plaintext);
    assert_eq!(f["level"], "problem", "a plaintext fallback in the signal file can be read: {f}");
    assert!(f["message"].as_str().unwrap().contains("other users can read the tokens"), "{f}");
    let f = permissions_finding(&file, "file", 0o644, "");
    assert_eq!(f["level"], "warn", "an empty plaintext cache would keep its mode when filled: {f}");
}

#[test]
fn doctor_never_advises_what_would_sign_azure_cli_out() {
    let dir = Scratch::new("az");
    let home = dir.path("home");
    std::fs::create_dir_all(home.join(".azure")).unwrap();
    let cache = write_cache(&home.join(".azure/msal_token_cache.json"), &fixture());
    let before = std::fs::read(&cache).unwrap();
    let env = [("HOME", s(&home)), ("AZURE_CONFIG_DIR", "")];
    for source in [["--preset", "azure-cli"], ["--cache", s(&cache)]] {
        let r = run_env(&[&["doctor", "--no-secret-store"][..], &source[..]].concat(), &env);
        assert_eq!(r.code, 0, "{}", r.out);
        assert!(!r.out.contains("migrate --to encrypted"), "{}", r.out);
        assert!(r.out.contains("Azure CLI reads no encrypted store"), "{}", r.out);
        let r = run_env(&[&["migrate", "--to", "encrypted"][..], &source[..]].concat(), &env);
        assert_eq!(r.code, 2, "{}", r.out);
        assert!(r.err.contains("sign you out") && r.err.contains("nothing was changed"), "{}", r.err);
        assert_eq!(std::fs::read(&cache).unwrap(), before);
    }
}

#[test]
fn migrate_help_says_the_source_is_emptied_and_a_backup_kept() {
    let short = ok(&["--help"]);
    let line = short.lines().find(|l| l.trim_start().starts_with("migrate")).unwrap();
    assert!(!line.contains("Copy") && line.contains("emptied") && line.contains("backup"), "{line}");
    let long = ok(&["migrate", "--help"]);
    assert!(long.contains("emptied") && long.contains("backup") && long.contains("deleted"), "{long}");
}

#[test]
fn demo_never_replaces_an_existing_cache_and_uses_a_fresh_private_folder() {
    let dir = Scratch::new("demo-fresh");
    let existing = write_cache(&dir.path("msal_token_cache.bin"), &fixture());
    let before = std::fs::read(&existing).unwrap();
    // Two runs in the same folder: each makes a fresh private folder of its
    // own (a name nobody could have prepared), never the other's.
    let mut used = Vec::new();
    for _ in 0..2 {
        let existed: Vec<PathBuf> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().path()).collect();
        let out = ok(&["demo", "--processes", "2", "--updates", "2", "--plaintext", "--dir", s(&dir.0)]);
        assert!(out.contains("OK: nothing lost: 4 of 4"), "{out}");
        assert_eq!(std::fs::read(&existing).unwrap(), before, "the demo replaced an existing cache");
        let folder = demo_folder(&out);
        assert_eq!(folder.parent(), Some(dir.0.as_path()), "{out}");
        assert!(!existed.contains(&folder), "the run made {folder:?} itself: {existed:?}");
        assert_eq!(mode(&folder), 0o700);
        let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("msal-cache-demo-") && name.len() == "msal-cache-demo-".len() + 16,
            "{name}"
        );
        used.push(folder);
    }
    assert_ne!(used[0], used[1], "each run makes a folder of its own");
    // Default: a fresh folder in the temp dir, removed afterwards.
    let tmp = dir.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let r = run_env(&["demo", "--processes", "2", "--updates", "1", "--plaintext"], &[("TMPDIR", s(&tmp))]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let used = demo_folder(&r.out);
    assert_eq!(used.parent(), Some(tmp.as_path()), "{}", r.out);
    let name = used.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("msal-cache-demo-") && name.len() == "msal-cache-demo-".len() + 16, "{name}");
    assert!(!used.exists(), "the default demo folder is removed");
}

/// The folder of the cache the demo announced ("... cache at PATH").
fn demo_folder(out: &str) -> PathBuf {
    let line = out.lines().find(|l| l.contains(" cache at ")).unwrap();
    let file = PathBuf::from(line.split(" cache at ").nth(1).unwrap());
    file.parent().unwrap().to_path_buf()
}

#[test]
fn a_corrupt_cache_is_reported_at_its_path_with_a_fix_that_works() {
    let dir = Scratch::new("corrupt-msg");
    let cache = dir.path("c.json");
    std::fs::write(&cache, "{\"AccessToken\": 5}").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&["accounts", "--cache", s(&cache)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains(&format!("the token cache at {} is corrupt", s(&cache))), "{}", r.err);
    assert!(!r.err.contains("at token cache") && r.err.contains("msal-cache doctor"), "{}", r.err);
    let r = run(&["doctor", "--cache", s(&cache), "--no-secret-store"]);
    assert_eq!(r.code, 1, "{}", r.out);
    paste_into_shell(quoted_command(&fix_of(&r.out, "content")));
    assert_eq!(token_count(&cache), 0, "repaired: an empty cache");
    let copies = copies_of(&cache, ".corrupt-");
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(
        std::fs::read_to_string(&copies[0]).unwrap(),
        "{\"AccessToken\": 5}",
        "the bad content is kept"
    );
}
