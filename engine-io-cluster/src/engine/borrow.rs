//! The borrowing side of a foreign polling request: it is sent to the
//! session's owner as soon as the server hands it over ([`Inner::send_request`]),
//! then the request's future only waits for the answer
//! ([`Inner::answer_of`]) and turns it into the HTTP response. Sent before
//! the future rather than from it: the request's parts are then read where
//! they are, never moved into the future's state (a future is moved a few
//! times on its way into its box).

use super::headers::{wire_pairs, wire_uri};
use super::health::ANSWER_TICKS;
use super::Inner;
use crate::message::{Body, HeaderBlock, Message, Method};
use crate::peer::PeerLink;
use crate::pending::{Replies, Reply};
use crate::NodeId;
use bytes::Bytes;
use engine_io::{ForeignRequest, ResponseBody};
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Forgets a forwarded request when its future ends; if the client went away
/// before the answer, tells the owner to drop the request.
pub(super) struct Waiting {
    inner: Arc<Inner>,
    owner: NodeId,
    pub(super) id: u64,
    /// The owner answered a request lately ([`crate::pending::Pending::register`]).
    owner_heard: bool,
    /// The direct link the request went over, if any (its abort goes the same way).
    pub(super) via: Option<Arc<PeerLink>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.inner.pending.remove(self.id) && self.inner.link.is_up() {
            let msg = Message {
                from: self.inner.node,
                id: self.id,
                body: Body::Abort,
            };
            self.inner
                .send_via(self.via.as_ref(), self.owner, msg.encode(), None);
        }
    }
}

/// A polling request sent to its owner: what its answer arrives on.
pub(super) struct Sent {
    waiting: Waiting,
    replies: Replies,
}

impl Inner {
    /// A new request to `owner`: its id (in the guard, which forgets it, and
    /// tells the owner if it was still waiting, when dropped) and where its
    /// replies arrive. `None` when too many requests wait already.
    pub(super) fn register(self: &Arc<Self>, owner: NodeId) -> Option<(Waiting, Replies)> {
        self.register_until(owner, None)
    }

    /// [`Inner::register`], failed by the liveness check after `ticks` of it
    /// (see [`crate::pending::Pending::register`]).
    fn register_until(
        self: &Arc<Self>,
        owner: NodeId,
        ticks: Option<u64>,
    ) -> Option<(Waiting, Replies)> {
        let (id, replies, owner_heard) = self.pending.register(owner, ticks)?;
        let waiting = Waiting {
            inner: self.clone(),
            owner,
            id,
            owner_heard,
            via: None,
        };
        Some((waiting, replies))
    }

    /// Sends a polling request (`parts` and `body`) to `owner`. `None`: not
    /// a GET or POST, or too many requests wait already.
    pub(super) fn send_request(
        self: &Arc<Self>,
        owner: NodeId,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<Sent> {
        let method = match parts.method {
            http::Method::GET => Method::Get,
            http::Method::POST => Method::Post,
            _ => return None,
        };
        // No timer per request: the liveness check fails it if the owner
        // neither answers nor accepts it within `response_timeout` (to 1.5×).
        let (mut waiting, replies) = self.register_until(owner, Some(ANSWER_TICKS))?;
        let id = waiting.id;
        let msg = Message::encode_request(
            self.node,
            id,
            method,
            wire_uri(&parts.uri),
            || wire_pairs(&parts.headers),
            body,
        );
        // Not awaited: the owner's answer is what this request waits for.
        // Nobody listening on the owner's channel (it is dead, or never
        // was) fails the request at once; so does a publication that
        // cannot be queued. An owner that answered lately is not asked
        // about: Redis then sends this node no reply (one wake-up less per
        // request), and if the owner died since, the request fails on the
        // timeout below or the liveness check, within `response_timeout`.
        let unheard = (!waiting.owner_heard).then(|| {
            let inner = self.clone();
            Box::new(move |heard: bool| {
                if !heard {
                    inner.pending.remove(id);
                }
            }) as crate::link::Then
        });
        waiting.via = self.ask_link(owner);
        self.send_via(waiting.via.as_ref(), owner, msg, unheard);
        Some(Sent { waiting, replies })
    }

    /// Waits for the answer to `sent` (a request for session `sid`). `None`:
    /// answer "Session ID unknown".
    pub(super) async fn answer_of(&self, sent: Sent, sid: &str) -> Option<Response<ResponseBody>> {
        let Sent {
            waiting,
            mut replies,
        } = sent;
        let owner = waiting.owner;
        // The owner answers or says it serves the request within the timeout;
        // then a long-poll may wait up to a heartbeat, watched by the liveness check.
        match replies.recv().await {
            Some(Reply::Response {
                status,
                headers,
                body,
            }) => return self.response(status, headers, body),
            Some(Reply::Accepted) => {}
            // An upgrade's answer to a polling request: a confused or forged
            // owner; `None`: no answer in time, or the owner is gone.
            Some(Reply::Handover(_) | Reply::Proxied) | None => {
                tracing::debug!(%sid, %owner, "engine.io cluster: no answer from the owner");
                return None;
            }
        }
        let wait = self.long_poll_bound();
        match tokio::time::timeout(wait, replies.recv()).await {
            Ok(Some(Reply::Response {
                status,
                headers,
                body,
            })) => self.response(status, headers, body),
            _ => {
                tracing::debug!(%sid, %owner, "engine.io cluster: an accepted request got no answer");
                None
            }
        }
    }

    /// Carries `request` to `owner` and waits for its answer.
    pub(super) async fn forward_to(
        self: &Arc<Self>,
        owner: NodeId,
        request: ForeignRequest,
    ) -> Option<Response<ResponseBody>> {
        let ForeignRequest { sid, parts, body } = request;
        let sent = self.send_request(owner, &parts, &body)?;
        drop((parts, body));
        self.answer_of(sent, &sid).await
    }

    /// How long an accepted request may wait for its answer: the owner
    /// answers a GET at the latest with the next ping.
    fn long_poll_bound(&self) -> Duration {
        let server = self.server.lock().clone();
        let heartbeat = server.map_or(Duration::from_secs(60), |s| {
            s.config().ping_interval + s.config().ping_timeout
        });
        heartbeat + self.config.response_timeout
    }

    /// The owner's answer as an HTTP response; `None` if it is not a valid one.
    fn response(
        &self,
        status: u16,
        headers: HeaderBlock,
        body: Bytes,
    ) -> Option<Response<ResponseBody>> {
        response(status, self.answer_headers.header_map(&headers), body)
    }
}

/// An HTTP response of `status`; `None` if it is not a valid one.
fn response(status: u16, headers: http::HeaderMap, body: Bytes) -> Option<Response<ResponseBody>> {
    let status = StatusCode::from_u16(status).ok()?;
    let mut res = Response::new(http_body_util::Full::new(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_statuses_are_no_answer() {
        let none = http::HeaderMap::new;
        assert!(response(200, none(), Bytes::new()).is_some());
        assert!(response(1000, none(), Bytes::new()).is_none());
        assert!(response(0, none(), Bytes::new()).is_none());
    }
}
