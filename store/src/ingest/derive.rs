//! After the inputs are stored: measured jobs' energies and the partitions' calibrations.
//!
//! Only what the run touched is redone: the measured jobs that overlap, in time, the jobs,
//! records and wattmeter samples that changed (a change in one job can change the split of
//! its node neighbours). Calibrations are recomputed from every measured job, which is cheap.

use super::records::{NodeRecordRow, SCOPES};
use super::{Progress, Settings, wattmeter};
use crate::estimate::{self, EstimateInput};
use crate::measured::{self, Neighbour, NodeReading, NodeShare};
use crate::sacct::JobRow;
use ea_record::hostlist;
use rayon::prelude::*;
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The span of time the run changed, in epoch seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    span: Option<(f64, f64)>,
}

impl Window {
    pub fn add_span(&mut self, a: f64, b: f64) {
        self.span = Some(match self.span {
            None => (a, b),
            Some((x, y)) => (x.min(a), y.max(b)),
        });
    }

    pub fn add_job(&mut self, j: &JobRow) {
        if let Some(s) = j.start.or(j.submit) {
            let e = j.end.unwrap_or(s).max(s);
            self.add_span(s as f64, e as f64);
        }
    }

    /// Adds the span of jobs whose node records are stored but whose energy is not derived
    /// yet (waiting for late records, or for the job to end).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_pending(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let span: (Option<f64>, Option<f64>) = conn.query_row(
            "SELECT min(r.start), max(COALESCE(r.end, r.start)) FROM node_records r
             WHERE NOT EXISTS (SELECT 1 FROM job_measured m WHERE m.cluster = r.cluster AND m.job_id = r.job_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let (Some(a), Some(b)) = span {
            self.add_span(a, b);
        }
        Ok(())
    }

    pub fn add_record(&mut self, r: &NodeRecordRow) {
        if let Some(s) = r.start.or(r.end) {
            self.add_span(s, r.end.unwrap_or(s).max(s));
        }
    }
}

/// What the derivation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub jobs_from_records: u64,
    pub measured_jobs: u64,
    /// Measured jobs left for a later run: records still missing within the grace period.
    pub measured_pending: u64,
    pub calibrations: Vec<(String, estimate::Calibration)>,
}

struct JobSpan {
    cluster: String,
    job_id: String,
    start: f64,
    end: Option<f64>,
    nnodes: Option<u32>,
    cpus_per_node: f64,
    node_list: Option<String>,
    is_final: bool,
}

/// Runs the derivation for what `window` covers.
///
/// # Errors
/// SQLite errors.
pub fn run(conn: &Connection, window: &Window, settings: &Settings, progress: &Progress) -> rusqlite::Result<Derived> {
    let mut d = Derived::default();
    if let Some((a, b)) = window.span {
        d.jobs_from_records = jobs_from_records(conn, a, b)?;
        let (done, pending) = measure(conn, a, b, settings, progress)?;
        d.measured_jobs = done;
        d.measured_pending = pending;
    }
    d.calibrations = calibrate(conn, settings)?;
    Ok(d)
}

/// Jobs that have node records but no sacct row yet get a row built from the records, so that
/// they show in queries right away; sacct's row replaces it when it comes.
fn jobs_from_records(conn: &Connection, a: f64, b: f64) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT r.cluster, r.job_id, r.job_id_raw, min(r.start), max(r.end), max(r.num_nodes), count(*),
                sum(r.cpus_on_node), min(r.complete), max(r.user), max(r.uid), max(r.account),
                max(r.partition), max(r.node_list), max(r.exit_code)
         FROM node_records r
         WHERE (r.end IS NULL OR r.end >= ?1) AND (r.start IS NULL OR r.start <= ?2)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = r.cluster AND j.job_id = r.job_id)
         GROUP BY r.cluster, r.job_id",
    )?;
    let rows: Vec<JobRow> = stmt
        .query_map(params![a, b], |r| {
            let complete: i64 = r.get(8)?;
            let exit: Option<String> = r.get(14)?;
            let start: Option<f64> = r.get(3)?;
            let end: Option<f64> = if complete == 1 { r.get(4)? } else { None };
            let state = match (complete, exit.as_deref()) {
                (0, _) => "RUNNING",
                (_, Some("0:0")) => "COMPLETED",
                (_, Some(e)) if !e.ends_with(":0") => "CANCELLED",
                (_, Some(_)) => "FAILED",
                (_, None) => "COMPLETED",
            };
            let nodes_recorded: u32 = r.get(6)?;
            Ok(JobRow {
                cluster: Some(r.get(0)?),
                job_id: r.get(1)?,
                job_id_raw: Some(r.get::<_, i64>(2)? as u64),
                user: r.get(9)?,
                uid: r.get(10)?,
                account: r.get(11)?,
                partition: r.get(12)?,
                state: state.into(),
                state_raw: format!("{state} (from node records)"),
                exit_code: exit,
                start: start.map(|s| s as i64),
                end: end.map(|e| e as i64),
                elapsed_s: match (start, end) {
                    (Some(s), Some(e)) => Some((e - s).round() as i64),
                    _ => None,
                },
                nnodes: Some(r.get::<_, Option<u32>>(5)?.unwrap_or(nodes_recorded)),
                ncpus: r.get(7)?,
                node_list: r.get(13)?,
                ..Default::default()
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut ignore = |_: &JobRow| {};
    let n = crate::db::write::upsert_jobs(conn, &rows, 0, &mut ignore)?;
    Ok(n.written)
}

/// Derives `job_measured` for measured jobs overlapping `[a, b]`. Returns (derived, pending).
fn measure(
    conn: &Connection,
    a: f64,
    b: f64,
    settings: &Settings,
    progress: &Progress,
) -> rusqlite::Result<(u64, u64)> {
    // Records of the window, by job.
    let mut by_job: BTreeMap<(String, String), Vec<NodeReading>> = BTreeMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT cluster, job_id, node, complete, start, end, cpus_on_node, e_cpu_package_j, e_core_j,
                    e_uncore_j, e_dram_j, e_platform_j, e_gpu_board_j, e_node_bmc_j, e_node_wattmeter_j,
                    e_other_j, flags
             FROM node_records WHERE (end IS NULL OR end >= ?1) AND (start IS NULL OR start <= ?2)",
        )?;
        let mut rows = stmt.query(params![a, b])?;
        while let Some(r) = rows.next()? {
            let mut energy_j = [None; SCOPES.len()];
            for (i, e) in energy_j.iter_mut().enumerate() {
                *e = r.get(7 + i)?;
            }
            let reading = NodeReading {
                node: r.get(2)?,
                complete: r.get::<_, i64>(3)? == 1,
                start: r.get(4)?,
                end: r.get(5)?,
                cpus_on_node: r.get(6)?,
                energy_j,
                flags: r.get(16)?,
            };
            by_job.entry((r.get(0)?, r.get(1)?)).or_default().push(reading);
        }
    }
    let sample_nodes: HashSet<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT node FROM power_samples")?;
        stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    if by_job.is_empty() && sample_nodes.is_empty() {
        return Ok((0, 0));
    }
    // Every job of the window (measured or not): the neighbours on shared nodes.
    let horizon = 31.0 * 86_400.0; // jobs may have started well before the window
    let mut jobs: Vec<JobSpan> = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT cluster, job_id, start, end, nnodes, ncpus, node_list, final FROM jobs
             WHERE start IS NOT NULL AND start <= ?2 AND start >= ?3 AND (end IS NULL OR end >= ?1)",
        )?;
        let mut rows = stmt.query(params![a, b, a - horizon])?;
        while let Some(r) = rows.next()? {
            let nnodes: Option<u32> = r.get(4)?;
            let ncpus: Option<u32> = r.get(5)?;
            jobs.push(JobSpan {
                cluster: r.get(0)?,
                job_id: r.get(1)?,
                start: r.get::<_, i64>(2)? as f64,
                end: r.get::<_, Option<i64>>(3)?.map(|e| e as f64),
                nnodes,
                cpus_per_node: f64::from(ncpus.unwrap_or(1)) / f64::from(nnodes.unwrap_or(1).max(1)),
                node_list: r.get(6)?,
                is_final: r.get::<_, i64>(7)? == 1,
            });
        }
    }
    // Nodes that matter: those with records or with a wattmeter series, numbered once so that
    // the million node names of a month's jobs are looked up, not copied.
    let mut node_ids: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let mut next_id = 0u32;
    let mut intern = |cluster: &str, node: &str, ids: &mut HashMap<String, HashMap<String, u32>>| -> u32 {
        let per = ids.entry(cluster.to_string()).or_default();
        *per.entry(node.to_string()).or_insert_with(|| {
            next_id += 1;
            next_id - 1
        })
    };
    for ((cluster, _), recs) in &by_job {
        for r in recs {
            intern(cluster, &r.node, &mut node_ids);
        }
    }
    let clusters: HashSet<&str> = jobs.iter().map(|j| j.cluster.as_str()).collect();
    for c in clusters {
        for n in &sample_nodes {
            intern(c, n, &mut node_ids);
        }
    }
    let n_nodes = next_id as usize;
    let empty_map = HashMap::new();
    let expanded: Vec<Vec<u32>> = jobs
        .par_iter()
        .map(|j| {
            let Some(list) = j.node_list.as_deref() else {
                return Vec::new();
            };
            let ids = node_ids.get(&j.cluster).unwrap_or(&empty_map);
            if ids.is_empty() {
                return Vec::new();
            }
            hostlist::expand(list)
                .unwrap_or_default()
                .iter()
                .filter_map(|n| ids.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); n_nodes];
    for (i, nodes) in expanded.iter().enumerate() {
        for &n in nodes {
            on_node[n as usize].push(i);
        }
    }
    // Each node's jobs by start time, so that a job's neighbours are found by two binary
    // searches (starts within the longest run before its end) rather than a scan of the month.
    for v in &mut on_node {
        v.sort_by(|&a, &b| jobs[a].start.total_cmp(&jobs[b].start));
    }
    let longest = jobs
        .iter()
        .map(|j| j.end.unwrap_or(settings.clock.now as f64) - j.start)
        .fold(0.0, f64::max);
    let node_id = |cluster: &str, node: &str| node_ids.get(cluster).and_then(|m| m.get(node)).copied();
    let job_index: HashMap<(&str, &str), usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| ((j.cluster.as_str(), j.job_id.as_str()), i))
        .collect();
    // Jobs on wattmeter nodes are measured too, when their whole interval is covered.
    let sample_ids: HashSet<u32> = node_ids
        .values()
        .flat_map(|m| m.iter())
        .filter(|(n, _)| sample_nodes.contains(*n))
        .map(|(_, &i)| i)
        .collect();
    let mut candidates: Vec<(String, String)> = by_job.keys().cloned().collect();
    for (i, nodes) in expanded.iter().enumerate() {
        if jobs[i].is_final && nodes.iter().any(|n| sample_ids.contains(n)) {
            candidates.push((jobs[i].cluster.clone(), jobs[i].job_id.clone()));
        }
    }
    candidates.sort();
    candidates.dedup();
    // Wattmeter series for the nodes concerned.
    let mut series: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    if !sample_nodes.is_empty() {
        let mut stmt = conn.prepare("SELECT t, watts FROM power_samples WHERE node = ?1 ORDER BY t")?;
        for n in &sample_nodes {
            let s: Vec<(f64, f64)> = stmt
                .query_map([n], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            series.insert(n.clone(), s);
        }
    }
    progress.start(candidates.len() as u64, "measured jobs");
    let now = settings.clock.now as f64;
    let empty: Vec<NodeReading> = Vec::new();
    let results: Vec<Option<(String, String, measured::JobMeasured)>> = candidates
        .par_iter()
        .map(|(cluster, job_id)| {
            let recs = by_job.get(&(cluster.clone(), job_id.clone())).unwrap_or(&empty);
            let job = job_index.get(&(cluster.as_str(), job_id.as_str())).map(|&i| &jobs[i]);
            let (start, end) = match job {
                Some(j) => (Some(j.start), j.end),
                None => (
                    recs.iter().filter_map(|r| r.start).reduce(f64::min),
                    recs.iter().filter_map(|r| r.end).reduce(f64::max),
                ),
            };
            let (start, end) = (start?, end?);
            let mut nodes: Vec<(NodeReading, NodeShare)> = Vec::new();
            let complete: Vec<&NodeReading> = recs.iter().filter(|r| r.complete).collect();
            let job_final = job.is_none_or(|j| j.is_final);
            let expected = job
                .and_then(|j| j.nnodes)
                .or(Some(recs.len() as u32))
                .filter(|&n| n > 0);
            let missing = expected.unwrap_or(0) as usize > complete.len();
            if !recs.is_empty() && (!job_final || (missing && now - end < settings.record_grace_s as f64)) {
                return None; // wait for the epilogs
            }
            let node_names: Vec<String> = if recs.is_empty() {
                job.and_then(|j| j.node_list.as_deref())
                    .and_then(|l| hostlist::expand(l).ok())
                    .unwrap_or_default()
            } else {
                complete.iter().map(|r| r.node.clone()).collect()
            };
            for node in &node_names {
                let reading = complete
                    .iter()
                    .find(|r| &r.node == node)
                    .map(|r| (*r).clone())
                    .unwrap_or_else(|| NodeReading {
                        node: node.clone(),
                        complete: true,
                        ..Default::default()
                    });
                let (rs, re) = (reading.start.unwrap_or(start), reading.end.unwrap_or(end));
                let watt = series.get(node).and_then(|s| {
                    let (e, cov) = wattmeter::integrate(s, rs, re);
                    (cov >= 0.95).then_some(e / cov)
                });
                let mine = reading
                    .cpus_on_node
                    .map(f64::from)
                    .or(job.map(|j| j.cpus_per_node))
                    .unwrap_or(1.0);
                // Neighbours by index and by time: no string is compared in this loop, which
                // runs for every measured job-node against every job of that node's month.
                let me = job.map(|_| job_index[&(cluster.as_str(), job_id.as_str())]);
                let others: Vec<Neighbour> = node_id(cluster, node)
                    .map(|id| {
                        let v = &on_node[id as usize];
                        let lo = v.partition_point(|&i| jobs[i].start < rs - longest);
                        let hi = v.partition_point(|&i| jobs[i].start < re);
                        v[lo..hi.max(lo)]
                            .iter()
                            .filter(|&&i| Some(i) != me)
                            .map(|&i| &jobs[i])
                            .filter(|o| o.start < re && o.end.is_none_or(|e| e > rs))
                            .map(|o| Neighbour {
                                start: o.start,
                                end: o.end.unwrap_or(f64::INFINITY),
                                cpus: o.cpus_per_node,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let share = measured::cpu_share(rs, re, mine, &others);
                if let Some(s) = measured::node_share(&reading, watt, share) {
                    nodes.push((reading, s));
                } else if recs.is_empty() {
                    return None; // a wattmeter job needs every node covered
                }
            }
            let expected = if recs.is_empty() {
                Some(node_names.len() as u32)
            } else {
                expected
            };
            measured::combine(&nodes, expected).map(|m| (cluster.clone(), job_id.clone(), m))
        })
        .collect();
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO job_measured (cluster, job_id, nodes_recorded, nodes_expected, energy_j,
            energy_min_j, energy_max_j, split, e_cpu_package_j, e_dram_j, e_gpu_board_j, e_node_bmc_j,
            e_node_wattmeter_j, e_platform_j, e_other_j, scope, flags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    let idx = |s: ea_record::Scope| SCOPES.iter().position(|x| *x == s).unwrap_or(0);
    let (mut done, mut pending) = (0, 0);
    for r in results {
        let Some((cluster, job_id, m)) = r else {
            pending += 1;
            continue;
        };
        let e = &m.scope_sums;
        use ea_record::Scope as S;
        stmt.execute(params![
            cluster,
            job_id,
            m.nodes_recorded,
            m.nodes_expected,
            m.energy_j,
            m.min_j,
            m.max_j,
            m.split,
            e[idx(S::CpuPackage)],
            e[idx(S::Dram)],
            e[idx(S::GpuBoard)],
            e[idx(S::NodeBmc)],
            e[idx(S::NodeWattmeter)],
            e[idx(S::Platform)],
            e[idx(S::Other)],
            m.scope,
            m.flags.join(","),
        ])?;
        done += 1;
    }
    progress.inc(candidates.len() as u64);
    Ok((done, pending))
}

/// The calibration group of a job: its cluster and partition.
pub fn calibration_group(cluster: &str, partition: Option<&str>) -> String {
    format!("{cluster}/{}", partition.unwrap_or("-"))
}

fn calibrate(conn: &Connection, settings: &Settings) -> rusqlite::Result<Vec<(String, estimate::Calibration)>> {
    let mut stmt = conn.prepare(
        "SELECT j.cluster, j.partition, m.energy_j, j.elapsed_s, j.ncpus, j.total_cpu_s, j.cpu_time_s,
                j.gpus, j.req_mem_mb
         FROM job_measured m JOIN jobs j ON j.cluster = m.cluster AND j.job_id = m.job_id
         WHERE j.final = 1 AND j.elapsed_s > 0",
    )?;
    let mut pairs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let cluster: String = r.get(0)?;
        let partition: Option<String> = r.get(1)?;
        let input = EstimateInput {
            elapsed_s: r.get::<_, i64>(3)? as f64,
            ncpus: r.get(4)?,
            total_cpu_s: r.get(5)?,
            cpu_time_s: r.get(6)?,
            gpus: r.get(7)?,
            req_mem_mb: r.get(8)?,
        };
        let est = estimate::green_algorithms_j(&input, &settings.estimate, partition.as_deref());
        pairs
            .entry(calibration_group(&cluster, partition.as_deref()))
            .or_default()
            .push((r.get(2)?, est));
    }
    conn.execute("DELETE FROM calibration", [])?;
    let mut out = Vec::new();
    let mut ins =
        conn.prepare("INSERT INTO calibration (grp, factor, low, high, n_jobs) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for (grp, p) in pairs {
        if let Some(c) = estimate::calibrate(&p, settings.estimate.min_calibration_jobs) {
            ins.execute(params![grp, c.factor, c.low, c.high, c.n_jobs])?;
            out.push((grp, c));
        }
    }
    Ok(out)
}
