//! The WebTransport framing of Engine.IO packets, without I/O.
//!
//! A WebTransport session carries every packet on one bidirectional stream,
//! each as a length-prefixed frame (the reference's
//! `createPacketEncoderStream` / `createPacketDecoderStream`, shaped like a
//! WebSocket frame header):
//!
//! | first byte | then | payload length |
//! | --- | --- | --- |
//! | `B` `0..=125` | — | the 7 bits |
//! | `B` `126` | 2 bytes, big-endian | 16 bits |
//! | `B` `127` | 8 bytes, big-endian | 64 bits |
//!
//! `B` (the top bit, `0x80`) is set when the payload is binary data (a binary
//! message, raw bytes); otherwise the payload is the packet's text encoding
//! (`4hello`). A frame of length 0 or over the receiver's limit is a protocol
//! error: the decoder says so from the header alone, before buffering the
//! payload.
//!
//! ```
//! use bytes::BytesMut;
//! use engine_io::wt_codec::{encode, FrameDecoder};
//! use engine_io::Packet;
//!
//! let mut wire = BytesMut::new();
//! encode(&Packet::message("hello"), &mut wire);
//! assert_eq!(&wire[..], b"\x064hello");
//! encode(&Packet::message(bytes::Bytes::from_static(&[1, 2, 3])), &mut wire);
//!
//! let mut dec = FrameDecoder::new(1_000_000);
//! assert_eq!(dec.decode(&mut wire).unwrap(), Some(Packet::message("hello")));
//! assert_eq!(dec.decode(&mut wire).unwrap(), Some(Packet::message(bytes::Bytes::from_static(&[1, 2, 3]))));
//! assert_eq!(dec.decode(&mut wire).unwrap(), None);
//! ```

use crate::packet::{Data, Packet, ProtocolVersion};
use crate::{DecodeError, Str};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The top bit of the first header byte: the payload is binary.
const BINARY_BIT: u8 = 0x80;

/// The frame header of a payload of `len` bytes (1, 3 or 9 bytes).
pub fn header(len: usize, binary: bool) -> ([u8; 9], usize) {
    let mut h = [0u8; 9];
    let n = if len < 126 {
        // `len < 126` fits the 7 bits.
        h[0] = len as u8;
        1
    } else if let Ok(l) = u16::try_from(len) {
        h[0] = 126;
        h[1..3].copy_from_slice(&l.to_be_bytes());
        3
    } else {
        h[0] = 127;
        h[1..9].copy_from_slice(&(len as u64).to_be_bytes());
        9
    };
    if binary {
        h[0] |= BINARY_BIT;
    }
    (h, n)
}

/// The payload of `packet` on a WebTransport stream (always Engine.IO v4):
/// the raw bytes of a binary message, else the text encoding. Empty binary
/// data goes as text, `b` (base64 of nothing): a frame of length 0 is a
/// protocol error to the receiver (ours, and the reference's decoder), and
/// `b` decodes to the same empty binary message.
pub fn payload(packet: &Packet) -> (Bytes, bool) {
    match &packet.data {
        Data::Binary(b) if !b.is_empty() => (b.clone(), true),
        _ => (Bytes::from(packet.encode_text(ProtocolVersion::V4)), false),
    }
}

/// Appends the frame of `packet` to `out`.
pub fn encode(packet: &Packet, out: &mut BytesMut) {
    let (body, binary) = payload(packet);
    let (h, n) = header(body.len(), binary);
    out.reserve(n + body.len());
    out.put_slice(&h[..n]);
    out.put_slice(&body);
}

/// Where the decoder is in the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    /// The first byte said 126 (`Ext16`) or 127 (`Ext64`).
    Ext16 {
        binary: bool,
    },
    Ext64 {
        binary: bool,
    },
    Payload {
        len: usize,
        binary: bool,
    },
}

/// Decodes frames from the bytes of the stream as they arrive, with a limit on
/// the payload of one frame (the server's `maxHttpBufferSize`). Memory is
/// bounded: a frame over the limit is refused from its header.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_payload: usize,
    state: State,
}

impl FrameDecoder {
    /// A decoder refusing frames whose payload exceeds `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            max_payload,
            state: State::Header,
        }
    }

    /// The bytes the decoder needs before it can make progress (at least 1):
    /// a reader can size its next read with it.
    pub fn wanted(&self, buffered: usize) -> usize {
        let need = match self.state {
            State::Header => 1,
            State::Ext16 { .. } => 2,
            State::Ext64 { .. } => 8,
            State::Payload { len, .. } => len,
        };
        need.saturating_sub(buffered).max(1)
    }

    fn check(&self, len: u64) -> Result<usize, DecodeError> {
        match usize::try_from(len) {
            Ok(l) if l > 0 && l <= self.max_payload => Ok(l),
            _ => Err(DecodeError::FrameLength),
        }
    }

    /// Takes the next complete packet from the front of `buf`, if there is
    /// one. After an error the stream is not to be read further.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    buf.advance(1);
                    let binary = first & BINARY_BIT != 0;
                    self.state = match first & !BINARY_BIT {
                        126 => State::Ext16 { binary },
                        127 => State::Ext64 { binary },
                        n => State::Payload {
                            len: self.check(u64::from(n))?,
                            binary,
                        },
                    };
                }
                State::Ext16 { binary } => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    let len = self.check(u64::from(buf.get_u16()))?;
                    self.state = State::Payload { len, binary };
                }
                State::Ext64 { binary } => {
                    if buf.len() < 8 {
                        return Ok(None);
                    }
                    let len = self.check(buf.get_u64())?;
                    self.state = State::Payload { len, binary };
                }
                State::Payload { len, binary } => {
                    if buf.len() < len {
                        return Ok(None);
                    }
                    let data = buf.split_to(len).freeze();
                    self.state = State::Header;
                    return if binary {
                        Packet::decode_binary(data, ProtocolVersion::V4).map(Some)
                    } else {
                        let s = Str::from_utf8(data).map_err(|_| DecodeError::Utf8)?;
                        Packet::decode_text(&s, ProtocolVersion::V4).map(Some)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::PacketType;

    fn wire(p: &Packet) -> BytesMut {
        let mut b = BytesMut::new();
        encode(p, &mut b);
        b
    }

    #[test]
    fn headers_match_the_reference() {
        // The reference's test vectors (engine.io-parser test/node.ts).
        assert_eq!(header(125, false), ([125, 0, 0, 0, 0, 0, 0, 0, 0], 1));
        assert_eq!(header(126, false).0[..3], [126, 0, 126]);
        assert_eq!(header(65535, true).0[..3], [0xfe, 0xff, 0xff]);
        assert_eq!(header(65536, false).0, [127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(&wire(&Packet::empty(PacketType::Ping))[..], b"\x012");
        assert_eq!(
            &wire(&Packet::message(Bytes::from_static(&[1, 2, 3])))[..],
            &[0x83, 1, 2, 3]
        );
    }

    #[test]
    fn round_trips_at_every_split_point() {
        let big = "x".repeat(70_000);
        let packets = [
            Packet::open(r#"{"sid":"abc"}"#),
            Packet::message("é".repeat(100)),
            Packet::message(big),
            Packet::message(Bytes::from(vec![7u8; 300])),
            Packet::empty(PacketType::Pong),
        ];
        let mut all = BytesMut::new();
        for p in &packets {
            encode(p, &mut all);
        }
        for split in [1, 2, 3, 9, 127, 1000] {
            let mut dec = FrameDecoder::new(100_000);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for chunk in all.chunks(split) {
                buf.extend_from_slice(chunk);
                while let Some(p) = dec.decode(&mut buf).unwrap() {
                    out.push(p);
                }
            }
            assert_eq!(out, packets, "split {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn refuses_empty_and_oversized_frames_from_the_header() {
        let mut dec = FrameDecoder::new(10);
        assert_eq!(
            dec.decode(&mut BytesMut::from(&[0u8][..])),
            Err(DecodeError::FrameLength)
        );
        let mut dec = FrameDecoder::new(10);
        // 11 bytes announced: refused before any payload arrives.
        assert_eq!(
            dec.decode(&mut BytesMut::from(&[11u8][..])),
            Err(DecodeError::FrameLength)
        );
        let mut dec = FrameDecoder::new(1 << 20);
        let mut b = BytesMut::from(&[127u8, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff][..]);
        assert_eq!(dec.decode(&mut b), Err(DecodeError::FrameLength));
    }

    #[test]
    fn empty_binary_goes_as_text() {
        // Found by the fuzz target `wt_frame_decode`: the text frame `b` decodes
        // to an empty binary message, which was then encoded as a binary frame
        // of length 0, a frame every receiver refuses.
        let mut dec = FrameDecoder::new(10);
        let p = dec
            .decode(&mut BytesMut::from(&[1u8, b'b'][..]))
            .unwrap()
            .unwrap();
        assert_eq!(p, Packet::message(Bytes::new()));
        let mut again = wire(&p);
        assert_eq!(&again[..], b"\x01b");
        assert_eq!(
            FrameDecoder::new(10).decode(&mut again).unwrap(),
            Some(Packet::message(Bytes::new()))
        );
    }

    #[test]
    fn refuses_bad_utf8_and_unknown_types() {
        let mut dec = FrameDecoder::new(10);
        assert_eq!(
            dec.decode(&mut BytesMut::from(&[2u8, b'4', 0xff][..])),
            Err(DecodeError::Utf8)
        );
        let mut dec = FrameDecoder::new(10);
        assert!(matches!(
            dec.decode(&mut BytesMut::from(&[1u8, b'9'][..])),
            Err(DecodeError::UnknownType(_))
        ));
    }
}
