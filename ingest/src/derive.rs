//! After the inputs are stored: measured jobs' energies and the partitions' calibrations.
//!
//! Only what the run touched is redone: the measured jobs that overlap, in time, the jobs,
//! records and wattmeter samples that changed (a change in one job can change the split of
//! its node neighbours). Calibrations are recomputed from every measured job, which is cheap.

use super::records::NodeRecordRow;
use super::{Progress, Settings};
use ea_energy::estimate::{self, EstimateInput, calibration_group};
use ea_energy::measured::SCOPES;
use ea_energy::measured::{self, NodeEnergy};
use ea_energy::wattmeter;
use ea_impact::{Held, Inventory, JobNodeInput, MeterEnergy};
use ea_record::UnixMicros;
use ea_sacct::JobRow;
use ea_sacct::fastmap::{FastMap, FastSet, Interner};
use ea_store::read::MeasuredRecord;
use rayon::prelude::*;
use rusqlite::Connection;
use std::collections::BTreeMap;

/// The span of time the run changed, in epoch seconds; and, when this run filled empty
/// tables, a copy of what it wrote (see [`Capture`]).
#[derive(Debug, Default)]
pub struct Window {
    span: Option<(f64, f64)>,
    capture: Option<Capture>,
    /// The jobs the run wrote, for the embodied allocation (see [`Touched`]).
    touched: Touched,
}

/// The jobs a run wrote, which the embodied allocation recomputes with their node neighbours
/// (`super::allocate`). Past [`Touched::LIMIT`] jobs, or when the run filled an empty store,
/// the list is dropped and everything is allocated again, which is then cheaper.
#[derive(Debug, Default)]
pub struct Touched {
    /// The written jobs, when not `everything`.
    pub jobs: Vec<TouchedJob>,
    /// Too many to follow one by one (or all new): allocate every job.
    pub everything: bool,
}

/// One written job, as the allocation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchedJob {
    /// Its cluster.
    pub cluster: Box<str>,
    /// Its JobID.
    pub job_id: Box<str>,
    /// When it started; `None` if it has not.
    pub start: Option<i64>,
    /// When it ended; `None` while it runs.
    pub end: Option<i64>,
    /// Its node list as Slurm writes it.
    pub node_list: Option<Box<str>>,
}

impl Touched {
    /// Past this many written jobs a run allocates everything.
    pub const LIMIT: usize = 50_000;

    fn add(&mut self, j: &JobRow) {
        if self.everything {
            return;
        }
        if self.jobs.len() >= Self::LIMIT {
            self.jobs = Vec::new();
            self.everything = true;
            return;
        }
        self.jobs.push(TouchedJob {
            cluster: j.cluster.as_deref().unwrap_or_default().into(),
            job_id: j.job_id.as_str().into(),
            start: j.start,
            end: j.end,
            node_list: j.node_list.as_deref().map(Into::into),
        });
    }
}

/// What a run that starts on empty `jobs` and `node_records` tables wrote there, kept in
/// memory as it is written, so that the derivation needs not read a whole month back from the
/// store. It then holds every job and record of the store (later writes of the same row
/// replace earlier ones); a run with more than one input of jobs, or an input that cannot be
/// followed (a live call), stops capturing and the derivation reads the store.
#[derive(Debug, Default)]
pub struct Capture {
    jobs: Vec<CapturedJob>,
    clusters: Interner,
    partitions: Interner,
    records: Vec<NodeRecordRow>,
    /// Whether a job may be in `jobs` twice: not when every job came from inserts into the
    /// fresh table (one input, whose grouper keeps a job's first allocation line only).
    jobs_may_repeat: bool,
}

/// A written job, as the derivation needs it.
#[derive(Debug, Clone)]
struct CapturedJob {
    /// An index into [`Capture::clusters`].
    cluster: u32,
    job_id: Box<str>,
    start: Option<i64>,
    end: Option<i64>,
    nnodes: Option<u32>,
    ncpus: Option<u32>,
    gpus: Option<u32>,
    req_mem_mb: Option<f64>,
    node_list: Option<Box<str>>,
    is_final: bool,
    // What the calibration reads of a measured job (see [`calibration_points`]).
    /// An index into [`Capture::partitions`].
    partition: Option<u32>,
    elapsed_s: Option<i64>,
    total_cpu_s: Option<f64>,
    cpu_time_s: Option<f64>,
}

impl CapturedJob {
    fn of(
        j: &JobRow,
        (cluster, partition): (u32, Option<u32>),
        job_id: Box<str>,
        node_list: Option<Box<str>>,
    ) -> Self {
        Self {
            cluster,
            job_id,
            start: j.start,
            end: j.end,
            nnodes: j.nnodes,
            ncpus: j.ncpus,
            gpus: j.gpus,
            req_mem_mb: j.req_mem_mb,
            node_list,
            is_final: j.is_final(),
            partition,
            elapsed_s: j.elapsed_s,
            total_cpu_s: j.total_cpu_s,
            cpu_time_s: j.cpu_time_s,
        }
    }
}

impl Window {
    /// Starts capturing what the run writes (call when `jobs` and `node_records` are empty).
    pub fn capture(&mut self) {
        self.capture = Some(Capture::default());
        self.touched.everything = true;
    }

    /// The jobs the run wrote (or that it wrote too many to list).
    pub fn touched(&self) -> &Touched {
        &self.touched
    }

    /// Stops capturing: the derivation will read the store.
    pub fn stop_capture(&mut self) {
        self.capture = None;
    }

    /// Starts the measurement now, on a thread of its own, in a first ingest into an empty
    /// store that has written its inputs (from what it captured of them): the split then runs
    /// on the core the writer leaves idle while it builds the indexes, and [`run`] only stores
    /// its outcome. The capture is handed to the thread.
    ///
    /// Nothing starts (`Ok(None)`, the capture kept) unless the run captures, and every
    /// record's job is among the jobs written: a record without its job first gets one made
    /// from the records, through the store.
    ///
    /// # Errors
    /// SQLite errors reading wattmeter series.
    pub fn start_early_measure(
        &mut self,
        conn: &Connection,
        settings: &Settings,
    ) -> rusqlite::Result<Option<EarlyMeasure>> {
        let (Some(c), Some(span)) = (&self.capture, self.span) else {
            return Ok(None);
        };
        let mut missing: FastSet<(&str, &str)> = c
            .records
            .iter()
            .map(|r| (r.cluster.as_str(), r.job_id.as_str()))
            .collect();
        for j in &c.jobs {
            if missing.is_empty() {
                break;
            }
            missing.remove(&(c.clusters.name(j.cluster), &*j.job_id));
        }
        if !missing.is_empty() {
            return Ok(None);
        }
        let sampled = Sampled::read(conn)?;
        let Some(capture) = self.capture.take() else {
            return Ok(None);
        };
        let settings = settings.clone();
        let handle = std::thread::spawn(move || {
            let _p = ea_store::profile::Phase::start("derive: measure, early");
            let (a, b) = span;
            let mut clusters = Interner::default();
            let records = {
                let _r = ea_store::profile::Phase::start("measure: records");
                captured_records(capture.records, a, b, &mut clusters)
            };
            let source = JobSource::Captured {
                jobs: &capture.jobs,
                clusters: capture.clusters.names(),
                may_repeat: capture.jobs_may_repeat,
            };
            let mut measured = compute(
                a,
                b,
                &settings,
                records,
                clusters,
                &sampled,
                &source,
                &Progress::new(false),
            )?;
            let _c = ea_store::profile::Phase::start("measure: calibration points");
            measured.calibration_points = Some(calibration_points(
                &measured,
                &capture.jobs,
                (capture.clusters.names(), capture.partitions.names()),
                &settings,
            ));
            Ok(measured)
        });
        Ok(Some(EarlyMeasure { span, handle }))
    }

    /// Keeps a written job, if capturing.
    pub fn capture_job(&mut self, j: &JobRow) {
        if let Some(c) = &mut self.capture {
            c.jobs_may_repeat = true;
            let cluster = c.clusters.id(j.cluster.as_deref().unwrap_or_default());
            let partition = j.partition.as_deref().map(|p| c.partitions.id(p));
            c.jobs.push(CapturedJob::of(
                j,
                (cluster, partition),
                j.job_id.as_str().into(),
                j.node_list.as_deref().map(Into::into),
            ));
        }
    }

    /// Keeps jobs that were all written, if capturing, taking their ids and node lists rather
    /// than copying them (a month's ingest writes a million).
    pub fn capture_written(&mut self, jobs: Vec<ea_store::write::PreparedJob>) {
        if let Some(c) = &mut self.capture {
            c.jobs.reserve(jobs.len());
            for p in jobs {
                let mut j = p.job;
                let cluster = c.clusters.id(j.cluster.as_deref().unwrap_or_default());
                let partition = j.partition.as_deref().map(|p| c.partitions.id(p));
                let (job_id, node_list) = (std::mem::take(&mut j.job_id), j.node_list.take());
                c.jobs.push(CapturedJob::of(
                    &j,
                    (cluster, partition),
                    job_id.into(),
                    node_list.map(Into::into),
                ));
            }
        }
    }

    /// Adds a written job's span (what [`Window::add_job`] does without capturing it).
    pub fn add_job_span(&mut self, j: &JobRow) {
        self.touched.add(j);
        if let Some(s) = j.start.or(j.submit) {
            let e = j.end.unwrap_or(s).max(s);
            self.add_span(s as f64, e as f64);
        }
    }

    /// Makes room for `n` more captured records, if capturing (a month's spool holds hundreds
    /// of thousands: growing the list by doubling would copy it again and again).
    pub fn reserve_records(&mut self, n: usize) {
        if let Some(c) = &mut self.capture {
            c.records.reserve(n);
        }
    }

    /// Keeps a written record, if capturing (without what only queries show of it).
    pub fn capture_record(&mut self, mut r: NodeRecordRow) {
        if let Some(c) = &mut self.capture {
            (r.user, r.account, r.partition, r.node_list, r.exit_code) =
                (None, None, None, None, None);
            c.records.push(r);
        }
    }
}

/// A measurement started by [`Window::start_early_measure`].
pub struct EarlyMeasure {
    /// The window it measured.
    span: (f64, f64),
    handle: std::thread::JoinHandle<rusqlite::Result<Measured>>,
}

impl EarlyMeasure {
    /// Its outcome, if it measured `span`: the run's window may have grown since it started
    /// (it does not: what comes after, records waiting from earlier runs and a change of split
    /// rule, is in an empty store what was captured), and then the measurement is done again.
    fn outcome_for(self, span: Option<(f64, f64)>) -> Option<rusqlite::Result<Measured>> {
        let outcome = self
            .handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (Some(self.span) == span).then_some(outcome)
    }
}

impl Window {
    /// Widens the window to take in `[a, b]` (epoch seconds).
    pub fn add_span(&mut self, a: f64, b: f64) {
        self.span = Some(match self.span {
            None => (a, b),
            Some((x, y)) => (x.min(a), y.max(b)),
        });
    }

    /// Widens the window to the job's interval and keeps the job for an early split.
    pub fn add_job(&mut self, j: &JobRow) {
        self.add_job_span(j);
        self.capture_job(j);
    }

    /// Adds the span of jobs whose node records are stored but whose energy is not derived
    /// yet (waiting for late records, or for the job to end).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_pending(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if let (Some(a), Some(b)) = ea_store::measured::pending_records_span(conn)? {
            self.add_span(a, b);
        }
        Ok(())
    }

    /// Adds the span of every node record and wattmeter sample: everything measured is
    /// derived again.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_everything(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        for span in [
            ea_store::measured::records_span,
            ea_store::measured::samples_span,
        ] {
            if let (Some(a), Some(b)) = span(conn)? {
                self.add_span(a, b);
            }
        }
        Ok(())
    }

    /// Widens the window to the record's interval (a record without an end, to its start).
    pub fn add_record(&mut self, r: &NodeRecordRow) {
        if let Some(s) = r.start.or(r.end) {
            self.add_span(s, r.end.unwrap_or(s).max(s));
        }
    }
}

/// What the derivation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    /// Jobs whose records took sacct's JobID for their raw id (see `match_records_by_raw_id`).
    pub records_renamed: u64,
    /// Jobs the jobs table did not have, added from their records alone.
    pub jobs_from_records: u64,
    /// Jobs whose measured energy was (re)computed.
    pub measured_jobs: u64,
    /// Measured jobs left for a later run: records still missing within the grace period.
    pub measured_pending: u64,
    /// Whether the split ran while the indexes were built, from what the run captured (see
    /// [`Window::start_early_measure`]).
    pub measured_early: bool,
    /// Whether the calibration was fitted from the jobs the run kept in memory rather than
    /// from the store (see `calibration_points`).
    pub calibrated_early: bool,
    /// The calibrations fitted, by group key (see `ea_energy::estimate::calibration_group`).
    pub calibrations: Vec<(String, estimate::Calibration)>,
}

/// A job of the derivation: when it ran, what it held, and where its pairs are.
///
/// Not an [`ea_sacct::JobRow`] (the one job type) but the few of its fields the split
/// needs, copied out: 80 bytes against the row's 616 plus its strings, for the million jobs
/// of a month that a derivation may hold at once.
struct JobLite {
    start: i64,
    end: Option<i64>,
    nnodes: Option<u32>,
    ncpus: Option<u32>,
    gpus: Option<u32>,
    req_mem_mb: Option<f64>,
    is_final: bool,
    /// Its nodes in its node list (to divide sacct's totals), all of them.
    listed_nodes: u32,
    /// Its pairs on the nodes that matter: `first_pair..first_pair + n_pairs`.
    first_pair: u32,
    n_pairs: u32,
}

impl JobLite {
    /// What it held on each node, from sacct's totals.
    fn held_per_node(&self) -> Held {
        let n = self.listed_nodes.max(1);
        Held {
            cpus: self.ncpus.map(|c| c.div_ceil(n)),
            gpus: self.gpus.map(|g| g.div_ceil(n)),
            memory_mb: self.req_mem_mb.map(|m| (m / f64::from(n)).round() as u64),
            billing: None,
        }
    }
}

/// The stored node records a derivation reads, and the number of each one's cluster.
#[derive(Default)]
struct Records {
    rows: Vec<NodeRecordRow>,
    cluster: Vec<u32>,
}

impl Records {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Runs the derivation for what `window` covers.
///
/// # Errors
/// SQLite errors.
///
/// `early`, a measurement started before the records were written, gives the measured jobs
/// if it covered the same window; every record's job was written then, so none is made from
/// records.
pub fn run(
    conn: &Connection,
    window: &mut Window,
    settings: &Settings,
    progress: &Progress,
    early: Option<EarlyMeasure>,
) -> rusqlite::Result<Derived> {
    let mut d = Derived::default();
    let early = early.and_then(|e| e.outcome_for(window.span));
    let mut points = None;
    if let Some(outcome) = early {
        let _p = ea_store::profile::Phase::start("derive: store the early measurement");
        let mut outcome = outcome?;
        (d.measured_jobs, d.measured_pending) = store_measured(conn, &outcome)?;
        d.measured_early = true;
        // Its points are the store's if `job_measured` holds what it measured and nothing else.
        let stored = ea_store::measured::measured_count(conn)?;
        if stored == outcome.jobs.len() as u64 {
            points = outcome.calibration_points.take();
        }
    } else if let Some((a, b)) = window.span {
        d.records_renamed = {
            let _p = ea_store::profile::Phase::start("derive: records by raw id");
            match_records_by_raw_id(conn, a, b)?
        };
        if d.records_renamed > 0 {
            // What the run captured holds the records under their old JobID.
            window.stop_capture();
        }
        d.jobs_from_records = {
            let _p = ea_store::profile::Phase::start("derive: jobs from records");
            jobs_from_records(conn, a, b, window)?
        };
        let _p = ea_store::profile::Phase::start("derive: measure");
        let (done, pending) = measure(conn, a, b, settings, window.capture.take(), progress)?;
        d.measured_jobs = done;
        d.measured_pending = pending;
    }
    d.calibrations = {
        let _p = ea_store::profile::Phase::start("derive: calibrate");
        d.calibrated_early = points.is_some();
        let points = match points {
            Some(p) => p,
            None => calibration_points_of_store(conn, settings)?,
        };
        store_calibrations(conn, points, settings)?
    };
    Ok(d)
}

/// One job per raw id: Slurm's job id, the one the plugin records, is unique, where sacct's
/// JobID names an array task (`48_52`) or a het component (`123+1`) otherwise. Records whose
/// JobID is their raw id take sacct's JobID for it (an array task's record does not name its
/// array where no step of the job ran on the node), and a job made from records under the
/// raw id goes once its records are named otherwise, with what was measured for it. Records
/// and sacct rows may come in any order, in any run. Returns how many jobs' records were
/// renamed.
fn match_records_by_raw_id(conn: &Connection, a: f64, b: f64) -> rusqlite::Result<u64> {
    let renames = ea_store::measured::records_to_rename(conn, a, b)?;
    ea_store::measured::rename_records(conn, &renames)?;
    // Jobs made from records under a raw id whose records now bear another JobID.
    let superseded = ea_store::measured::superseded_jobs(conn, a, b)?;
    ea_store::measured::delete_jobs_and_measured(conn, &superseded)?;
    Ok(renames.len() as u64)
}

/// Jobs that have node records but no sacct row yet get a row built from the records, so that
/// they show in queries right away; sacct's row replaces it when it comes.
fn jobs_from_records(
    conn: &Connection,
    a: f64,
    b: f64,
    window: &mut Window,
) -> rusqlite::Result<u64> {
    let rows: Vec<JobRow> = ea_store::measured::jobs_only_in_records(conn, a, b)?
        .into_iter()
        .map(job_of_records)
        .collect();
    let mut keep = |j: &JobRow| {
        window.touched.add(j);
        window.capture_job(j)
    };
    let n = ea_store::write::upsert_jobs(conn, &rows, 0, &mut keep)?;
    Ok(n.written)
}

/// A job the jobs table does not have, from its records: until sacct's row comes (a forged or
/// stray record never gets one), an ended job is UNKNOWN, with what its records suggest.
fn job_of_records(r: ea_store::measured::RecordedJob) -> JobRow {
    let complete = r.complete;
    let exit = r.exit_code;
    let start = r.start;
    let end = if complete == 1 { r.end } else { None };
    let (state, suggested) = match (complete, exit.as_deref()) {
        (0, _) => ("RUNNING", "running".to_string()),
        (_, Some(e)) => ("UNKNOWN", format!("ended with exit {e}, not in sacct")),
        (_, None) => ("UNKNOWN", "ended, not in sacct".to_string()),
    };
    JobRow {
        cluster: Some(r.cluster),
        job_id: r.job_id,
        job_id_raw: Some(r.job_id_raw),
        user: r.user,
        uid: r.uid,
        account: r.account,
        partition: r.partition,
        state: state.into(),
        state_raw: format!("{suggested} (from node records)"),
        exit_code: exit,
        start: start.map(|s| s as i64),
        end: end.map(|e| e as i64),
        elapsed_s: match (start, end) {
            (Some(s), Some(e)) => Some((e - s).round() as i64),
            _ => None,
        },
        nnodes: Some(r.num_nodes.unwrap_or(r.nodes_recorded)),
        ncpus: r.cpus,
        node_list: r.node_list,
        ..Default::default()
    }
}

/// Derives `job_measured` for measured jobs overlapping `[a, b]`. Returns (derived, pending).
///
/// The split of every measured node between the jobs on it is the impact engine's: the
/// measured job's pair on that node and every pair that overlapped it there are allocated by
/// [`ea_impact::Allocator`], a shard of whole nodes at a time, so that shares and time overlap
/// are exact whatever the size of the month.
fn measure(
    conn: &Connection,
    a: f64,
    b: f64,
    settings: &Settings,
    capture: Option<Capture>,
    progress: &Progress,
) -> rusqlite::Result<(u64, u64)> {
    let mut clusters = Interner::default();
    let (records, captured_jobs) = {
        let _p = ea_store::profile::Phase::start("measure: load records");
        match capture {
            Some(c) => (
                captured_records(c.records, a, b, &mut clusters),
                Some((c.jobs, c.clusters, c.jobs_may_repeat)),
            ),
            None => (load_records(conn, a, b, &mut clusters)?, None),
        }
    };
    let sampled = Sampled::read(conn)?;
    let source = match &captured_jobs {
        Some((jobs, names, may_repeat)) => JobSource::Captured {
            jobs,
            clusters: names.names(),
            may_repeat: *may_repeat,
        },
        None => JobSource::Store(conn),
    };
    let measured = compute(
        a, b, settings, records, clusters, &sampled, &source, progress,
    )?;
    store_measured(conn, &measured)
}

/// The nodes with a wattmeter series in the store, and each one's series (time, watts),
/// sorted by time.
#[derive(Default)]
struct Sampled {
    nodes: Vec<String>,
    series: Vec<Vec<(f64, f64)>>,
}

impl Sampled {
    fn read(conn: &Connection) -> rusqlite::Result<Self> {
        let nodes = ea_store::measured::sampled_nodes_unordered(conn)?;
        let series = ea_store::measured::power_series(conn, &nodes)?;
        Ok(Self { nodes, series })
    }
}

/// Where a derivation finds the jobs that ran when its records did.
enum JobSource<'a> {
    /// What the run wrote into an empty table (see [`Capture`]).
    Captured {
        jobs: &'a [CapturedJob],
        clusters: &'a [String],
        may_repeat: bool,
    },
    Store(&'a Connection),
}

impl JobSource<'_> {
    fn load(
        &self,
        lo: f64,
        hi: f64,
        clusters: &mut Interner,
        nodes: &mut NodeIds,
        sample_nodes: &[String],
        by_job: &BTreeMap<(u32, &str), Vec<u32>>,
    ) -> rusqlite::Result<JobScan> {
        match self {
            JobSource::Captured {
                jobs,
                clusters: names,
                may_repeat,
            } => Ok(scan_captured_jobs(
                jobs,
                names,
                *may_repeat,
                lo,
                hi,
                clusters,
                nodes,
                sample_nodes,
                by_job,
            )),
            JobSource::Store(conn) => {
                load_jobs(conn, lo, hi, clusters, nodes, sample_nodes, by_job)
            }
        }
    }
}

/// What measuring found, ready to store: each measured job's figures, by cluster and JobID,
/// and how many measured jobs wait for records.
pub struct Measured {
    jobs: Vec<(String, String, Box<measured::JobMeasured>)>,
    pending: u64,
    /// The calibration's points, where the jobs were in memory (see [`calibration_points`]).
    calibration_points: Option<CalibrationPoints>,
}

/// Writes what [`compute`] found into `job_measured`. Returns (derived, pending).
fn store_measured(conn: &Connection, m: &Measured) -> rusqlite::Result<(u64, u64)> {
    ea_store::measured::write_measured(
        conn,
        (m.jobs.iter())
            .map(|(cluster, job_id, m)| (cluster.as_str(), job_id.as_str(), MeasuredRecord::of(m))),
    )?;
    Ok((m.jobs.len() as u64, m.pending))
}

/// The measurement itself, from the records read, the jobs `source` gives and the wattmeter
/// series: everything but the store's writes, so that it can run on a thread of its own.
#[allow(clippy::too_many_arguments)]
fn compute(
    a: f64,
    b: f64,
    settings: &Settings,
    records: Records,
    mut clusters: Interner,
    sampled: &Sampled,
    source: &JobSource<'_>,
    progress: &Progress,
) -> rusqlite::Result<Measured> {
    let sample_nodes = &sampled.nodes;
    if records.is_empty() && sample_nodes.is_empty() {
        return Ok(Measured::empty());
    }
    let now = settings.clock.now;
    let mut nodes = number_nodes(&records, now, !sample_nodes.is_empty());
    let by_job = records_by_job(&records);
    let mut scan = {
        let _p = ea_store::profile::Phase::start("measure: load jobs");
        let window = records_window(a, b, &records);
        load_scan(
            source,
            window,
            &mut clusters,
            &mut nodes,
            sample_nodes,
            &by_job,
            now,
        )?
    };
    let _p = ea_store::profile::Phase::start("measure: pairs");
    let mut pairs = std::mem::take(&mut scan.pairs);
    place_records(&records, &nodes, &by_job, &scan, &mut pairs);
    let series = series_by_node(sampled, clusters.len(), &nodes);
    let ctx = PairContext {
        pairs: &pairs,
        jobs: &scan.jobs,
        records: &records.rows,
        series: &series,
        nodes: &nodes,
        now,
    };
    drop(_p);
    let needed = {
        let _p = ea_store::profile::Phase::start("measure: spans");
        pairs_for_engine(&ctx)
    };
    let results = {
        let _p = ea_store::profile::Phase::start("measure: engine");
        run_engine(settings, &ctx, needed, clusters.len())?
    };

    let _p = ea_store::profile::Phase::start("measure: jobs");
    let candidates = measured_candidates(&by_job, &scan);
    progress.start(candidates.len() as u64, "measured jobs");
    let tally = JobTally {
        by_job: &by_job,
        rows: &records.rows,
        jobs: &scan.jobs,
        pairs: &pairs,
        results: &results,
        pair_of_record: pair_of_record(&pairs, records.len()),
        grace: settings.record_grace_s as f64,
        now,
    };
    let outcomes: Vec<Outcome> = candidates
        .par_iter()
        .map(|&(c, job_id, ji)| tally.outcome(c, job_id, ji))
        .collect();
    let measured = gather_outcomes(&clusters, &candidates, outcomes);
    progress.inc(candidates.len() as u64);
    Ok(measured)
}

impl Measured {
    /// Nothing measured, nothing pending.
    fn empty() -> Self {
        Measured {
            jobs: Vec::new(),
            pending: 0,
            calibration_points: None,
        }
    }
}

/// Measured jobs by (cluster, JobID): the indexes of their records.
type RecordsByJob<'a> = BTreeMap<(u32, &'a str), Vec<u32>>;

/// Numbers the nodes that have records. Without a wattmeter series (`sampled` false) each
/// node also keeps its records' envelopes, so the scan can leave out pairs no measured one
/// meets; with one, a job on its node is measured by it whatever its records, and the scan
/// keeps every pair.
fn number_nodes(records: &Records, now: i64, sampled: bool) -> NodeIds {
    let mut nodes = NodeIds::default();
    for (r, &c) in records.rows.iter().zip(&records.cluster) {
        nodes.id(c, &r.node);
    }
    if !sampled {
        nodes.set_envelopes(records, now);
    }
    nodes
}

/// The records of each measured job, in record order.
fn records_by_job(records: &Records) -> RecordsByJob<'_> {
    let mut by_job: RecordsByJob<'_> = BTreeMap::new();
    for (k, (r, &c)) in records.rows.iter().zip(&records.cluster).enumerate() {
        by_job
            .entry((c, r.job_id.as_str()))
            .or_default()
            .push(k as u32);
    }
    by_job
}

/// The window `[a, b]` widened to every record's interval: the jobs meeting it are the
/// measured jobs and all their possible co-tenants.
fn records_window(a: f64, b: f64, records: &Records) -> (f64, f64) {
    let (mut lo, mut hi) = (a, b);
    for r in &records.rows {
        lo = r.start.map_or(lo, |s| lo.min(s));
        hi = r.end.map_or(hi, |e| hi.max(e));
    }
    (lo, hi)
}

/// The jobs meeting `(lo, hi)`; where nodes have a wattmeter series, widened once more to
/// the jobs found, whose co-tenants on those nodes the series measures too.
fn load_scan(
    source: &JobSource<'_>,
    (lo, hi): (f64, f64),
    clusters: &mut Interner,
    nodes: &mut NodeIds,
    sample_nodes: &[String],
    by_job: &RecordsByJob<'_>,
    now: i64,
) -> rusqlite::Result<JobScan> {
    let scan = source.load(lo, hi, clusters, nodes, sample_nodes, by_job)?;
    if sample_nodes.is_empty() {
        return Ok(scan);
    }
    let (mut lo2, mut hi2) = (lo, hi);
    for j in &scan.jobs {
        lo2 = lo2.min(j.start as f64);
        hi2 = hi2.max(j.end.unwrap_or(now) as f64);
    }
    if lo2 < lo || hi2 > hi {
        return source.load(lo2, hi2, clusters, nodes, sample_nodes, by_job);
    }
    Ok(scan)
}

/// Puts each record on its job's pair for its node; a record of a node sacct does not list
/// (or of a job it does not know) gets a pair of its own.
fn place_records(
    records: &Records,
    nodes: &NodeIds,
    by_job: &RecordsByJob<'_>,
    scan: &JobScan,
    pairs: &mut Vec<Pair>,
) {
    for (k, (r, &c)) in records.rows.iter().zip(&records.cluster).enumerate() {
        let n = nodes.get(c, &r.node).unwrap_or(0);
        let job = by_job
            .get(&(c, r.job_id.as_str()))
            .and_then(|recs| scan.job_of(recs));
        let on_job = job.and_then(|i| {
            let j = &scan.jobs[i as usize];
            (j.first_pair..j.first_pair + j.n_pairs).find(|&p| pairs[p as usize].node == n)
        });
        match on_job {
            Some(p) => pairs[p as usize].record = k as u32,
            None => pairs.push(Pair::new(job, n, Some(k as u32))),
        }
    }
}

/// The wattmeter series of the nodes concerned, by node number (a name in several clusters
/// gets the series in each).
fn series_by_node(
    sampled: &Sampled,
    n_clusters: usize,
    nodes: &NodeIds,
) -> FastMap<u32, Vec<(f64, f64)>> {
    let mut series: FastMap<u32, Vec<(f64, f64)>> = FastMap::default();
    for (name, s) in sampled.nodes.iter().zip(&sampled.series) {
        for c in 0..n_clusters as u32 {
            if let Some(n) = nodes.get(c, name) {
                series.insert(n, s.clone());
            }
        }
    }
    series
}

/// Per node, the pairs the engine must see: only a node with a measured pair has any, and
/// then the pairs there that overlap a measured one.
fn pairs_for_engine(ctx: &PairContext<'_>) -> Vec<Vec<u32>> {
    let spans: Vec<Option<(i64, i64, bool)>> = (0..ctx.pairs.len())
        .into_par_iter()
        .with_min_len(4096)
        .map(|p| ctx.span(p))
        .collect();
    let mut by_node: Vec<Vec<u32>> = vec![Vec::new(); ctx.nodes.len()];
    for (p, pair) in ctx.pairs.iter().enumerate() {
        if spans[p].is_some() {
            by_node[pair.node as usize].push(p as u32);
        }
    }
    by_node
        .into_par_iter()
        .map(|ps| {
            let measured = merged_spans(
                ps.iter()
                    .filter_map(|&p| spans[p as usize].filter(|s| s.2).map(|s| (s.0, s.1))),
            );
            if measured.is_empty() {
                return Vec::new();
            }
            ps.into_iter()
                .filter(|&p| spans[p as usize].is_some_and(|s| overlaps(&measured, s.0, s.1)))
                .collect()
        })
        .collect()
}

/// Allocates, per cluster, a shard of whole nodes at a time, and keeps what the measured
/// pairs got: their node energy, by pair.
fn run_engine(
    settings: &Settings,
    ctx: &PairContext<'_>,
    needed: Vec<Vec<u32>>,
    n_clusters: usize,
) -> rusqlite::Result<FastMap<u32, NodeEnergy>> {
    let empty = Inventory::without_nodes();
    let inventory = settings.inventory.as_deref().unwrap_or(&empty);
    let mut results: FastMap<u32, NodeEnergy> = FastMap::default();
    let total: usize = needed.iter().map(Vec::len).sum();
    if ea_store::profile::enabled() {
        eprintln!(
            "[ea-profile] measure: {} jobs, {} pairs, {} to the engine",
            ctx.jobs.len(),
            ctx.pairs.len(),
            total
        );
    }
    let shards = total.div_ceil(SHARD_PAIRS).max(1);
    for c in 0..n_clusters as u32 {
        let mut allocator = ea_impact::Allocator::new(inventory, &Default::default())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        for shard in 0..shards {
            let batch = shard_inputs(ctx, &needed, shards, shard, c);
            if batch.is_empty() {
                continue;
            }
            let out = allocator
                .allocate_shard(&batch)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            for (input, r) in batch.iter().zip(out) {
                if input.meters.is_empty() {
                    continue;
                }
                let p = input.job as u32;
                let flags = ctx.pairs[p as usize]
                    .record()
                    .map_or("", |k| ctx.records[k as usize].flags.as_str());
                if let Some(e) = NodeEnergy::from_engine(&input.node, &r, flags) {
                    results.insert(p, e);
                }
            }
        }
    }
    Ok(results)
}

/// The engine's inputs of one shard (`shard` of `shards`, nodes dealt round-robin) of
/// cluster `c`.
fn shard_inputs(
    ctx: &PairContext<'_>,
    needed: &[Vec<u32>],
    shards: usize,
    shard: usize,
    c: u32,
) -> Vec<JobNodeInput> {
    let ps: Vec<u32> = needed
        .iter()
        .enumerate()
        .filter(|(n, _)| n % shards == shard && ctx.nodes.cluster_of(*n as u32) == c)
        .flat_map(|(_, ps)| ps.iter().copied())
        .collect();
    ps.par_iter()
        .filter_map(|&p| ctx.input(p as usize))
        .collect()
}

/// Per record, the pair it is on ([`NONE`] for none).
fn pair_of_record(pairs: &[Pair], n_records: usize) -> Vec<u32> {
    let mut of: Vec<u32> = vec![NONE; n_records];
    for (p, pr) in pairs.iter().enumerate() {
        if let Some(k) = pr.record() {
            of[k as usize] = p as u32;
        }
    }
    of
}

/// The jobs to measure, sorted, once each: those with records, and the ended jobs on nodes
/// with a wattmeter series; each with its cluster, JobID and index in the scan.
fn measured_candidates<'a>(
    by_job: &RecordsByJob<'a>,
    scan: &'a JobScan,
) -> Vec<(u32, &'a str, Option<u32>)> {
    let mut candidates: Vec<(u32, &str, Option<u32>)> = by_job
        .iter()
        .map(|(&(c, id), recs)| (c, id, scan.job_of(recs)))
        .collect();
    for (i, c, id) in &scan.on_sampled_nodes {
        if scan.jobs[*i as usize].is_final && !by_job.contains_key(&(*c, id.as_str())) {
            candidates.push((*c, id.as_str(), Some(*i)));
        }
    }
    candidates.sort();
    candidates.dedup();
    candidates
}

/// Everything a measured job's figure is added up from.
struct JobTally<'a> {
    by_job: &'a RecordsByJob<'a>,
    rows: &'a [NodeRecordRow],
    jobs: &'a [JobLite],
    pairs: &'a [Pair],
    /// What the engine gave the measured pairs.
    results: &'a FastMap<u32, NodeEnergy>,
    /// See [`pair_of_record`].
    pair_of_record: Vec<u32>,
    /// How long after a job's end missing records are waited for, seconds.
    grace: f64,
    now: i64,
}

impl JobTally<'_> {
    /// A candidate job's outcome: its measured nodes added up, or why not.
    fn outcome(&self, c: u32, job_id: &str, ji: Option<u32>) -> Outcome {
        let recs: &[u32] = self.by_job.get(&(c, job_id)).map_or(&[], Vec::as_slice);
        let job = ji.map(|i| &self.jobs[i as usize]);
        let Some(end) = self.end(job, recs) else {
            return Outcome::Pending;
        };
        let complete: Vec<u32> = recs
            .iter()
            .copied()
            .filter(|&k| self.rows[k as usize].complete)
            .collect();
        let expected = job
            .and_then(|j| j.nnodes)
            .or(Some(recs.len() as u32))
            .filter(|&n| n > 0);
        if self.waits_for_epilogs(job, recs, complete.len(), expected, end) {
            return Outcome::Pending;
        }
        if recs.is_empty() {
            // A wattmeter job: every node of its allocation must be measured.
            let job_pairs: Vec<u32> = job.map_or(Vec::new(), |j| {
                (j.first_pair..j.first_pair + j.n_pairs).collect()
            });
            let expected = Some(job_pairs.len() as u32);
            return self.add_up(&job_pairs, true, expected);
        }
        let job_pairs: Vec<u32> = complete
            .iter()
            .map(|&k| self.pair_of_record[k as usize])
            .collect();
        self.add_up(&job_pairs, false, expected)
    }

    /// When the job ended: sacct's end, else its latest record's; `None` while running.
    fn end(&self, job: Option<&JobLite>, recs: &[u32]) -> Option<f64> {
        match job {
            Some(j) => j.end.map(|e| e as f64),
            None => recs
                .iter()
                .filter_map(|&k| self.rows[k as usize].end)
                .reduce(f64::max),
        }
    }

    /// Whether a job with records waits for more: it has not ended for good, or records are
    /// missing and the grace period since `end` has not passed.
    fn waits_for_epilogs(
        &self,
        job: Option<&JobLite>,
        recs: &[u32],
        complete: usize,
        expected: Option<u32>,
        end: f64,
    ) -> bool {
        let job_final = job.is_none_or(|j| j.is_final);
        let missing = expected.unwrap_or(0) as usize > complete;
        !recs.is_empty() && (!job_final || (missing && (self.now as f64) - end < self.grace))
    }

    /// Adds up the node energies of `job_pairs`, with their records' per-scope sums; with
    /// `all_measured` (a wattmeter job) a pair the engine did not measure leaves the job
    /// unmeasured.
    fn add_up(&self, job_pairs: &[u32], all_measured: bool, expected: Option<u32>) -> Outcome {
        let mut nodes_e = Vec::new();
        let mut scope_sums = [None; SCOPES.len()];
        for &p in job_pairs {
            match self.results.get(&p) {
                Some(n) => {
                    nodes_e.push(n.clone());
                    if let Some(k) = self.pairs[p as usize].record() {
                        add_scopes(&mut scope_sums, &self.rows[k as usize].energy_j);
                    }
                }
                None if all_measured => return Outcome::NotMeasured,
                None => {}
            }
        }
        match measured::combine(&nodes_e, scope_sums, expected) {
            Some(m) => Outcome::Measured(Box::new(m)),
            None => Outcome::NotMeasured,
        }
    }
}

/// Adds a record's per-scope energies to `sums`; a scope stays `None` until one has it.
fn add_scopes(sums: &mut [Option<f64>; SCOPES.len()], energy_j: &[Option<f64>; SCOPES.len()]) {
    for (sum, v) in sums.iter_mut().zip(energy_j) {
        if let Some(v) = v {
            *sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
}

/// The candidates' outcomes as [`Measured`]: the measured jobs by cluster name and JobID, and
/// the count of pending ones.
fn gather_outcomes(
    clusters: &Interner,
    candidates: &[(u32, &str, Option<u32>)],
    outcomes: Vec<Outcome>,
) -> Measured {
    let mut measured = Measured::empty();
    for (&(c, job_id, _), outcome) in candidates.iter().zip(outcomes) {
        match outcome {
            Outcome::Measured(m) => {
                measured
                    .jobs
                    .push((clusters.name(c).to_string(), job_id.to_string(), m))
            }
            Outcome::Pending => measured.pending += 1,
            Outcome::NotMeasured => {}
        }
    }
    measured
}

/// How many job-node pairs the engine is given at once.
const SHARD_PAIRS: usize = 250_000;

/// A job-node pair of the derivation (12 bytes: a month has millions).
#[derive(Clone, Copy)]
struct Pair {
    /// An index into the jobs read; [`NONE`] for a job known only from its records.
    job: u32,
    node: u32,
    /// The node record of this job on this node; [`NONE`] if none.
    record: u32,
}

const NONE: u32 = u32::MAX;

impl Pair {
    fn new(job: Option<u32>, node: u32, record: Option<u32>) -> Self {
        Self {
            job: job.unwrap_or(NONE),
            node,
            record: record.unwrap_or(NONE),
        }
    }
    fn job(&self) -> Option<u32> {
        (self.job != NONE).then_some(self.job)
    }
    fn record(&self) -> Option<u32> {
        (self.record != NONE).then_some(self.record)
    }
}

/// What a pair's figures are computed from.
struct PairContext<'a> {
    pairs: &'a [Pair],
    jobs: &'a [JobLite],
    records: &'a [NodeRecordRow],
    series: &'a FastMap<u32, Vec<(f64, f64)>>,
    nodes: &'a NodeIds,
    now: i64,
}

impl PairContext<'_> {
    /// A pair's interval in epoch seconds: its record's, else sacct's (until now for a job
    /// still running); `None` without a start.
    fn seconds(&self, p: usize) -> Option<(f64, f64)> {
        let pair = &self.pairs[p];
        let rec = pair.record().map(|k| &self.records[k as usize]);
        let job = pair.job().map(|i| &self.jobs[i as usize]);
        match (rec.and_then(|r| r.start), job) {
            (Some(s), _) => Some((s, rec.and_then(|r| r.end).unwrap_or(self.now as f64))),
            (None, Some(j)) => Some((
                j.start as f64,
                j.end.unwrap_or(self.now).max(j.start) as f64,
            )),
            (None, None) => None,
        }
    }

    /// The pair's interval in microseconds, and whether it has a meter; cheap for the pairs
    /// that have neither a record nor a series.
    fn span(&self, p: usize) -> Option<(i64, i64, bool)> {
        let pair = &self.pairs[p];
        if pair.record().is_some() || self.series.contains_key(&pair.node) {
            let i = self.input(p)?;
            return Some((i.start.0, i.end.0.max(i.start.0), !i.meters.is_empty()));
        }
        let (s, e) = self.seconds(p)?;
        let (s, e) = ((s * 1e6).round() as i64, (e * 1e6).round() as i64);
        Some((s, e.max(s), false))
    }

    /// The pair as the engine takes it: its interval, what the job held there (the record's
    /// allocation, else sacct's totals divided over its nodes), and its meters (the complete
    /// record's; an ingested series covering the interval stands for the node's external
    /// wattmeter). The pair's index is its key.
    fn input(&self, p: usize) -> Option<JobNodeInput> {
        let (start, end) = self.seconds(p)?;
        let pair = &self.pairs[p];
        let rec = pair.record().map(|k| &self.records[k as usize]);
        let from_sacct = pair
            .job()
            .map(|i| self.jobs[i as usize].held_per_node())
            .unwrap_or_default();
        let held = match rec {
            Some(r) => Held {
                cpus: r.cpus_on_node.or(from_sacct.cpus),
                gpus: r.gpus_on_node.or(from_sacct.gpus),
                memory_mb: r.memory_mb.or(from_sacct.memory_mb),
                billing: None,
            },
            None => from_sacct,
        };
        let mut meters = rec
            .filter(|r| r.complete)
            .map(NodeRecordRow::meters)
            .unwrap_or_default();
        if let Some(s) = self.series.get(&pair.node) {
            let (e, cov) = wattmeter::integrate(s, start, end);
            if cov >= 0.95 {
                meters.retain(|m| m.scope != ea_record::Scope::NodeWattmeter);
                meters.push(MeterEnergy {
                    scope: ea_record::Scope::NodeWattmeter,
                    energy_j: e / cov,
                    job_owned: None,
                });
            }
        }
        Some(JobNodeInput {
            job: p as u64,
            node: self.nodes.name(pair.node).to_string(),
            start: UnixMicros((start * 1e6).round() as i64),
            end: UnixMicros((end * 1e6).round() as i64),
            exclusive: false,
            held,
            meters,
        })
    }
}

enum Outcome {
    Measured(Box<measured::JobMeasured>),
    /// Waiting for node records (or for the job to end).
    Pending,
    NotMeasured,
}

/// Node names numbered across clusters (the same name in two clusters is two nodes).
#[derive(Default)]
struct NodeIds {
    by_cluster: Vec<FastMap<String, u32>>,
    names: Vec<(u32, String)>,
    /// Per node, when set (see [`NodeIds::set_envelopes`]): the spans (epoch seconds) outside
    /// which no pair of the node can meet a measured one; `None`, or a node numbered later,
    /// keeps every pair.
    envelopes: Vec<Option<Vec<(i64, i64)>>>,
    /// The end of a job still running, epoch seconds.
    now: i64,
}

impl NodeIds {
    /// Keeps, per node of `records`, the spans of its records widened by a second: a measured
    /// pair's interval is its record's, so a job's pair on the node outside them cannot meet
    /// one, and is left out of the scan (a month's jobs hold three million pairs, of which a
    /// fifth meet a measured job). A node with a record without a start keeps every pair.
    fn set_envelopes(&mut self, records: &Records, now: i64) {
        let mut spans: Vec<Option<Vec<(i64, i64)>>> = vec![Some(Vec::new()); self.names.len()];
        for (r, &c) in records.rows.iter().zip(&records.cluster) {
            let Some(n) = self.get(c, &r.node) else {
                continue;
            };
            match (r.start, &mut spans[n as usize]) {
                (Some(s), Some(v)) => {
                    let e = r.end.unwrap_or(now as f64).max(s);
                    v.push((s.floor() as i64 - 1, e.ceil() as i64 + 1));
                }
                (None, slot) => *slot = None,
                (Some(_), None) => {}
            }
        }
        self.envelopes = spans
            .into_iter()
            .map(|v| v.map(|v| merged_spans(v.into_iter())))
            .collect();
        self.now = now;
    }

    /// Whether a job's pair on node `n`, from `start` to `end` (`None`: still running), is kept.
    fn keeps(&self, n: u32, start: i64, end: Option<i64>) -> bool {
        match self.envelopes.get(n as usize) {
            Some(Some(spans)) => overlaps(spans, start, end.unwrap_or(self.now).max(start)),
            _ => true,
        }
    }

    fn id(&mut self, cluster: u32, name: &str) -> u32 {
        if self.by_cluster.len() <= cluster as usize {
            self.by_cluster
                .resize_with(cluster as usize + 1, FastMap::default);
        }
        if let Some(&i) = self.by_cluster[cluster as usize].get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.by_cluster[cluster as usize].insert(name.to_string(), i);
        self.names.push((cluster, name.to_string()));
        i
    }
    fn get(&self, cluster: u32, name: &str) -> Option<u32> {
        self.by_cluster.get(cluster as usize)?.get(name).copied()
    }
    fn name(&self, i: u32) -> &str {
        &self.names[i as usize].1
    }
    fn cluster_of(&self, i: u32) -> u32 {
        self.names[i as usize].0
    }
    fn len(&self) -> usize {
        self.names.len()
    }
}

/// Disjoint spans covering the given intervals, sorted.
fn merged_spans(intervals: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = intervals.collect();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether `[s, e]` meets one of the sorted disjoint `spans` (touching counts).
fn overlaps(spans: &[(i64, i64)], s: i64, e: i64) -> bool {
    let k = spans.partition_point(|&(_, end)| end < s);
    spans.get(k).is_some_and(|&(start, _)| start <= e)
}

fn load_records(
    conn: &Connection,
    a: f64,
    b: f64,
    clusters: &mut Interner,
) -> rusqlite::Result<Records> {
    let mut out = Records::default();
    ea_store::measured::records_in(conn, a, b, |cluster, r| {
        out.cluster.push(clusters.id(cluster));
        out.rows.push(NodeRecordRow {
            cluster: String::new(),
            job_id: r.job_id,
            job_id_raw: 0,
            node: r.node,
            complete: r.complete,
            start: r.start,
            end: r.end,
            uid: 0,
            user: None,
            account: None,
            partition: None,
            cpus_on_node: r.cpus_on_node,
            gpus_on_node: r.gpus_on_node,
            memory_mb: r.memory_mb,
            node_list: None,
            num_nodes: r.num_nodes,
            exit_code: None,
            energy_j: r.energy_j,
            gpu_others_j: r.gpu_others_j,
            gpu_unknown_j: r.gpu_unknown_j,
            flags: r.flags,
            hash: 0,
        });
    })?;
    Ok(out)
}

/// What the scan of the jobs table found.
#[derive(Default)]
struct JobScan {
    jobs: Vec<JobLite>,
    /// Each job's pairs on the nodes that matter, in job order.
    pairs: Vec<Pair>,
    /// The jobs that have records: by the index of their first record.
    job_of_record: FastMap<u32, u32>,
    /// Jobs with a pair on a node with a wattmeter series, with their cluster and JobID.
    on_sampled_nodes: Vec<(u32, u32, String)>,
}

impl JobScan {
    /// The job of a measured job's records.
    fn job_of(&self, records: &[u32]) -> Option<u32> {
        self.job_of_record.get(records.first()?).copied()
    }
}

/// A job's columns, as read from the store or from what the run wrote.
type JobFields<'a> = ea_store::measured::JobSpan<'a>;

/// The jobs a derivation looks at, from `[lo, hi]` (epoch seconds): those that ran during it,
/// started at most a month before it (the store's query, and its filter on captured jobs).
struct JobWindow {
    lo: i64,
    hi: i64,
    earliest: i64,
}

impl JobWindow {
    const HORIZON_S: f64 = 31.0 * 86_400.0;

    fn new(lo: f64, hi: f64) -> Self {
        Self {
            lo: lo.floor() as i64,
            hi: hi.ceil() as i64,
            earliest: (lo - Self::HORIZON_S).floor() as i64,
        }
    }

    fn holds(&self, start: Option<i64>, end: Option<i64>) -> bool {
        start.is_some_and(|s| s <= self.hi && s >= self.earliest)
            && end.is_none_or(|e| e >= self.lo)
    }
}

/// Jobs with records: per cluster, JobID → the index of its first record.
fn wanted_jobs(by_job: &BTreeMap<(u32, &str), Vec<u32>>) -> Vec<FastMap<String, u32>> {
    let mut wanted: Vec<FastMap<String, u32>> = Vec::new();
    for (&(c, id), recs) in by_job {
        if wanted.len() <= c as usize {
            wanted.resize_with(c as usize + 1, FastMap::default);
        }
        wanted[c as usize].insert(id.to_string(), recs[0]);
    }
    wanted
}

impl JobScan {
    /// Adds a job of `cluster` (numbered), its pairs on the nodes `nodes` knows.
    fn push(
        &mut self,
        cluster: u32,
        f: &JobFields<'_>,
        nodes: &NodeIds,
        sampled: &FastSet<u32>,
        wanted: &[FastMap<String, u32>],
    ) {
        let i = self.jobs.len() as u32;
        if let Some(&k) = wanted.get(cluster as usize).and_then(|m| m.get(f.job_id)) {
            self.job_of_record.insert(k, i);
        }
        let first_pair = self.pairs.len() as u32;
        let mut listed = 0u32;
        let mut on_sampled = false;
        if let Some(list) = f.node_list {
            let known = nodes.by_cluster.get(cluster as usize);
            let pairs = &mut self.pairs;
            ea_record::hostlist::for_each_node(list, |name| {
                listed += 1;
                if let Some(&n) = known.and_then(|m| m.get(name))
                    && nodes.keeps(n, f.start, f.end)
                {
                    on_sampled |= sampled.contains(&n);
                    pairs.push(Pair::new(Some(i), n, None));
                }
            });
        }
        if on_sampled {
            self.on_sampled_nodes
                .push((i, cluster, f.job_id.to_string()));
        }
        self.jobs.push(JobLite {
            start: f.start,
            end: f.end,
            nnodes: f.nnodes,
            ncpus: f.ncpus,
            gpus: f.gpus,
            req_mem_mb: f.req_mem_mb,
            is_final: f.is_final,
            listed_nodes: listed,
            first_pair,
            n_pairs: self.pairs.len() as u32 - first_pair,
        });
    }

    /// Scans of consecutive pieces of the jobs, as one.
    fn concat(pieces: Vec<JobScan>) -> JobScan {
        let mut all = JobScan::default();
        all.jobs
            .reserve_exact(pieces.iter().map(|p| p.jobs.len()).sum());
        all.pairs
            .reserve_exact(pieces.iter().map(|p| p.pairs.len()).sum());
        for p in pieces {
            let (job0, pair0) = (all.jobs.len() as u32, all.pairs.len() as u32);
            all.jobs.extend(p.jobs.into_iter().map(|mut j| {
                j.first_pair += pair0;
                j
            }));
            all.pairs.extend(p.pairs.into_iter().map(|mut pr| {
                if pr.job != NONE {
                    pr.job += job0;
                }
                pr
            }));
            all.job_of_record
                .extend(p.job_of_record.into_iter().map(|(k, i)| (k, i + job0)));
            all.on_sampled_nodes.extend(
                p.on_sampled_nodes
                    .into_iter()
                    .map(|(i, c, id)| (i + job0, c, id)),
            );
        }
        all
    }
}

/// Jobs that ran during `[lo, hi]` (epoch seconds), started at most a month before it, read
/// from the store: their intervals, what they held, and their pairs on the nodes of `nodes`
/// (the nodes of wattmeter series are added for every cluster met). Jobs with records are
/// found by their ids.
fn load_jobs(
    conn: &Connection,
    lo: f64,
    hi: f64,
    clusters: &mut Interner,
    nodes: &mut NodeIds,
    sample_nodes: &[String],
    by_job: &BTreeMap<(u32, &str), Vec<u32>>,
) -> rusqlite::Result<JobScan> {
    let w = JobWindow::new(lo, hi);
    // Ended jobs started at most the longest ended job's run before the window (what the
    // allocation records; else the horizon); running ones, from the horizon on.
    let longest = ea_store::meta::allocation_longest_s(conn)?;
    let ended_from = longest.map_or(w.earliest, |l| (w.lo - l).max(w.earliest));
    let wanted = wanted_jobs(by_job);
    let mut sampled: FastSet<u32> = FastSet::default();
    for c in 0..clusters.len() as u32 {
        for n in sample_nodes {
            sampled.insert(nodes.id(c, n));
        }
    }
    let mut scan = JobScan::default();
    ea_store::measured::jobs_around(
        conn,
        w.lo,
        w.hi,
        w.earliest,
        ended_from,
        |cluster_name, f| {
            let cluster = match clusters.get(cluster_name) {
                Some(c) => c,
                None => {
                    let c = clusters.id(cluster_name);
                    for n in sample_nodes {
                        sampled.insert(nodes.id(c, n));
                    }
                    c
                }
            };
            scan.push(cluster, f, nodes, &sampled, &wanted);
        },
    )?;
    Ok(scan)
}

/// [`load_jobs`] over the jobs the run wrote into an empty table: the same jobs in the same
/// order (a job written again, which one input never does, replaces the earlier write in
/// place), in parallel pieces.
#[allow(clippy::too_many_arguments)]
fn scan_captured_jobs(
    jobs: &[CapturedJob],
    cluster_names: &[String],
    may_repeat: bool,
    lo: f64,
    hi: f64,
    clusters: &mut Interner,
    nodes: &mut NodeIds,
    sample_nodes: &[String],
    by_job: &BTreeMap<(u32, &str), Vec<u32>>,
) -> JobScan {
    let w = JobWindow::new(lo, hi);
    let order = if may_repeat {
        written_once(
            jobs.iter()
                .map(|j| (cluster_names[j.cluster as usize].as_str(), &*j.job_id, "")),
        )
    } else {
        (0..jobs.len()).collect()
    };
    // Clusters and the nodes of wattmeter series are numbered before the parallel part, which
    // only looks names up.
    let cluster_ids: Vec<u32> = cluster_names.iter().map(|c| clusters.id(c)).collect();
    for c in 0..clusters.len() as u32 {
        for n in sample_nodes {
            nodes.id(c, n);
        }
    }
    let (clusters, nodes) = (&*clusters, &*nodes);
    let sampled: FastSet<u32> = (0..clusters.len() as u32)
        .flat_map(|c| sample_nodes.iter().filter_map(move |n| nodes.get(c, n)))
        .collect();
    let wanted = wanted_jobs(by_job);
    let pieces: Vec<JobScan> = order
        .par_chunks(16_384)
        .map(|chunk| {
            let mut scan = JobScan::default();
            for &i in chunk {
                let j = &jobs[i];
                if !w.holds(j.start, j.end) {
                    continue;
                }
                let cluster = cluster_ids[j.cluster as usize];
                let f = JobFields {
                    job_id: &j.job_id,
                    start: j.start.unwrap_or_default(),
                    end: j.end,
                    nnodes: j.nnodes,
                    ncpus: j.ncpus,
                    gpus: j.gpus,
                    req_mem_mb: j.req_mem_mb,
                    node_list: j.node_list.as_deref(),
                    is_final: j.is_final,
                };
                scan.push(cluster, &f, nodes, &sampled, &wanted);
            }
            scan
        })
        .collect();
    JobScan::concat(pieces)
}

/// The positions of rows written once or more, each at its first writing, holding the index
/// of its last; rows are told apart by their key (cluster, id, node).
fn written_once<'a>(keys: impl Iterator<Item = (&'a str, &'a str, &'a str)> + Clone) -> Vec<usize> {
    // Hashes first: when none repeats (always, for one input), no key is compared.
    let mut hashes: FastSet<u64> = FastSet::default();
    let mut n = 0;
    let mut repeats = false;
    for (c, id, node) in keys.clone() {
        let mut h = ea_sacct::rowhash::Fnv::default();
        h.str(Some(c)).str(Some(id)).str(Some(node));
        repeats |= !hashes.insert(h.finish() as u64);
        n += 1;
    }
    if !repeats {
        return (0..n).collect();
    }
    let mut first: FastMap<(&str, &str, &str), usize> = FastMap::default();
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for (i, key) in keys.enumerate() {
        match first.get(&key) {
            Some(&at) => order[at] = i,
            None => {
                first.insert(key, order.len());
                order.push(i);
            }
        }
    }
    order
}

/// [`load_records`] over the records the run wrote into an empty table: the same records in
/// the same order (a record written again replaces the earlier write in place), within
/// `[a, b]`.
fn captured_records(
    written: Vec<NodeRecordRow>,
    a: f64,
    b: f64,
    clusters: &mut Interner,
) -> Records {
    let order = written_once(
        written
            .iter()
            .map(|r| (r.cluster.as_str(), r.job_id.as_str(), r.node.as_str())),
    );
    let mut rows = if order.len() == written.len() && order.iter().enumerate().all(|(k, &i)| k == i)
    {
        written
    } else {
        let mut slots: Vec<Option<NodeRecordRow>> = written.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    };
    rows.retain(|r| r.end.is_none_or(|e| e >= a) && r.start.is_none_or(|s| s <= b));
    let cluster = rows.iter().map(|r| clusters.id(&r.cluster)).collect();
    Records { rows, cluster }
}

/// Measured and Green-Algorithms-estimated energies of the measured jobs, by calibration group
/// ([`calibration_group`]), each group's points in the order of their jobs' keys.
type CalibrationPoints = BTreeMap<String, Vec<estimate::CalibrationPoint>>;

/// A measured job's calibration point: its measured energy, Green Algorithms' estimate of it
/// and its allocated CPU-seconds (callers keep only final jobs that ran).
fn calibration_point(
    measured_j: f64,
    input: &EstimateInput,
    settings: &Settings,
    partition: Option<&str>,
) -> estimate::CalibrationPoint {
    estimate::CalibrationPoint {
        measured_j,
        ga_j: estimate::green_algorithms_j(input, &settings.estimate, partition),
        allocated_cpu_s: estimate::allocated_cpu_s(input),
    }
}

/// The calibration's points from the store: every final measured job that ran.
fn calibration_points_of_store(
    conn: &Connection,
    settings: &Settings,
) -> rusqlite::Result<CalibrationPoints> {
    let mut points = CalibrationPoints::new();
    ea_store::measured::calibration_jobs(conn, |j| {
        points
            .entry(calibration_group(&j.cluster, j.partition.as_deref()))
            .or_default()
            .push(calibration_point(
                j.energy_j,
                &j.input,
                settings,
                j.partition.as_deref(),
            ));
    })?;
    Ok(points)
}

/// The calibration's points from the jobs a first ingest kept in memory: what
/// [`calibration_points_of_store`] reads once `measured` is stored, in the same order,
/// without reading the month's jobs back (half a second on a large centre's month). A job
/// written twice counts as written last.
fn calibration_points(
    measured: &Measured,
    jobs: &[CapturedJob],
    (clusters, partitions): (&[String], &[String]),
    settings: &Settings,
) -> CalibrationPoints {
    let energy: FastMap<(&str, &str), f64> = measured
        .jobs
        .iter()
        .map(|(c, j, m)| ((c.as_str(), j.as_str()), m.energy_j))
        .collect();
    let mut rows: FastMap<(&str, &str), &CapturedJob> = FastMap::default();
    for j in jobs {
        let key = (clusters[j.cluster as usize].as_str(), &*j.job_id);
        if energy.contains_key(&key) {
            rows.insert(key, j);
        }
    }
    let mut rows: Vec<((&str, &str), &CapturedJob)> = rows.into_iter().collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut points = CalibrationPoints::new();
    for ((cluster, job_id), j) in rows {
        let Some(elapsed_s) = j.elapsed_s.filter(|&e| e > 0 && j.is_final) else {
            continue;
        };
        let partition = j.partition.map(|p| partitions[p as usize].as_str());
        let input = EstimateInput {
            elapsed_s: elapsed_s as f64,
            ncpus: j.ncpus,
            total_cpu_s: j.total_cpu_s,
            cpu_time_s: j.cpu_time_s,
            gpus: j.gpus,
            req_mem_mb: j.req_mem_mb,
        };
        points
            .entry(calibration_group(cluster, partition))
            .or_default()
            .push(calibration_point(
                energy[&(cluster, job_id)],
                &input,
                settings,
                partition,
            ));
    }
    points
}

/// Fits each group's calibration and stores them in place of the old ones.
fn store_calibrations(
    conn: &Connection,
    points: CalibrationPoints,
    settings: &Settings,
) -> rusqlite::Result<Vec<(String, estimate::Calibration)>> {
    let mut out = Vec::new();
    for (grp, p) in points {
        if let Some(c) = estimate::calibrate(&p, settings.estimate.min_calibration_jobs) {
            out.push((grp, c));
        }
    }
    ea_store::measured::replace_calibrations(conn, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of job `job_id` on `node`, complete or not, over `[start, end]`.
    fn record(
        job_id: &str,
        node: &str,
        complete: bool,
        start: f64,
        end: Option<f64>,
    ) -> NodeRecordRow {
        NodeRecordRow {
            cluster: String::new(),
            job_id: job_id.into(),
            job_id_raw: 0,
            node: node.into(),
            complete,
            start: Some(start),
            end,
            uid: 0,
            user: None,
            account: None,
            partition: None,
            cpus_on_node: None,
            gpus_on_node: None,
            memory_mb: None,
            node_list: None,
            num_nodes: None,
            exit_code: None,
            energy_j: [None; SCOPES.len()],
            gpu_others_j: None,
            gpu_unknown_j: None,
            flags: String::new(),
            hash: 0,
        }
    }

    fn records(rows: Vec<(u32, NodeRecordRow)>) -> Records {
        let (cluster, rows) = rows.into_iter().unzip();
        Records { rows, cluster }
    }

    fn job(
        end: Option<i64>,
        nnodes: Option<u32>,
        is_final: bool,
        first_pair: u32,
        n_pairs: u32,
    ) -> JobLite {
        JobLite {
            start: 0,
            end,
            nnodes,
            ncpus: None,
            gpus: None,
            req_mem_mb: None,
            is_final,
            listed_nodes: nnodes.unwrap_or(1),
            first_pair,
            n_pairs,
        }
    }

    fn node_energy(node: &str, energy_j: f64) -> NodeEnergy {
        NodeEnergy {
            node: node.into(),
            energy_j,
            min_j: energy_j,
            max_j: energy_j,
            scope: "node_bmc",
            split: false,
            flags: Vec::new(),
        }
    }

    #[test]
    fn the_window_widens_to_every_record() {
        let recs = records(vec![
            (0, record("1", "a", true, 50.0, Some(300.0))),
            (0, record("2", "b", false, 150.0, None)),
        ]);
        assert_eq!(records_window(100.0, 200.0, &recs), (50.0, 300.0));
        assert_eq!(records_window(0.0, 1000.0, &recs), (0.0, 1000.0));
    }

    #[test]
    fn records_are_grouped_by_cluster_and_job() {
        let recs = records(vec![
            (0, record("1", "a", true, 0.0, Some(1.0))),
            (1, record("1", "a", true, 0.0, Some(1.0))),
            (0, record("1", "b", true, 0.0, Some(1.0))),
            (0, record("2", "a", true, 0.0, Some(1.0))),
        ]);
        let by_job = records_by_job(&recs);
        assert_eq!(by_job.len(), 3);
        assert_eq!(by_job[&(0, "1")], vec![0, 2]);
        assert_eq!(by_job[&(1, "1")], vec![1]);
        assert_eq!(by_job[&(0, "2")], vec![3]);
    }

    #[test]
    fn the_same_node_name_in_two_clusters_is_two_nodes() {
        let recs = records(vec![
            (0, record("1", "a", true, 0.0, Some(1.0))),
            (1, record("2", "a", true, 0.0, Some(1.0))),
            (0, record("3", "a", true, 0.0, Some(1.0))),
        ]);
        let nodes = number_nodes(&recs, 10, true);
        assert_eq!(nodes.len(), 2);
        assert_ne!(nodes.get(0, "a"), nodes.get(1, "a"));
        assert_eq!(nodes.cluster_of(nodes.get(1, "a").unwrap()), 1);
        assert_eq!(nodes.get(0, "b"), None);
    }

    #[test]
    fn spans_merge_and_overlap_with_touching_ends() {
        let merged = merged_spans([(5, 7), (0, 2), (2, 3), (10, 12)].into_iter());
        assert_eq!(merged, vec![(0, 3), (5, 7), (10, 12)]);
        assert!(overlaps(&merged, 3, 4));
        assert!(overlaps(&merged, 4, 5));
        assert!(!overlaps(&merged, 8, 9));
        assert!(!overlaps(&merged, 13, 20));
    }

    #[test]
    fn each_record_knows_its_pair() {
        let pairs = [
            Pair::new(Some(0), 0, None),
            Pair::new(Some(0), 1, Some(2)),
            Pair::new(None, 2, Some(0)),
        ];
        assert_eq!(pair_of_record(&pairs, 4), vec![2, NONE, 1, NONE]);
    }

    #[test]
    fn scopes_add_up_only_where_a_meter_read() {
        let mut sums = [None; SCOPES.len()];
        let mut a = [None; SCOPES.len()];
        a[0] = Some(10.0);
        let mut b = [None; SCOPES.len()];
        b[0] = Some(5.0);
        b[1] = Some(1.0);
        add_scopes(&mut sums, &a);
        add_scopes(&mut sums, &b);
        assert_eq!(sums[0], Some(15.0));
        assert_eq!(sums[1], Some(1.0));
        assert!(sums[2..].iter().all(Option::is_none));
    }

    #[test]
    fn candidates_are_recorded_jobs_and_ended_jobs_on_wattmeter_nodes() {
        let recs = records(vec![(0, record("1", "a", true, 0.0, Some(1.0)))]);
        let by_job = records_by_job(&recs);
        let mut scan = JobScan {
            jobs: vec![
                job(Some(1), Some(1), true, 0, 1),
                job(None, Some(1), false, 1, 1),
                job(Some(1), Some(1), true, 2, 1),
            ],
            ..Default::default()
        };
        scan.job_of_record.insert(0, 0);
        scan.on_sampled_nodes = vec![
            (0, 0, "1".into()),
            (1, 0, "5".into()),
            (2, 0, "3".into()),
            (2, 0, "3".into()),
        ];
        let c = measured_candidates(&by_job, &scan);
        // Job 1 once (records and series), job 5 not (still running), job 3 once.
        assert_eq!(c, vec![(0, "1", Some(0)), (0, "3", Some(2))]);
    }

    /// A tally of one job on two nodes (pairs 0 and 1, records 0 and 1).
    fn tally_of<'a>(
        by_job: &'a RecordsByJob<'a>,
        rows: &'a [NodeRecordRow],
        jobs: &'a [JobLite],
        pairs: &'a [Pair],
        results: &'a FastMap<u32, NodeEnergy>,
        now: i64,
    ) -> JobTally<'a> {
        JobTally {
            by_job,
            rows,
            jobs,
            pairs,
            results,
            pair_of_record: pair_of_record(pairs, rows.len()),
            grace: 600.0,
            now,
        }
    }

    #[test]
    fn a_job_missing_a_record_waits_for_the_grace_period_then_is_measured() {
        let recs = records(vec![
            (0, record("1", "a", true, 0.0, Some(100.0))),
            (0, record("1", "b", false, 0.0, None)),
        ]);
        let by_job = records_by_job(&recs);
        let jobs = [job(Some(100), Some(2), true, 0, 2)];
        let pairs = [
            Pair::new(Some(0), 0, Some(0)),
            Pair::new(Some(0), 1, Some(1)),
        ];
        let mut results = FastMap::default();
        results.insert(0, node_energy("a", 40.0));
        let early = tally_of(&by_job, &recs.rows, &jobs, &pairs, &results, 200);
        assert!(matches!(early.outcome(0, "1", Some(0)), Outcome::Pending));
        let late = tally_of(&by_job, &recs.rows, &jobs, &pairs, &results, 100 + 601);
        match late.outcome(0, "1", Some(0)) {
            Outcome::Measured(m) => {
                assert_eq!(m.nodes_recorded, 1);
                assert_eq!(m.nodes_expected, Some(2));
                // The missing node is taken to be like the recorded one.
                assert_eq!(m.energy_j, 80.0);
            }
            _ => panic!("expected a measured job"),
        }
    }

    #[test]
    fn a_running_job_and_a_wattmeter_job_with_an_unmeasured_node() {
        let recs = records(vec![(0, record("1", "a", true, 0.0, Some(100.0)))]);
        let by_job = records_by_job(&recs);
        let jobs = [
            job(None, Some(1), false, 0, 1),
            job(Some(50), Some(2), true, 1, 2),
        ];
        let pairs = [
            Pair::new(Some(0), 0, Some(0)),
            Pair::new(Some(1), 0, None),
            Pair::new(Some(1), 1, None),
        ];
        let mut results = FastMap::default();
        results.insert(0, node_energy("a", 40.0));
        results.insert(1, node_energy("a", 7.0));
        let t = tally_of(&by_job, &recs.rows, &jobs, &pairs, &results, 10_000);
        // sacct says it still runs: no end, so pending whatever its records say.
        assert!(matches!(t.outcome(0, "1", Some(0)), Outcome::Pending));
        // Without records every node must be measured: pair 2 was not.
        assert!(matches!(t.outcome(0, "2", Some(1)), Outcome::NotMeasured));
        results.insert(2, node_energy("b", 3.0));
        let t = tally_of(&by_job, &recs.rows, &jobs, &pairs, &results, 10_000);
        match t.outcome(0, "2", Some(1)) {
            Outcome::Measured(m) => assert_eq!((m.energy_j, m.nodes_recorded), (10.0, 2)),
            _ => panic!("expected a measured job"),
        }
    }

    #[test]
    fn outcomes_are_gathered_by_cluster_name() {
        let mut clusters = Interner::default();
        let (x, y) = (clusters.id("x"), clusters.id("y"));
        let measured = measured::combine(&[node_energy("a", 1.0)], [None; SCOPES.len()], Some(1))
            .expect("one node measured");
        let candidates = [(x, "1", None), (y, "2", None), (y, "3", None)];
        let outcomes = vec![
            Outcome::Pending,
            Outcome::Measured(Box::new(measured)),
            Outcome::NotMeasured,
        ];
        let m = gather_outcomes(&clusters, &candidates, outcomes);
        assert_eq!(m.pending, 1);
        assert_eq!(m.jobs.len(), 1);
        assert_eq!((m.jobs[0].0.as_str(), m.jobs[0].1.as_str()), ("y", "2"));
    }
}
