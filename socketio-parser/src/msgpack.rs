//! The msgpack packet format of npm `socket.io-msgpack-parser` 3.0: each packet is one
//! binary message, the msgpack map `{type, data, nsp, id}`, binary values as native
//! `bin`. Written and read the way its `notepack.io` 2.x does, byte for byte:
//! integral numbers use the smallest integer format (unsigned for non-negative values),
//! other numbers are `float 64`, strings use `str 8` from 32 bytes, and `undefined`
//! (`fixext 1` type 0) marks a missing value.

use bytes::Bytes;

use crate::encoded::{Encoded, Frame};
use crate::error::{DecodeError, EncodeError};
use crate::json::validate_payload;
use crate::packet::{Packet, PacketType, DEFAULT_NAMESPACE};
use crate::value::{Map, Number, Value};

/// Cap on entries reserved up front for one container (it grows past that as needed).
const MAX_PREALLOC: usize = 64;

/// Nesting limit, the same as `serde_json`'s, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

fn write_len(
    out: &mut Vec<u8>,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) -> Result<(), EncodeError> {
    match fix {
        Some((marker, limit)) if len < limit => {
            out.push(marker | len as u8);
            return Ok(());
        }
        _ => {}
    }
    if let Some(m8) = m8 {
        if len < 0x100 {
            out.extend_from_slice(&[m8, len as u8]);
            return Ok(());
        }
    }
    if len < 0x1_0000 {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.push(m32);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        return Err(EncodeError::TooLarge);
    }
    Ok(())
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    write_len(out, s.len(), Some((0xa0, 0x20)), Some(0xd9), 0xda, 0xdb)?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x100 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v < 0x1_0000 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_uint(out, v as u64);
    } else if v >= -0x20 {
        out.push(v as i8 as u8);
    } else if v >= -0x80 {
        out.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        write_uint(out, u);
    } else if let Some(i) = n.as_i64() {
        write_int(out, i);
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        // JavaScript cannot tell 2.0 from 2: integral values take the integer formats.
        if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            write_uint(out, f as u64);
        } else if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            write_int(out, f as i64);
        } else {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
    }
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), EncodeError> {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s)?,
        Value::Binary(b) => {
            write_len(out, b.len(), None, Some(0xc4), 0xc5, 0xc6)?;
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            write_len(out, items.len(), Some((0x90, 0x10)), None, 0xdc, 0xdd)?;
            for item in items {
                write_value(out, item)?;
            }
        }
        Value::Object(map) => {
            write_len(out, map.len(), Some((0x80, 0x10)), None, 0xde, 0xdf)?;
            for (k, v) in map {
                write_str(out, k)?;
                write_value(out, v)?;
            }
        }
    }
    Ok(())
}

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
    let mut out = Vec::with_capacity(32 + nsp.len());
    let entries = 2 + usize::from(packet.data.is_some()) + usize::from(packet.id.is_some());
    out.push(0x80 | entries as u8);
    write_str(&mut out, "type")?;
    write_uint(&mut out, u64::from(packet.kind.without_binary().code()));
    if let Some(data) = &packet.data {
        write_str(&mut out, "data")?;
        write_value(&mut out, data)?;
    }
    write_str(&mut out, "nsp")?;
    write_str(&mut out, nsp)?;
    if let Some(id) = packet.id {
        write_str(&mut out, "id")?;
        write_uint(&mut out, id);
    }
    Ok(Encoded::from_parts(
        Frame::Binary(Bytes::from(out)),
        Vec::new(),
    ))
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A decoded msgpack item: a value, or JavaScript `undefined`.
enum Item {
    Undefined,
    Value(Value),
}

impl Item {
    fn into_value(self) -> Value {
        match self {
            Item::Undefined => Value::Null,
            Item::Value(v) => v,
        }
    }
}

struct Reader<'a> {
    input: &'a Bytes,
    pos: usize,
}

/// A function, not a constant: `ok_or(CONST)` would build and drop an error on every
/// successful read (measurably slow, `DecodeError` has drop glue).
fn truncated() -> DecodeError {
    DecodeError::InvalidMsgPack("truncated data")
}

impl Reader<'_> {
    /// How many entries to reserve for a container announcing `len` entries of at least
    /// `min_size` bytes each: never more than the input can hold, and a small cap so
    /// nested hostile length prefixes cannot multiply into large allocations.
    fn prealloc(&self, len: usize, min_size: usize) -> usize {
        let remaining = self.input.len().saturating_sub(self.pos) / min_size;
        len.min(remaining).min(MAX_PREALLOC)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let slice = self.input.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(*self.take(1)?.first().ok_or_else(truncated)?)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| truncated())
    }

    fn len(&mut self, width: usize) -> Result<usize, DecodeError> {
        Ok(match width {
            1 => usize::from(self.u8()?),
            2 => usize::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }

    /// A zero-copy slice of the input.
    fn bin(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(len)?;
        Ok(self.input.slice(start..start + len))
    }

    fn str(&mut self, len: usize) -> Result<String, DecodeError> {
        let bytes = self.take(len)?;
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            // Like Node's `buffer.toString('utf8')`, invalid sequences become U+FFFD.
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    fn ext(&mut self, len: usize) -> Result<Item, DecodeError> {
        let kind = self.u8()? as i8;
        if kind == 0 {
            // notepack writes ArrayBuffers as ext type 0.
            return Ok(Item::Value(Value::Binary(self.bin(len)?)));
        }
        let data = self.bin(len)?;
        Ok(Item::Value(Value::Array(vec![
            Value::from(kind),
            Value::Binary(data),
        ])))
    }

    fn fixext(&mut self, len: usize) -> Result<Item, DecodeError> {
        let kind = self.u8()? as i8;
        if kind == 0 && len == 1 {
            self.take(1)?;
            return Ok(Item::Undefined);
        }
        if kind == 0 && len == 8 {
            // A JavaScript Date: milliseconds since the epoch.
            let hi = i32::from_be_bytes(self.array()?);
            let lo = u32::from_be_bytes(self.array()?);
            return Ok(Item::Value(Value::from(
                i64::from(hi) * 0x1_0000_0000 + i64::from(lo),
            )));
        }
        let data = self.bin(len)?;
        Ok(Item::Value(Value::Array(vec![
            Value::from(kind),
            Value::Binary(data),
        ])))
    }

    fn key(&mut self, depth: usize) -> Result<String, DecodeError> {
        // JavaScript turns any key into a string.
        Ok(match self.item(depth)? {
            Item::Value(Value::String(s)) => s,
            Item::Value(Value::Number(n)) => Value::Number(n).to_string(),
            Item::Value(Value::Bool(b)) => b.to_string(),
            Item::Value(Value::Null) => "null".to_owned(),
            Item::Undefined => "undefined".to_owned(),
            Item::Value(_) => return Err(DecodeError::InvalidMsgPack("unsupported map key")),
        })
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Item, DecodeError> {
        let mut map = Map::with_capacity(self.prealloc(len, 2));
        for _ in 0..len {
            let key = self.key(depth + 1)?;
            let value = self.item(depth + 1)?.into_value();
            map.insert(key, value);
        }
        Ok(Item::Value(Value::Object(map)))
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Item, DecodeError> {
        let mut items = Vec::with_capacity(self.prealloc(len, 1));
        for _ in 0..len {
            items.push(self.item(depth + 1)?.into_value());
        }
        Ok(Item::Value(Value::Array(items)))
    }

    fn item(&mut self, depth: usize) -> Result<Item, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::InvalidMsgPack("nesting too deep"));
        }
        let marker = self.u8()?;
        let value = match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => return self.seq(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => Value::String(self.str(usize::from(marker & 0x1f))?),
            0xe0..=0xff => Value::from(marker as i8),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = self.len(1 << (marker - 0xc4))?;
                Value::Binary(self.bin(len)?)
            }
            0xc7..=0xc9 => {
                let len = self.len(1 << (marker - 0xc7))?;
                return self.ext(len);
            }
            0xca => Value::from(f64::from(f32::from_be_bytes(self.array()?))),
            0xcb => Value::from(f64::from_be_bytes(self.array()?)),
            0xcc => Value::from(self.u8()?),
            0xcd => Value::from(u16::from_be_bytes(self.array()?)),
            0xce => Value::from(u32::from_be_bytes(self.array()?)),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::from(self.u8()? as i8),
            0xd1 => Value::from(i16::from_be_bytes(self.array()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.array()?)),
            0xd3 => Value::from(i64::from_be_bytes(self.array()?)),
            0xd4 => return self.fixext(1),
            0xd5 => return self.fixext(2),
            0xd6 => return self.fixext(4),
            0xd7 => return self.fixext(8),
            0xd8 => return self.fixext(16),
            0xd9..=0xdb => {
                let len = self.len(1 << (marker - 0xd9))?;
                Value::String(self.str(len)?)
            }
            0xdc | 0xdd => {
                let len = self.len(if marker == 0xdc { 2 } else { 4 })?;
                return self.seq(len, depth);
            }
            0xde | 0xdf => {
                let len = self.len(if marker == 0xde { 2 } else { 4 })?;
                return self.map(len, depth);
            }
            0xc1 => return Err(DecodeError::InvalidMsgPack("reserved marker 0xc1")),
        };
        Ok(Item::Value(value))
    }
}

/// Decodes one msgpack value (the whole input, no trailing bytes).
pub(crate) fn decode_value(input: &Bytes) -> Result<Value, DecodeError> {
    let mut reader = Reader { input, pos: 0 };
    let item = reader.item(0)?;
    if reader.pos != input.len() {
        return Err(DecodeError::InvalidMsgPack("trailing bytes"));
    }
    Ok(item.into_value())
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
    let marker = reader.u8()?;
    let len = match marker {
        0x80..=0x8f => usize::from(marker & 0x0f),
        0xde => reader.len(2)?,
        0xdf => reader.len(4)?,
        _ => {
            // Malformed data is reported as such before the wrong shape (notepack
            // fails to decode first, then `checkPacket` refuses).
            reader.pos -= 1;
            reader.item(0)?;
            if reader.pos != reader.input.len() {
                return Err(DecodeError::InvalidMsgPack("trailing bytes"));
            }
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
    let mut reader = Reader {
        input: &input,
        pos: 0,
    };
    let fields = read_fields(&mut reader)?;
    if reader.pos != input.len() {
        return Err(DecodeError::InvalidMsgPack("trailing bytes"));
    }
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
