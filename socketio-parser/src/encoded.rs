//! [`Encoded`]: the Engine.IO messages one packet encodes to, shareable across recipients.

use std::sync::Arc;

use bytes::Bytes;

/// One Engine.IO message produced by the encoder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A text message. The bytes are valid UTF-8 (the encoder only writes UTF-8); a
    /// transport converts them with e.g. `engine_io::Str::from_utf8`.
    Text(Bytes),
    /// A binary message (a binary attachment, or a whole msgpack packet).
    Binary(Bytes),
}

impl Frame {
    /// The raw bytes of the frame, text or binary.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b,
        }
    }

    /// Whether this is a text frame.
    pub fn is_text(&self) -> bool {
        matches!(self, Frame::Text(_))
    }

    /// The text, if this is a text frame (validates the UTF-8, `None` if somebody built
    /// a `Frame::Text` with invalid bytes).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Frame::Text(b) => std::str::from_utf8(b).ok(),
            Frame::Binary(_) => None,
        }
    }
}

/// The frames of one encoded packet, in sending order: the text packet then its binary
/// attachments (JSON parser), or a single binary frame (msgpack parser).
///
/// Cloning is one reference-count increment, so a broadcast encodes once and hands the
/// same `Encoded` to every recipient. The frames must be sent back to back on one
/// connection (an atomic multi-message enqueue), or the peer's decoder fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    frames: Arc<[Frame]>,
}

impl Encoded {
    /// Wraps frames (normally only the encoder builds these).
    pub fn new(frames: Vec<Frame>) -> Self {
        Self {
            frames: frames.into(),
        }
    }

    /// One text frame followed by binary attachments, in one allocation.
    pub(crate) fn from_parts(first: Frame, attachments: Vec<Bytes>) -> Self {
        Self {
            frames: std::iter::once(first)
                .chain(attachments.into_iter().map(Frame::Binary))
                .collect(),
        }
    }

    /// The frames in sending order.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Iterates over the frames in sending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// The number of frames (1 + number of binary attachments for JSON).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Always false for encoder output; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total payload bytes over all frames.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(|f| f.bytes().len()).sum()
    }
}

impl<'a> IntoIterator for &'a Encoded {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}
