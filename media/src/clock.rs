//! The clock the safety decision judges expiry against: injected, so a test (or an operator
//! asking "what if") can say what "now" is.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from, in seconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock stopped at one instant (tests).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

/// Seconds in a day, for retain-days.
pub const DAY: i64 = 86_400;
