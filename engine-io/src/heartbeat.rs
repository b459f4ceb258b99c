//! The heartbeat state machine, free of I/O and timers so it is unit-testable.
//!
//! * v4: the server sends `2` every `ping_interval` and expects `3` within
//!   `ping_timeout`. Any other packet received while waiting refreshes the
//!   timeout once (as the reference does). A pong re-arms the interval from now.
//! * v3: the client sends `2` and the server answers `3`; the session times out
//!   `ping_interval + ping_timeout` after the last client ping.
//!
//! A heartbeat in the wrong direction is a transport error.

use crate::packet::{PacketType, ProtocolVersion};
use std::time::Duration;
use std::time::Instant;

/// What the socket must do after a timer check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerAction {
    /// Nothing yet.
    Wait,
    /// Send a ping (v4).
    SendPing,
    /// Close the session: "ping timeout".
    Timeout,
}

/// What the socket must do after receiving a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketAction {
    /// Nothing.
    None,
    /// Answer with a pong (v3).
    SendPong,
    /// Heartbeat in the wrong direction: close with "transport error".
    WrongDirection,
}

#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    protocol: ProtocolVersion,
    // In milliseconds (the protocol's unit, as the handshake announces them):
    // one heartbeat per session, so 8 bytes rather than two 16-byte `Duration`s.
    interval_ms: u32,
    timeout_ms: u32,
    awaiting_pong: bool,
    refreshed: bool,
    /// v4 not awaiting: when to ping; v4 awaiting: pong deadline; v3: deadline.
    deadline: Instant,
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Heartbeat {
    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    pub(crate) fn new(
        protocol: ProtocolVersion,
        interval: Duration,
        timeout: Duration,
        now: Instant,
    ) -> Self {
        let deadline = match protocol {
            ProtocolVersion::V4 => now + interval,
            ProtocolVersion::V3 => now + interval + timeout,
        };
        Heartbeat {
            protocol,
            interval_ms: millis(interval),
            timeout_ms: millis(timeout),
            awaiting_pong: false,
            refreshed: false,
            deadline,
        }
    }

    /// When [`Heartbeat::on_timer`] must next be called.
    pub(crate) fn next_wake(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn on_timer(&mut self, now: Instant) -> TimerAction {
        if now < self.deadline {
            return TimerAction::Wait;
        }
        match self.protocol {
            ProtocolVersion::V3 => TimerAction::Timeout,
            ProtocolVersion::V4 if self.awaiting_pong => TimerAction::Timeout,
            ProtocolVersion::V4 => {
                self.awaiting_pong = true;
                self.refreshed = false;
                self.deadline = now + self.timeout();
                TimerAction::SendPing
            }
        }
    }

    /// Whether [`Heartbeat::on_packet`] would change nothing and answer
    /// [`PacketAction::None`] for `t`, whatever the time: then its caller need
    /// not read the clock (a message on a v4 session that awaits no pong, the
    /// hot path).
    pub(crate) fn ignores(&self, t: PacketType) -> bool {
        let heartbeat = t == PacketType::Ping || t == PacketType::Pong;
        match self.protocol {
            ProtocolVersion::V4 => !heartbeat && (!self.awaiting_pong || self.refreshed),
            ProtocolVersion::V3 => !heartbeat,
        }
    }

    pub(crate) fn on_packet(&mut self, t: PacketType, now: Instant) -> PacketAction {
        match self.protocol {
            ProtocolVersion::V4 => {
                if self.awaiting_pong && !self.refreshed && t != PacketType::Pong {
                    self.deadline = now + self.timeout();
                    self.refreshed = true;
                }
                match t {
                    PacketType::Ping => PacketAction::WrongDirection,
                    PacketType::Pong => {
                        self.awaiting_pong = false;
                        self.deadline = now + self.interval();
                        PacketAction::None
                    }
                    _ => PacketAction::None,
                }
            }
            ProtocolVersion::V3 => match t {
                PacketType::Ping => {
                    self.deadline = now + (self.interval() + self.timeout());
                    PacketAction::SendPong
                }
                PacketType::Pong => PacketAction::WrongDirection,
                _ => PacketAction::None,
            },
        }
    }

    /// After an upgrade the reference clears the pending ping timeout.
    pub(crate) fn on_upgrade(&mut self, now: Instant) {
        match self.protocol {
            ProtocolVersion::V4 => {
                if self.awaiting_pong {
                    self.awaiting_pong = false;
                    self.deadline = now + self.interval();
                }
            }
            ProtocolVersion::V3 => self.deadline = now + (self.interval() + self.timeout()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn v4_ping_pong_cycle() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(ProtocolVersion::V4, 300 * MS, 200 * MS, t0);
        assert_eq!(h.on_timer(t0 + 299 * MS), TimerAction::Wait);
        assert_eq!(h.on_timer(t0 + 300 * MS), TimerAction::SendPing);
        assert_eq!(h.next_wake(), t0 + 500 * MS);
        assert_eq!(
            h.on_packet(PacketType::Pong, t0 + 350 * MS),
            PacketAction::None
        );
        assert_eq!(h.next_wake(), t0 + 650 * MS);
        assert_eq!(h.on_timer(t0 + 650 * MS), TimerAction::SendPing);
        assert_eq!(h.on_timer(t0 + 850 * MS), TimerAction::Timeout);
    }

    #[test]
    fn v4_other_packet_refreshes_timeout_once() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(ProtocolVersion::V4, 300 * MS, 200 * MS, t0);
        assert_eq!(h.on_timer(t0 + 300 * MS), TimerAction::SendPing);
        h.on_packet(PacketType::Message, t0 + 400 * MS);
        assert_eq!(h.next_wake(), t0 + 600 * MS);
        h.on_packet(PacketType::Message, t0 + 550 * MS);
        assert_eq!(h.next_wake(), t0 + 600 * MS);
        assert_eq!(h.on_timer(t0 + 600 * MS), TimerAction::Timeout);
    }

    #[test]
    fn v4_client_ping_is_wrong_direction() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(ProtocolVersion::V4, 300 * MS, 200 * MS, t0);
        assert_eq!(
            h.on_packet(PacketType::Ping, t0),
            PacketAction::WrongDirection
        );
    }

    #[test]
    fn v3_client_pings() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(ProtocolVersion::V3, 300 * MS, 200 * MS, t0);
        assert_eq!(h.on_timer(t0 + 499 * MS), TimerAction::Wait);
        assert_eq!(
            h.on_packet(PacketType::Ping, t0 + 400 * MS),
            PacketAction::SendPong
        );
        assert_eq!(h.on_timer(t0 + 800 * MS), TimerAction::Wait);
        assert_eq!(h.on_timer(t0 + 900 * MS), TimerAction::Timeout);
        assert_eq!(
            h.on_packet(PacketType::Pong, t0),
            PacketAction::WrongDirection
        );
    }

    /// `ignores` is exact where it says so: such a packet, at any time, leaves
    /// the heartbeat as it was (the callers skip the clock read and the call).
    #[test]
    fn ignored_packets_change_nothing() {
        let t0 = Instant::now();
        let types = [
            PacketType::Message,
            PacketType::Ping,
            PacketType::Pong,
            PacketType::Close,
        ];
        for protocol in [ProtocolVersion::V4, ProtocolVersion::V3] {
            let idle = Heartbeat::new(protocol, 300 * MS, 200 * MS, t0);
            let mut awaiting = idle.clone();
            awaiting.on_timer(t0 + 300 * MS);
            let mut refreshed = awaiting.clone();
            refreshed.on_packet(PacketType::Message, t0 + 350 * MS);
            for h in [idle, awaiting, refreshed] {
                for t in types {
                    if !h.ignores(t) {
                        continue;
                    }
                    let mut after = h.clone();
                    assert_eq!(after.on_packet(t, t0 + 450 * MS), PacketAction::None);
                    assert_eq!(
                        (after.deadline, after.awaiting_pong, after.refreshed),
                        (h.deadline, h.awaiting_pong, h.refreshed)
                    );
                }
            }
            // The hot path: a message on a session that awaits no pong.
            let h = Heartbeat::new(protocol, 300 * MS, 200 * MS, t0);
            assert!(h.ignores(PacketType::Message));
        }
    }
}
