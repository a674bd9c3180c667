//! Partitions (whose tokens share one cache), their sub-partitions, and the
//! Redis keys that hold them.
//!
//! A partition is what Microsoft.Identity.Web keys one cache blob by: an
//! application in a tenant (client-credentials tokens), a user (their
//! `home_account_id`), or an on-behalf-of call (a hash of the incoming
//! assertion). Each partition is stored as a *base* document (accounts, id
//! and refresh tokens, app metadata) and one document per *resource* (the
//! access tokens for that API), so that a lookup reads and searches one
//! resource's tokens whatever the size of the partition. Every key of a
//! partition carries the partition id as its Redis Cluster hash tag
//! (`{...}`), so the partition lives in one hash slot.

use std::fmt;

use sha2::{Digest, Sha256};

/// Scopes that ask for OpenID Connect data, not for an API; they say nothing
/// about the resource a token is for.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// The resource that bare scopes (`User.Read`) address in Entra ID.
const GRAPH: &str = "https://graph.microsoft.com";

/// Who a set of cached tokens belongs to: the unit of sharing, locking and
/// expiry in the distributed cache (one per application+tenant, per user, or
/// per on-behalf-of assertion).
///
/// # Examples
/// ```
/// use msal_extensions::distributed::Partition;
/// let app = Partition::app("11111111-2222-3333-4444-555555555555", "contoso.onmicrosoft.com");
/// assert_eq!(app.id(), "app:11111111-2222-3333-4444-555555555555:contoso.onmicrosoft.com");
/// let user = Partition::user("uid.utid");
/// assert_eq!(user.id(), "user:uid.utid");
/// let obo = Partition::on_behalf_of("eyJ0eXAi.incoming.assertion");
/// assert!(obo.id().starts_with("obo:") && !obo.id().contains("eyJ0eXAi"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Partition {
    kind: PartitionKind,
    /// `kind:...`, lower-cased, as used in the Redis keys (before escaping).
    id: String,
}

/// The three kinds of partition Microsoft.Identity.Web keys its cache by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PartitionKind {
    /// Application tokens (client credentials) of one client id in one tenant.
    App,
    /// The tokens of one signed-in user (`home_account_id`).
    User,
    /// Tokens obtained on behalf of one incoming assertion.
    OnBehalfOf,
}

impl Partition {
    /// Application tokens of `client_id` in `tenant` (the realm).
    pub fn app(client_id: &str, tenant: &str) -> Self {
        let id = format!("app:{}:{}", client_id.to_ascii_lowercase(), tenant.to_ascii_lowercase());
        Partition { kind: PartitionKind::App, id }
    }

    /// The tokens of the user with this `home_account_id` (`uid.utid`).
    pub fn user(home_account_id: &str) -> Self {
        Partition { kind: PartitionKind::User, id: format!("user:{}", home_account_id.to_ascii_lowercase()) }
    }

    /// Tokens obtained on behalf of the incoming `assertion` (the access
    /// token a web API received). Only its SHA-256 is kept, never the token.
    pub fn on_behalf_of(assertion: &str) -> Self {
        let hash = hex(&Sha256::digest(assertion.as_bytes()));
        Partition { kind: PartitionKind::OnBehalfOf, id: format!("obo:{hash}") }
    }

    /// Rebuilds a partition from its [`id`](Self::id) (as listed by
    /// [`DistributedTokenCache::list_partitions`](super::DistributedTokenCache::list_partitions)).
    /// `None` when it is not one.
    pub fn from_id(id: &str) -> Option<Self> {
        let (kind, rest) = id.split_once(':')?;
        let kind = match kind {
            "app" if rest.contains(':') => PartitionKind::App,
            "user" => PartitionKind::User,
            "obo" if rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()) => {
                PartitionKind::OnBehalfOf
            }
            _ => return None,
        };
        Some(Partition { kind, id: id.to_ascii_lowercase() })
    }

    /// `app:<client id>:<tenant>`, `user:<home account id>` or
    /// `obo:<sha-256 hex>`, lower-cased.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Which kind of partition this is.
    pub fn kind(&self) -> PartitionKind {
        self.kind
    }
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Partition({})", self.id)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// One stored document of a partition: its base, or one resource's access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Sub {
    Base,
    Resource(String),
}

impl Sub {
    /// The sub-partition holding access tokens for `target` (space-separated
    /// scopes): the resource of its first scope that is not an OpenID
    /// Connect one.
    pub(crate) fn for_target(target: &str) -> Sub {
        let mut scopes: Vec<&str> = target.split_whitespace().collect();
        scopes.sort_unstable();
        Sub::for_scopes(scopes.iter().copied())
    }

    /// The sub-partition a lookup for these scopes reads.
    pub(crate) fn for_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Sub {
        let mut scopes =
            scopes.into_iter().filter(|s| !OIDC_SCOPES.iter().any(|o| s.eq_ignore_ascii_case(o)));
        Sub::Resource(scopes.next().map_or_else(String::new, resource_of))
    }

    /// The field naming it in the partition's index, and the tail of its key.
    pub(crate) fn name(&self) -> String {
        match self {
            Sub::Base => "b".to_owned(),
            Sub::Resource(r) => format!("r:{}", escape(r)),
        }
    }

    /// Parses [`name`](Self::name).
    pub(crate) fn from_name(name: &str) -> Option<Sub> {
        match name {
            "b" => Some(Sub::Base),
            _ => Some(Sub::Resource(unescape(name.strip_prefix("r:")?)?)),
        }
    }
}

/// The resource (API) a scope is for, lower-cased: the scope up to its last
/// `/` (`https://graph.microsoft.com/User.Read`, `api://x/.default`), the
/// scope itself when it has no path (`https://vault.azure.net`), and
/// Microsoft Graph for bare scopes (`User.Read`), as Entra ID reads them.
pub(crate) fn resource_of(scope: &str) -> String {
    let s = scope.to_ascii_lowercase();
    let path_from = s.find("://").map_or(0, |i| i + 3);
    match s[path_from..].rfind('/') {
        Some(i) => s[..path_from + i].to_owned(),
        None if path_from > 0 => s,
        None => GRAPH.to_owned(),
    }
}

/// The Redis keys of one partition under a prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `prefix:{escaped id}:`
    head: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, partition: &Partition) -> Self {
        Keys { head: format!("{prefix}:{{{}}}:", escape(&partition.id)) }
    }

    /// The start every key of the partition shares.
    pub(crate) fn head(&self) -> &str {
        &self.head
    }

    /// The key of a stored document.
    pub(crate) fn blob(&self, sub: &Sub) -> String {
        format!("{}{}", self.head, sub.name())
    }

    /// The key of the partition's index (a hash: sub-partition name → expiry).
    pub(crate) fn index(&self) -> String {
        format!("{}i", self.head)
    }

    /// The pattern matching every partition's index under `prefix`, for SCAN.
    pub(crate) fn index_pattern(prefix: &str) -> String {
        format!("{}:{{*}}:i", glob_escape(prefix))
    }

    /// The partition id in an index key found by SCAN.
    pub(crate) fn partition_of_index(prefix: &str, key: &str) -> Option<Partition> {
        let inner = key.strip_prefix(prefix)?.strip_prefix(":{")?.strip_suffix("}:i")?;
        Partition::from_id(&unescape(inner)?)
    }
}

/// Percent-encodes everything but `[A-Za-z0-9._~@-]`, so ids and resources
/// can neither close the `{...}` hash tag nor collide with the `:` separators.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._~@-".contains(&b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes glob characters of a SCAN pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_of_scopes() {
        assert_eq!(resource_of("https://graph.microsoft.com/User.Read"), GRAPH);
        assert_eq!(resource_of("https://Graph.microsoft.com/.default"), GRAPH);
        assert_eq!(resource_of("User.Read"), GRAPH);
        assert_eq!(resource_of("api://my-api/access_as_user"), "api://my-api");
        assert_eq!(resource_of("https://vault.azure.net"), "https://vault.azure.net");
        assert_eq!(resource_of("https://x.example/a/b/.default"), "https://x.example/a/b");
        assert_eq!(
            resource_of("00000003-0000-0000-c000-000000000000/.default"),
            "00000003-0000-0000-c000-000000000000"
        );
    }

    #[test]
    fn lookup_and_storage_pick_the_same_sub_partition() {
        let stored = Sub::for_target("profile openid https://graph.microsoft.com/User.Read offline_access");
        assert_eq!(stored, Sub::for_scopes(["User.Read"]));
        assert_eq!(stored, Sub::Resource(GRAPH.into()));
        assert_eq!(Sub::for_target("openid"), Sub::Resource(String::new()));
    }

    #[test]
    fn keys_share_one_hash_tag_that_ids_cannot_break() {
        let p = Partition::app("c}{:id", "T");
        let k = Keys::new("msal", &p);
        let blob = k.blob(&Sub::Resource("api://x/{y}".into()));
        assert_eq!(blob, "msal:{app%3Ac%7D%7B%3Aid%3At}:r:api%3A%2F%2Fx%2F%7By%7D");
        assert!(k.index().starts_with("msal:{app%3Ac%7D%7B%3Aid%3At}:"));
        assert_eq!(
            Sub::from_name(blob.rsplit_once("}:").unwrap().1),
            Some(Sub::Resource("api://x/{y}".into()))
        );
        assert_eq!(Keys::partition_of_index("msal", &k.index()), Some(p));
        assert_eq!(Keys::index_pattern("a*b"), "a\\*b:{*}:i");
    }

    #[test]
    fn ids_round_trip_and_junk_is_refused() {
        for p in [Partition::app("C", "t"), Partition::user("U.T"), Partition::on_behalf_of("x")] {
            assert_eq!(Partition::from_id(p.id()), Some(p.clone()));
        }
        for bad in ["", "app", "app:x", "obo:12", "zzz:1", "user"] {
            assert_eq!(Partition::from_id(bad), None, "{bad}");
        }
    }
}
