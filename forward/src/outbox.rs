//! The outbox's directories: what is pending, what was delivered, what was refused.

use ea_record::batch::{Ack, BatchEntry};
use ea_record::spool::{Spool, parse_file_name};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The log grows to this size, then starts again (the previous one kept as `.old`).
const LOG_MAX_BYTES: u64 = 1 << 20;

/// A spool's outbox and the directories beside it (see the crate docs).
#[derive(Debug, Clone)]
pub struct Outbox {
    spool: Spool,
}

impl Outbox {
    /// The outbox of the spool at `spool`.
    pub fn new(spool: &Path) -> Self {
        Self {
            spool: Spool::new(spool),
        }
    }

    /// Where records wait to be sent.
    pub fn dir(&self) -> PathBuf {
        self.spool.outbox_dir()
    }

    /// Where sent records stay for `keep_delivered`.
    pub fn delivered_dir(&self) -> PathBuf {
        self.spool.root().join("delivered")
    }

    /// Where records the collector refused are set aside, for an administrator to read.
    pub fn rejected_dir(&self) -> PathBuf {
        self.spool.root().join("rejected")
    }

    /// Takes the node's forwarder lock; `None` when another forwarder holds it. The lock goes
    /// with the returned file (and with the process, however it ends).
    ///
    /// # Errors
    /// The outbox cannot be created or its lock file opened.
    pub fn lock(&self) -> io::Result<Option<File>> {
        mkdir(&self.dir())?;
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir().join(".lock"))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Up to `max` pending entries, oldest names first (job ids grow), with their files' text.
    /// An entry whose file is not UTF-8 is moved to `rejected/` at once: no collector could
    /// take it, and it must not block the others.
    ///
    /// # Errors
    /// The outbox cannot be listed (a missing one is empty).
    pub fn pending(&self, max: usize) -> io::Result<Vec<BatchEntry>> {
        let mut names: Vec<String> = match fs::read_dir(self.dir()) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| parse_file_name(n).is_some_and(|(_, _, suffix)| suffix == "json"))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        names.sort_by_key(|n| parse_file_name(n).map(|(id, node, _)| (id, node)));
        let mut out = Vec::new();
        for name in names {
            if out.len() >= max {
                break;
            }
            match fs::read(self.dir().join(&name)) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(content) => out.push(BatchEntry { name, content }),
                    Err(_) => {
                        let _ = self.reject(&name, "the file is not UTF-8 text");
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Acts on a collector's acknowledgement: stored and duplicate entries move to
    /// `delivered/`, rejected ones to `rejected/` with their reason; entries it did not name
    /// stay pending.
    pub fn settle(&self, ack: &Ack, log: &mut Log) {
        let _ = mkdir(&self.delivered_dir());
        for name in ack.stored.iter().chain(&ack.duplicates) {
            if !is_entry_name(name) {
                continue;
            }
            let (from, to) = (self.dir().join(name), self.delivered_dir().join(name));
            match fs::rename(&from, &to) {
                // rename(2) does nothing when both names are links to one file (a record
                // queued again after its first delivery, unchanged): the entry must go all
                // the same, or it would be sent again forever.
                Ok(()) if from.exists() => {
                    let _ = fs::remove_file(&from);
                }
                Ok(()) => {}
                Err(e) => log.line(&format!(
                    "{name}: delivered, but cannot leave the outbox: {e}"
                )),
            }
        }
        for r in &ack.rejected {
            if !is_entry_name(&r.name) {
                continue;
            }
            log.line(&format!(
                "{}: rejected by the collector: {}",
                r.name, r.reason
            ));
            if let Err(e) = self.reject(&r.name, &r.reason) {
                log.line(&format!("{}: cannot move it to rejected/: {e}", r.name));
            }
        }
        log.line(&format!(
            "delivered {} record(s) ({} already stored), {} rejected",
            ack.stored.len() + ack.duplicates.len(),
            ack.duplicates.len(),
            ack.rejected.len()
        ));
    }

    /// Moves an entry aside, never to be sent again, with why in `<name>.reason`.
    pub fn reject(&self, name: &str, reason: &str) -> io::Result<()> {
        mkdir(&self.rejected_dir())?;
        fs::write(
            self.rejected_dir().join(format!("{name}.reason")),
            format!("{reason}\n"),
        )?;
        fs::rename(self.dir().join(name), self.rejected_dir().join(name))
    }

    /// Removes the delivered records older than `keep` (by their write time), from
    /// `delivered/` and from the spool's records.
    pub fn prune_delivered(&self, keep: Duration, log: &mut Log) {
        let Ok(entries) = fs::read_dir(self.delivered_dir()) else {
            return;
        };
        let mut pruned = 0;
        for e in entries.flatten() {
            let Some((job_id, node, "json")) = e.file_name().to_str().and_then(parse_file_name)
            else {
                continue;
            };
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() >= keep);
            if !old {
                continue;
            }
            for record in [
                self.spool.record_path(job_id, &node),
                self.spool.flat_record_path(job_id, &node),
            ] {
                // An array task's note goes with its records (`Spool::note_array_task`).
                if let Ok(r) = ea_record::spool::read_record(&record)
                    && let (Some(array), Some(task)) = (r.array_job_id, r.array_task_id)
                {
                    self.spool.forget_array_task(array, task, job_id);
                }
                let _ = fs::remove_file(record);
            }
            if fs::remove_file(e.path()).is_ok() {
                pruned += 1;
            }
        }
        if pruned > 0 {
            log.line(&format!(
                "pruned {pruned} delivered record(s) older than {} s",
                keep.as_secs()
            ));
        }
    }
}

/// A name the collector gave back that is a plain entry name (no path).
fn is_entry_name(name: &str) -> bool {
    !name.contains('/') && parse_file_name(name).is_some()
}

fn mkdir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// The forwarder's log, `<spool>/forwarder.log`: nobody reads its stderr.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: Option<File>,
}

impl Log {
    /// `spool/forwarder.log`, rotated once to `.old` when it grows too large; a log that
    /// cannot be opened is no log (the forwarder still delivers).
    pub fn open(spool: &Path) -> Self {
        let path = spool.join("forwarder.log");
        if fs::metadata(&path).is_ok_and(|m| m.len() > LOG_MAX_BYTES) {
            let _ = fs::rename(&path, spool.join("forwarder.log.old"));
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .ok();
        Self { path, file }
    }

    /// Appends one line, stamped with the time.
    pub fn line(&mut self, text: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{} {text}", ea_record::UnixMicros::now().0 / 1_000_000);
        }
    }

    /// The log file's path, for messages that point to it.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
