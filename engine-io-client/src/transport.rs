//! What the connection driver sees of a transport: a stream of events in, a writer out.
//!
//! Each transport (polling, WebSocket) runs its I/O in its own tasks and talks to the driver
//! through two bounded channels, so the driver is one `select!` loop that never blocks on I/O and
//! holds no lock: the driver owns the write buffer and hands the transport one batch at a time
//! (the transport reports [`TransportEvent::Drained`] when it may take the next one).

use std::fmt;
use std::future::Future;

use engine_io::{Packet, PacketType, TransportType};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Error;

/// What a transport reports to the driver, in order.
#[derive(Debug)]
pub(crate) enum TransportEvent {
    /// Packets received (one polling payload or one WebSocket frame).
    Packets(Vec<Packet>),
    /// The last batch handed to the writer is written; it may take the next one.
    Drained,
    /// Polling only: the receive loop stopped after a pause request (for an upgrade).
    Paused,
    /// The transport is gone: `None` when the server closed it cleanly, else why.
    Closed(Option<Error>),
}

/// What the driver asks a transport's writer to do.
#[derive(Debug)]
pub(crate) enum WriteCmd {
    /// Write these packets (one POST, or one frame each).
    Packets(Vec<Packet>),
    /// Send the close packet / close frame, then stop.
    Close,
}

/// The driver's end of a running transport. Dropping it stops the transport's tasks.
pub(crate) struct TransportHandle {
    pub(crate) kind: TransportType,
    pub(crate) events: mpsc::Receiver<TransportEvent>,
    pub(crate) writer: mpsc::Sender<WriteCmd>,
    /// `Some` for a transport that can pause (polling).
    pub(crate) control: Option<Box<dyn Pause>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for TransportHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportHandle")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Pausing a transport's receive loop, for an upgrade (polling only: the WebSocket never pauses).
pub(crate) trait Pause: Send {
    /// Asks the receive loop to stop once the pending request completes (it then reports
    /// [`TransportEvent::Paused`]).
    fn pause(&mut self);
    /// Starts a new receive loop after [`TransportEvent::Paused`]; returns its task.
    fn resume(&mut self) -> JoinHandle<()>;
}

impl TransportHandle {
    /// Asks a polling transport to stop polling once the pending `GET` completes
    /// (answered by [`TransportEvent::Paused`]). No-op for WebSocket.
    pub(crate) fn pause(&mut self) {
        if let Some(control) = &mut self.control {
            control.pause();
        }
    }

    /// Restarts polling after [`pause`](Self::pause) (a failed upgrade).
    pub(crate) fn resume(&mut self) {
        if let Some(control) = &mut self.control {
            let task = control.resume();
            self.tasks.push(task);
        }
    }
}

impl Drop for TransportHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The channel capacity between a transport's tasks and the driver. Small: the driver consumes
/// promptly, and a full channel is how a slow consumer pushes back on the network reads.
pub(crate) const EVENT_CHANNEL: usize = 16;

/// Starts a transport whose reader and writer are tasks of their own (WebSocket, WebTransport):
/// `reader` gets the sender of the driver's events, `writer` the driver's commands and the same
/// sender (it reports [`TransportEvent::Drained`]).
pub(crate) fn spawn_duplex<R, W>(
    kind: TransportType,
    reader: impl FnOnce(mpsc::Sender<TransportEvent>) -> R,
    writer: impl FnOnce(mpsc::Receiver<WriteCmd>, mpsc::Sender<TransportEvent>) -> W,
) -> TransportHandle
where
    R: Future<Output = ()> + Send + 'static,
    W: Future<Output = ()> + Send + 'static,
{
    let (events_tx, events) = mpsc::channel(EVENT_CHANNEL);
    let (writer_tx, writer_rx) = mpsc::channel(1);
    let reader = tokio::spawn(reader(events_tx.clone()));
    let writer_task = tokio::spawn(writer(writer_rx, events_tx));
    TransportHandle {
        kind,
        events,
        writer: writer_tx,
        control: None,
        tasks: vec![reader, writer_task],
    }
}

/// Hands one received packet to the driver. `false` when the reader is to stop: the driver is
/// gone, or the packet was the server's close.
pub(crate) async fn forward(events: &mpsc::Sender<TransportEvent>, packet: Packet) -> bool {
    let closed = packet.packet_type == PacketType::Close;
    events
        .send(TransportEvent::Packets(vec![packet]))
        .await
        .is_ok()
        && !closed
}
