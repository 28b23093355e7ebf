//! A period's impacts from what the ingest stored: each job's embodied part in the period
//! (its month's part, exactly, for a month of the site's zone; pro rata of its time within a
//! month for other periods), its use phase from its energy, and what the period's nodes were
//! not charged: the inventory's nodes over the period less what the jobs were charged there,
//! so that jobs plus unallocated are the nodes' embodied impact, by construction.

use super::notes::{Engine, NodeNotes};
use super::{PeriodJob, RangedImpacts, Unallocated};
use crate::figures::Energy;
use ea_impact::{Flag, Flags, Inventory, UnallocatedPolicy};
use ea_impact::{Impacts, Ranged};
use ea_sacct::fastmap::{FastMap, Interner};
use ea_store::embodied::{MonthPart, StoredEmbodied};
use rayon::prelude::*;

/// What the report keeps of a job's stored allocation.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PeriodAlloc {
    inside: u32,
    outside: u32,
    /// Its inventory group's name, numbered in the report's interner, when it has one.
    group: Option<u32>,
    held_h: f64,
    charged_h: f64,
    embodied: Option<RangedImpacts>,
    flags: Flags,
    /// Its parts per month when it ran in more than one.
    months: Option<Box<[MonthPart]>>,
}

impl PeriodAlloc {
    pub(super) fn of(e: StoredEmbodied, names: &mut Interner) -> Self {
        Self {
            inside: e.inside,
            outside: e.outside,
            group: e.group.as_deref().map(|g| names.id(g)),
            held_h: e.held_h,
            charged_h: e.charged_h,
            embodied: e.embodied,
            flags: e.flags,
            months: (!e.months.is_empty()).then(|| e.months.into_boxed_slice()),
        }
    }

    /// Its inventory group's name, numbered in the report's interner.
    #[cfg(test)]
    pub(super) fn group(&self) -> Option<u32> {
        self.group
    }

    /// Whether its use phase is found from its node list ([`job_impacts`]): a job on nodes of
    /// the inventory but of no one group, or of a group the inventory no longer has.
    pub(super) fn groups_from_nodes(&self, inventory: &Inventory, names: &Interner) -> bool {
        self.inside > 0
            && self
                .group
                .is_none_or(|g| inventory.group_index(names.name(g)).is_none())
    }

    /// Renumbers its group's name from another interner's numbers to this one's (`remap[i]`
    /// is the number of the other's name `i`).
    pub(super) fn renumber_group(&mut self, remap: &[u32]) {
        self.group = self.group.map(|g| remap[g as usize]);
    }

    /// The fraction of each stored part that lies in `[a, b)`, summed: (embodied, charged
    /// node-hours). A part is the job's time within one month; a month of the report's zone
    /// takes its part whole.
    fn in_period(&self, (s, e): (i64, i64), (a, b): (i64, i64)) -> (RangedImpacts, f64) {
        let inside = |from: i64, to: i64| {
            let whole = (to - from).max(0);
            let kept = (to.min(b) - from.max(a)).max(0);
            if whole == 0 {
                0.0
            } else if kept == whole {
                1.0
            } else {
                kept as f64 / whole as f64
            }
        };
        let embodied = self.embodied.unwrap_or(Ranged::ZERO);
        match &self.months {
            None => {
                let k = inside(s, e);
                (scale(embodied, k), self.charged_h * k)
            }
            Some(parts) => {
                let mut sum = (Ranged::ZERO, 0.0);
                for (i, p) in parts.iter().enumerate() {
                    let to = parts.get(i + 1).map_or(e, |n| n.month.min(e));
                    let k = inside(p.month.max(s), to);
                    if k > 0.0 {
                        sum.0 += scale(p.embodied, k);
                        sum.1 += p.charged_h * k;
                    }
                }
                sum
            }
        }
    }
}

fn scale(r: RangedImpacts, k: f64) -> RangedImpacts {
    if k == 1.0 {
        r
    } else {
        Ranged::new(r.value * k, r.min * k, r.max * k)
    }
}

/// The impacts of a piece of the period's jobs, and what the report must say of their nodes.
pub(super) struct Allocated {
    pub embodied: Vec<Option<RangedImpacts>>,
    pub use_phase: Vec<Option<RangedImpacts>>,
    pub nodes: Vec<NodeNotes>,
    pub engine: Engine,
}

impl Allocated {
    /// No impacts for any of `n` jobs, for the reason `engine` says.
    pub(super) fn nothing(n: usize, engine: Engine) -> Self {
        Self {
            embodied: vec![None; n],
            use_phase: vec![None; n],
            nodes: vec![NodeNotes::default(); n],
            engine,
        }
    }
}

/// What every piece of a period's jobs needs for its impacts from the stored allocations: the
/// inventory, the period, and the inventory's index of each group the jobs name. A report
/// takes the impacts a piece of jobs at a time, so that it never holds a month's million at
/// once (about 200 bytes a job).
pub(super) struct PeriodImpacts<'a> {
    inventory: &'a Inventory,
    groups: FastMap<u32, Option<usize>>,
    period: (i64, i64),
}

impl<'a> PeriodImpacts<'a> {
    /// For `jobs`, all the period's, over `period`.
    pub(super) fn new(
        inventory: &'a Inventory,
        names: &Interner,
        jobs: &[&PeriodJob],
        period: (i64, i64),
    ) -> Self {
        let groups = jobs
            .iter()
            .filter_map(|j| j.alloc.as_ref()?.group)
            .collect::<ea_sacct::fastmap::FastSet<u32>>()
            .into_iter()
            .map(|g| (g, inventory.group_index(names.name(g))))
            .collect();
        Self {
            inventory,
            groups,
            period,
        }
    }

    /// Each job's stored embodied part in the period and its use phase, for `chunk` (a piece
    /// of the period's jobs) with their `energies`.
    pub(super) fn of_chunk(&self, chunk: &[&PeriodJob], energies: &[Energy]) -> Allocated {
        let per_job: Vec<(Option<RangedImpacts>, Option<RangedImpacts>, NodeNotes)> = chunk
            .par_iter()
            .zip(energies.par_iter())
            .map(|(j, energy)| job_impacts(self.inventory, &self.groups, j, energy, self.period))
            .collect();
        let mut out = Allocated::nothing(chunk.len(), Engine::Allocated);
        for (i, (emb, usep, notes)) in per_job.into_iter().enumerate() {
            (out.embodied[i], out.use_phase[i], out.nodes[i]) = (emb, usep, notes);
        }
        out
    }

    /// The period's unallocated remainder: the inventory's nodes over the period less what
    /// `jobs` (all the period's) were charged in it, summed in their order.
    pub(super) fn unallocated(&self, jobs: &[&PeriodJob]) -> Unallocated {
        let _p = ea_store::profile::Phase::start("report: unallocated");
        let mut charged = (Ranged::<Impacts>::ZERO, 0.0);
        for j in jobs {
            if let Some((e, charged_h)) = charged_in(j, self.period) {
                charged.0 += e;
                charged.1 += charged_h;
            }
        }
        unallocated(self.inventory, self.period, charged)
    }
}

/// A job's embodied part in `period` and the node-hours charged for it there, when it has a
/// stored embodied figure.
fn charged_in(j: &PeriodJob, period: (i64, i64)) -> Option<(RangedImpacts, f64)> {
    let (Some(a), Some(s), Some(e)) = (j.alloc.as_ref(), j.start, j.end) else {
        return None;
    };
    a.embodied?;
    Some(a.in_period((s, e), period))
}

/// One job's (embodied part, use phase, node notes) in the period.
fn job_impacts(
    inventory: &Inventory,
    groups: &FastMap<u32, Option<usize>>,
    j: &PeriodJob,
    energy: &Energy,
    period: (i64, i64),
) -> (Option<RangedImpacts>, Option<RangedImpacts>, NodeNotes) {
    let (Some(a), Some(s), Some(e)) = (j.alloc.as_ref(), j.start, j.end) else {
        return (None, None, NodeNotes::default());
    };
    let (embodied, charged_h) = a.in_period((s, e), period);
    let mut notes = NodeNotes {
        inside: a.inside,
        outside: a.outside,
        over: None,
    };
    if a.flags.contains(Flag::Oversubscribed) {
        let k = if a.charged_h > 0.0 {
            charged_h / a.charged_h
        } else {
            0.0
        };
        notes.over = Some((a.held_h * k, charged_h));
    }
    let node_groups = match a.group.and_then(|g| groups.get(&g).copied().flatten()) {
        Some(g) => Some((vec![(g, a.inside)], (a.inside + a.outside) as usize)),
        None if a.inside == 0 => Some((Vec::new(), a.outside as usize)),
        None => crate::impacts::node_groups(inventory, None, j.node_list.as_deref()),
    };
    let use_phase = node_groups.and_then(|(g, n)| {
        crate::impacts::use_phase_over(inventory, &g, n, energy, s, e.max(s + 1))
    });
    let embodied = a.embodied.map(|_| embodied);
    (embodied, use_phase, notes)
}

/// The inventory's nodes over the period, less what the period's jobs were charged.
fn unallocated(
    inventory: &Inventory,
    (a, b): (i64, i64),
    (charged, charged_h): (RangedImpacts, f64),
) -> Unallocated {
    let hours = (b - a) as f64 / 3600.0;
    let mut node_hours = 0.0;
    let mut cost = Ranged::<Impacts>::ZERO;
    for g in &inventory.groups {
        let n = g.nodes.len() as f64;
        node_hours += n * hours;
        cost += g.embodied.per_node_life_hour.scale(n * hours);
    }
    let spread = inventory.site.unallocated == UnallocatedPolicy::Spread;
    Unallocated {
        node_hours: node_hours - charged_h,
        embodied: Ranged {
            value: cost.value - charged.value,
            min: cost.min - charged.min,
            max: cost.max - charged.max,
        },
        note: format!(
            "{} nodes of the inventory over the period, less the node-hours jobs were charged{}",
            inventory.node_count(),
            if spread {
                " (spread: idle nodes only)"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NodeLists;

    fn alloc(names: &mut Interner, inside: u32, group: Option<&str>) -> PeriodAlloc {
        let e = StoredEmbodied {
            start: 0,
            end: 3600,
            inside,
            outside: 0,
            group: group.map(str::to_string),
            held_h: 1.0,
            charged_h: 1.0,
            embodied: None,
            flags: Flags::default(),
            months: Vec::new(),
        };
        PeriodAlloc::of(e, names)
    }

    #[test]
    fn a_report_keeps_the_node_lists_it_reads_and_no_others() {
        let text = "[site]\nlocation = \"FRA\"\npue = 1.0\nlifetime_years = 4\n\n[[group]]\n\
            name = \"cpu\"\nnodes = \"c[1-2]\"\nslurm_cpus = 64\n[group.footprint]\n\
            gwp_kgco2eq = 876\nadpe_kgsbeq = 0.0876\npe_mj = 8760\n";
        let inv = Inventory::parse(text, std::path::Path::new("t.toml")).unwrap();
        let mut names = Interner::default();
        let one_group = alloc(&mut names, 2, Some("cpu"));
        let mixed = alloc(&mut names, 2, None);
        let gone = alloc(&mut names, 2, Some("a group since renamed"));
        let outside = alloc(&mut names, 0, None);
        let lists = |all, inventory| NodeLists { all, inventory };
        // Meter series in the store: the reconciliation reads every job's nodes.
        for a in [&one_group, &mixed, &gone, &outside] {
            assert!(lists(true, Some(&inv)).keep(Some(a), &names));
        }
        assert!(lists(true, None).keep(None, &names));
        // Else only the jobs whose use phase comes from their nodes.
        let keep = |a: &PeriodAlloc| lists(false, Some(&inv)).keep(Some(a), &names);
        assert!(!keep(&one_group), "its group gives its use phase");
        assert!(keep(&mixed), "nodes of several groups");
        assert!(keep(&gone), "a group the inventory no longer has");
        assert!(!keep(&outside), "no node of the inventory: no use phase");
        assert!(
            !lists(false, Some(&inv)).keep(None, &names),
            "not allocated"
        );
        assert!(
            !lists(false, None).keep(Some(&mixed), &names),
            "no inventory"
        );
    }
}
