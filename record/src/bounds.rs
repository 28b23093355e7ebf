//! Plausibility bounds on what a record says, applied the same way by everything that reads
//! records (the store's ingest, `energy-assess job`, the epilog's summary): a meter whose energy
//! no hardware of its scope could have drawn over the record's span is refused, with the bound
//! and the reason, instead of reaching a monthly report as 10^301 kWh.
//!
//! The bounds are physical ceilings per meter, not site knowledge, so that a reader without the
//! inventory (`job` on a login node) refuses exactly what the store refuses. Each is about twice
//! the largest device of its scope sold in 2026, so that no real reading comes near it:
//!
//! | scope | ceiling | largest seen |
//! |---|---|---|
//! | cpu-package, core, uncore, dram (one socket) | 1.5 kW | 500 W (AMD EPYC 9965, Intel Xeon 6980P) |
//! | platform (RAPL psys) | 3 kW | psys covers one client-class platform |
//! | gpu-board (one GPU) | 3 kW | 1.2 kW (NVIDIA B300), 2.7 kW (a GB200 superchip board) |
//! | node-bmc, node-wattmeter, other (a whole node) | 30 kW | 14.3 kW (NVIDIA DGX B200) |
//!
//! The counts a record gives (CPUs, GPUs and memory on the node, nodes of the job) are bounded
//! too ([`check_count`]): beyond the bound a count is unknown, and flagged.

use crate::record::{JobNodeRecord, Scope};
use std::fmt;

/// Slack on the record's span: a meter's first and last readings are taken around the
/// prolog's and the epilog's timestamps, not exactly at them.
pub const SPAN_SLACK_S: f64 = 10.0;

/// A record's span (epilog minus prolog) above this is not believed: Slurm's time limits stop
/// jobs far earlier (a year is beyond any site's MaxTime in practice), so such a span comes
/// from a clock jump or an edited record.
pub const MAX_SPAN_S: f64 = 400.0 * 86_400.0;

/// The most power one meter of `scope` can report, in watts (see the module's table).
pub fn max_power_w(scope: Scope) -> f64 {
    match scope {
        Scope::CpuPackage | Scope::Core | Scope::Uncore | Scope::Dram => 1_500.0,
        Scope::Platform | Scope::GpuBoard => 3_000.0,
        Scope::NodeBmc | Scope::NodeWattmeter | Scope::Other | Scope::Unknown => 30_000.0,
    }
}

/// Why a meter's energy is not believed.
#[derive(Debug, Clone, PartialEq)]
pub struct Implausible {
    /// The meter's id (`rapl:intel-rapl:0`).
    pub meter: String,
    /// The energy it reported, J.
    pub energy_j: f64,
    /// Which bound it broke.
    pub reason: Reason,
}

/// Which bound a meter's energy broke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// Negative, infinite or not a number.
    NotAnEnergy,
    /// More than the scope's ceiling over the span (with its slack).
    AboveCeiling {
        /// The scope's ceiling, W.
        ceiling_w: f64,
        /// The record's span, s.
        span_s: f64,
    },
    /// The record's span is negative or beyond [`MAX_SPAN_S`], so no energy can be bounded.
    SpanImplausible {
        /// The record's span, s.
        span_s: f64,
    },
}

impl Implausible {
    /// The flag stored with the record: the meter, the value and the bound, with no comma or
    /// space in it (flags are a comma-separated list).
    pub fn flag(&self) -> String {
        let what = match self.reason {
            Reason::NotAnEnergy => format!("{}J-not-an-energy", self.energy_j),
            Reason::AboveCeiling { ceiling_w, span_s } => format!(
                "{:.4e}J>{}W*{}s",
                self.energy_j,
                ceiling_w,
                span_s + SPAN_SLACK_S
            ),
            Reason::SpanImplausible { span_s } => format!("span-{span_s}s"),
        };
        format!("{}:implausible-energy:{what}", self.meter)
    }
}

impl fmt::Display for Implausible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.energy_j;
        if e.is_finite() && e.abs() >= 1e9 {
            write!(f, "{}: {e:.4e} J refused: ", self.meter)?;
        } else {
            write!(f, "{}: {e} J refused: ", self.meter)?;
        }
        match self.reason {
            Reason::NotAnEnergy => write!(f, "not an energy (negative or not a finite number)"),
            Reason::AboveCeiling { ceiling_w, span_s } => write!(
                f,
                "more than {ceiling_w} W (the most a meter of its scope can draw) for the \
                 record's {span_s:.1} s (+{SPAN_SLACK_S} s)"
            ),
            Reason::SpanImplausible { span_s } => write!(
                f,
                "the record's span of {span_s:.0} s is negative or longer than {MAX_SPAN_S:.0} s"
            ),
        }
    }
}

/// Checks one meter's energy over a record's span (`None` for a record without both ends: an
/// energy is then only checked for being one).
pub fn check_energy(
    meter: &str,
    scope: Scope,
    energy_j: f64,
    span_s: Option<f64>,
) -> Result<(), Implausible> {
    let refuse = |reason| {
        Err(Implausible {
            meter: meter.to_string(),
            energy_j,
            reason,
        })
    };
    if !(energy_j.is_finite() && energy_j >= 0.0) {
        return refuse(Reason::NotAnEnergy);
    }
    let Some(span_s) = span_s else { return Ok(()) };
    if !(0.0..=MAX_SPAN_S).contains(&span_s) {
        return refuse(Reason::SpanImplausible { span_s });
    }
    let ceiling_w = max_power_w(scope);
    if energy_j > ceiling_w * (span_s + SPAN_SLACK_S) {
        return refuse(Reason::AboveCeiling { ceiling_w, span_s });
    }
    Ok(())
}

/// The most a record may say a job holds on one node, and the most nodes a job may have:
/// beyond these a count comes from an edited or corrupt record. Each is far beyond any node or
/// job of 2026 (the largest nodes have a few hundred CPUs, 8 to 16 GPUs and some TiB of
/// memory; the largest machines some 10,000 nodes).
pub const MAX_CPUS_ON_NODE: u32 = 65_536;
/// See [`MAX_CPUS_ON_NODE`].
pub const MAX_GPUS_ON_NODE: u32 = 256;
/// See [`MAX_CPUS_ON_NODE`] (1 PiB).
pub const MAX_MEMORY_MB: u64 = 1 << 30;
/// See [`MAX_CPUS_ON_NODE`].
pub const MAX_NODES: u32 = 1 << 20;

/// `value` if it is at most `max`; otherwise `None` (unknown), with the flag
/// `implausible-<what>:<value>>max` added to `flags`.
pub fn check_count<T: PartialOrd + fmt::Display + Copy>(
    what: &str,
    value: Option<T>,
    max: T,
    flags: &mut Vec<String>,
) -> Option<T> {
    match value {
        Some(v) if v > max => {
            flags.push(format!("implausible-{what}:{v}>{max}"));
            None
        }
        other => other,
    }
}

impl JobNodeRecord {
    /// The meters whose energy [`check_energy`] refuses, with why.
    pub fn implausible_meters(&self) -> Vec<Implausible> {
        let span = self.duration_s();
        self.meters
            .iter()
            .filter_map(|m| check_energy(&m.id, m.scope, m.energy_j, span).err())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_energies_pass_and_impossible_ones_are_refused_with_the_bound() {
        // A 500 W socket for an hour, a 1 kW GPU for a day: real.
        assert!(check_energy("rapl:0", Scope::CpuPackage, 500.0 * 3600.0, Some(3600.0)).is_ok());
        assert!(check_energy("nvml:0", Scope::GpuBoard, 86_400e3, Some(86_400.0)).is_ok());
        // A short job's meters read a little outside its span.
        assert!(check_energy("ipmi", Scope::NodeBmc, 20_000.0 * 5.0, Some(0.5)).is_ok());
        let e = check_energy("rapl:0", Scope::CpuPackage, 1e308, Some(60.0)).unwrap_err();
        assert_eq!(
            e.reason,
            Reason::AboveCeiling {
                ceiling_w: 1500.0,
                span_s: 60.0
            }
        );
        let flag = e.flag();
        assert_eq!(flag, "rapl:0:implausible-energy:1.0000e308J>1500W*70s");
        assert!(!flag.contains(',') && !flag.contains(' '));
        assert!(e.to_string().contains("1500 W"), "{e}");
        for bad in [-5000.0, f64::NAN, f64::INFINITY] {
            let e = check_energy("m", Scope::Dram, bad, None).unwrap_err();
            assert_eq!(e.reason, Reason::NotAnEnergy, "{bad}");
        }
        let e = check_energy("m", Scope::Dram, 1.0, Some(-3.0)).unwrap_err();
        assert!(matches!(e.reason, Reason::SpanImplausible { .. }));
        let e = check_energy("m", Scope::Dram, 1.0, Some(MAX_SPAN_S * 2.0)).unwrap_err();
        assert!(matches!(e.reason, Reason::SpanImplausible { .. }));
        // At the ceiling exactly: kept.
        assert!(check_energy("m", Scope::Other, 30_000.0 * 20.0, Some(10.0)).is_ok());
    }

    #[test]
    fn impossible_counts_become_unknown_with_the_bound_in_the_flag() {
        let mut flags = Vec::new();
        assert_eq!(
            check_count("cpus", Some(128u32), MAX_CPUS_ON_NODE, &mut flags),
            Some(128)
        );
        assert_eq!(
            check_count("cpus", None::<u32>, MAX_CPUS_ON_NODE, &mut flags),
            None
        );
        assert!(flags.is_empty());
        assert_eq!(
            check_count("memory-mb", Some(u64::MAX), MAX_MEMORY_MB, &mut flags),
            None
        );
        assert_eq!(
            flags,
            [format!(
                "implausible-memory-mb:{}>{MAX_MEMORY_MB}",
                u64::MAX
            )]
        );
    }
}
