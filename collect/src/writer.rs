//! The one thread that writes the store (a SQLite connection has one writer).
//!
//! HTTP workers hand it the checked rows of a batch and wait for its answer. It takes every
//! batch waiting at that moment, up to `max_rows` rows, into one transaction (group commit:
//! a burst of thousands of one-record batches from the nodes of a job that ended costs a few
//! commits, not thousands), then answers each batch with which of its rows were written. A
//! batch is never split across transactions, so it is stored whole or not at all, and no
//! answer is sent before the commit.
//!
//! The derivation that ends every ingest (measured energy per job, calibrations) runs for
//! everything stored at most every [`DERIVE_EVERY`], not per batch: it is per job over all
//! its nodes, and a job's thousands of nodes report in thousands of batches
//! (`ea_ingest::batch::Pending`). Between batches, it runs the sacct side when due.

use crate::config::LiveSchedule;
use crate::metrics::Metrics;
use crate::nodes::NodeBook;
use ea_ingest::batch::Pending;
use ea_ingest::records::NodeRecordRow;
use ea_ingest::{self as ingest, Inputs, LiveWindow, Settings};
use ea_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The writer's answer for one batch: for each row, whether it was written (else the store
/// already held it); or why nothing could be stored.
pub type Answer = Result<Vec<bool>, SubmitError>;

/// Why a batch's rows were not stored (the node sends them again later).
#[derive(Debug, Clone)]
pub enum SubmitError {
    /// The writer's queue is closed: the collector is stopping.
    Stopping,
    /// The writer went away before it answered.
    WriterStopped,
    /// The group of batches this one was written with failed as a whole, nothing kept (one
    /// error, shared by every batch of the group).
    Ingest(Arc<ingest::IngestError>),
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Stopping => f.write_str("the collector is stopping"),
            SubmitError::WriterStopped => f.write_str("the writer stopped"),
            SubmitError::Ingest(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SubmitError {}

/// One batch's rows, and where to answer.
pub struct Submission {
    /// The rows, checked.
    pub rows: Vec<NodeRecordRow>,
    /// Where the answer goes.
    pub reply: SyncSender<Answer>,
}

/// What the writer thread needs.
pub struct WriterSetup {
    /// The store, opened for writing.
    pub store: Store,
    /// How to ingest (cluster, clock, inventory...).
    pub settings: Settings,
    /// The sacct side's schedule, if any.
    pub live: Option<LiveSchedule>,
    /// The most rows in one transaction.
    pub max_rows: usize,
    /// Where `nodes.json` lives.
    pub state_dir: PathBuf,
    /// Where to count.
    pub metrics: Arc<Metrics>,
}

/// Runs the writer until every sender is gone.
pub fn run(mut setup: WriterSetup, queue: Receiver<Submission>) {
    let mut book = NodeBook::load(&setup.state_dir).unwrap_or_else(|e| {
        eprintln!("collect: {e}; starting with an empty node book");
        NodeBook::default()
    });
    let mut pending = Pending::new(&setup.store).unwrap_or_else(|e| {
        eprintln!("collect: cannot read what is left to derive: {e}");
        Pending::default()
    });
    // What an earlier collector left underived goes first.
    let mut derive_due = (!pending.is_empty()).then(Instant::now);
    let mut next_live = setup.live.as_ref().map(|_| Instant::now());
    // The book is saved at most every BOOK_SAVE: its fsync would otherwise double the cost of
    // a group's commit.
    let mut book_saved = Instant::now()
        .checked_sub(BOOK_SAVE)
        .unwrap_or_else(Instant::now);
    let mut book_dirty = false;
    loop {
        let now = Instant::now();
        let mut wait = next_live.map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(now)
        });
        if let Some(t) = derive_due {
            wait = wait.min(t.saturating_duration_since(now));
        }
        if book_dirty {
            wait = wait.min(BOOK_SAVE.saturating_sub(book_saved.elapsed()));
        }
        match queue.recv_timeout(wait) {
            Ok(first) => {
                let group = gather(first, &queue, setup.max_rows);
                commit_group(&mut setup, group, &mut book, &mut pending);
                book_dirty = true;
                if !pending.is_empty() {
                    derive_due.get_or_insert_with(|| Instant::now() + DERIVE_EVERY);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if derive_due.is_some_and(|t| Instant::now() >= t) {
            derive(&mut setup, &mut pending);
            derive_due = (!pending.is_empty()).then(|| Instant::now() + DERIVE_EVERY);
        }
        if book_dirty && book_saved.elapsed() >= BOOK_SAVE {
            save_book(&book, &setup.state_dir);
            (book_dirty, book_saved) = (false, Instant::now());
        }
        if next_live.is_some_and(|due| Instant::now() >= due)
            && let Some(live) = setup.live.clone()
        {
            derive(&mut setup, &mut pending);
            run_live(&mut setup.store, &setup.settings, &live, &setup.metrics);
            next_live = Some(Instant::now() + Duration::from_secs(live.interval_s));
        }
    }
    derive(&mut setup, &mut pending);
    if book_dirty {
        save_book(&book, &setup.state_dir);
    }
}

/// How long stored records wait at most for their derivation.
pub const DERIVE_EVERY: Duration = Duration::from_secs(1);

fn derive(setup: &mut WriterSetup, pending: &mut Pending) {
    match ingest::batch::derive_pending(&mut setup.store, pending, "collector", &setup.settings) {
        Ok(Some(s)) if s.derived.measured_jobs > 0 || s.derived.jobs_from_records > 0 => {
            eprintln!(
                "collect: derived {} measured jobs ({} known only from records so far, {} waiting for node records)",
                s.derived.measured_jobs, s.derived.jobs_from_records, s.derived.measured_pending
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("collect: deriving measured energies failed (tried again later): {e}"),
    }
}

/// How often at most the node book is written.
const BOOK_SAVE: Duration = Duration::from_secs(2);

fn save_book(book: &NodeBook, dir: &std::path::Path) {
    if let Err(e) = book.save(dir) {
        eprintln!(
            "collect: cannot save the node book in {}: {e}",
            dir.display()
        );
    }
}

/// The first batch and every one waiting behind it, up to `max_rows` rows (a batch larger
/// than that alone still goes whole).
fn gather(first: Submission, queue: &Receiver<Submission>, max_rows: usize) -> Vec<Submission> {
    let mut rows = first.rows.len();
    let mut group = vec![first];
    while rows < max_rows {
        match queue.try_recv() {
            Ok(s) => {
                rows += s.rows.len();
                group.push(s);
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    group
}

fn commit_group(
    setup: &mut WriterSetup,
    group: Vec<Submission>,
    book: &mut NodeBook,
    pending: &mut Pending,
) {
    let mut sizes = Vec::with_capacity(group.len());
    let mut rows = Vec::new();
    let mut replies = Vec::with_capacity(group.len());
    let mut seen: Vec<(String, Option<f64>)> = Vec::new();
    for s in group {
        sizes.push(s.rows.len());
        seen.extend(s.rows.iter().map(|r| (r.node.clone(), r.end)));
        rows.extend(s.rows);
        replies.push(s.reply);
    }
    let outcome = ingest::batch::ingest_rows(&mut setup.store, &rows, pending);
    match outcome {
        Ok(outcome) => {
            let now = unix_now();
            for (node, end) in &seen {
                book.saw(node, now, *end);
                setup.metrics.node_seen(node, now as f64);
            }
            let mut written = outcome.written.into_iter();
            for (reply, n) in replies.into_iter().zip(sizes) {
                let _ = reply.send(Ok(written.by_ref().take(n).collect()));
            }
        }
        Err(e) => {
            eprintln!("collect: storing a group of batches failed, nothing kept: {e}");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(SubmitError::Ingest(e.clone())));
            }
        }
    }
}

/// `ingest --live` for the schedule's window, through the same ingest as the command.
fn run_live(store: &mut Store, settings: &Settings, live: &LiveSchedule, metrics: &Metrics) {
    let inputs = Inputs {
        live: Some(LiveWindow {
            start: format!("now-{}seconds", live.lookback_s),
            end: "now".into(),
            sacct: live.sacct.clone(),
            squeue: live.squeue.clone(),
        }),
        ..Default::default()
    };
    match ingest::ingest(store, &inputs, settings) {
        Ok(s) => {
            metrics.live_runs.get_or_create(&outcome("ok")).inc();
            eprintln!(
                "collect: sacct side: jobs {} written, {} unchanged; {} not final yet",
                s.jobs.written, s.jobs.unchanged, s.not_final
            );
        }
        Err(e) => {
            metrics.live_runs.get_or_create(&outcome("failed")).inc();
            eprintln!(
                "collect: sacct side failed (tried again in {} s): {e}",
                live.interval_s
            );
        }
    }
}

fn outcome(o: &str) -> crate::metrics::OutcomeLabel {
    crate::metrics::OutcomeLabel {
        outcome: o.to_string(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
