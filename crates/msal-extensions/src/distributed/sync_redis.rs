//! The blocking L2: the `redis` crate's synchronous connections, pooled.
//!
//! A connection is taken from the pool for one operation and put back only
//! if the operation succeeded; one that failed is dropped, so the next
//! operation reconnects. Every socket read, write and connect is bounded by
//! the time left until the caller's deadline; connecting to a cluster, which
//! the `redis` crate does node by node with its own timeouts, is bounded by
//! waiting for it on a helper thread.

use std::future::{Future, ready};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::{Client, Connection, ConnectionLike, IntoConnectionInfo};

use super::backend::{
    Backend, Cas, CasArgs, L2Error, L2Result, Read, cas_cmd, cas_pipe, cas_replies, cas_reply, delete_cmd,
    index_reply, read_cmd, read_reply, remaining, scan_cmd,
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
    /// Shared with the helper threads that connect to a cluster.
    pool: Arc<Mutex<Vec<Conn>>>,
    endpoint: String,
}

impl SyncRedis {
    pub(crate) fn new(servers: &Servers, timeout: Duration) -> Result<Self> {
        let nodes = match servers {
            Servers::Single(url) => {
                let info = url.as_str().into_connection_info().map_err(|e| servers::bad_url(url, e))?;
                let info = servers::without_setinfo(info);
                Nodes::Single(Client::open(info).map_err(|e| servers::bad_url(url, e))?)
            }
            Servers::Cluster(urls) => Nodes::Cluster(Box::new((
                ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    // No retries: the crate's retry of a timed-out command
                    // reconnects and waits a whole response timeout again,
                    // several bounds in all. A failed call is an outage to
                    // the engine, whose probe and queue take over; a moved
                    // slot is learned by the next connection.
                    .retries(0)
                    .build()
                    .map_err(|e| servers::bad_url(&urls.join(","), e))?,
                servers::first_info(urls)?,
            ))),
        };
        Ok(SyncRedis { nodes, pool: Arc::new(Mutex::new(Vec::new())), endpoint: servers.endpoint() })
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
            Nodes::Cluster(c) => self.connect_cluster(&c.0, deadline),
        }
    }

    /// Connects to the cluster on a helper thread, waiting for it until
    /// `deadline`: the `redis` crate tries the nodes one after the other,
    /// each with the whole connection and response timeouts. A connection
    /// made after the deadline goes to the pool for the next operation.
    fn connect_cluster(&self, client: &ClusterClient, deadline: Instant) -> L2Result<Conn> {
        let (tx, rx) = mpsc::channel();
        let (client, pool) = (client.clone(), self.pool.clone());
        std::thread::Builder::new()
            .name("msal-distributed-connect".into())
            .spawn(move || {
                if let Err(mpsc::SendError(Ok(late))) = tx.send(client.get_connection()) {
                    pool.lock().unwrap_or_else(|p| p.into_inner()).push(Conn::Cluster(Box::new(late)));
                }
            })
            .map_err(|e| L2Error(Some(Box::new(e))))?;
        match rx.recv_timeout(remaining(deadline)) {
            Ok(conn) => Ok(Conn::Cluster(Box::new(conn?))),
            Err(_) => Err(L2Error::timeout()),
        }
    }

    /// Runs `f` on a pooled connection; keeps the connection only on success.
    fn with<T, E: Into<L2Error>>(
        &self,
        deadline: Instant,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> L2Result<T> {
        if Instant::now() >= deadline {
            return Err(L2Error::timeout());
        }
        let mut conn = self.take(deadline)?;
        let out = f(&mut conn).map_err(Into::into)?;
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        Ok(out)
    }

    fn scan_all(&self, pattern: &str, deadline: Instant) -> L2Result<Vec<String>> {
        match &self.nodes {
            Nodes::Single(_) => self.with(deadline, |c| scan_node(c, pattern, deadline)),
            Nodes::Cluster(c) => {
                let first = &c.1;
                let masters = self.with(deadline, |c| {
                    let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(c.like())?;
                    Ok::<_, redis::RedisError>(servers::masters_of(slots))
                })?;
                let mut keys = Vec::new();
                for (host, port) in masters {
                    if Instant::now() >= deadline {
                        return Err(L2Error::timeout());
                    }
                    let info = servers::without_setinfo(servers::node_info(first, &host, port));
                    let conn = Client::open(info)?.get_connection_with_timeout(remaining(deadline))?;
                    keys.extend(scan_node(&mut Conn::Single(conn), pattern, deadline)?);
                }
                Ok(keys)
            }
        }
    }
}

/// `SCAN` of one node, to the end or to `deadline`: each page waits only
/// for the time left.
fn scan_node(conn: &mut Conn, pattern: &str, deadline: Instant) -> L2Result<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Err(L2Error::timeout());
        }
        conn.set_timeouts(remaining(deadline))?;
        let (next, batch): (u64, Vec<String>) = scan_cmd(cursor, pattern).query(conn.like())?;
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
                // The replies are read one by one, each for the time left:
                // the crate's pipeline read would wait the whole socket
                // timeout for every reply, even after one timed out.
                Conn::Single(c) => {
                    c.send_packed_command(&cas_pipe(args).get_packed_pipeline())?;
                    let mut replies = Vec::with_capacity(args.len());
                    for _ in args {
                        if Instant::now() >= deadline {
                            return Err(L2Error::timeout());
                        }
                        c.set_read_timeout(Some(remaining(deadline)))?;
                        replies.push(c.recv_response()?);
                    }
                    Ok(replies)
                }
                // Every key of a partition is in one slot: the cluster
                // pipeline sends the whole batch to one node.
                Conn::Cluster(c) => {
                    let mut cp = redis::cluster::cluster_pipe();
                    for a in args {
                        cp.add_command(cas_cmd(a));
                    }
                    Ok(cp.query::<Vec<redis::Value>>(c)?)
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
