//! The Secret Service over D-Bus (Linux).
//!
//! One zbus connection to the session bus (or the address given), one
//! Secret Service session opened on it (`dh-ietf1024-sha256-aes128-cbc-pkcs7`
//! by default), and the collection's object path resolved once from its
//! alias. Every operation then costs the D-Bus calls it needs and no more:
//! save = `Locked` + `CreateItem`; load = `SearchItems` + `GetSecret`.
//!
//! # Failure modes and how they surface
//! Everything goes through [`decode`], the one place that maps D-Bus errors:
//! - no bus (`DBUS_SESSION_BUS_ADDRESS` unset, socket missing, connection
//!   refused): [`Error::Unavailable`] saying how to start one;
//! - no provider (`ServiceUnknown`, `NameHasNoOwner`, activation failures):
//!   [`Error::Unavailable`] naming providers to install;
//! - locked collection or item (`IsLocked`, or a provider asking for a
//!   prompt): [`Error::StoreLocked`]. Nothing here ever runs a prompt: it
//!   would hang or fail on a headless machine, and a write is checked against
//!   the collection's `Locked` property before `CreateItem` is sent;
//! - no item: `Ok(None)`, which the caller reports as [`Error::NotFound`],
//!   unless the collection is locked, which is reported as such (the Python
//!   reference reports a locked keyring as "not found");
//! - anything else: [`Error::Encryption`] on a write, [`Error::Decryption`]
//!   on a read, with the D-Bus error as the source.

use std::collections::HashMap;
use std::time::Duration;

use secret_service::blocking::{Collection, SecretService};
use secret_service::{EncryptionType, Error as SsError};
use zbus::DBusError as _;
use zbus::zvariant::OwnedObjectPath;
use zeroize::Zeroizing;

use super::{BACKEND, ItemSpec, SecretCollection, SessionEncryption};
use crate::error::{Error, Result};

const SERVICE_NAME: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
/// The longest a single D-Bus call may take before the operation fails
/// (the reference D-Bus implementation's default method timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// Pauses before asking again when an alias resolves to no collection
/// (about 0.3 s in all): long enough for a keyring reload, short enough that
/// a collection that really is missing is reported at once to a person.
const ALIAS_RETRY_MS: [u64; 4] = [10, 30, 90, 200];

/// What was being done when an error occurred: decides the error variant
/// for failures that are neither "unavailable" nor "locked".
#[derive(Clone, Copy)]
enum Op {
    Connect,
    Write,
    Read,
}

/// The Secret Service exists here.
pub(crate) const AVAILABLE: bool = true;

/// An open connection and Secret Service session.
pub(crate) struct Connection {
    service: SecretService<'static>,
    collection: OwnedObjectPath,
}

impl Connection {
    /// Connects to the bus, opens a session and resolves the collection.
    pub(crate) fn open(spec: &ItemSpec) -> Result<Self> {
        let bus = connect_bus(spec.bus_address())?;
        let encryption = match spec.session() {
            SessionEncryption::DiffieHellman => EncryptionType::Dh,
            SessionEncryption::Plain => EncryptionType::Plain,
        };
        let collection = resolve_collection(&bus, spec)?;
        let service = SecretService::connect_with_existing(encryption, bus)
            .map_err(|e| decode(e, Op::Connect, spec))?;
        Ok(Connection { service, collection })
    }

    /// Creates or replaces the item with `secret`.
    pub(crate) fn store(&self, spec: &ItemSpec, secret: &[u8]) -> Result<()> {
        let collection = self.collection(spec)?;
        self.ensure_unlocked(&collection, spec)?;
        collection
            .create_item(spec.label(), attributes(spec), secret, true, spec.content_type())
            .map_err(|e| decode(e, Op::Write, spec))?;
        Ok(())
    }

    /// The secret of the first item matching the attributes, if any.
    pub(crate) fn lookup(&self, spec: &ItemSpec) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let collection = self.collection(spec)?;
        let items = collection.search_items(attributes(spec)).map_err(|e| decode(e, Op::Read, spec))?;
        let Some(item) = items.first() else {
            // A locked collection may hide its items: say so rather than "not found".
            self.ensure_unlocked(&collection, spec)?;
            return Ok(None);
        };
        let secret = item.get_secret().map_err(|e| decode(e, Op::Read, spec))?;
        Ok(Some(Zeroizing::new(secret)))
    }

    /// Checks that the collection answers and is unlocked; writes nothing.
    pub(crate) fn check(&self, spec: &ItemSpec) -> Result<()> {
        let collection = self.collection(spec)?;
        self.ensure_unlocked(&collection, spec)
    }

    /// Deletes every item matching the attributes; returns how many.
    pub(crate) fn clear(&self, spec: &ItemSpec) -> Result<usize> {
        let collection = self.collection(spec)?;
        self.ensure_unlocked(&collection, spec)?;
        let items = collection.search_items(attributes(spec)).map_err(|e| decode(e, Op::Write, spec))?;
        for item in &items {
            item.delete().map_err(|e| decode(e, Op::Write, spec))?;
        }
        Ok(items.len())
    }

    fn collection(&self, spec: &ItemSpec) -> Result<Collection<'_>> {
        self.service.get_collection_by_path(self.collection.clone()).map_err(|e| decode(e, Op::Read, spec))
    }

    fn ensure_unlocked(&self, collection: &Collection<'_>, spec: &ItemSpec) -> Result<()> {
        match collection.is_locked() {
            Ok(false) => Ok(()),
            Ok(true) => Err(locked(spec)),
            Err(e) => Err(decode(e, Op::Read, spec)),
        }
    }
}

fn attributes(spec: &ItemSpec) -> HashMap<&str, &str> {
    spec.attributes().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn connect_bus(address: Option<&str>) -> Result<zbus::blocking::Connection> {
    let builder = match address {
        Some(a) => zbus::blocking::connection::Builder::address(a),
        None => zbus::blocking::connection::Builder::session(),
    };
    builder.map(|b| b.method_timeout(CALL_TIMEOUT)).and_then(|b| b.build()).map_err(|e| no_bus(address, e))
}

/// The object path of the configured collection (aliases resolved once).
fn resolve_collection(bus: &zbus::blocking::Connection, spec: &ItemSpec) -> Result<OwnedObjectPath> {
    let alias = match spec.collection() {
        SecretCollection::Default => "default",
        SecretCollection::Session => "session",
        SecretCollection::Alias(a) => a.as_str(),
        SecretCollection::Path(p) => {
            return OwnedObjectPath::try_from(p.as_str()).map_err(|_| Error::Unavailable {
                backend: BACKEND,
                message: format!("{p:?} is not a D-Bus object path (expected e.g. /org/freedesktop/secrets/collection/login)"),
                source: None,
            });
        }
    };
    let read_alias = || -> Result<OwnedObjectPath> {
        bus.call_method(Some(SERVICE_NAME), SERVICE_PATH, Some(SERVICE_IFACE), "ReadAlias", &(alias,))
            .and_then(|reply| reply.body().deserialize())
            .map_err(|e| decode(SsError::Zbus(e), Op::Connect, spec))
    };
    let mut path = read_alias()?;
    // gnome-keyring once answered "/" for its unlocked default collection
    // while 8 processes were writing (most likely while reloading the keyring
    // file): ask again for a moment before calling the collection missing.
    for wait_ms in ALIAS_RETRY_MS {
        if path.as_str() != "/" {
            break;
        }
        std::thread::sleep(Duration::from_millis(wait_ms));
        path = read_alias()?;
    }
    if path.as_str() == "/" {
        return Err(Error::Unavailable {
            backend: BACKEND,
            message: format!(
                "the Secret Service has no collection behind the alias '{alias}'; create or unlock one \
                 (for gnome-keyring: `gnome-keyring-daemon --unlock` creates the login keyring)"
            ),
            source: None,
        });
    }
    Ok(path)
}

/// The D-Bus error name carried by `err`, if it is a D-Bus error reply.
fn dbus_error_name(err: &SsError) -> Option<String> {
    match err {
        SsError::Zbus(zbus::Error::MethodError(name, _, _)) => Some(name.to_string()),
        SsError::Zbus(zbus::Error::FDO(e)) => Some(e.name().to_string()),
        SsError::ZbusFdo(e) => Some(e.name().to_string()),
        _ => None,
    }
}

/// The one place where Secret Service and D-Bus errors become [`Error`]s.
fn decode(err: SsError, op: Op, spec: &ItemSpec) -> Error {
    let name = dbus_error_name(&err);
    match name.as_deref() {
        Some(
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner"
            | "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
        ) => return no_provider(err),
        Some(n) if n.starts_with("org.freedesktop.DBus.Error.Spawn.") => return no_provider(err),
        Some("org.freedesktop.Secret.Error.IsLocked") => return locked(spec),
        Some("org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout") => {
            return Error::Unavailable {
                backend: BACKEND,
                message: format!(
                    "the Secret Service provider did not answer within {} s; it may be waiting for a \
                     prompt nobody can see, or be hung",
                    CALL_TIMEOUT.as_secs()
                ),
                source: Some(Box::new(err)),
            };
        }
        _ => {}
    }
    match err {
        SsError::Locked | SsError::Prompt | SsError::PromptDisconnected => locked(spec),
        SsError::Unavailable => no_bus(spec.bus_address(), SsError::Unavailable),
        SsError::Zbus(zbus::Error::InputOutput(_)) | SsError::Zbus(zbus::Error::Connection(..)) => {
            Error::Unavailable {
                backend: BACKEND,
                message: "the connection to the D-Bus session bus was lost; the next operation reconnects"
                    .into(),
                source: Some(Box::new(err)),
            }
        }
        err => failed(err, name, op, spec),
    }
}

fn failed(err: SsError, name: Option<String>, op: Op, spec: &ItemSpec) -> Error {
    let what = name.map(|n| format!(" ({n})")).unwrap_or_default();
    let location = spec.describe();
    let source = Some(Box::new(err) as crate::BoxError);
    match op {
        Op::Write => Error::Encryption {
            location,
            message: format!("the Secret Service refused to store the secret{what}"),
            source,
        },
        Op::Read => Error::Decryption {
            location,
            message: format!("the Secret Service could not return the secret{what}"),
            source,
        },
        Op::Connect => Error::Unavailable {
            backend: BACKEND,
            message: format!("could not open a Secret Service session{what}"),
            source,
        },
    }
}

fn locked(spec: &ItemSpec) -> Error {
    Error::StoreLocked {
        location: spec.describe(),
        message: "unlock the keyring (log in to the desktop, open Seahorse, or run \
                  `gnome-keyring-daemon --unlock` with the password on stdin); this library never \
                  shows an unlock prompt"
            .into(),
    }
}

fn no_provider(err: SsError) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        message: "no Secret Service provider is running on the session bus: install and start one \
                  (gnome-keyring, KeePassXC with Secret Service integration, KWallet 6...)"
            .into(),
        source: Some(Box::new(err)),
    }
}

fn no_bus(address: Option<&str>, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    let which = match (address, std::env::var_os("DBUS_SESSION_BUS_ADDRESS")) {
        (Some(a), _) => format!("connecting to the D-Bus bus at {a} failed"),
        (None, Some(a)) => format!("connecting to the session bus {} failed", a.to_string_lossy()),
        (None, None) => match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => format!(
                "DBUS_SESSION_BUS_ADDRESS is not set and there is no bus at {}",
                std::path::Path::new(&dir).join("bus").display()
            ),
            None => "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set".into(),
        },
    };
    Error::Unavailable {
        backend: BACKEND,
        message: format!(
            "no D-Bus session bus ({which}); a desktop login starts one. Over SSH or in CI run the \
             program under `dbus-run-session -- <program>` with a Secret Service provider started \
             inside it (e.g. `gnome-keyring-daemon --unlock`), or let the application store the cache \
             unencrypted if it offers that"
        ),
        source: Some(Box::new(err)),
    }
}
