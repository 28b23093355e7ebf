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
//! Every reader produces the same [`JobRow`]s and [`StepRow`]s, the one job type and the one
//! step type of the workspace: the store writes them and gives them back (its `JobRecord` is a
//! `JobRow` with what the store adds). Beside them, what those rows need and nothing else:
//!
//! - [`timefmt`]: Slurm's time formats (local times, durations, `now-7days`), the [`timefmt::Clock`]
//!   of the site's time zone;
//! - [`rowhash`]: how a row is stored and hashed (the stable [`rowhash::Fnv`], each step's
//!   compact JSON), so that the parser hashes and encodes in its one pass without knowing the
//!   database;
//! - [`bytes`]: the byte searches the text reader cuts lines with;
//! - [`fastmap`]: `HashMap`s over `rustc-hash`'s `FxBuildHasher`, and an interner (the
//!   ingest's and reports' maps of a month of jobs).
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
    /// For an array task: the array's master id (JobID's part before `_`).
    pub array_job_id: Option<u64>,
    /// For an array task: its task (`4`), or `[1-3]` for tasks still pending as one record.
    pub array_task: Option<String>,
    /// JobName.
    pub name: Option<String>,
    /// User: the owner's login name.
    pub user: Option<String>,
    /// UID: the owner's numeric id, when the dump has it.
    pub uid: Option<u32>,
    /// Group: the owner's group name.
    pub group: Option<String>,
    /// GID, when the dump has it.
    pub gid: Option<u32>,
    /// Account charged.
    pub account: Option<String>,
    /// Partition it ran in.
    pub partition: Option<String>,
    /// QOS it ran under.
    pub qos: Option<String>,
    /// Canonical long state name (`CANCELLED`, `COMPLETED`, or an unknown state upper-cased).
    pub state: String,
    /// The state as written (`CANCELLED by 1300204`).
    pub state_raw: String,
    /// ExitCode as written (`0:0`, `1:9`: return code and signal).
    pub exit_code: Option<String>,
    /// Submit time.
    pub submit: Option<i64>,
    /// Eligible time.
    pub eligible: Option<i64>,
    /// Start time; `None` for a job that never started.
    pub start: Option<i64>,
    /// End time; `None` while it runs.
    pub end: Option<i64>,
    /// Elapsed (or ElapsedRaw), seconds.
    pub elapsed_s: Option<i64>,
    /// Timelimit (or TimelimitRaw), seconds.
    pub timelimit_s: Option<i64>,
    /// NNodes allocated.
    pub nnodes: Option<u32>,
    /// NCPUS allocated.
    pub ncpus: Option<u32>,
    /// NodeList as Slurm writes it (`cn[01-04]`); `None` for "None assigned".
    pub node_list: Option<String>,
    /// Requested memory for the whole job, MiB.
    pub req_mem_mb: Option<f64>,
    /// AllocTRES as written (`cpu=8,mem=16G,node=1,gres/gpu=2`).
    pub alloc_tres: Option<String>,
    /// GPUs allocated, from AllocTRES.
    pub gpus: Option<u32>,
    /// CPU time the job's processes used (TotalCPU), seconds.
    pub total_cpu_s: Option<f64>,
    /// Allocated CPU time (CPUTime = Elapsed × NCPUS), seconds.
    pub cpu_time_s: Option<f64>,
    /// Slurm's own ConsumedEnergy, joules (only right for whole-node jobs, per sacct(1)).
    pub consumed_energy_j: Option<f64>,
    /// WorkDir.
    pub work_dir: Option<String>,
    /// Its steps, when the input has them.
    pub steps: Vec<StepRow>,
}

/// One job step (`123.batch`, `123.extern`, `123.0`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRow {
    /// As for [`JobRow::cluster`].
    pub cluster: Option<String>,
    /// The job's JobID (without the step).
    pub job_id: String,
    /// The step: `batch`, `extern`, `0`...
    pub step: String,
    /// The step's name (`batch`, the command of an `srun`).
    pub name: Option<String>,
    /// Canonical long state name, as [`JobRow::state`].
    pub state: String,
    /// The state as written.
    pub state_raw: String,
    /// ExitCode as written.
    pub exit_code: Option<String>,
    /// Start time.
    pub start: Option<i64>,
    /// End time; `None` while it runs.
    pub end: Option<i64>,
    /// Elapsed, seconds.
    pub elapsed_s: Option<i64>,
    /// Nodes the step ran on.
    pub nnodes: Option<u32>,
    /// CPUs the step held.
    pub ncpus: Option<u32>,
    /// Tasks the step launched.
    pub ntasks: Option<u32>,
    /// Nodes the step ran on, as Slurm writes them.
    pub node_list: Option<String>,
    /// CPU time its processes used (TotalCPU), seconds.
    pub total_cpu_s: Option<f64>,
    /// Slurm's ConsumedEnergy for the step, joules.
    pub consumed_energy_j: Option<f64>,
    /// AllocTRES as written.
    pub alloc_tres: Option<String>,
}

/// A line of a dump: an allocation or a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// An allocation line, with its steps when the input nests them (JSON).
    Job(Box<JobRow>),
    /// A step line, whose job may be elsewhere in the input or already stored.
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
    /// The file (or `-` / `sacct` for a pipe) the line is in.
    pub source: String,
    /// 1-based line number; 0 for errors that belong to the whole file or to a JSON element.
    pub line: u64,
    /// What is wrong with it, and where it helps, what to do.
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

impl std::error::Error for LineError {}

/// Why one row of accounting (a dump's line, a JSON document's job or step) cannot be read.
/// Ingest reports it as a [`LineError`], with the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// A line with more or fewer fields than the header has columns.
    FieldCount {
        /// Fields on the line.
        found: usize,
        /// Columns in the header (or the given column list).
        expected: usize,
        /// The dump's delimiter.
        delimiter: String,
    },
    /// A line whose JobID and JobIDRaw are both empty.
    EmptyJobId,
    /// A JobID that is not one.
    JobId(fields::JobIdError),
    /// A time or duration field (named) that cannot be read.
    Time {
        /// The column, as sacct names it (`Start`, `Elapsed`).
        field: &'static str,
        /// What is wrong with its value.
        source: timefmt::TimeError,
    },
    /// A JSON job without a `job_id`.
    NoJobId,
    /// A JSON job whose `job_id` is 0 or negative.
    NotAJob(i64),
    /// A JSON step without an id.
    StepWithoutId,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::FieldCount {
                found,
                expected,
                delimiter,
            } => write!(
                f,
                "{found} fields where the header has {expected} (a `{delimiter}` inside a job name \
                 or comment, or a truncated line)"
            ),
            RowError::EmptyJobId => f.write_str("empty JobID"),
            RowError::JobId(e) => e.fmt(f),
            RowError::Time { field, source } => write!(f, "{field} {source}"),
            RowError::NoJobId => f.write_str("no job_id"),
            RowError::NotAJob(id) => write!(f, "job_id {id} is not a job"),
            RowError::StepWithoutId => f.write_str("a step without an id"),
        }
    }
}

impl std::error::Error for RowError {}

impl From<fields::JobIdError> for RowError {
    fn from(e: fields::JobIdError) -> Self {
        RowError::JobId(e)
    }
}

/// A whole input that cannot be read as accounting at all: nothing from it is ingested.
#[derive(Debug)]
pub enum SourceError {
    /// The input cannot be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system answered.
        source: std::io::Error,
    },
    /// The input is not in a form this reader knows; the message says what to do.
    Format {
        /// The file (or `-` for standard input).
        source: String,
        /// What it holds instead, and what to give.
        problem: String,
    },
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
