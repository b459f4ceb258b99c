//! Request/response correlation: this node's ephemeral requests (fetch sockets, server-side
//! emit with ack) waiting for the answers of the other nodes, and the answers to its broadcasts
//! with acknowledgements.

use std::time::Duration;

use tokio::sync::mpsc;

use super::StreamsAdapter;
use crate::redis::messages::{random_id, ClusterRequest, ClusterResponse};
use crate::{Adapter, AdapterError, BroadcastOptions, SocketInfo};

impl StreamsAdapter {
    /// Publishes an ephemeral request and waits for `expected` answers (or the timeout).
    pub(super) async fn request(
        &self,
        request_id: &str,
        request: ClusterRequest,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ClusterResponse>, AdapterError> {
        let (tx, mut rx) = mpsc::channel(expected.max(1));
        self.requests.lock().insert(request_id.to_owned(), tx);
        struct Cleanup<'a>(&'a StreamsAdapter, &'a str);
        impl Drop for Cleanup<'_> {
            fn drop(&mut self) {
                self.0.requests.lock().remove(self.1);
            }
        }
        let _cleanup = Cleanup(self, request_id);
        let bytes = self.ephemeral(&request)?;
        self.shared
            .link
            .publish(&self.public, bytes, self.sharded())
            .await?;
        let mut responses = Vec::with_capacity(expected);
        let deadline = tokio::time::Instant::now() + timeout;
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => responses.push(r),
                Ok(None) | Err(_) => {
                    return Err(AdapterError::Timeout {
                        received: responses.len(),
                        expected,
                    })
                }
            }
        }
        Ok(responses)
    }

    pub(super) async fn other_nodes(&self) -> Result<usize, AdapterError> {
        Ok(self.server_count().await?.saturating_sub(1))
    }

    pub(super) async fn fetch_remote(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(Vec::new());
        }
        let timeout = opts
            .flags
            .timeout
            .unwrap_or(self.shared.config.request_timeout);
        let request_id = random_id(12);
        let request = ClusterRequest::FetchSockets {
            request_id: request_id.clone(),
            opts,
        };
        let mut sockets = Vec::new();
        for r in self.request(&request_id, request, others, timeout).await? {
            if let ClusterResponse::FetchSockets { sockets: s, .. } = r {
                sockets.extend(s);
            }
        }
        Ok(sockets)
    }

    pub(super) fn on_response(&self, response: ClusterResponse) {
        match response {
            ClusterResponse::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                if let Some(sink) = self.ack_requests.lock().get(&request_id) {
                    sink.client_count(usize::try_from(client_count).unwrap_or(usize::MAX));
                }
            }
            ClusterResponse::BroadcastAck { request_id, packet } => {
                if let Some(sink) = self.ack_requests.lock().get(&request_id) {
                    sink.ack(vec![packet]);
                }
            }
            other => {
                if let Some(tx) = self.requests.lock().get(other.request_id()) {
                    // A full channel means more answers than nodes were counted.
                    let _ = tx.try_send(other);
                }
            }
        }
    }
}
