//! Socket.IO packet encoder and decoder: the JSON format with binary attachments (npm
//! `socket.io-parser` 4.2) and the msgpack format (npm `socket.io-msgpack-parser` 3.0,
//! cargo feature `msgpack`, on by default). No I/O, no runtime: strings and bytes in,
//! typed packets out, and back.
//!
//! # Types
//!
//! - [`Packet`]: `kind` ([`PacketType`]), namespace `nsp`, optional ack `id`, optional
//!   `data` ([`Value`]).
//! - [`Value`]: a JSON-like value with a [`Value::Binary`] variant (`bytes::Bytes`).
//!   [`to_value`] / [`from_value`] bridge user types through serde (bytes fields become
//!   binary); `serde_json::Value` converts with `From`.
//! - [`IntoArgs`], [`Args`]: the argument list of an emit (one `Serialize` value, `()` for
//!   none, `Args` for several), and [`FromAck`], what an acknowledgement's answer is read as;
//!   shared by the server and the client.
//! - [`Parser`]: the format (`Json` or `MsgPack`); [`Parser::encode`] gives an
//!   [`Encoded`]: the [`Frame`]s to send, text then binary attachments, cheap to clone so
//!   a broadcast encodes once.
//! - [`Decoder`]: stateful, fed one Engine.IO message at a time; rejects bad input with a
//!   [`DecodeError`] (one variant per rule of the reference decoder), never panics.
//!
//! # Module map
//!
//! Each protocol concept lives in one file named for it:
//!
//! | module | owns |
//! |---|---|
//! | `args` | [`IntoArgs`], [`Args`]: what an emit sends; [`FromAck`]: what an answer is read as |
//! | `packet` | [`Packet`], [`PacketType`], reserved event names, the default namespace |
//! | `value` | [`Value`], [`Map`], [`Number`] and their conversions |
//! | `json` | the JSON packet format (`socket.io-parser`), and the JSON text of a [`Value`] |
//! | `binary` | binary attachments: placeholders and their reassembly |
//! | `js_number` | numbers written as JavaScript writes them |
//! | [`msgpack`] | notepack-compatible msgpack (`writer`, `reader`) and the msgpack packet format, whose packet map `{type, data, nsp, id}` the Redis adapter reuses |
//! | `parser` | [`Parser`]: the choice of format, and encoding |
//! | `decoder` | [`Decoder`]: the stateful decoder (attachments in flight, limits) |
//! | `encoded` | [`Encoded`], [`Frame`], and the one conversion of frames into Engine.IO messages ([`Frame::to_message`], [`Encoded::to_messages`]) |
//! | `error` | [`DecodeError`] (one variant per rejection rule), [`EncodeError`] |
//! | [`protocol_version`] | protocol v4 (Socket.IO 2.x) and v5: CONNECT replies and CONNECT_ERROR per version |
//! | `serde_bridge` | [`to_value`] / [`from_value`] (`ser`, `de`, `error`) |
//!
//! # Encoding
//!
//! ```
//! use bytes::Bytes;
//! use socketio_parser::{Frame, Packet, Parser, Value};
//!
//! // `2/chat,12["message","hi"]`
//! let packet = Packet::event("/chat", "message", vec!["hi".into()]).with_id(12);
//! let encoded = Parser::Json.encode(&packet)?;
//! assert_eq!(encoded.frames(), &[Frame::Text(r#"2/chat,12["message","hi"]"#.into())]);
//!
//! // Binary anywhere in the arguments: a BINARY_EVENT plus one attachment per buffer.
//! let file = Bytes::from_static(b"\x00\x01");
//! let packet = Packet::event("/", "upload", vec![Value::from(file.clone())]);
//! let encoded = Parser::Json.encode(&packet)?;
//! assert_eq!(
//!     encoded.frames(),
//!     &[
//!         Frame::Text(r#"51-["upload",{"_placeholder":true,"num":0}]"#.into()),
//!         Frame::Binary(file),
//!     ]
//! );
//! # Ok::<(), socketio_parser::EncodeError>(())
//! ```
//!
//! # Decoding
//!
//! ```
//! use socketio_parser::{DecodeError, Decoder, PacketType, Parser};
//!
//! let mut decoder = Decoder::new(Parser::Json);
//! let packet = decoder.decode_text(r#"3/admin,13["bar"]"#)?.expect("not binary");
//! assert_eq!(packet.kind, PacketType::Ack);
//! assert_eq!((packet.nsp.as_str(), packet.id), ("/admin", Some(13)));
//!
//! // Reserved names are refused, like the reference does.
//! assert!(matches!(
//!     decoder.decode_text(r#"2["disconnect"]"#),
//!     Err(DecodeError::ReservedEventName(_))
//! ));
//! # Ok::<(), DecodeError>(())
//! ```
//!
//! # User types
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use socketio_parser::{from_value, to_value, Packet, Parser};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Chunk {
//!     seq: u32,
//!     #[serde(with = "serde_bytes")]
//!     payload: Vec<u8>,
//! }
//!
//! let chunk = Chunk { seq: 1, payload: vec![0xde, 0xad] };
//! let packet = Packet::event("/", "chunk", vec![to_value(&chunk).unwrap()]);
//! let encoded = Parser::Json.encode(&packet).unwrap();
//! assert_eq!(encoded.len(), 2); // the text packet + one binary attachment
//!
//! let mut decoder = Parser::Json.decoder();
//! let mut frames = encoded.iter();
//! let text = frames.next().and_then(|f| f.as_text()).unwrap();
//! assert!(decoder.decode_text(text).unwrap().is_none());
//! let packet = decoder.decode_binary(frames.next().unwrap().bytes().clone()).unwrap().unwrap();
//! let (_, mut args) = packet.into_event().unwrap();
//! let back: Chunk = from_value(args.remove(0)).unwrap();
//! assert_eq!(back, chunk);
//! ```
//!
//! # Compatibility notes
//!
//! Byte-for-byte with the reference for what real peers send (checked against the npm
//! packages in `protocol-tests`). Numbers are written as JavaScript writes them; object
//! keys keep their order. Deliberate differences, all on input no real peer sends:
//! - the ack id and attachment count must be plain ASCII digits (JavaScript's `Number()`
//!   also takes spaces, `0x1f`, `1e1`...); an ack id above `u64::MAX` is refused;
//! - an empty text message is refused (the reference reads it as `CONNECT /`);
//! - a `BINARY_EVENT` without payload is refused (the reference waits for its
//!   attachments and passes it on with no data); a plain `EVENT` without payload is
//!   accepted with no data, as the reference does, and receivers ignore it;
//! - the msgpack format applies the same event-name checks as the JSON format (the
//!   reference msgpack parser only checks that the payload is an array);
//! - a placeholder `num` must be an integer index (the reference yields `undefined` for 0.5);
//! - JSON nesting deeper than 128 levels, numbers outside the `f64` range and lone UTF-16
//!   surrogates (`"\ud800"`) are refused as invalid JSON;
//! - integers beyond 2^53 keep their exact value (JavaScript rounds them);
//! - numeric object keys keep their order (JavaScript moves integer keys first);
//! - msgpack: a `null` data or id counts as absent (the reference refuses `null` data for
//!   `CONNECT`/`DISCONNECT` and a `null` id), and ext values other than notepack's
//!   (ArrayBuffer, Date, undefined) decode as `[type, binary]` like notepack's.
//!
//! The JSON encoder refuses a namespace without a leading `/` or with a `,` (the
//! reference 4.2.7 writes it and its peer misreads it); the msgpack format carries any
//! namespace string, as the reference does.
//!
//! See [`protocol_version`] for serving Socket.IO 2.x clients (protocol v4): the same
//! codec reads and writes what `socket.io-parser` 3.3 (bundled with `socket.io-client`
//! 2.x) reads and writes.
//!
//! # Verification
//!
//! - `cargo test -p socketio-parser`: exact encodings, one test per rejection rule,
//!   property tests (round trips with nested binary, no panics on arbitrary input).
//! - `cargo test -p protocol-tests --test socketio parser_crosscheck::`: byte-for-byte against the
//!   npm packages, both directions.
//! - `cargo fuzz run decode_json` / `decode_msgpack` in `socketio-parser/fuzz`.
//! - `cargo bench -p socketio-parser --bench codec`.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod args;
mod binary;
mod decoder;
mod encoded;
mod error;
mod js_number;
mod json;
#[cfg(feature = "msgpack")]
#[cfg_attr(docsrs, doc(cfg(feature = "msgpack")))]
pub mod msgpack;
mod packet;
mod parser;
pub mod protocol_version;
mod serde_bridge;
mod value;

pub use args::{Args, FromAck, IntoArgs};
pub use bytes::Bytes;
pub use decoder::{Decoded, Decoder, ReceivedEvent, DEFAULT_MAX_ATTACHMENTS};
pub use encoded::{Encoded, Frame, IntoFrames};
pub use error::{DecodeError, EncodeError};
pub use packet::{is_reserved_event, Packet, PacketType, DEFAULT_NAMESPACE, RESERVED_EVENTS};
pub use parser::Parser;
pub use protocol_version::{split_namespace_query, ProtocolVersion};
pub use serde_bridge::{from_value, to_value, ValueError};
pub use value::{Map, Number, Value};

/// Protocol revision spoken by this crate (the reference's `protocol` export).
pub const PROTOCOL: u8 = 5;
