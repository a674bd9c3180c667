//! [`SecretServicePersistence`]: the cache as one item in the freedesktop
//! Secret Service (gnome-keyring, KeePassXC, KWallet's bridge...), the
//! counterpart of the Python reference's `LibsecretPersistence`.
//!
//! # How it maps onto the store
//! The Python reference goes through libsecret's "password" API; this backend
//! speaks the Secret Service D-Bus protocol directly and writes exactly what
//! libsecret writes, so the two share one item:
//!
//! | | Python `LibsecretPersistence` | here, by default |
//! |---|---|---|
//! | collection | libsecret's default (`/org/freedesktop/secrets/aliases/default`) | [`SecretCollection::Default`] |
//! | attributes | the caller's, plus `xdg:schema` = schema name (`SchemaFlags.NONE`) | the same |
//! | schema name | given, or sha256 hex of the signal-file path string as passed | the same |
//! | label | `""` | `""` |
//! | secret | the cache as UTF-8 text, content type `text/plain` | the same ([`SecretEncoding::Utf8`]) |
//! | write | `CreateItem` with replace = true | the same |
//! | signal file | touched after every successful save | the same |
//!
//! .NET, Java and Go store base64 of the cache instead; reads accept both
//! (see [`SecretEncoding`]).
//!
//! # Connection cost
//! The first operation connects to the session bus and opens a Secret
//! Service session (a Diffie-Hellman key exchange by default); both are kept
//! and reused by every later save and load of the same value, and
//! re-established after the bus connection is lost.
//!
//! # Headless use
//! No operation ever shows an unlock prompt: a locked collection is reported
//! as [`Error::StoreLocked`]. Over SSH or in CI start a private session bus
//! and an unlocked keyring (e.g. `dbus-run-session` plus
//! `gnome-keyring-daemon --unlock`), or let
//! [`EncryptedPersistenceBuilder`](crate::EncryptedPersistenceBuilder) fall
//! back to a plaintext file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::item::{SecretItem, SecretItemPersistence};
#[cfg(doc)]
use crate::persistence::Persistence;

// The platform switch of this backend, in the crate's one style (see
// `store.rs`): the D-Bus client on Linux, a stub elsewhere. Both expose
// `AVAILABLE` and the same `Connection` type with the same methods.
#[cfg_attr(target_os = "linux", path = "secret_service/dbus.rs")]
#[cfg_attr(not(target_os = "linux"), path = "secret_service/unavailable.rs")]
mod imp;

/// [`Persistence::backend_name`] of this backend.
pub(crate) const BACKEND: &str = "secret-service";
/// The attribute libsecret adds to name an item's schema.
const SCHEMA_ATTRIBUTE: &str = "xdg:schema";
/// The content type libsecret's password API gives every secret.
const CONTENT_TYPE: &str = "text/plain";
/// The schema of recoverable copies ([`SecretItem::sibling`]).
const COPY_SCHEMA: &str = "io.github.msal-extensions-rs.Copy";

/// Which Secret Service collection holds the item.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecretCollection {
    /// The collection behind the `default` alias (usually the "login"
    /// keyring): where the Python reference, .NET, Java and Go store.
    #[default]
    Default,
    /// The collection behind the `session` alias: kept in memory and lost
    /// when the Secret Service provider exits.
    Session,
    /// The collection behind another alias.
    Alias(String),
    /// A collection by D-Bus object path, e.g.
    /// `/org/freedesktop/secrets/collection/login`.
    Path(String),
}

impl fmt::Display for SecretCollection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretCollection::Default => f.write_str("alias 'default'"),
            SecretCollection::Session => f.write_str("alias 'session'"),
            SecretCollection::Alias(a) => write!(f, "alias '{a}'"),
            SecretCollection::Path(p) => f.write_str(p),
        }
    }
}

/// How the cache is written into the secret. Reads accept both forms.
///
/// On read, content that starts (after whitespace) with `{` or `[` is taken
/// as raw JSON. Otherwise content that is entirely standard base64 (with
/// padding) is decoded when the decoded bytes start with `{` or `[` (a cache
/// written by .NET, Java or Go), or always when this value is configured
/// with [`Base64`](SecretEncoding::Base64). Anything else is returned as is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretEncoding {
    /// The bytes as they are (UTF-8 text for a token cache), like the Python
    /// reference and Node. The default.
    #[default]
    Utf8,
    /// Standard base64 with padding, like .NET, Java and Go.
    Base64,
}

/// How secrets travel between this process and the Secret Service provider.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionEncryption {
    /// `dh-ietf1024-sha256-aes128-cbc-pkcs7`: a Diffie-Hellman exchange, then
    /// AES-128 over the bus, so a bus monitor sees no secret. The default.
    #[default]
    DiffieHellman,
    /// `plain`: secrets cross the bus unencrypted (other processes of the
    /// same user that can eavesdrop on the session bus can read them).
    /// Only for providers without DH support; opt in explicitly.
    Plain,
}

/// Everything needed to find and write the item (no secret material).
#[derive(Debug, Clone)]
pub(crate) struct ItemSpec {
    schema: String,
    /// The caller's attributes plus `xdg:schema`.
    attributes: BTreeMap<String, String>,
    label: String,
    collection: SecretCollection,
    session: SessionEncryption,
    bus_address: Option<String>,
}

impl ItemSpec {
    /// A description for error messages: never the secret, only names.
    pub(crate) fn describe(&self) -> String {
        format!("Secret Service item xdg:schema={} in the collection {}", self.schema, self.collection)
    }
}

// Read by the D-Bus client only; the stub for other platforms ignores them.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl ItemSpec {
    pub(crate) fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn collection(&self) -> &SecretCollection {
        &self.collection
    }

    pub(crate) fn session(&self) -> SessionEncryption {
        self.session
    }

    pub(crate) fn bus_address(&self) -> Option<&str> {
        self.bus_address.as_deref()
    }

    pub(crate) fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }
}

impl ItemSpec {
    /// A throw-away item in the same collection, for [`SecretItem::verify`].
    fn probe(&self) -> ItemSpec {
        let nonce = format!("{}-{}", std::process::id(), now_nanos());
        let schema = "io.github.msal-extensions-rs.Probe".to_owned();
        let mut attributes = BTreeMap::new();
        attributes.insert("msal-extensions-probe".to_owned(), nonce);
        attributes.insert(SCHEMA_ATTRIBUTE.to_owned(), schema.clone());
        ItemSpec {
            schema,
            attributes,
            label: "msal-extensions probe (safe to delete)".to_owned(),
            collection: self.collection.clone(),
            session: self.session,
            bus_address: self.bus_address.clone(),
        }
    }
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The schema name the Python reference derives from a signal-file path:
/// the lowercase sha256 hex of the path string *as given* (before `~` is
/// expanded), encoded as UTF-8.
///
/// # Examples
/// ```
/// let s = msal_extensions::default_schema_name("/home/me/.cache/msal.cache");
/// assert_eq!(s.len(), 64);
/// ```
pub fn default_schema_name(signal_location: impl AsRef<Path>) -> String {
    let digest = Sha256::digest(signal_location.as_ref().as_os_str().as_encoded_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token cache as one item in the freedesktop Secret Service, encrypted
/// by the provider (gnome-keyring, KeePassXC...), plus a *signal file*
/// whose modification time changes on every save: a [`SecretServiceItem`]
/// in the [`SecretItemPersistence`] adapter.
///
/// This is the Rust counterpart of the Python reference's
/// `LibsecretPersistence`; with the same signal-file path (and the same
/// schema name and attributes, if any are given) a Rust and a Python program
/// share one item. See the [module docs](crate::secret_service) for the exact
/// mapping. It needs no libsecret or PyGObject: it talks D-Bus itself.
///
/// The D-Bus connection and the Secret Service session are opened on the
/// first operation (or by [`check_available`](SecretItemPersistence::check_available))
/// and reused; this value is `Send + Sync`, and operations from several
/// threads are serialised on the one connection.
///
/// # Platform behavior
/// Linux (and other freedesktop systems built as `target_os = "linux"`).
/// On other platforms the constructors return [`Error::Unavailable`].
///
/// # Security
/// The secret is encrypted at rest by the provider and, by default, over the
/// bus ([`SessionEncryption::DiffieHellman`]). This crate zeroizes its own
/// copies of the secret; copies made inside the D-Bus and crypto libraries
/// are freed but not wiped. Errors, logs and `Debug` output carry the schema,
/// attributes and paths, never the secret. A recoverable copy
/// ([`Persistence::keep_copy`]) is a second item in the same collection
/// (schema `io.github.msal-extensions-rs.Copy`), never a file.
///
/// # Examples
/// ```no_run
/// use msal_extensions::{Persistence, SecretServicePersistence};
/// let p = SecretServicePersistence::new("~/.IdentityService/msal.cache.nocae")?;
/// p.save(r#"{"AccessToken": {}}"#)?;
/// assert_eq!(p.load()?, r#"{"AccessToken": {}}"#);
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[doc(alias = "LibsecretPersistence")]
#[doc(alias = "libsecret")]
#[doc(alias = "keyring")]
pub type SecretServicePersistence = SecretItemPersistence<SecretServiceItem>;

impl SecretItemPersistence<SecretServiceItem> {
    /// A persistence with the reference's defaults: signal file
    /// `signal_location` (`~` expanded), schema name
    /// [`default_schema_name`]`(signal_location)`, no attributes, empty
    /// label, default collection, raw UTF-8, encrypted session.
    ///
    /// Nothing is contacted until the first operation; call
    /// [`check_available`](SecretItemPersistence::check_available) or
    /// [`verify`](SecretItemPersistence::verify) to find out early whether
    /// the store works.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms without a Secret Service (all but
    /// Linux), or if the path starts with `~` and no home folder is known.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use msal_extensions::{Persistence, SecretServicePersistence};
    /// let p = SecretServicePersistence::new("/tmp/msal.cache")?;
    /// assert_eq!(p.schema_name(), msal_extensions::default_schema_name("/tmp/msal.cache"));
    /// assert!(p.is_encrypted());
    /// # }
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn new(signal_location: impl AsRef<Path>) -> Result<Self> {
        Self::builder(signal_location).build()
    }

    /// A builder to choose the schema name, attributes, label, collection,
    /// encoding, session encryption or bus address.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use msal_extensions::{SecretEncoding, SecretServicePersistence};
    /// // The names Azure Identity for Python uses.
    /// let p = SecretServicePersistence::builder("~/.IdentityService/msal.cache.nocae")
    ///     .schema_name("msal.cache.nocae")
    ///     .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
    ///     .label("MSALCache")
    ///     .encoding(SecretEncoding::Utf8)
    ///     .build()?;
    /// assert_eq!(p.schema_name(), "msal.cache.nocae");
    /// # }
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn builder(signal_location: impl AsRef<Path>) -> SecretServiceBuilder {
        SecretServiceBuilder::new(signal_location.as_ref())
    }

    /// The schema name: the value of the item's `xdg:schema` attribute.
    pub fn schema_name(&self) -> &str {
        &self.item().spec.schema
    }

    /// The attributes that identify the item, including `xdg:schema`.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.item().spec.attributes
    }
}

/// One item in the freedesktop Secret Service: the [`SecretItem`] behind
/// [`SecretServicePersistence`]. Built by [`SecretServiceBuilder::build_item`].
#[derive(Clone)]
pub struct SecretServiceItem {
    spec: ItemSpec,
    encoding: SecretEncoding,
    /// Shared with clones and sibling items: one bus connection and session.
    connection: Arc<Mutex<Option<imp::Connection>>>,
}

impl SecretServiceItem {
    /// Runs `f` on the shared connection, opening it first if needed and
    /// dropping it when the bus or provider went away, so the next call
    /// reconnects.
    fn with_connection<T>(&self, f: impl FnOnce(&imp::Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match guard.take() {
            Some(c) => c,
            None => imp::Connection::open(&self.spec)?,
        };
        let result = f(&conn);
        if !matches!(result, Err(Error::Unavailable { .. })) {
            *guard = Some(conn);
        }
        result
    }
}

impl SecretItem for SecretServiceItem {
    /// Reads the item's secret, decoding base64 written by .NET, Java or Go.
    fn get(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let stored = self.with_connection(|c| c.lookup(&self.spec))?;
        Ok(stored.map(|s| Zeroizing::new(decode(s, self.encoding))))
    }

    /// Stores the secret in the configured encoding (`CreateItem`, replace).
    fn set(&self, secret: &[u8]) -> Result<()> {
        let encoded = encode(secret, self.encoding);
        self.with_connection(|c| c.store(&self.spec, &encoded))
    }

    /// Deletes every item matching the attributes.
    fn delete(&self) -> Result<bool> {
        Ok(self.with_connection(|c| c.clear(&self.spec))? > 0)
    }

    fn describe(&self) -> String {
        self.spec.describe()
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    /// An item of schema `io.github.msal-extensions-rs.Copy` carrying only
    /// `msal-extensions-copy-of` (this item's schema) and
    /// `msal-extensions-copy` (`tag`): it holds none of this item's
    /// attributes, so no peer looking for this item (even by attributes
    /// without the schema, as MSAL.NET does) can find it.
    fn sibling(&self, tag: &str) -> Self {
        let schema = COPY_SCHEMA.to_owned();
        let attributes = [
            (SCHEMA_ATTRIBUTE, schema.as_str()),
            ("msal-extensions-copy-of", self.spec.schema.as_str()),
            ("msal-extensions-copy", tag),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let label = format!("msal-extensions: recoverable copy of {} ({tag})", self.spec.schema);
        SecretServiceItem {
            spec: ItemSpec { schema, attributes, label, ..self.spec.clone() },
            encoding: self.encoding,
            connection: Arc::clone(&self.connection),
        }
    }

    /// Connects to the bus, opens a session and checks that the collection
    /// exists and is unlocked. Writes nothing.
    fn check_available(&self) -> Result<()> {
        self.with_connection(|c| c.check(&self.spec))
    }

    /// Stores a throw-away item in the same collection, reads it back and
    /// deletes it (the reference's `trial_run`).
    fn verify(&self) -> Result<()> {
        let probe = self.spec.probe();
        let payload = Zeroizing::new(format!("msal-extensions probe {}", now_nanos()).into_bytes());
        self.with_connection(|c| {
            c.store(&probe, &payload)?;
            let read = c.lookup(&probe);
            let cleared = c.clear(&probe);
            let read = read?.ok_or_else(|| Error::NotFound { location: probe.describe() })?;
            cleared?;
            if read.as_slice() != payload.as_slice() {
                return Err(Error::Decryption {
                    location: probe.describe(),
                    message: "the probe secret read back differs from the one stored".into(),
                    source: None,
                });
            }
            Ok(())
        })
    }
}

impl fmt::Debug for SecretServiceItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connected = self.connection.lock().map(|c| c.is_some()).unwrap_or(false);
        f.debug_struct("SecretServiceItem")
            .field("schema", &self.spec.schema)
            .field("attributes", &self.spec.attributes)
            .field("label", &self.spec.label)
            .field("collection", &self.spec.collection)
            .field("encoding", &self.encoding)
            .field("session", &self.spec.session)
            .field("connected", &connected)
            .finish()
    }
}

/// The secret to store, in the configured encoding.
fn encode(content: &[u8], encoding: SecretEncoding) -> Zeroizing<Vec<u8>> {
    match encoding {
        SecretEncoding::Utf8 => Zeroizing::new(content.to_vec()),
        SecretEncoding::Base64 => {
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(content).into_bytes())
        }
    }
}

/// The cache from a stored secret in either encoding (see [`SecretEncoding`]).
fn decode(stored: Zeroizing<Vec<u8>>, configured: SecretEncoding) -> Vec<u8> {
    if looks_like_json(&stored) {
        return stored.to_vec();
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(stored.as_slice()) else {
        return stored.to_vec();
    };
    let decoded = Zeroizing::new(decoded);
    if configured == SecretEncoding::Base64 || looks_like_json(&decoded) {
        decoded.to_vec()
    } else {
        stored.to_vec()
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// Configures a [`SecretServicePersistence`].
///
/// Every option defaults to what the Python reference's
/// `LibsecretPersistence` uses, so a builder with no calls interoperates
/// with it.
///
/// # Examples
/// ```
/// use msal_extensions::{SecretCollection, SecretEncoding, SecretServicePersistence};
/// // What .NET's Azure Identity and Visual Studio write.
/// let built = SecretServicePersistence::builder("~/.local/.IdentityService/msal.cache")
///     .schema_name("msal.cache")
///     .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
///     .attribute("Microsoft.Developer.IdentityService", "1.0.0.0")
///     .label("MSALCache")
///     .collection(SecretCollection::Default)
///     .encoding(SecretEncoding::Base64)
///     .build();
/// // Built on Linux; refused at once where there is no Secret Service.
/// assert_eq!(built.is_ok(), cfg!(target_os = "linux"));
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct SecretServiceBuilder {
    signal_location: PathBuf,
    schema: Option<String>,
    attributes: BTreeMap<String, String>,
    label: String,
    collection: SecretCollection,
    encoding: SecretEncoding,
    session: SessionEncryption,
    bus_address: Option<String>,
}

impl SecretServiceBuilder {
    fn new(signal_location: &Path) -> Self {
        SecretServiceBuilder {
            signal_location: signal_location.to_path_buf(),
            schema: None,
            attributes: BTreeMap::new(),
            label: String::new(),
            collection: SecretCollection::Default,
            encoding: SecretEncoding::Utf8,
            session: SessionEncryption::DiffieHellman,
            bus_address: None,
        }
    }

    /// The schema name (the `xdg:schema` attribute). Default:
    /// [`default_schema_name`] of the signal-file path.
    pub fn schema_name(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// Adds an attribute that identifies the item (values are strings, as
    /// libsecret stores them). An `xdg:schema` given here is ignored: the
    /// schema name always wins.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Adds several attributes; see [`attribute`](Self::attribute).
    pub fn attributes<K, V>(mut self, attributes: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.attributes.extend(attributes.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The item's label, shown by keyring managers such as Seahorse. Default: empty.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The collection holding the item. Default: [`SecretCollection::Default`].
    pub fn collection(mut self, collection: SecretCollection) -> Self {
        self.collection = collection;
        self
    }

    /// How the secret is written. Default: [`SecretEncoding::Utf8`].
    pub fn encoding(mut self, encoding: SecretEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How secrets cross the bus. Default: [`SessionEncryption::DiffieHellman`];
    /// [`SessionEncryption::Plain`] only on explicit request.
    pub fn session_encryption(mut self, session: SessionEncryption) -> Self {
        self.session = session;
        self
    }

    /// Connects to this D-Bus address (e.g. `unix:path=/run/user/1000/bus`)
    /// instead of the session bus named by `DBUS_SESSION_BUS_ADDRESS`.
    pub fn bus_address(mut self, address: impl Into<String>) -> Self {
        self.bus_address = Some(address.into());
        self
    }

    /// Builds the persistence. Nothing is contacted yet.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms without a Secret Service, or if
    /// the path starts with `~` and no home folder is known.
    pub fn build(self) -> Result<SecretServicePersistence> {
        let signal = self.signal_location.clone();
        SecretItemPersistence::with_item(signal, self.build_item()?)
    }

    /// Builds the item alone, for use with your own signal file or adapter.
    ///
    /// # Errors
    /// [`Error::Unavailable`] on platforms without a Secret Service.
    pub fn build_item(self) -> Result<SecretServiceItem> {
        crate::store::require_platform(BACKEND, imp::AVAILABLE)?;
        let schema = self.schema.unwrap_or_else(|| default_schema_name(&self.signal_location));
        let mut attributes = self.attributes;
        attributes.insert(SCHEMA_ATTRIBUTE.to_owned(), schema.clone());
        Ok(SecretServiceItem {
            spec: ItemSpec {
                schema,
                attributes,
                label: self.label,
                collection: self.collection,
                session: self.session,
                bus_address: self.bus_address,
            },
            encoding: self.encoding,
            connection: Arc::new(Mutex::new(None)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use crate::persistence::Persistence as _;

    #[test]
    #[cfg(target_os = "linux")]
    fn default_schema_is_sha256_hex_of_the_path_as_given() {
        // Independently: `printf %s /tmp/x | sha256sum`.
        assert_eq!(
            default_schema_name("/tmp/x"),
            "2e56aa36f538b33b48f37ef51e54ddb5cb9c7935e65c296b7494a17e8dff2a12"
        );
        let tilde = default_schema_name("~/c");
        let p = SecretServicePersistence::new("~/c").unwrap();
        assert_eq!(p.schema_name(), tilde, "the hash is of the path before ~ expansion, like Python");
        assert!(!p.location().starts_with("~"));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn attributes_include_schema_and_schema_wins() {
        let p = SecretServicePersistence::builder("/tmp/c")
            .schema_name("s")
            .attribute("xdg:schema", "other")
            .attribute("a", "1")
            .build()
            .unwrap();
        let want: BTreeMap<String, String> =
            [("a", "1"), ("xdg:schema", "s")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(p.attributes(), &want);
    }

    #[test]
    fn reads_accept_raw_and_base64() {
        let json = br#"{"AccessToken": {}}"#;
        let b64 = encode(json, SecretEncoding::Base64);
        for configured in [SecretEncoding::Utf8, SecretEncoding::Base64] {
            assert_eq!(decode(Zeroizing::new(json.to_vec()), configured), json);
            assert_eq!(decode(b64.clone(), configured), json);
        }
        // Raw non-JSON that happens to be valid base64 stays raw unless configured base64.
        assert_eq!(decode(Zeroizing::new(b"abcd".to_vec()), SecretEncoding::Utf8), b"abcd");
        let enc = encode(b"\x00\xffbinary", SecretEncoding::Base64);
        assert_eq!(decode(enc, SecretEncoding::Base64), b"\x00\xffbinary");
        // Not base64, not JSON: returned as is, no panic.
        assert_eq!(decode(Zeroizing::new(b"\xff\xfe".to_vec()), SecretEncoding::Base64), b"\xff\xfe");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn debug_shows_names_only() {
        let p = SecretServicePersistence::builder("/tmp/c").label("L").build().unwrap();
        let s = format!("{p:?}");
        assert!(s.contains("xdg:schema") && s.contains("connected: false"), "{s}");
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn unavailable_off_linux() {
        let e = SecretServicePersistence::new("/s").unwrap_err();
        assert!(matches!(e, Error::Unavailable { backend: BACKEND, .. }), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn copies_are_found_by_none_of_the_original_attributes() {
        let p = SecretServicePersistence::builder("/tmp/c")
            .schema_name("msal.cache")
            .attribute("MsalClientID", "Microsoft.Developer.IdentityService")
            .build()
            .unwrap();
        let copy = p.item().sibling("corrupt-0123");
        for (k, v) in p.attributes() {
            assert_ne!(copy.spec.attributes.get(k), Some(v), "the copy must not carry {k}={v}");
        }
        assert!(copy.describe().contains(COPY_SCHEMA), "{}", copy.describe());
    }

    #[test]
    fn is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<SecretServicePersistence>();
    }
}
