//! Checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every target's baseline is that no parser panics, overflows (the targets are built with
//! overflow checks and debug assertions) or runs out of memory on any input. On top of that,
//! these helpers assert what the parsers promise about what they return: quantities (energies,
//! durations, memory) are finite and non-negative, stored forms read back as what was stored.

use ea_sacct::{Entry, JobRow, StepRow};
use std::fmt::Debug;

/// Asserts that a parsed quantity (energy, duration, memory size, power) is a finite,
/// non-negative number.
#[track_caller]
pub fn quantity(what: &str, v: Option<f64>, context: &dyn Debug) {
    if let Some(x) = v {
        assert!(
            x.is_finite() && x >= 0.0,
            "{what} = {x} is not a finite non-negative quantity; in {context:?}"
        );
    }
}

/// Asserts that a parsed whole-second duration is not negative.
#[track_caller]
pub fn seconds(what: &str, v: Option<i64>, context: &dyn Debug) {
    if let Some(x) = v {
        assert!(x >= 0, "{what} = {x} s is negative; in {context:?}");
    }
}

/// Whether two floats that went through a text form (serde_json writes the shortest form that
/// reads back exactly, and reads it back "best effort" without its `float_roundtrip` feature,
/// which the project does not enable) are the same number, within 2 units in the last place.
pub fn same_float(a: f64, b: f64) -> bool {
    if a == b {
        return true;
    }
    if !(a.is_finite() && b.is_finite()) || a.is_sign_negative() != b.is_sign_negative() {
        return false;
    }
    a.to_bits().abs_diff(b.to_bits()) <= 2
}

/// [`same_float`] for optional values.
pub fn same_opt_float(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_float(a, b),
        _ => false,
    }
}

/// What every reader of Slurm accounting promises about a job row.
#[track_caller]
pub fn check_job_row(j: &JobRow) {
    assert!(!j.job_id.is_empty(), "a job without a JobID: {j:?}");
    assert!(!j.state.is_empty(), "a job without a state: {j:?}");
    quantity("ReqMem (MiB)", j.req_mem_mb, j);
    quantity("TotalCPU (s)", j.total_cpu_s, j);
    quantity("CPUTime (s)", j.cpu_time_s, j);
    quantity("ConsumedEnergy (J)", j.consumed_energy_j, j);
    seconds("Elapsed", j.elapsed_s, j);
    seconds("Timelimit", j.timelimit_s, j);
    for s in &j.steps {
        check_step_row(s);
    }
}

/// What every reader of Slurm accounting promises about a step row.
#[track_caller]
pub fn check_step_row(s: &StepRow) {
    assert!(!s.state.is_empty(), "a step without a state: {s:?}");
    quantity("step TotalCPU (s)", s.total_cpu_s, s);
    quantity("step ConsumedEnergy (J)", s.consumed_energy_j, s);
    seconds("step Elapsed", s.elapsed_s, s);
}

/// [`check_job_row`] or [`check_step_row`].
#[track_caller]
pub fn check_entry(e: &Entry) {
    match e {
        Entry::Job(j) => check_job_row(j),
        Entry::Step(s) => check_step_row(s),
    }
}

/// A fixed clock for the parsers that read local times: UTC, 2026-11-26T12:00:00Z. Fixed so
/// that a crash reproduces whenever it is replayed.
pub fn clock_utc() -> ea_sacct::timefmt::Clock {
    ea_sacct::timefmt::Clock::fixed(jiff::tz::TimeZone::UTC, 1_795_694_400)
}

/// The same instant in a zone with DST (folds and gaps), built without the system's time zone
/// database so that a run does not depend on the machine: central European time, as a POSIX
/// TZ rule.
pub fn clock_cet() -> ea_sacct::timefmt::Clock {
    let tz = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("a valid POSIX TZ");
    ea_sacct::timefmt::Clock::fixed(tz, 1_795_694_400)
}

/// What the SPANK plugin's configuration promises, however it was read (file or plugstack
/// arguments): the sampling interval in [100 ms, 1 h] and the stop timeout in [50 ms, 30 s], as
/// its documentation says; an absolute spool; a sysroot that starts with `/`; meter sources that
/// print as a list reading back as the same sources.
#[track_caller]
pub fn check_plugin_config(c: &energy_assess_spank::config::Config) {
    use std::time::Duration;
    let m = &c.meters;
    assert!(
        (Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&m.interval),
        "interval {:?}",
        m.interval
    );
    assert!(
        (Duration::from_millis(50)..=Duration::from_secs(30)).contains(&m.stop_timeout),
        "stop_timeout {:?}",
        m.stop_timeout
    );
    assert!(c.spool.is_absolute(), "spool {:?}", c.spool);
    assert!(m.sysroot.starts_with('/'), "sysroot {:?}", m.sysroot);
    let list = m.sources.to_list();
    assert_eq!(
        ea_meters::Sources::parse(&list),
        Ok(m.sources),
        "sources printed as `{list}`"
    );
}
