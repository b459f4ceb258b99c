//! The msgpack packet format of npm `socket.io-msgpack-parser` 3.0: each packet is one
//! binary message, the msgpack map `{type, data, nsp, id}`, binary values as native
//! `bin`. Written and read the way its `notepack.io` 2.x does, byte for byte:
//! integral numbers use the smallest integer format (unsigned for non-negative values),
//! other numbers are `float 64`, strings use `str 8` from 32 bytes, and `undefined`
//! (`fixext 1` type 0) marks a missing value. The value codec is the parent module's.

use bytes::Bytes;

use super::{Item, Reader, Writer};
use crate::encoded::{Encoded, Frame};
use crate::error::{DecodeError, EncodeError};
use crate::json::validate_payload;
use crate::packet::{Packet, PacketType, DEFAULT_NAMESPACE};
use crate::value::{Number, Value};

/// Encodes a packet as one binary frame. Keys are written in the order the reference
/// server builds them (`type`, `data`, `nsp`, then `id`); absent data and id are omitted.
pub(crate) fn encode(packet: &Packet) -> Result<Encoded, EncodeError> {
    // Any string is a valid namespace here: msgpack delimits it (the reference accepts any
    // string too), so only the JSON format restricts namespaces.
    let nsp = if packet.nsp.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        packet.nsp.as_str()
    };
    let mut w = Writer::with_capacity(32 + nsp.len());
    let entries = 2 + usize::from(packet.data.is_some()) + usize::from(packet.id.is_some());
    w.map_len(entries);
    w.str("type");
    w.uint(u64::from(packet.kind.without_binary().code()));
    if let Some(data) = &packet.data {
        w.str("data");
        w.value(data);
    }
    w.str("nsp");
    w.str(nsp);
    if let Some(id) = packet.id {
        w.str("id");
        w.uint(id);
    }
    Ok(Encoded::from_parts(
        Frame::Binary(Bytes::from(w.finish()?)),
        Vec::new(),
    ))
}

/// Reads the top-level packet map field by field (no intermediate map for it).
#[derive(Default)]
struct Fields {
    kind: Option<Value>,
    nsp: Option<Value>,
    data: Option<Value>,
    id: Option<Value>,
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
        // A repeated key takes the last value, as in JavaScript; unknown keys (the JS
        // client sends `options`) are ignored.
        match key.as_str() {
            "type" => fields.kind = value,
            "nsp" => fields.nsp = value,
            "data" => fields.data = value,
            "id" => fields.id = value,
            _ => {}
        }
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
    let kind = match &fields.kind {
        Some(Value::Number(n)) => integer(n)
            .filter(|&c| c <= 4)
            .and_then(|c| PacketType::from_code(c as u8)),
        _ => None,
    }
    .ok_or_else(|| {
        DecodeError::UnknownPacketType(
            fields
                .kind
                .as_ref()
                .map_or_else(|| "undefined".to_owned(), Value::to_string),
        )
    })?;
    let nsp = match fields.nsp {
        Some(Value::String(nsp)) => nsp,
        _ => return Err(DecodeError::InvalidNamespace),
    };
    validate_payload(kind, fields.data.as_ref())?;
    let id = match fields.id {
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
        data: fields.data,
    })
}
