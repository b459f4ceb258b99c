//! The bytes of npm `@socket.io/redis-streams-adapter` 0.3.1, I/O-free: stream entries, the
//! pub/sub messages of ephemeral requests, session records, stream names and offsets.
//!
//! - A **stream entry** (`XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <n> data <d>`)
//!   carries one cluster-adapter message; `type` is the decimal [`MessageType`], `data` the
//!   message's data as JSON, or as base64 msgpack when it holds binary (only for the types
//!   that may). `data` is left out when the message has none.
//! - An **ephemeral message** (broadcast with ack, server-side emit, fetch sockets, and every
//!   response) is the msgpack map `{type, data, uid, nsp}` published on `prefix#nsp#`
//!   (requests) or `prefix#nsp#<uid>#` (responses to node `uid`).
//! - A **session record** is `sio:session:<pid>` = base64 of msgpack `{sid, pid, rooms, data}`.

use base64::Engine as _;
use bytes::Bytes;
use socketio_parser::{Map, Value};

use crate::redis::messages::{rooms_of, rooms_to_value, WireError};
use crate::redis::msgpack;
use crate::redis::sharded::{self, Envelope, MessageType};
use crate::{PersistedSession, Room, Sid};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The reference's `hashCode`: Java's string hash over UTF-16 code units, in 32-bit signed
/// arithmetic.
pub fn hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The stream a namespace's messages go to: `stream_name` with one stream, else
/// `<stream_name>-<hashCode(nsp) % count>`. The remainder keeps JavaScript's sign (a namespace
/// whose hash is negative lands in `<name>--<k>`), so both implementations pick the same
/// stream for every namespace.
pub fn stream_for(stream_name: &str, stream_count: u32, nsp: &str) -> String {
    if stream_count <= 1 {
        return stream_name.to_owned();
    }
    let count = i64::from(stream_count);
    let i = i64::from(hash_code(nsp)) % count;
    format!("{stream_name}-{i}")
}

/// Whether the message type's data may hold binary (then it is sent as msgpack when it does).
fn may_contain_binary(ty: MessageType) -> bool {
    matches!(
        ty,
        MessageType::Broadcast
            | MessageType::FetchSocketsResponse
            | MessageType::ServerSideEmit
            | MessageType::ServerSideEmitResponse
            | MessageType::BroadcastAck
    )
}

/// The `field value` pairs of a stream entry, in the reference's order.
pub fn entry_fields(
    uid: &str,
    nsp: &str,
    ty: MessageType,
    data: Option<&Value>,
    only_plaintext: bool,
) -> Vec<(&'static str, Bytes)> {
    let mut fields = Vec::with_capacity(4);
    fields.push(("uid", Bytes::copy_from_slice(uid.as_bytes())));
    fields.push(("nsp", Bytes::copy_from_slice(nsp.as_bytes())));
    fields.push(("type", Bytes::from((ty as u8).to_string())));
    if let Some(data) = data {
        let encoded = if !only_plaintext && may_contain_binary(ty) && data.has_binary() {
            Bytes::from(B64.encode(msgpack::encode(data)))
        } else {
            // Serialising a `Value` to JSON cannot fail (string keys, finite numbers).
            Bytes::from(serde_json::to_vec(data).unwrap_or_default())
        };
        fields.push(("data", encoded));
    }
    fields
}

/// Drops `nsp` from a broadcast's `data.packet`: the reference's nodes write the packet before
/// its namespace is set (the entry's `nsp` says it), and byte-identical entries keep the two
/// implementations interchangeable for anything reading the stream.
pub fn strip_packet_nsp(data: &mut Value) {
    if let Value::Object(map) = data {
        if let Some(Value::Object(packet)) = map.get_mut("packet") {
            packet.shift_remove("nsp");
        }
    }
}

/// A stream entry as read back: its fields (unknown ones ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// `uid`.
    pub uid: Option<String>,
    /// `nsp`.
    pub nsp: Option<String>,
    /// `type`, as written.
    pub ty: Option<String>,
    /// `data`, as written.
    pub data: Option<Bytes>,
}

impl RawEntry {
    /// Collects the known fields from `field, value` pairs (non-UTF-8 names are skipped).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Bytes, Bytes)>) -> Self {
        let mut entry = RawEntry::default();
        for (k, v) in pairs {
            let text = || String::from_utf8(v.to_vec()).ok();
            match k.as_ref() {
                b"uid" => entry.uid = text(),
                b"nsp" => entry.nsp = text(),
                b"type" => entry.ty = text(),
                b"data" => entry.data = Some(v),
                _ => {}
            }
        }
        entry
    }

    /// Decodes the message (the reference's `RedisStreamsAdapter.decode`).
    pub fn decode(&self) -> Result<Envelope, WireError> {
        let code: u64 = self
            .ty
            .as_deref()
            .and_then(|t| t.trim().parse().ok())
            .ok_or(WireError::Malformed("entry type"))?;
        let mut map = Map::new();
        map.insert("type".to_owned(), Value::from(code));
        if let Some(data) = self.data.as_ref().filter(|d| !d.is_empty()) {
            let value = if data.first() == Some(&b'{') {
                serde_json::from_slice(data).map_err(|e| WireError::Json(e.to_string()))?
            } else {
                let raw = B64
                    .decode(data)
                    .map_err(|_| WireError::Malformed("entry data is neither JSON nor base64"))?;
                msgpack::decode(&Bytes::from(raw))?
            };
            map.insert("data".to_owned(), value);
        }
        if let Some(uid) = &self.uid {
            map.insert("uid".to_owned(), Value::String(uid.clone()));
        }
        check_shape(code, map.get("data"))?;
        let nsp = self
            .nsp
            .as_deref()
            .ok_or(WireError::Malformed("entry nsp"))?;
        map.insert("nsp".to_owned(), Value::String(nsp.to_owned()));
        sharded::decode_value(&Value::Object(map))
    }
}

/// Refuses the stream entries whose targets are not what a node writes: a remote join, leave
/// or disconnect without its `opts` object would otherwise target every socket (the decoder
/// is lenient, as `new Set(undefined)` is in JavaScript), and a broadcast needs its packet.
fn check_shape(code: u64, data: Option<&Value>) -> Result<(), WireError> {
    let is_object = |k: &str| matches!(data.and_then(|d| d.get(k)), Some(Value::Object(_)));
    let is_array = |k: &str| matches!(data.and_then(|d| d.get(k)), Some(Value::Array(_)));
    let ok = match code {
        3 => is_object("packet") && is_object("opts"),
        4 | 5 => is_object("opts") && is_array("rooms"),
        6 => is_object("opts"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(WireError::Malformed("entry without its packet or targets"))
    }
}

/// An ephemeral message: msgpack `{type, data, uid, nsp}`.
pub fn encode_ephemeral(uid: &str, nsp: &str, ty: MessageType, data: Value) -> Bytes {
    let mut map = Map::new();
    map.insert("type".to_owned(), Value::from(ty as u8));
    map.insert("data".to_owned(), data);
    map.insert("uid".to_owned(), Value::String(uid.to_owned()));
    map.insert("nsp".to_owned(), Value::String(nsp.to_owned()));
    msgpack::encode(&Value::Object(map))
}

/// Decodes an ephemeral message (msgpack only, like the reference).
pub fn decode_ephemeral(payload: &Bytes) -> Result<Envelope, WireError> {
    sharded::decode_value(&msgpack::decode(payload)?)
}

/// The Redis key of a session: `<prefix><pid>`.
pub fn session_key(prefix: &str, pid: &str) -> String {
    format!("{prefix}{pid}")
}

/// A session record: base64 of msgpack `{sid, pid, rooms, data}` (the reference's key order).
pub fn encode_session(session: &PersistedSession) -> String {
    let mut map = Map::new();
    map.insert("sid".to_owned(), Value::String(session.sid.to_string()));
    map.insert("pid".to_owned(), Value::String(session.pid.to_string()));
    map.insert("rooms".to_owned(), rooms_to_value(&session.rooms));
    map.insert("data".to_owned(), session.data.clone());
    B64.encode(msgpack::encode(&Value::Object(map)))
}

/// Why a session record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not base64.
    #[error("session record is not base64")]
    Base64,
    /// Not msgpack.
    #[error(transparent)]
    Msgpack(#[from] msgpack::MsgpackError),
    /// Not the expected shape, or the record names another pid than its key.
    #[error("forged or malformed session record: {0}")]
    Malformed(&'static str),
}

/// Decodes a session record read under the key of `pid`. A record whose own `pid` differs, or
/// whose `sid` is not a plausible socket id, is refused: whatever wrote it, it must not hand a
/// client some other session.
pub fn decode_session(record: &[u8], pid: &str) -> Result<PersistedSession, SessionError> {
    let raw = B64
        .decode(record.trim_ascii())
        .map_err(|_| SessionError::Base64)?;
    let v = msgpack::decode(&Bytes::from(raw))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    let sid = text("sid").ok_or(SessionError::Malformed("sid"))?;
    if sid.is_empty() || sid.len() > 256 || sid.chars().any(char::is_control) {
        return Err(SessionError::Malformed("sid"));
    }
    if text("pid") != Some(pid) {
        return Err(SessionError::Malformed("pid does not match the key"));
    }
    let rooms: Vec<Room> = match v.get("rooms") {
        Some(Value::Array(_)) => rooms_of(v.get("rooms")),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(SessionError::Malformed("rooms")),
    };
    Ok(PersistedSession {
        sid: Sid::from(sid),
        pid: Sid::from(pid),
        rooms,
        data: v.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// A stream entry id `<ms>-<seq>`, as the reference accepts offsets (`/^[0-9]+-[0-9]+$/`),
/// with both parts fitting in 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// Parses `<ms>-<seq>`; anything else is `None`.
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = s.split_once('-')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one (exclusive ranges need Redis 6.2; this works on any).
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stream_names_follow_the_reference_hash() {
        // Values printed by the reference's `hashCode` (node).
        assert_eq!(hash_code("/"), 47);
        assert_eq!(hash_code("/admin"), 1_438_238_848);
        assert_eq!(hash_code("/chat-room-é"), -1_859_388_163);
        assert_eq!(stream_for("socket.io", 1, "/admin"), "socket.io");
        assert_eq!(stream_for("socket.io", 3, "/"), "socket.io-2");
        // A negative hash keeps its sign in JavaScript's remainder.
        assert_eq!(stream_for("s", 4, "/chat-room-é"), "s--3");
        assert_eq!(stream_for("s", 4, "/xxxxxxxxxxxx"), "s--1");
    }

    #[test]
    fn offsets() {
        assert_eq!(StreamId::parse("1-2"), Some(StreamId { ms: 1, seq: 2 }));
        for bad in [
            "",
            "1",
            "-1",
            "1-",
            "a-1",
            "1-2-3",
            "1 -2",
            "99999999999999999999-0",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
        assert_eq!(
            StreamId {
                ms: 1,
                seq: u64::MAX
            }
            .next(),
            Some(StreamId { ms: 2, seq: 0 })
        );
    }

    #[test]
    fn sessions_roundtrip_and_forgeries_are_refused() {
        let s = PersistedSession {
            sid: "abc".into(),
            pid: "p1".into(),
            rooms: vec!["abc".into(), "red".into()],
            data: Value::from(1),
        };
        let rec = encode_session(&s);
        assert_eq!(decode_session(rec.as_bytes(), "p1").unwrap(), s);
        assert!(matches!(
            decode_session(rec.as_bytes(), "p2"),
            Err(SessionError::Malformed(_))
        ));
        assert_eq!(decode_session(b"!!!", "p1"), Err(SessionError::Base64));
        assert!(decode_session(B64.encode(b"\xc1").as_bytes(), "p1").is_err());
    }

    #[test]
    fn entries_roundtrip() {
        let data = Value::from(
            serde_json::json!({"packet": {"type": 2, "data": ["e", 1], "nsp": "/"}, "opts": {"rooms": [], "except": [], "flags": {}}}),
        );
        let fields = entry_fields("u", "/", MessageType::Broadcast, Some(&data), false);
        assert_eq!(fields[3].1.first(), Some(&b'{'));
        let entry = RawEntry::from_pairs(
            fields
                .into_iter()
                .map(|(k, v)| (Bytes::from_static(k.as_bytes()), v)),
        );
        let env = entry.decode().unwrap();
        assert_eq!(env.uid.as_deref(), Some("u"));
        let bin = Value::Array(vec![Value::Binary(Bytes::from_static(b"\x01"))]);
        let fields = entry_fields("u", "/", MessageType::ServerSideEmit, Some(&bin), false);
        assert_ne!(fields[3].1.first(), Some(&b'{'));
        let garbage = RawEntry {
            nsp: Some("/".into()),
            ty: Some("3".into()),
            data: Some(Bytes::from_static(b"{not json")),
            ..Default::default()
        };
        assert!(garbage.decode().is_err());
    }
}
