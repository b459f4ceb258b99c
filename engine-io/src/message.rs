//! [`Message`]: the data of one Engine.IO `message` packet.

use crate::Str;
use bytes::Bytes;

/// What applications send and receive over an Engine.IO socket: the data of one
/// `message` packet, either text or binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message (UTF-8).
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// Length of the data in bytes (UTF-8 bytes for text).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// Whether the data is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary message.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Message::Text(_) => None,
            Message::Binary(b) => Some(b),
        }
    }
}

impl From<Str> for Message {
    fn from(s: Str) -> Self {
        Message::Text(s)
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(Str::from(s))
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::Text(Str::from_static(s))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(Bytes::from(b))
    }
}
