//! Collecting the acknowledgements of a broadcast, from this node and from the others.

use socketio_parser::Value;
use tokio::sync::mpsc;

/// One event of a broadcast with acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub enum BroadcastAckEvent {
    /// One node reports how many of its sockets received the packet (exactly once per node).
    ClientCount(usize),
    /// One socket acknowledged, with these arguments.
    Ack(Vec<Value>),
}

/// Where an adapter reports the progress of a broadcast with acknowledgement: each node's
/// client count once, then one [`ack`](Self::ack) per replying socket. Cheap to clone (a channel
/// sender); memory is bounded by the number of recipients.
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

    /// Reports one socket's acknowledgement.
    pub fn ack(&self, args: Vec<Value>) {
        let _ = self.tx.send(BroadcastAckEvent::Ack(args));
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
}
