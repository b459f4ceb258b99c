//! The borrowing side's routing state: the polling requests this node carried
//! to the sessions' owners and is waiting on. No sockets: the node's message
//! loop feeds it replies, the liveness check fails the requests of dead
//! owners, and the request futures wait on the receivers it hands out.

use crate::NodeId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// A reply from the owner.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The owner holds the session and serves the request.
    Accepted,
    /// The owner's answer.
    Response {
        status: u16,
        headers: crate::message::HeaderBlock,
        body: Bytes,
    },
    /// The answer to an upgrade: the session moves here.
    Handover(Box<crate::message::WireHandover>),
    /// The answer to an upgrade: the owner keeps the session; the tunnel is open.
    Proxied,
}

/// What one request's channel carries: an Accepted, with the channel the
/// rest comes on, or the last reply.
enum Delivery {
    Accepted(oneshot::Receiver<Delivery>),
    Last(Reply),
}

struct Entry {
    owner: NodeId,
    // One oneshot, and a second only after an Accepted (rare: a long-poll):
    // a tokio mpsc allocates a block of 32 slots (2 KB here) per channel,
    // and a pair of oneshots is two allocations and a select per request.
    tx: oneshot::Sender<Delivery>,
    /// An Accepted came (a second one is refused).
    accepted: bool,
    /// The epoch at which [`Pending::tick`] fails it, if it has no reply by
    /// then; `u64::MAX`: never (its future bounds its own wait).
    deadline: u64,
}

/// Where the replies to one request arrive: at most one Accepted, then the
/// Response.
pub(crate) struct Replies {
    /// `None` once the request ended (a oneshot may not be polled again).
    rx: Option<oneshot::Receiver<Delivery>>,
}

impl Replies {
    /// The next reply; `None` once the request is failed or ended.
    /// Cancel-safe: a reply is never lost to a dropped call.
    pub(crate) async fn recv(&mut self) -> Option<Reply> {
        let res = self.rx.as_mut()?.await;
        self.take(res.ok())
    }

    /// The next reply if one is there already.
    pub(crate) fn try_recv(&mut self) -> Result<Reply, ()> {
        let res = self.rx.as_mut().ok_or(())?.try_recv();
        match res {
            Err(oneshot::error::TryRecvError::Empty) => Err(()),
            res => self.take(res.ok()).ok_or(()),
        }
    }

    /// The reply out of what the channel gave; an Accepted leaves the
    /// channel of the rest in its place.
    fn take(&mut self, got: Option<Delivery>) -> Option<Reply> {
        match got {
            Some(Delivery::Accepted(rest)) => {
                self.rx = Some(rest);
                Some(Reply::Accepted)
            }
            Some(Delivery::Last(reply)) => {
                self.rx = None;
                Some(reply)
            }
            None => {
                self.rx = None;
                None
            }
        }
    }
}

/// How many owners [`Pending`] remembers as heard from (a cluster has few
/// nodes; the bound holds against replies forged for many node ids).
const MAX_HEARD: usize = 64;
/// An owner heard from within this many ticks counts as alive.
const HEARD_TICKS: u64 = 3;

/// The requests waiting on their owners, bounded in number.
pub(crate) struct Pending {
    next: AtomicU64,
    max: usize,
    map: Mutex<Map>,
    /// Advanced by the liveness check, once per period ([`Pending::tick`]).
    epoch: AtomicU64,
}

/// Hashes the request ids: this node's own counter, never a peer's choice
/// (a forged id only looks up), so no keyed hash (SipHash) is needed
/// against flooding; three lookups per request.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // A folded multiply: every bit of the id reaches the high bits
        // (hashbrown's control bytes) and the low ones (its buckets).
        let wide = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        (wide as u64) ^ ((wide >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct Map {
    entries: IdMap<Entry>,
    /// Owners a reply came from, with the epoch of the last one.
    heard: Vec<(NodeId, u64)>,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Pending {
        Pending {
            next: AtomicU64::new(1),
            max,
            map: Mutex::new(Map::default()),
            epoch: AtomicU64::new(0),
        }
    }

    /// A new request to `owner`: its id, where its replies arrive, and
    /// whether `owner` was heard from within the last [`HEARD_TICKS`] ticks
    /// (then it is very likely alive, and the request need not ask Redis
    /// whether anyone heard it). With `ticks`, the request fails (its
    /// receiver ends) if no reply came within `ticks` to `ticks + 1` ticks:
    /// one shared deadline check rather than a timer per request. `None`
    /// when this node already waits on as many requests as allowed.
    pub(crate) fn register(
        &self,
        owner: NodeId,
        ticks: Option<u64>,
    ) -> Option<(u64, Replies, bool)> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut map = self.map.lock();
        if map.entries.len() >= self.max {
            return None;
        }
        let heard = map
            .heard
            .iter()
            .any(|&(node, at)| node == owner && at + HEARD_TICKS >= epoch);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        map.entries.insert(
            id,
            Entry {
                owner,
                tx,
                accepted: false,
                deadline: ticks.map_or(u64::MAX, |t| epoch + t + 1),
            },
        );
        let replies = Replies { rx: Some(rx) };
        Some((id, replies, heard))
    }

    /// Hands a reply from `from` to request `id`. Replies for unknown
    /// requests, or from a node other than the request's owner (forged), are
    /// given back, and so is a second Accepted. Any reply but Accepted ends the request.
    pub(crate) fn deliver(&self, from: NodeId, id: u64, reply: Reply) -> Result<(), Reply> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut map = self.map.lock();
        match reply {
            Reply::Accepted => {
                let Some(entry) = map
                    .entries
                    .get_mut(&id)
                    .filter(|e| e.owner == from && !e.accepted)
                else {
                    return Err(reply);
                };
                let (rest, rest_rx) = oneshot::channel();
                let tx = std::mem::replace(&mut entry.tx, rest);
                entry.accepted = true;
                // Accepted: the request's future bounds the rest of its wait.
                entry.deadline = u64::MAX;
                map.heard_from(from, epoch);
                drop(map);
                tx.send(Delivery::Accepted(rest_rx))
                    .map_err(|_| Reply::Accepted)
            }
            _ => {
                let entry = match map.entries.remove(&id) {
                    Some(e) if e.owner == from => e,
                    Some(theirs) => {
                        map.entries.insert(id, theirs);
                        return Err(reply);
                    }
                    None => return Err(reply),
                };
                map.heard_from(from, epoch);
                drop(map);
                entry.tx.send(Delivery::Last(reply)).map_err(|d| match d {
                    Delivery::Last(reply) => reply,
                    Delivery::Accepted(_) => Reply::Accepted,
                })
            }
        }
    }

    /// Forgets request `id` (its client went away, or it ended). Whether it
    /// was still waiting.
    pub(crate) fn remove(&self, id: u64) -> bool {
        self.map.lock().entries.remove(&id).is_some()
    }

    /// One tick of the liveness check: owners not heard from lately are no
    /// longer taken as alive, and the requests past their deadline fail.
    /// Returns those requests (owner and id), to tell their owners.
    pub(crate) fn tick(&self) -> Vec<(NodeId, u64)> {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let mut map = self.map.lock();
        map.heard.retain(|&(_, at)| at + HEARD_TICKS >= epoch);
        let mut expired = Vec::new();
        map.entries.retain(|&id, e| {
            let live = e.deadline > epoch;
            if !live {
                expired.push((e.owner, id));
            }
            live
        });
        expired
    }

    /// The owners that requests wait on, each once.
    pub(crate) fn owners(&self) -> Vec<NodeId> {
        let mut owners: Vec<NodeId> = self.map.lock().entries.values().map(|e| e.owner).collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// Fails every request waiting on `owner` (it is gone): their receivers
    /// end without a response, and it is no longer taken as alive. How many
    /// there were.
    pub(crate) fn fail_owner(&self, owner: NodeId) -> usize {
        let mut map = self.map.lock();
        let before = map.entries.len();
        map.entries.retain(|_, e| e.owner != owner);
        map.heard.retain(|&(node, _)| node != owner);
        before - map.entries.len()
    }

    /// Fails every waiting request (the link to Redis is down); no owner is
    /// taken as alive any more.
    pub(crate) fn fail_all(&self) {
        let mut map = self.map.lock();
        map.entries.clear();
        map.heard.clear();
    }

    /// How many requests wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().entries.len()
    }
}

impl Map {
    fn heard_from(&mut self, node: NodeId, epoch: u64) {
        if let Some(h) = self.heard.iter_mut().find(|(n, _)| *n == node) {
            h.1 = epoch;
        } else if self.heard.len() < MAX_HEARD {
            self.heard.push((node, epoch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (NodeId, NodeId) {
        (
            NodeId::parse("ownerAAA").unwrap(),
            NodeId::parse("ownerBBB").unwrap(),
        )
    }

    fn response() -> Reply {
        Reply::Response {
            status: 200,
            headers: crate::message::HeaderBlock::default(),
            body: Bytes::from_static(b"ok"),
        }
    }

    #[tokio::test]
    async fn a_reply_outlives_a_dropped_wait_for_it() {
        let (a, _) = ids();
        let p = Pending::new(10);
        let (id, mut rx, _) = p.register(a, None).unwrap();
        let nothing = std::time::Duration::from_millis(1);
        assert!(tokio::time::timeout(nothing, rx.recv()).await.is_err());
        assert!(p.deliver(a, id, Reply::Accepted).is_ok());
        assert!(matches!(rx.recv().await, Some(Reply::Accepted)));
        assert!(tokio::time::timeout(nothing, rx.recv()).await.is_err());
        assert!(p.deliver(a, id, response()).is_ok());
        assert!(matches!(
            rx.recv().await,
            Some(Reply::Response { status: 200, .. })
        ));
        assert!(rx.recv().await.is_none());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn sequential_ids_spread_over_buckets_and_control_bytes() {
        use std::hash::BuildHasher;
        let build = std::hash::BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1..=1024u64).map(|id| build.hash_one(id)).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let top: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 600, "{} buckets of 1024", low.len());
        assert_eq!(top.len(), 128, "every control byte is used");
    }

    #[tokio::test]
    async fn accepted_then_response_reach_the_request() {
        let (a, _) = ids();
        let p = Pending::new(10);
        let (id, mut rx, _) = p.register(a, None).unwrap();
        assert!(p.deliver(a, id, Reply::Accepted).is_ok());
        assert!(p.deliver(a, id, response()).is_ok());
        assert!(matches!(rx.recv().await, Some(Reply::Accepted)));
        assert!(matches!(
            rx.recv().await,
            Some(Reply::Response { status: 200, .. })
        ));
        // The response ended it: later replies are dropped, the channel is closed.
        assert!(p.deliver(a, id, response()).is_err());
        assert!(rx.recv().await.is_none());
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn forged_and_unknown_replies_are_dropped() {
        let (a, b) = ids();
        let p = Pending::new(10);
        let (id, mut rx, _) = p.register(a, None).unwrap();
        assert!(
            p.deliver(b, id, response()).is_err(),
            "a reply from another node"
        );
        assert!(
            p.deliver(a, id + 100, response()).is_err(),
            "an unknown request"
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(p.len(), 1);
        // A second Accepted is dropped.
        assert!(p.deliver(a, id, Reply::Accepted).is_ok());
        assert!(p.deliver(a, id, Reply::Accepted).is_err());
        assert!(matches!(rx.try_recv(), Ok(Reply::Accepted)));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_dead_owner_fails_its_requests_only() {
        let (a, b) = ids();
        let p = Pending::new(10);
        let (_, mut ra, _) = p.register(a, None).unwrap();
        let (_, mut ra2, _) = p.register(a, None).unwrap();
        let (_, mut rb, _) = p.register(b, None).unwrap();
        assert_eq!(p.owners(), vec![a, b]);
        assert_eq!(p.fail_owner(a), 2);
        assert!(ra.recv().await.is_none());
        assert!(ra2.recv().await.is_none());
        assert!(rb.try_recv().is_err(), "b's request still waits");
        assert_eq!(p.owners(), vec![b]);
        p.fail_all();
        assert!(rb.recv().await.is_none());
    }

    #[test]
    fn bounded() {
        let (a, _) = ids();
        let p = Pending::new(2);
        let (first, _r1, _) = p.register(a, None).unwrap();
        let _r2 = p.register(a, None).unwrap();
        assert!(p.register(a, None).is_none());
        assert!(p.remove(first));
        assert!(!p.remove(first));
        assert!(p.register(a, None).is_some());
    }

    #[test]
    fn an_owner_counts_as_heard_for_a_few_ticks_after_its_last_reply() {
        let (a, b) = ids();
        let p = Pending::new(100);
        let (id, _rx, heard) = p.register(a, None).unwrap();
        assert!(!heard, "never heard from");
        // A forged reply (from b) does not count for a, nor for b.
        assert!(p.deliver(b, id, response()).is_err());
        assert!(p.deliver(a, id, response()).is_ok());
        assert!(p.register(a, None).unwrap().2, "it just answered");
        assert!(!p.register(b, None).unwrap().2, "b never answered");
        for _ in 0..HEARD_TICKS {
            p.tick();
            assert!(p.register(a, None).unwrap().2, "heard lately");
        }
        p.tick();
        assert!(!p.register(a, None).unwrap().2, "silent for too long");
        // Heard again; then declared dead by the liveness check.
        let (id, _rx, _) = p.register(a, None).unwrap();
        assert!(p.deliver(a, id, Reply::Accepted).is_ok());
        assert!(p.register(a, None).unwrap().2);
        p.fail_owner(a);
        assert!(
            !p.register(a, None).unwrap().2,
            "a dead owner is asked about again"
        );
        let (id, _rx, _) = p.register(a, None).unwrap();
        assert!(p.deliver(a, id, response()).is_ok());
        p.fail_all();
        assert!(!p.register(a, None).unwrap().2, "the link went down");
    }

    #[tokio::test]
    async fn a_request_without_a_reply_fails_at_its_deadline_tick() {
        let (a, _) = ids();
        let p = Pending::new(10);
        let (quiet, mut rq, _) = p.register(a, Some(2)).unwrap();
        let (accepted, mut ra, _) = p.register(a, Some(2)).unwrap();
        let (_, mut forever, _) = p.register(a, None).unwrap();
        assert!(p.deliver(a, accepted, Reply::Accepted).is_ok());
        assert!(p.tick().is_empty());
        assert!(p.tick().is_empty());
        // Between 2 and 3 ticks after it was registered.
        assert_eq!(p.tick(), vec![(a, quiet)]);
        assert!(rq.recv().await.is_none(), "its receiver ended");
        assert!(matches!(ra.recv().await, Some(Reply::Accepted)));
        for _ in 0..10 {
            assert!(p.tick().is_empty(), "accepted, and no deadline: left alone");
        }
        assert_eq!(p.len(), 2);
        assert!(p.deliver(a, accepted, response()).is_ok());
        assert!(matches!(ra.recv().await, Some(Reply::Response { .. })));
        assert!(forever.try_recv().is_err(), "still waiting");
    }
}
