//! The five entry types of the MSAL unified cache schema, typed for the
//! fields this crate understands, with every other field kept verbatim.
//!
//! # Tolerance
//! A known field whose stored value has an unexpected type (a `null`, a
//! number where a string belongs, an object) is not an error: its typed slot
//! stays `None` and the raw value is kept in `extra`, so it is written back
//! exactly as it was read. Timestamps are accepted as strings of unix
//! seconds (what every SDK writes) or as JSON numbers, and written as
//! strings. Access tokens that are only read are saved back verbatim, as
//! their original JSON text (see `Lazy`).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

/// A token or other secret string. `Debug` never shows it (there is no
/// `Display`), and its memory is overwritten with zeros when it is dropped.
///
/// # Examples
/// ```
/// use msal_extensions::Secret;
/// let s = Secret::new("eyJ0eXAi...");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "eyJ0eXAi...");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself. Take care not to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, one-way fingerprint: `sha256:` and the first 8 hex digits of
    /// the SHA-256 of the secret. Enough to tell two tokens apart or match one
    /// against a log; useless to recover the token. The CLI and the
    /// distributed cache's listings show secrets only this way.
    ///
    /// ```
    /// # use msal_extensions::Secret;
    /// assert_eq!(Secret::new("abc").fingerprint(), "sha256:ba7816bf");
    /// ```
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(self.0.as_bytes());
        format!("sha256:{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Freed memory is reused by later allocations (and can end up in a
        // core dump): wipe the token before giving it back.
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// How one typed field reads itself from, and writes itself to, JSON.
pub(crate) trait Field {
    /// Takes `v` if it has the expected type; otherwise hands it back (to be kept raw).
    fn absorb(&mut self, v: Value) -> Option<Value>;
    /// `true` when the field holds a value to write.
    fn is_set(&self) -> bool;
    /// The value as text, for string fields only.
    fn as_text(&self) -> Option<&str> {
        None
    }
    /// Writes `name: value` when set.
    fn emit<M: SerializeMap>(&self, name: &str, m: &mut M) -> Result<(), M::Error>;
}

impl Field for Option<String> {
    fn as_text(&self) -> Option<&str> {
        self.as_deref()
    }
    fn absorb(&mut self, v: Value) -> Option<Value> {
        match v {
            Value::String(s) => {
                *self = Some(s);
                None
            }
            other => Some(other),
        }
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn emit<M: SerializeMap>(&self, name: &str, m: &mut M) -> Result<(), M::Error> {
        match self {
            Some(s) => m.serialize_entry(name, s),
            None => Ok(()),
        }
    }
}

impl Field for Option<Secret> {
    fn absorb(&mut self, v: Value) -> Option<Value> {
        match v {
            Value::String(s) => {
                *self = Some(Secret(s));
                None
            }
            other => Some(other),
        }
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn emit<M: SerializeMap>(&self, name: &str, m: &mut M) -> Result<(), M::Error> {
        match self {
            Some(s) => m.serialize_entry(name, &s.0),
            None => Ok(()),
        }
    }
}

/// Timestamps: unix seconds, read from a string or a number, written as a string.
impl Field for Option<i64> {
    fn absorb(&mut self, v: Value) -> Option<Value> {
        match parse_seconds(&v) {
            Some(t) => {
                *self = Some(t);
                None
            }
            None => Some(v),
        }
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn emit<M: SerializeMap>(&self, name: &str, m: &mut M) -> Result<(), M::Error> {
        match self {
            Some(t) => m.serialize_entry(name, &t.to_string()),
            None => Ok(()),
        }
    }
}

/// Reads unix seconds from `"123"`, `123` or `123.0` (what the SDKs write).
/// Fractions are truncated like Python's `int()`; anything else is `None`.
pub(crate) fn parse_seconds(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e17).map(|f| f as i64))
        }
        _ => None,
    }
}

/// What every entry type provides to the generic reader and writer.
pub(crate) trait EntryFields: Default {
    /// Offers a field; returns it back when it is unknown or of an unexpected type.
    fn take(&mut self, key: &str, v: Value) -> Option<Value>;
    /// Writes the typed fields that are set.
    fn write_known<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error>;
    /// `true` when `key` is a typed field that currently holds a value.
    fn has_known(&self, key: &str) -> bool;
    /// The value of a typed string field, if set.
    fn get_str(&self, key: &str) -> Option<&str>;
    /// The fields kept verbatim.
    fn extra(&self) -> &Map<String, Value>;
    /// The fields kept verbatim, mutably.
    fn extra_mut(&mut self) -> &mut Map<String, Value>;

    /// Sets field `key` to `v`: typed if it fits, else kept raw.
    fn set(&mut self, key: &str, v: Value) {
        self.extra_mut().shift_remove(key);
        if let Some(raw) = self.take(key, v) {
            self.extra_mut().insert(key.to_owned(), raw);
        }
    }
}

/// Defines an entry struct with typed fields, `extra`, a redacting `Debug`
/// and the [`EntryFields`] plumbing, from one field list.
macro_rules! entry {
    ($(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Default, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fm])* pub $field: Option<$ty>, )*
            /// Fields this crate does not model (or that had an unexpected
            /// type), kept verbatim and written back unchanged.
            pub extra: Map<String, Value>,
        }

        impl EntryFields for $name {
            fn take(&mut self, key: &str, v: Value) -> Option<Value> {
                match key {
                    $( stringify!($field) => Field::absorb(&mut self.$field, v), )*
                    _ => Some(v),
                }
            }
            fn write_known<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
                $( Field::emit(&self.$field, stringify!($field), m)?; )*
                Ok(())
            }
            fn has_known(&self, key: &str) -> bool {
                match key {
                    $( stringify!($field) => Field::is_set(&self.$field), )*
                    _ => false,
                }
            }
            fn get_str(&self, key: &str) -> Option<&str> {
                match key {
                    $( stringify!($field) => Field::as_text(&self.$field), )*
                    _ => None,
                }
            }
            fn extra(&self) -> &Map<String, Value> {
                &self.extra
            }
            fn extra_mut(&mut self) -> &mut Map<String, Value> {
                &mut self.extra
            }
        }

        /// Shows the typed fields (secrets redacted) and only the *names* of
        /// the extra fields, whose values may be sensitive.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                $( d.field(stringify!($field), &self.$field); )*
                d.field("extra", &self.extra.keys().collect::<Vec<_>>());
                d.finish()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                write_entry(self, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(EntryVisitor::<$name>(std::marker::PhantomData))
            }
        }
    };
}

entry! {
    /// An `AccessToken` entry.
    AccessToken {
        /// `"AccessToken"`.
        credential_type: String,
        /// The access token.
        secret: Secret,
        /// `uid.utid` of the signed-in account; `None` for app tokens (stored as `null` by Python).
        home_account_id: String,
        /// Authority host, e.g. `login.microsoftonline.com`.
        environment: String,
        /// The application (client) id.
        client_id: String,
        /// The tenant.
        realm: String,
        /// The scopes, space-separated (sorted when written by MSAL Python or this crate).
        target: String,
        /// `"Bearer"`, `"pop"`, `"ssh-cert"`, ...
        token_type: String,
        /// When it was cached (unix seconds).
        cached_at: i64,
        /// When it expires (unix seconds).
        expires_on: i64,
        /// When it expires if the identity provider is down (unix seconds).
        extended_expires_on: i64,
        /// When the identity provider advises refreshing it (unix seconds).
        refresh_on: i64,
        /// Key id for proof-of-possession and SSH-certificate tokens.
        key_id: String,
    }
}

entry! {
    /// A `RefreshToken` entry.
    RefreshToken {
        /// `"RefreshToken"`.
        credential_type: String,
        /// The refresh token.
        secret: Secret,
        /// `uid.utid` of the account.
        home_account_id: String,
        /// Authority host.
        environment: String,
        /// The application (client) id.
        client_id: String,
        /// The scopes it was issued with (optional in the schema).
        target: String,
        /// `"1"` when the token is a family (FOCI) refresh token.
        family_id: String,
        /// When it was last written (unix seconds).
        last_modification_time: i64,
    }
}

entry! {
    /// An `IdToken` entry.
    IdToken {
        /// `"IdToken"` (MSAL Go writes `"IDToken"`).
        credential_type: String,
        /// The raw JWT.
        secret: Secret,
        /// `uid.utid` of the account.
        home_account_id: String,
        /// Authority host.
        environment: String,
        /// The tenant.
        realm: String,
        /// The application (client) id.
        client_id: String,
    }
}

entry! {
    /// An `Account` entry: one signed-in user in one tenant.
    Account {
        /// `uid.utid`.
        home_account_id: String,
        /// Authority host.
        environment: String,
        /// The tenant.
        realm: String,
        /// The object id (`oid`) in the tenant, else the `sub` claim.
        local_account_id: String,
        /// The sign-in name, e.g. `user@contoso.com`.
        username: String,
        /// `"MSSTS"`, `"ADFS"`, `"MSA"` or `"Other"`.
        authority_type: String,
        /// The grant that created it, e.g. `"authorization_code"`.
        account_source: String,
    }
}

entry! {
    /// An `AppMetadata` entry: which application uses which authority, and its FOCI family.
    AppMetadata {
        /// The application (client) id.
        client_id: String,
        /// Authority host.
        environment: String,
        /// `"1"` for an application in the Microsoft family of client ids.
        family_id: String,
    }
}

/// An entry kept as its raw JSON text until a field is needed.
///
/// Reloading a large cache is dominated by building entries (a dozen string
/// allocations each), yet a search reads only the few entries the scope
/// index points at, and a save can copy untouched entries verbatim. So the
/// big sections (access and refresh tokens) are loaded raw, each entry is parsed on first
/// access, and an unchanged entry is written back byte for byte.
#[derive(Clone)]
pub(crate) struct Lazy<E> {
    raw: Option<RawText>,
    /// Shared so that a lookup can hand out the entry without copying its strings.
    parsed: std::sync::OnceLock<std::sync::Arc<E>>,
}

/// A JSON object as a range of the text it was read from. The loader keeps
/// the whole file in one shared buffer, so an entry costs no allocation.
#[derive(Clone)]
pub(crate) struct RawText {
    buf: std::sync::Arc<String>,
    range: std::ops::Range<usize>,
}

impl RawText {
    /// `buf[range]` must be a valid JSON object (the loader checked it).
    pub(crate) fn new(buf: std::sync::Arc<String>, range: std::ops::Range<usize>) -> Self {
        RawText { buf, range }
    }

    pub(crate) fn get(&self) -> &str {
        &self.buf[self.range.clone()]
    }
}

impl<E: EntryFields + serde::de::DeserializeOwned> Lazy<E> {
    /// An entry built in memory (nothing raw to keep).
    pub(crate) fn new(e: E) -> Self {
        Lazy { raw: None, parsed: std::sync::OnceLock::from(std::sync::Arc::new(e)) }
    }

    /// An entry read from a file, parsed on first access.
    pub(crate) fn from_raw(raw: RawText) -> Self {
        Lazy { raw: Some(raw), parsed: std::sync::OnceLock::new() }
    }

    /// The entry's text as read, when it has not been replaced since.
    pub(crate) fn raw_text(&self) -> Option<&str> {
        self.raw.as_ref().map(RawText::get)
    }

    /// The value of one string field, without parsing the whole entry.
    pub(crate) fn str_field(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(e) = self.parsed.get() {
            return e.get_str(name).map(std::borrow::Cow::Borrowed);
        }
        let raw = self.raw.as_ref()?.get();
        match quick_str_field(raw, name) {
            Quick::Found(v) => return Some(std::borrow::Cow::Borrowed(v)),
            Quick::NotAString => return None,
            Quick::Unsure => {}
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        de::Deserializer::deserialize_map(&mut de, OneField(name)).ok().flatten()
    }
}

impl<E: EntryFields + serde::de::DeserializeOwned> Lazy<E> {
    /// The parsed entry, shared.
    pub(crate) fn shared(&self) -> &std::sync::Arc<E> {
        self.parsed.get_or_init(|| {
            let raw = self.raw.as_ref().map_or("{}", |r| r.get());
            // The raw text was checked to be a JSON object when loaded, and
            // the entry reader accepts any object; should it ever fail, the
            // raw text is still what gets saved, so nothing is lost.
            std::sync::Arc::new(serde_json::from_str(raw).unwrap_or_else(|e| {
                log::warn!("could not read a cache entry: {}", super::describe(&e));
                E::default()
            }))
        })
    }
}

impl<E: EntryFields + serde::de::DeserializeOwned> std::ops::Deref for Lazy<E> {
    type Target = E;
    fn deref(&self) -> &E {
        self.shared()
    }
}

impl<E: EntryFields + serde::Serialize + serde::de::DeserializeOwned> serde::Serialize for Lazy<E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.raw {
            // Through serde the text has to be re-checked to be passed on
            // verbatim; `TokenCache::serialize` copies it directly instead.
            Some(raw) => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                let raw: &serde_json::value::RawValue = serde::Deserialize::deserialize(&mut de)
                    .map_err(|e| serde::ser::Error::custom(super::describe(&e)))?;
                raw.serialize(s)
            }
            None => (**self).serialize(s),
        }
    }
}

impl<'de, E> serde::Deserialize<'de> for Lazy<E> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<serde_json::value::RawValue> = serde::Deserialize::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("non-object"),
                &"a cache entry (JSON object)",
            ));
        }
        let text = std::sync::Arc::new(raw.get().to_owned());
        let range = 0..text.len();
        Ok(Lazy { raw: Some(RawText::new(text, range)), parsed: std::sync::OnceLock::new() })
    }
}

/// What a substring search could tell about a field of a raw entry.
#[derive(Debug, PartialEq, Eq)]
enum Quick<'r> {
    Found(&'r str),
    /// Absent, or not a string: the field has no string value.
    NotAString,
    /// Ask the JSON parser.
    Unsure,
}

/// Finds `"name": "value"` by a substring search, for the common case of a
/// flat entry without escapes (every entry MSAL writes): no `{` after the
/// first and no `[` at all means no nested objects whose keys could be
/// mistaken for the entry's own; a quoted name followed by `:` is a key; and
/// without backslashes a string ends at the next quote.
/// Anything else is `Unsure`.
fn quick_str_field<'r>(raw: &'r str, name: &str) -> Quick<'r> {
    let bytes = raw.as_bytes();
    let Some(finder) = quoted_finder(name) else { return Quick::Unsure };
    // One pass for both conditions: no nesting after the opening brace, no escapes.
    if memchr::memchr3(b'{', b'[', b'\\', bytes.get(1..).unwrap_or_default()).is_some() {
        return Quick::Unsure;
    }
    let Some(at) = finder.find(bytes) else { return Quick::NotAString };
    let rest = &raw[at + finder.needle().len()..];
    if finder.find(rest.as_bytes()).is_some() {
        return Quick::Unsure; // also a value, or a duplicate key
    }
    let Some(value) = rest.trim_start().strip_prefix(':') else { return Quick::Unsure };
    let Some(value) = value.trim_start().strip_prefix('"') else { return Quick::NotAString };
    match memchr::memchr(b'"', value.as_bytes()) {
        Some(end) => Quick::Found(&value[..end]),
        None => Quick::Unsure,
    }
}

/// A searcher for `"name"`, built once per field name this crate looks up
/// in raw entries (building one costs more than searching a short entry).
fn quoted_finder(name: &str) -> Option<&'static memchr::memmem::Finder<'static>> {
    const NAMES: [&str; 6] =
        ["target", "home_account_id", "environment", "client_id", "family_id", "expires_on"];
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> = std::sync::OnceLock::new();
    let i = NAMES.iter().position(|n| *n == name)?;
    let finders = FINDERS.get_or_init(|| {
        NAMES
            .iter()
            .map(|n| memchr::memmem::Finder::new(format!("\"{n}\"").as_bytes()).into_owned())
            .collect()
    });
    finders.get(i)
}
/// Reads one string field of an entry, skipping the rest without allocating.
struct OneField<'n>(&'n str);

impl<'de> Visitor<'de> for OneField<'_> {
    type Value = Option<std::borrow::Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cache entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.as_str() == self.0 {
                found = match map.next_value::<Key<'de>>() {
                    Ok(Key::Borrowed(s)) => Some(std::borrow::Cow::Borrowed(s)),
                    Ok(Key::Owned(s)) => Some(std::borrow::Cow::Owned(s)),
                    Err(_) => return Ok(None), // not a string: serde_json cannot resume, and the field is unusable anyway
                };
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

fn write_entry<E: EntryFields, S: serde::Serializer>(e: &E, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    e.write_known(&mut m)?;
    for (k, v) in e.extra() {
        // A typed value set later (e.g. by `add`) wins over a raw one read from disk.
        if !e.has_known(k) {
            m.serialize_entry(k, v)?;
        }
    }
    m.end()
}

struct EntryVisitor<E>(std::marker::PhantomData<E>);

impl<'de, E: EntryFields> Visitor<'de> for EntryVisitor<E> {
    type Value = E;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cache entry (JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<E, A::Error> {
        let mut e = E::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let v: Value = map.next_value()?;
            if let Some(raw) = e.take(key.as_str(), v) {
                e.extra_mut().insert(key.into_owned(), raw);
            }
        }
        Ok(e)
    }
}

/// A map key read without allocating when the input has no escapes.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
    pub(crate) fn into_owned(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_are_kept_raw_and_written_back() {
        let src = r#"{"secret":"s","expires_on":{"x":1},"home_account_id":null,"cached_at":12,"z":[1]}"#;
        let at: AccessToken = serde_json::from_str(src).unwrap();
        assert_eq!(at.expires_on, None);
        assert_eq!(at.cached_at, Some(12));
        assert_eq!(at.home_account_id, None);
        let back: Value = serde_json::to_value(&at).unwrap();
        assert_eq!(back["expires_on"], serde_json::json!({"x": 1}));
        assert_eq!(back["home_account_id"], Value::Null);
        assert_eq!(back["cached_at"], "12", "timestamps are written as strings");
        assert_eq!(back["z"], serde_json::json!([1]));
    }

    #[test]
    fn typed_value_set_later_wins_over_raw() {
        let mut at: AccessToken = serde_json::from_str(r#"{"home_account_id":null}"#).unwrap();
        at.home_account_id = Some("u.t".into());
        let s = serde_json::to_string(&at).unwrap();
        assert_eq!(s, r#"{"home_account_id":"u.t"}"#);
    }

    #[test]
    fn debug_redacts_secrets_and_extra_values() {
        let at: AccessToken = serde_json::from_str(r#"{"secret":"TOPSECRET","x_secret":"HIDDEN"}"#).unwrap();
        let d = format!("{at:?}");
        assert!(!d.contains("TOPSECRET") && !d.contains("HIDDEN"), "{d}");
        assert!(d.contains("x_secret"), "{d}");
    }

    #[test]
    fn quick_field_lookup_falls_back_when_unsure() {
        let q = quick_str_field;
        assert_eq!(q(r#"{"a": 1, "target" : "x y"}"#, "target"), Quick::Found("x y"));
        assert_eq!(q(r#"{"target": "x\"y"}"#, "target"), Quick::Unsure, "escaped value");
        assert_eq!(q(r#"{"e": {"target": "n"}, "target": "t"}"#, "target"), Quick::Unsure, "nested");
        assert_eq!(q(r#"{"e": {"target": "n"}}"#, "target"), Quick::Unsure, "nested only");
        assert_eq!(q(r#"{"e": ["target"], "target": "t"}"#, "target"), Quick::Unsure, "array");
        assert_eq!(q(r#"{"target": 5}"#, "target"), Quick::NotAString);
        assert_eq!(q(r#"{"target": null, "u": "v"}"#, "target"), Quick::NotAString, "null");
        assert_eq!(
            q(r#"{"target": "t", "u": "{x["}"#, "target"),
            Quick::Unsure,
            "brackets, even in a string"
        );
        assert_eq!(q(r#"{"client_id": "c"}"#, "target"), Quick::NotAString, "absent");
        assert_eq!(q(r#"{"t\u0061rget": "t"}"#, "target"), Quick::Unsure, "escaped key");
        assert_eq!(q(r#"{"a": "target", "target": "t"}"#, "target"), Quick::Unsure, "also a value");
        assert_eq!(q(r#"{"a": "target"}"#, "target"), Quick::Unsure);
        assert_eq!(q(r#"{"s": "\"target\": \"z\""}"#, "target"), Quick::Unsure);
        assert_eq!(q(r#"{"target": "t"}"#, "other_field"), Quick::Unsure, "no prepared searcher");
        for (raw, want) in [
            (r#"{"e": {"target": "n"}, "target": "t"}"#, Some("t")),
            (r#"{"e": {"target": "n"}}"#, None),
            (r#"{"t\u0061rget": "t"}"#, Some("t")),
            (r#"{"target": "x\"y"}"#, Some("x\"y")),
        ] {
            let lazy: Lazy<AccessToken> = serde_json::from_str(raw).unwrap();
            assert_eq!(lazy.str_field("target").as_deref(), want, "the parser resolves {raw}");
        }
    }

    #[test]
    fn seconds_parse_leniently() {
        assert_eq!(parse_seconds(&"17".into()), Some(17));
        assert_eq!(parse_seconds(&serde_json::json!(17.9)), Some(17));
        assert_eq!(parse_seconds(&"x".into()), None);
        assert_eq!(parse_seconds(&serde_json::json!(1e300)), None);
    }
}
