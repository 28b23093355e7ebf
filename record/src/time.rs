//! Timestamps in records: integer microseconds since the Unix epoch, UTC.
//!
//! Integers, not strings, so that records sort and subtract without parsing; the
//! post-processor formats them for people.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMicros(pub i64);

impl UnixMicros {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Whole seconds since the epoch, rounded down.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Seconds since the epoch as a float, for arithmetic on durations.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Whole seconds since the epoch (saturating, never overflowing).
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// `self - earlier` in seconds; negative if `earlier` is later.
    pub fn seconds_since(self, earlier: UnixMicros) -> f64 {
        (self.0 - earlier.0) as f64 / 1e6
    }
}

impl From<SystemTime> for UnixMicros {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }
}

impl From<UnixMicros> for SystemTime {
    fn from(t: UnixMicros) -> Self {
        if t.0 >= 0 {
            UNIX_EPOCH + Duration::from_micros(t.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_micros(t.0.unsigned_abs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_system_time() {
        for us in [0i64, 1, 1_700_000_000_123_456, -5_000_001] {
            let t = UnixMicros(us);
            assert_eq!(UnixMicros::from(SystemTime::from(t)), t);
        }
    }

    #[test]
    fn seconds_floor_for_negative_times() {
        assert_eq!(UnixMicros(-1).as_secs(), -1);
        assert_eq!(UnixMicros(1_999_999).as_secs(), 1);
        assert_eq!(
            UnixMicros(3_500_000).seconds_since(UnixMicros(1_000_000)),
            2.5
        );
    }
}
