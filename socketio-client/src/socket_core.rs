//! The state machine of one namespace socket, free of I/O: packets and connection events go in,
//! [`Effect`]s (packets to send, events to deliver) come out. The async layer
//! ([`Socket`](crate::Socket), the manager's driver) performs the effects after releasing the
//! lock, so no lock is ever held across an `.await` and the logic is testable without a network.
//!
//! Mirrors the reference client's `Socket` (socket.io-client 4.8 `lib/socket.ts`): CONNECT with
//! auth (plus `pid`/`offset` for connection state recovery), receive and send buffers, acks failed
//! on disconnect unless still buffered, CONNECT_ERROR and server DISCONNECT ending the socket.

use std::collections::VecDeque;

use socketio_parser::{Map, Packet, PacketType};

use crate::ack::{AckReceiver, AckRegistry};
use crate::{DisconnectReason, Error, Value};

/// Where the socket stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not connected; a connection (or reconnection) may come.
    Disconnected,
    /// CONNECT sent, waiting for the server's answer.
    Connecting,
    /// Joined the namespace with this socket id.
    Connected(String),
    /// Closed for good (client disconnect, server disconnect or CONNECT_ERROR).
    Closed,
}

/// An event received from the server, ready for the handlers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Incoming {
    pub(crate) name: String,
    pub(crate) args: Vec<Value>,
    /// The ack id when the server asked for an acknowledgement.
    pub(crate) ack_id: Option<u64>,
}

/// What the async layer must do after a state change.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Send this packet on the Engine.IO connection.
    Send(Packet),
    /// Tell the outgoing catch-all listeners about an event being sent.
    Outgoing(String, Vec<Value>),
    /// Deliver an event to the handlers.
    Event(Incoming),
    /// The namespace was joined.
    Connected,
    /// Joining failed; `fatal` means the socket is closed for good (server CONNECT_ERROR).
    ConnectError(Error),
    /// The socket was disconnected.
    Disconnected(DisconnectReason),
    /// The socket is closed for good: the manager should stop tracking it.
    Destroy,
}

/// The ack id of an emit and the receiver its reply arrives on.
pub(crate) type PendingAck = (u64, AckReceiver);

/// How an emit should be sent.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EmitFlags {
    /// Drop the packet instead of buffering it when it cannot be written now.
    pub(crate) volatile: bool,
}

/// The state of one namespace socket.
#[derive(Debug)]
pub(crate) struct SocketCore {
    nsp: String,
    phase: Phase,
    /// The recovery session id the server gave (connection state recovery on).
    pid: Option<String>,
    /// The offset of the last event received (the last string argument, with recovery on).
    last_offset: Option<String>,
    recovered: bool,
    send_buffer: VecDeque<Packet>,
    max_send_buffer: usize,
    receive_buffer: VecDeque<Incoming>,
    acks: AckRegistry,
}

/// At most this many events received before the CONNECT answer are kept.
const MAX_RECEIVE_BUFFER: usize = 1024;

impl SocketCore {
    /// A disconnected socket for namespace `nsp` buffering at most `max_send_buffer` emits.
    pub(crate) fn new(nsp: impl Into<String>, max_send_buffer: usize) -> Self {
        SocketCore {
            nsp: nsp.into(),
            phase: Phase::Disconnected,
            pid: None,
            last_offset: None,
            recovered: false,
            send_buffer: VecDeque::new(),
            max_send_buffer,
            receive_buffer: VecDeque::new(),
            acks: AckRegistry::default(),
        }
    }

    /// Where the socket stands.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether the namespace is joined.
    pub(crate) fn connected(&self) -> bool {
        matches!(self.phase, Phase::Connected(_))
    }

    /// The socket id while connected.
    pub(crate) fn id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Connected(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the last connection restored the previous session (connection state recovery).
    pub(crate) fn recovered(&self) -> bool {
        self.recovered
    }

    /// Whether the socket is closed for good.
    pub(crate) fn closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The Engine.IO connection is open: build the CONNECT packet with `auth`, adding the
    /// recovery `pid` and `offset` when the server gave a pid (auth keys win, as in the
    /// reference's `Object.assign({pid, offset}, auth)`).
    pub(crate) fn on_open(&mut self, auth: Option<Value>) -> Option<Packet> {
        // Only from `Disconnected`: a second CONNECT for a joined (or joining) namespace makes
        // the server close the whole connection.
        if self.phase != Phase::Disconnected {
            return None;
        }
        self.phase = Phase::Connecting;
        let data = match &self.pid {
            Some(pid) => {
                let mut map = Map::new();
                map.insert("pid".to_owned(), Value::String(pid.clone()));
                // `undefined` in the reference is left out by JSON.stringify.
                if let Some(offset) = &self.last_offset {
                    map.insert("offset".to_owned(), Value::String(offset.clone()));
                }
                match auth {
                    Some(Value::Object(auth)) => map.extend(auth),
                    Some(Value::Null) | None => {}
                    // A non-object auth cannot be merged; the object wins, as Object.assign does.
                    Some(_) => {}
                }
                Some(Value::Object(map))
            }
            None => auth,
        };
        Some(Packet::connect(self.nsp.clone(), data))
    }

    /// A packet for this namespace arrived.
    pub(crate) fn on_packet(&mut self, packet: Packet) -> Vec<Effect> {
        if self.closed() {
            return Vec::new();
        }
        match packet.kind {
            PacketType::Connect => self.on_connect_packet(packet.data),
            PacketType::Event | PacketType::BinaryEvent => {
                let id = packet.id;
                match packet.into_event() {
                    Some((name, args)) => self.on_event(Incoming {
                        name,
                        args,
                        ack_id: id,
                    }),
                    // Numeric event names are valid Socket.IO but cannot be dispatched by name;
                    // the parser already rejected every other malformed event.
                    None => Vec::new(),
                }
            }
            PacketType::Ack | PacketType::BinaryAck => {
                if let Some(id) = packet.id {
                    let args = match packet.data {
                        Some(Value::Array(args)) => args,
                        Some(other) => vec![other],
                        None => Vec::new(),
                    };
                    self.acks.resolve(id, args);
                }
                Vec::new()
            }
            PacketType::Disconnect => {
                let mut effects = vec![Effect::Destroy];
                effects.extend(self.close(DisconnectReason::IoServerDisconnect));
                effects
            }
            PacketType::ConnectError => {
                let (message, data) = match packet.data {
                    Some(Value::Object(mut map)) => {
                        let message = match map.shift_remove("message") {
                            Some(Value::String(m)) => m,
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        (message, map.shift_remove("data"))
                    }
                    Some(Value::String(m)) => (m, None),
                    Some(other) => (other.to_string(), None),
                    None => (String::new(), None),
                };
                let was_connected = self.connected();
                self.phase = Phase::Closed;
                let error = Error::ConnectRefused { message, data };
                self.acks.fail_all(&error);
                self.send_buffer.clear();
                self.receive_buffer.clear();
                // The error first, so waiters see it before the socket is marked closed.
                let mut effects = vec![Effect::ConnectError(error)];
                if was_connected {
                    effects.push(Effect::Disconnected(DisconnectReason::IoServerDisconnect));
                }
                effects.push(Effect::Destroy);
                effects
            }
        }
    }

    fn on_connect_packet(&mut self, data: Option<Value>) -> Vec<Effect> {
        let sid = data
            .as_ref()
            .and_then(|d| d.get("sid"))
            .and_then(Value::as_str);
        let Some(sid) = sid else {
            return vec![Effect::ConnectError(Error::Protocol(
                "CONNECT without a sid: is this a Socket.IO v2 server? This client speaks v3/v4"
                    .to_owned(),
            ))];
        };
        let pid = data
            .as_ref()
            .and_then(|d| d.get("pid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.recovered = pid.is_some() && pid == self.pid;
        self.pid = pid;
        self.phase = Phase::Connected(sid.to_owned());
        let mut effects = Vec::new();
        for event in std::mem::take(&mut self.receive_buffer) {
            self.note_offset(&event);
            effects.push(Effect::Event(event));
        }
        for packet in std::mem::take(&mut self.send_buffer) {
            if let Some(name) = packet.event_name() {
                effects.push(Effect::Outgoing(name.to_owned(), packet.args().to_vec()));
            }
            effects.push(Effect::Send(packet));
        }
        effects.push(Effect::Connected);
        effects
    }

    fn on_event(&mut self, event: Incoming) -> Vec<Effect> {
        if self.connected() {
            self.note_offset(&event);
            vec![Effect::Event(event)]
        } else {
            if self.receive_buffer.len() < MAX_RECEIVE_BUFFER {
                self.receive_buffer.push_back(event);
            }
            Vec::new()
        }
    }

    /// With recovery on, the server appends the event's offset as a last string argument.
    fn note_offset(&mut self, event: &Incoming) {
        if self.pid.is_some() {
            if let Some(Value::String(offset)) = event.args.last() {
                self.last_offset = Some(offset.clone());
            }
        }
    }

    /// Emits an event: sent now when connected and `writable`, buffered while disconnected,
    /// dropped when volatile and the transport cannot write now. Returns the ack receiver when
    /// `with_ack`.
    pub(crate) fn emit(
        &mut self,
        name: &str,
        args: Vec<Value>,
        with_ack: bool,
        flags: EmitFlags,
        writable: bool,
    ) -> Result<(Vec<Effect>, Option<PendingAck>), Error> {
        if socketio_parser::is_reserved_event(name) {
            return Err(Error::ReservedEvent(name.to_owned()));
        }
        if self.closed() {
            return Err(Error::Closed);
        }
        if flags.volatile && !(writable && self.connected()) {
            // Dropped; its ack stays registered, as in the reference: it times out, or fails
            // when the connection closes (the packet is not in the send buffer).
            let receiver = with_ack.then(|| self.acks.register());
            return Ok((Vec::new(), receiver));
        }
        if !self.connected() && self.send_buffer.len() >= self.max_send_buffer {
            return Err(Error::BufferFull(self.max_send_buffer));
        }
        let mut packet = Packet::event(self.nsp.clone(), name, args);
        let receiver = if with_ack {
            let (id, rx) = self.acks.register();
            packet.id = Some(id);
            Some((id, rx))
        } else {
            None
        };
        if self.connected() {
            let outgoing = Effect::Outgoing(name.to_owned(), packet.args().to_vec());
            Ok((vec![outgoing, Effect::Send(packet)], receiver))
        } else {
            self.send_buffer.push_back(packet);
            Ok((Vec::new(), receiver))
        }
    }

    /// The ack packet answering the server's ack request `id`.
    pub(crate) fn ack_packet(&self, id: u64, args: Vec<Value>) -> Option<Packet> {
        self.connected()
            .then(|| Packet::ack(self.nsp.clone(), id, args))
    }

    /// Forgets a pending ack whose waiter gave up (timeout or dropped future), and its packet if
    /// still buffered.
    pub(crate) fn forget_ack(&mut self, id: u64) {
        self.acks.remove(id);
        self.send_buffer.retain(|p| p.id != Some(id));
    }

    /// The Engine.IO connection closed (or could not open).
    pub(crate) fn on_close(
        &mut self,
        reason: DisconnectReason,
        cause: Option<String>,
    ) -> Vec<Effect> {
        match self.phase {
            Phase::Closed => Vec::new(),
            Phase::Connected(_) => self.disconnect_with(reason, Phase::Disconnected),
            // The CONNECT went out on a connection that is gone: joining failed this time.
            Phase::Connecting => {
                self.phase = Phase::Disconnected;
                vec![Effect::ConnectError(Error::ConnectionLost {
                    reason,
                    cause,
                })]
            }
            Phase::Disconnected => Vec::new(),
        }
    }

    /// The Engine.IO connection could not be opened.
    pub(crate) fn on_open_error(&mut self, error: &Error) -> Vec<Effect> {
        if self.connected() || self.closed() {
            return Vec::new();
        }
        self.phase = Phase::Disconnected;
        vec![Effect::ConnectError(error.clone())]
    }

    /// The user disconnects: DISCONNECT is sent when connected, and the socket is closed for good.
    pub(crate) fn disconnect(&mut self) -> Vec<Effect> {
        if self.closed() {
            return Vec::new();
        }
        let mut effects = Vec::new();
        if self.connected() {
            effects.push(Effect::Send(Packet::disconnect(self.nsp.clone())));
        }
        effects.push(Effect::Destroy);
        effects.extend(self.close(DisconnectReason::IoClientDisconnect));
        effects
    }

    /// Closes for good with `reason`, failing everything pending.
    fn close(&mut self, reason: DisconnectReason) -> Vec<Effect> {
        let was_connected = self.connected();
        self.phase = Phase::Closed;
        self.acks.fail_all(&Error::SocketDisconnected);
        self.send_buffer.clear();
        self.receive_buffer.clear();
        if was_connected {
            vec![Effect::Disconnected(reason)]
        } else {
            Vec::new()
        }
    }

    fn disconnect_with(&mut self, reason: DisconnectReason, next: Phase) -> Vec<Effect> {
        self.phase = next;
        let buffered: Vec<u64> = self.send_buffer.iter().filter_map(|p| p.id).collect();
        self.acks.fail_sent(|id| buffered.contains(&id));
        vec![Effect::Disconnected(reason)]
    }

    /// Re-opens a socket closed by the user, so [`Socket::connect`](crate::Socket::connect) can
    /// join again.
    pub(crate) fn reopen(&mut self) {
        if self.closed() {
            self.phase = Phase::Disconnected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(j: serde_json::Value) -> Value {
        Value::from(j)
    }

    fn connect_packet(nsp: &str, data: serde_json::Value) -> Packet {
        Packet::connect(nsp, Some(v(data)))
    }

    fn sent(effects: &[Effect]) -> Vec<&Packet> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn connected(nsp: &str) -> SocketCore {
        let mut s = SocketCore::new(nsp, 16);
        assert!(s.on_open(None).is_some());
        s.on_packet(connect_packet(nsp, json!({"sid": "abc"})));
        assert!(s.connected());
        s
    }

    #[test]
    fn connect_sends_auth_and_flushes_buffer_in_order() {
        let mut s = SocketCore::new("/admin", 16);
        let (e, _) = s
            .emit("a", vec![v(json!(1))], false, EmitFlags::default(), false)
            .unwrap();
        assert!(e.is_empty(), "buffered while disconnected");
        let (_, rx) = s
            .emit("b", vec![], true, EmitFlags::default(), false)
            .unwrap();
        assert!(rx.is_some());
        // Volatile emits are dropped while disconnected; an ack asked for stays pending.
        let (e, rx) = s
            .emit("c", vec![], true, EmitFlags { volatile: true }, false)
            .unwrap();
        assert!(e.is_empty());
        let mut dropped = rx.expect("the ack is registered").1;

        let connect = s.on_open(Some(v(json!({"token": "t"})))).unwrap();
        assert_eq!(connect.kind, PacketType::Connect);
        assert_eq!(connect.nsp, "/admin");
        assert_eq!(connect.data, Some(v(json!({"token": "t"}))));

        let effects = s.on_packet(connect_packet("/admin", json!({"sid": "id1"})));
        let packets = sent(&effects);
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0].event_name(), Some("a"));
        assert_eq!(packets[1].event_name(), Some("b"));
        assert_eq!(packets[1].id, Some(0));
        assert!(matches!(effects.last(), Some(Effect::Connected)));
        assert_eq!(s.id(), Some("id1"));
        assert!(!s.recovered());
        // The dropped packet never went out: its ack fails when this connection closes.
        assert!(dropped.try_recv().is_err(), "pending while connected");
        s.on_close(DisconnectReason::TransportClose, None);
        assert!(matches!(
            dropped.try_recv(),
            Ok(Err(Error::SocketDisconnected))
        ));
    }

    #[test]
    fn ack_round_trip_and_disconnect_fails_pending() {
        let mut s = connected("/");
        let (effects, rx) = s
            .emit("q", vec![], true, EmitFlags::default(), true)
            .unwrap();
        let id = sent(&effects)[0].id.unwrap();
        let mut rx = rx.unwrap().1;
        s.on_packet(Packet::ack("/", id, vec![v(json!("yes"))]));
        assert!(matches!(rx.try_recv(), Ok(Ok(args)) if args == vec![v(json!("yes"))]));

        let (_, rx2) = s
            .emit("q2", vec![], true, EmitFlags::default(), true)
            .unwrap();
        let effects = s.on_close(DisconnectReason::TransportClose, None);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Disconnected(DisconnectReason::TransportClose)]
        ));
        assert!(matches!(
            rx2.unwrap().1.try_recv(),
            Ok(Err(Error::SocketDisconnected))
        ));
        // Not closed for good: a reconnection may come.
        assert_eq!(s.phase(), &Phase::Disconnected);
        assert!(s.on_open(None).is_some());
    }

    #[test]
    fn buffered_ack_survives_disconnect() {
        let mut s = connected("/");
        s.on_close(DisconnectReason::TransportClose, None);
        let (_, rx) = s
            .emit("q", vec![], true, EmitFlags::default(), false)
            .unwrap();
        let mut rx = rx.unwrap().1;
        s.on_open(None);
        s.on_close(DisconnectReason::TransportError, None);
        assert!(
            rx.try_recv().is_err(),
            "still pending: the packet was never sent"
        );
    }

    #[test]
    fn connect_error_closes_for_good() {
        let mut s = SocketCore::new("/refused", 16);
        s.on_open(None);
        let effects = s.on_packet(Packet::connect_error(
            "/refused",
            "not authorized",
            Some(v(json!({"code": 42}))),
        ));
        assert!(matches!(effects[1], Effect::Destroy));
        match &effects[0] {
            Effect::ConnectError(Error::ConnectRefused { message, data }) => {
                assert_eq!(message, "not authorized");
                assert_eq!(data, &Some(v(json!({"code": 42}))));
            }
            other => panic!("{other:?}"),
        }
        assert!(s.closed());
        assert!(s.on_open(None).is_none());
        assert!(matches!(
            s.emit("x", vec![], false, EmitFlags::default(), true),
            Err(Error::Closed)
        ));
        // reopen() (an explicit connect) makes it usable again.
        s.reopen();
        assert!(s.on_open(None).is_some());
        assert!(s.on_open(None).is_none(), "no second CONNECT while joining");
    }

    #[test]
    fn server_disconnect() {
        let mut s = connected("/");
        let effects = s.on_packet(Packet::disconnect("/"));
        assert!(matches!(
            effects.as_slice(),
            [
                Effect::Destroy,
                Effect::Disconnected(DisconnectReason::IoServerDisconnect)
            ]
        ));
        assert!(s.closed());
    }

    #[test]
    fn client_disconnect_sends_packet() {
        let mut s = connected("/chat");
        let effects = s.disconnect();
        assert_eq!(sent(&effects)[0].kind, PacketType::Disconnect);
        assert!(matches!(
            effects.last(),
            Some(Effect::Disconnected(DisconnectReason::IoClientDisconnect))
        ));
        assert!(s.disconnect().is_empty());
    }

    #[test]
    fn recovery_pid_and_offset() {
        let mut s = SocketCore::new("/", 16);
        s.on_open(None);
        s.on_packet(connect_packet("/", json!({"sid": "a", "pid": "P"})));
        s.on_packet(Packet::event(
            "/",
            "tick",
            vec![v(json!(1)), v(json!("off-1"))],
        ));
        s.on_packet(Packet::event(
            "/",
            "tick",
            vec![v(json!(2)), v(json!("off-2"))],
        ));
        s.on_close(DisconnectReason::TransportClose, None);
        let connect = s.on_open(Some(v(json!({"token": "t"})))).unwrap();
        assert_eq!(
            connect.data,
            Some(v(json!({"pid": "P", "offset": "off-2", "token": "t"})))
        );
        s.on_packet(connect_packet("/", json!({"sid": "a", "pid": "P"})));
        assert!(s.recovered());
        s.on_close(DisconnectReason::TransportClose, None);
        s.on_open(None);
        s.on_packet(connect_packet("/", json!({"sid": "b", "pid": "Q"})));
        assert!(!s.recovered());
    }

    #[test]
    fn events_before_connect_are_delivered_on_connect() {
        let mut s = SocketCore::new("/", 16);
        s.on_open(None);
        assert!(s
            .on_packet(Packet::event("/", "early", vec![]).with_id(3))
            .is_empty());
        let effects = s.on_packet(connect_packet("/", json!({"sid": "x"})));
        assert!(
            matches!(&effects[0], Effect::Event(Incoming { name, ack_id: Some(3), .. }) if name == "early")
        );
    }

    #[test]
    fn bounded_send_buffer_and_reserved_names() {
        let mut s = SocketCore::new("/", 2);
        for _ in 0..2 {
            s.emit("e", vec![], false, EmitFlags::default(), false)
                .unwrap();
        }
        assert!(matches!(
            s.emit("e", vec![], false, EmitFlags::default(), false),
            Err(Error::BufferFull(2))
        ));
        assert!(matches!(
            s.emit("disconnect", vec![], false, EmitFlags::default(), false),
            Err(Error::ReservedEvent(_))
        ));
    }

    #[test]
    fn connect_without_sid_is_an_error() {
        let mut s = SocketCore::new("/", 2);
        s.on_open(None);
        let effects = s.on_packet(Packet::connect("/", None));
        assert!(matches!(
            effects.as_slice(),
            [Effect::ConnectError(Error::Protocol(_))]
        ));
        assert!(!s.connected());
    }
}
