//! Byte-for-byte cross-check of `socketio-parser` against the reference npm packages
//! (`socket.io-parser` 4.2, `socket.io-msgpack-parser` 3.0), both ways:
//!
//! Protocol v4 (Socket.IO 2.x) is checked against the `socket.io-parser` 3.3 bundled with
//! `socket.io-client` 2.x in the same ways.
//!
//! 1. The reference encodes a fixed table of packets (`js/parser-crosscheck.js table`): our
//!    decoder must decode each to the packet the reference decoder yields, and our encoder
//!    must produce the very same frames from that packet.
//! 2. Our encoder encodes generated packets (nested binary included); the reference decoder
//!    (`js/parser-crosscheck.js decode`) must decode them to the packets we started from.
//! 3. Hostile inputs we reject are rejected by the reference too, and the inputs where we
//!    deliberately differ behave as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use bytes::Bytes;
use socketio_parser::{
    DecodeError, Decoder, Encoded, Frame, Map, Packet, PacketType, Parser, Value,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Runs the cross-check script; returns its JSON result parsed into our `Value` (which
/// keeps object key order, so encodings can be compared byte for byte).
fn node(mode: &str, stdin: Option<&str>) -> Value {
    protocol_tests::ensure_deps();
    let mut child = Command::new("node")
        .arg("parser-crosscheck.js")
        .arg(mode)
        .current_dir(protocol_tests::js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("node output");
    assert!(
        out.status.success(),
        "node parser-crosscheck.js {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("node printed JSON")
}

/// `{"$bin": base64}` objects become binary values.
fn revive(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(revive).collect()),
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(b64)) = map.get("$bin") {
                    return Value::Binary(Bytes::from(B64.decode(b64).expect("base64")));
                }
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, revive(v))).collect())
        }
        other => other,
    }
}

/// The inverse of `revive`.
fn describe(value: &Value) -> Value {
    match value {
        Value::Binary(b) => {
            let mut map = Map::new();
            map.insert("$bin".into(), Value::String(B64.encode(b)));
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.iter().map(describe).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), describe(v))).collect())
        }
        other => other.clone(),
    }
}

fn packet_from(desc: &Value) -> Packet {
    let kind = desc.get("type").and_then(Value::as_u64).expect("type");
    Packet {
        kind: PacketType::from_code(kind as u8).expect("known type"),
        nsp: desc
            .get("nsp")
            .and_then(Value::as_str)
            .expect("nsp")
            .to_owned(),
        id: desc.get("id").map(|id| id.as_u64().expect("integer id")),
        data: desc.get("data").cloned().map(revive),
    }
}

fn frames_from(desc: &Value) -> Vec<Frame> {
    desc.as_array()
        .expect("frames")
        .iter()
        .map(|f| match (f.get("text"), f.get("binary")) {
            (Some(Value::String(t)), _) => Frame::Text(Bytes::from(t.clone())),
            (_, Some(Value::String(b))) => {
                Frame::Binary(Bytes::from(B64.decode(b).expect("base64")))
            }
            _ => panic!("bad frame {f}"),
        })
        .collect()
}

fn describe_frames(encoded: &Encoded) -> Value {
    encoded
        .iter()
        .map(|f| {
            let mut map = Map::new();
            match f {
                Frame::Text(_) => {
                    let text = f.as_text().expect("utf-8").to_owned();
                    map.insert("text".into(), Value::from(text));
                }
                Frame::Binary(b) => {
                    map.insert("binary".into(), Value::String(B64.encode(b)));
                }
            }
            Value::Object(map)
        })
        .collect()
}

fn parser_named(name: &str) -> Parser {
    match name {
        "json" | "json-v4" => Parser::Json,
        "msgpack" => Parser::MsgPack,
        other => panic!("unknown parser {other}"),
    }
}

fn parser_name(parser: Parser) -> &'static str {
    if parser.is_binary() {
        "msgpack"
    } else {
        "json"
    }
}

/// Feeds frames to a fresh decoder; all complete packets, or the first error.
fn decode_frames(parser: Parser, frames: &[Frame]) -> Result<Vec<Packet>, DecodeError> {
    let mut decoder = Decoder::new(parser);
    let mut packets = Vec::new();
    for frame in frames {
        let decoded = match frame {
            Frame::Text(_) => decoder.decode_text(frame.as_text().expect("utf-8"))?,
            Frame::Binary(b) => decoder.decode_binary(b.clone())?,
        };
        packets.extend(decoded);
    }
    Ok(packets)
}

/// Value equality where numbers compare as JavaScript numbers (2 == 2.0) and object keys
/// must also come in the same order.
fn assert_same(ours: &Value, theirs: &Value, ctx: &str) {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{ctx}: number {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{ctx}: array length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{ctx}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka = js_key_order(a.keys().map(String::as_str).collect());
            let kb = js_key_order(b.keys().map(String::as_str).collect());
            assert_eq!(ka, kb, "{ctx}: object keys");
            for (k, v) in a {
                assert_same(v, &b[k], &format!("{ctx}.{k}"));
            }
        }
        _ => assert_eq!(ours, theirs, "{ctx}"),
    }
}

/// The order in which JavaScript enumerates object keys: array indices (canonical decimal
/// integers below 2^32 - 1) first, ascending, then the other keys in insertion order. We
/// keep insertion order for all keys (a documented difference), so only objects with
/// integer-like keys can differ, and only in this way.
fn js_key_order(keys: Vec<&str>) -> Vec<&str> {
    let index = |k: &str| -> Option<u32> {
        let n: u32 = k.parse().ok()?;
        (n != u32::MAX && n.to_string() == k).then_some(n)
    };
    let mut indices: Vec<(u32, &str)> = keys
        .iter()
        .filter_map(|k| index(k).map(|n| (n, *k)))
        .collect();
    indices.sort_unstable();
    indices
        .into_iter()
        .map(|(_, k)| k)
        .chain(keys.into_iter().filter(|k| index(k).is_none()))
        .collect()
}

fn assert_same_packet(ours: &Packet, theirs: &Packet, ctx: &str) {
    assert_eq!(ours.kind, theirs.kind, "{ctx}: type");
    assert_eq!(ours.nsp, theirs.nsp, "{ctx}: nsp");
    assert_eq!(ours.id, theirs.id, "{ctx}: id");
    match (&ours.data, &theirs.data) {
        (Some(a), Some(b)) => assert_same(a, b, &format!("{ctx}: data")),
        (a, b) => assert_eq!(a, b, "{ctx}: data"),
    }
}

#[test]
fn reference_encodings_decode_and_reencode_byte_for_byte() {
    let table = node("table", None);
    let cases = table.as_array().expect("table");
    assert!(cases.len() >= 40, "table too small: {}", cases.len());
    for case in cases {
        let name = format!(
            "{} / {}",
            case.get("parser").and_then(Value::as_str).unwrap(),
            case.get("name").and_then(Value::as_str).unwrap()
        );
        let parser = parser_named(case.get("parser").and_then(Value::as_str).unwrap());
        let expected = packet_from(case.get("packet").unwrap());
        let frames = frames_from(case.get("frames").unwrap());

        let decoded =
            decode_frames(parser, &frames).unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
        assert_eq!(decoded.len(), 1, "{name}: packets decoded");
        assert_same_packet(&decoded[0], &expected, &name);

        let encoded = parser
            .encode(&expected)
            .unwrap_or_else(|e| panic!("{name}: encode failed: {e}"));
        assert_eq!(
            encoded.frames(),
            frames.as_slice(),
            "{name}: our encoding differs"
        );
    }
    eprintln!(
        "{} reference encodings decoded and re-encoded identically",
        cases.len()
    );
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const ALPHABET: &[char] = &[
            'a', 'b', 'z', 'A', '0', ' ', '"', '\\', '/', ',', '-', '\n', '\t', '\u{1}', '\u{7f}',
            'é', '✓', '😀', '\u{2028}', '_',
        ];
        let len = self.below(12) as usize;
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
    fn number(&mut self) -> Value {
        match self.below(5) {
            0 => Value::from(self.below(1 << 53)),
            1 => Value::from(-(self.below(1 << 53) as i64)),
            2 => Value::from(self.below(300)),
            3 => Value::from((self.next() % 2_000_001) as f64 / 1000.0 - 1000.0),
            _ => Value::from(
                f64::from_bits(self.next() >> 2) * if self.below(2) == 0 { 1.0 } else { -1.0 },
            ),
        }
    }
    fn value(&mut self, depth: u32, binary: bool) -> Value {
        let leaf_only = depth >= 4;
        match self.below(if leaf_only { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => self.number(),
            3 | 4 => Value::String(self.string()),
            5 if binary => {
                let len = self.below(40) as usize;
                Value::Binary(
                    (0..len)
                        .map(|_| self.next() as u8)
                        .collect::<Vec<u8>>()
                        .into(),
                )
            }
            5 => Value::String(self.string()),
            6 => (0..self.below(5))
                .map(|_| self.value(depth + 1, binary))
                .collect(),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(5) {
                    map.insert(self.string(), self.value(depth + 1, binary));
                }
                Value::Object(map)
            }
        }
    }
    fn nsp(&mut self) -> String {
        match self.below(3) {
            0 => "/".into(),
            1 => "/admin".into(),
            _ => format!("/{}", self.string().replace(',', "")),
        }
    }
    fn packet(&mut self, parser: Parser) -> Packet {
        let binary_ok = true;
        let nsp = self.nsp();
        let args = |g: &mut Gen| -> Vec<Value> {
            (0..g.below(4)).map(|_| g.value(0, binary_ok)).collect()
        };
        let maybe_id = |g: &mut Gen| {
            if g.below(2) == 0 {
                Some(g.below(1 << 40))
            } else {
                None
            }
        };
        let mut packet = match self.below(6) {
            0 => {
                let data = if self.below(2) == 0 {
                    let mut map = Map::new();
                    map.insert("token".into(), Value::String(self.string()));
                    // Binary outside EVENT/ACK is written as a Node Buffer in JSON: msgpack only.
                    map.insert("extra".into(), self.value(1, parser.is_binary()));
                    Some(Value::Object(map))
                } else {
                    None
                };
                Packet::connect(nsp, data)
            }
            1 => Packet::disconnect(nsp),
            2 => {
                let mut name = self.string();
                if socketio_parser::is_reserved_event(&name) {
                    name.push('!');
                }
                Packet::event(nsp, name, args(self))
            }
            3 => Packet::ack(nsp, self.below(1 << 40), args(self)),
            4 => {
                if self.below(2) == 0 {
                    Packet::connect_error(nsp, self.string(), Some(self.value(1, false)))
                } else {
                    Packet {
                        data: Some(Value::String(self.string())),
                        ..Packet::new(PacketType::ConnectError, nsp)
                    }
                }
            }
            _ => Packet::event(
                nsp,
                "bin",
                vec![
                    Value::Binary(Bytes::from_static(b"\x00\xff")),
                    self.value(0, true),
                ],
            ),
        };
        if packet.kind == PacketType::Event {
            packet.id = maybe_id(self);
        }
        packet
    }
}

/// The number of binary values: the reference decoder accepts at most 10 attachments, so
/// generated JSON packets with more are skipped.
fn attachments(packet: &Packet) -> usize {
    fn count(v: &Value) -> usize {
        match v {
            Value::Binary(_) => 1,
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }
    packet.data.as_ref().map_or(0, count)
}

#[test]
fn reference_decodes_our_encodings() {
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    let mut originals = Vec::new();
    let mut cases = Vec::new();
    // "json-v4": the protocol v4 decoder of socket.io-client 2.x must read our JSON too.
    for (label, parser) in [
        ("json", Parser::Json),
        ("json-v4", Parser::Json),
        ("msgpack", Parser::MsgPack),
    ] {
        let mut made = 0;
        while made < 400 {
            let packet = gen.packet(parser);
            if !parser.is_binary() && attachments(&packet) > 10 {
                continue;
            }
            let encoded = parser.encode(&packet).expect("encode");
            let name = format!("{label}-{made}");
            let mut case = Map::new();
            case.insert("name".into(), Value::from(name.clone()));
            case.insert("parser".into(), Value::from(label));
            case.insert("frames".into(), describe_frames(&encoded));
            cases.push(Value::Object(case));
            // Our own decoder must agree too.
            let ours =
                decode_frames(parser, encoded.frames()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ours.len(), 1, "{name}");
            assert_same_packet(&ours[0], &packet, &format!("{name} (our decoder)"));
            originals.push((name, packet));
            made += 1;
        }
    }
    let input = serde_json::to_string(&describe(&Value::Array(cases))).expect("json");
    let results = node("decode", Some(&input));
    let results = results.as_array().expect("results");
    assert_eq!(results.len(), originals.len());
    for ((name, original), result) in originals.iter().zip(results) {
        if let Some(err) = result.get("error") {
            panic!("{name}: the reference refused our encoding of {original:?}: {err}");
        }
        let packets = result
            .get("packets")
            .and_then(Value::as_array)
            .expect("packets");
        assert_eq!(
            packets.len(),
            1,
            "{name}: reference decoded {} packets",
            packets.len()
        );
        let theirs = packet_from(&packets[0]);
        let mut expected = original.clone();
        // The reference drops a null payload when encoding (`null != obj.data`).
        if expected.data.as_ref().is_some_and(Value::is_null) {
            expected.data = None;
        }
        assert_same_packet(&theirs, &expected, name);
    }
    eprintln!(
        "{} of our encodings decoded by the reference to the original packets",
        originals.len()
    );
}

fn text(t: &str) -> Frame {
    Frame::Text(Bytes::from(t.to_owned()))
}

fn binary(b: &[u8]) -> Frame {
    Frame::Binary(Bytes::copy_from_slice(b))
}

fn msgpack(bytes: &[u8]) -> Frame {
    binary(bytes)
}

#[test]
fn hostile_inputs_are_rejected_like_the_reference() {
    // (name, parser, frames): we must reject, and so must the reference.
    let placeholder_text = r#"51-["a",{"_placeholder":true,"num":1}]"#;
    let rejected: Vec<(&str, Parser, Vec<Frame>)> = vec![
        ("unknown type", Parser::Json, vec![text("7[\"a\"]")]),
        ("unknown type letter", Parser::Json, vec![text("x")]),
        (
            "attachments not a number",
            Parser::Json,
            vec![text("5a-[\"a\"]")],
        ),
        ("attachments zero", Parser::Json, vec![text("50-[\"a\"]")]),
        (
            "attachments missing dash",
            Parser::Json,
            vec![text("51[\"a\"]")],
        ),
        (
            "too many attachments",
            Parser::Json,
            vec![text("511-[\"a\"]")],
        ),
        ("invalid json", Parser::Json, vec![text("2[\"a\"")]),
        ("event not an array", Parser::Json, vec![text("2{\"a\":1}")]),
        ("event empty array", Parser::Json, vec![text("2[]")]),
        ("event name object", Parser::Json, vec![text("2[{}]")]),
        (
            "reserved connect",
            Parser::Json,
            vec![text("2[\"connect\"]")],
        ),
        (
            "reserved connect_error",
            Parser::Json,
            vec![text("2[\"connect_error\"]")],
        ),
        (
            "reserved disconnect",
            Parser::Json,
            vec![text("2[\"disconnect\"]")],
        ),
        (
            "reserved disconnecting",
            Parser::Json,
            vec![text("2[\"disconnecting\"]")],
        ),
        (
            "reserved newListener",
            Parser::Json,
            vec![text("2[\"newListener\"]")],
        ),
        (
            "reserved removeListener",
            Parser::Json,
            vec![text("2[\"removeListener\"]")],
        ),
        ("non-numeric ack id", Parser::Json, vec![text("2a[\"a\"]")]),
        ("connect not object", Parser::Json, vec![text("0[1]")]),
        ("connect null", Parser::Json, vec![text("0null")]),
        ("disconnect with payload", Parser::Json, vec![text("1{}")]),
        ("connect_error boolean", Parser::Json, vec![text("4true")]),
        ("ack not array", Parser::Json, vec![text("31{}")]),
        (
            "text while awaiting attachments",
            Parser::Json,
            vec![
                text("51-[\"a\",{\"_placeholder\":true,\"num\":0}]"),
                text("2[\"b\"]"),
            ],
        ),
        (
            "binary when none expected",
            Parser::Json,
            vec![binary(b"\x01")],
        ),
        (
            "placeholder out of range",
            Parser::Json,
            vec![text(placeholder_text), binary(b"\x01")],
        ),
        (
            "placeholder negative",
            Parser::Json,
            vec![
                text(r#"51-["a",{"_placeholder":true,"num":-1}]"#),
                binary(b"\x01"),
            ],
        ),
        (
            "placeholder num missing",
            Parser::Json,
            vec![text(r#"51-["a",{"_placeholder":true}]"#), binary(b"\x01")],
        ),
        // msgpack: {type: 5, nsp: "/"}
        (
            "msgpack type 5",
            Parser::MsgPack,
            vec![msgpack(b"\x82\xa4type\x05\xa3nsp\xa1/")],
        ),
        // {type: 2, data: ["a"]} without nsp
        (
            "msgpack missing nsp",
            Parser::MsgPack,
            vec![msgpack(b"\x82\xa4type\x02\xa4data\x91\xa1a")],
        ),
        // {type: 2, nsp: 1, data: ["a"]}
        (
            "msgpack nsp not string",
            Parser::MsgPack,
            vec![msgpack(b"\x83\xa4type\x02\xa3nsp\x01\xa4data\x91\xa1a")],
        ),
        // {type: 2, nsp: "/", data: "a"}
        (
            "msgpack event not array",
            Parser::MsgPack,
            vec![msgpack(b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\xa1a")],
        ),
        // {type: 2, nsp: "/", data: ["a"], id: "x"}
        (
            "msgpack id not integer",
            Parser::MsgPack,
            vec![msgpack(
                b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1a\xa2id\xa1x",
            )],
        ),
        // {type: 2, nsp: "/", data: ["a"], id: 1.5}
        (
            "msgpack id float",
            Parser::MsgPack,
            vec![msgpack(
                b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1a\xa2id\xcb\x3f\xf8\0\0\0\0\0\0",
            )],
        ),
        // {type: 1, nsp: "/", data: 1}
        (
            "msgpack disconnect with data",
            Parser::MsgPack,
            vec![msgpack(b"\x83\xa4type\x01\xa3nsp\xa1/\xa4data\x01")],
        ),
        (
            "msgpack truncated",
            Parser::MsgPack,
            vec![msgpack(b"\x83\xa4type\x02\xa3nsp")],
        ),
        (
            "msgpack trailing bytes",
            Parser::MsgPack,
            vec![msgpack(b"\x82\xa4type\x00\xa3nsp\xa1/\x00")],
        ),
        (
            "msgpack reserved marker",
            Parser::MsgPack,
            vec![msgpack(b"\xc1")],
        ),
    ];
    let mut cases = Vec::new();
    for (name, parser, frames) in &rejected {
        let ours = decode_frames(*parser, frames);
        assert!(ours.is_err(), "{name}: we accepted {ours:?}");
        let mut case = Map::new();
        case.insert("name".into(), Value::from(*name));
        case.insert("parser".into(), Value::from(parser_name(*parser)));
        case.insert(
            "frames".into(),
            describe_frames(&Encoded::new(frames.clone())),
        );
        cases.push(Value::Object(case));
    }
    let input = serde_json::to_string(&Value::Array(cases)).expect("json");
    let results = node("decode", Some(&input));
    for ((name, _, _), result) in rejected.iter().zip(results.as_array().expect("results")) {
        assert!(
            result.get("error").is_some(),
            "{name}: the reference accepted it: {result}"
        );
    }
    eprintln!("{} hostile inputs rejected by both", rejected.len());
}

#[test]
fn documented_deviations_are_what_the_reference_does() {
    // Inputs no real peer sends, where the reference is laxer than we are (see the crate
    // docs). This pins down that the documentation tells the truth.
    let lax: Vec<(&str, Parser, Vec<Frame>)> = vec![
        ("empty text is CONNECT", Parser::Json, vec![text("")]),
        (
            "binary event without payload",
            Parser::Json,
            vec![text("51-"), binary(b"\x01")],
        ),
        (
            "hex attachment count",
            Parser::Json,
            vec![
                text("50x1-[\"a\",{\"_placeholder\":true,\"num\":0}]"),
                binary(b"\x01"),
            ],
        ),
        // {type: 2, nsp: "/", data: []}
        (
            "msgpack empty event",
            Parser::MsgPack,
            vec![msgpack(b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x90")],
        ),
        // {type: 2, nsp: "/", data: ["connect"]}
        (
            "msgpack reserved name",
            Parser::MsgPack,
            vec![msgpack(
                b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa7connect",
            )],
        ),
    ];
    // `2 ["a"]`: JavaScript's `Number(" ")` is 0, so the reference reads ack id 0; we read
    // no ack id (JSON allows the leading space).
    let ours = decode_frames(Parser::Json, &[text("2 [\"a\"]")]).expect("accepted");
    assert_eq!(ours[0].id, None);
    let mut space = Map::new();
    space.insert("name".into(), Value::from("space as ack id"));
    space.insert("parser".into(), Value::from("json"));
    space.insert(
        "frames".into(),
        describe_frames(&Encoded::new(vec![text("2 [\"a\"]")])),
    );
    let result = node(
        "decode",
        Some(&serde_json::to_string(&Value::Array(vec![Value::Object(space)])).expect("json")),
    );
    let theirs = result
        .as_array()
        .and_then(|r| r.first())
        .and_then(|r| r.get("packets"))
        .and_then(Value::as_array)
        .expect("accepted");
    assert_eq!(theirs[0].get("id").and_then(Value::as_u64), Some(0));

    let mut cases = Vec::new();
    for (name, parser, frames) in &lax {
        assert!(
            decode_frames(*parser, frames).is_err(),
            "{name}: we accepted it"
        );
        let mut case = Map::new();
        case.insert("name".into(), Value::from(*name));
        case.insert("parser".into(), Value::from(parser_name(*parser)));
        case.insert(
            "frames".into(),
            describe_frames(&Encoded::new(frames.clone())),
        );
        cases.push(Value::Object(case));
    }
    let input = serde_json::to_string(&Value::Array(cases)).expect("json");
    let results = node("decode", Some(&input));
    for ((name, _, _), result) in lax.iter().zip(results.as_array().expect("results")) {
        let packets = result.get("packets").and_then(Value::as_array);
        assert!(
            packets.is_some_and(|p| p.len() == 1),
            "{name}: expected the reference to accept it, got {result}"
        );
    }
}
