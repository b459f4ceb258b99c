//! The Engine.IO server session as a state machine without I/O.
//!
//! [`Session`] knows the protocol rules of one session — handshake state,
//! heartbeat, the polling request slots, the upgrade, the close — and nothing
//! of sockets, tasks or clocks: whoever drives it (the local polling and
//! WebSocket transports today; a cluster node or another transport tomorrow)
//! feeds it [`Event`]s with the current time and carries out the [`Effect`]s it
//! returns, then sleeps until [`Session::poll_timeout`]. The shape is
//! quinn-proto's `Connection` (`handle_event`, `handle_timeout`,
//! `poll_timeout`, `poll_transmit`).
//!
//! The outgoing message queue stays with the driver (senders fill it from
//! any thread); the session only decides *when* it is written and *what*
//! answers a poll: [`Answer::Queued`] means "drain the queue into this
//! response".
//!
//! Every deadline lives in one [`Timers`] table; the upgrade and the close
//! are each one enum ([`Upgrade`], [`Lifecycle`]).

use crate::heartbeat::{Heartbeat, PacketAction, TimerAction};
use crate::packet::{Packet, PacketType, ProtocolVersion};
use crate::{CloseReason, TransportType};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// The reference waits this long for the GET that carries a graceful close.
pub(crate) const POLLING_CLOSE_WAIT: Duration = Duration::from_secs(30);

/// Identifies one HTTP request of a polling session (a GET or a POST).
pub(crate) type RequestId = u64;

/// What a session needs to know of the server's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionConfig {
    // The heartbeat keeps its own copy of the ping durations.
    pub(crate) protocol: ProtocolVersion,
    pub(crate) transport: TransportType,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) allow_upgrades: bool,
}

/// Something that happened to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A packet of this type arrived on the active transport (a POST payload
    /// item or a WebSocket frame; its data goes to the application, not here).
    Received(PacketType),
    /// A polling GET arrived.
    GetArrived(RequestId),
    /// A polling GET went away before it was answered.
    GetAborted(RequestId),
    /// A polling POST arrived (`binary`: `application/octet-stream`).
    PostArrived { id: RequestId, binary: bool },
    /// A polling POST was read and delivered.
    PostEnded(RequestId),
    /// A polling POST went away before its body was read.
    PostAborted(RequestId),
    /// The driver wrote everything queued to the WebSocket.
    Drained,
    /// A WebSocket (or WebTransport) connection asks to take over this polling session.
    ProbeOpened(TransportType),
    /// A packet arrived on the probe WebSocket.
    Probe(Packet),
    /// The probe WebSocket failed or closed.
    ProbeFailed,
    /// Graceful close requested: flush, then close.
    Close,
    /// Close gracefully (as [`Event::Close`]) once this long has passed, unless set again
    /// first; `None` cancels it (the application's deadline: Socket.IO's connect timeout).
    CloseAfter(Option<Duration>),
    /// Close at once for `reason`; a pending GET is answered with `answer`.
    Abort {
        reason: CloseReason,
        description: Option<String>,
        answer: Answer,
    },
    /// The active transport ended (WebSocket closed by the peer, I/O error).
    TransportEnded {
        reason: CloseReason,
        description: Option<String>,
    },
}

/// How a pending GET is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// With everything queued.
    Queued,
    /// With everything queued, then a close packet (graceful close).
    QueuedThenClose,
    /// With a noop (during an upgrade probe, or after the client closed).
    Noop,
    /// With a close packet.
    Close,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Answer the pending GET `id`.
    AnswerGet(RequestId, Answer),
    /// Refuse request `id` with a bare 400 (overlapping GET or POST, bad content).
    Refuse(RequestId),
    /// Refuse the WebSocket that asked to take over (already upgrading or
    /// upgraded, closed, or upgrades are off): close it.
    RefuseProbe,
    /// Queue this control packet for the active transport (ping, pong).
    Queue(Packet),
    /// Write the queue to the WebSocket.
    Flush,
    /// Send this packet on the probe WebSocket.
    ProbeSend(Packet),
    /// Close the probe WebSocket.
    CloseProbe,
    /// The upgrade completed: the probe is now the transport.
    Upgraded,
    /// Close the WebSocket transport (with a close frame).
    CloseTransport,
    /// The session closed, once: leave the server, run `on_close`.
    Closed(CloseReason, Option<String>),
}

/// The upgrade from polling to WebSocket: one state, not flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// No probe (yet, or the last one failed): may start one.
    Idle,
    /// A probe WebSocket is open; `2probe` not seen yet.
    Probing,
    /// `3probe` was sent: pending GETs are released with a noop until `5`.
    Probed,
    /// Switched to WebSocket (for good).
    Done,
}

/// The lifecycle of a session: one state, not flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Open.
    Open,
    /// Graceful close requested: flush the queue, then close.
    Closing,
    /// Closed; a GET still arriving is answered with `answer`.
    Closed { reason: CloseReason, answer: Answer },
}

/// The session's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Send a ping (v4) or give up on the client's (v3) / on the pong (v4).
    Heartbeat = 0,
    /// The upgrade must complete by then.
    Upgrade = 1,
    /// A graceful polling close waits this long for a GET.
    Close = 2,
    /// The application's deadline ([`Event::CloseAfter`]): a graceful close then.
    CloseAfter = 3,
}

/// Every deadline of a session, in one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timers([Option<Instant>; 4]);

impl Timers {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    /// Whether `t` is set and due at `now` (and stops it if so).
    fn take_due(&mut self, t: Timer, now: Instant) -> bool {
        match self.0[t as usize] {
            Some(at) if now >= at => {
                self.0[t as usize] = None;
                true
            }
            _ => false,
        }
    }
    /// The earliest deadline.
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    /// The deadline of `t`.
    #[cfg(test)]
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }
}

/// One Engine.IO session's protocol state (see the module docs).
#[derive(Debug)]
pub(crate) struct Session {
    // What it keeps of the configuration, compactly (one per session).
    protocol: ProtocolVersion,
    allow_upgrades: bool,
    upgrade_timeout_ms: u32,
    transport: TransportType,
    /// The transport of the probe (what the session switches to on `5`).
    probe_transport: TransportType,
    lifecycle: Lifecycle,
    upgrade: Upgrade,
    heartbeat: Heartbeat,
    timers: Timers,
    /// The pending polling GET (ids start at 1: `Option<NonZeroU64>` is 8 bytes).
    get: Option<NonZeroU64>,
    /// The polling POST being read.
    post: Option<NonZeroU64>,
    /// The driver holds queued data not yet written.
    queued: bool,
    effects: Vec<Effect>,
}

impl Session {
    /// A new session; the handshake (open packet) is the driver's first write.
    pub(crate) fn new(config: SessionConfig, now: Instant) -> Session {
        let heartbeat = Heartbeat::new(
            config.protocol,
            config.ping_interval,
            config.ping_timeout,
            now,
        );
        let mut timers = Timers::default();
        timers.set(Timer::Heartbeat, heartbeat.next_wake());
        Session {
            protocol: config.protocol,
            allow_upgrades: config.allow_upgrades,
            upgrade_timeout_ms: u32::try_from(config.upgrade_timeout.as_millis())
                .unwrap_or(u32::MAX),
            transport: config.transport,
            probe_transport: TransportType::Websocket,
            lifecycle: Lifecycle::Open,
            upgrade: Upgrade::Idle,
            heartbeat,
            timers,
            get: None,
            post: None,
            queued: false,
            effects: Vec::new(),
        }
    }

    /// The active transport.
    pub(crate) fn transport(&self) -> TransportType {
        self.transport
    }

    /// The lifecycle state.
    #[cfg(test)]
    pub(crate) fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The upgrade state.
    pub(crate) fn upgrade(&self) -> Upgrade {
        self.upgrade
    }

    /// The deadlines.
    #[cfg(test)]
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Whether the session is open (not closing or closed).
    pub(crate) fn is_open(&self) -> bool {
        self.lifecycle == Lifecycle::Open
    }

    /// Why the session closed, once it has.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        match self.lifecycle {
            Lifecycle::Closed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether the session is closed.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Closed { .. })
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        self.timers.next()
    }

    /// Every effect due, in order. Taking the queue leaves no allocation
    /// behind: idle sessions stay small.
    pub(crate) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Runs the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.timers.take_due(Timer::Heartbeat, now) {
            match self.heartbeat.on_timer(now) {
                TimerAction::Wait => {}
                TimerAction::SendPing => self.queue_control(Packet::empty(PacketType::Ping)),
                TimerAction::Timeout => {
                    self.close_with(CloseReason::PingTimeout, None, Answer::Close);
                    return;
                }
            }
            self.timers
                .set(Timer::Heartbeat, self.heartbeat.next_wake());
        }
        if self.timers.take_due(Timer::Upgrade, now) {
            // The client did not complete the upgrade in time.
            self.upgrade_failed();
        }
        if self.timers.take_due(Timer::Close, now) {
            self.close_with(CloseReason::ForcedClose, None, Answer::Close);
            return;
        }
        if self.timers.take_due(Timer::CloseAfter, now) {
            self.on_close(now);
        }
    }

    /// Feeds one event at `now`.
    pub(crate) fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Received(t) => self.on_packet(now, t),
            Event::GetArrived(id) => self.on_get(id),
            Event::GetAborted(id) => {
                if self.get.map(NonZeroU64::get) == Some(id) {
                    self.get = None;
                    self.close_with(
                        CloseReason::TransportError,
                        Some("poll connection closed prematurely".into()),
                        Answer::Close,
                    );
                }
            }
            Event::PostArrived { id, binary } => self.on_post(id, binary),
            Event::PostEnded(id) => {
                if self.post.map(NonZeroU64::get) == Some(id) {
                    self.post = None;
                }
            }
            Event::PostAborted(id) => {
                if self.post.map(NonZeroU64::get) == Some(id) {
                    self.post = None;
                    self.close_with(
                        CloseReason::TransportError,
                        Some("data request connection closed prematurely".into()),
                        Answer::Close,
                    );
                }
            }
            Event::Drained => {
                self.queued = false;
                if self.lifecycle == Lifecycle::Closing && self.transport != TransportType::Polling
                {
                    // Graceful close over WebSocket: everything was flushed.
                    self.close_with(CloseReason::ForcedClose, None, Answer::Close);
                }
            }
            Event::ProbeOpened(t) => self.on_probe_opened(now, t),
            Event::Probe(p) => self.on_probe(now, p),
            Event::ProbeFailed => {
                if matches!(self.upgrade, Upgrade::Probing | Upgrade::Probed) {
                    self.upgrade_failed();
                }
            }
            Event::Close => self.on_close(now),
            Event::CloseAfter(after) => match after.and_then(|d| now.checked_add(d)) {
                Some(at) if self.is_open() => self.timers.set(Timer::CloseAfter, at),
                // Too far to reach (`Duration::MAX`): never.
                _ => self.timers.stop(Timer::CloseAfter),
            },
            Event::Abort {
                reason,
                description,
                answer,
            } => self.close_with(reason, description, answer),
            Event::TransportEnded {
                reason,
                description,
            } => self.close_with(reason, description, Answer::Close),
        }
    }

    /// Whether [`Event::Received`] of `t` would change nothing, whatever the
    /// time: its caller then skips the clock read and the event (a message on
    /// an open session whose heartbeat awaits no pong: the read hot path).
    pub(crate) fn ignores_received(&self, t: PacketType) -> bool {
        !self.is_open()
            || (self.heartbeat.ignores(t)
                && !(t == PacketType::Close && self.transport == TransportType::Polling))
    }

    /// The driver queued data for the client: what to do now, if anything
    /// (answer the pending GET, or flush the WebSocket). The hot path of every
    /// send: no clock, no effect queue.
    pub(crate) fn data_queued(&mut self) -> Option<Effect> {
        self.queued = true;
        if self.transport != TransportType::Polling {
            return Some(Effect::Flush);
        }
        let before = self.effects.len();
        self.write_ready();
        if self.effects.len() == before + 1
            && matches!(self.effects.last(), Some(Effect::AnswerGet(..)))
        {
            return self.effects.pop();
        }
        None
    }

    fn on_packet(&mut self, now: Instant, t: PacketType) {
        if !self.is_open() {
            return;
        }
        match self.heartbeat.on_packet(t, now) {
            PacketAction::WrongDirection => {
                self.close_with(
                    CloseReason::TransportError,
                    Some("invalid heartbeat direction".into()),
                    Answer::Close,
                );
                return;
            }
            PacketAction::SendPong => self.queue_control(Packet::empty(PacketType::Pong)),
            PacketAction::None => {}
        }
        self.timers
            .set(Timer::Heartbeat, self.heartbeat.next_wake());
        if t == PacketType::Close && self.transport == TransportType::Polling {
            // The client closes: a pending GET is released with a noop.
            self.close_with(CloseReason::TransportClose, None, Answer::Noop);
        }
    }

    fn on_get(&mut self, id: RequestId) {
        if self.get.is_some() {
            // The first GET gets the close packet, this one a bare 400.
            self.effects.push(Effect::Refuse(id));
            self.close_with(
                CloseReason::TransportError,
                Some("overlap from client".into()),
                Answer::Close,
            );
            return;
        }
        self.get = NonZeroU64::new(id);
        self.timers.stop(Timer::Close);
        self.write_ready();
    }

    /// Whether a POST is being read or delivered.
    pub(crate) fn post_in_flight(&self) -> bool {
        self.post.is_some()
    }

    fn on_post(&mut self, id: RequestId, binary: bool) {
        if self.post.is_some() {
            self.effects.push(Effect::Refuse(id));
            self.close_with(
                CloseReason::TransportError,
                Some("data request overlap from client".into()),
                Answer::Close,
            );
            return;
        }
        if binary && self.protocol == ProtocolVersion::V4 {
            self.effects.push(Effect::Refuse(id));
            self.close_with(
                CloseReason::TransportError,
                Some("invalid content".into()),
                Answer::Close,
            );
            return;
        }
        self.post = NonZeroU64::new(id);
    }

    /// Answers the pending GET if there is something to answer it with, or
    /// asks for a WebSocket write.
    fn write_ready(&mut self) {
        if self.transport != TransportType::Polling {
            if self.queued {
                self.effects.push(Effect::Flush);
            }
            // A GET still pending on the old transport after the upgrade.
            if let Some(id) = self.get.take().map(NonZeroU64::get) {
                self.effects.push(Effect::AnswerGet(id, Answer::Close));
            }
            return;
        }
        let Some(id) = self.get.map(NonZeroU64::get) else {
            return;
        };
        let answer = match &self.lifecycle {
            Lifecycle::Closed { answer, .. } => Some(*answer),
            Lifecycle::Closing => Some(Answer::QueuedThenClose),
            Lifecycle::Open if self.queued => Some(Answer::Queued),
            Lifecycle::Open if self.upgrade == Upgrade::Probed => Some(Answer::Noop),
            Lifecycle::Open => None,
        };
        if let Some(a) = answer {
            self.get = None;
            if matches!(a, Answer::Queued | Answer::QueuedThenClose) {
                self.queued = false;
            }
            self.effects.push(Effect::AnswerGet(id, a));
            if a == Answer::QueuedThenClose {
                self.close_with(CloseReason::ForcedClose, None, Answer::Close);
            }
        }
    }

    fn on_probe_opened(&mut self, now: Instant, via: TransportType) {
        let ok = self.is_open()
            && self.upgrade == Upgrade::Idle
            && self.transport == TransportType::Polling
            && self.allow_upgrades;
        if !ok {
            // Already upgrading or upgraded, or closed: the new WebSocket is closed.
            self.effects.push(Effect::RefuseProbe);
            return;
        }
        self.upgrade = Upgrade::Probing;
        self.probe_transport = via;
        self.timers.set(
            Timer::Upgrade,
            now + Duration::from_millis(self.upgrade_timeout_ms.into()),
        );
    }

    fn on_probe(&mut self, now: Instant, p: Packet) {
        match (self.upgrade, p.packet_type) {
            (Upgrade::Probing | Upgrade::Probed, PacketType::Ping) if p.is_probe() => {
                self.effects.push(Effect::ProbeSend(Packet::pong_probe()));
                self.upgrade = Upgrade::Probed;
                self.write_ready();
            }
            (Upgrade::Probing | Upgrade::Probed, PacketType::Upgrade) => {
                if self.is_closed() {
                    self.effects.push(Effect::CloseProbe);
                    return;
                }
                self.upgrade = Upgrade::Done;
                self.transport = self.probe_transport;
                self.timers.stop(Timer::Upgrade);
                self.heartbeat.on_upgrade(now);
                self.timers
                    .set(Timer::Heartbeat, self.heartbeat.next_wake());
                self.effects.push(Effect::Upgraded);
                self.write_ready();
            }
            (Upgrade::Probing | Upgrade::Probed, _) => self.upgrade_failed(),
            _ => {}
        }
    }

    fn upgrade_failed(&mut self) {
        if matches!(self.upgrade, Upgrade::Probing | Upgrade::Probed) {
            self.upgrade = Upgrade::Idle;
            self.timers.stop(Timer::Upgrade);
            self.effects.push(Effect::CloseProbe);
        }
    }

    fn on_close(&mut self, now: Instant) {
        if !self.is_open() {
            return;
        }
        self.lifecycle = Lifecycle::Closing;
        match self.transport {
            TransportType::Polling if self.get.is_none() => {
                self.timers.set(Timer::Close, now + POLLING_CLOSE_WAIT);
            }
            TransportType::Polling => self.write_ready(),
            // Closes once the driver reports everything written (`Drained`).
            _ => self.effects.push(Effect::Flush),
        }
    }

    fn queue_control(&mut self, p: Packet) {
        self.effects.push(Effect::Queue(p));
        self.queued = true;
        self.write_ready();
    }

    fn close_with(&mut self, reason: CloseReason, description: Option<String>, answer: Answer) {
        if self.is_closed() {
            return;
        }
        self.lifecycle = Lifecycle::Closed { reason, answer };
        self.timers = Timers::default();
        self.queued = false;
        if matches!(self.upgrade, Upgrade::Probing | Upgrade::Probed) {
            self.upgrade = Upgrade::Idle;
            self.effects.push(Effect::CloseProbe);
        }
        if let Some(id) = self.get.take().map(NonZeroU64::get) {
            self.effects.push(Effect::AnswerGet(id, answer));
        }
        if self.transport != TransportType::Polling {
            self.effects.push(Effect::CloseTransport);
        }
        self.effects.push(Effect::Closed(reason, description));
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
