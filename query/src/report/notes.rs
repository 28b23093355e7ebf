//! What a reader of a report must know besides its sums: jobs without impacts and why, jobs
//! that never ran, jobs with impacts for part of their nodes, and node-hours jobs held beyond
//! a node's capacity (oversubscription), which the impact engine scaled down. They are worked
//! out from the engine's own results for each job-node pair, never by allocating again.

use crate::figures::JobFigures;

/// Why a job that ran has no impacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoImpacts {
    /// The site configured no inventory: nothing is known of the nodes.
    NoInventory,
    /// The accounting gave no node list for the job.
    NoNodeList,
    /// The accounting gave no start or end time (or they are the same second).
    NoTimes,
    /// None of the job's nodes is in the inventory.
    NodesNotInInventory,
    /// The store holds no allocation for it: it was ingested without an inventory, or by an
    /// energy-assess that did not allocate at ingest (the next `ingest` allocates it).
    NotAllocated,
}

impl NoImpacts {
    /// Every reason, in the order reports list them.
    pub const ALL: [NoImpacts; 5] = [
        NoImpacts::NoInventory,
        NoImpacts::NoNodeList,
        NoImpacts::NoTimes,
        NoImpacts::NodesNotInInventory,
        NoImpacts::NotAllocated,
    ];

    /// The reason's name in CSV columns and JSON keys.
    pub fn key(self) -> &'static str {
        match self {
            NoImpacts::NoInventory => "no_inventory",
            NoImpacts::NoNodeList => "no_node_list",
            NoImpacts::NoTimes => "no_start_or_end",
            NoImpacts::NodesNotInInventory => "nodes_not_in_inventory",
            NoImpacts::NotAllocated => "not_allocated",
        }
    }

    /// The reason as a reader is told it.
    pub fn describe(self) -> &'static str {
        match self {
            NoImpacts::NoInventory => "no inventory configured ([site] inventory)",
            NoImpacts::NoNodeList => "no node list in the accounting",
            NoImpacts::NoTimes => "no start or end time in the accounting",
            NoImpacts::NodesNotInInventory => "none of their nodes is in the inventory",
            NoImpacts::NotAllocated => {
                "not allocated at ingest (run `energy-assess ingest` with the inventory configured)"
            }
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts of jobs without impacts, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByReason([u64; NoImpacts::ALL.len()]);

impl ByReason {
    /// How many jobs have no impacts for reason `r`.
    pub fn get(&self, r: NoImpacts) -> u64 {
        self.0[r.index()]
    }

    pub(crate) fn count(&mut self, r: NoImpacts) {
        self.0[r.index()] += 1;
    }

    pub(crate) fn absorb(&mut self, o: &ByReason) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }

    /// The reasons with at least one job, in [`NoImpacts::ALL`]'s order.
    pub fn nonzero(&self) -> impl Iterator<Item = (NoImpacts, u64)> + '_ {
        NoImpacts::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Node-hours that jobs held on nodes whose shares summed above 1 while they ran, and what the
/// engine charged them once it scaled the shares down to the node.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Oversubscribed {
    /// Jobs with at least one such node.
    pub jobs: u64,
    /// What those jobs held there: share × hours, summed over the pairs.
    pub held_node_hours: f64,
    /// What they were charged there.
    pub charged_node_hours: f64,
}

impl Oversubscribed {
    /// Node-hours held beyond the nodes' capacity: what the engine did not charge.
    pub fn excess_node_hours(&self) -> f64 {
        self.held_node_hours - self.charged_node_hours
    }

    pub(crate) fn absorb(&mut self, o: &Oversubscribed) {
        self.jobs += o.jobs;
        self.held_node_hours += o.held_node_hours;
        self.charged_node_hours += o.charged_node_hours;
    }
}

/// What the engine said of one job's nodes, summed over its pairs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct NodeNotes {
    /// Pairs on nodes of the inventory, and on nodes outside it.
    pub inside: u32,
    pub outside: u32,
    /// Oversubscribed pairs: held node-hours (share × hours) and charged node-hours.
    pub over: Option<(f64, f64)>,
}

/// How the period's impacts were obtained, for the reason a job has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    NoInventory,
    Allocated,
}

/// What the report must say about one job.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct JobNotes {
    pub no_impacts: Option<NoImpacts>,
    pub never_ran: bool,
    /// Some of its nodes are outside the inventory: impacts of the others only.
    pub partial: bool,
    pub over: Option<(f64, f64)>,
}

/// What the report must say about a job with figures `f`, whose run has times `times` and node
/// list `has_nodes`, given what the engine said of its nodes.
pub(crate) fn job_notes(
    f: &JobFigures,
    times: (Option<i64>, Option<i64>),
    has_nodes: bool,
    engine: Engine,
    nodes: NodeNotes,
) -> JobNotes {
    let never_ran = !f.ran();
    let no_impacts = match (&f.impacts, engine) {
        (Some(_), _) => None,
        (None, Engine::NoInventory) => Some(NoImpacts::NoInventory),
        (None, Engine::Allocated) => Some(if !has_nodes {
            NoImpacts::NoNodeList
        } else if !matches!(times, (Some(s), Some(e)) if e > s) {
            NoImpacts::NoTimes
        } else if nodes.inside + nodes.outside == 0 {
            NoImpacts::NotAllocated
        } else {
            NoImpacts::NodesNotInInventory
        }),
    };
    JobNotes {
        no_impacts,
        never_ran,
        partial: f.impacts.is_some() && nodes.inside > 0 && nodes.outside > 0,
        over: nodes.over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Energy, Source, job_figures_of};
    use ea_impact::{Impacts, Ranged};

    fn figures(elapsed: f64, with_impacts: bool) -> JobFigures {
        let energy = Energy {
            j: 10.0,
            min_j: 8.0,
            max_j: 12.0,
            source: Source::Estimated,
            calibration: None,
        };
        let i = with_impacts.then_some(Ranged::<Impacts>::ZERO);
        job_figures_of(energy, elapsed, Some(1), None, i, i)
    }

    #[test]
    fn each_job_without_impacts_gets_the_first_reason_that_applies() {
        let ran = figures(60.0, false);
        let ok = (Some(0), Some(60));
        let none = NodeNotes::default();
        let outside = NodeNotes {
            inside: 0,
            outside: 2,
            over: None,
        };
        let cases = [
            (Engine::NoInventory, true, ok, none, NoImpacts::NoInventory),
            (Engine::Allocated, true, ok, none, NoImpacts::NotAllocated),
            (Engine::Allocated, false, ok, none, NoImpacts::NoNodeList),
            (
                Engine::Allocated,
                true,
                (Some(5), None),
                none,
                NoImpacts::NoTimes,
            ),
            (
                Engine::Allocated,
                true,
                (Some(5), Some(5)),
                none,
                NoImpacts::NoTimes,
            ),
            (
                Engine::Allocated,
                true,
                ok,
                outside,
                NoImpacts::NodesNotInInventory,
            ),
        ];
        for (engine, has_nodes, times, nodes, want) in cases {
            let n = job_notes(&ran, times, has_nodes, engine, nodes);
            assert_eq!(n.no_impacts, Some(want), "{engine:?} {has_nodes} {times:?}");
        }
        let fine = job_notes(&figures(60.0, true), ok, true, Engine::Allocated, none);
        assert_eq!(fine.no_impacts, None);
        // A job that never ran has (zero) impacts, and says it never ran.
        let never = job_notes(
            &figures(0.0, false),
            (None, None),
            false,
            Engine::Allocated,
            none,
        );
        assert_eq!((never.no_impacts, never.never_ran), (None, true));
    }

    #[test]
    fn a_job_with_nodes_outside_the_inventory_has_partial_impacts() {
        let n = NodeNotes {
            inside: 2,
            outside: 1,
            over: Some((6.0, 4.0)),
        };
        let notes = job_notes(
            &figures(60.0, true),
            (Some(0), Some(60)),
            true,
            Engine::Allocated,
            n,
        );
        assert!(notes.partial);
        let mut o = Oversubscribed::default();
        o.absorb(&Oversubscribed {
            jobs: 1,
            held_node_hours: 6.0,
            charged_node_hours: 4.0,
        });
        assert_eq!(o.excess_node_hours(), 2.0);
    }

    #[test]
    fn reasons_are_counted_and_listed_in_order() {
        let mut a = ByReason::default();
        a.count(NoImpacts::NodesNotInInventory);
        let mut b = ByReason::default();
        b.count(NoImpacts::NoNodeList);
        b.count(NoImpacts::NodesNotInInventory);
        a.absorb(&b);
        let listed: Vec<(NoImpacts, u64)> = a.nonzero().collect();
        assert_eq!(
            listed,
            [
                (NoImpacts::NoNodeList, 1),
                (NoImpacts::NodesNotInInventory, 2)
            ]
        );
        let keys: std::collections::HashSet<&str> =
            NoImpacts::ALL.iter().map(|r| r.key()).collect();
        assert_eq!(keys.len(), NoImpacts::ALL.len(), "keys are distinct");
    }
}
