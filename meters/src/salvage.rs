//! Records of jobs whose epilog left none: completed later from what is still on disk.
//!
//! A job's epilog may not run on a node (the plugin was removed from the plugstack, or fails
//! to load) or may fail to write (a read-only or full spool). The prolog's started record, the
//! job's first-step note (`alloc.json`) and the sampler's checkpoint are still under
//! `running/`. Once the job has ended on the node, [`salvage_job`] turns them into the final
//! record, flagged [`RecordFlag::Salvaged`], ending at the sampler's last checkpoint: the
//! energy after it is lost, and the record says so. It runs
//! - in the sampler itself, when it sees the job's steps gone from the node and no epilog
//!   came (see [`crate::sampler`]);
//! - in every job_prolog and job_epilog on the node ([`salvage_orphans`]), for what an
//!   earlier epilog could not write.
//!
//! A job has ended on the node when Slurm runs no step of it there ([`crate::steps`]) and
//! either it had an extern step (`PrologFlags=Contain`: the extern step lives as long as the
//! allocation; the job's note says so, or, where the spool was read-only when it was due, the
//! node's [`Spool::extern_steps_marker`]) or its prolog is older than [`WITHOUT_EXTERN_AFTER`]
//! (without an extern step, an allocation may hold a node between steps).

use crate::job::{JobOnNode, Measurement, NodeConfig, add_reports, cleanup_job, complete_record};
use crate::sampler::{JobFiles, PidFile};
use ea_record::spool::{self, HeldOnNode, Spool, read_json};
use ea_record::{AbsentMeter, RecordFlag};
use std::time::Duration;

/// How old a started record of a job without an extern step must be before the job is taken
/// as ended on a node where Slurm runs none of its steps.
pub const WITHOUT_EXTERN_AFTER: Duration = Duration::from_secs(86_400);

/// What became of one job's leftovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Salvage {
    /// The final record was written from them.
    Written,
    /// A final record was there already (an epilog wrote it after all): kept, leftovers removed.
    AlreadyRecorded,
}

/// Writes the final record of `job` on its node from the started record, the first step's
/// note and the sampler's checkpoint, then removes them. Does not check that the job ended:
/// the caller has.
///
/// # Errors
/// No started record, or the final record cannot be written (the spool is still read-only
/// or full): the leftovers stay for a later try.
pub fn salvage_job(job: &JobOnNode) -> Result<Salvage, SalvageError> {
    let started_path = job.spool.started_path(job.job_id, &job.node);
    let final_path = job.spool.record_path(job.job_id, &job.node);
    // Flat: written by an epilog of the plugin before the sharded layout.
    if final_path.exists() || job.spool.flat_record_path(job.job_id, &job.node).exists() {
        remove_leftovers(job);
        return Ok(Salvage::AlreadyRecorded);
    }
    let mut record = spool::read_record(&started_path).map_err(SalvageError::Started)?;
    if record.job_id != job.job_id || record.node != job.node {
        return Err(SalvageError::NotThisJob {
            path: started_path,
            job_id: record.job_id,
            node: record.node,
        });
    }
    let held = read_json::<HeldOnNode>(&alloc_path(job)).ok();
    let files = JobFiles::new(&job.spool, job.job_id, &job.node);
    let checkpoint = crate::checkpoint::read(&files)
        .ok()
        .filter(|s| s.job_id == job.job_id && s.node == job.node);
    let mut measured = Measurement::default();
    match checkpoint {
        Some(mut s) => {
            let end = s.updated;
            measured.absent_meters = std::mem::take(&mut s.absent);
            measured.job_gpu_uuids = std::mem::take(&mut s.job_gpu_uuids);
            add_reports(&mut measured, &mut s.meters, end.mono_us);
            measured.host = Some(s.host);
            record.end = Some(end.wall);
        }
        None => {
            measured.absent_meters.push(AbsentMeter {
                source: "all".into(),
                reason: "no epilog wrote this record and the sampler left no checkpoint".into(),
            });
            record.end = record.start;
        }
    }
    measured.flags.push(RecordFlag::Salvaged);
    complete_record(&mut record, measured, held);
    spool::write_record_atomic(&final_path, &record).map_err(SalvageError::Write)?;
    remove_leftovers(job);
    Ok(Salvage::Written)
}

/// Why a job's record could not be salvaged yet; its leftovers stay for a later try.
#[derive(Debug)]
pub enum SalvageError {
    /// The prolog's started record cannot be read.
    Started(spool::ReadError),
    /// The started record is another job's or node's: a misplaced file, left alone.
    NotThisJob {
        /// The started record's path.
        path: std::path::PathBuf,
        /// The job it names.
        job_id: u32,
        /// The node it names.
        node: String,
    },
    /// The final record cannot be written (the spool is still read-only or full).
    Write(spool::SpoolError),
}

impl std::fmt::Display for SalvageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalvageError::Started(e) => e.fmt(f),
            SalvageError::NotThisJob { path, job_id, node } => write!(
                f,
                "{} holds the record of job {job_id} on {node}: left alone",
                path.display()
            ),
            SalvageError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SalvageError {}

fn alloc_path(job: &JobOnNode) -> std::path::PathBuf {
    job.spool.running_path(job.job_id, &job.node, "alloc.json")
}

fn remove_leftovers(job: &JobOnNode) {
    let _ = cleanup_job(job);
    for path in [
        job.spool.started_path(job.job_id, &job.node),
        alloc_path(job),
    ] {
        let _ = std::fs::remove_file(path);
    }
}

/// The jobs with a started record of `node` under `running/<node>/`, but `except` (the
/// caller's own), with the record's age. Only the node's own directory is listed and only
/// names are read: on a node shared by many jobs, every prolog and epilog passes here, the
/// records of running jobs are not opened, and on a shared spool the other nodes' files are
/// not even listed.
fn started_jobs(spool: &Spool, node: &str, except: u32) -> Vec<(u32, Duration)> {
    let Ok(entries) = std::fs::read_dir(spool.running_node_dir(node)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let (job_id, n, suffix) = spool::parse_file_name(name.to_str()?)?;
            if n != node || suffix != "json" || job_id == except {
                return None;
            }
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((job_id, modified.elapsed().unwrap_or_default()))
        })
        .collect()
}

/// Whether the job's sampler still runs.
fn sampler_alive(cfg: &NodeConfig, job: &JobOnNode) -> bool {
    let files = JobFiles::new(&job.spool, job.job_id, &job.node);
    read_json::<PidFile>(&files.pid).is_ok_and(|p| {
        crate::signals::is_running(p.pid) && crate::job::is_our_sampler(p.pid, cfg, job)
    })
}

/// Whether a keeper (`crate::keep`) still holds the job's record: it writes a better one
/// than a salvage would (the epilog's own), as soon as it can. Looks through `/proc`, which
/// only jobs with leftovers and a dead sampler cost.
fn keeper_alive(cfg: &NodeConfig, job: &JobOnNode) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| crate::job::runs_for(pid, cfg, job, "keep"))
}

/// Salvages every job of `node` (but `except`) that has ended there without a final record.
/// Returns a line per job for the slurmd log. Costs one directory listing when there is none;
/// never blocks, never fails the caller.
pub fn salvage_orphans(cfg: &NodeConfig, spool: &Spool, node: &str, except: u32) -> Vec<String> {
    let mut notes = Vec::new();
    for (job_id, age) in started_jobs(spool, node, except) {
        let job = JobOnNode {
            spool: spool.clone(),
            job_id,
            node: node.to_string(),
            job_gpus: Vec::new(),
        };
        if sampler_alive(cfg, &job) || keeper_alive(cfg, &job) {
            continue;
        }
        let Some(steps) = crate::steps::steps_on_node(&cfg.steps_listing, node, job_id) else {
            continue;
        };
        let had_extern = read_json::<HeldOnNode>(&alloc_path(&job)).is_ok_and(|h| h.extern_step)
            || spool.extern_steps_marker(node).exists();
        if !steps.is_empty() || !(had_extern || age >= WITHOUT_EXTERN_AFTER) {
            continue;
        }
        notes.push(match salvage_job(&job) {
            Ok(Salvage::Written) => format!(
                "job {job_id}: ended on {node} without a record from its epilog; record salvaged \
                 from its prolog's part and the sampler's last checkpoint"
            ),
            Ok(Salvage::AlreadyRecorded) => {
                format!("job {job_id}: leftovers of a recorded job removed from running/")
            }
            Err(e) => format!("job {job_id}: its record could not be salvaged yet: {e}"),
        });
    }
    notes
}
