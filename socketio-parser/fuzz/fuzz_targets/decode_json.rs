//! Feeds a sequence of text and binary Engine.IO messages to the JSON decoder.
//!
//! Input layout: messages separated by 0xFF; the first byte of each message says whether it
//! is text (even) or binary (odd); text is made UTF-8 lossily. Every packet that decodes is
//! re-encoded, and the encoding must be stable: decode(encode(p)) encodes to the same frames.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketio_parser::{Decoder, Encoded, Frame, Packet, Parser};

fn decode_frames(encoded: &Encoded) -> Packet {
    let mut decoder = Decoder::new(Parser::Json).with_max_attachments(usize::MAX);
    let mut packet = None;
    for frame in encoded.iter() {
        packet = match frame {
            Frame::Text(_) => decoder.decode_text(frame.as_text().expect("encoder writes UTF-8")),
            Frame::Binary(b) => decoder.decode_binary(b.clone()),
        }
        .expect("our own encoding must decode");
    }
    packet.expect("complete after the last frame")
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(Parser::Json);
    for message in data.split(|&b| b == 0xff) {
        let Some((&kind, body)) = message.split_first() else {
            continue;
        };
        let result = if kind % 2 == 0 {
            decoder.decode_text(&String::from_utf8_lossy(body))
        } else {
            decoder.decode_binary(Bytes::copy_from_slice(body))
        };
        if let Ok(Some(packet)) = result {
            let first = Parser::Json
                .encode(&packet)
                .expect("decoded packets re-encode");
            let again = decode_frames(&first);
            let second = Parser::Json.encode(&again).expect("re-encode");
            assert_eq!(first, second, "unstable encoding of {packet:?}");
        }
    }
});
