//! The one driver that charges a batch of jobs their embodied impacts: every job on every
//! node it held, each node's jobs swept together per accounting period, summed per job.
//!
//! It is what the store runs at ingest over every job that touched the nodes it recomputes,
//! so that a job's figure is a property of the job, never of the query that shows it. It
//! differs from [`super::Allocator`] in what it is for: no energies or use phase (those come
//! from the records, the split at ingest and the factors), integer node ids instead of names,
//! jobs given once with their node ids rather than once per node, and sums per job and period
//! built without a per-pair result. That keeps a month of 25 million job-node pairs within a
//! few hundred megabytes: per pair it holds one `u32` (the job) in the node-ordered index.
//!
//! A job's charge on a node in a period is the node's timeline over that period ([`timeline`])
//! with the job's share by the inventory's rule; when the shares present sum above 1 (memory
//! not tracked as consumable, OverSubscribe, sacct's rounding) each is scaled by 1 / Σ, and the
//! job is flagged [`Flag::Oversubscribed`]: its held node-hours (share × hours) exceed what it
//! was charged, and `charged / held` is its scale factor.
//!
//! [`timeline`]: super::timeline

use super::share::share;
use super::timeline::{Charge, Occupant, Scratch, sweep_into};
use super::{AllocationError, Flag, Flags, Held, UnallocatedPolicy};
use crate::impacts::{Impacts, Ranged};
use crate::inventory::Inventory;
use rayon::prelude::*;
use rustc_hash::FxHashMap as FastMap;

/// A node id in a [`Batch`]: the inventory's index of the node, or [`OUTSIDE`].
pub type NodeId = u32;

/// A node the inventory does not describe: no share, no embodied impact.
pub const OUTSIDE: NodeId = u32::MAX;

/// One job of a batch: when it held its nodes and what it held on each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchJob {
    /// Epoch seconds; a job with `end <= start` is charged nothing.
    pub start: i64,
    /// Epoch seconds.
    pub end: i64,
    /// What it held on each of its nodes (sacct's totals divided over them).
    pub held: Held,
}

/// Jobs and the ids of their nodes, in compressed rows (the nodes of job `i` are
/// `nodes[offsets[i]..offsets[i + 1]]`).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    jobs: Vec<BatchJob>,
    offsets: Vec<u32>,
    nodes: Vec<NodeId>,
}

impl Batch {
    /// An empty batch with room for `jobs` jobs and `pairs` job-node pairs.
    pub fn with_capacity(jobs: usize, pairs: usize) -> Self {
        let mut offsets = Vec::with_capacity(jobs + 1);
        offsets.push(0);
        Self {
            jobs: Vec::with_capacity(jobs),
            offsets,
            nodes: Vec::with_capacity(pairs),
        }
    }

    /// A batch from its compressed rows: the nodes of `jobs[i]` are
    /// `nodes[offsets[i]..offsets[i + 1]]`.
    ///
    /// # Panics
    /// When `offsets` are not `jobs.len() + 1` ascending bounds of `nodes` from 0.
    pub fn from_rows(jobs: Vec<BatchJob>, offsets: Vec<u32>, nodes: Vec<NodeId>) -> Self {
        assert!(
            offsets.len() == jobs.len() + 1
                && offsets[0] == 0
                && offsets.is_sorted()
                && offsets[jobs.len()] as usize == nodes.len(),
            "the offsets of a batch's rows bound its nodes"
        );
        Self {
            jobs,
            offsets,
            nodes,
        }
    }

    /// Adds a job with its nodes; returns its index in the batch.
    ///
    /// # Panics
    /// Past `u32::MAX` pairs.
    pub fn push(&mut self, job: BatchJob, nodes: impl IntoIterator<Item = NodeId>) -> usize {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.nodes.extend(nodes);
        self.offsets
            .push(u32::try_from(self.nodes.len()).expect("fewer than 4 billion job-node pairs"));
        self.jobs.push(job);
        self.jobs.len() - 1
    }

    /// Jobs in the batch.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// No job.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    fn nodes_of(&self, job: usize) -> &[NodeId] {
        let (a, b) = (self.offsets[job], self.offsets[job + 1]);
        &self.nodes[a as usize..b as usize]
    }
}

/// What one job was charged in one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodCharge {
    /// Index into the periods given to [`charge_embodied`].
    pub period: u32,
    /// Node-hours charged (share-hours after scaling; under `spread`, its part of the node's
    /// whole period).
    pub charged_node_hours: f64,
    /// The embodied impact of those node-hours.
    pub embodied: Ranged<Impacts>,
}

/// One job's embodied charge, over all its nodes and periods.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEmbodied {
    /// Its nodes in the inventory, and outside it.
    pub inside: u32,
    /// See `inside`.
    pub outside: u32,
    /// The group of all its nodes of the inventory, when they are in one (the use phase then
    /// needs no node list); `None` when mixed or none.
    pub group: Option<u32>,
    /// Share × hours over its nodes of the inventory, before any scaling.
    pub held_node_hours: f64,
    /// What it was charged, after scaling.
    pub charged_node_hours: f64,
    /// `None` when none of its nodes is in the inventory.
    pub embodied: Option<Ranged<Impacts>>,
    /// What is worth knowing when reading these figures.
    pub flags: Flags,
    /// Its charge per period, in period order (one for a job inside one period).
    pub periods: Vec<PeriodCharge>,
}

impl JobEmbodied {
    /// What it was charged over what it held: below 1 when its nodes were oversubscribed.
    pub fn scale(&self) -> Option<f64> {
        (self.held_node_hours > 0.0).then(|| self.charged_node_hours / self.held_node_hours)
    }
}

/// One job's sums in a [`Dense`]: together, so that adding a pair touches one cache line.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    held_s: f64,
    charged_s: f64,
    /// `period * groups + group + 1`; 0: nothing charged yet.
    key: u32,
    flags: Flags,
}

/// What the sweeps of a range of nodes added up to, per job of the batch: a dense array, so
/// that a month's 25 million pairs are added without a hash lookup each. A job's charge goes
/// under one (period, group) key, the first it met; any other key of the same job (a job across
/// a month's end, or on nodes of two groups: few) goes to `extra`.
#[derive(Debug, Clone)]
struct Dense {
    jobs: Vec<Acc>,
    /// (job, key, charged seconds) of a job's other keys.
    extra: Vec<(u32, u32, f64)>,
}

impl Dense {
    fn new(jobs: usize) -> Self {
        Self {
            jobs: vec![Acc::default(); jobs],
            extra: Vec::new(),
        }
    }

    #[inline]
    fn add(&mut self, job: u32, key: u32, seconds: f64) {
        let a = &mut self.jobs[job as usize];
        if a.key == 0 || a.key == key {
            a.key = key;
            a.charged_s += seconds;
        } else {
            self.extra.push((job, key, seconds));
        }
    }

    /// Adds another range's sums to these.
    fn absorb(mut self, mut o: Dense) -> Dense {
        for j in 0..self.jobs.len() {
            let b = o.jobs[j];
            let a = &mut self.jobs[j];
            a.held_s += b.held_s;
            a.flags = a.flags.union(b.flags);
            if b.key != 0 {
                self.add(j as u32, b.key, b.charged_s);
            }
        }
        self.extra.append(&mut o.extra);
        self
    }
}

/// How many node ranges the sweep is cut into (see [`sweep`]): a constant, so that the order
/// in which a job's sums over its nodes are added does not depend on the number of cores.
/// Eight keep every core of a small admin host busy, for eight dense sums (24 MB each for a
/// million jobs) and their additions where one per thread was made before.
const SWEEP_RANGES: usize = 8;

/// The site's choices that decide a charge.
#[derive(Debug, Clone, Copy)]
struct Rules {
    rule: super::ShareRule,
    policy: UnallocatedPolicy,
}

/// Charges every job of `batch` its embodied impacts over `periods` (contiguous, ascending
/// `[start, end)` epoch seconds, covering the jobs; a part of a job outside every period is
/// not charged). The inventory's `[site]` share rule and unallocated policy apply.
///
/// A job's figures depend only on the jobs that shared a node with it in a period: a batch
/// must hold all of those for the figures of its jobs to be exact.
///
/// # Errors
/// [`AllocationError::EmptyPeriod`] for a period that ends before it starts.
pub fn charge_embodied(
    inventory: &Inventory,
    batch: &Batch,
    periods: &[(i64, i64)],
) -> Result<Vec<JobEmbodied>, AllocationError> {
    let swept = sweep(inventory, batch, periods)?;
    Ok((0..batch.len())
        .into_par_iter()
        .map(|i| swept.job(i))
        .collect())
}

/// The sweeps of a batch's nodes, added up per job: [`Swept::job`] turns one job's sums into
/// its figures, the same as [`charge_embodied`] gives, so that a caller can take a million
/// jobs' figures a slice at a time (and store each slice) instead of holding them all.
pub struct Swept<'a> {
    inventory: &'a Inventory,
    rules: Rules,
    batch: &'a Batch,
    periods: &'a [(i64, i64)],
    groups: Vec<u32>,
    keys: Keys,
    sums: Vec<Acc>,
    extra: FastMap<u32, Vec<(u32, f64)>>,
}

impl std::fmt::Debug for Swept<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swept")
            .field("jobs", &self.sums.len())
            .field("periods", &self.periods.len())
            .finish_non_exhaustive()
    }
}

/// Sweeps every node of `batch` over `periods` (see [`charge_embodied`]) and adds the charges
/// up per job.
///
/// # Errors
/// [`AllocationError::EmptyPeriod`] for a period that ends before it starts.
pub fn sweep<'a>(
    inventory: &'a Inventory,
    batch: &'a Batch,
    periods: &'a [(i64, i64)],
) -> Result<Swept<'a>, AllocationError> {
    if periods.iter().any(|(a, b)| b <= a) {
        return Err(AllocationError::EmptyPeriod);
    }
    let rules = Rules {
        rule: inventory.site.share_rule,
        policy: inventory.site.unallocated,
    };
    let by_node = NodeIndex::build(batch, inventory.node_count());
    let groups = inventory.group_by_node_index();
    let n_groups = inventory.groups.len().max(1) as u32;
    let keys = Keys { groups: n_groups };
    // Contiguous ranges of nodes, a fixed number of them (not one per thread): each adds into
    // its own dense sums (24 bytes a job), and the ranges' sums are added left to right, so a
    // job on nodes of several ranges gets the same figure, to the last bit, whatever the
    // machine's number of cores. `threads` ranges are swept at a time, so that no more than
    // that many dense sums live at once.
    let ranges = SWEEP_RANGES.clamp(1, by_node.nodes().max(1));
    let per_range = by_node.nodes().div_ceil(ranges).max(1);
    let threads = rayon::current_num_threads().max(1);
    let range_ids: Vec<usize> = (0..ranges).collect();
    let mut sums = Dense::new(batch.len());
    for wave in range_ids.chunks(threads) {
        let parts: Vec<Dense> = wave
            .par_iter()
            .map(|&r| {
                let mut dense = Dense::new(batch.len());
                let mut scratch = NodeScratch::default();
                let nodes = r * per_range..((r + 1) * per_range).min(by_node.nodes());
                for node in nodes {
                    let at = Node {
                        index: node,
                        group: groups[node],
                    };
                    sweep_node(
                        inventory,
                        rules,
                        batch,
                        &by_node,
                        at,
                        periods,
                        keys,
                        &mut scratch,
                        &mut dense,
                    );
                }
                dense
            })
            .collect();
        for part in parts {
            sums = sums.absorb(part);
        }
    }
    drop(by_node);
    let mut extra: FastMap<u32, Vec<(u32, f64)>> = FastMap::default();
    for &(j, key, seconds) in &sums.extra {
        extra.entry(j).or_default().push((key, seconds));
    }
    Ok(Swept {
        inventory,
        rules,
        batch,
        periods,
        groups,
        keys,
        sums: sums.jobs,
        extra,
    })
}

impl Swept<'_> {
    /// Jobs in the batch.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// No job.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// The figures of job `i` of the batch.
    ///
    /// # Panics
    /// When `i` is not a job of the batch.
    pub fn job(&self, i: usize) -> JobEmbodied {
        let a = self.sums[i];
        let mut charged: Vec<(u32, f64)> = Vec::with_capacity(1);
        if a.key != 0 {
            charged.push((a.key, a.charged_s));
        }
        if let Some(more) = self.extra.get(&(i as u32)) {
            charged.extend_from_slice(more);
        }
        let sum = JobSums {
            held_s: a.held_s,
            flags: a.flags,
            charged,
        };
        job_result(
            self.inventory,
            self.rules,
            (self.batch.nodes_of(i), &self.groups),
            sum,
            self.keys,
            self.periods,
        )
    }
}

/// One job's sums, gathered from the dense arrays.
struct JobSums {
    held_s: f64,
    flags: Flags,
    /// (key, charged seconds), keys as [`Keys`] makes them.
    charged: Vec<(u32, f64)>,
}

/// (period, group) packed into one `u32` key, 0 meaning none.
#[derive(Debug, Clone, Copy)]
struct Keys {
    groups: u32,
}

impl Keys {
    fn of(self, period: u32, group: u32) -> u32 {
        period * self.groups + group + 1
    }

    fn split(self, key: u32) -> (u32, u32) {
        ((key - 1) / self.groups, (key - 1) % self.groups)
    }
}

/// Buffers one range's sweeps reuse from node to node.
#[derive(Debug, Default)]
struct NodeScratch {
    sweep: Scratch,
    /// The node's jobs as the batch has them, copied in a loop of their own: the copies are
    /// scattered reads of the batch, and a loop that does nothing else keeps many in flight.
    copied: Vec<BatchJob>,
    /// The node's jobs, in the index's order, with their share of it.
    on_node: Vec<OnNode>,
    present: Vec<(u32, f64, Flags)>,
    charges: Vec<Charge>,
}

/// A job on the node being swept: its interval and its share (the same in every period).
#[derive(Debug, Clone, Copy)]
struct OnNode {
    job: u32,
    start: i64,
    end: i64,
    share: f64,
    flags: Flags,
}

/// A node of the inventory and its group.
#[derive(Debug, Clone, Copy)]
struct Node {
    index: usize,
    group: u32,
}

/// The batch's pairs on inventory nodes, ordered by node: the jobs of node `n` are
/// `jobs[offsets[n]..offsets[n + 1]]` (a counting sort: one `u32` per pair).
struct NodeIndex {
    offsets: Vec<u32>,
    jobs: Vec<u32>,
}

impl NodeIndex {
    fn build(batch: &Batch, nodes: usize) -> Self {
        let mut offsets = vec![0u32; nodes + 1];
        for &n in &batch.nodes {
            if n != OUTSIDE && (n as usize) < nodes {
                offsets[n as usize + 1] += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut jobs = vec![0u32; offsets[nodes] as usize];
        for j in 0..batch.len() {
            for &n in batch.nodes_of(j) {
                if n != OUTSIDE && (n as usize) < nodes {
                    jobs[next[n as usize] as usize] = j as u32;
                    next[n as usize] += 1;
                }
            }
        }
        Self { offsets, jobs }
    }

    fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    fn jobs_of(&self, node: usize) -> &[u32] {
        &self.jobs[self.offsets[node] as usize..self.offsets[node + 1] as usize]
    }
}

/// Sweeps one node's jobs, period by period, into the jobs' sums. The jobs' shares are
/// computed once for the node, and periods that none of its jobs touch are skipped: what each
/// period sweeps, and the order in which its charges are added, are those of a sweep that
/// looked at every job in every period.
#[allow(clippy::too_many_arguments)]
fn sweep_node(
    inventory: &Inventory,
    rules: Rules,
    batch: &Batch,
    index: &NodeIndex,
    node: Node,
    periods: &[(i64, i64)],
    keys: Keys,
    scratch: &mut NodeScratch,
    acc: &mut Dense,
) {
    let jobs = index.jobs_of(node.index);
    if jobs.is_empty() {
        return;
    }
    let group = node.group;
    let capacity = &inventory.groups[group as usize].capacity;
    let NodeScratch {
        sweep: scratch,
        copied,
        on_node,
        present,
        charges,
    } = scratch;
    copied.clear();
    copied.extend(jobs.iter().map(|&j| batch.jobs[j as usize]));
    on_node.clear();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (&j, job) in jobs.iter().zip(copied.iter()) {
        if job.end <= job.start {
            // Clipped to any period, still empty: never present.
            continue;
        }
        let (share, _, flags) = share(rules.rule, false, &job.held, capacity);
        on_node.push(OnNode {
            job: j,
            start: job.start,
            end: job.end,
            share,
            flags,
        });
        (lo, hi) = (lo.min(job.start), hi.max(job.end));
    }
    if on_node.is_empty() {
        return;
    }
    for (p, &(a, b)) in periods.iter().enumerate() {
        if b <= lo || hi <= a {
            // No job of the node in the period.
            continue;
        }
        present.clear();
        scratch.occupants.clear();
        for o in on_node.iter() {
            let (s, e) = (o.start.max(a), o.end.min(b));
            if e <= s {
                continue;
            }
            present.push((o.job, o.share, o.flags));
            scratch.occupants.push(Occupant {
                start_us: s * 1_000_000,
                end_us: e * 1_000_000,
                share: o.share,
                node_power_w: None,
            });
        }
        if present.is_empty() {
            continue;
        }
        charges.clear();
        charges.resize(present.len(), Charge::default());
        sweep_into(rules.policy, scratch, charges);
        let node_total: f64 = charges.iter().map(|c| c.share_seconds).sum();
        let period_s = (b - a) as f64;
        for (k, &(j, share, flags)) in present.iter().enumerate() {
            let o = scratch.occupants[k];
            let c = charges[k];
            let charged_s = match rules.policy {
                UnallocatedPolicy::Report => c.share_seconds,
                // The node's whole period, pro rata of the share-seconds used.
                UnallocatedPolicy::Spread if node_total > 0.0 => {
                    period_s * c.share_seconds / node_total
                }
                UnallocatedPolicy::Spread => 0.0,
            };
            let mut f = flags;
            if c.oversubscribed {
                f.set(Flag::Oversubscribed);
            }
            let sums = &mut acc.jobs[j as usize];
            sums.held_s += share * (o.end_us - o.start_us) as f64 / 1e6;
            sums.flags = sums.flags.union(f);
            acc.add(j, keys.of(p as u32, group), charged_s);
        }
    }
}

/// A job's sums turned into its figures.
fn job_result(
    inventory: &Inventory,
    rules: Rules,
    (nodes, groups): (&[NodeId], &[u32]),
    sums: JobSums,
    keys: Keys,
    periods: &[(i64, i64)],
) -> JobEmbodied {
    let outside = nodes.iter().filter(|&&n| n == OUTSIDE).count() as u32;
    let inside = nodes.len() as u32 - outside;
    let mut in_groups = nodes
        .iter()
        .filter(|&&n| n != OUTSIDE && (n as usize) < groups.len())
        .map(|&n| groups[n as usize]);
    let first = in_groups.next();
    let group = first.filter(|&g| in_groups.all(|h| h == g));
    let mut flags = sums.flags;
    if outside > 0 {
        flags.set(Flag::NodeNotInInventory);
    }
    let mut out: Vec<PeriodCharge> = Vec::new();
    for &(key, seconds) in &sums.charged {
        let (p, g) = keys.split(key);
        let rate = match rules.policy {
            UnallocatedPolicy::Report => inventory.groups[g as usize].embodied.per_node_hour,
            UnallocatedPolicy::Spread => inventory.groups[g as usize].embodied.per_node_life_hour,
        };
        let hours = seconds / 3600.0;
        let embodied = rate.scale(hours);
        match out.iter_mut().find(|c| c.period == p) {
            Some(c) => {
                c.charged_node_hours += hours;
                c.embodied += embodied;
            }
            None => out.push(PeriodCharge {
                period: p,
                charged_node_hours: hours,
                embodied,
            }),
        }
    }
    out.sort_by_key(|c| c.period);
    debug_assert!(out.iter().all(|c| (c.period as usize) < periods.len()));
    JobEmbodied {
        inside,
        outside,
        group,
        held_node_hours: sums.held_s / 3600.0,
        charged_node_hours: out.iter().map(|c| c.charged_node_hours).sum(),
        embodied: (inside > 0).then(|| out.iter().map(|c| c.embodied).sum()),
        flags,
        periods: out,
    }
}

#[cfg(test)]
mod tests;
