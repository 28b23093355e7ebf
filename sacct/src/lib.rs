//! Slurm accounting, read from every form `sacct` writes it in.
//!
//! - [`text`]: `-P`/`--parsable2` and `-p`/`--parsable` dumps, any delimiter, with a header
//!   line in any column order or header-less with the column list given;
//! - [`json`]: `sacct --json` from Slurm 21.08 (openapi dbv0.0.37) to 25.x (data_parser
//!   v0.0.43), and the controller's job list (`squeue --json`, slurmrestd `/jobs`) whose jobs
//!   are still live;
//! - [`live`]: running `sacct` (and `squeue`, to tell jobs still completing) for a window;
//! - [`fields`]: the values inside fields.
//!
//! Every reader produces the same [`JobRow`]s and [`StepRow`]s. Beside them, what those rows
//! need and nothing else:
//!
//! - [`timefmt`]: Slurm's time formats (local times, durations, `now-7days`), the [`timefmt::Clock`]
//!   of the site's time zone;
//! - [`rowhash`]: how a row is stored and hashed (the stable [`rowhash::Fnv`], each step's
//!   compact JSON), so that the parser hashes and encodes in its one pass without knowing the
//!   database;
//! - [`bytes`]: the byte searches the text reader cuts lines with;
//! - [`fastmap`]: a `HashMap` with the row hash's mixing step as its hasher, and an interner
//!   (the ingest's and reports' maps of a month of jobs).
//!
//! This crate (`ea-sacct`) reads; it never opens the store (`ea-store`) nor decides what is
//! ingested (`ea-ingest`).
#![forbid(unsafe_code)]

pub mod bytes;
pub mod fastmap;
pub mod fields;
pub mod json;
pub mod live;
pub mod rowhash;
pub mod text;
pub mod timefmt;

use std::fmt;
use std::path::PathBuf;

/// One job allocation, as sacct's allocation line (or the JSON job object) describes it.
/// Times are UTC seconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRow {
    /// `None` when the dump has no Cluster column; ingest fills in the site's cluster.
    pub cluster: Option<String>,
    /// JobID without a step: `123`, `123_4`, `123_[1-3]`, `123+1`. Unique per cluster.
    pub job_id: String,
    /// JobIDRaw: the unique numeric id (for array tasks it differs from the array id).
    pub job_id_raw: Option<u64>,
    pub array_job_id: Option<u64>,
    pub array_task: Option<String>,
    pub name: Option<String>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub group: Option<String>,
    pub gid: Option<u32>,
    pub account: Option<String>,
    pub partition: Option<String>,
    pub qos: Option<String>,
    /// Canonical long state name (`CANCELLED`, `COMPLETED`, or an unknown state upper-cased).
    pub state: String,
    /// The state as written (`CANCELLED by 1300204`).
    pub state_raw: String,
    pub exit_code: Option<String>,
    pub submit: Option<i64>,
    pub eligible: Option<i64>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub elapsed_s: Option<i64>,
    pub timelimit_s: Option<i64>,
    pub nnodes: Option<u32>,
    pub ncpus: Option<u32>,
    pub node_list: Option<String>,
    /// Requested memory for the whole job, MiB.
    pub req_mem_mb: Option<f64>,
    pub alloc_tres: Option<String>,
    pub gpus: Option<u32>,
    /// CPU time the job's processes used (TotalCPU), seconds.
    pub total_cpu_s: Option<f64>,
    /// Allocated CPU time (CPUTime = Elapsed × NCPUS), seconds.
    pub cpu_time_s: Option<f64>,
    /// Slurm's own ConsumedEnergy, joules (only right for whole-node jobs, per sacct(1)).
    pub consumed_energy_j: Option<f64>,
    pub work_dir: Option<String>,
    /// Its steps, when the input has them.
    pub steps: Vec<StepRow>,
}

/// One job step (`123.batch`, `123.extern`, `123.0`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRow {
    pub cluster: Option<String>,
    /// The job's JobID (without the step).
    pub job_id: String,
    /// The step: `batch`, `extern`, `0`...
    pub step: String,
    pub name: Option<String>,
    pub state: String,
    pub state_raw: String,
    pub exit_code: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub elapsed_s: Option<i64>,
    pub nnodes: Option<u32>,
    pub ncpus: Option<u32>,
    pub ntasks: Option<u32>,
    pub node_list: Option<String>,
    pub total_cpu_s: Option<f64>,
    pub consumed_energy_j: Option<f64>,
    pub alloc_tres: Option<String>,
}

/// A line of a dump: an allocation or a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Job(Box<JobRow>),
    Step(Box<StepRow>),
}

impl JobRow {
    /// Whether the job has ended for good. Unknown states count as ended when the job has an
    /// end time; COMPLETING never does (its epilog, and so its energy record, is not done).
    pub fn is_final(&self) -> bool {
        match fields::state_is_final(&self.state) {
            Some(f) => f,
            None => self.end.is_some(),
        }
    }

    /// Fills what the allocation line leaves empty from its steps, the way sacct's own job
    /// line does: CPU time summed, energy as the largest step (the extern step spans the whole
    /// allocation, and steps overlap, so a sum would count twice).
    pub fn absorb_steps(&mut self, steps: &[StepRow]) {
        if steps.is_empty() {
            return;
        }
        if self.total_cpu_s.is_none_or(|v| v == 0.0) {
            let sum: f64 = steps.iter().filter_map(|s| s.total_cpu_s).sum();
            if sum > 0.0 {
                self.total_cpu_s = Some(sum);
            }
        }
        if self.consumed_energy_j.is_none() {
            self.consumed_energy_j = steps
                .iter()
                .filter_map(|s| s.consumed_energy_j)
                .reduce(f64::max);
        }
    }
}

/// A line that could not be read. Ingest reports it with its file and line, counts it and
/// goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub source: String,
    /// 1-based line number; 0 for errors that belong to the whole file or to a JSON element.
    pub line: u64,
    pub problem: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.source, self.line, self.problem)
        } else {
            write!(f, "{}: {}", self.source, self.problem)
        }
    }
}

/// A whole input that cannot be read as accounting at all: nothing from it is ingested.
#[derive(Debug)]
pub enum SourceError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The input is not in a form this reader knows; the message says what to do.
    Format { source: String, problem: String },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            SourceError::Format { source, problem } => write!(f, "{source}: {problem}"),
        }
    }
}

impl std::error::Error for SourceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_line_takes_cpu_and_energy_from_steps() {
        let mut job = JobRow {
            job_id: "1".into(),
            state: "COMPLETED".into(),
            ..Default::default()
        };
        let steps = [
            StepRow {
                step: "batch".into(),
                total_cpu_s: Some(47.0),
                consumed_energy_j: Some(33.0),
                ..Default::default()
            },
            StepRow {
                step: "extern".into(),
                total_cpu_s: Some(0.5),
                consumed_energy_j: Some(40.0),
                ..Default::default()
            },
        ];
        job.absorb_steps(&steps);
        assert_eq!(job.total_cpu_s, Some(47.5));
        assert_eq!(job.consumed_energy_j, Some(40.0));
        assert!(job.is_final());
        job.state = "COMPLETING".into();
        assert!(!job.is_final());
        job.state = "FOO".into();
        assert!(!job.is_final());
        job.end = Some(1);
        assert!(job.is_final());
    }
}
