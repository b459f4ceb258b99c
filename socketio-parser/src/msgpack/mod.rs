//! MessagePack with the semantics of npm `notepack.io`, the codec of
//! `socket.io-msgpack-parser` (the msgpack packet format, [`Parser::MsgPack`](crate::Parser))
//! and of `@socket.io/redis-adapter` / `@socket.io/redis-emitter` (their broadcasts).
//!
//! notepack encodes JavaScript values, so this module does too: a number with no fractional
//! part is written as the smallest integer form (unsigned for non-negative values, never as a
//! float), other numbers as `float 64`, strings use `str 8` from 32 bytes, `Buffer`s are `bin`.
//! On decoding, `fixext 1` type 0 is `undefined` (null in a [`Value`]), the legacy ext type 0
//! (an `ArrayBuffer`) is binary, and a legacy Date (`fixext 8` type 0) or a timestamp (ext
//! type -1) is its milliseconds since the epoch. Writing the same value the same way as
//! notepack keeps our bytes identical to the reference's, which the tests check.
//!
//! Decoding treats its input as hostile: every length is checked against the bytes that are
//! really there, containers reserve a bounded number of entries up front, nesting is limited
//! to [`MAX_DEPTH`], binary values are zero-copy slices of the input, and errors are returned,
//! never panics.
//!
//! ```
//! use socketio_parser::msgpack::{decode, Writer};
//! use socketio_parser::Value;
//!
//! let mut w = Writer::new();
//! w.array_len(2);
//! w.uint(1);
//! w.str("a");
//! let bytes = w.into_bytes();
//! assert_eq!(&bytes[..], b"\x92\x01\xa1a");
//! assert_eq!(decode(&bytes)?, Value::Array(vec![Value::from(1), Value::from("a")]));
//! # Ok::<(), socketio_parser::msgpack::MsgpackError>(())
//! ```

pub(crate) mod packet;

pub use packet::{packet_from_value, packet_to_value, write_packet};

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::value::{Map, Number, Value};

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

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Appends MessagePack to a buffer, choosing the same forms as notepack.
///
/// Writing is infallible; a string, binary, array or map longer than msgpack can express
/// (2^32 - 1) is recorded and reported by [`Writer::finish`].
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    too_large: bool,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
            too_large: false,
        }
    }

    /// A writer appending to `buf`.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Writer {
            buf,
            too_large: false,
        }
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.buf)
    }

    /// The bytes written so far, as a vector.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far, or [`EncodeError::TooLarge`] if a length did not fit
    /// msgpack's 32 bits (the output is then unusable).
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        if self.too_large {
            Err(EncodeError::TooLarge)
        } else {
            Ok(self.buf)
        }
    }

    /// Writes a length: the fix form below `fix.1`, then the 8-, 16- and 32-bit forms.
    fn len(&mut self, len: usize, fix: Option<(u8, usize)>, m8: Option<u8>, m16: u8, m32: u8) {
        match fix {
            Some((marker, limit)) if len < limit => return self.buf.push(marker | len as u8),
            _ => {}
        }
        match m8 {
            Some(m8) if len < 0x100 => return self.buf.extend_from_slice(&[m8, len as u8]),
            _ => {}
        }
        if len < 0x1_0000 {
            self.buf.push(m16);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            let len = u32::try_from(len).unwrap_or_else(|_| {
                self.too_large = true;
                u32::MAX
            });
            self.buf.push(m32);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
    }

    /// Writes `nil`.
    pub fn nil(&mut self) {
        self.buf.push(0xc0);
    }

    /// Writes a boolean.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }

    /// Writes an unsigned integer in its smallest form.
    pub fn uint(&mut self, v: u64) {
        if v < 0x80 {
            self.buf.push(v as u8);
        } else if v < 0x100 {
            self.buf.extend_from_slice(&[0xcc, v as u8]);
        } else if v < 0x1_0000 {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v < 0x1_0000_0000 {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// Writes a signed integer in its smallest form (non-negative values as unsigned, like
    /// notepack).
    pub fn int(&mut self, v: i64) {
        if v >= 0 {
            self.uint(v as u64);
        } else if v >= -0x20 {
            self.buf.push(v as u8);
        } else if v >= -0x80 {
            self.buf.extend_from_slice(&[0xd0, v as u8]);
        } else if v >= -0x8000 {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= -0x8000_0000 {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// Writes a number the way JavaScript's notepack does: integral values that fit an integer
    /// form as integers (JavaScript cannot tell 2.0 from 2), everything else as float 64.
    pub fn number(&mut self, v: f64) {
        if v.is_finite() && v.fract() == 0.0 {
            if (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                return self.uint(v as u64);
            }
            if (-9_223_372_036_854_775_808.0..0.0).contains(&v) {
                return self.int(v as i64);
            }
        }
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a JSON number (as a JavaScript number).
    pub fn json_number(&mut self, n: &Number) {
        if let Some(u) = n.as_u64() {
            self.uint(u)
        } else if let Some(i) = n.as_i64() {
            self.int(i)
        } else {
            self.number(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// Writes a string.
    pub fn str(&mut self, s: &str) {
        self.len(s.len(), Some((0xa0, 0x20)), Some(0xd9), 0xda, 0xdb);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Writes binary data.
    pub fn bin(&mut self, b: &[u8]) {
        self.len(b.len(), None, Some(0xc4), 0xc5, 0xc6);
        self.buf.extend_from_slice(b);
    }

    /// Writes an array header; the `len` elements follow.
    pub fn array_len(&mut self, len: usize) {
        self.len(len, Some((0x90, 0x10)), None, 0xdc, 0xdd);
    }

    /// Writes a map header; `len` key/value pairs follow.
    pub fn map_len(&mut self, len: usize) {
        self.len(len, Some((0x80, 0x10)), None, 0xde, 0xdf);
    }

    /// Writes a [`Value`] (numbers as JavaScript numbers, binary as `bin`, object keys in
    /// order).
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.nil(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => self.json_number(n),
            Value::String(s) => self.str(s),
            Value::Binary(b) => self.bin(b),
            Value::Array(items) => {
                self.array_len(items.len());
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.map_len(map.len());
                for (k, v) in map {
                    self.str(k);
                    self.value(v);
                }
            }
        }
    }
}

/// Encodes one value.
pub fn encode(v: &Value) -> Bytes {
    let mut w = Writer::new();
    w.value(v);
    w.into_bytes()
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn roundtrip(v: Value) {
        let bytes = encode(&v);
        assert_eq!(decode(&bytes).unwrap(), v, "bytes {bytes:02x?}");
    }

    #[test]
    fn integers_use_the_smallest_form() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (256, &[0xcd, 0x01, 0x00]),
            (65536, &[0xce, 0, 1, 0, 0]),
            (1 << 32, &[0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-129, &[0xd1, 0xff, 0x7f]),
            (-40000, &[0xd2, 0xff, 0xff, 0x63, 0xc0]),
        ];
        for (v, bytes) in cases {
            let mut w = Writer::new();
            w.int(*v);
            assert_eq!(w.into_vec(), *bytes, "{v}");
            roundtrip(Value::from(*v));
        }
    }

    #[test]
    fn integral_floats_are_integers_like_javascript() {
        let mut w = Writer::new();
        w.number(3.0);
        w.number(-2.0);
        w.number(1.5);
        assert_eq!(
            w.into_vec(),
            [0x03, 0xfe, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn length_forms() {
        let mut w = Writer::new();
        w.str(&"x".repeat(31));
        w.str(&"x".repeat(32));
        w.bin(&[]);
        w.array_len(16);
        w.map_len(15);
        let out = w.finish().unwrap();
        assert_eq!(out[0], 0xbf);
        assert_eq!(out[32..34], [0xd9, 32]);
        assert_eq!(out[66..], [0xc4, 0, 0xdc, 0, 16, 0x8f]);
    }

    #[test]
    fn strings_binary_arrays_maps() {
        roundtrip(Value::String("é".repeat(40)));
        roundtrip(Value::String("x".repeat(70_000)));
        roundtrip(Value::Binary(Bytes::from(vec![1u8; 300])));
        roundtrip(Value::Array((0..20).map(Value::from).collect()));
        roundtrip(Value::Object(
            (0..20)
                .map(|i| (format!("k{i}"), Value::Bool(i % 2 == 0)))
                .collect(),
        ));
        roundtrip(Value::from_f64(0.1));
        roundtrip(Value::from(u64::MAX));
    }

    #[test]
    fn binary_is_a_slice_of_the_input() {
        let input = Bytes::from_static(&[0x91, 0xc4, 2, 7, 8]);
        let Value::Array(items) = decode(&input).unwrap() else {
            panic!("not an array")
        };
        let Some(Value::Binary(b)) = items.first() else {
            panic!("not binary")
        };
        assert_eq!(b.as_ptr(), input[3..].as_ptr());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            &[],
            &[0xc1],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
            &[0xc6, 0xff, 0xff, 0xff, 0xff],
            &[0x91],
            &[0x01, 0x02],
            &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x05],
            &[0x81, 0x91, 0x00, 0x00],
        ];
        for case in cases {
            assert!(
                decode(&Bytes::copy_from_slice(case)).is_err(),
                "{case:02x?}"
            );
        }
        let deep = Bytes::from(vec![0x91u8; 10_000]);
        assert_eq!(decode(&deep), Err(MsgpackError::TooDeep));
        assert_eq!(
            decode(&Bytes::from_static(&[0x01, 0x02])),
            Err(MsgpackError::TrailingBytes(1))
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_like_node() {
        assert_eq!(
            decode(&Bytes::from_static(&[0xa2, 0xff, 0xfe])).unwrap(),
            Value::from("\u{fffd}\u{fffd}")
        );
    }

    #[test]
    fn legacy_ext_types() {
        // ext 8 type 0 with 3 bytes: an ArrayBuffer.
        let v = decode(&Bytes::from_static(&[0xc7, 3, 0, 1, 2, 3])).unwrap();
        assert_eq!(v, Value::Binary(Bytes::from_static(&[1, 2, 3])));
        // fixext 1 type 0: undefined.
        assert_eq!(
            decode(&Bytes::from_static(&[0xd4, 0, 0])).unwrap(),
            Value::Null
        );
        // fixext 8 type 0: a Date, in milliseconds.
        assert_eq!(
            decode(&Bytes::from_static(&[0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 2])).unwrap(),
            Value::from(0x1_0000_0002_i64)
        );
        // timestamp 32: seconds, kept as milliseconds.
        assert_eq!(
            decode(&Bytes::from_static(&[0xd6, 0xff, 0, 0, 0, 3])).unwrap(),
            Value::from_f64(3000.0)
        );
    }
}
