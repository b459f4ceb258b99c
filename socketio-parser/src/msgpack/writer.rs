//! [`Writer`]: msgpack out, choosing the forms notepack chooses.

use bytes::Bytes;

use crate::error::EncodeError;
use crate::value::{Number, Value};

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
