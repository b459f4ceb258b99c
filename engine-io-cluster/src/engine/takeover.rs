//! A WebSocket that reaches a node other than its session's owner: the owner
//! hands a young session over (takeover) or keeps it and the WebSocket's bytes
//! are relayed (proxy); and the old owner's relay of requests for a session
//! that moved.

use super::*;

/// How long a handed-over session's old owner relays requests for it (a
/// poll or a post the client sent before it switched to the WebSocket
/// reaches the old owner by the sid's prefix).
const MOVED_FOR: Duration = Duration::from_secs(30);

/// How long an upgrade this node gave up waiting for may still be answered:
/// the owner may have handed the session over already (its answer was on
/// the way), and a session nobody adopts is lost.
const LATE_FOR: Duration = Duration::from_secs(10);

/// An upgrade whose answer came too late for its WebSocket (see `Inner::late`).
pub(super) struct Late {
    sid: String,
    /// The way it was asked (a direct link's id; `None`: Redis): the only
    /// way its answer is taken from.
    way: Option<u64>,
    until: tokio::time::Instant,
}

fn wire_messages(msgs: Vec<engine_io::Message>) -> Vec<WireMessage> {
    msgs.into_iter()
        .map(|m| match m {
            engine_io::Message::Text(s) => WireMessage::Text(s.into_bytes()),
            engine_io::Message::Binary(b) => WireMessage::Binary(b),
        })
        .collect()
}

fn to_wire(h: Box<Handover>) -> WireHandover {
    WireHandover {
        sid: Bytes::from(h.sid),
        protocol: match h.protocol {
            engine_io::ProtocolVersion::V3 => 3,
            engine_io::ProtocolVersion::V4 => 4,
        },
        uri: Bytes::copy_from_slice(wire_uri(&h.uri)),
        headers: raw_headers(&h.headers),
        remote_addr: h.remote_addr,
        outgoing: wire_messages(h.outgoing),
        incoming: wire_messages(h.incoming),
    }
}

/// A handover from the network; `None` if any field is invalid.
fn from_wire(h: WireHandover) -> Option<Handover> {
    let messages = |msgs: Vec<WireMessage>| -> Option<Vec<engine_io::Message>> {
        msgs.into_iter()
            .map(|m| match m {
                WireMessage::Text(b) => engine_io::Str::from_utf8(b)
                    .ok()
                    .map(engine_io::Message::Text),
                WireMessage::Binary(b) => Some(engine_io::Message::Binary(b)),
            })
            .collect()
    };
    Some(Handover {
        sid: String::from_utf8(h.sid.to_vec()).ok()?,
        protocol: match h.protocol {
            3 => engine_io::ProtocolVersion::V3,
            4 => engine_io::ProtocolVersion::V4,
            _ => return None,
        },
        uri: http::Uri::from_maybe_shared(h.uri).ok()?,
        headers: header_map(h.headers),
        remote_addr: h.remote_addr,
        outgoing: messages(h.outgoing)?,
        incoming: messages(h.incoming)?,
    })
}

/// A tunnel end's messages to the other node, all the way `via` (a direct
/// link, or Redis): one path keeps the tunnel's bytes in order.
fn tunnel_sender(
    inner: &Arc<Inner>,
    peer: NodeId,
    id: u64,
    via: Option<Arc<PeerLink>>,
) -> impl Fn(Body) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
    let inner = inner.clone();
    move |body| {
        let inner = inner.clone();
        let via = via.clone();
        Box::pin(async move {
            let msg = Message {
                from: inner.node,
                id,
                body,
            };
            inner
                .publish_via(via.as_ref(), peer, msg.encode(), true)
                .await
        })
    }
}

/// A session this node asked to take over (see `Inner::arriving`).
struct Arriving<'a> {
    inner: &'a Inner,
    sid: String,
}

impl<'a> Arriving<'a> {
    /// `None` when an upgrade of that session is asked already.
    fn new(inner: &'a Inner, sid: &str) -> Option<Arriving<'a>> {
        inner
            .arriving
            .lock()
            .insert(sid.to_owned())
            .then(|| Arriving {
                inner,
                sid: sid.to_owned(),
            })
    }
}

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        self.inner.arriving.lock().remove(&self.sid);
    }
}

/// Forgets a tunnel whose connection never came (the client left before
/// the 101 was through).
struct TunnelGuard {
    inner: Arc<Inner>,
    opened: Option<tunnel::Opened>,
    /// The owner opened its end: tell it.
    notify: bool,
    /// The tunnel's path.
    via: Option<Arc<PeerLink>>,
}

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        if let Some(o) = self.opened.take() {
            let (peer, id, _) = o.key;
            if self.inner.tunnels.remove(&o.key) && self.notify {
                let send = tunnel_sender(&self.inner, peer, id, self.via.take());
                tokio::spawn(send(Body::TunnelClose {
                    dir: crate::message::Dir::FromOpener,
                }));
            }
        }
    }
}

impl Inner {
    /// The opener's side: a WebSocket for a session another node owns
    /// reached this node. Asks the owner, which hands the session over or
    /// keeps it (the connection is then relayed through a tunnel).
    pub(super) async fn upgrade(
        self: &Arc<Self>,
        request: ForeignUpgrade,
    ) -> Option<UpgradeAnswer> {
        let owner = self.route(&request.sid)?;
        let uri = Bytes::copy_from_slice(wire_uri(&request.parts.uri));
        let (mut waiting, mut replies) = self.register(owner)?;
        let id = waiting.id;
        let _arriving = Arriving::new(self, &request.sid)?;
        // The tunnel's path, for good: the link to the owner if it is up.
        let via = self.ask_link(owner);
        waiting.via = via.clone();
        // Registered before the owner can answer, so no tunnel byte is missed.
        let opened = self
            .tunnels
            .open((owner, id, Role::Opener), via.as_ref().map(|l| l.id()))?;
        let mut guard = TunnelGuard {
            inner: self.clone(),
            opened: Some(opened),
            notify: false,
            via: via.clone(),
        };
        let msg = Message {
            from: self.node,
            id,
            body: Body::Upgrade {
                uri,
                headers: raw_headers(&request.parts.headers),
            },
        };
        let timeout = self.config.response_timeout;
        let sent = self.publish_via(via.as_ref(), owner, msg.encode(), true);
        if !tokio::time::timeout(timeout, sent).await.unwrap_or(false) {
            return None;
        }
        let reply = match tokio::time::timeout(timeout, replies.recv()).await {
            Ok(Some(reply)) => reply,
            Ok(None) => return None,
            Err(_) => {
                tracing::debug!(sid = %request.sid, %owner, "engine.io cluster: the owner did not answer the upgrade in time");
                // Noted before the request is forgotten: an answer after
                // this is given back by `Pending::deliver` and finds the note.
                self.expect_late(owner, id, &request.sid, via.as_ref().map(|l| l.id()));
                self.pending.remove(id);
                let reply = replies.try_recv().ok()?;
                self.late.lock().remove(&(owner, id));
                reply
            }
        };
        match reply {
            Reply::Handover(h) => {
                let h = from_wire(*h).filter(|h| h.sid == request.sid)?;
                let server = self.server.lock().clone()?;
                let socket = server.adopt(h)?;
                self.counters.taken_over.fetch_add(1, Ordering::Relaxed);
                Some(UpgradeAnswer::Takeover(socket))
            }
            Reply::Proxied => {
                self.counters.tunnels.fetch_add(1, Ordering::Relaxed);
                // From now on the owner runs a tunnel end: tell it if ours never starts.
                guard.notify = true;
                Some(UpgradeAnswer::Proxy(Box::new(move |io| {
                    let Some(opened) = guard.opened.take() else {
                        return;
                    };
                    let inner = guard.inner.clone();
                    let send = tunnel_sender(&inner, owner, id, guard.via.take());
                    tokio::spawn(async move {
                        tunnel::pump(&inner.tunnels, opened, io, send).await;
                    });
                })))
            }
            Reply::Accepted | Reply::Response { .. } => None,
        }
    }

    /// Notes that upgrade `id` of `sid`, asked of `owner`, may still be
    /// answered (bounded: expired notes go first; when full of live ones,
    /// none is kept).
    fn expect_late(&self, owner: NodeId, id: u64, sid: &str, way: Option<u64>) {
        let mut late = self.late.lock();
        let now = tokio::time::Instant::now();
        if late.len() >= self.config.max_foreign {
            late.retain(|_, l| l.until > now);
        }
        if late.len() < self.config.max_foreign {
            let note = Late {
                sid: sid.to_owned(),
                way,
                until: now + LATE_FOR,
            };
            late.insert((owner, id), note);
        }
    }

    /// Whether an upgrade of `sid` may still be answered late.
    pub(super) fn late_for(&self, sid: &str) -> bool {
        let late = self.late.lock();
        !late.is_empty() && late.values().any(|l| l.sid == sid)
    }

    /// An upgrade's answer that came after its WebSocket was refused: a
    /// session handed over is adopted (the client goes on polling, through
    /// the old owner's relay, on this node); a tunnel opened for nothing is
    /// closed. Anything else, or an answer nobody asked for, is dropped.
    pub(super) fn on_late_answer(
        self: &Arc<Self>,
        from: NodeId,
        id: u64,
        answer: Reply,
        via: Option<&Arc<PeerLink>>,
    ) {
        let noted = self.late.lock().remove(&(from, id));
        let now = tokio::time::Instant::now();
        let Some(note) = noted.filter(|n| n.until > now && n.way == via.map(|l| l.id())) else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match answer {
            Reply::Handover(h) => {
                let server = self.server.lock().clone();
                let adopted = from_wire(*h)
                    .filter(|h| h.sid == note.sid)
                    .zip(server)
                    .and_then(|(h, server)| server.adopt(h));
                tracing::debug!(sid = %note.sid, %from, adopted = adopted.is_some(), "engine.io cluster: a late handover");
                match adopted {
                    Some(_) => self.counters.taken_over.fetch_add(1, Ordering::Relaxed),
                    None => self.counters.lost.fetch_add(1, Ordering::Relaxed),
                };
            }
            Reply::Proxied => {
                let send = tunnel_sender(self, from, id, via.cloned());
                tokio::spawn(send(Body::TunnelClose {
                    dir: crate::message::Dir::FromOpener,
                }));
            }
            Reply::Accepted | Reply::Response { .. } => {}
        }
    }

    /// Remembers that `sid` moved to `to` (bounded: expired entries go
    /// first; when full of live ones, the session is not relayed).
    pub(super) fn set_moved(&self, sid: String, to: NodeId) {
        let mut moved = self.moved.lock();
        let now = tokio::time::Instant::now();
        if moved.len() >= self.config.max_foreign {
            moved.retain(|_, (_, until)| *until > now);
        }
        if moved.len() < self.config.max_foreign {
            moved.insert(sid, (to, now + MOVED_FOR));
        }
    }

    /// The owner's side of an upgrade another node received. Never awaits.
    pub(super) fn on_upgrade(
        self: &Arc<Self>,
        from: NodeId,
        id: u64,
        uri: Bytes,
        headers: RawHeaders,
        via: Option<Arc<PeerLink>>,
    ) {
        if from == self.node {
            return;
        }
        let Some(server) = self.server.lock().clone() else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Ok(uri) = http::Uri::from_maybe_shared(uri) else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut req = Request::new(());
        *req.uri_mut() = uri;
        *req.headers_mut() = header_map(headers);
        let (parts, ()) = req.into_parts();
        let sid = sid_of(&parts.uri).map(str::to_owned);
        // Only the owner named in the sid answers (a forged upgrade for a
        // session another node owns, or one that moved, finds nothing here).
        // Bounded like the requests of other nodes (refusals too: a flood of
        // forged upgrades cannot spawn without bound).
        let Ok(permit) = self.foreign_slots.clone().try_acquire_owned() else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let answer = match sid.as_deref() {
            Some(sid) if NodeId::of_sid(sid) == Some(self.node) => self
                .tunnels
                .open((from, id, Role::Owner), via.as_ref().map(|l| l.id()))
                .map(|opened| (parts, opened)),
            _ => None,
        };
        let send = tunnel_sender(self, from, id, via);
        let inner = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Only a live node gets a session or a tunnel: a forged node id
            // must not make a session leave (one Redis round trip per upgrade).
            let alive = answer.is_some() && {
                let asker = [channel(&inner.config.channel_prefix, from)];
                matches!(inner.link.numsub(&asker).await.as_deref(), Ok([n]) if *n > 0)
            };
            let answer = match answer {
                Some((_, opened)) if !alive => {
                    inner.tunnels.remove(&opened.key);
                    inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some((parts, opened)) => {
                    // Where requests go once the session is gone from here (set
                    // first: no request may find it neither here nor moved).
                    let sid = sid.clone().unwrap_or_default();
                    inner.set_moved(sid.clone(), from);
                    let answer = server.serve_foreign_upgrade(&parts);
                    if !matches!(answer, Some(OwnerUpgrade::Takeover(_))) {
                        inner.moved.lock().remove(&sid);
                    }
                    Some((answer, opened))
                }
                None => None,
            };
            let decision = match &answer {
                Some((Some(OwnerUpgrade::Takeover(_)), _)) => "handed over",
                Some((Some(OwnerUpgrade::Tunnel(_)), _)) => "tunneled",
                _ => "refused",
            };
            tracing::debug!(?sid, %from, "engine.io cluster: upgrade from another node {decision}");
            match answer {
                Some((Some(OwnerUpgrade::Takeover(h)), opened)) => {
                    inner.tunnels.remove(&opened.key);
                    inner.counters.handed_over.fetch_add(1, Ordering::Relaxed);
                    if !send(Body::Handover(to_wire(h))).await {
                        // The session left with a node that is gone.
                        inner.counters.lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some((Some(OwnerUpgrade::Tunnel(io)), opened)) => {
                    inner.counters.tunnels.fetch_add(1, Ordering::Relaxed);
                    if send(Body::Proxied).await {
                        tunnel::pump(&inner.tunnels, opened, io, send).await;
                    } else {
                        inner.tunnels.remove(&opened.key);
                    }
                }
                other => {
                    if let Some((None, opened)) = other {
                        inner.tunnels.remove(&opened.key);
                    }
                    let refusal = Body::Response {
                        status: 400,
                        headers: crate::message::HeaderBlock::default(),
                        body: Bytes::new(),
                    };
                    send(refusal).await;
                }
            }
        });
    }
}
