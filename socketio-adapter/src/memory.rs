//! The default adapter: everything happens in this process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use socketio_parser::{Packet, PacketType, Value};

use crate::{
    Adapter, AdapterContext, AdapterError, AdapterFactory, BroadcastAckSink, BroadcastOptions,
    LocalNamespace, PersistedSession, RestoredSession, Room, RoomEvent, RoomIndex, SessionStore,
    Sid, SocketInfo,
};

/// The default adapter (reference `Adapter`, plus `SessionAwareAdapter` when connection state
/// recovery is on): room membership in a [`RoomIndex`], broadcasts delivered to the local sockets,
/// sessions and broadcast packets kept in memory for recovery. Every cluster-wide operation
/// covers this node only and `server_count` is 1.
///
/// Its `*_local` methods are the local half of every operation; a cluster adapter can wrap an
/// `InMemoryAdapter` and call them for its own node and for requests from other nodes.
#[derive(Debug)]
pub struct InMemoryAdapter {
    ctx: AdapterContext,
    index: RwLock<RoomIndex>,
    sessions: Option<Mutex<SessionStore>>,
}

/// The factory of [`InMemoryAdapter`]s, the server's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct InMemoryAdapterFactory;

impl AdapterFactory for InMemoryAdapterFactory {
    fn create(&self, ctx: AdapterContext) -> Arc<dyn Adapter> {
        Arc::new(InMemoryAdapter::new(ctx))
    }
}

impl InMemoryAdapter {
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
        f(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, RoomIndex> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a membership change on the index and reports its [`RoomEvent`]s to the namespace.
    ///
    /// When the namespace does not listen (the common case), `change` gets a no-op sink and
    /// nothing is collected or allocated. Otherwise events are collected under the write lock
    /// and delivered after it is released, so a listener may call back into the adapter.
    fn change_membership(&self, change: impl FnOnce(&mut RoomIndex, &mut dyn FnMut(RoomEvent))) {
        let listener = self.namespace().filter(|ns| ns.wants_room_events());
        let Some(ns) = listener else {
            change(&mut self.write_index(), &mut |_| {});
            return;
        };
        let mut events = Vec::new();
        change(&mut self.write_index(), &mut |e| events.push(e));
        for event in events {
            ns.on_room_event(event);
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
        let mut store = sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = store.next_offset();
        data.push(Value::String(offset.clone()));
        store.store_packet(offset, opts, data.clone());
    }

    /// Delivers a packet to the targeted local sockets; returns how many took it.
    pub fn broadcast_local(&self, packet: &Packet, opts: &BroadcastOptions) -> usize {
        let Some(ns) = self.namespace() else {
            return 0;
        };
        let recipients = self.local_recipients(opts);
        if recipients.is_empty() {
            return 0;
        }
        let encoded = ns.encode(packet);
        recipients
            .iter()
            .filter(|sid| ns.deliver(sid, &encoded, &opts.flags).is_ok())
            .count()
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
                    .socket_rooms(sid)
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
            sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .persist(session);
        }
    }

    /// Takes back a stored session (`None` when recovery is off).
    pub fn restore_session_local(&self, pid: &str, offset: &str) -> Option<RestoredSession> {
        self.sessions.as_ref().and_then(|s| {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .restore(pid, offset)
        })
    }
}

#[async_trait]
impl Adapter for InMemoryAdapter {
    fn add_all(&self, sid: &Sid, rooms: &[Room]) {
        self.change_membership(|idx, on_event| idx.add_all_notify(sid, rooms, on_event));
    }

    fn del(&self, sid: &str, room: &str) {
        self.change_membership(|idx, on_event| idx.del_notify(sid, room, on_event));
    }

    fn del_all(&self, sid: &str) {
        self.change_membership(|idx, on_event| idx.del_all_notify(sid, on_event));
    }

    fn socket_rooms(&self, sid: &str) -> Option<HashSet<Room>> {
        self.with_index(|idx| idx.socket_rooms(sid).cloned())
    }

    fn broadcast(&self, mut packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError> {
        self.store_for_recovery(&mut packet, &opts);
        self.broadcast_local(&packet, &opts);
        Ok(())
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        sink: BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        let count = self.broadcast_with_ack_local(&packet, &opts, &sink);
        sink.client_count(count);
        Ok(())
    }

    async fn sockets(&self, rooms: HashSet<Room>) -> Result<HashSet<Sid>, AdapterError> {
        Ok(self.sockets_local(&rooms))
    }

    async fn all_rooms(&self) -> Result<HashSet<Room>, AdapterError> {
        Ok(self.all_rooms_local())
    }

    async fn fetch_sockets(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        Ok(self.fetch_sockets_local(&opts))
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        self.add_sockets_local(&opts, &rooms);
        Ok(())
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        self.del_sockets_local(&opts, &rooms);
        Ok(())
    }

    async fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), AdapterError> {
        self.disconnect_sockets_local(&opts, close);
        Ok(())
    }

    async fn server_side_emit(&self, _args: Vec<Value>) -> Result<(), AdapterError> {
        // No other node: nothing to send (the reference logs a warning).
        Ok(())
    }

    async fn server_side_emit_with_ack(
        &self,
        _args: Vec<Value>,
        _timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        Ok(Vec::new())
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        Ok(1)
    }

    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
        self.persist_session_local(session);
        Ok(())
    }

    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        Ok(self.restore_session_local(pid, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        BroadcastAckEvent, BroadcastFlags, DeliverError, EncodedPacket, Handshake, RecoveryConfig,
        ServerSideAck,
    };
    use std::sync::Weak;

    /// A namespace that records deliveries; sockets in `full` refuse non-volatile packets.
    #[derive(Default)]
    struct Ns {
        delivered: Mutex<Vec<(String, u64)>>,
        disconnected: Mutex<Vec<(String, bool)>>,
        full: Mutex<HashSet<String>>,
        /// `Some` when the namespace listens to room events.
        room_events: Mutex<Option<Vec<RoomEvent>>>,
    }

    impl LocalNamespace for Ns {
        fn name(&self) -> &str {
            "/"
        }
        fn encode(&self, _p: &Packet) -> EncodedPacket {
            EncodedPacket::new(Vec::new())
        }
        fn deliver(
            &self,
            sid: &str,
            _p: &EncodedPacket,
            flags: &BroadcastFlags,
        ) -> Result<(), DeliverError> {
            if self.full.lock().unwrap().contains(sid) {
                return Err(if flags.volatile {
                    DeliverError::VolatileDropped
                } else {
                    DeliverError::SlowConsumer
                });
            }
            self.delivered.lock().unwrap().push((sid.to_owned(), 0));
            Ok(())
        }
        fn deliver_with_ack(
            &self,
            sid: &str,
            p: &EncodedPacket,
            f: &BroadcastFlags,
            ack_id: u64,
            sink: &BroadcastAckSink,
        ) -> Result<(), DeliverError> {
            self.deliver(sid, p, f)?;
            self.delivered.lock().unwrap().last_mut().unwrap().1 = ack_id;
            sink.ack(vec![Value::from(sid)]);
            Ok(())
        }
        fn disconnect(&self, sid: &str, close: bool) {
            self.disconnected
                .lock()
                .unwrap()
                .push((sid.to_owned(), close));
        }
        fn socket_info(&self, sid: &str) -> Option<SocketInfo> {
            Some(SocketInfo {
                id: sid.into(),
                handshake: Handshake::default(),
                rooms: Vec::new(),
                data: Value::from(sid),
            })
        }
        fn on_server_side_emit(&self, _args: Vec<Value>, _ack: Option<ServerSideAck>) {}
        fn wants_room_events(&self) -> bool {
            self.room_events.lock().unwrap().is_some()
        }
        fn on_room_event(&self, event: RoomEvent) {
            if let Some(events) = self.room_events.lock().unwrap().as_mut() {
                events.push(event);
            }
        }
    }

    fn setup(recovery: Option<RecoveryConfig>) -> (Arc<Ns>, InMemoryAdapter) {
        let ns = Arc::new(Ns::default());
        let dyn_ns: Arc<dyn LocalNamespace> = ns.clone();
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&dyn_ns);
        let adapter = InMemoryAdapter::new(AdapterContext {
            namespace: weak,
            name: "/".into(),
            recovery,
        });
        for (sid, rooms) in [("a", vec!["r1"]), ("b", vec!["r1", "r2"]), ("c", vec![])] {
            let mut all: Vec<Room> = vec![sid.into()];
            all.extend(rooms.into_iter().map(Room::from));
            adapter.add_all(&sid.into(), &all);
        }
        (ns, adapter)
    }

    fn delivered(ns: &Ns) -> Vec<String> {
        let mut v: Vec<String> = ns
            .delivered
            .lock()
            .unwrap()
            .drain(..)
            .map(|d| d.0)
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn broadcast_targets_and_cluster_queries() {
        let (ns, adapter) = setup(None);
        let ev = || Packet::event("/", "e", vec![]);
        adapter
            .broadcast(ev(), BroadcastOptions::default())
            .unwrap();
        assert_eq!(delivered(&ns), ["a", "b", "c"]);
        adapter
            .broadcast(ev(), BroadcastOptions::default().to("r1").except("r2"))
            .unwrap();
        assert_eq!(delivered(&ns), ["a"]);

        let infos = adapter
            .fetch_sockets(BroadcastOptions::default().to("r2"))
            .await
            .unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(&*infos[0].id, "b");
        assert_eq!(infos[0].rooms.len(), 3);

        adapter
            .add_sockets(BroadcastOptions::default().to("r1"), vec!["x".into()])
            .await
            .unwrap();
        let x: HashSet<Room> = ["x".into()].into();
        assert_eq!(adapter.sockets(x.clone()).await.unwrap().len(), 2);
        adapter
            .del_sockets(BroadcastOptions::default().to("a"), vec!["x".into()])
            .await
            .unwrap();
        assert_eq!(adapter.sockets(x).await.unwrap().len(), 1);
        adapter
            .disconnect_sockets(BroadcastOptions::default().to("r2"), true)
            .await
            .unwrap();
        assert_eq!(*ns.disconnected.lock().unwrap(), [("b".to_owned(), true)]);
        assert_eq!(adapter.server_count().await.unwrap(), 1);
        assert!(adapter.all_rooms().await.unwrap().contains("r2"));
        adapter.del_all("b");
        assert!(!adapter.all_rooms().await.unwrap().contains("r2"));
        assert!(adapter.socket_rooms("b").is_none());
    }

    #[tokio::test]
    async fn broadcast_with_ack_reports_count_then_acks() {
        let (ns, adapter) = setup(None);
        ns.full.lock().unwrap().insert("c".to_owned());
        let (sink, mut rx) = BroadcastAckSink::channel();
        let packet = Packet::event("/", "e", vec![]).with_id(7);
        adapter
            .broadcast_with_ack(packet, BroadcastOptions::default(), sink)
            .unwrap();
        let mut events = Vec::new();
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        // Two sockets took the packet (c's queue is full); each acked; then the count.
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], BroadcastAckEvent::ClientCount(2));
        assert!(ns.delivered.lock().unwrap().iter().all(|d| d.1 == 7));
    }

    #[tokio::test]
    async fn sessions_are_restored_with_the_packets_they_missed() {
        let (_ns, adapter) = setup(Some(RecoveryConfig::default()));
        let ev = |n: u64| Packet::event("/", "e", vec![Value::from(n as f64)]);
        // The offset is appended to stored packets only.
        let mut p = ev(0);
        adapter.store_for_recovery(&mut p, &BroadcastOptions::default());
        let offset = p.args().last().and_then(Value::as_str).unwrap().to_owned();
        let mut volatile = ev(99);
        let vopts = BroadcastOptions {
            flags: BroadcastFlags {
                volatile: true,
                ..Default::default()
            },
            ..Default::default()
        };
        adapter.store_for_recovery(&mut volatile, &vopts);
        assert_eq!(volatile.args().len(), 1, "volatile packets are not stored");

        adapter
            .persist_session(PersistedSession {
                sid: "a".into(),
                pid: "pid-a".into(),
                rooms: vec!["a".into(), "r1".into()],
                data: Value::from("data"),
            })
            .await
            .unwrap();
        adapter
            .broadcast(ev(1), BroadcastOptions::default())
            .unwrap();
        adapter
            .broadcast(ev(2), BroadcastOptions::default().to("r2"))
            .unwrap();
        adapter
            .broadcast(ev(3), BroadcastOptions::default().to("r1"))
            .unwrap();
        adapter
            .broadcast(ev(4), BroadcastOptions::default().except("r1"))
            .unwrap();
        assert!(adapter
            .restore_session("pid-a", "unknown")
            .await
            .unwrap()
            .is_none());
        // A failed restore consumed the session (as the reference): persist again.
        adapter
            .persist_session(PersistedSession {
                sid: "a".into(),
                pid: "pid-a".into(),
                rooms: vec!["a".into(), "r1".into()],
                data: Value::from("data"),
            })
            .await
            .unwrap();
        let restored = adapter
            .restore_session("pid-a", &offset)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&*restored.session.sid, "a");
        let got: Vec<f64> = restored
            .missed_packets
            .iter()
            .map(|d| d[1].as_f64().unwrap())
            .collect();
        assert_eq!(got, [1.0, 3.0]);
        // Each missed payload still carries its own offset.
        assert!(restored.missed_packets.iter().all(|d| d.len() == 3));
        assert!(adapter
            .restore_session("pid-a", &offset)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn expired_sessions_are_not_restored() {
        let (_ns, adapter) = setup(Some(RecoveryConfig {
            max_disconnection_duration: std::time::Duration::from_millis(20),
            skip_middlewares: true,
        }));
        let mut p = Packet::event("/", "e", vec![]);
        adapter.store_for_recovery(&mut p, &BroadcastOptions::default());
        let offset = p.args().last().and_then(Value::as_str).unwrap().to_owned();
        adapter
            .persist_session(PersistedSession {
                sid: "a".into(),
                pid: "p".into(),
                rooms: vec![],
                data: Value::Null,
            })
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(adapter
            .restore_session("p", &offset)
            .await
            .unwrap()
            .is_none());
    }
    #[tokio::test]
    async fn room_events_reach_a_listening_namespace() {
        use RoomEvent::{Create, Delete, Join, Leave};
        let (ns, adapter) = setup(None);
        let take = || -> Vec<RoomEvent> {
            ns.room_events
                .lock()
                .unwrap()
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default()
        };
        // Not listening: nothing recorded (and nothing collected).
        adapter.add_all(&"d".into(), &["d".into()]);
        assert!(ns.room_events.lock().unwrap().is_none());

        *ns.room_events.lock().unwrap() = Some(Vec::new());
        adapter.add_all(&"e".into(), &["e".into(), "r1".into()]);
        assert_eq!(
            take(),
            [
                Create("e".into()),
                Join("e".into(), "e".into()),
                Join("r1".into(), "e".into())
            ]
        );
        adapter.del("b", "r2");
        assert_eq!(
            take(),
            [Leave("r2".into(), "b".into()), Delete("r2".into())]
        );
        adapter
            .add_sockets(BroadcastOptions::default().to("r1"), vec!["y".into()])
            .await
            .unwrap();
        let got = take();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], Create("y".into()));
        assert!(got[1..]
            .iter()
            .all(|e| matches!(e, Join(r, _) if &**r == "y")));
        adapter
            .del_sockets(BroadcastOptions::default().to("y"), vec!["y".into()])
            .await
            .unwrap();
        let got = take();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[3], Delete("y".into()));
        adapter.del_all("c");
        assert_eq!(take(), [Leave("c".into(), "c".into()), Delete("c".into())]);
    }
}
