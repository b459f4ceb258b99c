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
        headers: crate::message::RawHeaders,
        body: Bytes,
    },
    /// The answer to an upgrade: the session moves here.
    Handover(crate::message::WireHandover),
    /// The answer to an upgrade: the owner keeps the session; the tunnel is open.
    Proxied,
}

struct Entry {
    owner: NodeId,
    // Two oneshots rather than a channel: a tokio mpsc allocates a block of
    // 32 slots (2 KB here) per channel, one per forwarded request.
    accepted: Option<oneshot::Sender<()>>,
    response: oneshot::Sender<Reply>,
}

/// Where the replies to one request arrive: at most one Accepted, then the
/// Response.
pub(crate) struct Replies {
    accepted: Option<oneshot::Receiver<()>>,
    /// `None` once it resolved (a oneshot may not be polled again).
    response: Option<oneshot::Receiver<Reply>>,
}

impl Replies {
    /// The next reply; `None` once the request is failed or ended.
    pub(crate) async fn recv(&mut self) -> Option<Reply> {
        let response = self.response.as_mut()?;
        if let Some(accepted) = &mut self.accepted {
            // Accepted first: it was sent before any response.
            tokio::select! {
                biased;
                res = accepted => {
                    self.accepted = None;
                    if res.is_ok() {
                        return Some(Reply::Accepted);
                    }
                }
                res = &mut *response => {
                    self.response = None;
                    return res.ok();
                }
            }
        }
        let res = self.response.take()?.await;
        res.ok()
    }

    /// The next reply if one is there (tests).
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Result<Reply, ()> {
        if let Some(accepted) = &mut self.accepted {
            if accepted.try_recv().is_ok() {
                self.accepted = None;
                return Ok(Reply::Accepted);
            }
        }
        self.response.as_mut().ok_or(())?.try_recv().map_err(|_| ())
    }
}

/// The requests waiting on their owners, bounded in number.
pub(crate) struct Pending {
    next: AtomicU64,
    max: usize,
    map: Mutex<HashMap<u64, Entry>>,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Pending {
        Pending {
            next: AtomicU64::new(1),
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A new request to `owner`: its id and where its replies arrive. `None`
    /// when this node already waits on as many requests as allowed.
    pub(crate) fn register(&self, owner: NodeId) -> Option<(u64, Replies)> {
        let mut map = self.map.lock();
        if map.len() >= self.max {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (accepted, accepted_rx) = oneshot::channel();
        let (response, response_rx) = oneshot::channel();
        map.insert(
            id,
            Entry {
                owner,
                accepted: Some(accepted),
                response,
            },
        );
        let replies = Replies {
            accepted: Some(accepted_rx),
            response: Some(response_rx),
        };
        Some((id, replies))
    }

    /// Hands a reply from `from` to request `id`. Replies for unknown
    /// requests, or from a node other than the request's owner (forged), are
    /// dropped, and so is a second Accepted. Any reply but Accepted ends the request.
    pub(crate) fn deliver(&self, from: NodeId, id: u64, reply: Reply) -> bool {
        let mut map = self.map.lock();
        let Some(entry) = map.get_mut(&id).filter(|e| e.owner == from) else {
            return false;
        };
        match reply {
            Reply::Accepted => match entry.accepted.take() {
                Some(tx) => {
                    drop(map);
                    tx.send(()).is_ok()
                }
                None => false,
            },
            _ => {
                let Some(entry) = map.remove(&id) else {
                    return false;
                };
                drop(map);
                entry.response.send(reply).is_ok()
            }
        }
    }

    /// Forgets request `id` (its client went away, or it ended). Whether it
    /// was still waiting.
    pub(crate) fn remove(&self, id: u64) -> bool {
        self.map.lock().remove(&id).is_some()
    }

    /// The owners that requests wait on, each once.
    pub(crate) fn owners(&self) -> Vec<NodeId> {
        let mut owners: Vec<NodeId> = self.map.lock().values().map(|e| e.owner).collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// Fails every request waiting on `owner` (it is gone): their receivers
    /// end without a response. How many there were.
    pub(crate) fn fail_owner(&self, owner: NodeId) -> usize {
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|_, e| e.owner != owner);
        before - map.len()
    }

    /// Fails every waiting request (the link to Redis is down).
    pub(crate) fn fail_all(&self) {
        self.map.lock().clear();
    }

    /// How many requests wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
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
            headers: vec![],
            body: Bytes::from_static(b"ok"),
        }
    }

    #[tokio::test]
    async fn accepted_then_response_reach_the_request() {
        let (a, _) = ids();
        let p = Pending::new(10);
        let (id, mut rx) = p.register(a).unwrap();
        assert!(p.deliver(a, id, Reply::Accepted));
        assert!(p.deliver(a, id, response()));
        assert!(matches!(rx.recv().await, Some(Reply::Accepted)));
        assert!(matches!(
            rx.recv().await,
            Some(Reply::Response { status: 200, .. })
        ));
        // The response ended it: later replies are dropped, the channel is closed.
        assert!(!p.deliver(a, id, response()));
        assert!(rx.recv().await.is_none());
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn forged_and_unknown_replies_are_dropped() {
        let (a, b) = ids();
        let p = Pending::new(10);
        let (id, mut rx) = p.register(a).unwrap();
        assert!(!p.deliver(b, id, response()), "a reply from another node");
        assert!(!p.deliver(a, id + 100, response()), "an unknown request");
        assert!(rx.try_recv().is_err());
        assert_eq!(p.len(), 1);
        // A second Accepted is dropped.
        assert!(p.deliver(a, id, Reply::Accepted));
        assert!(!p.deliver(a, id, Reply::Accepted));
        assert!(matches!(rx.try_recv(), Ok(Reply::Accepted)));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_dead_owner_fails_its_requests_only() {
        let (a, b) = ids();
        let p = Pending::new(10);
        let (_, mut ra) = p.register(a).unwrap();
        let (_, mut ra2) = p.register(a).unwrap();
        let (_, mut rb) = p.register(b).unwrap();
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
        let (first, _r1) = p.register(a).unwrap();
        let _r2 = p.register(a).unwrap();
        assert!(p.register(a).is_none());
        assert!(p.remove(first));
        assert!(!p.remove(first));
        assert!(p.register(a).is_some());
    }
}
