//! NVIDIA GPUs through NVML (`nvml-wrapper`, which `dlopen`s `libnvidia-ml.so.1` or a library
//! named by path, so that tests can load a fake one).
//!
//! Per GPU, the primary source is the cumulative energy counter
//! (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver was loaded, Volta and newer);
//! where the counter is not supported, board power (`nvmlDeviceGetPowerUsage`, mW) is
//! integrated instead and the meter is flagged `power-fallback`. A counter that goes back
//! (driver reload) is a reset, flagged by the accumulator. Each GPU is identified by its UUID
//! and marked as the job's or not, from Slurm's GPU allocation ([`match_job_gpus`]).
//!
//! NVML is initialised once per process, only in the sampler (and in `list_gpus`), never in
//! the plugin itself: initialisation can take seconds without persistence mode, and the
//! library starts threads of its own.

use crate::source::{CounterUnit, MeterKind, MeterSpec, Raw, ReadError, Source};
use ea_record::{AbsentMeter, GpuInfo, MeterFlag, Scope};
use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;
use std::path::Path;

/// No GPU board draws this much; a counter implying more was reset.
const MAX_PLAUSIBLE_GPU_W: f64 = 5_000.0;

/// One GPU, for the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDescription {
    /// NVML's index (the order of `nvidia-smi`).
    pub index: u32,
    /// `GPU-...`.
    pub uuid: String,
    /// The model, as NVML names it.
    pub name: String,
    /// Its memory, MiB.
    pub memory_total_mib: u64,
}

/// Loads NVML from `library` (`None`: the system's `libnvidia-ml.so.1`) and initialises it.
fn init(library: Option<&Path>) -> Result<Nvml, NvmlListError> {
    let result = match library {
        Some(path) => Nvml::builder().lib_path(path.as_os_str()).init(),
        None => Nvml::init(),
    };
    result.map_err(|error| NvmlListError::Init {
        library: library.map(Path::to_path_buf),
        error,
    })
}

/// Why NVML could not say which GPUs the node has.
#[derive(Debug)]
pub enum NvmlListError {
    /// libnvidia-ml could not be loaded or initialised; the message names the library and the
    /// likely cause (no driver, no permission).
    Init {
        /// The library asked for; `None`: the system's.
        library: Option<std::path::PathBuf>,
        /// What NVML answered.
        error: NvmlError,
    },
    /// A query about the GPUs failed.
    Query {
        /// Which (`device count`, `GPU 2 UUID`).
        what: String,
        /// What NVML answered.
        error: NvmlError,
    },
}

impl std::fmt::Display for NvmlListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NvmlListError::Init { library, error } => {
                f.write_str(&describe_init_error(library.as_deref(), error))
            }
            NvmlListError::Query { what, error } => write!(f, "NVML {what}: {error}"),
        }
    }
}

impl std::error::Error for NvmlListError {}

fn describe_init_error(library: Option<&Path>, e: &NvmlError) -> String {
    let lib = library.map_or_else(
        || "libnvidia-ml.so.1".to_string(),
        |p| p.display().to_string(),
    );
    match e {
        NvmlError::LibloadingError(inner) => {
            format!("cannot load {lib} (no NVIDIA driver on this node?): {inner}")
        }
        NvmlError::DriverNotLoaded => format!("{lib} loaded, but the NVIDIA driver is not running"),
        NvmlError::NoPermission => format!("{lib}: no permission to talk to the NVIDIA driver"),
        other => format!("cannot initialise NVML from {lib}: {other}"),
    }
}

/// The GPUs NVML sees, for `energy-assess inventory collect`.
///
/// # Errors
/// A sentence when NVML cannot be loaded or initialised, or a GPU cannot be described.
pub fn list_gpus(nvml_library: Option<&Path>) -> Result<Vec<GpuDescription>, NvmlListError> {
    let nvml = init(nvml_library)?;
    let query = |what: String| move |error: NvmlError| NvmlListError::Query { what, error };
    let count = nvml.device_count().map_err(query("device count".into()))?;
    (0..count)
        .map(|index| {
            let d = nvml
                .device_by_index(index)
                .map_err(query(format!("GPU {index}")))?;
            let uuid = d.uuid().map_err(query(format!("GPU {index} UUID")))?;
            let name = d.name().map_err(query(format!("GPU {index} name")))?;
            let mem = d
                .memory_info()
                .map_err(query(format!("GPU {index} memory")))?;
            Ok(GpuDescription {
                index,
                uuid,
                name,
                memory_total_mib: mem.total / (1024 * 1024),
            })
        })
        .collect()
}

/// Which GPUs a job holds, from the values Slurm or CUDA put in its environment.
///
/// Each item of `job_gpus` is an index (`SLURM_JOB_GPUS=0,2`, the node's global indices, as
/// Slurm numbers them in the prolog), a full UUID (`GPU-5e6d...`), or a UUID prefix of at
/// least 8 characters that matches exactly one GPU (as CUDA accepts in
/// `CUDA_VISIBLE_DEVICES`). Returns, per GPU of `gpus` (index, uuid), whether the job holds
/// it, and the items that matched no GPU (MIG instances, `NoDevFiles`, stale indices).
pub fn match_job_gpus(job_gpus: &[String], gpus: &[(u32, &str)]) -> (Vec<bool>, Vec<String>) {
    let mut owned = vec![false; gpus.len()];
    let mut unmatched = Vec::new();
    for item in job_gpus.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let hit: Vec<usize> = if item.bytes().all(|b| b.is_ascii_digit()) {
            let want: Option<u32> = item.parse().ok();
            gpus.iter()
                .enumerate()
                .filter(|(_, (i, _))| Some(*i) == want)
                .map(|(k, _)| k)
                .collect()
        } else if item.len() >= 8
            && item.is_char_boundary(4)
            && item[..4].eq_ignore_ascii_case("GPU-")
        {
            let exact: Vec<usize> = gpus
                .iter()
                .enumerate()
                .filter(|(_, (_, u))| u.eq_ignore_ascii_case(item))
                .map(|(k, _)| k)
                .collect();
            if exact.is_empty() {
                let prefixed: Vec<usize> = gpus
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, u))| {
                        u.len() >= item.len() && u[..item.len()].eq_ignore_ascii_case(item)
                    })
                    .map(|(k, _)| k)
                    .collect();
                if prefixed.len() == 1 {
                    prefixed
                } else {
                    Vec::new()
                }
            } else {
                exact
            }
        } else {
            Vec::new()
        };
        if hit.is_empty() {
            unmatched.push(item.to_string());
        }
        for k in hit {
            owned[k] = true;
        }
    }
    (owned, unmatched)
}

/// The job's GPU list from a job environment: `SLURM_JOB_GPUS` (the prolog's), else
/// `CUDA_VISIBLE_DEVICES`, else `GPU_DEVICE_ORDINAL`, split at commas. `get` looks a variable
/// up (the prolog's environment, or the job's).
pub fn job_gpus_from_env(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    for var in [
        "SLURM_JOB_GPUS",
        "CUDA_VISIBLE_DEVICES",
        "GPU_DEVICE_ORDINAL",
    ] {
        if let Some(v) = get(var).filter(|v| !v.trim().is_empty()) {
            return v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    Vec::new()
}

#[derive(Debug)]
struct Gpu {
    uuid: String,
    counter: bool,
    /// Its power can be read too (a GPU with a counter is read by power between counter
    /// readings only then).
    power: bool,
    /// Readings by power before the counter is read again (0: the next reading reads it).
    power_readings_left: u32,
    /// NVML's handle, valid until `nvmlShutdown` (when `nvml` is dropped, with this struct).
    /// Cached because looking it up by index costs an NVML call per GPU per reading.
    handle: crate::ffi::DeviceHandle,
}

/// The node's NVIDIA GPUs.
pub struct NvmlSource {
    nvml: Nvml,
    gpus: Vec<Gpu>,
    power_alongside: bool,
    specs: Vec<MeterSpec>,
    /// A GPU's energy counter is read at one reading in this many, its power at the others
    /// (see [`NvmlSource::with_counter_every`]).
    counter_every: u32,
    /// The next reading reads every counter (the final reading).
    counters_next: bool,
}

impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlSource")
            .field("gpus", &self.gpus)
            .finish()
    }
}

/// What opening NVML found.
#[derive(Debug, Default)]
pub struct NvmlFound {
    /// The GPUs' meters; `None` when NVML cannot be used.
    pub source: Option<NvmlSource>,
    /// GPUs or NVML itself not used, with why.
    pub absent: Vec<AbsentMeter>,
    /// Every GPU, for the record's host information.
    pub gpus: Vec<GpuInfo>,
    /// UUIDs of the job's GPUs.
    pub job_gpu_uuids: Vec<String>,
    /// Things worth a line in the slurmd log.
    pub notes: Vec<String>,
}

impl NvmlSource {
    /// Initialises NVML and describes every GPU. Never fails: a node without the library or
    /// the driver gets an absent meter with the reason and no error.
    ///
    /// `power_alongside` adds, for each GPU with an energy counter, a second meter
    /// `nvml:<uuid>:power` that integrates board power, so that the two can be compared (the
    /// real-GPU check does this; the sampler does not, since both cover the same board).
    pub fn open(library: Option<&Path>, job_gpus: &[String], power_alongside: bool) -> NvmlFound {
        let mut found = NvmlFound::default();
        let absent = |reason: String| AbsentMeter {
            source: "nvml".into(),
            reason,
        };
        let nvml = match init(library) {
            Ok(n) => n,
            Err(why) => {
                found.absent.push(absent(why.to_string()));
                return found;
            }
        };
        let count = match nvml.device_count() {
            Ok(0) => {
                found.absent.push(absent("NVML sees no GPU".into()));
                return found;
            }
            Ok(n) => n,
            Err(e) => {
                found.absent.push(absent(format!("NVML device count: {e}")));
                return found;
            }
        };
        let described: Vec<(Gpu, Option<String>)> = (0..count)
            .filter_map(|index| describe_gpu(&nvml, index, &mut found))
            .collect();
        found.job_gpu_uuids = job_gpu_uuids(&mut found, job_gpus);
        let specs = described
            .iter()
            .flat_map(|(gpu, name)| {
                let owned = found.job_gpu_uuids.contains(&gpu.uuid);
                gpu_specs(gpu, name, owned, power_alongside)
            })
            .collect();
        if described.is_empty() {
            return found;
        }
        let gpus = described.into_iter().map(|(g, _)| g).collect();
        found.source = Some(Self {
            nvml,
            gpus,
            power_alongside,
            specs,
            counter_every: 1,
            counters_next: false,
        });
        found
    }

    /// Reads each GPU's energy counter at one reading in `readings` only (and at the first,
    /// and at the one after [`Source::counters_next`]), its power at the others; 0 or 1: the
    /// counter at every reading (the default, and always with `power_alongside`).
    ///
    /// Why: on an H100 (driver 580, `tests/gpu/results/h100-run2/nvml-check.txt`)
    /// `nvmlDeviceGetTotalEnergyConsumption` costs 3.9 ms of CPU a call, `nvmlDeviceGetPowerUsage`
    /// 9 µs. The counter's readings still bound every figure: the accumulator replaces the
    /// power integrated between two of them by their difference
    /// ([`crate::accumulate::MeterAccumulator`]), so a job's energy is the counter's last
    /// reading minus its first, and the power readings only shape the series between.
    pub fn with_counter_every(mut self, readings: u32) -> Self {
        self.counter_every = readings.max(1);
        self
    }

    /// Reads one GPU's meter: its counter when due, else its power.
    fn read_gpu(&self, gpu: &mut Gpu, out: &mut Vec<Result<Raw, ReadError>>) {
        // The handle came from this `nvml` (see `Gpu::handle`).
        let d = gpu.handle.device(&self.nvml);
        let power = |d: &nvml_wrapper::Device| {
            d.power_usage()
                .map(|mw| Raw::Watts(mw as f64 / 1e3))
                .map_err(|e| ReadError(format!("{} power: {e}", gpu.uuid)))
        };
        if !gpu.counter {
            out.push(power(&d));
            return;
        }
        let by_power = !self.power_alongside
            && gpu.power
            && !self.counters_next
            && gpu.power_readings_left > 0;
        if by_power {
            gpu.power_readings_left -= 1;
            out.push(power(&d));
            return;
        }
        let counter = d
            .total_energy_consumption()
            .map(Raw::Counter)
            .map_err(|e| ReadError(format!("{} energy counter: {e}", gpu.uuid)));
        // A failed counter reading is tried again at the next reading.
        if counter.is_ok() {
            gpu.power_readings_left = self.counter_every - 1;
        }
        out.push(counter);
        if self.power_alongside {
            out.push(power(&d));
        }
    }
}

/// Describes GPU `index` into `found.gpus`, and returns it with its name when one of its
/// meters can be read; otherwise says why in `found.absent` or `found.notes`.
fn describe_gpu(nvml: &Nvml, index: u32, found: &mut NvmlFound) -> Option<(Gpu, Option<String>)> {
    let absent = |reason: String| AbsentMeter {
        source: format!("nvml:{index}"),
        reason,
    };
    let device = match nvml.device_by_index(index) {
        Ok(d) => d,
        Err(e) => {
            found.absent.push(absent(format!("GPU {index}: {e}")));
            return None;
        }
    };
    let uuid = match device.uuid() {
        Ok(u) => u,
        Err(e) => {
            let why = format!("GPU {index} has no readable UUID: {e}");
            found.absent.push(absent(why));
            return None;
        }
    };
    let name = device.name().ok();
    let counter = match device.total_energy_consumption() {
        Ok(_) => true,
        Err(NvmlError::NotSupported) => false,
        Err(e) => {
            found.notes.push(format!(
                "GPU {index} ({uuid}): energy counter unreadable ({e}); integrating power instead"
            ));
            false
        }
    };
    if !counter && let Err(e) = device.power_usage() {
        found.absent.push(AbsentMeter {
            source: format!("nvml:{uuid}"),
            reason: format!("GPU {index}: neither the energy counter nor power can be read: {e}"),
        });
        found.gpus.push(GpuInfo { index, uuid, name });
        return None;
    }
    found.gpus.push(GpuInfo {
        index,
        uuid: uuid.clone(),
        name: name.clone(),
    });
    let handle = crate::ffi::DeviceHandle::of(&device);
    let power = counter && device.power_usage().is_ok();
    let gpu = Gpu {
        uuid,
        counter,
        power,
        power_readings_left: 0,
        handle,
    };
    Some((gpu, name))
}

/// The UUIDs of the job's GPUs among `found.gpus` (Slurm names them by index or UUID); a
/// note for those the node does not have.
fn job_gpu_uuids(found: &mut NvmlFound, job_gpus: &[String]) -> Vec<String> {
    let pairs: Vec<(u32, &str)> = found
        .gpus
        .iter()
        .map(|g| (g.index, g.uuid.as_str()))
        .collect();
    let (owned_all, unmatched) = match_job_gpus(job_gpus, &pairs);
    if !unmatched.is_empty() {
        found.notes.push(format!(
            "job GPUs not found on this node: {}",
            unmatched.join(",")
        ));
    }
    found
        .gpus
        .iter()
        .zip(&owned_all)
        .filter(|(_, o)| **o)
        .map(|(g, _)| g.uuid.clone())
        .collect()
}

/// The meters of one GPU: its energy counter, or its power when it has none; with
/// `power_alongside`, its power beside its counter too.
fn gpu_specs(
    gpu: &Gpu,
    name: &Option<String>,
    owned: bool,
    power_alongside: bool,
) -> Vec<MeterSpec> {
    let base = MeterSpec {
        id: format!("nvml:{}", gpu.uuid),
        scope: Scope::GpuBoard,
        label: name.clone(),
        kind: if gpu.counter {
            MeterKind::Counter {
                unit: CounterUnit::Millijoule,
                max_raw: None,
            }
        } else {
            MeterKind::Power
        },
        job_owned: Some(owned),
        min_plausible_w: 0.0,
        max_plausible_w: MAX_PLAUSIBLE_GPU_W,
        flags: if gpu.counter {
            vec![]
        } else {
            vec![MeterFlag::PowerFallback]
        },
    };
    let shadow = (power_alongside && gpu.counter).then(|| MeterSpec {
        id: format!("nvml:{}:power", gpu.uuid),
        kind: MeterKind::Power,
        ..base.clone()
    });
    std::iter::once(base).chain(shadow).collect()
}

impl Source for NvmlSource {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn meters(&self) -> &[MeterSpec] {
        &self.specs
    }

    fn read_into(&mut self, out: &mut Vec<Result<Raw, ReadError>>) {
        let mut gpus = std::mem::take(&mut self.gpus);
        for gpu in &mut gpus {
            self.read_gpu(gpu, out);
        }
        self.gpus = gpus;
        self.counters_next = false;
    }

    fn counters_next(&mut self) {
        self.counters_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "GPU-5e6d0a29-aaaa-bbbb-cccc-000000000000";
    const B: &str = "GPU-9f1c2b3d-aaaa-bbbb-cccc-111111111111";

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn job_gpus_by_index_uuid_and_prefix() {
        let gpus = [(0, A), (1, B)];
        assert_eq!(
            match_job_gpus(&v(&["1"]), &gpus),
            (vec![false, true], vec![])
        );
        assert_eq!(
            match_job_gpus(&v(&["0", "1"]), &gpus),
            (vec![true, true], vec![])
        );
        assert_eq!(match_job_gpus(&v(&[B]), &gpus), (vec![false, true], vec![]));
        assert_eq!(
            match_job_gpus(&v(&["GPU-5e6d0a29"]), &gpus),
            (vec![true, false], vec![])
        );
        assert_eq!(
            match_job_gpus(&v(&[&A.to_lowercase()]), &gpus).0,
            vec![true, false]
        );
        // Too short, ambiguous, MIG, unknown index, Slurm's "no GPU" marker.
        assert_eq!(match_job_gpus(&v(&["GPU-"]), &gpus).1, v(&["GPU-"]));
        let both = [(0, "GPU-12345678-a"), (1, "GPU-12345678-b")];
        assert_eq!(
            match_job_gpus(&v(&["GPU-12345678"]), &both),
            (vec![false, false], v(&["GPU-12345678"]))
        );
        let (owned, unmatched) =
            match_job_gpus(&v(&["MIG-1234-5678", "7", "NoDevFiles", " "]), &gpus);
        assert_eq!(owned, vec![false, false]);
        assert_eq!(unmatched, v(&["MIG-1234-5678", "7", "NoDevFiles"]));
    }

    #[test]
    fn job_gpus_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            job_gpus_from_env(env(&[
                ("SLURM_JOB_GPUS", "0,2"),
                ("CUDA_VISIBLE_DEVICES", "0,1")
            ])),
            v(&["0", "2"])
        );
        assert_eq!(
            job_gpus_from_env(env(&[("CUDA_VISIBLE_DEVICES", "GPU-abc, GPU-def")])),
            v(&["GPU-abc", "GPU-def"])
        );
        assert_eq!(
            job_gpus_from_env(env(&[("SLURM_JOB_GPUS", ""), ("GPU_DEVICE_ORDINAL", "3")])),
            v(&["3"])
        );
        assert!(job_gpus_from_env(env(&[])).is_empty());
    }

    // ---- Through the real nvml-wrapper code path, with the fake libnvidia-ml -------------
    //
    // The fake reads its GPUs from the file named by EA_FAKE_NVML_CONFIG; tests never change
    // their own environment, so each scenario runs as an ignored test in a child process
    // (`testutil::run_child_test`) and the parent checks that it passed.

    use crate::testutil::{TempDir, fake_nvml_lib, run_child_test};
    use nvidia_ml_fake::{FakeConfig, FakeGpu, now_unix_s};

    fn fake_config(dir: &Path, config: &FakeConfig) -> std::path::PathBuf {
        let p = dir.join("fake-nvml.json");
        config.write(&p).unwrap();
        p
    }

    fn two_gpus(since: f64) -> FakeConfig {
        let mut old = FakeGpu::new(B, "Tesla P100 (fake)", 120.0, since);
        old.energy_counter = false;
        FakeConfig {
            init_error: None,
            driver_version: "999.1-fake".into(),
            gpus: vec![
                FakeGpu::new(A, "NVIDIA H100 80GB HBM3 (fake)", 300.0, since),
                old,
            ],
        }
    }

    fn child(test: &str, config: &Path) {
        let lib = fake_nvml_lib();
        run_child_test(
            &format!("nvml::tests::{test}"),
            &[
                ("EA_FAKE_NVML_CONFIG", config.as_os_str()),
                ("EA_FAKE_NVML_LIB", lib.as_os_str()),
            ],
            false,
        );
    }

    fn lib_from_env() -> std::path::PathBuf {
        std::env::var_os("EA_FAKE_NVML_LIB")
            .expect("EA_FAKE_NVML_LIB")
            .into()
    }

    #[test]
    fn fake_nvml_counter_power_fallback_and_job_gpus() {
        let t = TempDir::new("nvml-fake");
        child(
            "child_counter_power_fallback_and_job_gpus",
            &fake_config(t.path(), &two_gpus(now_unix_s() - 100.0)),
        );
    }

    #[test]
    #[ignore = "child of fake_nvml_counter_power_fallback_and_job_gpus"]
    fn child_counter_power_fallback_and_job_gpus() {
        let config: FakeConfig = serde_json::from_slice(
            &std::fs::read(std::env::var_os("EA_FAKE_NVML_CONFIG").unwrap()).unwrap(),
        )
        .unwrap();
        let lib = lib_from_env();
        let found = NvmlSource::open(Some(&lib), &["1".to_string()], false);
        assert!(found.absent.is_empty(), "{:?}", found.absent);
        assert_eq!(
            found
                .gpus
                .iter()
                .map(|g| (g.index, g.uuid.as_str(), g.name.as_deref()))
                .collect::<Vec<_>>(),
            [
                (0, A, Some("NVIDIA H100 80GB HBM3 (fake)")),
                (1, B, Some("Tesla P100 (fake)"))
            ]
        );
        assert_eq!(found.job_gpu_uuids, [B]);
        let mut src = found.source.unwrap();
        let specs: Vec<_> = src
            .meters()
            .iter()
            .map(|m| (m.id.clone(), m.kind, m.job_owned, m.flags.clone()))
            .collect();
        assert_eq!(
            specs,
            [
                (
                    format!("nvml:{A}"),
                    MeterKind::Counter {
                        unit: CounterUnit::Millijoule,
                        max_raw: None
                    },
                    Some(false),
                    vec![]
                ),
                (
                    format!("nvml:{B}"),
                    MeterKind::Power,
                    Some(true),
                    vec![MeterFlag::PowerFallback]
                ),
            ]
        );
        let before = now_unix_s();
        let mut out = Vec::new();
        src.read_into(&mut out);
        let after = now_unix_s();
        let Ok(Raw::Counter(mj)) = out[0] else {
            panic!("{out:?}")
        };
        assert!(
            mj >= config.gpus[0].counter_mj_at(before) && mj <= config.gpus[0].counter_mj_at(after),
            "{mj}"
        );
        assert_eq!(out[1], Ok(Raw::Watts(120.0)));

        // Side by side (the real-GPU check's mode): a power meter after each counter meter.
        let found = NvmlSource::open(Some(&lib), &[A.to_string()], true);
        let ids: Vec<_> = found
            .source
            .as_ref()
            .unwrap()
            .meters()
            .iter()
            .map(|m| (m.id.clone(), m.job_owned))
            .collect();
        assert_eq!(
            ids,
            [
                (format!("nvml:{A}"), Some(true)),
                (format!("nvml:{A}:power"), Some(true)),
                (format!("nvml:{B}"), Some(false))
            ]
        );
        let mut out = Vec::new();
        found.source.unwrap().read_into(&mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1], Ok(Raw::Watts(300.0)));

        let gpus = list_gpus(Some(&lib)).unwrap();
        assert_eq!(
            gpus[0],
            GpuDescription {
                index: 0,
                uuid: A.into(),
                name: "NVIDIA H100 80GB HBM3 (fake)".into(),
                memory_total_mib: 81_559
            }
        );
        assert_eq!(gpus.len(), 2);
    }

    #[test]
    fn fake_nvml_counter_read_at_one_reading_in_four_and_at_the_last() {
        let t = TempDir::new("nvml-every");
        let config = fake_config(t.path(), &two_gpus(now_unix_s() - 100.0));
        let calls = t.path().join("calls.json");
        let lib = fake_nvml_lib();
        run_child_test(
            "nvml::tests::child_counter_read_at_one_reading_in_four_and_at_the_last",
            &[
                ("EA_FAKE_NVML_CONFIG", config.as_os_str()),
                ("EA_FAKE_NVML_LIB", lib.as_os_str()),
                (nvidia_ml_fake::CALLS_ENV, calls.as_os_str()),
            ],
            false,
        );
    }

    #[test]
    #[ignore = "child of fake_nvml_counter_read_at_one_reading_in_four_and_at_the_last"]
    fn child_counter_read_at_one_reading_in_four_and_at_the_last() {
        use crate::accumulate::{Instant, MeterAccumulator};
        use nvidia_ml_fake::CallCounts;
        let mut src = NvmlSource::open(Some(&lib_from_env()), &[], false)
            .source
            .unwrap()
            .with_counter_every(4);
        let n = 11;
        let mut readings = Vec::new();
        for i in 0..n {
            if i == n - 1 {
                src.counters_next();
            }
            let mut out = Vec::new();
            src.read_into(&mut out);
            // The GPU without a counter is read by power every time.
            assert_eq!(out[1], Ok(Raw::Watts(120.0)));
            readings.push((Instant::now(), out.swap_remove(0)));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The job starts at the first reading: no gap before it is filled.
        let start_us = readings[0].0.mono_us;
        let mut acc = MeterAccumulator::new(src.meters()[0].clone(), start_us, 10_000, 100);
        let mut kinds = String::new();
        for (at, value) in readings {
            kinds.push(match value {
                Ok(Raw::Counter(_)) => 'C',
                Ok(Raw::Watts(_)) => 'p',
                Err(_) => 'e',
            });
            acc.add(at, value);
        }
        // The first reading, one in four after it, and the last (asked for).
        assert_eq!(kinds, "CpppCpppCpC");
        let r = acc.report(None);
        let counted_j = (r.last_raw.unwrap() - r.first_raw.unwrap()) as f64 / 1e3;
        assert!(counted_j > 0.0);
        assert!(
            (r.energy_j - counted_j).abs() < 1e-9,
            "{} {counted_j}",
            r.energy_j
        );
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert_eq!(r.samples, n);
        drop(src); // nvmlShutdown: the fake writes its call counts
        let calls = std::path::PathBuf::from(std::env::var_os(nvidia_ml_fake::CALLS_ENV).unwrap());
        // Opening probes each GPU's counter and power once; then 4 counter readings of the
        // first GPU, and its 7 power readings beside the other's 11.
        assert_eq!(
            CallCounts::read(&calls).unwrap(),
            CallCounts {
                total_energy_consumption: 2 + 4,
                power_usage: 2 + 7 + 11,
            }
        );
    }

    #[test]
    fn fake_nvml_driver_reload_is_a_flagged_reset() {
        let t = TempDir::new("nvml-reload");
        child(
            "child_driver_reload_is_a_flagged_reset",
            &fake_config(t.path(), &two_gpus(now_unix_s() - 1000.0)),
        );
    }

    #[test]
    #[ignore = "child of fake_nvml_driver_reload_is_a_flagged_reset"]
    fn child_driver_reload_is_a_flagged_reset() {
        use crate::accumulate::{Instant, MeterAccumulator};
        let path = std::path::PathBuf::from(std::env::var_os("EA_FAKE_NVML_CONFIG").unwrap());
        let mut config: FakeConfig =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let found = NvmlSource::open(Some(&lib_from_env()), &[], false);
        let mut src = found.source.unwrap();
        let mut acc = MeterAccumulator::new(
            src.meters()[0].clone(),
            Instant::now().mono_us,
            100_000,
            100,
        );
        let mut read = |acc: &mut MeterAccumulator| {
            let mut out = Vec::new();
            src.read_into(&mut out);
            acc.add(Instant::now(), out.swap_remove(0));
        };
        read(&mut acc);
        std::thread::sleep(std::time::Duration::from_millis(200));
        read(&mut acc);
        // The driver is reloaded: the counter starts again near 0. (The file's mtime must
        // change for the fake to re-read it; wait a little so that it does.)
        std::thread::sleep(std::time::Duration::from_millis(20));
        config.gpus[0].reload_driver_at(now_unix_s());
        config.write(&path).unwrap();
        read(&mut acc);
        std::thread::sleep(std::time::Duration::from_millis(200));
        read(&mut acc);
        let r = acc.report(None);
        assert_eq!(r.resets, 1);
        assert!(r.flags.contains(&MeterFlag::Reset), "{:?}", r.flags);
        // Two good intervals of about 0.2 s at 300 W; the one with the reload is lost.
        assert!(r.energy_j > 100.0 && r.energy_j < 150.0, "{}", r.energy_j);
    }

    #[test]
    fn fake_nvml_without_driver_is_absent() {
        let t = TempDir::new("nvml-nodriver");
        let config = FakeConfig {
            init_error: Some("driver-not-loaded".into()),
            ..two_gpus(0.0)
        };
        child(
            "child_without_driver_is_absent",
            &fake_config(t.path(), &config),
        );
    }

    #[test]
    #[ignore = "child of fake_nvml_without_driver_is_absent"]
    fn child_without_driver_is_absent() {
        let found = NvmlSource::open(Some(&lib_from_env()), &["0".into()], false);
        assert!(found.source.is_none() && found.gpus.is_empty());
        assert!(
            found.absent[0]
                .reason
                .contains("the NVIDIA driver is not running"),
            "{:?}",
            found.absent
        );
    }

    #[test]
    fn fake_nvml_lost_gpu_is_absent_and_others_measured() {
        let t = TempDir::new("nvml-lost");
        let mut config = two_gpus(0.0);
        config.gpus[0].lost = true;
        child(
            "child_lost_gpu_is_absent_and_others_measured",
            &fake_config(t.path(), &config),
        );
    }

    #[test]
    #[ignore = "child of fake_nvml_lost_gpu_is_absent_and_others_measured"]
    fn child_lost_gpu_is_absent_and_others_measured() {
        let found = NvmlSource::open(Some(&lib_from_env()), &[], false);
        assert_eq!(found.absent.len(), 1, "{:?}", found.absent);
        assert!(
            found.absent[0]
                .reason
                .contains("GPU 0 has no readable UUID"),
            "{:?}",
            found.absent
        );
        assert_eq!(found.source.unwrap().meters().len(), 1);
    }

    #[test]
    fn a_node_without_nvml_has_no_gpu_meter_and_no_error() {
        let found = NvmlSource::open(
            Some(Path::new("/nonexistent/libnvidia-ml.so.1")),
            &[],
            false,
        );
        assert!(found.source.is_none());
        assert_eq!(found.absent.len(), 1);
        assert!(
            found.absent[0]
                .reason
                .contains("cannot load /nonexistent/libnvidia-ml.so.1"),
            "{:?}",
            found.absent
        );
        let e = list_gpus(Some(Path::new("/nonexistent/libnvidia-ml.so.1")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no NVIDIA driver"), "{e}");
    }
}
