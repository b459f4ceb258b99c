//! The task that runs one connection: heartbeat, write buffer, upgrade, close.
//!
//! One task owns all connection state and reacts to three sources in a `select!` loop: the
//! active transport's events, the upgrade probe's events, and the user's commands. Nothing is
//! shared but the command/event channels, so no lock is ever held across an await point.

use std::collections::VecDeque;
use std::future::pending;
use std::mem;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use engine_io::{Data, Handshake, Packet, PacketType};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::client::{Command, Event, Shared};
use crate::config::ConnConfig;
use crate::heartbeat::Heartbeat;
use crate::transport::{TransportEvent, TransportHandle, TransportKind, WriteCmd};
use crate::upgrade::{self, Probe};
use crate::websocket::WsStream;
use crate::{CloseReason, Error};

/// How many packets one WebSocket write batch takes at most (so the driver regains control
/// regularly even with a long queue).
const WS_BATCH: usize = 256;

/// The state of a client-initiated close.
#[derive(Debug, PartialEq, Eq)]
enum Closing {
    No,
    /// Writing what is queued first.
    Draining,
    /// The close packet / frame is on its way.
    Sent,
}

pub(crate) struct Driver {
    config: Arc<ConnConfig>,
    sid: Arc<str>,
    transport: TransportHandle,
    shared: Arc<Shared>,
    /// Whether the transport's writer may take a batch.
    writable: bool,
    /// How many queued packets the batch in flight holds (the upgrade packet does not count).
    in_flight: u64,
    write_buf: VecDeque<Packet>,
    /// Packets ever queued / ever written, for [`Command::Flush`].
    enqueued: u64,
    written: u64,
    flush_waiters: VecDeque<(u64, oneshot::Sender<Result<(), Error>>)>,
    max_payload: Option<usize>,
    heartbeat: Heartbeat,
    probe: Probe,
    /// An upgrade failed while polling was pausing: restart polling once the pause completes.
    resume_when_paused: bool,
    closing: Closing,
    close_deadline: Option<Instant>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    events: mpsc::Sender<Event>,
    closed: watch::Sender<Option<CloseReason>>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Arc<ConnConfig>,
        handshake: &Handshake,
        transport: TransportHandle,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        closed: watch::Sender<Option<CloseReason>>,
    ) -> Self {
        let max_payload = handshake
            .max_payload
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Driver {
            sid: Arc::from(handshake.sid.as_str()),
            heartbeat: Heartbeat::new(handshake.ping_interval, handshake.ping_timeout),
            probe: Probe::Idle,
            transport,
            shared,
            writable: true,
            in_flight: 0,
            write_buf: VecDeque::new(),
            enqueued: 0,
            written: 0,
            flush_waiters: VecDeque::new(),
            max_payload,
            resume_when_paused: false,
            closing: Closing::No,
            close_deadline: None,
            commands,
            commands_open: true,
            events,
            closed,
            config,
        }
    }

    /// Runs the connection to its end. `initial` are the packets that came with the handshake.
    pub(crate) async fn run(mut self, initial: Vec<Packet>, upgrades: Vec<String>) {
        let reason = self.run_until_closed(initial, upgrades).await;
        self.finish(reason).await;
    }

    async fn run_until_closed(
        &mut self,
        initial: Vec<Packet>,
        upgrades: Vec<String>,
    ) -> CloseReason {
        if let Some(reason) = self.on_packets(initial).await {
            return reason;
        }
        if self.transport.kind == TransportKind::Polling
            && self.config.upgrade
            && self.config.transports.contains(&TransportKind::WebSocket)
            && upgrades.iter().any(|u| u == "websocket")
        {
            self.probe = upgrade::start(self.config.clone(), self.sid.clone());
        }
        loop {
            if let Some(reason) = self.step().await {
                return reason;
            }
        }
    }

    async fn step(&mut self) -> Option<CloseReason> {
        let accept_commands = self.commands_open
            && self.closing == Closing::No
            && self.write_buf.len() < self.config.send_queue;
        let probe_deadline = self.probe.deadline();
        let close_deadline = self.close_deadline;
        tokio::select! {
            event = self.transport.events.recv() => self.on_transport_event(event).await,
            step = probe_step(&mut self.probe) => match step {
                ProbeStep::Connected(result) => {
                    self.on_probe_connected(*result).await;
                    None
                }
                ProbeStep::Event(event) => self.on_probe_event(event).await,
            },
            command = self.commands.recv(), if accept_commands => self.on_command(command),
            () = sleep_until(self.heartbeat.deadline()) => Some(CloseReason::PingTimeout),
            () = sleep_until_opt(probe_deadline) => {
                self.probe_failed(Error::WebSocket("upgrade timed out".to_owned())).await;
                None
            }
            () = sleep_until_opt(close_deadline) => Some(CloseReason::ForcedClose),
        }
    }

    // ---- the active transport ----

    async fn on_transport_event(&mut self, event: Option<TransportEvent>) -> Option<CloseReason> {
        match event {
            Some(TransportEvent::Packets(packets)) => self.on_packets(packets).await,
            Some(TransportEvent::Drained) => {
                self.writable = true;
                self.written += mem::take(&mut self.in_flight);
                self.resolve_flush_waiters();
                if self.closing == Closing::Sent {
                    return Some(CloseReason::ForcedClose);
                }
                self.after_write_progress().await
            }
            Some(TransportEvent::Paused) => {
                if mem::take(&mut self.resume_when_paused) {
                    self.transport.resume();
                    return None;
                }
                self.probe.reader_paused();
                self.try_complete_upgrade().await;
                None
            }
            Some(TransportEvent::Closed(err)) => Some(self.transport_closed(err)),
            None => Some(self.transport_closed(Some(Error::Closed))),
        }
    }

    fn transport_closed(&self, err: Option<Error>) -> CloseReason {
        if self.closing != Closing::No {
            return CloseReason::ForcedClose;
        }
        match err {
            None => CloseReason::TransportClose,
            Some(err @ Error::Protocol(_)) => CloseReason::ParseError(err),
            Some(err) => CloseReason::TransportError(err),
        }
    }

    /// Handles packets from the active transport.
    async fn on_packets(&mut self, packets: Vec<Packet>) -> Option<CloseReason> {
        for packet in packets {
            // Any packet proves the server is alive (the reference resets on every packet).
            self.heartbeat.reset();
            match packet.packet_type {
                PacketType::Ping => {
                    // Echo the data (none normally; `probe` would be odd but harmless).
                    self.queue(Packet::new(PacketType::Pong, packet.data));
                }
                PacketType::Message => {
                    if let Some(message) = packet.into_message() {
                        self.emit(Event::Message(message)).await;
                    }
                }
                PacketType::Close => {
                    return Some(if self.closing == Closing::No {
                        CloseReason::TransportClose
                    } else {
                        CloseReason::ForcedClose
                    });
                }
                PacketType::Open | PacketType::Pong | PacketType::Upgrade | PacketType::Noop => {}
            }
        }
        self.flush_writes();
        None
    }

    // ---- writing ----

    fn queue(&mut self, packet: Packet) {
        self.write_buf.push_back(packet);
        self.enqueued += 1;
    }

    /// Hands the next batch to the transport if it can take one.
    fn flush_writes(&mut self) {
        if !self.writable
            || self.write_buf.is_empty()
            || self.probe.is_upgrading()
            || self.closing == Closing::Sent
        {
            return;
        }
        let batch = match self.transport.kind {
            TransportKind::Polling => take_payload(&mut self.write_buf, self.max_payload),
            TransportKind::WebSocket => {
                let n = self.write_buf.len().min(WS_BATCH);
                self.write_buf.drain(..n).collect()
            }
        };
        self.in_flight = batch.len() as u64;
        // The channel has room: the writer takes one batch at a time and `writable` says it
        // is idle. A failure means the writer is gone; its `Closed` event is on its way.
        if self
            .transport
            .writer
            .try_send(WriteCmd::Packets(batch))
            .is_ok()
        {
            self.writable = false;
        }
    }

    fn resolve_flush_waiters(&mut self) {
        while let Some((target, _)) = self.flush_waiters.front() {
            if *target > self.written {
                break;
            }
            if let Some((_, tx)) = self.flush_waiters.pop_front() {
                let _ = tx.send(Ok(()));
            }
        }
    }

    /// After a batch is written: finish a pause, progress a close, or write more.
    async fn after_write_progress(&mut self) -> Option<CloseReason> {
        if self.probe.is_upgrading() {
            self.try_complete_upgrade().await;
            return None;
        }
        self.flush_writes();
        self.progress_close();
        None
    }

    // ---- commands ----

    fn on_command(&mut self, command: Option<Command>) -> Option<CloseReason> {
        match command {
            Some(Command::Send(messages)) => {
                for message in messages {
                    self.queue(Packet::message(message));
                }
                self.flush_writes();
            }
            Some(Command::Flush(tx)) => {
                if self.written >= self.enqueued {
                    let _ = tx.send(Ok(()));
                } else {
                    self.flush_waiters.push_back((self.enqueued, tx));
                }
            }
            Some(Command::Close) => self.begin_close(),
            None => {
                // Every handle is gone: nobody can send or close any more.
                self.commands_open = false;
                self.begin_close();
            }
        }
        None
    }

    fn begin_close(&mut self) {
        if self.closing != Closing::No {
            return;
        }
        tracing::debug!("engine.io client: closing");
        self.closing = Closing::Draining;
        self.close_deadline = Some(Instant::now() + self.config.close_timeout);
        // An upgrade in progress is abandoned: the close goes over the current transport.
        self.probe = Probe::Done;
        self.flush_writes();
        self.progress_close();
    }

    fn progress_close(&mut self) {
        if self.closing != Closing::Draining || !self.writable || !self.write_buf.is_empty() {
            return;
        }
        if self.transport.writer.try_send(WriteCmd::Close).is_ok() {
            self.writable = false;
            self.in_flight = 0;
            self.closing = Closing::Sent;
        }
    }

    // ---- upgrade ----

    async fn on_probe_connected(&mut self, result: Result<WsStream, Error>) {
        match result {
            Ok(ws) => {
                let handle = crate::websocket::start(ws, self.config.max_incoming_payload);
                if let Err(err) = self.probe.connected(handle) {
                    self.probe_failed(err).await;
                }
            }
            Err(err) => self.probe_failed(err).await,
        }
    }

    async fn on_probe_event(&mut self, event: Option<TransportEvent>) -> Option<CloseReason> {
        match event {
            Some(TransportEvent::Packets(packets)) => {
                for packet in packets {
                    let is_probe_pong = packet.packet_type == PacketType::Pong
                        && packet.data.as_text() == Some("probe");
                    if is_probe_pong && self.probe.awaiting_pong() {
                        tracing::debug!("engine.io client: probe answered, pausing polling");
                        self.probe.pong_received();
                        self.transport.pause();
                    } else {
                        let err = Error::Protocol(format!(
                            "unexpected {} packet during the upgrade probe",
                            packet.packet_type
                        ));
                        self.probe_failed(err).await;
                        return None;
                    }
                }
                None
            }
            Some(TransportEvent::Drained) | Some(TransportEvent::Paused) => None,
            Some(TransportEvent::Closed(err)) => {
                let err =
                    err.unwrap_or_else(|| Error::WebSocket("closed during the probe".to_owned()));
                self.probe_failed(err).await;
                None
            }
            None => {
                self.probe_failed(Error::WebSocket("closed during the probe".to_owned()))
                    .await;
                None
            }
        }
    }

    async fn probe_failed(&mut self, err: Error) {
        if matches!(self.probe, Probe::Idle | Probe::Done) {
            return;
        }
        tracing::debug!(%err, "engine.io client: upgrade failed, staying on polling");
        if let Some(reader_paused) = self.probe.pause_state() {
            if reader_paused {
                self.transport.resume();
            } else {
                self.resume_when_paused = true;
            }
        }
        self.probe = Probe::Done;
        self.config
            .prior_websocket_success
            .store(false, Ordering::Relaxed);
        self.emit(Event::UpgradeError(err)).await;
        self.flush_writes();
    }

    /// Switches to the WebSocket once polling is paused and no `POST` is in flight.
    async fn try_complete_upgrade(&mut self) {
        if !self.writable || self.probe.pause_state() != Some(true) {
            return;
        }
        let Some(ws) = self.probe.take_transport() else {
            return;
        };
        self.probe = Probe::Done;
        let _old = mem::replace(&mut self.transport, ws);
        // The upgrade packet goes first, alone; it is not a user packet for `flush`.
        self.in_flight = 0;
        let upgrade = WriteCmd::Packets(vec![Packet::new(PacketType::Upgrade, Data::Empty)]);
        if self.transport.writer.try_send(upgrade).is_ok() {
            self.writable = false;
        }
        self.shared.set_transport(TransportKind::WebSocket);
        self.config
            .prior_websocket_success
            .store(true, Ordering::Relaxed);
        tracing::debug!("engine.io client: upgraded to websocket");
        self.emit(Event::Upgrade(TransportKind::WebSocket)).await;
    }

    // ---- events and the end ----

    async fn emit(&mut self, event: Event) {
        // A full queue makes the driver wait (backpressure on reading); a dropped `Events`
        // means nobody listens, which is allowed.
        let _ = self.events.send(event).await;
    }

    async fn finish(mut self, reason: CloseReason) {
        tracing::debug!(%reason, "engine.io client: closed");
        // Stop the transports' tasks before announcing the close.
        self.probe = Probe::Done;
        self.transport.tasks.drain(..).for_each(|t| t.abort());
        let _ = self.closed.send(Some(reason.clone()));
        for (_, tx) in self.flush_waiters.drain(..) {
            let _ = tx.send(Err(Error::Closed));
        }
        // Senders blocked on a full queue see the close once the receiver is dropped.
        self.commands.close();
        let _ = self.events.send(Event::Close(reason)).await;
    }
}

/// Takes the longest prefix of `queue` whose v4 payload fits in `max_payload` bytes (at least one
/// packet, as the reference client does: a single oversize packet goes alone and the server
/// decides).
fn take_payload(queue: &mut VecDeque<Packet>, max_payload: Option<usize>) -> Vec<Packet> {
    let Some(max) = max_payload else {
        return queue.drain(..).collect();
    };
    let mut size = 0usize;
    let mut count = 0usize;
    for packet in queue.iter() {
        let len = encoded_len(packet) + usize::from(count > 0);
        if count > 0 && size + len > max {
            break;
        }
        size += len;
        count += 1;
    }
    queue.drain(..count).collect()
}

/// The length of a packet in a v4 polling payload.
fn encoded_len(packet: &Packet) -> usize {
    match &packet.data {
        Data::Empty => 1,
        Data::Text(t) => 1 + t.len(),
        // `b` + base64 with padding.
        Data::Binary(b) => 1 + b.len().div_ceil(3) * 4,
    }
}

/// What the upgrade probe produced.
enum ProbeStep {
    Connected(Box<Result<WsStream, Error>>),
    Event(Option<TransportEvent>),
}

async fn probe_step(probe: &mut Probe) -> ProbeStep {
    if let Some(task) = probe.connecting() {
        return ProbeStep::Connected(Box::new(join(task).await));
    }
    match probe.transport_mut() {
        Some(ws) => ProbeStep::Event(ws.events.recv().await),
        None => pending().await,
    }
}

async fn join(task: &mut JoinHandle<Result<WsStream, Error>>) -> Result<WsStream, Error> {
    match task.await {
        Ok(result) => result,
        Err(err) => Err(Error::WebSocket(format!("probe task failed: {err}"))),
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_io::Message;

    fn text(n: usize) -> Packet {
        Packet::message(Message::from("x".repeat(n)))
    }

    #[test]
    fn payloads_respect_max_payload() {
        // "4" + 9 x's = 10 bytes each; separators add 1.
        let mut q: VecDeque<Packet> = (0..5).map(|_| text(9)).collect();
        let batch = take_payload(&mut q, Some(21));
        assert_eq!(batch.len(), 2);
        let encoded = engine_io::payload::encode_v4(&batch);
        assert!(encoded.len() <= 21, "{}", encoded.len());
        assert_eq!(q.len(), 3);
        // One oversize packet still goes, alone.
        let mut q: VecDeque<Packet> = vec![text(100), text(1)].into();
        assert_eq!(take_payload(&mut q, Some(10)).len(), 1);
        // No limit: everything.
        let mut q: VecDeque<Packet> = (0..5).map(|_| text(9)).collect();
        assert_eq!(take_payload(&mut q, None).len(), 5);
    }

    #[test]
    fn encoded_len_matches_the_codec() {
        for packet in [
            text(0),
            text(7),
            Packet::message(Message::from(vec![1u8, 2, 3, 4])),
            Packet::empty(PacketType::Pong),
        ] {
            let encoded = engine_io::payload::encode_v4(std::slice::from_ref(&packet));
            assert_eq!(encoded.len(), encoded_len(&packet));
        }
    }
}
