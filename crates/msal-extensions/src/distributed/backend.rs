//! What the cache needs from Redis (the L2), as one small trait with a
//! blocking implementation ([`super::sync_redis`]) and an async one
//! ([`super::async_redis`]). The cache logic is written once, as `async`
//! code over this trait; the blocking front end drives it with [`block_on`],
//! which never has to wait because the blocking backend's futures are
//! always ready.
//!
//! Every command is a Lua script or a plain command touching the keys of one
//! partition only, all in one hash slot: they run the same on one server and
//! on a cluster, and on any server speaking Redis 7's protocol (Valkey too).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::BoxError;

/// Compare-and-set of one document: store `data` under version `version` if
/// the stored version is still `expected` (`""`: the key is absent). An
/// empty `data` deletes the document. Sets the key's expiry (only ever
/// extending it when `extend_only`) and records the document in the
/// partition's index. On a conflict, answers with the stored version and
/// value, so a retry needs no second read.
pub(crate) const CAS_SCRIPT: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'v')
if cur == false then cur = '' end
if cur ~= ARGV[1] then
  if cur == '' then return {0} end
  return {0, cur, redis.call('HGET', KEYS[1], 'd')}
end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[6])
  return {1}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
local function expire(k, at, extend)
  if extend and redis.call('PTTL', k) >= 0 then
    redis.call('PEXPIREAT', k, at, 'GT')
  else
    redis.call('PEXPIREAT', k, at)
  end
end
expire(KEYS[1], ARGV[4], ARGV[5] == '1')
redis.call('HSET', KEYS[2], ARGV[6], ARGV[4])
expire(KEYS[2], ARGV[4], true)
return {1}
"#;

/// Reads a document unless it is still at the version the caller knows:
/// `{0}` absent, `{1}` unchanged, `{2, version, data}` otherwise.
pub(crate) const READ_SCRIPT: &str = r#"
local v = redis.call('HGET', KEYS[1], 'v')
if v == false then return {0} end
if v == ARGV[1] then return {1} end
return {2, v, redis.call('HGET', KEYS[1], 'd')}
"#;

/// Deletes a partition: every document its index names, then the index.
/// The documents share the index's hash slot (same hash tag).
pub(crate) const DELETE_SCRIPT: &str = r#"
local subs = redis.call('HKEYS', KEYS[1])
for _, s in ipairs(subs) do redis.call('DEL', ARGV[1] .. s) end
redis.call('DEL', KEYS[1])
return #subs
"#;

/// `EVAL` of a script: sent whole every time (a few hundred bytes), so a
/// restarted or failed-over server, whose script cache is empty, answers
/// the first call like any other, in one round trip (`EVALSHA` would fail
/// with `NOSCRIPT` and need two more).
fn eval(script: &str, keys: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(keys.len()).arg(keys);
    c
}

/// [`READ_SCRIPT`] for `key`, `known` being the version the caller holds.
pub(crate) fn read_cmd(key: &str, known: Option<&str>) -> redis::Cmd {
    let mut c = eval(READ_SCRIPT, &[key]);
    c.arg(known.unwrap_or(""));
    c
}

/// [`CAS_SCRIPT`] with `a`.
pub(crate) fn cas_cmd(a: &CasArgs<'_>) -> redis::Cmd {
    let mut c = eval(CAS_SCRIPT, &[a.key, a.index]);
    c.arg(a.expected).arg(a.version).arg(a.data).arg(a.expire_at_ms);
    c.arg(if a.extend_only { "1" } else { "0" }).arg(a.sub);
    c
}

/// One page of `SCAN` for keys matching `pattern`, from `cursor` (0 starts).
pub(crate) fn scan_cmd(cursor: u64, pattern: &str) -> redis::Cmd {
    let mut c = redis::cmd("SCAN");
    c.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
    c
}

/// A pipeline of [`CAS_SCRIPT`]s.
pub(crate) fn cas_pipe(args: &[CasArgs<'_>]) -> redis::Pipeline {
    let mut p = redis::pipe();
    for a in args {
        p.add_command(cas_cmd(a));
    }
    p
}

/// Decodes the replies of [`cas_pipe`].
pub(crate) fn cas_replies(v: Vec<redis::Value>) -> L2Result<Vec<Cas>> {
    v.into_iter().map(cas_reply).collect()
}

/// [`DELETE_SCRIPT`] for the partition whose index is `index`.
pub(crate) fn delete_cmd(index: &str, head: &str) -> redis::Cmd {
    let mut c = eval(DELETE_SCRIPT, &[index]);
    c.arg(head);
    c
}

/// The answer to a read.
#[derive(Debug)]
pub(crate) enum Read {
    Absent,
    /// Still at the version the caller knows.
    Unchanged,
    Value {
        version: String,
        data: Vec<u8>,
    },
}

/// The answer to a compare-and-set.
#[derive(Debug)]
pub(crate) enum Cas {
    Stored,
    /// The expected version was not there, and neither is any document.
    Absent,
    /// Another writer got there first: its version and value.
    Conflict {
        version: String,
        data: Vec<u8>,
    },
}

/// The arguments of [`CAS_SCRIPT`].
#[derive(Debug)]
pub(crate) struct CasArgs<'a> {
    pub(crate) key: &'a str,
    pub(crate) index: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) expected: &'a str,
    pub(crate) version: &'a str,
    pub(crate) data: &'a [u8],
    pub(crate) expire_at_ms: i64,
    pub(crate) extend_only: bool,
}

/// Redis did not answer in time, or failed: a timeout has no source.
#[derive(Debug)]
pub(crate) struct L2Error(pub(crate) Option<BoxError>);

impl L2Error {
    pub(crate) fn timeout() -> Self {
        L2Error(None)
    }
}

impl From<redis::RedisError> for L2Error {
    fn from(e: redis::RedisError) -> Self {
        L2Error(Some(Box::new(e)))
    }
}

pub(crate) type L2Result<T> = Result<T, L2Error>;

/// The L2 operations, each bounded by `deadline`.
pub(crate) trait Backend: Send + Sync + 'static {
    /// `redis://host:port` of the server or first cluster node, for messages.
    fn endpoint(&self) -> &str;

    /// [`READ_SCRIPT`].
    fn read(
        &self,
        key: &str,
        known: Option<&str>,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Read>> + Send;

    /// [`CAS_SCRIPT`].
    fn cas(&self, args: &CasArgs<'_>, deadline: Instant) -> impl Future<Output = L2Result<Cas>> + Send;

    /// Many [`CAS_SCRIPT`]s of one partition in one pipeline (one round
    /// trip, and one `fsync` on a server with `appendfsync always`).
    fn cas_many(
        &self,
        args: &[CasArgs<'_>],
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Vec<Cas>>> + Send;

    /// The index of a partition: sub-partition name → expiry (unix ms).
    fn index(
        &self,
        key: &str,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Vec<(String, i64)>>> + Send;

    /// [`DELETE_SCRIPT`]; `head` is the common start of the partition's keys.
    fn delete_partition(
        &self,
        index: &str,
        head: &str,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<()>> + Send;

    /// Every key matching `pattern` on every master.
    fn scan(&self, pattern: &str, deadline: Instant) -> impl Future<Output = L2Result<Vec<String>>> + Send;

    /// `PING`.
    fn ping(&self, deadline: Instant) -> impl Future<Output = L2Result<()>> + Send;

    /// Waits (a conflict backoff).
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// Decodes the reply of [`CAS_SCRIPT`].
pub(crate) fn cas_reply(v: redis::Value) -> L2Result<Cas> {
    let mut items = array(v)?.into_iter();
    match items.next().and_then(int) {
        Some(1) => Ok(Cas::Stored),
        Some(0) => match (items.next(), items.next()) {
            (None, _) => Ok(Cas::Absent),
            (Some(v), Some(d)) => Ok(Cas::Conflict { version: string(v)?, data: bytes(d)? }),
            _ => Err(unexpected()),
        },
        _ => Err(unexpected()),
    }
}

/// Decodes the reply of [`READ_SCRIPT`].
pub(crate) fn read_reply(v: redis::Value) -> L2Result<Read> {
    let mut items = array(v)?.into_iter();
    match (items.next().and_then(int), items.next(), items.next()) {
        (Some(0), ..) => Ok(Read::Absent),
        (Some(1), ..) => Ok(Read::Unchanged),
        (Some(2), Some(v), Some(d)) => Ok(Read::Value { version: string(v)?, data: bytes(d)? }),
        _ => Err(unexpected()),
    }
}

/// Decodes `HGETALL` of an index.
pub(crate) fn index_reply(v: redis::Value) -> L2Result<Vec<(String, i64)>> {
    let pairs: Vec<(String, i64)> = redis::from_redis_value(v).map_err(|e| L2Error(Some(Box::new(e))))?;
    Ok(pairs)
}

fn array(v: redis::Value) -> L2Result<Vec<redis::Value>> {
    match v {
        redis::Value::Array(a) | redis::Value::Set(a) => Ok(a),
        _ => Err(unexpected()),
    }
}

fn int(v: redis::Value) -> Option<i64> {
    match v {
        redis::Value::Int(i) => Some(i),
        _ => None,
    }
}

fn bytes(v: redis::Value) -> L2Result<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Ok(b),
        redis::Value::SimpleString(s) => Ok(s.into_bytes()),
        _ => Err(unexpected()),
    }
}

fn string(v: redis::Value) -> L2Result<String> {
    String::from_utf8(bytes(v)?).map_err(|_| unexpected())
}

fn unexpected() -> L2Error {
    L2Error(Some("the server answered a script with an unexpected shape".into()))
}

/// Time left until `deadline`, at least 1 ms (a zero socket timeout means
/// "no timeout" to the OS).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
}

/// Runs a future that never has to wait (the blocking backend's futures are
/// ready at once) to completion on this thread.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // Not reached with the blocking backend; yield rather than spin hot.
        std::thread::yield_now();
    }
}
