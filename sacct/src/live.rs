//! Asking Slurm directly: `sacct` for a window of time, and `squeue` for the jobs still
//! completing.
//!
//! sacct marks a job COMPLETED as soon as its processes end, before the epilogs (and so the
//! plugin's records) are done; only squeue still shows it as `CG` then. A job in that list is
//! ingested as not final, and taken again by a later ingest.

use super::SourceError;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// The columns asked of sacct: everything the store keeps, raw forms where sacct has them.
pub const LIVE_FORMAT: &str = "JobID,JobIDRaw,Cluster,JobName,User,UID,Group,GID,Account,Partition,QOS,State,\
ExitCode,Submit,Eligible,Start,End,ElapsedRaw,TimelimitRaw,NNodes,NCPUS,NTasks,NodeList,ReqMem,AllocTRES,\
TotalCPU,CPUTimeRAW,ConsumedEnergyRaw,WorkDir";

/// Runs `sacct -a -P` for jobs active between `start` and `end` (sacct's own time syntax),
/// all clusters' records as the local sacct sees them, and returns its output.
///
/// # Errors
/// sacct missing or failing (its stderr is in the message).
pub fn run_sacct(sacct: &Path, start: &str, end: &str) -> Result<Vec<u8>, SourceError> {
    let args = [
        "-a",
        "-P",
        "--delimiter=|",
        "-S",
        start,
        "-E",
        end,
        "--format",
        LIVE_FORMAT,
    ];
    run(sacct, &args, "sacct")
}

/// The ids (JobIDRaw) of jobs the controller shows as completing (`CG`).
///
/// # Errors
/// squeue missing or failing.
pub fn completing_jobs(squeue: &Path) -> Result<HashSet<u64>, SourceError> {
    let out = run(squeue, &["-h", "-a", "-t", "CG", "-o", "%A"], "squeue")?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

fn run(program: &Path, args: &[&str], what: &str) -> Result<Vec<u8>, SourceError> {
    let source = format!("{} {}", program.display(), args.join(" "));
    let out = Command::new(program)
        // The dump must be in the standard time format whatever the caller's environment says.
        .env("SLURM_TIME_FORMAT", "standard")
        .args(args)
        .output()
        .map_err(|e| SourceError::Format {
            source: source.clone(),
            problem: format!("cannot run {what} ({e}); is Slurm's client installed and in PATH?"),
        })?;
    if !out.status.success() {
        return Err(SourceError::Format {
            source,
            problem: format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}
