//! The node's forwarder: delivers the records queued in the spool's outbox to the collector
//! (`energy-assess collect`), and only forgets one once the collector said it is stored.
//!
//! ```text
//! <spool>/outbox/job-<id>.<node>.json    a hard link to the record, made by the epilog
//! <spool>/outbox/.lock                   held (flock) by the one forwarder of the node
//! <spool>/outbox/.collectors             the collectors the plugin was last configured with
//! <spool>/delivered/job-<id>.<node>.json acknowledged; pruned with the record after keep_delivered
//! <spool>/rejected/job-<id>.<node>.json  refused by the collector: kept for an admin, never resent
//! <spool>/rejected/job-<id>.<node>.json.reason   why
//! <spool>/forwarder.log                  what the forwarder did (bounded)
//! ```
//!
//! The epilog writes the record (as it always did) and links it into `outbox/`, then starts
//! this binary detached (own session, stdio on /dev/null) and returns: delivery never holds up
//! or fails a job. One forwarder runs per node at a time (the lock; a second one exits at once,
//! and the one running picks up what was queued since). It sends up to [`BATCH_MAX_RECORDS`]
//! records a request (`POST /v1/batch`, [`ea_record::batch`]) signed with a MUNGE credential
//! whose payload is the body's SHA-256, to the collectors in the order configured, and acts on
//! the acknowledgement entry by entry. When no collector takes the batch it waits, doubling
//! the wait from 1 s up to [`MAX_BACKOFF`] (60 s), and tries again: it keeps running while
//! anything is pending, so a collector that comes back gets the records within a minute even
//! if no job runs on the node, and it exits when the outbox is empty. After a round no
//! collector took, it takes up the collectors the plugin noted since it started
//! (`outbox/.collectors`, see `ea_record::spool::Spool::note_collectors`): a site that moves
//! its collector during an outage restarts nothing on the nodes.
#![forbid(unsafe_code)]

pub mod outbox;
pub mod send;

pub use outbox::Outbox;
pub use send::{Delivery, MungeSigner, SendError, Signer};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records per request at most: a burst of a thousand jobs ending goes in a few requests, and
/// one request stays a few megabytes.
pub const BATCH_MAX_RECORDS: usize = 200;

/// The longest wait between two tries while no collector takes a batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The default time a delivered record stays in the local spool.
pub const DEFAULT_KEEP_DELIVERED: Duration = Duration::from_secs(7 * 86_400);

/// The forwarder's command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The node's spool, whose `outbox/` is sent.
    pub spool: PathBuf,
    /// This host's short name, sent as the batch's `host`.
    pub host: String,
    /// Base URLs (`http://host:port`), tried in order.
    pub collectors: Vec<String>,
    /// How long a delivered record stays under `delivered/`.
    pub keep_delivered: Duration,
    /// The first wait after a failed round (doubled up to [`MAX_BACKOFF`]).
    pub first_backoff: Duration,
    /// The longest wait between two rounds.
    pub max_backoff: Duration,
}

/// A command line the forwarder cannot run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError(pub String);

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

impl Args {
    /// The options, as [`Args::parse`] reads them back.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--spool".into(),
            self.spool.display().to_string(),
            "--host".into(),
            self.host.clone(),
            "--keep-delivered-s".into(),
            self.keep_delivered.as_secs().to_string(),
            "--first-backoff-ms".into(),
            self.first_backoff.as_millis().to_string(),
            "--max-backoff-ms".into(),
            self.max_backoff.as_millis().to_string(),
        ];
        for c in &self.collectors {
            a.push("--collector".into());
            a.push(c.clone());
        }
        a
    }

    /// Reads `--key value` pairs.
    ///
    /// # Errors
    /// A missing `--spool`, `--host` or `--collector`, an unknown option, a bad number.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, ArgsError> {
        let mut it = args.into_iter();
        let mut a = Args {
            spool: PathBuf::new(),
            host: String::new(),
            collectors: Vec::new(),
            keep_delivered: DEFAULT_KEEP_DELIVERED,
            first_backoff: Duration::from_secs(1),
            max_backoff: MAX_BACKOFF,
        };
        while let Some(key) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| ArgsError(format!("{key} needs a value")))?;
            let num = || {
                value
                    .parse::<u64>()
                    .map_err(|_| ArgsError(format!("{key}: {value:?} is not a whole number")))
            };
            match key.as_str() {
                "--spool" => a.spool = PathBuf::from(&value),
                "--host" => a.host = value.clone(),
                "--collector" => a.collectors.push(value.clone()),
                "--keep-delivered-s" => a.keep_delivered = Duration::from_secs(num()?),
                "--first-backoff-ms" => a.first_backoff = Duration::from_millis(num()?.max(1)),
                "--max-backoff-ms" => a.max_backoff = Duration::from_millis(num()?.max(1)),
                other => return Err(ArgsError(format!("unknown option {other}"))),
            }
        }
        if a.spool.as_os_str().is_empty() || a.host.is_empty() || a.collectors.is_empty() {
            return Err(ArgsError(
                "--spool, --host and at least one --collector are required".into(),
            ));
        }
        Ok(a)
    }
}

/// The next wait after `current` failed.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    (current * 2).min(max)
}

/// Runs until the outbox is empty (or another forwarder holds the lock). Returns the exit
/// code: 0 when done or not needed, 1 when the spool cannot be used at all.
///
/// A batch a collector refuses as a body (400, 413) is sent again at once as two halves, and
/// a single record refused so is set aside in `rejected/` with the collector's words: one
/// record no collector can read never holds up the records queued behind it. The batch size
/// grows back after each delivery.
pub fn run(args: &Args, signer: &dyn Signer) -> i32 {
    let outbox = Outbox::new(&args.spool);
    let Ok(Some(_lock)) = outbox.lock() else {
        return 0; // another forwarder runs, and takes what was queued since
    };
    let mut log = outbox::Log::open(&args.spool);
    let mut wait = args.first_backoff;
    let mut batch_max = BATCH_MAX_RECORDS;
    let mut collectors = args.collectors.clone();
    loop {
        outbox.prune_delivered(args.keep_delivered, &mut log);
        let pending = match outbox.pending(batch_max) {
            Ok(p) => p,
            Err(e) => {
                log.line(&format!("cannot read the outbox: {e}"));
                return 1;
            }
        };
        if pending.is_empty() {
            return 0;
        }
        match send::deliver(&collectors, &args.host, &pending, signer) {
            Ok(d) => {
                outbox.settle(&d, &mut log);
                wait = args.first_backoff;
                batch_max = (batch_max * 2).min(BATCH_MAX_RECORDS);
            }
            Err(SendError::BodyRefused(said)) if pending.len() > 1 => {
                batch_max = pending.len() / 2;
                log.line(&format!(
                    "a batch of {} record(s) refused as a body ({}); sending {batch_max} at a time",
                    pending.len(),
                    said.join("; ")
                ));
            }
            Err(SendError::BodyRefused(said)) => {
                let name = &pending[0].name;
                let reason = format!("sent alone, refused as a body: {}", said.join("; "));
                log.line(&format!("{name}: set aside in rejected/: {reason}"));
                if let Err(e) = outbox.reject(name, &reason) {
                    log.line(&format!("{name}: cannot move it to rejected/: {e}"));
                    std::thread::sleep(wait);
                    wait = next_backoff(wait, args.max_backoff);
                }
            }
            Err(e) => {
                log.line(&format!(
                    "{} record(s) pending, not delivered: {e}; next try in {:.0} s",
                    pending.len(),
                    wait.as_secs_f64()
                ));
                std::thread::sleep(wait);
                wait = next_backoff(wait, args.max_backoff);
                take_up_noted_collectors(&mut collectors, &args.spool, &mut log);
            }
        }
    }
}

/// After a round no collector took: the collectors the plugin noted since this forwarder
/// started ([`ea_record::spool::Spool::note_collectors`]), when they differ from its own.
fn take_up_noted_collectors(collectors: &mut Vec<String>, spool: &Path, log: &mut outbox::Log) {
    let Some(noted) = ea_record::spool::Spool::new(spool).noted_collectors() else {
        return;
    };
    if noted != *collectors {
        log.line(&format!(
            "the plugin's collectors are now {}; sending there",
            noted.join(", ")
        ));
        *collectors = noted;
    }
}

#[cfg(test)]
mod tests;
