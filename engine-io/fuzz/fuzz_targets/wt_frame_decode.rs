//! Fuzzes the WebTransport frame decoder: arbitrary bytes, fed in chunks of
//! every size the input's first byte picks, never panic, and every decoded
//! packet re-encodes to a frame that decodes to the same packet.
#![no_main]

use bytes::BytesMut;
use engine_io::wt_codec::{encode, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut dec = FrameDecoder::new(4096);
    let mut buf = BytesMut::new();
    for chunk in rest.chunks(usize::from(split).max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(p)) => {
                    let mut again = BytesMut::new();
                    encode(&p, &mut again);
                    let back = FrameDecoder::new(usize::MAX)
                        .decode(&mut again)
                        .expect("re-encoded frame must decode")
                        .expect("re-encoded frame is complete");
                    assert_eq!(back, p);
                    assert!(again.is_empty());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
