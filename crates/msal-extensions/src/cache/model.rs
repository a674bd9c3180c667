//! The five entry types of the MSAL unified cache schema, typed for the
//! fields this crate understands, with every other field kept verbatim.
//!
//! # Tolerance
//! A known field whose stored value has an unexpected type (a `null`, a
//! number where a string belongs, an object) is not an error: its typed slot
//! stays `None` and the raw value is kept in `extra`, so it is written back
//! exactly as it was read. Timestamps are accepted as strings of unix
//! seconds (what every SDK writes) or as JSON numbers, and are always
//! written as strings.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

/// A token or other secret string. `Debug` and `Display` never show it.
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
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How one typed field reads itself from, and writes itself to, JSON.
pub(crate) trait Field {
    /// Takes `v` if it has the expected type; otherwise hands it back (to be kept raw).
    fn absorb(&mut self, v: Value) -> Option<Value>;
    /// `true` when the field holds a value to write.
    fn is_set(&self) -> bool;
    /// Writes `name: value` when set.
    fn emit<M: SerializeMap>(&self, name: &str, m: &mut M) -> Result<(), M::Error>;
}

impl Field for Option<String> {
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
    fn seconds_parse_leniently() {
        assert_eq!(parse_seconds(&"17".into()), Some(17));
        assert_eq!(parse_seconds(&serde_json::json!(17.9)), Some(17));
        assert_eq!(parse_seconds(&"x".into()), None);
        assert_eq!(parse_seconds(&serde_json::json!(1e300)), None);
    }
}
