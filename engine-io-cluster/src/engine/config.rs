//! The options of a cluster node and the counters it reports.

use std::time::Duration;

/// Options of a cluster node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Prefix of the nodes' channels (`<prefix>#<node id>`). Default
    /// `engine.io-cluster`. Every node of one cluster uses the same.
    pub channel_prefix: String,
    /// This node's id; `None` (default): a random one. See [`NodeId`](crate::NodeId).
    pub node_id: Option<String>,
    /// How long the owner may take to take up a request (answer it, or say
    /// it is serving it) before the request is answered "Session ID unknown"
    /// (checked twice per this period, so after 1 to 1.5 times it); the
    /// liveness check of owners that long-polls wait on runs as often.
    /// Default 500 ms (the reference waits 1000 ms for a lock).
    pub response_timeout: Duration,
    /// The most foreign requests this node may wait on at once; beyond it a
    /// foreign request is answered "Session ID unknown". Default 10 000.
    pub max_pending: usize,
    /// The most requests of other nodes this node serves at once; beyond it
    /// a request is dropped (its node answers "Session ID unknown" after
    /// `response_timeout`). Proxied WebSockets count against it too.
    /// Default 10 000.
    pub max_foreign: usize,
    /// How long a new polling session waits before the handler sees it,
    /// so that an early upgrade reaching another node moves the session
    /// there (takeover) instead of being proxied; `None`: no delay (every
    /// upgrade on another node is then proxied). Default 300 ms, as the
    /// reference.
    pub connect_delay: Option<Duration>,
    /// Whether the messages between nodes travel over direct TCP links
    /// between them (Redis then carries only membership, the nodes'
    /// addresses and the fallback path). Default `true`. Without them, or
    /// when a node cannot be reached directly, they go over Redis pub/sub.
    pub direct_links: bool,
    /// Where this node listens for the other nodes' links. Default: the IP
    /// of this node's connection to Redis (one the other nodes reach in the
    /// usual deployments: the same network as Redis), any free port. With a
    /// `rediss://` or `unix:` Redis URL there is no such IP: set it (or
    /// `peer_advertise`) for direct links there.
    pub peer_listen: Option<std::net::SocketAddr>,
    /// The address the other nodes connect to (behind NAT, a container's
    /// published port). Default: where the node listens (with the IP of
    /// its Redis connection when it listens on every interface).
    pub peer_advertise: Option<std::net::SocketAddr>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            channel_prefix: "engine.io-cluster".to_owned(),
            node_id: None,
            response_timeout: Duration::from_millis(500),
            max_pending: 10_000,
            max_foreign: 10_000,
            connect_delay: Some(Duration::from_millis(300)),
            direct_links: true,
            peer_listen: None,
            peer_advertise: None,
        }
    }
}

/// Counters of a node, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Requests this node carried to their owners and got an answer for.
    pub forwarded: u64,
    /// Foreign requests answered "Session ID unknown" because no live node
    /// held the session (dead owner, Redis down, forged node id, timeout).
    pub unknown: u64,
    /// Requests of other nodes this node served.
    pub served: u64,
    /// Messages on this node's channel that were not valid messages.
    pub garbage: u64,
    /// Requests of other nodes dropped: over [`ClusterConfig::max_foreign`],
    /// duplicates, or before [`ClusterEngine::attach`](crate::ClusterEngine::attach).
    pub dropped: u64,
    /// Answers lost because the node that asked was gone (the session was
    /// then closed, so that nothing is lost silently).
    pub lost: u64,
    /// Sessions this node took over from their owner (an early upgrade).
    pub taken_over: u64,
    /// Sessions this node handed over to the node their upgrade reached.
    pub handed_over: u64,
    /// WebSockets relayed through a tunnel (counted on both ends).
    pub tunnels: u64,
    /// Messages this node sent to other nodes over a direct link.
    pub sent_direct: u64,
    /// Messages this node sent to other nodes over Redis pub/sub.
    pub sent_redis: u64,
    /// Direct links to other nodes that this node opened.
    pub links_opened: u64,
    /// Direct links (either side) that failed or were closed.
    pub links_lost: u64,
    /// Writes (system calls) on the direct links: `sent_direct` over it
    /// is how many messages a write carries.
    pub link_writes: u64,
}
