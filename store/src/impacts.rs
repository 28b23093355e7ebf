//! The bridge to the impact engine (`ea-impact`), for the jobs of a query.
//!
//! - **Embodied** impacts come from the engine's allocation ([`ea_impact::Allocator`]): every
//!   job on every node it held, with what it held there (sacct's CPUs, GPUs and memory divided
//!   over its nodes), so that the inventory's share rule and the engine's time sweep decide
//!   each job's node-hours. The batch is given a shard of whole nodes at a time (a node's
//!   pairs always stay together, as the sweep needs), in bounded memory. A query allocates
//!   the jobs it selected; a report allocates its whole period (see [`crate::report`]).
//! - **Use phase**: the job's energy (measured, as the engine split it at ingest, or
//!   estimated) × the PUE × the electricity factors of its nodes' group, as the engine
//!   computes them ([`Inventory::use_phase`]: yearly, or the hourly series); the energy's range
//!   and the PUE's range give the bounds.

use crate::db::read::JobRecord;
use crate::figures::{Energy, ImpactModel};
use crate::impact_types::{Impacts, Ranged};
use ea_impact::{AllocationOptions, Allocator, Held, Inventory, JobNodeInput};
use ea_record::UnixMicros;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

const J_PER_KWH: f64 = 3.6e6;

/// How many node shards a large batch is allocated in.
const SHARD_PAIRS: usize = 100_000;

/// The engine with the site's inventory.
pub struct Engine {
    pub inventory: Inventory,
}

impl Engine {
    /// Loads the inventory named by the config.
    ///
    /// # Errors
    /// Every problem the engine finds in the file, each with its line and fix.
    pub fn load(path: &Path) -> Result<Self, String> {
        Inventory::load(path)
            .map(|inventory| Self { inventory })
            .map_err(|e| e.to_string())
    }
}

/// A job's nodes, what it held on each, its start and end (epoch seconds).
type JobNodes = (Vec<String>, Held, i64, i64);

/// A job's nodes and what it held on each, from sacct's allocation.
fn pairs_of(job: &JobRecord) -> Option<JobNodes> {
    let (start, end) = (job.start?, job.end?);
    // A job that held its nodes for no time is charged nothing; ea-impact's time sweep also
    // mis-orders an empty interval's end before its start (reported), so none is passed.
    if end <= start {
        return None;
    }
    let nodes = ea_record::hostlist::expand(job.node_list.as_deref()?).ok()?;
    if nodes.is_empty() {
        return None;
    }
    let n = nodes.len() as u32;
    let held = Held {
        cpus: job.ncpus.map(|c| c.div_ceil(n)),
        gpus: job.gpus.map(|g| g.div_ceil(n)),
        memory_mb: job.req_mem_mb.map(|m| (m / f64::from(n)).round() as u64),
        billing: None,
    };
    Some((nodes, held, start, end))
}

/// The use-phase impacts of `energy`, drawn evenly by `n_nodes` nodes during `[start, end]`
/// (epoch seconds), whose groups are given (`None`: a node outside the inventory): on each
/// node, its part of the energy × its group's PUE × the group's factors, as the engine computes
/// them ([`Inventory::use_phase`]: yearly, or the hourly series over the interval). The
/// energy's range and the PUE's range give the bounds. `None` when no node is in the inventory.
pub fn use_phase_over(
    inventory: &Inventory,
    groups: impl Iterator<Item = Option<usize>>,
    n_nodes: usize,
    energy: &Energy,
    start: i64,
    end: i64,
) -> Option<Ranged<Impacts>> {
    let part = 1.0 / n_nodes.max(1) as f64;
    let (kwh, kwh_min, kwh_max) = (
        energy.j * part / J_PER_KWH,
        energy.min_j * part / J_PER_KWH,
        energy.max_j * part / J_PER_KWH,
    );
    let mut total = Ranged::<Impacts>::ZERO;
    let mut known = false;
    for g in groups.flatten() {
        known = true;
        // Per kWh at the wall (the PUE's range in min and max); linear in the energy.
        let (per_kwh, _) = inventory.use_phase(
            g,
            J_PER_KWH,
            UnixMicros::from_secs(start),
            UnixMicros::from_secs(end),
        );
        total += Ranged {
            value: per_kwh.value * kwh,
            min: per_kwh.min * kwh_min,
            max: per_kwh.max * kwh_max,
        };
    }
    known.then_some(total)
}

impl ImpactModel for Engine {
    fn embodied(
        &self,
        jobs: &[&JobRecord],
        period: Option<(i64, i64)>,
    ) -> Vec<Option<Ranged<Impacts>>> {
        // (job index, node number) for every pair, node names numbered once.
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let expanded: Vec<Option<JobNodes>> = jobs.par_iter().map(|j| pairs_of(j)).collect();
        for (i, e) in expanded.iter().enumerate() {
            for n in e.iter().flat_map(|(nodes, ..)| nodes) {
                let id = match ids.get(n) {
                    Some(&id) => id,
                    None => {
                        names.push(n.clone());
                        ids.insert(n.clone(), (names.len() - 1) as u32);
                        (names.len() - 1) as u32
                    }
                };
                pairs.push((i as u32, id));
            }
        }
        let options = AllocationOptions {
            period: period.map(|(a, b)| (UnixMicros::from_secs(a), UnixMicros::from_secs(b))),
            ..Default::default()
        };
        let mut per_job: Vec<Option<Ranged<Impacts>>> = vec![None; jobs.len()];
        // A policy that needs a period (spread) gives no figure outside one.
        let Ok(mut allocator) = Allocator::new(&self.inventory, &options) else {
            return per_job;
        };
        // Shards of whole nodes, so that a large batch is allocated in bounded memory.
        let shards = pairs.len().div_ceil(SHARD_PAIRS).max(1) as u32;
        for shard in 0..shards {
            let inputs: Vec<JobNodeInput> = pairs
                .iter()
                .filter(|(_, node)| node % shards == shard)
                .filter_map(|&(i, node)| {
                    let (_, held, start, end) = expanded[i as usize].as_ref()?;
                    Some(JobNodeInput {
                        job: u64::from(i),
                        node: names[node as usize].clone(),
                        start: UnixMicros::from_secs(*start),
                        end: UnixMicros::from_secs(*end),
                        exclusive: false,
                        held: *held,
                        meters: Vec::new(),
                    })
                })
                .collect();
            if inputs.is_empty() {
                continue;
            }
            let Ok(out) = allocator.allocate_shard(&inputs) else {
                return vec![None; jobs.len()];
            };
            for (input, pair) in inputs.iter().zip(out) {
                if let Some(e) = pair.embodied {
                    let slot = &mut per_job[input.job as usize];
                    *slot = Some(slot.unwrap_or(Ranged::ZERO) + e);
                }
            }
        }
        per_job
    }

    fn use_phase(&self, job: &JobRecord, energy: &Energy) -> Option<Ranged<Impacts>> {
        // A job that never got nodes drew nothing. One of under a second (Start = End, to
        // the second) still drew what its nodes measured: its factors are its second's.
        let (start, end) = (job.start?, job.end?);
        if end < start {
            return None;
        }
        let nodes = ea_record::hostlist::expand(job.node_list.as_deref()?).ok()?;
        let groups = nodes
            .iter()
            .map(|n| self.inventory.group_of(n).map(|(g, _)| g));
        use_phase_over(
            &self.inventory,
            groups,
            nodes.len(),
            energy,
            start,
            end.max(start + 1),
        )
    }

    fn inventory(&self) -> Option<&Inventory> {
        Some(&self.inventory)
    }

    fn provenance(&self) -> String {
        let inv = &self.inventory;
        format!(
            "ea-impact {} with inventory {} (sha256 {}), share rule {}, unallocated node-hours: {}",
            env!("CARGO_PKG_VERSION"),
            inv.path.display(),
            &inv.sha256[..12.min(inv.sha256.len())],
            inv.site.share_rule.as_str(),
            inv.site.unallocated.as_str()
        )
    }
}
