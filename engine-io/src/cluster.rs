//! [`Cluster`]: the hook through which the nodes of a cluster serve each
//! other's sessions, so that a load balancer needs no sticky sessions.
//!
//! A cluster node (crate `engine-io-cluster`) plugs in through
//! [`Config::cluster`](crate::Config::cluster). The server then consults it at
//! two points, and only there:
//! * when it creates a session, for the sid's prefix (the node's id), so that
//!   any node can tell from a sid alone which node owns the session;
//! * when a polling request names an sid this server does not hold: the
//!   cluster carries the request to the owner, which runs it through its own
//!   [`Server::serve_foreign`](crate::Server::serve_foreign) — the session's
//!   own rules (one GET and one POST at a time, close, upgrade noop) apply
//!   there as for a local request — and the answer comes back.
//!
//! Without a cluster nothing changes: sids are 20 random characters and an
//! unknown sid is answered 400 "Session ID unknown".

use crate::body::ResponseBody;
use bytes::Bytes;
use http::Response;
use std::future::Future;
use std::pin::Pin;

/// The future of [`Cluster::forward`]: the owner's answer, or `None`.
pub type ForwardFuture = Pin<Box<dyn Future<Output = Option<Response<ResponseBody>>> + Send>>;

/// A polling request (GET or POST) naming a session this node does not hold.
#[derive(Debug)]
pub struct ForeignRequest {
    /// The session id the request names.
    pub sid: String,
    /// The request line and headers.
    pub parts: http::request::Parts,
    /// The body, already read (at most [`Config::max_http_buffer_size`](crate::Config::max_http_buffer_size) bytes).
    pub body: Bytes,
}

/// A cluster of nodes that serve each other's sessions (see the module docs).
pub trait Cluster: Send + Sync + 'static {
    /// What every sid created on this node starts with (the node's id, in
    /// URL-safe base64 characters). The server appends 20 random characters
    /// (120 bits) to it.
    fn sid_prefix(&self) -> &str;

    /// Serves `request` on the node that owns its session. Resolves to that
    /// node's answer, or to `None` when no live node holds the session: the
    /// request is then answered 400 "Session ID unknown", as for any unknown
    /// sid.
    fn forward(&self, request: ForeignRequest) -> ForwardFuture;
}
