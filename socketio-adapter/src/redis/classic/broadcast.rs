//! Broadcasts of the classic format: msgpack `[uid, packet, {rooms, except, flags}]` on the
//! broadcast channels, from the adapter and from the emitter.

use bytes::Bytes;
use socketio_parser::{Packet, Value};

use crate::redis::messages::{
    flags_to_value, opts_of, packet_of, rooms_to_value, write_opts, WireError,
};
use crate::redis::msgpack::{self, write_packet};
use crate::{BroadcastOptions, Room};

/// The uid the emitter (npm `@socket.io/redis-emitter`, and ours) puts in its messages.
pub const EMITTER_UID: &str = "emitter";

/// Encodes a broadcast: msgpack `[uid, packet, {rooms, except, flags}]`.
pub fn encode_broadcast(uid: &str, packet: &Packet, opts: &BroadcastOptions) -> Bytes {
    let mut w = msgpack::Writer::with_capacity(64);
    w.array_len(3);
    w.str(uid);
    write_packet(&mut w, packet);
    write_opts(&mut w, opts);
    w.into_bytes()
}

/// Encodes a broadcast the way npm `@socket.io/redis-emitter` does (its options are written
/// in the order `{rooms, flags, except}`; same meaning). `rooms` is `opts.rooms` in the order
/// the caller added them.
pub fn encode_emitter_broadcast(packet: &Packet, opts: &BroadcastOptions, rooms: &[Room]) -> Bytes {
    let mut map = socketio_parser::Map::new();
    map.insert("rooms".to_owned(), rooms_to_value(rooms));
    map.insert("flags".to_owned(), flags_to_value(&opts.flags));
    map.insert("except".to_owned(), rooms_to_value(&opts.except));
    let mut w = msgpack::Writer::with_capacity(64);
    w.array_len(3);
    w.str(EMITTER_UID);
    write_packet(&mut w, packet);
    w.value(&Value::Object(map));
    w.into_bytes()
}

/// A decoded broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The sender's uid (`emitter` for emitters).
    pub uid: String,
    /// The packet (its namespace defaults to `/`).
    pub packet: Packet,
    /// Targets and flags.
    pub opts: BroadcastOptions,
}

/// Decodes a broadcast.
pub fn decode_broadcast(msg: &Bytes) -> Result<Broadcast, WireError> {
    let Value::Array(mut items) = msgpack::decode(msg)? else {
        return Err(WireError::Malformed("broadcast is not an array"));
    };
    if items.len() < 2 {
        return Err(WireError::Malformed("broadcast array too short"));
    }
    let opts = opts_of(items.get(2));
    let packet = packet_of(std::mem::take(&mut items[1]), "/")?;
    let uid = match items.swap_remove(0) {
        Value::String(s) => s,
        _ => String::new(),
    };
    Ok(Broadcast { uid, packet, opts })
}
