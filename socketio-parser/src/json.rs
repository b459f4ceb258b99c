//! The default (JSON) packet format of npm `socket.io-parser` 4.2:
//! `<type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]`.

use std::cell::RefCell;
use std::ops::Range;

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::binary;
use crate::encoded::{Encoded, Frame};
use crate::error::{DecodeError, EncodeError};
use crate::js_number::JsFormatter;
use crate::packet::{is_reserved_event, Packet, PacketType, DEFAULT_NAMESPACE};
use crate::value::Value;

mod fast;

/// Checks the namespace for encoding; returns the part to write (`None` for `/`).
pub(crate) fn wire_namespace(nsp: &str) -> Result<Option<&str>, EncodeError> {
    if nsp.is_empty() || nsp == DEFAULT_NAMESPACE {
        return Ok(None);
    }
    if !nsp.starts_with('/') || nsp.contains(',') {
        return Err(EncodeError::InvalidNamespace(nsp.to_owned()));
    }
    Ok(Some(nsp))
}

/// How binary values are written into the JSON text.
enum BinaryMode {
    /// Replaced by `{"_placeholder":true,"num":N}`; the buffers are collected in order.
    Placeholder(RefCell<Vec<Bytes>>),
    /// Written as `JSON.stringify` writes a Node.js `Buffer` (for the packet types the
    /// reference never turns into binary packets, e.g. `CONNECT`).
    NodeBuffer,
}

struct JsonValue<'a> {
    value: &'a Value,
    mode: &'a BinaryMode,
}

struct ByteSeq<'a>(&'a [u8]);

impl Serialize for ByteSeq<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Binary(bytes) => match self.mode {
                BinaryMode::Placeholder(buffers) => {
                    let num = {
                        let mut buffers = buffers.borrow_mut();
                        buffers.push(bytes.clone());
                        buffers.len() - 1
                    };
                    let mut map = serializer.serialize_map(Some(2))?;
                    map.serialize_entry("_placeholder", &true)?;
                    map.serialize_entry("num", &num)?;
                    map.end()
                }
                BinaryMode::NodeBuffer => {
                    let mut map = serializer.serialize_map(Some(2))?;
                    map.serialize_entry("type", "Buffer")?;
                    map.serialize_entry("data", &ByteSeq(bytes))?;
                    map.end()
                }
            },
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&JsonValue {
                        value: item,
                        mode: self.mode,
                    })?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut m = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(
                        k,
                        &JsonValue {
                            value: v,
                            mode: self.mode,
                        },
                    )?;
                }
                m.end()
            }
            other => other.serialize(serializer),
        }
    }
}

fn write_json(
    out: &mut Vec<u8>,
    value: &Value,
    mode: &BinaryMode,
) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::with_formatter(out, JsFormatter);
    JsonValue { value, mode }.serialize(&mut ser)
}

/// Writes a value that holds no binary as `serde_json` with [`JsFormatter`] does, without its
/// serializer for the common parts: strings that need no escape go out as they are (most event
/// names and payloads), containers are written directly. Numbers and strings that need escapes
/// go through `serde_json`, so every byte is the same as [`write_json`]'s (~2x fewer
/// instructions for an event of short strings).
fn write_plain(out: &mut Vec<u8>, value: &Value) -> Result<(), serde_json::Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::String(s) => write_str(out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_plain(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k)?;
                out.push(b':');
                write_plain(out, v)?;
            }
            out.push(b'}');
        }
        // Numbers (JavaScript's layout) and binary (never here: callers check) as serde does.
        other => write_json(out, other, &BinaryMode::NodeBuffer)?,
    }
    Ok(())
}

/// A JSON string: as it is when nothing in it needs an escape, else escaped by `serde_json`.
fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    if fast::plain_len(s.as_bytes()) < s.len() {
        let mut ser = serde_json::Serializer::with_formatter(out, JsFormatter);
        return s.serialize(&mut ser);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Ok(())
}

/// JSON text of a value as `JSON.stringify` would write it (binary as a Node.js Buffer).
pub(crate) fn write_plain_json(out: &mut Vec<u8>, value: &Value) -> Result<(), serde_json::Error> {
    write_json(out, value, &BinaryMode::NodeBuffer)
}

/// Appends the decimal digits of `n`.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes the head of a text packet: its type, the attachment count of a binary packet,
/// the namespace (unless `/`) and the ack id.
fn write_head(
    out: &mut Vec<u8>,
    wire_kind: PacketType,
    binaries: usize,
    nsp: Option<&str>,
    id: Option<u64>,
) {
    out.push(b'0' + wire_kind.code());
    if binaries > 0 {
        push_decimal(out, binaries as u64);
        out.push(b'-');
    }
    if let Some(nsp) = nsp {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        push_decimal(out, id);
    }
}

/// Most a per-thread encoding buffer keeps between packets.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What `write` writes, in an allocation of exactly its size. It writes into a per-thread
/// buffer first: a `Bytes` made from a `Vec` with spare room allocates a shared header of
/// its own (`bytes`' `From<Vec<u8>>`), one of exactly its length does not, and a packet
/// sent to one socket then costs one allocation.
fn exact_bytes(size_hint: usize, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    SCRATCH.with(|scratch| {
        let Ok(mut out) = scratch.try_borrow_mut() else {
            // Not reachable (no encoding re-enters another), but correct anyway.
            let mut out = Vec::with_capacity(size_hint);
            write(&mut out);
            return Bytes::from(out);
        };
        out.clear();
        out.reserve(size_hint);
        write(&mut out);
        let bytes = Bytes::copy_from_slice(&out);
        if out.capacity() > SCRATCH_KEEP {
            *out = Vec::new();
        }
        bytes
    })
}

/// Encodes a packet as the reference `Encoder` does.
pub(crate) fn encode(packet: &Packet) -> Result<Encoded, EncodeError> {
    let nsp = wire_namespace(&packet.nsp)?;
    let kind = packet.kind.without_binary();
    let data = packet.data.as_ref().filter(|d| !d.is_null());
    let stats = data.map(binary::scan).unwrap_or_default();
    let binary = matches!(kind, PacketType::Event | PacketType::Ack) && stats.binaries > 0;
    let wire_kind = match (kind, binary) {
        (PacketType::Event, true) => PacketType::BinaryEvent,
        (PacketType::Ack, true) => PacketType::BinaryAck,
        (kind, _) => kind,
    };
    let binaries = if binary { stats.binaries } else { 0 };
    let mut attachments = Vec::new();
    let text = exact_bytes(
        24 + nsp.map_or(0, str::len) + stats.json_len_estimate,
        |out| {
            write_head(out, wire_kind, binaries, nsp, packet.id);
            let Some(data) = data else { return };
            // Serializing a `Value` into a Vec cannot fail: keys are strings, floats are
            // handled by the formatter, and the writer never errors.
            if stats.binaries == 0 {
                let _ = write_plain(out, data);
                return;
            }
            let mode = if binary {
                BinaryMode::Placeholder(RefCell::new(Vec::with_capacity(stats.binaries)))
            } else {
                BinaryMode::NodeBuffer
            };
            if write_json(out, data, &mode).is_ok() {
                if let BinaryMode::Placeholder(buffers) = mode {
                    attachments = buffers.into_inner();
                }
            }
        },
    );
    Ok(Encoded::from_parts(Frame::Text(text), attachments))
}

/// Encodes an `EVENT` (`name` given) or `ACK` packet from its parts, byte for byte as
/// [`encode`] encodes the packet they make, without building it. `None` when an argument
/// holds binary: the caller builds the packet (attachments are rare).
pub(crate) fn encode_array(
    nsp: &str,
    id: Option<u64>,
    name: Option<&str>,
    args: &[Value],
) -> Option<Result<Encoded, EncodeError>> {
    let mut estimate = 2 + name.map_or(0, |n| n.len() + 3);
    for arg in args {
        let stats = binary::scan(arg);
        if stats.binaries > 0 {
            return None;
        }
        estimate += stats.json_len_estimate + 1;
    }
    let wire_nsp = match wire_namespace(nsp) {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    let kind = if name.is_some() {
        PacketType::Event
    } else {
        PacketType::Ack
    };
    let text = exact_bytes(24 + wire_nsp.map_or(0, str::len) + estimate, |out| {
        write_head(out, kind, 0, wire_nsp, id);
        out.push(b'[');
        let mut first = true;
        if let Some(name) = name {
            // As in `encode`: writing into a Vec cannot fail.
            let _ = write_str(out, name);
            first = false;
        }
        for arg in args {
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = write_plain(out, arg);
        }
        out.push(b']');
    });
    Some(Ok(Encoded::from_parts(Frame::Text(text), Vec::new())))
}

/// Encodes the server's v5 `CONNECT` reply, `0{"sid":…}` or `0/nsp,{"sid":…,"pid":…}`, byte
/// for byte as [`encode`] encodes [`Packet::connect_reply`], without building its object: no
/// map, key or value is allocated for a packet every connection sends once.
pub(crate) fn encode_connect_reply(
    nsp: &str,
    sid: &str,
    pid: Option<&str>,
) -> Result<Encoded, EncodeError> {
    let wire_nsp = wire_namespace(nsp)?;
    let size = 16 + wire_nsp.map_or(0, str::len) + sid.len() + pid.map_or(0, |p| p.len() + 9);
    let text = exact_bytes(size, |out| {
        write_head(out, PacketType::Connect, 0, wire_nsp, None);
        // As in `encode`: writing into a Vec cannot fail.
        out.extend_from_slice(br#"{"sid":"#);
        let _ = write_str(out, sid);
        if let Some(pid) = pid {
            out.extend_from_slice(br#","pid":"#);
            let _ = write_str(out, pid);
        }
        out.push(b'}');
    });
    Ok(Encoded::from_parts(Frame::Text(text), Vec::new()))
}

/// A decoded text packet; `attachments > 0` when binary attachments must follow.
pub(crate) struct DecodedText {
    pub(crate) packet: Packet,
    pub(crate) attachments: usize,
}

/// Decodes one text packet (the reference `decodeString`), validating the payload.
pub(crate) fn decode_text(text: &str, max_attachments: usize) -> Result<DecodedText, DecodeError> {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(DecodeError::EmptyPacket);
    };
    let kind = first
        .checked_sub(b'0')
        .and_then(PacketType::from_code)
        .ok_or_else(|| {
            DecodeError::UnknownPacketType(
                text.chars().next().map(String::from).unwrap_or_default(),
            )
        })?;
    let mut i = 1;

    let mut attachments = 0usize;
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let dash = memchr_byte(b'-', bytes, i).ok_or(DecodeError::MissingAttachmentSeparator)?;
        let count = text.get(i..dash).unwrap_or_default();
        if count.is_empty() || !count.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DecodeError::InvalidAttachmentCount(count.to_owned()));
        }
        // All digits: a parse failure can only be an overflow, i.e. far too many.
        let n: u64 = count.parse().unwrap_or(u64::MAX);
        if n == 0 {
            return Err(DecodeError::InvalidAttachmentCount(count.to_owned()));
        }
        if n > max_attachments as u64 {
            return Err(DecodeError::TooManyAttachments {
                count: n,
                max: max_attachments,
            });
        }
        attachments = n as usize;
        i = dash + 1;
    }

    let nsp = if bytes.get(i) == Some(&b'/') {
        let end = memchr_byte(b',', bytes, i).unwrap_or(bytes.len());
        let nsp = text.get(i..end).unwrap_or(DEFAULT_NAMESPACE).to_owned();
        i = (end + 1).min(bytes.len());
        nsp
    } else {
        DEFAULT_NAMESPACE.to_owned()
    };

    let mut id = None;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = text.get(start..i).unwrap_or_default();
        id = Some(
            digits
                .parse::<u64>()
                .map_err(|_| DecodeError::InvalidAckId(digits.to_owned()))?,
        );
    }

    let data = match text.get(i..) {
        Some(payload) if !payload.is_empty() => {
            let value = match fast::parse(payload) {
                Some(value) => value,
                None => serde_json::from_str(payload).map_err(DecodeError::InvalidJson)?,
            };
            Some(value)
        }
        _ => None,
    };
    validate_payload(kind, data.as_ref())?;
    if attachments > 0 {
        if let Some(data) = &data {
            binary::check_placeholders(data, attachments)?;
        }
    }
    Ok(DecodedText {
        packet: Packet {
            kind: kind.without_binary(),
            nsp,
            id,
            data,
        },
        attachments,
    })
}

/// An `EVENT` in its common form, its namespace and name as ranges of the decoded text.
pub(crate) struct EventSpans {
    /// `None`: the default namespace.
    pub(crate) nsp: Option<Range<usize>>,
    pub(crate) id: Option<u64>,
    pub(crate) name: Range<usize>,
    pub(crate) args: Vec<Value>,
}

/// The common `EVENT` (no attachments; a payload in the fast subset whose name needs no
/// escape and is not reserved), read as [`decode_text`] reads it, without copying the
/// namespace or the name. `None` for anything else, which `decode_text` decodes or refuses.
pub(crate) fn event_spans(text: &str) -> Option<EventSpans> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'2') {
        return None;
    }
    let mut i = 1;
    let nsp = if bytes.get(i) == Some(&b'/') {
        // Without a `,` there is no payload: `decode_text`'s case.
        let end = memchr_byte(b',', bytes, i)?;
        let nsp = i..end;
        i = end + 1;
        Some(nsp)
    } else {
        None
    };
    let mut id = None;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        id = Some(text.get(start..i)?.parse::<u64>().ok()?);
    }
    let (name, args) = fast::parse_event(text.get(i..)?)?;
    let name = name.start + i..name.end + i;
    if is_reserved_event(text.get(name.clone())?) {
        return None;
    }
    Some(EventSpans {
        nsp,
        id,
        name,
        args,
    })
}

/// The reference `isPayloadValid`. Like the reference, a plain `EVENT` without any payload
/// (`2`, `2/admin,`) is let through with no data: the receiver has nothing to dispatch and
/// ignores it. A `BINARY_EVENT` without payload is refused (it announces attachments for
/// nothing).
pub(crate) fn validate_payload(kind: PacketType, data: Option<&Value>) -> Result<(), DecodeError> {
    match (kind, data) {
        (PacketType::Event, None) => Ok(()),
        (PacketType::Connect, None | Some(Value::Object(_))) => Ok(()),
        (PacketType::Disconnect, None) => Ok(()),
        (PacketType::ConnectError, Some(Value::String(_) | Value::Object(_))) => Ok(()),
        (PacketType::Ack | PacketType::BinaryAck, None | Some(Value::Array(_))) => Ok(()),
        (PacketType::Event | PacketType::BinaryEvent, Some(Value::Array(items))) => {
            match items.first() {
                Some(Value::Number(_)) => Ok(()),
                Some(Value::String(name)) if is_reserved_event(name) => {
                    Err(DecodeError::ReservedEventName(name.clone()))
                }
                Some(Value::String(_)) => Ok(()),
                _ => Err(DecodeError::InvalidEventPayload),
            }
        }
        (PacketType::Event | PacketType::BinaryEvent, _) => Err(DecodeError::InvalidEventPayload),
        (kind, _) => Err(DecodeError::InvalidPayload(kind.without_binary())),
    }
}

fn memchr_byte(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .iter()
        .position(|&c| c == needle)
        .map(|p| p + from)
}

/// JSON owns the text form of a [`Value`].
impl std::fmt::Display for Value {
    /// The JSON text of the value (binary data as `{"type":"Buffer","data":[...]}`, as
    /// `JSON.stringify` writes a Node.js `Buffer`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::new();
        write_plain_json(&mut out, self).map_err(|_| std::fmt::Error)?;
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::{write_json, write_plain, BinaryMode};
    use crate::value::{Map, Value};

    /// The direct writer gives the same bytes as the serde path, escapes and numbers included.
    #[test]
    fn plain_writer_matches_serde() {
        let mut map = Map::new();
        map.insert("k\"ey".to_owned(), Value::from(-3));
        map.insert("plain".to_owned(), Value::from_f64(1.5e21));
        map.insert("z".to_owned(), Value::Array(vec![]));
        let values = [
            Value::Array(vec![
                Value::String("echo".into()),
                Value::String("some text, é 漢字 🎉".into()),
            ]),
            Value::Array(vec![
                Value::Null,
                Value::Bool(true),
                Value::Bool(false),
                Value::from(0.000001),
                Value::from(u64::MAX),
                Value::from(-0.0),
                Value::String("tab\t quote\" back\\ nl\n \u{1f} \u{7f} \u{2028}".into()),
                Value::Object(map),
            ]),
            Value::Object(Map::new()),
            Value::String(String::new()),
        ];
        for value in &values {
            let (mut fast, mut serde) = (Vec::new(), Vec::new());
            write_plain(&mut fast, value).unwrap();
            write_json(&mut serde, value, &BinaryMode::NodeBuffer).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(serde).unwrap()
            );
        }
    }
}
