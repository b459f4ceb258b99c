//! The default adapter: everything happens in this process.

use std::sync::Arc;

use crate::{Adapter, AdapterContext, AdapterFactory, LocalAdapter};

/// The default adapter (reference `Adapter`, plus `SessionAwareAdapter` when connection state
/// recovery is on): the [`LocalAdapter`] alone. Every operation is the trait's default, which
/// covers this node only; `server_count` is 1.
#[derive(Debug)]
pub struct InMemoryAdapter {
    local: LocalAdapter,
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
        Self {
            local: LocalAdapter::new(ctx),
        }
    }
}

impl Adapter for InMemoryAdapter {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        BroadcastAckEvent, BroadcastAckSink, BroadcastFlags, BroadcastOptions, DeliverError,
        EncodedPacket, Handshake, LocalNamespace, PersistedSession, RecoveryConfig, Room,
        RoomEvent, ServerSideAck, SocketInfo,
    };
    use socketio_parser::{Packet, Value};
    use std::collections::HashSet;
    use std::sync::{Mutex, Weak};

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
        adapter
            .local()
            .store_for_recovery(&mut p, &BroadcastOptions::default());
        let offset = p.args().last().and_then(Value::as_str).unwrap().to_owned();
        let mut volatile = ev(99);
        let vopts = BroadcastOptions {
            flags: BroadcastFlags {
                volatile: true,
                ..Default::default()
            },
            ..Default::default()
        };
        adapter.local().store_for_recovery(&mut volatile, &vopts);
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
        adapter
            .local()
            .store_for_recovery(&mut p, &BroadcastOptions::default());
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
