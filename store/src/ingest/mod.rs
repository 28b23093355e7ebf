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

pub mod derive;
pub mod records;
pub mod wattmeter;

use crate::config::EstimateSettings;
use crate::db::write::{self, Upserted};
use crate::db::{DbError, Store};
use crate::sacct::text::{self, BlockReader, TextOptions};
use crate::sacct::{Entry, JobRow, LineError, SourceError, StepRow, json, live};
use crate::timefmt::Clock;
use rayon::prelude::*;
use rusqlite::{Connection, TransactionBehavior};
use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub spools: Vec<PathBuf>,
    /// sacct dumps, text or JSON (told apart by their first byte); `-` reads standard input.
    pub sacct: Vec<PathBuf>,
    pub text: TextOptions,
    pub live: Option<LiveWindow>,
    pub wattmeters: Vec<PathBuf>,
    pub wattmeter_metric: Option<String>,
    /// Read files again even if unchanged since the last ingest.
    pub force: bool,
}

/// A live sacct call.
#[derive(Debug, Clone)]
pub struct LiveWindow {
    pub start: String,
    pub end: String,
    pub sacct: PathBuf,
    pub squeue: PathBuf,
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster of rows whose input names none.
    pub cluster: String,
    pub clock: Clock,
    pub estimate: EstimateSettings,
    /// How long after a job's end its missing node records are waited for.
    pub record_grace_s: i64,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    pub kind: &'static str,
    pub name: String,
    /// `false` when skipped because unchanged since the last ingest.
    pub read: bool,
    pub rows: u64,
    pub written: u64,
    pub unchanged: u64,
    pub errors: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub sources: Vec<SourceSummary>,
    /// The first malformed lines and unreadable records (all are counted in `error_count`).
    pub errors: Vec<String>,
    pub error_count: u64,
    pub jobs: Upserted,
    pub steps: Upserted,
    pub records: Upserted,
    pub samples_written: u64,
    /// Jobs ingested as not final (running, or completing on squeue's word).
    pub not_final: u64,
    pub derived: derive::Derived,
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
    Db(DbError),
    Sqlite(rusqlite::Error),
    Source(SourceError),
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Db(e) => e.fmt(f),
            IngestError::Sqlite(e) => write!(f, "store: {e}"),
            IngestError::Source(e) => e.fmt(f),
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
pub fn ingest(store: &mut Store, inputs: &Inputs, settings: &Settings) -> Result<Summary, IngestError> {
    let mut summary = Summary::default();
    let tx = store.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut window = derive::Window::default();
    let progress = Progress::new(settings.progress);
    for path in &inputs.sacct {
        ingest_sacct_input(&tx, path, inputs, settings, &mut summary, &mut window, &progress)?;
    }
    if let Some(l) = &inputs.live {
        ingest_live(&tx, l, inputs, settings, &mut summary, &mut window, &progress)?;
    }
    for spool in &inputs.spools {
        ingest_spool(&tx, spool, inputs.force, settings, &mut summary, &mut window, &progress)?;
    }
    for path in &inputs.wattmeters {
        ingest_wattmeter(&tx, path, inputs, settings, &mut summary, &mut window)?;
    }
    // Measured jobs left waiting for node records by an earlier run are looked at again.
    window.add_pending(&tx)?;
    summary.derived = derive::run(&tx, &window, settings, &progress)?;
    tx.commit()?;
    progress.finish();
    Ok(summary)
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

fn ingest_sacct_input(
    tx: &Connection,
    path: &Path,
    inputs: &Inputs,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
) -> Result<(), IngestError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|source| SourceError::Io {
                path: path.into(),
                source,
            })?;
        return ingest_sacct_bytes(
            tx, &bytes, "stdin", "sacct", None, None, inputs, settings, summary, window, progress,
        );
    }
    let (name, size, mtime) = file_identity(path)?;
    let mut file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    let mut head = [0u8; 1];
    let n = file.read(&mut head).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    let is_json =
        n == 1 && matches!(head[0], b'{' | b'[') || n == 1 && head[0].is_ascii_whitespace() && looks_like_json(path);
    let kind = if is_json { "sacct-json" } else { "sacct-text" };
    if !inputs.force && write::source_unchanged(tx, kind, &name, size, mtime)? {
        summary.sources.push(SourceSummary {
            kind,
            name,
            read: false,
            rows: 0,
            written: 0,
            unchanged: 0,
            errors: 0,
        });
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
        );
    }
    drop(file);
    let file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    progress.start(size as u64, &format!("sacct {}", short(&display)));
    let id = write::record_source(tx, kind, &name, Some(size), Some(mtime), settings.clock.now, 0, 0)?;
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
    std::fs::read(path).is_ok_and(|b| matches!(b.iter().find(|c| !c.is_ascii_whitespace()), Some(b'{' | b'[')))
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
    pending: Option<JobRow>,
    /// The steps that follow a repeated allocation line are repeats too.
    skip_steps: bool,
    /// Allocation lines seen: their line and content hash.
    seen: std::collections::HashMap<(Option<String>, String), (u64, i64)>,
}

/// What a grouper let go of.
#[derive(Default)]
struct Grouped {
    jobs: Vec<JobRow>,
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

    fn push(&mut self, line: u64, e: Entry, out: &mut Grouped) {
        out.rows += 1;
        match e {
            Entry::Job(mut j) => {
                if j.cluster.is_none() {
                    j.cluster = Some(self.cluster.clone());
                }
                let key = (j.cluster.clone(), j.job_id.clone());
                let hash = write::job_hash(&j);
                if let Some((first, first_hash)) = self.seen.get(&key) {
                    // The same line twice (dumps appended to one file) is no error; a
                    // different one (a step written as its job, as in CSCS's santis dump) is.
                    if *first_hash != hash {
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
                    return;
                }
                self.skip_steps = false;
                self.seen.insert(key, (line, hash));
                if self.snapshot && j.is_final() {
                    j.state_raw = format!("{} (controller)", j.state_raw);
                }
                if let Some(done) = self.pending.take() {
                    out.jobs.push(settle(done));
                }
                self.pending = Some(*j);
            }
            Entry::Step(mut s) => {
                if s.cluster.is_none() {
                    s.cluster = Some(self.cluster.clone());
                }
                match &mut self.pending {
                    Some(job) if job.job_id == s.job_id && job.cluster == s.cluster => {
                        if !self.skip_steps {
                            job.steps.push(*s);
                        }
                    }
                    _ if self.skip_steps => {}
                    _ => out.orphans.push(*s),
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Grouped) {
        if let Some(done) = self.pending.take() {
            out.jobs.push(settle(done));
        }
    }
}

fn settle(mut job: JobRow) -> JobRow {
    let steps = std::mem::take(&mut job.steps);
    job.absorb_steps(&steps);
    job.steps = steps;
    job
}

/// Writes what a grouper let go of.
fn write_grouped(
    tx: &Connection,
    prepared: &[write::PreparedJob],
    g: &Grouped,
    source_id: i64,
    stats: &mut Stats,
    summary: &mut Summary,
    window: &mut derive::Window,
) -> rusqlite::Result<()> {
    stats.rows += g.rows;
    stats.errors += g.errors.len() as u64;
    for e in &g.errors {
        summary.error(e.clone());
    }
    let mut on_written = |j: &JobRow| window.add_job(j);
    let n = write::upsert_prepared(tx, prepared, source_id, &mut on_written)?;
    summary.not_final += prepared.iter().filter(|p| !p.job.is_final()).count() as u64;
    stats.written += n.written;
    stats.unchanged += n.unchanged;
    summary.jobs += n;
    summary.steps.written += prepared.iter().map(|p| p.job.steps.len() as u64).sum::<u64>();
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
        grouper.push(0, e, &mut g);
    }
    grouper.finish(&mut g);
    let prepared: Vec<write::PreparedJob> = std::mem::take(&mut g.jobs)
        .into_par_iter()
        .map(write::PreparedJob::new)
        .collect();
    let mut stats = Stats::default();
    write_grouped(tx, &prepared, &g, source_id, &mut stats, summary, window)?;
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
) -> Result<Stats, IngestError> {
    let mut blocks = BlockReader::new(reader, 8 << 20);
    let io_err = |source| SourceError::Io {
        path: display.into(),
        source,
    };
    let Some(first) = blocks.next_block().map_err(io_err)? else {
        return Ok(Stats::default());
    };
    let layout = text::detect_layout(&text::first_line(&first.bytes), opts, display)?;
    let clock = &settings.clock;
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
                        let (entries, errors) = text::parse_block(b, layout, clock, display);
                        for (line, e) in entries {
                            grouper.push(line, e, &mut g);
                        }
                        (errors, b.bytes.len())
                    }
                    None => {
                        grouper.finish(&mut g);
                        (Vec::new(), 0)
                    }
                };
                let prepared = std::mem::take(&mut g.jobs)
                    .into_par_iter()
                    .map(write::PreparedJob::new)
                    .collect();
                if send.send(Ok((prepared, g, line_errors, bytes))).is_err() || b.is_none() {
                    return;
                }
            }
        });
        for batch in recv {
            let (prepared, g, line_errors, bytes) = batch.map_err(io_err)?;
            stats.errors += line_errors.len() as u64;
            for e in line_errors {
                summary.error(e.to_string());
            }
            write_grouped(tx, &prepared, &g, source_id, &mut stats, summary, window)?;
            progress.inc(bytes as u64);
        }
        Ok(())
    });
    result?;
    Ok(stats)
}

fn ingest_live(
    tx: &Connection,
    l: &LiveWindow,
    inputs: &Inputs,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
) -> Result<(), IngestError> {
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
    let id = write::record_source(tx, "sacct-live", &name, None, None, settings.clock.now, 0, 0)?;
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
    )?;
    let ids: Vec<u64> = completing.into_iter().collect();
    if !ids.is_empty() {
        // squeue speaks of the local cluster: the one sacct named in this window's rows.
        let mut stmt = tx.prepare("SELECT DISTINCT cluster FROM jobs WHERE source_id = ?1")?;
        let clusters: Vec<String> = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        for c in clusters {
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

fn ingest_spool(
    tx: &Connection,
    spool: &Path,
    force: bool,
    settings: &Settings,
    summary: &mut Summary,
    window: &mut derive::Window,
    progress: &Progress,
) -> Result<(), IngestError> {
    let files = records::list_spool(spool).map_err(|problem| SourceError::Format {
        source: spool.display().to_string(),
        problem,
    })?;
    let mut dirs: Vec<String> = files.iter().map(|f| f.dir.clone()).collect();
    dirs.sort();
    dirs.dedup();
    let known = records::known_files(tx, &dirs)?;
    let total = files.len() as u64;
    let mut fresh: Vec<records::SpoolFile> = files
        .into_iter()
        .filter(|f| force || known.get(&(f.dir.clone(), f.name.clone())) != Some(&(f.size, f.mtime_ns)))
        .collect();
    // Final records after the prolog's parts, so that a job seen in both keeps the final one
    // whatever the listing order.
    fresh.sort_by(|a, b| b.dir.cmp(&a.dir).then(a.name.cmp(&b.name)));
    let mut stats = Stats {
        rows: total,
        unchanged: total - fresh.len() as u64,
        ..Default::default()
    };
    progress.start(
        fresh.len() as u64,
        &format!("records {}", short(&spool.display().to_string())),
    );
    // Files are read and parsed on the rayon pool, a chunk ahead of the writer.
    type Chunk = Vec<(records::SpoolFile, Result<records::NodeRecordRow, records::RecordError>)>;
    let cluster = settings.cluster.clone();
    let result: rusqlite::Result<()> = std::thread::scope(|scope| {
        let (send, recv) = std::sync::mpsc::sync_channel::<Chunk>(2);
        scope.spawn(move || {
            let mut files = fresh.into_iter();
            loop {
                let chunk: Vec<records::SpoolFile> = files.by_ref().take(4096).collect();
                if chunk.is_empty() {
                    return;
                }
                let rows = records::read_all(&chunk, &cluster);
                if send.send(chunk.into_iter().zip(rows).collect()).is_err() {
                    return;
                }
            }
        });
        for chunk in recv {
            let n = chunk.len() as u64;
            for (f, row) in chunk {
                match row {
                    Ok(row) => {
                        if records::upsert(tx, &row)? {
                            stats.written += 1;
                            summary.records.written += 1;
                            window.add_record(&row);
                        } else {
                            stats.unchanged += 1;
                            summary.records.unchanged += 1;
                        }
                        records::remember_file(tx, &f)?;
                    }
                    Err(e) => {
                        stats.errors += 1;
                        summary.error(format!("{}: {}", e.path.display(), e.problem));
                    }
                }
            }
            progress.inc(n);
        }
        Ok(())
    });
    result?;
    summary.sources.push(SourceSummary {
        kind: "spool",
        name: spool.display().to_string(),
        read: true,
        rows: stats.rows,
        written: stats.written,
        unchanged: stats.unchanged,
        errors: stats.errors,
    });
    Ok(())
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
        summary.sources.push(SourceSummary {
            kind: "wattmeter",
            name,
            read: false,
            rows: 0,
            written: 0,
            unchanged: 0,
            errors: 0,
        });
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.into(),
        source,
    })?;
    let display = path.display().to_string();
    let series = wattmeter::parse(&bytes, &settings.clock, inputs.wattmeter_metric.as_deref()).map_err(|problem| {
        SourceError::Format {
            source: display.clone(),
            problem,
        }
    })?;
    for (line, problem) in &series.errors {
        summary.error(format!("{display}:{line}: {problem}"));
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO power_samples (node, t, watts) VALUES (?1, ?2, ?3)
         ON CONFLICT (node, t) DO UPDATE SET watts = excluded.watts WHERE watts != excluded.watts",
    )?;
    let mut written = 0;
    for s in &series.samples {
        written += stmt.execute(rusqlite::params![s.node, s.t, s.watts])? as u64;
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
    pub fn new(enabled: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg:>32} [{bar:30}] {percent:>3}% {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        Self { bar }
    }

    pub fn start(&self, len: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(0);
            b.set_length(len);
            b.set_message(msg.to_string());
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
