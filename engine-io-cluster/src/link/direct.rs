//! The node's own RESP3 connection to Redis over TCP (the codec is
//! [`crate::resp`]).
//!
//! Written from the caller: a command is appended to the connection's write
//! buffer under a short lock and written at once (`try_write`) when no
//! flush is in flight; only when the socket is full does a flush task take
//! over, and what is queued meanwhile goes out in one write. No task hop,
//! channel or oneshot per publication. While the reader dispatches what one
//! read brought, the writes of the answers it sends are held back and go
//! out in one write after it (corked).
//!
//! Replies come in the order of the commands: each command that expects one
//! queues who waits for it, under the same lock as its bytes. A publication
//! whose subscriber count nobody needs goes out under `CLIENT REPLY SKIP`:
//! Redis then writes this node nothing for it, which saves a wake-up (a read
//! of its own, when the reply does not arrive with other bytes) per
//! publication. Pushes
//! (messages on the node's channel) go straight to the node from the
//! reader; the confirmation of a SUBSCRIBE or UNSUBSCRIBE is a push too, and
//! completes that command.

use super::{add_to_batch, Batch, Push, Then};
use crate::resp::{encode_command, Decoder, Value};
use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use redis::{ErrorKind, RedisConnectionInfo, RedisError};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// How many commands may wait for their replies (bounded: when Redis cannot
/// keep up, publishing fails and the request gets its 400).
const MAX_WAITING: usize = 16 * 1024;
/// How many bytes may wait to be written.
const MAX_UNWRITTEN: usize = 32 * 1024 * 1024;
/// The most bytes of frames still incomplete that the reader holds.
const MAX_READ_BUFFER: usize = crate::resp::MAX_BULK + 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Who waits for a reply.
enum Done {
    /// A task awaits the reply ([`Direct::command`]).
    Reply(oneshot::Sender<Result<Value, RedisError>>),
    /// Called with whether a node got the publication ([`Direct::send`]).
    Then(Then),
    /// Nobody: the command is sent with its reply skipped.
    Ignore,
    /// The publications of one batch (one PUBLISH, one reply).
    Each(Vec<Done>),
}

impl Done {
    fn complete(self, res: Result<Value, RedisError>) {
        match self {
            Done::Reply(tx) => {
                let _ = tx.send(res);
            }
            Done::Then(f) => f(matches!(res, Ok(Value::Int(n)) if n > 0)),
            Done::Ignore => {}
            Done::Each(all) => {
                for done in all {
                    done.complete(res.clone());
                }
            }
        }
    }
}

/// What completes a command: its reply, or the push confirming it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Reply,
    Push(&'static [u8]),
}

/// One TCP connection to Redis, while it lasts.
struct Conn {
    id: u64,
    stream: Arc<OwnedWriteHalf>,
    /// Bytes not written yet.
    out: BytesMut,
    /// A flush task owns the writing (the socket was full).
    flushing: bool,
    /// The reader is dispatching a read: writes wait for its end.
    corked: bool,
    waiting: VecDeque<(Expect, Done)>,
    /// Publications not encoded yet, by channel (few: one per other node).
    held: Vec<Batch<Done>>,
    held_bytes: usize,
    reader: Option<AbortHandle>,
}

/// Encodes `PUBLISH channel payload`; with `answered` false, behind
/// `CLIENT REPLY SKIP` (which has no reply either), so no reply comes.
fn encode_publish(out: &mut BytesMut, channel: &str, payload: &[u8], answered: bool) {
    if !answered {
        encode_command(out, &[b"CLIENT", b"REPLY", b"SKIP"]);
    }
    encode_command(out, &[b"PUBLISH", channel.as_bytes(), payload]);
}

impl Conn {
    /// Writes what it can now. `Err`: the connection is broken.
    fn write_now(&mut self) -> io::Result<()> {
        self.encode_held();
        while !self.out.is_empty() {
            match self.stream.try_write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flushing = true;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Conn {
    /// Encodes the held publications behind what is queued, each channel's
    /// as one PUBLISH whose reply completes all of them.
    fn encode_held(&mut self) {
        for h in self.held.drain(..) {
            let payload = crate::message::batch(&h.messages);
            let answered = h.done.iter().any(|d| !matches!(d, Done::Ignore));
            encode_publish(&mut self.out, &h.channel, &payload, answered);
            if answered {
                let done = match <[Done; 1]>::try_from(h.done) {
                    Ok([one]) => one,
                    Err(all) => Done::Each(all),
                };
                self.waiting.push_back((Expect::Reply, done));
            }
        }
        self.held_bytes = 0;
    }

    /// Holds a publication for the next write, in its channel's batch
    /// (a burst to one node costs Redis one message, not one per request).
    fn hold(&mut self, channel: &str, payload: Bytes, done: Done) {
        self.held_bytes += payload.len();
        add_to_batch(&mut self.held, channel, payload, done);
    }
}

struct State {
    conn: Option<Conn>,
    next_id: u64,
    /// The local address of the last connection (other nodes reach this
    /// node at its IP in the usual deployments).
    local_ip: Option<std::net::IpAddr>,
}

struct Shared {
    addr: (String, u16),
    db: i64,
    username: Option<String>,
    password: Option<String>,
    channel: String,
    timeout: Duration,
    on_push: Box<dyn Fn(Push) + Send + Sync>,
    state: Mutex<State>,
}

/// The node's own Redis connection (see the module docs).
pub(super) struct Direct {
    shared: Arc<Shared>,
}

/// How long a reply may be missing before the connection counts as dead:
/// four times the timeout a caller waits, and at least 2 s.
fn dead_after(timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(2))
}

fn closed() -> RedisError {
    RedisError::from((ErrorKind::Io, "redis connection down"))
}

impl Direct {
    /// Connects, greets (HELLO 3, with AUTH from the URL; SELECT) and
    /// subscribes to `channel`.
    pub(super) async fn connect(
        addr: (String, u16),
        settings: &RedisConnectionInfo,
        channel: String,
        timeout: Duration,
        on_push: impl Fn(Push) + Send + Sync + 'static,
    ) -> Result<Direct, RedisError> {
        let shared = Arc::new(Shared {
            addr,
            db: settings.db(),
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            channel,
            timeout,
            on_push: Box::new(on_push),
            state: Mutex::new(State {
                conn: None,
                next_id: 0,
                local_ip: None,
            }),
        });
        let link = Direct { shared };
        link.resubscribe().await?;
        Ok(link)
    }

    /// One attempt to (re)connect: a new TCP connection, greeted and
    /// subscribed; it replaces the old one, if any.
    pub(super) async fn resubscribe(&self) -> Result<(), RedisError> {
        let shared = &self.shared;
        let connect = TcpStream::connect((shared.addr.0.as_str(), shared.addr.1));
        let stream =
            match tokio::time::timeout(shared.timeout.max(Duration::from_secs(2)), connect).await {
                Ok(s) => s?,
                Err(_) => return Err(RedisError::from((ErrorKind::Io, "redis connect timed out"))),
            };
        // Small request/answer messages: Nagle would hold a PUBLISH written
        // while an earlier one is unacknowledged.
        stream.set_nodelay(true)?;
        let local_ip = stream.local_addr().ok().map(|a| a.ip());
        // The reader owns its half: its reads go through `AsyncRead`, which
        // takes a short read as the socket drained (no read that only
        // finds it empty before each wait).
        let (read, write) = stream.into_split();
        let stream = Arc::new(write);
        let id = {
            let mut st = shared.state.lock();
            st.next_id += 1;
            st.local_ip = local_ip;
            let id = st.next_id;
            let old = st.conn.replace(Conn {
                id,
                stream,
                out: BytesMut::with_capacity(4096),
                flushing: false,
                corked: false,
                waiting: VecDeque::new(),
                held: Vec::new(),
                held_bytes: 0,
                reader: None,
            });
            let reader = tokio::spawn(read_loop(Arc::downgrade(shared), read, id));
            if let Some(c) = st.conn.as_mut() {
                c.reader = Some(reader.abort_handle());
            }
            drop(st);
            if let Some(old) = old {
                fail(old);
            }
            id
        };
        let res = self.greet().await;
        if res.is_err() {
            shared.lost(id, false);
        }
        res
    }

    /// HELLO 3 (with AUTH), SELECT, SUBSCRIBE: written together, awaited in order.
    async fn greet(&self) -> Result<(), RedisError> {
        let s = &self.shared;
        let hello = match (&s.username, &s.password) {
            (user, Some(pass)) => {
                let user = user.as_deref().unwrap_or("default");
                self.start(&[b"HELLO", b"3", b"AUTH", user.as_bytes(), pass.as_bytes()])
            }
            _ => self.start(&[b"HELLO", b"3"]),
        };
        let db = s.db.to_string();
        let select = (s.db != 0).then(|| self.start(&[b"SELECT", db.as_bytes()]));
        let subscribe = self.start_expecting(
            &[b"SUBSCRIBE", s.channel.as_bytes()],
            Expect::Push(b"subscribe"),
        );
        ok(self.finish(hello).await?)?;
        if let Some(select) = select {
            ok(self.finish(select).await?)?;
        }
        ok(self.finish(subscribe).await?)?;
        Ok(())
    }

    /// Queues a command whose reply a task awaits.
    fn start(&self, args: &[&[u8]]) -> oneshot::Receiver<Result<Value, RedisError>> {
        self.start_expecting(args, Expect::Reply)
    }

    fn start_expecting(
        &self,
        args: &[&[u8]],
        expect: Expect,
    ) -> oneshot::Receiver<Result<Value, RedisError>> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .submit(|out| encode_command(out, args), expect, Done::Reply(tx));
        rx
    }

    /// The reply of a command started with [`Direct::start`], within the
    /// timeout. A connection whose reply is still missing at [`dead_after`]
    /// is dropped.
    async fn finish(
        &self,
        mut rx: oneshot::Receiver<Result<Value, RedisError>>,
    ) -> Result<Value, RedisError> {
        let id = self.shared.state.lock().conn.as_ref().map(|c| c.id);
        match tokio::time::timeout(self.shared.timeout, &mut rx).await {
            Ok(Ok(res)) => res,
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                if let Some(id) = id {
                    // Late is not dead: a stall of the machine or of Redis
                    // (a slow command, a fork) must not drop a connection
                    // that every session's tunnels and requests ride on.
                    let shared = self.shared.clone();
                    let rest = dead_after(shared.timeout).saturating_sub(shared.timeout);
                    tokio::spawn(async move {
                        if tokio::time::timeout(rest, rx).await.is_err() {
                            shared.lost(id, true);
                        }
                    });
                }
                Err(RedisError::from((
                    ErrorKind::Io,
                    "redis did not answer in time",
                )))
            }
        }
    }

    /// The local IP of the connection to Redis.
    pub(super) fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.shared.state.lock().local_ip
    }

    /// Runs one command; its reply.
    pub(super) async fn command(&self, args: &[&[u8]]) -> Result<Value, RedisError> {
        let rx = self.start(args);
        self.finish(rx).await
    }

    /// Publishes `payload` on `channel`; the number of nodes that got it.
    pub(super) async fn publish(&self, channel: &str, payload: Bytes) -> Result<usize, RedisError> {
        match self
            .command(&[b"PUBLISH", channel.as_bytes(), &payload])
            .await?
        {
            Value::Int(n) => Ok(usize::try_from(n).unwrap_or(0)),
            other => Err(unexpected(&other)),
        }
    }

    /// Publishes without waiting; `then` learns whether a node got it
    /// (without `then`, Redis is told not to reply). While the connection
    /// cannot write (the reader is dispatching, or a flush is in flight),
    /// publications to one channel wait as one batch.
    pub(super) fn send(&self, channel: &str, payload: Bytes, then: Option<Then>) {
        let done = then.map_or(Done::Ignore, Done::Then);
        {
            let mut st = self.shared.state.lock();
            if let Some(conn) = st.conn.as_mut().filter(|c| c.corked || c.flushing) {
                if conn.waiting.len() + conn.held.len() < MAX_WAITING
                    && conn.out.len() + conn.held_bytes < MAX_UNWRITTEN
                {
                    return conn.hold(channel, payload, done);
                }
            }
        }
        let answered = !matches!(done, Done::Ignore);
        self.shared.submit(
            |out| encode_publish(out, channel, &payload, answered),
            Expect::Reply,
            done,
        );
    }

    /// How many subscribers each channel has (`PUBSUB NUMSUB`), in order.
    pub(super) async fn numsub(&self, channels: &[String]) -> Result<Vec<usize>, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"PUBSUB", b"NUMSUB"];
        args.extend(channels.iter().map(|c| c.as_bytes()));
        let pairs = match self.command(&args).await? {
            // RESP3 answers a map; RESP2 a flat array.
            Value::Map(pairs) => pairs,
            Value::Array(flat) => {
                let mut it = flat.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs
            }
            other => return Err(unexpected(&other)),
        };
        Ok(channels
            .iter()
            .map(|c| {
                pairs
                    .iter()
                    .find(|(k, _)| k.as_bytes().is_some_and(|k| k == c.as_bytes()))
                    .and_then(|(_, v)| match v {
                        Value::Int(n) => usize::try_from(*n).ok(),
                        _ => None,
                    })
                    .unwrap_or(0)
            })
            .collect())
    }

    /// Leaves the node's channel.
    pub(super) async fn unsubscribe(&self) -> Result<(), RedisError> {
        let rx = self.start_expecting(
            &[b"UNSUBSCRIBE", self.shared.channel.as_bytes()],
            Expect::Push(b"unsubscribe"),
        );
        ok(self.finish(rx).await?)
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        let conn = self.shared.state.lock().conn.take();
        if let Some(conn) = conn {
            fail(conn);
        }
    }
}

/// An error reply as an error.
pub(super) fn ok(v: Value) -> Result<(), RedisError> {
    match v {
        Value::Error(e) => Err(RedisError::from((
            ErrorKind::Client,
            "redis refused",
            String::from_utf8_lossy(&e).into_owned(),
        ))),
        _ => Ok(()),
    }
}

pub(super) fn unexpected(v: &Value) -> RedisError {
    if let Value::Error(e) = v {
        return RedisError::from((
            ErrorKind::Client,
            "redis refused",
            String::from_utf8_lossy(e).into_owned(),
        ));
    }
    RedisError::from((ErrorKind::UnexpectedReturnType, "unexpected redis reply"))
}

/// Ends a connection that is no longer the link's: its reader stops, and
/// whoever waits for a reply on it gets an error.
fn fail(conn: Conn) {
    if let Some(reader) = &conn.reader {
        reader.abort();
    }
    for (_, done) in conn.waiting {
        done.complete(Err(closed()));
    }
    for held in conn.held {
        for done in held.done {
            done.complete(Err(closed()));
        }
    }
}

impl Shared {
    /// Appends a command and writes it now if the socket takes it. `done`
    /// fails at once when the link is down or too much waits already;
    /// [`Done::Ignore`] waits for no reply (the command was encoded to get
    /// none).
    fn submit(self: &Arc<Self>, encode: impl FnOnce(&mut BytesMut), expect: Expect, done: Done) {
        let mut st = self.state.lock();
        let Some(conn) = st.conn.as_mut() else {
            drop(st);
            return done.complete(Err(closed()));
        };
        if conn.waiting.len() + conn.held.len() >= MAX_WAITING
            || conn.out.len() + conn.held_bytes >= MAX_UNWRITTEN
        {
            drop(st);
            let full = RedisError::from((ErrorKind::Io, "redis link queue full"));
            return done.complete(Err(full));
        }
        // Replies come in command order: what is held goes first.
        conn.encode_held();
        encode(&mut conn.out);
        if !matches!(done, Done::Ignore) {
            conn.waiting.push_back((expect, done));
        }
        if conn.flushing || conn.corked {
            return;
        }
        self.write_out(st);
    }

    /// Writes the current connection's queued bytes now; if the socket is
    /// full, a flush task writes the rest.
    fn write_out(self: &Arc<Self>, mut st: parking_lot::MutexGuard<'_, State>) {
        let Some(conn) = st.conn.as_mut() else {
            return;
        };
        let id = conn.id;
        match conn.write_now() {
            Ok(()) if conn.flushing => {
                let stream = conn.stream.clone();
                drop(st);
                flush_task(self.clone(), stream, id);
            }
            Ok(()) => {}
            Err(_) => {
                drop(st);
                self.lost(id, true);
            }
        }
    }

    /// Connection `id` is gone (or must be dropped): it is forgotten, those
    /// waiting on it fail, and the node learns that the link is down.
    fn lost(&self, id: u64, notify: bool) {
        let conn = {
            let mut st = self.state.lock();
            if st.conn.as_ref().is_some_and(|c| c.id == id) {
                st.conn.take()
            } else {
                None
            }
        };
        if let Some(conn) = conn {
            fail(conn);
            if notify {
                (self.on_push)(Push::Disconnected);
            }
        }
    }
}

/// Reads connection `id`: replies complete their commands, pushes go to the node.
async fn read_loop(shared: std::sync::Weak<Shared>, mut stream: OwnedReadHalf, id: u64) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut decoder = Decoder::default();
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_CHUNK);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.dispatch(id, &mut decoder, &mut buf) || buf.len() > MAX_READ_BUFFER {
            shared.lost(id, true);
            return;
        }
    }
    if let Some(shared) = shared.upgrade() {
        shared.lost(id, true);
    }
}

impl Shared {
    /// Handles the complete frames in `buf`. `false`: the connection's bytes
    /// are not RESP3, or a reply nobody waits for (out of step): drop it.
    fn dispatch(self: &Arc<Self>, id: u64, decoder: &mut Decoder, buf: &mut BytesMut) -> bool {
        self.cork(id, true);
        let mut healthy = true;
        loop {
            let frame = match decoder.decode(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("engine.io cluster: bad bytes from redis: {e}");
                    healthy = false;
                    break;
                }
            };
            if !self.on_frame(id, frame) {
                healthy = false;
                break;
            }
        }
        self.cork(id, false);
        healthy
    }

    /// Holds back (`true`) or releases and writes (`false`) the writes of connection `id`.
    fn cork(self: &Arc<Self>, id: u64, on: bool) {
        let mut st = self.state.lock();
        let Some(conn) = st.conn.as_mut().filter(|c| c.id == id) else {
            return;
        };
        conn.corked = on;
        if on || conn.flushing || (conn.out.is_empty() && conn.held.is_empty()) {
            return;
        }
        self.write_out(st);
    }

    fn on_frame(&self, id: u64, frame: Value) -> bool {
        if let Value::Push(items) = frame {
            return self.on_push_frame(id, items);
        }
        let waiter = {
            let mut st = self.state.lock();
            match st.conn.as_mut().filter(|c| c.id == id) {
                Some(conn) => conn.waiting.pop_front(),
                None => return true,
            }
        };
        match waiter {
            // An error reply to a SUBSCRIBE (its confirmation is a push otherwise).
            Some((_, done)) => {
                done.complete(Ok(frame));
                true
            }
            None => false,
        }
    }

    fn on_push_frame(&self, id: u64, mut items: Vec<Value>) -> bool {
        let kind = items.first().and_then(Value::as_bytes).cloned();
        match kind.as_deref() {
            Some(b"message") if items.len() == 3 => {
                let payload = items.pop();
                let on_channel = items[1].as_bytes().map(|c| c == self.channel.as_bytes());
                match (on_channel, payload) {
                    (Some(true), Some(Value::Bulk(payload))) => {
                        (self.on_push)(Push::Message(payload))
                    }
                    (Some(true), _) => (self.on_push)(Push::Garbage),
                    // Not our channel: nothing we asked for.
                    _ => {}
                }
                true
            }
            Some(kind @ (b"subscribe" | b"unsubscribe")) => {
                let waiter = {
                    let mut st = self.state.lock();
                    let Some(conn) = st.conn.as_mut().filter(|c| c.id == id) else {
                        return true;
                    };
                    match conn.waiting.front() {
                        Some((Expect::Push(k), _)) if *k == kind => conn.waiting.pop_front(),
                        _ => None,
                    }
                };
                if let Some((_, done)) = waiter {
                    done.complete(Ok(Value::Int(1)));
                }
                true
            }
            // Other pushes (invalidations, …): nothing we asked for.
            _ => true,
        }
    }
}

/// Writes connection `id`'s queued bytes as the socket takes them.
fn flush_task(shared: Arc<Shared>, stream: Arc<OwnedWriteHalf>, id: u64) {
    tokio::spawn(async move {
        loop {
            if stream.writable().await.is_err() {
                return shared.lost(id, true);
            }
            let mut st = shared.state.lock();
            let Some(conn) = st.conn.as_mut().filter(|c| c.id == id) else {
                return;
            };
            conn.flushing = false;
            if conn.write_now().is_err() {
                drop(st);
                return shared.lost(id, true);
            }
            if !conn.flushing {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::test_redis::Redis;

    /// Connects (retrying while redis-server starts), subscribed to `t#node`.
    async fn connect(port: u16, on_push: Arc<dyn Fn(Push) + Send + Sync>) -> Direct {
        connect_with(port, Duration::from_secs(2), on_push).await
    }

    async fn connect_with(
        port: u16,
        timeout: Duration,
        on_push: Arc<dyn Fn(Push) + Send + Sync>,
    ) -> Direct {
        let settings = redis::RedisConnectionInfo::default();
        let mut last = None;
        for _ in 0..100 {
            let on_push = on_push.clone();
            let addr = ("127.0.0.1".to_owned(), port);
            match Direct::connect(addr, &settings, "t#node".into(), timeout, move |p| {
                on_push(p)
            })
            .await
            {
                Ok(d) => return d,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot connect to redis-server on {port}: {last:?}");
    }

    #[tokio::test]
    async fn publications_nobody_waits_on_get_no_reply_and_replies_stay_in_step() {
        let redis = Redis::start();
        let got = Arc::new(AtomicUsize::new(0));
        let seen = got.clone();
        let link = connect(
            redis.1,
            Arc::new(move |p| {
                if let Push::Message(m) = p {
                    assert_eq!(&m[..], b"x");
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }),
        )
        .await;
        let (tx, rx) = oneshot::channel();
        let then: Then = Box::new(move |heard| {
            let _ = tx.send(heard);
        });
        // Unanswered, answered, unanswered: the answered one still gets its own reply.
        link.send("t#node", Bytes::from_static(b"x"), None);
        link.send("t#node", Bytes::from_static(b"x"), Some(then));
        link.send("t#node", Bytes::from_static(b"x"), None);
        assert!(
            rx.await.expect("a reply"),
            "the node's own subscription heard it"
        );
        assert_eq!(
            link.publish("t#node", Bytes::from_static(b"x")).await.ok(),
            Some(1)
        );
        let stats = link
            .command(&[b"INFO", b"commandstats"])
            .await
            .expect("INFO");
        let stats =
            String::from_utf8_lossy(stats.as_bytes().expect("INFO is a string")).into_owned();
        assert!(stats.contains("cmdstat_client|reply:calls=2,"), "{stats}");
        assert!(stats.contains("cmdstat_publish:calls=4,"), "{stats}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while got.load(Ordering::Relaxed) < 4 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(got.load(Ordering::Relaxed), 4, "every publication arrived");
    }

    #[tokio::test]
    async fn a_late_reply_fails_its_command_but_keeps_the_connection_a_missing_one_drops_it() {
        let redis = Redis::start();
        let downs = Arc::new(AtomicUsize::new(0));
        let seen = downs.clone();
        let timeout = Duration::from_millis(300);
        let link = connect_with(
            redis.1,
            timeout,
            Arc::new(move |p| {
                if let Push::Disconnected = p {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }),
        )
        .await;
        // Redis stalls for 1 s: past the command's timeout, well within dead_after (2 s).
        redis.signal("-STOP");
        let started = tokio::time::Instant::now();
        let late = link.publish("t#other", Bytes::from_static(b"x")).await;
        assert!(
            late.is_err(),
            "a reply later than the timeout fails the command"
        );
        assert!(started.elapsed() < Duration::from_millis(900));
        tokio::time::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed())).await;
        redis.signal("-CONT");
        assert_eq!(
            link.publish("t#other", Bytes::from_static(b"x")).await.ok(),
            Some(0),
            "the same connection serves on"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(downs.load(Ordering::Relaxed), 0, "a stall is not a death");
        // Redis stops answering for good (3 s): the connection is dropped at about 2 s.
        redis.signal("-STOP");
        let stopped = tokio::time::Instant::now();
        assert!(link
            .publish("t#other", Bytes::from_static(b"x"))
            .await
            .is_err());
        while downs.load(Ordering::Relaxed) == 0 && stopped.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis.signal("-CONT");
        assert_eq!(
            downs.load(Ordering::Relaxed),
            1,
            "a missing reply drops the connection"
        );
        assert!(stopped.elapsed() >= dead_after(timeout) - Duration::from_millis(50));
    }
}
