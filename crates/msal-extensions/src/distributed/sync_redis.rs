//! The blocking L2: the `redis` crate's synchronous connections, pooled.
//!
//! A connection is taken from the pool for one operation and put back only
//! if the operation succeeded; one that failed is dropped, so the next
//! operation reconnects. Every socket read, write and connect is bounded by
//! the time left until the caller's deadline.

use std::future::{Future, ready};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::{Client, Connection, ConnectionLike};

use super::backend::{
    Backend, Cas, CasArgs, L2Error, L2Result, Read, cas_cmd, cas_pipe, cas_replies, cas_reply, delete_cmd,
    index_reply, read_cmd, read_reply, remaining,
};
use super::servers::{self, Servers};
use crate::error::Result;

enum Nodes {
    Single(Client),
    /// The client, and the settings of the first node (for the others' listing connections).
    Cluster(Box<(ClusterClient, redis::ConnectionInfo)>),
}

enum Conn {
    Single(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    fn set_timeouts(&self, t: Duration) -> redis::RedisResult<()> {
        match self {
            Conn::Single(c) => {
                c.set_read_timeout(Some(t))?;
                c.set_write_timeout(Some(t))
            }
            Conn::Cluster(c) => {
                c.set_read_timeout(Some(t))?;
                c.set_write_timeout(Some(t))
            }
        }
    }

    fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => &mut **c,
        }
    }
}

/// Blocking access to one Redis server or one Redis Cluster.
pub(crate) struct SyncRedis {
    nodes: Nodes,
    pool: Mutex<Vec<Conn>>,
    endpoint: String,
}

impl SyncRedis {
    pub(crate) fn new(servers: &Servers, timeout: Duration) -> Result<Self> {
        let nodes = match servers {
            Servers::Single(url) => {
                Nodes::Single(Client::open(url.as_str()).map_err(|e| servers::bad_url(url, e))?)
            }
            Servers::Cluster(urls) => Nodes::Cluster(Box::new((
                ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    // Redirections and reconnects are retried a few times,
                    // briefly; the caller's deadline bounds the whole call.
                    .retries(3)
                    .min_retry_wait(5)
                    .max_retry_wait(50)
                    .build()
                    .map_err(|e| servers::bad_url(&urls.join(","), e))?,
                servers::first_info(urls)?,
            ))),
        };
        Ok(SyncRedis { nodes, pool: Mutex::new(Vec::new()), endpoint: servers.endpoint() })
    }

    fn take(&self, deadline: Instant) -> L2Result<Conn> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect(deadline)?,
        };
        conn.set_timeouts(remaining(deadline))?;
        Ok(conn)
    }

    fn connect(&self, deadline: Instant) -> L2Result<Conn> {
        match &self.nodes {
            Nodes::Single(c) => Ok(Conn::Single(c.get_connection_with_timeout(remaining(deadline))?)),
            Nodes::Cluster(c) => Ok(Conn::Cluster(Box::new(c.0.get_connection()?))),
        }
    }

    /// Runs `f` on a pooled connection; keeps the connection only on success.
    fn with<T>(&self, deadline: Instant, f: impl FnOnce(&mut Conn) -> redis::RedisResult<T>) -> L2Result<T> {
        if Instant::now() >= deadline {
            return Err(L2Error::timeout());
        }
        let mut conn = self.take(deadline)?;
        let out = f(&mut conn)?;
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        Ok(out)
    }

    fn scan_all(&self, pattern: &str, deadline: Instant) -> L2Result<Vec<String>> {
        match &self.nodes {
            Nodes::Single(_) => self.with(deadline, |c| scan_node(c.like(), pattern)),
            Nodes::Cluster(c) => {
                let first = &c.1;
                let masters = self.with(deadline, |c| {
                    let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(c.like())?;
                    Ok(servers::masters_of(slots))
                })?;
                let mut keys = Vec::new();
                for (host, port) in masters {
                    let client = Client::open(servers::node_info(first, &host, port))?;
                    let mut conn = client.get_connection_with_timeout(remaining(deadline))?;
                    conn.set_read_timeout(Some(remaining(deadline)))?;
                    keys.extend(scan_node(&mut conn, pattern)?);
                }
                Ok(keys)
            }
        }
    }
}

/// `SCAN` of one node, to the end.
pub(crate) fn scan_node(conn: &mut dyn ConnectionLike, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).query(conn)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

impl Backend for SyncRedis {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn read(
        &self,
        key: &str,
        known: Option<&str>,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Read>> + Send {
        ready(self.with(deadline, |c| read_cmd(key, known).query(c.like())).and_then(read_reply))
    }

    fn cas(&self, a: &CasArgs<'_>, deadline: Instant) -> impl Future<Output = L2Result<Cas>> + Send {
        ready(self.with(deadline, |c| cas_cmd(a).query(c.like())).and_then(cas_reply))
    }

    fn cas_many(
        &self,
        args: &[CasArgs<'_>],
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Vec<Cas>>> + Send {
        ready(
            self.with(deadline, |c| match c {
                Conn::Single(c) => cas_pipe(args).query::<Vec<redis::Value>>(c),
                // Every key of a partition is in one slot: the cluster
                // pipeline sends the whole batch to one node.
                Conn::Cluster(c) => {
                    let mut cp = redis::cluster::cluster_pipe();
                    for a in args {
                        cp.add_command(cas_cmd(a));
                    }
                    cp.query::<Vec<redis::Value>>(c)
                }
            })
            .and_then(cas_replies),
        )
    }

    fn index(
        &self,
        key: &str,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<Vec<(String, i64)>>> + Send {
        ready(self.with(deadline, |c| redis::cmd("HGETALL").arg(key).query(c.like())).and_then(index_reply))
    }

    fn delete_partition(
        &self,
        index: &str,
        head: &str,
        deadline: Instant,
    ) -> impl Future<Output = L2Result<()>> + Send {
        ready(self.with(deadline, |c| delete_cmd(index, head).query::<i64>(c.like()).map(drop)))
    }

    fn scan(&self, pattern: &str, deadline: Instant) -> impl Future<Output = L2Result<Vec<String>>> + Send {
        ready(self.scan_all(pattern, deadline))
    }

    fn ping(&self, deadline: Instant) -> impl Future<Output = L2Result<()>> + Send {
        ready(self.with(deadline, |c| redis::cmd("PING").query::<String>(c.like()).map(drop)))
    }

    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(d);
        ready(())
    }
}

impl std::fmt::Debug for SyncRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRedis").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}
