//! The Secret Service backend against a real gnome-keyring-daemon.
//!
//! Run through `scripts/with-secret-service.sh`, which provides a private
//! session bus with an unlocked default collection and sets
//! `WITH_SECRET_SERVICE=1`; without it every test skips loudly (fails when
//! `CI=true`). The failure-mode tests start their own `dbus-daemon` (and
//! gnome-keyring) on private sockets so they never disturb the shared session.
//! Interop tests drive the Python reference (`MSALX_PYTHON`, from
//! `scripts/python-peers.sh`) through `tests/py/libsecret_peer.py`.
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use msal_extensions::{
    ChangeToken, EncryptedPersistenceBuilder, Error, Fallback, Persistence, SecretCollection, SecretEncoding,
    SecretServicePersistence, SessionEncryption, build_encrypted_persistence,
};
use secret_service::EncryptionType;
use secret_service::blocking::SecretService;

/// A cache payload shaped like MSAL's, unique per call.
fn payload(tag: &str) -> String {
    format!(r#"{{"AccessToken": {{}}, "RefreshToken": {{"rt-{tag}": {{"secret": "s\u00e9cret-{tag}"}}}}}}"#)
}

/// The items in the default collection carrying exactly these attributes
/// (read with an independent client, not the code under test).
struct ItemView {
    attributes: HashMap<String, String>,
    label: String,
    content_type: String,
    secret: Vec<u8>,
}

fn items_with(attrs: &[(&str, &str)]) -> Vec<ItemView> {
    let ss = SecretService::connect(EncryptionType::Dh).expect("independent client connects");
    let coll = ss.get_default_collection().expect("default collection");
    let items = coll.search_items(attrs.iter().copied().collect()).expect("search");
    items
        .iter()
        .map(|i| ItemView {
            attributes: i.get_attributes().unwrap(),
            label: i.get_label().unwrap(),
            content_type: i.get_secret_content_type().unwrap(),
            secret: i.get_secret().unwrap(),
        })
        .collect()
}

fn schema_attr(p: &SecretServicePersistence) -> [(&str, &str); 1] {
    [("xdg:schema", p.schema_name())]
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn round_trip_not_found_replace_and_signal_file() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-roundtrip");
    let p = SecretServicePersistence::new(dir.path("sub/msal.cache")).unwrap();
    assert!(p.load().unwrap_err().is_not_found(), "a fresh schema has no item");
    assert!(p.change_token().unwrap().is_absent(), "no signal file before the first save");

    p.save(&payload("one")).unwrap();
    assert_eq!(p.load().unwrap(), payload("one"));
    let t1 = p.change_token().unwrap();
    assert!(!t1.is_absent(), "save creates the signal file");
    assert!(dir.path("sub/msal.cache").exists());

    std::thread::sleep(Duration::from_millis(2));
    p.save(&payload("two")).unwrap();
    assert_eq!(p.load().unwrap(), payload("two"), "second save replaces");
    assert_ne!(p.change_token().unwrap(), t1, "every save touches the signal file");
    let items = items_with(&schema_attr(&p));
    assert_eq!(items.len(), 1, "replace semantics: still one item");
    p.delete().unwrap();
    assert!(p.load().unwrap_err().is_not_found());
    assert!(items_with(&schema_attr(&p)).is_empty());
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn item_is_written_like_libsecret() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-shape");
    let p = SecretServicePersistence::builder(dir.path("c"))
        .schema_name(format!("msalx.test.shape.{}", std::process::id()))
        .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
        .label("MSALCache")
        .build()
        .unwrap();
    p.save(&payload("shape")).unwrap();
    let items = items_with(&schema_attr(&p));
    assert_eq!(items.len(), 1);
    let want: HashMap<String, String> =
        [("MsalClientID", "Microsoft.Developer.IdentityService"), ("xdg:schema", p.schema_name())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(items[0].attributes, want, "exactly the caller's attributes plus xdg:schema");
    assert_eq!(items[0].label, "MSALCache");
    assert_eq!(items[0].content_type, "text/plain");
    assert_eq!(items[0].secret, payload("shape").as_bytes(), "raw UTF-8 by default");
    p.delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn base64_encoding_is_written_and_both_forms_are_read() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-b64");
    let schema = format!("msalx.test.b64.{}", std::process::id());
    let b64 = SecretServicePersistence::builder(dir.path("c"))
        .schema_name(&schema)
        .encoding(SecretEncoding::Base64)
        .build()
        .unwrap();
    b64.save(&payload("b64")).unwrap();
    let stored = &items_with(&schema_attr(&b64))[0].secret;
    assert!(stored.starts_with(b"eyJ"), "stored as base64 of the JSON");
    assert_eq!(b64.load().unwrap(), payload("b64"));
    // A reader configured for raw UTF-8 (the Python default) still decodes a base64 cache.
    let raw = SecretServicePersistence::builder(dir.path("c")).schema_name(&schema).build().unwrap();
    assert_eq!(raw.load().unwrap(), payload("b64"));
    raw.delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn plain_session_only_on_request_and_works() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-plain");
    let p = SecretServicePersistence::builder(dir.path("c"))
        .session_encryption(SessionEncryption::Plain)
        .build()
        .unwrap();
    assert!(format!("{p:?}").contains("Plain"));
    assert!(format!("{:?}", SecretServicePersistence::new(dir.path("c")).unwrap()).contains("DiffieHellman"));
    p.save("{}").unwrap();
    assert_eq!(p.load().unwrap(), "{}");
    p.delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn verify_stores_reads_and_removes_a_probe() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-verify");
    let p = SecretServicePersistence::new(dir.path("c")).unwrap();
    p.verify().unwrap();
    assert!(items_with(&[("xdg:schema", "io.github.msal-extensions-rs.Probe")]).is_empty(), "probe deleted");
    assert!(!dir.path("c").exists(), "verify does not touch the signal file");
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn one_value_is_shared_by_threads() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-threads");
    let p = SecretServicePersistence::new(dir.path("c")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = &p;
            s.spawn(move || {
                for i in 0..5 {
                    p.save(&payload(&format!("{t}-{i}"))).unwrap();
                    p.load().unwrap();
                }
            });
        }
    });
    assert_eq!(items_with(&schema_attr(&p)).len(), 1);
    p.delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn build_encrypted_persistence_picks_the_secret_service() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-build");
    let chosen = build_encrypted_persistence(dir.path("c")).unwrap();
    assert_eq!(chosen.backend_name(), "secret-service");
    assert!(chosen.is_encrypted());
    assert!(chosen.fallback_reason().is_none());
    chosen.save("{}").unwrap();
    assert_eq!(chosen.load().unwrap(), "{}");
    SecretServicePersistence::new(dir.path("c")).unwrap().delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn collections_by_alias_and_path_and_bad_names() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-coll");
    // The in-memory "session" collection, by alias.
    let session = SecretServicePersistence::builder(dir.path("s"))
        .collection(SecretCollection::Session)
        .build()
        .unwrap();
    session.save("{}").unwrap();
    assert_eq!(session.load().unwrap(), "{}");
    assert!(items_with(&schema_attr(&session)).is_empty(), "not in the default collection");
    session.delete().unwrap();
    // The default collection by object path: the same item as by alias.
    let by_path = SecretServicePersistence::builder(dir.path("p"))
        .collection(SecretCollection::Path("/org/freedesktop/secrets/aliases/default".into()))
        .build()
        .unwrap();
    by_path.save("{\"p\": 1}").unwrap();
    assert_eq!(SecretServicePersistence::new(dir.path("p")).unwrap().load().unwrap(), "{\"p\": 1}");
    by_path.delete().unwrap();
    // Bad names are typed errors, not panics.
    for (c, want) in [
        (SecretCollection::Path("not a path".into()), "not a D-Bus object path"),
        (SecretCollection::Alias("msalx-no-such-alias".into()), "no collection behind the alias"),
    ] {
        let p = SecretServicePersistence::builder(dir.path("x")).collection(c).build().unwrap();
        let err = p.load().unwrap_err();
        let Error::Unavailable { message, .. } = &err else { panic!("want Unavailable, got {err:?}") };
        assert!(message.contains(want), "{message}");
    }
}

// ------------------------------------------------------------ Python interop

/// The reference's constructor runs `trial_run()`, which stores, reads and
/// clears one fixed item ("Test Schema", attr1=foo, attr2=bar): two Python
/// processes at once can clear each other's probe. Serialise them.
static PYTHON: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn python_peer(args: &[&str]) -> Option<std::process::Output> {
    let py = common::python(true)?;
    let _one_at_a_time = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(py)
        .arg(common::py_script("libsecret_peer.py"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    Some(out)
}

fn python_ok(args: &[&str]) -> Option<String> {
    let out = python_peer(args)?;
    assert!(out.status.success(), "python {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
#[ignore = "needs Python msal-extensions; scripts/test.sh runs it"]
fn default_schema_matches_the_reference() {
    let Some(py) = python_ok(&["schema", "~/.IdentityService/msal.cache.nocae"]) else { return };
    assert_eq!(py.trim(), msal_extensions::default_schema_name("~/.IdentityService/msal.cache.nocae"));
    let Some(py) = python_ok(&["schema", "/tmp/caf\u{e9}/cache.bin"]) else { return };
    assert_eq!(py.trim(), msal_extensions::default_schema_name("/tmp/caf\u{e9}/cache.bin"));
}

#[test]
#[ignore = "needs a Secret Service and Python msal-extensions; scripts/test.sh runs it"]
fn python_saves_rust_loads_default_schema() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-py2rs");
    let signal = dir.path("msal.cache");
    let s = signal.to_str().unwrap();
    std::fs::write(dir.path("in.json"), payload("py")).unwrap();
    let rust = SecretServicePersistence::new(&signal).unwrap();
    let before = rust.change_token().unwrap();
    if python_ok(&["save", s, dir.path("in.json").to_str().unwrap()]).is_none() {
        return;
    }
    assert_eq!(rust.load().unwrap(), payload("py"));
    assert_ne!(rust.change_token().unwrap(), before, "Python touched the signal file we watch");
    rust.delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service and Python msal-extensions; scripts/test.sh runs it"]
fn rust_saves_python_loads_default_schema() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-rs2py");
    let signal = dir.path("msal.cache");
    let s = signal.to_str().unwrap();
    let rust = SecretServicePersistence::new(&signal).unwrap();
    let Some(out) = python_peer(&["load", s]) else { return };
    assert_eq!(out.status.code(), Some(3), "Python sees nothing before the first save");
    rust.save(&payload("rs")).unwrap();
    assert_eq!(python_ok(&["load", s]).unwrap(), payload("rs"));
    rust.save(&payload("rs2")).unwrap();
    assert_eq!(python_ok(&["load", s]).unwrap(), payload("rs2"), "Python sees our replacement");
    rust.delete().unwrap();
}

/// Runs tests/py/msal_peer.py with Python's PersistedTokenCache on LibsecretPersistence.
fn msal_peer_on_libsecret(args: &[&str]) -> Option<serde_json::Value> {
    let py = common::python(true)?;
    let _one_at_a_time = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(py)
        .arg(common::py_script("msal_peer.py"))
        .args(args)
        .env("MSALX_PEER_BACKEND", "libsecret")
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    assert!(out.status.success(), "msal_peer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
#[ignore = "needs a Secret Service and Python msal-extensions; scripts/test.sh runs it"]
fn persisted_token_cache_is_shared_with_python_through_the_secret_service() {
    use msal_extensions::{AccessTokenQuery, PersistedTokenCache, TokenResponse};
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-ptc");
    let signal = dir.path("msal.cache");
    let s = signal.to_str().unwrap();
    let authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
    let cache = PersistedTokenCache::new(SecretServicePersistence::new(&signal).unwrap());
    let body = r#"{"access_token": "rust-secret", "expires_in": 3600, "token_type": "Bearer"}"#;
    cache.add(&TokenResponse::new("ss_client", ["ss-scope"], authority, body).unwrap()).unwrap();
    // Python's ConfidentialClientApplication finds the Rust-written token without HTTP.
    let Some(r) = msal_peer_on_libsecret(&["cc_cached", s, "ss_client", "ss-scope"]) else { return };
    assert_eq!(r["access_token"], "rust-secret", "{r}");
    assert_eq!(r["token_source"], "cache", "{r}");
    // Python adds through its PersistedTokenCache while Rust adds concurrently; nothing is lost.
    let rust_adds = std::thread::spawn({
        let signal = signal.clone();
        move || {
            let cache = PersistedTokenCache::new(SecretServicePersistence::new(&signal).unwrap());
            for i in 0..10 {
                let body = format!(r#"{{"access_token": "rs-{i}", "expires_in": 3600}}"#);
                let r = TokenResponse::new("shared_client", [format!("rs-{i}")], authority, &body).unwrap();
                cache.add(&r).unwrap();
            }
        }
    });
    msal_peer_on_libsecret(&["add_many", s, "py", "10"]).unwrap();
    rust_adds.join().unwrap();
    for scope in (0..10).flat_map(|i| [format!("py-{i}"), format!("rs-{i}")]) {
        let q = AccessTokenQuery::new("shared_client", [scope.as_str()]);
        let at = cache.access_token(&q).unwrap();
        assert_eq!(
            at.as_ref().and_then(|a| a.secret.as_ref()).map(|s| s.expose().to_owned()),
            Some(scope.clone()),
            "{scope}"
        );
    }
    cache.persistence().delete().unwrap();
}

#[test]
#[ignore = "needs a Secret Service and Python msal-extensions; scripts/test.sh runs it"]
fn custom_schema_attributes_and_label_interoperate_both_ways() {
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-custom");
    let signal = dir.path("msal.cache.nocae");
    let s = signal.to_str().unwrap();
    let schema = format!("msal.cache.nocae.{}", std::process::id());
    let rust = SecretServicePersistence::builder(&signal)
        .schema_name(&schema)
        .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
        .attribute("Extra", "2")
        .label("MSALCache")
        .build()
        .unwrap();
    let py_args = |op: &'static str| -> Vec<String> {
        let mut v: Vec<String> = vec![op.into(), s.into(), "--schema".into(), schema.clone()];
        v.extend(
            ["--attr", "MsalClientID=Microsoft.Developer.IdentityService", "--attr", "Extra=2"]
                .map(String::from),
        );
        v.extend(["--label".into(), "MSALCache".into()]);
        v
    };
    std::fs::write(dir.path("in.json"), payload("py-custom")).unwrap();
    let mut save = py_args("save");
    save.push(dir.path("in.json").to_str().unwrap().into());
    let save: Vec<&str> = save.iter().map(String::as_str).collect();
    if python_ok(&save).is_none() {
        return;
    }
    assert_eq!(rust.load().unwrap(), payload("py-custom"));
    // A different attribute value is a different item, for both sides.
    let other = SecretServicePersistence::builder(&signal)
        .schema_name(&schema)
        .attribute("MsalClientID", "someone-else")
        .build()
        .unwrap();
    assert!(other.load().unwrap_err().is_not_found());

    rust.save(&payload("rs-custom")).unwrap();
    let load = py_args("load");
    let load: Vec<&str> = load.iter().map(String::as_str).collect();
    assert_eq!(python_ok(&load).unwrap(), payload("rs-custom"));
    let items = items_with(&[("xdg:schema", &schema)]);
    assert_eq!(items.len(), 1, "Rust replaced the item Python created");
    assert_eq!(items[0].label, "MSALCache");
    rust.delete().unwrap();
}

// ------------------------------------------------------------ failure modes

/// A private `dbus-daemon` with no service activation (so nothing answers
/// for org.freedesktop.secrets unless we start it), optionally with its own
/// gnome-keyring-daemon; both stopped on drop.
struct PrivateBus {
    _dir: Scratch,
    address: String,
    bus: Child,
    keyring: Option<Child>,
}

impl PrivateBus {
    fn start(name: &str, with_keyring: bool) -> PrivateBus {
        let dir = Scratch::new(name);
        let socket = dir.path("bus");
        let conf = dir.path("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon) is installed by with-secret-service.sh");
        let address = format!("unix:path={}", socket.display());
        let mut me = PrivateBus { _dir: dir, address, bus, keyring: None };
        // The socket file appears at bind(), before listen(): wait until it accepts.
        wait_for(|| std::os::unix::net::UnixStream::connect(&socket).is_ok(), "the private bus socket");
        if with_keyring {
            me.start_keyring();
        }
        me
    }

    fn start_keyring(&mut self) {
        let data = self._dir.path("data");
        let run = self._dir.path("run");
        for d in [&data.join("keyrings"), &run] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_DATA_HOME", &data)
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon is installed by with-secret-service.sh");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"private-bus-password").unwrap();
        } // closing stdin ends the password
        self.keyring = Some(child);
        let conn = self.connect();
        wait_for(|| name_has_owner(&conn, "org.freedesktop.secrets"), "gnome-keyring on the private bus");
        wait_for(|| default_collection_locked(&conn) == Some(false), "the private default collection");
    }

    fn connect(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str()).unwrap().build().unwrap()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        for c in self.keyring.iter_mut().chain(std::iter::once(&mut self.bus)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn name_has_owner(conn: &zbus::blocking::Connection, name: &str) -> bool {
    conn.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "NameHasOwner",
        &(name,),
    )
    .ok()
    .and_then(|r| r.body().deserialize::<bool>().ok())
    .unwrap_or(false)
}

fn default_collection_path(conn: &zbus::blocking::Connection) -> Option<zbus::zvariant::OwnedObjectPath> {
    let reply = conn
        .call_method(
            Some("org.freedesktop.secrets"),
            "/org/freedesktop/secrets",
            Some("org.freedesktop.Secret.Service"),
            "ReadAlias",
            &("default",),
        )
        .ok()?;
    reply.body().deserialize().ok().filter(|p: &zbus::zvariant::OwnedObjectPath| p.as_str() != "/")
}

fn default_collection_locked(conn: &zbus::blocking::Connection) -> Option<bool> {
    let path = default_collection_path(conn)?;
    let reply = conn
        .call_method(
            Some("org.freedesktop.secrets"),
            path.as_str(),
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.Secret.Collection", "Locked"),
        )
        .ok()?;
    let v: zbus::zvariant::OwnedValue = reply.body().deserialize().ok()?;
    bool::try_from(v).ok()
}

/// Locks the default collection through the daemon's own API (`Service.Lock`).
fn lock_default_collection(conn: &zbus::blocking::Connection) {
    let path = default_collection_path(conn).expect("a default collection");
    conn.call_method(
        Some("org.freedesktop.secrets"),
        "/org/freedesktop/secrets",
        Some("org.freedesktop.Secret.Service"),
        "Lock",
        &(vec![path],),
    )
    .expect("Service.Lock");
    assert_eq!(default_collection_locked(conn), Some(true), "the daemon reports the collection locked");
}

fn daemons_available() -> bool {
    // The private daemons come from the same packages the script installs.
    common::secret_service()
}

#[test]
fn no_bus_is_unavailable_and_says_how_to_start_one() {
    let dir = Scratch::new("ss-nobus");
    let p = SecretServicePersistence::builder(dir.path("c"))
        .bus_address(format!("unix:path={}", dir.path("no-such-socket").display()))
        .build()
        .unwrap();
    for err in [p.load().unwrap_err(), p.save("{}").unwrap_err(), p.verify().unwrap_err()] {
        let Error::Unavailable { backend, message, .. } = &err else {
            panic!("want Unavailable, got {err:?}")
        };
        assert_eq!(*backend, "secret-service");
        assert!(
            message.contains("no D-Bus session bus") && message.contains("dbus-run-session"),
            "{message}"
        );
    }
    assert!(!dir.path("c").exists(), "a failed save does not touch the signal file");
}

#[test]
#[ignore = "needs dbus-daemon and gnome-keyring; scripts/test.sh runs it"]
fn no_provider_is_unavailable_and_names_providers() {
    if !daemons_available() {
        return;
    }
    let bus = PrivateBus::start("ss-noprov", false);
    let dir = Scratch::new("ss-noprov-c");
    let p = SecretServicePersistence::builder(dir.path("c")).bus_address(&bus.address).build().unwrap();
    for err in [p.load().unwrap_err(), p.save("{}").unwrap_err()] {
        let Error::Unavailable { message, .. } = &err else { panic!("want Unavailable, got {err:?}") };
        assert!(
            message.contains("no Secret Service provider") && message.contains("gnome-keyring"),
            "{message}"
        );
    }
}

#[test]
#[ignore = "needs dbus-daemon and gnome-keyring; scripts/test.sh runs it"]
fn locked_collection_is_store_locked_not_not_found() {
    if !daemons_available() {
        return;
    }
    let bus = PrivateBus::start("ss-locked", true);
    let dir = Scratch::new("ss-locked-c");
    let p = SecretServicePersistence::builder(dir.path("c")).bus_address(&bus.address).build().unwrap();
    p.save(&payload("before-lock")).unwrap();
    let fresh =
        SecretServicePersistence::builder(dir.path("fresh")).bus_address(&bus.address).build().unwrap();
    assert!(fresh.load().unwrap_err().is_not_found(), "unlocked: a missing item is NotFound");

    lock_default_collection(&bus.connect());
    let t = p.change_token().unwrap();
    for (what, err) in [
        ("load existing", p.load().unwrap_err()),
        ("load missing", fresh.load().unwrap_err()),
        ("save", p.save("{}").unwrap_err()),
        ("verify", p.verify().unwrap_err()),
    ] {
        assert!(matches!(err, Error::StoreLocked { .. }), "{what}: want StoreLocked, got {err:?}");
        assert!(err.to_string().contains("unlock"), "{what}: {err}");
    }
    assert_eq!(p.change_token().unwrap(), t, "a refused save does not touch the signal file");
}

/// Worker entry: runs the fallback scenario in a child process whose
/// environment has no reachable bus (process-wide state: env, logger).
#[test]
#[ignore = "worker entry point, run by the tests in child processes"]
fn worker_fallback_without_daemon() {
    let Some(args) = common::worker_args() else { return };
    let dir = PathBuf::from(&args[0]);
    let logger: &'static CountingLogger = Box::leak(Box::new(CountingLogger::default()));
    log::set_logger(logger).unwrap();
    log::set_max_level(log::LevelFilter::Warn);

    let err = build_encrypted_persistence(dir.join("never")).unwrap_err();
    assert!(matches!(err, Error::Unavailable { backend: "secret-service", .. }), "{err:?}");
    assert!(!dir.join("never").exists(), "Fallback::Never writes nothing");
    assert_eq!(logger.warnings(), 0);

    for round in 0..2 {
        let chosen = EncryptedPersistenceBuilder::new(dir.join("cache.json"))
            .fallback(Fallback::PlaintextFile)
            .build()
            .unwrap();
        assert_eq!(chosen.backend_name(), "file");
        assert!(!chosen.is_encrypted());
        assert!(matches!(chosen.fallback_reason(), Some(Error::Unavailable { .. })));
        assert_eq!(chosen.location(), dir.join("cache.json"));
        chosen.save(&format!("{{\"round\": {round}}}")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cache.json")).unwrap(),
            format!("{{\"round\": {round}}}")
        );
    }
    assert_eq!(logger.warnings(), 1, "the plaintext warning is logged once per process");
    let text = logger.text();
    assert!(text.contains("UNENCRYPTED") && text.contains("cache.json"), "{text}");
    println!("WORKER-OK");
}

#[derive(Default)]
struct CountingLogger(std::sync::Mutex<Vec<String>>);

impl CountingLogger {
    fn warnings(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

impl log::Log for CountingLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.level() <= log::Level::Warn {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn run_fallback_worker(dir: &Path, env: &[(&str, Option<&str>)]) {
    let mut cmd = common::worker_command("worker_fallback_without_daemon", &[dir.display().to_string()]);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("WORKER-OK"),
        "worker failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fallback_policy_with_no_bus_address() {
    let dir = Scratch::new("ss-fb-unset");
    let runtime = dir.path("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // No DBUS_SESSION_BUS_ADDRESS, and an XDG_RUNTIME_DIR with no `bus` in it.
    run_fallback_worker(
        &dir.0,
        &[("DBUS_SESSION_BUS_ADDRESS", None), ("XDG_RUNTIME_DIR", Some(runtime.to_str().unwrap()))],
    );
}

#[test]
#[ignore = "needs dbus-daemon; scripts/test.sh runs it"]
fn fallback_policy_with_bus_but_no_provider() {
    if !daemons_available() {
        return;
    }
    let bus = PrivateBus::start("ss-fb-noprov", false);
    let dir = Scratch::new("ss-fb-noprov-c");
    run_fallback_worker(&dir.0, &[("DBUS_SESSION_BUS_ADDRESS", Some(bus.address.as_str()))]);
}

#[test]
fn no_bus_message_names_the_unset_variable() {
    let Some(args) = common::worker_args() else {
        let dir = Scratch::new("ss-unset-msg");
        let mut cmd = common::worker_command("no_bus_message_names_the_unset_variable", &["x".into()]);
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS").env("XDG_RUNTIME_DIR", &dir.0);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("WORKER-OK"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    assert_eq!(args, ["x"]);
    let p = SecretServicePersistence::new(std::env::temp_dir().join("msalx-unset-msg")).unwrap();
    let err = p.load().unwrap_err();
    let Error::Unavailable { message, .. } = &err else { panic!("want Unavailable, got {err:?}") };
    assert!(message.contains("DBUS_SESSION_BUS_ADDRESS is not set"), "{message}");
    // The folder it looked in, expanded; no Rust API named to a user.
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap();
    assert!(message.contains(&format!("no bus at {runtime}/bus")), "{message}");
    assert!(!message.contains('$') && !message.contains("::"), "{message}");
    println!("WORKER-OK");
}

#[test]
fn change_token_type_is_shared() {
    // The signal file drives change detection exactly as for a plain file.
    let dir = Scratch::new("ss-token");
    let p = SecretServicePersistence::new(dir.path("c")).unwrap();
    assert_eq!(p.change_token().unwrap(), ChangeToken::absent());
    std::fs::write(dir.path("c"), b"").unwrap();
    assert_eq!(p.change_token().unwrap(), ChangeToken::of_path(&dir.path("c")).unwrap());
}

/// A corrupt item is reported as the item (schema, collection) and its
/// signal file, and quarantine keeps the copy as a second item in the same
/// keyring, which no lookup of the original finds; no file holds the secret.
#[test]
#[ignore = "needs a Secret Service (gnome-keyring); scripts/test.sh runs it"]
fn a_corrupt_item_is_named_and_kept_inside_the_keyring() {
    use msal_extensions::{OnCorrupt, PersistedTokenCache};
    if !common::secret_service() {
        return;
    }
    let dir = Scratch::new("ss-corrupt");
    let p = SecretServicePersistence::builder(dir.path("c"))
        .schema_name(format!("msalx.test.corrupt.{}", std::process::id()))
        .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
        .build()
        .unwrap();
    let corrupt = "{\"RefreshToken\": {\"k\": {\"secret\": \"KEYRING-ONLY-SECRET\"";
    p.save(corrupt).unwrap();
    let err = PersistedTokenCache::new(&p).on_corrupt(OnCorrupt::Fail).accounts().unwrap_err().to_string();
    assert!(
        err.contains("Secret Service item xdg:schema=msalx.test.corrupt") && err.contains("signal file"),
        "{err}"
    );

    assert!(PersistedTokenCache::new(&p).accounts().unwrap().is_empty(), "quarantined, read as empty");
    let copies = items_with(&[
        ("xdg:schema", "io.github.msal-extensions-rs.Copy"),
        ("msal-extensions-copy-of", p.schema_name()),
    ]);
    assert_eq!(copies.len(), 1, "one copy");
    assert_eq!(copies[0].secret, corrupt.as_bytes());
    assert!(!copies[0].attributes.contains_key("MsalClientID"), "not findable by the original's attributes");
    assert_eq!(
        items_with(&[
            ("MsalClientID", "Microsoft.Developer.IdentityService"),
            ("xdg:schema", p.schema_name())
        ])
        .len(),
        1
    );
    PersistedTokenCache::new(&p).accounts().unwrap();
    assert_eq!(items_with(&[("msal-extensions-copy-of", p.schema_name())]).len(), 1, "still one copy");
    for entry in std::fs::read_dir(&dir.0).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains("KEYRING-ONLY-SECRET"), "plaintext on disk");
    }
    p.delete().unwrap();
}
