//! The per-job sampler process (`energy-assess-sampler`): its command line, its checkpoint,
//! and its loop.
//!
//! One sampler runs per job per node, started detached by `job_prolog` ([`crate::start_job`]).
//! Every interval it reads all meters, adds the readings to one [`MeterAccumulator`] per meter
//! and checkpoints its state (a [`SamplerState`]) to the spool, so a crash of the sampler loses
//! at most one interval (and one of the node at most [`crate::checkpoint::FLUSH_EVERY`]): one
//! journal line of the tick's readings, now and then a whole new base ([`crate::checkpoint`]). On SIGTERM (sent by `job_epilog`) it takes a final reading, writes a
//! final state marked `finished` and exits. It also exits by itself when its pid file is gone
//! or names another process (the epilog has finished with the job, or another sampler took
//! over) and after `max_lifetime`, so that a lost epilog never leaves it running forever.
//!
//! It runs at nice 10, sleeps in `sigtimedwait` between readings (no busy wait, no thread),
//! and never touches the job's processes.

use crate::accumulate::{Instant, MeterAccumulator};
use crate::set::{MeterSet, OpenOptions, Snapshot};
use crate::source::Sources;
use ea_record::spool::{Spool, read_json, write_json_atomic};
use ea_record::{AbsentMeter, HostInfo, MeterFlag};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The version of [`SamplerState`]'s layout: 2 is a compact base with a journal
/// ([`crate::checkpoint`]); readers still take 1 (one pretty JSON file, no journal).
pub const STATE_VERSION: u32 = crate::checkpoint::VERSION;

/// Everything a sampler needs, passed on its command line by the plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerArgs {
    /// The node's spool.
    pub spool: PathBuf,
    /// The job sampled.
    pub job_id: u32,
    /// This node's Slurm name.
    pub node: String,
    /// Root under which `/sys` and `/proc` are read.
    pub sysroot: PathBuf,
    /// Time between two readings.
    pub interval: Duration,
    /// Which meter families to read.
    pub sources: Sources,
    /// The OpenIPMI device tried first for the BMC; `None`: the command only.
    pub ipmi_device: Option<PathBuf>,
    /// The BMC's power reading command (the fallback); `None` and no device: no BMC meter.
    pub ipmi_command: Option<Vec<String>>,
    /// How long one BMC query may take.
    pub ipmi_timeout: Duration,
    /// BMC readings above this are glitches.
    pub ipmi_max_power_w: f64,
    /// libnvidia-ml to load; `None`: the system's.
    pub nvml_library: Option<PathBuf>,
    /// The job's GPUs as Slurm names them.
    pub job_gpus: Vec<String>,
    /// The most points a meter's power series keeps.
    pub max_series_points: u32,
    /// How often each GPU's energy counter is read; its power is read at the readings
    /// between ([`crate::job::DEFAULT_GPU_COUNTER_EVERY`]).
    pub gpu_counter_every: Duration,
    /// The sampler stops after this long even if no epilog came.
    pub max_lifetime: Duration,
    /// How long the epilog waits for the final reading; the final BMC query gets half.
    pub stop_timeout: Duration,
    /// How long after the job's extern step is gone from the node the sampler waits for the
    /// epilog before it salvages the record itself (see [`crate::salvage`]).
    pub orphan_after: Duration,
    /// Where the node's Unix sockets are listed (see [`crate::steps`]).
    pub steps_listing: PathBuf,
}

/// What the sampler binary was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerCommand {
    /// Sample until stopped.
    Run(SamplerArgs),
    /// Read every meter once into a [`Snapshot`] file and exit (the epilog's fallback).
    Snapshot(SamplerArgs, PathBuf),
    /// Hold a final record read from standard input until it can be written there
    /// (`crate::keep`: the epilog found the spool read-only or full).
    Keep(SamplerArgs, PathBuf),
}

impl SamplerArgs {
    /// The options, as [`SamplerCommand::parse`] reads them back (without the subcommand).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |k: &str, v: OsString| {
            a.push(k.into());
            a.push(v);
        };
        push("--spool", self.spool.clone().into());
        push("--job-id", self.job_id.to_string().into());
        push("--node", self.node.clone().into());
        push("--sysroot", self.sysroot.clone().into());
        push(
            "--interval-ms",
            self.interval.as_millis().to_string().into(),
        );
        push("--sources", self.sources.to_list().into());
        if let Some(dev) = &self.ipmi_device {
            push("--ipmi-device", dev.clone().into());
        }
        if let Some(cmd) = &self.ipmi_command {
            push(
                "--ipmi-command-json",
                serde_json::to_string(cmd).unwrap_or_default().into(),
            );
        }
        push(
            "--ipmi-timeout-ms",
            self.ipmi_timeout.as_millis().to_string().into(),
        );
        push(
            "--ipmi-max-power-w",
            self.ipmi_max_power_w.to_string().into(),
        );
        if let Some(lib) = &self.nvml_library {
            push("--nvml-library", lib.clone().into());
        }
        if !self.job_gpus.is_empty() {
            push("--job-gpus", self.job_gpus.join(",").into());
        }
        push(
            "--max-series-points",
            self.max_series_points.to_string().into(),
        );
        push(
            "--gpu-counter-every-ms",
            self.gpu_counter_every.as_millis().to_string().into(),
        );
        push(
            "--max-lifetime-s",
            self.max_lifetime.as_secs().to_string().into(),
        );
        push(
            "--stop-timeout-ms",
            self.stop_timeout.as_millis().to_string().into(),
        );
        push(
            "--orphan-after-s",
            self.orphan_after.as_secs().to_string().into(),
        );
        push("--steps-listing", self.steps_listing.clone().into());
        a
    }
}

impl SamplerCommand {
    /// Reads `run|snapshot|keep --key value...` (the arguments after the program name).
    ///
    /// # Errors
    /// A missing subcommand or required option, an unknown option, a bad number.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut it = args.into_iter();
        let sub = it
            .next()
            .and_then(|s| s.into_string().ok())
            .unwrap_or_default();
        if !["run", "snapshot", "keep"].contains(&sub.as_str()) {
            return Err(format!(
                "expected the subcommand run, snapshot or keep, got {sub:?}"
            ));
        }
        let mut spool = None;
        let mut job_id = None;
        let mut node = None;
        let mut out = None;
        let mut a = SamplerArgs {
            spool: PathBuf::new(),
            job_id: 0,
            node: String::new(),
            sysroot: PathBuf::from("/"),
            interval: Duration::from_secs(10),
            sources: Sources::all(),
            ipmi_device: None,
            ipmi_command: None,
            ipmi_timeout: Duration::from_secs(5),
            ipmi_max_power_w: 20_000.0,
            nvml_library: None,
            job_gpus: Vec::new(),
            max_series_points: 720,
            gpu_counter_every: crate::job::DEFAULT_GPU_COUNTER_EVERY,
            max_lifetime: Duration::from_secs(60 * 86_400),
            stop_timeout: Duration::from_secs(2),
            orphan_after: crate::job::DEFAULT_ORPHAN_AFTER,
            steps_listing: PathBuf::from(crate::steps::PROC_NET_UNIX),
        };
        while let Some(key) = it.next() {
            let key = key
                .into_string()
                .map_err(|k| format!("option {k:?} is not UTF-8"))?;
            let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
            let text = || {
                value
                    .clone()
                    .into_string()
                    .map_err(|v| format!("{key}: {v:?} is not UTF-8"))
            };
            let num = || -> Result<u64, String> {
                let t = text()?;
                t.parse()
                    .map_err(|_| format!("{key}: {t:?} is not a whole number"))
            };
            match key.as_str() {
                "--spool" => spool = Some(PathBuf::from(&value)),
                "--job-id" => {
                    job_id = Some(
                        u32::try_from(num()?).map_err(|_| "--job-id is too large".to_string())?,
                    )
                }
                "--node" => node = Some(text()?),
                "--sysroot" => a.sysroot = PathBuf::from(&value),
                "--interval-ms" => a.interval = Duration::from_millis(num()?.max(1)),
                "--sources" => a.sources = Sources::parse(&text()?).map_err(|e| e.to_string())?,
                "--ipmi-device" => a.ipmi_device = Some(PathBuf::from(&value)),
                "--ipmi-command-json" => {
                    let cmd: Vec<String> = serde_json::from_str(&text()?)
                        .map_err(|e| format!("--ipmi-command-json: {e}"))?;
                    a.ipmi_command = (!cmd.is_empty()).then_some(cmd);
                }
                "--ipmi-timeout-ms" => a.ipmi_timeout = Duration::from_millis(num()?),
                "--ipmi-max-power-w" => {
                    let t = text()?;
                    a.ipmi_max_power_w = t
                        .parse()
                        .map_err(|_| format!("--ipmi-max-power-w: {t:?} is not a number"))?;
                }
                "--nvml-library" => a.nvml_library = Some(PathBuf::from(&value)),
                "--job-gpus" => {
                    a.job_gpus = text()?
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                "--max-series-points" => {
                    a.max_series_points = u32::try_from(num()?).unwrap_or(u32::MAX).max(2)
                }
                "--gpu-counter-every-ms" => a.gpu_counter_every = Duration::from_millis(num()?),
                "--max-lifetime-s" => a.max_lifetime = Duration::from_secs(num()?),
                "--stop-timeout-ms" => a.stop_timeout = Duration::from_millis(num()?),
                "--orphan-after-s" => a.orphan_after = Duration::from_secs(num()?),
                "--steps-listing" => a.steps_listing = PathBuf::from(&value),
                "--out" => out = Some(PathBuf::from(&value)),
                other => return Err(format!("unknown option {other}")),
            }
        }
        a.spool = spool.ok_or("--spool is required")?;
        a.job_id = job_id.ok_or("--job-id is required")?;
        a.node = node.ok_or("--node is required")?;
        match sub.as_str() {
            "run" => Ok(SamplerCommand::Run(a)),
            "keep" => Ok(SamplerCommand::Keep(a, out.ok_or("keep needs --out FILE")?)),
            _ => Ok(SamplerCommand::Snapshot(
                a,
                out.ok_or("snapshot needs --out FILE")?,
            )),
        }
    }
}

/// The files one job keeps under the spool's `running/` directory on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFiles {
    /// The prolog's [`Snapshot`] of the RAPL counters.
    pub start: PathBuf,
    /// [`PidFile`], written by the prolog right after spawning the sampler.
    pub pid: PathBuf,
    /// The base of the sampler's checkpoint, a [`SamplerState`] (see [`crate::checkpoint`]).
    pub checkpoint: PathBuf,
    /// The checkpoint's two journal segments, written in turn: the ticks since the base, one
    /// per line, and the parts of the next base (see [`crate::checkpoint`]). A version 2
    /// checkpoint has only the first.
    pub journals: [PathBuf; 2],
    /// The epilog's fallback [`Snapshot`], written by `energy-assess-sampler snapshot`.
    pub end: PathBuf,
}

impl JobFiles {
    /// The files of `job_id` on `node` under `running/`.
    pub fn new(spool: &Spool, job_id: u32, node: &str) -> Self {
        Self {
            start: spool.running_path(job_id, node, "start-snapshot.json"),
            pid: spool.running_path(job_id, node, "sampler.pid"),
            checkpoint: spool.running_path(job_id, node, "sampler.json"),
            journals: [
                spool.running_path(job_id, node, "sampler.journal"),
                spool.running_path(job_id, node, "sampler.journal.1"),
            ],
            end: spool.running_path(job_id, node, "end-snapshot.json"),
        }
    }

    /// Every one of them, for cleaning up.
    pub fn all(&self) -> [&Path; 6] {
        [
            &self.start,
            &self.pid,
            &self.checkpoint,
            &self.journals[0],
            &self.journals[1],
            &self.end,
        ]
    }
}

/// Which process samples which job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidFile {
    /// The sampler's pid.
    pub pid: u32,
    /// Its job.
    pub job_id: u32,
    /// Its node.
    pub node: String,
}

/// The sampler's checkpoint: its accumulators and what it learnt about the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerState {
    /// [`STATE_VERSION`] of the writer.
    pub version: u32,
    /// The job sampled.
    pub job_id: u32,
    /// This node's Slurm name.
    pub node: String,
    /// The sampler's pid.
    pub pid: u32,
    /// The boot the readings belong to: a checkpoint of another boot cannot be used.
    pub boot_id: Option<String>,
    /// The job's start (the prolog's snapshot, or the sampler's first reading without one).
    pub job_start: Instant,
    /// The last reading.
    pub updated: Instant,
    /// Checkpoints written so far.
    pub seq: u64,
    /// The final reading has been taken (SIGTERM, lifetime): nothing will be added.
    pub finished: bool,
    /// The sampling interval, s.
    pub interval_s: f64,
    /// One per meter.
    pub meters: Vec<MeterAccumulator>,
    /// Meters looked for and not used, with why.
    pub absent: Vec<AbsentMeter>,
    /// What the node is.
    pub host: HostInfo,
    /// The UUIDs of the GPUs the job holds.
    pub job_gpu_uuids: Vec<String>,
    /// Things worth a line in the slurmd log.
    pub notes: Vec<String>,
}

impl SamplerArgs {
    fn open_options(&self) -> OpenOptions {
        OpenOptions {
            sysroot: self.sysroot.clone(),
            sources: self.sources,
            ipmi_device: self.ipmi_device.clone(),
            ipmi_command: self.ipmi_command.clone(),
            ipmi_timeout: self.ipmi_timeout,
            ipmi_max_power_w: self.ipmi_max_power_w,
            nvml_library: self.nvml_library.clone(),
            job_gpus: self.job_gpus.clone(),
            nvml_power_alongside: false,
            gpu_counter_every: self.gpu_counter_readings(),
        }
    }

    /// [`SamplerArgs::gpu_counter_every`] in readings: one in this many reads the counter.
    fn gpu_counter_readings(&self) -> u32 {
        let every = self.gpu_counter_every.as_secs_f64() / self.interval.as_secs_f64();
        every.round().clamp(1.0, f64::from(u32::MAX)) as u32
    }
}

/// Reads every meter once and adds the readings (see [`add_readings`]).
pub fn sample_once(
    set: &mut MeterSet,
    meters: &mut [MeterAccumulator],
    notes: &mut Vec<String>,
    interval: Duration,
) {
    let (times, values) = set.read();
    add_readings(meters, notes, times, values, interval);
}

/// Adds one reading per meter; notes the first read error and the first too-long interval of
/// each meter. The checkpoint's readers replay a journal through this same function, so that
/// they see the state the sampler had ([`crate::checkpoint`]).
pub fn add_readings(
    meters: &mut [MeterAccumulator],
    notes: &mut Vec<String>,
    times: &[Instant],
    values: &[Result<crate::source::Raw, crate::source::ReadError>],
    interval: Duration,
) {
    for ((acc, at), value) in meters.iter_mut().zip(times).zip(values) {
        let had_errors = acc.has_flag(MeterFlag::ReadErrors);
        let was_too_long = acc.has_flag(MeterFlag::IntervalTooLong);
        let gap_before = acc.inferred_over_gap();
        acc.add(*at, value.clone());
        if !had_errors && acc.has_flag(MeterFlag::ReadErrors) {
            notes.push(format!(
                "{}: read failed: {}",
                acc.id(),
                acc.first_error().unwrap_or("?")
            ));
        }
        if let Some((gap, wraps)) = acc.inferred_over_gap()
            && gap_before != acc.inferred_over_gap()
        {
            notes.push(format!(
                "{}: readings {gap:.1} s apart where the interval is {:.1} s (the sampler was \
                 stopped or starved of CPU): {wraps} counter wrap(s) over the gap inferred from \
                 the power before it",
                acc.id(),
                interval.as_secs_f64()
            ));
        }
        if !was_too_long && acc.has_flag(MeterFlag::IntervalTooLong) {
            let period = acc.wrap_period_s().unwrap_or(0.0);
            notes.push(format!(
                "{} can wrap every {period:.1} s at the highest power seen; the sampling interval of {:.1} s is more \
                 than half of that, so a second wrap could go unseen: set interval to {:.0} s or less",
                acc.id(),
                interval.as_secs_f64(),
                (period / 4.0).floor().max(1.0)
            ));
        }
    }
}

/// Accumulators for `set`'s meters, with the start snapshot's readings as their baselines
/// when it has them (same boot).
pub fn accumulators_for(
    specs: &[crate::source::MeterSpec],
    start: Option<&Snapshot>,
    job_start: Instant,
    interval: Duration,
    max_points: u32,
) -> Vec<MeterAccumulator> {
    let step_us = interval.as_micros().max(1) as u64;
    specs
        .iter()
        .map(|spec| {
            let mut acc =
                MeterAccumulator::new(spec.clone(), job_start.mono_us, step_us, max_points);
            if let Some(r) = start.and_then(|s| s.readings.iter().find(|r| r.spec.id == spec.id))
                && let Some(v) = r.value
            {
                acc.add(r.at, Ok(v));
            }
            acc
        })
        .collect()
}

/// The sampler's main loop. Returns the process exit code.
pub fn run(args: &SamplerArgs) -> i32 {
    crate::signals::block_stop_signals();
    crate::signals::lower_priority();
    let mut sampler = Sampler::new(args);
    let mut next_tick = sampler.started;
    let mut finishing = false;
    let mut salvage_after = false;
    loop {
        let tick = sampler.take_reading(finishing);
        if !sampler.write(&tick) {
            return 0;
        }
        if finishing {
            if salvage_after {
                sampler.salvage();
            }
            return 0;
        }
        next_tick += args.interval;
        let now = std::time::Instant::now();
        if next_tick < now {
            next_tick = now; // late (slow BMC): do not try to catch up in a burst
        }
        if crate::signals::wait_for_stop(next_tick - now).is_some() {
            finishing = true;
            sampler
                .set
                .set_ipmi_timeout(args.ipmi_timeout.min(args.stop_timeout / 2));
            continue;
        }
        match sampler.between_ticks(std::time::Instant::now()) {
            Between::Go => {}
            Between::Leave => return 0,
            Between::Finish { salvage } => {
                finishing = true;
                salvage_after = salvage;
            }
        }
    }
}

/// What the sampler does after waiting for its next tick.
enum Between {
    /// Take the next reading.
    Go,
    /// Leave without a word: the job's files are no longer ours.
    Leave,
    /// Take the final reading; `salvage`: then complete the job's record, as no epilog will.
    Finish { salvage: bool },
}

/// How many ticks of `interval` make `span` (at least one).
pub(crate) fn ticks_in(span: Duration, interval: Duration) -> u32 {
    let n = span.as_secs_f64() / interval.as_secs_f64().max(1e-3);
    (n.floor() as u32).max(1)
}

/// The sampler's state between ticks: its meters, its accumulated state and its checkpoint.
struct Sampler<'a> {
    args: &'a SamplerArgs,
    spool: Spool,
    files: JobFiles,
    me: u32,
    started: std::time::Instant,
    set: MeterSet,
    state: SamplerState,
    checkpoint: crate::checkpoint::Writer,
    pid_check: Every,
    orphan: Orphan,
    write_failed: bool,
    /// Notes of the loop itself, added to the state at the next tick (and journaled with it).
    pending: Vec<String>,
}

impl<'a> Sampler<'a> {
    fn new(args: &'a SamplerArgs) -> Self {
        let spool = Spool::new(&args.spool);
        let files = JobFiles::new(&spool, args.job_id, &args.node);
        let me = std::process::id();
        let (state, set) = initial_state(args, &files, me);
        Self {
            args,
            spool,
            checkpoint: crate::checkpoint::Writer::new(&files)
                .with_flush_every(ticks_in(crate::checkpoint::FLUSH_EVERY, args.interval)),
            files,
            me,
            started: std::time::Instant::now(),
            set,
            state,
            pid_check: Every::new(PID_CHECK_EVERY),
            orphan: Orphan::new(args.orphan_after),
            write_failed: false,
            pending: Vec::new(),
        }
    }

    /// Reads every meter and adds the readings to the state; the tick to journal.
    fn take_reading(&mut self, finishing: bool) -> crate::checkpoint::Tick {
        if finishing {
            // The job's energy ends with the GPUs' counters, not with power read after them.
            self.set.counters_next();
        }
        let state = &mut self.state;
        state.notes.extend(self.pending.iter().cloned());
        let (times, values) = self.set.read();
        let notes = std::mem::take(&mut self.pending);
        let mut tick = crate::checkpoint::Tick::new(state, notes, times, values);
        let interval = self.args.interval;
        add_readings(&mut state.meters, &mut state.notes, times, values, interval);
        state.updated = self.set.read_end();
        state.seq += 1;
        state.finished = finishing;
        tick.updated = state.updated;
        tick.finished = finishing;
        tick
    }

    /// Checkpoints the tick. `false`: the job's files are gone or no longer ours; leave.
    fn write(&mut self, tick: &crate::checkpoint::Tick) -> bool {
        // A whole base (re)creates the job's files: only while they are still ours.
        let whole = self.checkpoint.whole_base_next() && self.state.seq > 1;
        if whole && !pid_file_is(&self.files, self.me) {
            return false;
        }
        if let Err(e) = self.checkpoint.write(&self.state, tick) {
            if e.is_not_found() && !pid_file_is(&self.files, self.me) {
                return false; // the epilog has cleaned the job's files up
            }
            // Nobody reads our stderr; the epilog will find an old checkpoint (or none) and
            // say so. Keep sampling: the spool may come back.
            if !self.write_failed {
                self.pending.push(format!("checkpoint failed: {e}"));
                self.write_failed = true;
            }
        }
        true
    }

    /// The checks between two ticks, at `now`: the pid file, the lifetime, the job's steps.
    fn between_ticks(&mut self, now: std::time::Instant) -> Between {
        let args = self.args;
        let age = now.saturating_duration_since(self.started);
        // The epilog is done with this job (or another sampler replaced us): leave quietly.
        // Looked at every PID_CHECK_EVERY only: a tick cannot write into a cleaned-up
        // running/ directory anyway (the journals are never recreated, see `write`).
        let settled = age > Duration::from_secs(2);
        if self.pid_check.due(now) && settled && !pid_file_is(&self.files, self.me) {
            return Between::Leave;
        }
        if age >= args.max_lifetime {
            self.pending.push(format!(
                "stopped after its maximum lifetime of {} s",
                args.max_lifetime.as_secs()
            ));
            return Between::Finish { salvage: false };
        }
        if self.orphan.check(args, now) {
            self.pending.push(format!(
                "the job's steps ended on this node and no epilog came within {} s (was the \
                 plugin removed from plugstack.conf, or does its epilog fail?): record salvaged \
                 by the sampler",
                args.orphan_after.as_secs()
            ));
            return Between::Finish { salvage: true };
        }
        Between::Go
    }

    /// Completes the job's record, as the next prolog on the node would: nobody else will.
    fn salvage(&self) {
        let _ = std::fs::remove_file(&self.files.pid);
        let job = crate::job::JobOnNode {
            spool: self.spool.clone(),
            job_id: self.args.job_id,
            node: self.args.node.clone(),
            job_gpus: self.args.job_gpus.clone(),
        };
        let _ = crate::salvage::salvage_job(&job);
    }
}

/// The state before the first reading, and the meters it will read: the prolog's snapshot
/// (when it comes from this boot) gives the job's start and the counters' first values.
fn initial_state(args: &SamplerArgs, files: &JobFiles, me: u32) -> (SamplerState, MeterSet) {
    let mut host = crate::host::collect(&args.sysroot);
    let mut notes = Vec::new();
    let start = match read_json::<Snapshot>(&files.start).ok() {
        Some(s) if s.host.boot_id == host.boot_id => Some(s),
        Some(_) => {
            notes.push("the prolog's snapshot comes from another boot; ignored".into());
            None
        }
        None => None,
    };
    let set = MeterSet::open(&args.open_options());
    notes.extend(set.notes.iter().cloned());
    host.gpus = set.gpus.clone();
    let first = Instant::now();
    let job_start = start.as_ref().map_or(first, |s| s.taken);
    let mut absent = set.absent.clone();
    let from_prolog: Vec<_> = (start.iter().flat_map(|s| &s.absent))
        .filter(|a| !absent.contains(a))
        .cloned()
        .collect();
    absent.extend(from_prolog);
    let meters = accumulators_for(
        set.specs(),
        start.as_ref(),
        job_start,
        args.interval,
        args.max_series_points,
    );
    let state = SamplerState {
        version: STATE_VERSION,
        job_id: args.job_id,
        node: args.node.clone(),
        pid: me,
        boot_id: host.boot_id.clone(),
        job_start,
        updated: first,
        seq: 0,
        finished: false,
        interval_s: args.interval.as_secs_f64(),
        meters,
        absent,
        host,
        job_gpu_uuids: set.job_gpu_uuids.clone(),
        notes,
    };
    (state, set)
}

/// How often the sampler reads its pid file to see whether it still owns the job.
const PID_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether the pid file still names `me` (the epilog removes it; a new sampler replaces it).
fn pid_file_is(files: &JobFiles, me: u32) -> bool {
    matches!(read_json::<PidFile>(&files.pid), Ok(p) if p.pid == me)
}

/// True at most once per period: a check the loop makes less often than it ticks.
#[derive(Debug)]
struct Every {
    period: Duration,
    last: Option<std::time::Instant>,
}

impl Every {
    fn new(period: Duration) -> Self {
        Self { period, last: None }
    }

    /// Whether the period has passed at `now` (the caller's clock read, shared by the
    /// checks of one tick).
    fn due(&mut self, now: std::time::Instant) -> bool {
        if self.last.is_some_and(|t| now - t < self.period) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Watches for the job's end on the node when no epilog comes: once the sampler has seen
/// the job's extern step, its absence, with no other step of the job, for `orphan_after`
/// means the allocation is over here. Looks an eighth of `orphan_after` apart, at most
/// [`Orphan::EVERY`].
#[derive(Debug)]
struct Orphan {
    every: Every,
    saw_extern: bool,
    no_step_since: Option<std::time::Instant>,
}

impl Orphan {
    /// Reading `/proc/net/unix` costs in proportion to the node's sockets, and the job's end
    /// is only acted on after `orphan_after` (2 minutes by default): an eighth of it, at most
    /// this, is soon enough.
    const EVERY: Duration = Duration::from_secs(15);

    fn new(orphan_after: Duration) -> Self {
        Self {
            every: Every::new((orphan_after / 8).min(Self::EVERY)),
            saw_extern: false,
            no_step_since: None,
        }
    }

    fn check(&mut self, args: &SamplerArgs, now: std::time::Instant) -> bool {
        if !self.every.due(now) {
            return false;
        }
        let Some(steps) = crate::steps::steps_on_node(&args.steps_listing, &args.node, args.job_id)
        else {
            return false;
        };
        self.saw_extern |= steps.contains(&crate::steps::EXTERN_STEP);
        if !steps.is_empty() || !self.saw_extern {
            self.no_step_since = None;
            return false;
        }
        now - *self.no_step_since.get_or_insert(now) >= args.orphan_after
    }
}

/// `energy-assess-sampler snapshot`: reads every meter once into `out`. Returns the exit code.
pub fn snapshot(args: &SamplerArgs, out: &Path) -> i32 {
    let host = crate::host::collect(&args.sysroot);
    let mut set = MeterSet::open(&args.open_options());
    let snap = set.snapshot(host);
    match write_json_atomic(out, &snap) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_args() -> SamplerArgs {
        SamplerArgs {
            spool: "/var/spool/energy-assess".into(),
            job_id: 4242,
            node: "gpu-01".into(),
            sysroot: "/tmp/sim root/n1".into(),
            interval: Duration::from_millis(2500),
            sources: Sources {
                rapl: true,
                nvml: true,
                ipmi: false,
                hwmon: true,
            },
            ipmi_device: Some("/dev/ipmi0".into()),
            ipmi_command: Some(vec![
                "ipmitool".into(),
                "dcmi".into(),
                "power".into(),
                "reading".into(),
            ]),
            ipmi_timeout: Duration::from_millis(3000),
            ipmi_max_power_w: 12_500.5,
            nvml_library: Some("/opt/fake/libnvidia_ml_fake.so".into()),
            job_gpus: vec!["0".into(), "GPU-abc".into()],
            max_series_points: 300,
            gpu_counter_every: Duration::from_millis(90_500),
            max_lifetime: Duration::from_secs(86_400),
            orphan_after: Duration::from_secs(30),
            steps_listing: "/tmp/listing".into(),
            stop_timeout: Duration::from_millis(1500),
        }
    }

    #[test]
    fn command_lines_round_trip() {
        let a = sample_args();
        let mut argv: Vec<OsString> = vec!["run".into()];
        argv.extend(a.to_args());
        assert_eq!(
            SamplerCommand::parse(argv.clone()).unwrap(),
            SamplerCommand::Run(a.clone())
        );
        argv[0] = "snapshot".into();
        argv.extend(["--out".into(), "/tmp/x.json".into()]);
        assert_eq!(
            SamplerCommand::parse(argv).unwrap(),
            SamplerCommand::Snapshot(a.clone(), "/tmp/x.json".into())
        );
        let none = SamplerArgs {
            ipmi_device: None,
            ipmi_command: None,
            nvml_library: None,
            job_gpus: vec![],
            ..a
        };
        let mut argv: Vec<OsString> = vec!["run".into()];
        argv.extend(none.to_args());
        assert_eq!(
            SamplerCommand::parse(argv).unwrap(),
            SamplerCommand::Run(none)
        );
    }

    #[test]
    fn bad_command_lines_say_why() {
        let p = |v: &[&str]| SamplerCommand::parse(v.iter().map(OsString::from)).unwrap_err();
        assert!(p(&[]).contains("subcommand"));
        assert!(p(&["run", "--job-id", "1", "--node", "n1"]).contains("--spool is required"));
        assert!(
            p(&["run", "--spool", "/s", "--job-id", "x"]).contains("\"x\" is not a whole number")
        );
        assert!(p(&["run", "--spool", "/s", "--bogus", "1"]).contains("unknown option --bogus"));
        assert!(p(&["run", "--spool"]).contains("needs a value"));
        assert!(
            p(&["snapshot", "--spool", "/s", "--job-id", "1", "--node", "n"]).contains("--out")
        );
        assert!(p(&["run", "--spool", "/s", "--sources", "gpu"]).contains("unknown meter source"));
    }
}
