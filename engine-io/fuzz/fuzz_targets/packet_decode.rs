//! Fuzzes the single-packet decoders (text and binary, v3 and v4) and checks
//! that whatever decodes re-encodes and decodes to the same packet.
#![no_main]

use bytes::Bytes;
use engine_io::packet::{Packet, ProtocolVersion};
use engine_io::Str;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        if let Ok(s) = Str::from_utf8(Bytes::copy_from_slice(data)) {
            if let Ok(p) = Packet::decode_text(&s, v) {
                let again = Str::from(p.encode_text(v));
                let back = Packet::decode_text(&again, v).expect("re-encoded packet must decode");
                assert_eq!(back, p);
            }
        }
        if let Ok(p) = Packet::decode_binary(Bytes::copy_from_slice(data), v) {
            let _ = p.encode(v);
        }
    }
});
