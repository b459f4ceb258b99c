//! Where a message to another node goes: the one place the engine sends
//! to a node. Over the direct link ([`crate::peer`]) when there is one —
//! a node's requests on the link it opened to the owner, the owner's
//! answers on the link the request came in on — else over Redis pub/sub on
//! the node's channel, as when direct links are off. Also the links' side
//! of the node: advertising its address, opening links, and what a link's
//! end means (its requests fail at once).

use super::{channel, Inner};
use crate::link::Then;
use crate::message::{Body, Dir};
use crate::peer::{Event, PeerLink, Peers, Side};
use crate::NodeId;
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How long a node's advertised address lives in Redis without a refresh
/// (the liveness check refreshes it about every [`ADDR_REFRESH`]): a
/// node that died stops being advertised.
pub(super) const ADDR_TTL_SECS: u64 = 30;
/// How often the address is written again (also brings it back after a
/// Redis restart).
pub(super) const ADDR_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// The Redis key of `node`'s advertised address (`ip:port`).
pub(super) fn addr_key(prefix: &str, node: NodeId) -> String {
    format!("{prefix}#peer#{node}")
}

/// Which side of a link may carry `body` to the node receiving it: requests
/// (and the opener's tunnel bytes) arrive on links the peer opened, answers
/// (and the owner's tunnel bytes) on links this node opened.
fn arrives_on(body: &Body) -> Side {
    match body {
        Body::Request { .. } | Body::Upgrade { .. } | Body::Abort => Side::Accepted,
        Body::Accepted | Body::Response { .. } | Body::Handover(_) | Body::Proxied => Side::Opened,
        Body::TunnelData { dir, .. } | Body::TunnelAck { dir, .. } | Body::TunnelClose { dir } => {
            match dir {
                Dir::FromOpener => Side::Accepted,
                Dir::FromOwner => Side::Opened,
            }
        }
    }
}

/// Whether a message that came over `via` may be taken: it names the node
/// at the other end as its sender, and travels the way the link's side
/// carries (so a forged link gets only the answers to its own requests).
pub(super) fn fits(via: &PeerLink, from: NodeId, body: &Body) -> bool {
    via.peer() == from && arrives_on(body) == via.side()
}

impl Inner {
    /// Starts listening for the other nodes' links and advertises where, if
    /// direct links are on and the node has an address others can reach.
    pub(super) async fn listen_for_peers(
        config: &super::ClusterConfig,
        node: NodeId,
        link: &crate::link::Link,
        on_event: crate::peer::OnEvent,
    ) -> Option<Arc<Peers>> {
        if !config.direct_links {
            return None;
        }
        let redis_ip = link.local_ip();
        let bind = config.peer_listen.or_else(|| {
            let port = config.peer_advertise.map_or(0, |a| a.port());
            match (redis_ip, config.peer_advertise) {
                (Some(ip), None) => Some(SocketAddr::new(ip, 0)),
                (_, Some(_)) => Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
                (None, None) => None,
            }
        })?;
        let advertise = |bound: SocketAddr| match (config.peer_advertise, redis_ip) {
            (Some(a), _) => a,
            (None, Some(ip)) if bound.ip().is_unspecified() => SocketAddr::new(ip, bound.port()),
            _ => bound,
        };
        let timeout = config.response_timeout;
        match Peers::listen(node, bind, advertise, timeout, on_event).await {
            Ok(peers) => {
                let key = addr_key(&config.channel_prefix, node);
                let addr = peers.addr().to_string();
                if let Err(e) = link.set_ex(&key, addr.as_bytes(), ADDR_TTL_SECS).await {
                    tracing::debug!("engine.io cluster: cannot advertise {addr}: {e}");
                }
                Some(peers)
            }
            Err(e) => {
                tracing::warn!("engine.io cluster: no direct links (cannot listen on {bind}: {e})");
                None
            }
        }
    }

    /// Writes this node's address to Redis again (its key expires).
    pub(super) async fn advertise(&self) {
        let Some(peers) = &self.peers else {
            return;
        };
        let key = addr_key(&self.config.channel_prefix, self.node);
        let addr = peers.addr().to_string();
        let _ = self.link.set_ex(&key, addr.as_bytes(), ADDR_TTL_SECS).await;
    }

    /// The link this node's requests to `node` take, if it is up; if there
    /// is none yet, one is opened (in a task) for the next ones.
    pub(super) fn ask_link(self: &Arc<Self>, node: NodeId) -> Option<Arc<PeerLink>> {
        let peers = self.peers.as_ref()?;
        match peers.link_to(node) {
            Ok(link) => Some(link),
            Err(open) => {
                if open {
                    self.open_link(peers.clone(), node);
                }
                None
            }
        }
    }

    /// Looks `node`'s address up and opens a link to it. Until it is up (or
    /// if it cannot be), messages to `node` go over Redis.
    fn open_link(self: &Arc<Self>, peers: Arc<Peers>, node: NodeId) {
        let inner = Arc::downgrade(self);
        tokio::spawn(async move {
            let addr = match inner.upgrade() {
                Some(inner) => {
                    let key = addr_key(&inner.config.channel_prefix, node);
                    let timeout = inner.config.response_timeout;
                    match tokio::time::timeout(timeout, inner.link.get(&key)).await {
                        Ok(Ok(Some(v))) => std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse::<SocketAddr>().ok()),
                        _ => None,
                    }
                }
                None => return,
            };
            let link = match addr {
                Some(addr) => match peers.open(node, addr).await {
                    Ok(link) => Some(link),
                    Err(e) => {
                        tracing::debug!(
                            "engine.io cluster: no direct link to {node} at {addr}: {e}"
                        );
                        None
                    }
                },
                None => None,
            };
            if let (Some(_), Some(inner)) = (&link, inner.upgrade()) {
                inner.counters.links_opened.fetch_add(1, Ordering::Relaxed);
            }
            peers.opened(node, link);
        });
    }

    /// Sends `msg` to `node` on the link `via` when it takes it, else over
    /// Redis. `then` as for [`crate::link::Link::send`] (on a link: `true`
    /// once written or queued).
    pub(super) fn send_via(
        &self,
        via: Option<&Arc<PeerLink>>,
        node: NodeId,
        msg: Bytes,
        then: Option<Then>,
    ) {
        if via.is_some_and(|link| self.send_direct(link, &msg)) {
            if let Some(then) = then {
                then(true);
            }
            return;
        }
        self.counters.sent_redis.fetch_add(1, Ordering::Relaxed);
        let to = channel(&self.config.channel_prefix, node);
        self.link.send(&to, msg, then);
    }

    /// Sends `msg` on `link`, counted (before: the answer may be back
    /// before this returns). `false`: the link did not take it.
    fn send_direct(&self, link: &Arc<PeerLink>, msg: &[u8]) -> bool {
        self.counters.sent_direct.fetch_add(1, Ordering::Relaxed);
        let sent = link.send(msg);
        if !sent {
            self.counters.sent_direct.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// [`Inner::send_via`], awaited: whether a node got it. With `pinned`,
    /// never over Redis when `via` is a link that is gone: a tunnel keeps
    /// to one path (two could reorder its bytes).
    pub(super) async fn publish_via(
        &self,
        via: Option<&Arc<PeerLink>>,
        node: NodeId,
        msg: Bytes,
        pinned: bool,
    ) -> bool {
        if let Some(link) = via {
            if self.send_direct(link, &msg) {
                return true;
            }
            if pinned {
                return false;
            }
        }
        self.counters.sent_redis.fetch_add(1, Ordering::Relaxed);
        let to = channel(&self.config.channel_prefix, node);
        matches!(self.link.publish(&to, msg).await, Ok(n) if n > 0)
    }

    /// What a peer link reports. Runs in its reader; never awaits.
    pub(super) fn on_peer_event(self: &Arc<Self>, event: Event<'_>) {
        match event {
            Event::Frame(link, payload) => {
                for frame in crate::message::split(payload) {
                    match frame {
                        Ok(frame) => self.on_message(frame, Some(link)),
                        Err(_) => {
                            self.counters.garbage.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Event::Lost(link) => {
                self.counters.links_lost.fetch_add(1, Ordering::Relaxed);
                if let Some(peers) = &self.peers {
                    peers.lost(link);
                }
                // The link this node opened carried its requests: their
                // answers cannot come any more (the owner died, most
                // likely). A link the peer opened proves nothing about the
                // peer (anyone may open one in its name).
                if link.side() == Side::Opened {
                    let node = link.peer();
                    let failed = self.pending.fail_owner(node);
                    self.tunnels.close_peer(node);
                    tracing::debug!(
                        "engine.io cluster: direct link to {node} lost; {failed} requests failed"
                    );
                } else {
                    // The requests and tunnels that came over it: nobody
                    // waits at its other end any more (dropping a request's
                    // abort ends it).
                    let id = Some(link.id());
                    self.running.lock().retain(|&(_, _, way), _| way != id);
                    self.tunnels.close_way(Some(link.id()));
                }
            }
        }
    }
}
