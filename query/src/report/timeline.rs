//! The period cut into days (or hours, for a period too short for a daily line to show
//! anything), and each job's energy and GWP spread over the slots of its run.

use super::PeriodJob;
use crate::figures::{JobFigures, Source};
use ea_sacct::timefmt::Clock;

/// Periods up to this long are shown hour by hour.
pub const HOURLY_UP_TO_S: i64 = 3 * 86_400;

/// How long a slot of the timeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One slot an hour.
    Hour,
    /// One slot a day.
    Day,
}

impl Step {
    /// The step's name in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }

    /// The step a period of `seconds` is shown in.
    pub fn for_period(seconds: i64) -> Self {
        if seconds <= HOURLY_UP_TO_S {
            Step::Hour
        } else {
            Step::Day
        }
    }
}

/// A slot's sums: energy (J) and GWP (kgCO2eq), each job's spread evenly over its run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sums {
    /// Measured and split energy, J.
    pub measured_j: f64,
    /// Estimated energy, J.
    pub estimated_j: f64,
    /// Lower bound of the energy, J.
    pub energy_min_j: f64,
    /// Upper bound of the energy, J.
    pub energy_max_j: f64,
    /// GWP, kgCO2eq.
    pub gwp_kg: f64,
    /// Lower bound of the GWP, kgCO2eq.
    pub gwp_min_kg: f64,
    /// Upper bound of the GWP, kgCO2eq.
    pub gwp_max_kg: f64,
}

impl Sums {
    fn add_scaled(&mut self, o: &Sums, k: f64) {
        self.measured_j += o.measured_j * k;
        self.estimated_j += o.estimated_j * k;
        self.energy_min_j += o.energy_min_j * k;
        self.energy_max_j += o.energy_max_j * k;
        self.gwp_kg += o.gwp_kg * k;
        self.gwp_min_kg += o.gwp_min_kg * k;
        self.gwp_max_kg += o.gwp_max_kg * k;
    }

    pub(crate) fn absorb(&mut self, o: &Sums) {
        self.add_scaled(o, 1.0);
    }

    /// Measured plus estimated energy, J.
    pub fn energy_j(&self) -> f64 {
        self.measured_j + self.estimated_j
    }
}

/// One slot of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// `YYYY-MM-DD`, or `YYYY-MM-DD HH:00` for hours, in the site's zone.
    pub label: String,
    /// Its first second.
    pub start: i64,
    /// Its sums.
    pub sums: Sums,
}

/// The period's energy and GWP over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// How long a slot is.
    pub step: Step,
    /// The slots, in time order.
    pub slots: Vec<Slot>,
}

/// The period's slots in the site's zone: their bounds (epoch seconds, from the period's start
/// to its end) and labels, worked out once for all jobs.
pub(super) struct Slots {
    pub step: Step,
    pub bounds: Vec<i64>,
    pub labels: Vec<String>,
}

impl Slots {
    pub fn new(start: i64, end: i64, clock: &Clock) -> Self {
        let step = Step::for_period(end - start);
        let (mut bounds, mut labels) = (vec![start], Vec::new());
        let mut t = start;
        while t < end {
            let (label, next) = slot_at(t, step, clock);
            let next = next.unwrap_or(end).min(end).max(t + 1);
            labels.push(label);
            bounds.push(next);
            t = next;
        }
        Self {
            step,
            bounds,
            labels,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The timeline of these slots with their sums.
    pub fn timeline(&self, sums: &[Sums]) -> Timeline {
        Timeline {
            step: self.step,
            slots: self
                .labels
                .iter()
                .zip(&self.bounds)
                .zip(sums)
                .map(|((label, &start), s)| Slot {
                    label: label.clone(),
                    start,
                    sums: *s,
                })
                .collect(),
        }
    }
}

/// The label of the slot holding `t`, and when the next slot starts (`None` past the calendar).
fn slot_at(t: i64, step: Step, clock: &Clock) -> (String, Option<i64>) {
    let civil = clock.epoch_to_civil(t);
    let d = civil.date();
    let day = format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
    match step {
        Step::Day => {
            let next = d.tomorrow().ok().and_then(|n| {
                clock
                    .civil_to_epoch(n.to_datetime(jiff::civil::Time::midnight()))
                    .ok()
            });
            (day, next)
        }
        Step::Hour => {
            // The hour's first second, then one hour on: a repeated hour (DST) is two slots.
            let minutes = i64::from(civil.minute()) * 60 + i64::from(civil.second());
            (
                format!("{day} {:02}:00", civil.hour()),
                Some(t - minutes + 3600),
            )
        }
    }
}

/// A job's figures as rates over its run: what one second of it adds to a slot.
fn rates(j: &PeriodJob, f: &JobFigures, period: (i64, i64)) -> Option<Sums> {
    let (s, e) = (j.start?, j.end?);
    if e <= s {
        return None;
    }
    let run = (e - s) as f64;
    // The embodied impacts are the period's part already: spread over the part inside.
    let inside = ((e.min(period.1) - s.max(period.0)).max(1)) as f64;
    let (gwp, gwp_min, gwp_max) = match &f.impacts {
        Some(i) => (
            i.use_phase.value.gwp_kgco2eq / run + i.embodied.value.gwp_kgco2eq / inside,
            i.use_phase.min.gwp_kgco2eq / run + i.embodied.min.gwp_kgco2eq / inside,
            i.use_phase.max.gwp_kgco2eq / run + i.embodied.max.gwp_kgco2eq / inside,
        ),
        None => (0.0, 0.0, 0.0),
    };
    let rate = f.energy.j / run;
    let estimated = f.energy.source == Source::Estimated;
    Some(Sums {
        measured_j: if estimated { 0.0 } else { rate },
        estimated_j: if estimated { rate } else { 0.0 },
        energy_min_j: f.energy.min_j / run,
        energy_max_j: f.energy.max_j / run,
        gwp_kg: gwp,
        gwp_min_kg: gwp_min,
        gwp_max_kg: gwp_max,
    })
}

/// Adds a job's energy and GWP to the slots of its run inside the period (the same parts of
/// them that the period's totals count).
pub(super) fn spread(j: &PeriodJob, f: &JobFigures, slots: &Slots, sums: &mut [Sums]) {
    let (Some(first), Some(&last)) = (slots.bounds.first(), slots.bounds.last()) else {
        return;
    };
    let Some(r) = rates(j, f, (*first, last)) else {
        return;
    };
    let (Some(s), Some(e)) = (j.start, j.end) else {
        return;
    };
    let (a, b) = (s.max(*first), e.min(last));
    // The slot holding `a`, then each slot until `b`.
    let mut i = slots.bounds.partition_point(|&x| x <= a).saturating_sub(1);
    let mut t = a;
    while t < b && i < slots.len() {
        let next = slots.bounds[i + 1].min(b).max(t + 1);
        sums[i].add_scaled(&r, (next - t) as f64);
        t = next;
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Energy, JobImpacts, job_figures_of};
    use ea_impact::{Impacts, Ranged};

    fn utc() -> Clock {
        Clock::fixed(jiff::tz::TimeZone::UTC, 0)
    }

    fn job(start: i64, end: i64) -> PeriodJob {
        PeriodJob {
            start: Some(start),
            end: Some(end),
            ..PeriodJob::for_tests()
        }
    }

    fn figures(j: f64, gwp_use: f64, gwp_embodied: f64, seconds: f64) -> JobFigures {
        let energy = Energy {
            j,
            min_j: j * 0.5,
            max_j: j * 2.0,
            source: Source::Measured,
            calibration: None,
        };
        let mut f = job_figures_of(energy, seconds, Some(1), None, None, None);
        let r = |g: f64| {
            Ranged::new(
                Impacts::new(g, 0.0, 0.0),
                Impacts::new(g, 0.0, 0.0),
                Impacts::new(g * 3.0, 0.0, 0.0),
            )
        };
        f.impacts = Some(JobImpacts {
            use_phase: r(gwp_use),
            embodied: r(gwp_embodied),
        });
        f
    }

    #[test]
    fn short_periods_are_cut_in_hours_and_long_ones_in_days() {
        let clock = utc();
        let hours = Slots::new(0, 2 * 86_400, &clock);
        assert_eq!((hours.step, hours.len()), (Step::Hour, 48));
        assert_eq!(hours.labels[1], "1970-01-01 01:00");
        let days = Slots::new(0, 30 * 86_400 + 3600, &clock);
        assert_eq!((days.step, days.len()), (Step::Day, 31));
        assert_eq!(days.labels[30], "1970-01-31");
        assert_eq!(*days.bounds.last().unwrap(), 30 * 86_400 + 3600);
    }

    #[test]
    fn a_day_in_a_zone_with_a_dst_change_is_one_slot() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let clock = Clock::fixed(paris, 0);
        // 2026-10-25, the day Paris goes back an hour: 25 hours.
        let (a, b) = clock.month_bounds(2026, 10).unwrap();
        let s = Slots::new(a, b, &clock);
        assert_eq!(s.len(), 31);
        let i = s.labels.iter().position(|l| l == "2026-10-25").unwrap();
        assert_eq!(s.bounds[i + 1] - s.bounds[i], 25 * 3600);
    }

    #[test]
    fn a_job_is_spread_over_the_slots_of_its_run_inside_the_period() {
        let clock = utc();
        // Days 0..4; the job runs from noon of day -1 to noon of day 2: 3 days, 2.5 inside.
        let slots = Slots::new(0, 4 * 86_400, &clock);
        let j = job(-43_200, 2 * 86_400 + 43_200);
        let f = figures(300.0, 3.0, 5.0, 3.0 * 86_400.0);
        let mut sums = vec![Sums::default(); slots.len()];
        spread(&j, &f, &slots, &mut sums);
        let energy: Vec<f64> = sums.iter().map(|s| s.measured_j).collect();
        assert_eq!(energy, [100.0, 100.0, 50.0, 0.0]);
        // Use phase by run time (3 per 3 days), embodied over the part inside (5 per 2.5 days).
        let gwp: f64 = sums.iter().map(|s| s.gwp_kg).sum();
        assert!((gwp - (2.5 + 5.0)).abs() < 1e-9, "{gwp}");
        assert!((sums[0].gwp_max_kg - 3.0 * (1.0 + 2.0)).abs() < 1e-9);
        assert_eq!(sums[0].energy_min_j, 50.0);
    }
}
