//! One Engine.IO connection: decodes its packets, routes them to its sockets (one per joined
//! namespace), enforces the connect timeout and the full-queue policy (reference `client.ts`).

use parking_lot::Mutex;
use std::sync::Arc;

use engine_io::{Message, Socket as EioSocket, TrySendError};
use socketio_adapter::{DeliverError, EncodedPacket};
use socketio_parser::{
    split_namespace_query, Decoded, Decoder, Map, Packet, PacketType, ProtocolVersion, Value,
};

use crate::server::ServerInner;
use crate::socket::Socket;
use crate::DisconnectReason;

enum Entry {
    /// CONNECT received, middlewares running: packets that arrive meanwhile wait here, so the
    /// connection handler always registers its event handlers before any event is dispatched.
    Connecting(Vec<Decoded>),
    Connected(Arc<Socket>),
}

#[derive(Default)]
struct State {
    nsps: Nsps,
    closed: bool,
}

/// The namespaces of one connection: a list, not a hash map. Nearly every client joins one or
/// two namespaces, and a hash map allocates four buckets (~200 bytes) for the first one on
/// every connection; a lookup compares a few short names.
/// The main namespace's name is not allocated (every connection has it).
#[derive(Default)]
struct Nsps(Vec<(std::borrow::Cow<'static, str>, Entry)>);

impl Nsps {
    fn get(&self, nsp: &str) -> Option<&Entry> {
        self.0.iter().find(|(n, _)| &**n == nsp).map(|(_, e)| e)
    }

    fn get_mut(&mut self, nsp: &str) -> Option<&mut Entry> {
        self.0.iter_mut().find(|(n, _)| &**n == nsp).map(|(_, e)| e)
    }

    fn insert(&mut self, nsp: &str, entry: Entry) {
        match self.get_mut(nsp) {
            Some(e) => *e = entry,
            None => {
                // The first namespace takes one slot, not the four `push` would reserve.
                self.0.reserve_exact(usize::from(self.0.is_empty()));
                let name = match nsp {
                    "/" => std::borrow::Cow::Borrowed("/"),
                    other => std::borrow::Cow::Owned(other.to_owned()),
                };
                self.0.push((name, entry));
            }
        }
    }

    fn remove(&mut self, nsp: &str) {
        self.0.retain(|(n, _)| &**n != nsp);
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.0.iter().map(|(_, e)| e)
    }

    fn into_values(self) -> impl Iterator<Item = Entry> {
        self.0.into_iter().map(|(_, e)| e)
    }
}

pub(crate) struct Client {
    pub(crate) conn: Arc<EioSocket>,
    pub(crate) server: Arc<ServerInner>,
    pub(crate) protocol: ProtocolVersion,
    decoder: Mutex<Decoder>,
    state: Mutex<State>,
    /// No namespace joined yet: the connect timeout is running.
    joining: std::sync::atomic::AtomicBool,
    /// The connection's span, boxed and only when a subscriber wants it: a disabled span
    /// still takes 40 bytes in every connection.
    span: Option<Box<tracing::Span>>,
}

impl Client {
    pub(crate) fn new(conn: Arc<EioSocket>, server: Arc<ServerInner>) -> Arc<Self> {
        let protocol = match conn.protocol() {
            engine_io::ProtocolVersion::V3 => ProtocolVersion::V4,
            engine_io::ProtocolVersion::V4 => ProtocolVersion::V5,
        };
        let decoder = server.config.parser.decoder();
        let span = tracing::info_span!("socketio_connection", sid = %conn.id());
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Arc::new(Self {
            conn,
            server,
            protocol,
            decoder: Mutex::new(decoder),
            state: Mutex::new(State::default()),
            joining: std::sync::atomic::AtomicBool::new(true),
            span,
        })
    }

    /// Starts the connect timeout; Socket.IO 2.x clients are connected to `/` at once.
    pub(crate) fn start(self: &Arc<Self>) {
        // The engine's session closes the connection unless a namespace joins in time
        // ([`connected`](Self::connected) cancels it): no task or timer per connection.
        self.conn
            .close_after(Some(self.server.config.connect_timeout));
        if self.protocol == ProtocolVersion::V4 {
            self.lock_state()
                .nsps
                .insert("/", Entry::Connecting(Vec::new()));
            self.connect("/".to_owned(), Value::Object(Map::new()));
        }
    }

    fn lock_state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn transport(&self) -> &'static str {
        self.conn.transport().as_str()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.conn.is_open() && !self.lock_state().closed
    }

    /// An Engine.IO message arrived (called in order by the engine).
    pub(crate) fn on_message(self: &Arc<Self>, msg: Message) {
        // Everything this message causes (handlers run inline, tasks they spawn) is logged
        // within the connection's span.
        let _span = self.span.as_deref().map(tracing::Span::enter);
        self.server.config.metrics.message_in(msg.len());
        let decoded = match msg {
            // Events come out with their namespace and name sliced from `text`.
            Message::Text(text) => self.decoder.lock().decode_str(&text),
            Message::Binary(data) => self.decode_binary(data),
        };
        match decoded {
            Ok(Some(packet)) => {
                self.server.config.metrics.packet_in();
                self.on_packet(packet);
            }
            Ok(None) => {}
            Err(e) => self.on_parse_error(e),
        }
    }

    // The rare paths of `on_message` and `on_packet` are out of line and cold, so that the
    // code of a text event (every echo round trip runs it) stays dense in the instruction
    // cache: misses there, not instructions, are what a round trip's CPU time is made of.

    #[cold]
    #[inline(never)]
    fn decode_binary(
        &self,
        data: bytes::Bytes,
    ) -> Result<Option<Decoded>, socketio_parser::DecodeError> {
        let decoded = self.decoder.lock().decode_binary(data);
        decoded.map(|p| p.map(Decoded::Packet))
    }

    #[cold]
    #[inline(never)]
    fn on_parse_error(&self, e: socketio_parser::DecodeError) {
        tracing::debug!(sid = self.conn.id(), error = %e, "invalid packet, closing the connection");
        self.close(DisconnectReason::ParseError);
    }

    fn on_packet(self: &Arc<Self>, packet: Decoded) {
        let is_connect_like = matches!(
            packet.kind(),
            PacketType::Connect | PacketType::ConnectError
        );
        let nsp: &str = match self.protocol {
            ProtocolVersion::V4 => split_namespace_query(packet.nsp()).0,
            ProtocolVersion::V5 => packet.nsp(),
        };
        let st = self.lock_state();
        if st.closed {
            return;
        }
        if let Some(Entry::Connected(socket)) = st.nsps.get(nsp) {
            if !is_connect_like {
                let socket = socket.clone();
                drop(st);
                return crate::SocketRef(socket).on_packet(packet);
            }
        }
        self.on_packet_unconnected(st, packet);
    }

    /// [`on_packet`](Self::on_packet) for a packet to a namespace the client is not connected
    /// to yet (CONNECT, packets while the middlewares run) or in the wrong state.
    #[cold]
    #[inline(never)]
    fn on_packet_unconnected(
        self: &Arc<Self>,
        mut st: parking_lot::MutexGuard<'_, State>,
        packet: Decoded,
    ) {
        let kind = packet.kind();
        let is_connect = kind == PacketType::Connect;
        let is_connect_like = is_connect || kind == PacketType::ConnectError;
        let nsp: &str = match self.protocol {
            ProtocolVersion::V4 => split_namespace_query(packet.nsp()).0,
            ProtocolVersion::V5 => packet.nsp(),
        };
        let max_pending = self.server.config.max_pending_packets;
        match st.nsps.get_mut(nsp) {
            None if is_connect => {
                let nsp = nsp.to_owned();
                st.nsps.insert(&nsp, Entry::Connecting(Vec::new()));
                drop(st);
                let auth = match self.protocol {
                    // Protocol v4: the query string of the namespace plays the role of auth.
                    ProtocolVersion::V4 => query_to_auth(split_namespace_query(packet.nsp()).1),
                    ProtocolVersion::V5 => match packet.into_packet().data {
                        Some(v @ Value::Object(_)) => v,
                        _ => Value::Object(Map::new()),
                    },
                };
                self.connect(nsp, auth);
            }
            Some(Entry::Connecting(pending)) if !is_connect_like && pending.len() < max_pending => {
                pending.push(packet);
            }
            _ => {
                drop(st);
                tracing::debug!(sid = self.conn.id(), nsp = %packet.nsp(), %kind, "invalid state, closing the connection");
                self.close(DisconnectReason::ForcedServerClose);
            }
        }
    }

    /// Joins a namespace: resolves it (dynamic namespaces), then runs the namespace's connect
    /// sequence (session restore, middlewares, CONNECT reply, connection handler).
    fn connect(self: &Arc<Self>, nsp: String, auth: Value) {
        let client = self.clone();
        crate::runner::run(async move {
            match client.server.resolve_namespace(&nsp, &auth).await {
                Some(ns) => ns.connect(client, auth).await,
                None => {
                    client.server.config.metrics.refused("invalid_namespace");
                    client.connect_failed(&nsp);
                    // The reference sends an object whatever the protocol revision.
                    let packet = Packet::connect_error(nsp, "Invalid namespace", None);
                    client.send_packet(&packet);
                }
            }
        });
    }

    /// The connect sequence failed (middleware refusal, invalid namespace).
    pub(crate) fn connect_failed(&self, nsp: &str) {
        let mut st = self.lock_state();
        if matches!(st.nsps.get(nsp), Some(Entry::Connecting(_))) {
            st.nsps.remove(nsp);
        }
    }

    /// The socket joined: packets that arrived meanwhile are dispatched in order, then the
    /// namespace routes directly to the socket.
    pub(crate) fn connected(&self, nsp: &str, socket: &Arc<Socket>) {
        if self
            .joining
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            self.conn.close_after(None);
        }
        loop {
            let pending = {
                let mut st = self.lock_state();
                match st.nsps.get_mut(nsp) {
                    Some(Entry::Connecting(pending)) if !pending.is_empty() => {
                        std::mem::take(pending)
                    }
                    Some(Entry::Connecting(_)) => {
                        st.nsps.insert(nsp, Entry::Connected(socket.clone()));
                        return;
                    }
                    // Closed meanwhile.
                    _ => return,
                }
            };
            for packet in pending {
                crate::SocketRef(socket.clone()).on_packet(packet);
            }
        }
    }

    /// A socket left its namespace.
    pub(crate) fn remove_socket(&self, nsp: &str) {
        self.lock_state().nsps.remove(nsp);
    }

    /// Encodes and sends a packet outside any socket (CONNECT_ERROR).
    pub(crate) fn send_packet(&self, packet: &Packet) {
        let Ok(encoded) = self.server.encode_packet(packet) else {
            return;
        };
        let _ = self.send(&encoded, false);
    }

    /// Queues encoded messages on the connection.
    ///
    /// Full-queue policy: a volatile packet is dropped; any other packet closes the connection
    /// with [`DisconnectReason::SlowConsumer`] (the client reconnects, and with connection state
    /// recovery gets what it missed) — never a silent drop, never unbounded memory.
    pub(crate) fn send(&self, encoded: &EncodedPacket, volatile: bool) -> Result<(), DeliverError> {
        let result = self.try_send(encoded);
        self.apply_policy(result, volatile)
    }

    /// Queues encoded messages without the full-queue policy: `Err(true)` when the queue is
    /// full (hand it to [`apply_policy`](Self::apply_policy)), `Err(false)` when the connection
    /// is closed.
    pub(crate) fn try_send(&self, encoded: &EncodedPacket) -> Result<(), bool> {
        if encoded.is_empty() {
            return Ok(());
        }
        let result = encoded.try_send_to(&self.conn);
        if result.is_ok() {
            self.server.config.metrics.packets_out(1, encoded);
        }
        result
    }

    /// Like [`send`](Self::send), straight from the parser's frames (one socket: no sharing,
    /// so a one-frame packet's bytes are handed over as they are).
    pub(crate) fn send_frames(
        &self,
        encoded: socketio_parser::Encoded,
        volatile: bool,
    ) -> Result<(), DeliverError> {
        let (count, bytes) = (encoded.len(), encoded.byte_len());
        let mut frames = encoded.into_iter();
        let result = match (frames.next(), frames.len()) {
            (None, _) => return Ok(()),
            (Some(only), 0) => only
                .into_message()
                .map(|m| self.conn.try_send(m).map_err(is_full)),
            (Some(first), _) => std::iter::once(first)
                .chain(frames)
                .map(socketio_parser::Frame::into_message)
                .collect::<Result<Vec<_>, _>>()
                .map(|m| self.conn.try_send_many(m).map_err(is_full)),
        };
        match result {
            Ok(sent) => {
                if sent.is_ok() {
                    self.server.config.metrics.packet_out(count, bytes);
                }
                self.apply_policy(sent, volatile)
            }
            Err(e) => {
                // Only a hand-built frame can fail: the packet is not sent, like any packet
                // the encoder refuses.
                tracing::error!(sid = self.conn.id(), "cannot send a packet: {e}");
                Ok(())
            }
        }
    }

    /// The full-queue policy of [`send`](Self::send).
    pub(crate) fn apply_policy(
        &self,
        result: Result<(), bool>,
        volatile: bool,
    ) -> Result<(), DeliverError> {
        match result {
            Ok(()) => Ok(()),
            Err(false) => Err(DeliverError::UnknownSocket),
            Err(true) if volatile => Err(DeliverError::VolatileDropped),
            Err(true) => {
                tracing::warn!(
                    sid = self.conn.id(),
                    queued = self.conn.queued(),
                    "outgoing queue full: disconnecting the slow client"
                );
                self.server.config.metrics.slow_consumer();
                self.close_now(DisconnectReason::SlowConsumer);
                Err(DeliverError::SlowConsumer)
            }
        }
    }

    /// `socket.disconnect(true)`: every socket leaves its namespace, then the connection closes.
    pub(crate) fn disconnect_all(&self) {
        for socket in self.connected_sockets() {
            crate::SocketRef(socket).disconnect(false);
        }
        self.close(DisconnectReason::ForcedServerClose);
    }

    pub(crate) fn connected_sockets(&self) -> Vec<Arc<Socket>> {
        self.lock_state()
            .nsps
            .values()
            .filter_map(|e| match e {
                Entry::Connected(s) => Some(s.clone()),
                Entry::Connecting(_) => None,
            })
            .collect()
    }

    /// Closes the connection (queued packets are flushed first) and disconnects its sockets.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        // Our reason first: the engine then reports its own, which is ignored.
        self.on_close(reason);
        self.conn.close();
    }

    /// Closes the connection at once (queued packets dropped) and disconnects its sockets.
    pub(crate) fn close_now(&self, reason: DisconnectReason) {
        self.on_close(reason);
        self.conn.close_now();
    }

    /// The connection closed: every socket leaves with `reason` (first reason wins).
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        let sockets: Vec<Arc<Socket>> = {
            let mut st = self.lock_state();
            if st.closed {
                return;
            }
            st.closed = true;
            std::mem::take(&mut st.nsps)
                .into_values()
                .filter_map(|e| match e {
                    Entry::Connected(s) => Some(s),
                    Entry::Connecting(_) => None,
                })
                .collect()
        };
        for socket in sockets {
            crate::SocketRef(socket).on_close(reason);
        }
    }
}

fn is_full<T>(e: TrySendError<T>) -> bool {
    matches!(e, TrySendError::Full(_))
}

/// Protocol v4: the query string of the namespace plays the role of the auth payload.
fn query_to_auth(query: Option<&str>) -> Value {
    let mut map = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Value::Object(map)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
