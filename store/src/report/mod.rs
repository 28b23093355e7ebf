//! `energy-assess report`: a period's figures per cluster, partition, account and user.
//!
//! Every final job that ran in the period counts, measured or not. A job that crosses the
//! period's edge counts for the part of its run inside it (energy, node-hours and impacts
//! prorated by time, as sreport clips usage to its window); jobs still running or completing
//! are left out until they are final, and their number is said. Sums are taken in a fixed
//! order, so the same store gives the same report byte for byte.

pub mod render;

use crate::db::read::{self, JobRecord};
use crate::estimate::Calibration;
use crate::figures::{Charged, FigureContext, JobFigures, Source, figures_batch};
use crate::impact_types::{Impacts, Ranged};
use crate::ingest::wattmeter;
use crate::privacy::Identity;
use crate::timefmt::Clock;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Totals of a set of jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub key: String,
    pub jobs: u64,
    pub jobs_measured: u64,
    pub jobs_split: u64,
    pub jobs_estimated: u64,
    pub node_hours: f64,
    pub gpu_hours: f64,
    /// Measured and split energy, J.
    pub energy_measured_j: f64,
    /// Estimated energy, J.
    pub energy_estimated_j: f64,
    pub energy_min_j: f64,
    pub energy_max_j: f64,
    pub use_phase: Ranged<Impacts>,
    pub embodied: Ranged<Impacts>,
    /// Jobs whose impacts the engine could not give (no inventory, unknown nodes).
    pub jobs_without_impacts: u64,
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
        }
    }

    pub fn energy_j(&self) -> f64 {
        self.energy_measured_j + self.energy_estimated_j
    }

    pub fn total(&self) -> Ranged<Impacts> {
        self.use_phase + self.embodied
    }

    fn add(&mut self, f: &JobFigures, k: f64) {
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
        match &f.impacts {
            Some(i) => {
                self.use_phase += scale(i.use_phase, k);
                // The engine clipped embodied impacts to the period already.
                self.embodied += i.embodied;
            }
            None => self.jobs_without_impacts += 1,
        }
    }
}

fn scale(r: Ranged<Impacts>, k: f64) -> Ranged<Impacts> {
    Ranged::new(r.value * k, r.min * k, r.max * k)
}

/// One of the period's heaviest jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct TopJob {
    pub cluster: String,
    pub job_id: String,
    pub user: String,
    pub account: String,
    pub partition: String,
    pub name: String,
    pub node_hours: f64,
    pub energy_j: f64,
    pub source: Source,
    pub gwp: Option<Ranged<f64>>,
}

/// A day's energy, J (the job's energy spread evenly over its run).
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD` in the site's zone.
    pub date: String,
    pub measured_j: f64,
    pub estimated_j: f64,
}

/// Nodes with an external meter: what it read over the period against what jobs were given.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciliation {
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
    pub node_hours: f64,
    pub embodied: Ranged<Impacts>,
    pub note: String,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `2026-11`, or `START to END`.
    pub title: String,
    pub start: i64,
    pub end: i64,
    pub generated_by: String,
    pub impacts_provenance: String,
    /// Set when the reader only sees their own jobs.
    pub only_user: Option<String>,
    pub all: Totals,
    pub by_cluster: Vec<Totals>,
    pub by_partition: Vec<Totals>,
    pub by_account: Vec<Totals>,
    pub by_user: Vec<Totals>,
    pub top_jobs: Vec<TopJob>,
    pub days: Vec<Day>,
    pub unallocated: Option<Unallocated>,
    pub reconciliation: Vec<Reconciliation>,
    pub calibrations: Vec<(String, Calibration)>,
    pub not_final_jobs: u64,
}

/// Jobs per chunk of a report.
const REPORT_CHUNK: usize = 100_000;

/// How many heaviest jobs a report lists.
pub const TOP_JOBS: usize = 10;

/// Columns for report loading: what figures need, and nothing else (a month may be a million
/// jobs).
const REPORT_SQL: &str = "j.cluster, j.job_id, j.job_id_raw, NULL, NULL, j.name, j.user, j.uid, NULL, NULL,
    j.account, j.partition, NULL, j.state, '', NULL, j.submit, NULL, j.start, j.end, j.elapsed_s, NULL,
    j.nnodes, j.ncpus, j.node_list, j.req_mem_mb, NULL, j.gpus, j.total_cpu_s, j.cpu_time_s, NULL, NULL,
    j.final, m.nodes_recorded, m.nodes_expected, m.energy_j, m.energy_min_j, m.energy_max_j, m.split,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, m.scope, m.flags, NULL";

/// Builds a report for `[start, end)`.
///
/// # Errors
/// SQLite errors.
#[allow(clippy::too_many_arguments)]
pub fn build(
    conn: &rusqlite::Connection,
    title: &str,
    start: i64,
    end: i64,
    who: &Identity,
    clock: &Clock,
    ctx: &FigureContext<'_>,
) -> rusqlite::Result<Report> {
    let mut where_sql = "COALESCE(j.start, j.submit, 0) < ?1 AND (j.end IS NULL OR j.end >= ?2)".to_string();
    let mut params: Vec<rusqlite::types::Value> = vec![end.into(), start.into()];
    if let Some((sql, p)) = who.restriction() {
        where_sql.push_str(" AND ");
        // Anonymous `?` after `?2` are numbered 3, 4... by SQLite.
        where_sql.push_str(&sql);
        params.extend(p);
    }
    let sql = format!(
        "SELECT {REPORT_SQL} FROM {} WHERE {where_sql}
         ORDER BY j.cluster, COALESCE(j.array_job_id, j.job_id_raw), j.job_id",
        read::JOB_FROM
    );
    let mut stmt = conn.prepare(&sql)?;
    let p: Vec<&dyn rusqlite::ToSql> = params.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
    let mut rows = stmt.query_map(p.as_slice(), read::job_from_row)?;
    let mut acc = Accumulator::new();
    let mut charged = Charged::default();
    let mut not_final_jobs = 0;
    // A month of a large centre is read in chunks, so that its jobs are never all in memory.
    // The engine's time sweep sees one chunk at a time: co-tenants of a node split across
    // chunks are not weighed against each other (only matters where shares overflow a node).
    loop {
        let mut chunk: Vec<JobRecord> = Vec::with_capacity(REPORT_CHUNK);
        for r in rows.by_ref() {
            let j = r?;
            if !j.is_final {
                not_final_jobs += 1;
                continue;
            }
            chunk.push(j);
            if chunk.len() == REPORT_CHUNK {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let jobs: Vec<&JobRecord> = chunk.iter().collect();
        let (figures, c) = figures_batch(&jobs, ctx, Some((start, end)));
        charged.add(&c);
        let fractions: Vec<f64> = jobs.par_iter().map(|j| inside_fraction(j, start, end)).collect();
        let figs: Vec<(JobFigures, f64)> = figures.into_iter().zip(fractions).collect();
        acc.add_chunk(&jobs, &figs, start, end, clock);
        acc.reconcile_chunk(conn, &jobs, &figs)?;
    }
    let reconciliation = acc.reconciliation(conn, start, end)?;
    let unallocated = ctx.model.unallocated((start, end), &charged);
    let all = acc.all;
    let by_cluster = acc.clusters.into_values().collect();
    let by_partition = acc.partitions.into_values().collect();
    let by_account = acc.accounts.into_values().collect();
    let by_user = acc.users.into_values().collect();
    let mut top = acc.top;
    top.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let top_jobs = top.into_iter().take(TOP_JOBS).map(|(_, _, t)| t).collect();
    let days = acc
        .days
        .into_iter()
        .map(|(date, (m, e))| Day {
            date,
            measured_j: m,
            estimated_j: e,
        })
        .collect();
    let mut calibrations: Vec<(String, Calibration)> = read::calibrations(conn)?.into_iter().collect();
    calibrations.sort_by(|a, b| a.0.cmp(&b.0));
    // The unallocated remainder concerns the whole machine: only admins see it.
    let unallocated = if who.admin { unallocated } else { None };
    Ok(Report {
        title: title.to_string(),
        start,
        end,
        generated_by: format!("energy-assess {}", env!("CARGO_PKG_VERSION")),
        impacts_provenance: ctx.model.provenance(),
        only_user: (!who.admin).then(|| who.user.clone().unwrap_or_else(|| who.uid.to_string())),
        all,
        by_cluster,
        by_partition,
        by_account,
        by_user,
        top_jobs,
        days,
        unallocated,
        reconciliation,
        calibrations,
        not_final_jobs,
    })
}

/// The fraction of a job's run inside `[start, end)`; 1 for jobs that never ran (counted,
/// with zero figures).
fn inside_fraction(j: &JobRecord, start: i64, end: i64) -> f64 {
    match (j.start, j.end) {
        (Some(s), Some(e)) if e > s => {
            let inside = (e.min(end) - s.max(start)).max(0) as f64;
            inside / (e - s) as f64
        }
        _ => 1.0,
    }
}

fn spread_over_days(
    j: &JobRecord,
    f: &JobFigures,
    start: i64,
    end: i64,
    clock: &Clock,
    days: &mut BTreeMap<String, (f64, f64)>,
) {
    let (Some(s), Some(e)) = (j.start, j.end) else { return };
    if e <= s || f.energy.j == 0.0 {
        return;
    }
    let (a, b) = (s.max(start), e.min(end));
    let mut t = a;
    let rate = f.energy.j / (e - s) as f64;
    while t < b {
        let d = clock.epoch_to_civil(t).date();
        let next_day = d
            .tomorrow()
            .ok()
            .and_then(|n| clock.civil_to_epoch(n.to_datetime(jiff::civil::Time::midnight())).ok());
        let next = next_day.unwrap_or(b).min(b).max(t + 1);
        let key = format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
        let part = rate * (next - t) as f64;
        let entry = days.entry(key).or_default();
        if f.energy.source == Source::Estimated {
            entry.1 += part
        } else {
            entry.0 += part
        }
        t = next;
    }
}

/// Running sums over the chunks of a report, in job order.
struct Accumulator {
    all: Totals,
    clusters: BTreeMap<String, Totals>,
    partitions: BTreeMap<(String, String), Totals>,
    accounts: BTreeMap<String, Totals>,
    users: BTreeMap<String, Totals>,
    days: BTreeMap<String, (f64, f64)>,
    /// The heaviest jobs so far: (weight, order seen, job).
    top: Vec<(f64, u64, TopJob)>,
    seen: u64,
    /// Energy of the period's jobs on nodes with a meter series, J.
    on_metered: Option<BTreeMap<String, f64>>,
}

fn total_into<K: Ord>(m: &mut BTreeMap<K, Totals>, key: K, name: impl FnOnce() -> String, f: &JobFigures, k: f64) {
    match m.get_mut(&key) {
        Some(t) => t.add(f, k),
        None => {
            let mut t = Totals::new(&name());
            t.add(f, k);
            m.insert(key, t);
        }
    }
}

impl Accumulator {
    fn new() -> Self {
        Self {
            all: Totals::new("all"),
            clusters: BTreeMap::new(),
            partitions: BTreeMap::new(),
            accounts: BTreeMap::new(),
            users: BTreeMap::new(),
            days: BTreeMap::new(),
            top: Vec::new(),
            seen: 0,
            on_metered: None,
        }
    }

    fn add_chunk(&mut self, jobs: &[&JobRecord], figs: &[(JobFigures, f64)], start: i64, end: i64, clock: &Clock) {
        for (j, (f, k)) in jobs.iter().zip(figs) {
            self.all.add(f, *k);
            let partition = j.partition.as_deref().unwrap_or("-");
            // Look keys up borrowed; copy them only the first time a group is seen.
            if let Some(t) = self.clusters.get_mut(j.cluster.as_str()) {
                t.add(f, *k);
            } else {
                total_into(&mut self.clusters, j.cluster.clone(), || j.cluster.clone(), f, *k);
            }
            total_into(
                &mut self.partitions,
                (j.cluster.clone(), partition.to_string()),
                || format!("{}/{partition}", j.cluster),
                f,
                *k,
            );
            let account = j.account.as_deref().unwrap_or("-");
            if let Some(t) = self.accounts.get_mut(account) {
                t.add(f, *k);
            } else {
                total_into(&mut self.accounts, account.to_string(), || account.to_string(), f, *k);
            }
            let user = j.user.as_deref().unwrap_or("-");
            if let Some(t) = self.users.get_mut(user) {
                t.add(f, *k);
            } else {
                total_into(&mut self.users, user.to_string(), || user.to_string(), f, *k);
            }
            spread_over_days(j, f, start, end, clock, &mut self.days);
            let weight = f.impacts.as_ref().map_or(f.energy.j * k, |im| {
                im.use_phase.value.gwp_kgco2eq * k + im.embodied.value.gwp_kgco2eq
            });
            let lightest = self.top.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
            if self.top.len() < TOP_JOBS || weight > lightest {
                self.top.push((weight, self.seen, top_job(j, f, *k)));
                self.top.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
                self.top.truncate(TOP_JOBS);
            }
            self.seen += 1;
        }
    }

    fn reconcile_chunk(
        &mut self,
        conn: &rusqlite::Connection,
        jobs: &[&JobRecord],
        figs: &[(JobFigures, f64)],
    ) -> rusqlite::Result<()> {
        if self.on_metered.is_none() {
            self.on_metered = Some(read::sampled_nodes(conn)?.into_iter().map(|n| (n, 0.0)).collect());
        }
        let Some(metered) = self.on_metered.as_mut().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        for (j, (f, k)) in jobs.iter().zip(figs) {
            let Some(list) = j.node_list.as_deref() else { continue };
            let Ok(expanded) = ea_record::hostlist::expand(list) else {
                continue;
            };
            let per = f.energy.j * k / expanded.len().max(1) as f64;
            for n in &expanded {
                if let Some(v) = metered.get_mut(n.as_str()) {
                    *v += per;
                }
            }
        }
        Ok(())
    }

    fn reconciliation(
        &self,
        conn: &rusqlite::Connection,
        start: i64,
        end: i64,
    ) -> rusqlite::Result<Vec<Reconciliation>> {
        let mut out = Vec::new();
        let Some(metered) = &self.on_metered else {
            return Ok(out);
        };
        for (n, jobs_j) in metered {
            let s = read::power_samples(
                conn,
                n,
                start as f64 - wattmeter::MAX_GAP_S,
                end as f64 + wattmeter::MAX_GAP_S,
            )?;
            let (meter_j, coverage) = wattmeter::integrate(&s, start as f64, end as f64);
            if coverage > 0.0 {
                out.push(Reconciliation {
                    node: n.clone(),
                    meter_j,
                    coverage,
                    jobs_j: *jobs_j,
                });
            }
        }
        Ok(out)
    }
}

fn top_job(j: &JobRecord, f: &JobFigures, k: f64) -> TopJob {
    TopJob {
        cluster: j.cluster.clone(),
        job_id: j.job_id.clone(),
        user: j.user.clone().unwrap_or_default(),
        account: j.account.clone().unwrap_or_default(),
        partition: j.partition.clone().unwrap_or_default(),
        name: j.name.clone().unwrap_or_default(),
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
    }
}
