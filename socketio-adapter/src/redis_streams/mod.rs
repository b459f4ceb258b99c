//! The Redis Streams cluster adapter and its emitter (cargo feature `redis-streams`):
//! connection state recovery across the nodes of a cluster.
//!
//! Wire-compatible with npm `@socket.io/redis-streams-adapter` 0.3.1: Rust and Node.js nodes
//! share one cluster, and a client recovers its session (sid, rooms, `data`, missed packets)
//! on whichever node it reconnects to, ours or a Node.js one.
//!
//! # How it works (as the reference)
//!
//! - Broadcasts, remote join/leave and remote disconnect are entries of a Redis stream
//!   (`XADD socket.io MAXLEN ~ 10000 * uid … nsp … type … data …`, see [`wire`]); each entry's id
//!   is the *offset* a client with recovery on receives as the last argument of each event.
//!   With `stream_count` > 1, a namespace's entries go to `socket.io-<hashCode(nsp) % count>`.
//!   Every node reads every stream with `XREAD BLOCK`.
//! - Requests that wait for answers (fetch sockets, server-side emit, broadcast with ack) and
//!   their responses are pub/sub messages (msgpack) on `socket.io#<nsp>#` and
//!   `socket.io#<nsp>#<uid>#`. The number of nodes is `PUBSUB NUMSUB socket.io#<nsp>#` (no
//!   heartbeat: the reference's streams adapter sends none).
//! - On a recoverable disconnection the session is saved as `sio:session:<pid>` (base64 msgpack,
//!   expiring after `maxDisconnectionDuration`); any node restores it with `GET`+`DEL` and replays
//!   the stream entries after the client's offset that target the session's rooms.
//!
//! # Modules
//!
//! - this module: [`StreamsAdapterConfig`], the factory and the shared `XADD` writer;
//! - `adapter`: the [`StreamsAdapter`] of one namespace and the entries it writes;
//! - `adapter::operations`: its [`Adapter`] implementation (the hooks);
//! - `crate::redis::cluster` (shared with the pub/sub adapter): request/response correlation of
//!   the ephemeral requests, and answering the other nodes;
//! - `adapter::responder`: what it does with the other nodes' entries and messages;
//! - `adapter::sessions`: session records (persist, restore and replay, live records);
//! - `emitter`: [`StreamsEmitter`], broadcasting from outside a server;
//! - `live`: the records of live sockets kept in Redis;
//! - `reader`: the `XREAD` loop of each stream;
//! - [`wire`]: the entry and message formats.
//!
//! # Beyond the reference
//!
//! - **Sessions of live sockets are kept in Redis** ([`StreamsAdapterConfig::live_sessions`],
//!   on by default): written when a socket connects and when its rooms change (batched every
//!   250 ms), and refreshed every 5 s (`PEXPIRE`, or `SET` when rooms or `data` changed) with an
//!   expiry of `maxDisconnectionDuration` + 10 s. So the clients of a node killed with SIGKILL,
//!   which never saved their sessions, recover on another node.
//! - **Exactly-once replay.** The reference replays up to the end of the stream, then the
//!   socket joins: an entry read by the node between the two is lost, one read after is
//!   delivered twice. Here the replay stops at the last entry this node has dispatched, and the
//!   entries dispatched while the session is being restored are held for it (the few dispatched
//!   in the instant between the restore and the join are sent 5 ms after the join, so after the
//!   server's CONNECT reply).
//! - **In stream order.** With recovery on, a node delivers its own broadcasts to its sockets
//!   when it reads them back from the stream, so every client sees every node's broadcasts in
//!   offset order (the reference delivers its own at once: a client may get offset 5 before
//!   offset 4, and after reconnecting with offset 4 it gets 5 a second time).
//! - Offsets are checked (`<ms>-<seq>`), session records are checked against their key (a
//!   record naming another pid is refused), a trimmed offset or a replay that could not be read
//!   whole gives a fresh session, never a partial one.
//!
//! # Faults
//!
//! While Redis is away, local delivery keeps working (without offsets), operations that need
//! Redis fail at once with [`AdapterError::Unavailable`](crate::AdapterError), and readers retry
//! from the last id they read, so nothing is read twice. Entries that could not be written while
//! Redis was away are lost for the other nodes and for recovery: that is the gap. A Redis
//! restarted without persistence starts an empty stream; a client whose offset is gone starts a
//! fresh session.
//!
//! ```no_run
//! # async fn demo() -> Result<(), redis::RedisError> {
//! use socketio_adapter::redis_streams::{StreamsAdapterConfig, StreamsAdapterFactory};
//!
//! let factory =
//!     StreamsAdapterFactory::connect("redis://127.0.0.1:6379", StreamsAdapterConfig::default())
//!         .await?;
//! // give `factory` to the server builder as its adapter factory, with connection state
//! // recovery on
//! # Ok(()) }
//! ```

mod adapter;
mod emitter;
mod live;
mod reader;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

pub use adapter::StreamsAdapter;
pub use emitter::{StreamsEmitter, StreamsEmitterOperator};
pub use wire::StreamId;

use crate::redis::connection::{client_for, manager_config, LinkConfig, RedisLink};
use crate::redis::DEFAULT_REQUEST_TIMEOUT;
use crate::{Adapter, AdapterContext, AdapterError, AdapterFactory};

/// How many entries may wait for `XADD` before broadcasting fails (bounded memory).
const XADD_QUEUE: usize = 16 * 1024;
/// How many queued entries are written in one pipeline.
const XADD_BATCH: usize = 256;

/// Settings of the streams adapter (the reference's option names and defaults).
///
/// ```
/// use std::time::Duration;
/// use socketio_adapter::redis_streams::StreamsAdapterConfig;
///
/// let config = StreamsAdapterConfig::default()
///     .stream_name("myapp")
///     .stream_count(4)
///     .max_len(50_000)
///     .live_sessions(Some(Duration::from_secs(3)));
/// assert_eq!(config.stream_for("/"), "myapp-3");
/// ```
#[derive(Debug, Clone)]
pub struct StreamsAdapterConfig {
    stream_name: String,
    stream_count: u32,
    channel_prefix: String,
    use_sharded_pubsub: bool,
    max_len: u64,
    read_count: u32,
    block_time: Duration,
    session_key_prefix: String,
    only_plaintext: bool,
    request_timeout: Duration,
    live_sessions: Option<Duration>,
    link: LinkConfig,
}

impl Default for StreamsAdapterConfig {
    fn default() -> Self {
        StreamsAdapterConfig {
            stream_name: "socket.io".to_owned(),
            stream_count: 1,
            channel_prefix: "socket.io".to_owned(),
            use_sharded_pubsub: false,
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_millis(5000),
            session_key_prefix: "sio:session:".to_owned(),
            only_plaintext: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            live_sessions: Some(Duration::from_secs(5)),
            link: LinkConfig::default(),
        }
    }
}

impl StreamsAdapterConfig {
    /// The stream name (option `streamName`, default `socket.io`).
    #[must_use]
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// The number of streams namespaces are spread over (option `streamCount`, default 1).
    #[must_use]
    pub fn stream_count(mut self, count: u32) -> Self {
        self.stream_count = count.max(1);
        self
    }

    /// The prefix of the pub/sub channels (option `channelPrefix`, default `socket.io`).
    #[must_use]
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Sharded pub/sub for the ephemeral messages (option `useShardedPubSub`, default off).
    #[must_use]
    pub fn use_sharded_pubsub(mut self, on: bool) -> Self {
        self.use_sharded_pubsub = on;
        self
    }

    /// The approximate length streams are trimmed to (option `maxLen`, default 10 000).
    #[must_use]
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len;
        self
    }

    /// Entries read per `XREAD` (option `readCount`, default 100).
    #[must_use]
    pub fn read_count(mut self, count: u32) -> Self {
        self.read_count = count.max(1);
        self
    }

    /// How long one `XREAD` blocks (option `blockTimeInMs`, default 5 s).
    #[must_use]
    pub fn block_time(mut self, block: Duration) -> Self {
        self.block_time = block;
        self
    }

    /// The prefix of session keys (option `sessionKeyPrefix`, default `sio:session:`).
    #[must_use]
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_key_prefix = prefix.into();
        self
    }

    /// Always JSON, binary data included (option `onlyPlaintext`, default off).
    #[must_use]
    pub fn only_plaintext(mut self, on: bool) -> Self {
        self.only_plaintext = on;
        self
    }

    /// How long a request waits for the other nodes. Default 5 s.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Keep the session records of live sockets in Redis, refreshed at this period (`None`:
    /// only on disconnection, like the reference). Default 5 s.
    #[must_use]
    pub fn live_sessions(mut self, refresh: Option<Duration>) -> Self {
        self.live_sessions = refresh.filter(|d| !d.is_zero());
        self
    }

    /// Connection timeouts and retry pacing of the Redis connections.
    #[must_use]
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.link = link;
        self
    }

    /// The stream of namespace `nsp`.
    pub fn stream_for(&self, nsp: &str) -> String {
        wire::stream_for(&self.stream_name, self.stream_count, nsp)
    }

    /// The streams every node reads: `name`, or `name-0` … `name-<count-1>`.
    fn base_streams(&self) -> Vec<String> {
        if self.stream_count <= 1 {
            vec![self.stream_name.clone()]
        } else {
            (0..self.stream_count)
                .map(|i| format!("{}-{i}", self.stream_name))
                .collect()
        }
    }
}

/// One `XADD` waiting for the writer.
struct XAddJob {
    stream: String,
    fields: Vec<(&'static str, Bytes)>,
    /// Told the entry id (or the error), for awaited writes.
    done: Option<oneshot::Sender<Result<String, String>>>,
    /// Run when the write failed (e.g. to deliver locally what will never be read back).
    on_fail: Option<Box<dyn FnOnce() + Send>>,
}

/// What the factory's adapters share.
pub(crate) struct Shared {
    pub(crate) config: StreamsAdapterConfig,
    client: redis::Client,
    pub(crate) link: RedisLink,
    /// Commands (`SET`, `GET`/`DEL`, `XRANGE`) go through a clone of this connection.
    pub(crate) conn: ConnectionManager,
    xadd: mpsc::Sender<XAddJob>,
    /// The adapter of each namespace, for the readers.
    adapters: RwLock<HashMap<String, Weak<StreamsAdapter>>>,
    /// Streams with a running reader, and the id each reader started after.
    readers: Mutex<HashMap<String, Option<StreamId>>>,
}

impl Shared {
    /// Queues an `XADD`, in order with every other queued one.
    fn xadd_queued(&self, job: XAddJob) -> Result<(), AdapterError> {
        if !self.link.is_up() {
            return Err(AdapterError::Unavailable(
                "redis connection lost; reconnecting".to_owned(),
            ));
        }
        self.xadd.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                AdapterError::Unavailable("redis stream write queue full".to_owned())
            }
            mpsc::error::TrySendError::Closed(_) => {
                AdapterError::Unavailable("redis link closed".to_owned())
            }
        })
    }

    /// Writes an entry in order with the queued ones and waits for its id.
    async fn xadd(
        &self,
        stream: String,
        fields: Vec<(&'static str, Bytes)>,
    ) -> Result<String, AdapterError> {
        let (tx, rx) = oneshot::channel();
        self.xadd_queued(XAddJob {
            stream,
            fields,
            done: Some(tx),
            on_fail: None,
        })?;
        match rx.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(AdapterError::Unavailable(format!("redis: {e}"))),
            Err(_) => Err(AdapterError::Unavailable("redis link closed".to_owned())),
        }
    }

    /// The id the reader of `stream` started after (`None` if it has not started yet).
    pub(crate) fn reader_start(&self, stream: &str) -> Option<StreamId> {
        self.readers.lock().get(stream).copied().flatten()
    }

    fn adapter_for(&self, nsp: &str) -> Option<Arc<StreamsAdapter>> {
        self.adapters.read().get(nsp).and_then(Weak::upgrade)
    }
}

/// Creates the [`StreamsAdapter`] of every namespace; all share the Redis connections (one for
/// commands, one subscribed, one per stream read).
#[derive(Clone)]
pub struct StreamsAdapterFactory {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamsAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapterFactory")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl StreamsAdapterFactory {
    /// Connects to Redis at `url` and starts reading the streams.
    pub async fn connect(
        url: &str,
        config: StreamsAdapterConfig,
    ) -> Result<Self, redis::RedisError> {
        let client = client_for(url)?;
        let link = RedisLink::connect(client.clone(), config.link.clone()).await?;
        let conn = client
            .get_connection_manager_with_config(manager_config(&config.link))
            .await?;
        let (xadd, xadd_rx) = mpsc::channel(XADD_QUEUE);
        tokio::spawn(xadd_loop(conn.clone(), xadd_rx, config.max_len));
        let shared = Arc::new(Shared {
            config,
            client,
            link,
            conn,
            xadd,
            adapters: RwLock::new(HashMap::new()),
            readers: Mutex::new(HashMap::new()),
        });
        for stream in shared.config.base_streams() {
            reader::start(&shared, stream).await?;
        }
        Ok(StreamsAdapterFactory { shared })
    }

    /// The shared pub/sub link (e.g. to check [`RedisLink::is_up`]).
    pub fn link(&self) -> &RedisLink {
        &self.shared.link
    }

    /// The settings.
    pub fn config(&self) -> &StreamsAdapterConfig {
        &self.shared.config
    }
}

impl AdapterFactory for StreamsAdapterFactory {
    fn create(&self, ctx: AdapterContext) -> Arc<dyn Adapter> {
        let adapter = StreamsAdapter::new(ctx, self.shared.clone());
        let stream = adapter.stream().to_owned();
        self.shared
            .adapters
            .write()
            .insert(adapter.nsp().to_owned(), Arc::downgrade(&adapter));
        // A namespace whose hash is negative maps to a stream outside `name-0..count` (the
        // reference never reads it, see `wire::stream_for`): ours reads it.
        if !self.shared.readers.lock().contains_key(&stream) {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                if let Err(e) = reader::start(&shared, stream.clone()).await {
                    tracing::warn!(%stream, "cannot start reading the stream: {e}");
                }
            });
        }
        adapter
    }
}

/// Writes queued entries in order, several per round trip.
async fn xadd_loop(mut conn: ConnectionManager, mut rx: mpsc::Receiver<XAddJob>, max_len: u64) {
    let mut batch = Vec::with_capacity(XADD_BATCH);
    while rx.recv_many(&mut batch, XADD_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for job in &batch {
            let cmd = pipe
                .cmd("XADD")
                .arg(&job.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len)
                .arg("*");
            for (k, v) in &job.fields {
                cmd.arg(*k).arg(v.as_ref());
            }
        }
        match pipe.query_async::<Vec<String>>(&mut conn).await {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                for job in batch.drain(..) {
                    match (ids.next(), job.done) {
                        (Some(id), Some(done)) => {
                            let _ = done.send(Ok(id));
                        }
                        (None, _) => {
                            if let Some(f) = job.on_fail {
                                f();
                            }
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!("redis XADD failed: {e}");
                for job in batch.drain(..) {
                    if let Some(done) = job.done {
                        let _ = done.send(Err(e.to_string()));
                    }
                    if let Some(f) = job.on_fail {
                        f();
                    }
                }
            }
        }
    }
}
