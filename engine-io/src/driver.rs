//! The socket task: one per session, for its whole life. It runs the heartbeat
//! timers, owns the WebSocket (reading, and writing batches from the outgoing
//! queue), runs the upgrade probe, and closes the transport at the end.
//! Polling requests are served by the HTTP connection tasks; they share the
//! socket's state, and this task only keeps its timers for them.

use crate::packet::{Packet, PacketType};
use crate::socket::{Ready, Socket};
use crate::websocket::{close_detached, too_big_frame, WsEvent, WsIo};
use crate::CloseReason;
use crate::Str;
use crate::TransportType;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Spawns the task of a new polling session.
pub(crate) fn spawn(socket: Arc<Socket>, ws: Option<WsIo>) {
    tokio::spawn(run(socket, ws));
}

/// Decrements the live-task count (also on panic) for graceful shutdown.
struct TaskCount(Arc<crate::server::Shared>);

impl Drop for TaskCount {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks_done.notify_waiters();
        }
    }
}

/// Decodes a data frame into a packet.
fn decode_frame(m: WsMessage, socket: &Socket) -> Result<Packet, crate::DecodeError> {
    match m {
        WsMessage::Text(t) => {
            let s = Str::from_utf8(bytes::Bytes::from(t)).map_err(|_| crate::DecodeError::Utf8)?;
            Packet::decode_text(&s, socket.protocol())
        }
        WsMessage::Binary(b) => Packet::decode_binary(b, socket.protocol()),
        _ => Err(crate::DecodeError::Empty),
    }
}

/// The socket task. A plain function returning an `async` block (not an
/// `async fn`) so the driver is built before the future: an `async fn` keeps
/// its arguments in the future beside the locals they move into, and the
/// WebSocket would be stored twice in every session's task.
pub(crate) fn run(socket: Arc<Socket>, ws: Option<WsIo>) -> impl Future<Output = ()> + Send {
    socket.shared.tasks.fetch_add(1, Ordering::AcqRel);
    let count = TaskCount(socket.shared.clone());
    let mut driver = Driver {
        socket,
        ws,
        probe: None,
        armed: None,
        sleep_registered: false,
    };
    async move {
        let _count = count;
        let sleep = tokio::time::sleep_until(Instant::now() + Duration::from_secs(3600));
        tokio::pin!(sleep);
        // The whole session is one hand-written poll loop rather than `select!`
        // over futures: the task's future is allocated per session (this keeps
        // it small), and one pass handles a frame, runs the handler, queues its
        // answer and writes it, with no wake-up of the task by itself in between.
        poll_fn(|cx| driver.poll(cx, sleep.as_mut())).await;

        // The session is closed: close the transports with a close frame.
        if let Some(p) = driver.probe.take() {
            close_detached(p.ws);
        }
        if let Some(f) = finish_ws(driver.ws.take(), WsMessage::Close(None)) {
            f.await;
        }
    }
}

/// The state of a socket task.
struct Driver {
    socket: Arc<Socket>,
    ws: Option<WsIo>,
    /// Boxed: probes are rare and short-lived; keep the task small.
    probe: Option<Box<WsIo>>,
    /// The deadline the timer is set to.
    armed: Option<Instant>,
    /// The timer was polled since it was set: it will wake the task when it
    /// fires, so it is not polled again (each poll re-registers the waker).
    sleep_registered: bool,
}

impl Driver {
    /// Runs until the session is closed.
    fn poll(&mut self, cx: &mut Context<'_>, mut sleep: Pin<&mut tokio::time::Sleep>) -> Poll<()> {
        let socket = self.socket.clone();
        // One clock read per wake-up: timers have millisecond granularity, and
        // one pass of this loop never blocks.
        let now = Instant::now();
        if self.armed.is_some_and(|a| now >= a) {
            // The timer fired (or is about to): set it again below.
            self.armed = None;
        }
        loop {
            // Timers and state changes first, under one lock.
            let mut wake_polls = false;
            let mut finalize = None;
            let deadline = {
                let mut st = socket.lock();
                st.wake_requested = false;
                // Running now (woken by I/O, a timer or a request): senders
                // only need to set `wake_requested` until the task parks again.
                st.parked = false;
                if st.ready == Ready::Closed {
                    return Poll::Ready(());
                }
                let mut deadline = match Socket::heartbeat_locked(&mut st, now) {
                    Ok(d) => Some(d),
                    Err(()) => {
                        finalize = Some(CloseReason::PingTimeout);
                        None
                    }
                };
                if let Some(p) = st.probe_offer.take() {
                    if let Some(old) = self.probe.replace(Box::new(WsIo::new(*p))) {
                        close_detached(old.ws);
                    }
                }
                if let Some(d) = st.upgrade_deadline {
                    if now >= d {
                        // The client did not complete the upgrade in time.
                        st.upgrade_deadline = None;
                        st.upgrading = false;
                        st.poll_noop = false;
                        if let Some(p) = self.probe.take() {
                            close_detached(p.ws);
                        }
                    } else {
                        deadline = Some(deadline.map_or(d, |x| x.min(d)));
                    }
                }
                if let Some(d) = st.close_deadline {
                    if now >= d {
                        st.close_deadline = None;
                        finalize = finalize.or(Some(CloseReason::ForcedClose));
                    }
                    deadline = Some(deadline.map_or(d, |x| x.min(d)));
                }
                match self.ws.as_mut() {
                    Some(w) => {
                        if w.idle() && !st.queue.is_empty() {
                            let packets = socket.drain_queue(&mut st);
                            w.push_packets(packets, socket.protocol());
                        }
                        if st.ready == Ready::Closing && w.idle() && st.queue.is_empty() {
                            // Graceful close over WebSocket: everything was flushed.
                            finalize = finalize.or(Some(CloseReason::ForcedClose));
                        }
                    }
                    // A ping queued for a polling transport.
                    None => wake_polls = !st.queue.is_empty(),
                }
                deadline
            };
            if let Some(reason) = finalize {
                socket.finalize(reason, None, PacketType::Close);
                continue;
            }
            if wake_polls {
                socket.poll_wake.notify_waiters();
            }
            if let Some(d) = deadline {
                if self.armed != Some(d) {
                    sleep.as_mut().reset(d);
                    self.armed = Some(d);
                    self.sleep_registered = false;
                }
            }

            // Then the transports.
            if let Some(w) = self.ws.as_mut() {
                if let Poll::Ready(e) = w.poll_event(cx) {
                    self.on_ws_event(e);
                    continue;
                }
            }
            if let Some(p) = self.probe.as_mut() {
                if let Poll::Ready(e) = p.poll_event(cx) {
                    self.on_probe_event(e);
                    continue;
                }
            }
            if deadline.is_some() && !self.sleep_registered {
                if sleep.as_mut().poll(cx).is_ready() {
                    // Due now: handled at the top, with a fresh clock read.
                    self.armed = None;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.sleep_registered = true;
            }

            // Nothing to do: park, unless something changed meanwhile.
            let mut st = socket.lock();
            if st.wake_requested || st.ready == Ready::Closed {
                continue;
            }
            st.parked = true;
            match &st.task_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.task_waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
    }

    fn on_ws_event(&mut self, event: WsEvent) {
        let socket = &self.socket;
        match event {
            WsEvent::Flushed(n) => {
                let open = {
                    let mut st = socket.lock();
                    socket.mark_written(&mut st, n);
                    st.ready == Ready::Open
                };
                if n > 0 && open {
                    socket.shared.handler.on_drain(socket);
                }
            }
            WsEvent::Message(m) => match decode_frame(m, socket) {
                // Over WebSocket the reference ignores close packets (clients
                // close the WebSocket itself).
                Ok(p) if p.packet_type == PacketType::Close => {}
                Ok(p) => socket.handle_packet(p),
                Err(e) => socket.finalize(
                    CloseReason::ParseError,
                    Some(e.to_string()),
                    PacketType::Close,
                ),
            },
            WsEvent::Closed => {
                self.ws = None;
                socket.finalize(CloseReason::TransportClose, None, PacketType::Close);
            }
            WsEvent::Error { too_big } => {
                let desc = if too_big {
                    // Answered with a 1009 close frame, written when the task ends.
                    if let Some(w) = self.ws.as_mut() {
                        w.push_frame(too_big_frame());
                    }
                    "message too big"
                } else {
                    self.ws = None;
                    "websocket error"
                };
                socket.finalize(
                    CloseReason::TransportError,
                    Some(desc.into()),
                    PacketType::Close,
                );
            }
        }
    }

    fn on_probe_event(&mut self, event: WsEvent) {
        match event {
            WsEvent::Message(m) => {
                let packet = decode_frame(m, &self.socket);
                on_probe_packet(&self.socket, packet, &mut self.probe, &mut self.ws);
            }
            WsEvent::Flushed(_) => {}
            WsEvent::Closed | WsEvent::Error { .. } => {
                self.probe = None;
                abort_upgrade(&self.socket);
            }
        }
    }
}

/// Writes what is pending plus `last` (a close frame) for a bounded time.
/// Returns a boxed future so the WebSocket is not stored twice in the socket
/// task's (per-session) future.
fn finish_ws(w: Option<WsIo>, last: WsMessage) -> Option<crate::BoxFuture<()>> {
    let mut w = w?;
    if !w.close_queued() {
        w.push_frame(last);
    }
    Some(Box::pin(async move {
        let flush = poll_fn(|cx| loop {
            match w.poll_event(cx) {
                Poll::Ready(WsEvent::Flushed(_)) if w.idle() => return Poll::Ready(()),
                Poll::Ready(WsEvent::Flushed(_) | WsEvent::Message(_)) => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
    }))
}

fn abort_upgrade(socket: &Socket) {
    let mut st = socket.lock();
    st.upgrading = false;
    st.poll_noop = false;
    st.upgrade_deadline = None;
}

/// The upgrade probe: `2probe` is answered `3probe` and releases the pending
/// GET with a noop; `5` switches the session to the WebSocket; anything else
/// closes the probe.
fn on_probe_packet(
    socket: &Arc<Socket>,
    packet: Result<Packet, crate::DecodeError>,
    probe: &mut Option<Box<WsIo>>,
    ws: &mut Option<WsIo>,
) {
    let Some(p) = probe.as_mut() else { return };
    match packet {
        Ok(pk) if pk.packet_type == PacketType::Ping && pk.is_probe() => {
            p.push_packets(vec![Packet::pong_probe()], socket.protocol());
            socket.lock().poll_noop = true;
            socket.poll_wake.notify_waiters();
        }
        Ok(pk) if pk.packet_type == PacketType::Upgrade => {
            let switched = {
                let mut st = socket.lock();
                if st.ready == Ready::Closed {
                    false
                } else {
                    st.transport = TransportType::Websocket;
                    st.upgraded = true;
                    st.upgrading = false;
                    st.poll_noop = false;
                    st.upgrade_deadline = None;
                    st.heartbeat.on_upgrade(Instant::now());
                    true
                }
            };
            if let Some(mut new_ws) = probe.take() {
                if switched {
                    // The `3probe` answer was already flushed; count nothing for it.
                    new_ws.reset_in_flight();
                    *ws = Some(*new_ws);
                    // A GET still pending on the old transport gets a close packet.
                    socket.poll_wake.notify_waiters();
                    socket.shared.handler.on_upgrade(socket);
                } else {
                    close_detached(new_ws.ws);
                }
            }
        }
        _ => {
            if let Some(old) = probe.take() {
                close_detached(old.ws);
            }
            abort_upgrade(socket);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Guards the per-connection memory budget: the socket task's future is
    /// allocated once per session.
    #[test]
    fn task_future_is_small() {
        fn size<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let server = crate::Server::new_stream(crate::Config::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let info = crate::RequestInfo::new(http::Method::GET, http::Uri::from_static("/"), &http::HeaderMap::new(), None);
            let socket = server.create_socket(info, crate::ProtocolVersion::V4, crate::TransportType::Polling);
            let fut = super::run(socket.clone(), None);
            let n = size(&fut);
            eprintln!(
                "socket task future: {n} bytes; Socket: {} bytes; WsIo: {} bytes; Sleep: {}; State: {}; RequestInfo: {}",
                std::mem::size_of::<crate::Socket>(),
                std::mem::size_of::<crate::websocket::WsIo>(),
                std::mem::size_of::<tokio::time::Sleep>(),
                std::mem::size_of::<crate::socket::State>(),
                std::mem::size_of::<crate::RequestInfo>(),
            );
            assert!(n < 768, "{n}");
            socket.close_now();
        });
    }
}
