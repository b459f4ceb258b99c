//! Feeds arbitrary bytes to the msgpack decoder. Every packet that decodes is re-encoded,
//! and the encoding must be stable: decode(encode(p)) encodes to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketio_parser::{Decoder, Frame, Parser};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(Parser::MsgPack);
    if let Ok(Some(packet)) = decoder.decode_binary(Bytes::copy_from_slice(data)) {
        let first = Parser::MsgPack
            .encode(&packet)
            .expect("decoded packets re-encode");
        let Some(Frame::Binary(bytes)) = first.frames().first() else {
            panic!("msgpack encodes to one binary frame");
        };
        let again = decoder
            .decode_binary(bytes.clone())
            .expect("our own encoding must decode")
            .expect("complete");
        let second = Parser::MsgPack.encode(&again).expect("re-encode");
        assert_eq!(first, second, "unstable encoding of {packet:?}");
    }
});
