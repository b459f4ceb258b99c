//! Codec errors.

/// Why a packet or a payload could not be decoded.
///
/// Every variant is a protocol error caused by the peer: the server answers it by
/// closing the session with the reason `"parse error"`, as the reference does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet was empty (no type character).
    #[error("empty packet")]
    Empty,
    /// The packet type is not one of `0`..=`6`.
    #[error("unknown packet type {0:?}")]
    UnknownType(u32),
    /// A `b`-prefixed packet did not carry valid base64.
    #[error("invalid base64 in binary packet")]
    Base64,
    /// Text that is not valid UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// A v3 payload length prefix is missing, not a number or out of range.
    #[error("invalid payload length")]
    Length,
    /// A v3 payload ended before the length announced by its prefix.
    #[error("truncated payload")]
    Truncated,
    /// A WebTransport frame announced a length of 0 or over the limit.
    #[error("invalid frame length")]
    FrameLength,
    /// A JSONP form body has no `d` field or is malformed.
    #[error("invalid JSONP body")]
    Jsonp,
}
