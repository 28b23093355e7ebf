//! The bridge to the impact engine (`ea-impact`).
//!
//! - **Embodied** impacts come from [`ea_impact::allocate`]: every job on every node it held,
//!   with what it held there (sacct's CPUs, GPUs and memory divided over its nodes), so the
//!   engine's share rule and time sweep decide each job's node-hours. A report's period also
//!   gives, per node group, the node-hours no job held. Batches are split by node (a node's
//!   pairs always stay together, as the sweep needs), so that a month of a large centre is
//!   allocated in bounded memory.
//! - **Use phase**: the job's energy (measured, split or estimated, from this crate) × the PUE
//!   × the yearly (or hourly) electricity factors of its nodes' group, as the engine's
//!   `finish` computes it for the energies it attributes; the energy's range and the PUE's
//!   range give the bounds.

use crate::db::read::JobRecord;
use crate::figures::{Charged, Energy, ImpactModel};
use crate::impact_types::{Impacts, Ranged};
use crate::report::Unallocated;
use ea_impact::{AllocationOptions, Held, Inventory, JobNodeInput, allocate};
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

impl ImpactModel for Engine {
    fn embodied(&self, jobs: &[&JobRecord], period: Option<(i64, i64)>) -> (Vec<Option<Ranged<Impacts>>>, Charged) {
        // (job index, node id) for every pair, with node names interned once; the expansion is
        // done in chunks so that a month's node names are never all held twice.
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut expanded: Vec<Option<(Held, i64, i64)>> = Vec::with_capacity(jobs.len());
        for (c, chunk) in jobs.chunks(50_000).enumerate() {
            let part: Vec<Option<JobNodes>> = chunk.par_iter().map(|j| pairs_of(j)).collect();
            for (k, e) in part.into_iter().enumerate() {
                let i = c * 50_000 + k;
                match e {
                    Some((nodes, held, start, end)) => {
                        for n in nodes {
                            let id = match ids.get(&n) {
                                Some(&id) => id,
                                None => {
                                    names.push(n.clone());
                                    ids.insert(n, (names.len() - 1) as u32);
                                    (names.len() - 1) as u32
                                }
                            };
                            pairs.push((i as u32, id));
                        }
                        expanded.push(Some((held, start, end)));
                    }
                    None => expanded.push(None),
                }
            }
        }
        let shards = pairs.len().div_ceil(SHARD_PAIRS).max(1) as u32;
        let options = AllocationOptions {
            period: period.map(|(a, b)| (UnixMicros::from_secs(a), UnixMicros::from_secs(b))),
            ..Default::default()
        };
        let mut per_job: Vec<Option<Ranged<Impacts>>> = vec![None; jobs.len()];
        let groups = self.inventory.groups.len();
        let mut charged_h = vec![0.0; groups];
        let mut charged = vec![Ranged::<Impacts>::ZERO; groups];
        for shard in 0..shards {
            let inputs: Vec<JobNodeInput> = pairs
                .iter()
                .filter(|(_, node)| node % shards == shard)
                .map(|&(i, node)| {
                    let (held, start, end) = expanded[i as usize].as_ref().expect("pairs come from expanded jobs");
                    JobNodeInput {
                        job: u64::from(i),
                        node: names[node as usize].clone(),
                        start: UnixMicros::from_secs(*start),
                        end: UnixMicros::from_secs(*end),
                        exclusive: false,
                        held: *held,
                        meters: Vec::new(),
                    }
                })
                .collect();
            if inputs.is_empty() {
                continue;
            }
            let Ok(alloc) = allocate(&self.inventory, &inputs, &options) else {
                continue;
            };
            for (input, pair) in inputs.iter().zip(&alloc.pairs) {
                if let Some(e) = pair.embodied {
                    let slot = &mut per_job[input.job as usize];
                    *slot = Some(slot.unwrap_or(Ranged::ZERO) + e);
                    if let Some(g) = pair.group {
                        charged_h[g as usize] += pair.charged_node_hours;
                        charged[g as usize] += e;
                    }
                }
            }
        }
        (
            per_job,
            Charged {
                node_hours: charged_h,
                embodied: charged,
            },
        )
    }

    /// The engine's Report policy over the period: the period's cost of every group's nodes
    /// (per node-hour of life) minus what jobs were charged, summed over groups.
    fn unallocated(&self, (a, b): (i64, i64), charged: &Charged) -> Option<Unallocated> {
        let hours = (b - a) as f64 / 3600.0;
        let mut node_hours = 0.0;
        let mut embodied = Ranged::<Impacts>::ZERO;
        for (g, group) in self.inventory.groups.iter().enumerate() {
            let nodes = group.nodes.len() as f64;
            let cost = group.embodied.per_node_life_hour.scale(nodes * hours);
            let (h, e) = (
                charged.node_hours.get(g).copied().unwrap_or(0.0),
                charged.embodied.get(g).copied().unwrap_or(Ranged::ZERO),
            );
            node_hours += nodes * hours - h;
            embodied += Ranged {
                value: cost.value - e.value,
                min: cost.min - e.min,
                max: cost.max - e.max,
            };
        }
        Some(Unallocated {
            node_hours,
            embodied,
            note: format!(
                "{} nodes of the inventory over the period, less the node-hours jobs were charged",
                self.inventory.node_count()
            ),
        })
    }

    fn use_phase(&self, job: &JobRecord, energy: &Energy) -> Option<Ranged<Impacts>> {
        // A job that never got nodes drew nothing.
        let (nodes, _, start, end) = pairs_of(job)?;
        let n = nodes.len() as f64;
        let mut total = Ranged::<Impacts>::ZERO;
        let mut known = 0;
        for node in &nodes {
            let Some((_, g)) = self.inventory.group_of(node) else {
                continue;
            };
            known += 1;
            let per_kwh = match (&g.grid_zone, &self.inventory.series) {
                (Some(zone), Some(series)) => {
                    series
                        .mean_over(
                            zone,
                            UnixMicros::from_secs(start),
                            UnixMicros::from_secs(end),
                            g.electricity.per_kwh,
                        )
                        .0
                }
                _ => g.electricity.per_kwh,
            };
            let share = 1.0 / n;
            total += Ranged {
                value: per_kwh * (energy.j * share / J_PER_KWH * g.pue.value),
                min: per_kwh * (energy.min_j * share / J_PER_KWH * g.pue.min),
                max: per_kwh * (energy.max_j * share / J_PER_KWH * g.pue.max),
            };
        }
        (known > 0).then_some(total)
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
