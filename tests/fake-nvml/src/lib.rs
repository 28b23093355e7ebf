//! A fake `libnvidia-ml.so` for machines without an NVIDIA GPU (this project's build and CI
//! machines). It implements the NVML entry points that `nvml-wrapper` calls for energy-assess
//! (init/shutdown, error strings, driver version, device count, handle by index, index, UUID,
//! name, memory info, total energy consumption, power usage), with the C ABI and return codes
//! of NVML's `nvml.h`.
//!
//! Its GPUs come from a JSON file named by `EA_FAKE_NVML_CONFIG` ([`FakeConfig`]), re-read
//! whenever the file changes, so a test can change the power or "reload the driver" while a
//! sampler runs. The energy counter is a function of the wall clock:
//! `counter_offset_mj + power_w × (now − counter_since_unix_s) × 1000`, so every process that
//! loads the fake (the sampler, the epilog's snapshot) sees the same counter, and a test knows
//! the exact energy between two instants ([`FakeGpu::counter_mj_at`]).
//!
//! With `EA_FAKE_NVML_CALLS` set, the library counts the calls of the energy counter and of
//! power and writes them there at shutdown ([`CallCounts`]).
//!
//! Without `EA_FAKE_NVML_CONFIG`, the file `$EA_SYSROOT/fake-nvml.json` is used (the
//! sampler sets `EA_SYSROOT` to the sysroot it measures, so each simulated node of a one-host
//! cluster can have its own GPUs). Without either, initialisation fails with `NVML_ERROR_DRIVER_NOT_LOADED`,
//! like a node whose driver is not running.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "EA_FAKE_NVML_CONFIG";

/// The environment variable that names a file where the library writes, at its last
/// `nvmlShutdown` (when the process's `Nvml` is dropped), how often each reading entry point
/// was called ([`CallCounts`]): a test checks how often its code reads the energy counter,
/// which costs milliseconds of CPU on a real GPU where power costs microseconds.
pub const CALLS_ENV: &str = "EA_FAKE_NVML_CALLS";

/// Calls of the reading entry points over a process's use of the library (see
/// [`CALLS_ENV`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCounts {
    /// `nvmlDeviceGetTotalEnergyConsumption`, every GPU together.
    pub total_energy_consumption: u64,
    /// `nvmlDeviceGetPowerUsage`, every GPU together.
    pub power_usage: u64,
}

impl CallCounts {
    /// Reads the counts a process wrote at its shutdown.
    ///
    /// # Errors
    /// No such file (the process did not shut NVML down, or `CALLS_ENV` was not set for it),
    /// or not counts.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        serde_json::from_slice(&std::fs::read(path)?).map_err(std::io::Error::other)
    }

    /// Writes them atomically (temporary file and rename).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}

/// The fake's configuration (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeConfig {
    /// Make `nvmlInit` fail: `"driver-not-loaded"`, `"no-permission"` or `"unknown"`.
    #[serde(default)]
    pub init_error: Option<String>,
    /// What `nvmlSystemGetDriverVersion` answers (recorded in the records' host section).
    #[serde(default = "default_driver")]
    pub driver_version: String,
    /// The GPUs, in NVML index order.
    pub gpus: Vec<FakeGpu>,
}

fn default_driver() -> String {
    "999.99.99-fake".into()
}

/// One fake GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeGpu {
    /// `nvmlDeviceGetUUID` (`GPU-...`), what jobs' GPUs are matched by.
    pub uuid: String,
    /// `nvmlDeviceGetName`, what the inventory's model is matched by.
    pub name: String,
    /// `nvmlDeviceGetMemoryInfo`'s total, MiB.
    #[serde(default = "default_memory")]
    pub memory_total_mib: u64,
    /// Board power in watts, constant until the config changes.
    pub power_w: f64,
    /// Whether `nvmlDeviceGetTotalEnergyConsumption` is supported (Volta and newer).
    #[serde(default = "yes")]
    pub energy_counter: bool,
    /// When the counter was `counter_offset_mj` (the "driver load" time), Unix seconds.
    pub counter_since_unix_s: f64,
    /// The counter at `counter_since_unix_s`, mJ (a driver reload sets it back to 0).
    #[serde(default)]
    pub counter_offset_mj: u64,
    /// Every call on this GPU fails with `NVML_ERROR_GPU_IS_LOST`.
    #[serde(default)]
    pub lost: bool,
}

fn default_memory() -> u64 {
    81_559
}

fn yes() -> bool {
    true
}

/// Seconds since the Unix epoch, as a float.
pub fn now_unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl FakeGpu {
    /// A GPU drawing `power_w` whose counter started at 0 at `since_unix_s`.
    pub fn new(uuid: &str, name: &str, power_w: f64, since_unix_s: f64) -> Self {
        Self {
            uuid: uuid.into(),
            name: name.into(),
            memory_total_mib: default_memory(),
            power_w,
            energy_counter: true,
            counter_since_unix_s: since_unix_s,
            counter_offset_mj: 0,
            lost: false,
        }
    }

    /// The counter at `t_unix_s`, in mJ.
    pub fn counter_mj_at(&self, t_unix_s: f64) -> u64 {
        let elapsed = (t_unix_s - self.counter_since_unix_s).max(0.0);
        self.counter_offset_mj + (self.power_w * elapsed * 1000.0) as u64
    }

    /// Changes the power from `t_unix_s` on, keeping the counter continuous.
    pub fn set_power_from(&mut self, t_unix_s: f64, power_w: f64) {
        self.counter_offset_mj = self.counter_mj_at(t_unix_s);
        self.counter_since_unix_s = t_unix_s;
        self.power_w = power_w;
    }

    /// A driver reload at `t_unix_s`: the counter starts again from 0.
    pub fn reload_driver_at(&mut self, t_unix_s: f64) {
        self.counter_offset_mj = 0;
        self.counter_since_unix_s = t_unix_s;
    }
}

impl FakeConfig {
    /// Writes the config atomically (temporary file and rename), so the library never reads
    /// half a file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}

// The C side: NVML's entry points. All of the crate's `unsafe` is there.
mod ffi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_formula_and_power_changes() {
        let mut g = FakeGpu::new("GPU-1", "Fake", 100.0, 1_000.0);
        assert_eq!(g.counter_mj_at(999.0), 0);
        assert_eq!(g.counter_mj_at(1_010.0), 1_000_000);
        g.set_power_from(1_010.0, 300.0);
        assert_eq!(g.counter_mj_at(1_010.0), 1_000_000);
        assert_eq!(g.counter_mj_at(1_012.0), 1_600_000);
        g.reload_driver_at(1_012.0);
        assert_eq!(g.counter_mj_at(1_013.0), 300_000);
    }

    #[test]
    fn call_counts_round_trip() {
        let p = std::env::temp_dir().join(format!("fake-nvml-calls-{}", std::process::id()));
        let c = CallCounts {
            total_energy_consumption: 3,
            power_usage: 57,
        };
        c.write(&p).unwrap();
        assert_eq!(CallCounts::read(&p).unwrap(), c);
        std::fs::remove_file(&p).unwrap();
        assert!(CallCounts::read(&p).is_err());
    }

    #[test]
    fn config_is_strict() {
        let e = serde_json::from_str::<FakeConfig>(r#"{"gpus": [], "gpu": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `gpu`"), "{e}");
        let c: FakeConfig = serde_json::from_str(r#"{"gpus": [{"uuid": "GPU-1", "name": "x", "power_w": 5, "counter_since_unix_s": 0}]}"#).unwrap();
        assert!(c.gpus[0].energy_counter && !c.gpus[0].lost);
    }
}
