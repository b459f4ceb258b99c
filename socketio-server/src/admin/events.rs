//! The per-socket events sent to the UI in development mode (reference
//! `registerVerboseListeners`): connections, disconnections, room changes, events received and
//! sent, transport upgrades.

use std::sync::Arc;

use socketio_parser::{to_value, Map, Value};

use super::wire::{now, serialize_local};
use super::AdminState;
use crate::namespace::NsInner;
use crate::{Args, DisconnectReason, Event, Namespace, SocketRef};

impl AdminState {
    /// Forwards the room events of `ns` (once per namespace).
    pub(super) fn watch_rooms(self: &Arc<Self>, ns: &Arc<NsInner>) {
        if !self.watched.lock().insert(ns.name.clone()) {
            return;
        }
        let weak = Arc::downgrade(self);
        let nsp = ns.name.clone();
        Namespace(ns.clone()).on_room_event(move |event| {
            let Some(state) = weak.upgrade() else { return };
            let (kind, room, sid) = match event {
                // A socket joins its own room before its CONNECT reply: the UI learns about
                // that room from `socket_connected`, and the joining socket (an admin one,
                // in `/admin`) must get nothing before its CONNECT.
                crate::RoomEvent::Join(room, sid) if **room == **sid => return,
                crate::RoomEvent::Join(room, sid) => ("room_joined", room, sid),
                crate::RoomEvent::Leave(room, sid) => ("room_left", room, sid),
                _ => return,
            };
            state.emit(
                kind,
                vec![
                    Value::String(nsp.to_string()),
                    Value::String(room.to_string()),
                    Value::String(sid.to_string()),
                    now(),
                ],
            );
        });
    }

    /// Reference `registerVerboseListeners`, for one socket that just connected.
    pub(super) fn on_socket_connected(self: &Arc<Self>, socket: &SocketRef) {
        if !self.verbose {
            return;
        }
        self.watch_rooms(&socket.ns);
        if let Ok(v) = to_value(&serialize_local(socket)) {
            self.emit("socket_connected", vec![v, now()]);
        }
        let is_admin = Arc::ptr_eq(&socket.ns, &self.admin_nsp);
        if !is_admin {
            let weak = Arc::downgrade(self);
            socket.on_any(move |s: SocketRef, Event(event): Event, Args(args): Args| {
                if let Some(state) = weak.upgrade() {
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(Value::String(event));
                    all.extend(args);
                    state.emit(
                        "event_received",
                        vec![
                            Value::String(s.ns_name().to_owned()),
                            Value::String(s.id().to_string()),
                            Value::Array(all),
                            now(),
                        ],
                    );
                }
                async {}
            });
            let weak = Arc::downgrade(self);
            socket.on_any_outgoing(move |s, event, args| {
                if let Some(state) = weak.upgrade() {
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(Value::String(event.to_owned()));
                    all.extend_from_slice(args);
                    state.emit(
                        "event_sent",
                        vec![
                            Value::String(s.ns_name().to_owned()),
                            Value::String(s.id().to_string()),
                            Value::Array(all),
                            now(),
                        ],
                    );
                }
            });
        }
        let weak = Arc::downgrade(self);
        socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
            if let Some(state) = weak.upgrade() {
                state.emit(
                    "socket_disconnected",
                    vec![
                        Value::String(s.ns_name().to_owned()),
                        Value::String(s.id().to_string()),
                        Value::String(reason.to_string()),
                        now(),
                    ],
                );
            }
            async {}
        });
    }

    /// The connection of `sockets` upgraded its transport (reference `socket_updated`).
    pub(super) fn on_upgraded(&self, sockets: &[SocketRef]) {
        if !self.verbose {
            return;
        }
        for s in sockets {
            let mut update = Map::new();
            update.insert("id".to_owned(), Value::String(s.id().to_string()));
            update.insert("nsp".to_owned(), Value::String(s.ns_name().to_owned()));
            update.insert(
                "transport".to_owned(),
                Value::String(s.transport().to_owned()),
            );
            self.emit("socket_updated", vec![Value::Object(update)]);
        }
    }
}
