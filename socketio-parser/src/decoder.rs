//! [`Decoder`]: the stateful decoder fed one Engine.IO message at a time.

use bytes::Bytes;

use crate::binary;
use crate::error::DecodeError;
use crate::json;
use crate::packet::Packet;
use crate::parser::Parser;

/// The default limit on binary attachments per packet (the reference `maxAttachments`).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// A binary packet whose attachments are still arriving.
#[derive(Debug)]
struct Pending {
    packet: Packet,
    attachments: usize,
    buffers: Vec<Bytes>,
}

/// Decodes incoming Engine.IO messages into packets.
///
/// One decoder per connection: a binary packet (JSON format) is one text message followed
/// by its attachments as binary messages, and the decoder holds the partial packet in
/// between. After an error the decoder is reset; the caller should close the connection
/// (the reference closes it with reason "parse error").
///
/// Memory is bounded: at most `max_attachments` buffers are held, each one Engine.IO
/// message (itself bounded by the transport's `maxHttpBufferSize`).
///
/// ```
/// use bytes::Bytes;
/// use socketio_parser::{Decoder, Parser, Value};
///
/// let mut decoder = Decoder::new(Parser::Json);
/// assert!(decoder.decode_text(r#"51-["upload",{"_placeholder":true,"num":0}]"#)?.is_none());
/// let packet = decoder.decode_binary(Bytes::from_static(b"\x01\x02"))?.expect("complete");
/// assert_eq!(packet.event_name(), Some("upload"));
/// assert_eq!(packet.args(), &[Value::Binary(Bytes::from_static(b"\x01\x02"))]);
/// # Ok::<(), socketio_parser::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    parser: Parser,
    max_attachments: usize,
    /// Boxed: every connection has a decoder, and only a binary packet between its text
    /// message and its last attachment uses this (an inline `Pending` is ~100 bytes).
    pending: Option<Box<Pending>>,
}

impl Parser {
    /// A new decoder for this format with the default limits.
    pub fn decoder(&self) -> Decoder {
        Decoder::new(*self)
    }
}

impl Decoder {
    /// A decoder for `parser` with the default limit of 10 attachments per packet.
    pub fn new(parser: Parser) -> Self {
        Self {
            parser,
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            pending: None,
        }
    }

    /// Sets the maximum number of binary attachments per packet (default 10).
    #[must_use]
    pub fn with_max_attachments(mut self, max: usize) -> Self {
        self.max_attachments = max;
        self
    }

    /// The parser this decoder speaks.
    pub fn parser(&self) -> Parser {
        self.parser
    }

    /// The maximum number of binary attachments per packet.
    pub fn max_attachments(&self) -> usize {
        self.max_attachments
    }

    /// Whether a binary packet is waiting for more attachments.
    pub fn is_awaiting_attachments(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops any partially received packet (the reference `destroy()`).
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Feeds a text message. Returns the packet if it is complete, `None` if it is a
    /// binary packet whose attachments must follow.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, DecodeError> {
        match self.parser {
            Parser::Json => {}
            #[cfg(feature = "msgpack")]
            Parser::MsgPack => return Err(DecodeError::TextNotSupported),
        }
        if self.pending.take().is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        let decoded = json::decode_text(text, self.max_attachments)?;
        if decoded.attachments == 0 {
            return Ok(Some(decoded.packet));
        }
        self.pending = Some(Box::new(Pending {
            packet: decoded.packet,
            attachments: decoded.attachments,
            buffers: Vec::with_capacity(decoded.attachments),
        }));
        Ok(None)
    }

    /// Feeds a binary message: an attachment (JSON format) or a whole packet (msgpack).
    /// Returns the packet once it is complete.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        match self.parser {
            Parser::Json => {}
            #[cfg(feature = "msgpack")]
            Parser::MsgPack => return crate::msgpack::packet::decode(data).map(Some),
        }
        let Some(pending) = self.pending.as_mut() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        pending.buffers.push(data);
        if pending.buffers.len() < pending.attachments {
            return Ok(None);
        }
        let Some(pending) = self.pending.take() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        let Pending {
            mut packet,
            buffers,
            ..
        } = *pending;
        if let Some(data) = packet.data.as_mut() {
            binary::reconstruct(data, &buffers)?;
        }
        Ok(Some(packet))
    }
}
