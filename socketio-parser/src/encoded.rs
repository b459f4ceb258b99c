//! [`Encoded`]: the Engine.IO messages one packet encodes to, shareable across recipients,
//! and the one conversion of its frames into [`engine_io::Message`]s.

use std::sync::Arc;

use bytes::Bytes;
use engine_io::{Message, Str};

use crate::error::EncodeError;

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

    /// The Engine.IO message that carries this frame, sharing its bytes (no copy). Fails only
    /// for a hand-built [`Frame::Text`] holding invalid UTF-8.
    ///
    /// ```
    /// use engine_io::Message;
    /// use socketio_parser::Frame;
    ///
    /// let frame = Frame::Text("2[\"hi\"]".into());
    /// assert_eq!(frame.to_message()?.as_text(), Some("2[\"hi\"]"));
    /// assert!(Frame::Text(vec![0xff].into()).to_message().is_err());
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn to_message(&self) -> Result<Message, EncodeError> {
        match self {
            Frame::Text(b) => Str::from_utf8(b.clone())
                .map(Message::Text)
                .map_err(|_| EncodeError::InvalidUtf8),
            Frame::Binary(b) => Ok(Message::Binary(b.clone())),
        }
    }

    /// Like [`to_message`](Self::to_message), taking the bytes instead of sharing them.
    pub fn into_message(self) -> Result<Message, EncodeError> {
        match self {
            Frame::Text(b) => Str::from_utf8(b)
                .map(Message::Text)
                .map_err(|_| EncodeError::InvalidUtf8),
            Frame::Binary(b) => Ok(Message::Binary(b)),
        }
    }
}

/// The frames of one encoded packet, in sending order: the text packet then its binary
/// attachments (JSON parser), or a single binary frame (msgpack parser).
///
/// Cloning is cheap (reference-count increments, no copy), so a broadcast encodes once and
/// hands the same `Encoded` to every recipient. The frames must be sent back to back on one
/// connection (an atomic multi-message enqueue), or the peer's decoder fails.
///
/// A packet of one frame (every packet without binary attachments) is held inline: encoding
/// it allocates only its bytes, and [`into_iter`](IntoIterator::into_iter) hands them over
/// without touching a reference count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    frames: Frames,
}

/// One frame inline, or several behind one shared allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frames {
    One(Frame),
    Many(Arc<[Frame]>),
}

impl Encoded {
    /// Wraps frames (normally only the encoder builds these).
    pub fn new(mut frames: Vec<Frame>) -> Self {
        let frames = match frames.pop() {
            Some(only) if frames.is_empty() => Frames::One(only),
            Some(last) => {
                frames.push(last);
                Frames::Many(frames.into())
            }
            None => Frames::Many(Arc::new([])),
        };
        Self { frames }
    }

    /// One text frame followed by binary attachments, in one allocation.
    pub(crate) fn from_parts(first: Frame, attachments: Vec<Bytes>) -> Self {
        if attachments.is_empty() {
            return Self {
                frames: Frames::One(first),
            };
        }
        Self {
            frames: Frames::Many(
                std::iter::once(first)
                    .chain(attachments.into_iter().map(Frame::Binary))
                    .collect(),
            ),
        }
    }

    /// The frames in sending order.
    pub fn frames(&self) -> &[Frame] {
        match &self.frames {
            Frames::One(frame) => std::slice::from_ref(frame),
            Frames::Many(frames) => frames,
        }
    }

    /// Iterates over the frames in sending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames().iter()
    }

    /// The number of frames (1 + number of binary attachments for JSON).
    pub fn len(&self) -> usize {
        self.frames().len()
    }

    /// Always false for encoder output; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.frames().is_empty()
    }

    /// Total payload bytes over all frames.
    pub fn byte_len(&self) -> usize {
        self.iter().map(|f| f.bytes().len()).sum()
    }

    /// The Engine.IO messages to send, in order (see [`Frame::to_message`]). A packet is
    /// all its frames or nothing: one bad frame fails the whole packet, since the peer's
    /// decoder would otherwise pair the remaining attachments with the wrong placeholders.
    ///
    /// ```
    /// use socketio_parser::{Encoded, Frame, Packet, Parser, Value};
    ///
    /// let packet = Packet::event("/", "file", vec![Value::from(vec![1u8, 2])]);
    /// let messages = Parser::Json.encode(&packet)?.to_messages()?;
    /// assert_eq!(messages.len(), 2); // the text packet, then its attachment
    ///
    /// // A bad frame anywhere fails the packet, not just that frame.
    /// let bad = Encoded::new(vec![Frame::Binary(vec![1].into()), Frame::Text(vec![0xff].into())]);
    /// assert!(bad.to_messages().is_err());
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn to_messages(&self) -> Result<Vec<Message>, EncodeError> {
        self.iter().map(Frame::to_message).collect()
    }
}

impl<'a> IntoIterator for &'a Encoded {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The frames in sending order, owned: a one-frame packet gives its frame itself (no
/// reference count touched, so a sender that is the bytes' only holder passes them on as
/// they are); the frames of a shared packet are cloned.
///
/// ```
/// use socketio_parser::{Packet, Parser};
///
/// let encoded = Parser::Json.encode(&Packet::event("/", "hi", vec![]))?;
/// let messages = encoded
///     .into_iter()
///     .map(|frame| frame.into_message())
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(messages[0].as_text(), Some(r#"2["hi"]"#));
/// # Ok::<(), socketio_parser::EncodeError>(())
/// ```
impl IntoIterator for Encoded {
    type Item = Frame;
    type IntoIter = IntoFrames;
    fn into_iter(self) -> IntoFrames {
        IntoFrames(match self.frames {
            Frames::One(frame) => Remaining::One(Some(frame)),
            Frames::Many(frames) => Remaining::Many(frames, 0),
        })
    }
}

/// The owned frames of an [`Encoded`] (its [`IntoIterator`]).
#[derive(Debug)]
pub struct IntoFrames(Remaining);

#[derive(Debug)]
enum Remaining {
    One(Option<Frame>),
    Many(Arc<[Frame]>, usize),
}

impl Iterator for IntoFrames {
    type Item = Frame;
    fn next(&mut self) -> Option<Frame> {
        match &mut self.0 {
            Remaining::One(frame) => frame.take(),
            Remaining::Many(frames, next) => {
                let frame = frames.get(*next)?.clone();
                *next += 1;
                Some(frame)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            Remaining::One(frame) => usize::from(frame.is_some()),
            Remaining::Many(frames, next) => frames.len() - next,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for IntoFrames {}
