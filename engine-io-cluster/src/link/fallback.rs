//! The link over the `redis` crate's `ConnectionManager`: for the URL forms
//! the node's own connection ([`super::direct`]) does not handle (`rediss://`,
//! `unix:`). One connection, subscribed to the node's own channel, that also
//! publishes; it reconnects by itself.
//!
//! Over RESP3 a subscribed connection takes any command, and the
//! subscription's messages arrive as push messages. One connection rather
//! than a publisher and a subscriber: Redis then writes a node its replies
//! and its messages in one write, and the node reads them in one read:
//! fewer system calls on both sides, which is most of a foreign request's
//! cost. The notice that the connection dropped is a push message too: the
//! link is then marked down
//! (foreign requests fail at once with "Session ID unknown" rather than
//! hang), and [`Link::resubscribe`](super::Link::resubscribe) pings until Redis answers, subscribes
//! again (a restarted Redis forgot the subscription) and marks it up. The
//! same scheme as the Socket.IO Redis adapter's link, for one channel.

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use std::time::Duration;

use super::Push;
use tokio::sync::{mpsc, oneshot};

/// How many publications may wait for the publisher (bounded: when Redis
/// cannot keep up, publishing fails and the request gets its 400).
const PUBLISH_QUEUE: usize = 16 * 1024;
/// How many queued publications go out in one pipeline.
const PUBLISH_BATCH: usize = 256;

struct PublishJob {
    channel: String,
    payload: Bytes,
    done: Done,
}

/// Who learns how many nodes got a publication.
enum Done {
    /// A task awaits the count ([`Link::publish`](super::Link::publish)).
    Reply(oneshot::Sender<Result<usize, redis::RedisError>>),
    /// Called with whether any node got it ([`Link::send`](super::Link::send)).
    Then(Box<dyn FnOnce(bool) + Send>),
    /// Nobody.
    Ignore,
}

impl Done {
    fn complete(self, res: Result<usize, redis::RedisError>) {
        match self {
            Done::Reply(tx) => {
                let _ = tx.send(res);
            }
            Done::Then(f) => f(matches!(res, Ok(n) if n > 0)),
            Done::Ignore => {}
        }
    }
}

/// The Redis connection of one node, over the `redis` crate.
pub(super) struct Fallback {
    queue: mpsc::Sender<PublishJob>,
    conn: ConnectionManager,
    channel: String,
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(timeout))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2)
}

/// What the node learns from a push of the `redis` crate.
fn push_of(info: PushInfo) -> Option<Push> {
    match info.kind {
        PushKind::Disconnection => Some(Push::Disconnected),
        PushKind::Message => {
            let msg = redis::Msg::from_push_info(info)?;
            Some(match msg.get_payload::<Bytes>() {
                Ok(payload) => Push::Message(payload),
                Err(_) => Push::Garbage,
            })
        }
        _ => None,
    }
}

impl Fallback {
    /// Connects and subscribes to `channel`. The push messages (the
    /// channel's messages, disconnection notices) go to `on_push`.
    pub(super) async fn connect(
        info: ConnectionInfo,
        channel: String,
        timeout: Duration,
        on_push: impl Fn(Push) + Send + Sync + 'static,
    ) -> Result<Fallback, redis::RedisError> {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        // Small request/answer messages: Nagle would hold a PUBLISH written
        // while an earlier one is unacknowledged.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client = Client::open(info.set_redis_settings(settings).set_tcp_settings(tcp))?;
        // The connection's reader hands each push to `on_push` as it parses
        // it: no channel and no task between Redis and the node (a foreign
        // request's message is acted on in the read that brought it).
        // `on_push` never awaits, so it cannot stall the reader.
        let push = move |info: PushInfo| -> Result<(), std::convert::Infallible> {
            if let Some(push) = push_of(info) {
                on_push(push);
            }
            Ok(())
        };
        let mut conn = client
            .get_connection_manager_with_config(manager_config(timeout).set_push_sender(push))
            .await?;
        conn.subscribe(&channel).await?;
        let (queue, jobs) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(conn.clone(), jobs));
        Ok(Fallback {
            queue,
            conn,
            channel,
        })
    }

    /// Publishes `payload` on `channel`; the number of nodes that got it.
    /// Concurrent publications share round trips (one pipeline).
    pub(super) async fn publish(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> Result<usize, redis::RedisError> {
        let closed = || redis::RedisError::from((redis::ErrorKind::Io, "publisher gone"));
        let (done, answer) = oneshot::channel();
        let job = PublishJob {
            channel: channel.to_owned(),
            payload,
            done: Done::Reply(done),
        };
        self.queue.try_send(job).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Publishes `payload` on `channel` without waiting: `then`, if any, is
    /// called with whether a node got it (`false` at once when the
    /// publisher's queue is full or gone). For answers sent from the
    /// link's reader, where nothing may await.
    pub(super) fn send(
        &self,
        channel: &str,
        payload: Bytes,
        then: Option<Box<dyn FnOnce(bool) + Send>>,
    ) {
        let job = PublishJob {
            channel: channel.to_owned(),
            payload,
            done: then.map_or(Done::Ignore, Done::Then),
        };
        if let Err(e) = self.queue.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            job.done.complete(Ok(0));
        }
    }

    /// How many subscribers each channel has (`PUBSUB NUMSUB`), in order.
    pub(super) async fn numsub(
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

    /// The value of `key`, if it has one.
    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, redis::RedisError> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Sets `key` to `value` for `secs` seconds.
    pub(super) async fn set_ex(
        &self,
        key: &str,
        value: &[u8],
        secs: u64,
    ) -> Result<(), redis::RedisError> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(secs)
            .exec_async(&mut self.conn.clone())
            .await
    }

    /// Deletes `key`.
    pub(super) async fn del(&self, key: &str) -> Result<(), redis::RedisError> {
        redis::cmd("DEL")
            .arg(key)
            .exec_async(&mut self.conn.clone())
            .await
    }

    /// One attempt to come back: the connection answers, the channel is
    /// subscribed again; then the link is up.
    pub(super) async fn resubscribe(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").exec_async(&mut conn).await?;
        conn.subscribe(&self.channel).await
    }

    /// Leaves the node's channel.
    pub(super) async fn unsubscribe(&self) -> Result<(), redis::RedisError> {
        self.conn.clone().unsubscribe(&self.channel).await
    }
}

/// Sends queued publications, as many per round trip as are waiting, and
/// those for one channel in one Redis message (a batch).
async fn publish_loop(mut conn: ConnectionManager, mut jobs: mpsc::Receiver<PublishJob>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut groups: Vec<super::Batch<Done>> = Vec::new();
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
            super::add_to_batch(&mut groups, &job.channel, job.payload, job.done);
        }
        let mut pipe = redis::pipe();
        for g in &groups {
            pipe.cmd("PUBLISH")
                .arg(&g.channel)
                .arg(crate::message::batch(&g.messages).as_ref());
        }
        match pipe.query_async::<Vec<usize>>(&mut conn).await {
            Ok(counts) => {
                for (i, g) in groups.drain(..).enumerate() {
                    // Fewer replies than commands: those without one count as unheard.
                    let n = counts.get(i).copied().unwrap_or(0);
                    for done in g.done {
                        done.complete(Ok(n));
                    }
                }
            }
            Err(e) => {
                for g in groups.drain(..) {
                    for done in g.done {
                        done.complete(Err(e.clone()));
                    }
                }
            }
        }
    }
}
