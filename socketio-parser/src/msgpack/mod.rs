//! MessagePack with the semantics of npm `notepack.io`, the codec of
//! `socket.io-msgpack-parser` (the msgpack packet format, [`Parser::MsgPack`](crate::Parser))
//! and of `@socket.io/redis-adapter` / `@socket.io/redis-emitter` (their broadcasts).
//!
//! notepack encodes JavaScript values, so this module does too: a number with no fractional
//! part is written as the smallest integer form (unsigned for non-negative values, never as a
//! float), other numbers as `float 64`, strings use `str 8` from 32 bytes, `Buffer`s are `bin`.
//! On decoding, `fixext 1` type 0 is `undefined` (null in a [`Value`](crate::Value)), the legacy ext type 0
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
mod reader;
mod writer;

pub use packet::{packet_from_value, packet_to_value, write_packet};
pub use reader::{decode, MsgpackError, MAX_DEPTH};
pub use writer::{encode, Writer};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::value::Value;
    use bytes::Bytes;

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
