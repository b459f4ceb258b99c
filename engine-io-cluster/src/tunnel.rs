//! Proxied WebSockets: a tunnel relays the bytes of a client's WebSocket,
//! unframed, between the node its connection reached (the opener) and the
//! session's owner, which runs the WebSocket over its end (see
//! `engine_io::OwnerUpgrade::Tunnel`). Both ends run the same pump.
//!
//! Flow control: each side sends at most [`TUNNEL_WINDOW`] of credit
//! (bytes, plus [`CHUNK_COST`] per message) that the other has not
//! acknowledged; the receiver acknowledges what it wrote to its end. A slow
//! reader behind one end therefore stops the other end's reads, and on the
//! owner the session's WebSocket writer waits: its outgoing queue grows and
//! the session's slow-consumer rules apply as for a local client. A peer
//! that sends beyond its credit is hostile: the tunnel is closed.

use crate::message::{Body, Dir, CHUNK_COST, TUNNEL_WINDOW};
use crate::NodeId;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The most bytes one TunnelData carries.
const MAX_CHUNK: usize = 64 * 1024;

/// Which end of a tunnel this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// The client's WebSocket reached this node.
    Opener,
    /// This node owns the session.
    Owner,
}

impl Role {
    /// The direction of what this end sends.
    fn dir(self) -> Dir {
        match self {
            Role::Opener => Dir::FromOpener,
            Role::Owner => Dir::FromOwner,
        }
    }

    /// The end that receives a message sent in `dir`.
    pub(crate) fn receiving(dir: Dir) -> Role {
        match dir {
            Dir::FromOpener => Role::Owner,
            Dir::FromOwner => Role::Opener,
        }
    }
}

/// A tunnel: the other node, the upgrade's request id (chosen by the
/// opener), and this node's end.
pub(crate) type Key = (NodeId, u64, Role);

/// What the message loop hands a pump.
#[derive(Debug)]
pub(crate) enum Event {
    Data(Bytes),
    Credit(u32),
    Close,
}

struct Entry {
    tx: mpsc::UnboundedSender<Event>,
    /// Credit received and not written yet (bounded by the window).
    queued: Arc<AtomicU32>,
    /// The direct link the tunnel's messages travel (its id), if any.
    way: Option<u64>,
}

/// The tunnels of this node.
#[derive(Default)]
pub(crate) struct Tunnels {
    map: Mutex<HashMap<Key, Entry>>,
}

/// A pump's receiving side, until its connection is there.
pub(crate) struct Opened {
    pub(crate) key: Key,
    rx: mpsc::UnboundedReceiver<Event>,
    queued: Arc<AtomicU32>,
}

impl Tunnels {
    /// Registers a tunnel (before anything can arrive for it), whose
    /// messages travel the direct link `way` (its id), or Redis. `None` if
    /// the key is taken (a replayed request).
    pub(crate) fn open(&self, key: Key, way: Option<u64>) -> Option<Opened> {
        let mut map = self.map.lock();
        if map.contains_key(&key) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicU32::new(0));
        map.insert(
            key,
            Entry {
                tx,
                queued: queued.clone(),
                way,
            },
        );
        Some(Opened { key, rx, queued })
    }

    pub(crate) fn remove(&self, key: &Key) -> bool {
        self.map.lock().remove(key).is_some()
    }

    /// A tunnel message from `from`, over the direct link `way` (its id)
    /// or Redis (`None`). Unknown tunnels are ignored, and so are messages
    /// over a link other than the tunnel's (a link may be opened in any
    /// node's name; Redis is trusted as before); data beyond the sender's
    /// credit closes the tunnel. `Some(close)`: data or credit for a tunnel
    /// that has no end here (it ended while the other node could not be
    /// told), the close to answer it with.
    pub(crate) fn deliver(
        &self,
        from: NodeId,
        id: u64,
        body: Body,
        way: Option<u64>,
    ) -> Option<Body> {
        let (dir, event) = match body {
            Body::TunnelData { dir, data } => (dir, Event::Data(data)),
            Body::TunnelAck { dir, credit } => (dir, Event::Credit(credit)),
            Body::TunnelClose { dir } => (dir, Event::Close),
            _ => return None,
        };
        let ours = Role::receiving(dir);
        let key = (from, id, ours);
        let map = self.map.lock();
        let Some(entry) = map.get(&key).filter(|e| way.is_none() || e.way == way) else {
            // Never a close for a close: two ended ends do not talk forever.
            let unknown = !map.contains_key(&key) && !matches!(event, Event::Close);
            return unknown.then(|| Body::TunnelClose { dir: ours.dir() });
        };
        let event = match event {
            Event::Data(data) => {
                let cost = cost(data.len());
                let before = entry.queued.fetch_add(cost, Ordering::AcqRel);
                if before.saturating_add(cost) > TUNNEL_WINDOW {
                    tracing::debug!("engine.io cluster: tunnel peer {from} overran its credit");
                    Event::Close
                } else {
                    Event::Data(data)
                }
            }
            other => other,
        };
        let _ = entry.tx.send(event);
        None
    }

    /// The nodes that tunnels lead to, each once (for the liveness check).
    pub(crate) fn peers(&self) -> Vec<NodeId> {
        let mut peers: Vec<NodeId> = self.map.lock().keys().map(|k| k.0).collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// Closes the tunnels to `peer` (gone).
    pub(crate) fn close_peer(&self, peer: NodeId) {
        for (key, entry) in self.map.lock().iter() {
            if key.0 == peer {
                let _ = entry.tx.send(Event::Close);
            }
        }
    }

    /// Closes the tunnels that travel the direct link `way` (it is gone), or
    /// Redis (`None`: the link to Redis is down; tunnels over direct links
    /// do not need it).
    pub(crate) fn close_way(&self, way: Option<u64>) {
        for entry in self.map.lock().values() {
            if entry.way == way {
                let _ = entry.tx.send(Event::Close);
            }
        }
    }

    /// How many tunnels are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// What a chunk of `n` bytes costs against the window.
fn cost(n: usize) -> u32 {
    (n as u32).saturating_add(CHUNK_COST)
}

/// Relays `io` through the tunnel until either side ends; then forgets the
/// tunnel and tells the other side. `send` publishes a message of this
/// tunnel to the other node: whether the node got it.
pub(crate) async fn pump<T, S, F>(tunnels: &Tunnels, opened: Opened, io: T, send: S)
where
    T: AsyncRead + AsyncWrite + Send + Unpin,
    S: Fn(Body) -> F,
    F: std::future::Future<Output = bool>,
{
    let Opened {
        key,
        mut rx,
        queued,
    } = opened;
    let role = key.2;
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut credit = TUNNEL_WINDOW;
    let mut unacked = 0u32;
    let mut buf = BytesMut::new();
    let mut peer_closed = false;
    loop {
        let room = (credit.saturating_sub(CHUNK_COST) as usize).min(MAX_CHUNK);
        tokio::select! {
            // One message per read: what the other end flushed since the last one.
            read = async {
                buf.reserve(room);
                (&mut rd).take(room as u64).read_buf(&mut buf).await
            }, if room > 0 => {
                match read {
                    Ok(n) if n > 0 => {
                        credit -= cost(n);
                        let data = buf.split().freeze();
                        if !send(Body::TunnelData { dir: role.dir(), data }).await {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            event = rx.recv() => match event {
                Some(Event::Data(data)) => {
                    let c = cost(data.len());
                    if wr.write_all(&data).await.is_err() || wr.flush().await.is_err() {
                        break;
                    }
                    queued.fetch_sub(c, Ordering::AcqRel);
                    unacked = unacked.saturating_add(c);
                    if unacked >= TUNNEL_WINDOW / 4 {
                        if !send(Body::TunnelAck { dir: role.dir(), credit: unacked }).await {
                            break;
                        }
                        unacked = 0;
                    }
                }
                Some(Event::Credit(c)) => credit = credit.saturating_add(c).min(TUNNEL_WINDOW),
                Some(Event::Close) => {
                    peer_closed = true;
                    break;
                }
                None => break,
            },
        }
    }
    tunnels.remove(&key);
    let _ = wr.shutdown().await;
    if !peer_closed {
        let _ = send(Body::TunnelClose { dir: role.dir() }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> NodeId {
        NodeId::parse("peer-AAA").unwrap()
    }

    #[test]
    fn data_beyond_the_credit_closes_the_tunnel() {
        let t = Tunnels::default();
        let mut o = t.open((peer(), 1, Role::Owner), None).unwrap();
        assert!(t.open((peer(), 1, Role::Owner), None).is_none(), "a replay");
        let data = Bytes::from(vec![0u8; 100 * 1024]);
        for _ in 0..2 {
            t.deliver(
                peer(),
                1,
                Body::TunnelData {
                    dir: Dir::FromOpener,
                    data: data.clone(),
                },
                None,
            );
        }
        assert!(matches!(o.rx.try_recv(), Ok(Event::Data(_))));
        assert!(matches!(o.rx.try_recv(), Ok(Event::Data(_))));
        t.deliver(
            peer(),
            1,
            Body::TunnelData {
                dir: Dir::FromOpener,
                data,
            },
            None,
        );
        assert!(matches!(o.rx.try_recv(), Ok(Event::Close)));
    }

    /// Two tunnel ends in one process, their messages delivered directly.
    #[tokio::test]
    async fn a_reader_that_does_not_read_stops_the_writer_at_the_window() {
        let (owner, opener) = (Arc::new(Tunnels::default()), Arc::new(Tunnels::default()));
        let (n_owner, n_opener) = (peer(), NodeId::parse("peer-BBB").unwrap());
        let o_owner = owner.open((n_opener, 1, Role::Owner), None).unwrap();
        let o_opener = opener.open((n_owner, 1, Role::Opener), None).unwrap();
        let (mut writer, owner_io) = tokio::io::duplex(1024);
        let (mut client, opener_io) = tokio::io::duplex(1024);
        let to = |t: &Arc<Tunnels>, from: NodeId| {
            let t = t.clone();
            move |body: Body| {
                t.deliver(from, 1, body, None);
                std::future::ready(true)
            }
        };
        let send = to(&opener, n_owner);
        let ends = owner.clone();
        tokio::spawn(async move { pump(&ends, o_owner, owner_io, send).await });
        let send = to(&owner, n_opener);
        let ends = opener.clone();
        tokio::spawn(async move { pump(&ends, o_opener, opener_io, send).await });
        // The client reads nothing: the writer blocks once the window is used up.
        let mut written = 0usize;
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), writer.write(&[7u8; 8192])).await
        {
            written += n;
            assert!(written < 2 * TUNNEL_WINDOW as usize, "no bound: {written}");
        }
        assert!(written >= TUNNEL_WINDOW as usize / 2, "{written}");
        // Once it reads, everything arrives, and the writer goes on.
        let mut got = vec![0u8; written];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got))
            .await
            .expect("the rest arrives")
            .unwrap();
        assert!(got.iter().all(|&b| b == 7));
        tokio::time::timeout(Duration::from_secs(5), writer.write_all(&[8u8; 8192]))
            .await
            .expect("the writer resumes")
            .unwrap();
        // Ending one side ends the tunnel on both.
        drop(writer);
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
            .await
            .expect("the end reaches the client")
            .unwrap();
        assert_eq!(rest, vec![8u8; 8192]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((owner.len(), opener.len()), (0, 0));
    }

    #[test]
    fn data_for_a_tunnel_with_no_end_here_is_answered_with_a_close() {
        let t = Tunnels::default();
        let data = || Body::TunnelData {
            dir: Dir::FromOwner,
            data: Bytes::from_static(b"x"),
        };
        let ack = Body::TunnelAck {
            dir: Dir::FromOwner,
            credit: 10,
        };
        let close = || Body::TunnelClose {
            dir: Dir::FromOwner,
        };
        // This node's opener end is gone: the owner's data and credit get
        // the opener's close; its close gets nothing.
        for body in [data(), ack] {
            assert!(matches!(
                t.deliver(peer(), 4, body, Some(7)),
                Some(Body::TunnelClose {
                    dir: Dir::FromOpener
                })
            ));
        }
        assert!(t.deliver(peer(), 4, close(), Some(7)).is_none());
        // A live end takes them; one on another link answers nothing.
        let mut o = t.open((peer(), 4, Role::Opener), Some(7)).unwrap();
        assert!(t.deliver(peer(), 4, data(), Some(7)).is_none());
        assert!(matches!(o.rx.try_recv(), Ok(Event::Data(_))));
        assert!(t.deliver(peer(), 4, data(), Some(8)).is_none());
        assert!(o.rx.try_recv().is_err());
    }

    #[test]
    fn redis_down_closes_the_tunnels_over_redis_only() {
        let t = Tunnels::default();
        let mut over_redis = t.open((peer(), 1, Role::Owner), None).unwrap();
        let mut direct = t.open((peer(), 2, Role::Owner), Some(7)).unwrap();
        t.close_way(None);
        assert!(matches!(over_redis.rx.try_recv(), Ok(Event::Close)));
        assert!(
            direct.rx.try_recv().is_err(),
            "its link does not need Redis"
        );
    }

    #[test]
    fn messages_for_other_tunnels_are_ignored() {
        let t = Tunnels::default();
        let mut o = t.open((peer(), 1, Role::Owner), None).unwrap();
        let other = NodeId::parse("peer-BBB").unwrap();
        // Another node, another id, the wrong direction: none reach the tunnel.
        t.deliver(
            other,
            1,
            Body::TunnelClose {
                dir: Dir::FromOpener,
            },
            None,
        );
        t.deliver(
            peer(),
            2,
            Body::TunnelClose {
                dir: Dir::FromOpener,
            },
            None,
        );
        t.deliver(
            peer(),
            1,
            Body::TunnelClose {
                dir: Dir::FromOwner,
            },
            None,
        );
        assert!(o.rx.try_recv().is_err());
        t.deliver(
            peer(),
            1,
            Body::TunnelClose {
                dir: Dir::FromOpener,
            },
            None,
        );
        assert!(matches!(o.rx.try_recv(), Ok(Event::Close)));
        // A tunnel over a direct link takes its messages from that link (or Redis) only.
        let mut d = t.open((peer(), 3, Role::Owner), Some(7)).unwrap();
        let close = || Body::TunnelClose {
            dir: Dir::FromOpener,
        };
        t.deliver(peer(), 3, close(), Some(8));
        assert!(d.rx.try_recv().is_err(), "another link");
        t.deliver(peer(), 3, close(), Some(7));
        assert!(matches!(d.rx.try_recv(), Ok(Event::Close)));
        t.close_way(Some(7));
        assert!(
            matches!(d.rx.try_recv(), Ok(Event::Close)),
            "its link is gone"
        );
        assert!(t.remove(&(peer(), 3, Role::Owner)));
        assert_eq!(t.peers(), vec![peer()]);
        assert!(t.remove(&(peer(), 1, Role::Owner)));
        assert_eq!(t.len(), 0);
    }
}
