//! The node's Redis link: one connection, subscribed to the node's own
//! channel, that also publishes; it reconnects by itself.
//!
//! Over RESP3 a subscribed connection takes any command, and the
//! subscription's messages arrive as push messages. One connection rather
//! than a publisher and a subscriber: Redis then writes a node its replies
//! and its messages in one write, and the node reads them in one read:
//! fewer system calls on both sides, which is most of a foreign request's
//! cost. The notice that the connection dropped is a push message too: the
//! link is then marked down
//! (foreign requests fail at once with "Session ID unknown" rather than
//! hang), and [`Link::resubscribe`] pings until Redis answers, subscribes
//! again (a restarted Redis forgot the subscription) and marks it up. The
//! same scheme as the Socket.IO Redis adapter's link, for one channel.

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How many publications may wait for the publisher (bounded: when Redis
/// cannot keep up, publishing fails and the request gets its 400).
const PUBLISH_QUEUE: usize = 16 * 1024;
/// How many queued publications go out in one pipeline.
const PUBLISH_BATCH: usize = 256;

struct PublishJob {
    channel: String,
    payload: Bytes,
    done: oneshot::Sender<Result<usize, redis::RedisError>>,
}

/// The Redis connection of one node.
pub(crate) struct Link {
    queue: mpsc::Sender<PublishJob>,
    conn: ConnectionManager,
    up: AtomicBool,
    pub(crate) reconnecting: AtomicBool,
    channel: String,
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(timeout))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2)
}

impl Link {
    /// Connects and subscribes to `channel`. The push
    /// messages (the channel's messages, disconnection notices) arrive on the
    /// returned receiver.
    pub(crate) async fn connect(
        url: impl IntoConnectionInfo,
        channel: String,
        timeout: Duration,
    ) -> Result<(Link, mpsc::UnboundedReceiver<PushInfo>), redis::RedisError> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        // Unbounded as the redis crate's own push channel: a bound here could
        // only stall the connection's reader. The node's loop never awaits.
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let mut conn = client
            .get_connection_manager_with_config(manager_config(timeout).set_push_sender(push_tx))
            .await?;
        conn.subscribe(&channel).await?;
        let (queue, jobs) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(conn.clone(), jobs));
        let link = Link {
            queue,
            conn,
            up: AtomicBool::new(true),
            reconnecting: AtomicBool::new(false),
            channel,
        };
        Ok((link, push_rx))
    }

    /// Whether the subscription is up.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn set_down(&self) {
        self.up.store(false, Ordering::Release);
    }

    /// Publishes `payload` on `channel`; the number of nodes that got it.
    /// Concurrent publications share round trips (one pipeline).
    pub(crate) async fn publish(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> Result<usize, redis::RedisError> {
        let closed = || redis::RedisError::from((redis::ErrorKind::Io, "publisher gone"));
        let (done, answer) = oneshot::channel();
        let job = PublishJob {
            channel: channel.to_owned(),
            payload,
            done,
        };
        self.queue.try_send(job).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// How many subscribers each channel has (`PUBSUB NUMSUB`), in order.
    pub(crate) async fn numsub(
        &self,
        channels: &[String],
    ) -> Result<Vec<usize>, redis::RedisError> {
        let reply: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channels)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(reply.into_iter().map(|(_, n)| n).collect())
    }

    /// One attempt to come back: the connection answers, the channel is
    /// subscribed again; then the link is up.
    pub(crate) async fn resubscribe(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").exec_async(&mut conn).await?;
        conn.subscribe(&self.channel).await?;
        self.reconnecting.store(false, Ordering::Release);
        self.up.store(true, Ordering::Release);
        Ok(())
    }

    /// Leaves the node's channel.
    pub(crate) async fn unsubscribe(&self) -> Result<(), redis::RedisError> {
        self.conn.clone().unsubscribe(&self.channel).await
    }
}

/// Past this size a batch is closed and the next message starts another:
/// Redis's pub/sub output buffers are bounded (32 MB by default), and a
/// large message gains nothing from company.
const BATCH_BYTES: usize = 64 * 1024;

/// One `PUBLISH`: the messages queued for one channel, and who waits on them.
struct Group {
    channel: String,
    messages: Vec<Bytes>,
    bytes: usize,
    done: Vec<oneshot::Sender<Result<usize, redis::RedisError>>>,
}

/// Sends queued publications, as many per round trip as are waiting, and
/// those for one channel in one Redis message (a batch).
async fn publish_loop(mut conn: ConnectionManager, mut jobs: mpsc::Receiver<PublishJob>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut groups: Vec<Group> = Vec::new();
    while jobs.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        // Let the rest of this scheduler tick (the other requests that are
        // ready now) queue theirs too: one write to Redis for all of them.
        tokio::task::yield_now().await;
        while batch.len() < PUBLISH_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        for job in batch.drain(..) {
            // Few channels (one per other node): a linear search is the fastest.
            let open = groups
                .iter_mut()
                .rev()
                .find(|g| g.channel == job.channel)
                .filter(|g| g.bytes + job.payload.len() <= BATCH_BYTES);
            match open {
                Some(g) => {
                    g.bytes += job.payload.len();
                    g.messages.push(job.payload);
                    g.done.push(job.done);
                }
                None => groups.push(Group {
                    channel: job.channel,
                    bytes: job.payload.len(),
                    messages: vec![job.payload],
                    done: vec![job.done],
                }),
            }
        }
        let mut pipe = redis::pipe();
        for g in &groups {
            pipe.cmd("PUBLISH")
                .arg(&g.channel)
                .arg(crate::message::batch(&g.messages).as_ref());
        }
        match pipe.query_async::<Vec<usize>>(&mut conn).await {
            Ok(counts) => {
                for (g, n) in groups.drain(..).zip(counts) {
                    for done in g.done {
                        let _ = done.send(Ok(n));
                    }
                }
            }
            Err(e) => {
                for g in groups.drain(..) {
                    for done in g.done {
                        let _ = done.send(Err(e.clone()));
                    }
                }
            }
        }
        // Jobs without a reply (fewer replies than commands) learn it by the drop.
        groups.clear();
    }
}
