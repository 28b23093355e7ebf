//! The bridge to the impact engine (`ea-impact`), for the jobs of a query.
//!
//! - **Embodied** impacts are not computed here: the ingest allocated every job over all the
//!   jobs that shared its nodes and stored the figure (`ea_ingest::allocate`), which
//!   every query reads ([`ea_store::read::JobRecord::embodied`]).
//! - **Use phase**: the job's energy (measured, as the engine split it at ingest, or
//!   estimated) × the PUE × the electricity factors of its nodes' group, as the engine
//!   computes them ([`Inventory::use_phase`]: yearly, or the hourly series); the energy's range
//!   and the PUE's range give the bounds.

use crate::figures::{Energy, ImpactModel};
use ea_impact::Inventory;
use ea_impact::InventoryErrors;
use ea_impact::{Impacts, Ranged};
use ea_record::UnixMicros;
use ea_store::embodied::StoredEmbodied;
use ea_store::read::JobRecord;
use std::path::Path;

const J_PER_KWH: f64 = 3.6e6;

/// The engine with the site's inventory.
pub struct Engine {
    /// The site's inventory, checked.
    pub inventory: Inventory,
}

impl Engine {
    /// Loads the inventory named by the config.
    ///
    /// # Errors
    /// Every problem the engine finds in the file, each with its line and fix.
    pub fn load(path: &Path) -> Result<Self, InventoryErrors> {
        Inventory::load(path).map(|inventory| Self { inventory })
    }
}

/// A job's nodes of the inventory by group: (group index, how many), and how many nodes it
/// had in all. From the stored allocation when all its inventory nodes are in one group, else
/// from its node list. `None` when its node list does not expand.
pub fn node_groups(
    inventory: &Inventory,
    stored: Option<&StoredEmbodied>,
    node_list: Option<&str>,
) -> Option<(Vec<(usize, u32)>, usize)> {
    if let Some(e) = stored {
        let all = (e.inside + e.outside) as usize;
        if e.inside == 0 {
            return Some((Vec::new(), all));
        }
        if let Some(g) = e.group.as_deref().and_then(|g| inventory.group_index(g)) {
            return Some((vec![(g, e.inside)], all));
        }
    }
    // A list that does not expand was not allocated at ingest either (`ea_ingest::allocate`
    // expands it the same way): the job has no stored embodied figure, so it has no impacts
    // whatever this gives, and reports say why (`NoImpacts::NotAllocated`).
    let nodes = ea_record::hostlist::expand(node_list?).ok()?;
    let mut groups: Vec<(usize, u32)> = Vec::new();
    for g in nodes
        .iter()
        .filter_map(|n| inventory.group_of(n).map(|(g, _)| g))
    {
        match groups.iter_mut().find(|(h, _)| *h == g) {
            Some((_, n)) => *n += 1,
            None => groups.push((g, 1)),
        }
    }
    Some((groups, nodes.len()))
}

/// The use-phase impacts of `energy`, drawn evenly by `n_nodes` nodes during `[start, end]`
/// (epoch seconds), of which `groups` are in the inventory (group index, count): on each such
/// node its part of the energy × its group's PUE × the group's factors, as the engine computes
/// them ([`Inventory::use_phase`]: yearly, or the hourly series over the interval). The energy's
/// range and the PUE's range give the bounds. `None` when no node is in the inventory.
pub fn use_phase_over(
    inventory: &Inventory,
    groups: &[(usize, u32)],
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
    for &(g, count) in groups {
        // Per kWh at the wall (the PUE's range in min and max); linear in the energy.
        let (per_kwh, _) = inventory.use_phase(
            g,
            J_PER_KWH,
            UnixMicros::from_secs(start),
            UnixMicros::from_secs(end),
        );
        let k = f64::from(count);
        total += Ranged {
            value: per_kwh.value * (kwh * k),
            min: per_kwh.min * (kwh_min * k),
            max: per_kwh.max * (kwh_max * k),
        };
    }
    (!groups.is_empty()).then_some(total)
}

impl ImpactModel for Engine {
    fn use_phase(&self, job: &JobRecord, energy: &Energy) -> Option<Ranged<Impacts>> {
        // A job that never got nodes drew nothing. One of under a second (Start = End, to
        // the second) still drew what its nodes measured: its factors are its second's.
        let (start, end) = (job.row.start?, job.row.end?);
        if end < start {
            return None;
        }
        let (groups, n) = node_groups(
            &self.inventory,
            job.embodied.as_ref(),
            job.row.node_list.as_deref(),
        )?;
        use_phase_over(
            &self.inventory,
            &groups,
            n,
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
