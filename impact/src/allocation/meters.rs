//! Sorting a job-node's meters by what they cover, for Jay's rule.
//!
//! Meters overlap (a BMC reading includes the GPUs and CPUs; `psys` includes the packages), so
//! they are never summed blindly:
//!
//! - whole node: the external wattmeter if there is one, else the BMC (methodology §5.4: the
//!   BMC reads 10–17 % below the wattmeter on a DGX-1);
//! - devices (GPU boards): the job's own (`job_owned = true`), others' (`false`), or unknown
//!   (on an exclusive node, the job's; on a shared node, split by share like the rest);
//! - shared components: CPU packages and DRAM (or `psys` when both are absent), which all
//!   jobs on the node share; core and uncore zones lie inside the package and are not added.

use super::{Flag, Flags, MeterEnergy, ScopeSet};
use ea_record::Scope;

#[derive(Debug, Clone, Default)]
pub(crate) struct Classified {
    /// The chosen whole-node meter and its energy, J.
    pub node: Option<(Scope, f64)>,
    /// GPU boards the job held, J.
    pub own_devices_j: f64,
    /// GPU boards known to be another job's (or idle), J.
    pub other_devices_j: f64,
    /// CPU packages, DRAM, and devices whose holder is unknown on a shared node, J.
    pub shared_j: f64,
    pub has_components: bool,
    pub flags: Flags,
    /// Scopes of every usable meter seen (which enter the figure depends on the method).
    pub seen: ScopeSet,
}

pub(crate) fn classify(meters: &[MeterEnergy], exclusive: bool) -> Classified {
    let mut c = Classified::default();
    let (mut wattmeter, mut bmc) = (None::<f64>, None::<f64>);
    let (mut package, mut dram, mut platform) = (None::<f64>, None::<f64>, None::<f64>);
    for m in meters {
        if !m.energy_j.is_finite() || m.energy_j < 0.0 {
            c.flags.set(Flag::InvalidMeterValue);
            continue;
        }
        let add = |slot: &mut Option<f64>| *slot = Some(slot.unwrap_or(0.0) + m.energy_j);
        match m.scope {
            Scope::NodeWattmeter => add(&mut wattmeter),
            Scope::NodeBmc => add(&mut bmc),
            Scope::GpuBoard => {
                match (m.job_owned, exclusive) {
                    (Some(true), _) | (None, true) => c.own_devices_j += m.energy_j,
                    (Some(false), _) => c.other_devices_j += m.energy_j,
                    (None, false) => {
                        c.shared_j += m.energy_j;
                        c.flags.set(Flag::DeviceHolderUnknown);
                    }
                }
                c.has_components = true;
            }
            Scope::CpuPackage => add(&mut package),
            Scope::Dram => add(&mut dram),
            Scope::Platform => add(&mut platform),
            Scope::Core | Scope::Uncore => {}
            Scope::Other | Scope::Unknown => {
                c.flags.set(Flag::UnknownScopeIgnored);
                continue;
            }
        }
        c.seen.insert(m.scope);
    }
    c.node = wattmeter
        .map(|e| (Scope::NodeWattmeter, e))
        .or(bmc.map(|e| (Scope::NodeBmc, e)));
    // As `JobNodeRecord::node_energy_j`: packages and DRAM when either is there, else psys,
    // which covers them and is never added to them.
    let cpu_side = match (package, dram) {
        (None, None) => platform,
        (p, d) => Some(p.unwrap_or(0.0) + d.unwrap_or(0.0)),
    };
    if let Some(e) = cpu_side {
        c.shared_j += e;
        c.has_components = true;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(scope: Scope, energy_j: f64, job_owned: Option<bool>) -> MeterEnergy {
        MeterEnergy {
            scope,
            energy_j,
            job_owned,
        }
    }

    #[test]
    fn wattmeter_wins_over_bmc_and_overlapping_zones_are_not_added() {
        let c = classify(
            &[
                m(Scope::NodeBmc, 90.0, None),
                m(Scope::NodeWattmeter, 100.0, None),
                m(Scope::CpuPackage, 20.0, None),
                m(Scope::Core, 15.0, None),
                m(Scope::Dram, 5.0, None),
                m(Scope::Platform, 30.0, None),
            ],
            true,
        );
        assert_eq!(c.node, Some((Scope::NodeWattmeter, 100.0)));
        assert_eq!(c.shared_j, 25.0, "package + DRAM; core and psys not added");
    }

    #[test]
    fn devices_go_to_their_holder() {
        let meters = [
            m(Scope::GpuBoard, 10.0, Some(true)),
            m(Scope::GpuBoard, 7.0, Some(false)),
            m(Scope::GpuBoard, 3.0, None),
        ];
        let shared = classify(&meters, false);
        assert_eq!(
            (
                shared.own_devices_j,
                shared.other_devices_j,
                shared.shared_j
            ),
            (10.0, 7.0, 3.0)
        );
        assert!(shared.flags.contains(Flag::DeviceHolderUnknown));
        let exclusive = classify(&meters, true);
        assert_eq!(
            (
                exclusive.own_devices_j,
                exclusive.other_devices_j,
                exclusive.shared_j
            ),
            (13.0, 7.0, 0.0)
        );
    }

    #[test]
    fn bad_values_and_unknown_scopes_are_skipped_and_flagged() {
        let c = classify(
            &[
                m(Scope::Other, 5.0, None),
                m(Scope::NodeBmc, -1.0, None),
                m(Scope::NodeBmc, f64::NAN, None),
            ],
            true,
        );
        assert_eq!(c.node, None);
        assert!(c.flags.contains(Flag::UnknownScopeIgnored));
        assert!(c.flags.contains(Flag::InvalidMeterValue));
        assert_eq!(
            classify(&[m(Scope::Platform, 30.0, None)], true).shared_j,
            30.0
        );
    }
}
