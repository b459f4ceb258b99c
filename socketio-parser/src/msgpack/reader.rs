//! [`Reader`] and [`decode`]: msgpack in, read as notepack reads it, with input treated as
//! hostile (bounded lengths, depth and preallocation).

use bytes::Bytes;

use crate::error::DecodeError;
use crate::value::{Map, Value};

/// The deepest nesting of arrays and maps a decoded value may have (the same as
/// `serde_json`'s), so hostile input cannot overflow the stack.
pub const MAX_DEPTH: usize = 128;

/// Cap on entries reserved up front for one container (it grows past that as needed), so
/// nested hostile length prefixes cannot multiply into large allocations.
const MAX_PREALLOC: usize = 64;

/// Why a MessagePack value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// The input ended in the middle of a value (or a length announces more than is left).
    #[error("msgpack: unexpected end of input")]
    UnexpectedEof,
    /// Bytes are left after the top-level value.
    #[error("msgpack: {0} trailing bytes")]
    TrailingBytes(usize),
    /// A type byte that is not valid MessagePack (0xc1).
    #[error("msgpack: invalid type byte {0:#04x}")]
    InvalidType(u8),
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error("msgpack: nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A map key that is not a string, number, boolean, nil or `undefined`.
    #[error("msgpack: unsupported map key")]
    InvalidKey,
}

impl From<MsgpackError> for DecodeError {
    fn from(e: MsgpackError) -> Self {
        DecodeError::InvalidMsgPack(match e {
            MsgpackError::UnexpectedEof => "truncated data",
            MsgpackError::TrailingBytes(_) => "trailing bytes",
            MsgpackError::InvalidType(_) => "reserved marker 0xc1",
            MsgpackError::TooDeep => "nesting too deep",
            MsgpackError::InvalidKey => "unsupported map key",
        })
    }
}

/// Decodes exactly one value from `input` (trailing bytes are an error, as in notepack).
/// Binary values are zero-copy slices of `input`; `undefined` becomes null.
pub fn decode(input: &Bytes) -> Result<Value, MsgpackError> {
    let mut r = Reader::new(input);
    let item = r.item(0)?;
    r.end()?;
    Ok(item.into_value())
}

/// A decoded msgpack item: a value, or JavaScript `undefined`.
pub(crate) enum Item {
    Undefined,
    Value(Value),
}

impl Item {
    pub(crate) fn into_value(self) -> Value {
        match self {
            Item::Undefined => Value::Null,
            Item::Value(v) => v,
        }
    }
}

/// Reads msgpack items from a shared input (the packet format reads its top-level map
/// field by field with it).
pub(crate) struct Reader<'a> {
    input: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a Bytes) -> Self {
        Reader { input, pos: 0 }
    }

    /// Fails unless the whole input was read.
    pub(crate) fn end(&self) -> Result<(), MsgpackError> {
        match self.input.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(MsgpackError::TrailingBytes(n)),
        }
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    /// How many entries to reserve for a container announcing `len` entries of at least
    /// `min_size` bytes each; a length the rest of the input cannot hold is a lie and an
    /// error at once.
    fn prealloc(&self, len: usize, min_size: usize) -> Result<usize, MsgpackError> {
        if len > self.remaining() / min_size {
            return Err(MsgpackError::UnexpectedEof);
        }
        Ok(len.min(MAX_PREALLOC))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::UnexpectedEof)?;
        let slice = self
            .input
            .get(self.pos..end)
            .ok_or(MsgpackError::UnexpectedEof)?;
        self.pos = end;
        Ok(slice)
    }

    /// The next byte, not consumed.
    pub(crate) fn peek(&self) -> Result<u8, MsgpackError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(MsgpackError::UnexpectedEof)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, MsgpackError> {
        self.take(1)?
            .first()
            .copied()
            .ok_or(MsgpackError::UnexpectedEof)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MsgpackError> {
        self.take(N)?
            .try_into()
            .map_err(|_| MsgpackError::UnexpectedEof)
    }

    /// A big-endian length of `width` bytes (1, 2 or 4).
    pub(crate) fn len(&mut self, width: usize) -> Result<usize, MsgpackError> {
        Ok(match width {
            1 => usize::from(self.u8()?),
            2 => usize::from(u16::from_be_bytes(self.array()?)),
            _ => usize::try_from(u32::from_be_bytes(self.array()?))
                .map_err(|_| MsgpackError::UnexpectedEof)?,
        })
    }

    /// A zero-copy slice of the input.
    fn bin(&mut self, len: usize) -> Result<Bytes, MsgpackError> {
        let start = self.pos;
        self.take(len)?;
        Ok(self.input.slice(start..self.pos))
    }

    fn str(&mut self, len: usize) -> Result<String, MsgpackError> {
        let bytes = self.take(len)?;
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            // Like Node's `buffer.toString('utf8')`, invalid sequences become U+FFFD.
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    /// The body of an ext of type `kind` and `len` bytes (the type byte already read).
    fn ext_body(&mut self, kind: i8, len: usize) -> Result<Item, MsgpackError> {
        match kind {
            // notepack writes ArrayBuffers as ext type 0.
            0 => Ok(Item::Value(Value::Binary(self.bin(len)?))),
            -1 => self.timestamp(len),
            // notepack returns `[type, buffer]` for other ext types.
            other => {
                let data = self.bin(len)?;
                Ok(Item::Value(Value::Array(vec![
                    Value::from(other),
                    Value::Binary(data),
                ])))
            }
        }
    }

    /// A timestamp decodes to a JavaScript Date, which serialises as an ISO string; we keep
    /// the milliseconds since the epoch as a number instead.
    fn timestamp(&mut self, len: usize) -> Result<Item, MsgpackError> {
        let raw = self.take(len)?;
        let word = |i: usize| -> u32 {
            raw.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_be_bytes)
        };
        let ms = match raw.len() {
            4 => f64::from(word(0)) * 1e3,
            8 => {
                let (hi, lo) = (word(0), word(4));
                let s = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
                s * 1e3 + f64::from(hi >> 2) / 1e6
            }
            12 => {
                let (ns, hi, lo) = (word(0), word(4) as i32, word(8));
                (f64::from(hi) * 4_294_967_296.0 + f64::from(lo)) * 1e3 + f64::from(ns) / 1e6
            }
            _ => return Ok(Item::Value(Value::Null)),
        };
        Ok(Item::Value(Value::from_f64(ms)))
    }

    fn ext(&mut self, len: usize) -> Result<Item, MsgpackError> {
        let kind = self.u8()? as i8;
        self.ext_body(kind, len)
    }

    fn fixext(&mut self, len: usize) -> Result<Item, MsgpackError> {
        let kind = self.u8()? as i8;
        if kind == 0 && len == 1 {
            self.take(1)?;
            return Ok(Item::Undefined);
        }
        if kind == 0 && len == 8 {
            // A legacy JavaScript Date: milliseconds since the epoch.
            let hi = i32::from_be_bytes(self.array()?);
            let lo = u32::from_be_bytes(self.array()?);
            return Ok(Item::Value(Value::from(
                i64::from(hi) * 0x1_0000_0000 + i64::from(lo),
            )));
        }
        if kind == 0 {
            let data = self.bin(len)?;
            return Ok(Item::Value(Value::Array(vec![
                Value::from(0),
                Value::Binary(data),
            ])));
        }
        self.ext_body(kind, len)
    }

    /// A map key: JavaScript turns any key into a string.
    pub(crate) fn key(&mut self, depth: usize) -> Result<String, MsgpackError> {
        Ok(match self.item(depth)? {
            Item::Value(Value::String(s)) => s,
            Item::Value(Value::Number(n)) => Value::Number(n).to_string(),
            Item::Value(Value::Bool(b)) => b.to_string(),
            Item::Value(Value::Null) => "null".to_owned(),
            Item::Undefined => "undefined".to_owned(),
            Item::Value(_) => return Err(MsgpackError::InvalidKey),
        })
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Item, MsgpackError> {
        let mut map = Map::with_capacity(self.prealloc(len, 2)?);
        for _ in 0..len {
            let key = self.key(depth + 1)?;
            let value = self.item(depth + 1)?.into_value();
            // Like a JavaScript object, a repeated key keeps its first position and last value.
            map.insert(key, value);
        }
        Ok(Item::Value(Value::Object(map)))
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Item, MsgpackError> {
        let mut items = Vec::with_capacity(self.prealloc(len, 1)?);
        for _ in 0..len {
            items.push(self.item(depth + 1)?.into_value());
        }
        Ok(Item::Value(Value::Array(items)))
    }

    /// Reads one item at nesting `depth`.
    pub(crate) fn item(&mut self, depth: usize) -> Result<Item, MsgpackError> {
        if depth > MAX_DEPTH {
            return Err(MsgpackError::TooDeep);
        }
        let marker = self.u8()?;
        let value = match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => return self.seq(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => Value::String(self.str(usize::from(marker & 0x1f))?),
            0xe0..=0xff => Value::from(marker as i8),
            0xc0 => Value::Null,
            0xc1 => return Err(MsgpackError::InvalidType(marker)),
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
        };
        Ok(Item::Value(value))
    }
}
