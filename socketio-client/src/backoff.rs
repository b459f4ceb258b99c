//! Reconnection delays: exponential backoff with jitter, computed exactly as the reference client
//! (`socket.io-client`'s `Backoff`, itself from the `backo2` package) does, so a fleet of our
//! clients spreads its reconnections over time the same way a fleet of browsers does.

use std::time::Duration;

/// Exponential backoff with jitter.
///
/// The n-th delay (n counting from 0) is `min · factor^n`, moved by a random deviation of up to
/// `jitter · delay` (down or up with equal probability), then capped at `max`. The reference
/// client's defaults are 1000 ms, 5000 ms, factor 2 and jitter 0.5.
///
/// ```
/// use socketio_client::Backoff;
/// use std::time::Duration;
///
/// let mut backoff = Backoff::new(Duration::from_millis(1000), Duration::from_millis(5000), 0.0);
/// assert_eq!(backoff.duration(), Duration::from_millis(1000));
/// assert_eq!(backoff.duration(), Duration::from_millis(2000));
/// assert_eq!(backoff.duration(), Duration::from_millis(4000));
/// assert_eq!(backoff.duration(), Duration::from_millis(5000)); // capped
/// assert_eq!(backoff.attempts(), 4);
/// backoff.reset();
/// assert_eq!(backoff.duration(), Duration::from_millis(1000));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: f64,
    max_ms: f64,
    factor: f64,
    jitter: f64,
    attempts: u32,
}

impl Default for Backoff {
    /// The reference client's reconnection backoff: 1000 ms doubling up to 5000 ms, jitter 0.5.
    fn default() -> Self {
        Backoff::new(
            Duration::from_millis(1000),
            Duration::from_millis(5000),
            0.5,
        )
    }
}

impl Backoff {
    /// A backoff starting at `min`, doubling up to `max`, with a randomization factor `jitter`.
    ///
    /// As in the reference, a jitter outside `(0, 1]` means no jitter.
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Backoff {
            min_ms: min.as_millis() as f64,
            max_ms: max.as_millis() as f64,
            factor: 2.0,
            jitter: if jitter > 0.0 && jitter <= 1.0 {
                jitter
            } else {
                0.0
            },
            attempts: 0,
        }
    }

    /// Changes the growth factor (2 by default).
    pub fn with_factor(mut self, factor: f64) -> Self {
        if factor.is_finite() && factor >= 1.0 {
            self.factor = factor;
        }
        self
    }

    /// The delay before the next attempt; counts one attempt.
    pub fn duration(&mut self) -> Duration {
        self.duration_with(rand::random::<f64>())
    }

    /// [`duration`](Self::duration) with a given random number in `[0, 1)`, for deterministic
    /// tests: the same formula as the reference (`floor(rand · 10)` even means "subtract").
    pub fn duration_with(&mut self, rand: f64) -> Duration {
        let exponent = i32::try_from(self.attempts).unwrap_or(i32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        let mut ms = self.min_ms * self.factor.powi(exponent);
        if self.jitter > 0.0 {
            let rand = rand.clamp(0.0, 1.0);
            let deviation = (rand * self.jitter * ms).floor();
            // The reference picks the direction from the same random number.
            ms = if ((rand * 10.0).floor() as u64) & 1 == 0 {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        let ms = ms.min(self.max_ms);
        // `| 0` in the reference truncates towards zero; infinities and NaN cannot reach here
        // because `max_ms` is finite, but be defensive anyway.
        if ms.is_finite() && ms > 0.0 {
            Duration::from_millis(ms.trunc() as u64)
        } else {
            Duration::ZERO
        }
    }

    /// How many delays were handed out since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over from the minimum delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reference_defaults_without_randomness_effect() {
        // rand = 0 gives a deviation of 0.
        let mut b = Backoff::default();
        let got: Vec<_> = (0..6).map(|_| b.duration_with(0.0)).collect();
        assert_eq!(
            got,
            vec![ms(1000), ms(2000), ms(4000), ms(5000), ms(5000), ms(5000)]
        );
    }

    #[test]
    fn jitter_matches_reference_formula() {
        // rand 0.25: floor(2.5)=2 is even → subtract floor(0.25*0.5*1000)=125.
        let mut b = Backoff::default();
        assert_eq!(b.duration_with(0.25), ms(875));
        // rand 0.15: floor(1.5)=1 is odd → add floor(0.15*0.5*2000)=150.
        assert_eq!(b.duration_with(0.15), ms(2150));
        // attempt 2: 4000 + floor(0.99*0.5*4000)=1980 → 5980 → capped at 5000.
        assert_eq!(b.duration_with(0.99), ms(5000));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::default();
        for _ in 0..1000 {
            b.reset();
            let d = b.duration();
            assert!(d >= ms(500) && d <= ms(1500), "{d:?}");
        }
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::default();
        for _ in 0..5000 {
            assert!(b.duration() <= ms(5000));
        }
    }

    #[test]
    fn invalid_jitter_means_none() {
        let mut b = Backoff::new(ms(100), ms(1000), 2.0);
        assert_eq!(b.duration_with(0.9), ms(100));
    }
}
