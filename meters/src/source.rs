//! What every meter source has in common: a list of meters, each described once, and a way to
//! read all of them.

use ea_record::{MeterFlag, Method, Scope};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The unit of a cumulative counter's raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CounterUnit {
    /// RAPL `energy_uj`, hwmon `energy*_input`.
    Microjoule,
    /// NVML `nvmlDeviceGetTotalEnergyConsumption`.
    Millijoule,
}

impl CounterUnit {
    /// Joules per raw unit.
    pub fn joules(self) -> f64 {
        match self {
            CounterUnit::Microjoule => 1e-6,
            CounterUnit::Millijoule => 1e-3,
        }
    }
}

/// How a meter reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeterKind {
    /// A cumulative energy counter; `max_raw` is its last value before it wraps to 0
    /// (`max_energy_range_uj` for RAPL), `None` if it does not wrap in practice.
    Counter {
        /// What one unit of the counter is.
        unit: CounterUnit,
        /// See above.
        max_raw: Option<u64>,
    },
    /// Instantaneous (or short-average) power in watts, integrated by trapezoids.
    Power,
}

/// One meter, as discovered: everything about it that does not change between readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterSpec {
    /// Stable id: `rapl:intel-rapl:0`, `nvml:GPU-<uuid>`, `ipmi:dcmi`, `hwmon:<name>/power1`.
    pub id: String,
    /// What part of the node it covers.
    pub scope: Scope,
    /// A human label (the RAPL zone's name, the GPU's model).
    pub label: Option<String>,
    /// Counter or power.
    pub kind: MeterKind,
    /// For devices that a job may or may not hold (GPUs): whether this job holds it.
    pub job_owned: Option<bool>,
    /// Power readings below this many watts are thrown away as glitches (a BMC that says 0 W
    /// for a running node is not measuring).
    #[serde(default)]
    pub min_plausible_w: f64,
    /// Power readings above this many watts are thrown away as glitches; a counter that
    /// advanced faster than twice this is treated as reset.
    pub max_plausible_w: f64,
    /// Flags known at discovery (e.g. `PowerFallback` for a GPU without an energy counter).
    #[serde(default)]
    pub flags: Vec<MeterFlag>,
}

impl MeterSpec {
    /// How its energy is obtained, as the record says it.
    pub fn method(&self) -> Method {
        match self.kind {
            MeterKind::Counter { .. } => Method::Counter,
            MeterKind::Power => Method::IntegratedPower,
        }
    }
}

/// One raw reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Raw {
    /// A counter value in the meter's [`CounterUnit`].
    Counter(u64),
    /// Power in watts.
    Watts(f64),
}

/// Why one reading of one meter failed. Reading errors never stop sampling: the meter is
/// flagged and the next reading is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A family of meters discovered together (all RAPL zones, all GPUs, the BMC...).
pub trait Source {
    /// Short name used in notes and absent-meter reasons: `rapl`, `nvml`, `ipmi`, `hwmon`.
    fn name(&self) -> &'static str;
    /// The meters, in a fixed order.
    fn meters(&self) -> &[MeterSpec];
    /// Reads every meter once, appending one result per meter, in the order of
    /// [`Source::meters`]. Must return in bounded time whatever the hardware does.
    fn read_into(&mut self, out: &mut Vec<Result<Raw, ReadError>>);
    /// Changes how long a read may wait for slow hardware (the BMC); most sources never wait.
    fn set_timeout(&mut self, _timeout: std::time::Duration) {}
    /// The next reading is the last: a source that reads a counter only now and then (the
    /// GPUs, see [`crate::nvml::NvmlSource::with_counter_every`]) reads it then, so that the
    /// job's energy ends with the counter.
    fn counters_next(&mut self) {}
}

/// Which meter families are enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// RAPL through powercap.
    pub rapl: bool,
    /// NVIDIA GPUs through NVML.
    pub nvml: bool,
    /// The BMC through IPMI DCMI.
    pub ipmi: bool,
    /// hwmon power and energy sensors.
    pub hwmon: bool,
}

impl Default for Sources {
    fn default() -> Self {
        Self::all()
    }
}

impl Sources {
    /// Every family (the default).
    pub const fn all() -> Self {
        Self {
            rapl: true,
            nvml: true,
            ipmi: true,
            hwmon: true,
        }
    }

    /// None (`sources=none`).
    pub const fn none() -> Self {
        Self {
            rapl: false,
            nvml: false,
            ipmi: false,
            hwmon: false,
        }
    }

    /// Reads a comma list such as `rapl,nvml` (also `all` and `none`).
    ///
    /// # Errors
    /// An unknown name, with the list of valid ones.
    pub fn parse(list: &str) -> Result<Self, UnknownSource> {
        let mut s = Self::none();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "rapl" => s.rapl = true,
                "nvml" => s.nvml = true,
                "ipmi" => s.ipmi = true,
                "hwmon" => s.hwmon = true,
                "all" => s = Self::all(),
                "none" => {}
                other => return Err(UnknownSource(other.to_string())),
            }
        }
        Ok(s)
    }

    /// The comma list [`Sources::parse`] reads back (`none` when empty).
    pub fn to_list(&self) -> String {
        let names: Vec<&str> = [
            (self.rapl, "rapl"),
            (self.nvml, "nvml"),
            (self.ipmi, "ipmi"),
            (self.hwmon, "hwmon"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(",")
        }
    }
}

/// A meter source name that [`Sources::parse`] does not know; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSource(pub String);

impl std::fmt::Display for UnknownSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown meter source {:?}; use a comma list of rapl, nvml, ipmi, hwmon (or all, none)",
            self.0
        )
    }
}

impl std::error::Error for UnknownSource {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lists_round_trip() {
        for list in ["rapl", "rapl,nvml", "all", "none", "hwmon,ipmi"] {
            let s = Sources::parse(list).unwrap();
            assert_eq!(Sources::parse(&s.to_list()).unwrap(), s, "{list}");
        }
        assert_eq!(Sources::parse("all").unwrap(), Sources::all());
        assert_eq!(
            Sources::parse(" rapl , nvml ").unwrap().to_list(),
            "rapl,nvml"
        );
        let e = Sources::parse("rapl,gpu").unwrap_err().to_string();
        assert!(e.contains("\"gpu\"") && e.contains("nvml"), "{e}");
    }
}
