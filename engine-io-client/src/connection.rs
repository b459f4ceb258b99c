//! The state machine of one open connection, free of I/O: heartbeat, write buffer, flush
//! waiters, upgrade and close.
//!
//! Shaped like quinn-proto's `Connection`: the driver feeds it [`Input`]s
//! ([`handle_event`](Connection::handle_event)) and the time at which a deadline passed
//! ([`handle_timeout`](Connection::handle_timeout)), each with the current time, and takes
//! [`Effect`]s back ([`poll_effect`](Connection::poll_effect)): what to write on which
//! transport, what to pause, resume, open or drop, what to tell the user, and, through
//! [`poll_timeout`](Connection::poll_timeout), when to wake it next. No task, socket, channel or
//! clock lives here, so every transition is tested without a network (see `connection/tests.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use engine_io::{Data, Message, Packet, PacketType};

use crate::client::{CloseReason, Event};
use crate::heartbeat::Heartbeat;
use crate::timer::{Timer, TimerTable};
use crate::upgrade::{AfterFailure, Upgrade};
use crate::write_buffer::WriteBuffer;
use crate::Error;
use engine_io::TransportType;

/// What happens to a connection, in order.
#[derive(Debug)]
pub(crate) enum Input {
    /// Packets received on the active transport (one polling payload or one WebSocket frame).
    Packets(Vec<Packet>),
    /// The active transport finished writing the last [`Effect::Write`] / [`Effect::WriteClose`].
    Drained,
    /// Polling stopped its receive loop, as [`Effect::PausePolling`] asked.
    Paused,
    /// The active transport is gone: `None` when the server closed it cleanly, else why.
    TransportClosed(Option<Error>),
    /// The probe WebSocket asked for by [`Effect::OpenProbe`] is open.
    ProbeOpen,
    /// Packets received on the probe WebSocket.
    ProbePackets(Vec<Packet>),
    /// The probe WebSocket could not be opened or written, or closed.
    ProbeFailed(Error),
    /// The user sends these messages, in order, with nothing in between.
    Send(Vec<Message>),
    /// The user waits, under this id, until everything queued before is written.
    Flush(u64),
    /// The user closes the connection (or dropped every handle).
    Close,
}

/// What the driver must do, in order.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Write these packets on the active transport (one `POST`, or one frame each), then report
    /// [`Input::Drained`].
    Write(Vec<Packet>),
    /// Send the close packet (polling) or the close frame (WebSocket) on the active transport,
    /// then report [`Input::Drained`].
    WriteClose,
    /// Open the probe WebSocket for this session: report [`Input::ProbeOpen`] or
    /// [`Input::ProbeFailed`].
    OpenProbe,
    /// Write these packets on the probe WebSocket.
    WriteProbe(Vec<Packet>),
    /// Stop polling once the pending `GET` completes, then report [`Input::Paused`].
    PausePolling,
    /// Start polling again.
    ResumePolling,
    /// Drop the probe WebSocket (the upgrade failed or was abandoned).
    DropProbe,
    /// The probe WebSocket becomes the active transport; polling is dropped.
    SwitchToProbe,
    /// Whether an upgrade worked, for the builder's `rememberUpgrade`.
    RememberUpgrade(bool),
    /// Hand this event to the user (waiting for room: backpressure on reading).
    Emit(Event),
    /// The flush with this id is satisfied.
    Flushed(u64),
    /// The flush with this id fails: the connection closed first.
    FlushFailed(u64),
    /// The connection is closed: stop the transports and publish the reason. The last effects
    /// follow: [`Effect::FlushFailed`] for the waiting flushes, then `Emit(Event::Close)`.
    Closed(CloseReason),
}

/// The close, as one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// Open.
    Open,
    /// The client closes: writing what is queued first.
    Draining,
    /// The close packet / frame is on its way.
    Sent,
    /// Closed: nothing happens any more.
    Closed,
}

/// What a connection is opened with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The transport the handshake went over.
    pub(crate) transport: TransportType,
    /// The handshake's `pingInterval` and `pingTimeout` (milliseconds).
    pub(crate) ping_interval: u64,
    pub(crate) ping_timeout: u64,
    /// The handshake's `maxPayload`.
    pub(crate) max_payload: Option<u64>,
    /// Whether the handshake's `upgrades` lists a transport the client has (`probe_transport`).
    pub(crate) server_upgrades: bool,
    /// Whether the client may upgrade (upgrade on, the probe's transport among its transports).
    pub(crate) client_upgrades: bool,
    /// The transport the upgrade probes (WebTransport when both sides have it, as the
    /// reference favours it, else WebSocket).
    pub(crate) probe_transport: TransportType,
    /// How long the probe may take.
    pub(crate) upgrade_timeout: Duration,
    /// How long a client close may take.
    pub(crate) close_timeout: Duration,
    /// How many packets may wait to be written before [`Connection::accepts_sends`] says no.
    pub(crate) send_queue: usize,
}

/// One open connection.
#[derive(Debug)]
pub(crate) struct Connection {
    transport: TransportType,
    probe_transport: TransportType,
    buffer: WriteBuffer,
    heartbeat: Heartbeat,
    upgrade: Upgrade,
    close: Close,
    timers: TimerTable,
    close_timeout: Duration,
    send_queue: usize,
    effects: VecDeque<Effect>,
}

impl Connection {
    /// The connection right after the handshake, at `now`: `initial` are the packets that came
    /// with the `open` packet. Starts the upgrade probe when both sides allow it.
    pub(crate) fn open(now: Instant, settings: &Settings, initial: Vec<Packet>) -> Self {
        let max_payload = settings
            .max_payload
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let heartbeat = Heartbeat::new(settings.ping_interval, settings.ping_timeout);
        let mut conn = Connection {
            transport: settings.transport,
            probe_transport: settings.probe_transport,
            buffer: WriteBuffer::new(max_payload),
            heartbeat,
            upgrade: Upgrade::Idle,
            close: Close::Open,
            timers: TimerTable::default(),
            close_timeout: settings.close_timeout,
            send_queue: settings.send_queue,
            effects: VecDeque::new(),
        };
        conn.timers.set(Timer::Heartbeat, now, heartbeat.window());
        conn.on_packets(now, initial);
        if conn.close == Close::Open
            && settings.transport == TransportType::Polling
            && settings.client_upgrades
            && settings.server_upgrades
        {
            conn.upgrade = Upgrade::Connecting;
            conn.timers
                .set(Timer::Upgrade, now, settings.upgrade_timeout);
            conn.effects.push_back(Effect::OpenProbe);
        }
        conn
    }

    /// The transport an upgrade probes.
    pub(crate) fn probe_transport(&self) -> TransportType {
        self.probe_transport
    }

    /// The transport in use.
    pub(crate) fn transport(&self) -> TransportType {
        self.transport
    }

    /// Whether the driver may take more [`Input::Send`]s now: open, and the queue has room.
    pub(crate) fn accepts_sends(&self) -> bool {
        self.close == Close::Open && self.buffer.len() < self.send_queue
    }

    /// Whether the connection is over (after [`Effect::Closed`]).
    pub(crate) fn is_closed(&self) -> bool {
        self.close == Close::Closed
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next thing to do.
    pub(crate) fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Reacts to `input`, which happened at `now`.
    pub(crate) fn handle_event(&mut self, now: Instant, input: Input) {
        if self.is_closed() {
            return;
        }
        match input {
            Input::Packets(packets) => self.on_packets(now, packets),
            Input::Drained => self.on_drained(),
            Input::Paused => {
                if self.upgrade.polling_paused() {
                    self.effects.push_back(Effect::ResumePolling);
                } else {
                    self.try_switch();
                }
            }
            Input::TransportClosed(err) => {
                tracing::debug!(transport = %self.transport, ?err, "engine.io client: transport ended");
                let reason = if self.close != Close::Open {
                    CloseReason::ForcedClose
                } else {
                    match err {
                        None => CloseReason::TransportClose,
                        Some(err @ Error::Protocol(_)) => CloseReason::ParseError(err),
                        Some(err) => CloseReason::TransportError(err),
                    }
                };
                self.finish(reason);
            }
            Input::ProbeOpen => {
                if let Some(probe) = self.upgrade.opened() {
                    self.effects.push_back(Effect::WriteProbe(vec![probe]));
                }
            }
            Input::ProbePackets(packets) => {
                for packet in &packets {
                    match self.upgrade.probe_packet(packet) {
                        Ok(()) => {
                            tracing::debug!("engine.io client: probe answered, pausing polling");
                            self.effects.push_back(Effect::PausePolling);
                        }
                        Err(err) => {
                            self.probe_failed(err);
                            return;
                        }
                    }
                }
            }
            Input::ProbeFailed(err) => self.probe_failed(err),
            Input::Send(messages) => {
                if self.close != Close::Open {
                    return;
                }
                for message in messages {
                    self.buffer.push(Packet::message(message));
                }
                self.flush_writes();
            }
            Input::Flush(id) => {
                if self.buffer.flush(id) {
                    self.effects.push_back(Effect::Flushed(id));
                }
            }
            Input::Close => self.begin_close(now),
        }
    }

    /// Fires the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expire(now) {
            if self.is_closed() {
                return;
            }
            match timer {
                Timer::Heartbeat => self.finish(CloseReason::PingTimeout),
                Timer::Close => self.finish(CloseReason::ForcedClose),
                Timer::Upgrade => {
                    self.probe_failed(Error::WebSocket("upgrade timed out".to_owned()));
                }
            }
        }
    }

    // ---- receiving ----

    fn on_packets(&mut self, now: Instant, packets: Vec<Packet>) {
        for packet in packets {
            // Any packet proves the server is alive (the reference resets on every packet).
            self.timers
                .set(Timer::Heartbeat, now, self.heartbeat.window());
            match packet.packet_type {
                PacketType::Ping => self.buffer.push(Heartbeat::pong(packet)),
                PacketType::Message => {
                    if let Some(message) = packet.into_message() {
                        self.effects
                            .push_back(Effect::Emit(Event::Message(message)));
                    }
                }
                PacketType::Close => {
                    tracing::debug!(transport = %self.transport, "engine.io client: close packet from the server");
                    self.finish(if self.close == Close::Open {
                        CloseReason::TransportClose
                    } else {
                        CloseReason::ForcedClose
                    });
                    return;
                }
                PacketType::Open | PacketType::Pong | PacketType::Upgrade | PacketType::Noop => {}
            }
        }
        self.flush_writes();
    }

    // ---- writing ----

    /// Hands the next batch to the transport if it can take one.
    fn flush_writes(&mut self) {
        if self.upgrade.holds_writes() || self.close == Close::Sent {
            return;
        }
        if let Some(batch) = self.buffer.take_batch(self.transport) {
            self.effects.push_back(Effect::Write(batch));
        }
    }

    fn on_drained(&mut self) {
        for id in self.buffer.drained() {
            self.effects.push_back(Effect::Flushed(id));
        }
        if self.close == Close::Sent {
            self.finish(CloseReason::ForcedClose);
            return;
        }
        if self.upgrade.holds_writes() {
            self.try_switch();
            return;
        }
        self.flush_writes();
        self.progress_close();
    }

    // ---- upgrade ----

    fn probe_failed(&mut self, err: Error) {
        let Some(after) = self.upgrade.fail() else {
            return;
        };
        tracing::debug!(%err, "engine.io client: upgrade failed, staying on polling");
        self.timers.stop(Timer::Upgrade);
        self.effects.push_back(Effect::DropProbe);
        if after == AfterFailure::Resume {
            self.effects.push_back(Effect::ResumePolling);
        }
        self.effects.push_back(Effect::RememberUpgrade(false));
        self.effects
            .push_back(Effect::Emit(Event::UpgradeError(err)));
        self.flush_writes();
    }

    /// Switches to the WebSocket once polling is paused and no `POST` is in flight.
    fn try_switch(&mut self) {
        if !self.upgrade.try_switch(self.buffer.writer_idle()) {
            return;
        }
        self.timers.stop(Timer::Upgrade);
        self.transport = self.probe_transport;
        self.effects.push_back(Effect::SwitchToProbe);
        // The upgrade packet goes first, alone; it is not a user packet for `flush`.
        self.buffer.start_control_write();
        self.effects.push_back(Effect::Write(vec![Packet::new(
            PacketType::Upgrade,
            Data::Empty,
        )]));
        // The reference's `priorWebsocketSuccess`: WebSocket only.
        self.effects.push_back(Effect::RememberUpgrade(
            self.probe_transport == TransportType::Websocket,
        ));
        tracing::debug!(transport = %self.probe_transport, "engine.io client: upgraded");
        self.effects
            .push_back(Effect::Emit(Event::Upgrade(self.probe_transport)));
    }

    // ---- close ----

    fn begin_close(&mut self, now: Instant) {
        if self.close != Close::Open {
            return;
        }
        tracing::debug!("engine.io client: closing");
        self.close = Close::Draining;
        self.timers.set(Timer::Close, now, self.close_timeout);
        if self.upgrade.abandon() {
            // The close goes over the current transport.
            self.timers.stop(Timer::Upgrade);
            self.effects.push_back(Effect::DropProbe);
        }
        self.flush_writes();
        self.progress_close();
    }

    /// Sends the close once everything queued is written.
    fn progress_close(&mut self) {
        if self.close != Close::Draining || !self.buffer.writer_idle() || !self.buffer.is_empty() {
            return;
        }
        self.buffer.start_control_write();
        self.close = Close::Sent;
        self.effects.push_back(Effect::WriteClose);
    }

    fn finish(&mut self, reason: CloseReason) {
        tracing::debug!(%reason, "engine.io client: closed");
        self.close = Close::Closed;
        self.upgrade = Upgrade::Done;
        self.timers.stop_all();
        self.effects.push_back(Effect::Closed(reason.clone()));
        for id in self.buffer.take_flush_waiters() {
            self.effects.push_back(Effect::FlushFailed(id));
        }
        self.effects.push_back(Effect::Emit(Event::Close(reason)));
    }
}

#[cfg(test)]
mod tests;
