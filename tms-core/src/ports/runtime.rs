//! Time and randomness, injected so that tests control them.
//!
//! Every use of "now" and every random byte in `tms-core` goes through these
//! two traits. Production uses [`SystemClock`] and [`OsRandom`]; tests use
//! [`FixedClock`] and [`SeededRandom`].

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound as _, TimeZone, Utc};
use rand::{RngCore, SeedableRng};

/// The current instant, in UTC.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// Cryptographically secure random bytes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Random: Send + Sync + fmt::Debug {
    /// Fills `dest` with random bytes.
    fn fill_bytes(&self, dest: &mut [u8]);
}

/// The operating system's clock, to the microsecond.
///
/// Microseconds are what PostgreSQL's `timestamptz` keeps (and what the SQL
/// store keeps on SQLite), so an instant read back from storage equals the
/// one that was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The operating system's random source (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill_bytes(&self, dest: &mut [u8]) {
        // `ThreadRng` is a CSPRNG seeded and periodically reseeded from the OS;
        // unlike a bare `OsRng` call it cannot fail, so the trait stays infallible.
        rand::rng().fill_bytes(dest);
    }
}

/// A clock that only moves when told to. For tests and simulations.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// A clock standing at the given Unix time in milliseconds.
    pub fn at_millis(millis: i64) -> Self {
        let at = Utc
            .timestamp_millis_opt(millis)
            .single()
            .unwrap_or_default();
        Self::new(at)
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Deterministic randomness from a seed. **Never for production secrets.**
#[derive(Debug)]
pub struct SeededRandom(Mutex<rand::rngs::StdRng>);

impl SeededRandom {
    /// A generator that always yields the same bytes for the same seed.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill_bytes(&self, dest: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .fill_bytes(dest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at_millis(0);
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::seconds(5));
        assert_eq!(clock.now() - start, Duration::seconds(5));
    }

    #[test]
    fn the_system_clock_keeps_microseconds_as_storage_does() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn seeded_random_repeats_and_os_random_does_not() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        SeededRandom::new(1).fill_bytes(&mut a);
        SeededRandom::new(1).fill_bytes(&mut b);
        assert_eq!(a, b);
        OsRandom.fill_bytes(&mut a);
        OsRandom.fill_bytes(&mut b);
        assert_ne!(a, b);
    }
}
