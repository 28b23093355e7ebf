//! The node side of energy-assess: energy meters and the per-job sampler.
//!
//! Meters (each discovered under an explicit root, `/` in production, a fixture tree in tests;
//! each reports a missing or unreadable source as an absent meter with the reason, never as
//! an error):
//! - [`rapl`]: RAPL zones and sub-zones through powercap (cpu-package, core, uncore, dram,
//!   platform/psys), µJ counters with wrap-around;
//! - [`nvml`]: NVIDIA GPUs through NVML, the mJ energy counter or integrated board power;
//! - [`ipmi`]: the node's power from its BMC (IPMI DCMI), integrated, glitches rejected;
//!   read in-process through `/dev/ipmi0` ([`ipmi_dev`]) or by a command;
//! - [`hwmon`]: hwmon power (integrated) and energy (counter) sensors.
//!
//! [`counter`] holds the counter arithmetic (baseline, wraps, resets), [`accumulate`] turns
//! readings into a [`ea_record::MeterReport`]. [`sampler`] is the process that reads all meters
//! every interval and checkpoints to the spool; [`job`] is what the SPANK plugin calls:
//!
//! - `job_prolog` (root, `slurmstepd spank prolog`): [`start_job`] snapshots RAPL and spawns the
//!   sampler, detached; it returns in milliseconds and starts no thread.
//! - `job_epilog` (root, `slurmstepd spank epilog`): [`finish_job`] gets the sampler's final
//!   reading (or, if it died or hangs, kills it and completes its last checkpoint with an end
//!   snapshot), [`complete_record`] makes the record, then [`cleanup_job`] once it is written.
//! - [`keep`]: a record the epilog could not write (read-only or full spool) is held by a
//!   detached keeper until it can be;
//! - [`salvage`]: records of jobs that ended without their epilog's (plugin missing, spool
//!   read-only or full at the epilog), from what is left under `running/`; [`steps`] tells
//!   whether Slurm still runs a job on the node.
//!
//! Nothing here fails or stalls a job: every bound is a timeout, every failure a note, an
//! absent meter or a flag. The library starts no thread and has no logger; NVML is only loaded
//! in the sampler process and by [`list_gpus`].

pub mod accumulate;
pub mod checkpoint;
pub mod clock;
pub mod counter;
mod ffi;
pub mod files;
pub mod host;
pub mod hwmon;
pub mod ipmi;
pub mod ipmi_dev;
pub mod job;
pub mod keep;
pub mod nvml;
pub mod rapl;
pub mod salvage;
pub mod sampler;
pub mod set;
pub mod signals;
pub mod source;
pub mod steps;

#[cfg(test)]
mod hardware_tests;
#[cfg(test)]
mod testutil;

pub use job::{
    JobOnNode, Measurement, NodeConfig, StartOutcome, cleanup_job, complete_record, finish_job,
    start_job,
};
pub use keep::keep_record;
pub use nvml::{GpuDescription, NvmlListError, job_gpus_from_env, list_gpus};
pub use salvage::{salvage_job, salvage_orphans};
pub use source::Sources;
