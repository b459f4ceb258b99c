//! The frame reader's rules, one test each, and a differential test against
//! tungstenite's reader on the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame: `first` byte (FIN, RSV, opcode), masked with `KEY` when
/// `masked`, its length in the shortest form unless `wide` forces 16 or 64
/// bits.
fn frame_with(first: u8, payload: &[u8], masked: bool, wide: u8) -> Vec<u8> {
    let mut f = vec![first];
    let m = if masked { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 && wide == 0 {
        f.push(m | n as u8);
    } else if n <= 0xffff && wide != 64 {
        f.push(m | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    if masked {
        f.extend_from_slice(&KEY);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(first, payload, true, 0)
}

/// Everything `bytes` decodes to, fed at once: the frames, then the error
/// if there is one (`None` at the end of the input).
fn decode_all(limit: usize, bytes: &[u8]) -> (Vec<Frame>, Option<ReadError>) {
    let mut r = FrameReader::new(limit);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match r.decode(&mut buf) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn text(s: &str) -> Frame {
    Frame::Text(Str::from(s.to_owned()))
}

#[test]
fn unmask_matches_the_bytewise_xor_at_every_length() {
    for len in 0..70 {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut ours = data.clone();
        unmask(&mut ours, KEY);
        let expected: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ KEY[i % 4])
            .collect();
        assert_eq!(ours, expected, "len {len}");
    }
}

#[test]
fn lengths_in_7_16_and_64_bits() {
    for n in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
        let payload = "x".repeat(n);
        for wide in [0, 16, 64] {
            if wide == 16 && n > 0xffff {
                continue;
            }
            let (frames, err) =
                decode_all(1 << 20, &frame_with(0x81, payload.as_bytes(), true, wide));
            assert_eq!(err, None, "{n} {wide}");
            assert_eq!(frames, vec![text(&payload)], "{n} {wide}");
        }
        let (frames, _) = decode_all(1 << 20, &frame(0x82, payload.as_bytes()));
        assert_eq!(
            frames,
            vec![Frame::Binary(Bytes::from(payload.into_bytes()))]
        );
    }
}

#[test]
fn an_incomplete_frame_is_left_untouched_until_it_is_whole() {
    let mut bytes = frame(0x81, "4héllo wörld, a longer one".as_bytes());
    bytes.extend(frame(0x82, &[1, 2, 3]));
    for cut in 0..bytes.len() {
        let mut r = FrameReader::new(1000);
        let mut buf = BytesMut::from(&bytes[..cut]);
        let mut got = Vec::new();
        while let Some(f) = r.decode(&mut buf).unwrap() {
            got.push(f);
        }
        let left = buf.len();
        buf.extend_from_slice(&bytes[cut..]);
        while let Some(f) = r.decode(&mut buf).unwrap() {
            got.push(f);
        }
        assert_eq!(got.len(), 2, "cut at {cut} (left {left})");
        assert_eq!(got[0], text("4héllo wörld, a longer one"));
        assert!(buf.is_empty());
    }
}

#[test]
fn an_unfragmented_message_is_a_slice_of_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&frame(0x81, b"4hello"));
    buf.extend_from_slice(&frame(0x82, b"\x01\x02"));
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.capacity();
    let mut r = FrameReader::new(1000);
    let Some(Frame::Text(t)) = r.decode(&mut buf).unwrap() else {
        panic!("not text")
    };
    let Some(Frame::Binary(b)) = r.decode(&mut buf).unwrap() else {
        panic!("not binary")
    };
    assert!(range.contains(&(t.as_ptr() as usize)), "text was copied");
    assert!(range.contains(&(b.as_ptr() as usize)), "binary was copied");
}

#[test]
fn fragments_are_reassembled_with_control_frames_between_them() {
    // "4€😀" cut inside both multi-byte characters, one fragment a single byte.
    let msg = "4€😀!".as_bytes();
    let mut bytes = frame(0x01, &msg[..2]); // "4" + first byte of €
    bytes.extend(frame(0x89, b"ping")); // a ping between fragments is allowed
    bytes.extend(frame(0x00, &msg[2..4])); // the rest of €
    bytes.extend(frame(0x00, &msg[4..5])); // first byte of 😀
    bytes.extend(frame(0x00, &msg[5..7]));
    bytes.extend(frame(0x80, &msg[7..]));
    let (frames, err) = decode_all(100, &bytes);
    assert_eq!(err, None);
    assert_eq!(
        frames,
        vec![Frame::Ping(Bytes::from_static(b"ping")), text("4€😀!")]
    );
    let mut bin = frame(0x02, b"ab");
    bin.extend(frame(0x00, b""));
    bin.extend(frame(0x80, b"cd"));
    let (frames, err) = decode_all(100, &bin);
    assert_eq!(
        (frames, err),
        (vec![Frame::Binary(Bytes::from_static(b"abcd"))], None)
    );
}

#[test]
fn over_the_limit_is_too_big_before_the_payload_arrives() {
    let big = frame(0x81, &[b'x'; 101]);
    // The header alone is enough to refuse it.
    let (_, err) = decode_all(100, &big[..8]);
    assert_eq!(err, Some(ReadError::TooBig));
    assert_eq!(ReadError::TooBig.close_code(), 1009);
    // A fragmented message is bounded as a whole.
    let mut frags = frame(0x01, &[b'x'; 60]);
    frags.extend(frame(0x80, &[b'x'; 41]));
    assert_eq!(decode_all(100, &frags).1, Some(ReadError::TooBig));
    let mut exact = frame(0x02, &[1; 60]);
    exact.extend(frame(0x80, &[1; 40]));
    assert_eq!(decode_all(100, &exact).1, None);
}

#[test]
fn invalid_utf8_is_1007_as_soon_as_it_is_certain() {
    assert_eq!(
        decode_all(100, &frame(0x81, b"4\xff\xfe")).1,
        Some(ReadError::Utf8)
    );
    assert_eq!(ReadError::Utf8.close_code(), 1007);
    // In the first fragment already, before the message ends.
    assert_eq!(
        decode_all(100, &frame(0x01, b"4\xc3\x28")).1,
        Some(ReadError::Utf8)
    );
    // A cut character whose first bytes are already impossible (E0 80).
    assert_eq!(
        decode_all(100, &frame(0x01, b"4\xe0\x80")).1,
        Some(ReadError::Utf8)
    );
    // Completed wrongly by the next fragment.
    let mut bad = frame(0x01, b"4\xe2\x82");
    bad.extend(frame(0x80, b"x"));
    assert_eq!(decode_all(100, &bad), (vec![], Some(ReadError::Utf8)));
    // Cut by the end of the message.
    let mut cut = frame(0x01, b"4\xe2\x82");
    cut.extend(frame(0x80, b""));
    assert_eq!(decode_all(100, &cut).1, Some(ReadError::Utf8));
    // A close frame's reason too.
    assert_eq!(
        decode_all(100, &frame(0x88, b"\x03\xe8\xff")).1,
        Some(ReadError::Utf8)
    );
}

#[test]
fn protocol_violations_are_1002() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked", frame_with(0x81, b"4hi", false, 0)),
        ("rsv1", frame(0xc1, b"4hi")),
        ("rsv2", frame(0xa1, b"4hi")),
        ("rsv3", frame(0x91, b"4hi")),
        ("fragmented ping", frame(0x09, b"")),
        ("control over 125", frame(0x89, &[0; 126])),
        ("continuation first", frame(0x80, b"x")),
        ("one-byte close", frame(0x88, b"\x03")),
        ("text inside a fragmented message", {
            let mut b = frame(0x01, b"4a");
            b.extend(frame(0x81, b"4b"));
            b
        }),
    ];
    for (what, bytes) in cases {
        assert_eq!(
            decode_all(1000, &bytes).1,
            Some(ReadError::Protocol),
            "{what}"
        );
    }
    for op in (3..=7).chain(11..=15) {
        assert_eq!(
            decode_all(1000, &frame(0x80 | op, b"x")).1,
            Some(ReadError::Protocol),
            "opcode {op}"
        );
    }
    assert_eq!(ReadError::Protocol.close_code(), 1002);
}

#[test]
fn control_frames_and_the_close_reply() {
    let mut bytes = frame(0x89, b"p");
    bytes.extend(frame(0x8a, b"q"));
    bytes.extend(frame(0x88, b"\x03\xe8bye"));
    let (frames, err) = decode_all(1000, &bytes);
    assert_eq!(err, None);
    assert_eq!(
        frames,
        vec![
            Frame::Ping(Bytes::from_static(b"p")),
            Frame::Pong(Bytes::from_static(b"q")),
            Frame::Close(Some((1000, Str::from("bye")))),
        ]
    );
    let reply = |c: Option<(u16, &'static str)>| {
        let mut out = Vec::new();
        close_reply(&c.map(|(code, r)| (code, Str::from(r))), &mut out);
        out
    };
    assert_eq!(reply(None), b"");
    assert_eq!(reply(Some((1000, "bye"))), b"\x03\xe8bye");
    assert_eq!(reply(Some((4000, ""))), b"\x0f\xa0");
    for bad in [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000] {
        assert_eq!(
            reply(Some((bad, "x"))),
            b"\x03\xeaProtocol violation",
            "{bad}"
        );
    }
    assert_eq!(
        decode_all(1000, &frame(0x88, b"")).0,
        vec![Frame::Close(None)]
    );
}

/// The same bytes through tungstenite's server-side reader and ours (fed in
/// arbitrary pieces) give the same messages, the same close and pong
/// answers, and the same close code for the first violation.
#[cfg(feature = "server")]
mod differential {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Read, Write};
    use tokio_tungstenite::tungstenite::{
        self,
        protocol::{Role, WebSocketConfig},
        Message,
    };

    #[derive(Debug, PartialEq)]
    enum Ev {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close,
        Failed(u16),
        Ended,
    }

    struct Mock {
        input: std::io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Mock {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Mock {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// tungstenite's events and what it wrote (pongs, the close reply).
    fn theirs(limit: usize, bytes: &[u8]) -> (Vec<Ev>, Vec<u8>) {
        use tungstenite::error::ProtocolError as P;
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let mock = Mock {
            input: std::io::Cursor::new(bytes.to_vec()),
            output: Vec::new(),
        };
        let mut ws = tungstenite::WebSocket::from_raw_socket(mock, Role::Server, Some(cfg));
        let mut evs = Vec::new();
        loop {
            let ev = match ws.read() {
                Ok(Message::Text(t)) => Ev::Text(t.as_str().to_owned()),
                Ok(Message::Binary(b)) => Ev::Binary(b.to_vec()),
                Ok(Message::Ping(p)) => Ev::Ping(p.to_vec()),
                Ok(Message::Pong(p)) => Ev::Pong(p.to_vec()),
                Ok(Message::Close(_)) => Ev::Close,
                Ok(Message::Frame(_)) => unreachable!(),
                Err(tungstenite::Error::Capacity(_)) => Ev::Failed(1009),
                Err(tungstenite::Error::Utf8(_)) => Ev::Failed(1007),
                Err(tungstenite::Error::Protocol(P::ResetWithoutClosingHandshake)) => Ev::Ended,
                Err(tungstenite::Error::Protocol(_)) => Ev::Failed(1002),
                Err(e) => panic!("unexpected tungstenite error {e:?}"),
            };
            let end = matches!(ev, Ev::Close | Ev::Failed(_) | Ev::Ended);
            evs.push(ev);
            if end {
                break;
            }
        }
        let _ = ws.flush();
        (evs, ws.get_ref().output.clone())
    }

    /// Ours, fed in pieces of the given sizes (cycled), with the answers
    /// the server writes ([`super::super::close_reply`], a pong per ping).
    fn ours(limit: usize, bytes: &[u8], pieces: &[usize]) -> (Vec<Ev>, Vec<u8>) {
        let mut r = FrameReader::new(limit);
        let mut buf = BytesMut::new();
        let mut evs = Vec::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        loop {
            match r.decode(&mut buf) {
                Ok(Some(f)) => {
                    let ev = match f {
                        Frame::Text(t) => Ev::Text(t.to_string()),
                        Frame::Binary(b) => Ev::Binary(b.to_vec()),
                        Frame::Ping(p) => {
                            out.extend_from_slice(&[0x8a, p.len() as u8]);
                            out.extend_from_slice(&p);
                            Ev::Ping(p.to_vec())
                        }
                        Frame::Pong(p) => Ev::Pong(p.to_vec()),
                        Frame::Close(c) => {
                            let mut payload = Vec::new();
                            close_reply(&c, &mut payload);
                            out.extend_from_slice(&[0x88, payload.len() as u8]);
                            out.extend_from_slice(&payload);
                            evs.push(Ev::Close);
                            return (evs, out);
                        }
                    };
                    evs.push(ev);
                }
                Ok(None) if at == bytes.len() => {
                    evs.push(Ev::Ended);
                    return (evs, out);
                }
                Ok(None) => {
                    let n = pieces[i % pieces.len()].clamp(1, bytes.len() - at);
                    i += 1;
                    buf.extend_from_slice(&bytes[at..at + n]);
                    at += n;
                }
                Err(e) => {
                    evs.push(Ev::Failed(e.close_code()));
                    return (evs, out);
                }
            }
        }
    }

    fn check(limit: usize, bytes: &[u8], pieces: &[usize]) -> Result<(), TestCaseError> {
        let t = theirs(limit, bytes);
        let o = ours(limit, bytes, pieces);
        prop_assert_eq!(&o.0, &t.0, "events (limit {})", limit);
        prop_assert_eq!(&o.1, &t.1, "answers written (limit {})", limit);
        Ok(())
    }

    /// Payloads: ASCII, multi-byte text (whose fragments cut characters),
    /// invalid UTF-8, close payloads with allowed and forbidden codes.
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[a-z0-9]{0,40}".prop_map(String::into_bytes),
            4 => "[a-zé€😀]{0,30}".prop_map(String::into_bytes),
            2 => proptest::collection::vec(any::<u8>(), 0..40),
            1 => proptest::collection::vec(any::<u8>(), 120..140),
            1 => "[a-z]{200,300}".prop_map(String::into_bytes),
            2 => (prop_oneof![Just(1000u16), Just(1001), Just(1005), Just(3000), Just(4999), Just(5000), any::<u16>()],
                  "[a-zé]{0,10}")
                .prop_map(|(c, r)| [&c.to_be_bytes()[..], r.as_bytes()].concat()),
        ]
    }

    /// One frame, mostly well formed: FIN set, no RSV, masked, a defined
    /// opcode; sometimes not, and sometimes a longer length encoding.
    fn any_frame() -> impl Strategy<Value = Vec<u8>> {
        let opcode = prop_oneof![
            6 => Just(1u8), 3 => Just(2), 5 => Just(0), 2 => Just(9), 1 => Just(10), 2 => Just(8),
            1 => 3u8..=7, 1 => 11u8..=15,
        ];
        (
            opcode,
            proptest::bool::weighted(0.6),
            proptest::bool::weighted(0.05),
            proptest::bool::weighted(0.97),
            prop_oneof![8 => Just(0u8), 1 => Just(16), 1 => Just(64)],
            payload(),
        )
            .prop_map(|(op, fin, rsv, masked, wide, p)| {
                let first = op | if fin { 0x80 } else { 0 } | if rsv { 0x40 } else { 0 };
                frame_with(first, &p, masked, wide)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn frames_read_as_tungstenite_reads_them(
            frames in proptest::collection::vec(any_frame(), 1..8),
            limit in prop_oneof![Just(60usize), Just(130), Just(1000)],
            pieces in proptest::collection::vec(1usize..50, 1..5),
        ) {
            check(limit, &frames.concat(), &pieces)?;
        }

        #[test]
        fn arbitrary_bytes_read_as_tungstenite_reads_them(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            pieces in proptest::collection::vec(1usize..20, 1..4),
        ) {
            check(100, &bytes, &pieces)?;
        }
    }
}
