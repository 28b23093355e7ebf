//! Simulators of hardware that this project's build and CI machines lack.
//!
//! - [`PowercapSim`]: a powercap tree (`<root>/sys/class/powercap/intel-rapl:N[:M]/`) whose
//!   `energy_uj` counters advance at chosen constant powers, with a chosen (small)
//!   `max_energy_range_uj` so that counters wrap within seconds. Every file is replaced
//!   atomically (write a temporary file, rename), so a reader never sees half a number. It can
//!   log the true cumulative energy of every zone at every step, so a test can compare a
//!   meter's result with the exact integral ([`true_energy_between_raws`]). The binary
//!   `ea-powercap-sim` runs it as a process, one per simulated node.
//! - `fake-ipmitool` (a shell script next to this crate): prints `ipmitool dcmi power
//!   reading` (or FreeIPMI's format) with a wattage you choose, or replays a real capture.
//!
//! The fake NVIDIA library is the `fake-nvml` crate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One simulated zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Directory name: `intel-rapl:0`, `intel-rapl:0:1`.
    pub dir: String,
    /// The kernel's zone name: `package-0`, `dram`, `core`, `psys`.
    pub name: String,
    /// Constant power drawn, W: the counter grows by this many joules a second.
    pub power_w: f64,
}

/// Reads `NAME=WATTS` (`package-0=60`, `package-1/dram=8`, `dram=8` for `package-0/dram`,
/// `psys=100`).
///
/// # Errors
/// When the text is not of that form, or the power is negative or not a number.
pub fn parse_zone_arg(arg: &str) -> Result<(String, f64), String> {
    let (name, watts) = arg.split_once('=').ok_or_else(|| {
        format!("--zone {arg:?}: expected NAME=WATTS, e.g. package-0=60 or package-0/dram=8")
    })?;
    let watts: f64 = watts
        .trim()
        .parse()
        .map_err(|_| format!("--zone {arg:?}: {watts:?} is not a number of watts"))?;
    if !(watts.is_finite() && watts >= 0.0) {
        return Err(format!("--zone {arg:?}: power must be 0 or more watts"));
    }
    let name = name.trim();
    let name = if matches!(name, "dram" | "core" | "uncore") {
        format!("package-0/{name}")
    } else {
        name.to_string()
    };
    Ok((name, watts))
}

/// Gives each zone its directory, the way the kernel numbers them: `package-N` is
/// `intel-rapl:N`, its sub-zones `intel-rapl:N:0`, `:1`... in the order given, and `psys` the
/// next top-level index after the packages.
///
/// # Errors
/// A sub-zone of a package that is not listed, a duplicate, or an unknown top-level name.
pub fn layout(zones: &[(String, f64)]) -> Result<Vec<Zone>, String> {
    let mut out: Vec<Zone> = Vec::new();
    let package_index = |name: &str| {
        name.strip_prefix("package-")
            .and_then(|n| n.parse::<u32>().ok())
    };
    let mut max_package = None;
    for (name, w) in zones {
        if name.contains('/') {
            continue;
        }
        if let Some(n) = package_index(name) {
            if out.iter().any(|z| z.name == *name) {
                return Err(format!("zone {name} is given twice"));
            }
            out.push(Zone {
                dir: format!("intel-rapl:{n}"),
                name: name.clone(),
                power_w: *w,
            });
            max_package = Some(max_package.map_or(n, |m: u32| m.max(n)));
        } else if name != "psys" {
            return Err(format!(
                "unknown zone {name:?}: use package-N, package-N/dram|core|uncore, or psys"
            ));
        }
    }
    for (name, w) in zones {
        if name == "psys" {
            let n = max_package.map_or(0, |m| m + 1);
            out.push(Zone {
                dir: format!("intel-rapl:{n}"),
                name: "psys".into(),
                power_w: *w,
            });
        }
    }
    for (name, w) in zones {
        let Some((parent, sub)) = name.split_once('/') else {
            continue;
        };
        let Some(n) = package_index(parent).filter(|_| out.iter().any(|z| z.name == parent)) else {
            return Err(format!(
                "sub-zone {name}: its package {parent} is not simulated; add --zone {parent}=WATTS"
            ));
        };
        if !matches!(sub, "dram" | "core" | "uncore") {
            return Err(format!("sub-zone {name}: use dram, core or uncore"));
        }
        let k = out
            .iter()
            .filter(|z| z.dir.starts_with(&format!("intel-rapl:{n}:")))
            .count();
        out.push(Zone {
            dir: format!("intel-rapl:{n}:{k}"),
            name: sub.to_string(),
            power_w: *w,
        });
    }
    Ok(out)
}

/// Microseconds since the Unix epoch.
pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A running powercap simulation (see the crate docs).
#[derive(Debug)]
pub struct PowercapSim {
    root: PathBuf,
    zones: Vec<Zone>,
    max_range_uj: u64,
    start_raw_uj: u64,
    /// True cumulative energy added to each zone since creation, µJ.
    true_uj: Vec<f64>,
    last: Instant,
    log: Option<BufWriter<File>>,
}

/// Where the zones live under a root.
pub fn powercap_dir(root: &Path) -> PathBuf {
    root.join("sys/class/powercap")
}

/// Replaces `path` with `text` atomically.
fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.sim-tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

impl PowercapSim {
    /// Creates the tree under `root` (replacing any earlier simulated zones there) with every
    /// counter at `start_raw_uj`, and opens the truth log if asked for.
    pub fn create(
        root: &Path,
        zones: Vec<Zone>,
        max_range_uj: u64,
        start_raw_uj: u64,
        truth_log: Option<&Path>,
    ) -> io::Result<Self> {
        if max_range_uj == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_energy_range_uj must be > 0",
            ));
        }
        let dir = powercap_dir(root);
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)?.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("intel-rapl")
            {
                fs::remove_dir_all(entry.path())?;
            }
        }
        fs::create_dir_all(dir.join("intel-rapl"))?;
        write_atomic(&dir.join("intel-rapl/enabled"), "1\n")?;
        let start = start_raw_uj % (max_range_uj + 1);
        for z in &zones {
            let d = dir.join(&z.dir);
            fs::create_dir_all(&d)?;
            write_atomic(&d.join("name"), &format!("{}\n", z.name))?;
            write_atomic(&d.join("max_energy_range_uj"), &format!("{max_range_uj}\n"))?;
            write_atomic(&d.join("enabled"), "1\n")?;
            write_atomic(&d.join("energy_uj"), &format!("{start}\n"))?;
        }
        let log = match truth_log {
            Some(p) => Some(BufWriter::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
            None => None,
        };
        let n = zones.len();
        let mut sim = Self {
            root: root.to_path_buf(),
            zones,
            max_range_uj,
            start_raw_uj: start,
            true_uj: vec![0.0; n],
            last: Instant::now(),
            log,
        };
        sim.write_log()?;
        Ok(sim)
    }

    /// The zones simulated, as given.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The raw counter value for a true cumulative energy.
    pub fn raw_for(&self, cumulative_uj: f64) -> u64 {
        (self.start_raw_uj + cumulative_uj as u64) % (self.max_range_uj + 1)
    }

    /// True energy added to each zone so far, µJ.
    pub fn true_uj(&self) -> &[f64] {
        &self.true_uj
    }

    /// Changes a zone's power from now on (the energy up to now is added first).
    ///
    /// # Errors
    /// An unknown zone name.
    pub fn set_power(&mut self, zone_name: &str, power_w: f64) -> io::Result<()> {
        self.step()?;
        let z = self
            .zones
            .iter_mut()
            .find(|z| z.name == zone_name || z.dir == zone_name)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no simulated zone {zone_name}"),
                )
            })?;
        z.power_w = power_w;
        Ok(())
    }

    /// Adds power × the real time since the last step to every zone and rewrites the
    /// counters.
    pub fn step(&mut self) -> io::Result<()> {
        let now = Instant::now();
        let dt_s = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let dir = powercap_dir(&self.root);
        for (i, z) in self.zones.iter().enumerate() {
            self.true_uj[i] += z.power_w * dt_s * 1e6;
            let raw = (self.start_raw_uj + self.true_uj[i] as u64) % (self.max_range_uj + 1);
            write_atomic(&dir.join(&z.dir).join("energy_uj"), &format!("{raw}\n"))?;
        }
        self.write_log()
    }

    /// Steps the simulator every `period` on a thread of its own, until the returned handle
    /// is dropped: what a test or benchmark needs beside the meters it reads.
    ///
    /// # Panics
    /// On that thread, when a step cannot write its files.
    pub fn step_every(mut self, period: Duration) -> Stepping {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (halt, hold) = (stop.clone(), paused.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                std::thread::sleep(period);
                if !hold.load(Ordering::Relaxed) {
                    self.step().unwrap();
                }
            }
        });
        Stepping {
            stop,
            paused,
            thread: Some(thread),
        }
    }

    fn write_log(&mut self) -> io::Result<()> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let t = now_unix_us();
        for (i, z) in self.zones.iter().enumerate() {
            let cum = self.true_uj[i] as u64;
            let raw = (self.start_raw_uj + cum) % (self.max_range_uj + 1);
            writeln!(log, "{t} {} {cum} {raw}", z.dir)?;
        }
        log.flush()
    }
}

/// A [`PowercapSim`] stepped on a thread of its own ([`PowercapSim::step_every`]); stopped and
/// joined when dropped.
#[derive(Debug)]
pub struct Stepping {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stepping {
    /// While paused the counters' files stay as they are (as sysfs files do: not replaced).
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
}

impl Drop for Stepping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line of a truth log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthLine {
    /// When the simulator wrote the counter, Unix µs.
    pub t_unix_us: u64,
    /// The zone's directory (`intel-rapl:0`).
    pub dir: String,
    /// Energy since the simulator started, µJ, never wrapped: the truth.
    pub cumulative_uj: u64,
    /// What `energy_uj` held then (wrapped at the zone's range): what a reader saw.
    pub raw_uj: u64,
}

/// Reads a truth log written by [`PowercapSim`].
pub fn read_truth_log(path: &Path) -> io::Result<Vec<TruthLine>> {
    let mut out = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [t, dir, cum, raw] = f[..]
            && let (Ok(t), Ok(cum), Ok(raw)) = (t.parse(), cum.parse(), raw.parse())
        {
            out.push(TruthLine {
                t_unix_us: t,
                dir: dir.to_string(),
                cumulative_uj: cum,
                raw_uj: raw,
            });
        }
    }
    Ok(out)
}

/// The true energy (J) a zone received between the step that wrote `first_raw` and the step
/// that wrote `last_raw` (the last such step after the first), from a truth log: what a
/// perfect meter reading those two values must report. `None` if either is not in the log.
pub fn true_energy_between_raws(
    log: &[TruthLine],
    dir: &str,
    first_raw: u64,
    last_raw: u64,
) -> Option<f64> {
    let zone: Vec<&TruthLine> = log.iter().filter(|l| l.dir == dir).collect();
    let first = zone.iter().position(|l| l.raw_uj == first_raw)?;
    let last = zone[first..].iter().rposition(|l| l.raw_uj == last_raw)? + first;
    Some((zone[last].cumulative_uj - zone[first].cumulative_uj) as f64 / 1e6)
}

/// Reads a power file (`NAME=WATTS` lines, `#` comments) for changing powers at run time.
///
/// # Errors
/// The first bad line, with its number.
pub fn parse_power_file(text: &str) -> Result<Vec<(String, f64)>, String> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| parse_zone_arg(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ea-sim-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn zone_arguments() {
        assert_eq!(
            parse_zone_arg("package-0=60"),
            Ok(("package-0".into(), 60.0))
        );
        assert_eq!(
            parse_zone_arg("dram=8.5"),
            Ok(("package-0/dram".into(), 8.5))
        );
        assert!(
            parse_zone_arg("package-0")
                .unwrap_err()
                .contains("NAME=WATTS")
        );
        assert!(
            parse_zone_arg("package-0=lots")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(parse_zone_arg("package-0=-1").is_err());
    }

    #[test]
    fn layout_numbers_zones_like_the_kernel() {
        let args: Vec<_> = [
            "package-0=60",
            "dram=8",
            "package-0/core=30",
            "package-1=50",
            "package-1/dram=7",
            "psys=150",
        ]
        .iter()
        .map(|a| parse_zone_arg(a).unwrap())
        .collect();
        let dirs: Vec<_> = layout(&args)
            .unwrap()
            .into_iter()
            .map(|z| (z.dir, z.name))
            .collect();
        let want = [
            ("intel-rapl:0", "package-0"),
            ("intel-rapl:1", "package-1"),
            ("intel-rapl:2", "psys"),
            ("intel-rapl:0:0", "dram"),
            ("intel-rapl:0:1", "core"),
            ("intel-rapl:1:0", "dram"),
        ];
        assert_eq!(dirs, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert!(
            layout(&[parse_zone_arg("package-1/dram=3").unwrap()])
                .unwrap_err()
                .contains("not simulated")
        );
        assert!(
            layout(&[("gpu".into(), 1.0)])
                .unwrap_err()
                .contains("unknown zone")
        );
    }

    #[test]
    fn counters_advance_wrap_and_log_the_truth() {
        let root = tmp("advance");
        let log = root.join("truth.log");
        let zones = layout(&[("package-0".into(), 500.0)]).unwrap();
        let mut sim = PowercapSim::create(&root, zones, 1_000_000, 900_000, Some(&log)).unwrap();
        let energy = powercap_dir(&root).join("intel-rapl:0/energy_uj");
        assert_eq!(fs::read_to_string(&energy).unwrap(), "900000\n");
        std::thread::sleep(std::time::Duration::from_millis(50));
        sim.step().unwrap();
        // 500 W × ≥ 50 ms ≥ 25 J: from 0.9 J on a 1 J counter, it wrapped.
        let raw: u64 = fs::read_to_string(&energy).unwrap().trim().parse().unwrap();
        assert!(sim.true_uj()[0] >= 25e6);
        assert_eq!(raw, sim.raw_for(sim.true_uj()[0]));
        let lines = read_truth_log(&log).unwrap();
        assert_eq!(lines.len(), 2);
        let e = true_energy_between_raws(&lines, "intel-rapl:0", 900_000, raw).unwrap();
        assert!((e - sim.true_uj()[0].floor() / 1e6).abs() < 1e-6);
        sim.set_power("package-0", 0.0).unwrap();
        let before = sim.true_uj()[0];
        sim.step().unwrap();
        assert_eq!(sim.true_uj()[0], before);
        assert!(sim.set_power("dram", 1.0).is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn power_files() {
        assert_eq!(
            parse_power_file("# powers\npackage-0=70\n\ndram=9 # memory\n").unwrap(),
            vec![("package-0".into(), 70.0), ("package-0/dram".into(), 9.0)]
        );
        assert!(
            parse_power_file("package-0=70\nbad\n")
                .unwrap_err()
                .starts_with("line 2:")
        );
    }
}
