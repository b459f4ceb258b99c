//! An Engine.IO cluster over Redis in which **any node serves any HTTP
//! long-polling request of any session**: behind a round-robin load balancer
//! (an AWS ALB without stickiness, HAProxy `balance roundrobin` without a
//! cookie) clients that keep no cookies — mobile SDKs, Node.js and Python
//! scripts, curl, IoT devices — work.
//!
//! The design follows the reference's `@socket.io/cluster-engine` (package
//! `packages/socket.io-cluster-engine` of the socket.io monorepo): a node that
//! gets a request for a session it does not hold borrows the session from
//! its owner for that one request. It goes further in three ways:
//! * **Routed, not broadcast.** Every sid starts with its owner's
//!   [`NodeId`] (8 characters, then 20 random ones: 120 bits), so a foreign
//!   request is one message to the owner.
//! * **Node to node.** The messages between nodes travel over direct TCP
//!   links between them ([`ClusterConfig::direct_links`], on by default):
//!   each node listens, advertises its address in Redis, and opens one link
//!   to each node it has requests for; the answers come back on it. A
//!   foreign request then costs a write and a read on each node, where over
//!   Redis pub/sub it crossed Redis twice. Redis keeps what it is good at:
//!   membership (each node's channel), the addresses, and the fallback path
//!   — with no address, a refused link, or links off, a message goes on
//!   the owner's Redis channel as before.
//! * **Batched.** The owner runs the request against the session as if it
//!   were local — the session's own rules apply: one GET and one POST at a
//!   time, close, upgrade — and sends back the whole answer (for a GET, the
//!   drained payload) in one message.
//! * **Fail fast.** A request for a dead node's session is answered 400
//!   `{"code":1,"message":"Session ID unknown"}` at once when the direct
//!   link to the owner breaks or Redis reports no
//!   subscriber on the owner's channel, within
//!   [`ClusterConfig::response_timeout`] when the owner does not answer, and a
//!   long-poll already waiting on an owner that dies is failed by a liveness
//!   check every `response_timeout`. The client's reconnection then lands on
//!   a live node.
//!
//! A WebSocket opened with its own handshake lives on the node its
//! connection reached. The upgrade of a polling session that reaches a node
//! other than the owner goes as in the reference:
//! * **Takeover** while the session is young: a polling session's
//!   `connection` is delayed by [`ClusterConfig::connect_delay`] (300 ms), and
//!   an upgrade within it moves the session — the owner hands it over with
//!   its queued messages and the ones the client sent meanwhile, forgets it
//!   without a close, and answers a waiting poll with a noop; the new node
//!   serves it from then on. Requests still addressed to the old owner by
//!   the sid's prefix (polls sent before the switch) are relayed by it to
//!   the new node for 30 s; after that they get "Session ID unknown".
//! * **Proxy** otherwise: the owner keeps the session and runs the
//!   WebSocket over one end of a tunnel; the node the client reached relays
//!   the connection's bytes, unframed, both ways (one Redis message per read
//!   of what the other side flushed). Each side sends at most 256 KiB that
//!   the other has not acknowledged, so a slow client stalls the owner's
//!   WebSocket writer and its session queue's slow-consumer rules apply. The
//!   tunnel ends with either side, and with the owner's death (the liveness
//!   check).
//!
//! Every message between nodes is hostile input: garbage is dropped (on a
//! direct link, so is the link: a bad hello, an oversized frame, a message
//! that names another sender or travels the wrong way), replies
//! from a node other than the request's owner are ignored, requests naming
//! sessions the node does not hold are answered "Session ID unknown", a
//! session is handed over or tunneled only to a node subscribed to its
//! channel, tunnel bytes beyond the sender's credit close the tunnel, and
//! the number of requests in flight each way is bounded
//! ([`ClusterConfig::max_pending`], [`ClusterConfig::max_foreign`]). A slow
//! foreign reader is a slow consumer of its session like a slow local one:
//! the session's outgoing queue is drained only when its GET arrives.
//!
//! # Module map
//! | concept | module |
//! | --- | --- |
//! | the node: borrowing and owner sides | `engine` |
//! | a foreign polling request on its way to the owner and back | `engine::borrow` |
//! | the Redis link's reports, the liveness check, advertising | `engine::health` |
//! | a WebSocket on a non-owner: takeover or proxy; relaying a moved session | `engine::takeover` |
//! | which headers and which sid a foreign request carries | `engine::headers` |
//! | a node's options and counters | `engine::config` |
//! | the messages between nodes and their codec | [`message`] |
//! | where a message to a node goes (direct link or Redis); the links' side of the node | `engine::route` |
//! | direct TCP links between nodes: listener, hello, framing, writes | `peer` |
//! | the node's Redis connection | `link` |
//! | the RESP3 codec of that connection | [`resp`] |
//! | the requests waiting on their owners | `pending` |
//! | proxied WebSockets: tunnels and their flow control | `tunnel` |
//! | node ids and sids | `node_id` |
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), engine_io_cluster::ClusterError> {
//! use engine_io_cluster::{ClusterConfig, ClusterEngine};
//!
//! let cluster = ClusterEngine::connect("redis://127.0.0.1:6379", ClusterConfig::default()).await?;
//! let config = engine_io::Config::builder().cluster(cluster.hook()).build();
//! let server = engine_io::Server::new_stream(config);
//! // The node now serves the sessions it owns to the other nodes.
//! cluster.attach(server.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! server.serve(listener).await?;
//! # Ok(())
//! # }
//! ```
//!
//! With Socket.IO, `socketio-server`'s feature `cluster-engine` plugs a
//! [`ClusterEngine`] into its builder next to the Redis adapter, on the same
//! Redis.

#![warn(missing_docs)]

mod engine;
mod link;
pub mod message;
mod node_id;
mod peer;
mod pending;
pub mod resp;
#[cfg(test)]
mod test_redis;
mod tunnel;

pub use engine::{ClusterConfig, ClusterEngine, ClusterStats};
pub use node_id::{NodeId, NODE_ID_LEN};

/// Why a cluster node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis could not be reached, or refused a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A configured node id is not 8 characters of `A-Z a-z 0-9 - _`.
    #[error("invalid node id {0:?}: 8 characters of A-Z a-z 0-9 - _")]
    InvalidNodeId(String),
    /// I/O (in the crate's example; the cluster's own, Redis and the peer
    /// links, is survived, not reported).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
