//! The socket task: one per session, for its whole life. It runs the heartbeat
//! timers, owns the WebSocket (reading, and writing batches from the outgoing
//! queue), runs the upgrade probe, and closes the transport at the end.
//! Polling requests are served by the HTTP connection tasks; they share the
//! socket's state, and this task only keeps its timers for them.

use crate::config::TransportType;
use crate::handler::CloseReason;
use crate::packet::{Packet, PacketType};
use crate::socket::{Ready, Socket};
use crate::websocket::{close_detached, too_big_frame, WsEvent, WsIo};
use crate::Str;
use std::future::{poll_fn, Future};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
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

enum Event {
    Wake,
    Timer,
    Ws(WsEvent),
    Probe(WsEvent),
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

pub(crate) async fn run(socket: Arc<Socket>, mut ws: Option<WsIo>) {
    socket.shared.tasks.fetch_add(1, Ordering::AcqRel);
    let _count = TaskCount(socket.shared.clone());
    // Boxed: probes are rare and short-lived; keep the task small.
    let mut probe: Option<Box<WsIo>> = None;
    let sleep = tokio::time::sleep_until(Instant::now() + Duration::from_secs(3600));
    tokio::pin!(sleep);

    loop {
        let now = Instant::now();
        // Timers and state changes first.
        let mut deadline = socket.heartbeat_tick(now);
        let mut closing_ws = false;
        {
            let mut st = socket.lock();
            if st.ready == Ready::Closed {
                break;
            }
            if let Some(p) = st.probe_offer.take() {
                if let Some(old) = probe.replace(Box::new(WsIo::new(*p))) {
                    close_detached(old.ws);
                }
            }
            if let Some(d) = st.upgrade_deadline {
                if now >= d {
                    // The client did not complete the upgrade in time.
                    st.upgrade_deadline = None;
                    st.upgrading = false;
                    st.poll_noop = false;
                    if let Some(p) = probe.take() {
                        close_detached(p.ws);
                    }
                } else {
                    deadline = Some(deadline.map_or(d, |x| x.min(d)));
                }
            }
            if let Some(d) = st.close_deadline {
                if now >= d {
                    st.close_deadline = None;
                    drop(st);
                    socket.finalize(CloseReason::ForcedClose, None, PacketType::Close);
                    continue;
                }
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
            if let Some(w) = ws.as_mut() {
                if w.idle() && !st.queue.is_empty() {
                    let packets = socket.drain_queue(&mut st);
                    w.push_packets(packets, socket.protocol());
                }
                if st.ready == Ready::Closing && w.idle() && st.queue.is_empty() {
                    closing_ws = true;
                }
            }
        }
        if closing_ws {
            // Graceful close over WebSocket: everything was flushed.
            socket.finalize(CloseReason::ForcedClose, None, PacketType::Close);
            continue;
        }
        if let Some(d) = deadline {
            sleep.as_mut().reset(d);
        }

        // One hand-written poll instead of `select!`: the task's future is
        // allocated per session, and this keeps it small.
        let notified = socket.task_wake.notified();
        tokio::pin!(notified);
        let has_deadline = deadline.is_some();
        let event = poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Wake);
            }
            if let Some(w) = ws.as_mut() {
                if let Poll::Ready(e) = w.poll_event(cx) {
                    return Poll::Ready(Event::Ws(e));
                }
            }
            if let Some(p) = probe.as_mut() {
                if let Poll::Ready(e) = p.poll_event(cx) {
                    return Poll::Ready(Event::Probe(e));
                }
            }
            if has_deadline && sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Timer);
            }
            Poll::Pending
        })
        .await;

        match event {
            Event::Wake | Event::Timer => {}
            Event::Ws(WsEvent::Flushed(n)) => {
                {
                    let mut st = socket.lock();
                    socket.mark_written(&mut st, n);
                }
                if n > 0 && socket.is_open() {
                    socket.shared.handler.on_drain(&socket);
                }
            }
            Event::Ws(WsEvent::Message(m)) => match decode_frame(m, &socket) {
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
            Event::Ws(WsEvent::Closed) => {
                ws = None;
                socket.finalize(CloseReason::TransportClose, None, PacketType::Close);
            }
            Event::Ws(WsEvent::Error { too_big }) => {
                let closing = if too_big {
                    finish_ws(ws.take(), too_big_frame())
                } else {
                    None
                };
                ws = None;
                if let Some(f) = closing {
                    f.await;
                }
                let desc = if too_big {
                    "message too big"
                } else {
                    "websocket error"
                };
                socket.finalize(
                    CloseReason::TransportError,
                    Some(desc.into()),
                    PacketType::Close,
                );
            }
            Event::Probe(WsEvent::Message(m)) => {
                let packet = decode_frame(m, &socket);
                on_probe_packet(&socket, packet, &mut probe, &mut ws);
            }
            Event::Probe(WsEvent::Flushed(_)) => {}
            Event::Probe(WsEvent::Closed | WsEvent::Error { .. }) => {
                probe = None;
                abort_upgrade(&socket);
            }
        }
    }

    // The session is closed: close the transports with a close frame.
    if let Some(p) = probe.take() {
        close_detached(p.ws);
    }
    if let Some(f) = finish_ws(ws.take(), WsMessage::Close(None)) {
        f.await;
    }
}

/// Writes what is pending plus `last` (a close frame) for a bounded time.
/// Returns a boxed future so the WebSocket is not stored twice in the socket
/// task's (per-session) future.
fn finish_ws(w: Option<WsIo>, last: WsMessage) -> Option<crate::BoxFuture<()>> {
    let mut w = w?;
    w.push_frame(last);
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
            let info = crate::RequestInfo {
                method: http::Method::GET,
                uri: http::Uri::from_static("/"),
                headers: http::HeaderMap::new(),
                query_pairs: Vec::new(),
                remote_addr: None,
            };
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
            assert!(n < 1536, "{n}");
            socket.close_now();
        });
    }
}
