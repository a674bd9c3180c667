//! [`TokenCache`]: the MSAL unified token cache, in memory.
//!
//! The same JSON document MSAL Python, .NET, Node, Java and Go keep:
//! sections `AccessToken`, `RefreshToken`, `IdToken`, `Account` and
//! `AppMetadata`, each mapping a key to an entry.
//!
//! # Compatibility rules
//! - **Loading is tolerant.** Compact or indented JSON; stored keys are
//!   opaque (other SDKs compute them differently), entries are matched by
//!   their fields; `null`s and numeric timestamps are accepted; unknown
//!   sections and unknown fields are kept and written back unchanged, in
//!   their original order. Access and refresh tokens this crate did not
//!   change are written back as their original JSON text, byte for byte;
//!   they are parsed only when a query needs them, which keeps reloading a
//!   large cache cheap (see `docs/design.md`, "Loading a cache").
//! - **Writing matches MSAL Python**: [`add`](TokenCache::add) writes the
//!   entries, fields and keys MSAL Python 1.39 writes for the same token
//!   response, timestamps as strings; where the MSAL libraries disagree on
//!   a field (app-only tokens' `home_account_id`), as the cache's
//!   [`WriteConvention`] says, so the library that owns the cache finds it.
//! - **Reading accepts every library's way**: a query for app tokens finds
//!   `null`, `""` and a missing `home_account_id`; a query by environment
//!   finds entries under any alias of that cloud ([`environment_aliases`]).
//! - Replacing or removing an entry also removes every stored entry with the
//!   same identifying fields under a different key or another alias of the
//!   same cloud, so a token written by another SDK is not left behind as a
//!   stale duplicate (which msal-node and MSAL .NET report as "multiple
//!   matching tokens").

mod add;
mod convention;
mod jwt;
mod merge;
mod model;
mod query;
mod refresh;
mod scan;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

pub use add::TokenResponse;
pub use convention::{WriteConvention, environment_aliases, is_microsoft_cloud_host};
pub use merge::MergeCounts;
pub use model::{AccessToken, Account, AppMetadata, IdToken, RefreshToken, Secret};
pub use query::AccessTokenQuery;

/// The claims of a JWT such as an id token, decoded **without verifying its
/// signature** (as MSAL does for the id tokens it caches: they came over TLS
/// straight from the identity provider). `None` when `jwt` is not a JWT whose
/// payload is base64url JSON object; never panics.
///
/// # Examples
/// ```
/// // header {"alg":"none"}, payload {"sub":"42"}
/// let claims = msal_extensions::cache::decode_jwt_claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9.").unwrap();
/// assert_eq!(claims["sub"], "42");
/// assert!(msal_extensions::cache::decode_jwt_claims("not a jwt").is_none());
/// ```
pub fn decode_jwt_claims(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    jwt::jwt_claims(jwt)
}

#[cfg(feature = "redis")]
pub(crate) use model::parse_seconds;
#[cfg(feature = "redis")]
pub(crate) use query::unix_now;

use model::{EntryFields, Lazy, RawText};
use scan::{FailKind, Scan, Scanned};

const AT: &str = "AccessToken";
const RT: &str = "RefreshToken";
const IDT: &str = "IdToken";
const ACCOUNT: &str = "Account";
const APP: &str = "AppMetadata";
const KNOWN_SECTIONS: [&str; 5] = [AT, RT, IDT, ACCOUNT, APP];

/// One section: stored key → entry, in file order.
pub(crate) type Section<E> = IndexMap<String, E>;

/// An MSAL token cache in memory: parse it, query it, add token responses,
/// serialise it back.
///
/// For a cache shared on disk by several processes use
/// [`PersistedTokenCache`](crate::PersistedTokenCache), which wraps this type.
///
/// # Examples
/// ```
/// use msal_extensions::{AccessTokenQuery, TokenCache, TokenResponse};
/// let mut cache = TokenCache::parse("{}")?;
/// let response = TokenResponse::new(
///     "my-client-id",
///     ["https://graph.microsoft.com/.default"],
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com",
///     r#"{"access_token": "at", "expires_in": 3600, "token_type": "Bearer"}"#,
/// )?;
/// cache.add(&response)?;
/// let q = AccessTokenQuery::new("my-client-id", ["https://graph.microsoft.com/.default"]);
/// assert_eq!(cache.access_token(&q).unwrap().secret.as_ref().unwrap().expose(), "at");
/// let json = cache.serialize();
/// assert_eq!(TokenCache::parse(&json)?.len(), cache.len());
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Default)]
pub struct TokenCache {
    pub(crate) access_tokens: Section<Lazy<AccessToken>>,
    pub(crate) refresh_tokens: Section<Lazy<RefreshToken>>,
    pub(crate) id_tokens: Section<IdToken>,
    pub(crate) accounts: Section<Account>,
    pub(crate) app_metadata: Section<AppMetadata>,
    /// Unknown top-level sections, verbatim.
    other: Map<String, Value>,
    /// Top-level names in the order they were read, so a save keeps the layout.
    order: Vec<String>,
    /// Lower-cased scope → positions in `access_tokens`, built on the second
    /// search and dropped whenever positions may have moved.
    scope_index: OnceLock<HashMap<String, Vec<usize>>>,
    /// Whether a search has run since the cache was loaded. The first one
    /// scans instead of building the index: after a reload that is cheaper,
    /// and a process may reload again before it searches a second time.
    searched: AtomicBool,
    /// Changes on every change of the content: every public method that
    /// changes an entry calls [`note_change`](Self::note_change) (a new
    /// mutator must too). `PersistedTokenCache::modify` saves only when it moved.
    revision: u64,
    /// How `add` writes what the MSAL libraries disagree on.
    convention: WriteConvention,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// This cache, writing as `convention` says (default:
    /// [`WriteConvention::Mirror`]).
    pub fn with_write_convention(mut self, convention: WriteConvention) -> Self {
        self.convention = convention;
        self
    }

    /// Sets how [`add`](Self::add) writes what the MSAL libraries disagree on.
    pub fn set_write_convention(&mut self, convention: WriteConvention) {
        self.convention = convention;
    }

    /// How [`add`](Self::add) writes what the MSAL libraries disagree on.
    pub fn write_convention(&self) -> WriteConvention {
        self.convention
    }

    /// Parses a serialised cache. Empty or blank text is an empty cache (as
    /// in MSAL Python).
    ///
    /// # Errors
    /// [`Error::Corrupt`] (with location `"token cache"`) when the text is not
    /// a JSON object, or a known section or an entry is not an object.
    ///
    /// # Examples
    /// ```
    /// use msal_extensions::TokenCache;
    /// let c = TokenCache::parse(r#"{"AccessToken": {}, "Future": {"x": 1}}"#)?;
    /// assert!(c.is_empty());
    /// assert!(c.serialize().contains("Future"));
    /// assert!(TokenCache::parse("not json").is_err());
    /// # Ok::<(), msal_extensions::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        if is_blank(text.as_bytes()) {
            return Ok(Self::new());
        }
        Self::parse_shared(&Arc::new(text.to_owned()))
    }

    /// [`parse`](Self::parse) from bytes (must be UTF-8 JSON).
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse_owned(bytes.to_vec())
    }

    /// [`parse_bytes`](Self::parse_bytes) taking the bytes: they become the
    /// buffer the access tokens are read from, without a copy (what
    /// [`Persistence::load_bytes`](crate::Persistence::load_bytes) returns
    /// can be passed straight in).
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_owned(bytes: Vec<u8>) -> Result<Self> {
        Self::parse_owned_or_back(bytes)
            .map_err(|(reason, _)| Error::Corrupt { location: String::new(), reason })
    }

    /// [`parse_owned`](Self::parse_owned), handing the bytes back on error
    /// (to be quarantined) with what is wrong with them.
    pub(crate) fn parse_owned_or_back(bytes: Vec<u8>) -> std::result::Result<Self, (String, Vec<u8>)> {
        if is_blank(&bytes) {
            return Ok(Self::new());
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let reason = format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to());
            (reason, e.into_bytes())
        })?;
        let buf = Arc::new(text);
        load(&buf).map_err(|f| {
            let reason = f.describe(&buf);
            // Nothing else holds the buffer once loading failed.
            let bytes = Arc::try_unwrap(buf).map(String::into_bytes).unwrap_or_default();
            (reason, bytes)
        })
    }

    fn parse_shared(buf: &Arc<String>) -> Result<Self> {
        load(buf).map_err(|f| Error::Corrupt { location: String::new(), reason: f.describe(buf) })
    }

    /// Serialises to compact JSON (what MSAL .NET writes; every SDK reads it).
    pub fn serialize(&self) -> String {
        let mut out = Vec::with_capacity(self.size_hint());
        out.push(b'{');
        for (i, name) in self.section_names().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_compact_section(name, &mut out);
        }
        out.push(b'}');
        // serde_json writes UTF-8 and raw entries are slices of a `str`.
        String::from_utf8(out).expect("BUG: serialised token cache is not UTF-8")
    }

    /// Serialises to JSON indented by four spaces, like MSAL Python.
    pub fn serialize_pretty(&self) -> String {
        let mut out = Vec::with_capacity(4096);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        serde::Serialize::serialize(self, &mut ser).expect("BUG: serialising a token cache failed");
        String::from_utf8(out).expect("BUG: serde_json wrote invalid UTF-8")
    }

    /// Number of entries in the five known sections.
    pub fn len(&self) -> usize {
        self.access_tokens.len()
            + self.refresh_tokens.len()
            + self.id_tokens.len()
            + self.accounts.len()
            + self.app_metadata.len()
    }

    /// `true` when the five known sections are empty (unknown sections are not counted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All access tokens with their stored keys, in file order.
    pub fn access_tokens(&self) -> impl Iterator<Item = (&str, &AccessToken)> {
        self.access_tokens.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// The `home_account_id`, `environment` and `client_id` of every access
    /// token, read without parsing the whole entries: listing who holds
    /// tokens in a large cache costs a scan, not a parse of every token.
    pub fn access_token_owners(&self) -> impl Iterator<Item = [Option<std::borrow::Cow<'_, str>>; 3]> {
        self.access_tokens
            .values()
            .map(|t| [t.str_field("home_account_id"), t.str_field("environment"), t.str_field("client_id")])
    }

    /// [`access_token_owners`](Self::access_token_owners) for refresh tokens.
    pub fn refresh_token_owners(&self) -> impl Iterator<Item = [Option<std::borrow::Cow<'_, str>>; 3]> {
        self.refresh_tokens
            .values()
            .map(|t| [t.str_field("home_account_id"), t.str_field("environment"), t.str_field("client_id")])
    }

    /// All refresh tokens with their stored keys.
    pub fn refresh_tokens(&self) -> impl Iterator<Item = (&str, &RefreshToken)> {
        self.refresh_tokens.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// All id tokens with their stored keys.
    pub fn id_tokens(&self) -> impl Iterator<Item = (&str, &IdToken)> {
        self.id_tokens.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// All app metadata entries with their stored keys.
    pub fn app_metadata(&self) -> impl Iterator<Item = (&str, &AppMetadata)> {
        self.app_metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// An unknown top-level section, as stored.
    pub fn unknown_section(&self, name: &str) -> Option<&Value> {
        self.other.get(name)
    }

    /// Records that the content changed (see the `revision` field).
    pub(crate) fn note_change(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// The current revision; a fresh cache's is 0.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    /// Sets the revision, so a caller can tell later whether anything changed.
    pub(crate) fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    /// Drops the scope index after positions in `access_tokens` may have moved.
    pub(crate) fn invalidate_index(&mut self) {
        self.scope_index = OnceLock::new();
    }

    /// Records a newly appended access token in the index, if one is built.
    pub(crate) fn index_appended(&mut self, pos: usize) {
        let Some(ix) = self.scope_index.get_mut() else { return };
        let Some(target) = self.access_tokens.get_index(pos).and_then(|(_, at)| at.str_field("target"))
        else {
            return;
        };
        for scope in unique_scopes(&target) {
            ix.entry(scope).or_default().push(pos);
        }
    }

    /// Positions of the access tokens whose target has `scope`: a scan on
    /// the first search after a load, the index from then on.
    pub(crate) fn positions_with_scope(&self, scope: &str) -> std::borrow::Cow<'_, [usize]> {
        if self.scope_index.get().is_some() || self.searched.swap(true, Ordering::Relaxed) {
            let ix = self.scope_index().get(&scope.to_ascii_lowercase());
            return std::borrow::Cow::Borrowed(ix.map_or(&[][..], Vec::as_slice));
        }
        let has = |t: &str| t.split_whitespace().any(|s| s.eq_ignore_ascii_case(scope));
        self.access_tokens
            .values()
            .enumerate()
            .filter(|(_, at)| at.str_field("target").is_some_and(|t| has(&t)))
            .map(|(pos, _)| pos)
            .collect::<Vec<_>>()
            .into()
    }

    pub(crate) fn scope_index(&self) -> &HashMap<String, Vec<usize>> {
        self.scope_index.get_or_init(|| {
            let mut ix: HashMap<String, Vec<usize>> = HashMap::new();
            for (pos, at) in self.access_tokens.values().enumerate() {
                for scope in unique_scopes(at.str_field("target").as_deref().unwrap_or("")) {
                    ix.entry(scope).or_default().push(pos);
                }
            }
            ix
        })
    }
}

/// Where and how the JSON is bad, without quoting it: serde_json's own
/// messages quote unexpected values, which may be tokens.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "ends early (truncated?)",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => {
            "is JSON but not an MSAL cache (a section or entry is not an object)"
        }
        serde_json::error::Category::Io => "could not be read",
    };
    format!("the content {what} at line {} column {}", e.line(), e.column())
}

/// The distinct lower-cased scopes of a space-separated target.
fn unique_scopes(target: &str) -> Vec<String> {
    let mut v: Vec<String> = target.split_whitespace().map(str::to_ascii_lowercase).collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Clone for TokenCache {
    fn clone(&self) -> Self {
        TokenCache {
            access_tokens: self.access_tokens.clone(),
            refresh_tokens: self.refresh_tokens.clone(),
            id_tokens: self.id_tokens.clone(),
            accounts: self.accounts.clone(),
            app_metadata: self.app_metadata.clone(),
            other: self.other.clone(),
            order: self.order.clone(),
            scope_index: OnceLock::new(),
            searched: AtomicBool::new(false),
            revision: self.revision,
            convention: self.convention,
        }
    }
}

/// Counts only: entries hold secrets, and extra fields may too.
impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("access_tokens", &self.access_tokens.len())
            .field("refresh_tokens", &self.refresh_tokens.len())
            .field("id_tokens", &self.id_tokens.len())
            .field("accounts", &self.accounts.len())
            .field("app_metadata", &self.app_metadata.len())
            .field("unknown_sections", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl serde::Serialize for TokenCache {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for name in self.section_names() {
            self.write_section(name, &mut m)?;
        }
        m.end()
    }
}

impl TokenCache {
    /// The sections to write: those read, in file order, then known sections
    /// that were added.
    fn section_names(&self) -> impl Iterator<Item = &str> {
        let added = KNOWN_SECTIONS
            .into_iter()
            .filter(|name| !self.order.iter().any(|n| n == name) && self.section_len(name) > 0);
        self.order.iter().map(String::as_str).chain(added)
    }

    /// Bytes to reserve for the compact form: about the size it was read at.
    fn size_hint(&self) -> usize {
        let raw: usize = self.access_tokens.values().filter_map(|at| at.raw_text()).map(str::len).sum();
        raw + 4096 + 512 * (self.len() - self.access_tokens.len())
    }

    /// `"name":{...}` in compact form. Access and refresh tokens read from
    /// the file and not changed since are copied as they were read, without
    /// re-checking.
    fn write_compact_section(&self, name: &str, out: &mut Vec<u8>) {
        json(out, name);
        out.push(b':');
        match name {
            AT => write_lazy(out, &self.access_tokens),
            RT => write_lazy(out, &self.refresh_tokens),
            IDT => json(out, &self.id_tokens),
            ACCOUNT => json(out, &self.accounts),
            APP => json(out, &self.app_metadata),
            other => json(out, &self.other.get(other)),
        }
    }

    fn section_len(&self, name: &str) -> usize {
        match name {
            AT => self.access_tokens.len(),
            RT => self.refresh_tokens.len(),
            IDT => self.id_tokens.len(),
            ACCOUNT => self.accounts.len(),
            APP => self.app_metadata.len(),
            _ => 0,
        }
    }

    fn write_section<M: SerializeMap>(&self, name: &str, m: &mut M) -> std::result::Result<(), M::Error> {
        match name {
            AT => m.serialize_entry(name, &self.access_tokens),
            RT => m.serialize_entry(name, &self.refresh_tokens),
            IDT => m.serialize_entry(name, &self.id_tokens),
            ACCOUNT => m.serialize_entry(name, &self.accounts),
            APP => m.serialize_entry(name, &self.app_metadata),
            other => match self.other.get(other) {
                Some(v) => m.serialize_entry(other, v),
                None => Ok(()),
            },
        }
    }
}

impl<'de> serde::Deserialize<'de> for TokenCache {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(CacheVisitor)
    }
}

struct CacheVisitor;

impl<'de> Visitor<'de> for CacheVisitor {
    type Value = TokenCache;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with sections such as \"AccessToken\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<TokenCache, A::Error> {
        let mut c = TokenCache::new();
        while let Some(key) = map.next_key::<model::Key<'de>>()? {
            let name = key.into_owned();
            // A `null` section (seen in hand-edited files) reads as empty.
            match name.as_str() {
                AT => c.access_tokens = map.next_value::<Option<_>>()?.unwrap_or_default(),
                RT => c.refresh_tokens = map.next_value::<Option<_>>()?.unwrap_or_default(),
                IDT => c.id_tokens = map.next_value::<Option<_>>()?.unwrap_or_default(),
                ACCOUNT => c.accounts = map.next_value::<Option<_>>()?.unwrap_or_default(),
                APP => c.app_metadata = map.next_value::<Option<_>>()?.unwrap_or_default(),
                _ => {
                    let v: Value = map.next_value()?;
                    c.other.insert(name.clone(), v);
                }
            }
            if !c.order.contains(&name) {
                c.order.push(name);
            }
        }
        Ok(c)
    }
}

/// Empty or blank text is an empty cache (as in MSAL Python).
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Writes a section of lazily read entries in compact form.
fn write_lazy<E>(out: &mut Vec<u8>, section: &Section<Lazy<E>>)
where
    E: EntryFields + serde::Serialize + serde::de::DeserializeOwned,
{
    out.push(b'{');
    for (i, (key, e)) in section.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json(out, key);
        out.push(b':');
        match e.raw_text() {
            Some(raw) => out.extend_from_slice(raw.as_bytes()),
            None => json(out, &**e),
        }
    }
    out.push(b'}');
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing to a Vec cannot fail and every map key is a string.
    serde_json::to_writer(out, v).expect("BUG: serialising a cache entry failed");
}

/// Reads a whole cache document, keeping access and refresh tokens as ranges of `buf`.
fn load(buf: &Arc<String>) -> Scanned<TokenCache> {
    if buf.starts_with('\u{feff}') {
        return Err(scan::Fail { kind: FailKind::Bom, at: 0, within: None });
    }
    let mut sc = Scan::new(buf);
    if sc.peek()? != b'{' {
        let whole = sc.skip()?; // a syntax error wins over "not a cache"
        return sc.fail(FailKind::NotCache, whole.start);
    }
    let mut c = TokenCache::new();
    sc.members(|sc, key| {
        let name = key.into_owned();
        match name.as_str() {
            AT => c.access_tokens = section(sc, |sc| lazy(sc, buf))?,
            RT => c.refresh_tokens = section(sc, |sc| lazy(sc, buf))?,
            IDT => c.id_tokens = section(sc, entry)?,
            ACCOUNT => c.accounts = section(sc, entry)?,
            APP => c.app_metadata = section(sc, entry)?,
            _ => {
                c.other.insert(name.clone(), sc.read::<Value>()?.0);
            }
        }
        if !c.order.contains(&name) {
            c.order.push(name);
        }
        Ok(())
    })?;
    sc.finish()?;
    Ok(c)
}

/// The complete cache at the start of `bytes` when only other data follows
/// it (msal-node sometimes leaves such a file), with the offset where that
/// data starts; `None` for any other content.
pub(crate) fn leading_document(bytes: &[u8]) -> Option<(TokenCache, usize)> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
    };
    let end = match load(&Arc::new(text.to_owned())) {
        Err(f) if f.kind == FailKind::Trailing => f.at,
        Ok(_) if text.len() < bytes.len() => text.len(), // junk that is not even UTF-8
        _ => return None,
    };
    let lead = &text[..end];
    if is_blank(lead.as_bytes()) {
        return None;
    }
    load(&Arc::new(lead.to_owned())).ok().map(|c| (c, end))
}

/// One known section: an object of entries, or `null` (seen in hand-edited
/// files) for none. `read_entry` reads one entry at the cursor.
fn section<'a, E>(
    sc: &mut Scan<'a>,
    mut read_entry: impl FnMut(&mut Scan<'a>) -> Scanned<E>,
) -> Scanned<Section<E>> {
    let mut entries = Section::new();
    if sc.peek()? != b'{' {
        let r = sc.skip()?;
        return match sc.text(r.clone()) {
            "null" => Ok(entries),
            _ => sc.fail(FailKind::NotCache, r.start),
        };
    }
    sc.members(|sc, key| {
        if sc.peek()? != b'{' {
            let r = sc.skip()?;
            return sc.fail(FailKind::NotCache, r.start);
        }
        entries.insert(key.into_owned(), read_entry(sc)?);
        Ok(())
    })?;
    Ok(entries)
}

/// An entry kept as a range of `buf`, checked but not parsed.
fn lazy<E>(sc: &mut Scan<'_>, buf: &Arc<String>) -> Scanned<Lazy<E>>
where
    E: EntryFields + serde::de::DeserializeOwned,
{
    Ok(Lazy::from_raw(RawText::new(buf.clone(), sc.skip()?)))
}

/// A fully parsed entry.
fn entry<E: EntryFields + serde::de::DeserializeOwned>(sc: &mut Scan<'_>) -> Scanned<E> {
    sc.read().map(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader's own scanner and serde_json (the `Deserialize` impl) read alike.
    #[test]
    fn loader_agrees_with_serde() {
        let docs = [
            r#"{"AccessToken": {"k": {"secret": "\ud800", "x": {"\ud800": [1, 2.5e3]}}}}"#,
            r#"{"Future": {"a": [true, null]}, "AccessToken": {"a": {}, "a": {"t": 1}}, "AppMetadata": null}"#,
            r#"{"RefreshToken": {"k\u0041": {"secret": "s", "n": -0.0}}, "RefreshToken": {}}"#,
            r#"{"Account": {"k": {"home_account_id": "u.t"}}}  "#,
            r#"{"AccessToken": {"k": {"target": "a\"b"}}, "z": "\ud800"}"#,
            r#"{"AccessToken": {"\ud800": {}}}"#,
            r#"{"AccessToken": {"k": 1}}"#,
            r#"{"IdToken": {"k": {"secret": "x"}} } x"#,
        ];
        for doc in docs {
            let ours = TokenCache::parse(doc).map(|c| c.serialize()).ok();
            let serde = serde_json::from_str::<TokenCache>(doc).map(|c| c.serialize()).ok();
            assert_eq!(ours, serde, "{doc}");
        }
    }

    #[test]
    fn unknown_sections_and_order_survive() {
        let src = r#"{"Zeta":{"a":[1,2]},"AccessToken":{"k":{"secret":"s","weird":true}},"AppMetadata":{}}"#;
        let c = TokenCache::parse(src).unwrap();
        assert_eq!(c.serialize(), src);
    }

    #[test]
    fn indented_and_compact_are_equivalent() {
        let src = r#"{"Account": {"k": {"home_account_id": "u.t", "username": "a@b"}}}"#;
        let c = TokenCache::parse(src).unwrap();
        let pretty = c.serialize_pretty();
        assert!(pretty.contains("\n        \"k\": {"), "{pretty}");
        assert_eq!(TokenCache::parse(&pretty).unwrap().serialize(), c.serialize());
    }

    #[test]
    fn bad_documents_are_corrupt_errors() {
        for bad in
            ["not json", "[]", "{\"AccessToken\": []}", "{\"AccessToken\": {\"k\": 1}}", "{\"Acc", "nul"]
        {
            assert!(matches!(TokenCache::parse(bad), Err(Error::Corrupt { .. })), "{bad}");
        }
        assert!(TokenCache::parse("  \n").unwrap().is_empty());
        assert!(TokenCache::parse(r#"{"AccessToken": null}"#).unwrap().is_empty());
    }

    #[test]
    fn errors_never_quote_content() {
        for bad in [
            r#"{"AccessToken": "SECRET1"}"#,
            r#"{"RefreshToken": {"k": "SECRET1"}}"#,
            r#"{"Account": ["SECRET1"]}"#,
        ] {
            let e = TokenCache::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("SECRET1") && !format!("{e:?}").contains("SECRET1"), "{e}");
        }
    }

    #[test]
    fn debug_shows_counts_only() {
        let c = TokenCache::parse(r#"{"AccessToken":{"k":{"secret":"TOPSECRET"}}}"#).unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("access_tokens: 1") && !d.contains("TOPSECRET"), "{d}");
    }
}
