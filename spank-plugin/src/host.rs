//! The small, safe view of Slurm that the plugin's logic is written against.
//!
//! `ffi.rs` implements [`SpankHost`] over the real `spank_t` handle; the tests implement it
//! with a fake. Nothing in this file touches Slurm.

/// The SPANK context a callback runs in (`spank_context()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `srun`, in the user's shell.
    Local,
    /// `slurmstepd`, on a compute node, for a job step.
    Remote,
    /// `sbatch` or `salloc`.
    Allocator,
    /// The slurmd daemon itself.
    Slurmd,
    /// `slurmstepd spank prolog|epilog`: job_prolog and job_epilog, as root, once per node.
    JobScript,
    /// Any context this plugin does not act in.
    Unknown,
}

/// What `spank_option_getopt` said about `--energy-assess`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// The user did not pass the option.
    NotGiven,
    /// The user passed it; `None` when it had no `=MODE` (Slurm gives NULL, `""` or the
    /// literal `(null)` for that, depending on the context).
    Given(Option<String>),
    /// getopt is not available in this callback.
    Unavailable,
}

impl OptionValue {
    /// Builds the value from what Slurm handed over, folding its three spellings of "no
    /// argument" into `None`.
    pub fn given(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("") | Some("(null)") => OptionValue::Given(None),
            Some(v) => OptionValue::Given(Some(v.to_string())),
        }
    }
}

/// Slurm's log levels the plugin writes at, most severe first (so `<=` is "at least as
/// severe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `slurm_error`: always in the slurmd log.
    Error,
    /// `slurm_info`.
    Info,
    /// `slurm_verbose` (slurmd -v).
    Verbose,
    /// `slurm_debug` (slurmd -vv).
    Debug,
}

/// An array task's place in its array: sacct's `<array_job_id>_<array_task_id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayTask {
    /// `S_JOB_ARRAY_ID`: the job id of the whole array.
    pub array_job_id: u32,
    /// `S_JOB_ARRAY_TASK_ID`: this task's index in it.
    pub array_task_id: u32,
}

/// Why a file could not be written as the job's user ([`SpankHost::write_as_user`]). The
/// message goes into the record's `summary_error` and the slurmd log.
#[derive(Debug)]
pub enum WriteAsUserError {
    /// The job is root's: the plugin never writes as root into a job's directory.
    RootJob,
    /// The name has a `/` or is `.` or `..`.
    NotPlainName(String),
    /// The directory or the name holds a NUL byte (`"directory"`, `"file name"`).
    Nul(&'static str),
    /// The writing child could not be started.
    Fork(std::io::Error),
    /// The child could not become `uid:gid`.
    SwitchUser {
        /// The job's user.
        uid: u32,
        /// The job's group.
        gid: u32,
    },
    /// The user cannot open the directory.
    OpenDir {
        /// The job's user.
        uid: u32,
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// The user cannot create the file in the directory.
    Create {
        /// The job's user.
        uid: u32,
        /// The file's name.
        name: String,
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// A symlink stands at the name: not followed.
    Symlink {
        /// The file's name.
        name: String,
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// Writing or closing the file failed.
    Write {
        /// The file's name.
        name: String,
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// The writing child was killed by a signal.
    Killed,
    /// The child took longer than the plugin waits (a hung filesystem) and was killed.
    Timeout {
        /// The directory.
        dir: std::path::PathBuf,
        /// How long the plugin waited.
        after: std::time::Duration,
    },
    /// Another host's failure, in its own words (test hosts).
    Io(std::io::Error),
}

impl std::fmt::Display for WriteAsUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteAsUserError::RootJob => {
                f.write_str("refusing to write a user file for a root job")
            }
            WriteAsUserError::NotPlainName(name) => write!(f, "`{name}` is not a plain file name"),
            WriteAsUserError::Nul(what) => write!(f, "NUL in {what}"),
            WriteAsUserError::Fork(e) => write!(f, "fork: {e}"),
            WriteAsUserError::SwitchUser { uid, gid } => {
                write!(f, "cannot switch to uid {uid} gid {gid}")
            }
            WriteAsUserError::OpenDir { uid, dir } => {
                write!(f, "user {uid} cannot open the directory {}", dir.display())
            }
            WriteAsUserError::Create { uid, name, dir } => {
                write!(f, "user {uid} cannot create {name} in {}", dir.display())
            }
            WriteAsUserError::Symlink { name, dir } => {
                write!(
                    f,
                    "{name} in {} is a symlink; not following it",
                    dir.display()
                )
            }
            WriteAsUserError::Write { name, dir } => {
                write!(f, "writing {name} in {} failed", dir.display())
            }
            WriteAsUserError::Killed => f.write_str("the writing child was killed"),
            WriteAsUserError::Timeout { dir, after } => write!(
                f,
                "writing into {} took over {after:?}; gave up",
                dir.display()
            ),
            WriteAsUserError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteAsUserError {}

/// Everything the plugin's logic needs from Slurm.
pub trait SpankHost {
    /// Which Slurm process this callback runs in.
    fn context(&self) -> Context;
    /// `S_JOB_ID`; `None` where Slurm does not provide it.
    fn job_id(&self) -> Option<u32>;
    /// `S_JOB_UID`: whom the summary file is written as.
    fn job_uid(&self) -> Option<u32>;
    /// `S_JOB_GID`.
    fn job_gid(&self) -> Option<u32>;
    /// The job's environment as this context sees it: the process environment in job_script
    /// context, `spank_getenv` in remote context.
    fn getenv(&self, name: &str) -> Option<String>;
    /// This node's Slurm name. slurmstepd has `SLURMD_NODENAME` in its own environment in
    /// every context, even where the job's environment lacks it (the extern step).
    fn node_name(&self) -> Option<String>;
    /// The job's cores (Slurm's list form, `0-3,8`) and memory (MB) on this node:
    /// `S_JOB_ALLOC_CORES` and `S_JOB_ALLOC_MEM`, available only in remote context.
    fn job_alloc(&self) -> (Option<String>, Option<u64>);
    /// The array job and task this job is (`S_JOB_ARRAY_ID`, `S_JOB_ARRAY_TASK_ID`), in remote
    /// context only; `None` for a job that is not an array task, and everywhere else
    /// (job_prolog and job_epilog get neither from Slurm nor in their environment).
    fn job_array(&self) -> Option<ArrayTask>;
    /// `S_JOB_STEPID` in remote context (the extern step is `0xfffffffc`); `None` elsewhere.
    fn step_id(&self) -> Option<u32>;
    /// The state of `--energy-assess` for this job.
    fn option(&self) -> OptionValue;
    /// Writes `bytes` to `dir/name` as the given user and group, never as root: the job's
    /// working directory belongs to the user, and root writing there could be tricked by a
    /// symlink into overwriting any file. Refuses a symlink at `name`. Bounded in time.
    fn write_as_user(
        &self,
        dir: &std::path::Path,
        name: &str,
        bytes: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<(), WriteAsUserError>;
    /// Logs one line through Slurm's logger (slurmd log in job_script context, stderr of
    /// sbatch/srun in allocator and local context).
    fn log(&self, level: Level, msg: &str);
}

/// A [`SpankHost`] of fixed values, for running job_prolog and job_epilog without Slurm (the
/// callbacks benchmark, the real-GPU job check): job_script context, the given job, user and
/// environment, `--energy-assess` given, no allocation details, and no summary file written.
#[derive(Debug, Clone)]
pub struct FixedHost {
    /// What `getenv` answers (`SLURMD_NODENAME` is also the node's name).
    pub env: std::collections::HashMap<&'static str, String>,
    /// The job's id.
    pub job_id: u32,
    /// The job's user.
    pub uid: u32,
    /// The job's group.
    pub gid: u32,
    /// Messages at this level or a more severe one are printed to standard error.
    pub print_from: Level,
}

impl SpankHost for FixedHost {
    fn context(&self) -> Context {
        Context::JobScript
    }
    fn job_id(&self) -> Option<u32> {
        Some(self.job_id)
    }
    fn job_uid(&self) -> Option<u32> {
        Some(self.uid)
    }
    fn job_gid(&self) -> Option<u32> {
        Some(self.gid)
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn node_name(&self) -> Option<String> {
        self.env.get("SLURMD_NODENAME").cloned()
    }
    fn job_alloc(&self) -> (Option<String>, Option<u64>) {
        (None, None)
    }
    fn job_array(&self) -> Option<ArrayTask> {
        None
    }
    fn step_id(&self) -> Option<u32> {
        None
    }
    fn option(&self) -> OptionValue {
        OptionValue::Given(None)
    }
    fn write_as_user(
        &self,
        _: &std::path::Path,
        _: &str,
        _: &[u8],
        _: u32,
        _: u32,
    ) -> Result<(), WriteAsUserError> {
        Ok(())
    }
    fn log(&self, level: Level, msg: &str) {
        if level <= self.print_from {
            eprintln!("energy-assess ({level:?}): {msg}");
        }
    }
}
