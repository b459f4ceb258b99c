//! Decoding and encoding errors. Every rejection rule of the reference decoder has its
//! own [`DecodeError`] variant; the connection that sent the data must be closed.

use crate::packet::PacketType;

/// Why an incoming Engine.IO message was rejected. The peer is misbehaving (or is not a
/// Socket.IO peer): the reference closes the connection with reason "parse error".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty text message (the reference would read it as a `CONNECT` to `/`; we do not
    /// accept that accident).
    #[error("empty packet")]
    EmptyPacket,
    /// The first character is not a packet type `0`..`6` (msgpack: `type` is not an
    /// integer `0`..`4`).
    #[error("unknown packet type {0:?}")]
    UnknownPacketType(String),
    /// The attachment count of a binary packet is not a positive decimal integer.
    #[error("illegal attachments: invalid attachment count {0:?}")]
    InvalidAttachmentCount(String),
    /// A binary packet without the `-` that ends the attachment count.
    #[error("illegal attachments: missing '-' after the attachment count")]
    MissingAttachmentSeparator,
    /// More attachments announced than the decoder accepts.
    #[error("too many attachments: {count} (at most {max})")]
    TooManyAttachments {
        /// The announced count.
        count: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The ack id is not a number that fits in `u64` (msgpack: not a non-negative integer).
    #[error("invalid ack id {0:?}")]
    InvalidAckId(String),
    /// The JSON payload does not parse.
    #[error("invalid payload: invalid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The payload has the wrong shape for the packet type: `CONNECT` not an object,
    /// `DISCONNECT` with a payload, `CONNECT_ERROR` neither string nor object, `ACK` not
    /// an array.
    #[error("invalid payload for a {0} packet")]
    InvalidPayload(PacketType),
    /// An `EVENT` whose payload is missing or is not a non-empty array starting with a
    /// string or a number.
    #[error(
        "invalid payload: an EVENT must be a non-empty array starting with a string or a number"
    )]
    InvalidEventPayload,
    /// An `EVENT` named after a reserved event (`connect`, `disconnect`, ...).
    #[error("invalid payload: {0:?} is a reserved event name")]
    ReservedEventName(String),
    /// A text message arrived while the attachments of a binary packet were awaited.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// A binary message arrived while no binary packet was being reconstructed.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A `{"_placeholder":true,"num":N}` whose `num` is not an index of an attachment.
    #[error("illegal attachments: placeholder {num} out of range (packet has {attachments} attachments)")]
    PlaceholderOutOfRange {
        /// The `num` found (its JSON text).
        num: String,
        /// The attachment count of the packet.
        attachments: usize,
    },
    /// A text message given to the msgpack parser, which only speaks binary.
    #[error("the msgpack parser only accepts binary messages")]
    TextNotSupported,
    /// The msgpack data is malformed, truncated, has trailing bytes, or nests too deeply.
    #[error("invalid msgpack: {0}")]
    InvalidMsgPack(&'static str),
    /// The msgpack packet is not a map, or its `nsp` is not a string.
    #[error("invalid namespace")]
    InvalidNamespace,
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// JSON format: the namespace does not start with `/` or contains a `,` (which ends
    /// the namespace on the wire, so the peer would misread the packet). The msgpack
    /// format accepts any namespace string.
    #[error("invalid namespace {0:?}: must start with '/' and not contain ','")]
    InvalidNamespace(String),
    /// A string, binary, array or map longer than msgpack can express (2^32 - 1).
    #[error("value too large for msgpack")]
    TooLarge,
    /// A [`Frame::Text`](crate::Frame::Text) whose bytes are not UTF-8 (only a hand-built
    /// frame can be: the encoder writes UTF-8). The whole packet is refused: sending it
    /// without that frame would make the peer misread the frames around it.
    #[error("a text frame is not valid UTF-8")]
    InvalidUtf8,
}
