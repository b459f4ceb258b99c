//! [`LocalAdapter`]: the local half of every adapter. It keeps the room membership of the
//! sockets of this node, delivers packets to them through the [`LocalNamespace`], and stores
//! sessions and broadcast packets for connection state recovery. The [`Adapter`](crate::Adapter)
//! trait's default methods do the local part of each operation with it, so an adapter only
//! writes what it sends to, and answers for, other nodes.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use socketio_parser::{Packet, PacketType, Value};

use crate::{
    AdapterContext, BroadcastAckSink, BroadcastOptions, LocalNamespace, PersistedSession,
    RestoredSession, Room, RoomEvent, RoomIndex, SessionStore, Sid, SocketInfo,
};

/// This node's part of an adapter (the reference in-memory `Adapter` that the cluster adapters
/// extend): room membership in a [`RoomIndex`], delivery to the local sockets, and, when
/// connection state recovery is on, sessions and broadcast packets kept in memory.
///
/// Each `*_local` method is the local half of one [`Adapter`](crate::Adapter) operation; a
/// cluster adapter calls them for its own node and for the requests of other nodes.
#[derive(Debug)]
pub struct LocalAdapter {
    ctx: AdapterContext,
    index: RwLock<RoomIndex>,
    sessions: Option<Mutex<SessionStore>>,
}

impl LocalAdapter {
    /// An adapter for the namespace of `ctx`.
    pub fn new(ctx: AdapterContext) -> Self {
        let sessions = ctx
            .recovery
            .clone()
            .map(|c| Mutex::new(SessionStore::new(c)));
        Self {
            ctx,
            index: RwLock::new(RoomIndex::default()),
            sessions,
        }
    }

    /// The context this adapter was created with.
    pub fn context(&self) -> &AdapterContext {
        &self.ctx
    }

    /// The local namespace, unless it was dropped.
    pub fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.ctx.namespace.upgrade()
    }

    /// Runs `f` on the room index (read access). Never call back into the adapter from `f`.
    pub fn with_index<R>(&self, f: impl FnOnce(&RoomIndex) -> R) -> R {
        f(&self.index.read())
    }

    /// Runs a membership change on the index and reports its [`RoomEvent`]s to the namespace.
    ///
    /// When the namespace does not listen (the common case), `change` gets a no-op sink and
    /// nothing is collected or allocated. Otherwise events are collected under the write lock
    /// and delivered after it is released, so a listener may call back into the adapter.
    fn change_membership(&self, change: impl FnOnce(&mut RoomIndex, &mut dyn FnMut(RoomEvent))) {
        let listener = self.namespace().filter(|ns| ns.wants_room_events());
        let Some(ns) = listener else {
            change(&mut self.index.write(), &mut |_| {});
            return;
        };
        let mut events = Vec::new();
        change(&mut self.index.write(), &mut |e| events.push(e));
        for event in events {
            ns.on_room_event(event);
        }
    }

    /// Adds a local socket to rooms. The index holds the socket's connection, when the
    /// namespace gives it ([`LocalNamespace::connection`]), for broadcasts to reach it directly.
    pub fn add_all_local(&self, sid: &Sid, rooms: &[Room]) {
        // Asked before the index is locked: the namespace takes its own lock.
        let conn = self.namespace().and_then(|ns| ns.connection(sid));
        self.change_membership(|idx, on_event| idx.add_all_with(sid, conn, rooms, on_event));
    }

    /// Removes a local socket from one room.
    pub fn del_local(&self, sid: &str, room: &str) {
        self.change_membership(|idx, on_event| idx.del_notify(sid, room, on_event));
    }

    /// Removes a local socket from every room.
    pub fn del_all_local(&self, sid: &str) {
        self.change_membership(|idx, on_event| idx.del_all_notify(sid, on_event));
    }

    /// The rooms of a local socket (`None` if unknown).
    pub fn socket_rooms_local(&self, sid: &str) -> Option<HashSet<Room>> {
        self.with_index(|idx| idx.socket_rooms(sid).map(|m| m.iter().cloned().collect()))
    }

    /// Gives `packet` the namespace of this adapter (a no-op, without allocation, when it
    /// has it already, the common case).
    pub fn own_namespace(&self, packet: &mut Packet) {
        if packet.nsp != *self.ctx.name {
            packet.nsp.clear();
            packet.nsp.push_str(&self.ctx.name);
        }
    }

    /// The local sockets targeted by `opts`.
    pub fn local_recipients(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        // Collected so no lock is held while delivering: a delivery may disconnect a slow
        // socket, which removes it from the index.
        self.with_index(|idx| idx.recipients(opts))
    }

    /// With recovery on, appends an offset to an ack-less, non-volatile `EVENT` packet and stores
    /// its payload for replay. A cluster adapter calls it before sending the packet to other
    /// nodes (the offset is part of the packet, as in the reference).
    pub fn store_for_recovery(&self, packet: &mut Packet, opts: &BroadcastOptions) {
        let Some(sessions) = &self.sessions else {
            return;
        };
        if packet.kind != PacketType::Event || packet.id.is_some() || opts.flags.volatile {
            return;
        }
        let Some(Value::Array(data)) = &mut packet.data else {
            return;
        };
        let mut store = sessions.lock();
        let offset = store.next_offset();
        data.push(Value::String(offset.clone()));
        store.store_packet(offset, opts, data.clone());
    }

    /// Delivers a packet to the targeted local sockets; returns how many took it.
    ///
    /// One pass over the index under its read lock, straight into each recipient's queue
    /// through the connection the index holds: no list of recipients and no lookup by id. Nothing that runs under the lock calls back into the
    /// adapter: a recipient whose queue is full (the slow-consumer policy may disconnect it,
    /// which changes the index) or whose connection is not known is handed to the namespace's
    /// [`deliver_all`](LocalNamespace::deliver_all) once the lock is released; a volatile
    /// packet is dropped for a full queue, as there.
    pub fn broadcast_local(&self, packet: &Packet, opts: &BroadcastOptions) -> usize {
        let Some(ns) = self.namespace() else {
            return 0;
        };
        let mut encoded = None;
        let mut direct = 0;
        let mut later: Vec<Sid> = Vec::new();
        self.with_index(|idx| {
            idx.for_each_recipient(opts, |sid, conn| {
                let encoded = encoded.get_or_insert_with(|| ns.encode(packet));
                match conn.map(|c| encoded.try_send_to(c)) {
                    Some(Ok(())) => direct += 1,
                    // Closing: like a socket that already left.
                    Some(Err(false)) => {}
                    Some(Err(true)) if opts.flags.volatile => {}
                    Some(Err(true)) | None => later.push(sid.clone()),
                }
            })
        });
        let Some(encoded) = encoded else {
            return 0;
        };
        if direct > 0 {
            ns.delivered(&encoded, direct);
        }
        if !later.is_empty() {
            direct += ns.deliver_all(&later, &encoded, &opts.flags);
        }
        direct
    }

    /// Delivers a packet with an ack id to the targeted local sockets, routing their acks to
    /// `sink`; returns how many took it (the caller reports it as this node's client count).
    pub fn broadcast_with_ack_local(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        sink: &BroadcastAckSink,
    ) -> usize {
        let (Some(ns), Some(ack_id)) = (self.namespace(), packet.id) else {
            return 0;
        };
        let recipients = self.local_recipients(opts);
        if recipients.is_empty() {
            return 0;
        }
        let encoded = ns.encode(packet);
        recipients
            .iter()
            .filter(|sid| {
                ns.deliver_with_ack(sid, &encoded, &opts.flags, ack_id, sink)
                    .is_ok()
            })
            .count()
    }

    /// Describes the targeted local sockets.
    pub fn fetch_sockets_local(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let Some(ns) = self.namespace() else {
            return Vec::new();
        };
        self.local_recipients(opts)
            .iter()
            .filter_map(|sid| {
                let mut info = ns.socket_info(sid)?;
                info.rooms = self
                    .socket_rooms_local(sid)
                    .map(|r| r.into_iter().collect())
                    .unwrap_or_default();
                Some(info)
            })
            .collect()
    }

    /// Makes the targeted local sockets join `rooms`.
    pub fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let targets = self.local_recipients(opts);
        self.change_membership(|idx, on_event| {
            for sid in &targets {
                idx.add_all_notify(sid, rooms, &mut *on_event);
            }
        });
    }

    /// Makes the targeted local sockets leave `rooms`.
    pub fn del_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let targets = self.local_recipients(opts);
        self.change_membership(|idx, on_event| {
            for sid in &targets {
                for room in rooms {
                    idx.del_notify(sid, room, &mut *on_event);
                }
            }
        });
    }

    /// Disconnects the targeted local sockets.
    pub fn disconnect_sockets_local(&self, opts: &BroadcastOptions, close: bool) {
        let Some(ns) = self.namespace() else {
            return;
        };
        for sid in self.local_recipients(opts) {
            ns.disconnect(&sid, close);
        }
    }

    /// The local sockets in any of `rooms` (all when empty).
    pub fn sockets_local(&self, rooms: &HashSet<Room>) -> HashSet<Sid> {
        let opts = BroadcastOptions {
            rooms: rooms.clone(),
            ..Default::default()
        };
        self.local_recipients(&opts).into_iter().collect()
    }

    /// The local rooms.
    pub fn all_rooms_local(&self) -> HashSet<Room> {
        self.with_index(|idx| idx.rooms().cloned().collect())
    }

    /// Stores a session (no-op when recovery is off).
    pub fn persist_session_local(&self, session: PersistedSession) {
        if let Some(sessions) = &self.sessions {
            sessions.lock().persist(session);
        }
    }

    /// Takes back a stored session (`None` when recovery is off).
    pub fn restore_session_local(&self, pid: &str, offset: &str) -> Option<RestoredSession> {
        self.sessions
            .as_ref()
            .and_then(|s| s.lock().restore(pid, offset))
    }
}
