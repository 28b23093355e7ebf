//! Cumulative energy counters: the one place where raw readings become energy.
//!
//! A counter (RAPL `energy_uj`, NVML's total energy in mJ, hwmon `energy*_input`) only means
//! something as a difference between two readings. The rules, from methodology §5.1:
//!
//! - the first reading only sets the baseline;
//! - a reading below the previous one is a wrap when the counter has a known range and the
//!   wrapped difference `(max - prev) + cur + 1` is plausible for the time that passed, and a
//!   reset (driver reload, reboot, hot-plug) otherwise;
//! - a reset starts a new baseline and adds nothing: the energy between the last reading
//!   before the reset and the reset itself is lost, and the meter is flagged;
//! - an increase too large for the time that passed is treated as a reset too (a counter
//!   that jumped forward is no more trustworthy than one that jumped back).
//!
//! More than one wrap between two readings cannot be seen; the sampler keeps its interval well
//! under the fastest wrap period and flags meters where it was not (see `accumulate.rs`).

use serde::{Deserialize, Serialize};

/// The difference between two readings of a counter that counts up to `max_raw` (inclusive)
/// and then starts again at 0, in counter units.
///
/// `None` when `cur < prev` and the counter has no known range (then it cannot have wrapped in
/// any time a job lasts, so it was reset). Uses the `(max - prev) + cur + 1` convention
/// recommended in methodology §5.1 (the same as Alumet's `CounterDiff`); a `prev` above
/// `max_raw` (a malformed range) counts as `max_raw`.
pub fn counter_delta(prev: u64, cur: u64, max_raw: Option<u64>) -> Option<u64> {
    if cur >= prev {
        return Some(cur - prev);
    }
    let max = max_raw?;
    Some(
        (max.saturating_sub(prev))
            .saturating_add(cur)
            .saturating_add(1),
    )
}

/// What one new reading did to a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The counter went up by this many units.
    Advanced(u64),
    /// The counter wrapped once; this many units passed.
    Wrapped(u64),
    /// The counter jumped (back, or forward implausibly): new baseline, nothing added.
    Reset,
}

/// A cumulative counter followed over time: its baseline, last reading and the total it
/// advanced, in its own units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyCounter {
    /// The counter's maximum value before it wraps to 0; `None` when it does not wrap in
    /// practice (64-bit counters).
    pub max_raw: Option<u64>,
    /// The baseline reading.
    pub first_raw: u64,
    /// The latest reading.
    pub last_raw: u64,
    /// Units counted since the baseline, across wraps; resets add nothing.
    pub total_raw: u64,
    /// Times it wrapped past `max_raw`.
    pub wraps: u32,
    /// Times it went back by more than a wrap explains (driver reload, reboot).
    pub resets: u32,
}

impl EnergyCounter {
    /// Starts following a counter: `first_raw` is the baseline.
    pub fn new(first_raw: u64, max_raw: Option<u64>) -> Self {
        Self {
            max_raw,
            first_raw,
            last_raw: first_raw,
            total_raw: 0,
            wraps: 0,
            resets: 0,
        }
    }

    /// Takes a new reading. `max_plausible_delta` is the most units the counter could have
    /// advanced since the previous reading (from the time that passed and the meter's largest
    /// believable power); `None` accepts any difference.
    pub fn update(&mut self, raw: u64, max_plausible_delta: Option<u64>) -> Step {
        let prev = self.last_raw;
        self.last_raw = raw;
        let plausible = |d: u64| max_plausible_delta.is_none_or(|m| d <= m);
        let step = match counter_delta(prev, raw, self.max_raw) {
            Some(d) if raw >= prev && plausible(d) => Step::Advanced(d),
            Some(d) if raw < prev && plausible(d) => Step::Wrapped(d),
            _ => Step::Reset,
        };
        match step {
            Step::Advanced(d) => self.total_raw = self.total_raw.saturating_add(d),
            Step::Wrapped(d) => {
                self.total_raw = self.total_raw.saturating_add(d);
                self.wraps += 1;
            }
            Step::Reset => self.resets += 1,
        }
        step
    }
}

impl EnergyCounter {
    /// Adds `k` whole ranges that passed unseen (see `MeterAccumulator`'s gap inference).
    pub fn add_wraps(&mut self, k: u64) {
        let Some(max) = self.max_raw else { return };
        let units = k.saturating_mul(max.saturating_add(1));
        self.total_raw = self.total_raw.saturating_add(units);
        self.wraps = self
            .wraps
            .saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Methodology §7, validation case V9.
    #[test]
    fn v9_wrap_cases() {
        // Row 1: the typical RAPL range. 828 850 µJ without the +1, 828 851 with it; we use +1.
        assert_eq!(
            counter_delta(262_143_000_000, 500_000, Some(262_143_328_850)),
            Some(828_851)
        );
        // Row 2: a counter whose largest value is 255, from 250 to 5: 250..=255 is 5 steps,
        // 255 -> 0 is one more, 0..=5 five more: 11. (V9's table prints "10 (+1) or 9", which
        // reads max as an exclusive bound; with max = 255 as the last value before 0, as
        // powercap's max_energy_range_uj is, the +1 formula gives 11 and the no-+1 one 10.)
        assert_eq!(counter_delta(250, 5, Some(255)), Some(11));
        // Row 4: no wrap.
        assert_eq!(counter_delta(100, 250, Some(255)), Some(150));
        assert_eq!(counter_delta(7, 7, None), Some(0));
        // Going back without a range: not a wrap.
        assert_eq!(counter_delta(250, 5, None), None);
    }

    #[test]
    fn v9_first_sample_only_sets_the_baseline() {
        let c = EnergyCounter::new(1_000, Some(10_000));
        assert_eq!(
            (c.first_raw, c.last_raw, c.total_raw, c.wraps, c.resets),
            (1_000, 1_000, 0, 0, 0)
        );
    }

    #[test]
    fn accumulates_across_wraps() {
        let mut c = EnergyCounter::new(9_000, Some(9_999));
        assert_eq!(c.update(9_500, None), Step::Advanced(500));
        assert_eq!(c.update(499, None), Step::Wrapped(999));
        assert_eq!(c.update(2_499, None), Step::Advanced(2_000));
        assert_eq!(c.update(1_499, None), Step::Wrapped(9_000));
        assert_eq!(c.total_raw, 12_499);
        assert_eq!(c.wraps, 2);
        assert_eq!((c.first_raw, c.last_raw), (9_000, 1_499));
    }

    #[test]
    fn a_drop_too_big_to_be_a_wrap_is_a_reset() {
        // A 262 kJ range: dropping from 10 J to 5 J would mean 262 kJ in one second.
        let mut c = EnergyCounter::new(10_000_000, Some(262_143_328_850));
        let one_second_at_5_kw_uj = 5_000_000_000;
        assert_eq!(
            c.update(5_000_000, Some(one_second_at_5_kw_uj)),
            Step::Reset
        );
        assert_eq!((c.total_raw, c.resets, c.wraps), (0, 1, 0));
        // The reset reading is the new baseline.
        assert_eq!(
            c.update(6_000_000, Some(one_second_at_5_kw_uj)),
            Step::Advanced(1_000_000)
        );
        assert_eq!(c.total_raw, 1_000_000);
    }

    #[test]
    fn a_64_bit_counter_going_back_is_a_reset() {
        // NVML after a driver reload: the mJ counter restarts near 0.
        let mut c = EnergyCounter::new(5_000_000, None);
        assert_eq!(c.update(5_100_000, None), Step::Advanced(100_000));
        assert_eq!(c.update(1_200, None), Step::Reset);
        assert_eq!(c.update(2_200, None), Step::Advanced(1_000));
        assert_eq!((c.total_raw, c.resets), (101_000, 1));
    }

    #[test]
    fn an_implausible_jump_forward_is_a_reset() {
        let mut c = EnergyCounter::new(0, None);
        assert_eq!(c.update(1_000_000_000, Some(10_000)), Step::Reset);
        assert_eq!(c.total_raw, 0);
    }

    #[test]
    fn malformed_range_does_not_overflow() {
        assert_eq!(counter_delta(u64::MAX, 0, Some(u64::MAX)), Some(1));
        assert_eq!(counter_delta(500, 3, Some(100)), Some(4));
        let mut c = EnergyCounter::new(u64::MAX - 1, Some(u64::MAX));
        assert_eq!(c.update(u64::MAX - 5, None), Step::Wrapped(u64::MAX - 3));
        assert_eq!(c.update(u64::MAX, None), Step::Advanced(5));
        assert_eq!(c.total_raw, u64::MAX);
    }
}
