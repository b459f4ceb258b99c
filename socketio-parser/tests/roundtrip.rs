//! Property tests: every packet we encode decodes back to itself, with both parsers,
//! including binary values nested at any depth; arbitrary input never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use socketio_parser::{Decoder, Frame, Map, Packet, PacketType, Parser, Value};

fn leaf(binary: bool) -> BoxedStrategy<Value> {
    let mut options = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        any::<i64>().prop_map(Value::from).boxed(),
        any::<u64>().prop_map(Value::from).boxed(),
        // Finite floats only: JSON has no NaN or infinities.
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from)
            .boxed(),
        ".{0,12}".prop_map(Value::String).boxed(),
    ];
    if binary {
        options.push(
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| Value::Binary(Bytes::from(b)))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

fn value(binary: bool) -> BoxedStrategy<Value> {
    leaf(binary)
        .prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((".{0,8}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map>())),
            ]
        })
        .boxed()
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just("/admin".to_owned()),
        "/[^,]{0,10}".prop_map(|s| s),
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    ".{0,10}".prop_filter("not reserved", |n| !socketio_parser::is_reserved_event(n))
}

/// Any valid packet. `binary_outside_events`: msgpack carries binary anywhere; the JSON
/// format only turns EVENT/ACK into binary packets.
fn packet(binary_outside_events: bool) -> impl Strategy<Value = Packet> {
    let args = proptest::collection::vec(value(true), 0..5).boxed();
    let object = proptest::collection::vec((".{0,8}", value(binary_outside_events)), 0..4)
        .prop_map(|e| Value::Object(e.into_iter().collect::<Map>()))
        .boxed();
    prop_oneof![
        (namespace(), proptest::option::of(object.clone()))
            .prop_map(|(nsp, data)| Packet::connect(nsp, data)),
        namespace().prop_map(Packet::disconnect),
        (
            namespace(),
            event_name(),
            args.clone(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(nsp, name, args, id)| {
                let mut p = Packet::event(nsp, name, args);
                p.id = id;
                p
            }),
        (
            namespace(),
            any::<i32>(),
            args.clone(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(nsp, name, mut args, id)| {
                // Numeric event names are valid too.
                args.insert(0, Value::from(name));
                Packet {
                    kind: PacketType::Event,
                    nsp,
                    id,
                    data: Some(Value::Array(args)),
                }
            }),
        (namespace(), any::<u64>(), args).prop_map(|(nsp, id, args)| Packet::ack(nsp, id, args)),
        (namespace(), ".{0,20}", proptest::option::of(value(false)))
            .prop_map(|(nsp, msg, data)| Packet::connect_error(nsp, msg, data)),
        (namespace(), ".{0,20}").prop_map(|(nsp, msg)| Packet {
            data: Some(Value::String(msg)),
            ..Packet::new(PacketType::ConnectError, nsp)
        }),
    ]
}

fn count_binaries(v: &Value) -> usize {
    match v {
        Value::Binary(_) => 1,
        Value::Array(items) => items.iter().map(count_binaries).sum(),
        Value::Object(map) => map.values().map(count_binaries).sum(),
        _ => 0,
    }
}

fn decode_all(parser: Parser, frames: &[Frame], max: usize) -> Vec<Packet> {
    let mut decoder = Decoder::new(parser).with_max_attachments(max);
    let mut out = Vec::new();
    for frame in frames {
        let decoded = match frame {
            Frame::Text(_) => decoder.decode_text(frame.as_text().unwrap()),
            Frame::Binary(b) => decoder.decode_binary(b.clone()),
        };
        out.extend(decoded.unwrap_or_else(|e| panic!("decode failed: {e}")));
    }
    assert!(!decoder.is_awaiting_attachments());
    out
}

/// What a packet looks like after the trip: `"/"` for an empty namespace, `-0.0` as `0`
/// (JavaScript prints `-0` as `0`), a null payload dropped (the reference omits it).
fn normalized(mut p: Packet) -> Packet {
    fn fix(v: &mut Value) {
        match v {
            Value::Number(n) if n.as_f64() == Some(0.0) => *v = Value::from(0u64),
            Value::Number(n) => {
                // Integral floats come back as integers (JavaScript has one number type).
                if let (None, None, Some(f)) = (n.as_u64(), n.as_i64(), n.as_f64()) {
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        *v = if f < 0.0 {
                            Value::from(f as i64)
                        } else {
                            Value::from(f as u64)
                        };
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(fix),
            Value::Object(map) => map.values_mut().for_each(fix),
            _ => {}
        }
    }
    if p.data.as_ref().is_some_and(Value::is_null) {
        p.data = None;
    }
    if let Some(d) = p.data.as_mut() {
        fix(d);
    }
    p
}

/// Numbers compared as f64 (an integral float may come back as an integer).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn same_packet(a: &Packet, b: &Packet) -> bool {
    a.kind == b.kind
        && a.nsp == b.nsp
        && a.id == b.id
        && match (&a.data, &b.data) {
            (Some(x), Some(y)) => same(x, y),
            (x, y) => x == y,
        }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_round_trip(p in packet(false)) {
        let encoded = Parser::Json.encode(&p).unwrap();
        let binaries = p.data.as_ref().map_or(0, count_binaries);
        let is_binary = matches!(p.kind, PacketType::Event | PacketType::Ack) && binaries > 0;
        prop_assert_eq!(encoded.len(), 1 + if is_binary { binaries } else { 0 });
        prop_assert!(encoded.frames()[0].is_text());
        let decoded = decode_all(Parser::Json, encoded.frames(), usize::MAX);
        prop_assert_eq!(decoded.len(), 1);
        let expected = normalized(p);
        prop_assert!(same_packet(&decoded[0], &expected), "{:?}\n!=\n{:?}", decoded[0], expected);
        // Re-encoding the decoded packet gives the same bytes (stable encoding).
        prop_assert_eq!(Parser::Json.encode(&decoded[0]).unwrap(), encoded);
    }

    #[test]
    fn msgpack_round_trip(p in packet(true)) {
        let encoded = Parser::MsgPack.encode(&p).unwrap();
        prop_assert_eq!(encoded.len(), 1);
        prop_assert!(!encoded.frames()[0].is_text());
        let decoded = decode_all(Parser::MsgPack, encoded.frames(), 10);
        prop_assert_eq!(decoded.len(), 1);
        let expected = normalized(p);
        prop_assert!(same_packet(&decoded[0], &expected), "{:?}\n!=\n{:?}", decoded[0], expected);
        prop_assert_eq!(Parser::MsgPack.encode(&decoded[0]).unwrap(), encoded);
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,64}", prefix in "[0-6]{0,1}[0-9-]{0,3}(/[a-z,]{0,4})?[0-9]{0,3}") {
        let mut d = Decoder::new(Parser::Json);
        let _ = d.decode_text(&format!("{prefix}{s}"));
        let _ = d.decode_binary(Bytes::from_static(b"x"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Decoder::new(Parser::MsgPack).decode_binary(Bytes::from(bytes));
    }

    #[test]
    fn mutated_msgpack_never_panics(p in packet(true), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let encoded = Parser::MsgPack.encode(&p).unwrap();
        let mut bytes = encoded.frames()[0].bytes().to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Decoder::new(Parser::MsgPack).decode_binary(Bytes::from(bytes));
    }
}
