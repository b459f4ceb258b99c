//! Collecting the acknowledgements of a broadcast, from this node and from the others.

use std::task::{Context, Poll};

use socketio_parser::Value;
use tokio::sync::mpsc;

use crate::Sid;

/// One event of a broadcast with acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub enum BroadcastAckEvent {
    /// One node reports how many of its sockets received the packet (exactly once per node).
    ClientCount(usize),
    /// A socket of this node received the packet and owes an answer (reported by the
    /// namespace, so the sockets that do not answer in time can be named).
    Sent(Sid),
    /// One socket acknowledged, with these arguments; another node's socket (the npm
    /// `@socket.io/redis-adapter` answer carries no socket id).
    Ack(Vec<Value>),
    /// One socket of this node acknowledged, with these arguments.
    AckFrom(Sid, Vec<Value>),
    /// A socket of this node left before acknowledging.
    Lost(Sid),
}

/// Where an adapter reports the progress of a broadcast with acknowledgement: each node's
/// client count once, then one [`ack`](Self::ack) (another node's socket) or
/// [`ack_from`](Self::ack_from) (this node's) per replying socket; the namespace adds
/// [`sent`](Self::sent) and [`lost`](Self::lost) for this node's sockets. Cheap to clone (a
/// channel sender); memory is bounded by the number of recipients.
#[derive(Debug, Clone)]
pub struct BroadcastAckSink {
    tx: mpsc::UnboundedSender<BroadcastAckEvent>,
}

/// The receiving end of a [`BroadcastAckSink`].
#[derive(Debug)]
pub struct BroadcastAckReceiver {
    rx: mpsc::UnboundedReceiver<BroadcastAckEvent>,
}

impl BroadcastAckSink {
    /// A connected sink and receiver.
    ///
    /// ```
    /// use socketio_adapter::{BroadcastAckEvent, BroadcastAckSink};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (sink, mut rx) = BroadcastAckSink::channel();
    /// sink.client_count(1);
    /// sink.ack(vec!["ok".into()]);
    /// assert_eq!(rx.recv().await, Some(BroadcastAckEvent::ClientCount(1)));
    /// assert_eq!(rx.recv().await, Some(BroadcastAckEvent::Ack(vec!["ok".into()])));
    /// # });
    /// ```
    pub fn channel() -> (Self, BroadcastAckReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, BroadcastAckReceiver { rx })
    }

    /// Reports how many sockets of one node received the packet.
    pub fn client_count(&self, count: usize) {
        // A closed receiver means the emitter stopped waiting (timeout): nothing to do.
        let _ = self.tx.send(BroadcastAckEvent::ClientCount(count));
    }

    /// Reports the acknowledgement of another node's socket.
    pub fn ack(&self, args: Vec<Value>) {
        let _ = self.tx.send(BroadcastAckEvent::Ack(args));
    }

    /// Reports the acknowledgement of socket `sid` of this node.
    pub fn ack_from(&self, sid: Sid, args: Vec<Value>) {
        let _ = self.tx.send(BroadcastAckEvent::AckFrom(sid, args));
    }

    /// Reports that socket `sid` of this node received the packet.
    pub fn sent(&self, sid: Sid) {
        let _ = self.tx.send(BroadcastAckEvent::Sent(sid));
    }

    /// Reports that socket `sid` of this node left without acknowledging.
    pub fn lost(&self, sid: Sid) {
        let _ = self.tx.send(BroadcastAckEvent::Lost(sid));
    }

    /// Whether the emitter stopped waiting.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl BroadcastAckReceiver {
    /// The next event, `None` once every sink is dropped.
    pub async fn recv(&mut self) -> Option<BroadcastAckEvent> {
        self.rx.recv().await
    }

    /// Polls for the next event (for a hand-written `Stream`).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<BroadcastAckEvent>> {
        self.rx.poll_recv(cx)
    }
}
