//! The Redis link shared by every namespace adapter of a server (and by the emitter): one
//! connection that publishes, one that is subscribed, both reconnecting by themselves.
//!
//! Built on the `redis` crate's `ConnectionManager` over RESP3: subscription messages arrive as
//! push messages, and so does the notice that the connection dropped. On that notice the link
//! marks itself down (operations that need Redis then fail at once with a clear error instead of
//! hanging), and a task pings until Redis answers again, then subscribes to every channel and
//! pattern again (a restarted Redis has forgotten them) before marking the link up. The
//! connection manager's own retry budget is bounded, so the ping loop is what keeps trying for
//! as long as it takes.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushKind};
use tokio::sync::mpsc;

use crate::AdapterError;

/// How many outgoing messages may wait for the publisher before publishing fails
/// (a bounded queue: when Redis cannot keep up, callers get an error, memory does not grow).
const PUBLISH_QUEUE: usize = 16 * 1024;

/// How many queued messages are sent in one pipeline.
const PUBLISH_BATCH: usize = 256;

/// Timeouts and retry pacing of the link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long a command may wait for its reply.
    pub response_timeout: Duration,
    /// The longest pause between two reconnection attempts.
    pub max_retry_delay: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(3),
            max_retry_delay: Duration::from_secs(1),
        }
    }
}

/// A message received on a subscribed channel.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The channel it was published on.
    pub channel: String,
    /// The payload.
    pub payload: Bytes,
}

/// Receives the messages of the link (each adapter registers one).
pub trait MessageHandler: Send + Sync + 'static {
    /// Called in publication order, on the link's dispatch task: must not block.
    fn on_message(&self, message: &Incoming);
}

#[derive(Default)]
struct Subscriptions {
    channels: BTreeSet<String>,
    patterns: BTreeSet<String>,
    shard_channels: BTreeSet<String>,
}

struct Shared {
    // Owned here (not by the background tasks, which hold `Weak<Shared>`) so that dropping the
    // last `RedisLink` closes the connection and ends the tasks.
    subscriber: ConnectionManager,
    publisher: ConnectionManager,
    up: AtomicBool,
    subscriptions: Mutex<Subscriptions>,
    handlers: Mutex<HashMap<u64, Weak<dyn MessageHandler>>>,
    next_handler: AtomicU64,
    reconnecting: AtomicBool,
}

struct PublishJob {
    channel: String,
    payload: Bytes,
    sharded: bool,
    /// Told the number of receivers (or the error) once Redis answered, for awaited publishes.
    done: Option<tokio::sync::oneshot::Sender<Result<usize, String>>>,
}

/// The shared Redis link. Cheap to clone.
#[derive(Clone)]
pub struct RedisLink {
    publisher: ConnectionManager,
    subscriber: ConnectionManager,
    shared: Arc<Shared>,
    queue: mpsc::Sender<PublishJob>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// Handle of a registered [`MessageHandler`]; unregisters it when dropped.
pub struct HandlerGuard {
    shared: Weak<Shared>,
    id: u64,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.handlers.lock().remove(&self.id);
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Unavailable(format!("redis: {e}"))
}

/// Opens a `redis` client for `url` with RESP3 (needed for push messages).
pub fn client_for(url: impl IntoConnectionInfo) -> Result<Client, redis::RedisError> {
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Client::open(info.set_redis_settings(settings))
}

/// Bounded timeouts and retries, so that a command fails with an error while Redis is away
/// instead of waiting for it indefinitely.
pub(crate) fn manager_config(config: &LinkConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout))
        .set_max_delay(config.max_retry_delay)
        .set_number_of_retries(2)
}

impl RedisLink {
    /// Connects both connections (fails if Redis cannot be reached now).
    pub async fn connect(client: Client, config: LinkConfig) -> Result<Self, redis::RedisError> {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let publisher = client
            .get_connection_manager_with_config(manager_config(&config))
            .await?;
        // The redis crate hands push messages to an unbounded channel of its own; ours is
        // unbounded too, since a bound here could only drop or stall the connection's reader.
        // The dispatch task drains it without awaiting anything.
        let subscriber = client
            .get_connection_manager_with_config(manager_config(&config).set_push_sender(push_tx))
            .await?;
        let shared = Arc::new(Shared {
            subscriber: subscriber.clone(),
            publisher: publisher.clone(),
            up: AtomicBool::new(true),
            subscriptions: Mutex::new(Subscriptions::default()),
            handlers: Mutex::new(HashMap::new()),
            next_handler: AtomicU64::new(0),
            reconnecting: AtomicBool::new(false),
        });
        let (queue, queue_rx) = mpsc::channel(PUBLISH_QUEUE);
        let link = RedisLink {
            publisher,
            subscriber,
            shared,
            queue,
        };
        tokio::spawn(dispatch(Arc::downgrade(&link.shared), push_rx));
        tokio::spawn(publish_loop(link.publisher.clone(), queue_rx));
        Ok(link)
    }

    /// Whether the subscriber connection is currently up (and subscribed).
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    fn check_up(&self) -> Result<(), AdapterError> {
        if self.is_up() {
            Ok(())
        } else {
            Err(AdapterError::Unavailable(
                "redis connection lost; reconnecting".to_owned(),
            ))
        }
    }

    /// Registers a handler for every message the link receives.
    pub fn register(&self, handler: Weak<dyn MessageHandler>) -> HandlerGuard {
        let id = self.shared.next_handler.fetch_add(1, Ordering::Relaxed);
        self.shared.handlers.lock().insert(id, handler);
        HandlerGuard {
            shared: Arc::downgrade(&self.shared),
            id,
        }
    }

    /// Subscribes to channels (`SUBSCRIBE`), remembered for resubscription.
    pub async fn subscribe(&self, channels: &[String]) -> Result<(), AdapterError> {
        self.shared
            .subscriptions
            .lock()
            .channels
            .extend(channels.iter().cloned());
        self.subscriber
            .clone()
            .subscribe(channels)
            .await
            .map_err(unavailable)
    }

    /// Subscribes to a pattern (`PSUBSCRIBE`), remembered for resubscription.
    pub async fn psubscribe(&self, pattern: &str) -> Result<(), AdapterError> {
        self.shared
            .subscriptions
            .lock()
            .patterns
            .insert(pattern.to_owned());
        self.subscriber
            .clone()
            .psubscribe(pattern)
            .await
            .map_err(unavailable)
    }

    /// Subscribes to a shard channel (`SSUBSCRIBE`), remembered for resubscription.
    pub async fn ssubscribe(&self, channel: &str) -> Result<(), AdapterError> {
        self.shared
            .subscriptions
            .lock()
            .shard_channels
            .insert(channel.to_owned());
        redis::cmd("SSUBSCRIBE")
            .arg(channel)
            .exec_async(&mut self.subscriber.clone())
            .await
            .map_err(unavailable)
    }

    /// Forgets and unsubscribes channels, patterns and shard channels.
    pub async fn unsubscribe(
        &self,
        channels: &[String],
        patterns: &[String],
        shard_channels: &[String],
    ) -> Result<(), AdapterError> {
        {
            let mut subs = self.shared.subscriptions.lock();
            for c in channels {
                subs.channels.remove(c);
            }
            for p in patterns {
                subs.patterns.remove(p);
            }
            for c in shard_channels {
                subs.shard_channels.remove(c);
            }
        }
        let mut conn = self.subscriber.clone();
        if !channels.is_empty() {
            conn.unsubscribe(channels).await.map_err(unavailable)?;
        }
        if !patterns.is_empty() {
            conn.punsubscribe(patterns).await.map_err(unavailable)?;
        }
        for c in shard_channels {
            redis::cmd("SUNSUBSCRIBE")
                .arg(c)
                .exec_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Queues a message for publication, in order with every other queued message. Fails at
    /// once when the link is known to be down or the queue is full.
    pub fn publish_queued(
        &self,
        channel: String,
        payload: Bytes,
        sharded: bool,
    ) -> Result<(), AdapterError> {
        self.check_up()?;
        self.queue
            .try_send(PublishJob {
                channel,
                payload,
                sharded,
                done: None,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    AdapterError::Unavailable("redis publish queue full".to_owned())
                }
                mpsc::error::TrySendError::Closed(_) => {
                    AdapterError::Unavailable("redis link closed".to_owned())
                }
            })
    }

    /// Publishes a message (`PUBLISH` or `SPUBLISH`) in order with every queued message and
    /// waits for Redis to take it. Returns the number of subscribers that received it.
    pub async fn publish(
        &self,
        channel: &str,
        payload: Bytes,
        sharded: bool,
    ) -> Result<usize, AdapterError> {
        self.check_up()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .send(PublishJob {
                channel: channel.to_owned(),
                payload,
                sharded,
                done: Some(tx),
            })
            .await
            .map_err(|_| AdapterError::Unavailable("redis link closed".to_owned()))?;
        match rx.await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(AdapterError::Unavailable("redis link closed".to_owned())),
        }
    }

    /// The number of subscribers of `channel` (`PUBSUB NUMSUB`, or `PUBSUB SHARDNUMSUB`).
    pub async fn numsub(&self, channel: &str, sharded: bool) -> Result<usize, AdapterError> {
        self.check_up()?;
        let reply: (String, usize) = redis::cmd("PUBSUB")
            .arg(if sharded { "SHARDNUMSUB" } else { "NUMSUB" })
            .arg(channel)
            .query_async::<Vec<(String, usize)>>(&mut self.publisher.clone())
            .await
            .map_err(unavailable)?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(reply.1)
    }
}

/// Forwards subscription messages to the handlers, and notices disconnections.
async fn dispatch(link: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<redis::PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(shared) = link.upgrade() else {
            return;
        };
        match push.kind {
            PushKind::Disconnection => {
                shared.up.store(false, Ordering::Release);
                tracing::warn!("redis subscriber connection lost; reconnecting");
                if !shared.reconnecting.swap(true, Ordering::AcqRel) {
                    tokio::spawn(resubscribe(Arc::downgrade(&shared)));
                }
            }
            PushKind::Message | PushKind::PMessage | PushKind::SMessage => {
                let Some(msg) = redis::Msg::from_push_info(push) else {
                    continue;
                };
                let (Ok(channel), Ok(payload)) =
                    (msg.get_channel::<String>(), msg.get_payload::<Bytes>())
                else {
                    continue;
                };
                let incoming = Incoming { channel, payload };
                let handlers: Vec<Arc<dyn MessageHandler>> = shared
                    .handlers
                    .lock()
                    .values()
                    .filter_map(Weak::upgrade)
                    .collect();
                for handler in handlers {
                    handler.on_message(&incoming);
                }
            }
            _ => {}
        }
    }
}

/// Pings until Redis answers, subscribes to everything again, then marks the link up.
async fn resubscribe(shared: Weak<Shared>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut conn = strong.subscriber.clone();
        let mut publisher = strong.publisher.clone();
        let (channels, patterns, shard_channels) = {
            let s = strong.subscriptions.lock();
            (
                s.channels.iter().cloned().collect::<Vec<_>>(),
                s.patterns.iter().cloned().collect::<Vec<_>>(),
                s.shard_channels.iter().cloned().collect::<Vec<_>>(),
            )
        };
        drop(strong);
        let attempt = async {
            // Holds a clone of the connection only for this attempt.
            redis::cmd("PING").exec_async(&mut conn).await?;
            // The publisher lost its connection too; a PING makes sure it has a new one before
            // the link is marked up (else the first messages after the restart would be lost).
            redis::cmd("PING").exec_async(&mut publisher).await?;
            if !channels.is_empty() {
                conn.subscribe(&channels).await?;
            }
            if !patterns.is_empty() {
                conn.psubscribe(&patterns).await?;
            }
            for c in &shard_channels {
                redis::cmd("SSUBSCRIBE")
                    .arg(c)
                    .exec_async(&mut conn)
                    .await?;
            }
            Ok::<(), redis::RedisError>(())
        };
        match attempt.await {
            Ok(()) => {
                if let Some(strong) = shared.upgrade() {
                    strong.reconnecting.store(false, Ordering::Release);
                    strong.up.store(true, Ordering::Release);
                    tracing::info!("redis subscriber reconnected and resubscribed");
                }
                return;
            }
            Err(e) => {
                tracing::debug!("redis still unavailable: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Sends queued messages in order, several per round trip.
async fn publish_loop(mut conn: ConnectionManager, mut rx: mpsc::Receiver<PublishJob>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut waiters = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for job in batch.drain(..) {
            pipe.cmd(if job.sharded { "SPUBLISH" } else { "PUBLISH" })
                .arg(job.channel)
                .arg(job.payload.as_ref());
            waiters.push(job.done);
        }
        match pipe.query_async::<Vec<usize>>(&mut conn).await {
            Ok(counts) => {
                for (done, count) in waiters.drain(..).zip(counts) {
                    if let Some(done) = done {
                        let _ = done.send(Ok(count));
                    }
                }
            }
            Err(e) => {
                // Fire-and-forget messages are lost, like the reference's; awaited ones report
                // the error. The next ones go out once Redis is back.
                tracing::warn!("redis publish failed: {e}");
                for done in waiters.drain(..).flatten() {
                    let _ = done.send(Err(e.to_string()));
                }
            }
        }
        // Waiters not answered above (fewer replies than commands) learn it by the drop.
        waiters.clear();
    }
}
