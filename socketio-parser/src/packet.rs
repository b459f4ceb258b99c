//! The Socket.IO packet: type, namespace, optional ack id and optional payload.

use std::fmt;

use crate::value::{Map, Value};

/// The namespace every connection joins by default. It is omitted on the wire.
pub const DEFAULT_NAMESPACE: &str = "/";

/// Event names that must never be emitted by a peer: they have a special meaning
/// on one side or the other (same list as the reference parser).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of the [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// The Socket.IO packet type (the first character of a text packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: join a namespace (client) / namespace joined (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event: the payload is `[name, ...args]`.
    Event = 2,
    /// `3`: the reply to an event that asked for an acknowledgement.
    Ack = 3,
    /// `4`: the server refused to join a namespace.
    ConnectError = 4,
    /// `5`: an event with binary attachments. Only seen on the wire: decoded packets
    /// are reported as [`PacketType::Event`], and the encoder picks this type itself.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments. Only seen on the wire: decoded packets
    /// are reported as [`PacketType::Ack`], and the encoder picks this type itself.
    BinaryAck = 6,
}

impl PacketType {
    /// The packet type for its numeric code, if it is one of the seven known types.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The numeric code written on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// `Event` for `BinaryEvent`, `Ack` for `BinaryAck`, the type itself otherwise.
    pub fn without_binary(self) -> Self {
        match self {
            Self::BinaryEvent => Self::Event,
            Self::BinaryAck => Self::Ack,
            other => other,
        }
    }

    /// Whether this is `Event` or `BinaryEvent`.
    pub fn is_event(self) -> bool {
        matches!(self, Self::Event | Self::BinaryEvent)
    }

    /// Whether this is `Ack` or `BinaryAck`.
    pub fn is_ack(self) -> bool {
        matches!(self, Self::Ack | Self::BinaryAck)
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        })
    }
}

/// One Socket.IO packet.
///
/// `data` is `None` when the packet carries no payload at all (e.g. `1/admin,`, or a
/// protocol v4 `CONNECT`); binary values anywhere inside `data` are [`Value::Binary`].
///
/// ```
/// use socketio_parser::{Packet, PacketType, Value};
///
/// let p = Packet::event("/chat", "message", vec![Value::from("hi")]).with_id(7);
/// assert_eq!(p.kind, PacketType::Event);
/// assert_eq!(p.event_name(), Some("message"));
/// assert_eq!(p.args(), &[Value::from("hi")]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type. Decoded binary packets are reported as `Event`/`Ack`.
    pub kind: PacketType,
    /// The namespace, `/` by default. It never contains a `,`.
    pub nsp: String,
    /// The acknowledgement id, if the sender asked for (or is sending) an ack.
    pub id: Option<u64>,
    /// The payload; `None` when the packet has none.
    pub data: Option<Value>,
}

impl Packet {
    /// A packet of the given type without id or payload.
    pub fn new(kind: PacketType, nsp: impl Into<String>) -> Self {
        Self {
            kind,
            nsp: nsp.into(),
            id: None,
            data: None,
        }
    }

    /// A `CONNECT` packet; `data` is the auth payload (client) or `{"sid": ...}` (server),
    /// `None` for protocol v4.
    pub fn connect(nsp: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            data,
            ..Self::new(PacketType::Connect, nsp)
        }
    }

    /// A `DISCONNECT` packet.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Self::new(PacketType::Disconnect, nsp)
    }

    /// An `EVENT` packet: the payload is `[event, ...args]`.
    pub fn event(nsp: impl Into<String>, event: impl Into<String>, args: Vec<Value>) -> Self {
        let event = Value::String(event.into());
        let data = if args.len() < args.capacity() {
            // Room for the name (arguments taken from a received event have it): no new buffer.
            let mut args = args;
            args.insert(0, event);
            args
        } else {
            let mut data = Vec::with_capacity(args.len() + 1);
            data.push(event);
            data.extend(args);
            data
        };
        Self {
            data: Some(Value::Array(data)),
            ..Self::new(PacketType::Event, nsp)
        }
    }

    /// An `ACK` packet replying to ack id `id` with `args`.
    pub fn ack(nsp: impl Into<String>, id: u64, args: Vec<Value>) -> Self {
        Self {
            id: Some(id),
            data: Some(Value::Array(args)),
            ..Self::new(PacketType::Ack, nsp)
        }
    }

    /// A protocol v5 `CONNECT_ERROR` packet: `{"message": message}` plus `"data"` when given.
    pub fn connect_error(
        nsp: impl Into<String>,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Self {
        let mut map = Map::new();
        map.insert("message".to_owned(), Value::String(message.into()));
        if let Some(data) = data {
            map.insert("data".to_owned(), data);
        }
        Self {
            data: Some(Value::Object(map)),
            ..Self::new(PacketType::ConnectError, nsp)
        }
    }

    /// Sets the ack id.
    #[must_use]
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// The event name of an `EVENT` packet whose first payload element is a string.
    pub fn event_name(&self) -> Option<&str> {
        if !self.kind.is_event() {
            return None;
        }
        match &self.data {
            Some(Value::Array(items)) => items.first().and_then(Value::as_str),
            _ => None,
        }
    }

    /// The arguments: for an event, the payload after the event name; for an ack, the
    /// whole payload; empty otherwise.
    pub fn args(&self) -> &[Value] {
        match (&self.data, self.kind) {
            (Some(Value::Array(items)), kind) if kind.is_event() => {
                items.get(1..).unwrap_or_default()
            }
            (Some(Value::Array(items)), kind) if kind.is_ack() => items,
            _ => &[],
        }
    }

    /// Splits an `EVENT` packet into its event name and arguments, without copying.
    /// Returns `None` (and drops the packet) for anything else, or for an event whose
    /// name is a number.
    pub fn into_event(self) -> Option<(String, Vec<Value>)> {
        if !self.kind.is_event() {
            return None;
        }
        match self.data {
            Some(Value::Array(mut items)) if matches!(items.first(), Some(Value::String(_))) => {
                // The arguments keep the payload's buffer (a shift of a few values, where
                // `split_off` would allocate).
                match items.remove(0) {
                    Value::String(name) => Some((name, items)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether the payload contains a [`Value::Binary`] anywhere.
    pub fn has_binary(&self) -> bool {
        self.data.as_ref().is_some_and(Value::has_binary)
    }
}
