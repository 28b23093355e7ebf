//! From job-node pairs to impacts: each job is charged, on each node it ran on, its share of
//! the node's embodied impact for the time it held it, and the electricity it is attributed,
//! times PUE and the grid's factors.
//!
//! **Input** ([`JobNodeInput`]): one per job per node: the interval, whether the job had the
//! node to itself, what it held (CPUs, GPUs, memory, billing), and the energy of each meter
//! its record holds with the meter's [`Scope`] (or none: missing). It maps one-to-one from a
//! `JobNodeRecord` plus sacct's allocation ([`JobNodeInput::from_record`]).
//!
//! **Embodied**: `group per-node-hour rate × share × hours`, where the rate is the node's total
//! over `lifetime × utilisation`. On a node shared in time, the [`timeline`] weights each
//! second by the jobs present. Node-hours no job used are reported per group as unallocated
//! ([`UnallocatedPolicy::Report`], the default), or the node's whole cost over a period is
//! spread over the jobs that used it ([`UnallocatedPolicy::Spread`], "full cost").
//!
//! **Energy** (Jay's rule, methodology §1.2 and case V8): with a whole-node meter, the job gets
//! its own devices' energy plus its share of the node's energy *minus all devices'*, so that it
//! pays for the node's remainder (power supplies, fans, board, CPUs, memory) but not for GPUs it
//! did not hold. Without a node meter, its devices plus its share of CPU and DRAM (plus a
//! calibrated `uncovered_power_w` if the inventory has one; otherwise flagged as an
//! under-estimate). Without any meter, a TDP estimate if the inventory has TDPs, else missing.
//!
//! **Use phase**: `energy × PUE × factors`, factors from the group's zone (yearly) or the hourly
//! series over the job's interval.
//!
//! Every pair says how its figures were obtained ([`EnergyMethod`], scopes used, [`Flag`]s);
//! the batch says with which inventory, factor tables and rules ([`Provenance`]).

pub mod batch;
mod meters;
mod share;
mod timeline;

pub use crate::policy::{ShareRule, UnallocatedPolicy};
pub use share::ShareBasis;

use crate::factors::{FactorSetId, electricity_factor_set, embodied_factor_set};
use crate::impacts::{Impacts, Ranged};
use crate::inventory::{Inventory, NodeGroup};
use ea_record::{JobNodeRecord, MeterReport, Scope, UnixMicros};
use rayon::prelude::*;
use rustc_hash::FxHashMap as FastMap;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use timeline::{Charge, Occupant, Scratch, sweep_into};

/// What a job held on a node (from the record's allocation or sacct's AllocTRES).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Held {
    /// CPUs held on the node.
    pub cpus: Option<u32>,
    /// GPUs held on the node.
    pub gpus: Option<u32>,
    /// Memory held on the node, MB.
    pub memory_mb: Option<u64>,
    /// TRES billing units on this node.
    pub billing: Option<f64>,
}

impl Held {
    /// What a job held on each of its `nodes` nodes, from sacct's totals for the job: CPUs
    /// and GPUs divided and rounded up (Slurm gives whole CPUs and GPUs per node), memory
    /// divided. The one split of a job's allocation over its nodes.
    pub fn divided(
        cpus: Option<u32>,
        gpus: Option<u32>,
        memory_mb: Option<f64>,
        nodes: u32,
    ) -> Held {
        let n = nodes.max(1);
        Held {
            cpus: cpus.map(|c| c.div_ceil(n)),
            gpus: gpus.map(|g| g.div_ceil(n)),
            memory_mb: memory_mb.map(|m| (m / f64::from(n)).round() as u64),
            billing: None,
        }
    }
}

/// One meter's energy over the job's interval on the node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeterEnergy {
    /// What part of the node the meter covers.
    pub scope: Scope,
    /// Energy over the interval, J.
    pub energy_j: f64,
    /// For device meters: whether the job held this device (`None`: unknown).
    pub job_owned: Option<bool>,
}

impl From<&MeterReport> for MeterEnergy {
    fn from(m: &MeterReport) -> Self {
        MeterEnergy {
            scope: m.scope,
            energy_j: m.energy_j,
            job_owned: m.job_owned,
        }
    }
}

/// One job on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobNodeInput {
    /// The caller's key for the job (a row id, or the Slurm job id); pairs with the same key are
    /// one job in [`summarise_by_job`].
    pub job: u64,
    /// Slurm node name.
    pub node: String,
    /// When the job started on the node.
    pub start: UnixMicros,
    /// When it ended there.
    pub end: UnixMicros,
    /// The job had the whole node (`--exclusive`, or all its CPUs).
    pub exclusive: bool,
    /// What it held there, for its share.
    pub held: Held,
    /// Empty when nothing was measured.
    pub meters: Vec<MeterEnergy>,
}

impl JobNodeInput {
    /// The input for one node record; `None` if the record lacks its start or end time.
    /// `exclusive` and the billing units come from sacct, which the record does not have.
    pub fn from_record(
        job: u64,
        record: &JobNodeRecord,
        exclusive: bool,
        billing: Option<f64>,
    ) -> Option<Self> {
        let alloc = record.allocation.as_ref();
        Some(JobNodeInput {
            job,
            node: record.node.clone(),
            start: record.start?,
            end: record.end?,
            exclusive,
            held: Held {
                cpus: alloc.and_then(|a| a.cpus).or(record.cpus_on_node),
                gpus: alloc.map(|a| a.gpus.len() as u32),
                memory_mb: alloc.and_then(|a| a.memory_mb),
                billing,
            },
            meters: record.meters.iter().map(MeterEnergy::from).collect(),
        })
    }
}

/// Choices for one call of [`allocate`]; `None` takes the inventory's `[site]` choice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocationOptions {
    /// How shared nodes are divided.
    pub share_rule: Option<ShareRule>,
    /// What happens to node time no job used.
    pub unallocated: Option<UnallocatedPolicy>,
    /// The accounting period `[start, end)`: jobs are clipped to it, and unallocated node-hours
    /// are computed over it. Required by [`UnallocatedPolicy::Spread`].
    pub period: Option<(UnixMicros, UnixMicros)>,
}

/// How a pair's energy was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum EnergyMethod {
    /// Measured by a whole-node meter, the job alone with its whole node.
    NodeMeter {
        /// The node meter's scope (BMC or wattmeter).
        scope: Scope,
        /// Device meters (GPUs) were read too: the job's own added, all subtracted from the
        /// node's.
        with_devices: bool,
    },
    /// A whole-node meter split by share and time overlap with the node's other jobs.
    NodeMeterSplit {
        /// See `NodeMeter`.
        scope: Scope,
        /// See `NodeMeter`.
        with_devices: bool,
    },
    /// Component meters only (RAPL, NVML): own devices plus a share of CPU and DRAM, plus the
    /// inventory's calibrated uncovered power if any.
    Components {
        /// The inventory's `uncovered_power_w` was added (else the figure is flagged as an
        /// under-estimate).
        calibrated_remainder: bool,
    },
    /// No meter: TDP of the CPUs held, GPUs held and 0.3725 W/GB of memory (Green Algorithms).
    Estimated,
    /// No meter and no TDP: no energy and no use-phase impact.
    Missing,
}

impl EnergyMethod {
    /// The method in one word, as `acct` and reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            EnergyMethod::NodeMeter { .. } => "measured",
            EnergyMethod::NodeMeterSplit { .. } => "split",
            EnergyMethod::Components { .. } => "components",
            EnergyMethod::Estimated => "estimated",
            EnergyMethod::Missing => "missing",
        }
    }
}

macro_rules! flags {
    ($($(#[doc = $doc:literal])* $name:ident = $text:literal,)*) => {
        /// Something about a pair worth knowing when reading its figures.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Flag { $($(#[doc = $doc])* $name,)* }

        impl Flag {
            /// Every flag, in bit order.
            pub const ALL: &'static [Flag] = &[$(Flag::$name,)*];
            /// The flag as stored and printed (`node-not-in-inventory`).
            pub fn as_str(self) -> &'static str {
                match self { $(Flag::$name => $text,)* }
            }
        }
    };
}

flags! {
    /// The node is in no inventory group: no embodied or use-phase impact.
    NodeNotInInventory = "node-not-in-inventory",
    /// End not after start: nothing charged.
    EmptyInterval = "empty-interval",
    /// Part of the job lies outside the period and was not charged.
    ClippedToPeriod = "clipped-to-period",
    /// Shares on the node summed above 1 during the job (inconsistent allocations); normalised.
    Oversubscribed = "oversubscribed",
    /// Shared node, nothing known of what the job held: charged the whole node.
    NoShareData = "no-share-data",
    /// The site's share rule lacked data; the largest known fraction was used.
    ShareRuleFallback = "share-rule-fallback",
    /// The job held more than the inventory says the node has; share capped at 1.
    HeldMoreThanNode = "held-more-than-node",
    /// The node meter read less than the devices' sum; the remainder was taken as 0.
    NodeMeterBelowDevices = "node-meter-below-devices",
    /// A device meter did not say which job held it; split by share.
    DeviceHolderUnknown = "device-holder-unknown",
    /// Component meters only, no calibrated remainder: PSU, fans and board are not counted.
    RemainderNotMeasured = "remainder-not-measured",
    /// A meter of unknown coverage was ignored.
    UnknownScopeIgnored = "unknown-scope-ignored",
    /// A negative or non-finite meter value was ignored.
    InvalidMeterValue = "invalid-meter-value",
    /// The hourly series did not cover the whole interval; yearly factors filled the gaps.
    HourlySeriesPartial = "hourly-series-partial",
    /// The estimate lacked a TDP for some CPUs or GPUs held.
    EstimateIncomplete = "estimate-incomplete",
}

/// A set of [`Flag`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    /// The set as stored (bit `n` for the flag of discriminant `n`).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// A set read back from [`Flags::bits`]; bits of no flag are dropped.
    pub fn from_bits(bits: u32) -> Self {
        Self(bits & ((1u32 << Flag::ALL.len()) - 1))
    }

    /// Adds `f`.
    pub fn set(&mut self, f: Flag) {
        self.0 |= 1 << f as u8;
    }
    /// Whether `f` is in the set.
    pub fn contains(self, f: Flag) -> bool {
        self.0 & (1 << f as u8) != 0
    }
    /// No flag.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The flags of both.
    pub fn union(self, o: Flags) -> Flags {
        Flags(self.0 | o.0)
    }
    /// The flags, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.iter().copied().filter(move |f| self.contains(*f))
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Flag::as_str))
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Flag::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// A set of meter [`Scope`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u16);

const SCOPES: [Scope; 10] = [
    Scope::CpuPackage,
    Scope::Core,
    Scope::Uncore,
    Scope::Dram,
    Scope::Platform,
    Scope::GpuBoard,
    Scope::NodeBmc,
    Scope::NodeWattmeter,
    Scope::Other,
    Scope::Unknown,
];

impl ScopeSet {
    /// Adds `s`.
    pub fn insert(&mut self, s: Scope) {
        if let Some(i) = SCOPES.iter().position(|x| *x == s) {
            self.0 |= 1 << i;
        }
    }
    /// Whether `s` is in the set.
    pub fn contains(self, s: Scope) -> bool {
        SCOPES
            .iter()
            .position(|x| *x == s)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
    /// The scopes, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        SCOPES.into_iter().filter(move |s| self.contains(*s))
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Scope::as_str))
    }
}

/// The figures of one job on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobNodeImpact {
    /// Index into `Inventory::groups`; `None` for a node in no group.
    pub group: Option<u32>,
    /// Fraction of the node the job held, 0..=1.
    pub share: f64,
    /// Which term gave the share.
    pub share_basis: ShareBasis,
    /// Hours on the node (inside the period, if one was given).
    pub hours: f64,
    /// Node-hours charged: hours × share, weighted by the other jobs present when shares
    /// overflow (report) or always (spread).
    pub charged_node_hours: f64,
    /// Electricity attributed to the job on this node before PUE, J.
    pub energy_j: Option<f64>,
    /// How `energy_j` was obtained.
    pub energy_method: EnergyMethod,
    /// The meter scopes that entered `energy_j`.
    pub scopes_used: ScopeSet,
    /// energy × PUE × factors; `None` without energy or outside the inventory.
    pub use_phase: Option<Ranged<Impacts>>,
    /// The node's embodied rate × charged node-hours; `None` outside the inventory.
    pub embodied: Option<Ranged<Impacts>>,
    /// Share of the interval the hourly series covered; `None` when yearly factors were used.
    pub hourly_coverage: Option<f64>,
    /// Another job was on the node during some of the job's interval.
    pub co_tenants: bool,
    /// What is worth knowing when reading these figures.
    pub flags: Flags,
}

/// Per group, over the period: what no job was charged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupUnallocated {
    /// Index into `Inventory::groups`.
    pub group: u32,
    /// Node-hours of the period not charged to any job (negative if jobs were charged more than
    /// the period holds, which a utilisation below 1 allows).
    pub node_hours: f64,
    /// The node embodied cost of the period minus what jobs were charged.
    pub embodied: Ranged<Impacts>,
    /// Energy measured during jobs on shared nodes that no job was charged, J.
    pub energy_j: f64,
}

/// How one group's figures are obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupProvenance {
    /// The group's name.
    pub group: String,
    /// How its embodied figures were obtained, in words.
    pub embodied_method: String,
    /// Its GPU model's name.
    pub gpu_model: &'static str,
    /// Its electricity factors, in words.
    pub electricity: String,
    /// Its lifetime.
    pub lifetime_years: Ranged<f64>,
    /// Its utilisation.
    pub utilisation: Ranged<f64>,
    /// Its PUE.
    pub pue: Ranged<f64>,
}

/// What a batch of results was computed from: enough to recompute it, or tell it is stale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// This crate and its version.
    pub engine: String,
    /// The inventory file.
    pub inventory_path: String,
    /// Its content hash.
    pub inventory_sha256: String,
    /// The embodied tables.
    pub embodied_factors: FactorSetId,
    /// The yearly electricity factors.
    pub electricity_factors: FactorSetId,
    /// The hourly series, if one was used.
    pub hourly_series: Option<FactorSetId>,
    /// The share rule applied.
    pub share_rule: ShareRule,
    /// The unallocated policy applied.
    pub unallocated: UnallocatedPolicy,
    /// The accounting period, if one was given.
    pub period: Option<(UnixMicros, UnixMicros)>,
    /// Per group of the inventory.
    pub groups: Vec<GroupProvenance>,
}

/// The result of [`allocate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    /// One per input, in the input's order.
    pub pairs: Vec<JobNodeImpact>,
    /// Per group, when a period was given.
    pub unallocated: Vec<GroupUnallocated>,
    /// What it was computed from.
    pub provenance: Provenance,
}

/// Why a batch could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocationError {
    /// The spread policy divides a period's cost: give `AllocationOptions::period`.
    SpreadNeedsPeriod,
    /// The period ends before it starts.
    EmptyPeriod,
    /// An [`Allocator`] was given pairs of this node in two shards.
    NodeInTwoShards(String),
}

impl fmt::Display for AllocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocationError::SpreadNeedsPeriod => {
                f.write_str("the spread policy needs an accounting period (it spreads a period's idle node-hours over that period's jobs)")
            }
            AllocationError::EmptyPeriod => f.write_str("the accounting period ends before it starts"),
            AllocationError::NodeInTwoShards(node) => write!(
                f,
                "node {node} came in two shards of one allocation; give every pair of a node in the same shard"
            ),
        }
    }
}

impl std::error::Error for AllocationError {}

/// Green Algorithms' memory power, W per GB (GA `referenceValues.csv`, methodology §4.1).
pub const MEMORY_POWER_W_PER_GB: f64 = 0.3725;

/// Node key, start, pair index: pairs sorted by it come grouped by node, in time order.
type SortKey = (u64, i64, u32);

/// A pair after its own inputs are read, before the node's timeline is known.
struct Prepared {
    group: Option<u32>,
    node_key: u64,
    start_us: i64,
    end_us: i64,
    share: f64,
    basis: ShareBasis,
    method: EnergyMethod,
    scopes: ScopeSet,
    /// Node-level power to split by share-seconds (node remainder, or shared components), W.
    split_power_w: Option<f64>,
    /// Power of the job's own devices (or the estimate), W: charged for every second.
    own_power_w: f64,
    flags: Flags,
}

/// Allocates every pair of the batch.
///
/// Pairs on the same node are split against each other, so a batch should hold every job that
/// ran on its nodes during its time span (for a report: the period's jobs; for one job: that
/// job and any job that overlapped it on its nodes). Pairs are independent otherwise. A batch
/// too large to hold at once can be given one node shard at a time to an [`Allocator`], with
/// the same results.
///
/// # Errors
/// [`AllocationError`] for inconsistent options; bad data in pairs is flagged, never an error.
pub fn allocate(
    inventory: &Inventory,
    inputs: &[JobNodeInput],
    options: &AllocationOptions,
) -> Result<Allocation, AllocationError> {
    let mut allocator = Allocator::new(inventory, options)?;
    let pairs = allocator.allocate_shard(inputs)?;
    let (unallocated, provenance) = allocator.finish();
    Ok(Allocation {
        pairs,
        unallocated,
        provenance,
    })
}

/// [`allocate`] for a batch given one node shard at a time: each call of
/// [`Allocator::allocate_shard`] takes every pair of some set of nodes (shares depend only on
/// the jobs of the same node, so the results are those of one call with the whole batch),
/// while memory holds one shard. What the period's jobs were charged is summed over the shards
/// for the unallocated figures of [`Allocator::finish`].
///
/// A node's pairs must all come in the same shard: a node seen again in a later shard is an
/// error ([`AllocationError::NodeInTwoShards`]), since its time sweep would be split.
pub struct Allocator<'a> {
    inventory: &'a Inventory,
    rule: ShareRule,
    policy: UnallocatedPolicy,
    period: Option<(UnixMicros, UnixMicros)>,
    /// Per group: node-hours and embodied impacts charged so far.
    charged_h: Vec<f64>,
    charged: Vec<Ranged<Impacts>>,
    unallocated_energy: Vec<f64>,
    /// The shard each inventory node was seen in (0: not yet), and likewise for nodes outside
    /// the inventory, by name.
    shard_of_node: Vec<u32>,
    shard_of_outside: FastMap<String, u32>,
    shards: u32,
}

impl<'a> Allocator<'a> {
    /// Checks the options; `None` options take the inventory's `[site]` choices.
    ///
    /// # Errors
    /// [`AllocationError::SpreadNeedsPeriod`], [`AllocationError::EmptyPeriod`].
    pub fn new(
        inventory: &'a Inventory,
        options: &AllocationOptions,
    ) -> Result<Self, AllocationError> {
        let rule = options.share_rule.unwrap_or(inventory.site.share_rule);
        let policy = options.unallocated.unwrap_or(inventory.site.unallocated);
        if let Some((a, b)) = options.period {
            if b <= a {
                return Err(AllocationError::EmptyPeriod);
            }
        } else if policy == UnallocatedPolicy::Spread {
            return Err(AllocationError::SpreadNeedsPeriod);
        }
        let groups = inventory.groups.len();
        Ok(Self {
            inventory,
            rule,
            policy,
            period: options.period,
            charged_h: vec![0.0; groups],
            charged: vec![Ranged::ZERO; groups],
            unallocated_energy: vec![0.0; groups],
            shard_of_node: vec![0; inventory.node_count()],
            shard_of_outside: FastMap::default(),
            shards: 0,
        })
    }

    /// Allocates one shard: every pair of the nodes it holds. Returns one result per input, in
    /// the input's order.
    ///
    /// # Errors
    /// [`AllocationError::NodeInTwoShards`] when a node of `inputs` came in an earlier shard;
    /// nothing of this shard is counted then.
    pub fn allocate_shard(
        &mut self,
        inputs: &[JobNodeInput],
    ) -> Result<Vec<JobNodeImpact>, AllocationError> {
        let inventory = self.inventory;
        let (rule, policy) = (self.rule, self.policy);
        let shard = self.shards + 1;
        let keys = NodeKeys::of(inventory, inputs);
        self.claim_shard(inputs, &keys.ids, shard)?;
        self.shards = shard;

        let prepared: Vec<Prepared> = inputs
            .par_iter()
            .zip(keys.ids.par_iter().zip(keys.keys.par_iter()))
            .map(|(p, (id, key))| prepare(inventory, p, id.map(|x| x.0), *key, rule, self.period))
            .collect();
        let swept = sweep_nodes(&prepared, policy, keys.slots);
        for &(g, e) in &swept.node_unallocated {
            if let Some(g) = g {
                self.unallocated_energy[g as usize] += e;
            }
        }
        let period_h = self.period.map(|(a, b)| b.seconds_since(a) / 3600.0);
        let pairs: Vec<JobNodeImpact> = prepared
            .par_iter()
            .enumerate()
            .map(|(i, p)| swept.finish_pair(inventory, policy, period_h, i, p))
            .collect();
        if period_h.is_some() {
            self.add_charged(&pairs);
        }
        Ok(pairs)
    }

    /// Marks the nodes of `inputs` as held by `shard`; an error, with nothing marked, if one
    /// was in an earlier shard.
    fn claim_shard(
        &mut self,
        inputs: &[JobNodeInput],
        node_ids: &[Option<(u32, u64)>],
        shard: u32,
    ) -> Result<(), AllocationError> {
        for (id, p) in node_ids.iter().zip(inputs) {
            let seen = match id {
                Some((_, k)) => self.shard_of_node[*k as usize],
                None => self
                    .shard_of_outside
                    .get(p.node.as_str())
                    .copied()
                    .unwrap_or(0),
            };
            if seen != 0 && seen != shard {
                return Err(AllocationError::NodeInTwoShards(p.node.clone()));
            }
        }
        for (id, p) in node_ids.iter().zip(inputs) {
            match id {
                Some((_, k)) => self.shard_of_node[*k as usize] = shard,
                None => {
                    if !self.shard_of_outside.contains_key(p.node.as_str()) {
                        self.shard_of_outside.insert(p.node.clone(), shard);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds the pairs' embodied charges to their groups' totals over the period.
    fn add_charged(&mut self, pairs: &[JobNodeImpact]) {
        for p in pairs {
            if let (Some(g), Some(e)) = (p.group, p.embodied) {
                self.charged_h[g as usize] += p.charged_node_hours;
                self.charged[g as usize] += e;
            }
        }
    }

    /// The unallocated figures per group over the period (empty without a period), from what
    /// every shard charged, and the batch's provenance.
    pub fn finish(self) -> (Vec<GroupUnallocated>, Provenance) {
        let inventory = self.inventory;
        let unallocated = match self.period.map(|(a, b)| b.seconds_since(a) / 3600.0) {
            None => Vec::new(),
            Some(h) => inventory
                .groups
                .iter()
                .enumerate()
                .map(|(g, group)| {
                    let nodes = group.nodes.len() as f64;
                    let period_cost = group.embodied.per_node_life_hour.scale(nodes * h);
                    let charged = self.charged[g];
                    GroupUnallocated {
                        group: g as u32,
                        node_hours: nodes * h - self.charged_h[g],
                        embodied: Ranged {
                            value: period_cost.value - charged.value,
                            min: period_cost.min - charged.min,
                            max: period_cost.max - charged.max,
                        },
                        energy_j: self.unallocated_energy[g],
                    }
                })
                .collect(),
        };
        (
            unallocated,
            provenance(inventory, self.rule, self.policy, self.period),
        )
    }
}

/// The inputs' nodes, numbered: inventory nodes by their key, nodes outside the inventory
/// after them (they still need a key to find their co-tenants).
struct NodeKeys {
    /// Per input: its inventory group and node key, if in the inventory.
    ids: Vec<Option<(u32, u64)>>,
    /// Per input: its node's key.
    keys: Vec<u64>,
    /// How many keys there are.
    slots: usize,
}

impl NodeKeys {
    fn of(inventory: &Inventory, inputs: &[JobNodeInput]) -> Self {
        let ids: Vec<Option<(u32, u64)>> = inputs
            .par_iter()
            .map(|p| inventory.node_id(&p.node))
            .collect();
        let base = inventory.node_count() as u64;
        let mut outside: FastMap<&str, u64> = FastMap::default();
        let keys: Vec<u64> = ids
            .iter()
            .zip(inputs)
            .map(|(id, p)| match id {
                Some((_, k)) => *k,
                None => {
                    let next = base + outside.len() as u64;
                    *outside.entry(p.node.as_str()).or_insert(next)
                }
            })
            .collect();
        let slots = (base + outside.len() as u64) as usize;
        Self { ids, keys, slots }
    }
}

/// What the sweep of a shard's nodes gave, by pair (in the order prepared) and by node.
struct Swept {
    share_seconds: Vec<f64>,
    oversubscribed: Vec<bool>,
    co_tenants: Vec<bool>,
    /// Per node key: its charged share-seconds (spread: to divide its period cost).
    node_total_share_s: Vec<f64>,
    /// Per node: its group and the energy during jobs no job was charged, J.
    node_unallocated: Vec<(Option<u32>, f64)>,
}

/// Groups the pairs by node (a compact sort key, not the pairs themselves) and sweeps each
/// node's timeline; results come back in sorted order and are scattered to the pairs.
fn sweep_nodes(prepared: &[Prepared], policy: UnallocatedPolicy, node_slots: usize) -> Swept {
    let mut order: Vec<SortKey> = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| (p.node_key, p.start_us, i as u32))
        .collect();
    order.par_sort_unstable();
    // Each node's pairs are a run of `order`; its charges go to the same positions of
    // `charges`, so runs are swept in parallel into disjoint slices, reusing buffers.
    let mut charges = vec![Charge::default(); order.len()];
    let mut work: Vec<(&[SortKey], &mut [Charge])> = Vec::new();
    let mut rest = charges.as_mut_slice();
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        let (head, tail) = rest.split_at_mut(run.len());
        work.push((run, head));
        rest = tail;
    }
    let node_unallocated: Vec<(Option<u32>, f64)> = work
        .into_par_iter()
        .map_init(Scratch::default, |scratch, (run, out)| {
            scratch.occupants.clear();
            scratch
                .occupants
                .extend(run.iter().map(|&(_, _, i)| occupant(&prepared[i as usize])));
            let unallocated = sweep_into(policy, scratch, out);
            (prepared[run[0].2 as usize].group, unallocated)
        })
        .collect();
    let mut swept = Swept {
        share_seconds: vec![0.0; prepared.len()],
        oversubscribed: vec![false; prepared.len()],
        co_tenants: vec![false; prepared.len()],
        node_total_share_s: vec![0.0; node_slots],
        node_unallocated,
    };
    for (&(key, _, i), c) in order.iter().zip(&charges) {
        swept.share_seconds[i as usize] = c.share_seconds;
        swept.oversubscribed[i as usize] = c.oversubscribed;
        swept.co_tenants[i as usize] = c.co_tenants;
        swept.node_total_share_s[key as usize] += c.share_seconds;
    }
    swept
}

/// A prepared pair as its node's timeline sees it.
#[inline]
fn occupant(p: &Prepared) -> Occupant {
    Occupant {
        start_us: p.start_us,
        end_us: p.end_us,
        share: p.share,
        node_power_w: p.split_power_w,
    }
}

impl Swept {
    /// Pair `i`'s result, from its share of its node's time (spread: its fraction of the
    /// node's charged time over the period).
    #[inline]
    fn finish_pair(
        &self,
        inventory: &Inventory,
        policy: UnallocatedPolicy,
        period_h: Option<f64>,
        i: usize,
        p: &Prepared,
    ) -> JobNodeImpact {
        let group = p.group.map(|g| &inventory.groups[g as usize]);
        let spread_fraction = match (policy, period_h) {
            (UnallocatedPolicy::Spread, Some(_)) => {
                let total = self.node_total_share_s[p.node_key as usize];
                Some(if total > 0.0 {
                    self.share_seconds[i] / total
                } else {
                    0.0
                })
            }
            _ => None,
        };
        finish(
            inventory,
            p,
            group,
            self.share_seconds[i],
            self.oversubscribed[i],
            self.co_tenants[i],
            spread_fraction,
            period_h,
        )
    }
}

fn provenance(
    inventory: &Inventory,
    rule: ShareRule,
    policy: UnallocatedPolicy,
    period: Option<(UnixMicros, UnixMicros)>,
) -> Provenance {
    Provenance {
        engine: format!("ea-impact {}", env!("CARGO_PKG_VERSION")),
        inventory_path: inventory.path.display().to_string(),
        inventory_sha256: inventory.sha256.clone(),
        embodied_factors: embodied_factor_set(),
        electricity_factors: electricity_factor_set(),
        hourly_series: inventory.series.as_ref().map(|s| s.id.clone()),
        share_rule: rule,
        unallocated: policy,
        period,
        groups: inventory
            .groups
            .iter()
            .map(|g| GroupProvenance {
                group: g.name.clone(),
                embodied_method: g.embodied.method.clone(),
                gpu_model: g.gpu_model.as_str(),
                electricity: match (&g.grid_zone, &inventory.series) {
                    (Some(z), Some(s)) => format!(
                        "{} zone {z}, hours it lacks: {}",
                        s.id.name, g.electricity.source
                    ),
                    _ => g.electricity.source.clone(),
                },
                lifetime_years: g.lifetime_years,
                utilisation: g.utilisation,
                pue: g.pue,
            })
            .collect(),
    }
}

/// Reads one pair's own inputs: group, share, clipped interval, meters.
fn prepare(
    inventory: &Inventory,
    p: &JobNodeInput,
    group: Option<u32>,
    node_key: u64,
    rule: ShareRule,
    period: Option<(UnixMicros, UnixMicros)>,
) -> Prepared {
    let mut flags = Flags::default();
    let g = group.map(|g| &inventory.groups[g as usize]);
    if g.is_none() {
        flags.set(Flag::NodeNotInInventory);
    }
    let (share, basis, share_flags) = pair_share(g, p, rule);
    flags = flags.union(share_flags);

    let measured_s = (p.end.0 - p.start.0) as f64 / 1e6;
    let (start_us, end_us) = clip_to_period(p, period, &mut flags);
    if measured_s <= 0.0 {
        flags.set(Flag::EmptyInterval);
        return Prepared {
            group,
            node_key,
            start_us,
            end_us: start_us,
            share,
            basis,
            method: EnergyMethod::Missing,
            scopes: ScopeSet::default(),
            split_power_w: None,
            own_power_w: 0.0,
            flags,
        };
    }

    let c = meters::classify(&p.meters, p.exclusive);
    flags = flags.union(c.flags);
    let power = if let Some((scope, node_j)) = c.node {
        node_meter_power(&c, scope, node_j, measured_s, &mut flags)
    } else if c.has_components {
        components_power(&c, g, measured_s, &mut flags)
    } else {
        let estimated = g.and_then(|g| estimate_power_w(g, p, share, &mut flags));
        PairPower {
            method: match estimated {
                Some(_) => EnergyMethod::Estimated,
                None => EnergyMethod::Missing,
            },
            scopes: ScopeSet::default(),
            split_power_w: None,
            own_power_w: estimated.unwrap_or(0.0),
        }
    };
    Prepared {
        group,
        node_key,
        start_us,
        end_us,
        share,
        basis,
        method: power.method,
        scopes: power.scopes,
        split_power_w: power.split_power_w,
        own_power_w: power.own_power_w,
        flags,
    }
}

/// The pair's share of its node: by the rule and the group's capacity; outside the
/// inventory, the whole node (flagged unless the job held it exclusively).
#[inline]
fn pair_share(
    g: Option<&NodeGroup>,
    p: &JobNodeInput,
    rule: ShareRule,
) -> (f64, ShareBasis, Flags) {
    match g {
        Some(g) => share::share(rule, p.exclusive, &p.held, &g.capacity),
        None if p.exclusive => (1.0, ShareBasis::Exclusive, Flags::default()),
        None => {
            let mut f = Flags::default();
            f.set(Flag::NoShareData);
            (1.0, ShareBasis::WholeNodeAssumed, f)
        }
    }
}

/// The pair's interval (an end before the start taken as the start), clipped to the period
/// if there is one (flagged when that cut it).
#[inline]
fn clip_to_period(
    p: &JobNodeInput,
    period: Option<(UnixMicros, UnixMicros)>,
    flags: &mut Flags,
) -> (i64, i64) {
    let (mut start_us, mut end_us) = (p.start.0, p.end.0.max(p.start.0));
    if let Some((a, b)) = period {
        if start_us < a.0 || end_us > b.0 {
            flags.set(Flag::ClippedToPeriod);
        }
        start_us = start_us.clamp(a.0, b.0);
        end_us = end_us.clamp(a.0, b.0);
    }
    (start_us, end_us)
}

/// How a pair's power is known, and the power itself.
struct PairPower {
    method: EnergyMethod,
    scopes: ScopeSet,
    /// The node's shared power the job measured (split by share with its co-tenants), W.
    split_power_w: Option<f64>,
    /// The power of what the job held alone (its GPUs), W.
    own_power_w: f64,
}

/// With a whole-node meter: the node's power less its devices' is shared, the job's own
/// devices are its own.
#[inline]
fn node_meter_power(
    c: &meters::Classified,
    scope: Scope,
    node_j: f64,
    measured_s: f64,
    flags: &mut Flags,
) -> PairPower {
    let mut scopes = ScopeSet::default();
    scopes.insert(scope);
    let with_devices = c.own_devices_j + c.other_devices_j > 0.0;
    if with_devices {
        scopes.insert(Scope::GpuBoard);
    }
    let mut remainder_j = node_j - c.own_devices_j - c.other_devices_j;
    if remainder_j < 0.0 {
        flags.set(Flag::NodeMeterBelowDevices);
        remainder_j = 0.0;
    }
    PairPower {
        method: EnergyMethod::NodeMeter {
            scope,
            with_devices,
        },
        scopes,
        split_power_w: Some(remainder_j / measured_s),
        own_power_w: c.own_devices_j / measured_s,
    }
}

/// With component meters only: their shared part, plus the group's calibrated power of what
/// they do not cover (flagged when the group has none).
#[inline]
fn components_power(
    c: &meters::Classified,
    g: Option<&NodeGroup>,
    measured_s: f64,
    flags: &mut Flags,
) -> PairPower {
    let mut scopes = ScopeSet::default();
    for s in [
        Scope::GpuBoard,
        Scope::CpuPackage,
        Scope::Dram,
        Scope::Platform,
    ] {
        if c.seen.contains(s) {
            scopes.insert(s);
        }
    }
    let calibrated = g.and_then(|g| g.uncovered_power_w);
    if calibrated.is_none() {
        flags.set(Flag::RemainderNotMeasured);
    }
    PairPower {
        method: EnergyMethod::Components {
            calibrated_remainder: calibrated.is_some(),
        },
        scopes,
        split_power_w: Some(c.shared_j / measured_s + calibrated.unwrap_or(0.0)),
        own_power_w: c.own_devices_j / measured_s,
    }
}

/// Green Algorithms' power model for a job without meters: CPUs held × TDP per CPU, GPUs held
/// × their TDP, memory held × 0.3725 W/GB, usage 1 (methodology §4.1). `None` without any TDP.
fn estimate_power_w(g: &NodeGroup, p: &JobNodeInput, share: f64, flags: &mut Flags) -> Option<f64> {
    let hw = g.hardware.as_ref()?;
    let cpu_tdp = hw.cpu.tdp_w.map(|t| t * f64::from(hw.cpu.sockets));
    let cpu_fraction = match (p.held.cpus, g.capacity.cpus) {
        (Some(h), Some(c)) if c > 0 => (f64::from(h) / f64::from(c)).min(1.0),
        _ => share,
    };
    let cpu_w = cpu_tdp.map(|t| t * cpu_fraction);
    let gpus_total = hw.gpu_count();
    let gpus_held = if p.exclusive {
        gpus_total
    } else {
        p.held.gpus.unwrap_or(0).min(gpus_total)
    };
    // GPUs of the first models are taken first; mixed-GPU nodes rarely mix within one job.
    let (mut gpu_w, mut left, mut gpu_tdp_missing) = (0.0, gpus_held, false);
    for gs in &hw.gpus {
        let n = left.min(gs.count);
        left -= n;
        match gs.tdp_w {
            Some(t) => gpu_w += t * f64::from(n),
            None if n > 0 => gpu_tdp_missing = true,
            None => {}
        }
    }
    let memory_gb = match (p.exclusive, p.held.memory_mb) {
        (true, _) => hw.ram.total_gb(),
        (false, Some(mb)) => mb as f64 / 1024.0,
        (false, None) => hw.ram.total_gb() * share,
    };
    if cpu_w.is_none() && gpu_w == 0.0 {
        return None;
    }
    if cpu_w.is_none() || gpu_tdp_missing {
        flags.set(Flag::EstimateIncomplete);
    }
    Some(cpu_w.unwrap_or(0.0) + gpu_w + memory_gb * MEMORY_POWER_W_PER_GB)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    inventory: &Inventory,
    p: &Prepared,
    group: Option<&NodeGroup>,
    share_seconds: f64,
    oversubscribed: bool,
    co_tenants: bool,
    spread_fraction: Option<f64>,
    period_h: Option<f64>,
) -> JobNodeImpact {
    let mut flags = p.flags;
    if oversubscribed {
        flags.set(Flag::Oversubscribed);
    }
    let seconds = (p.end_us - p.start_us) as f64 / 1e6;
    let split = co_tenants || p.share < 1.0;
    let method = match p.method {
        EnergyMethod::NodeMeter {
            scope,
            with_devices,
        } if split => EnergyMethod::NodeMeterSplit {
            scope,
            with_devices,
        },
        m => m,
    };
    let energy_j = match method {
        EnergyMethod::Missing => None,
        _ => Some(p.own_power_w * seconds + p.split_power_w.unwrap_or(0.0) * share_seconds),
    };
    let charged_node_hours = share_seconds / 3600.0;
    let embodied = group.map(|g| match (spread_fraction, period_h) {
        (Some(f), Some(h)) => g.embodied.per_node_life_hour.scale(h * f),
        _ => g.embodied.per_node_hour.scale(charged_node_hours),
    });
    let mut hourly_coverage = None;
    let use_phase = match (p.group, energy_j) {
        (Some(g), Some(e)) => {
            let (impacts, coverage) =
                inventory.use_phase(g as usize, e, UnixMicros(p.start_us), UnixMicros(p.end_us));
            if coverage.is_some_and(|c| c < 1.0 - 1e-9) {
                flags.set(Flag::HourlySeriesPartial);
            }
            hourly_coverage = coverage;
            Some(impacts)
        }
        _ => None,
    };
    JobNodeImpact {
        group: p.group,
        share: p.share,
        share_basis: p.basis,
        hours: seconds / 3600.0,
        charged_node_hours: match (spread_fraction, period_h) {
            (Some(f), Some(h)) => h * f,
            _ => charged_node_hours,
        },
        energy_j,
        energy_method: method,
        scopes_used: p.scopes,
        use_phase,
        embodied,
        hourly_coverage,
        co_tenants,
        flags,
    }
}

/// One job's figures, summed over its nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSummary {
    /// The caller's key for the job.
    pub job: u64,
    /// Its job-node pairs.
    pub nodes: u32,
    /// The longest of its nodes' hours.
    pub hours: f64,
    /// Sum over its nodes.
    pub charged_node_hours: f64,
    /// Sum of the nodes' known energy, J (see `energy_complete`).
    pub energy_j: f64,
    /// Every node had an energy figure.
    pub energy_complete: bool,
    /// Sum over its nodes.
    pub use_phase: Ranged<Impacts>,
    /// Sum over its nodes.
    pub embodied: Ranged<Impacts>,
    /// Methods used on its nodes, each once, in the order first seen.
    pub energy_methods: Vec<EnergyMethod>,
    /// Every flag of its nodes.
    pub flags: Flags,
}

impl JobSummary {
    /// Use phase plus embodied.
    pub fn total(&self) -> Ranged<Impacts> {
        self.use_phase + self.embodied
    }
}

/// Sums an allocation per job key, in order of first appearance.
///
/// # Panics
/// If `allocation` was not computed from `inputs` (lengths differ).
pub fn summarise_by_job(inputs: &[JobNodeInput], allocation: &Allocation) -> Vec<JobSummary> {
    assert_eq!(
        inputs.len(),
        allocation.pairs.len(),
        "the allocation must come from these inputs"
    );
    let mut index: FastMap<u64, usize> = FastMap::default();
    let mut out: Vec<JobSummary> = Vec::new();
    for (input, pair) in inputs.iter().zip(&allocation.pairs) {
        let k = *index.entry(input.job).or_insert_with(|| {
            out.push(JobSummary {
                job: input.job,
                nodes: 0,
                hours: 0.0,
                charged_node_hours: 0.0,
                energy_j: 0.0,
                energy_complete: true,
                use_phase: Ranged::ZERO,
                embodied: Ranged::ZERO,
                energy_methods: Vec::new(),
                flags: Flags::default(),
            });
            out.len() - 1
        });
        let s = &mut out[k];
        s.nodes += 1;
        s.hours = s.hours.max(pair.hours);
        s.charged_node_hours += pair.charged_node_hours;
        match pair.energy_j {
            Some(e) => s.energy_j += e,
            None => s.energy_complete = false,
        }
        if let Some(u) = pair.use_phase {
            s.use_phase += u;
        }
        if let Some(e) = pair.embodied {
            s.embodied += e;
        }
        if !s.energy_methods.contains(&pair.energy_method) {
            s.energy_methods.push(pair.energy_method);
        }
        s.flags = s.flags.union(pair.flags);
    }
    out
}

#[cfg(test)]
mod tests;
