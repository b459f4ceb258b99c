//! [`Conn`]: the stream a session's task drives, whichever transport carries
//! it — a WebSocket ([`crate::ws_io`]) or, with the `webtransport` feature, a
//! WebTransport stream ([`crate::wt_io`]). Both report [`WsEvent`]s, so the
//! socket task ([`crate::driver`]) and the upgrade run the same way over
//! either.

use crate::packet::ProtocolVersion;
use crate::packet_queue::PacketQueue;
use crate::ws_io::{CloseFrame, WsEvent, WsIo};
use std::task::{Context, Poll};

/// The active (or probing) transport stream of a session.
// The WebSocket stays inline (every WebSocket session's task future holds it; no extra
// allocation), the rarer WebTransport stream is boxed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Conn {
    /// A WebSocket.
    Ws(WsIo),
    /// A WebTransport session's bidirectional stream (boxed: QUIC streams
    /// are large and rarer).
    #[cfg(feature = "webtransport")]
    Wt(Box<crate::wt_io::WtIo>),
}

impl Conn {
    /// Whether nothing is waiting to be written.
    pub(crate) fn idle(&self) -> bool {
        match self {
            Conn::Ws(w) => w.idle(),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.idle(),
        }
    }

    /// Takes every packet of the session's queue for writing (see
    /// [`WsIo::push_queue`]).
    pub(crate) fn push_queue(&mut self, queue: &mut PacketQueue, protocol: ProtocolVersion) {
        match self {
            Conn::Ws(w) => w.push_queue(queue, protocol),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.push_packets(std::mem::take(queue).into_vec()),
        }
    }

    /// Queues encoded packets for writing.
    pub(crate) fn push_packets(&mut self, packets: Vec<crate::Packet>, protocol: ProtocolVersion) {
        match self {
            Conn::Ws(w) => w.push_packets(packets, protocol),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.push_packets(packets),
        }
    }

    /// Forgets packets counted in flight (probe answers are not session packets).
    pub(crate) fn reset_in_flight(&mut self) {
        match self {
            Conn::Ws(w) => w.reset_in_flight(),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.reset_in_flight(),
        }
    }

    /// Whether the close was already queued (nothing can follow it).
    pub(crate) fn close_queued(&self) -> bool {
        match self {
            Conn::Ws(w) => w.close_queued(),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.close_queued(),
        }
    }

    /// Queues the close: a WebSocket close frame (`frame` for a protocol
    /// error), or the end of the WebTransport session.
    pub(crate) fn push_close(&mut self, frame: Option<CloseFrame>) {
        match self {
            Conn::Ws(w) => w.push_close(frame),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.push_close(),
        }
    }

    /// Makes write progress and, when `read`, reads the next packet.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>, read: bool) -> Poll<WsEvent> {
        match self {
            Conn::Ws(w) => w.poll_event(cx, read),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.poll_event(cx, read),
        }
    }

    /// Closes the transport without blocking the caller.
    pub(crate) fn close_detached(self) {
        match self {
            Conn::Ws(w) => crate::ws_io::close_detached(w),
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.close_now(),
        }
    }

    /// Closes a stream whose writes are done (after [`Conn::push_close`] and
    /// a flush).
    pub(crate) async fn finished(self) {
        match self {
            // The close frame was the last write: dropping ends the TCP stream.
            Conn::Ws(_) => {}
            #[cfg(feature = "webtransport")]
            Conn::Wt(w) => w.close_after_acked(std::time::Duration::from_secs(1)).await,
        }
    }
}
