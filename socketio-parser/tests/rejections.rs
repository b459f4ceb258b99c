//! One test per rejection rule of the reference decoder, with the input that triggers it.
//! None may panic; each yields its own `DecodeError` variant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use socketio_parser::{DecodeError, Decoder, PacketType, Parser};

fn json() -> Decoder {
    Decoder::new(Parser::Json)
}

fn text_err(input: &str) -> DecodeError {
    json()
        .decode_text(input)
        .expect_err(&format!("{input:?} must be rejected"))
}

#[test]
fn empty_packet() {
    assert!(matches!(text_err(""), DecodeError::EmptyPacket));
}

#[test]
fn unknown_packet_type() {
    for input in ["7", "9[\"a\"]", "x", "-1", "é"] {
        assert!(
            matches!(text_err(input), DecodeError::UnknownPacketType(_)),
            "{input}"
        );
    }
    let DecodeError::UnknownPacketType(found) = text_err("é2") else {
        panic!()
    };
    assert_eq!(found, "é");
}

#[test]
fn invalid_attachment_count() {
    for input in [
        "5a-[\"a\"]",
        "5-[\"a\"]",
        "50-[\"a\"]",
        "5 1-[\"a\"]",
        "51.0-[\"a\"]",
        "6+1-[]",
    ] {
        assert!(
            matches!(text_err(input), DecodeError::InvalidAttachmentCount(_)),
            "{input}"
        );
    }
}

#[test]
fn missing_attachment_separator() {
    for input in ["51[\"a\"]", "5", "61"] {
        assert!(
            matches!(text_err(input), DecodeError::MissingAttachmentSeparator),
            "{input}"
        );
    }
}

#[test]
fn too_many_attachments_default_and_configured() {
    assert!(matches!(
        text_err(r#"511-["a"]"#),
        DecodeError::TooManyAttachments { count: 11, max: 10 }
    ));
    assert!(matches!(
        text_err(r#"599999999999999999999999-["a"]"#),
        DecodeError::TooManyAttachments { max: 10, .. }
    ));
    // Exactly the limit is fine.
    let mut d = json();
    assert!(d
        .decode_text(r#"510-["a",{"_placeholder":true,"num":9}]"#)
        .unwrap()
        .is_none());
    // A configured limit.
    let mut d = json().with_max_attachments(2);
    assert!(matches!(
        d.decode_text(r#"53-["a"]"#),
        Err(DecodeError::TooManyAttachments { count: 3, max: 2 })
    ));
}

#[test]
fn invalid_json() {
    for input in [
        "2[\"a\"",
        "2[\"a\",]",
        "2{'a':1}",
        "0{\"a\":1}x",
        "2[\"\\ud800\"]",
        "2[1e400]",
    ] {
        assert!(
            matches!(text_err(input), DecodeError::InvalidJson(_)),
            "{input}"
        );
    }
}

#[test]
fn too_deep_json_is_invalid_not_a_stack_overflow() {
    let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(text_err(&deep), DecodeError::InvalidJson(_)));
}

#[test]
fn event_payload_must_be_a_non_empty_array_starting_with_string_or_number() {
    for input in [
        "2{\"a\":1}",
        "2\"a\"",
        "2[]",
        "2[{}]",
        "2[null]",
        "2[true]",
        "2[[\"a\"]]",
        "51-",
        "51-{\"_placeholder\":true,\"num\":0}",
    ] {
        assert!(
            matches!(text_err(input), DecodeError::InvalidEventPayload),
            "{input}"
        );
    }
}

#[test]
fn event_without_payload_passes_with_no_data_like_the_reference() {
    // The reference `isPayloadValid` only runs when a payload follows: `2` goes through
    // with `data` undefined and the receiver dispatches nothing.
    for (input, nsp) in [("2", "/"), ("2/admin,", "/admin")] {
        let packet = json().decode_text(input).unwrap().expect("complete packet");
        assert_eq!(packet.kind, PacketType::Event);
        assert_eq!(packet.nsp, nsp);
        assert!(packet.data.is_none());
        assert!(
            packet.into_event().is_none(),
            "{input}: nothing to dispatch"
        );
    }
}

#[test]
fn reserved_event_names() {
    for name in socketio_parser::RESERVED_EVENTS {
        let err = text_err(&format!("2[\"{name}\",1]"));
        assert!(
            matches!(&err, DecodeError::ReservedEventName(n) if n == name),
            "{name}: {err}"
        );
        // In a binary event too.
        let err = text_err(&format!(
            "51-[\"{name}\",{{\"_placeholder\":true,\"num\":0}}]"
        ));
        assert!(matches!(err, DecodeError::ReservedEventName(_)), "{name}");
    }
}

#[test]
fn non_numeric_ack_id() {
    // JSON cannot start with a letter: the reference fails on the payload, so do we.
    assert!(matches!(text_err("2a[\"a\"]"), DecodeError::InvalidJson(_)));
    // An id that does not fit in u64 is refused as such.
    let err = text_err("299999999999999999999999[\"a\"]");
    assert!(
        matches!(&err, DecodeError::InvalidAckId(id) if id == "99999999999999999999999"),
        "{err}"
    );
}

#[test]
fn invalid_payload_per_type() {
    let cases = [
        ("0[1]", PacketType::Connect),
        ("0\"a\"", PacketType::Connect),
        ("0null", PacketType::Connect),
        ("1{}", PacketType::Disconnect),
        ("1/admin,[]", PacketType::Disconnect),
        ("4true", PacketType::ConnectError),
        ("4[\"a\"]", PacketType::ConnectError),
        ("31{}", PacketType::Ack),
        ("3/a,1\"x\"", PacketType::Ack),
        ("61-/a,1{\"_placeholder\":true,\"num\":0}", PacketType::Ack),
    ];
    for (input, kind) in cases {
        let err = text_err(input);
        assert!(
            matches!(err, DecodeError::InvalidPayload(k) if k == kind),
            "{input}: {err}"
        );
    }
}

#[test]
fn text_while_awaiting_attachments() {
    let mut d = json();
    assert!(d
        .decode_text(r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .unwrap()
        .is_none());
    assert!(d.decode_binary(Bytes::from_static(b"1")).unwrap().is_none());
    assert!(matches!(
        d.decode_text(r#"2["b"]"#),
        Err(DecodeError::UnexpectedText)
    ));
    // The decoder was reset: it works again afterwards.
    assert!(!d.is_awaiting_attachments());
    assert!(d.decode_text(r#"2["b"]"#).unwrap().is_some());
}

#[test]
fn binary_when_none_expected() {
    let mut d = json();
    assert!(matches!(
        d.decode_binary(Bytes::from_static(b"\x01")),
        Err(DecodeError::UnexpectedBinary)
    ));
    // After a complete binary packet, another buffer is unexpected too.
    d.decode_text(r#"51-["a",{"_placeholder":true,"num":0}]"#)
        .unwrap();
    assert!(d
        .decode_binary(Bytes::from_static(b"\x01"))
        .unwrap()
        .is_some());
    assert!(matches!(
        d.decode_binary(Bytes::from_static(b"\x02")),
        Err(DecodeError::UnexpectedBinary)
    ));
}

#[test]
fn placeholder_out_of_range() {
    for input in [
        r#"51-["a",{"_placeholder":true,"num":1}]"#,
        r#"51-["a",{"_placeholder":true,"num":-1}]"#,
        r#"51-["a",{"_placeholder":true,"num":0.5}]"#,
        r#"51-["a",{"_placeholder":true,"num":"0"}]"#,
        r#"51-["a",{"_placeholder":true}]"#,
        r#"52-["a",{"deep":[{"x":{"_placeholder":true,"num":2}}]}]"#,
    ] {
        let err = text_err(input);
        assert!(
            matches!(err, DecodeError::PlaceholderOutOfRange { .. }),
            "{input}: {err}"
        );
    }
    // Only `_placeholder: true` marks a placeholder; other objects are left alone.
    let mut d = json();
    d.decode_text(r#"51-["a",{"_placeholder":false,"num":7},{"_placeholder":true,"num":0}]"#)
        .unwrap();
    let p = d
        .decode_binary(Bytes::from_static(b"z"))
        .unwrap()
        .expect("complete");
    assert_eq!(p.args()[0].get("num").and_then(|n| n.as_u64()), Some(7));
}

#[cfg(feature = "msgpack")]
mod msgpack {
    use super::*;

    fn err(bytes: &'static [u8]) -> DecodeError {
        Decoder::new(Parser::MsgPack)
            .decode_binary(Bytes::from_static(bytes))
            .expect_err("must be rejected")
    }

    #[test]
    fn text_is_not_msgpack() {
        assert!(matches!(
            Decoder::new(Parser::MsgPack).decode_text("2[\"a\"]"),
            Err(DecodeError::TextNotSupported)
        ));
    }

    #[test]
    fn invalid_type() {
        // {type: 5, nsp: "/"}, {type: "2", nsp: "/"}, {nsp: "/"}, a bare array, {type: 1.5}
        assert!(matches!(
            err(b"\x82\xa4type\x05\xa3nsp\xa1/"),
            DecodeError::UnknownPacketType(_)
        ));
        assert!(matches!(
            err(b"\x82\xa4type\xa12\xa3nsp\xa1/"),
            DecodeError::UnknownPacketType(_)
        ));
        assert!(matches!(
            err(b"\x81\xa3nsp\xa1/"),
            DecodeError::UnknownPacketType(_)
        ));
        assert!(matches!(
            err(b"\x91\x02"),
            DecodeError::UnknownPacketType(_)
        ));
        assert!(matches!(
            err(b"\x82\xa4type\xcb\x3f\xf8\0\0\0\0\0\0\xa3nsp\xa1/"),
            DecodeError::UnknownPacketType(_)
        ));
    }

    #[test]
    fn invalid_namespace() {
        assert!(matches!(
            err(b"\x82\xa4type\x02\xa4data\x91\xa1a"),
            DecodeError::InvalidNamespace
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x02\xa3nsp\x01\xa4data\x91\xa1a"),
            DecodeError::InvalidNamespace
        ));
    }

    #[test]
    fn invalid_payloads() {
        assert!(matches!(
            err(b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\xa1a"),
            DecodeError::InvalidEventPayload
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa7connect"),
            DecodeError::ReservedEventName(_)
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x01\xa3nsp\xa1/\xa4data\x01"),
            DecodeError::InvalidPayload(PacketType::Disconnect)
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x00\xa3nsp\xa1/\xa4data\x91\x01"),
            DecodeError::InvalidPayload(PacketType::Connect)
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x03\xa3nsp\xa1/\xa4data\x01"),
            DecodeError::InvalidPayload(PacketType::Ack)
        ));
        assert!(matches!(
            err(b"\x83\xa4type\x04\xa3nsp\xa1/\xa4data\x01"),
            DecodeError::InvalidPayload(PacketType::ConnectError)
        ));
    }

    #[test]
    fn invalid_ack_id() {
        for bytes in [
            &b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1a\xa2id\xa1x"[..],
            &b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1a\xa2id\xcb\x3f\xf8\0\0\0\0\0\0"[..],
            &b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1a\xa2id\xff"[..],
        ] {
            let e = Decoder::new(Parser::MsgPack)
                .decode_binary(Bytes::copy_from_slice(bytes))
                .expect_err("rejected");
            assert!(matches!(e, DecodeError::InvalidAckId(_)), "{e}");
        }
    }

    #[test]
    fn malformed_msgpack() {
        for bytes in [
            &b""[..],
            &b"\xc1"[..],
            &b"\x83\xa4type\x02\xa3nsp"[..],
            &b"\x82\xa4type\x00\xa3nsp\xa1/\x00"[..],
            &b"\xdf\xff\xff\xff\xff"[..],
            &b"\xdd\xff\xff\xff\xff\x01"[..],
            &b"\xc6\xff\xff\xff\xff\x01"[..],
            &b"\xdb\x00\x00\x00\x05ab"[..],
            &b"\x81\x91\x01\x01"[..],
        ] {
            let e = Decoder::new(Parser::MsgPack)
                .decode_binary(Bytes::copy_from_slice(bytes))
                .expect_err("rejected");
            assert!(
                matches!(e, DecodeError::InvalidMsgPack(_)),
                "{bytes:?}: {e}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut bytes = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data".to_vec();
        bytes.extend(std::iter::repeat_n(0x91u8, 100_000));
        bytes.push(0x01);
        let e = Decoder::new(Parser::MsgPack)
            .decode_binary(Bytes::from(bytes))
            .expect_err("rejected");
        assert!(matches!(e, DecodeError::InvalidMsgPack(_)), "{e}");
    }
}
