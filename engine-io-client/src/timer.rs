//! Every deadline of a connection, in one table (as quinn-proto's `TimerTable`): the
//! [`Connection`](crate::connection::Connection) sets and stops them, the driver sleeps until the
//! earliest one and then reports the time.

use std::time::{Duration, Instant};

/// How long a timer can be at most (a hostile handshake could ask for `u64::MAX` milliseconds,
/// which would overflow `Instant`).
pub(crate) const MAX_TIMER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The deadlines of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Nothing came from the server for `pingInterval + pingTimeout`: "ping timeout".
    Heartbeat,
    /// The upgrade probe did not finish in time (the connect timeout): stay on polling.
    Upgrade,
    /// A client close did not complete in time (the close timeout): "forced close" anyway.
    Close,
}

impl Timer {
    const ALL: [Timer; 3] = [Timer::Heartbeat, Timer::Upgrade, Timer::Close];

    fn index(self) -> usize {
        self as usize
    }
}

/// When each [`Timer`] fires, if it is armed.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 3],
}

impl TimerTable {
    /// Arms `timer` to fire `after` from `now` (bounded by [`MAX_TIMER`]).
    pub(crate) fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        let after = after.min(MAX_TIMER);
        self.deadlines[timer.index()] = Some(now.checked_add(after).unwrap_or(now));
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 3];
    }

    /// When `timer` fires, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The first timer (in [`Timer`] order) due at `now`, disarmed as it is returned.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_and_expiry() {
        let now = Instant::now();
        let mut timers = TimerTable::default();
        assert_eq!(timers.next_timeout(), None);
        timers.set(Timer::Close, now, Duration::from_secs(5));
        timers.set(Timer::Heartbeat, now, Duration::from_secs(2));
        assert_eq!(timers.next_timeout(), Some(now + Duration::from_secs(2)));
        assert_eq!(timers.expire(now + Duration::from_secs(1)), None);
        assert_eq!(
            timers.expire(now + Duration::from_secs(9)),
            Some(Timer::Heartbeat)
        );
        assert_eq!(
            timers.expire(now + Duration::from_secs(9)),
            Some(Timer::Close)
        );
        assert_eq!(timers.expire(now + Duration::from_secs(9)), None);
    }

    #[test]
    fn hostile_durations_are_bounded() {
        let now = Instant::now();
        let mut timers = TimerTable::default();
        timers.set(Timer::Heartbeat, now, Duration::MAX);
        assert_eq!(timers.get(Timer::Heartbeat), Some(now + MAX_TIMER));
    }
}
