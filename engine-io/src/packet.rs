//! Engine.IO packets: types, protocol versions and the single-packet codec.
//!
//! A packet is a type (`0` open … `6` noop) and optional data. Over a text
//! channel it is the type digit followed by the text; binary data is sent as a
//! raw binary frame over WebSocket, or as base64 (`b<base64>` in v4,
//! `b<type><base64>` in v3) where only text is possible (polling payloads).
//! In v3 a raw binary frame starts with the packet type as a byte (`0x04`).

use crate::{DecodeError, Message, Str};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;
use std::fmt;

/// Standard alphabet, padded on output, padding optional on input (Node's
/// `Buffer.from(s, "base64")` accepts both).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
/// Node also accepts the URL-safe alphabet.
const B64_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes bytes as standard, padded base64 (as Node's `toString("base64")`).
pub(crate) fn base64_encode_into(data: &[u8], out: &mut String) {
    B64.encode_string(data, out);
}

/// Decodes standard or URL-safe base64, padding optional.
pub(crate) fn base64_decode(text: &str) -> Result<Bytes, DecodeError> {
    B64.decode(text)
        .or_else(|_| B64_URL.decode(text))
        .map(Bytes::from)
        .map_err(|_| DecodeError::Base64)
}

/// The type of an Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: sent by the server at the start of a session, with the [`crate::Handshake`].
    Open = 0,
    /// `1`: closes the session.
    Close = 1,
    /// `2`: heartbeat request (server to client in v4, client to server in v3), or
    /// `2probe` during an upgrade.
    Ping = 2,
    /// `3`: heartbeat answer, or `3probe` during an upgrade.
    Pong = 3,
    /// `4`: application data.
    Message = 4,
    /// `5`: completes an upgrade to WebSocket.
    Upgrade = 5,
    /// `6`: does nothing; used to release a pending poll during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The packet type from its numeric value.
    pub fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => PacketType::Open,
            1 => PacketType::Close,
            2 => PacketType::Ping,
            3 => PacketType::Pong,
            4 => PacketType::Message,
            5 => PacketType::Upgrade,
            6 => PacketType::Noop,
            _ => return None,
        })
    }

    /// The packet type from its ASCII digit (`b'0'`..=`b'6'`).
    pub fn from_digit(c: u8) -> Option<Self> {
        c.checked_sub(b'0').and_then(Self::from_u8)
    }

    /// Numeric value (`0`..=`6`).
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The ASCII digit of the type, as in text encodings.
    pub fn as_char(self) -> char {
        char::from(b'0' + self as u8)
    }

    /// The reference's name of the type (`"open"`, `"message"`…).
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The Engine.IO protocol revision (the `EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// Engine.IO 3 (socket.io 2.x clients): client-initiated heartbeat,
    /// length-prefixed polling payloads.
    V3 = 3,
    /// Engine.IO 4 (socket.io 3+): server-initiated heartbeat, 0x1E-separated payloads.
    V4 = 4,
}

impl ProtocolVersion {
    /// Parses the value of the `EIO` query parameter.
    pub fn from_query(v: &str) -> Option<Self> {
        match v {
            "3" => Some(ProtocolVersion::V3),
            "4" => Some(ProtocolVersion::V4),
            _ => None,
        }
    }

    /// The numeric value (3 or 4).
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

/// The data of a packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Data {
    /// No data (e.g. `2`, `6`, or `4` with nothing after the type).
    #[default]
    Empty,
    /// Text data (e.g. `probe` in `2probe`, the handshake JSON, a text message).
    Text(Str),
    /// Binary data (only message packets carry binary in practice).
    Binary(Bytes),
}

impl Data {
    /// Whether there is no data at all.
    pub fn is_empty(&self) -> bool {
        matches!(self, Data::Empty)
    }

    /// The text, if any.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One encoded packet, ready to be sent as one WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

/// An Engine.IO packet: a type and its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// The packet type.
    pub packet_type: PacketType,
    /// The data, if any.
    pub data: Data,
}

impl Packet {
    /// A packet of type `packet_type` carrying `data`.
    pub fn new(packet_type: PacketType, data: Data) -> Self {
        Packet { packet_type, data }
    }

    /// A packet of type `packet_type` without data.
    pub fn empty(packet_type: PacketType) -> Self {
        Packet {
            packet_type,
            data: Data::Empty,
        }
    }

    /// A `message` packet carrying `msg`.
    pub fn message(msg: impl Into<Message>) -> Self {
        let data = match msg.into() {
            Message::Text(s) => Data::Text(s),
            Message::Binary(b) => Data::Binary(b),
        };
        Packet {
            packet_type: PacketType::Message,
            data,
        }
    }

    /// The `open` packet carrying the handshake JSON.
    pub fn open(handshake_json: impl Into<Str>) -> Self {
        Packet::new(PacketType::Open, Data::Text(handshake_json.into()))
    }

    /// A `ping` packet carrying `probe` (`2probe`), as a client starts an upgrade.
    pub fn ping_probe() -> Self {
        Packet::new(PacketType::Ping, Data::Text(Str::from_static("probe")))
    }

    /// A `pong` packet carrying `probe` (`3probe`), the server's answer to `2probe`.
    pub fn pong_probe() -> Self {
        Packet::new(PacketType::Pong, Data::Text(Str::from_static("probe")))
    }

    /// Whether this packet carries `probe` as text (`2probe` / `3probe`).
    pub fn is_probe(&self) -> bool {
        self.data.as_text() == Some("probe")
    }

    /// Whether the data is binary.
    pub fn is_binary(&self) -> bool {
        matches!(self.data, Data::Binary(_))
    }

    /// For a `message` packet, its data as a [`Message`] (no data gives an empty
    /// text message); `None` for other packet types.
    pub fn into_message(self) -> Option<Message> {
        if self.packet_type != PacketType::Message {
            return None;
        }
        Some(match self.data {
            Data::Empty => Message::Text(Str::new()),
            Data::Text(s) => Message::Text(s),
            Data::Binary(b) => Message::Binary(b),
        })
    }

    /// Encodes the packet for a channel that carries both text and binary frames
    /// (WebSocket): text as `<type><text>`, binary raw (v4) or prefixed by the
    /// type byte (v3).
    pub fn encode(&self, version: ProtocolVersion) -> Frame {
        match &self.data {
            Data::Binary(b) => match version {
                ProtocolVersion::V4 => Frame::Binary(b.clone()),
                ProtocolVersion::V3 => {
                    let mut v = Vec::with_capacity(b.len() + 1);
                    v.push(self.packet_type.as_u8());
                    v.extend_from_slice(b);
                    Frame::Binary(Bytes::from(v))
                }
            },
            _ => {
                let mut s = String::with_capacity(self.text_len_hint());
                self.encode_text_into(version, &mut s);
                Frame::Text(s)
            }
        }
    }

    /// Encodes the packet as text, appending to `out`; binary data becomes
    /// `b<base64>` (v4) or `b<type><base64>` (v3).
    pub fn encode_text_into(&self, version: ProtocolVersion, out: &mut String) {
        match &self.data {
            Data::Empty => out.push(self.packet_type.as_char()),
            Data::Text(t) => {
                out.push(self.packet_type.as_char());
                out.push_str(t);
            }
            Data::Binary(b) => {
                out.push('b');
                if version == ProtocolVersion::V3 {
                    out.push(self.packet_type.as_char());
                }
                base64_encode_into(b, out);
            }
        }
    }

    /// Encodes the packet as text; see [`Packet::encode_text_into`].
    pub fn encode_text(&self, version: ProtocolVersion) -> String {
        let mut s = String::with_capacity(self.text_len_hint());
        self.encode_text_into(version, &mut s);
        s
    }

    /// An upper bound of the text encoding's length (exact for text packets).
    pub(crate) fn text_len_hint(&self) -> usize {
        match &self.data {
            Data::Empty => 1,
            Data::Text(t) => 1 + t.len(),
            Data::Binary(b) => 2 + b.len().div_ceil(3) * 4,
        }
    }

    /// Decodes a packet received as text (a WebSocket text frame or one packet
    /// of a polling payload). The data is a zero-copy slice of `text`.
    pub fn decode_text(text: &Str, version: ProtocolVersion) -> Result<Packet, DecodeError> {
        let bytes = text.as_bytes();
        let first = *bytes.first().ok_or(DecodeError::Empty)?;
        if first == b'b' {
            let (packet_type, b64) = match version {
                ProtocolVersion::V4 => (PacketType::Message, &text[1..]),
                ProtocolVersion::V3 => {
                    let t = *bytes.get(1).ok_or(DecodeError::Empty)?;
                    let pt =
                        PacketType::from_digit(t).ok_or(DecodeError::UnknownType(u32::from(t)))?;
                    // The type is an ASCII digit, so index 2 is a char boundary.
                    (pt, &text[2..])
                }
            };
            return Ok(Packet::new(packet_type, Data::Binary(base64_decode(b64)?)));
        }
        let packet_type = PacketType::from_digit(first)
            .ok_or_else(|| DecodeError::UnknownType(text.chars().next().map_or(0, u32::from)))?;
        let data = if bytes.len() > 1 {
            // The first byte is an ASCII digit, so 1 is a char boundary.
            Data::Text(text.slice_from(1).unwrap_or_default())
        } else {
            Data::Empty
        };
        Ok(Packet::new(packet_type, data))
    }

    /// Decodes a packet received as a binary frame: in v4 always a binary
    /// message; in v3 the first byte is the packet type.
    pub fn decode_binary(data: Bytes, version: ProtocolVersion) -> Result<Packet, DecodeError> {
        match version {
            ProtocolVersion::V4 => Ok(Packet::new(PacketType::Message, Data::Binary(data))),
            ProtocolVersion::V3 => {
                let t = *data.first().ok_or(DecodeError::Empty)?;
                let pt = PacketType::from_u8(t).ok_or(DecodeError::UnknownType(u32::from(t)))?;
                Ok(Packet::new(pt, Data::Binary(data.slice(1..))))
            }
        }
    }
}

impl From<Message> for Packet {
    fn from(m: Message) -> Self {
        Packet::message(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::{V3, V4};

    fn s(x: &'static str) -> Str {
        Str::from_static(x)
    }

    #[test]
    fn encode_text_packets() {
        assert_eq!(Packet::message("hello").encode_text(V4), "4hello");
        assert_eq!(Packet::empty(PacketType::Ping).encode_text(V4), "2");
        assert_eq!(Packet::ping_probe().encode_text(V4), "2probe");
        assert_eq!(
            Packet::empty(PacketType::Noop).encode(V3),
            Frame::Text("6".into())
        );
        assert_eq!(Packet::message("é€").encode(V4), Frame::Text("4é€".into()));
    }

    #[test]
    fn encode_binary_packets() {
        let p = Packet::message(Bytes::from_static(&[1, 2, 3, 4]));
        assert_eq!(
            p.encode(V4),
            Frame::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        );
        assert_eq!(
            p.encode(V3),
            Frame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4]))
        );
        assert_eq!(p.encode_text(V4), "bAQIDBA==");
        assert_eq!(p.encode_text(V3), "b4AQIDBA==");
        let empty = Packet::message(Bytes::new());
        assert_eq!(empty.encode_text(V4), "b");
    }

    #[test]
    fn decode_text_packets() {
        let p = Packet::decode_text(&s("4hello"), V4).unwrap();
        assert_eq!(p, Packet::message("hello"));
        let p = Packet::decode_text(&s("2"), V4).unwrap();
        assert_eq!(p, Packet::empty(PacketType::Ping));
        let p = Packet::decode_text(&s("2probe"), V3).unwrap();
        assert!(p.is_probe());
        assert_eq!(
            Packet::decode_text(&s("4"), V4).unwrap().into_message(),
            Some(Message::Text(Str::new()))
        );
        assert_eq!(Packet::decode_text(&s(""), V4), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_text(&s("7"), V4),
            Err(DecodeError::UnknownType('7' as u32))
        );
        assert_eq!(
            Packet::decode_text(&s("é"), V4),
            Err(DecodeError::UnknownType('é' as u32))
        );
        assert_eq!(
            Packet::decode_text(&s("x1"), V3),
            Err(DecodeError::UnknownType('x' as u32))
        );
    }

    #[test]
    fn decode_base64_packets() {
        let p = Packet::decode_text(&s("bAQIDBA=="), V4).unwrap();
        assert_eq!(p, Packet::message(Bytes::from_static(&[1, 2, 3, 4])));
        let p = Packet::decode_text(&s("bAQIDBA"), V4).unwrap();
        assert_eq!(p.data, Data::Binary(Bytes::from_static(&[1, 2, 3, 4])));
        let p = Packet::decode_text(&s("b4AQIDBA=="), V3).unwrap();
        assert_eq!(p, Packet::message(Bytes::from_static(&[1, 2, 3, 4])));
        assert_eq!(
            Packet::decode_text(&s("b"), V4).unwrap().data,
            Data::Binary(Bytes::new())
        );
        assert_eq!(Packet::decode_text(&s("b!!"), V4), Err(DecodeError::Base64));
        assert_eq!(Packet::decode_text(&s("b"), V3), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_text(&s("b9AA"), V3),
            Err(DecodeError::UnknownType('9' as u32))
        );
        assert!(Packet::decode_text(&s("b-_8"), V4).is_ok());
    }

    #[test]
    fn decode_binary_frames() {
        let p = Packet::decode_binary(Bytes::from_static(&[4, 9]), V3).unwrap();
        assert_eq!(p, Packet::message(Bytes::from_static(&[9])));
        let p = Packet::decode_binary(Bytes::from_static(&[4, 9]), V4).unwrap();
        assert_eq!(p, Packet::message(Bytes::from_static(&[4, 9])));
        assert_eq!(
            Packet::decode_binary(Bytes::new(), V3),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            Packet::decode_binary(Bytes::from_static(&[9]), V3),
            Err(DecodeError::UnknownType(9))
        );
    }

    #[test]
    fn decoded_text_is_zero_copy() {
        let src = Str::from(String::from("4payload"));
        let p = Packet::decode_text(&src, V4).unwrap();
        match p.data {
            Data::Text(t) => assert_eq!(t.as_ptr(), src[1..].as_ptr()),
            _ => panic!("not text"),
        }
    }

    #[test]
    fn roundtrip_all_types() {
        for n in 0..7u8 {
            let t = PacketType::from_u8(n).unwrap();
            for v in [V3, V4] {
                let p = Packet::new(t, Data::Text(s("x")));
                assert_eq!(
                    Packet::decode_text(&Str::from(p.encode_text(v)), v).unwrap(),
                    p
                );
            }
        }
        assert_eq!(PacketType::from_u8(7), None);
    }
}
