//! [`Parser`]: the packet format a server or client speaks (JSON or msgpack).

use crate::encoded::Encoded;
use crate::error::EncodeError;
use crate::json;
use crate::packet::Packet;
use crate::protocol_version::ProtocolVersion;
use crate::value::Value;

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

    /// Encodes an `EVENT` packet from its parts: the same messages as
    /// [`encode`](Self::encode) gives for `Packet::event(nsp, event, args)` (with `id` as its
    /// ack id), without building that packet, so neither the namespace, the name nor the
    /// arguments are copied (the JSON format, for arguments without binary; anything else
    /// takes the packet's way).
    ///
    /// ```
    /// use socketio_parser::{Packet, Parser, Value};
    ///
    /// let args = [Value::from("hi"), Value::from(1)];
    /// let encoded = Parser::Json.encode_event("/chat", "say", &args, Some(3))?;
    /// let packet = Packet::event("/chat", "say", args.to_vec()).with_id(3);
    /// assert_eq!(encoded, Parser::Json.encode(&packet)?);
    /// assert_eq!(encoded.frames()[0].as_text(), Some(r#"2/chat,3["say","hi",1]"#));
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn encode_event(
        &self,
        nsp: &str,
        event: &str,
        args: &[Value],
        id: Option<u64>,
    ) -> Result<Encoded, EncodeError> {
        if *self == Parser::Json {
            if let Some(encoded) = json::encode_array(nsp, id, Some(event), args) {
                return encoded;
            }
        }
        let packet = Packet::event(nsp, event, args.to_vec());
        self.encode(&match id {
            Some(id) => packet.with_id(id),
            None => packet,
        })
    }

    /// Encodes an `ACK` packet from its parts: the same messages as
    /// [`encode`](Self::encode) gives for `Packet::ack(nsp, id, args)`, without building
    /// that packet (see [`encode_event`](Self::encode_event)).
    ///
    /// ```
    /// use socketio_parser::{Packet, Parser, Value};
    ///
    /// let encoded = Parser::Json.encode_ack("/", 7, &[Value::from("ok")])?;
    /// assert_eq!(encoded.frames()[0].as_text(), Some(r#"37["ok"]"#));
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn encode_ack(&self, nsp: &str, id: u64, args: &[Value]) -> Result<Encoded, EncodeError> {
        if *self == Parser::Json {
            if let Some(encoded) = json::encode_array(nsp, Some(id), None, args) {
                return encoded;
            }
        }
        self.encode(&Packet::ack(nsp, id, args.to_vec()))
    }

    /// Encodes the server's `CONNECT` reply: the same messages as [`encode`](Self::encode)
    /// gives for [`Packet::connect_reply`]`(version, nsp, sid, pid)`, without building that
    /// packet (the JSON format; msgpack takes the packet's way).
    ///
    /// ```
    /// use socketio_parser::{Packet, Parser, ProtocolVersion};
    ///
    /// let encoded = Parser::Json.encode_connect_reply(ProtocolVersion::V5, "/chat", "abc", None)?;
    /// assert_eq!(encoded.frames()[0].as_text(), Some(r#"0/chat,{"sid":"abc"}"#));
    /// let packet = Packet::connect_reply(ProtocolVersion::V5, "/chat", "abc", None);
    /// assert_eq!(encoded, Parser::Json.encode(&packet)?);
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn encode_connect_reply(
        &self,
        version: ProtocolVersion,
        nsp: &str,
        sid: &str,
        pid: Option<&str>,
    ) -> Result<Encoded, EncodeError> {
        if *self == Parser::Json && version == ProtocolVersion::V5 {
            return json::encode_connect_reply(nsp, sid, pid);
        }
        self.encode(&Packet::connect_reply(version, nsp, sid, pid))
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

#[cfg(test)]
mod tests {
    use super::Parser;
    use crate::{Encoded, Map, Packet, Value};

    /// `encode_event` and `encode_ack` give what `encode` gives for the packet they stand
    /// for: every namespace form, ack ids, escapes, numbers, nesting, no arguments, binary
    /// (the packet's way) and both formats; and an invalid namespace fails the same way.
    #[test]
    fn encoding_from_parts_matches_the_packet() {
        let mut map = Map::new();
        map.insert("k\"ey".to_owned(), Value::from(-3));
        map.insert("f".to_owned(), Value::from_f64(1.5e21));
        let arg_lists = vec![
            vec![],
            vec![Value::from("hi")],
            vec![
                Value::Null,
                Value::Bool(true),
                Value::from(0.000001),
                Value::from(u64::MAX),
                Value::from("tab\t quote\" é 🎉 \u{2028}"),
                Value::Object(map),
                Value::Array(vec![Value::from(1), Value::Array(vec![])]),
            ],
            vec![
                Value::from("x"),
                Value::from(bytes::Bytes::from_static(b"\x00\x01")),
            ],
        ];
        let mut parsers = vec![Parser::Json];
        #[cfg(feature = "msgpack")]
        parsers.push(Parser::MsgPack);
        for parser in parsers {
            for nsp in ["/", "", "/chat"] {
                for args in &arg_lists {
                    for id in [None, Some(0), Some(42)] {
                        let packet = Packet::event(nsp, "ev\"nt", args.clone());
                        let packet = match id {
                            Some(id) => packet.with_id(id),
                            None => packet,
                        };
                        let parts: Encoded = parser.encode_event(nsp, "ev\"nt", args, id).unwrap();
                        assert_eq!(
                            parts,
                            parser.encode(&packet).unwrap(),
                            "{parser:?} {nsp} {id:?}"
                        );
                    }
                    let parts = parser.encode_ack(nsp, 9, args).unwrap();
                    let packet = Packet::ack(nsp, 9, args.clone());
                    assert_eq!(
                        parts,
                        parser.encode(&packet).unwrap(),
                        "{parser:?} {nsp} ack"
                    );
                }
            }
        }
        let bad = Parser::Json
            .encode_event("/a,b", "e", &[], None)
            .unwrap_err();
        let expected = Parser::Json
            .encode(&Packet::event("/a,b", "e", vec![]))
            .unwrap_err();
        assert_eq!(bad, expected);
    }

    /// `encode_connect_reply` gives what `encode` gives for `Packet::connect_reply`: the
    /// default, empty and custom namespaces, with and without a pid, ids that need escapes,
    /// both protocol revisions and both formats; an invalid namespace fails the same way.
    #[test]
    fn connect_reply_from_parts_matches_the_packet() {
        use crate::ProtocolVersion;
        let mut parsers = vec![Parser::Json];
        #[cfg(feature = "msgpack")]
        parsers.push(Parser::MsgPack);
        for parser in parsers {
            for version in [ProtocolVersion::V5, ProtocolVersion::V4] {
                for nsp in ["/", "", "/chat", "/a/b-c_d"] {
                    for sid in ["AAAAAAAAAAAAAAAAAAAA", "q\"uo\\te\u{1}é🎉", ""] {
                        for pid in [None, Some("BBBBBBBBBBBBBBBBBBBB"), Some("p\"\n")] {
                            let parts =
                                parser.encode_connect_reply(version, nsp, sid, pid).unwrap();
                            let packet = Packet::connect_reply(version, nsp, sid, pid);
                            assert_eq!(
                                parts,
                                parser.encode(&packet).unwrap(),
                                "{parser:?} {version:?} {nsp} {sid} {pid:?}"
                            );
                        }
                    }
                }
            }
        }
        let sid = "AAAAAAAAAAAAAAAAAAAA";
        let reply = |nsp, pid| {
            let encoded = Parser::Json
                .encode_connect_reply(ProtocolVersion::V5, nsp, sid, pid)
                .unwrap();
            encoded.frames()[0].as_text().map(str::to_owned)
        };
        // The reference's bytes (`socket.io` 4: `{ sid: this.id, pid: this.pid }`).
        assert_eq!(
            reply("/", None).as_deref(),
            Some(r#"0{"sid":"AAAAAAAAAAAAAAAAAAAA"}"#)
        );
        assert_eq!(
            reply("/chat", Some("P")).as_deref(),
            Some(r#"0/chat,{"sid":"AAAAAAAAAAAAAAAAAAAA","pid":"P"}"#)
        );
        let bad = Parser::Json
            .encode_connect_reply(ProtocolVersion::V5, "/a,b", sid, None)
            .unwrap_err();
        let expected = Parser::Json
            .encode(&Packet::connect_reply(
                ProtocolVersion::V5,
                "/a,b",
                sid,
                None,
            ))
            .unwrap_err();
        assert_eq!(bad, expected);
    }

    /// A one-frame packet hands its bytes over without copying them.
    #[test]
    fn a_single_frame_is_handed_over_as_it_is() {
        let encoded = Parser::Json
            .encode(&Packet::event("/", "hi", vec![]))
            .unwrap();
        let ptr = encoded.frames()[0].bytes().as_ptr();
        let frames: Vec<_> = encoded.into_iter().collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].bytes().as_ptr(), ptr);
        let attached = Packet::event("/", "f", vec![Value::from(vec![1u8])]);
        let encoded = Parser::Json.encode(&attached).unwrap();
        let owned: Vec<_> = encoded.clone().into_iter().collect();
        assert_eq!(owned, encoded.frames());
    }
}
