//! All the meters of one node, opened together, and snapshots of them.

use crate::accumulate::Instant;
use crate::hwmon::HwmonSource;
use crate::ipmi::IpmiSource;
use crate::nvml::NvmlSource;
use crate::rapl::RaplSource;
use crate::source::{MeterSpec, Raw, ReadError, Source, Sources};
use ea_record::{AbsentMeter, GpuInfo, HostInfo};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What to open.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    /// Root under which `/sys` and `/proc` are read (`/` on a real node).
    pub sysroot: PathBuf,
    /// Which meter families to open.
    pub sources: Sources,
    /// The OpenIPMI device tried first for the BMC meter (`/dev/ipmi0`); `None`: the command
    /// only. See [`IpmiSource::discover`].
    pub ipmi_device: Option<PathBuf>,
    /// The BMC command, used when there is no device or it does not answer; `None` with no
    /// device disables the BMC meter.
    pub ipmi_command: Option<Vec<String>>,
    /// How long one BMC query may take.
    pub ipmi_timeout: Duration,
    /// BMC readings above this are glitches.
    pub ipmi_max_power_w: f64,
    /// `None`: the system's `libnvidia-ml.so.1`.
    pub nvml_library: Option<PathBuf>,
    /// The job's GPUs as Slurm or CUDA name them (indices or UUIDs).
    pub job_gpus: Vec<String>,
    /// See [`NvmlSource::open`].
    pub nvml_power_alongside: bool,
    /// A GPU's energy counter is read at one reading in this many, its power at the others
    /// (see [`NvmlSource::with_counter_every`]); 0 or 1: at every reading.
    pub gpu_counter_every: u32,
}

/// The meters of a node. Sources are read in a fixed order; [`MeterSet::specs`] lists every
/// meter once, in the order of the values [`MeterSet::read`] returns.
pub struct MeterSet {
    sources: Vec<Box<dyn Source>>,
    specs: Vec<MeterSpec>,
    /// Meters that were looked for and are not used, with why.
    pub absent: Vec<AbsentMeter>,
    /// Things worth a line in the slurmd log.
    pub notes: Vec<String>,
    /// Every GPU NVML sees (empty without NVML).
    pub gpus: Vec<GpuInfo>,
    /// The UUIDs of the GPUs the job holds.
    pub job_gpu_uuids: Vec<String>,
    values: Vec<Result<Raw, ReadError>>,
    times: Vec<Instant>,
    /// See [`MeterSet::read_end`].
    read_end: Instant,
}

impl MeterSet {
    /// Opens every enabled source. Never fails and never panics on bad hardware: what cannot
    /// be used is listed in [`MeterSet::absent`].
    pub fn open(o: &OpenOptions) -> Self {
        let mut set = Self::empty();
        if o.sources.rapl {
            let (s, absent) = RaplSource::discover(&o.sysroot);
            set.add(s.map(|s| Box::new(s) as Box<dyn Source>), absent);
        }
        if o.sources.hwmon {
            let (s, absent) = HwmonSource::discover(&o.sysroot);
            set.add(s.map(|s| Box::new(s) as Box<dyn Source>), absent);
        }
        if o.sources.nvml {
            let found = NvmlSource::open(
                o.nvml_library.as_deref(),
                &o.job_gpus,
                o.nvml_power_alongside,
            );
            set.gpus = found.gpus;
            set.job_gpu_uuids = found.job_gpu_uuids;
            set.notes.extend(found.notes);
            set.add(
                found.source.map(|s| {
                    Box::new(s.with_counter_every(o.gpu_counter_every)) as Box<dyn Source>
                }),
                found.absent,
            );
        }
        if o.sources.ipmi {
            let found = IpmiSource::discover(
                o.ipmi_device.as_deref(),
                o.ipmi_command.as_deref(),
                o.ipmi_timeout,
                o.ipmi_max_power_w,
            );
            set.notes.extend(found.notes);
            set.add(
                found.source.map(|s| Box::new(s) as Box<dyn Source>),
                found.absent,
            );
        }
        set
    }

    /// RAPL only: what the plugin reads itself, in the prolog and as a last resort in the
    /// epilog, because powercap files answer in microseconds. Everything else (NVML, the BMC,
    /// hwmon drivers that may sleep on a slow bus) is read by the sampler process.
    pub fn open_rapl_only(sysroot: &std::path::Path) -> Self {
        let mut set = Self::empty();
        let (s, absent) = RaplSource::discover(sysroot);
        set.add(s.map(|s| Box::new(s) as Box<dyn Source>), absent);
        set
    }

    /// No meter at all.
    pub fn empty() -> Self {
        Self {
            sources: Vec::new(),
            specs: Vec::new(),
            absent: Vec::new(),
            notes: Vec::new(),
            gpus: Vec::new(),
            job_gpu_uuids: Vec::new(),
            values: Vec::new(),
            times: Vec::new(),
            read_end: Instant {
                mono_us: 0,
                wall: ea_record::UnixMicros(0),
            },
        }
    }

    fn add(&mut self, source: Option<Box<dyn Source>>, absent: Vec<AbsentMeter>) {
        self.absent.extend(absent);
        if let Some(s) = source {
            self.specs.extend(s.meters().iter().cloned());
            self.sources.push(s);
        }
    }

    /// Every meter once, in the order of [`MeterSet::read`]'s values.
    pub fn specs(&self) -> &[MeterSpec] {
        &self.specs
    }

    /// The next [`MeterSet::read`] is the last: every counter is read then (see
    /// [`Source::counters_next`]).
    pub fn counters_next(&mut self) {
        for s in &mut self.sources {
            s.counters_next();
        }
    }

    /// Shortens or lengthens the BMC query timeout (for the final reading).
    pub fn set_ipmi_timeout(&mut self, timeout: Duration) {
        for s in &mut self.sources {
            s.set_timeout(timeout);
        }
    }

    /// Reads every meter once. Returns, per meter, the time of its reading (the middle of its
    /// source's read, since a BMC query can take a second) and the value.
    ///
    /// The sources are read back to back, so the end of one source's read is the start of the
    /// next: one `CLOCK_BOOTTIME` read per source and one more, and a single wall-clock read,
    /// the others' wall times derived from it over the milliseconds a tick takes (the two
    /// clocks run at the same rate; only a step of the wall clock, which a tick straddles
    /// once in a lifetime, would show). The sampler reads 4-5 sources a tick; reading both
    /// clocks before and after each was 18 clock reads a tick, 2.5 % of its CPU in `perf`.
    pub fn read(&mut self) -> (&[Instant], &[Result<Raw, ReadError>]) {
        self.values.clear();
        self.times.clear();
        let start = Instant::now();
        let mut before = start.mono_us;
        for s in &mut self.sources {
            let n0 = self.values.len();
            s.read_into(&mut self.values);
            let after = crate::clock::boottime_us().max(before);
            let mono_us = before + (after - before) / 2;
            let mid = Instant {
                mono_us,
                wall: ea_record::UnixMicros(start.wall.0 + (mono_us - start.mono_us) as i64),
            };
            self.times
                .extend(std::iter::repeat_n(mid, self.values.len() - n0));
            before = after;
        }
        self.read_end = Instant {
            mono_us: before,
            wall: ea_record::UnixMicros(start.wall.0 + (before - start.mono_us) as i64),
        };
        (&self.times, &self.values)
    }

    /// When the last [`MeterSet::read`] ended (the sampler's `updated`, without another clock
    /// read).
    pub fn read_end(&self) -> Instant {
        self.read_end
    }

    /// Reads every meter into a self-contained [`Snapshot`].
    pub fn snapshot(&mut self, host: HostInfo) -> Snapshot {
        let taken = Instant::now();
        let specs = self.specs.clone();
        let (times, values) = self.read();
        let readings = specs
            .into_iter()
            .zip(times.iter().zip(values))
            .map(|(spec, (at, v))| SnapshotReading {
                spec,
                at: *at,
                value: v.as_ref().ok().copied(),
                error: v.as_ref().err().map(|e| e.0.clone()),
            })
            .collect();
        let mut host = host;
        host.gpus = self.gpus.clone();
        Snapshot {
            taken,
            host,
            readings,
            absent: self.absent.clone(),
            job_gpu_uuids: self.job_gpu_uuids.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// Every meter of a node read once, with what is needed to use the readings in another
/// process: the prolog's start snapshot, the epilog's end snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the snapshot began.
    pub taken: Instant,
    /// What the node is.
    pub host: HostInfo,
    /// One per meter.
    pub readings: Vec<SnapshotReading>,
    /// Meters looked for and not used, with why.
    #[serde(default)]
    pub absent: Vec<AbsentMeter>,
    /// The UUIDs of the GPUs the job holds.
    #[serde(default)]
    pub job_gpu_uuids: Vec<String>,
    /// Things worth a line in the slurmd log.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One meter's reading in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotReading {
    /// The meter.
    pub spec: MeterSpec,
    /// When it was read.
    pub at: Instant,
    /// The value; `None` when the read failed.
    pub value: Option<Raw>,
    /// Why the read failed.
    #[serde(default)]
    pub error: Option<String>,
}

impl SnapshotReading {
    /// The value, or why there is none.
    pub fn result(&self) -> Result<Raw, ReadError> {
        self.value
            .ok_or_else(|| ReadError(self.error.clone().unwrap_or_else(|| "no reading".into())))
    }
}
