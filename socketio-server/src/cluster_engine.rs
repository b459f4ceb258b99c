//! Feature `cluster-engine`: plugs an [`engine_io_cluster::ClusterEngine`] into the builder, so
//! that any node of the cluster serves any polling request of any session (no sticky sessions).

use crate::SocketIoBuilder;
use engine_io_cluster::ClusterEngine;

impl SocketIoBuilder {
    /// Makes the server a node of an Engine.IO cluster: sids carry this node's id, polling
    /// requests for sessions of other nodes are carried to them, and this node serves its own
    /// sessions to the others once built. Pair it with a Redis adapter on the same Redis, so
    /// that broadcasts reach every node too.
    ///
    /// WebSocket upgrades reaching another node take a young session over or are proxied
    /// to its owner (see the `engine-io-cluster` docs). For that, a polling session reaches
    /// the Socket.IO layer [`ClusterConfig::connect_delay`](engine_io_cluster::ClusterConfig)
    /// (300 ms) after its handshake: its namespace `connection` handlers run that much later,
    /// and the CONNECT packets the client sent meanwhile are handled then, in order. Sessions
    /// opened over WebSocket, and servers without a cluster engine, connect at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use engine_io_cluster::{ClusterConfig, ClusterEngine};
    /// use socketio_server::SocketIo;
    ///
    /// let cluster = ClusterEngine::connect("redis://127.0.0.1:6379", ClusterConfig::default()).await?;
    /// let io = SocketIo::builder().cluster_engine(cluster).build();
    /// # drop(io);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster_engine(mut self, cluster: ClusterEngine) -> Self {
        self.engine.cluster = Some(cluster.hook());
        self.cluster_engine = Some(cluster);
        self
    }
}
