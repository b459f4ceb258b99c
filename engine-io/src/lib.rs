//! Engine.IO server and the Engine.IO packet and payload codec.

mod error;
mod handshake;
mod message;
pub mod packet;
pub mod payload;
mod str;

pub use error::DecodeError;
pub use handshake::Handshake;
pub use message::Message;
pub use packet::{Data, Frame, Packet, PacketType, ProtocolVersion};
pub use str::Str;
