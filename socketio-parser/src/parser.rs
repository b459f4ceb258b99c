//! [`Parser`]: the packet format a server or client speaks (JSON or msgpack).

use crate::encoded::Encoded;
use crate::error::EncodeError;
use crate::json;
use crate::packet::Packet;

/// The packet format, chosen once per server or client; both peers must use the same.
///
/// ```
/// use socketio_parser::{Frame, Packet, Parser, Value};
///
/// let packet = Packet::event("/", "hello", vec![Value::from(1)]);
/// let encoded = Parser::Json.encode(&packet)?;
/// assert_eq!(encoded.frames(), &[Frame::Text(r#"2["hello",1]"#.into())]);
///
/// let mut decoder = Parser::Json.decoder();
/// assert_eq!(decoder.decode_text(r#"2["hello",1]"#).unwrap(), Some(packet));
/// # Ok::<(), socketio_parser::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Parser {
    /// The default format (npm `socket.io-parser`): text packets with JSON payloads,
    /// binary values sent as separate binary attachments.
    #[default]
    Json,
    /// npm `socket.io-msgpack-parser`: every packet is one binary msgpack message.
    #[cfg(feature = "msgpack")]
    MsgPack,
}

impl Parser {
    /// Encodes a packet into the Engine.IO messages to send, in order.
    ///
    /// `Event`/`Ack` packets whose data holds binary values become `BinaryEvent`/
    /// `BinaryAck` with attachments (JSON format). The only failures are a namespace that
    /// cannot be written in the JSON format (no leading `/`, or a `,`) and, for msgpack, a
    /// string, binary, array or map of 2^32 or more bytes or elements.
    pub fn encode(&self, packet: &Packet) -> Result<Encoded, EncodeError> {
        match self {
            Parser::Json => json::encode(packet),
            #[cfg(feature = "msgpack")]
            Parser::MsgPack => crate::msgpack::packet::encode(packet),
        }
    }

    /// Whether packets of this format travel as binary Engine.IO messages only.
    pub fn is_binary(&self) -> bool {
        match self {
            Parser::Json => false,
            #[cfg(feature = "msgpack")]
            Parser::MsgPack => true,
        }
    }
}
