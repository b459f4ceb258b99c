//! A minimal RESP3 codec, free of I/O: the command encoder and an
//! incremental decoder of replies and push frames, for the node's own Redis
//! link (`link`).
//!
//! The decoder reads frames out of a [`BytesMut`] as they complete; the
//! strings of a frame are slices of it ([`Bytes`], no copy). What comes from
//! Redis is network input: every length is bounded ([`MAX_BULK`],
//! [`MAX_ELEMENTS`], [`MAX_FRAME_ELEMENTS`], [`MAX_DEPTH`], [`MAX_LINE`]),
//! and malformed bytes are an [`Error`], never a panic.
//!
//! ```
//! use bytes::BytesMut;
//! use engine_io_cluster::resp::{encode_command, Decoder, Value};
//!
//! let mut out = BytesMut::new();
//! encode_command(&mut out, &[b"PUBLISH", b"ch", b"hi"]);
//! assert_eq!(&out[..], b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n");
//!
//! let mut input = BytesMut::from(&b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1"[..]);
//! let mut decoder = Decoder::default();
//! let push = decoder.decode(&mut input).unwrap().unwrap();
//! assert_eq!(push, Value::Push(vec![
//!     Value::Bulk("message".into()), Value::Bulk("ch".into()), Value::Bulk("hi".into()),
//! ]));
//! // `:1` is not complete until its CRLF arrives.
//! assert_eq!(decoder.decode(&mut input).unwrap(), None);
//! input.extend_from_slice(b"\r\n");
//! assert_eq!(decoder.decode(&mut input).unwrap(), Some(Value::Int(1)));
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use std::ops::Range;

/// The longest bulk string accepted: Redis's own limit for a pub/sub
/// client's output (32 MB by default) is far above any cluster message.
pub const MAX_BULK: usize = 32 * 1024 * 1024;
/// The most elements of one aggregate (array, set, push; pairs of a map).
pub const MAX_ELEMENTS: usize = 4096;
/// The most values in one frame, nested ones included: bounds the work of
/// parsing a frame again when it is still incomplete.
pub const MAX_FRAME_ELEMENTS: usize = 64 * 1024;
/// The deepest nesting of aggregates.
pub const MAX_DEPTH: usize = 8;
/// The longest line (a simple string, an error, a number).
pub const MAX_LINE: usize = 64 * 1024;

/// One RESP3 value. The strings are slices of the frame that carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<S = Bytes> {
    /// `+OK`.
    Simple(S),
    /// `-ERR …` or a blob error `!`.
    Error(S),
    /// `:1`.
    Int(i64),
    /// A bulk string `$`, or the text of a verbatim string `=` (its format
    /// prefix removed).
    Bulk(S),
    /// `_`, and RESP2's `$-1` and `*-1`.
    Nil,
    /// `#t` / `#f`.
    Bool(bool),
    /// A double `,`, as its text.
    Double(S),
    /// A big number `(`, as its text.
    BigNumber(S),
    /// An array `*` or a set `~`.
    Array(Vec<Value<S>>),
    /// A map `%`, as its pairs in order.
    Map(Vec<(Value<S>, Value<S>)>),
    /// A push `>`: out-of-band data (pub/sub messages, subscription notices).
    Push(Vec<Value<S>>),
}

impl Value {
    /// The bytes of a string value (simple, bulk, verbatim).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Simple(b) | Value::Bulk(b) => Some(b),
            _ => None,
        }
    }
}

impl<S> Value<S> {
    fn map<T>(self, f: &impl Fn(S) -> T) -> Value<T> {
        let list = |v: Vec<Value<S>>| v.into_iter().map(|e| e.map(f)).collect();
        match self {
            Value::Simple(s) => Value::Simple(f(s)),
            Value::Error(s) => Value::Error(f(s)),
            Value::Int(n) => Value::Int(n),
            Value::Bulk(s) => Value::Bulk(f(s)),
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Double(s) => Value::Double(f(s)),
            Value::BigNumber(s) => Value::BigNumber(f(s)),
            Value::Array(v) => Value::Array(list(v)),
            Value::Map(v) => Value::Map(v.into_iter().map(|(k, v)| (k.map(f), v.map(f))).collect()),
            Value::Push(v) => Value::Push(list(v)),
        }
    }
}

/// Bytes that are not RESP3 within the bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not RESP3: the reason.
    #[error("malformed RESP: {0}")]
    Malformed(&'static str),
    /// A length beyond the bounds: which one.
    #[error("RESP {0} beyond the bound")]
    TooLarge(&'static str),
}

/// Appends the command `args` (a RESP array of bulk strings) to `out`.
pub fn encode_command(out: &mut BytesMut, args: &[&[u8]]) {
    let len = 16 + args.iter().map(|a| a.len() + 16).sum::<usize>();
    out.reserve(len);
    put_header(out, b'*', args.len());
    for arg in args {
        put_header(out, b'$', arg.len());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

/// `<kind><n>\r\n`.
fn put_header(out: &mut BytesMut, kind: u8, n: usize) {
    out.put_u8(kind);
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// The incremental decoder: frames out of a buffer that fills over reads.
#[derive(Debug, Default)]
pub struct Decoder {
    /// How long the buffer must be before a frame can be complete (known
    /// from the last attempt: a bulk string's announced length), so that a
    /// large frame arriving in many reads is not parsed again each time.
    need: usize,
}

impl Decoder {
    /// The next complete frame at the front of `buf`, removed from it;
    /// `None` until one is complete. After an error the connection's bytes
    /// cannot be trusted any more: drop it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, Error> {
        if buf.is_empty() || buf.len() < self.need {
            return Ok(None);
        }
        let mut p = Parser {
            buf,
            pos: 0,
            values: 0,
            need: 0,
        };
        match p.value(0)? {
            None => {
                self.need = p.need.max(buf.len() + 1);
                Ok(None)
            }
            Some(raw) => {
                self.need = 0;
                let frame = buf.split_to(p.pos).freeze();
                Ok(Some(raw.map(&|r: Range<usize>| frame.slice(r))))
            }
        }
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    values: usize,
    /// On `None` (incomplete): the buffer length known to be needed.
    need: usize,
}

type Step<T> = Result<Option<T>, Error>;

impl Parser<'_> {
    /// The line at the position (without its CRLF), the position past it.
    fn line(&mut self) -> Step<Range<usize>> {
        let start = self.pos;
        let rest = &self.buf[start..];
        let window = &rest[..rest.len().min(MAX_LINE + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                if i == 0 || window[i - 1] != b'\r' {
                    return Err(Error::Malformed("a line not ended by CRLF"));
                }
                self.pos = start + i + 1;
                Ok(Some(start..start + i - 1))
            }
            None if window.len() > MAX_LINE => Err(Error::TooLarge("line")),
            None => Ok(None),
        }
    }

    fn int(&mut self) -> Step<i64> {
        let Some(r) = self.line()? else {
            return Ok(None);
        };
        parse_int(&self.buf[r]).map(Some)
    }

    /// A length: `-1` is `None` inside the `Some`.
    fn len(&mut self, max: usize, what: &'static str) -> Step<Option<usize>> {
        let Some(n) = self.int()? else {
            return Ok(None);
        };
        match n {
            -1 => Ok(Some(None)),
            n if n < 0 => Err(Error::Malformed("a negative length")),
            n if n as u64 > max as u64 => Err(Error::TooLarge(what)),
            n => Ok(Some(Some(n as usize))),
        }
    }

    fn bulk(&mut self) -> Step<Option<Range<usize>>> {
        let Some(len) = self.len(MAX_BULK, "bulk length")? else {
            return Ok(None);
        };
        let Some(len) = len else {
            return Ok(Some(None));
        };
        let start = self.pos;
        let end = start + len;
        if self.buf.len() < end + 2 {
            self.need = end + 2;
            return Ok(None);
        }
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(Error::Malformed("a bulk string not ended by CRLF"));
        }
        self.pos = end + 2;
        Ok(Some(Some(start..end)))
    }

    fn list(&mut self, depth: usize, n: usize) -> Step<Vec<Value<Range<usize>>>> {
        let mut items = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            let Some(v) = self.value(depth + 1)? else {
                return Ok(None);
            };
            items.push(v);
        }
        Ok(Some(items))
    }

    fn value(&mut self, depth: usize) -> Step<Value<Range<usize>>> {
        if depth > MAX_DEPTH {
            return Err(Error::TooLarge("nesting"));
        }
        self.values += 1;
        if self.values > MAX_FRAME_ELEMENTS {
            return Err(Error::TooLarge("frame"));
        }
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        macro_rules! ready {
            ($e:expr) => {
                match $e? {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
        }
        let v = match kind {
            b'+' => Value::Simple(ready!(self.line())),
            b'-' => Value::Error(ready!(self.line())),
            b':' => Value::Int(ready!(self.int())),
            b',' => Value::Double(ready!(self.line())),
            b'(' => Value::BigNumber(ready!(self.line())),
            b'_' => {
                if !ready!(self.line()).is_empty() {
                    return Err(Error::Malformed("a null with data"));
                }
                Value::Nil
            }
            b'#' => {
                let r = ready!(self.line());
                match &self.buf[r] {
                    b"t" => Value::Bool(true),
                    b"f" => Value::Bool(false),
                    _ => return Err(Error::Malformed("a boolean neither t nor f")),
                }
            }
            b'$' => match ready!(self.bulk()) {
                Some(r) => Value::Bulk(r),
                None => Value::Nil,
            },
            b'!' => match ready!(self.bulk()) {
                Some(r) => Value::Error(r),
                None => return Err(Error::Malformed("a null blob error")),
            },
            b'=' => match ready!(self.bulk()) {
                // `txt:` or `mkd:` first: the format.
                Some(r) if r.len() >= 4 && self.buf[r.start + 3] == b':' => {
                    Value::Bulk(r.start + 4..r.end)
                }
                _ => return Err(Error::Malformed("a verbatim string without its format")),
            },
            b'*' | b'~' | b'>' => {
                let n = ready!(self.len(MAX_ELEMENTS, "aggregate length"));
                match (kind, n) {
                    (b'*', None) => Value::Nil,
                    (_, None) => return Err(Error::Malformed("a null set or push")),
                    (b'>', Some(n)) => Value::Push(ready!(self.list(depth, n))),
                    (_, Some(n)) => Value::Array(ready!(self.list(depth, n))),
                }
            }
            b'%' | b'|' => {
                let Some(n) = ready!(self.len(MAX_ELEMENTS, "map length")) else {
                    return Err(Error::Malformed("a null map"));
                };
                let mut pairs = Vec::with_capacity(n.min(16));
                for _ in 0..n {
                    let k = ready!(self.value(depth + 1));
                    let v = ready!(self.value(depth + 1));
                    pairs.push((k, v));
                }
                if kind == b'|' {
                    // Attributes describe the reply that follows: skipped.
                    return self.value(depth);
                }
                Value::Map(pairs)
            }
            _ => return Err(Error::Malformed("an unknown type")),
        };
        Ok(Some(v))
    }
}

/// A RESP integer: an optional `-`, then 1 to 19 digits, within `i64`.
fn parse_int(text: &[u8]) -> Result<i64, Error> {
    let (neg, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(Error::Malformed("a bad number"));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(Error::Malformed("a bad number"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(d - b'0')))
            .ok_or(Error::Malformed("a number beyond i64"))?;
    }
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn all(input: &[u8]) -> Result<Vec<Value>, Error> {
        let mut buf = BytesMut::from(input);
        let mut d = Decoder::default();
        let mut out = Vec::new();
        while let Some(v) = d.decode(&mut buf)? {
            out.push(v);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    #[test]
    fn commands_encode_as_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &[b"HELLO", b"3"]);
        encode_command(&mut out, &[b"PUBLISH", b"c", &[0u8; 12][..]]);
        let mut expected =
            b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$12\r\n".to_vec();
        expected.extend_from_slice(&[0u8; 12]);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(&out[..], &expected[..]);
        // What we encode, we decode (as Redis does: an array of bulk strings).
        assert_eq!(
            all(&out).unwrap(),
            vec![
                Value::Array(vec![b("HELLO"), b("3")]),
                Value::Array(vec![
                    b("PUBLISH"),
                    b("c"),
                    Value::Bulk(Bytes::from_static(&[0u8; 12]))
                ]),
            ]
        );
    }

    #[test]
    fn every_type_decodes() {
        let input = b"+OK\r\n-ERR no\r\n:-42\r\n$3\r\na\r\n\r\n$-1\r\n*-1\r\n_\r\n#t\r\n#f\r\n,1.5\r\n(123\r\n!3\r\nbad\r\n=7\r\ntxt:abc\r\n*2\r\n:1\r\n$0\r\n\r\n~1\r\n+x\r\n%1\r\n+k\r\n:2\r\n|1\r\n+a\r\n+b\r\n:7\r\n";
        let s = |t: &'static str| Bytes::from_static(t.as_bytes());
        assert_eq!(
            all(input).unwrap(),
            vec![
                Value::Simple(s("OK")),
                Value::Error(s("ERR no")),
                Value::Int(-42),
                b("a\r\n"),
                Value::Nil,
                Value::Nil,
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Double(s("1.5")),
                Value::BigNumber(s("123")),
                Value::Error(s("bad")),
                b("abc"),
                Value::Array(vec![Value::Int(1), b("")]),
                Value::Array(vec![Value::Simple(s("x"))]),
                Value::Map(vec![(Value::Simple(s("k")), Value::Int(2))]),
                // The attribute is skipped: the reply it describes.
                Value::Int(7),
            ]
        );
    }

    #[test]
    fn frames_complete_byte_by_byte_and_slice_the_buffer() {
        let input = b">3\r\n$7\r\nmessage\r\n$4\r\nch#1\r\n$5\r\nhello\r\n:1\r\n";
        let mut buf = BytesMut::new();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for &byte in input.iter() {
            buf.put_u8(byte);
            while let Some(v) = d.decode(&mut buf).unwrap() {
                got.push(v);
            }
        }
        assert_eq!(
            got,
            vec![
                Value::Push(vec![b("message"), b("ch#1"), b("hello")]),
                Value::Int(1)
            ]
        );
    }

    #[test]
    fn a_large_bulk_is_not_parsed_again_until_it_can_be_complete() {
        let mut buf = BytesMut::from(&b"$100000\r\n"[..]);
        let mut d = Decoder::default();
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(d.need, 100_000 + 9 + 2);
        buf.extend_from_slice(&vec![b'x'; 100_000]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n");
        let v = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(v.as_bytes().map(Bytes::len), Some(100_000));
        assert!(buf.is_empty());
    }

    #[test]
    fn hostile_bytes_are_errors() {
        let cases: &[&[u8]] = &[
            b"?\r\n",
            b":12a\r\n",
            b":\r\n",
            b":99999999999999999999\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"$33554433\r\n",
            b"*4097\r\n",
            b"%-1\r\n",
            b"~-1\r\n",
            b"#x\r\n",
            b"_x\r\n",
            b"=2\r\nab\r\n",
            b"!-1\r\n",
            b"+OK\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ];
        for case in cases {
            assert!(all(case).is_err(), "{:?}", String::from_utf8_lossy(case));
        }
        // A line that never ends is bounded.
        let long = vec![b'+'; MAX_LINE + 3];
        assert_eq!(all(&long), Err(Error::TooLarge("line")));
        // So is a frame of many small values.
        let mut many = BytesMut::new();
        for _ in 0..20 {
            many.extend_from_slice(b"*4096\r\n");
            for _ in 0..4096 {
                many.extend_from_slice(b"_\r\n");
            }
        }
        let mut wrapped = BytesMut::from(&b"*20\r\n"[..]);
        wrapped.extend_from_slice(&many);
        assert_eq!(all(&wrapped), Err(Error::TooLarge("frame")));
    }

    #[test]
    fn numbers_print_as_redis_reads_them() {
        for n in [0usize, 7, 10, 99, 12345, usize::MAX] {
            let mut out = BytesMut::new();
            put_header(&mut out, b':', n);
            assert_eq!(&out[..], format!(":{n}\r\n").as_bytes());
        }
    }
}
