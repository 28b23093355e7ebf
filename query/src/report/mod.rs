//! `energy-assess report`: a period's figures per cluster, partition, account and user.
//!
//! Every final job that ran in the period counts, measured or not. A job that crosses the
//! period's edge counts for the part of its run inside it (energy, node-hours and impacts
//! prorated by time, as sreport clips usage to its window); jobs still running or completing
//! are left out until they are final, and their number is said. Sums are taken in a fixed
//! order, so the same store gives the same report byte for byte.
//!
//! A report may compare its period with others (the previous month, each month of a trend):
//! the jobs of all of them are read in one scan of the store, and each period is then summed
//! from its own jobs as if it had been asked alone.

pub mod notes;
pub mod periods;
pub mod render;
mod stored;
pub mod timeline;

use crate::figures::{
    Energy, EnergyFields, FigureContext, JobFigures, Source, calibration_of, energy_of,
    job_figures_of,
};
use crate::privacy::Identity;
use ea_energy::estimate::Calibration;
use ea_energy::wattmeter;
use ea_impact::{Impacts, Inventory, Ranged};
use ea_sacct::fastmap::{FastMap, Interner};
use ea_sacct::timefmt::Clock;
use ea_store::read::{self, PeriodJobRow};
use notes::{ByReason, Engine, JobNotes, Oversubscribed};
use rayon::prelude::*;
use std::collections::BTreeMap;
use stored::Allocated;
use timeline::{Slots, Timeline};

/// Totals of a set of jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// What the totals are of: a cluster, partition, account or user name (empty for all).
    pub key: String,
    /// Jobs counted.
    pub jobs: u64,
    /// Jobs alone on measured nodes.
    pub jobs_measured: u64,
    /// Jobs with energy split from shared measured nodes.
    pub jobs_split: u64,
    /// Jobs estimated.
    pub jobs_estimated: u64,
    /// Nodes × elapsed hours.
    pub node_hours: f64,
    /// GPUs × elapsed hours.
    pub gpu_hours: f64,
    /// Measured and split energy, J.
    pub energy_measured_j: f64,
    /// Estimated energy, J.
    pub energy_estimated_j: f64,
    /// Lower bound of all energy, J.
    pub energy_min_j: f64,
    /// Upper bound of all energy, J.
    pub energy_max_j: f64,
    /// Use-phase impacts.
    pub use_phase: Ranged<Impacts>,
    /// Embodied impacts.
    pub embodied: Ranged<Impacts>,
    /// Jobs whose impacts the engine could not give, and why.
    pub jobs_without_impacts: u64,
    /// Those jobs by reason.
    pub without_impacts: ByReason,
    /// Jobs with impacts for some of their nodes only (the others are in no inventory group).
    pub jobs_partial_impacts: u64,
    /// Jobs that never ran (cancelled before they started): counted, with zero figures.
    pub jobs_never_ran: u64,
    /// Node-hours held on nodes whose shares summed above 1, scaled down by the engine.
    pub oversubscribed: Oversubscribed,
}

impl Totals {
    fn new(key: &str) -> Self {
        Self {
            key: key.to_string(),
            jobs: 0,
            jobs_measured: 0,
            jobs_split: 0,
            jobs_estimated: 0,
            node_hours: 0.0,
            gpu_hours: 0.0,
            energy_measured_j: 0.0,
            energy_estimated_j: 0.0,
            energy_min_j: 0.0,
            energy_max_j: 0.0,
            use_phase: Ranged::ZERO,
            embodied: Ranged::ZERO,
            jobs_without_impacts: 0,
            without_impacts: ByReason::default(),
            jobs_partial_impacts: 0,
            jobs_never_ran: 0,
            oversubscribed: Oversubscribed::default(),
        }
    }

    /// Measured, split and estimated energy, J.
    pub fn energy_j(&self) -> f64 {
        self.energy_measured_j + self.energy_estimated_j
    }

    /// Use phase plus embodied.
    pub fn total(&self) -> Ranged<Impacts> {
        self.use_phase + self.embodied
    }

    /// Whether any of the jobs has impacts (else impact figures are unknown, not zero).
    pub fn has_impacts(&self) -> bool {
        self.jobs > self.jobs_without_impacts
    }

    fn add(&mut self, f: &JobFigures, k: f64, n: &JobNotes) {
        self.jobs += 1;
        match f.energy.source {
            Source::Measured => self.jobs_measured += 1,
            Source::Split => self.jobs_split += 1,
            Source::Estimated => self.jobs_estimated += 1,
        }
        self.node_hours += f.node_hours * k;
        self.gpu_hours += f.gpu_hours * k;
        match f.energy.source {
            Source::Estimated => self.energy_estimated_j += f.energy.j * k,
            _ => self.energy_measured_j += f.energy.j * k,
        }
        self.energy_min_j += f.energy.min_j * k;
        self.energy_max_j += f.energy.max_j * k;
        if let Some(i) = &f.impacts {
            self.use_phase += scale(i.use_phase, k);
            // The engine clipped embodied impacts to the period already.
            self.embodied += i.embodied;
        }
        self.add_notes(n);
    }

    fn add_notes(&mut self, n: &JobNotes) {
        if let Some(r) = n.no_impacts {
            self.jobs_without_impacts += 1;
            self.without_impacts.count(r);
        }
        self.jobs_partial_impacts += u64::from(n.partial);
        self.jobs_never_ran += u64::from(n.never_ran);
        if let Some((held, charged)) = n.over {
            // The engine's hours are the period's part already.
            self.oversubscribed.absorb(&Oversubscribed {
                jobs: 1,
                held_node_hours: held,
                charged_node_hours: charged,
            });
        }
    }

    /// Adds another set's totals (same key).
    fn absorb(&mut self, o: &Totals) {
        self.jobs += o.jobs;
        self.jobs_measured += o.jobs_measured;
        self.jobs_split += o.jobs_split;
        self.jobs_estimated += o.jobs_estimated;
        self.node_hours += o.node_hours;
        self.gpu_hours += o.gpu_hours;
        self.energy_measured_j += o.energy_measured_j;
        self.energy_estimated_j += o.energy_estimated_j;
        self.energy_min_j += o.energy_min_j;
        self.energy_max_j += o.energy_max_j;
        self.use_phase += o.use_phase;
        self.embodied += o.embodied;
        self.jobs_without_impacts += o.jobs_without_impacts;
        self.without_impacts.absorb(&o.without_impacts);
        self.jobs_partial_impacts += o.jobs_partial_impacts;
        self.jobs_never_ran += o.jobs_never_ran;
        self.oversubscribed.absorb(&o.oversubscribed);
    }
}

fn scale(r: Ranged<Impacts>, k: f64) -> Ranged<Impacts> {
    Ranged::new(r.value * k, r.min * k, r.max * k)
}

/// One of the period's heaviest jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct TopJob {
    /// Its cluster.
    pub cluster: String,
    /// Its JobID.
    pub job_id: String,
    /// Its user.
    pub user: String,
    /// Its account.
    pub account: String,
    /// Its partition.
    pub partition: String,
    /// Its name.
    pub name: String,
    /// Nodes × elapsed hours.
    pub node_hours: f64,
    /// Its energy, J.
    pub energy_j: f64,
    /// Where the energy comes from.
    pub source: Source,
    /// Its GWP with range, kgCO2eq, when known.
    pub gwp: Option<Ranged<f64>>,
}

/// Nodes with an external meter: what it read over the period against what jobs were given.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciliation {
    /// The node.
    pub node: String,
    /// Energy the node's meter read over the period (where covered), J.
    pub meter_j: f64,
    /// Fraction of the period the series covers.
    pub coverage: f64,
    /// Energy of the period's jobs on this node (each job's energy divided evenly between its
    /// nodes), J.
    pub jobs_j: f64,
}

impl Reconciliation {
    /// What no job accounts for: idle time, unmeasured overhead, estimate error.
    pub fn residual_j(&self) -> f64 {
        self.meter_j - self.jobs_j
    }
}

/// Node-hours no job held, and their embodied impacts (policy of the impact engine).
#[derive(Debug, Clone, PartialEq)]
pub struct Unallocated {
    /// Node-hours of the inventory no job was charged.
    pub node_hours: f64,
    /// Their embodied impacts.
    pub embodied: Ranged<Impacts>,
    /// How they were counted, for the reader.
    pub note: String,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `2026-11`, or `START to END`.
    pub title: String,
    /// First second, epoch seconds.
    pub start: i64,
    /// End (excluded), epoch seconds.
    pub end: i64,
    /// The tool and version that made it.
    pub generated_by: String,
    /// How impacts were computed (inventory, factors, rules).
    pub impacts_provenance: String,
    /// Set when the reader only sees their own jobs.
    pub only_user: Option<String>,
    /// All jobs.
    pub all: Totals,
    /// By cluster.
    pub by_cluster: Vec<Totals>,
    /// By partition.
    pub by_partition: Vec<Totals>,
    /// By account.
    pub by_account: Vec<Totals>,
    /// By user.
    pub by_user: Vec<Totals>,
    /// The heaviest jobs ([`TOP_JOBS`]).
    pub top_jobs: Vec<TopJob>,
    /// Energy and GWP day by day (hour by hour for a short period).
    pub timeline: Timeline,
    /// The unallocated node-hours (admins only).
    pub unallocated: Option<Unallocated>,
    /// Nodes with an external meter, meter against jobs.
    pub reconciliation: Vec<Reconciliation>,
    /// The calibrations used, by group.
    pub calibrations: Vec<(String, Calibration)>,
    /// Jobs of the period not final in the accounting yet.
    pub not_final_jobs: u64,
    /// The period before, of the same length, when the store has jobs in it.
    pub previous: Option<PeriodTotals>,
    /// Each month's totals, for a report over several months.
    pub trend: Vec<PeriodTotals>,
}

/// A period to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-11`, or `START to END`.
    pub title: String,
    /// First second, epoch seconds.
    pub start: i64,
    /// End (excluded), epoch seconds.
    pub end: i64,
}

/// What a report covers: its period, and the periods it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The period reported on.
    pub period: Period,
    /// The period before (shown as the change of each headline figure).
    pub previous: Option<Period>,
    /// Periods whose totals make the trend (each month of a report over several).
    pub trend: Vec<Period>,
}

/// Another period's totals, beside the report's.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodTotals {
    /// Its title (`2026-10`...).
    pub title: String,
    /// First second, epoch seconds.
    pub start: i64,
    /// End (excluded), epoch seconds.
    pub end: i64,
    /// Its totals.
    pub totals: Totals,
    /// Its jobs not final yet.
    pub not_final_jobs: u64,
}

/// How many heaviest jobs a report lists.
pub const TOP_JOBS: usize = 10;

/// How a report cuts its work into pieces. The pieces change the order of some sums, not
/// what is summed: results agree to rounding, and the same store gives the same report.
#[derive(Debug, Clone, Copy)]
struct Pieces {
    /// Jobs added up by one thread, before the pieces' sums are added in order.
    add_up_jobs: usize,
}

impl Pieces {
    const DEFAULT: Pieces = Pieces {
        add_up_jobs: 65_536,
    };
}

/// A job of the period, as the report keeps it: what its figures need, its groups by number.
///
/// Not an [`ea_sacct::JobRow`] (the one job type) but the fields a report adds up, read from
/// the store's borrowed [`ea_store::read::PeriodRow`]: 320 bytes with its allocation, against the row's
/// 616 plus its strings, for a month's million jobs held at once.
struct PeriodJob {
    id: i64,
    /// Its start, else its submission, else 0: it belongs to periods that end after this.
    first: i64,
    cluster: u32,
    partition: u32,
    account: u32,
    user: u32,
    start: Option<i64>,
    end: Option<i64>,
    elapsed_s: Option<i64>,
    nnodes: Option<u32>,
    ncpus: Option<u32>,
    gpus: Option<u32>,
    req_mem_mb: Option<f64>,
    total_cpu_s: Option<f64>,
    cpu_time_s: Option<f64>,
    /// Whether sacct gave it a node list.
    has_nodes: bool,
    /// That list, kept only where the report reads it (see [`NodeLists`]).
    node_list: Option<Box<str>>,
    /// (energy, min, max, split), boxed: one job in a hundred or so is measured, and the
    /// others then hold 8 bytes for it rather than 40.
    measured: Option<Box<(f64, f64, f64, bool)>>,
    /// Its embodied allocation, as the ingest stored it.
    alloc: Option<stored::PeriodAlloc>,
}

impl PeriodJob {
    /// Whether the job belongs to `[start, end)`, as the store's query selects it.
    fn in_period(&self, start: i64, end: i64) -> bool {
        self.first < end && self.end.is_none_or(|e| e >= start)
    }

    #[cfg(test)]
    fn for_tests() -> Self {
        Self {
            id: 0,
            first: 0,
            cluster: 0,
            partition: 0,
            account: 0,
            user: 0,
            start: None,
            end: None,
            elapsed_s: None,
            nnodes: None,
            ncpus: None,
            gpus: None,
            req_mem_mb: None,
            total_cpu_s: None,
            cpu_time_s: None,
            has_nodes: false,
            node_list: None,
            measured: None,
            alloc: None,
        }
    }

    fn elapsed(&self) -> f64 {
        match (self.elapsed_s, self.start, self.end) {
            (Some(e), _, _) => e.max(0) as f64,
            (None, Some(s), Some(e)) => (e - s).max(0) as f64,
            _ => 0.0,
        }
    }

    /// The fraction of its run inside `[start, end)`; 1 for a job that never ran (counted, with
    /// zero figures).
    fn inside_fraction(&self, start: i64, end: i64) -> f64 {
        match (self.start, self.end) {
            (Some(s), Some(e)) if e > s => {
                let inside = (e.min(end) - s.max(start)).max(0) as f64;
                inside / (e - s) as f64
            }
            _ => 1.0,
        }
    }
}

type RangedImpacts = Ranged<Impacts>;

/// Measured jobs by cluster and JobID: (energy, min, max, split).
type MeasuredMap = FastMap<String, FastMap<String, (f64, f64, f64, bool)>>;

/// Jobs left out as not final: (start or submission, end), to count them per period.
type NotFinal = Vec<(i64, Option<i64>)>;

/// The number of `not_final` jobs in `[start, end)`.
fn not_final_in(not_final: &NotFinal, start: i64, end: i64) -> u64 {
    not_final
        .iter()
        .filter(|(first, e)| *first < end && e.is_none_or(|e| e >= start))
        .count() as u64
}

/// The period's final jobs (every column figures need, read in one scan of the jobs table in
/// store order) and those left out as not final. A store on disk holding more than
/// `split_above` jobs is read by two connections at once, each a half of the table.
fn load_period(
    conn: &rusqlite::Connection,
    start: i64,
    end: i64,
    who: &Identity,
    names: &mut Interner,
    split_above: i64,
    lists: NodeLists<'_>,
) -> rusqlite::Result<(PeriodJobs, NotFinal)> {
    let _p = ea_store::profile::Phase::start("report: read the period's jobs");
    // Measured jobs are few: joined here rather than by SQLite row by row.
    let mut measured: MeasuredMap = FastMap::default();
    ea_store::read::measured_energies(conn, |cluster, job_id, energy| {
        measured.entry(cluster).or_default().insert(job_id, energy);
    })?;
    let with = Joined {
        measured: &measured,
        lists,
    };
    let (lo, hi) = ea_store::read::job_id_range(conn)?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok((PeriodJobs(Vec::new()), Vec::new()));
    };
    let mid = lo + (hi - lo) / 2;
    let second = conn
        .path()
        .filter(|p| !p.is_empty() && hi - lo > split_above)
        .and_then(|p| {
            rusqlite::Connection::open_with_flags(
                p,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .ok()
        });
    let Some(second) = second else {
        let (jobs, not_final) = read_jobs(conn, (lo, hi), start, end, who, &with, names)?;
        return Ok((PeriodJobs(vec![jobs]), not_final));
    };
    let mut names_b = Interner::default();
    let (a, b) = std::thread::scope(|scope| {
        let (with, names_b) = (&with, &mut names_b);
        let other =
            scope.spawn(move || read_jobs(&second, (mid + 1, hi), start, end, who, with, names_b));
        let first = read_jobs(conn, (lo, mid), start, end, who, with, names);
        (
            first,
            other.join().expect("reading half the jobs does not panic"),
        )
    });
    let (jobs, mut not_final) = a?;
    let (mut more, n) = b?;
    // The second half's names, numbered as the first half's.
    let remap: Vec<u32> = names_b.names().iter().map(|n| names.id(n)).collect();
    for j in &mut more {
        j.cluster = remap[j.cluster as usize];
        j.partition = remap[j.partition as usize];
        j.account = remap[j.account as usize];
        j.user = remap[j.user as usize];
        if let Some(a) = &mut j.alloc {
            a.renumber_group(&remap);
        }
    }
    not_final.extend(n);
    Ok((PeriodJobs(vec![jobs, more]), not_final))
}

/// A period's jobs in store order, as they were read: one list, or the two halves that two
/// connections read at once, kept apart (copying the second into the first would hold half a
/// month's jobs twice for a moment: 150 MB of a busy month).
struct PeriodJobs(Vec<Vec<PeriodJob>>);

impl PeriodJobs {
    fn iter(&self) -> impl Iterator<Item = &PeriodJob> {
        self.0.iter().flatten()
    }
}

/// What the jobs read are joined with: the measured energies, and which node lists to keep.
struct Joined<'a> {
    measured: &'a MeasuredMap,
    lists: NodeLists<'a>,
}

/// Which jobs' node lists a report keeps (a month's million would otherwise take tens of MB):
/// every job's when the store has meter series (the reconciliation spreads a job's energy over
/// its nodes), else only those whose use phase is found from their nodes.
#[derive(Clone, Copy)]
struct NodeLists<'a> {
    all: bool,
    inventory: Option<&'a Inventory>,
}

impl NodeLists<'_> {
    fn keep(&self, alloc: Option<&stored::PeriodAlloc>, names: &Interner) -> bool {
        if self.all {
            return true;
        }
        match (self.inventory, alloc) {
            (Some(inventory), Some(a)) => a.groups_from_nodes(inventory, names),
            _ => false,
        }
    }
}

/// The period's final jobs whose store id is in `ids` (inclusive), in id order.
fn read_jobs(
    conn: &rusqlite::Connection,
    ids: (i64, i64),
    start: i64,
    end: i64,
    who: &Identity,
    with: &Joined<'_>,
    names: &mut Interner,
) -> rusqlite::Result<(Vec<PeriodJob>, NotFinal)> {
    // An admin's period is most of the ids: room for all of them at once rather than a list
    // grown (and copied) twenty times over.
    let mut jobs = Vec::with_capacity(if who.admin {
        (ids.1 - ids.0 + 1).clamp(0, 1 << 24) as usize
    } else {
        0
    });
    let mut not_final = Vec::new();
    ea_store::read::period_jobs(conn, ids, start, end, who.restriction(), |row| {
        let r = match row {
            PeriodJobRow::NotFinal { first, end } => {
                not_final.push((first, end));
                return Ok(());
            }
            PeriodJobRow::Final(r) => r,
        };
        let m = with
            .measured
            .get(r.cluster)
            .and_then(|m| m.get(r.job_id))
            .copied();
        let cluster = names.id(r.cluster);
        let user = names.id(r.user.unwrap_or("-"));
        let account = names.id(r.account.unwrap_or("-"));
        let partition = names.id(r.partition.unwrap_or("-"));
        let alloc = r.embodied.map(|e| stored::PeriodAlloc::of(e, names));
        jobs.push(PeriodJob {
            id: r.id,
            first: r.first,
            cluster,
            partition,
            account,
            user,
            start: r.start,
            end: r.end,
            elapsed_s: r.elapsed_s,
            nnodes: r.nnodes,
            ncpus: r.ncpus,
            gpus: r.gpus,
            req_mem_mb: r.req_mem_mb,
            total_cpu_s: r.total_cpu_s,
            cpu_time_s: r.cpu_time_s,
            has_nodes: r.node_list.is_some(),
            node_list: r
                .node_list
                .filter(|_| with.lists.keep(alloc.as_ref(), names))
                .map(Into::into),
            measured: m.map(Box::new),
            alloc,
        });
        Ok(())
    })?;
    Ok((jobs, not_final))
}

/// Builds a report for `[start, end)`, alone.
///
/// # Errors
/// SQLite errors.
pub fn build(
    conn: &rusqlite::Connection,
    title: &str,
    start: i64,
    end: i64,
    who: &Identity,
    clock: &Clock,
    ctx: &FigureContext<'_>,
) -> rusqlite::Result<Report> {
    let period = Period {
        title: title.to_string(),
        start,
        end,
    };
    build_request(conn, &Request::alone(period), who, clock, ctx)
}

/// Builds a report for a request: its period, the previous one and the trend's.
///
/// The jobs of every period are read in one scan; their energies are the stored measurements
/// or the calibrated estimates; their impacts come from the impact engine, which allocates
/// each period at once, a shard of whole nodes at a time (exact: a job's share of a node
/// depends only on the jobs of that node).
///
/// # Errors
/// SQLite errors.
pub fn build_request(
    conn: &rusqlite::Connection,
    request: &Request,
    who: &Identity,
    clock: &Clock,
    ctx: &FigureContext<'_>,
) -> rusqlite::Result<Report> {
    build_in_pieces(conn, request, who, clock, ctx, Pieces::DEFAULT)
}

impl Request {
    /// A report of `period` compared with nothing.
    pub fn alone(period: Period) -> Self {
        Self {
            period,
            previous: None,
            trend: Vec::new(),
        }
    }

    /// From the first start to the last end of its periods.
    fn span(&self) -> (i64, i64) {
        let all = || {
            std::iter::once(&self.period)
                .chain(&self.previous)
                .chain(&self.trend)
        };
        (
            all().map(|p| p.start).min().unwrap_or(self.period.start),
            all().map(|p| p.end).max().unwrap_or(self.period.end),
        )
    }
}

/// What every period of a request is summed with.
struct Env<'a, 'c> {
    conn: &'a rusqlite::Connection,
    who: &'a Identity,
    clock: &'a Clock,
    ctx: &'a FigureContext<'c>,
    names: &'a Interner,
    /// The nodes with meter series in the store.
    sampled: &'a [String],
    cut: Pieces,
}

fn build_in_pieces(
    conn: &rusqlite::Connection,
    request: &Request,
    who: &Identity,
    clock: &Clock,
    ctx: &FigureContext<'_>,
    cut: Pieces,
) -> rusqlite::Result<Report> {
    let (start, end) = request.span();
    let mut names = Interner::default();
    // The nodes with meter series, read once: the reconciliation of every period adds up
    // what the jobs on them were given, which needs those jobs' node lists.
    let sampled = read::sampled_nodes(conn)?;
    let lists = NodeLists {
        all: !sampled.is_empty(),
        inventory: ctx.model.inventory(),
    };
    let (jobs, not_final) = load_period(conn, start, end, who, &mut names, 10_000, lists)?;
    let env = Env {
        conn,
        who,
        clock,
        ctx,
        names: &names,
        sampled: &sampled,
        cut,
    };
    let mut report = period_report(&env, &jobs, &not_final, &request.period)?;
    if let Some(p) = &request.previous {
        let t = period_totals(&env, &jobs, &not_final, p)?;
        report.previous = (t.totals.jobs > 0).then_some(t);
    }
    report.trend = request
        .trend
        .iter()
        .map(|p| period_totals(&env, &jobs, &not_final, p))
        .collect::<rusqlite::Result<_>>()?;
    Ok(report)
}

/// The totals of another period, from the jobs read for the request.
fn period_totals(
    env: &Env<'_, '_>,
    all: &PeriodJobs,
    not_final: &NotFinal,
    p: &Period,
) -> rusqlite::Result<PeriodTotals> {
    let r = period_report(env, all, not_final, p)?;
    Ok(PeriodTotals {
        title: r.title,
        start: r.start,
        end: r.end,
        totals: r.all,
        not_final_jobs: r.not_final_jobs,
    })
}

/// Each (cluster, partition)'s calibration, looked up once for the period's jobs.
type Calibrations = FastMap<(u32, u32), Option<Calibration>>;

fn calibrations_of(env: &Env<'_, '_>, jobs: &[&PeriodJob]) -> Calibrations {
    let names = env.names;
    let mut calibration: Calibrations = FastMap::default();
    for j in jobs {
        calibration
            .entry((j.cluster, j.partition))
            .or_insert_with(|| {
                let partition = names.name(j.partition);
                let partition = (partition != "-").then_some(partition);
                calibration_of(env.ctx, names.name(j.cluster), partition)
            });
    }
    calibration
}

/// Each job's energy: measured, else estimated with its partition's calibration.
fn energies_of(cost: &PieceCost<'_>, jobs: &[&PeriodJob]) -> Vec<Energy> {
    let (names, calibration) = (cost.names, cost.calibrations);
    jobs.par_iter()
        .map(|j| {
            let partition = names.name(j.partition);
            let f = EnergyFields {
                measured: j.measured.as_deref().copied(),
                elapsed_s: j.elapsed(),
                ncpus: j.ncpus,
                total_cpu_s: j.total_cpu_s,
                cpu_time_s: j.cpu_time_s,
                gpus: j.gpus,
                req_mem_mb: j.req_mem_mb,
                partition: (partition != "-").then_some(partition),
            };
            energy_of(&f, cost.estimate, calibration[&(j.cluster, j.partition)])
        })
        .collect()
}

/// A job's figures, the fraction of its run inside the period, and what the report must say
/// of it.
type Figured = (JobFigures, f64, JobNotes);

/// The figures of `chunk`, a piece of the period's jobs, with their energies and impacts.
fn figures_of(
    chunk: &[&PeriodJob],
    energies: &[Energy],
    alloc: &Allocated,
    period: (i64, i64),
) -> Vec<Figured> {
    chunk
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let elapsed = j.elapsed();
            let use_phase = if elapsed > 0.0 {
                alloc.use_phase[i]
            } else {
                None
            };
            let f = job_figures_of(
                energies[i].clone(),
                elapsed,
                j.nnodes,
                j.gpus,
                use_phase,
                alloc.embodied[i],
            );
            let times = (j.start, j.end);
            let n = notes::job_notes(&f, times, j.has_nodes, alloc.engine, alloc.nodes[i]);
            (f, j.inside_fraction(period.0, period.1), n)
        })
        .collect()
}

/// One period's report, from the jobs read for the request.
fn period_report(
    env: &Env<'_, '_>,
    all: &PeriodJobs,
    not_final: &NotFinal,
    p: &Period,
) -> rusqlite::Result<Report> {
    let (start, end) = (p.start, p.end);
    let jobs: Vec<&PeriodJob> = all.iter().filter(|j| j.in_period(start, end)).collect();
    let _p = ea_store::profile::Phase::start("report: figures and sums");
    let calibrations = calibrations_of(env, &jobs);
    let impacts = env
        .ctx
        .model
        .inventory()
        .map(|inv| stored::PeriodImpacts::new(inv, env.names, &jobs, (start, end)));
    let unallocated = impacts.as_ref().map(|i| i.unallocated(&jobs));
    let _sums = ea_store::profile::Phase::start("report: add up");
    let slots = Slots::new(start, end, env.clock);
    let cost = PieceCost {
        names: env.names,
        estimate: env.ctx.estimate,
        calibrations: &calibrations,
        impacts: impacts.as_ref(),
    };
    let (acc, metered) = add_up(env, &jobs, &cost, &slots, (start, end))?;
    let reconciliation = metered.reconciliation(env.conn, start, end)?;
    let top = acc.top_jobs(env.conn, &jobs)?;
    let timeline = slots.timeline(&acc.slot_sums);
    let mut calibrations: Vec<(String, Calibration)> =
        read::calibrations(env.conn)?.into_iter().collect();
    calibrations.sort_by(|a, b| a.0.cmp(&b.0));
    let who = env.who;
    // The unallocated remainder concerns the whole machine: only admins see it.
    let unallocated = if who.admin { unallocated } else { None };
    let (all, by_cluster, by_partition, by_account, by_user) = acc.into_totals();
    Ok(Report {
        title: p.title.clone(),
        start,
        end,
        generated_by: format!("energy-assess {}", env!("CARGO_PKG_VERSION")),
        impacts_provenance: env.ctx.model.provenance(),
        only_user: (!who.admin).then(|| who.user.clone().unwrap_or_else(|| who.uid.to_string())),
        all,
        by_cluster,
        by_partition,
        by_account,
        by_user,
        top_jobs: top,
        timeline,
        unallocated,
        reconciliation,
        calibrations,
        not_final_jobs: not_final_in(not_final, start, end),
        previous: None,
        trend: Vec::new(),
    })
}

/// Jobs of a piece figured at once (their figures are a few hundred bytes each).
const FIGURE_SLICE: usize = 4096;

/// What a piece of the period's jobs needs for its figures: the calibrations of its
/// estimates, and the impacts of the stored allocations (`None`: no inventory).
struct PieceCost<'c> {
    names: &'c Interner,
    estimate: &'c ea_store::config::EstimateSettings,
    calibrations: &'c Calibrations,
    impacts: Option<&'c stored::PeriodImpacts<'c>>,
}

impl PieceCost<'_> {
    /// The figures of `chunk`: energies, impacts, and what the report says of each job.
    fn figures(&self, chunk: &[&PeriodJob], period: (i64, i64)) -> Vec<Figured> {
        let energies = energies_of(self, chunk);
        let alloc = match self.impacts {
            Some(i) => i.of_chunk(chunk, &energies),
            None => Allocated::nothing(chunk.len(), Engine::NoInventory),
        };
        figures_of(chunk, &energies, &alloc, period)
    }
}

/// The period's sums: figures are made a piece of jobs at a time (energies and impacts too,
/// so that a month's million jobs are never all figured at once) and the pieces added up in
/// parallel, each in store order, then the pieces' sums in order: the same store gives the
/// same sums.
fn add_up<'a>(
    env: &Env<'a, '_>,
    jobs: &[&PeriodJob],
    cost: &PieceCost<'_>,
    slots: &'a Slots,
    period: (i64, i64),
) -> rusqlite::Result<(Accumulator<'a>, Metered)> {
    let mut metered = Metered::new(env.sampled);
    let add_up_jobs = env.cut.add_up_jobs;
    let partials: Vec<(Accumulator<'_>, Metered)> = jobs
        .par_chunks(add_up_jobs)
        .enumerate()
        .map(|(c, chunk)| {
            let first = c * add_up_jobs;
            let mut acc = Accumulator::new(env.names, slots);
            let mut m = metered.empty_copy();
            // The piece's jobs are figured a slice at a time and added in their order: the
            // sums are the piece's, and a slice's figures are all that is held at once.
            for (k, slice) in chunk.chunks(FIGURE_SLICE).enumerate() {
                let figs = cost.figures(slice, period);
                acc.add(first + k * FIGURE_SLICE, slice, &figs);
                m.add(slice, &figs);
            }
            (acc, m)
        })
        .collect();
    let mut accs = Vec::with_capacity(partials.len());
    for (a, m) in partials {
        accs.push(a);
        metered.absorb(m);
    }
    // The first piece's sums as they are (one piece gives what one pass gives, bit for bit).
    let acc = accs
        .into_iter()
        .reduce(|mut all, next| {
            all.absorb(next);
            all
        })
        .unwrap_or_else(|| Accumulator::new(env.names, slots));
    Ok((acc, metered))
}

/// Running sums over the period's jobs, in store order, by group number.
struct Accumulator<'a> {
    names: &'a Interner,
    all: Totals,
    clusters: FastMap<u32, Totals>,
    partitions: FastMap<(u32, u32), Totals>,
    accounts: FastMap<u32, Totals>,
    users: FastMap<u32, Totals>,
    slots: &'a Slots,
    slot_sums: Vec<timeline::Sums>,
    /// The heaviest jobs so far: (weight, order seen, job index, figures, fraction inside).
    top: Vec<(f64, u64, usize, JobFigures, f64)>,
}

impl<'a> Accumulator<'a> {
    fn new(names: &'a Interner, slots: &'a Slots) -> Self {
        Self {
            names,
            slot_sums: vec![timeline::Sums::default(); slots.len()],
            slots,
            all: Totals::new("all"),
            clusters: FastMap::default(),
            partitions: FastMap::default(),
            accounts: FastMap::default(),
            users: FastMap::default(),
            top: Vec::new(),
        }
    }

    /// Adds a piece of the period's jobs, the first being the `first`th.
    fn add(&mut self, first: usize, jobs: &[&PeriodJob], figs: &[Figured]) {
        let names = self.names;
        for (k, (j, (f, kf, n))) in jobs.iter().zip(figs).enumerate() {
            let k_in = *kf;
            self.all.add(f, k_in, n);
            self.clusters
                .entry(j.cluster)
                .or_insert_with(|| Totals::new(names.name(j.cluster)))
                .add(f, k_in, n);
            self.partitions
                .entry((j.cluster, j.partition))
                .or_insert_with(|| {
                    Totals::new(&format!(
                        "{}/{}",
                        names.name(j.cluster),
                        names.name(j.partition)
                    ))
                })
                .add(f, k_in, n);
            self.accounts
                .entry(j.account)
                .or_insert_with(|| Totals::new(names.name(j.account)))
                .add(f, k_in, n);
            self.users
                .entry(j.user)
                .or_insert_with(|| Totals::new(names.name(j.user)))
                .add(f, k_in, n);
            timeline::spread(j, f, self.slots, &mut self.slot_sums);
            let weight = f.impacts.as_ref().map_or(f.energy.j * k_in, |im| {
                im.use_phase.value.gwp_kgco2eq * k_in + im.embodied.value.gwp_kgco2eq
            });
            let lightest = self.top.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
            if self.top.len() < TOP_JOBS || weight > lightest {
                let seen = first + k;
                self.top.push((weight, seen as u64, seen, f.clone(), k_in));
                self.top
                    .sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
                self.top.truncate(TOP_JOBS);
            }
        }
    }

    /// Adds the sums of the jobs that follow this accumulator's (the next piece).
    fn absorb(&mut self, o: Accumulator<'a>) {
        fn merge<K: std::hash::Hash + Eq>(into: &mut FastMap<K, Totals>, from: FastMap<K, Totals>) {
            for (k, t) in from {
                match into.get_mut(&k) {
                    Some(mine) => mine.absorb(&t),
                    None => {
                        into.insert(k, t);
                    }
                }
            }
        }
        self.all.absorb(&o.all);
        merge(&mut self.clusters, o.clusters);
        merge(&mut self.partitions, o.partitions);
        merge(&mut self.accounts, o.accounts);
        merge(&mut self.users, o.users);
        for (mine, theirs) in self.slot_sums.iter_mut().zip(&o.slot_sums) {
            mine.absorb(theirs);
        }
        // The heaviest of both, as one pass over all the jobs would keep them.
        self.top.extend(o.top);
        self.top
            .sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        self.top.truncate(TOP_JOBS);
    }

    /// The heaviest jobs, with their names read back from the store.
    fn top_jobs(
        &self,
        conn: &rusqlite::Connection,
        jobs: &[&PeriodJob],
    ) -> rusqlite::Result<Vec<TopJob>> {
        let mut out = Vec::new();
        for (_, _, i, f, k) in &self.top {
            let j = &jobs[*i];
            let (job_id, name) = ea_store::read::job_name(conn, j.id)?;
            let some = |id: u32| {
                let n = self.names.name(id);
                if n == "-" {
                    String::new()
                } else {
                    n.to_string()
                }
            };
            out.push(TopJob {
                cluster: self.names.name(j.cluster).to_string(),
                job_id,
                user: some(j.user),
                account: some(j.account),
                partition: some(j.partition),
                name: name.unwrap_or_default(),
                node_hours: f.node_hours * k,
                energy_j: f.energy.j * k,
                source: f.energy.source,
                gwp: f.impacts.as_ref().map(|i| {
                    let (u, e) = (i.use_phase, i.embodied);
                    Ranged::new(
                        u.value.gwp_kgco2eq * k + e.value.gwp_kgco2eq,
                        u.min.gwp_kgco2eq * k + e.min.gwp_kgco2eq,
                        u.max.gwp_kgco2eq * k + e.max.gwp_kgco2eq,
                    )
                }),
            });
        }
        Ok(out)
    }

    /// The totals: all, then per cluster, partition, account and user, in name order.
    fn into_totals(self) -> (Totals, Vec<Totals>, Vec<Totals>, Vec<Totals>, Vec<Totals>) {
        let names = self.names;
        let sorted = |m: FastMap<u32, Totals>| {
            let mut v: Vec<(u32, Totals)> = m.into_iter().collect();
            v.sort_by(|a, b| names.name(a.0).cmp(names.name(b.0)));
            v.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
        };
        let mut partitions: Vec<((u32, u32), Totals)> = self.partitions.into_iter().collect();
        partitions.sort_by(|a, b| {
            (names.name(a.0.0), names.name(a.0.1)).cmp(&(names.name(b.0.0), names.name(b.0.1)))
        });
        (
            self.all,
            sorted(self.clusters),
            partitions.into_iter().map(|(_, t)| t).collect(),
            sorted(self.accounts),
            sorted(self.users),
        )
    }
}

/// Nodes with an external meter series: their meter's energy over the period against the
/// energy of the period's jobs on them (each job's energy divided evenly between its nodes).
struct Metered(BTreeMap<String, f64>);

impl Metered {
    fn new(nodes: &[String]) -> Self {
        Self(nodes.iter().map(|n| (n.clone(), 0.0)).collect())
    }

    /// The same nodes, nothing added yet.
    fn empty_copy(&self) -> Self {
        Self(self.0.keys().map(|n| (n.clone(), 0.0)).collect())
    }

    /// Adds what another piece of the jobs gave the same nodes.
    fn absorb(&mut self, o: Metered) {
        for (n, v) in o.0 {
            if let Some(mine) = self.0.get_mut(&n) {
                *mine += v;
            }
        }
    }

    fn add(&mut self, jobs: &[&PeriodJob], figs: &[Figured]) {
        if self.0.is_empty() {
            return;
        }
        for (j, (f, k, _)) in jobs.iter().zip(figs) {
            let Some(list) = j.node_list.as_deref() else {
                continue;
            };
            let Ok(expanded) = ea_record::hostlist::expand(list) else {
                continue;
            };
            let per = f.energy.j * k / expanded.len().max(1) as f64;
            for n in &expanded {
                if let Some(v) = self.0.get_mut(n.as_str()) {
                    *v += per;
                }
            }
        }
    }

    fn reconciliation(
        self,
        conn: &rusqlite::Connection,
        start: i64,
        end: i64,
    ) -> rusqlite::Result<Vec<Reconciliation>> {
        let mut out = Vec::new();
        for (n, jobs_j) in self.0 {
            let s = read::power_samples(
                conn,
                &n,
                start as f64 - wattmeter::MAX_GAP_S,
                end as f64 + wattmeter::MAX_GAP_S,
            )?;
            let (meter_j, coverage) = wattmeter::integrate(&s, start as f64, end as f64);
            if coverage > 0.0 {
                out.push(Reconciliation {
                    node: n,
                    meter_j,
                    coverage,
                    jobs_j,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ea_ingest::{self as ingest, Inputs, Settings};
    use ea_synth::{self as synth, Params};

    /// A synthetic month of `n` jobs (a fifth assessed) ingested into a store in `dir`, with
    /// the synthetic machine's inventory when `inventory`: the store's path and the month.
    pub(super) fn month_store(
        dir: &std::path::Path,
        n: u64,
        inventory: bool,
    ) -> (std::path::PathBuf, Params) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let p = Params {
            jobs: n,
            assessed: 0.2,
            seed: 4,
            ..Default::default()
        };
        let jobs = synth::jobs(&p);
        synth::write_dump(
            &p,
            &jobs,
            &mut std::fs::File::create(dir.join("d.txt")).unwrap(),
        )
        .unwrap();
        synth::write_records(&p, &jobs, &dir.join("spool")).unwrap();
        std::fs::write(dir.join("inventory.toml"), synth::inventory_toml(&p)).unwrap();
        let db = dir.join("s.sqlite");
        let (mut store, _) = ea_store::Store::open_for_write(&db, &Default::default()).unwrap();
        let settings = Settings {
            cluster: "synth".into(),
            clock: Clock::fixed(jiff::tz::TimeZone::UTC, p.month_start + 40 * 86_400),
            estimate: Default::default(),
            record_grace_s: 1800,
            progress: false,
            inventory: inventory.then(|| {
                std::sync::Arc::new(
                    ea_impact::Inventory::load(&dir.join("inventory.toml")).unwrap(),
                )
            }),
        };
        let inputs = Inputs {
            sacct: vec![dir.join("d.txt")],
            spools: vec![dir.join("spool")],
            ..Default::default()
        };
        ingest::ingest(&mut store, &inputs, &settings).unwrap();
        (db, p)
    }

    /// Numbers within a relative 1e-9 of each other, everything else equal.
    fn assert_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-300,
                    "{at}: {x} against {y}"
                );
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}: lengths");
                for (k, (x, y)) in x.iter().zip(y).enumerate() {
                    assert_close(x, y, &format!("{at}[{k}]"));
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}"
                );
                for (k, v) in x {
                    assert_close(v, &y[k], &format!("{at}.{k}"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    pub(super) fn admin() -> Identity {
        Identity {
            uid: 0,
            user: Some("root".into()),
            groups: Vec::new(),
            admin: true,
            setgid: false,
        }
    }

    /// A synthetic month in a store, and what reports of it are computed with.
    pub(super) struct Month {
        dir: std::path::PathBuf,
        pub store: ea_store::Store,
        model: Box<dyn crate::figures::ImpactModel>,
        calibrations: std::collections::HashMap<String, Calibration>,
        estimate: ea_store::config::EstimateSettings,
        pub clock: Clock,
        pub p: Params,
    }

    impl Month {
        /// A month of `n` jobs under a directory named after `tag`.
        pub fn new(tag: &str, n: u64, inventory: bool) -> Self {
            let dir = std::env::temp_dir().join(format!("ea-report-{tag}-{}", std::process::id()));
            let (db, p) = month_store(&dir, n, inventory);
            let store = ea_store::Store::open_read(&db).unwrap();
            let model: Box<dyn crate::figures::ImpactModel> = if inventory {
                Box::new(crate::impacts::Engine::load(&dir.join("inventory.toml")).unwrap())
            } else {
                Box::new(crate::figures::NoInventory)
            };
            let calibrations = read::calibrations(&store.conn)
                .unwrap()
                .into_iter()
                .collect();
            let clock = Clock::fixed(jiff::tz::TimeZone::UTC, p.month_start + 40 * 86_400);
            Self {
                dir,
                store,
                model,
                calibrations,
                estimate: Default::default(),
                clock,
                p,
            }
        }

        /// `[start + a days, start + b days)` of the month.
        pub fn days(&self, title: &str, a: i64, b: i64) -> Period {
            Period {
                title: title.into(),
                start: self.p.month_start + a * 86_400,
                end: self.p.month_start + b * 86_400,
            }
        }

        pub fn build(&self, request: &Request, cut: Pieces) -> Report {
            let ctx = FigureContext {
                estimate: &self.estimate,
                calibrations: &self.calibrations,
                model: self.model.as_ref(),
            };
            build_in_pieces(&self.store.conn, request, &admin(), &self.clock, &ctx, cut).unwrap()
        }

        /// The whole month, alone.
        pub fn report(&self) -> Report {
            self.build(&Request::alone(self.days("m", 0, 30)), Pieces::DEFAULT)
        }
    }

    impl Drop for Month {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_report_cut_in_small_pieces_agrees_with_one_cut_in_none() {
        let m = Month::new("pieces", 3000, true);
        let request = Request::alone(m.days("m", 0, 30));
        let report = |cut: Pieces| render::to_json(&m.build(&request, cut), &m.clock);
        let whole = report(Pieces {
            add_up_jobs: usize::MAX,
        });
        // Shards of 400 pairs, sums of 300 jobs, pairs added by two threads above 64: every
        // path that cuts work in two is taken, many times.
        let pieces = report(Pieces { add_up_jobs: 300 });
        assert_eq!(whole["all"]["jobs"], 3000);
        assert_eq!(whole["all"]["jobs_without_impacts"], 0, "{}", whole["all"]);
        assert!(
            whole["all"]["embodied"]["gwp_kgco2eq"]["value"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert_eq!(whole["timeline"]["slots"].as_array().unwrap().len(), 30);
        assert_close(&whole, &pieces, "report");
        // Pieces of the default size: the same as one piece at this size, byte for byte.
        assert_eq!(report(Pieces::DEFAULT), whole);
    }

    #[test]
    fn periods_built_together_give_what_each_gives_alone() {
        let m = Month::new("together", 1500, true);
        let (first, second) = (m.days("a", 0, 15), m.days("b", 15, 30));
        let request = Request {
            period: m.days("m", 0, 30),
            previous: Some(first.clone()),
            trend: vec![first.clone(), second.clone()],
        };
        let together = m.build(&request, Pieces::DEFAULT);
        let alone = |p: &Period| m.build(&Request::alone(p.clone()), Pieces::DEFAULT);
        let (a, b) = (alone(&first), alone(&second));
        assert_eq!(together.previous.as_ref().unwrap().totals, a.all);
        assert_eq!(together.trend[0].totals, a.all);
        assert_eq!(together.trend[1].totals, b.all);
        // The month itself is as it is alone.
        let month = m.report();
        assert_eq!(
            render::to_json(&together, &m.clock)["all"],
            render::to_json(&month, &m.clock)["all"]
        );
        // Jobs crossing the cut count in both halves for their part inside each.
        let (t, x, y) = (&month.all, &a.all, &b.all);
        assert!(x.jobs + y.jobs > t.jobs && x.jobs < t.jobs);
        let close = |u: f64, v: f64| (u - v).abs() <= 1e-9 * u.abs().max(v.abs());
        assert!(close(x.energy_j() + y.energy_j(), t.energy_j()));
        assert!(close(x.node_hours + y.node_hours, t.node_hours));
        let gwp = |t: &Totals| t.total().value.gwp_kgco2eq;
        assert!(
            close(gwp(x) + gwp(y), gwp(t)),
            "{} + {} against {}",
            gwp(x),
            gwp(y),
            gwp(t)
        );
    }

    #[test]
    fn a_previous_period_without_jobs_is_left_out() {
        let m = Month::new("previous", 200, true);
        let request = Request {
            period: m.days("m", 0, 30),
            previous: Some(m.days("before", -30, 0)),
            trend: Vec::new(),
        };
        let r = m.build(&request, Pieces::DEFAULT);
        assert_eq!(r.previous, None);
        assert_eq!(r.all.jobs, 200);
    }

    #[test]
    fn without_an_inventory_every_job_that_ran_says_why_it_has_no_impacts() {
        let m = Month::new("no-inventory", 300, false);
        let r = m.report();
        let t = &r.all;
        assert_eq!(t.jobs, 300);
        let never = t.jobs_never_ran;
        assert_eq!(t.jobs_without_impacts, 300 - never);
        assert_eq!(
            t.without_impacts.get(notes::NoImpacts::NoInventory),
            300 - never
        );
        assert_eq!(t.oversubscribed, Oversubscribed::default());
        assert!(!t.has_impacts());
        assert!(r.unallocated.is_none());
    }

    #[test]
    fn the_timeline_adds_up_to_the_totals() {
        let m = Month::new("timeline", 800, true);
        let r = m.report();
        let slots = &r.timeline.slots;
        assert_eq!((r.timeline.step, slots.len()), (timeline::Step::Day, 30));
        let sum = |f: fn(&timeline::Sums) -> f64| slots.iter().map(|s| f(&s.sums)).sum::<f64>();
        let close = |u: f64, v: f64| (u - v).abs() <= 1e-9 * u.abs().max(v.abs());
        assert!(close(sum(|s| s.measured_j), r.all.energy_measured_j));
        assert!(close(sum(|s| s.estimated_j), r.all.energy_estimated_j));
        assert!(close(sum(|s| s.energy_max_j), r.all.energy_max_j));
        let gwp = r.all.total();
        assert!(close(sum(|s| s.gwp_kg), gwp.value.gwp_kgco2eq));
        assert!(close(sum(|s| s.gwp_min_kg), gwp.min.gwp_kgco2eq));
        // Two days of it are shown hour by hour.
        let short = m.build(&Request::alone(m.days("d", 3, 5)), Pieces::DEFAULT);
        assert_eq!(
            (short.timeline.step, short.timeline.slots.len()),
            (timeline::Step::Hour, 48)
        );
    }

    #[test]
    fn reading_a_period_in_two_halves_gives_the_same_jobs() {
        let m = Month::new("halves", 3000, true);
        let (store, admin) = (&m.store, admin());
        let (a, b) = (m.p.month_start, m.p.month_start + 30 * 86_400);
        let lists = NodeLists {
            all: false,
            inventory: m.model.inventory(),
        };
        let read = |split_above: i64| {
            let mut names = Interner::default();
            let (jobs, not_final) =
                load_period(&store.conn, a, b, &admin, &mut names, split_above, lists).unwrap();
            let rows: Vec<String> = jobs
                .iter()
                .map(|j| {
                    format!(
                        "{} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
                        j.id,
                        names.name(j.cluster),
                        names.name(j.partition),
                        names.name(j.account),
                        names.name(j.user),
                        j.start,
                        j.end,
                        j.node_list,
                        j.measured,
                        j.alloc
                            .as_ref()
                            .and_then(|a| a.group())
                            .map(|g| names.name(g)),
                    )
                })
                .collect();
            (rows, not_final)
        };
        let one = read(i64::MAX);
        let two = read(0);
        assert_eq!(one.0.len(), 3000);
        assert!(
            one.0.iter().any(|r| r.contains("Some((")),
            "measured jobs are joined"
        );
        assert!(
            one.0.iter().any(|r| !r.ends_with(" None")),
            "allocated jobs name their inventory group"
        );
        assert_eq!(one, two);
    }
}
