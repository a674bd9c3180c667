//! The async L2: the `redis` crate's `ConnectionManager` (one multiplexed
//! connection that reconnects itself with exponential backoff) for one
//! server, its async cluster connection for a cluster. Every operation is
//! bounded by the caller's deadline with a tokio timer.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Client;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;

use super::backend::{
    Backend, Cas, CasArgs, L2Error, L2Result, Read, cas_cmd, cas_pipe, cas_replies, cas_reply, delete_cmd,
    index_reply, read_cmd, read_reply, remaining, scan_cmd,
};
use super::servers::{self, Servers};
use crate::error::Result;

enum Nodes {
    Single(ConnectionManager),
    /// Connected on first use (connecting is async), and again after a failure to connect.
    Cluster(Box<(ClusterClient, Mutex<Option<ClusterConnection>>, redis::ConnectionInfo)>),
}

/// A connection handle for one operation (both kinds are cheap clones of a
/// multiplexed connection).
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Async access to one Redis server or one Redis Cluster.
pub(crate) struct AsyncRedis {
    nodes: Nodes,
    endpoint: String,
}

impl AsyncRedis {
    /// Must run inside a tokio runtime (the connection manager spawns its
    /// reconnection tasks there). Does not connect.
    pub(crate) fn new(servers: &Servers, timeout: Duration) -> Result<Self> {
        let nodes = match servers {
            Servers::Single(url) => {
                let client = Client::open(url.as_str()).map_err(|e| servers::bad_url(url, e))?;
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_secs(1));
                Nodes::Single(
                    ConnectionManager::new_lazy_with_config(client, cfg)
                        .map_err(|e| servers::bad_url(url, e))?,
                )
            }
            Servers::Cluster(urls) => Nodes::Cluster(Box::new((
                ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3)
                    .min_retry_wait(5)
                    .max_retry_wait(50)
                    .build()
                    .map_err(|e| servers::bad_url(&urls.join(","), e))?,
                Mutex::new(None),
                servers::first_info(urls)?,
            ))),
        };
        Ok(AsyncRedis { nodes, endpoint: servers.endpoint() })
    }

    async fn conn(&self) -> L2Result<Conn> {
        match &self.nodes {
            Nodes::Single(m) => Ok(Conn::Single(m.clone())),
            Nodes::Cluster(c) => {
                let (client, slot, _) = &**c;
                if let Some(c) = slot.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                    return Ok(Conn::Cluster(c));
                }
                let c = client.get_async_connection().await?;
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                Ok(Conn::Cluster(c))
            }
        }
    }

    /// Runs `op` on a connection, bounded by `deadline`.
    async fn with<T, E, F, Fut>(&self, deadline: Instant, op: F) -> L2Result<T>
    where
        E: Into<L2Error>,
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let work = async {
            let conn = self.conn().await?;
            op(conn).await.map_err(Into::into)
        };
        match tokio::time::timeout(remaining(deadline), work).await {
            Ok(r) => r,
            Err(_) => Err(L2Error::timeout()),
        }
    }

    async fn scan_all(&self, pattern: &str, deadline: Instant) -> L2Result<Vec<String>> {
        let first = match &self.nodes {
            Nodes::Single(_) => {
                return self
                    .with(deadline, |mut c| async move { scan_node(&mut c, pattern, deadline).await })
                    .await;
            }
            Nodes::Cluster(c) => &c.2,
        };
        let masters = self
            .with(deadline, |mut c| async move {
                let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut c).await?;
                Ok::<_, redis::RedisError>(servers::masters_of(slots))
            })
            .await?;
        let mut keys = Vec::new();
        for (host, port) in masters {
            let info = servers::node_info(first, &host, port);
            let work = async {
                let mut conn = Client::open(info)?.get_multiplexed_async_connection().await?;
                scan_node(&mut conn, pattern, deadline).await
            };
            let found =
                tokio::time::timeout(remaining(deadline), work).await.map_err(|_| L2Error::timeout())??;
            keys.extend(found);
        }
        Ok(keys)
    }
}

/// `SCAN` of one node, to the end or to `deadline` (checked between pages;
/// the caller's timer bounds a page).
async fn scan_node<C: ConnectionLike + Send>(
    conn: &mut C,
    pattern: &str,
    deadline: Instant,
) -> L2Result<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Err(L2Error::timeout());
        }
        let (next, batch): (u64, Vec<String>) = scan_cmd(cursor, pattern).query_async(conn).await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

impl Backend for AsyncRedis {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn read(&self, key: &str, known: Option<&str>, deadline: Instant) -> L2Result<Read> {
        let cmd = read_cmd(key, known);
        read_reply(self.with(deadline, |mut c| async move { cmd.query_async(&mut c).await }).await?)
    }

    async fn cas(&self, a: &CasArgs<'_>, deadline: Instant) -> L2Result<Cas> {
        let cmd = cas_cmd(a);
        cas_reply(self.with(deadline, |mut c| async move { cmd.query_async(&mut c).await }).await?)
    }

    async fn cas_many(&self, args: &[CasArgs<'_>], deadline: Instant) -> L2Result<Vec<Cas>> {
        // Every key of a partition is in one slot, so a cluster connection
        // sends the whole pipeline to one node.
        let pipe = cas_pipe(args);
        let replies = self
            .with(deadline, |mut c| async move { pipe.query_async::<Vec<redis::Value>>(&mut c).await })
            .await?;
        cas_replies(replies)
    }

    async fn index(&self, key: &str, deadline: Instant) -> L2Result<Vec<(String, i64)>> {
        let v = self
            .with(deadline, |mut c| async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await })
            .await?;
        index_reply(v)
    }

    async fn delete_partition(&self, index: &str, head: &str, deadline: Instant) -> L2Result<()> {
        let cmd = delete_cmd(index, head);
        self.with(deadline, |mut c| async move { cmd.query_async::<i64>(&mut c).await.map(drop) }).await
    }

    async fn scan(&self, pattern: &str, deadline: Instant) -> L2Result<Vec<String>> {
        self.scan_all(pattern, deadline).await
    }

    async fn ping(&self, deadline: Instant) -> L2Result<()> {
        self.with(deadline, |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await.map(drop)
        })
        .await
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

impl std::fmt::Debug for AsyncRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRedis").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}
