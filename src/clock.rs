//! Time comes from an injectable clock so that tests and fuzzing are deterministic. The log
//! stamps each event no earlier than 1 ms after the one before, whatever the clock says.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in microseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync + 'static {
    fn now_micros(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock stuck at one instant: the first event is stamped with it and each next one a
/// millisecond later (the log's monotonic rule does the stepping).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_micros(&self) -> i64 {
        self.0
    }
}

impl FixedClock {
    /// Parses an RFC 3339 time, e.g. `2026-11-26T21:00:00Z`.
    pub fn parse(s: &str) -> Option<FixedClock> {
        crate::value::parse_timestamp(s).map(FixedClock)
    }
}

/// The next event time: the clock, but at least 1 ms after the previous event.
pub(crate) fn next_stamp(now: i64, last: i64) -> i64 {
    now.max(last.saturating_add(1000))
}
