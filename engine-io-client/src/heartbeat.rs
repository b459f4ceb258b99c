//! The client side of the Engine.IO v4 heartbeat.
//!
//! In v4 the server pings every `pingInterval` and the client answers each `2` with a `3`
//! carrying the same data. The client watches for silence: any packet from the server proves it
//! is alive, and when nothing comes for `pingInterval + pingTimeout` the connection is closed
//! with "ping timeout", as the reference client does. The deadline itself is
//! [`Timer::Heartbeat`](crate::timer::Timer::Heartbeat) in the connection's timer table.

use std::time::Duration;

use engine_io::{Packet, PacketType};

/// The heartbeat settings of one session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    window: Duration,
}

impl Heartbeat {
    /// The heartbeat for the handshake's `pingInterval` and `pingTimeout` (milliseconds).
    pub(crate) fn new(ping_interval_ms: u64, ping_timeout_ms: u64) -> Self {
        Heartbeat {
            window: Duration::from_millis(ping_interval_ms.saturating_add(ping_timeout_ms)),
        }
    }

    /// How long the server may stay silent: re-armed on every packet it sends.
    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// The answer to a ping: a pong echoing its data (none normally).
    pub(crate) fn pong(ping: Packet) -> Packet {
        Packet::new(PacketType::Pong, ping.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_interval_plus_timeout() {
        assert_eq!(
            Heartbeat::new(300, 200).window(),
            Duration::from_millis(500)
        );
        // Saturates (the timer table bounds it further).
        assert_eq!(
            Heartbeat::new(u64::MAX, u64::MAX).window(),
            Duration::from_millis(u64::MAX)
        );
    }
}
