//! hwmon power and energy sensors: `<sysroot>/sys/class/hwmon/hwmon*/`.
//!
//! - `energy<N>_input`: cumulative µJ, a counter (no known range: a drop is a reset);
//! - `power<N>_average` or `power<N>_input`: µW, integrated by trapezoids; where a channel has
//!   both, the average is used, since it smooths what happens between two readings.
//!
//! What a hwmon sensor covers depends on the driver, so the scope is `other` except for
//! `amdgpu` (the board of an AMD GPU). A device that has energy counters has its power
//! channels skipped: drivers that offer both report the same sensor twice.
//!
//! Older kernels put the attributes in `hwmon*/device/`; both places are searched.

use crate::files::{IntegerFile, describe_io_error, read_line, read_u64};
use crate::source::{CounterUnit, MeterKind, MeterSpec, Raw, ReadError, Source};
use ea_record::{AbsentMeter, Scope};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A sensor reading more than this is broken, whatever it covers.
const MAX_PLAUSIBLE_SENSOR_W: f64 = 50_000.0;

/// What a file name in a hwmon directory is, for this crate (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// `energyN_input`, µJ.
    Energy(u32),
    /// `powerN_average`, µW.
    PowerAverage(u32),
    /// `powerN_input`, µW.
    PowerInput(u32),
}

/// Classifies a hwmon attribute file name; `None` for everything this crate does not read.
pub fn parse_channel(file_name: &str) -> Option<Channel> {
    let num = |prefix: &str, suffix: &str| -> Option<u32> {
        let n = file_name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| n.parse().ok())
            .flatten()
    };
    if let Some(n) = num("energy", "_input") {
        Some(Channel::Energy(n))
    } else if let Some(n) = num("power", "_average") {
        Some(Channel::PowerAverage(n))
    } else {
        num("power", "_input").map(Channel::PowerInput)
    }
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    EnergyUj,
    PowerUw,
}

/// The hwmon sensors of one node.
#[derive(Debug)]
pub struct HwmonSource {
    specs: Vec<MeterSpec>,
    files: Vec<(IntegerFile, Unit)>,
}

impl HwmonSource {
    /// Finds every power and energy sensor under `sysroot`. Never fails: returns `None` and
    /// the reason when there is none.
    pub fn discover(sysroot: &Path) -> (Option<Self>, Vec<AbsentMeter>) {
        let class = sysroot.join("sys/class/hwmon");
        let absent = |reason: String| {
            vec![AbsentMeter {
                source: "hwmon".into(),
                reason,
            }]
        };
        let entries = match std::fs::read_dir(&class) {
            Ok(e) => e,
            Err(e) => return (None, absent(describe_io_error(&class, &e))),
        };
        let mut devices: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
            .collect();
        devices.sort_by_key(|(n, _)| hwmon_number(n));
        let mut notes = Vec::new();
        let mut found: Vec<(MeterSpec, PathBuf, Unit)> = Vec::new();
        let mut names_seen: BTreeMap<String, u32> = BTreeMap::new();
        for (hwmon, dir) in &devices {
            device_sensors(hwmon, dir, &mut names_seen, &mut notes, &mut found);
        }
        if found.is_empty() {
            let mut v = absent(format!(
                "no power or energy sensor under {}",
                class.display()
            ));
            v.extend(notes);
            return (None, v);
        }
        let mut specs = Vec::new();
        let mut files = Vec::new();
        for (s, p, u) in found {
            specs.push(s);
            files.push((IntegerFile::new(p), u));
        }
        (Some(Self { specs, files }), notes)
    }
}

/// The readable sensors of one hwmon device (`hwmonN/`, else `hwmonN/device/`), into
/// `found`; a note for each one not read. `names_seen` makes ids unique across devices.
fn device_sensors(
    hwmon: &str,
    dir: &Path,
    names_seen: &mut BTreeMap<String, u32>,
    notes: &mut Vec<AbsentMeter>,
    found: &mut Vec<(MeterSpec, PathBuf, Unit)>,
) {
    for attr_dir in [dir.to_path_buf(), dir.join("device")] {
        let channels = channels_in(&attr_dir);
        if channels.is_empty() {
            continue;
        }
        let name = read_line(&dir.join("name")).or_else(|| read_line(&attr_dir.join("name")));
        let name = name.unwrap_or_else(|| hwmon.to_string());
        let has_energy = channels.keys().any(|c| matches!(c, Channel::Energy(_)));
        let mut power_seen = Vec::new();
        for (channel, file) in &channels {
            let (kind_prefix, n, unit) = match *channel {
                Channel::Energy(n) => ("energy", n, Unit::EnergyUj),
                Channel::PowerAverage(n) | Channel::PowerInput(n) => {
                    if has_energy {
                        notes.push(AbsentMeter {
                            source: format!("hwmon:{name}/power{n}"),
                            reason: "not read: this device also has energy counters, which are \
                                     used instead"
                                .into(),
                        });
                        continue;
                    }
                    if power_seen.contains(&n) {
                        continue; // power<n>_average already taken
                    }
                    power_seen.push(n);
                    ("power", n, Unit::PowerUw)
                }
            };
            let path = attr_dir.join(file);
            if let Err(e) = read_u64(&path) {
                notes.push(AbsentMeter {
                    source: format!("hwmon:{name}/{kind_prefix}{n}"),
                    reason: e.to_string(),
                });
                continue;
            }
            let channel = format!("{kind_prefix}{n}");
            let count = names_seen.entry(format!("{name}/{channel}")).or_insert(0);
            *count += 1;
            let id = if *count == 1 {
                format!("hwmon:{name}/{channel}")
            } else {
                format!("hwmon:{name}@{hwmon}/{channel}")
            };
            let label = read_line(&attr_dir.join(format!("{channel}_label")));
            found.push((sensor_spec(id, &name, &channel, label, unit), path, unit));
        }
        break; // attributes found in hwmonN/ itself: do not also read device/
    }
}

/// The meter of one sensor of device `name`.
fn sensor_spec(
    id: String,
    name: &str,
    channel: &str,
    label: Option<String>,
    unit: Unit,
) -> MeterSpec {
    let kind = match unit {
        Unit::EnergyUj => MeterKind::Counter {
            unit: CounterUnit::Microjoule,
            max_raw: None,
        },
        Unit::PowerUw => MeterKind::Power,
    };
    MeterSpec {
        id,
        scope: if name == "amdgpu" {
            Scope::GpuBoard
        } else {
            Scope::Other
        },
        label: Some(match label {
            Some(l) => format!("{name}/{l}"),
            None => format!("{name}/{channel}"),
        }),
        kind,
        job_owned: None,
        min_plausible_w: 0.0,
        max_plausible_w: MAX_PLAUSIBLE_SENSOR_W,
        flags: vec![],
    }
}

/// `hwmon12` -> 12, for a natural order; others last.
fn hwmon_number(name: &str) -> u32 {
    name.strip_prefix("hwmon")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Channel -> file name, averages before inputs for the same power channel.
fn channels_in(dir: &Path) -> BTreeMap<Channel, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_string();
            Some((parse_channel(&n)?, n))
        })
        .collect()
}

impl Source for HwmonSource {
    fn name(&self) -> &'static str {
        "hwmon"
    }

    fn meters(&self) -> &[MeterSpec] {
        &self.specs
    }

    fn read_into(&mut self, out: &mut Vec<Result<Raw, ReadError>>) {
        for (file, unit) in &mut self.files {
            let v = file.read().map_err(|e| ReadError(e.to_string()));
            out.push(v.map(|v| match unit {
                Unit::EnergyUj => Raw::Counter(v),
                Unit::PowerUw => Raw::Watts(v as f64 / 1e6),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::fs;

    #[test]
    fn classifies_attribute_names() {
        assert_eq!(parse_channel("energy1_input"), Some(Channel::Energy(1)));
        assert_eq!(
            parse_channel("power12_average"),
            Some(Channel::PowerAverage(12))
        );
        assert_eq!(parse_channel("power1_input"), Some(Channel::PowerInput(1)));
        for other in [
            "power1_cap",
            "power_input",
            "temp1_input",
            "powerx_input",
            "energy1_input_highest",
            "power1_average_interval",
        ] {
            assert_eq!(parse_channel(other), None, "{other}");
        }
    }

    fn write(dir: &Path, file: &str, value: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), value).unwrap();
    }

    #[test]
    fn finds_power_and_energy_sensors() {
        let t = TempDir::new("hwmon");
        let class = t.path().join("sys/class/hwmon");
        // ACPI power meter: average power in µW.
        write(&class.join("hwmon0"), "name", "power_meter\n");
        write(&class.join("hwmon0"), "power1_average", "215000000\n");
        write(&class.join("hwmon0"), "power1_average_interval", "1000\n");
        // A device with both average and input on channel 1: the average is used.
        write(&class.join("hwmon2"), "name", "amdgpu\n");
        write(&class.join("hwmon2"), "power1_average", "45000000\n");
        write(&class.join("hwmon2"), "power1_input", "47000000\n");
        // Energy counters, and a power channel that must be skipped.
        write(&class.join("hwmon10"), "name", "amd_energy\n");
        write(&class.join("hwmon10"), "energy1_input", "123456789\n");
        write(&class.join("hwmon10"), "energy1_label", "Esocket0\n");
        write(&class.join("hwmon10"), "power1_input", "1\n");
        // Old layout: attributes under device/.
        write(&class.join("hwmon3/device"), "name", "oldchip\n");
        write(&class.join("hwmon3/device"), "power2_input", "3000000\n");
        // Temperatures only.
        write(&class.join("hwmon4"), "name", "coretemp\n");
        write(&class.join("hwmon4"), "temp1_input", "40000\n");

        let (src, notes) = HwmonSource::discover(t.path());
        let mut src = src.unwrap();
        let got: Vec<_> = src
            .meters()
            .iter()
            .map(|m| (m.id.as_str(), m.scope, m.label.as_deref().unwrap(), m.kind))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "hwmon:power_meter/power1",
                    Scope::Other,
                    "power_meter/power1",
                    MeterKind::Power
                ),
                (
                    "hwmon:amdgpu/power1",
                    Scope::GpuBoard,
                    "amdgpu/power1",
                    MeterKind::Power
                ),
                (
                    "hwmon:oldchip/power2",
                    Scope::Other,
                    "oldchip/power2",
                    MeterKind::Power
                ),
                (
                    "hwmon:amd_energy/energy1",
                    Scope::Other,
                    "amd_energy/Esocket0",
                    MeterKind::Counter {
                        unit: CounterUnit::Microjoule,
                        max_raw: None
                    }
                ),
            ]
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].source == "hwmon:amd_energy/power1"
                && notes[0].reason.contains("energy counters")
        );
        let mut out = Vec::new();
        src.read_into(&mut out);
        assert_eq!(
            out,
            [
                Ok(Raw::Watts(215.0)),
                Ok(Raw::Watts(45.0)),
                Ok(Raw::Watts(3.0)),
                Ok(Raw::Counter(123_456_789))
            ]
        );
    }

    #[test]
    fn real_node_exporter_tree_has_no_power_sensor() {
        let root = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/realdata/energy/node_exporter_sysfs/tree"
        ));
        assert!(
            root.exists(),
            "needs the real fixture {}: lay ../shared/realdata out beside the repository",
            root.display()
        );
        // coretemp, nct6775, applesmc...: temperatures and fans, no power files.
        let (src, absent) = HwmonSource::discover(root);
        assert!(src.is_none());
        assert!(
            absent[0]
                .reason
                .starts_with("no power or energy sensor under"),
            "{absent:?}"
        );
    }

    #[test]
    fn no_hwmon_class_is_absent() {
        let t = TempDir::new("hwmon-none");
        let (src, absent) = HwmonSource::discover(t.path());
        assert!(src.is_none());
        assert!(absent[0].reason.contains("does not exist"));
    }
}
