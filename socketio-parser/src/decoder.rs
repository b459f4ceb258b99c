//! [`Decoder`]: the stateful decoder fed one Engine.IO message at a time.

use bytes::Bytes;
use engine_io::Str;

use crate::binary;
use crate::error::DecodeError;
use crate::json;
use crate::packet::{Packet, PacketType, DEFAULT_NAMESPACE};
use crate::parser::Parser;
use crate::value::Value;

/// The default limit on binary attachments per packet (the reference `maxAttachments`).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// What [`Decoder::decode_str`] decodes: an event in its common form, or any packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// An `EVENT` whose namespace and name share the message's buffer.
    Event(ReceivedEvent),
    /// Any other packet (or an event in a less common form), as
    /// [`Decoder::decode_text`] gives it.
    Packet(Packet),
}

impl Decoded {
    /// The namespace.
    pub fn nsp(&self) -> &str {
        match self {
            Decoded::Event(e) => &e.nsp,
            Decoded::Packet(p) => &p.nsp,
        }
    }

    /// The packet type.
    pub fn kind(&self) -> PacketType {
        match self {
            Decoded::Event(_) => PacketType::Event,
            Decoded::Packet(p) => p.kind,
        }
    }

    /// The packet, as [`Decoder::decode_text`] gives it.
    pub fn into_packet(self) -> Packet {
        match self {
            Decoded::Event(e) => e.into_packet(),
            Decoded::Packet(p) => p,
        }
    }
}

/// An incoming `EVENT` ([`Decoder::decode_str`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// The namespace, `/` by default.
    pub nsp: Str,
    /// The event name.
    pub event: Str,
    /// The acknowledgement id, if the sender asked for one.
    pub id: Option<u64>,
    /// The arguments: the payload after the name.
    pub args: Vec<Value>,
}

impl ReceivedEvent {
    /// The packet, as [`Decoder::decode_text`] gives it.
    pub fn into_packet(self) -> Packet {
        let packet = Packet::event(self.nsp.as_str(), self.event.as_str(), self.args);
        match self.id {
            Some(id) => packet.with_id(id),
            None => packet,
        }
    }
}

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

    /// Feeds a text message held in a shared string: what [`decode_text`](Self::decode_text)
    /// decodes, but an `EVENT` in its common form (no attachments, JSON that needs no escape
    /// in its name) comes out as a [`ReceivedEvent`] whose namespace and name share `text`'s
    /// buffer, and whose arguments are the payload after the name: nothing is copied but the
    /// arguments' own values.
    ///
    /// ```
    /// use engine_io::Str;
    /// use socketio_parser::{Decoded, Decoder, Parser, Value};
    ///
    /// let mut decoder = Decoder::new(Parser::Json);
    /// let text = Str::from(String::from(r#"2/chat,5["say","hi"]"#));
    /// let Some(Decoded::Event(event)) = decoder.decode_str(&text)? else { panic!() };
    /// assert_eq!((&*event.nsp, &*event.event, event.id), ("/chat", "say", Some(5)));
    /// assert_eq!(event.args, [Value::from("hi")]);
    /// // Anything else is the packet `decode_text` gives.
    /// let text = Str::from_static(r#"3/chat,5["ok"]"#);
    /// assert!(matches!(decoder.decode_str(&text)?, Some(Decoded::Packet(_))));
    /// # Ok::<(), socketio_parser::DecodeError>(())
    /// ```
    pub fn decode_str(&mut self, text: &Str) -> Result<Option<Decoded>, DecodeError> {
        if self.parser == Parser::Json && self.pending.is_none() {
            if let Some(spans) = json::event_spans(text) {
                let nsp = match spans.nsp {
                    Some(range) => text.get(range).map(|nsp| text.slice_ref(nsp)),
                    None => Some(Str::from_static(DEFAULT_NAMESPACE)),
                };
                let event = text.get(spans.name).map(|name| text.slice_ref(name));
                // The ranges are `text`'s own, between ASCII delimiters: always `Some`.
                if let (Some(nsp), Some(event)) = (nsp, event) {
                    return Ok(Some(Decoded::Event(ReceivedEvent {
                        nsp,
                        event,
                        id: spans.id,
                        args: spans.args,
                    })));
                }
            }
        }
        Ok(self.decode_text(text)?.map(Decoded::Packet))
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

#[cfg(test)]
mod tests {
    use super::{Decoded, Decoder};
    use crate::Parser;
    use engine_io::Str;

    /// `decode_str` reads every text as `decode_text` does (the same packet, the same error),
    /// and takes the shared way exactly for the common events.
    #[test]
    fn decode_str_reads_as_decode_text() {
        let cases: &[(&str, bool)] = &[
            (r#"2["echo","hi"]"#, true),
            (r#"2["echo"]"#, true),
            (r#"2/chat,["a",1,null,true,{"k":["v"]}]"#, true),
            (r#"2/chat,17["a"]"#, true),
            (r#"217[ "a" , "b" ] "#, true),
            (r#"2/,["a"]"#, true),
            (r#"2/chat?x=1,["a"]"#, true),
            (r#"2["é漢🎉","é"]"#, true),
            (r#"2["a\"b"]"#, false),
            (r#"2["a",-1.5]"#, false),
            (r#"2[1,"a"]"#, false),
            (r#"2[]"#, false),
            (r#"2"#, false),
            (r#"2/chat"#, false),
            (r#"2/chat,"#, false),
            (r#"2["disconnect"]"#, false),
            (r#"2["a",]"#, false),
            (r#"2["a"]x"#, false),
            (r#"2["a""#, false),
            (r#"299999999999999999999999["a"]"#, false),
            (r#"21-["a",{"_placeholder":true,"num":0}]"#, false),
            (r#"51-["a",{"_placeholder":true,"num":0}]"#, false),
            (r#"3/chat,5["ok"]"#, false),
            (r#"0{"token":"x"}"#, false),
            (r#"1/chat,"#, false),
            ("", false),
        ];
        for &(text, shared) in cases {
            let expected = Decoder::new(Parser::Json).decode_text(text);
            let got = Decoder::new(Parser::Json).decode_str(&Str::from(text.to_owned()));
            assert_eq!(
                matches!(got, Ok(Some(Decoded::Event(_)))),
                shared,
                "{text}: {got:?}"
            );
            match (expected, got) {
                (Ok(p), Ok(d)) => assert_eq!(p, d.map(Decoded::into_packet), "{text}"),
                (Err(e), Err(g)) => assert_eq!(e.to_string(), g.to_string(), "{text}"),
                (e, g) => panic!("{text}: {e:?} against {g:?}"),
            }
        }
    }

    /// The namespace and the name are slices of the message, not copies.
    #[test]
    fn the_namespace_and_name_share_the_message() {
        let text = Str::from(String::from(r#"2/chat,["say","hi"]"#));
        let Ok(Some(Decoded::Event(event))) = Decoder::new(Parser::Json).decode_str(&text) else {
            panic!("not an event");
        };
        assert_eq!(event.nsp.as_ptr(), text[1..].as_ptr());
        assert_eq!(event.event.as_ptr(), text[9..].as_ptr());
        // After an attachment-announcing packet, text is refused on both ways.
        let mut decoder = Decoder::new(Parser::Json);
        assert!(decoder
            .decode_text(r#"51-["a",{"_placeholder":true,"num":0}]"#)
            .unwrap()
            .is_none());
        assert!(decoder.decode_str(&Str::from_static(r#"2["a"]"#)).is_err());
    }
}
