//! RAPL through Linux powercap: `<sysroot>/sys/class/powercap/intel-rapl:N[:M]/`.
//!
//! Every zone and sub-zone is a meter of its own: `package-N` (scope cpu-package), its `core`,
//! `uncore` and `dram` sub-zones, and `psys` (platform). Scopes overlap: `psys` includes the
//! packages and DRAM, a package includes its core and uncore; nothing here sums them, and the
//! record keeps each zone's scope so that readers do not either.
//!
//! The kernel lists every zone, sub-zones included, flat under `/sys/class/powercap` (as links
//! into `/sys/devices/virtual/powercap`). AMD processors appear under the same `intel-rapl`
//! control type. `intel-rapl-mmio` zones are skipped: they expose the same package counter
//! through another interface, and reading both would count the package twice.
//!
//! A zone that cannot be used (a directory name that does not parse, as in procfs's fixture
//! `intel-rapl:a`; an unreadable `energy_uj`; a missing or zero `max_energy_range_uj`) becomes
//! an [`AbsentMeter`] with the reason; the other zones are still measured.

use crate::files::{IntegerFile, describe_io_error, read_line, read_u64};
use crate::source::{CounterUnit, MeterKind, MeterSpec, Raw, ReadError, Source};
use ea_record::{AbsentMeter, Scope};
use std::path::{Path, PathBuf};

/// No RAPL domain of a real socket comes near this; a counter implying more was reset.
const MAX_PLAUSIBLE_ZONE_W: f64 = 5_000.0;

/// What a directory name under `/sys/class/powercap` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneDirName {
    /// `intel-rapl:0` (`sub` = None) or `intel-rapl:0:1`.
    Zone {
        /// The package's index.
        package: u32,
        /// The subzone's index (`core`, `uncore`, `dram`), if any.
        sub: Option<u32>,
    },
    /// `intel-rapl-mmio:N[:M]`: a second view of a package counter.
    Mmio,
    /// A RAPL-looking name whose indices are not numbers.
    Malformed,
    /// Something else (the `intel-rapl` control type itself, `dtpm`...).
    Other,
}

/// Classifies a directory name (pure).
pub fn parse_zone_dir_name(name: &str) -> ZoneDirName {
    let Some((control, rest)) = name.split_once(':') else {
        return ZoneDirName::Other;
    };
    if control == "intel-rapl-mmio" {
        return ZoneDirName::Mmio;
    }
    if control != "intel-rapl" {
        return ZoneDirName::Other;
    }
    let mut parts = rest.split(':');
    let package = parts.next().and_then(|p| p.parse::<u32>().ok());
    let sub = parts.next().map(|s| s.parse::<u32>().ok());
    match (package, sub, parts.next()) {
        (Some(package), None, None) => ZoneDirName::Zone { package, sub: None },
        (Some(package), Some(Some(sub)), None) => ZoneDirName::Zone {
            package,
            sub: Some(sub),
        },
        _ => ZoneDirName::Malformed,
    }
}

/// The scope of a zone from the kernel's `name` file (pure).
pub fn scope_for_zone_name(name: &str) -> Scope {
    match name {
        n if n.starts_with("package") => Scope::CpuPackage,
        "core" => Scope::Core,
        "uncore" => Scope::Uncore,
        "dram" => Scope::Dram,
        "psys" => Scope::Platform,
        _ => Scope::Other,
    }
}

/// The RAPL zones of one node.
#[derive(Debug)]
pub struct RaplSource {
    specs: Vec<MeterSpec>,
    energy_files: Vec<IntegerFile>,
}

/// Where powercap lives under a root.
pub fn powercap_dir(sysroot: &Path) -> PathBuf {
    sysroot.join("sys/class/powercap")
}

impl RaplSource {
    /// Finds every usable zone under `sysroot`. Returns the source (`None` when no zone is
    /// usable) and one [`AbsentMeter`] per zone that was skipped, or one for the whole source
    /// when powercap is missing. Never fails.
    pub fn discover(sysroot: &Path) -> (Option<Self>, Vec<AbsentMeter>) {
        let dir = powercap_dir(sysroot);
        let absent = |reason: String| AbsentMeter {
            source: "rapl".into(),
            reason,
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => return (None, vec![absent(describe_io_error(&dir, &e))]),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        let mut zones = Vec::new();
        let mut skipped = Vec::new();
        for dir_name in &names {
            match zone(&dir, dir_name) {
                Ok(Some(z)) => zones.push(z),
                Ok(None) => {}
                Err(why) => skipped.push(why),
            }
        }
        if zones.is_empty() {
            if skipped.is_empty() {
                skipped.push(absent(format!(
                    "no intel-rapl zone under {}",
                    dir.display()
                )));
            }
            return (None, skipped);
        }
        let (specs, energy_paths): (_, Vec<PathBuf>) = zones.into_iter().unzip();
        (
            Some(Self {
                specs,
                energy_files: energy_paths.into_iter().map(IntegerFile::new).collect(),
            }),
            skipped,
        )
    }
}

/// The meter of zone directory `dir_name` under `dir` and its energy file; `None` for an
/// entry that is not a zone, the reason for a zone that cannot be read.
fn zone(dir: &Path, dir_name: &str) -> Result<Option<(MeterSpec, PathBuf)>, AbsentMeter> {
    let zone_dir = dir.join(dir_name);
    let source = format!("rapl:{dir_name}");
    let skip = |reason: String| AbsentMeter {
        source: source.clone(),
        reason,
    };
    let sub = match parse_zone_dir_name(dir_name) {
        ZoneDirName::Zone { sub, .. } => sub,
        ZoneDirName::Mmio => {
            return Err(skip(
                "intel-rapl-mmio duplicates the package counter of the MSR interface; not read"
                    .into(),
            ));
        }
        ZoneDirName::Malformed => {
            return Err(skip(format!(
                "zone directory {} is not named intel-rapl:<n>[:<m>]; skipped",
                zone_dir.display()
            )));
        }
        ZoneDirName::Other => return Ok(None),
    };
    let Some(name) = read_line(&zone_dir.join("name")) else {
        let why = format!("{} has no readable name file", zone_dir.display());
        return Err(skip(why));
    };
    let max_raw = match read_u64(&zone_dir.join("max_energy_range_uj")) {
        Ok(0) => {
            let why = format!("{}/max_energy_range_uj is 0", zone_dir.display());
            return Err(skip(why));
        }
        Ok(m) => m,
        Err(e) => {
            let why = format!("no usable counter range, so wraps cannot be handled: {e}");
            return Err(skip(why));
        }
    };
    let energy_path = zone_dir.join("energy_uj");
    if let Err(e) = read_u64(&energy_path) {
        return Err(skip(e.to_string()));
    }
    let label = match sub {
        None => name.clone(),
        Some(_) => {
            let parent = dir_name
                .rsplit_once(':')
                .map(|(p, _)| p)
                .unwrap_or(dir_name);
            match read_line(&dir.join(parent).join("name")) {
                Some(p) => format!("{p}/{name}"),
                None => name.clone(),
            }
        }
    };
    let spec = MeterSpec {
        id: source.clone(),
        scope: scope_for_zone_name(&name),
        label: Some(label),
        kind: MeterKind::Counter {
            unit: CounterUnit::Microjoule,
            max_raw: Some(max_raw),
        },
        job_owned: None,
        min_plausible_w: 0.0,
        max_plausible_w: MAX_PLAUSIBLE_ZONE_W,
        flags: vec![],
    };
    Ok(Some((spec, energy_path)))
}

impl Source for RaplSource {
    fn name(&self) -> &'static str {
        "rapl"
    }

    fn meters(&self) -> &[MeterSpec] {
        &self.specs
    }

    fn read_into(&mut self, out: &mut Vec<Result<Raw, ReadError>>) {
        for file in &mut self.energy_files {
            out.push(
                file.read()
                    .map(Raw::Counter)
                    .map_err(|e| ReadError(e.to_string())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TempDir, write_zone};
    use std::fs;

    #[test]
    fn classifies_directory_names() {
        assert_eq!(
            parse_zone_dir_name("intel-rapl:0"),
            ZoneDirName::Zone {
                package: 0,
                sub: None
            }
        );
        assert_eq!(
            parse_zone_dir_name("intel-rapl:1:2"),
            ZoneDirName::Zone {
                package: 1,
                sub: Some(2)
            }
        );
        assert_eq!(parse_zone_dir_name("intel-rapl:a"), ZoneDirName::Malformed);
        assert_eq!(
            parse_zone_dir_name("intel-rapl:0:x"),
            ZoneDirName::Malformed
        );
        assert_eq!(
            parse_zone_dir_name("intel-rapl:0:1:2"),
            ZoneDirName::Malformed
        );
        assert_eq!(parse_zone_dir_name("intel-rapl:"), ZoneDirName::Malformed);
        assert_eq!(parse_zone_dir_name("intel-rapl-mmio:0"), ZoneDirName::Mmio);
        assert_eq!(parse_zone_dir_name("intel-rapl"), ZoneDirName::Other);
        assert_eq!(parse_zone_dir_name("dtpm:0"), ZoneDirName::Other);
    }

    #[test]
    fn scopes_from_zone_names() {
        assert_eq!(scope_for_zone_name("package-0"), Scope::CpuPackage);
        assert_eq!(scope_for_zone_name("package-10"), Scope::CpuPackage);
        assert_eq!(scope_for_zone_name("dram"), Scope::Dram);
        assert_eq!(scope_for_zone_name("core"), Scope::Core);
        assert_eq!(scope_for_zone_name("uncore"), Scope::Uncore);
        assert_eq!(scope_for_zone_name("psys"), Scope::Platform);
        assert_eq!(scope_for_zone_name("gpu"), Scope::Other);
    }

    /// A file of the shared real data; a test that needs it fails, saying so, where it is
    /// absent (it must not pass by not running).
    fn realdata(rel: &str) -> PathBuf {
        let p = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/realdata/energy"
        ))
        .join(rel);
        assert!(
            p.exists(),
            "needs the real fixture {}: lay ../shared/realdata out beside the repository",
            p.display()
        );
        p
    }

    #[test]
    fn real_node_exporter_tree() {
        let root = realdata("node_exporter_sysfs/tree");
        let (src, absent) = RaplSource::discover(&root);
        let mut src = src.expect("zones");
        assert!(absent.is_empty(), "{absent:?}");
        let ids: Vec<_> = src
            .meters()
            .iter()
            .map(|m| (m.id.as_str(), m.scope, m.label.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                ("rapl:intel-rapl:0", Scope::CpuPackage, Some("package-0")),
                ("rapl:intel-rapl:0:0", Scope::Core, Some("package-0/core")),
            ]
        );
        assert_eq!(
            src.meters()[0].kind,
            MeterKind::Counter {
                unit: CounterUnit::Microjoule,
                max_raw: Some(262_143_328_850)
            }
        );
        let mut out = Vec::new();
        src.read_into(&mut out);
        assert_eq!(out[0], Ok(Raw::Counter(240_422_366_267)));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn real_procfs_tree_with_a_malformed_zone() {
        let root = realdata("procfs_sysfs/tree/fixtures");
        let (src, absent) = RaplSource::discover(&root);
        let src = src.expect("the good zones are still used");
        let ids: Vec<_> = src.meters().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["rapl:intel-rapl:0", "rapl:intel-rapl:0:0"]);
        assert_eq!(absent.len(), 1, "{absent:?}");
        assert_eq!(absent[0].source, "rapl:intel-rapl:a");
        assert!(
            absent[0].reason.contains("not named intel-rapl:<n>"),
            "{}",
            absent[0].reason
        );
    }

    #[test]
    fn missing_powercap_is_absent_not_an_error() {
        let t = TempDir::new("rapl-none");
        let (src, absent) = RaplSource::discover(t.path());
        assert!(src.is_none());
        assert_eq!(absent.len(), 1);
        assert!(
            absent[0]
                .reason
                .contains("sys/class/powercap does not exist"),
            "{}",
            absent[0].reason
        );
    }

    #[test]
    fn psys_dram_and_bad_ranges() {
        let t = TempDir::new("rapl-mix");
        write_zone(
            t.path(),
            "intel-rapl:0",
            "package-0",
            1_000,
            262_143_328_850,
        );
        write_zone(t.path(), "intel-rapl:0:0", "dram", 2_000, 65_712_999_613);
        write_zone(t.path(), "intel-rapl:1", "psys", 3_000, 262_143_328_850);
        write_zone(t.path(), "intel-rapl:2", "package-1", 4_000, 0);
        write_zone(
            t.path(),
            "intel-rapl-mmio:0",
            "package-0",
            1_000,
            262_143_328_850,
        );
        let bad = powercap_dir(t.path()).join("intel-rapl:3");
        fs::create_dir_all(&bad).unwrap();
        fs::write(bad.join("name"), "package-2\n").unwrap();
        fs::write(bad.join("max_energy_range_uj"), "lots\n").unwrap();
        fs::write(bad.join("energy_uj"), "5\n").unwrap();
        let (src, absent) = RaplSource::discover(t.path());
        let src = src.unwrap();
        let got: Vec<_> = src
            .meters()
            .iter()
            .map(|m| (m.id.as_str(), m.scope, m.label.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "rapl:intel-rapl:0",
                    Scope::CpuPackage,
                    "package-0".to_string()
                ),
                (
                    "rapl:intel-rapl:0:0",
                    Scope::Dram,
                    "package-0/dram".to_string()
                ),
                ("rapl:intel-rapl:1", Scope::Platform, "psys".to_string()),
            ]
        );
        let reasons: Vec<_> = absent
            .iter()
            .map(|a| (a.source.as_str(), a.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|(s, r)| *s == "rapl:intel-rapl:2" && r.contains("is 0"))
        );
        assert!(
            reasons
                .iter()
                .any(|(s, r)| *s == "rapl:intel-rapl:3" && r.contains("\"lots\""))
        );
        assert!(
            reasons
                .iter()
                .any(|(s, r)| *s == "rapl:intel-rapl-mmio:0" && r.contains("duplicates"))
        );
    }

    #[test]
    fn a_counter_that_becomes_unreadable_is_a_read_error() {
        let t = TempDir::new("rapl-vanish");
        write_zone(
            t.path(),
            "intel-rapl:0",
            "package-0",
            1_000,
            262_143_328_850,
        );
        let (src, _) = RaplSource::discover(t.path());
        let mut src = src.unwrap();
        fs::write(
            powercap_dir(t.path()).join("intel-rapl:0/energy_uj"),
            "garbage",
        )
        .unwrap();
        let mut out = Vec::new();
        src.read_into(&mut out);
        assert!(out[0].as_ref().unwrap_err().0.contains("\"garbage\""));
    }

    /// A root-only `energy_uj` (as on kernels with the CVE-2020-8694 fix) read by an ordinary
    /// user. Root reads any file, so when the tests run as root the check runs in a child
    /// process that drops to `nobody` (see `testutil::run_as_nobody`).
    #[test]
    fn permission_denied_is_absent_with_the_fix() {
        let t = TempDir::new_world_readable("rapl-perm");
        write_zone(
            t.path(),
            "intel-rapl:0",
            "package-0",
            1_000,
            262_143_328_850,
        );
        let energy = powercap_dir(t.path()).join("intel-rapl:0/energy_uj");
        crate::testutil::chmod(&energy, 0o400);
        let out =
            crate::testutil::run_as_nobody("rapl::tests::helper_discover_and_print", t.path());
        assert!(out.contains("permission denied reading"), "{out}");
        assert!(out.contains("must run as root"), "{out}");
        assert!(out.contains("zones=0"), "{out}");
    }

    /// Runs in a child process started by `permission_denied_is_absent_with_the_fix`.
    #[test]
    #[ignore = "helper run by permission_denied_is_absent_with_the_fix in a child process"]
    fn helper_discover_and_print() {
        let root = std::env::var_os("EA_TEST_ROOT").expect("EA_TEST_ROOT");
        let (src, absent) = RaplSource::discover(Path::new(&root));
        println!("zones={}", src.map_or(0, |s| s.meters().len()));
        for a in absent {
            println!("absent {}: {}", a.source, a.reason);
        }
    }
}
