//! Request/response correlation: this node's requests waiting for the answers of the other
//! nodes, and its broadcasts with acknowledgements whose answers go to a [`BroadcastAckSink`].

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::redis::classic::RequestType;
use crate::redis::messages::ClusterResponse;
use crate::{AdapterError, BroadcastAckSink};

/// A request waiting for the answers of other nodes.
struct Pending {
    ty: RequestType,
    tx: mpsc::Sender<ClusterResponse>,
}

/// The open requests of one adapter, by request id.
#[derive(Default)]
pub(super) struct Correlation {
    requests: Mutex<HashMap<String, Pending>>,
    ack_requests: Mutex<HashMap<String, BroadcastAckSink>>,
}

impl Correlation {
    /// Whether `request_id` is one of this node's requests (a node does not answer itself).
    pub(super) fn is_ours(&self, request_id: &str) -> bool {
        self.requests.lock().contains_key(request_id)
            || self.ack_requests.lock().contains_key(request_id)
    }

    /// The type of an open request: the classic format needs it to decode the answers.
    pub(super) fn kind_of(&self, request_id: &str) -> Option<RequestType> {
        self.requests.lock().get(request_id).map(|p| p.ty)
    }

    /// Opens a request expecting `expected` answers; it is closed when the [`Waiter`] is
    /// dropped, however the caller ends (error, timeout, cancellation).
    pub(super) fn open<'a>(
        &'a self,
        request_id: &'a str,
        ty: RequestType,
        expected: usize,
    ) -> Waiter<'a> {
        let (tx, rx) = mpsc::channel(expected.max(1));
        self.requests
            .lock()
            .insert(request_id.to_owned(), Pending { ty, tx });
        Waiter {
            correlation: self,
            request_id,
            rx,
            expected,
        }
    }

    /// Routes the client counts and acknowledgements of broadcast `request_id` to `sink`.
    pub(super) fn open_ack(&self, request_id: String, sink: BroadcastAckSink) {
        self.ack_requests.lock().insert(request_id, sink);
    }

    /// Forgets broadcast `request_id`: later answers are dropped.
    pub(super) fn close_ack(&self, request_id: &str) {
        self.ack_requests.lock().remove(request_id);
    }

    /// Hands an answer from another node to whoever waits for it; answers to no open request
    /// are dropped.
    pub(super) fn dispatch(&self, response: ClusterResponse) {
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
                let requests = self.requests.lock();
                if let Some(pending) = requests.get(other.request_id()) {
                    // A full channel means more answers than nodes were counted: extra ones
                    // are dropped.
                    let _ = pending.tx.try_send(other);
                }
            }
        }
    }
}

/// The answers of one open request.
pub(super) struct Waiter<'a> {
    correlation: &'a Correlation,
    request_id: &'a str,
    rx: mpsc::Receiver<ClusterResponse>,
    expected: usize,
}

impl Waiter<'_> {
    /// Waits for the expected number of answers, up to `timeout`.
    pub(super) async fn collect(
        mut self,
        timeout: Duration,
    ) -> Result<Vec<ClusterResponse>, AdapterError> {
        let mut responses = Vec::with_capacity(self.expected);
        let deadline = tokio::time::Instant::now() + timeout;
        while responses.len() < self.expected {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(r)) => responses.push(r),
                Ok(None) | Err(_) => {
                    return Err(AdapterError::Timeout {
                        received: responses.len(),
                        expected: self.expected,
                    })
                }
            }
        }
        Ok(responses)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.correlation.requests.lock().remove(self.request_id);
    }
}
