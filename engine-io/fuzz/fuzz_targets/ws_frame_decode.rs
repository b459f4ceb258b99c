//! Fuzzes the server's WebSocket frame reader (`ws_frame`): arbitrary bytes,
//! fed in chunks of every size the input's first byte picks, never panic,
//! never hold more than the limit, and give the same frames and the same
//! error whatever the chunking (against one feed of the whole input).
#![no_main]

use bytes::BytesMut;
use engine_io::ws_frame::{Frame, FrameReader, ReadError};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 300;

/// Everything the reader gives for `data` fed `chunk` bytes at a time.
fn run(data: &[u8], chunk: usize) -> (Vec<Frame>, Option<ReadError>) {
    let mut reader = FrameReader::new(LIMIT);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match reader.decode(&mut buf) {
                Ok(Some(f)) => {
                    match &f {
                        Frame::Text(t) => assert!(t.len() <= LIMIT),
                        Frame::Binary(b) => assert!(b.len() <= LIMIT),
                        Frame::Ping(p) | Frame::Pong(p) => assert!(p.len() <= 125),
                        Frame::Close(c) => assert!(c.as_ref().is_none_or(|(_, r)| r.len() <= 123)),
                    }
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        // An incomplete frame is never longer than its header and the limit.
        assert!(buf.len() <= LIMIT + 14 + chunk);
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunked = run(rest, usize::from(split).max(1));
    let whole = run(rest, rest.len().max(1));
    assert_eq!(chunked, whole);
});
