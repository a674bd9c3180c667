//! Which Redis the cache talks to, and the bits of connection handling both
//! backends share.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::{Error, Result};

/// One server, or the seed nodes of a cluster, as `redis://` URLs.
#[derive(Clone)]
pub(crate) enum Servers {
    Single(String),
    Cluster(Vec<String>),
}

impl Servers {
    /// The URL(s) without credentials or query, for messages.
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Servers::Single(u) => redact(u),
            Servers::Cluster(us) => {
                format!("cluster {}", us.iter().map(|u| redact(u)).collect::<Vec<_>>().join(","))
            }
        }
    }
}

/// `redis://user:pass@host:port/0?x` → `redis://host:port/0`.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = if path.is_empty() { String::new() } else { format!("/{path}") };
    if scheme.is_empty() { format!("{host}{path}") } else { format!("{scheme}://{host}{path}") }
}

/// A URL the client refused.
pub(crate) fn bad_url(url: &str, e: redis::RedisError) -> Error {
    Error::invalid("Redis URL", format!("{} is not usable: {}", redact(url), e.kind_description()))
}

/// Settings of the first cluster seed node.
pub(crate) fn first_info(urls: &[String]) -> Result<ConnectionInfo> {
    let first =
        urls.first().ok_or_else(|| Error::invalid("Redis URL", "a cluster needs at least one node"))?;
    first.as_str().into_connection_info().map_err(|e| bad_url(first, e))
}

/// `info` without the `CLIENT SETINFO` pair the client sends after
/// connecting: its two replies are read one after the other, each with the
/// whole connect timeout, so a server that accepts and never answers would
/// hold a blocking connect for twice the caller's bound.
pub(crate) fn without_setinfo(info: ConnectionInfo) -> ConnectionInfo {
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    info.set_redis_settings(settings)
}

/// `first`'s settings (credentials, TLS, protocol) at another node's address.
pub(crate) fn node_info(first: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match first.addr().clone() {
        ConnectionAddr::TcpTls { insecure, tls_params, .. } => {
            ConnectionAddr::TcpTls { host: host.to_owned(), port, insecure, tls_params }
        }
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    first.clone().set_addr(addr)
}

/// The masters' `(host, port)` in a `CLUSTER SLOTS` reply, each once.
pub(crate) fn masters_of(slots: redis::Value) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    let redis::Value::Array(ranges) = slots else { return out };
    for range in ranges {
        let redis::Value::Array(items) = range else { continue };
        let Some(redis::Value::Array(master)) = items.get(2) else { continue };
        let host: Option<String> = master.first().and_then(|v| redis::from_redis_value(v.clone()).ok());
        let port: Option<u16> = master.get(1).and_then(|v| redis::from_redis_value(v.clone()).ok());
        if let (Some(h), Some(p)) = (host, port)
            && !out.iter().any(|(oh, op)| *oh == h && *op == p)
        {
            out.push((h, p));
        }
    }
    out
}

/// A short description of a client error without its detail text, which for
/// some errors echoes the URL (and its password).
trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    fn kind_description(&self) -> String {
        format!("{:?}", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(redact("redis://u:p4ss@h:1/2?x=y"), "redis://h:1/2");
        assert_eq!(redact("rediss://:p4ss@h"), "rediss://h");
        assert_eq!(redact("h:1"), "h:1");
        let s = Servers::Cluster(vec!["redis://a:b@h1:1".into(), "redis://h2:2".into()]);
        assert_eq!(s.endpoint(), "cluster redis://h1:1,redis://h2:2");
    }

    #[test]
    fn masters_are_read_from_cluster_slots() {
        use redis::Value::{Array, BulkString, Int};
        let node =
            |p: i64| Array(vec![BulkString(b"127.0.0.1".to_vec()), Int(p), BulkString(b"id".to_vec())]);
        let slots = Array(vec![
            Array(vec![Int(0), Int(5), node(1), node(9)]),
            Array(vec![Int(6), Int(9), node(2)]),
            Array(vec![Int(10), Int(12), node(1)]),
        ]);
        assert_eq!(masters_of(slots), vec![("127.0.0.1".into(), 1), ("127.0.0.1".into(), 2)]);
    }
}
