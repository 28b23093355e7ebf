//! A final record the epilog could not write is not lost with the epilog's process.
//!
//! When the spool is read-only or full at the epilog, nothing on disk can hold the record the
//! epilog has just made. [`keep_record`] hands its bytes, through a pipe, to a small detached
//! process (`energy-assess-sampler keep`) that tries to write it every [`RETRY`] until it can,
//! then removes the job's leftovers under `running/`, and gives up after [`KEEP_FOR`] (then
//! the leftovers are still salvaged by a later job on the node: `crate::salvage`). The epilog
//! does not wait for it.

use crate::job::{JobOnNode, NodeConfig, cleanup_job, detach, sampler_command};
use crate::sampler::SamplerArgs;
use ea_record::spool::{self, Spool};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a keeper holds a record before it gives up.
pub const KEEP_FOR: Duration = Duration::from_secs(86_400);

/// How often a keeper tries again.
pub const RETRY: Duration = Duration::from_secs(1);

/// Starts a keeper for the record `bytes` of `job`, to be written at `path`; its pid.
///
/// # Errors
/// The keeper could not be started or take the record.
pub fn keep_record(
    cfg: &NodeConfig,
    job: &JobOnNode,
    path: &Path,
    bytes: &[u8],
) -> Result<u32, KeepError> {
    fill_standard_fds();
    let mut cmd = sampler_command(cfg, job, "keep");
    cmd.arg("--out").arg(path).stdin(Stdio::piped());
    detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|error| KeepError::Start {
        exe: cfg.sampler_exe.clone(),
        error,
    })?;
    let pid = child.id();
    let mut stdin = child.stdin.take().ok_or(KeepError::NoStdin)?;
    stdin.write_all(bytes).map_err(KeepError::Hand)?;
    // Dropping the pipe ends the keeper's input; dropping the handle neither waits nor kills.
    drop(stdin);
    drop(child);
    Ok(pid)
}

/// Why no keeper took the record: the epilog logs it, and the record is salvaged later.
#[derive(Debug)]
pub enum KeepError {
    /// The sampler binary (which runs the keeper) could not be started.
    Start {
        /// The sampler binary.
        exe: std::path::PathBuf,
        /// What starting it answered.
        error: std::io::Error,
    },
    /// The keeper was started without a pipe on its standard input.
    NoStdin,
    /// The record could not be written into the keeper's pipe.
    Hand(std::io::Error),
}

impl std::fmt::Display for KeepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepError::Start { exe, error } => write!(f, "cannot start {}: {error}", exe.display()),
            KeepError::NoStdin => f.write_str("the keeper has no standard input"),
            KeepError::Hand(e) => write!(f, "cannot hand the record to the keeper: {e}"),
        }
    }
}

impl std::error::Error for KeepError {}

/// Opens `/dev/null` on whichever of descriptors 0, 1 and 2 are closed, and keeps it open.
/// `slurmstepd spank epilog` runs with its standard input closed: the keeper's pipe would
/// otherwise be made on descriptor 0, with close-on-exec, and vanish from the keeper at exec
/// (seen on Slurm 22.05: the epilog got a broken pipe).
fn fill_standard_fds() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    while let Ok(f) = std::fs::File::open("/dev/null") {
        if f.as_raw_fd() > 2 {
            break;
        }
        let _ = f.into_raw_fd();
    }
}

/// `energy-assess-sampler keep`: the keeper's loop. Returns the exit code.
pub fn run(args: &SamplerArgs, out: &Path) -> u8 {
    crate::signals::lower_priority();
    let mut bytes = Vec::new();
    if std::io::stdin().read_to_end(&mut bytes).is_err() || bytes.is_empty() {
        return 1;
    }
    let job = JobOnNode {
        spool: Spool::new(&args.spool),
        job_id: args.job_id,
        node: args.node.clone(),
        job_gpus: Vec::new(),
    };
    let deadline = Instant::now() + KEEP_FOR;
    while Instant::now() < deadline {
        // A record there already (a later job on the node salvaged it): ours is not needed.
        if out.exists() || spool::write_record_bytes_atomic(out, &bytes).is_ok() {
            let _ = cleanup_job(&job);
            for path in [
                job.spool.started_path(job.job_id, &job.node),
                job.spool.running_path(job.job_id, &job.node, "alloc.json"),
            ] {
                let _ = std::fs::remove_file(path);
            }
            return 0;
        }
        std::thread::sleep(RETRY);
    }
    1
}
