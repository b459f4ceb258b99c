//! The client side of the Engine.IO v4 heartbeat.
//!
//! In v4 the server pings every `pingInterval` and the client answers each `2` with a `3` (the
//! driver does that). The client watches for silence: any packet from the server proves it is
//! alive, and when nothing comes for `pingInterval + pingTimeout` the connection is closed with
//! "ping timeout", as the reference client does.

use std::time::Duration;

use tokio::time::Instant;

/// How long a timer can be at most (a hostile handshake could ask for `u64::MAX` milliseconds,
/// which would overflow `Instant`).
pub(crate) const MAX_TIMER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The silence deadline.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    window: Duration,
    deadline: Instant,
}

impl Heartbeat {
    /// A heartbeat for the handshake's `pingInterval` and `pingTimeout` (milliseconds), armed now.
    pub(crate) fn new(ping_interval_ms: u64, ping_timeout_ms: u64) -> Self {
        let window =
            Duration::from_millis(ping_interval_ms.saturating_add(ping_timeout_ms)).min(MAX_TIMER);
        Heartbeat {
            window,
            deadline: Instant::now() + window,
        }
    }

    /// Something came from the server: push the deadline back.
    pub(crate) fn reset(&mut self) {
        self.deadline = Instant::now() + self.window;
    }

    /// When the connection is considered dead if nothing arrives before.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_interval_plus_timeout_and_bounded() {
        let hb = Heartbeat::new(300, 200);
        assert_eq!(hb.window, Duration::from_millis(500));
        let hostile = Heartbeat::new(u64::MAX, u64::MAX);
        assert_eq!(hostile.window, MAX_TIMER);
    }
}
