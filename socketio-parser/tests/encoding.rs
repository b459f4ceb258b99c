//! Exact encodings (the examples of the protocol specification), the serde bridge, the
//! msgpack byte layout, protocol v4 helpers, and zero-copy guarantees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use socketio_parser::{
    from_value, to_value, Decoder, EncodeError, Frame, Map, Packet, PacketType, Parser,
    ProtocolVersion, Value,
};

fn json_value(v: serde_json::Value) -> Value {
    Value::from(v)
}

fn text_of(p: &Packet) -> String {
    let encoded = Parser::Json.encode(p).unwrap();
    encoded.frames()[0].as_text().unwrap().to_owned()
}

fn decode_one(text: &str) -> Packet {
    Decoder::new(Parser::Json)
        .decode_text(text)
        .unwrap()
        .expect("complete packet")
}

#[test]
fn specification_examples() {
    // From docs/socket.io-protocol/v5-current.md and the reference test-suite.
    let cases: Vec<(Packet, &str)> = vec![
        (Packet::connect("/", None), "0"),
        (
            Packet::connect(
                "/admin",
                Some(json_value(serde_json::json!({"token": "123"}))),
            ),
            r#"0/admin,{"token":"123"}"#,
        ),
        (
            Packet::connect(
                "/",
                Some(json_value(
                    serde_json::json!({"sid": "oSO0OpakMV_3jnilAAAA"}),
                )),
            ),
            r#"0{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        ),
        (Packet::disconnect("/admin"), "1/admin,"),
        (Packet::event("/", "foo", vec![]), r#"2["foo"]"#),
        (
            Packet::event("/", "foo", vec![]).with_id(12),
            r#"212["foo"]"#,
        ),
        (Packet::event("/admin", "bar", vec![]), r#"2/admin,["bar"]"#),
        (
            Packet::ack("/admin", 13, vec!["bar".into()]),
            r#"3/admin,13["bar"]"#,
        ),
        (
            Packet::connect_error("/", "Not authorized", None),
            r#"4{"message":"Not authorized"}"#,
        ),
    ];
    for (packet, wire) in cases {
        assert_eq!(text_of(&packet), wire);
        assert_eq!(decode_one(wire), packet, "{wire}");
    }
}

#[test]
fn binary_placeholders_in_order_at_any_depth() {
    let a = Bytes::from_static(b"\x01\x02");
    let b = Bytes::from_static(b"\x03");
    let c = Bytes::from_static(b"");
    let mut meta = Map::new();
    meta.insert("thumb".into(), Value::Binary(b.clone()));
    meta.insert(
        "parts".into(),
        Value::Array(vec![Value::Binary(c.clone()), Value::from(1)]),
    );
    let p = Packet::event(
        "/files",
        "upload",
        vec![Value::Binary(a.clone()), Value::Object(meta)],
    )
    .with_id(4);
    let encoded = Parser::Json.encode(&p).unwrap();
    assert_eq!(
        encoded.frames(),
        &[
            Frame::Text(Bytes::from_static(
                br#"53-/files,4["upload",{"_placeholder":true,"num":0},{"thumb":{"_placeholder":true,"num":1},"parts":[{"_placeholder":true,"num":2},1]}]"#
            )),
            Frame::Binary(a.clone()),
            Frame::Binary(b),
            Frame::Binary(c),
        ]
    );
    // Attachments are the caller's buffers, not copies.
    assert_eq!(encoded.frames()[1].bytes().as_ptr(), a.as_ptr());

    let mut d = Decoder::new(Parser::Json);
    let mut out = None;
    for f in encoded.iter() {
        out = match f {
            Frame::Text(_) => d.decode_text(f.as_text().unwrap()).unwrap(),
            Frame::Binary(bytes) => d.decode_binary(bytes.clone()).unwrap(),
        };
    }
    let decoded = out.expect("complete");
    assert_eq!(decoded, p);
    // Reassembly hands out the received buffers themselves.
    assert_eq!(decoded.args()[0].as_bytes().unwrap().as_ptr(), a.as_ptr());
}

#[test]
fn binary_ack_and_binary_outside_events() {
    let p = Packet::ack("/", 1, vec![Value::Binary(Bytes::from_static(b"x"))]);
    assert_eq!(text_of(&p), r#"61-1[{"_placeholder":true,"num":0}]"#);
    // CONNECT is never a binary packet: the reference writes a Buffer as JSON.
    let mut auth = Map::new();
    auth.insert("key".into(), Value::Binary(Bytes::from_static(b"\x01\x02")));
    let p = Packet::connect("/", Some(Value::Object(auth)));
    assert_eq!(text_of(&p), r#"0{"key":{"type":"Buffer","data":[1,2]}}"#);
}

#[test]
fn namespace_rules() {
    assert_eq!(text_of(&Packet::event("", "a", vec![])), r#"2["a"]"#);
    for bad in ["/a,b", "admin"] {
        assert_eq!(
            Parser::Json.encode(&Packet::event(bad, "a", vec![])),
            Err(EncodeError::InvalidNamespace(bad.into()))
        );
        // msgpack delimits strings itself: any namespace goes, as with the reference.
        let encoded = Parser::MsgPack
            .encode(&Packet::event(bad, "a", vec![]))
            .unwrap();
        let back = Decoder::new(Parser::MsgPack)
            .decode_binary(encoded.frames()[0].bytes().clone())
            .unwrap()
            .unwrap();
        assert_eq!(back.nsp, bad);
    }
    // A namespace runs to the comma or the end.
    let p = decode_one("0/custom");
    assert_eq!((p.nsp.as_str(), p.data), ("/custom", None));
    let p = decode_one("0/custom?token=1,");
    assert_eq!(p.nsp, "/custom?token=1");
    // The binary header then the namespace then the id.
    let mut d = Decoder::new(Parser::Json);
    assert!(d
        .decode_text(r#"51-/a,99["x",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .is_none());
    let p = d.decode_binary(Bytes::from_static(b"!")).unwrap().unwrap();
    assert_eq!(
        (p.kind, p.nsp.as_str(), p.id),
        (PacketType::Event, "/a", Some(99))
    );
}

#[test]
fn javascript_number_formatting_and_key_order() {
    let p = Packet::event(
        "/",
        "n",
        vec![
            Value::from(1.0),
            Value::from(-0.0),
            Value::from(1e21),
            Value::from(1e-7),
            Value::from(0.1),
            Value::from(f64::NAN),
            Value::from(u64::MAX),
            json_value(serde_json::json!({"b": 1, "a": 2})),
        ],
    );
    // serde_json::json! sorts keys; decode text to get JavaScript order instead.
    assert_eq!(
        text_of(&p),
        r#"2["n",1,0,1e+21,1e-7,0.1,null,18446744073709551615,{"a":2,"b":1}]"#
    );
    let p = decode_one(r#"2["o",{"b":1,"a":2,"b":3}]"#);
    // A repeated key keeps its first position and takes the last value, like JSON.parse.
    assert_eq!(text_of(&p), r#"2["o",{"b":3,"a":2}]"#);
}

#[test]
fn event_helpers() {
    let p = decode_one(r#"2/chat,5["msg","hi",2]"#);
    assert_eq!(p.event_name(), Some("msg"));
    assert_eq!(p.args(), &[Value::from("hi"), Value::from(2)]);
    let (name, args) = p.into_event().unwrap();
    assert_eq!((name.as_str(), args.len()), ("msg", 2));
    let p = decode_one(r#"2[7,"x"]"#);
    assert_eq!(p.event_name(), None);
    assert_eq!(p.args(), &[Value::from("x")]);
    let p = decode_one(r#"3/chat,5["a",1]"#);
    assert_eq!(p.args().len(), 2);
    assert_eq!(p.event_name(), None);
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Upload {
    name: String,
    size: u64,
    ratio: f64,
    tags: Vec<String>,
    content: Bytes,
    #[serde(with = "serde_bytes")]
    thumb: Vec<u8>,
    kind: Kind,
    parent: Option<Box<Upload>>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Kind {
    Image,
    Video { seconds: u32 },
    Other(String),
}

#[test]
fn serde_bridge_round_trips_user_types_with_binary() {
    let upload = Upload {
        name: "a.png".into(),
        size: 3,
        ratio: 0.5,
        tags: vec!["x".into()],
        content: Bytes::from_static(b"\x89PN"),
        thumb: vec![1, 2, 3],
        kind: Kind::Video { seconds: 3 },
        parent: Some(Box::new(Upload {
            name: "p".into(),
            size: 0,
            ratio: 1.0,
            tags: vec![],
            content: Bytes::new(),
            thumb: vec![],
            kind: Kind::Other("o".into()),
            parent: None,
        })),
    };
    let value = to_value(&upload).unwrap();
    assert_eq!(
        value.get("content"),
        Some(&Value::Binary(Bytes::from_static(b"\x89PN")))
    );
    assert_eq!(
        value
            .get("kind")
            .unwrap()
            .get("Video")
            .unwrap()
            .get("seconds"),
        Some(&Value::from(3))
    );
    for parser in [Parser::Json, Parser::MsgPack] {
        let packet = Packet::event("/", "upload", vec![value.clone()]);
        let encoded = parser.encode(&packet).unwrap();
        if parser == Parser::Json {
            // Both byte fields of both structs travel as attachments.
            assert_eq!(encoded.len(), 5);
        }
        let mut d = Decoder::new(parser);
        let mut out = None;
        for f in encoded.iter() {
            out = match f {
                Frame::Text(_) => d.decode_text(f.as_text().unwrap()).unwrap(),
                Frame::Binary(b) => d.decode_binary(b.clone()).unwrap(),
            };
        }
        let (_, mut args) = out.unwrap().into_event().unwrap();
        let back: Upload = from_value(args.remove(0)).unwrap();
        assert_eq!(back, upload);
    }
    // A plain Vec<u8> field accepts binary data too.
    #[derive(Deserialize)]
    struct Plain {
        data: Vec<u8>,
    }
    let mut map = Map::new();
    map.insert(
        "data".into(),
        Value::Binary(Bytes::from_static(b"\x07\x08")),
    );
    let plain: Plain = from_value(Value::Object(map)).unwrap();
    assert_eq!(plain.data, vec![7, 8]);
    // Unit variants, tuples, maps with integer keys.
    assert_eq!(to_value(&Kind::Image).unwrap(), Value::from("Image"));
    let back: Kind = from_value(Value::from("Image")).unwrap();
    assert_eq!(back, Kind::Image);
    let t: (u8, String) = from_value(to_value(&(1u8, "x")).unwrap()).unwrap();
    assert_eq!(t, (1, "x".to_owned()));
    let m: std::collections::BTreeMap<u32, bool> =
        from_value(to_value(&std::collections::BTreeMap::from([(3u32, true)])).unwrap()).unwrap();
    assert_eq!(m.get(&3), Some(&true));
    // Errors are reported, not panics.
    assert!(from_value::<u8>(Value::from(300)).is_err());
    assert!(from_value::<String>(Value::from(1)).is_err());
}

#[test]
fn serde_json_value_conversions() {
    let j = serde_json::json!({"a": [1, 2.5, "x", null, true]});
    let v = Value::from(j.clone());
    assert_eq!(serde_json::Value::from(v.clone()), j);
    // Binary becomes an array of numbers when going to serde_json.
    let b = Value::Binary(Bytes::from_static(b"\x01\x02"));
    assert_eq!(serde_json::Value::from(b), serde_json::json!([1, 2]));
    // Value's own Serialize/Deserialize work with other serde formats too.
    let s = serde_json::to_string(&v).unwrap();
    let back: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back, v);
    assert_eq!(v.to_string(), r#"{"a":[1,2.5,"x",null,true]}"#);
}

#[test]
fn msgpack_layout_matches_notepack() {
    // {type: 2, data: ["a", 1, -1, 1.5, 256], nsp: "/", id: 3}
    let p = Packet::event(
        "/",
        "a",
        vec![
            Value::from(1),
            Value::from(-1),
            Value::from(1.5),
            Value::from(256),
        ],
    )
    .with_id(3);
    let encoded = Parser::MsgPack.encode(&p).unwrap();
    let mut want = b"\x84\xa4type\x02\xa4data\x95\xa1a\x01\xff\xcb\x3f\xf8\0\0\0\0\0\0\xcd\x01\x00\xa3nsp\xa1/\xa2id\x03".to_vec();
    assert_eq!(
        encoded.frames(),
        &[Frame::Binary(Bytes::from(want.clone()))]
    );
    // Integral floats take integer formats; -0 is 0.
    let p = Packet::event("/", "a", vec![Value::from(2.0), Value::from(-0.0)]);
    let bytes = Parser::MsgPack.encode(&p).unwrap().frames()[0]
        .bytes()
        .clone();
    assert!(bytes.windows(4).any(|w| w == b"\x93\xa1a\x02"), "{bytes:?}");
    want.clear();
    // Binary is native bin, and decoding slices the input without copying.
    let input = Parser::MsgPack
        .encode(&Packet::event(
            "/",
            "b",
            vec![Value::Binary(Bytes::from_static(&[9; 300]))],
        ))
        .unwrap()
        .frames()[0]
        .bytes()
        .clone();
    assert!(input.windows(3).any(|w| w == b"\xc5\x01\x2c"));
    let p = Decoder::new(Parser::MsgPack)
        .decode_binary(input.clone())
        .unwrap()
        .unwrap();
    let bin = p.args()[0].as_bytes().unwrap();
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    assert!(range.contains(&(bin.as_ptr() as usize)));
    // Unknown keys (the JS client adds `options`) are ignored; undefined data is none.
    // {type: 0, data: undefined, nsp: "/", options: {compress: true}}
    let p = Decoder::new(Parser::MsgPack)
        .decode_binary(Bytes::from_static(
            b"\x84\xa4type\x00\xa4data\xd4\x00\x00\xa3nsp\xa1/\xa7options\x81\xa8compress\xc3",
        ))
        .unwrap()
        .unwrap();
    assert_eq!(p, Packet::connect("/", None));
}

#[test]
fn protocol_v4_helpers() {
    assert_eq!(ProtocolVersion::from_engine_io(3), ProtocolVersion::V4);
    assert_eq!(ProtocolVersion::from_engine_io(4), ProtocolVersion::V5);
    let reply = Packet::connect_reply(ProtocolVersion::V5, "/", "sid1", Some("pid1"));
    assert_eq!(text_of(&reply), r#"0{"sid":"sid1","pid":"pid1"}"#);
    let reply = Packet::connect_reply(ProtocolVersion::V4, "/", "sid1", None);
    assert_eq!(text_of(&reply), "0");
    let err = Packet::connect_error_for(ProtocolVersion::V4, "/admin", "Invalid namespace", None);
    assert_eq!(text_of(&err), r#"4/admin,"Invalid namespace""#);
    assert_eq!(err.connect_error_message(), Some("Invalid namespace"));
    let err = Packet::connect_error_for(
        ProtocolVersion::V5,
        "/admin",
        "Invalid namespace",
        Some(Value::from(1)),
    );
    assert_eq!(
        text_of(&err),
        r#"4/admin,{"message":"Invalid namespace","data":1}"#
    );
    assert_eq!(err.connect_error_message(), Some("Invalid namespace"));
    // A v4 client's CONNECT with a query string, and without payload.
    let p = decode_one("0/admin?token=abc,");
    assert_eq!(p.data, None);
    assert_eq!(
        socketio_parser::split_namespace_query(&p.nsp),
        ("/admin", Some("token=abc"))
    );
}

#[test]
fn encoded_is_shared_not_copied() {
    let p = Packet::event("/", "big", vec![Value::from("x".repeat(10_000))]);
    let encoded = Parser::Json.encode(&p).unwrap();
    let copy = encoded.clone();
    assert_eq!(
        encoded.frames()[0].bytes().as_ptr(),
        copy.frames()[0].bytes().as_ptr()
    );
    // `2["big","…"]`
    assert_eq!(encoded.byte_len(), 10_000 + 11);
}

/// Inputs found by `cargo fuzz`: each must decode, re-encode, and re-encode identically.
#[test]
fn fuzz_regressions() {
    // decode_msgpack: {type: 0, dama: {token: "t"}, nsp: "2admin"}: msgpack accepts any
    // namespace string, so its encoder must too.
    let input = b"\x83\xa4type\x00\xa4dama\x81\xa5token\xa1t\xa3nsp\xa62admin";
    let mut d = Decoder::new(Parser::MsgPack);
    let p = d.decode_binary(Bytes::from_static(input)).unwrap().unwrap();
    let first = Parser::MsgPack.encode(&p).unwrap();
    let again = d
        .decode_binary(first.frames()[0].bytes().clone())
        .unwrap()
        .unwrap();
    assert_eq!(Parser::MsgPack.encode(&again).unwrap(), first);
}
