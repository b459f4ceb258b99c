//! The msgpack packet format of npm `socket.io-msgpack-parser` 3.0: each packet is one
//! binary message, the msgpack map `{type, data, nsp, id}`, binary values as native
//! `bin`. Written and read the way its `notepack.io` 2.x does, byte for byte:
//! integral numbers use the smallest integer format (unsigned for non-negative values),
//! other numbers are `float 64`, strings use `str 8` from 32 bytes, and `undefined`
//! (`fixext 1` type 0) marks a missing value. The value codec is the parent module's.

use bytes::Bytes;

use super::reader::{Item, Reader};
use super::writer::Writer;
use crate::encoded::{Encoded, Frame};
use crate::error::{DecodeError, EncodeError};
use crate::json::validate_payload;
use crate::packet::{Packet, PacketType, DEFAULT_NAMESPACE};
use crate::value::{Map, Number, Value};

/// Encodes a packet as one binary frame.
pub(crate) fn encode(packet: &Packet) -> Result<Encoded, EncodeError> {
    let mut w = Writer::with_capacity(32 + packet.nsp.len());
    write_packet(&mut w, packet);
    Ok(Encoded::from_parts(
        Frame::Binary(Bytes::from(w.finish()?)),
        Vec::new(),
    ))
}

/// The namespace as the packet map carries it: any string (msgpack delimits it, and the
/// reference accepts any string too, so only the JSON format restricts namespaces), `/`
/// for an empty one.
fn wire_nsp(packet: &Packet) -> &str {
    if packet.nsp.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        packet.nsp.as_str()
    }
}

/// Writes the packet map `{type, data, nsp[, id]}` in the order the reference server builds
/// it; absent data and id are omitted, and the type is the plain `EVENT`/`ACK` even when the
/// data holds binary (binary values are native `bin`). The one writer of the map: the packet
/// format and the Redis adapter's envelopes both call it.
///
/// ```
/// use socketio_parser::{msgpack::{write_packet, Writer}, Packet};
///
/// let mut w = Writer::new();
/// write_packet(&mut w, &Packet::event("/", "e", vec![]));
/// assert_eq!(&w.into_bytes()[..], b"\x83\xa4type\x02\xa4data\x91\xa1e\xa3nsp\xa1/");
/// ```
pub fn write_packet(w: &mut Writer, packet: &Packet) {
    let entries = 2 + usize::from(packet.data.is_some()) + usize::from(packet.id.is_some());
    w.map_len(entries);
    w.str("type");
    w.uint(u64::from(packet.kind.without_binary().code()));
    if let Some(data) = &packet.data {
        w.str("data");
        w.value(data);
    }
    w.str("nsp");
    w.str(wire_nsp(packet));
    if let Some(id) = packet.id {
        w.str("id");
        w.uint(id);
    }
}

/// The packet map of [`write_packet`] as a [`Value`] (same keys, same order), for envelopes
/// that are not written with a msgpack [`Writer`] (the Redis requests sent as JSON).
pub fn packet_to_value(packet: &Packet) -> Value {
    let mut map = Map::with_capacity(4);
    map.insert(
        "type".to_owned(),
        Value::from(packet.kind.without_binary().code()),
    );
    if let Some(data) = &packet.data {
        map.insert("data".to_owned(), data.clone());
    }
    map.insert("nsp".to_owned(), Value::from(wire_nsp(packet)));
    if let Some(id) = packet.id {
        map.insert("id".to_owned(), Value::from(id));
    }
    Value::Object(map)
}

/// Reads a packet map that was decoded as a whole [`Value`] (inside a Redis envelope), with
/// the checks of [`Decoder::decode_binary`](crate::Decoder::decode_binary). A decoded value
/// cannot tell `null` from `undefined`, so a `null` member counts as absent here.
///
/// ```
/// use socketio_parser::{msgpack::{packet_from_value, packet_to_value}, Packet};
///
/// let packet = Packet::event("/chat", "e", vec![1.into()]).with_id(3);
/// assert_eq!(packet_from_value(packet_to_value(&packet))?, packet);
/// # Ok::<(), socketio_parser::DecodeError>(())
/// ```
pub fn packet_from_value(value: Value) -> Result<Packet, DecodeError> {
    let Value::Object(map) = value else {
        return Err(DecodeError::UnknownPacketType("not a map".to_owned()));
    };
    let mut fields = Fields::default();
    for (key, value) in map {
        fields.set(&key, (!value.is_null()).then_some(value));
    }
    fields.check()
}

/// Reads the top-level packet map field by field (no intermediate map for it).
#[derive(Default)]
struct Fields {
    kind: Option<Value>,
    nsp: Option<Value>,
    data: Option<Value>,
    id: Option<Value>,
}

impl Fields {
    /// A repeated key takes the last value, as in JavaScript; unknown keys (the JS client
    /// sends `options`) are ignored.
    fn set(&mut self, key: &str, value: Option<Value>) {
        match key {
            "type" => self.kind = value,
            "nsp" => self.nsp = value,
            "data" => self.data = value,
            "id" => self.id = value,
            _ => {}
        }
    }

    /// The packet, checked as the reference `checkPacket` does.
    fn check(self) -> Result<Packet, DecodeError> {
        let kind = match &self.kind {
            Some(Value::Number(n)) => integer(n)
                .filter(|&c| c <= 4)
                .and_then(|c| PacketType::from_code(c as u8)),
            _ => None,
        }
        .ok_or_else(|| {
            DecodeError::UnknownPacketType(
                self.kind
                    .as_ref()
                    .map_or_else(|| "undefined".to_owned(), Value::to_string),
            )
        })?;
        let nsp = match self.nsp {
            Some(Value::String(nsp)) => nsp,
            _ => return Err(DecodeError::InvalidNamespace),
        };
        validate_payload(kind, self.data.as_ref())?;
        let id = match self.id {
            None => None,
            Some(Value::Number(n)) => {
                Some(integer(&n).ok_or_else(|| DecodeError::InvalidAckId(n.to_string()))?)
            }
            Some(other) => return Err(DecodeError::InvalidAckId(other.to_string())),
        };
        Ok(Packet {
            kind,
            nsp,
            id,
            data: self.data,
        })
    }
}

fn read_fields(reader: &mut Reader<'_>) -> Result<Fields, DecodeError> {
    let len = match reader.peek()? {
        marker @ 0x80..=0x8f => {
            reader.u8()?;
            usize::from(marker & 0x0f)
        }
        marker @ (0xde | 0xdf) => {
            reader.u8()?;
            reader.len(if marker == 0xde { 2 } else { 4 })?
        }
        _ => {
            // Malformed data is reported as such before the wrong shape (notepack
            // fails to decode first, then `checkPacket` refuses).
            reader.item(0)?;
            reader.end()?;
            return Err(DecodeError::UnknownPacketType("not a map".to_owned()));
        }
    };
    let mut fields = Fields::default();
    for _ in 0..len {
        let key = reader.key(1)?;
        // `undefined` counts as absent, as in the reference (`data === undefined`).
        let value = match reader.item(1)? {
            Item::Undefined => None,
            Item::Value(v) => Some(v),
        };
        fields.set(&key, value);
    }
    Ok(fields)
}

/// A non-negative integer, or a float with an integral value (JavaScript's `isInteger`).
fn integer(n: &Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..u64::MAX as f64).contains(f))
            .map(|f| f as u64)
    })
}

/// Decodes and checks one packet (the reference `checkPacket`).
pub(crate) fn decode(input: Bytes) -> Result<Packet, DecodeError> {
    let mut reader = Reader::new(&input);
    let fields = read_fields(&mut reader)?;
    reader.end()?;
    fields.check()
}
