//! A measured job's energy: what the impact engine attributed it on each node it was measured
//! on, added up.
//!
//! The split itself is the engine's ([`ea_impact::allocate`], methodology §3 and §4.1): per
//! node the best meter wins (an external wattmeter, from a record or an ingested series, then
//! the BMC, then the components); the job gets its own GPUs plus its share, by the
//! inventory's `share_rule` and time overlap, of the node minus all its GPUs (Jay's rule).
//! This module only adds the nodes up, with ranges per meter scope from the measurements in
//! methodology §1.6: an external wattmeter ±2 %; a BMC reads 10–17 % below the wall, so
//! [1.0, 1.2]×; components alone miss the node's static and remainder power (≈ ×2 on a DGX
//! A100), so [1.0, 2.0]×.

use ea_impact::{EnergyMethod, Flag, JobNodeImpact};
use ea_record::Scope;

/// The scopes a node record's energies are summed by, in this order (the store's columns,
/// `ea_ingest::records::NodeRecordRow::energy_j`, and [`JobMeasured::scope_sums`]).
pub const SCOPES: [Scope; 9] = [
    Scope::CpuPackage,
    Scope::Core,
    Scope::Uncore,
    Scope::Dram,
    Scope::Platform,
    Scope::GpuBoard,
    Scope::NodeBmc,
    Scope::NodeWattmeter,
    Scope::Other,
];

/// The index of a scope in [`SCOPES`].
pub fn scope_index(s: Scope) -> usize {
    SCOPES
        .iter()
        .position(|x| *x == s)
        .unwrap_or(SCOPES.len() - 1)
}

/// The scope a node's figure rests on, and its range factors, for the engine's method;
/// `None` when the engine found no meter to use (an estimate, or nothing).
pub fn scope_range(method: EnergyMethod) -> Option<(&'static str, f64, f64)> {
    match method {
        EnergyMethod::NodeMeter { scope, .. } | EnergyMethod::NodeMeterSplit { scope, .. } => {
            match scope {
                Scope::NodeWattmeter => Some(("node-wattmeter", 0.98, 1.02)),
                _ => Some(("node-bmc", 1.0, 1.2)),
            }
        }
        EnergyMethod::Components { .. } => Some(("components", 1.0, 2.0)),
        EnergyMethod::Estimated | EnergyMethod::Missing => None,
    }
}

/// Engine flags worth keeping with a measured job (the others concern impacts, not energy).
const KEPT_FLAGS: &[Flag] = &[
    Flag::Oversubscribed,
    Flag::NoShareData,
    Flag::ShareRuleFallback,
    Flag::HeldMoreThanNode,
    Flag::NodeMeterBelowDevices,
    Flag::DeviceHolderUnknown,
    Flag::UnknownScopeIgnored,
    Flag::InvalidMeterValue,
];

/// What one measured node gives its job.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEnergy {
    /// The node's name.
    pub node: String,
    /// The job's energy on the node, J.
    pub energy_j: f64,
    /// Lower bound of that energy, by the scope's range, J.
    pub min_j: f64,
    /// Upper bound of that energy, by the scope's range, J.
    pub max_j: f64,
    /// The meter scope the energy is read from (one of [`SCOPES`]).
    pub scope: &'static str,
    /// Another job shared the node, or the job held only part of it: its energy was split.
    pub split: bool,
    /// The engine's flags and the record's own (`node:flag`), as names.
    pub flags: Vec<String>,
}

impl NodeEnergy {
    /// The node's figure from the engine's result for the pair; `None` when the engine found
    /// no meter to use. `record_flags` are the record's own, comma-separated.
    pub fn from_engine(node: &str, pair: &JobNodeImpact, record_flags: &str) -> Option<Self> {
        let (scope, lo, hi) = scope_range(pair.energy_method)?;
        let e = pair.energy_j?;
        let mut flags: Vec<String> = KEPT_FLAGS
            .iter()
            .filter(|f| pair.flags.contains(**f))
            .map(|f| f.as_str().to_string())
            .collect();
        if !record_flags.is_empty() {
            flags.extend(record_flags.split(',').map(|f| format!("{node}:{f}")));
        }
        Some(Self {
            node: node.to_string(),
            energy_j: e,
            min_j: e * lo,
            max_j: e * hi,
            scope,
            split: pair.co_tenants || pair.share < 1.0 - 1e-9,
            flags,
        })
    }
}

/// A measured job's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMeasured {
    /// Nodes whose records were found.
    pub nodes_recorded: u32,
    /// Nodes the job had, when sacct says.
    pub nodes_expected: Option<u32>,
    /// Energy, J (the missing nodes taken to be like the recorded ones).
    pub energy_j: f64,
    /// Lower bound of the energy, J.
    pub min_j: f64,
    /// Upper bound of the energy, J.
    pub max_j: f64,
    /// Some node's energy was split with other jobs.
    pub split: bool,
    /// Raw sums per scope over the recorded nodes (what the meters read, before any split).
    pub scope_sums: [Option<f64>; SCOPES.len()],
    /// The scopes used, comma-separated, for display.
    pub scope: String,
    /// The nodes' flags, as names.
    pub flags: Vec<String>,
}

/// Adds up a job's measured nodes. When fewer nodes reported than the job had, the missing
/// ones are taken to be like the ones that did (flagged `extrapolated`). `scope_sums` are the
/// raw meter sums of its records.
pub fn combine(
    nodes: &[NodeEnergy],
    scope_sums: [Option<f64>; SCOPES.len()],
    nodes_expected: Option<u32>,
) -> Option<JobMeasured> {
    if nodes.is_empty() {
        return None;
    }
    let (mut e, mut lo, mut hi) = (0.0, 0.0, 0.0);
    let mut scopes: Vec<&str> = Vec::new();
    let mut flags = Vec::new();
    let mut split = false;
    for n in nodes {
        e += n.energy_j;
        lo += n.min_j;
        hi += n.max_j;
        if !scopes.contains(&n.scope) {
            scopes.push(n.scope);
        }
        split |= n.split;
        flags.extend(n.flags.iter().cloned());
    }
    let recorded = nodes.len() as u32;
    if let Some(expected) = nodes_expected.filter(|&x| x > recorded) {
        let k = f64::from(expected) / f64::from(recorded);
        e *= k;
        lo *= k;
        hi *= k;
        flags.push(format!("extrapolated:{recorded}/{expected}-nodes"));
    }
    if scopes.contains(&"components") {
        flags.push("components-only".into());
    }
    if split {
        flags.push("shared-node-split".into());
    }
    flags.sort();
    flags.dedup();
    let scope = if scopes.len() == 1 {
        scopes[0].to_string()
    } else {
        "mixed".to_string()
    };
    Some(JobMeasured {
        nodes_recorded: recorded,
        nodes_expected,
        energy_j: e,
        min_j: lo,
        max_j: hi,
        split,
        scope_sums,
        scope,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(e: f64, scope: &'static str, split: bool) -> NodeEnergy {
        let (lo, hi) = match scope {
            "node-bmc" => (1.0, 1.2),
            _ => (1.0, 2.0),
        };
        NodeEnergy {
            node: "n1".into(),
            energy_j: e,
            min_j: e * lo,
            max_j: e * hi,
            scope,
            split,
            flags: Vec::new(),
        }
    }

    #[test]
    fn scopes_give_their_ranges() {
        let bmc = EnergyMethod::NodeMeterSplit {
            scope: Scope::NodeBmc,
            with_devices: true,
        };
        assert_eq!(scope_range(bmc), Some(("node-bmc", 1.0, 1.2)));
        let watt = EnergyMethod::NodeMeter {
            scope: Scope::NodeWattmeter,
            with_devices: false,
        };
        assert_eq!(scope_range(watt), Some(("node-wattmeter", 0.98, 1.02)));
        let comp = EnergyMethod::Components {
            calibrated_remainder: false,
        };
        assert_eq!(scope_range(comp), Some(("components", 1.0, 2.0)));
        assert_eq!(scope_range(EnergyMethod::Estimated), None);
    }

    #[test]
    fn missing_nodes_are_extrapolated_and_flagged() {
        let m = combine(
            &[node(100.0, "node-bmc", false)],
            [None; SCOPES.len()],
            Some(4),
        )
        .unwrap();
        assert_eq!((m.energy_j, m.max_j), (400.0, 480.0));
        assert!(
            m.flags.contains(&"extrapolated:1/4-nodes".to_string()),
            "{:?}",
            m.flags
        );
        assert_eq!(m.scope, "node-bmc");
        assert!(!m.split);
        let mixed = combine(
            &[
                node(100.0, "node-bmc", true),
                node(50.0, "components", false),
            ],
            [None; SCOPES.len()],
            Some(2),
        )
        .unwrap();
        assert_eq!((mixed.scope.as_str(), mixed.split), ("mixed", true));
        assert!(mixed.flags.contains(&"components-only".to_string()));
        assert!(mixed.flags.contains(&"shared-node-split".to_string()));
        assert!(combine(&[], [None; SCOPES.len()], None).is_none());
    }
}
