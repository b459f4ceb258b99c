//! What the two Redis cluster adapters (pub/sub [`RedisAdapter`](super::RedisAdapter) and
//! Streams `StreamsAdapter`) do the same way, whatever their wire format:
//!
//! - [`Correlation`]: this node's requests waiting for the answers of the other nodes, and its
//!   broadcasts with acknowledgements whose answers go to a [`BroadcastAckSink`];
//! - [`ClusterNode`]: asking the other nodes, and answering their commands, server-side emits
//!   and broadcasts with acknowledgements.
//!
//! Each adapter keeps its own encoding (how a request becomes bytes, and on which channel):
//! this module only builds and reads the format-independent [`ClusterRequest`] and
//! [`ClusterResponse`], so the bytes on the wire are each adapter's, as before.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::Duration;

use parking_lot::Mutex;
use socketio_parser::{Packet, Value};
use tokio::sync::mpsc;

use crate::redis::classic::RequestType;
use crate::redis::messages::{random_id, ClusterRequest, ClusterResponse, WireError};
use crate::redis::sharded;
use crate::{
    Adapter, AdapterError, BroadcastAckEvent, BroadcastAckSink, BroadcastOptions, RemoteCommand,
    SocketInfo,
};

/// Ack ids an adapter gives to broadcasts requested by other nodes start here, far above the
/// ids the namespace hands out itself, so the two never collide on a socket (JavaScript clients
/// handle ids up to 2^53 exactly).
const REMOTE_ACK_ID_BASE: u64 = 1 << 40;

/// A request waiting for the answers of other nodes.
struct Pending {
    ty: RequestType,
    tx: mpsc::Sender<ClusterResponse>,
}

/// The open requests of one adapter, by request id.
#[derive(Default)]
pub(crate) struct Correlation {
    requests: Mutex<HashMap<String, Pending>>,
    ack_requests: Mutex<HashMap<String, BroadcastAckSink>>,
}

impl Correlation {
    /// Whether `request_id` is one of this node's requests (a node does not answer itself).
    pub(crate) fn is_ours(&self, request_id: &str) -> bool {
        self.requests.lock().contains_key(request_id)
            || self.ack_requests.lock().contains_key(request_id)
    }

    /// The type of an open request: the classic format needs it to decode the answers.
    pub(crate) fn kind_of(&self, request_id: &str) -> Option<RequestType> {
        self.requests.lock().get(request_id).map(|p| p.ty)
    }

    /// Opens a request expecting `expected` answers; it is closed when the [`Waiter`] is
    /// dropped, however the caller ends (error, timeout, cancellation).
    pub(crate) fn open<'a>(
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
    pub(crate) fn open_ack(&self, request_id: String, sink: BroadcastAckSink) {
        self.ack_requests.lock().insert(request_id, sink);
    }

    /// Forgets broadcast `request_id`: later answers are dropped.
    pub(crate) fn close_ack(&self, request_id: &str) {
        self.ack_requests.lock().remove(request_id);
    }

    /// Hands an answer from another node to whoever waits for it; answers to no open request
    /// are dropped.
    pub(crate) fn dispatch(&self, response: ClusterResponse) {
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
pub(crate) struct Waiter<'a> {
    correlation: &'a Correlation,
    request_id: &'a str,
    rx: mpsc::Receiver<ClusterResponse>,
    expected: usize,
}

impl Waiter<'_> {
    /// Waits for the expected number of answers, up to `timeout`.
    pub(crate) async fn collect(
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

/// The cluster state both adapters keep per namespace: the open requests, the ack ids given to
/// other nodes' broadcasts, and how long to wait for answers.
pub(crate) struct NodeCore {
    pub(crate) correlation: Correlation,
    next_ack_id: AtomicU64,
    request_timeout: Duration,
}

impl NodeCore {
    pub(crate) fn new(request_timeout: Duration) -> Self {
        Self {
            correlation: Correlation::default(),
            next_ack_id: AtomicU64::new(REMOTE_ACK_ID_BASE),
            request_timeout,
        }
    }

    /// The timeout of a broadcast with acknowledgements: its own, else the request timeout.
    fn ack_timeout(&self, opts: &BroadcastOptions) -> Duration {
        opts.flags.timeout.unwrap_or(self.request_timeout)
    }
}

/// One namespace's adapter in a Redis cluster: what it must provide (its state, how it sends),
/// and what it then does like every other cluster adapter.
pub(crate) trait ClusterNode: Adapter + Sized + 'static {
    /// The shared cluster state.
    fn core(&self) -> &NodeCore;

    /// The adapter itself, for the tasks that outlive a call.
    fn weak(&self) -> Weak<Self>;

    /// Sends a response to node `requester` (queued, in order with every other message).
    fn respond(&self, requester: Option<&str>, response: &ClusterResponse);

    /// This node's uid and namespace, as the messages carry them.
    fn identity(&self) -> (&str, &str);

    /// Does or answers another node's request.
    fn on_request(&self, requester: Option<&str>, request: ClusterRequest);

    /// A decoded message in the sharded envelope (the sharded format, and the Streams
    /// adapter's pub/sub messages): requests and responses of the other nodes of this
    /// namespace go where they belong; this node's own and malformed ones are dropped.
    fn on_envelope(&self, decoded: Result<sharded::Envelope, WireError>) {
        let (uid, nsp) = self.identity();
        let envelope = match decoded {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(nsp = %nsp, "ignoring a cluster message: {e}");
                return;
            }
        };
        if envelope.uid.as_deref() == Some(uid) || envelope.nsp != nsp {
            return;
        }
        match envelope.message {
            sharded::Incoming::Request(request) => {
                self.on_request(envelope.uid.as_deref(), request)
            }
            sharded::Incoming::Response(response) => self.core().correlation.dispatch(response),
            sharded::Incoming::Other => {}
        }
    }

    /// Publishes a request that expects answers, now (an error means it was not sent).
    fn publish_request(
        &self,
        request: &ClusterRequest,
    ) -> impl Future<Output = Result<(), AdapterError>> + Send;

    /// Asks the other nodes and collects one answer per node, up to `timeout`: the request
    /// is built with a fresh request id. With no other node, nothing is sent.
    fn ask(
        &self,
        ty: RequestType,
        timeout: Duration,
        build: impl FnOnce(String) -> ClusterRequest + Send,
    ) -> impl Future<Output = Result<Vec<ClusterResponse>, AdapterError>> + Send
    where
        Self: Sync,
    {
        async move {
            let others = self.server_count().await?.saturating_sub(1);
            if others == 0 {
                return Ok(Vec::new());
            }
            let request_id = random_id(12);
            let request = build(request_id.clone());
            let waiter = self.core().correlation.open(&request_id, ty, others);
            self.publish_request(&request).await?;
            waiter.collect(timeout).await
        }
    }

    /// The other nodes' sockets targeted by `opts` (a `FETCH_SOCKETS` request, which every
    /// format has).
    fn ask_fetch_sockets(
        &self,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<SocketInfo>, AdapterError>> + Send
    where
        Self: Sync,
    {
        async move {
            let responses = self
                .ask(RequestType::RemoteFetch, timeout, |request_id| {
                    ClusterRequest::FetchSockets { request_id, opts }
                })
                .await?;
            Ok(responses
                .into_iter()
                .flat_map(|r| match r {
                    ClusterResponse::FetchSockets { sockets, .. } => sockets,
                    _ => Vec::new(),
                })
                .collect())
        }
    }

    /// A server-side emit whose handlers' acknowledgements come back: one per other node.
    fn ask_server_side_emit(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<Value>, AdapterError>> + Send
    where
        Self: Sync,
    {
        async move {
            let responses = self
                .ask(RequestType::ServerSideEmit, timeout, |request_id| {
                    ClusterRequest::ServerSideEmit {
                        request_id: Some(request_id),
                        data,
                    }
                })
                .await?;
            Ok(responses
                .into_iter()
                .filter_map(|r| match r {
                    ClusterResponse::ServerSideEmit { data, .. } => Some(data),
                    _ => None,
                })
                .collect())
        }
    }

    /// Opens a broadcast with acknowledgements to the other nodes: their client counts and
    /// answers go to `sink` until the ack timeout (then, as in the reference, they are
    /// forgotten). `publish` sends the request in the adapter's format.
    fn open_broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        sink: &BroadcastAckSink,
        publish: impl FnOnce(&ClusterRequest) -> Result<(), AdapterError>,
    ) -> Result<(), AdapterError> {
        let request_id = random_id(12);
        // Each node gives the packet its own ack id.
        let mut remote = packet.clone();
        remote.id = None;
        let request = ClusterRequest::BroadcastWithAck {
            request_id: request_id.clone(),
            packet: remote,
            opts: opts.clone(),
        };
        let core = self.core();
        core.correlation.open_ack(request_id.clone(), sink.clone());
        let published = publish(&request);
        if published.is_err() {
            core.correlation.close_ack(&request_id);
        } else {
            let this = self.weak();
            let timeout = core.ack_timeout(opts);
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(this) = this.upgrade() {
                    this.core().correlation.close_ack(&request_id);
                }
            });
        }
        published
    }

    /// Does another node's join, leave or disconnect command on the local sockets; gives back
    /// any other request.
    fn apply_command(&self, request: ClusterRequest) -> Option<ClusterRequest> {
        let local = self.local();
        match request {
            ClusterRequest::SocketsJoin { opts, rooms } => {
                for sid in local.local_recipients(&opts) {
                    self.add_all(&sid, &rooms);
                }
            }
            ClusterRequest::SocketsLeave { opts, rooms } => {
                for sid in local.local_recipients(&opts) {
                    for room in &rooms {
                        self.del(&sid, room);
                    }
                }
            }
            ClusterRequest::DisconnectSockets { opts, close } => {
                local.disconnect_sockets_local(&opts, close);
            }
            other => return Some(other),
        }
        None
    }

    /// Answers another node's `FETCH_SOCKETS` with the local sockets, unless it is one of this
    /// node's own requests.
    fn answer_fetch_sockets(
        &self,
        requester: Option<&str>,
        request_id: String,
        opts: &BroadcastOptions,
    ) {
        if !self.core().correlation.is_ours(&request_id) {
            let sockets = self.local().fetch_sockets_local(opts);
            self.respond(
                requester,
                &ClusterResponse::FetchSockets {
                    request_id,
                    sockets,
                },
            );
        }
    }

    /// Hands another node's server-side emit to the namespace; with a request id, the
    /// handler's acknowledgement is sent back to the requester.
    fn on_server_side_emit(
        &self,
        requester: Option<&str>,
        request_id: Option<String>,
        data: Vec<Value>,
    ) {
        let Some(ns) = self.local().namespace() else {
            return;
        };
        let ack = request_id.map(|request_id| {
            let this = self.weak();
            let requester = requester.map(str::to_owned);
            Box::new(move |data: Value| {
                if let Some(this) = this.upgrade() {
                    this.respond(
                        requester.as_deref(),
                        &ClusterResponse::ServerSideEmit { request_id, data },
                    );
                }
            }) as crate::ServerSideAck
        });
        ns.on_server_side_emit(data, ack);
    }

    /// Delivers another node's broadcast with acknowledgements (`packet` already in this
    /// namespace) to the local sockets, reports the client count, then relays each client's
    /// reply until the ack timeout.
    fn answer_broadcast_with_ack(
        &self,
        requester: Option<&str>,
        request_id: String,
        mut packet: Packet,
        opts: BroadcastOptions,
    ) {
        if self.core().correlation.is_ours(&request_id) {
            return;
        }
        packet.id = Some(self.core().next_ack_id.fetch_add(1, Ordering::Relaxed));
        let (sink, mut rx) = BroadcastAckSink::channel();
        let count = self.local().broadcast_with_ack_local(&packet, &opts, &sink);
        drop(sink);
        self.respond(
            requester,
            &ClusterResponse::BroadcastClientCount {
                request_id: request_id.clone(),
                client_count: count as u64,
            },
        );
        if count == 0 {
            return;
        }
        let this = self.weak();
        let requester = requester.map(str::to_owned);
        let timeout = self.core().ack_timeout(&opts);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut relayed = 0;
            while relayed < count {
                let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                    return;
                };
                if let BroadcastAckEvent::Ack(args) | BroadcastAckEvent::AckFrom(_, args) = event {
                    relayed += 1;
                    let Some(this) = this.upgrade() else {
                        return;
                    };
                    this.respond(
                        requester.as_deref(),
                        &ClusterResponse::BroadcastAck {
                            request_id: request_id.clone(),
                            packet: args.into_iter().next().unwrap_or(Value::Null),
                        },
                    );
                }
            }
        });
    }
}

/// The request that carries a command to the other nodes.
pub(crate) fn command_request(command: RemoteCommand) -> ClusterRequest {
    match command {
        RemoteCommand::AddSockets { opts, rooms } => ClusterRequest::SocketsJoin { opts, rooms },
        RemoteCommand::DelSockets { opts, rooms } => ClusterRequest::SocketsLeave { opts, rooms },
        RemoteCommand::DisconnectSockets { opts, close } => {
            ClusterRequest::DisconnectSockets { opts, close }
        }
        RemoteCommand::ServerSideEmit { args } => ClusterRequest::ServerSideEmit {
            request_id: None,
            data: args,
        },
    }
}
