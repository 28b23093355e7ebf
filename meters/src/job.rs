//! What the plugin calls: [`start_job`] from `job_prolog`, [`finish_job`] and [`cleanup_job`]
//! from `job_epilog`.
//!
//! Both run inside `slurmstepd spank prolog|epilog`, as root. They start no thread, load no
//! NVML, run no IPMI command: the prolog reads the RAPL counters (microseconds) and spawns the
//! sampler; the epilog signals the sampler and reads its checkpoint, and only when the sampler
//! failed does it run the sampler binary once more, as a child with a deadline, for an end
//! snapshot. Neither ever fails the job: every problem ends up in the returned notes, absent
//! meters and flags.

use crate::accumulate::MeterAccumulator;
use crate::sampler::{JobFiles, PidFile, SamplerArgs, accumulators_for};
use crate::set::{MeterSet, Snapshot};
use crate::signals;
use crate::source::Sources;
use ea_record::spool::{HeldOnNode, Spool, read_json, write_json_atomic};
use ea_record::{
    AbsentMeter, HostInfo, JobNodeRecord, MeterFlag, MeterReport, NodeAllocation, RecordFlag,
    RecordState,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where the sampler binary is installed by default.
pub const DEFAULT_SAMPLER_EXE: &str = "/usr/local/libexec/energy-assess/energy-assess-sampler";

/// The default sampling interval. RAPL's usual counter range is 262 143 J
/// (`max_energy_range_uj` = 262 143 328 850 µJ; methodology §5.1), which wraps in 655 s at
/// 400 W, the most a current CPU package draws; 10 s is 65 times shorter, so no wrap can be
/// missed, and a BMC query (a process spawn) every 10 s costs nothing measurable.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How often the sampler reads each GPU's energy counter; it reads the GPU's power at the
/// readings between (and the counter at the first and the final reading, whatever this is).
///
/// On an H100 (driver 580, `tests/gpu/results/h100-run2/nvml-check.txt`) a counter reading
/// costs 3.9 ms of CPU and a power reading 9 µs. At the default 10 s interval, reading the
/// counter every 10 minutes costs a GPU (3.9 ms + 59 × 9 µs) / 60 = 74 µs a reading, 53
/// times less than at every reading (every 5 minutes: 139 µs, every minute: 658 µs). What
/// the figures lose: nothing at a job's normal end, whose energy is the counter's final
/// reading minus its first (the power readings only shape the series between two counter
/// readings, which replace what they integrated); for a sampler that dies without an epilog
/// (its record salvaged from its checkpoint), at most these 10 minutes of integrated power
/// after the last counter reading, flagged. Over that run, integrated power agreed with the
/// counter to +0.05 % at 150 ms sampling (less closely at 10 s: H100 power readings are
/// averages over one second).
pub const DEFAULT_GPU_COUNTER_EVERY: Duration = Duration::from_secs(600);

/// The node side's configuration, resolved by the plugin from the site config.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Where hardware files are looked for: `/` in production, a fixture tree in tests.
    pub sysroot: PathBuf,
    /// Sampling interval ([`DEFAULT_INTERVAL`]).
    pub interval: Duration,
    /// The OpenIPMI device read in-process for the BMC meter when it opens and answers at
    /// discovery (default [`crate::ipmi_dev::DEFAULT_DEVICE`]); `None`: the command only.
    pub ipmi_device: Option<PathBuf>,
    /// The BMC power command, used when there is no device or it does not answer; `None` with
    /// no device disables the BMC meter.
    pub ipmi_command: Option<Vec<String>>,
    /// How long one BMC query may take before it is killed (default 5 s).
    pub ipmi_timeout: Duration,
    /// BMC readings above this are rejected as glitches (default 20 000 W).
    pub ipmi_max_power_w: f64,
    /// `None`: the system's `libnvidia-ml.so.1`; `Some(path)`: that library (tests: the fake).
    pub nvml_library: Option<PathBuf>,
    /// Which meter families are used.
    pub sources: Sources,
    /// The installed `energy-assess-sampler`.
    pub sampler_exe: PathBuf,
    /// How long the epilog waits for the sampler's final reading (default 2 s); the epilog's
    /// own fallback snapshot gets as long again.
    pub stop_timeout: Duration,
    /// Most points of each meter's power series (default 720).
    pub max_series_points: u32,
    /// How often each GPU's energy counter is read ([`DEFAULT_GPU_COUNTER_EVERY`]); 0: at
    /// every reading.
    pub gpu_counter_every: Duration,
    /// The sampler stops by itself after this long (default 60 days), in case no epilog
    /// comes.
    pub max_lifetime: Duration,
    /// How long after the job's extern step is gone the sampler waits for the epilog before
    /// it salvages the record itself ([`DEFAULT_ORPHAN_AFTER`]).
    pub orphan_after: Duration,
    /// Where the node's Unix sockets are listed ([`crate::steps::PROC_NET_UNIX`]; a file of
    /// the tests' making in the tests).
    pub steps_listing: PathBuf,
}

/// An epilog starts within seconds of the job's extern step ending; two minutes without one
/// means it will not come.
pub const DEFAULT_ORPHAN_AFTER: Duration = Duration::from_secs(120);

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            sysroot: PathBuf::from("/"),
            interval: DEFAULT_INTERVAL,
            ipmi_device: Some(PathBuf::from(crate::ipmi_dev::DEFAULT_DEVICE)),
            ipmi_command: Some(
                ["ipmitool", "dcmi", "power", "reading"]
                    .map(String::from)
                    .to_vec(),
            ),
            ipmi_timeout: Duration::from_secs(5),
            ipmi_max_power_w: 20_000.0,
            nvml_library: None,
            sources: Sources::all(),
            sampler_exe: PathBuf::from(DEFAULT_SAMPLER_EXE),
            stop_timeout: Duration::from_secs(2),
            max_series_points: 720,
            gpu_counter_every: DEFAULT_GPU_COUNTER_EVERY,
            max_lifetime: Duration::from_secs(60 * 86_400),
            orphan_after: DEFAULT_ORPHAN_AFTER,
            steps_listing: PathBuf::from(crate::steps::PROC_NET_UNIX),
        }
    }
}

/// One job on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOnNode {
    /// The node's spool.
    pub spool: Spool,
    /// Slurm's job id.
    pub job_id: u32,
    /// Slurm's node name (`SLURMD_NODENAME`).
    pub node: String,
    /// The job's GPUs as Slurm gives them (`SLURM_JOB_GPUS` split at commas; see
    /// [`crate::nvml::job_gpus_from_env`]).
    pub job_gpus: Vec<String>,
}

/// What [`start_job`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartOutcome {
    /// The sampler's pid, if it was started.
    pub sampler_pid: Option<u32>,
    /// Host name, boot id and CPU model. GPUs are not listed here (the prolog does not load
    /// NVML); [`Measurement::host`] has them.
    pub host: HostInfo,
    /// RAPL zones found unusable at the start (the sampler reports the other sources).
    pub absent_meters: Vec<AbsentMeter>,
    /// Lines for the slurmd log.
    pub notes: Vec<String>,
}

/// What [`finish_job`] measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// One per meter read.
    pub meters: Vec<MeterReport>,
    /// Meters looked for and not used, with why.
    pub absent_meters: Vec<AbsentMeter>,
    /// What went wrong for the record as a whole.
    pub flags: Vec<RecordFlag>,
    /// Host information, GPUs included when NVML answered.
    pub host: Option<HostInfo>,
    /// UUIDs of the job's GPUs on this node (for `NodeAllocation::gpus`).
    pub job_gpu_uuids: Vec<String>,
    /// Lines for the slurmd log.
    pub notes: Vec<String>,
}

fn sampler_args(cfg: &NodeConfig, job: &JobOnNode) -> SamplerArgs {
    SamplerArgs {
        spool: job.spool.root().to_path_buf(),
        job_id: job.job_id,
        node: job.node.clone(),
        sysroot: cfg.sysroot.clone(),
        interval: cfg.interval,
        sources: cfg.sources,
        ipmi_device: cfg.ipmi_device.clone(),
        ipmi_command: cfg.ipmi_command.clone(),
        ipmi_timeout: cfg.ipmi_timeout,
        ipmi_max_power_w: cfg.ipmi_max_power_w,
        nvml_library: cfg.nvml_library.clone(),
        job_gpus: job.job_gpus.clone(),
        max_series_points: cfg.max_series_points,
        gpu_counter_every: cfg.gpu_counter_every,
        max_lifetime: cfg.max_lifetime,
        stop_timeout: cfg.stop_timeout,
        orphan_after: cfg.orphan_after,
        steps_listing: cfg.steps_listing.clone(),
    }
}

/// A sampler command for `sub` (`run` or `snapshot`), detached from our stdio. `EA_SYSROOT`
/// tells the test fakes (fake NVML, fake ipmitool) which simulated node they serve.
pub(crate) fn sampler_command(cfg: &NodeConfig, job: &JobOnNode, sub: &str) -> Command {
    let mut cmd = Command::new(&cfg.sampler_exe);
    cmd.arg(sub)
        .args(sampler_args(cfg, job).to_args())
        .env("EA_SYSROOT", &cfg.sysroot)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Makes `cmd`'s process a session and process group leader of its own, so that nothing aimed
/// at the prolog's or epilog's process group or session reaches it.
pub(crate) fn detach(cmd: &mut Command) {
    crate::ffi::setsid_before_exec(cmd);
}

/// Starts `exe args...` detached, as the sampler is: its own session (`setsid`), stdio on
/// /dev/null, not waited for (reparented to init when the caller exits). For the epilog's
/// forwarder. Returns its pid.
///
/// # Errors
/// The program cannot be started (missing, not executable).
pub fn spawn_detached(exe: &Path, args: &[String]) -> std::io::Result<u32> {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut cmd);
    let child = cmd.spawn()?;
    Ok(child.id())
}

/// `job_prolog`: snapshots the RAPL counters and starts the job's sampler.
///
/// Returns within a few milliseconds whatever the hardware does (it reads only powercap
/// files and spawns one process), never panics on bad hardware, and starts no thread. The
/// sampler is started in a session and process group of its own (`setsid` between fork and
/// exec), with stdio on /dev/null, and closes every other inherited descriptor first thing;
/// it is not waited for.
pub fn start_job(cfg: &NodeConfig, job: &JobOnNode) -> StartOutcome {
    let mut out = StartOutcome {
        host: crate::host::collect(&cfg.sysroot),
        ..Default::default()
    };
    match job.spool.ensure_node(&job.node) {
        Ok(Some(warning)) => out.notes.push(warning),
        Ok(None) => {}
        Err(e) => {
            out.notes
                .push(format!("energy not measured on this node: {e}"));
            return out;
        }
    }
    if cfg.sources == Sources::none() {
        out.notes
            .push("no meter source enabled (sources is empty): nothing measured".into());
        return out;
    }
    let files = JobFiles::new(&job.spool, job.job_id, &job.node);
    // Leftovers of an earlier run of the same job id (a requeued job) would be mistaken for
    // this one's.
    for f in files.all() {
        let _ = std::fs::remove_file(f);
    }
    let snap = rapl_set(cfg).snapshot(out.host.clone());
    out.absent_meters = snap.absent.clone();
    if let Err(e) = write_json_atomic(&files.start, &snap) {
        out.notes
            .push(format!("energy not measured on this node: {e}"));
        return out;
    }
    let mut cmd = sampler_command(cfg, job, "run");
    detach(&mut cmd);
    match cmd.spawn() {
        Ok(child) => {
            let pid = child.id();
            // Dropping the handle neither kills nor waits: the child is reparented to init
            // when this prolog process exits.
            drop(child);
            let pf = PidFile { pid, job_id: job.job_id, node: job.node.clone() };
            if let Err(e) = write_json_atomic(&files.pid, &pf) {
                out.notes.push(format!("sampler {pid} started but its pid file could not be written: {e}"));
                signals::send(pid, libc::SIGKILL);
            } else {
                out.sampler_pid = Some(pid);
            }
        }
        Err(e) => out.notes.push(format!(
            "cannot start the sampler {}: {e}; energy will come from the start and end snapshots only",
            cfg.sampler_exe.display()
        )),
    }
    out
}

/// Whether `pid` runs the sampler of this job: its command line is `<sampler_exe> run ...`
/// with the same spool, job id and node (a recycled pid fails this).
pub(crate) fn is_our_sampler(pid: u32, cfg: &NodeConfig, job: &JobOnNode) -> bool {
    runs_for(pid, cfg, job, "run")
}

/// Whether `pid` runs `<sampler_exe> <sub> ...` for this job (same spool, job id and node).
pub(crate) fn runs_for(pid: u32, cfg: &NodeConfig, job: &JobOnNode, sub: &str) -> bool {
    let Some(argv) = signals::cmdline(pid) else {
        return false;
    };
    let Some((exe, rest)) = argv.split_first() else {
        return false;
    };
    let same_exe = Path::new(exe).file_name() == cfg.sampler_exe.file_name();
    if !same_exe || rest.first().map(|s| s.as_os_str()) != Some(sub.as_ref()) {
        return false;
    }
    let args = match crate::sampler::SamplerCommand::parse(rest.iter().cloned()) {
        Ok(crate::sampler::SamplerCommand::Run(a)) => a,
        Ok(crate::sampler::SamplerCommand::Keep(a, _)) => a,
        _ => return false,
    };
    args.job_id == job.job_id && args.node == job.node && args.spool == job.spool.root()
}

/// How the sampler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SamplerEnd {
    /// It took its final reading when asked.
    Finished,
    /// It was gone before the epilog (or never started).
    Died,
    /// It did not answer in time and was killed.
    Killed,
}

/// Asks the sampler for its final reading and waits up to `stop_timeout`.
fn stop_sampler(
    cfg: &NodeConfig,
    job: &JobOnNode,
    files: &JobFiles,
    notes: &mut Vec<String>,
) -> SamplerEnd {
    let pid = match read_json::<PidFile>(&files.pid) {
        Ok(p) if p.job_id == job.job_id && p.node == job.node => p.pid,
        Ok(_) => {
            notes.push(format!(
                "{} names another job; ignored",
                files.pid.display()
            ));
            return SamplerEnd::Died;
        }
        Err(_) => return SamplerEnd::Died,
    };
    if !signals::is_running(pid) || !is_our_sampler(pid, cfg, job) {
        notes.push(format!(
            "the sampler (pid {pid}) had died before the epilog"
        ));
        return SamplerEnd::Died;
    }
    signals::send(pid, libc::SIGTERM);
    let asked = std::time::Instant::now();
    let deadline = asked + cfg.stop_timeout;
    let finished = || crate::checkpoint::read(files).is_ok_and(|s| s.finished && s.pid == pid);
    loop {
        if !signals::is_running(pid) || finished() {
            return if finished() {
                SamplerEnd::Finished
            } else {
                SamplerEnd::Died
            };
        }
        if std::time::Instant::now() >= deadline {
            // Checked once more right before the kill: a pid that was recycled meanwhile is
            // not ours any more.
            if is_our_sampler(pid, cfg, job) {
                signals::send(pid, libc::SIGKILL);
            }
            notes.push(format!(
                "the sampler (pid {pid}) did not answer within {:.1} s and was killed",
                cfg.stop_timeout.as_secs_f64()
            ));
            return SamplerEnd::Killed;
        }
        // The final reading usually takes a few milliseconds: poll finely at first, so that
        // the epilog (which every job's end waits for) is not held for a coarse tick.
        let pause = if asked.elapsed() < Duration::from_millis(100) {
            1
        } else {
            10
        };
        std::thread::sleep(Duration::from_millis(pause));
    }
}

/// An end snapshot of every meter, taken by running the sampler binary once (`snapshot`)
/// with a deadline of `stop_timeout`; if that fails, of the RAPL counters, read here.
fn end_snapshot(
    cfg: &NodeConfig,
    job: &JobOnNode,
    files: &JobFiles,
    host: &HostInfo,
    notes: &mut Vec<String>,
) -> Snapshot {
    let _ = std::fs::remove_file(&files.end);
    let mut cmd = sampler_command(cfg, job, "snapshot");
    cmd.arg("--out").arg(&files.end);
    // The child's own BMC query must end well before our deadline.
    if let Ok(mut child) = cmd
        .arg("--ipmi-timeout-ms")
        .arg(
            (cfg.stop_timeout / 2)
                .min(cfg.ipmi_timeout)
                .as_millis()
                .to_string(),
        )
        .spawn()
    {
        let deadline = std::time::Instant::now() + cfg.stop_timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    if let Ok(s) = read_json::<Snapshot>(&files.end) {
                        return s;
                    }
                    break;
                }
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    notes.push(
                        "the end snapshot did not finish in time; only RAPL was read at the end"
                            .into(),
                    );
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    rapl_set(cfg).snapshot(host.clone())
}

/// `job_epilog`: stops the sampler and builds the meter reports.
///
/// Asks the sampler for a final reading (SIGTERM) and waits at most `stop_timeout`. If the
/// sampler had died, or hangs (then it is killed), its last checkpoint is completed with an
/// end snapshot taken here (at most `stop_timeout` more) and the record is flagged; if there
/// is no checkpoint either, the prolog's start snapshot and the end snapshot are used, and
/// each meter is flagged `snapshots-only`. So this returns within about twice `stop_timeout`
/// and always returns reports for whatever could be measured. It leaves the job's files under
/// `running/` in place; call [`cleanup_job`] once the record is written.
pub fn finish_job(cfg: &NodeConfig, job: &JobOnNode) -> Measurement {
    let mut m = Measurement::default();
    if cfg.sources == Sources::none() {
        // The site measures nothing here; the record still says who ran what, where, when.
        m.absent_meters.push(AbsentMeter {
            source: "all".into(),
            reason: "no meter source enabled in the site config (sources is empty)".into(),
        });
        m.host = Some(crate::host::collect(&cfg.sysroot));
        return m;
    }
    let files = JobFiles::new(&job.spool, job.job_id, &job.node);
    let start: Option<Snapshot> = read_json(&files.start).ok();
    let end_kind = stop_sampler(cfg, job, &files, &mut m.notes);
    let state = crate::checkpoint::read(&files)
        .ok()
        .filter(|s| s.job_id == job.job_id && s.node == job.node);
    let host_now = crate::host::collect(&cfg.sysroot);

    let (mut meters, end_us, mut host) = match state {
        Some(s) if end_kind == SamplerEnd::Finished && s.finished => {
            m.absent_meters = s.absent;
            m.job_gpu_uuids = s.job_gpu_uuids;
            m.notes.extend(s.notes);
            (s.meters, s.updated.mono_us, s.host)
        }
        Some(s) => {
            m.flags.push(if end_kind == SamplerEnd::Killed {
                RecordFlag::SamplerKilled
            } else {
                RecordFlag::SamplerDied
            });
            m.absent_meters = s.absent;
            m.job_gpu_uuids = s.job_gpu_uuids;
            m.notes.extend(s.notes);
            let mut meters = s.meters;
            let end = end_snapshot(cfg, job, &files, &s.host, &mut m.notes);
            if end.host.boot_id != s.boot_id {
                m.flags.push(RecordFlag::BootChanged);
                (meters, s.updated.mono_us, s.host)
            } else {
                apply(&mut meters, &end, None);
                (meters, end.taken.mono_us, s.host)
            }
        }
        None => {
            let Some(start) = start else {
                m.flags.push(RecordFlag::NoPrologState);
                m.absent_meters.push(AbsentMeter {
                    source: "all".into(),
                    reason: "no start snapshot: job_prolog did not run or failed on this node"
                        .into(),
                });
                m.host = Some(host_now);
                return m;
            };
            m.flags.push(if end_kind == SamplerEnd::Killed {
                RecordFlag::SamplerKilled
            } else {
                RecordFlag::SamplerDied
            });
            m.notes
                .push("no sampler checkpoint: energy from the start and end snapshots only".into());
            let end = end_snapshot(cfg, job, &files, &start.host, &mut m.notes);
            m.absent_meters = end.absent.clone();
            m.job_gpu_uuids = end.job_gpu_uuids.clone();
            if end.host.boot_id != start.host.boot_id {
                m.flags.push(RecordFlag::BootChanged);
                m.host = Some(end.host);
                return m;
            }
            let specs: Vec<_> = end.readings.iter().map(|r| r.spec.clone()).collect();
            let mut meters = accumulators_for(
                &specs,
                Some(&start),
                start.taken,
                cfg.interval,
                cfg.max_series_points,
            );
            apply(&mut meters, &end, Some(MeterFlag::SnapshotsOnly));
            let mut host = start.host.clone();
            host.gpus = end.host.gpus.clone();
            (meters, end.taken.mono_us, host)
        }
    };
    if host.boot_id.is_none() {
        host.boot_id = host_now.boot_id;
    }
    add_reports(&mut m, &mut meters, end_us);
    m.host = Some(host);
    m
}

/// The meters' reports up to `end_us`; a meter without two readings is absent, with why.
pub(crate) fn add_reports(m: &mut Measurement, meters: &mut [MeterAccumulator], end_us: u64) {
    for acc in meters {
        if acc.has_interval() {
            m.meters.push(acc.report(Some(end_us)));
        } else {
            let why = match acc.first_error() {
                Some(e) => format!("no usable reading over the job: {e}"),
                None => "fewer than two readings over the job (no baseline)".into(),
            };
            m.absent_meters.push(AbsentMeter {
                source: acc.id().to_string(),
                reason: why,
            });
        }
    }
}

/// Completes a started record with what was measured and what the job's first step noted:
/// the one way a final record is made, by the epilog and by [`crate::salvage`]. The caller
/// sets `end` (and `exit`, where known); the measurement's notes are for it to log.
pub fn complete_record(
    record: &mut JobNodeRecord,
    measured: Measurement,
    held: Option<HeldOnNode>,
) -> Vec<String> {
    record.state = RecordState::Complete;
    record.meters = measured.meters;
    record.absent_meters = measured.absent_meters;
    for flag in measured.flags {
        if !record.flags.contains(&flag) {
            record.flags.push(flag);
        }
    }
    if let Some(h) = measured.host {
        record.host = Some(h);
    }
    if !measured.job_gpu_uuids.is_empty() {
        record
            .allocation
            .get_or_insert_with(NodeAllocation::default)
            .gpus = measured.job_gpu_uuids;
    }
    if let Some(held) = held {
        held.complete(record);
    }
    measured.notes
}

/// Adds an end snapshot's readings to the matching accumulators (by meter id).
fn apply(meters: &mut [MeterAccumulator], end: &Snapshot, flag: Option<MeterFlag>) {
    for acc in meters.iter_mut() {
        if let Some(r) = end.readings.iter().find(|r| r.spec.id == acc.id()) {
            acc.add(r.at, r.result());
            if let Some(f) = flag {
                acc.flag(f);
            }
        }
    }
}

/// Removes the job's sampler files from `running/` (start and end snapshots, pid file,
/// checkpoint); a sampler still alive sees its pid file gone and exits. Returns notes for
/// files that could not be removed.
pub fn cleanup_job(job: &JobOnNode) -> Vec<String> {
    let files = JobFiles::new(&job.spool, job.job_id, &job.node);
    files
        .all()
        .into_iter()
        .filter_map(|f| match std::fs::remove_file(f) {
            Ok(()) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("cannot remove {}: {e}", f.display())),
        })
        .collect()
}

/// The RAPL zones, read in this process (none when RAPL is disabled).
fn rapl_set(cfg: &NodeConfig) -> MeterSet {
    if cfg.sources.rapl {
        MeterSet::open_rapl_only(&cfg.sysroot)
    } else {
        MeterSet::empty()
    }
}
