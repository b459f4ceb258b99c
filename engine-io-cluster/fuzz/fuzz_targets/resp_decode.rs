//! Fuzzes the RESP3 decoder of the cluster engine's Redis link: any bytes,
//! fed whole and then in chunks of any size, decode to the same frames (or
//! the same error) and never panic; what is left undecoded is a prefix of
//! a frame.
#![no_main]

use bytes::BytesMut;
use engine_io_cluster::resp::{Decoder, Value};
use libfuzzer_sys::fuzz_target;

fn decode_all(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Value>, bool) {
    let mut buf = BytesMut::new();
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let (split, rest) = match data.split_first() {
        Some((&n, rest)) => (usize::from(n).max(1), rest),
        None => return,
    };
    let whole = decode_all(&mut std::iter::once(rest));
    let chunked = decode_all(&mut rest.chunks(split));
    assert_eq!(whole, chunked);
});
