//! Lockout per account and throttling per IP, as pure state machines over a
//! clock (after kanidm's soft-lock: time is an argument, never read here).
//!
//! ```text
//!            failure (< 5 in window)          5th failure in window
//!   Open ───────────────────────────▶ Open ─────────────────────────▶ Locked(d)
//!    ▲  ◀── success resets everything ──┘                             │
//!    │                                                                │ until passes
//!    └─────────── (failures counted anew; next lock lasts 2d) ◀───────┘
//! ```
//!
//! The first lock lasts 15 minutes; each further lock doubles, up to 24 hours.
//! A success resets the account entirely; so do 24 hours without a failure
//! (counted from the end of the last lock).
//! The lock check comes before any password hashing, so a locked account
//! costs the server nothing. The state is plain data for the store to keep,
//! so every replica sees the same lock.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};

/// The numbers of the account lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that trigger a lock.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// The first lock's length.
    pub base_lock: Duration,
    /// The longest lock.
    pub max_lock: Duration,
    /// A quiet period after which earlier locks are forgotten.
    pub forget_after: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            base_lock: Duration::minutes(15),
            max_lock: Duration::hours(24),
            forget_after: Duration::hours(24),
        }
    }
}

/// Recent event times within a sliding window, oldest first, at most `limit`
/// of them. Exact (a sliding log, not an approximation) and small: the
/// limits here are 5 and 30 entries.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SlidingWindow(Vec<DateTime<Utc>>);

impl SlidingWindow {
    /// Forgets events that are `window` or more before `now`.
    fn prune(&mut self, now: DateTime<Utc>, window: Duration) {
        self.0.retain(|at| now - *at < window);
    }

    /// How many events remain in the window.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no event is in the window.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The newest event recorded (for retention: when the record was last
    /// active).
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.0.iter().max().copied()
    }

    /// The oldest event still in the window.
    fn oldest(&self) -> Option<DateTime<Utc>> {
        self.0.first().copied()
    }

    /// Records an event, keeping at most `limit` (the newest).
    fn push(&mut self, at: DateTime<Utc>, limit: usize) {
        self.0.push(at);
        if self.0.len() > limit {
            let excess = self.0.len() - limit;
            self.0.drain(..excess);
        }
    }
}

/// The lockout state of one account (known or unknown: unknown names are
/// locked the same way, so lockout reveals nothing about who exists).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountLockout {
    /// Failures within the window.
    pub failures: SlidingWindow,
    /// Locks so far; the next lock lasts `base_lock × 2^locks`.
    pub locks: u32,
    /// When the current (or last) lock ends.
    pub locked_until: Option<DateTime<Utc>>,
    /// The last failure, for forgetting old locks.
    pub last_failure_at: Option<DateTime<Utc>>,
}

impl AccountLockout {
    /// The last time anything happened to the record: a failure or the end
    /// of a lock. A record idle since long before now can be forgotten
    /// (retention) without weakening the lockout.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        [
            self.failures.latest(),
            self.last_failure_at,
            self.locked_until,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// `Err(Locked)` while a lock is in force. Call before hashing anything.
    pub fn check(&self, now: DateTime<Utc>) -> Result<()> {
        match self.locked_until {
            Some(until) if now < until => Err(Error::Locked { until }),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt; returns the end of the lock it started, if any.
    pub fn record_failure(
        &mut self,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Option<DateTime<Utc>> {
        // Quiet time counts from the later of the last failure and the end of
        // the last lock: serving a 24 h lock is not a quiet day.
        let quiet_since = self.last_failure_at.max(self.locked_until);
        if quiet_since.is_some_and(|since| now - since >= policy.forget_after) {
            *self = Self::default();
        }
        self.failures.prune(now, policy.window);
        let limit = usize::try_from(policy.max_failures).unwrap_or(usize::MAX);
        self.failures.push(now, limit);
        self.last_failure_at = Some(now);
        if self.failures.len() < limit {
            return None;
        }
        let until = now + lock_length(self.locks, policy);
        self.locks = self.locks.saturating_add(1);
        // Failures before a lock do not count towards the next one.
        self.failures = SlidingWindow::default();
        self.locked_until = Some(until);
        Some(until)
    }

    /// Records a success: everything is forgotten.
    pub fn record_success(&mut self) {
        *self = Self::default();
    }

    /// Whether the state differs from a fresh account's (a store may delete
    /// default rows instead of keeping them).
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }
}

/// `base × 2^earlier_locks`, capped at `max`.
fn lock_length(earlier_locks: u32, policy: &LockoutPolicy) -> Duration {
    // 2^7 × 15 min already exceeds 24 h; cap the exponent so nothing overflows.
    let factor = 1_i32 << earlier_locks.min(16);
    let length = policy.base_lock * factor;
    if length > policy.max_lock {
        policy.max_lock
    } else {
        length
    }
}

/// The numbers of the per-IP throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts allowed per window.
    pub max_attempts: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_attempts: 30,
            window: Duration::minutes(10),
        }
    }
}

/// Login attempts from one IP address in a sliding window.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IpThrottle {
    /// Admitted attempts within the window.
    pub attempts: SlidingWindow,
}

impl IpThrottle {
    /// The last attempt recorded (see [`AccountLockout::last_activity`]).
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        self.attempts.latest()
    }

    /// Counts an attempt at `now`, or refuses it with `RateLimited` when the
    /// window is full (a refused attempt is not counted, so a client that
    /// waits the advised time gets through).
    pub fn attempt(&mut self, now: DateTime<Utc>, policy: &ThrottlePolicy) -> Result<()> {
        self.attempts.prune(now, policy.window);
        let limit = usize::try_from(policy.max_attempts).unwrap_or(usize::MAX);
        if self.attempts.len() >= limit {
            let free_at = self
                .attempts
                .oldest()
                .map_or(now, |oldest| oldest + policy.window);
            return Err(Error::RateLimited {
                retry_after: (free_at - now).max(Duration::seconds(1)),
            });
        }
        self.attempts.push(now, limit);
        Ok(())
    }

    /// Whether nothing is remembered (a store may delete such rows).
    pub fn is_clear(&self) -> bool {
        self.attempts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn fail_times(
        state: &mut AccountLockout,
        start: DateTime<Utc>,
        n: u32,
    ) -> Option<DateTime<Utc>> {
        let policy = LockoutPolicy::default();
        (0..n)
            .filter_map(|i| state.record_failure(start + Duration::seconds(i.into()), &policy))
            .last()
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let mut state = AccountLockout::default();
        assert_eq!(fail_times(&mut state, t0(), 4), None);
        assert!(state.check(t0()).is_ok());
        let until = fail_times(&mut state, t0() + Duration::seconds(10), 1).unwrap();
        assert_eq!(until, t0() + Duration::seconds(10) + Duration::minutes(15));
        assert!(matches!(
            state.check(until - Duration::seconds(1)),
            Err(Error::Locked { .. })
        ));
        assert!(state.check(until).is_ok());
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let mut state = AccountLockout::default();
        let policy = LockoutPolicy::default();
        for i in 0..10 {
            let at = t0() + Duration::minutes(4 * i);
            assert_eq!(state.record_failure(at, &policy), None, "failure {i}");
        }
    }

    #[test]
    fn each_further_lock_doubles_up_to_a_day() {
        let mut state = AccountLockout::default();
        let mut now = t0();
        let mut lengths = vec![];
        for _ in 0..10 {
            let until = fail_times(&mut state, now, 5).unwrap();
            let started = now + Duration::seconds(4);
            lengths.push((until - started).num_minutes());
            now = until;
        }
        assert_eq!(lengths, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
    }

    #[test]
    fn success_resets_everything() {
        let mut state = AccountLockout::default();
        fail_times(&mut state, t0(), 5);
        state.record_success();
        assert!(state.is_clear());
        assert!(state.check(t0()).is_ok());
    }

    #[test]
    fn a_quiet_day_forgets_earlier_locks() {
        let mut state = AccountLockout::default();
        let until = fail_times(&mut state, t0(), 5).unwrap();
        let later = until + Duration::hours(25);
        let next = fail_times(&mut state, later, 5).unwrap();
        assert_eq!(next - (later + Duration::seconds(4)), Duration::minutes(15));
    }

    #[test]
    fn the_ip_throttle_refuses_past_its_limit_and_recovers() {
        let policy = ThrottlePolicy {
            max_attempts: 3,
            window: Duration::minutes(10),
        };
        let mut ip = IpThrottle::default();
        for _ in 0..3 {
            assert!(ip.attempt(t0(), &policy).is_ok());
        }
        let refused = ip.attempt(t0() + Duration::minutes(1), &policy);
        assert!(
            matches!(refused, Err(Error::RateLimited { retry_after }) if retry_after == Duration::minutes(9))
        );
        // Ten minutes after the first attempts, they leave the window.
        for _ in 0..3 {
            assert!(ip.attempt(t0() + Duration::minutes(10), &policy).is_ok());
        }
        assert!(ip.attempt(t0() + Duration::minutes(11), &policy).is_err());
    }

    proptest! {
        /// Whatever the pattern of failures, no window of 15 minutes
        /// holds more than 5 failures without the account being locked.
        #[test]
        fn never_more_than_five_unlocked_failures_in_a_window(gaps in prop::collection::vec(0i64..600, 1..60)) {
            let policy = LockoutPolicy::default();
            let mut state = AccountLockout::default();
            let mut now = t0();
            let mut accepted: Vec<DateTime<Utc>> = vec![];
            for gap in gaps {
                now += Duration::seconds(gap);
                if state.check(now).is_err() {
                    continue;
                }
                accepted.push(now);
                state.record_failure(now, &policy);
                let recent = accepted.iter().filter(|t| now - **t < policy.window).count();
                prop_assert!(recent <= 5 || state.check(now).is_err());
            }
        }

        #[test]
        fn the_throttle_never_admits_more_than_its_limit_per_window(gaps in prop::collection::vec(0i64..120, 1..200)) {
            let policy = ThrottlePolicy { max_attempts: 10, window: Duration::minutes(5) };
            let mut ip = IpThrottle::default();
            let mut now = t0();
            let mut admitted: Vec<DateTime<Utc>> = vec![];
            for gap in gaps {
                now += Duration::seconds(gap);
                if ip.attempt(now, &policy).is_ok() {
                    admitted.push(now);
                }
                let recent = admitted.iter().filter(|t| now - **t < policy.window).count();
                prop_assert!(recent <= 10, "{} admitted in one window", recent);
            }
        }
    }
}
