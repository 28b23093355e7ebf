//! The embodied allocation, at ingest: every job that touched a node is charged its share of
//! the node's embodied impact, with all the node's other jobs in view, and the figure is stored
//! with the job (`job_embodied`). Queries and reports read it, so a job has one figure
//! whatever is asked around it.
//!
//! - **Everything** is allocated again when the inventory, the engine, the site's time zone
//!   (which cuts months) or the unallocated policy changed, when the run filled an empty store
//!   or wrote too many jobs to follow ([`Touched::LIMIT`]), and always under the `spread`
//!   policy (a node's whole month goes to its jobs, so one late job changes them all).
//! - **Otherwise only what the run touched**: the jobs it wrote and every job that shared one
//!   of their nodes while they ran (their shares changed), computed over every job that shared
//!   a node with *those* while they ran, which is what their figures depend on. A month
//!   already stored is not redone for one late job.
//!
//! Each job is cut at the site's month boundaries, so that a report's month holds exactly the
//! parts of its jobs that lie in it.

use super::derive::{Touched, TouchedJob, Window};
use super::{IngestError, Settings};
use ea_impact::allocation::batch::{
    self as charge, Batch, BatchJob, JobEmbodied, OUTSIDE, charge_embodied,
};
use ea_impact::{Held, Inventory, UnallocatedPolicy};
use ea_sacct::fastmap::{FastMap, Interner};
use ea_sacct::timefmt::Clock;
use ea_store::embodied::{self, MonthPart, StoredEmbodied};
use ea_store::read::AllocationSpan;
use rayon::prelude::*;
use rusqlite::Connection;

/// Bumped when what is stored changes meaning, so that the next ingest allocates everything.
const ALLOCATION_VERSION: u32 = 1;

/// The most months one job may span (a bound against garbage times).
const MAX_MONTHS: usize = 1200;

/// What the allocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Jobs whose figures were (re)computed and stored.
    pub jobs: u64,
    /// Jobs looked at to compute them (their node neighbours).
    pub context: u64,
    /// Whether every job was allocated again.
    pub everything: bool,
}

/// What the stored figures were computed with; a change allocates everything again.
fn provenance(inventory: &Inventory, clock: &Clock) -> String {
    format!(
        "ea-impact {} allocation {ALLOCATION_VERSION} inventory {} share {} unallocated {} tz {}",
        super::ea_impact_version(),
        inventory.sha256,
        inventory.site.share_rule.as_str(),
        inventory.site.unallocated.as_str(),
        clock.tz.iana_name().unwrap_or("fixed")
    )
}

use ea_store::meta::{set as set_meta, value as meta};

/// Allocates what the run touched (or everything; see the module's doc) and stores it.
///
/// # Errors
/// SQLite errors.
pub fn run(
    conn: &Connection,
    window: &Window,
    settings: &Settings,
    jobs_deleted: bool,
) -> Result<Outcome, IngestError> {
    let Some(inventory) = settings.inventory.as_deref() else {
        // Nothing is known of the nodes: no job has an embodied figure.
        embodied::delete_all(conn)?;
        // Nor is the longest job's run kept up to date, which the split reads (derive.rs).
        ea_store::meta::delete_allocation(conn)?;
        return Ok(Outcome::default());
    };
    let _p = ea_store::profile::Phase::start("allocate embodied");
    let key = provenance(inventory, &settings.clock);
    let touched = window.touched();
    let everything = meta(conn, "allocation")?.as_deref() != Some(key.as_str())
        || touched.everything
        || inventory.site.unallocated == UnallocatedPolicy::Spread;
    if jobs_deleted {
        embodied::delete_orphans(conn)?;
    }
    let outcome = if everything {
        allocate_everything(conn, inventory, &settings.clock)?
    } else if touched.jobs.is_empty() {
        Outcome::default()
    } else {
        allocate_touched(conn, inventory, &settings.clock, touched)?
    };
    set_meta(conn, "allocation", &key)?;
    Ok(outcome)
}

/// A job as the allocation reads it from the store.
#[derive(Debug, Clone)]
struct Loaded {
    cluster: u32,
    /// `jobs.id`.
    row: i64,
    start: i64,
    end: i64,
    node_list: Box<str>,
    held_total: (Option<u32>, Option<u32>, Option<f64>),
}

impl Loaded {
    /// A job of the store's `allocation_jobs`, in cluster `cluster` (interned).
    fn of(cluster: u32, r: ea_store::read::AllocationJob) -> Self {
        Loaded {
            cluster,
            row: r.row,
            start: r.start,
            end: r.end,
            node_list: r.node_list.into(),
            held_total: (r.ncpus, r.gpus, r.req_mem_mb),
        }
    }
}

fn load(
    conn: &Connection,
    clusters: &mut Interner,
    span: AllocationSpan,
) -> rusqlite::Result<Vec<Loaded>> {
    let mut out = Vec::new();
    ea_store::read::allocation_jobs(conn, span, |cluster, r| {
        out.push(Loaded::of(clusters.id(cluster), r));
    })?;
    Ok(out)
}

/// The jobs that ran over part of `[lo, hi)`, none longer than `longest` seconds.
fn overlapping(lo: i64, hi: i64, longest: i64) -> AllocationSpan {
    AllocationSpan::Around {
        from: lo - longest,
        to: hi,
        ended_after: lo,
    }
}

/// A job's nodes as inventory ids (`None`: a node list that does not expand).
fn node_ids(inventory: &Inventory, node_list: &str) -> Option<Vec<u32>> {
    let mut ids = Vec::new();
    ea_record::hostlist::for_each_node(node_list, |n| {
        ids.push(inventory.node_index(n).unwrap_or(OUTSIDE));
    });
    (!ids.is_empty()).then_some(ids)
}

/// A job with its node list expanded: what the allocation needs of it.
#[derive(Debug, Clone, Copy)]
struct Job {
    cluster: u32,
    /// `jobs.id`.
    row: i64,
    start: i64,
    end: i64,
    held_total: (Option<u32>, Option<u32>, Option<f64>),
}

impl Job {
    fn of(j: &Loaded) -> Self {
        Self {
            cluster: j.cluster,
            row: j.row,
            start: j.start,
            end: j.end,
            held_total: j.held_total,
        }
    }
}

/// Jobs with their nodes as inventory ids, in compressed rows (the nodes of job `i` are
/// `nodes[offsets[i]..offsets[i + 1]]`): a month's 25 million ids in one array rather than a
/// million small ones.
#[derive(Debug, Clone)]
struct Resolved {
    jobs: Vec<Job>,
    offsets: Vec<u32>,
    nodes: Vec<u32>,
}

impl Default for Resolved {
    fn default() -> Self {
        Self {
            jobs: Vec::new(),
            offsets: vec![0],
            nodes: Vec::new(),
        }
    }
}

impl Resolved {
    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn nodes_of(&self, i: usize) -> &[u32] {
        &self.nodes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Appends `o`'s jobs after these.
    fn append(&mut self, mut o: Resolved) {
        let base = *self.offsets.last().unwrap_or(&0);
        self.jobs.append(&mut o.jobs);
        self.offsets.extend(o.offsets[1..].iter().map(|&x| {
            base.checked_add(x)
                .expect("fewer than 4 billion job-node pairs")
        }));
        self.nodes.append(&mut o.nodes);
    }
}

/// Jobs per slice that one thread expands.
const RESOLVE_SLICE: usize = 2048;

/// Jobs with their nodes resolved, in parallel and in order; jobs whose node list does not
/// expand are left out (they have no figure).
fn resolve(inventory: &Inventory, jobs: &[Loaded]) -> Resolved {
    let parts: Vec<Resolved> = jobs
        .par_chunks(RESOLVE_SLICE)
        .map(|slice| {
            let mut part = Resolved::default();
            for j in slice {
                let before = part.nodes.len();
                ea_record::hostlist::for_each_node(&j.node_list, |n| {
                    part.nodes.push(inventory.node_index(n).unwrap_or(OUTSIDE));
                });
                if part.nodes.len() == before {
                    continue;
                }
                part.jobs.push(Job::of(j));
                part.offsets.push(part.nodes.len() as u32);
            }
            part
        })
        .collect();
    let mut out = Resolved::default();
    out.jobs.reserve(parts.iter().map(Resolved::len).sum());
    out.nodes.reserve(parts.iter().map(|p| p.nodes.len()).sum());
    out.offsets.reserve(out.jobs.capacity());
    for p in parts {
        out.append(p);
    }
    out
}

/// Jobs read from the store before they are handed to the thread that expands their nodes.
const LOAD_CHUNK: usize = 32 * 1024;

/// [`load`] and [`resolve`] at once: the store is read on this thread while another expands
/// the node lists read so far, so that a month's million node lists are never held at once.
fn load_resolved(
    conn: &Connection,
    inventory: &Inventory,
    clusters: &mut Interner,
    span: AllocationSpan,
) -> rusqlite::Result<Resolved> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Loaded>>(2);
        let worker = s.spawn(move || {
            let mut out = Resolved::default();
            for chunk in rx {
                out.append(resolve(inventory, &chunk));
            }
            out
        });
        let mut chunk = Vec::with_capacity(LOAD_CHUNK);
        let read = ea_store::read::allocation_jobs(conn, span, |cluster, r| {
            chunk.push(Loaded::of(clusters.id(cluster), r));
            if chunk.len() == LOAD_CHUNK {
                // The worker only stops early by panicking, which the join below reports.
                let _ = tx.send(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(LOAD_CHUNK),
                ));
            }
        });
        if !chunk.is_empty() {
            let _ = tx.send(chunk);
        }
        drop(tx);
        let out = match worker.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        read.map(|()| out)
    })
}

/// Jobs whose figures are turned into rows and written together: what is held at once.
const WRITE_CHUNK: usize = 16 * 1024;

/// A cluster's batch of jobs and the months it is charged over.
type ClusterBatch = (Batch, Vec<(i64, i64)>);

/// Each cluster's batch and months, and where each job is in them (batch, index), in the
/// order of `jobs`. The jobs' node ids are moved into the batches.
fn batches_by_cluster(clock: &Clock, jobs: &mut Resolved) -> (Vec<ClusterBatch>, Vec<(u32, u32)>) {
    let mut by_cluster: FastMap<u32, Vec<usize>> = FastMap::default();
    for (i, j) in jobs.jobs.iter().enumerate() {
        by_cluster.entry(j.cluster).or_default().push(i);
    }
    // Each cluster's batch, its months, and where each job is in it.
    let mut place = vec![(0u32, 0u32); jobs.len()];
    let mut batches = Vec::with_capacity(by_cluster.len());
    let single = by_cluster.len() == 1;
    for (slot, members) in by_cluster.into_values().enumerate() {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut batch_jobs = Vec::with_capacity(members.len());
        for (k, &i) in members.iter().enumerate() {
            let j = &jobs.jobs[i];
            let (c, g, m) = j.held_total;
            let held = Held::divided(c, g, m, jobs.nodes_of(i).len() as u32);
            batch_jobs.push(BatchJob {
                start: j.start,
                end: j.end,
                held,
            });
            place[i] = (slot as u32, k as u32);
            (lo, hi) = (lo.min(j.start), hi.max(j.end));
        }
        let batch = if single {
            // Every job, in order: the rows are the batch's as they are.
            let offsets = std::mem::take(&mut jobs.offsets);
            let nodes = std::mem::take(&mut jobs.nodes);
            Batch::from_rows(batch_jobs, offsets, nodes)
        } else {
            let pairs: usize = members.iter().map(|&i| jobs.nodes_of(i).len()).sum();
            let mut batch = Batch::with_capacity(members.len(), pairs);
            for (job, &i) in batch_jobs.into_iter().zip(&members) {
                batch.push(job, jobs.nodes_of(i).iter().copied());
            }
            batch
        };
        let months = clock
            .months_covering(lo, hi, MAX_MONTHS)
            .unwrap_or_else(|| vec![(lo, hi)]);
        batches.push((batch, months));
    }
    jobs.nodes = Vec::new();
    jobs.offsets = Vec::new();
    (batches, place)
}

/// Allocates `jobs` (each cluster's on its own: node names are a cluster's) and hands `each`
/// the figures of those `keep` selects, in ascending `jobs.id`, a slice at a time.
/// The jobs' node ids are moved into the batches: `jobs.nodes` is empty afterwards.
fn allocate(
    inventory: &Inventory,
    clock: &Clock,
    jobs: &mut Resolved,
    keep: impl Fn(usize) -> bool + Sync,
    mut each: impl FnMut(&[(i64, StoredEmbodied)]) -> rusqlite::Result<()>,
) -> Result<(), IngestError> {
    let (batches, place) = batches_by_cluster(clock, jobs);
    let phase = ea_store::profile::Phase::start("allocate: sweep");
    let swept = batches
        .iter()
        .map(|(batch, months)| charge::sweep(inventory, batch, months))
        .collect::<Result<Vec<_>, _>>()
        .map_err(IngestError::from)?;
    drop(phase);
    let _p = ea_store::profile::Phase::start("allocate: figures and write");
    // In key order, so that the table's B-tree is appended to rather than split.
    let mut order: Vec<u32> = (0..jobs.len() as u32)
        .filter(|&i| keep(i as usize))
        .collect();
    if !order.is_sorted_by_key(|&i| jobs.jobs[i as usize].row) {
        order.par_sort_unstable_by_key(|&i| jobs.jobs[i as usize].row);
    }
    let figures = |slice: &[u32]| -> Vec<(i64, StoredEmbodied)> {
        slice
            .par_iter()
            .map(|&i| {
                let (slot, k) = place[i as usize];
                let e = swept[slot as usize].job(k as usize);
                let j = &jobs.jobs[i as usize];
                (j.row, stored(inventory, j, e, &batches[slot as usize].1))
            })
            .collect()
    };
    // The next slice's figures are computed while this one is written.
    std::thread::scope(|s| -> Result<(), IngestError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(i64, StoredEmbodied)>>(1);
        let figures = &figures;
        let order = &order;
        let producer = s.spawn(move || {
            for slice in order.chunks(WRITE_CHUNK) {
                if tx.send(figures(slice)).is_err() {
                    break;
                }
            }
        });
        let mut written = Ok(());
        for chunk in rx.iter() {
            written = each(&chunk);
            if written.is_err() {
                break;
            }
        }
        drop(rx);
        if let Err(panic) = producer.join() {
            std::panic::resume_unwind(panic);
        }
        written.map_err(IngestError::from)
    })
}

fn stored(
    inventory: &Inventory,
    job: &Job,
    e: JobEmbodied,
    months: &[(i64, i64)],
) -> StoredEmbodied {
    let parts = if e.periods.len() > 1 {
        e.periods
            .iter()
            .map(|p| MonthPart {
                month: months[p.period as usize].0,
                charged_h: p.charged_node_hours,
                embodied: p.embodied,
            })
            .collect()
    } else {
        Vec::new()
    };
    StoredEmbodied {
        start: job.start,
        end: job.end,
        inside: e.inside,
        outside: e.outside,
        group: e.group.map(|g| inventory.groups[g as usize].name.clone()),
        held_h: e.held_node_hours,
        charged_h: e.charged_node_hours,
        embodied: e.embodied,
        flags: e.flags,
        months: parts,
    }
}

/// Writes a slice of figures.
fn write(conn: &Connection, figures: &[(i64, StoredEmbodied)]) -> rusqlite::Result<u64> {
    embodied::write(conn, figures.iter().map(|(row, e)| (*row, e)))
}

fn allocate_everything(
    conn: &Connection,
    inventory: &Inventory,
    clock: &Clock,
) -> Result<Outcome, IngestError> {
    let mut clusters = Interner::default();
    let phase = ea_store::profile::Phase::start("allocate: load jobs and nodes");
    let mut jobs = load_resolved(conn, inventory, &mut clusters, AllocationSpan::All)?;
    drop(phase);
    let longest = jobs.jobs.iter().map(|j| j.end - j.start).max().unwrap_or(0);
    let _p = ea_store::profile::Phase::start("allocate: charge and write");
    embodied::delete_all(conn)?;
    let mut n = 0;
    allocate(
        inventory,
        clock,
        &mut jobs,
        |_| true,
        |figures| {
            n += write(conn, figures)?;
            Ok(())
        },
    )?;
    set_meta(conn, "allocation_longest_s", &longest.to_string())?;
    Ok(Outcome {
        jobs: n,
        context: jobs.len() as u64,
        everything: true,
    })
}

/// A job's allocation as if no other job had shared its nodes: for a job not ingested yet
/// (`energy-assess job` from its records), whose neighbours are not known. `None` without
/// start, end or an expandable node list.
///
/// # Errors
/// The engine's, should it refuse the job's one period.
pub fn alone(
    inventory: &Inventory,
    job: &ea_sacct::JobRow,
) -> Result<Option<StoredEmbodied>, ea_impact::AllocationError> {
    let (Some(start), Some(end)) = (job.start, job.end) else {
        return Ok(None);
    };
    if end <= start {
        return Ok(None);
    }
    let alone = Job {
        cluster: 0,
        row: 0,
        start,
        end,
        held_total: (job.ncpus, job.gpus, job.req_mem_mb),
    };
    let Some(nodes) = job
        .node_list
        .as_deref()
        .and_then(|l| node_ids(inventory, l))
    else {
        return Ok(None);
    };
    let (c, g, m) = alone.held_total;
    let mut batch = Batch::default();
    let held = Held::divided(c, g, m, nodes.len() as u32);
    batch.push(BatchJob { start, end, held }, nodes);
    let charged = charge_embodied(inventory, &batch, &[(start, end)])?.pop();
    Ok(charged.map(|e| stored(inventory, &alone, e, &[(start, end)])))
}

/// Where the run's jobs were: per node, the intervals of the jobs it wrote there; and the
/// intervals of jobs whose earlier placement is not known (they moved), which concern every
/// node.
#[derive(Debug, Default)]
struct Spans {
    by_node: FastMap<(u32, u32), Vec<(i64, i64)>>,
    anywhere: Vec<(u32, i64, i64)>,
    hull: Option<(i64, i64)>,
}

impl Spans {
    fn add_hull(&mut self, s: i64, e: i64) {
        self.hull = Some(match self.hull {
            None => (s, e),
            Some((a, b)) => (a.min(s), b.max(e)),
        });
    }

    fn overlaps(&self, j: &Job, nodes: &[u32]) -> bool {
        let hit = |&(s, e): &(i64, i64)| j.start < e && s < j.end;
        self.anywhere
            .iter()
            .any(|&(c, s, e)| c == j.cluster && hit(&(s, e)))
            || nodes.iter().any(|&n| {
                n != OUTSIDE
                    && self
                        .by_node
                        .get(&(j.cluster, n))
                        .is_some_and(|v| v.iter().any(hit))
            })
    }
}

fn spans_of(
    conn: &Connection,
    inventory: &Inventory,
    clusters: &mut Interner,
    touched: &[TouchedJob],
) -> rusqlite::Result<Spans> {
    let mut spans = Spans::default();
    for t in touched {
        let c = clusters.id(&t.cluster);
        // Where it was allocated before, if its interval changed: nodes unknown, so every node.
        if let Some((s, e)) = embodied::interval_of(conn, &t.cluster, &t.job_id)?
            && (Some(s), Some(e)) != (t.start, t.end)
        {
            spans.anywhere.push((c, s, e));
            spans.add_hull(s, e);
        }
        let (Some(s), Some(e), Some(list)) = (t.start, t.end, &t.node_list) else {
            continue;
        };
        if e <= s {
            continue;
        }
        spans.add_hull(s, e);
        match node_ids(inventory, list) {
            Some(nodes) => {
                for n in nodes.into_iter().filter(|&n| n != OUTSIDE) {
                    spans.by_node.entry((c, n)).or_default().push((s, e));
                }
            }
            None => spans.anywhere.push((c, s, e)),
        }
    }
    Ok(spans)
}

fn allocate_touched(
    conn: &Connection,
    inventory: &Inventory,
    clock: &Clock,
    touched: &Touched,
) -> Result<Outcome, IngestError> {
    let mut clusters = Interner::default();
    let spans = spans_of(conn, inventory, &mut clusters, &touched.jobs)?;
    let stored_longest: i64 = meta(conn, "allocation_longest_s")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let touched_longest = touched
        .jobs
        .iter()
        .filter_map(|t| Some(t.end? - t.start?))
        .max()
        .unwrap_or(0);
    let longest = stored_longest.max(touched_longest);
    for t in &touched.jobs {
        embodied::delete(conn, &t.cluster, &t.job_id)?;
    }
    let Some((lo, hi)) = spans.hull else {
        return Ok(Outcome::default());
    };
    // The affected jobs overlap the spans; what they depend on overlaps them. Each is read
    // with the store's (start, end) index, in two reads: the hull of the affected is
    // narrower than the spans widened by the longest job on both sides.
    let phase = ea_store::profile::Phase::start("allocate: affected jobs");
    let near = resolve(
        inventory,
        &load(conn, &mut clusters, overlapping(lo, hi, longest))?,
    );
    let affected: FastMap<i64, ()> = (0..near.len())
        .filter(|&i| spans.overlaps(&near.jobs[i], near.nodes_of(i)))
        .map(|i| (near.jobs[i].row, ()))
        .collect();
    let (mut a_lo, mut a_hi) = (i64::MAX, i64::MIN);
    for j in near.jobs.iter().filter(|j| affected.contains_key(&j.row)) {
        (a_lo, a_hi) = (a_lo.min(j.start), a_hi.max(j.end));
    }
    drop(near);
    drop(phase);
    let phase = ea_store::profile::Phase::start("allocate: load the jobs around");
    let mut context = if affected.is_empty() {
        Resolved::default()
    } else {
        let around = load(conn, &mut clusters, overlapping(a_lo, a_hi, longest))?;
        resolve(inventory, &around)
    };
    let keep: Vec<bool> = context
        .jobs
        .iter()
        .map(|j| affected.contains_key(&j.row))
        .collect();
    drop(phase);
    let _p = ea_store::profile::Phase::start("allocate: charge and write");
    let context_n = context.len() as u64;
    let mut n = 0;
    allocate(
        inventory,
        clock,
        &mut context,
        |i| keep[i],
        |figures| {
            n += write(conn, figures)?;
            Ok(())
        },
    )?;
    set_meta(conn, "allocation_longest_s", &longest.to_string())?;
    Ok(Outcome {
        jobs: n,
        context: context_n,
        everything: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(cluster: u32, start: i64, end: i64) -> Job {
        Job {
            cluster,
            row: 1,
            start,
            end,
            held_total: (Some(1), None, None),
        }
    }

    #[test]
    fn a_job_is_affected_where_it_shares_a_node_and_time_with_a_written_one() {
        let mut spans = Spans::default();
        spans.by_node.insert((0, 3), vec![(100, 200)]);
        spans.anywhere.push((1, 1000, 2000));
        // Same node, overlapping; same node, after; other node; other cluster's moved job.
        assert!(spans.overlaps(&loaded(0, 150, 300), &[3]));
        assert!(!spans.overlaps(&loaded(0, 200, 300), &[3]));
        assert!(!spans.overlaps(&loaded(0, 150, 300), &[4, OUTSIDE]));
        assert!(spans.overlaps(&loaded(1, 1500, 1600), &[9]));
        assert!(!spans.overlaps(&loaded(0, 1500, 1600), &[9]));
    }

    #[test]
    fn a_job_not_ingested_is_charged_as_if_alone() {
        let text = "[site]\nlocation = \"FRA\"\npue = 1.0\nlifetime_years = 4\n\n[[group]]\nname = \"cpu\"\n\
            nodes = \"c[1-2]\"\nslurm_cpus = 64\n[group.footprint]\ngwp_kgco2eq = 876\n\
            adpe_kgsbeq = 0.0876\npe_mj = 8760\n";
        let inv = Inventory::parse(text, std::path::Path::new("t.toml")).unwrap();
        let job = ea_sacct::JobRow {
            start: Some(0),
            end: Some(7200),
            ncpus: Some(96),
            node_list: Some("c[1-2],x9".into()),
            ..Default::default()
        };
        let e = alone(&inv, &job).unwrap().unwrap();
        assert_eq!(
            (e.inside, e.outside, e.group.as_deref()),
            (2, 1, Some("cpu"))
        );
        // 96 CPUs over 3 nodes: 32 of 64 on each for 2 h, 2 node-hours held and charged.
        assert!(
            (e.held_h - 2.0).abs() < 1e-12 && e.scale() == Some(1.0),
            "{e:?}"
        );
        assert!(e.months.is_empty());
        let no_end = ea_sacct::JobRow { end: None, ..job };
        assert_eq!(alone(&inv, &no_end), Ok(None));
    }
}
