//! Time as an input: a monotonic [`Instant`] the caller supplies (STYLE rule 7).

use core::ops::Add;
use core::time::Duration;

/// A point in time on the caller's monotonic clock, measured from an epoch the caller chooses.
///
/// The engine never reads a clock: every `handle_*` call takes `now: Instant`, and [`poll_timeout`] answers
/// with an `Instant` on the same clock. A `std` driver maps `std::time::Instant` to it by subtracting a start
/// instant (`Instant::from_elapsed(std_now - start)`); a simulator passes its virtual time.
///
/// [`poll_timeout`]: crate::Engine::poll_timeout
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The instant `elapsed` after the epoch.
    pub const fn from_elapsed(elapsed: Duration) -> Self {
        Self(elapsed)
    }

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// Time since the epoch.
    pub const fn elapsed(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d`, saturating at the largest representable instant (so a huge hold never wraps to the past).
    pub fn saturating_add(self, d: Duration) -> Instant {
        Self(self.0.saturating_add(d))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating, see [`Instant::saturating_add`].
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_difference_clamps_at_zero() {
        let t = Instant::from_millis(1_500);
        assert_eq!((t + Duration::from_millis(500)).elapsed(), Duration::from_secs(2));
        assert_eq!(Instant::from_elapsed(Duration::MAX) + Duration::from_secs(1), Instant::from_elapsed(Duration::MAX));
        assert_eq!(t.saturating_duration_since(Instant::from_millis(2_000)), Duration::ZERO);
        assert_eq!(t.saturating_duration_since(Instant::from_millis(500)), Duration::from_secs(1));
    }
}
