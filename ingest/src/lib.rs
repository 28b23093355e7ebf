//! `energy-assess ingest`: sacct dumps, live sacct, spool records and wattmeter series into
//! the store.
//!
//! - **Transactional.** One writer transaction covers the whole run; a run that is killed or
//!   fails leaves the store as it was.
//! - **Idempotent and incremental.** Unchanged files are skipped by size and modification
//!   time; rows carry a content hash and only changed rows are written; a final row is never
//!   replaced by a non-final one from an older snapshot.
//! - **Parallel where it can be.** Dumps are read in blocks of whole lines and parsed on the
//!   rayon pool while the single SQLite writer stores the previous block; records are parsed
//!   in parallel.
//! - **Lossless about errors.** A malformed line or unreadable record is reported with its
//!   file and line, counted and skipped; the rest goes in. An input that is not accounting at
//!   all stops the run with a message that says what to give instead.
//!
//! This crate (`ea-ingest`) owns the inputs and the one transaction: [`records`] reads the
//! spools' node records, [`batch`] a collector's batches, [`derive`](mod@derive) computes what is stored
//! of each job (measured energy, split shares, calibrations), [`allocate`] the stored embodied
//! allocation. It parses sacct through `ea-sacct`, writes through `ea-store` (whose typed
//! writes and statements it calls), and takes the impact engine's split (`ea-impact`) and the
//! energy models (`ea-energy`). It does not read the store for queries or reports
//! (`ea-query`).
#![forbid(unsafe_code)]

pub mod allocate;
pub mod batch;
pub mod derive;
pub mod records;
pub mod unstored;

use ea_energy::wattmeter;
use ea_sacct::fastmap::FastMap;
use ea_sacct::rowhash;
use ea_sacct::text::{self, BlockReader, Line, StepLine, TextOptions};
use ea_sacct::timefmt::Clock;
use ea_sacct::{Entry, JobRow, LineError, SourceError, StepRow, json, live};
use ea_store::config::EstimateSettings;
use ea_store::write::{self, Upserted};
use ea_store::{DbError, DeferredIndexes, Store};
use rusqlite::{Connection, TransactionBehavior};
use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Spool roots (the directories holding `records/` and `running/`).
    pub spools: Vec<PathBuf>,
    /// sacct dumps, text or JSON (told apart by their first byte); `-` reads standard input.
    pub sacct: Vec<PathBuf>,
    /// How to read text dumps: delimiter and column list.
    pub text: TextOptions,
    /// A window to ask `sacct` (and `squeue`) for, instead of or beside dumps.
    pub live: Option<LiveWindow>,
    /// External wattmeter series: CSV of node, time and watts (kwollect exports among them).
    pub wattmeters: Vec<PathBuf>,
    /// The metric to keep from a series file that mixes several (default `wattmetre_power_watt`, or the only one).
    pub wattmeter_metric: Option<String>,
    /// Read files again even if unchanged since the last ingest.
    pub force: bool,
}

/// A live sacct call.
#[derive(Debug, Clone)]
pub struct LiveWindow {
    /// The window's start, as `sacct -S` takes it.
    pub start: String,
    /// The window's end, as `sacct -E` takes it.
    pub end: String,
    /// The `sacct` binary to run.
    pub sacct: PathBuf,
    /// The `squeue` binary to run (to tell jobs still completing).
    pub squeue: PathBuf,
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster of rows whose input names none.
    pub cluster: String,
    /// The site's time zone (dump times) and the current instant (jobs still running).
    pub clock: Clock,
    /// How jobs without measurement are estimated, and calibrated.
    pub estimate: EstimateSettings,
    /// How long after a job's end its missing node records are waited for.
    pub record_grace_s: i64,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
    /// The site's inventory: its share rule and node capacities split measured energy on
    /// shared nodes (the impact engine's rule). Without one, no node's size is known: a job
    /// alone on a node gets all of it, jobs together share it evenly (flagged).
    pub inventory: Option<std::sync::Arc<ea_impact::Inventory>>,
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    /// What was read: `sacct-text`, `sacct-json`, `sacct-live`, `spool`, `wattmeter`...
    pub kind: &'static str,
    /// The file, directory or command.
    pub name: String,
    /// `false` when skipped because unchanged since the last ingest.
    pub read: bool,
    /// Rows read from it.
    pub rows: u64,
    /// Rows written to the store (new or changed).
    pub written: u64,
    /// Rows the store already had as they are.
    pub unchanged: u64,
    /// Lines or files that could not be read.
    pub errors: u64,
}

impl SourceSummary {
    /// A source left unread: unchanged since the ingest that read it.
    fn skipped(kind: &'static str, name: String) -> Self {
        Self {
            kind,
            name,
            read: false,
            rows: 0,
            written: 0,
            unchanged: 0,
            errors: 0,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Per input, in the order read.
    pub sources: Vec<SourceSummary>,
    /// The first malformed lines and unreadable records (all are counted in `error_count`).
    pub errors: Vec<String>,
    /// Every malformed line and unreadable record.
    pub error_count: u64,
    /// The jobs table's upserts.
    pub jobs: Upserted,
    /// Steps written inside their jobs.
    pub steps: Upserted,
    /// The node records' upserts.
    pub records: Upserted,
    /// Wattmeter samples written.
    pub samples_written: u64,
    /// Jobs ingested as not final (running, or completing on squeue's word).
    pub not_final: u64,
    /// What the measurement and calibration did.
    pub derived: derive::Derived,
    /// The embodied allocation of the jobs the run touched (or of every job).
    pub allocation: allocate::Outcome,
    /// What the run did not refuse but the operator should hear of (steps dropped for want of their job...).
    pub warnings: Vec<String>,
}

/// How many errors are kept word for word; the rest are only counted.
pub const MAX_ERRORS_SHOWN: usize = 50;

impl Summary {
    fn error(&mut self, e: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS_SHOWN {
            self.errors.push(e);
        }
    }
}

/// An ingest that failed; nothing of it was kept.
#[derive(Debug)]
pub enum IngestError {
    /// The store refused the run (opening, migrating, its schema).
    Db(DbError),
    /// A statement of the run failed.
    Sqlite(rusqlite::Error),
    /// An input that is not accounting or cannot be read.
    Source(SourceError),
    /// The impact engine refused the allocation's periods.
    Allocation(ea_impact::AllocationError),
}

impl From<ea_impact::AllocationError> for IngestError {
    fn from(e: ea_impact::AllocationError) -> Self {
        IngestError::Allocation(e)
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Db(e) => e.fmt(f),
            IngestError::Sqlite(e) => write!(f, "store: {e}"),
            IngestError::Source(e) => e.fmt(f),
            IngestError::Allocation(e) => write!(f, "embodied allocation: {e}"),
        }
    }
}

impl std::error::Error for IngestError {}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Sqlite(e)
    }
}

impl From<SourceError> for IngestError {
    fn from(e: SourceError) -> Self {
        IngestError::Source(e)
    }
}

/// Runs an ingest. Everything happens in one transaction: on error nothing is kept.
///
/// # Errors
/// An input that is not accounting, an unreadable file or spool directory, SQLite errors.
pub fn ingest(
    store: &mut Store,
    inputs: &Inputs,
    settings: &Settings,
) -> Result<Summary, IngestError> {
    let mut summary = Summary::default();
    let store_path = store.path.clone();
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deferred = DeferredIndexes::drop_on_empty_tables(&tx)?;
    let mut window = derive::Window::default();
    let (fresh, nothing_measured) = store_emptiness(&tx)?;
    // A first ingest into an empty store keeps what it writes for the derivation, unless its
    // inputs could write a job twice (several dumps, live calls).
    if fresh && inputs.sacct.len() <= 1 && inputs.live.is_none() && inputs.spools.len() <= 1 {
        window.capture();
    }
    let progress = Progress::new(settings.progress);
    let known = known_spool_files(&tx, &inputs.spools)?;
    let mut run = Run {
        tx: &tx,
        inputs,
        settings,
        summary: &mut summary,
        window: &mut window,
        progress: &progress,
    };
    run.accounting_and_spools(known)?;
    for path in &inputs.wattmeters {
        ingest_wattmeter(&tx, path, inputs, settings, &mut summary, &mut window)?;
    }
    finish_run(
        tx,
        &store_path,
        deferred,
        &mut window,
        nothing_measured,
        settings,
        &mut summary,
        &progress,
    )?;
    progress.finish();
    Ok(summary)
}

/// Whether the store is fresh (no job, no node record) and, fresh, has nothing measured yet
/// either (no wattmeter sample, no measured job): everything measured it will then hold is
/// this run's, whose spans the window takes as they are written.
fn store_emptiness(tx: &Connection) -> rusqlite::Result<(bool, bool)> {
    let fresh = ea_store::read::is_fresh(tx)?;
    let nothing_measured = fresh && ea_store::read::nothing_measured(tx)?;
    Ok((fresh, nothing_measured))
}

/// Per spool, the files of its directories the store has read, as they were then.
fn known_spool_files(
    tx: &Connection,
    spools: &[PathBuf],
) -> rusqlite::Result<Vec<ea_store::read::KnownFiles>> {
    let mut known = Vec::with_capacity(spools.len());
    for spool in spools {
        let dirs: Vec<String> = records::spool_dirs(spool)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        known.push(ea_store::read::known_files(tx, &dirs)?);
    }
    Ok(known)
}

/// What the accounting and spool steps of one run share.
struct Run<'r> {
    tx: &'r Connection,
    inputs: &'r Inputs,
    settings: &'r Settings,
    summary: &'r mut Summary,
    window: &'r mut derive::Window,
    progress: &'r Progress,
}

impl Run<'_> {
    /// The dumps and the live call, then the spools. Spools are listed and their records
    /// read and parsed in the background from the start, on the cores the dumps' single
    /// writer leaves idle; they are written after the dumps.
    fn accounting_and_spools(
        &mut self,
        known: Vec<ea_store::read::KnownFiles>,
    ) -> Result<(), IngestError> {
        let (inputs, settings) = (self.inputs, self.settings);
        std::thread::scope(|scope| -> Result<(), IngestError> {
            let mut spools: Vec<SpoolWriter> = inputs
                .spools
                .iter()
                .zip(known)
                .map(|(spool, known)| {
                    SpoolWriter::new(SpoolReader::start(
                        scope,
                        spool,
                        known,
                        inputs.force,
                        &settings.cluster,
                    ))
                })
                .collect();
            for path in &inputs.sacct {
                let _p = ea_store::profile::Phase::start("sacct dump");
                self.sacct_input(path, &mut spools)?;
            }
            if let Some(l) = &inputs.live {
                self.live(l, &mut spools)?;
            }
            for spool in spools.drain(..) {
                let _p = ea_store::profile::Phase::start("spool records");
                spool.finish(self.tx, self.summary, self.window, self.progress)?;
            }
            Ok(())
        })
    }

    /// One sacct dump (a file, or `-` for standard input): read unless unchanged since last
    /// time, written with the spools' records read meanwhile.
    fn sacct_input(&mut self, path: &Path, spools: &mut [SpoolWriter]) -> Result<(), IngestError> {
        let (tx, inputs, settings, progress) = (self.tx, self.inputs, self.settings, self.progress);
        let (summary, window) = (&mut *self.summary, &mut *self.window);
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| SourceError::Io {
                    path: path.into(),
                    source,
                })?;
            return ingest_sacct_bytes(
                tx, &bytes, "stdin", "sacct", None, None, inputs, settings, summary, window,
                progress, spools,
            );
        }
        let (name, size, mtime) = file_identity(path)?;
        let is_json = is_json_dump(path)?;
        let kind = if is_json { "sacct-json" } else { "sacct-text" };
        if !inputs.force && write::source_unchanged(tx, kind, &name, size, mtime)? {
            summary.sources.push(SourceSummary::skipped(kind, name));
            return Ok(());
        }
        let display = path.display().to_string();
        if is_json {
            let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
                path: path.into(),
                source,
            })?;
            return ingest_sacct_bytes(
                tx,
                &bytes,
                &display,
                &name,
                Some(size),
                Some(mtime),
                inputs,
                settings,
                summary,
                window,
                progress,
                spools,
            );
        }
        let source = StoredSource {
            kind,
            name,
            size,
            mtime,
        };
        ingest_text_file(
            tx, path, source, inputs, settings, summary, window, progress, spools,
        )
    }

    /// The live call: sacct (and squeue, for jobs still completing) over its window.
    fn live(&mut self, l: &LiveWindow, spools: &mut [SpoolWriter]) -> Result<(), IngestError> {
        let (tx, inputs, settings, progress) = (self.tx, self.inputs, self.settings, self.progress);
        let (summary, window) = (&mut *self.summary, &mut *self.window);
        let out = live::run_sacct(&l.sacct, &l.start, &l.end)?;
        // Asked after sacct, so that a job sacct already calls COMPLETED but whose epilogs still
        // run is caught.
        let completing = live::completing_jobs(&l.squeue)?;
        let name = format!("sacct -S {} -E {}", l.start, l.end);
        let opts = TextOptions {
            delimiter: Some("|".into()),
            columns: None,
        };
        progress.start(out.len() as u64, "sacct (live)");
        let id = write::record_source(
            tx,
            "sacct-live",
            &name,
            None,
            None,
            settings.clock.now,
            0,
            0,
        )?;
        let stats = ingest_text_stream(
            tx,
            out.as_slice(),
            &name,
            &opts,
            settings,
            summary,
            window,
            progress,
            id,
            spools,
        )?;
        let ids: Vec<u64> = completing.into_iter().collect();
        if !ids.is_empty() {
            // squeue speaks of the local cluster: the one sacct named in this window's rows.
            for c in ea_store::read::clusters_of_source(tx, id)? {
                summary.not_final += write::mark_not_final(tx, &c, &ids)?;
            }
        }
        write::record_source(
            tx,
            "sacct-live",
            &name,
            None,
            None,
            settings.clock.now,
            stats.rows,
            stats.errors,
        )?;
        summary.sources.push(SourceSummary {
            kind: "sacct-live",
            name,
            read: true,
            rows: stats.rows,
            written: stats.written,
            unchanged: stats.unchanged,
            errors: stats.errors,
        });
        let _ = inputs;
        Ok(())
    }
}

/// The end of every run, whatever its inputs (this ingest, or a collector's batches): derive
/// measured energies and calibrations for what was written, record the split rule, commit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_run(
    tx: rusqlite::Transaction<'_>,
    store_path: &Path,
    deferred: DeferredIndexes,
    window: &mut derive::Window,
    nothing_measured: bool,
    settings: &Settings,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<(), IngestError> {
    // Everything is written: the split of measured energy can run while the indexes are built,
    // and the disk can take what SQLite wrote so far, which the commit's fsync would otherwise
    // wait for (a month's first ingest writes half a gigabyte).
    let writeback = start_writeback(store_path);
    let early = window.start_early_measure(&tx, settings)?;
    {
        let _p = ea_store::profile::Phase::start("indexes");
        deferred.build(&tx)?;
    }
    // Measured jobs left waiting for node records by an earlier run are looked at again.
    let checks = ea_store::profile::Phase::start("pending records and split rule");
    if !nothing_measured {
        window.add_pending(&tx)?;
    }
    // Energies split with another rule (another inventory, or an older energy-assess) are all
    // split again.
    let split = split_provenance(settings.inventory.as_deref());
    let stored = ea_store::meta::split(&tx)?;
    if stored.as_deref() != Some(split.as_str()) {
        write::delete_measured(&tx)?;
        if !nothing_measured {
            window.add_everything(&tx)?;
        }
    }
    drop(checks);
    summary.derived = {
        let _p = ea_store::profile::Phase::start("derive");
        derive::run(&tx, window, settings, progress, early)?
    };
    ea_store::meta::set_split(&tx, &split)?;
    let jobs_deleted = summary.derived.records_renamed > 0;
    summary.allocation = allocate::run(&tx, window, settings, jobs_deleted)?;
    {
        let _p = ea_store::profile::Phase::start("commit");
        if let Some(w) = writeback {
            let _ = w.join();
        }
        tx.commit()?;
    }
    Ok(())
}

/// Starts writing the store's file to disk in the background (`fdatasync` on a descriptor of
/// its own), so that the commit's fsync finds most of it there. Only a head start: the commit
/// still syncs everything itself, so a failure here is of no consequence and is ignored. SQLite
/// has written no page of this transaction to the file that its journal does not cover.
fn start_writeback(path: &Path) -> Option<std::thread::JoinHandle<()>> {
    let file = std::fs::File::open(path).ok()?;
    std::thread::Builder::new()
        .name("ea-writeback".into())
        .spawn(move || {
            let _ = file.sync_data();
        })
        .ok()
}

/// What measured energies are split with: the engine, and the inventory (its share rule and
/// node sizes). Stored with them, so that a change splits them all again.
pub fn split_provenance(inventory: Option<&ea_impact::Inventory>) -> String {
    match inventory {
        Some(inv) => format!(
            "ea-impact {}, inventory {} (sha256 {}), share rule {}",
            ea_impact_version(),
            inv.path.display(),
            inv.sha256,
            inv.site.share_rule.as_str()
        ),
        None => format!("ea-impact {}, no inventory", ea_impact_version()),
    }
}

pub(crate) fn ea_impact_version() -> &'static str {
    // The engine's version is the workspace's.
    env!("CARGO_PKG_VERSION")
}

fn file_identity(path: &Path) -> Result<(String, i64, i64), SourceError> {
    let meta = std::fs::metadata(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    let name = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.into())
        .display()
        .to_string();
    Ok((
        name,
        meta.len() as i64,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    ))
}

/// A file as the store remembers it, to skip it next time if unchanged.
struct StoredSource {
    kind: &'static str,
    name: String,
    size: i64,
    mtime: i64,
}

/// Whether a dump is JSON: its first byte opens an object or an array (after leading
/// whitespace, the file is read further to tell).
fn is_json_dump(path: &Path) -> Result<bool, SourceError> {
    let io = |source| SourceError::Io {
        path: path.into(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 1];
    let n = file.read(&mut head).map_err(io)?;
    Ok(n == 1 && matches!(head[0], b'{' | b'[')
        || n == 1 && head[0].is_ascii_whitespace() && looks_like_json(path))
}

/// Streams a text dump into the store, remembering it as a source before (so that its rows
/// can name it) and after (with its counts).
#[allow(clippy::too_many_arguments)]
fn ingest_text_file(
    tx: &Connection,
    path: &Path,
    source: StoredSource,
    inputs: &Inputs,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
    spools: &mut [SpoolWriter],
) -> Result<(), IngestError> {
    let StoredSource {
        kind,
        name,
        size,
        mtime,
    } = source;
    let display = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    progress.start(size as u64, &format!("sacct {}", short(&display)));
    let id = write::record_source(
        tx,
        kind,
        &name,
        Some(size),
        Some(mtime),
        settings.clock.now,
        0,
        0,
    )?;
    let stats = ingest_text_stream(
        tx,
        file,
        &display,
        &inputs.text,
        settings,
        summary,
        window,
        progress,
        id,
        spools,
    )?;
    write::record_source(
        tx,
        kind,
        &name,
        Some(size),
        Some(mtime),
        settings.clock.now,
        stats.rows,
        stats.errors,
    )?;
    summary.sources.push(SourceSummary {
        kind,
        name,
        read: true,
        rows: stats.rows,
        written: stats.written,
        unchanged: stats.unchanged,
        errors: stats.errors,
    });
    Ok(())
}

fn looks_like_json(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| {
        matches!(
            b.iter().find(|c| !c.is_ascii_whitespace()),
            Some(b'{' | b'[')
        )
    })
}

fn short(s: &str) -> String {
    let n = s.chars().count();
    if n <= 40 {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(n - 39).collect::<String>())
    }
}

#[allow(clippy::too_many_arguments)]
fn ingest_sacct_bytes(
    tx: &Connection,
    bytes: &[u8],
    display: &str,
    name: &str,
    size: Option<i64>,
    mtime: Option<i64>,
    inputs: &Inputs,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
    spools: &mut [SpoolWriter],
) -> Result<(), IngestError> {
    let first = bytes.iter().find(|c| !c.is_ascii_whitespace());
    let json = matches!(first, Some(b'{' | b'['));
    let kind = if json { "sacct-json" } else { "sacct-text" };
    let id = write::record_source(tx, kind, name, size, mtime, settings.clock.now, 0, 0)?;
    let stats = if json {
        let doc = json::parse_document(bytes, display)?;
        let n_errors = doc.errors.len() as u64;
        for e in doc.errors {
            summary.error(e.to_string());
        }
        let mut stats = ingest_entries(
            tx,
            doc.entries,
            doc.kind == "controller",
            display,
            id,
            settings,
            summary,
            window,
        )?;
        stats.errors += n_errors;
        stats
    } else {
        progress.start(bytes.len() as u64, &format!("sacct {}", short(display)));
        ingest_text_stream(
            tx,
            bytes,
            display,
            &inputs.text,
            settings,
            summary,
            window,
            progress,
            id,
            spools,
        )?
    };
    write::record_source(
        tx,
        kind,
        name,
        size,
        mtime,
        settings.clock.now,
        stats.rows,
        stats.errors,
    )?;
    summary.sources.push(SourceSummary {
        kind,
        name: name.to_string(),
        read: true,
        rows: stats.rows,
        written: stats.written,
        unchanged: stats.unchanged,
        errors: stats.errors,
    });
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    rows: u64,
    written: u64,
    unchanged: u64,
    errors: u64,
}

/// Groups a dump's entries into jobs: an allocation line takes the steps that follow it (and
/// what it lacks from them); a second allocation line for the same job is reported and
/// dropped; steps without their allocation line are kept apart.
struct Grouper {
    cluster: String,
    /// Rows from the controller's live list are snapshots: finished jobs there lack their
    /// accounting, so their state says where they came from.
    snapshot: bool,
    source: String,
    pending: Option<Pending>,
    /// The steps that follow a repeated allocation line are repeats too.
    skip_steps: bool,
    /// Allocation lines seen, per cluster and JobID: their line and a hash of their content.
    seen: FastMap<String, SeenJobs>,
}

/// The allocation lines of one cluster seen so far: their line and a hash of their content,
/// by JobID. Plain numeric JobIDs (most of a dump) are kept as numbers: a month holds a
/// million, and a string key each costs an allocation and a string hash.
#[derive(Default)]
struct SeenJobs {
    numeric: FastMap<u64, (u64, i64)>,
    other: FastMap<String, (u64, i64)>,
}

impl SeenJobs {
    /// A JobID as a number, if it is one written without leading zeros (so that two JobIDs
    /// that are different texts never share a number).
    fn number(job_id: &str) -> Option<u64> {
        let b = job_id.as_bytes();
        if b.is_empty()
            || b.len() > 18
            || (b[0] == b'0' && b.len() > 1)
            || !b.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        job_id.parse().ok()
    }

    /// The first sighting of `job_id`, if it was seen before; else `seen` is kept as its first.
    /// One lookup either way: the million-entry table does not fit in a cache.
    fn first_or_insert(&mut self, job_id: &str, seen: (u64, i64)) -> Option<(u64, i64)> {
        use std::collections::hash_map::Entry;
        match Self::number(job_id) {
            Some(n) => match self.numeric.entry(n) {
                Entry::Occupied(first) => Some(*first.get()),
                Entry::Vacant(v) => {
                    v.insert(seen);
                    None
                }
            },
            None => match self.other.get(job_id) {
                Some(first) => Some(*first),
                None => {
                    self.other.insert(job_id.to_string(), seen);
                    None
                }
            },
        }
    }
}

/// A job whose steps may still follow.
struct Pending {
    job: Box<JobRow>,
    /// [`rowhash::job_hash`] of the job as its allocation line gave it.
    hash: i64,
    /// Its steps' stored forms: `[` and the steps, comma-separated (the steps array without
    /// its closing bracket).
    steps: String,
    n_steps: u32,
    /// What the allocation line may take from its steps (see [`JobRow::absorb_steps`]).
    step_cpu_s: f64,
    step_energy_j: Option<f64>,
}

impl Pending {
    fn new(mut job: Box<JobRow>, hash: i64) -> Self {
        // Steps a reader attached to the job (sacct --json) are encoded like a dump's.
        let attached = std::mem::take(&mut job.steps);
        let mut p = Self {
            job,
            hash,
            steps: {
                let mut steps = String::with_capacity(320);
                steps.push('[');
                steps
            },
            n_steps: 0,
            step_cpu_s: 0.0,
            step_energy_j: None,
        };
        for s in &attached {
            p.add_step(
                &rowhash::encode_step(&rowhash::StepFields::of(s)),
                s.total_cpu_s,
                s.consumed_energy_j,
            );
        }
        p
    }

    fn add_step(
        &mut self,
        encoded: &str,
        total_cpu_s: Option<f64>,
        consumed_energy_j: Option<f64>,
    ) {
        if self.n_steps > 0 {
            self.steps.push(',');
        }
        self.steps.push_str(encoded);
        self.n_steps += 1;
        self.step_cpu_s += total_cpu_s.unwrap_or(0.0);
        if let Some(e) = consumed_energy_j {
            self.step_energy_j = Some(self.step_energy_j.map_or(e, |m| m.max(e)));
        }
    }

    /// The job ready to write, with what it takes from its steps (as
    /// [`JobRow::absorb_steps`] does) and its content hash.
    fn settle(self) -> write::PreparedJob {
        let mut job = self.job;
        let mut hash = self.hash;
        let steps_json = (self.n_steps > 0).then(|| {
            let mut steps = self.steps;
            steps.push(']');
            steps
        });
        if self.n_steps > 0 {
            let mut absorbed = false;
            if job.total_cpu_s.is_none_or(|v| v == 0.0) && self.step_cpu_s > 0.0 {
                job.total_cpu_s = Some(self.step_cpu_s);
                absorbed = true;
            }
            if job.consumed_energy_j.is_none() && self.step_energy_j.is_some() {
                job.consumed_energy_j = self.step_energy_j;
                absorbed = true;
            }
            if absorbed {
                hash = rowhash::job_hash(&job);
            }
        }
        write::PreparedJob {
            hash: rowhash::combine_hash(hash, steps_json.as_deref()),
            job,
            steps_json,
            n_steps: self.n_steps,
        }
    }
}

/// What a grouper let go of.
#[derive(Default)]
struct Grouped {
    jobs: Vec<write::PreparedJob>,
    orphans: Vec<StepRow>,
    errors: Vec<String>,
    rows: u64,
}

impl Grouper {
    fn new(cluster: &str, snapshot: bool, source: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            snapshot,
            source: source.to_string(),
            pending: None,
            skip_steps: false,
            seen: Default::default(),
        }
    }

    /// An allocation line; `content_hash` tells a repeat of the same line from a different
    /// line for the same job.
    fn push_job(&mut self, line: u64, mut j: Box<JobRow>, content_hash: i64, out: &mut Grouped) {
        out.rows += 1;
        if j.cluster.is_none() {
            j.cluster = Some(self.cluster.clone());
        }
        let cluster = j.cluster.as_deref().unwrap_or_default();
        let per_cluster = match self.seen.get_mut(cluster) {
            Some(m) => m,
            None => self.seen.entry(cluster.to_string()).or_default(),
        };
        if let Some((first, first_hash)) =
            per_cluster.first_or_insert(&j.job_id, (line, content_hash))
        {
            // The same line twice (dumps appended to one file) is no error; a different one
            // (a step written as its job, as in CSCS's santis dump) is.
            if first_hash != content_hash {
                let at = if line > 0 {
                    format!("{}:{line}", self.source)
                } else {
                    self.source.clone()
                };
                out.errors.push(format!(
                    "{at}: a second, different allocation line for job {} (the first is at line {first}); kept the first",
                    j.job_id
                ));
            }
            self.skip_steps = true;
            // Steps a reader attached to a repeated job are repeats too.
            return;
        }
        self.skip_steps = false;
        if self.snapshot && j.is_final() {
            j.state_raw = format!("{} (controller)", j.state_raw);
        }
        if let Some(done) = self.pending.take() {
            out.jobs.push(done.settle());
        }
        self.pending = Some(Pending::new(j, content_hash));
    }

    /// A step line, already encoded.
    fn push_step(&mut self, s: &StepLine<'_>, out: &mut Grouped) {
        out.rows += 1;
        let cluster = s.cluster.as_deref().unwrap_or(&self.cluster);
        match &mut self.pending {
            Some(p) if p.job.job_id == s.job_id && p.job.cluster.as_deref() == Some(cluster) => {
                if !self.skip_steps {
                    p.add_step(&s.encoded, s.total_cpu_s, s.consumed_energy_j);
                }
            }
            _ if self.skip_steps => {}
            _ => {
                let mut row = s.to_row();
                row.cluster = Some(cluster.to_string());
                out.orphans.push(row);
            }
        }
    }

    /// An entry of a JSON document.
    fn push_entry(&mut self, e: Entry, out: &mut Grouped) {
        match e {
            Entry::Job(j) => {
                let hash = rowhash::job_hash(&j);
                self.push_job(0, j, hash, out);
            }
            Entry::Step(s) => {
                let encoded = rowhash::encode_step(&rowhash::StepFields::of(&s));
                let line = StepLine {
                    cluster: s.cluster.as_deref().map(std::borrow::Cow::Borrowed),
                    job_id: std::borrow::Cow::Borrowed(&s.job_id),
                    encoded,
                    total_cpu_s: s.total_cpu_s,
                    consumed_energy_j: s.consumed_energy_j,
                };
                self.push_step(&line, out);
            }
        }
    }

    fn finish(&mut self, out: &mut Grouped) {
        if let Some(done) = self.pending.take() {
            out.jobs.push(done.settle());
        }
    }
}

/// Writes what a grouper let go of.
#[allow(clippy::too_many_arguments)]
fn write_grouped(
    tx: &Connection,
    prepared: Vec<write::PreparedJob>,
    g: &Grouped,
    source_id: i64,
    target: write::Target,
    stats: &mut Stats,
    summary: &mut Summary,
    window: &mut derive::Window,
) -> rusqlite::Result<()> {
    stats.rows += g.rows;
    stats.errors += g.errors.len() as u64;
    for e in &g.errors {
        summary.error(e.clone());
    }
    // Into a fresh table every row is written: the capture takes them afterwards, by move.
    let fresh = target == write::Target::FreshTable;
    let mut on_written = |j: &JobRow| {
        if fresh {
            window.add_job_span(j)
        } else {
            window.add_job(j)
        }
    };
    let n = write::upsert_prepared(tx, &prepared, source_id, target, &mut on_written)?;
    summary.not_final += prepared.iter().filter(|p| !p.job.is_final()).count() as u64;
    stats.written += n.written;
    stats.unchanged += n.unchanged;
    summary.jobs += n;
    summary.steps.written += prepared.iter().map(|p| u64::from(p.n_steps)).sum::<u64>();
    if fresh {
        window.capture_written(prepared);
    }
    if !g.orphans.is_empty() {
        let (changed, dropped) = write::merge_orphan_steps(tx, &g.orphans)?;
        summary.steps.written += changed;
        if dropped > 0 {
            summary.warnings.push(format!(
                "{dropped} steps of jobs absent from the store and from their input were dropped"
            ));
        }
    }
    Ok(())
}

/// How an input's jobs are written: plain inserts into a jobs table that is empty.
fn write_target(tx: &Connection) -> rusqlite::Result<write::Target> {
    Ok(if ea_store::read::no_jobs(tx)? {
        write::Target::FreshTable
    } else {
        write::Target::Upsert
    })
}

/// Writes the entries of a JSON document.
#[allow(clippy::too_many_arguments)]
fn ingest_entries(
    tx: &Connection,
    entries: Vec<Entry>,
    snapshot: bool,
    display: &str,
    source_id: i64,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
) -> rusqlite::Result<Stats> {
    let mut grouper = Grouper::new(&settings.cluster, snapshot, display);
    let mut g = Grouped::default();
    for e in entries {
        grouper.push_entry(e, &mut g);
    }
    grouper.finish(&mut g);
    let prepared = std::mem::take(&mut g.jobs);
    let mut stats = Stats::default();
    let target = write_target(tx)?;
    write_grouped(
        tx, prepared, &g, source_id, target, &mut stats, summary, window,
    )?;
    Ok(stats)
}

/// Reads a text dump block by block. A reader thread splits, parses and groups each block
/// and prepares its rows (encoding, hashing) on the rayon pool, while this thread writes the
/// previous block: SQLite's single writer does nothing but write.
#[allow(clippy::too_many_arguments)]
fn ingest_text_stream<R: Read + Send>(
    tx: &Connection,
    reader: R,
    display: &str,
    opts: &TextOptions,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
    source_id: i64,
    spools: &mut [SpoolWriter],
) -> Result<Stats, IngestError> {
    let mut blocks = BlockReader::new(reader, 4 << 20);
    let io_err = |source| SourceError::Io {
        path: display.into(),
        source,
    };
    let Some(first) = blocks.next_block().map_err(io_err)? else {
        return Ok(Stats::default());
    };
    let layout = text::detect_layout(&text::first_line(&first.bytes), opts, display)?;
    let clock = &settings.clock;
    let target = write_target(tx)?;
    let mut stats = Stats::default();
    type Batch = (Vec<write::PreparedJob>, Grouped, Vec<LineError>, usize);
    let result: Result<(), IngestError> = std::thread::scope(|scope| {
        let (send, recv) = std::sync::mpsc::sync_channel::<std::io::Result<Batch>>(2);
        let layout = &layout;
        let cluster = settings.cluster.clone();
        scope.spawn(move || {
            let mut grouper = Grouper::new(&cluster, false, display);
            let mut block = Some(first);
            loop {
                let b = match block.take() {
                    Some(b) => Some(b),
                    None => match blocks.next_block() {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = send.send(Err(e));
                            return;
                        }
                    },
                };
                let mut g = Grouped::default();
                let (line_errors, bytes) = match &b {
                    Some(b) => {
                        let (lines, errors) = text::parse_block(b, layout, clock, display);
                        for (line, l) in lines {
                            match l {
                                Line::Job { job, hash } => {
                                    grouper.push_job(line, job, hash, &mut g)
                                }
                                Line::Step(s) => grouper.push_step(&s, &mut g),
                            }
                        }
                        (errors, b.bytes.len())
                    }
                    None => {
                        grouper.finish(&mut g);
                        (Vec::new(), 0)
                    }
                };
                let prepared = std::mem::take(&mut g.jobs);
                if send.send(Ok((prepared, g, line_errors, bytes))).is_err() || b.is_none() {
                    return;
                }
            }
        });
        let mut write_s = 0.0;
        for batch in recv {
            let (prepared, g, line_errors, bytes) = batch.map_err(io_err)?;
            stats.errors += line_errors.len() as u64;
            for e in line_errors {
                summary.error(e.to_string());
            }
            let t = std::time::Instant::now();
            write_grouped(
                tx, prepared, &g, source_id, target, &mut stats, summary, window,
            )?;
            write_s += t.elapsed().as_secs_f64();
            progress.inc(bytes as u64);
            // Records read meanwhile go in between blocks.
            for spool in spools.iter_mut() {
                spool.write_available(tx, summary, window)?;
            }
        }
        if ea_store::profile::enabled() {
            eprintln!("[ea-profile] sacct dump: writer busy {write_s:.2} s");
        }
        Ok(())
    });
    result?;
    Ok(stats)
}

/// Files read and parsed, with what became of each.
type SpoolChunk = Vec<(
    records::SpoolFile,
    Result<records::NodeRecordRow, records::RecordError>,
)>;

/// A spool being listed, read and parsed by a background thread, a chunk of files at a time,
/// for a [`SpoolWriter`]. While the dumps are parsed and written (on the rayon pool and the
/// writer), the thread reads on its own, taking the idle core time; once the writer turns to
/// this spool, the rest is read on the rayon pool.
struct SpoolReader {
    spool: PathBuf,
    /// Set when the writer turns to this spool.
    wanted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The listing's outcome: (files to read, files unchanged), or why it failed.
    listed: std::sync::mpsc::Receiver<Result<(u64, u64), records::ListError>>,
    chunks: std::sync::mpsc::Receiver<SpoolChunk>,
}

impl SpoolReader {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        spool: &Path,
        known: ea_store::read::KnownFiles,
        force: bool,
        cluster: &str,
    ) -> Self {
        let (listed_send, listed) = std::sync::mpsc::channel();
        // Unbounded: the writer takes what is read between the dumps' blocks; what waits is
        // the rows the store keeps anyway.
        let (send, chunks) = std::sync::mpsc::channel::<SpoolChunk>();
        let (root, cluster) = (spool.to_path_buf(), cluster.to_string());
        let wanted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let now = wanted.clone();
        scope.spawn(move || {
            let listing = {
                let _p = ea_store::profile::Phase::start("spool: list files");
                records::list_spool(&root, &known, force)
            };
            let mut listing = match listing {
                Ok(l) => l,
                Err(problem) => {
                    let _ = listed_send.send(Err(problem));
                    return;
                }
            };
            drop(known);
            // Final records after the prolog's parts, so that a job seen in both keeps the
            // final one whatever the listing order.
            listing
                .files
                .sort_by(|a, b| b.dir.cmp(&a.dir).then(a.name.cmp(&b.name)));
            if listed_send
                .send(Ok((listing.files.len() as u64, listing.unchanged)))
                .is_err()
            {
                return;
            }
            let mut files = listing.files.into_iter();
            loop {
                let all_cores = now.load(std::sync::atomic::Ordering::Relaxed);
                let mut chunk: Vec<records::SpoolFile> = files
                    .by_ref()
                    .take(if all_cores { 4096 } else { 512 })
                    .collect();
                if chunk.is_empty() {
                    return;
                }
                let rows = if all_cores {
                    records::read_all(&mut chunk, &cluster)
                } else {
                    records::read_all_here(&mut chunk, &cluster)
                };
                if send.send(chunk.into_iter().zip(rows).collect()).is_err() {
                    return;
                }
            }
        });
        Self {
            spool: spool.to_path_buf(),
            wanted,
            listed,
            chunks,
        }
    }
}

/// Writes what a [`SpoolReader`] reads: between the blocks of the dumps, what has been read so
/// far ([`SpoolWriter::write_available`]), so that records never pile up in memory and their
/// writes share the dumps' time; then the rest ([`SpoolWriter::finish`]).
struct SpoolWriter {
    reader: SpoolReader,
    /// The listing's outcome, once received.
    listed: Option<Result<(u64, u64), records::ListError>>,
    stats: Stats,
    /// Files written so far.
    done: u64,
    write_s: f64,
    /// The files whose records were written, remembered at the end (one row per directory).
    read: Vec<records::SpoolFile>,
}

impl SpoolWriter {
    fn new(reader: SpoolReader) -> Self {
        Self {
            reader,
            listed: None,
            stats: Stats::default(),
            done: 0,
            write_s: 0.0,
            read: Vec::new(),
        }
    }

    /// Takes the listing's outcome, waiting for it if `wait`; makes room in the capture for
    /// the records to come.
    fn take_listing(&mut self, wait: bool, window: &mut derive::Window) {
        if self.listed.is_some() {
            return;
        }
        let listed = if wait {
            self.reader.listed.recv().ok()
        } else {
            self.reader.listed.try_recv().ok()
        };
        if let Some(listed) = listed {
            if let Ok((to_read, _)) = &listed {
                window.reserve_records(*to_read as usize);
            }
            self.listed = Some(listed);
        } else if wait {
            // The reader ended without a word: nothing to read.
            self.listed = Some(Ok((0, 0)));
        }
    }

    /// Writes the chunks read so far, without waiting for more.
    fn write_available(
        &mut self,
        tx: &Connection,
        summary: &mut Summary,
        window: &mut derive::Window,
    ) -> Result<(), IngestError> {
        self.take_listing(false, window);
        let mut writer = None;
        while let Ok(chunk) = self.reader.chunks.try_recv() {
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(records::RecordWriter::new(tx)?),
            };
            self.write(w, chunk, summary, window)?;
        }
        Ok(())
    }

    /// Writes the rest as it is read, and the spool's summary.
    fn finish(
        mut self,
        tx: &Connection,
        summary: &mut Summary,
        window: &mut derive::Window,
        progress: &Progress,
    ) -> Result<(), IngestError> {
        let spool = self.reader.spool.clone();
        self.reader
            .wanted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.take_listing(true, window);
        let (to_read, unchanged) = match self.listed.take().unwrap_or(Ok((0, 0))) {
            Ok(counts) => counts,
            Err(problem) => {
                return Err(SourceError::Format {
                    source: spool.display().to_string(),
                    problem: problem.to_string(),
                }
                .into());
            }
        };
        progress.start(
            to_read,
            &format!("records {}", short(&spool.display().to_string())),
        );
        progress.inc(self.done);
        let mut writer = records::RecordWriter::new(tx)?;
        while let Ok(chunk) = self.reader.chunks.recv() {
            let n = chunk.len() as u64;
            self.write(&mut writer, chunk, summary, window)?;
            progress.inc(n);
        }
        records::remember_files(tx, &self.read)?;
        if ea_store::profile::enabled() {
            eprintln!("[ea-profile] spool: writer busy {:.2} s", self.write_s);
        }
        let stats = self.stats;
        summary.sources.push(SourceSummary {
            kind: "spool",
            name: spool.display().to_string(),
            read: true,
            rows: to_read + unchanged,
            written: stats.written,
            unchanged: stats.unchanged + unchanged,
            errors: stats.errors,
        });
        Ok(())
    }

    fn write(
        &mut self,
        writer: &mut records::RecordWriter<'_>,
        chunk: SpoolChunk,
        summary: &mut Summary,
        window: &mut derive::Window,
    ) -> Result<(), IngestError> {
        let t = std::time::Instant::now();
        self.done += chunk.len() as u64;
        let stats = &mut self.stats;
        for (f, row) in chunk {
            match row {
                Ok(row) => {
                    if writer.upsert(&row)? {
                        stats.written += 1;
                        summary.records.written += 1;
                        window.add_record(&row);
                        window.capture_record(row);
                    } else {
                        stats.unchanged += 1;
                        summary.records.unchanged += 1;
                    }
                    self.read.push(f);
                }
                Err(e) => {
                    stats.errors += 1;
                    summary.error(format!("{}: {}", e.path.display(), e.problem));
                }
            }
        }
        self.write_s += t.elapsed().as_secs_f64();
        Ok(())
    }
}

fn ingest_wattmeter(
    tx: &Connection,
    path: &Path,
    inputs: &Inputs,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
) -> Result<(), IngestError> {
    let (name, size, mtime) = file_identity(path)?;
    if !inputs.force && write::source_unchanged(tx, "wattmeter", &name, size, mtime)? {
        summary
            .sources
            .push(SourceSummary::skipped("wattmeter", name));
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    let display = path.display().to_string();
    let series = wattmeter::read(&bytes, &settings.clock, inputs.wattmeter_metric.as_deref())
        .map_err(|problem| SourceError::Format {
            source: display.clone(),
            problem: problem.to_string(),
        })?;
    for (line, problem) in &series.errors {
        summary.error(format!("{display}:{line}: {problem}"));
    }
    let written = write::power_samples(tx, &series.samples)?;
    for s in &series.samples {
        window.add_span(s.t, s.t);
    }
    summary.samples_written += written;
    let rows = series.samples.len() as u64;
    write::record_source(
        tx,
        "wattmeter",
        &name,
        Some(size),
        Some(mtime),
        settings.clock.now,
        rows,
        series.errors.len() as u64,
    )?;
    summary.sources.push(SourceSummary {
        kind: "wattmeter",
        name,
        read: true,
        rows,
        written,
        unchanged: rows - written,
        errors: series.errors.len() as u64,
    });
    Ok(())
}

/// A progress bar on standard error, drawn only on a terminal.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar on standard error if `enabled` and it is a terminal; otherwise nothing is drawn.
    pub fn new(enabled: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>32} [{bar:30}] {percent:>3}% {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Self { bar }
    }

    /// Starts a phase of `len` steps named `msg`.
    pub fn start(&self, len: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(0);
            b.set_length(len);
            b.set_message(msg.to_string());
        }
    }

    /// Advances the phase by `n` steps.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(job_id: &str, state: &str) -> Box<JobRow> {
        Box::new(JobRow {
            job_id: job_id.into(),
            state: state.into(),
            state_raw: state.into(),
            ..Default::default()
        })
    }

    fn step(job_id: &str, step: &str, cpu_s: f64, energy_j: f64) -> StepLine<'static> {
        StepLine {
            cluster: None,
            job_id: std::borrow::Cow::Owned(job_id.into()),
            encoded: format!("{{\"step\":\"{step}\"}}"),
            total_cpu_s: Some(cpu_s),
            consumed_energy_j: Some(energy_j),
        }
    }

    #[test]
    fn only_canonical_numbers_are_numeric_job_ids() {
        assert_eq!(SeenJobs::number("12345"), Some(12345));
        assert_eq!(SeenJobs::number("0"), Some(0));
        assert_eq!(SeenJobs::number("0123"), None);
        assert_eq!(SeenJobs::number("12_3"), None);
        assert_eq!(SeenJobs::number(""), None);
        assert_eq!(SeenJobs::number("1234567890123456789"), None);
    }

    #[test]
    fn the_first_sighting_of_a_job_id_is_kept() {
        let mut seen = SeenJobs::default();
        assert_eq!(seen.first_or_insert("7", (1, 10)), None);
        assert_eq!(seen.first_or_insert("7", (5, 20)), Some((1, 10)));
        assert_eq!(seen.first_or_insert("07", (6, 30)), None);
        assert_eq!(seen.first_or_insert("07", (9, 40)), Some((6, 30)));
    }

    #[test]
    fn a_job_takes_cpu_and_energy_from_its_steps_when_it_has_none() {
        let mut p = Pending::new(job("1", "COMPLETED"), 99);
        p.add_step("{\"step\":\"batch\"}", Some(30.0), Some(5.0));
        p.add_step("{\"step\":\"extern\"}", Some(2.0), Some(8.0));
        let done = p.settle();
        assert_eq!(done.n_steps, 2);
        assert_eq!(
            done.steps_json.as_deref(),
            Some("[{\"step\":\"batch\"},{\"step\":\"extern\"}]")
        );
        assert_eq!(done.job.total_cpu_s, Some(32.0));
        assert_eq!(done.job.consumed_energy_j, Some(8.0));
        // The hash is the settled job's, with its steps.
        let want = rowhash::combine_hash(rowhash::job_hash(&done.job), done.steps_json.as_deref());
        assert_eq!(done.hash, want);
    }

    #[test]
    fn a_job_without_steps_keeps_its_hash() {
        let done = Pending::new(job("1", "COMPLETED"), 99).settle();
        assert_eq!(done.steps_json, None);
        assert_eq!(done.hash, rowhash::combine_hash(99, None));
    }

    #[test]
    fn the_grouper_attaches_steps_and_reports_a_different_repeat() {
        let mut g = Grouper::new("site", false, "dump.txt");
        let mut out = Grouped::default();
        g.push_job(1, job("1", "COMPLETED"), 10, &mut out);
        g.push_step(&step("1", "batch", 4.0, 1.0), &mut out);
        // Its own step, but after another job: an orphan.
        g.push_job(3, job("2", "COMPLETED"), 20, &mut out);
        g.push_step(&step("1", "0", 1.0, 1.0), &mut out);
        // The same line again is a repeat, silently; a different one is an error. Either way
        // its steps are left out.
        g.push_job(5, job("2", "COMPLETED"), 20, &mut out);
        g.push_job(6, job("2", "FAILED"), 21, &mut out);
        g.push_step(&step("2", "batch", 1.0, 1.0), &mut out);
        g.finish(&mut out);
        assert_eq!(out.rows, 7);
        assert_eq!(out.jobs.len(), 2);
        assert_eq!(out.jobs[0].job.cluster.as_deref(), Some("site"));
        assert_eq!(out.jobs[0].n_steps, 1);
        assert_eq!(out.jobs[1].n_steps, 0);
        assert_eq!(out.orphans.len(), 1);
        assert_eq!(out.orphans[0].job_id, "1");
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        assert!(
            out.errors[0].starts_with(
                "dump.txt:6: a second, different allocation line for job 2 (the first is at line 3)"
            ),
            "{}",
            out.errors[0]
        );
    }

    #[test]
    fn a_snapshot_marks_final_jobs_as_the_controllers_word() {
        let mut g = Grouper::new("site", true, "squeue");
        let mut out = Grouped::default();
        g.push_job(0, job("1", "COMPLETED"), 1, &mut out);
        g.push_job(0, job("2", "RUNNING"), 2, &mut out);
        g.finish(&mut out);
        assert_eq!(out.jobs[0].job.state_raw, "COMPLETED (controller)");
        assert_eq!(out.jobs[1].job.state_raw, "RUNNING");
    }

    #[test]
    fn long_names_are_shortened_from_the_left() {
        assert_eq!(short("dump.txt"), "dump.txt");
        let long = format!("/data/{}/dump.txt", "x".repeat(60));
        let s = short(&long);
        assert_eq!(s.chars().count(), 40);
        assert!(s.starts_with('…') && s.ends_with("x/dump.txt"), "{s}");
    }

    #[test]
    fn json_dumps_are_told_from_text_by_their_first_byte() {
        let dir = std::env::temp_dir().join(format!("ea-ingest-sniff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("a.json", "{\"jobs\":[]}", true),
            ("b.json", "\n  [1]", true),
            ("c.txt", "JobID|State\n1|COMPLETED\n", false),
            ("d.txt", "  JobID|State\n", false),
            ("e.txt", "", false),
        ];
        for (name, text, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            assert_eq!(is_json_dump(&p).unwrap(), want, "{name}");
        }
        let missing = is_json_dump(&dir.join("none")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
