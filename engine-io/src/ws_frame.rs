//! The server's WebSocket frame reader: RFC 6455 client frames decoded from a
//! byte buffer, with no I/O.
//!
//! [`FrameReader::decode`] takes one complete frame off the front of a
//! [`BytesMut`] (or leaves the buffer untouched while the frame is
//! incomplete), unmasks it in place, and reassembles fragmented messages. A
//! text message comes out as a [`Str`], validated once: an unfragmented one
//! is a slice of the buffer it was read into (no copy), a fragmented one is
//! validated fragment by fragment as it arrives. Every violation is a
//! [`ReadError`] carrying the close code RFC 6455 §7.4.1 gives it (and the
//! `ws` package sends): 1009 over the size limit, 1007 invalid UTF-8, 1002
//! for the rest. The checks run in the order tungstenite's reader runs them,
//! so both sort any byte sequence the same way.
//!
//! ```
//! use bytes::BytesMut;
//! use engine_io::ws_frame::{Frame, FrameReader, ReadError};
//! let mut reader = FrameReader::new(1_000_000);
//! // A masked, final text frame "4hi" (key 1 2 3 4), then half of the next frame.
//! let mut buf = BytesMut::from(&[0x81, 0x83, 1, 2, 3, 4, b'4' ^ 1, b'h' ^ 2, b'i' ^ 3, 0x81][..]);
//! match reader.decode(&mut buf) {
//!     Ok(Some(Frame::Text(s))) => assert_eq!(&*s, "4hi"),
//!     _ => unreachable!(),
//! }
//! assert!(matches!(reader.decode(&mut buf), Ok(None)));
//! assert_eq!(&buf[..], &[0x81]);
//! // An unmasked client frame is a protocol error (close code 1002).
//! let mut bad = BytesMut::from(&[0x81, 0x01, b'x'][..]);
//! assert_eq!(reader.decode(&mut bad).err(), Some(ReadError::Protocol));
//! assert_eq!(ReadError::Protocol.close_code(), 1002);
//! ```

use crate::Str;
use bytes::{Buf, Bytes, BytesMut};

/// The opcodes of RFC 6455 §5.2.
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The most bytes a frame header takes: 2, the 64-bit length, the mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The most payload a control frame may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// One frame (or, for data, one whole message) read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message, validated UTF-8.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
    /// A ping: to be answered with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong (nothing to do).
    Pong(Bytes),
    /// A close frame: its status code and reason, if it had any. The reply
    /// is [`close_reply`]'s.
    Close(Option<(u16, Str)>),
}

/// Why a client's bytes are not a valid WebSocket stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A frame or a message over the size limit (close code 1009).
    #[error("message over the size limit")]
    TooBig,
    /// A text message or close reason that is not UTF-8 (close code 1007).
    #[error("invalid UTF-8")]
    Utf8,
    /// Any other violation (close code 1002): an unmasked frame, reserved
    /// bits or opcodes, a fragmented or oversized control frame, a
    /// continuation out of place, a one-byte close payload.
    #[error("websocket protocol violation")]
    Protocol,
}

impl ReadError {
    /// The close code that answers it (RFC 6455 §7.4.1).
    pub fn close_code(self) -> u16 {
        match self {
            ReadError::TooBig => 1009,
            ReadError::Utf8 => 1007,
            ReadError::Protocol => 1002,
        }
    }
}

/// Decodes a client's frames. Its state between frames is two words: the
/// limit and, only while a fragmented message is being assembled, a box
/// holding what arrived of it.
#[derive(Debug)]
pub struct FrameReader {
    /// The most bytes a frame or a reassembled message may carry.
    limit: usize,
    /// A fragmented message, until its final fragment (boxed: rare).
    message: Option<Box<Assembly>>,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
enum Assembly {
    /// Text, validated as it arrives: the valid prefix, and the first bytes
    /// of a character that a fragment boundary cut (at most 3).
    Text {
        text: String,
        cut: [u8; 4],
        cut_len: u8,
    },
    /// Binary.
    Binary(Vec<u8>),
}

impl Assembly {
    fn len(&self) -> usize {
        match self {
            Assembly::Text { text, cut_len, .. } => text.len() + usize::from(*cut_len),
            Assembly::Binary(b) => b.len(),
        }
    }

    /// Appends a fragment's payload, `limit` bounding the whole message.
    fn extend(&mut self, input: &[u8], limit: usize) -> Result<(), ReadError> {
        let len = self.len();
        if len > limit || input.len() > limit - len {
            return Err(ReadError::TooBig);
        }
        match self {
            Assembly::Binary(b) => {
                b.extend_from_slice(input);
                Ok(())
            }
            Assembly::Text { text, cut, cut_len } => push_text(text, cut, cut_len, input),
        }
    }

    fn finish(self) -> Result<Frame, ReadError> {
        match self {
            Assembly::Binary(b) => Ok(Frame::Binary(Bytes::from(b))),
            // A character cut by the end of the message is invalid.
            Assembly::Text { cut_len: 1.., .. } => Err(ReadError::Utf8),
            Assembly::Text { text, .. } => Ok(Frame::Text(Str::from(text))),
        }
    }
}

/// The number of bytes of the UTF-8 character `lead` starts, 0 if no valid
/// character starts with it.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Where a character that `input` ends in the middle of starts (the end when
/// it ends on a character boundary, or when its tail cannot start one).
fn cut_point(input: &[u8]) -> usize {
    let len = input.len();
    for back in 1..=3.min(len) {
        let b = input[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let width = utf8_width(b);
        return if width > back { len - back } else { len };
    }
    len
}

/// Validates `input`, the next bytes of a text message, and appends it to
/// `text`, each byte validated once: a character cut by the end of the
/// previous fragment is completed first, and one cut by the end of this one
/// is kept in `cut`. Fails as soon as the bytes cannot be UTF-8.
fn push_text(
    text: &mut String,
    cut: &mut [u8; 4],
    cut_len: &mut u8,
    mut input: &[u8],
) -> Result<(), ReadError> {
    if *cut_len > 0 {
        let have = usize::from(*cut_len);
        let width = utf8_width(cut[0]);
        let take = (width - have).min(input.len());
        cut[have..have + take].copy_from_slice(&input[..take]);
        input = &input[take..];
        let now = have + take;
        match std::str::from_utf8(&cut[..now]) {
            Ok(c) => {
                text.push_str(c);
                *cut_len = 0;
            }
            // Still incomplete, and valid so far: the fragment was too short.
            Err(e) if e.error_len().is_none() && now < width => {
                *cut_len = now as u8;
                return Ok(());
            }
            Err(_) => return Err(ReadError::Utf8),
        }
    }
    let end = cut_point(input);
    let valid = std::str::from_utf8(&input[..end]).map_err(|_| ReadError::Utf8)?;
    text.push_str(valid);
    let rest = &input[end..];
    if !rest.is_empty() {
        // A character's first bytes: they must be a valid start of one.
        match std::str::from_utf8(rest) {
            Err(e) if e.error_len().is_none() => {}
            _ => return Err(ReadError::Utf8),
        }
        cut[..rest.len()].copy_from_slice(rest);
        *cut_len = rest.len() as u8;
    }
    Ok(())
}

/// A parsed frame header.
struct Header {
    fin: bool,
    /// RSV1-3 (no extension is negotiated: must be 0).
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// The payload length as sent (up to 63 bits).
    len: u64,
    /// The header's own length.
    header_len: usize,
}

/// The header at the front of `buf`, or `None` while it is incomplete.
fn parse_header(buf: &[u8]) -> Option<Header> {
    let [first, second, ..] = *buf else {
        return None;
    };
    let masked = second & 0x80 != 0;
    let (len, mut at) = match second & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    Some(Header {
        fin: first & 0x80 != 0,
        rsv: first & 0x70,
        opcode: first & 0x0F,
        mask,
        len,
        header_len: at,
    })
}

/// XORs `buf` with the masking key (RFC 6455 §5.3), eight bytes at a time.
pub fn unmask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        w.copy_from_slice(&(u64::from_ne_bytes(b) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key's phase is unchanged.
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

impl FrameReader {
    /// A reader of messages of at most `limit` bytes (frames and reassembled
    /// messages alike: Engine.IO's `maxHttpBufferSize`).
    pub fn new(limit: usize) -> Self {
        FrameReader {
            limit,
            message: None,
        }
    }

    /// How many bytes the frame at the front of `buf` takes, header
    /// included, once its header is complete: what a read must make room
    /// for. Never more than the limit plus [`MAX_HEADER_LEN`] for a frame
    /// [`decode`](Self::decode) would accept.
    pub fn frame_len(&self, buf: &[u8]) -> Option<usize> {
        let h = parse_header(buf)?;
        if h.len > self.limit as u64 {
            return None;
        }
        Some(h.header_len + h.len as usize)
    }

    /// Takes the next frame off the front of `buf`: `Ok(None)` while it is
    /// incomplete (`buf` is left as it was), a data frame only once it ends
    /// its message. After an error the stream cannot be read further.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ReadError> {
        loop {
            let Some(h) = parse_header(buf) else {
                return Ok(None);
            };
            if !matches!(
                h.opcode,
                OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
            ) {
                return Err(ReadError::Protocol);
            }
            if h.len > self.limit as u64 {
                return Err(ReadError::TooBig);
            }
            let len = h.len as usize;
            if buf.len() - h.header_len < len {
                return Ok(None);
            }
            // A client must mask every frame (RFC 6455 §5.1).
            let Some(key) = h.mask else {
                return Err(ReadError::Protocol);
            };
            buf.advance(h.header_len);
            let mut payload = buf.split_to(len);
            unmask(&mut payload, key);
            if h.rsv != 0 {
                return Err(ReadError::Protocol);
            }
            match h.opcode {
                OP_CLOSE | OP_PING | OP_PONG => {
                    if !h.fin || len > MAX_CONTROL_PAYLOAD {
                        return Err(ReadError::Protocol);
                    }
                    let payload = payload.freeze();
                    return Ok(Some(match h.opcode {
                        OP_PING => Frame::Ping(payload),
                        OP_PONG => Frame::Pong(payload),
                        _ => Frame::Close(close_payload(payload)?),
                    }));
                }
                OP_CONTINUATION => {
                    let Some(message) = self.message.as_deref_mut() else {
                        return Err(ReadError::Protocol);
                    };
                    message.extend(&payload, self.limit)?;
                    if h.fin {
                        if let Some(message) = self.message.take() {
                            return message.finish().map(Some);
                        }
                    }
                }
                _ if self.message.is_some() => return Err(ReadError::Protocol),
                OP_TEXT if h.fin => {
                    let text = Str::from_utf8(payload.freeze()).map_err(|_| ReadError::Utf8)?;
                    return Ok(Some(Frame::Text(text)));
                }
                OP_BINARY if h.fin => return Ok(Some(Frame::Binary(payload.freeze()))),
                _ => {
                    let mut message = Box::new(if h.opcode == OP_TEXT {
                        Assembly::Text {
                            text: String::new(),
                            cut: [0; 4],
                            cut_len: 0,
                        }
                    } else {
                        Assembly::Binary(Vec::new())
                    });
                    message.extend(&payload, self.limit)?;
                    self.message = Some(message);
                }
            }
        }
    }
}

/// A close frame's code and reason (RFC 6455 §5.5.1).
fn close_payload(payload: Bytes) -> Result<Option<(u16, Str)>, ReadError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(ReadError::Protocol),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = Str::from_utf8(payload.slice(2..)).map_err(|_| ReadError::Utf8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Whether an endpoint may send `code` in a close frame (RFC 6455 §7.4):
/// the defined codes but 1004-1006 and 1015, and the registered and
/// private ranges 3000-4999.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999)
}

/// The payload of the close frame that answers a client's close (the close
/// handshake, RFC 6455 §5.5.1): its code and reason echoed, or 1002 for a
/// code no endpoint may send, empty for a close without a code (as
/// tungstenite answers).
pub fn close_reply(close: &Option<(u16, Str)>, out: &mut Vec<u8>) {
    match close {
        None => {}
        Some((code, reason)) if close_code_allowed(*code) => {
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        Some(_) => {
            out.extend_from_slice(&1002u16.to_be_bytes());
            out.extend_from_slice(b"Protocol violation");
        }
    }
}

#[cfg(test)]
#[path = "ws_frame_tests.rs"]
mod tests;
