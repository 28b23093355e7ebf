//! The job-node record: what one node knows about one assessed job.
//!
//! The plugin writes it in two steps. `job_prolog` writes a *started* record (identity, start
//! time, mode) under `running/`; `job_epilog` completes it (end time, exit code, meters) and
//! moves it to `records/`. The format is JSON; [`SCHEMA_VERSION`] changes whenever a field
//! changes meaning or a required field is added, and `docs/record-format.md` describes every
//! version. Readers accept unknown fields and unknown enum values (as `unknown`), so a
//! post-processor can read records from a newer plugin.

use crate::time::UnixMicros;
use serde::{Deserialize, Serialize};

/// The version of the record layout written by this crate. Version 3 writes the meters' power
/// series after everything else, in one top-level `series` object keyed by meter id (see
/// [`crate::spool::encode_record`]), so that a reader that needs no series stops before them;
/// version 2 wrote each meter's series in the meter, under `series_b64`, its watts as base64 of
/// little-endian 32-bit floats; version 1 under `series`, its watts as a JSON array. Readers
/// take all three.
pub const SCHEMA_VERSION: u32 = 3;

/// One job on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobNodeRecord {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Whether the epilog has completed the record.
    pub state: RecordState,
    /// Slurm's `ClusterName`, from the prolog environment.
    pub cluster: Option<String>,
    /// Slurm's job id (for an array task, its own id, not the array's).
    pub job_id: u32,
    /// For array jobs: the array's master job id and this task's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<u32>,
    /// See `array_job_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    /// The job's user id.
    pub uid: u32,
    /// The job's group id.
    pub gid: u32,
    /// The user's name, where the prolog could resolve it.
    pub user: Option<String>,
    /// Slurm account, from the prolog environment.
    pub account: Option<String>,
    /// Slurm partition, from the prolog environment.
    pub partition: Option<String>,
    /// This node's Slurm name (`SLURMD_NODENAME`), not its host name: several slurmd may
    /// share a host.
    pub node: String,
    /// The job's whole node list, as Slurm writes it (`n[1-3]`).
    pub node_list: Option<String>,
    /// How many nodes the job has (`SLURM_JOB_NUM_NODES`).
    pub num_nodes: Option<u32>,
    /// CPUs the job holds on this node (from `SLURM_JOB_CPUS_PER_NODE`).
    pub cpus_on_node: Option<u32>,
    /// What the job held on this node, where the node side could learn it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<NodeAllocation>,
    /// When `job_prolog` ran on this node; `None` if it never wrote its part.
    pub start: Option<UnixMicros>,
    /// When `job_epilog` ran on this node; `None` while the job runs.
    pub end: Option<UnixMicros>,
    /// How the job ended; `None` until the epilog.
    pub exit: Option<JobExit>,
    /// Why the job was assessed and what the user asked for.
    pub mode: AssessMode,
    /// Version of the plugin that wrote the record.
    pub plugin_version: String,
    /// Slurm version the plugin was built against (`major.minor.micro`).
    pub slurm_version: String,
    /// What the node is (host name, boot, CPU, GPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
    /// One entry per meter that was read; empty when the node has none.
    #[serde(default)]
    pub meters: Vec<MeterReport>,
    /// Meters that were looked for and not used, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent_meters: Vec<AbsentMeter>,
    /// Things that went wrong for the record as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<RecordFlag>,
    /// Why the summary file the user asked for (`--energy-assess=summary`) could not be
    /// written, so that `energy-assess job` tells them; only on the node that writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_error: Option<String>,
}

/// How far the record got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordState {
    /// Written by the prolog; the job is running or its epilog has not run yet.
    Started,
    /// Written by the epilog; final.
    Complete,
    /// A state a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

/// How the job ended, as the epilog saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobExit {
    /// The raw wait status (`SLURM_JOB_EXIT_CODE`), e.g. 768 for `exit 3`.
    pub status: Option<i32>,
    /// Exit code and terminating signal (`SLURM_JOB_EXIT_CODE2`, `3:0`).
    pub code: u8,
    /// The signal that ended the job, 0 if none.
    pub signal: u8,
}

impl JobExit {
    /// Reads Slurm's `code:signal` form (`SLURM_JOB_EXIT_CODE2`), with the raw status if known.
    pub fn parse(code2: &str, status: Option<i32>) -> Option<Self> {
        let (code, signal) = code2.trim().split_once(':')?;
        Some(Self {
            status,
            code: code.parse().ok()?,
            signal: signal.parse().ok()?,
        })
    }
}

impl std::fmt::Display for JobExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.code, self.signal)
    }
}

/// Why the job was assessed and what the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessMode {
    /// The user's option or the site's default.
    pub trigger: Trigger,
    /// The MODE given to `--energy-assess=MODE`, as written; `None` without a value.
    pub requested: Option<String>,
    /// Whether the user asked for a summary file in the job's working directory.
    #[serde(default)]
    pub summary: bool,
}

/// What made the plugin assess the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The user passed `--energy-assess`.
    Option,
    /// The site config says `default = "always"`.
    SiteDefault,
    /// A trigger a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

/// Resources the job held on this node, for splitting node-level energy between jobs that
/// share it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAllocation {
    /// CPUs held on this node.
    pub cpus: Option<u32>,
    /// Slurm's core list on this node, e.g. `0-3,8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<String>,
    /// Memory held on this node, MB (`S_JOB_ALLOC_MEM`).
    pub memory_mb: Option<u64>,
    /// The job's GPUs on this node: UUIDs where known, otherwise Slurm's indices.
    #[serde(default)]
    pub gpus: Vec<String>,
}

/// What the node is, so that a record can be matched to the inventory and its meters trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The kernel's host name (may differ from the Slurm node name).
    pub hostname: Option<String>,
    /// `/proc/sys/kernel/random/boot_id`: two snapshots with different boot ids cannot be
    /// subtracted.
    pub boot_id: Option<String>,
    /// `/proc/cpuinfo`'s model name, for matching the inventory.
    pub cpu_model: Option<String>,
    /// The GPUs NVML sees on the node, the job's or not.
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
}

/// One GPU of the node, as NVML describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML's index (`nvidia-smi`'s order).
    pub index: u32,
    /// `GPU-...`, what a job's GPUs are matched by.
    pub uuid: String,
    /// The model, for matching the inventory.
    pub name: Option<String>,
}

/// What part of the node a meter covers. Meters of different scopes overlap (a `psys` zone
/// includes the packages; a BMC reading includes everything), so they are never summed blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// A CPU socket (RAPL `package-N`), cores and uncore included.
    CpuPackage,
    /// The cores of a package (RAPL `core`), inside `CpuPackage`.
    Core,
    /// The rest of a package (RAPL `uncore`), inside `CpuPackage`.
    Uncore,
    /// Memory (RAPL `dram`).
    Dram,
    /// RAPL `psys`: the platform, overlapping package and DRAM.
    Platform,
    /// One GPU board (NVML).
    GpuBoard,
    /// The whole node as the BMC sees it.
    NodeBmc,
    /// The whole node from an external wattmeter.
    NodeWattmeter,
    /// A hwmon sensor whose coverage is not known.
    Other,
    /// A scope a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

impl Scope {
    /// The scope as the record writes it (`cpu-package`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CpuPackage => "cpu-package",
            Scope::Core => "core",
            Scope::Uncore => "uncore",
            Scope::Dram => "dram",
            Scope::Platform => "platform",
            Scope::GpuBoard => "gpu-board",
            Scope::NodeBmc => "node-bmc",
            Scope::NodeWattmeter => "node-wattmeter",
            Scope::Other => "other",
            Scope::Unknown => "unknown",
        }
    }
}

/// How a meter's energy was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Differences of a cumulative energy counter.
    Counter,
    /// Power readings integrated over time (trapezoids).
    IntegratedPower,
    /// A method a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

/// One meter's account of the job's interval on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterReport {
    /// Stable identifier: `rapl:intel-rapl:0`, `nvml:GPU-<uuid>`, `ipmi:dcmi`, `hwmon:<name>/power1`.
    pub id: String,
    /// What part of the node it covers.
    pub scope: Scope,
    /// Human label, e.g. the RAPL zone name `package-0` or the GPU model.
    pub label: Option<String>,
    /// Counter differences or integrated power.
    pub method: Method,
    /// Energy over the interval, in joules.
    pub energy_j: f64,
    /// First and last raw counter readings, in the source's unit (µJ for RAPL and hwmon,
    /// mJ for NVML); `None` for integrated meters.
    pub first_raw: Option<u64>,
    /// See `first_raw`.
    pub last_raw: Option<u64>,
    /// The counter's range (`max_energy_range_uj` for RAPL), where it wraps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_raw: Option<u64>,
    /// Times the counter wrapped over the interval (each adds `max_raw + 1`).
    pub wraps: u32,
    /// Times the counter went backwards by more than a wrap could explain (driver reload).
    pub resets: u32,
    /// Readings taken (snapshots and the sampler's readings).
    pub samples: u32,
    /// Readings thrown away as implausible.
    #[serde(default)]
    pub rejected: u32,
    /// Power over the interval, W, where readings allow.
    pub power_w: Option<PowerStats>,
    /// For device meters (GPUs): whether the job held this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_owned: Option<bool>,
    /// A compact power time series, bounded in length whatever the job's duration. Not written
    /// with the meter: [`crate::spool::encode_record`] writes every meter's series at the end
    /// of the record (schema 3) and [`crate::spool::decode_record`] puts them back here. Read
    /// here from the meter's `series_b64` (schema 2) or `series` (schema 1).
    #[serde(default, rename = "series_b64", alias = "series", skip_serializing)]
    pub series: Option<PowerSeries>,
    /// What happened to this meter's readings (wraps, resets, errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<MeterFlag>,
}

/// Power over a meter's interval, W.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerStats {
    /// The lowest power seen.
    pub min: f64,
    /// The mean power.
    pub mean: f64,
    /// The highest power seen.
    pub max: f64,
}

/// Mean power per bucket of `step_s` seconds from `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerSeries {
    /// The start of the first bucket.
    pub start: UnixMicros,
    /// Each bucket's length, s (grows with the job so that the series stays bounded).
    pub step_s: f64,
    /// Written as base64 of the little-endian bytes of each `f32` (schema 2): 5.3 bytes a
    /// point, exact, where a JSON array takes 10 to 25; read from that or from a JSON array of
    /// numbers (schema 1).
    #[serde(
        serialize_with = "watts_codec::serialize",
        deserialize_with = "watts_codec::deserialize"
    )]
    pub watts: Vec<f32>,
}

/// The two forms of [`PowerSeries::watts`]; public so that the sampler's checkpoint keeps its
/// series of `f32` in the same compact form (`#[serde(with = "ea_record::record::watts_codec")]`).
pub mod watts_codec {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    /// Writes `watts` as base64 of their little-endian bytes.
    pub fn serialize<S: Serializer>(watts: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = watts.iter().flat_map(|w| w.to_le_bytes()).collect();
        s.serialize_str(&crate::base64::encode(&bytes))
    }

    /// Reads either form: base64 (schema 2 and later) or a JSON array of numbers (schema 1).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        d.deserialize_any(WattsVisitor)
    }

    struct WattsVisitor;

    impl<'de> Visitor<'de> for WattsVisitor {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("base64 of little-endian 32-bit floats, or an array of numbers")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<f32>, E> {
            let bytes =
                crate::base64::decode(text).map_err(|e| E::custom(format!("watts: {e}")))?;
            if !bytes.len().is_multiple_of(4) {
                return Err(E::custom(format!(
                    "watts: {} bytes is not a whole number of 32-bit floats",
                    bytes.len()
                )));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            let mut watts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(w) = seq.next_element::<f32>()? {
                watts.push(w);
            }
            Ok(watts)
        }
    }
}

/// Something that happened to one meter's readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeterFlag {
    /// The counter wrapped at least once (handled).
    Wrapped,
    /// The counter was reset (driver reload, reboot): energy before the reset is lost.
    Reset,
    /// Some readings failed; energy covers the readings that worked.
    ReadErrors,
    /// Implausible readings were rejected.
    RejectedReadings,
    /// The sampling interval was longer than the counter's shortest wrap period, so a double
    /// wrap could have gone unseen.
    IntervalTooLong,
    /// The energy counter was not supported; power was integrated instead.
    PowerFallback,
    /// A meter with an energy counter that the sampler reads less often than power (a GPU's,
    /// whose counter costs milliseconds of CPU): part of its energy is integrated power where
    /// no counter difference covers it (after its last counter reading in a record salvaged
    /// from a checkpoint, or across a reset).
    PowerSinceCounter,
    /// Only the start and end snapshots were available (no sampler readings).
    SnapshotsOnly,
    /// Two readings were further apart than the counter takes to wrap (the sampler was
    /// stopped or starved of CPU): the wraps over that gap were inferred from the power just
    /// before it, exact for a steady load.
    WrapsInferred,
    /// A flag a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

/// A meter that was looked for and is not there, and why ("no /sys/class/powercap", "NVML:
/// library not found"...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsentMeter {
    /// Which meter or source (`rapl`, `nvml:GPU-...`, `hwmon:<name>/power1`).
    pub source: String,
    /// Why it is not used, in words an administrator can act on.
    pub reason: String,
}

/// Something that went wrong for the record as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFlag {
    /// The epilog found no prolog state: start time and start snapshot are unknown.
    NoPrologState,
    /// The sampler had died before the epilog; its last checkpoint was used.
    SamplerDied,
    /// The sampler did not answer the epilog in time and was killed.
    SamplerKilled,
    /// The epilog could not take its own end snapshot.
    NoEndSnapshot,
    /// The site configuration could not be read; built-in defaults were used.
    ConfigError,
    /// Two snapshots came from different boots of the node.
    BootChanged,
    /// No epilog wrote this record (it did not run: the plugin was missing from the node's
    /// plugstack, or it could not write: a read-only or full spool). It was completed later,
    /// from the prolog's part and the sampler's last checkpoint, and ends there.
    Salvaged,
    /// A flag a newer writer knows and this reader does not.
    #[serde(other)]
    Unknown,
}

impl JobNodeRecord {
    /// Total energy of the plausible meters of one scope, in joules (see [`crate::bounds`]).
    pub fn energy_j(&self, scope: Scope) -> f64 {
        self.plausible_meters()
            .filter(|m| m.scope == scope)
            .map(|m| m.energy_j)
            .sum()
    }

    /// The meters whose energy [`crate::bounds::check_energy`] accepts.
    pub fn plausible_meters(&self) -> impl Iterator<Item = &MeterReport> {
        let span = self.duration_s();
        self.meters
            .iter()
            .filter(move |m| crate::bounds::check_energy(&m.id, m.scope, m.energy_j, span).is_ok())
    }

    /// The node's energy for the job from the most complete meters it has: an external
    /// wattmeter, else the BMC, else the component meters that do not overlap (CPU packages,
    /// DRAM and GPU boards; never `platform` with them, never `core` or `uncore`, which are
    /// inside the package), else RAPL `psys`. `None` when the node had no plausible meter.
    /// This is what the node measured, before any split between jobs sharing it.
    pub fn node_energy_j(&self) -> Option<(f64, EnergyBasis)> {
        let has = |scope: Scope| self.plausible_meters().any(|m| m.scope == scope);
        if has(Scope::NodeWattmeter) {
            return Some((self.energy_j(Scope::NodeWattmeter), EnergyBasis::Wattmeter));
        }
        if has(Scope::NodeBmc) {
            return Some((self.energy_j(Scope::NodeBmc), EnergyBasis::Bmc));
        }
        let components = [Scope::CpuPackage, Scope::Dram, Scope::GpuBoard];
        if components.iter().any(|s| has(*s)) {
            let e = components.iter().map(|s| self.energy_j(*s)).sum();
            return Some((e, EnergyBasis::Components));
        }
        if has(Scope::Platform) {
            return Some((self.energy_j(Scope::Platform), EnergyBasis::Platform));
        }
        None
    }

    /// Seconds between prolog and epilog, if both ran.
    pub fn duration_s(&self) -> Option<f64> {
        Some(self.end?.seconds_since(self.start?))
    }
}

/// Which meters [`JobNodeRecord::node_energy_j`] used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergyBasis {
    /// An external wattmeter.
    Wattmeter,
    /// The BMC (IPMI DCMI).
    Bmc,
    /// CPU packages + DRAM + GPU boards.
    Components,
    /// RAPL psys alone.
    Platform,
}

impl EnergyBasis {
    /// In words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            EnergyBasis::Wattmeter => "external wattmeter",
            EnergyBasis::Bmc => "BMC",
            EnergyBasis::Components => "CPU + DRAM + GPU meters",
            EnergyBasis::Platform => "RAPL psys",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete record of job 42 on n1 of n[1-3], without meters (also used by `summary`).
    pub(crate) fn sample() -> JobNodeRecord {
        JobNodeRecord {
            schema_version: SCHEMA_VERSION,
            state: RecordState::Complete,
            cluster: Some("testbed".into()),
            job_id: 42,
            array_job_id: None,
            array_task_id: None,
            uid: 1001,
            gid: 1001,
            user: Some("alice".into()),
            account: Some("energy".into()),
            partition: Some("debug".into()),
            node: "n1".into(),
            node_list: Some("n[1-3]".into()),
            num_nodes: Some(3),
            cpus_on_node: Some(1),
            allocation: None,
            start: Some(UnixMicros(1_000_000)),
            end: Some(UnixMicros(4_500_000)),
            exit: JobExit::parse("3:0", Some(768)),
            mode: AssessMode {
                trigger: Trigger::Option,
                requested: None,
                summary: false,
            },
            plugin_version: "0.1.0".into(),
            slurm_version: "22.05.8".into(),
            host: None,
            meters: vec![],
            absent_meters: vec![],
            flags: vec![],
            summary_error: None,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<JobNodeRecord>(&json).unwrap(), r);
        assert_eq!(r.duration_s(), Some(3.5));
        assert_eq!(r.exit.unwrap().to_string(), "3:0");
    }

    #[test]
    fn reads_records_from_a_newer_writer() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["state"] = "archived".into();
        v["flags"] = serde_json::json!(["no-prolog-state", "something-new"]);
        v["a_field_from_the_future"] = 1.into();
        let r: JobNodeRecord = serde_json::from_value(v).unwrap();
        assert_eq!(r.state, RecordState::Unknown);
        assert_eq!(r.flags, [RecordFlag::NoPrologState, RecordFlag::Unknown]);
    }

    pub(crate) fn meter(scope: Scope, energy_j: f64) -> MeterReport {
        MeterReport {
            id: format!("{scope:?}"),
            scope,
            label: None,
            method: Method::Counter,
            energy_j,
            first_raw: None,
            last_raw: None,
            max_raw: None,
            wraps: 0,
            resets: 0,
            samples: 2,
            rejected: 0,
            power_w: None,
            job_owned: None,
            series: None,
            flags: vec![],
        }
    }

    #[test]
    fn node_energy_prefers_whole_node_meters_and_never_sums_overlaps() {
        let mut r = sample();
        assert_eq!(r.node_energy_j(), None);
        r.meters = vec![meter(Scope::Platform, 500.0)];
        assert_eq!(r.node_energy_j(), Some((500.0, EnergyBasis::Platform)));
        r.meters.extend([
            meter(Scope::CpuPackage, 100.0),
            meter(Scope::CpuPackage, 110.0),
            meter(Scope::Core, 80.0),
            meter(Scope::Dram, 20.0),
            meter(Scope::GpuBoard, 300.0),
        ]);
        assert_eq!(r.node_energy_j(), Some((530.0, EnergyBasis::Components)));
        r.meters.push(meter(Scope::NodeBmc, 900.0));
        assert_eq!(r.node_energy_j(), Some((900.0, EnergyBasis::Bmc)));
        r.meters.push(meter(Scope::NodeWattmeter, 1000.0));
        assert_eq!(r.node_energy_j(), Some((1000.0, EnergyBasis::Wattmeter)));
    }

    fn with_series(watts: Vec<f32>) -> JobNodeRecord {
        let mut r = sample();
        let mut m = meter(Scope::NodeBmc, 4200.0);
        m.series = Some(PowerSeries {
            start: UnixMicros(1_000_000),
            step_s: 10.0,
            watts,
        });
        r.meters = vec![m];
        r
    }

    /// `r` in schema 2's layout: each meter's series in it, under `series_b64`.
    fn schema_2_value(r: &JobNodeRecord) -> serde_json::Value {
        serde_json::from_slice(&crate::spool::encode_record_schema_2(r)).unwrap()
    }

    #[test]
    fn series_are_written_as_base64_floats_and_read_back_exactly() {
        let watts = vec![412.25, -1.0, 0.0, 1e-7, f32::MAX, 399.999_97];
        let r = with_series(watts.clone());
        let bytes = crate::spool::encode_record(&r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let m = &v["meters"][0];
        assert!(
            m.get("series").is_none() && m.get("series_b64").is_none(),
            "{m}"
        );
        let coded = v["series"]["NodeBmc"]["watts"].as_str().unwrap();
        // 6 floats, 24 bytes, 32 characters; 412.25 is 0x43CE2000, little-endian 00 20 CE 43.
        assert_eq!(coded.len(), 32);
        assert_eq!(&coded[..4], crate::base64::encode(&[0x00, 0x20, 0xCE]));
        let back = crate::spool::decode_record(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.meters[0].series.as_ref().unwrap().watts, watts);
        // Schema 2's layout is read into the same record.
        let old = serde_json::to_vec(&schema_2_value(&r)).unwrap();
        let back = crate::spool::decode_record(&old).unwrap();
        assert_eq!(back.meters, r.meters);
    }

    #[test]
    fn reads_schema_1_series_as_json_arrays() {
        let mut v = schema_2_value(&with_series(vec![]));
        v["schema_version"] = 1.into();
        let m = v["meters"][0].as_object_mut().unwrap();
        m.remove("series_b64");
        m.insert(
            "series".into(),
            serde_json::json!({"start": 1_000_000, "step_s": 10.0, "watts": [101.5, 99, -1.0]}),
        );
        let r: JobNodeRecord = serde_json::from_value(v).unwrap();
        assert_eq!(
            r.meters[0].series.as_ref().unwrap().watts,
            vec![101.5, 99.0, -1.0]
        );
        // Garbage in the base64 form is an error that says where, in both layouts.
        let mut v = schema_2_value(&with_series(vec![1.0]));
        v["meters"][0]["series_b64"]["watts"] = "AAA*".into();
        let e = serde_json::from_value::<JobNodeRecord>(v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64 at character 3"), "{e}");
        let mut v = schema_2_value(&with_series(vec![1.0]));
        v["meters"][0]["series_b64"]["watts"] = "AAAA".into();
        let e = serde_json::from_value::<JobNodeRecord>(v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 bytes is not a whole number"), "{e}");
        let bytes = crate::spool::encode_record(&with_series(vec![1.0])).unwrap();
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("AACAPw==", "AAA*");
        let e = crate::spool::decode_record(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64 at character 3"), "{e}");
    }

    #[test]
    fn older_readers_pass_over_newer_series() {
        // What a post-processor built for schema 1 declared for a meter's series.
        #[derive(Deserialize)]
        struct OldSeries {
            #[allow(dead_code)]
            watts: Vec<f32>,
        }
        #[derive(Deserialize)]
        struct OldMeter {
            energy_j: f64,
            #[serde(default)]
            series: Option<OldSeries>,
        }
        #[derive(Deserialize)]
        struct OldRecord {
            meters: Vec<OldMeter>,
        }
        let r = with_series(vec![5.0; 30]);
        for text in [
            serde_json::to_vec(&schema_2_value(&r)).unwrap(),
            crate::spool::encode_record(&r).unwrap(),
        ] {
            let old: OldRecord = serde_json::from_slice(&text).unwrap();
            assert_eq!(old.meters[0].energy_j, 4200.0);
            assert!(old.meters[0].series.is_none());
        }
        // A reader of schema 2 (this struct, read without `decode_record`) takes a schema 3
        // record whole but for its series.
        let bytes = crate::spool::encode_record(&r).unwrap();
        let plain: JobNodeRecord = serde_json::from_slice(&bytes).unwrap();
        assert!(plain.meters[0].series.is_none());
        assert_eq!(plain.meters[0].energy_j, 4200.0);
    }

    #[test]
    fn exit_codes_parse_slurm_form() {
        assert_eq!(JobExit::parse("0:15", None).unwrap().signal, 15);
        assert!(JobExit::parse("x", None).is_none());
        assert!(JobExit::parse("1:", None).is_none());
    }
}
