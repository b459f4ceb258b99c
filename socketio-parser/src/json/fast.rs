//! The payloads most packets carry, decoded without `serde_json`: arrays and objects of strings
//! that need no escape, `null`, `true`, `false` and small non-negative integers. Anything else
//! (an escape, a float, a negative number, deep nesting, any syntax error) returns `None`, and
//! the caller decodes the whole payload with `serde_json`, which also reports the error. So the
//! result is always the value `serde_json` would give; this path only skips its visitor machinery
//! (about 4x fewer instructions for `["echo","some text"]`).

use std::ops::Range;

use crate::value::{Map, Value};

/// Deeper payloads go to `serde_json`, which enforces its own recursion limit.
const MAX_DEPTH: usize = 32;

/// Digits of an integer this path takes (always below `2^53`, so one `u64` and one JS number).
const MAX_DIGITS: usize = 15;

/// The value of `text` when it is entirely in the subset, else `None`.
pub(super) fn parse(text: &str) -> Option<Value> {
    let mut p = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = p.value(0)?;
    p.skip_ws();
    (p.at == p.bytes.len()).then_some(value)
}

/// An event payload `["name", ...]` entirely in the subset, its name a string without
/// escapes: where the name is in `text`, and the arguments. `None` otherwise (also for `[]` or
/// a numeric name), and the caller decodes the payload the general way.
pub(super) fn parse_event(text: &str) -> Option<(Range<usize>, Vec<Value>)> {
    let mut p = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    p.skip_ws();
    if p.peek()? != b'[' {
        return None;
    }
    p.at += 1;
    p.skip_ws();
    if p.peek()? != b'"' {
        return None;
    }
    let name = p.string_span()?;
    let mut args = Vec::new();
    loop {
        p.skip_ws();
        match p.peek()? {
            b',' => {
                p.at += 1;
                // The elements of the top-level array, as `parse` reads them.
                let arg = p.value(1)?;
                if args.capacity() == 0 {
                    // The first argument: allocated at once (the capacity `Vec`'s first
                    // growth gives), not through its growth path, which runs more code.
                    args = Vec::with_capacity(4);
                }
                args.push(arg);
            }
            b']' => {
                p.at += 1;
                break;
            }
            _ => return None,
        }
    }
    p.skip_ws();
    (p.at == p.bytes.len()).then_some((name, args))
}

/// The length of the start of `bytes` that a JSON string holds as it is: up to the first quote,
/// backslash or control character. Eight bytes at a time: in a word `x`, `(x - 0x01..) & !x &
/// 0x80..` flags zero bytes (`x ^ quotes`: quotes), `(x - 0x20..) & !x & 0x80..` bytes below
/// 0x20; the lowest flag of each is exact (a borrow only flags bytes above a true one).
pub(super) fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let found = (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = bytes.get(at..).unwrap_or_default();
    at + rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(rest.len())
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// JSON's whitespace: space, tab, line feed, carriage return.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(Value::String),
            b'[' => self.array(depth),
            b'{' => self.object(depth),
            b'n' => self.word("null", Value::Null),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Option<Value> {
        let rest = self.bytes.get(self.at..)?;
        rest.starts_with(word.as_bytes()).then(|| {
            self.at += word.len();
            value
        })
    }

    /// A string without escapes or control characters (both are refused: `serde_json` decodes
    /// the escapes and reports the control characters).
    fn string(&mut self) -> Option<String> {
        let span = self.string_span()?;
        self.text.get(span).map(str::to_owned)
    }

    /// Where the content of such a string is (both ends next to ASCII quotes, so char
    /// boundaries).
    fn string_span(&mut self) -> Option<Range<usize>> {
        let start = self.at + 1;
        let end = start + plain_len(self.bytes.get(start..)?);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        Some(start..end)
    }

    fn integer(&mut self) -> Option<Value> {
        let start = self.at;
        let digits = self
            .bytes
            .get(start..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let end = start + digits;
        // A leading zero is invalid JSON; a fraction or an exponent makes a float.
        if digits > MAX_DIGITS
            || (digits > 1 && self.bytes.get(start) == Some(&b'0'))
            || matches!(self.bytes.get(end), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let n: u64 = self.text.get(start..end)?.parse().ok()?;
        self.at = end;
        Some(Value::from(n))
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            // A repeated key keeps its first position and takes the last value, as
            // `serde_json` into a `Value` (and `JSON.parse`) does.
            map.insert(key, value);
            self.skip_ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(Value::Object(map));
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_event, plain_len};

    /// An event's arguments in order; one without arguments allocates none, the first argument
    /// a buffer for four.
    #[test]
    fn parse_event_reads_the_arguments_and_allocates_only_for_some() {
        let (name, args) = parse_event(r#"["ping"]"#).unwrap();
        assert_eq!((name, args.len(), args.capacity()), (2..6, 0, 0));
        let text = r#"[ "echo" , "a", 1,[],{},null ]"#;
        let (name, args) = parse_event(text).unwrap();
        assert_eq!(&text[name], "echo");
        assert_eq!(args.len(), 5);
        assert_eq!(args[0], parse(r#""a""#).unwrap());
        assert_eq!(args[4], parse("null").unwrap());
        let (_, args) = parse_event(r#"["echo",true]"#).unwrap();
        assert_eq!((args.len(), args.capacity()), (1, 4));
        assert!(parse_event(r#"["echo",]"#).is_none());
    }

    /// The word-at-a-time scan stops where a byte-by-byte one does, at every offset.
    #[test]
    fn plain_len_finds_the_first_special_byte() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut text: Vec<u8> = (0..len).map(|i| b"a~ \x7f\xc3\xa9!"[i % 7]).collect();
                    if at < len {
                        text[at] = special;
                        // A second one further on must not be reported first.
                        if at + 3 < len {
                            text[at + 3] = b'"';
                        }
                    }
                    assert_eq!(plain_len(&text), slow(&text), "{text:?}");
                }
            }
        }
        // Bytes around 0x20 and 0x80 that must not count.
        let edge = [
            0x20u8, 0x21, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xa2, 0xdc, 0xff, 0x5b, 0x5d,
        ];
        assert_eq!(plain_len(&edge.repeat(5)), 60);
    }
    use crate::value::Value;

    /// Every input either decodes to exactly what `serde_json` gives, or is left to it.
    #[test]
    fn agrees_with_serde_json() {
        let taken = [
            r#"["echo","some text"]"#,
            r#" [ "a" , [ ] , { } , null , true , false , 0 , 7 , 123456789012345 ] "#,
            r#"["ev",{"a":"1","b":[1,2,{"c":null}],"a":"2"}]"#,
            r#"["é ü 漢字 🎉"]"#,
            "[\"x\",\t\n\r1]",
            r#"{"_placeholder":true,"num":0}"#,
            r#""""#,
            "[]",
        ];
        for text in taken {
            let ours = parse(text);
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours.as_ref(), Some(&theirs), "{text}");
            // Same order of keys too (`==` on a map ignores it).
            assert_eq!(format!("{ours:?}"), format!("{:?}", Some(theirs)), "{text}");
        }
        let left = [
            r#"["a\"b"]"#,
            r#"["a\nb"]"#,
            "[\"a\u{1}b\"]",
            "[-1]",
            "[1.5]",
            "[1e3]",
            "[01]",
            "[1234567890123456]",
            "[1,]",
            "[1 2]",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{1:2}"#,
            "[nul]",
            "[tru]",
            "[\"open",
            "[1]x",
            "[",
            "",
            "   ",
            "NaN",
        ];
        for text in left {
            assert_eq!(parse(text), None, "{text}");
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse(&deep), None);
        let shallow = format!("{}{}", "[".repeat(30), "]".repeat(30));
        let theirs: Value = serde_json::from_str(&shallow).unwrap();
        assert_eq!(parse(&shallow), Some(theirs));
    }
}
