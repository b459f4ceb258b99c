//! The node's Redis link: one connection, subscribed to the node's own
//! channel, that also publishes.
//!
//! Over RESP3 a subscribed connection takes any command, and the
//! subscription's messages arrive as push messages. One connection rather
//! than a publisher and a subscriber: Redis then writes a node its replies
//! and its messages in one write, and the node reads them in one read.
//!
//! For `redis://` URLs (TCP) the link is the node's own RESP3 connection
//! ([`direct`]): a PUBLISH is written by the caller at once, with no task,
//! channel or oneshot between the request and the socket, and the reader
//! hands each push straight to the node. Other URL forms (`rediss://`,
//! `unix:`) use the `redis` crate's `ConnectionManager` ([`fallback`]), as
//! before.
//!
//! When the connection drops, the node gets [`Push::Disconnected`]: the link
//! is marked down (foreign requests fail at once with "Session ID unknown"
//! rather than hang), and [`Link::resubscribe`] is tried until Redis answers:
//! it subscribes again (a restarted Redis forgot the subscription) and marks
//! the link up.

mod direct;
mod fallback;

use crate::resp::Value;
use bytes::Bytes;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the link tells the node, from its reader (the callback never awaits).
#[derive(Debug)]
pub(crate) enum Push {
    /// A message on the node's channel.
    Message(Bytes),
    /// A message on the node's channel that is not a string.
    Garbage,
    /// The connection dropped.
    Disconnected,
}

/// Called with whether a publication reached a node (`false` at once when
/// the link is down or its queue is full).
pub(crate) type Then = Box<dyn FnOnce(bool) + Send>;

/// Past this size a batch is closed and the next publication starts
/// another: Redis's pub/sub output buffers are bounded (32 MB by default),
/// and a large message gains nothing from company.
const BATCH_BYTES: usize = 64 * 1024;

/// Publications to one channel that go out as one PUBLISH of a
/// [`crate::message::batch`], and who learns of each (`D`).
struct Batch<D> {
    channel: String,
    messages: Vec<Bytes>,
    bytes: usize,
    done: Vec<D>,
}

/// Adds a publication to its channel's open batch, or opens one. Few
/// channels (one per other node): a linear search is the fastest.
fn add_to_batch<D>(batches: &mut Vec<Batch<D>>, channel: &str, payload: Bytes, done: D) {
    let open = batches
        .iter_mut()
        .rev()
        .find(|b| b.channel == channel)
        .filter(|b| b.bytes + payload.len() <= BATCH_BYTES);
    match open {
        Some(b) => {
            b.bytes += payload.len();
            b.messages.push(payload);
            b.done.push(done);
        }
        None => batches.push(Batch {
            channel: channel.to_owned(),
            bytes: payload.len(),
            messages: vec![payload],
            done: vec![done],
        }),
    }
}

enum Conn {
    Direct(direct::Direct),
    Fallback(fallback::Fallback),
}

/// The Redis connection of one node.
pub(crate) struct Link {
    conn: Conn,
    up: AtomicBool,
    pub(crate) reconnecting: AtomicBool,
}

impl Link {
    /// Connects and subscribes to `channel`; pushes go to `on_push`.
    pub(crate) async fn connect(
        url: impl IntoConnectionInfo,
        channel: String,
        timeout: Duration,
        on_push: impl Fn(Push) + Send + Sync + 'static,
    ) -> Result<Link, RedisError> {
        let info = url.into_connection_info()?;
        let conn = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Conn::Direct(
                direct::Direct::connect(
                    (host.clone(), *port),
                    info.redis_settings(),
                    channel,
                    timeout,
                    on_push,
                )
                .await?,
            ),
            _ => {
                Conn::Fallback(fallback::Fallback::connect(info, channel, timeout, on_push).await?)
            }
        };
        Ok(Link {
            conn,
            up: AtomicBool::new(true),
            reconnecting: AtomicBool::new(false),
        })
    }

    /// Whether the subscription is up.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn set_down(&self) {
        self.up.store(false, Ordering::Release);
    }

    /// Publishes `payload` on `channel`; the number of nodes that got it.
    pub(crate) async fn publish(&self, channel: &str, payload: Bytes) -> Result<usize, RedisError> {
        match &self.conn {
            Conn::Direct(c) => c.publish(channel, payload).await,
            Conn::Fallback(c) => c.publish(channel, payload).await,
        }
    }

    /// Publishes `payload` on `channel` without waiting: `then`, if any, is
    /// called with whether a node got it. For the hot path and for answers
    /// sent from the link's reader, where nothing may await.
    pub(crate) fn send(&self, channel: &str, payload: Bytes, then: Option<Then>) {
        match &self.conn {
            Conn::Direct(c) => c.send(channel, payload, then),
            Conn::Fallback(c) => c.send(channel, payload, then),
        }
    }

    /// How many subscribers each channel has (`PUBSUB NUMSUB`), in order.
    pub(crate) async fn numsub(&self, channels: &[String]) -> Result<Vec<usize>, RedisError> {
        match &self.conn {
            Conn::Direct(c) => c.numsub(channels).await,
            Conn::Fallback(c) => c.numsub(channels).await,
        }
    }

    /// The local IP of the connection to Redis, when it is TCP (the
    /// address other nodes reach this one at, by default).
    pub(crate) fn local_ip(&self) -> Option<std::net::IpAddr> {
        match &self.conn {
            Conn::Direct(c) => c.local_ip(),
            Conn::Fallback(_) => None,
        }
    }

    /// The value of `key`, if it has one.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        match &self.conn {
            Conn::Direct(c) => match c.command(&[b"GET", key.as_bytes()]).await? {
                Value::Bulk(b) => Ok(Some(b.to_vec())),
                Value::Nil => Ok(None),
                other => Err(direct::unexpected(&other)),
            },
            Conn::Fallback(c) => c.get(key).await,
        }
    }

    /// Sets `key` to `value` for `secs` seconds.
    pub(crate) async fn set_ex(
        &self,
        key: &str,
        value: &[u8],
        secs: u64,
    ) -> Result<(), RedisError> {
        match &self.conn {
            Conn::Direct(c) => {
                let secs = secs.to_string();
                let args: [&[u8]; 5] = [b"SET", key.as_bytes(), value, b"EX", secs.as_bytes()];
                direct::ok(c.command(&args).await?)
            }
            Conn::Fallback(c) => c.set_ex(key, value, secs).await,
        }
    }

    /// Deletes `key`.
    pub(crate) async fn del(&self, key: &str) -> Result<(), RedisError> {
        match &self.conn {
            Conn::Direct(c) => direct::ok(c.command(&[b"DEL", key.as_bytes()]).await?),
            Conn::Fallback(c) => c.del(key).await,
        }
    }

    /// One attempt to come back: the connection answers, the channel is
    /// subscribed again; then the link is up.
    pub(crate) async fn resubscribe(&self) -> Result<(), RedisError> {
        match &self.conn {
            Conn::Direct(c) => c.resubscribe().await?,
            Conn::Fallback(c) => c.resubscribe().await?,
        }
        self.reconnecting.store(false, Ordering::Release);
        self.up.store(true, Ordering::Release);
        Ok(())
    }

    /// Leaves the node's channel.
    pub(crate) async fn unsubscribe(&self) -> Result<(), RedisError> {
        match &self.conn {
            Conn::Direct(c) => c.unsubscribe().await,
            Conn::Fallback(c) => c.unsubscribe().await,
        }
    }
}
