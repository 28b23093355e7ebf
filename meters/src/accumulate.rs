//! Turning a meter's readings over a job into a [`MeterReport`].
//!
//! A [`MeterAccumulator`] takes readings stamped with a monotonic clock and keeps: the energy
//! between its first and last good reading (counter differences, or trapezoids of power), the
//! power of every interval (for min/mean/max), a bounded power series, and the quality
//! counts. It is serialisable so that the sampler's checkpoint is simply its accumulators, and
//! the epilog can carry on from the last checkpoint of a sampler that died.
//!
//! Coverage: a job runs from its prolog to its epilog, but a meter's first good reading can
//! come a little after the prolog (NVML initialisation, the first BMC query) and its last a
//! little before the epilog (a final BMC query that timed out). Those gaps at the ends are
//! filled with the nearest known power (first interval's, last interval's), so that every
//! meter covers the same span; a gap long enough to matter also leaves a `read-errors` flag.

use crate::counter::{EnergyCounter, Step};
use crate::source::{MeterKind, MeterSpec, Raw, ReadError};
use ea_record::{MeterFlag, MeterReport, PowerSeries, PowerStats, UnixMicros};
use serde::{Deserialize, Serialize};

/// A timestamp for one reading: the monotonic clock (for durations; shared by every process
/// of one boot) and the wall clock (for the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instant {
    /// `CLOCK_BOOTTIME`, µs.
    pub mono_us: u64,
    /// The wall clock.
    pub wall: UnixMicros,
}

impl Instant {
    /// Now, from `CLOCK_BOOTTIME` and the wall clock.
    pub fn now() -> Self {
        Self {
            mono_us: crate::clock::boottime_us(),
            wall: UnixMicros::now(),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterAccumulator {
    /// The meter accumulated.
    pub spec: MeterSpec,
    /// Monotonic µs of the job's start on this node.
    job_start_us: u64,
    counter: Option<EnergyCounter>,
    /// Last accepted power reading (power meters).
    last_power_w: Option<f64>,
    first_t_us: Option<u64>,
    last_t_us: Option<u64>,
    /// Energy between the first and the last accepted reading.
    energy_j: f64,
    first_interval_w: Option<f64>,
    last_interval_w: Option<f64>,
    min_w: Option<f64>,
    max_w: Option<f64>,
    /// Whether `min_w`/`max_w` so far come only from intervals much shorter than the
    /// sampling step (see [`Self::add_interval`]).
    stats_from_short_only: bool,
    /// Intervals shorter than this (a quarter of the sampling step) count in min/max only
    /// until a longer one comes.
    short_interval_us: u64,
    samples: u32,
    rejected: u32,
    read_errors: u32,
    /// Text of the first read error, for the notes.
    first_error: Option<String>,
    flags: Vec<MeterFlag>,
    series: Series,
    /// The sampling interval this meter is read at, µs (0 in checkpoints of older versions).
    #[serde(default)]
    interval_us: u64,
    /// The longest time between two readings where wraps were inferred, and how many.
    #[serde(default)]
    inferred_over_gap: Option<(f64, u64)>,
    /// Mean power of the last interval that was not much shorter than the sampling step.
    #[serde(default)]
    last_full_interval_w: Option<f64>,
    /// A counter meter read between its counter readings by power (a GPU): monotonic µs of
    /// the last counter reading, set once a power reading follows it (unset, it is
    /// `last_t_us`; checkpoints of older versions, which never read power between, lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counter_at_us: Option<u64>,
    /// The energy integrated from power readings since `counter_at_us`, part of `energy_j`
    /// until the next counter reading replaces it; `None`: no power reading since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since_counter_j: Option<f64>,
}

/// The flag of a counter meter whose energy holds integrated power for part of the job: after
/// its last counter reading (a sampler that died between counter readings, its record
/// salvaged from the checkpoint), before its first, or across a reset.
pub const POWER_SINCE_COUNTER: MeterFlag = MeterFlag::PowerSinceCounter;

impl MeterAccumulator {
    /// A new accumulator for a job that started at `job_start_us` (monotonic µs). The power
    /// series starts with buckets of `step_us` and never holds more than `max_points`.
    pub fn new(spec: MeterSpec, job_start_us: u64, step_us: u64, max_points: u32) -> Self {
        let flags = spec.flags.clone();
        Self {
            spec,
            job_start_us,
            counter: None,
            last_power_w: None,
            first_t_us: None,
            last_t_us: None,
            energy_j: 0.0,
            first_interval_w: None,
            last_interval_w: None,
            min_w: None,
            max_w: None,
            stats_from_short_only: false,
            short_interval_us: step_us / 4,
            samples: 0,
            rejected: 0,
            read_errors: 0,
            first_error: None,
            flags,
            series: Series::new(step_us.max(1), max_points.max(2)),
            interval_us: step_us,
            inferred_over_gap: None,
            last_full_interval_w: None,
            counter_at_us: None,
            since_counter_j: None,
        }
    }

    /// The longest gap between readings over which wraps were inferred (s), and how many.
    pub fn inferred_over_gap(&self) -> Option<(f64, u64)> {
        self.inferred_over_gap
    }

    /// Whether readings `dt_s` apart are about the sampling interval (not a stall).
    fn on_schedule(&self, dt_s: f64) -> bool {
        self.interval_us == 0 || dt_s <= 1.5 * self.interval_us as f64 / 1e6
    }

    /// The meter's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Readings accepted so far.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// Monotonic µs of the last accepted reading.
    pub fn last_reading_us(&self) -> Option<u64> {
        self.last_t_us
    }

    /// The first read error, kept for the record.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// Whether `flag` was raised.
    pub fn has_flag(&self, flag: MeterFlag) -> bool {
        self.flags.contains(&flag)
    }

    /// Adds a flag once.
    pub fn flag(&mut self, flag: MeterFlag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    /// The shortest time in which this counter can wrap at the highest power seen so far, in
    /// seconds; `None` for meters that do not wrap or before any power is known.
    pub fn wrap_period_s(&self) -> Option<f64> {
        let MeterKind::Counter {
            unit,
            max_raw: Some(max),
        } = self.spec.kind
        else {
            return None;
        };
        let p = self.max_w.filter(|p| *p > 0.0)?;
        Some(max as f64 * unit.joules() / p)
    }

    /// Takes one reading at `at`. A counter meter also takes power readings: the sampler reads
    /// a GPU's energy counter only now and then, since on an H100 it costs 3.9 ms of CPU where
    /// power costs 9 µs, and its power in between (see [`Self::add_power_between`]).
    pub fn add(&mut self, at: Instant, value: Result<Raw, ReadError>) {
        match (self.spec.kind, value) {
            (_, Err(e)) => self.read_failed(e.0),
            (MeterKind::Counter { unit, max_raw }, Ok(Raw::Counter(raw))) => {
                self.add_counter(at, raw, unit.joules(), max_raw)
            }
            (MeterKind::Counter { .. }, Ok(Raw::Watts(w))) => self.add_power_between(at, w),
            (MeterKind::Power, Ok(Raw::Watts(w))) => self.add_power(at, w),
            (_, Ok(other)) => {
                self.read_failed(format!("unexpected reading {other:?} for {}", self.spec.id))
            }
        }
    }

    fn read_failed(&mut self, reason: String) {
        self.read_errors += 1;
        self.flag(MeterFlag::ReadErrors);
        if self.first_error.is_none() {
            self.first_error = Some(reason);
        }
    }

    fn add_counter(&mut self, at: Instant, raw: u64, joules_per_unit: f64, max_raw: Option<u64>) {
        let Some(last_t) = self.last_t_us else {
            self.counter = Some(EnergyCounter::new(raw, max_raw));
            self.first_reading(at);
            return;
        };
        if self.counter.is_none() {
            // Power readings came before any counter reading: what they integrated stays, up
            // to this reading, the counter's baseline.
            self.samples += 1;
            self.hold_power_to(last_t, at.mono_us);
            self.counter = Some(EnergyCounter::new(raw, max_raw));
            self.flag(POWER_SINCE_COUNTER);
            return;
        }
        // Power readings since the last counter reading are replaced by the counter's figure.
        let counter_t = self.counter_at_us.unwrap_or(last_t);
        let Some(dt_s) = seconds_between(counter_t, at.mono_us) else {
            return;
        };
        // Generous: twice the plausible power, so that only real jumps count as resets.
        let max_delta = 2.0 * self.spec.max_plausible_w * dt_s / joules_per_unit;
        let max_delta = if max_delta >= u64::MAX as f64 {
            u64::MAX
        } else {
            max_delta as u64
        };
        let counter = self.counter.as_mut().expect("checked above");
        let step = counter.update(raw, Some(max_delta));
        self.samples += 1;
        self.counter_at_us = None;
        let pending = self.since_counter_j.take();
        match (step, pending) {
            (Step::Advanced(d) | Step::Wrapped(d), None) => {
                self.last_t_us = Some(at.mono_us);
                if matches!(step, Step::Wrapped(_)) {
                    self.flag(MeterFlag::Wrapped);
                }
                let d = d + self.wraps_over_gap(d, dt_s, joules_per_unit, max_raw);
                let e = d as f64 * joules_per_unit;
                self.add_interval(last_t, at.mono_us, e, e / dt_s);
                if let Some(max) = max_raw {
                    // A second wrap within one interval would go unseen: warn when the interval
                    // is more than half the shortest wrap period seen.
                    let range_j = max as f64 * joules_per_unit;
                    let p = self.max_w.unwrap_or(0.0);
                    if dt_s * p > 0.5 * range_j && self.on_schedule(dt_s) {
                        self.flag(MeterFlag::IntervalTooLong);
                    }
                }
            }
            (Step::Advanced(d) | Step::Wrapped(d), Some(integrated_j)) => {
                if matches!(step, Step::Wrapped(_)) {
                    self.flag(MeterFlag::Wrapped);
                }
                let e = d as f64 * joules_per_unit;
                self.replace_integrated(counter_t, last_t, at.mono_us, e, integrated_j);
            }
            (Step::Reset, pending) => {
                self.flag(MeterFlag::Reset);
                if pending.is_some() {
                    // The power readings bridge the reset: their energy stays, flagged.
                    self.hold_power_to(last_t, at.mono_us);
                    self.flag(POWER_SINCE_COUNTER);
                } else {
                    self.last_t_us = Some(at.mono_us);
                }
            }
        }
    }

    /// A counter reading at `t1_us` after power readings (the last at `last_t_us`) since the
    /// previous counter reading at `counter_t_us`: the counter's `counted_j` over the whole
    /// span replaces the `integrated_j` the power readings gave, so that the meter's energy is
    /// the counter's difference exactly.
    ///
    /// The series keeps the shape the power readings gave, with the difference spread evenly
    /// over the span; the counter's mean power over the span counts in min/max (it lies
    /// between the true lowest and highest power, so the mean of the job stays inside them
    /// even when the power readings, averages over a second at most, missed bursts).
    fn replace_integrated(
        &mut self,
        counter_t_us: u64,
        last_t_us: u64,
        t1_us: u64,
        counted_j: f64,
        integrated_j: f64,
    ) {
        let piece_j = self.hold_power_to(last_t_us, t1_us);
        let correction = counted_j - (integrated_j + piece_j);
        self.energy_j += correction;
        self.series.adjust(counter_t_us, t1_us, correction);
        let span_us = t1_us - counter_t_us;
        let short = span_us < self.short_interval_us;
        self.add_stat(short, counted_j / (span_us as f64 / 1e6));
    }

    /// Bridges `[last_t_us, t1_us]` with the last power reading held (a counter reading after
    /// power readings: the counter alone has no power at its own instant). Returns the energy.
    fn hold_power_to(&mut self, last_t_us: u64, t1_us: u64) -> f64 {
        self.last_t_us = Some(t1_us.max(last_t_us));
        let (Some(w), Some(dt_s)) = (self.last_power_w, seconds_between(last_t_us, t1_us)) else {
            return 0.0;
        };
        let e = w * dt_s;
        self.add_interval(last_t_us, t1_us, e, w);
        e
    }

    /// Units a counter advanced beyond the one wrap two readings can show, when they are
    /// further apart than the counter takes to wrap at the power just before (the sampler was
    /// stopped, or starved of CPU): the power before the gap, held over it, says how many
    /// whole ranges passed. Counted as wraps and flagged [`MeterFlag::WrapsInferred`].
    fn wraps_over_gap(&mut self, seen: u64, dt_s: f64, jpu: f64, max_raw: Option<u64>) -> u64 {
        // Only over a stall: on schedule, one wrap is seen and more are `interval-too-long`.
        // The power before the gap is that of an interval of normal length: a very short one
        // (the prolog's snapshot right before the first reading) is mostly quantisation.
        if self.on_schedule(dt_s) {
            return 0;
        }
        let (Some(max), Some(p)) = (max_raw, self.last_full_interval_w.filter(|p| *p > 0.0)) else {
            return 0;
        };
        let range = max.saturating_add(1);
        let range_j = range as f64 * jpu;
        let expected_j = p * dt_s;
        if expected_j <= range_j {
            return 0;
        }
        let k = ((expected_j - seen as f64 * jpu) / range_j).round();
        if !(1.0..1e6).contains(&k) {
            return 0;
        }
        let k = k as u64;
        if let Some(c) = self.counter.as_mut() {
            c.add_wraps(k);
        }
        self.flag(MeterFlag::WrapsInferred);
        if self.inferred_over_gap.is_none_or(|(gap, _)| dt_s > gap) {
            self.inferred_over_gap = Some((dt_s, k));
        }
        k.saturating_mul(range)
    }

    /// Whether a power reading is believable; counts and flags it when not.
    fn plausible_power(&mut self, w: f64) -> bool {
        if !w.is_finite() || w < self.spec.min_plausible_w || w > self.spec.max_plausible_w {
            self.rejected += 1;
            self.flag(MeterFlag::RejectedReadings);
            return false;
        }
        true
    }

    fn add_power(&mut self, at: Instant, w: f64) {
        if !self.plausible_power(w) {
            return;
        }
        let (Some(prev_w), Some(last_t)) = (self.last_power_w, self.last_t_us) else {
            self.first_power(at, w);
            return;
        };
        let Some(dt_s) = seconds_between(last_t, at.mono_us) else {
            return;
        };
        let e = 0.5 * (prev_w + w) * dt_s;
        self.samples += 1;
        self.last_t_us = Some(at.mono_us);
        self.last_power_w = Some(w);
        self.add_interval(last_t, at.mono_us, e, w);
    }

    fn first_power(&mut self, at: Instant, w: f64) {
        self.last_power_w = Some(w);
        self.first_interval_w = Some(w);
        self.last_interval_w = Some(w);
        self.min_w = Some(w);
        self.max_w = Some(w);
        self.first_reading(at);
    }

    /// A counter meter's power reading between two counter readings: integrated by
    /// trapezoids (from the power before, or held back to the counter reading before it when
    /// there is none), it gives the series and min/max, and the energy since the last counter
    /// reading until the next replaces it ([`Self::replace_integrated`]). A checkpoint taken
    /// in between holds the counter's figure to its last reading plus this remainder, which a
    /// report made without a later counter reading (a salvaged record) flags
    /// [`POWER_SINCE_COUNTER`].
    fn add_power_between(&mut self, at: Instant, w: f64) {
        if !self.plausible_power(w) {
            return;
        }
        let Some(last_t) = self.last_t_us else {
            // No counter reading yet: the power starts the meter; the first counter reading
            // will be the baseline.
            self.first_power(at, w);
            self.flag(POWER_SINCE_COUNTER);
            return;
        };
        let Some(dt_s) = seconds_between(last_t, at.mono_us) else {
            return;
        };
        let prev_w = self.last_power_w.unwrap_or(w);
        let e = 0.5 * (prev_w + w) * dt_s;
        if self.counter.is_some() {
            // Unset: the last reading was the counter's.
            self.counter_at_us.get_or_insert(last_t);
            *self.since_counter_j.get_or_insert(0.0) += e;
        }
        self.samples += 1;
        self.last_t_us = Some(at.mono_us);
        self.last_power_w = Some(w);
        self.add_interval(last_t, at.mono_us, e, w);
    }

    fn first_reading(&mut self, at: Instant) {
        self.samples += 1;
        self.first_t_us = Some(at.mono_us);
        self.last_t_us = Some(at.mono_us);
        self.series.begin(at);
    }

    /// One interval's energy, and the power it stands for in the statistics (a counter's mean
    /// power over the interval, or a power meter's new reading).
    fn add_interval(&mut self, t0_us: u64, t1_us: u64, energy_j: f64, power_w: f64) {
        self.energy_j += energy_j;
        self.series.add(t0_us, t1_us, energy_j);
        self.first_interval_w.get_or_insert(power_w);
        self.last_interval_w = Some(power_w);
        // The mean power of a very short interval is mostly quantisation: a counter that
        // updates every few milliseconds (or a simulator every 50 ms) read twice within that
        // time shows 0 W, then twice the true power. Such intervals (the prolog's snapshot
        // right before the sampler's first reading, a final reading right after the last)
        // still count for energy, but min/max only come from them when nothing longer exists.
        let short = t1_us.saturating_sub(t0_us) < self.short_interval_us;
        if !short {
            self.last_full_interval_w = Some(power_w);
        }
        self.add_stat(short, power_w);
    }

    /// Counts `power_w`, the power of an interval (`short`: much shorter than the sampling
    /// step), in min/max.
    fn add_stat(&mut self, short: bool, power_w: f64) {
        if short && self.min_w.is_some() && !self.stats_from_short_only {
            return;
        }
        if !short && self.stats_from_short_only {
            self.min_w = None;
            self.max_w = None;
        }
        self.stats_from_short_only = short;
        self.min_w = Some(self.min_w.map_or(power_w, |m| m.min(power_w)));
        self.max_w = Some(self.max_w.map_or(power_w, |m| m.max(power_w)));
    }

    /// Whether this meter has enough readings to say anything (one interval).
    pub fn has_interval(&self) -> bool {
        self.samples >= 2
    }

    /// The report for a job that ended at `end_us` (monotonic µs; `None`: at the last reading).
    pub fn report(&self, end_us: Option<u64>) -> MeterReport {
        let mut energy_j = self.energy_j;
        let first = self.first_t_us.unwrap_or(self.job_start_us);
        let last = self.last_t_us.unwrap_or(first);
        if let Some(p) = self.first_interval_w {
            energy_j += p * seconds_between(self.job_start_us, first).unwrap_or(0.0);
        }
        let end = end_us.unwrap_or(last).max(last);
        if let Some(p) = self.last_interval_w {
            energy_j += p * seconds_between(last, end).unwrap_or(0.0);
        }
        let span_s = seconds_between(self.job_start_us.min(first), end).unwrap_or(0.0);
        let power_w = match (self.min_w, self.max_w) {
            (Some(min), Some(max)) if span_s > 0.0 => {
                let mean = energy_j / span_s;
                // Filled gaps use the end powers, so the mean stays inside [min, max]; the clamp
                // only absorbs rounding.
                Some(PowerStats {
                    min,
                    mean: mean.clamp(min, max),
                    max,
                })
            }
            _ => None,
        };
        let (first_raw, last_raw, max_raw, wraps, resets) = match (&self.counter, self.spec.kind) {
            (Some(c), MeterKind::Counter { max_raw, .. }) => (
                Some(c.first_raw),
                Some(c.last_raw),
                max_raw,
                c.wraps,
                c.resets,
            ),
            (None, MeterKind::Counter { max_raw, .. }) => (None, None, max_raw, 0, 0),
            _ => (None, None, None, 0, 0),
        };
        MeterReport {
            id: self.spec.id.clone(),
            scope: self.spec.scope,
            label: self.spec.label.clone(),
            method: self.spec.method(),
            energy_j,
            first_raw,
            last_raw,
            max_raw,
            wraps,
            resets,
            samples: self.samples,
            rejected: self.rejected,
            power_w,
            job_owned: self.spec.job_owned,
            series: self.series.to_record(),
            flags: self.report_flags(),
        }
    }

    /// The flags, with [`POWER_SINCE_COUNTER`] when power readings followed the last counter
    /// reading: the report ends with integrated power, not with the counter.
    fn report_flags(&self) -> Vec<MeterFlag> {
        let mut flags = self.flags.clone();
        if self.since_counter_j.is_some() && !flags.contains(&POWER_SINCE_COUNTER) {
            flags.push(POWER_SINCE_COUNTER);
        }
        flags
    }
}

/// Seconds from `t0_us` to `t1_us`; `None` unless time went forward.
fn seconds_between(t0_us: u64, t1_us: u64) -> Option<f64> {
    (t1_us > t0_us).then(|| (t1_us - t0_us) as f64 / 1e6)
}

/// A power time series of at most `max_points` buckets. Each bucket keeps the energy and the
/// time that fell in it, so that two buckets merge exactly when the series has to halve its
/// resolution (a week-long job keeps `max_points` buckets of a longer step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    start: Option<UnixMicros>,
    origin_us: u64,
    step_us: u64,
    max_points: u32,
    /// f32: the series is for plots; the meter's total is kept apart in f64. Written as base64
    /// of the little-endian floats (checkpoint version 2: 5.3 bytes a point, exact), read from
    /// that or from an array of numbers (version 1).
    #[serde(with = "ea_record::record::watts_codec")]
    energy_j: Vec<f32>,
    #[serde(with = "ea_record::record::watts_codec")]
    time_s: Vec<f32>,
}

impl Series {
    /// An empty series of `step_us` buckets, merged pairwise once it holds `max_points`.
    pub fn new(step_us: u64, max_points: u32) -> Self {
        Self {
            start: None,
            origin_us: 0,
            step_us,
            max_points,
            energy_j: Vec::new(),
            time_s: Vec::new(),
        }
    }

    fn begin(&mut self, at: Instant) {
        self.start = Some(at.wall);
        self.origin_us = at.mono_us;
    }

    /// Spreads `energy_j` evenly over `[t0_us, t1_us]`.
    fn add(&mut self, t0_us: u64, t1_us: u64, energy_j: f64) {
        self.spread(t0_us, t1_us, energy_j, true);
    }

    /// Spreads a correction of `energy_j` evenly over `[t0_us, t1_us]`, which the series
    /// already covers: energy only, no time (a counter's difference replacing what power
    /// readings integrated over the same span).
    fn adjust(&mut self, t0_us: u64, t1_us: u64, energy_j: f64) {
        self.spread(t0_us, t1_us, energy_j, false);
    }

    fn spread(&mut self, t0_us: u64, t1_us: u64, energy_j: f64, with_time: bool) {
        if self.start.is_none() || t1_us <= t0_us || t0_us < self.origin_us {
            return;
        }
        while (t1_us - self.origin_us).div_ceil(self.step_us) > self.max_points as u64 {
            self.halve();
        }
        let needed = (t1_us - self.origin_us).div_ceil(self.step_us) as usize;
        if self.energy_j.len() < needed {
            self.energy_j.resize(needed, 0.0);
            self.time_s.resize(needed, 0.0);
        }
        let power = energy_j / ((t1_us - t0_us) as f64 / 1e6);
        let mut b = ((t0_us - self.origin_us) / self.step_us) as usize;
        let mut t = t0_us;
        while t < t1_us && b < self.energy_j.len() {
            let bucket_end = self.origin_us + (b as u64 + 1) * self.step_us;
            let seg_end = bucket_end.min(t1_us);
            let dt = (seg_end - t) as f64 / 1e6;
            self.energy_j[b] += (power * dt) as f32;
            if with_time {
                self.time_s[b] += dt as f32;
            }
            t = seg_end;
            b += 1;
        }
    }

    fn halve(&mut self) {
        let merge = |v: &[f32]| v.chunks(2).map(|c| c.iter().sum()).collect::<Vec<f32>>();
        self.energy_j = merge(&self.energy_j);
        self.time_s = merge(&self.time_s);
        self.step_us *= 2;
    }

    /// The record's form: mean watts per bucket; a bucket with no data (a counter reset) is
    /// written as -1.
    pub fn to_record(&self) -> Option<PowerSeries> {
        let start = self.start?;
        if self.energy_j.is_empty() {
            return None;
        }
        let watts = self
            .energy_j
            .iter()
            .zip(&self.time_s)
            .map(|(e, t)| if *t > 0.0 { e / t } else { -1.0 })
            .collect();
        Some(PowerSeries {
            start,
            step_s: self.step_us as f64 / 1e6,
            watts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::CounterUnit;
    use ea_record::{Method, Scope};

    fn at(s: f64) -> Instant {
        let us = (s * 1e6) as u64;
        Instant {
            mono_us: 1_000_000_000 + us,
            wall: UnixMicros(1_700_000_000_000_000 + us as i64),
        }
    }

    fn rapl_spec(max_raw: u64) -> MeterSpec {
        MeterSpec {
            id: "rapl:intel-rapl:0".into(),
            scope: Scope::CpuPackage,
            label: Some("package-0".into()),
            kind: MeterKind::Counter {
                unit: CounterUnit::Microjoule,
                max_raw: Some(max_raw),
            },
            job_owned: None,
            min_plausible_w: 0.0,
            max_plausible_w: 5_000.0,
            flags: vec![],
        }
    }

    fn power_spec(id: &str, max_w: f64) -> MeterSpec {
        MeterSpec {
            id: id.into(),
            scope: Scope::NodeBmc,
            label: None,
            kind: MeterKind::Power,
            job_owned: None,
            min_plausible_w: if id.starts_with("ipmi:") { 1.0 } else { 0.0 },
            max_plausible_w: max_w,
            flags: vec![],
        }
    }

    #[test]
    fn very_short_intervals_do_not_set_min_and_max() {
        // A counter read twice within 10 ms (no update between: 0 W), then every second at
        // 100 W: energy counts everything, min/max only the real intervals.
        let mut a =
            MeterAccumulator::new(rapl_spec(1_000_000_000), at(0.0).mono_us, 1_000_000, 100);
        a.add(at(0.0), Ok(Raw::Counter(0)));
        a.add(at(0.01), Ok(Raw::Counter(0)));
        a.add(at(1.01), Ok(Raw::Counter(100_000_000)));
        a.add(at(2.01), Ok(Raw::Counter(200_000_000)));
        a.add(at(2.02), Ok(Raw::Counter(202_000_000)));
        let p = a.report(None).power_w.unwrap();
        assert!(
            (p.min - 100.0).abs() < 1e-3 && (p.max - 100.0).abs() < 1e-3,
            "{p:?}"
        );
        assert!((a.report(None).energy_j - 202.0).abs() < 1e-3);
        // With only short intervals, they are all there is.
        let mut b =
            MeterAccumulator::new(rapl_spec(1_000_000_000), at(0.0).mono_us, 1_000_000, 100);
        b.add(at(0.0), Ok(Raw::Counter(0)));
        b.add(at(0.01), Ok(Raw::Counter(1_000_000)));
        assert!((b.report(None).power_w.unwrap().max - 100.0).abs() < 1e-3);
    }

    #[test]
    fn counter_energy_with_wraps_and_stats() {
        // 100 W for 10 s in 1 s steps, on a 250 J counter: 4 wraps.
        let max = 250_000_000;
        let mut a = MeterAccumulator::new(rapl_spec(max), at(0.0).mono_us, 1_000_000, 100);
        let mut truth_uj: u64 = 200_000_000;
        a.add(at(0.0), Ok(Raw::Counter(truth_uj)));
        for i in 1..=10 {
            truth_uj += 100_000_000;
            a.add(at(i as f64), Ok(Raw::Counter(truth_uj % (max + 1))));
        }
        let r = a.report(None);
        assert!((r.energy_j - 1000.0).abs() < 1e-3, "{}", r.energy_j);
        assert_eq!(r.wraps, 4);
        assert_eq!(r.samples, 11);
        assert_eq!(r.method, Method::Counter);
        assert!(r.flags.contains(&MeterFlag::Wrapped));
        assert!(!r.flags.contains(&MeterFlag::IntervalTooLong));
        let p = r.power_w.unwrap();
        assert!(
            (p.min - 100.0).abs() < 1e-3
                && (p.max - 100.0).abs() < 1e-3
                && (p.mean - 100.0).abs() < 1e-3
        );
        let s = r.series.unwrap();
        assert_eq!(s.watts.len(), 10);
        assert!(
            s.watts.iter().all(|w| (w - 100.0).abs() < 1e-3),
            "{:?}",
            s.watts
        );
    }

    #[test]
    fn wraps_over_a_stalled_sampler_are_inferred_from_the_power_before() {
        // 40 W on a counter of 150 J + 1 µJ read every second (40 J a reading: on time), then
        // stopped for 5 s (SIGSTOP): 200 J pass, a whole wrap and a part; the two readings
        // around the gap show only the part.
        let max = 150_000_000;
        let range_uj = max + 1;
        let raw_at = |s: f64| ((s * 40e6) as u64) % range_uj;
        let mut a = MeterAccumulator::new(rapl_spec(max), at(0.0).mono_us, 1_000_000, 100);
        for s in 0..=3 {
            a.add(at(f64::from(s)), Ok(Raw::Counter(raw_at(f64::from(s)))));
        }
        a.add(at(8.0), Ok(Raw::Counter(raw_at(8.0))));
        a.add(at(9.0), Ok(Raw::Counter(raw_at(9.0))));
        let r = a.report(None);
        assert!((r.energy_j - 360.0).abs() < 1e-3, "{}", r.energy_j);
        assert!(r.flags.contains(&MeterFlag::WrapsInferred), "{:?}", r.flags);
        assert!(
            !r.flags.contains(&MeterFlag::IntervalTooLong),
            "the interval is not the cause"
        );
        let (gap, k) = a.inferred_over_gap().unwrap();
        assert_eq!(((gap - 5.0).abs() < 1e-9, k), (true, 1));
        let p = r.power_w.unwrap();
        assert!(
            (p.mean - 40.0).abs() < 1e-3 && (p.max - 40.0).abs() < 1e-3,
            "{p:?}"
        );
        // On schedule, nothing is inferred.
        let mut b = MeterAccumulator::new(rapl_spec(max), at(0.0).mono_us, 1_000_000, 100);
        for s in 0..=9 {
            b.add(at(f64::from(s)), Ok(Raw::Counter(raw_at(f64::from(s)))));
        }
        assert!(!b.has_flag(MeterFlag::WrapsInferred));
        assert!((b.report(None).energy_j - 360.0).abs() < 1e-3);
    }

    #[test]
    fn a_short_interval_before_a_gap_does_not_make_up_wraps() {
        // The prolog's snapshot 10 ms before the sampler's first reading of a counter that
        // moves in 5 J steps looks like 500 W; the sampler at 98 W on a 300 J range is then
        // late by a second. No wrap is made up from the 500 W (the e2e test once saw 20).
        let range_uj = 300_000_001;
        let mut a = MeterAccumulator::new(rapl_spec(300_000_000), at(0.0).mono_us, 1_000_000, 100);
        a.add(at(0.0), Ok(Raw::Counter(0)));
        a.add(at(0.01), Ok(Raw::Counter(5_000_000)));
        let mut e = 5_000_000u64;
        for s in [2.01, 3.01, 4.01] {
            e += if s == 2.01 { 196_000_000 } else { 98_000_000 };
            a.add(at(s), Ok(Raw::Counter(e % range_uj)));
        }
        assert!(!a.has_flag(MeterFlag::WrapsInferred));
        assert!((a.report(None).energy_j - e as f64 / 1e6).abs() < 1e-6);
    }

    #[test]
    fn slow_sampling_of_a_fast_counter_is_flagged() {
        // 100 W on a 150 J counter read every second: 100 J per reading > half the range.
        let max = 150_000_000;
        let mut a = MeterAccumulator::new(rapl_spec(max), at(0.0).mono_us, 1_000_000, 100);
        a.add(at(0.0), Ok(Raw::Counter(0)));
        a.add(at(1.0), Ok(Raw::Counter(100_000_000)));
        assert!(a.has_flag(MeterFlag::IntervalTooLong));
        assert!((a.wrap_period_s().unwrap() - 1.5).abs() < 1e-9);
    }

    #[test]
    fn gaps_at_both_ends_are_filled_with_the_nearest_power() {
        // Job from t=0 to t=10; the meter read from t=2 (50 W) to t=8 (then 70 W).
        let mut a = MeterAccumulator::new(
            power_spec("hwmon:x/power1", 1e4),
            at(0.0).mono_us,
            1_000_000,
            100,
        );
        a.add(at(2.0), Ok(Raw::Watts(50.0)));
        a.add(at(8.0), Ok(Raw::Watts(70.0)));
        let r = a.report(Some(at(10.0).mono_us));
        // 2 s × 50 + trapezoid 6 s × 60 + 2 s × 70
        assert!(
            (r.energy_j - (100.0 + 360.0 + 140.0)).abs() < 1e-9,
            "{}",
            r.energy_j
        );
        assert_eq!(r.method, Method::IntegratedPower);
        assert!((r.power_w.unwrap().mean - 60.0).abs() < 1e-9);
    }

    #[test]
    fn implausible_power_is_rejected_and_bridged() {
        let mut a = MeterAccumulator::new(
            power_spec("ipmi:dcmi", 20_000.0),
            at(0.0).mono_us,
            1_000_000,
            100,
        );
        for (t, w) in [
            (0.0, 300.0),
            (1.0, 300.0),
            (2.0, 25_550.0),
            (3.0, 300.0),
            (4.0, 0.0),
            (5.0, f64::NAN),
            (6.0, 300.0),
        ] {
            a.add(at(t), Ok(Raw::Watts(w)));
        }
        let r = a.report(None);
        assert_eq!(r.rejected, 3);
        assert_eq!(r.samples, 4);
        assert!((r.energy_j - 1800.0).abs() < 1e-9);
        assert!(r.flags.contains(&MeterFlag::RejectedReadings));
    }

    #[test]
    fn read_errors_are_counted_and_bridged() {
        let mut a =
            MeterAccumulator::new(rapl_spec(u32::MAX as u64), at(0.0).mono_us, 1_000_000, 100);
        a.add(at(0.0), Ok(Raw::Counter(0)));
        a.add(at(1.0), Err(ReadError("EIO".into())));
        a.add(at(2.0), Ok(Raw::Counter(20_000_000)));
        let r = a.report(None);
        assert!((r.energy_j - 20.0).abs() < 1e-9);
        assert!(r.flags.contains(&MeterFlag::ReadErrors));
        assert_eq!(a.first_error(), Some("EIO"));
    }

    #[test]
    fn a_reset_loses_one_interval_and_leaves_a_gap_in_the_series() {
        let mut a = MeterAccumulator::new(gpu_spec(), at(0.0).mono_us, 1_000_000, 100);
        a.add(at(0.0), Ok(Raw::Counter(9_000_000)));
        a.add(at(1.0), Ok(Raw::Counter(9_300_000)));
        a.add(at(2.0), Ok(Raw::Counter(250))); // driver reload
        a.add(at(3.0), Ok(Raw::Counter(300_250)));
        let r = a.report(None);
        assert!((r.energy_j - 600.0).abs() < 1e-9, "{}", r.energy_j);
        assert_eq!(r.resets, 1);
        assert!(r.flags.contains(&MeterFlag::Reset));
        assert_eq!(r.series.unwrap().watts, vec![300.0, -1.0, 300.0]);
    }

    #[test]
    fn series_stays_bounded_and_keeps_energy() {
        // A week at 10 s: 60 480 readings into 720 points at most.
        let mut a = MeterAccumulator::new(
            power_spec("hwmon:x/power1", 1e4),
            at(0.0).mono_us,
            10_000_000,
            720,
        );
        let n = 60_480;
        for i in 0..=n {
            let w = if i < n / 2 { 100.0 } else { 200.0 };
            a.add(at(i as f64 * 10.0), Ok(Raw::Watts(w)));
        }
        let r = a.report(None);
        let s = r.series.unwrap();
        assert!(s.watts.len() <= 720, "{}", s.watts.len());
        assert!(s.watts.len() > 360);
        let series_energy: f64 = s.watts.iter().map(|w| *w as f64 * s.step_s).sum();
        // The last bucket is partial; everything else adds up to the energy.
        let last_partial = s.watts.len() as f64 * s.step_s - n as f64 * 10.0;
        let correction = last_partial * *s.watts.last().unwrap() as f64;
        assert!(((series_energy - correction) - r.energy_j).abs() / r.energy_j < 1e-4);
        assert!(
            (s.watts[0] - 100.0).abs() < 1e-3 && (s.watts[s.watts.len() - 2] - 200.0).abs() < 1e-3
        );
    }

    fn gpu_spec() -> MeterSpec {
        MeterSpec {
            id: "nvml:GPU-x".into(),
            scope: Scope::GpuBoard,
            label: None,
            kind: MeterKind::Counter {
                unit: CounterUnit::Millijoule,
                max_raw: None,
            },
            job_owned: Some(true),
            min_plausible_w: 0.0,
            max_plausible_w: 5_000.0,
            flags: vec![],
        }
    }

    /// A GPU at 300 W with a burst to 900 W over [4.2 s, 4.8 s] that power readings at whole
    /// seconds miss: its energy counter (mJ, from 5 kJ) at `s`.
    fn burst_counter(s: f64) -> u64 {
        let burst_j = 600.0 * (s.min(4.8) - 4.2).max(0.0);
        5_000_000 + ((300.0 * s + burst_j) * 1000.0).round() as u64
    }

    /// The GPU read every second from 0 to `last`: its counter at the seconds in `counter_at`,
    /// its power (300 W: the burst is missed) at the others.
    fn gpu_readings(last: u32, counter_at: &[u32]) -> MeterAccumulator {
        let mut a = MeterAccumulator::new(gpu_spec(), at(0.0).mono_us, 1_000_000, 100);
        for s in 0..=last {
            let v = if counter_at.contains(&s) {
                Raw::Counter(burst_counter(f64::from(s)))
            } else {
                Raw::Watts(300.0)
            };
            a.add(at(f64::from(s)), Ok(v));
        }
        a
    }

    #[test]
    fn a_counter_read_now_and_then_gives_its_difference_exactly_and_honest_bounds() {
        let a = gpu_readings(20, &[0, 10, 20]);
        let r = a.report(None);
        let counted_j = (burst_counter(20.0) - burst_counter(0.0)) as f64 / 1e3;
        assert_eq!(counted_j, 6360.0);
        assert!((r.energy_j - counted_j).abs() < 1e-9, "{}", r.energy_j);
        assert_eq!(
            (r.first_raw, r.last_raw, r.samples, r.method),
            (
                Some(burst_counter(0.0)),
                Some(burst_counter(20.0)),
                21,
                Method::Counter
            )
        );
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        // The power readings never saw the burst; the counter's mean over its first 10 s
        // (336 W) bounds the max, so the job's mean (318 W) lies inside [min, max] unclamped.
        let p = r.power_w.unwrap();
        assert!(
            (p.min - 300.0).abs() < 1e-9 && (p.max - 336.0).abs() < 1e-9,
            "{p:?}"
        );
        assert!((p.mean - 318.0).abs() < 1e-9, "{p:?}");
        // The series has the difference spread over the counter's span.
        let s = r.series.unwrap();
        assert_eq!(s.watts.len(), 20);
        assert!(
            s.watts[..10].iter().all(|w| (w - 336.0).abs() < 1e-3),
            "{s:?}"
        );
        assert!(
            s.watts[10..].iter().all(|w| (w - 300.0).abs() < 1e-3),
            "{s:?}"
        );
    }

    #[test]
    fn a_checkpoint_between_counter_readings_holds_the_counter_figure_plus_flagged_power() {
        // The sampler's state after the power reading at 15 s, as a checkpoint holds it.
        let a = gpu_readings(15, &[0, 10]);
        let json = serde_json::to_string(&a).unwrap();
        let mut b: MeterAccumulator = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        // Salvaged as it is: the counter to 10 s, then 5 s of integrated power, flagged.
        let r = b.report(None);
        let counted_j = (burst_counter(10.0) - burst_counter(0.0)) as f64 / 1e3;
        assert!(
            (r.energy_j - (counted_j + 5.0 * 300.0)).abs() < 1e-9,
            "{}",
            r.energy_j
        );
        assert_eq!(r.last_raw, Some(burst_counter(10.0)));
        assert!(r.flags.contains(&POWER_SINCE_COUNTER), "{:?}", r.flags);
        // A counter reading after it (the epilog's end snapshot) makes it exact again.
        b.add(at(20.0), Ok(Raw::Counter(burst_counter(20.0))));
        let r = b.report(None);
        assert!((r.energy_j - 6360.0).abs() < 1e-9, "{}", r.energy_j);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
    }

    #[test]
    fn power_covers_what_no_counter_difference_does_and_is_flagged() {
        // A driver reload between two counter readings: the power readings bridge it.
        let mut a = gpu_readings(9, &[0]);
        a.add(at(10.0), Ok(Raw::Counter(1_000)));
        let r = a.report(None);
        assert_eq!(r.resets, 1);
        assert!((r.energy_j - 3000.0).abs() < 1e-9, "{}", r.energy_j);
        assert!(
            r.flags.contains(&MeterFlag::Reset) && r.flags.contains(&POWER_SINCE_COUNTER),
            "{:?}",
            r.flags
        );
        // The counter carries on from its new baseline, exactly.
        a.add(at(15.0), Ok(Raw::Watts(300.0)));
        a.add(at(20.0), Ok(Raw::Counter(1_000 + 3_000_000)));
        assert!((a.report(None).energy_j - 6000.0).abs() < 1e-9);
        // Power before the first counter reading: integrated up to it, then the counter.
        let mut b = MeterAccumulator::new(gpu_spec(), at(0.0).mono_us, 1_000_000, 100);
        for s in [0.0, 1.0, 2.0] {
            b.add(at(s), Ok(Raw::Watts(100.0)));
        }
        b.add(at(3.0), Ok(Raw::Counter(7_000)));
        b.add(at(5.0), Ok(Raw::Counter(7_000 + 400_000)));
        let r = b.report(None);
        assert!(
            (r.energy_j - (300.0 + 400.0)).abs() < 1e-9,
            "{}",
            r.energy_j
        );
        assert!(r.flags.contains(&POWER_SINCE_COUNTER), "{:?}", r.flags);
        assert_eq!(r.samples, 5);
    }

    #[test]
    fn checkpoints_round_trip() {
        let mut a = MeterAccumulator::new(rapl_spec(1_000_000), at(0.0).mono_us, 1_000_000, 10);
        a.add(at(0.0), Ok(Raw::Counter(5)));
        a.add(at(1.0), Ok(Raw::Counter(500_005)));
        let json = serde_json::to_string(&a).unwrap();
        let b: MeterAccumulator = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
    }
}
