//! A measured job's energy, from what its nodes' meters read and who else was on those nodes.
//!
//! Per node, the best scope wins: an external wattmeter (from a record or an ingested series),
//! then the BMC, then the components (CPU packages + DRAM, or RAPL psys, plus the job's own
//! GPUs). Node-level readings and CPU/DRAM domains cover every job on the node, so when other
//! jobs overlapped the job there, that part is split by CPUs held, time-weighted, the way EAR
//! shares node power on shared nodes (peers.md §1.1: `cpu_ratio = job_cpus / cpus of running
//! jobs`); the job's own GPUs are not split. Following Jay's attribution (methodology §1.2),
//! the job pays its GPUs plus its share of the rest of the node.
//!
//! Ranges per scope, from the measurements in methodology §1.6: an external wattmeter ±2 %;
//! a BMC reads 10–17 % below the wall, so [1.0, 1.2]×; components alone miss the node's static
//! and remainder power (≈ ×2 on a DGX A100), so [1.0, 2.0]×.

use crate::ingest::records::SCOPES;
use ea_record::Scope;

/// One node's record, as stored.
#[derive(Debug, Clone, Default)]
pub struct NodeReading {
    pub node: String,
    pub complete: bool,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub cpus_on_node: Option<u32>,
    pub energy_j: [Option<f64>; SCOPES.len()],
    pub flags: String,
}

fn scope_j(r: &NodeReading, s: Scope) -> Option<f64> {
    SCOPES.iter().position(|x| *x == s).and_then(|i| r.energy_j[i])
}

/// Another job on the same node: its interval and CPUs there.
#[derive(Debug, Clone, Copy)]
pub struct Neighbour {
    pub start: f64,
    pub end: f64,
    pub cpus: f64,
}

/// What a node contributes to the job.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeShare {
    pub energy_j: f64,
    pub min_j: f64,
    pub max_j: f64,
    pub scope: &'static str,
    /// The job's time-weighted share of the node's shared energy (1 when alone).
    pub share: f64,
}

/// Time-weighted `cpus / (cpus + others running)` over `[start, end]`.
pub fn cpu_share(start: f64, end: f64, cpus: f64, others: &[Neighbour]) -> f64 {
    if end <= start || cpus <= 0.0 {
        return 1.0;
    }
    let mut cuts: Vec<f64> = vec![start, end];
    for o in others {
        for t in [o.start, o.end] {
            if t > start && t < end {
                cuts.push(t);
            }
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut weighted = 0.0;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mid = (a + b) / 2.0;
        let busy: f64 = others
            .iter()
            .filter(|o| o.start <= mid && mid < o.end)
            .map(|o| o.cpus)
            .sum();
        weighted += (b - a) * cpus / (cpus + busy);
    }
    weighted / (end - start)
}

/// The job's energy on one node. `wattmeter_j` is an ingested external series integrated over
/// the job's interval on this node, when there is one covering it.
pub fn node_share(r: &NodeReading, wattmeter_j: Option<f64>, share: f64) -> Option<NodeShare> {
    let gpu = scope_j(r, Scope::GpuBoard).unwrap_or(0.0);
    let (whole, scope, lo, hi) = if let Some(w) = wattmeter_j.or(scope_j(r, Scope::NodeWattmeter)) {
        (w, "node-wattmeter", 0.98, 1.02)
    } else if let Some(b) = scope_j(r, Scope::NodeBmc) {
        (b, "node-bmc", 1.0, 1.2)
    } else {
        let cpu = scope_j(r, Scope::CpuPackage).or(scope_j(r, Scope::Platform));
        let dram = if scope_j(r, Scope::CpuPackage).is_some() {
            scope_j(r, Scope::Dram)
        } else {
            None
        };
        let other = scope_j(r, Scope::Other);
        if cpu.is_none() && gpu == 0.0 && other.is_none() {
            return None;
        }
        (
            cpu.unwrap_or(0.0) + dram.unwrap_or(0.0) + other.unwrap_or(0.0) + gpu,
            "components",
            1.0,
            2.0,
        )
    };
    let own_gpu = gpu.min(whole);
    let energy = (whole - own_gpu) * share + own_gpu;
    Some(NodeShare {
        energy_j: energy,
        min_j: energy * lo,
        max_j: energy * hi,
        scope,
        share,
    })
}

/// A measured job's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMeasured {
    pub nodes_recorded: u32,
    pub nodes_expected: Option<u32>,
    pub energy_j: f64,
    pub min_j: f64,
    pub max_j: f64,
    pub split: bool,
    /// Raw sums per scope over the recorded nodes (what the meters read, before any split).
    pub scope_sums: [Option<f64>; SCOPES.len()],
    pub scope: String,
    pub flags: Vec<String>,
}

/// Adds up a job's nodes. When fewer nodes reported than the job had, the missing ones are
/// taken to be like the ones that did (flagged `extrapolated`).
pub fn combine(nodes: &[(NodeReading, NodeShare)], nodes_expected: Option<u32>) -> Option<JobMeasured> {
    if nodes.is_empty() {
        return None;
    }
    let mut scope_sums = [None; SCOPES.len()];
    let (mut e, mut lo, mut hi) = (0.0, 0.0, 0.0);
    let mut scopes: Vec<&str> = Vec::new();
    let mut flags = Vec::new();
    let mut split = false;
    for (r, s) in nodes {
        for (i, v) in r.energy_j.iter().enumerate() {
            if let Some(v) = v {
                scope_sums[i] = Some(scope_sums[i].unwrap_or(0.0) + v);
            }
        }
        e += s.energy_j;
        lo += s.min_j;
        hi += s.max_j;
        if !scopes.contains(&s.scope) {
            scopes.push(s.scope);
        }
        split |= s.share < 0.999_999;
        if !r.flags.is_empty() {
            flags.extend(r.flags.split(',').map(|f| format!("{}:{f}", r.node)));
        }
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

    fn reading(scopes: &[(Scope, f64)]) -> NodeReading {
        let mut r = NodeReading {
            node: "n1".into(),
            complete: true,
            ..Default::default()
        };
        for (s, v) in scopes {
            let i = SCOPES.iter().position(|x| x == s).unwrap();
            r.energy_j[i] = Some(*v);
        }
        r
    }

    #[test]
    fn share_is_time_weighted_over_neighbours() {
        // Alone for the first half, then with a job of 3 CPUs: (0.5·1 + 0.5·1/4).
        let s = cpu_share(
            0.0,
            100.0,
            1.0,
            &[Neighbour {
                start: 50.0,
                end: 200.0,
                cpus: 3.0,
            }],
        );
        assert!((s - 0.625).abs() < 1e-12, "{s}");
        assert_eq!(cpu_share(0.0, 100.0, 4.0, &[]), 1.0);
        assert_eq!(
            cpu_share(
                0.0,
                100.0,
                4.0,
                &[Neighbour {
                    start: 100.0,
                    end: 200.0,
                    cpus: 4.0
                }]
            ),
            1.0
        );
    }

    #[test]
    fn best_scope_wins_and_own_gpus_are_not_split() {
        let r = reading(&[
            (Scope::CpuPackage, 100.0),
            (Scope::Dram, 20.0),
            (Scope::NodeBmc, 500.0),
            (Scope::GpuBoard, 200.0),
        ]);
        let s = node_share(&r, None, 0.5).unwrap();
        assert_eq!(s.scope, "node-bmc");
        assert_eq!(s.energy_j, (500.0 - 200.0) * 0.5 + 200.0);
        assert_eq!(s.max_j, s.energy_j * 1.2);
        let s = node_share(&r, Some(600.0), 1.0).unwrap();
        assert_eq!((s.scope, s.energy_j), ("node-wattmeter", 600.0));
        let c = node_share(&reading(&[(Scope::CpuPackage, 100.0), (Scope::Dram, 20.0)]), None, 1.0).unwrap();
        assert_eq!((c.scope, c.energy_j, c.max_j), ("components", 120.0, 240.0));
        // psys only, package absent: psys stands for the CPU side; DRAM is inside it.
        let p = node_share(&reading(&[(Scope::Platform, 90.0), (Scope::Dram, 20.0)]), None, 1.0).unwrap();
        assert_eq!(p.energy_j, 90.0);
        assert!(node_share(&reading(&[]), None, 1.0).is_none());
    }

    #[test]
    fn missing_nodes_are_extrapolated_and_flagged() {
        let r = reading(&[(Scope::NodeBmc, 100.0)]);
        let s = node_share(&r, None, 1.0).unwrap();
        let m = combine(&[(r, s)], Some(4)).unwrap();
        assert_eq!(m.energy_j, 400.0);
        assert!(m.flags.contains(&"extrapolated:1/4-nodes".to_string()), "{:?}", m.flags);
        assert_eq!(m.scope, "node-bmc");
        assert!(!m.split);
    }
}
