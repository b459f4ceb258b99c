//! MessagePack with the semantics of npm `notepack.io` 3.0, the codec `@socket.io/redis-adapter`
//! and `@socket.io/redis-emitter` use for broadcasts.
//!
//! notepack encodes JavaScript values, so this module does too: a number with no fractional part
//! is written as the smallest integer form (never as a float), other numbers as float 64, object
//! keys whose value is `undefined` are left out, `Buffer`s are `bin`, and on decoding the legacy
//! ext type 0 (an `ArrayBuffer`) is binary as well. Writing the same value the same way as
//! notepack keeps our messages byte-identical to the reference's, which the tests check.
//!
//! Decoding treats its input as hostile: every length is checked against the bytes that are
//! really there before anything is allocated, nesting is limited to [`MAX_DEPTH`], and errors are
//! returned, never panics.

use bytes::Bytes;
use socketio_parser::{Number, Value};

/// An object of [`Value`]s.
pub type Map = socketio_parser::Map;

/// The deepest nesting of arrays and maps a decoded message may have.
pub const MAX_DEPTH: usize = 128;

/// Why a MessagePack message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// The input ended in the middle of a value.
    #[error("msgpack: unexpected end of input")]
    UnexpectedEof,
    /// Bytes are left after the top-level value.
    #[error("msgpack: {0} trailing bytes")]
    TrailingBytes(usize),
    /// A type byte that is not valid MessagePack (0xc1).
    #[error("msgpack: invalid type byte {0:#04x}")]
    InvalidType(u8),
    /// A string that is not UTF-8.
    #[error("msgpack: string is not valid UTF-8")]
    InvalidUtf8,
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error("msgpack: nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A map key that is neither a string nor a number.
    #[error("msgpack: unsupported map key")]
    InvalidKey,
}

/// Appends MessagePack to a buffer, choosing the same forms as notepack.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
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
    /// form as integers, everything else as float 64.
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

    /// Writes a string.
    pub fn str(&mut self, s: &str) {
        let len = s.len();
        if len < 0x20 {
            self.buf.push(0xa0 | len as u8);
        } else if len < 0x100 {
            self.buf.extend_from_slice(&[0xd9, len as u8]);
        } else if len < 0x1_0000 {
            self.buf.push(0xda);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0xdb);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Writes binary data.
    pub fn bin(&mut self, b: &[u8]) {
        let len = b.len();
        if len < 0x100 {
            self.buf.extend_from_slice(&[0xc4, len as u8]);
        } else if len < 0x1_0000 {
            self.buf.push(0xc5);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0xc6);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(b);
    }

    /// Writes an array header; the `len` elements follow.
    pub fn array_len(&mut self, len: usize) {
        if len < 0x10 {
            self.buf.push(0x90 | len as u8);
        } else if len < 0x1_0000 {
            self.buf.push(0xdc);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0xdd);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }

    /// Writes a map header; `len` key/value pairs follow.
    pub fn map_len(&mut self, len: usize) {
        if len < 0x10 {
            self.buf.push(0x80 | len as u8);
        } else if len < 0x1_0000 {
            self.buf.push(0xde);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0xdf);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }

    /// Writes a [`Value`] (numbers as JavaScript numbers, binary as `bin`).
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

    /// Writes a JSON number.
    pub fn json_number(&mut self, n: &Number) {
        if let Some(u) = n.as_u64() {
            self.uint(u)
        } else if let Some(i) = n.as_i64() {
            self.int(i)
        } else {
            self.number(n.as_f64().unwrap_or(f64::NAN))
        }
    }
}

/// Encodes one value.
pub fn encode(v: &Value) -> Bytes {
    let mut w = Writer::new();
    w.value(v);
    w.into_bytes()
}

/// Decodes exactly one value from `input` (trailing bytes are an error, as in notepack).
/// Binary values are zero-copy slices of `input`.
pub fn decode(input: &Bytes) -> Result<Value, MsgpackError> {
    let mut r = Reader { input, pos: 0 };
    let value = r.value(0)?;
    if r.pos != input.len() {
        return Err(MsgpackError::TrailingBytes(input.len() - r.pos));
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::UnexpectedEof)?;
        let slice = self
            .input
            .get(self.pos..end)
            .ok_or(MsgpackError::UnexpectedEof)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], MsgpackError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize, MsgpackError> {
        Ok(usize::from(self.u8()?))
    }

    fn len16(&mut self) -> Result<usize, MsgpackError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }

    fn len32(&mut self) -> Result<usize, MsgpackError> {
        usize::try_from(u32::from_be_bytes(self.be()?)).map_err(|_| MsgpackError::UnexpectedEof)
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn str(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| MsgpackError::InvalidUtf8)
    }

    fn bin(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let start = self.pos;
        self.take(len)?;
        Ok(Value::Binary(self.input.slice(start..start + len)))
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        // Every element takes at least one byte: a length beyond what is left is a lie, and
        // must not be used to pre-allocate.
        if len > self.remaining() {
            return Err(MsgpackError::UnexpectedEof);
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        if len.saturating_mul(2) > self.remaining() {
            return Err(MsgpackError::UnexpectedEof);
        }
        let mut entries = Map::with_capacity(len);
        for _ in 0..len {
            // JavaScript object keys are strings; notepack turns other keys into strings too.
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".to_owned(),
                _ => return Err(MsgpackError::InvalidKey),
            };
            let value = self.value(depth + 1)?;
            // Like a JavaScript object, a repeated key keeps its first position and last value.
            entries.insert(key, value);
        }
        Ok(Value::Object(entries))
    }

    fn ext(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let ty = self.u8()? as i8;
        match ty {
            // Legacy ArrayBuffer encoding: binary.
            0 => self.bin(len),
            // Timestamps decode to a JavaScript Date, which serialises as an ISO string; we keep
            // the milliseconds since the epoch as a number instead.
            -1 => {
                let raw = self.take(len)?.to_vec();
                let ms = match raw.len() {
                    4 => {
                        let s = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                        f64::from(s) * 1e3
                    }
                    8 => {
                        let hi = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                        let lo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
                        let s = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
                        s * 1e3 + f64::from(hi >> 2) / 1e6
                    }
                    12 => {
                        let ns = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                        let hi = i32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
                        let lo = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
                        (f64::from(hi) * 4_294_967_296.0 + f64::from(lo)) * 1e3
                            + f64::from(ns) / 1e6
                    }
                    _ => return Ok(Value::Null),
                };
                Ok(Value::from_f64(ms))
            }
            // notepack returns `[type, buffer]` for other ext types.
            other => {
                let data = self.bin(len)?;
                Ok(Value::Array(vec![Value::from(other), data]))
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, MsgpackError> {
        if depth > MAX_DEPTH {
            return Err(MsgpackError::TooDeep);
        }
        let b = self.u8()?;
        Ok(match b {
            0x00..=0x7f => Value::from(i64::from(b)),
            0x80..=0x8f => return self.map(usize::from(b & 0x0f), depth),
            0x90..=0x9f => return self.array(usize::from(b & 0x0f), depth),
            0xa0..=0xbf => return self.str(usize::from(b & 0x1f)),
            0xc0 => Value::Null,
            0xc1 => return Err(MsgpackError::InvalidType(b)),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let len = self.len8()?;
                return self.bin(len);
            }
            0xc5 => {
                let len = self.len16()?;
                return self.bin(len);
            }
            0xc6 => {
                let len = self.len32()?;
                return self.bin(len);
            }
            0xc7 => {
                let len = self.len8()?;
                return self.ext(len);
            }
            0xc8 => {
                let len = self.len16()?;
                return self.ext(len);
            }
            0xc9 => {
                let len = self.len32()?;
                return self.ext(len);
            }
            0xca => Value::from_f64(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => Value::from_f64(f64::from_be_bytes(self.be()?)),
            0xcc => Value::from(i64::from(self.u8()?)),
            0xcd => Value::from(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::from(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => {
                let v = u64::from_be_bytes(self.be()?);
                Value::from(v)
            }
            0xd0 => Value::from(i64::from(self.u8()? as i8)),
            0xd1 => Value::from(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::from(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::from(i64::from_be_bytes(self.be()?)),
            0xd4 => {
                // notepack: fixext 1 of type 0 is `undefined`.
                let ty = self.u8()? as i8;
                let data = self.take(1)?.to_vec();
                if ty == 0 {
                    Value::Null
                } else {
                    Value::Array(vec![
                        Value::from(i64::from(ty)),
                        Value::Binary(Bytes::from(data)),
                    ])
                }
            }
            0xd5 => return self.ext(2),
            0xd6 => return self.ext(4),
            0xd7 => {
                // notepack: fixext 8 of type 0 is a legacy Date (milliseconds).
                if self.input.get(self.pos).copied() == Some(0) {
                    self.pos += 1;
                    let hi = i32::from_be_bytes(self.be()?);
                    let lo = u32::from_be_bytes(self.be()?);
                    Value::from_f64(f64::from(hi) * 4_294_967_296.0 + f64::from(lo))
                } else {
                    return self.ext(8);
                }
            }
            0xd8 => return self.ext(16),
            0xd9 => {
                let len = self.len8()?;
                return self.str(len);
            }
            0xda => {
                let len = self.len16()?;
                return self.str(len);
            }
            0xdb => {
                let len = self.len32()?;
                return self.str(len);
            }
            0xdc => {
                let len = self.len16()?;
                return self.array(len, depth);
            }
            0xdd => {
                let len = self.len32()?;
                return self.array(len, depth);
            }
            0xde => {
                let len = self.len16()?;
                return self.map(len, depth);
            }
            0xdf => {
                let len = self.len32()?;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::from(i64::from(b as i8)),
        })
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
    fn hostile_input_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            &[],
            &[0xc1],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
            &[0xc6, 0xff, 0xff, 0xff, 0xff],
            &[0xa2, 0xff, 0xfe],
            &[0x91],
            &[0x01, 0x02],
            &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x05],
        ];
        for case in cases {
            assert!(
                decode(&Bytes::copy_from_slice(case)).is_err(),
                "{case:02x?}"
            );
        }
        let deep = Bytes::from(vec![0x91u8; 10_000]);
        assert_eq!(decode(&deep), Err(MsgpackError::TooDeep));
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
    }
}
