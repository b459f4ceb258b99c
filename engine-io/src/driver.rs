//! The socket task: one per session, for its whole life. It is the thin I/O
//! around the [`crate::session::Session`]: it sleeps until the session's next
//! deadline and feeds it the timeout, owns the WebSocket (reading frames into
//! the session, writing batches from the outgoing queue), carries the probe
//! WebSocket through the upgrade the session runs, and closes the transport
//! at the end. Polling requests are served by the HTTP connection tasks; they
//! feed the same session.

use crate::conn::Conn;
use crate::packet::{Packet, PacketType};
use crate::session::{Answer, Event};
use crate::shared::Shared;
use crate::socket::{Clock, ProbeCmd, Socket};
use crate::ws_io::{WsData, WsEvent};
use crate::CloseReason;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Spawns the task of a new polling session.
pub(crate) fn spawn(socket: Arc<Socket>, ws: Option<Conn>) {
    tokio::spawn(run(socket, ws));
}

/// Decrements the live-task count (also on panic) for graceful shutdown.
struct TaskCount(Arc<Shared>);

impl Drop for TaskCount {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks_done.notify_waiters();
        }
    }
}

/// Decodes a data message into a packet (text was validated by the reader).
fn decode_frame(m: WsData, socket: &Socket) -> Result<Packet, crate::DecodeError> {
    match m {
        WsData::Text(s) => Packet::decode_text(&s, socket.protocol()),
        WsData::Binary(b) => Packet::decode_binary(b, socket.protocol()),
    }
}

/// The socket task. A plain function returning an `async` block (not an
/// `async fn`) so the driver is built before the future: an `async fn` keeps
/// its arguments in the future beside the locals they move into, and the
/// WebSocket would be stored twice in every session's task.
pub(crate) fn run(socket: Arc<Socket>, ws: Option<Conn>) -> impl Future<Output = ()> + Send {
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
            p.close_detached();
        }
        if let Some(f) = finish_ws(driver.ws.take()) {
            f.await;
        }
    }
}

/// The state of a socket task.
struct Driver {
    socket: Arc<Socket>,
    ws: Option<Conn>,
    /// Boxed: probes are rare and short-lived; keep the task small.
    probe: Option<Box<Conn>>,
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
        // At most one clock read per wake-up (timers have millisecond
        // granularity, and one pass of this loop never blocks), and none
        // unless a rule needs the time: tokio's timer knows when a deadline
        // passed, and most packets do not touch the heartbeat.
        let mut clock = Clock::lazy();
        // The timer fired (or was found due when polled): the session's timers
        // run once, and the timer is set again below.
        let mut due = self.armed.is_some() && sleep.is_elapsed();
        if due {
            self.armed = None;
        }
        loop {
            // Timers and the session's effects first, under one lock.
            let (after, cmds, deadline) = {
                let mut st = socket.lock();
                st.wake_requested = false;
                // Running now (woken by I/O, a timer or a request): senders
                // only need to set `wake_requested` until the task parks again.
                st.parked = false;
                if st.session.is_closed() {
                    return Poll::Ready(());
                }
                if std::mem::take(&mut due) {
                    st.session.handle_timeout(clock.now().into_std());
                }
                if let Some(p) = st.probe_offer.take() {
                    if let Some(old) = self.probe.replace(p) {
                        old.close_detached();
                    }
                }
                if let Some(w) = self.ws.as_mut() {
                    if w.idle() && !st.queue.is_empty() {
                        w.push_queue(socket.take_queue(&mut st), socket.protocol());
                    }
                    if !st.session.is_open() && w.idle() && st.queue.is_empty() {
                        // Graceful close over WebSocket: everything was written.
                        st.session
                            .handle_event(clock.now().into_std(), Event::Drained);
                    }
                }
                let after = socket.apply(&mut st);
                let cmds = std::mem::take(&mut st.probe_cmds);
                let deadline = st.session.poll_timeout().map(Instant::from_std);
                (after, cmds, deadline)
            };
            socket.finish(after);
            if !cmds.is_empty() {
                self.run_probe_cmds(cmds);
                continue;
            }
            if let Some(d) = deadline {
                if self.armed != Some(d) {
                    sleep.as_mut().reset(d);
                    self.armed = Some(d);
                    self.sleep_registered = false;
                }
            }

            // Then the transports. A full stream-API inbox stops reading until
            // `recv` makes room (and wakes this task).
            let read = !socket.inbox_full();
            if let Some(w) = self.ws.as_mut() {
                if let Poll::Ready(e) = w.poll_event(cx, read) {
                    let open = match e {
                        WsEvent::Flushed(n) => self.on_flushed(n),
                        other => {
                            self.on_ws_event(other, &mut clock);
                            false
                        }
                    };
                    if !open {
                        // Also after a flush while closing: the top sees it drained.
                        continue;
                    }
                    // A batch was written (an answer, most often) and the session is open:
                    // read on in this pass rather than in one more (a frame that came
                    // meanwhile is handled now, and otherwise the read registers the task
                    // for the next one). Packets queued while the batch was in flight are
                    // seen by the park below, which then passes through the top.
                    if let Some(w) = self.ws.as_mut() {
                        if let Poll::Ready(e) = w.poll_event(cx, read) {
                            self.on_ws_event(e, &mut clock);
                            continue;
                        }
                    }
                }
            }
            if let Some(p) = self.probe.as_mut() {
                if let Poll::Ready(e) = p.poll_event(cx, true) {
                    self.on_probe_event(e);
                    continue;
                }
            }
            if deadline.is_some() && !self.sleep_registered {
                if sleep.as_mut().poll(cx).is_ready() {
                    // Due now: handled at the top of the next pass (the timer
                    // is elapsed and still armed), with a fresh clock read.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.sleep_registered = true;
            }

            // Nothing to do: park, unless something changed meanwhile, or packets wait
            // for a WebSocket that can take them now. Those were queued while its last
            // write was in flight (e.g. a write that waited for tokio's cooperative
            // budget): the wake-up they asked for was spent on a pass that could not
            // drain them, and no sender will ask again.
            let mut st = socket.lock();
            let ws_can_take = !st.queue.is_empty() && self.ws.as_ref().is_some_and(Conn::idle);
            if st.wake_requested || st.session.is_closed() || ws_can_take {
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

    /// `clock`: the pass's clock, for the session's heartbeat.
    fn on_ws_event(&mut self, event: WsEvent, clock: &mut Clock) {
        let socket = &self.socket;
        match event {
            WsEvent::Flushed(n) => {
                self.on_flushed(n);
            }
            WsEvent::Message(m) => Self::on_packet(socket, decode_frame(m, socket), clock),
            #[cfg(feature = "webtransport")]
            WsEvent::Packet(p) => Self::on_packet(socket, p, clock),
            other => self.on_ws_ended(other),
        }
    }

    /// The WebSocket ended (closed or failed): once per session, out of the
    /// hot read path so that its code stays dense.
    #[cold]
    #[inline(never)]
    fn on_ws_ended(&mut self, event: WsEvent) {
        let socket = &self.socket;
        match event {
            WsEvent::Flushed(_) | WsEvent::Message(_) => {}
            #[cfg(feature = "webtransport")]
            WsEvent::Packet(_) => {}
            WsEvent::Closed => {
                // After a close frame the echo is still to be flushed (at the
                // end of the task); after EOF or a reset nothing can be written.
                if self.ws.as_ref().is_some_and(|w| !w.close_queued()) {
                    self.ws = None;
                }
                socket.event(Event::TransportEnded {
                    reason: CloseReason::TransportClose,
                    description: None,
                });
            }
            WsEvent::Error(frame) => {
                let desc = if frame.code == crate::ws_io::CLOSE_TOO_BIG {
                    "message too big"
                } else {
                    "websocket error"
                };
                // The close frame is written when the task ends.
                if let Some(w) = self.ws.as_mut() {
                    w.push_close(Some(frame));
                }
                socket.event(Event::TransportEnded {
                    reason: CloseReason::TransportError,
                    description: Some(desc.into()),
                });
            }
        }
    }

    /// `n` packets were written: counts them and tells the handler. Returns whether the
    /// session is open.
    fn on_flushed(&self, n: u64) -> bool {
        let socket = &self.socket;
        let open = {
            let mut st = socket.lock();
            socket.mark_written(&mut st, n);
            st.session.is_open()
        };
        if n > 0 && open {
            socket.shared.handler.on_drain(socket);
        }
        open
    }

    /// A packet (or undecodable data) on the active transport.
    fn on_packet(
        socket: &Arc<Socket>,
        packet: Result<Packet, crate::DecodeError>,
        clock: &mut Clock,
    ) {
        match packet {
            // Over WebSocket the reference ignores close packets (clients
            // close the WebSocket itself).
            Ok(p) if p.packet_type == PacketType::Close => {}
            Ok(p) => socket.handle_packet_at(p, clock),
            Err(e) => Self::on_undecodable(socket, e),
        }
    }

    /// Data that is no packet closes the session: rare, kept out of the read path.
    #[cold]
    #[inline(never)]
    fn on_undecodable(socket: &Arc<Socket>, e: crate::DecodeError) {
        socket.finalize(CloseReason::ParseError, Some(e.to_string()), Answer::Close);
    }

    /// The probe's packets go to the session's upgrade (rare: out of line).
    #[cold]
    #[inline(never)]
    fn on_probe_event(&mut self, event: WsEvent) {
        let packet = match event {
            WsEvent::Message(m) => decode_frame(m, &self.socket),
            #[cfg(feature = "webtransport")]
            WsEvent::Packet(p) => p,
            other => return self.on_probe_transport_event(other),
        };
        let event = match packet {
            Ok(p) => Event::Probe(p),
            Err(_) => Event::ProbeFailed,
        };
        self.socket.event(event);
    }

    fn on_probe_transport_event(&mut self, event: WsEvent) {
        match event {
            WsEvent::Flushed(_) => {}
            _ => {
                self.probe = None;
                self.socket.event(Event::ProbeFailed);
            }
        }
    }

    /// Carries out the session's upgrade effects on the probe (rare: out of line).
    #[cold]
    #[inline(never)]
    fn run_probe_cmds(&mut self, cmds: Vec<ProbeCmd>) {
        for cmd in cmds {
            match cmd {
                ProbeCmd::Send(p) => {
                    if let Some(probe) = self.probe.as_mut() {
                        probe.push_packets(vec![p], self.socket.protocol());
                    }
                }
                ProbeCmd::Close => {
                    if let Some(p) = self.probe.take() {
                        p.close_detached();
                    }
                }
                ProbeCmd::Upgraded { report } => {
                    if let Some(mut new_ws) = self.probe.take() {
                        // The `3probe` answer was already flushed; count nothing for it.
                        new_ws.reset_in_flight();
                        self.ws = Some(*new_ws);
                        // A delayed connection reports the upgrade once connected.
                        if report {
                            self.socket.shared.handler.on_upgrade(&self.socket);
                        }
                    }
                }
            }
        }
    }
}

/// Writes what is pending plus the close (frame) for a bounded time.
/// Returns a boxed future so the WebSocket is not stored twice in the socket
/// task's (per-session) future.
fn finish_ws(w: Option<Conn>) -> Option<crate::BoxFuture<()>> {
    let mut w = w?;
    if !w.close_queued() {
        w.push_close(None);
    }
    Some(Box::pin(async move {
        // Write only: after a protocol error the read side is not to be trusted.
        let flush = poll_fn(|cx| loop {
            if w.idle() {
                return Poll::Ready(());
            }
            match w.poll_event(cx, false) {
                Poll::Ready(WsEvent::Flushed(_) | WsEvent::Message(_)) => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
        w.finished().await;
    }))
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
                std::mem::size_of::<crate::ws_io::WsIo>(),
                std::mem::size_of::<tokio::time::Sleep>(),
                std::mem::size_of::<crate::socket::State>(),
                std::mem::size_of::<crate::RequestInfo>(),
            );
            assert!(n < 768, "{n}");
            socket.close_now();
        });
    }
}
