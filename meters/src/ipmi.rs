//! The node's power as its BMC sees it, through IPMI DCMI.
//!
//! The command is configurable (`ipmitool dcmi power reading` by default; FreeIPMI's
//! `ipmi-dcmi --get-system-power-statistics` and `ipmiutil dcmi` print other formats, all
//! read by [`parse_dcmi`]). The *current* (instantaneous) reading is integrated over time: the
//! "average over the sampling period" lines cover a period the BMC chooses (5 minutes, or a
//! month in the FreeIPMI capture), not the sampler's interval.
//!
//! The kernel's OpenIPMI device (`/dev/ipmi0`) is read in-process when it opens and answers
//! at discovery ([`crate::ipmi_dev`], [`IpmiSource::discover`]): a few system calls per
//! reading instead of a fork and exec. The command is the fallback, and what a site that
//! configures only a command gets.
//!
//! BMCs are slow and sometimes hang, so every query runs with a timeout (a command is killed
//! after it); a command still stuck from the previous interval is not started again. Readings outside
//! [1 W, `max_plausible_w`] are rejected and counted (Harvard FASRC's IPMI data has a
//! 25 550 W "Chassis Power" reading on a node that otherwise reads 150 W; see the tests).

use crate::ipmi_dev::DcmiDevice;
use crate::source::{MeterKind, MeterSpec, Raw, ReadError, Source};
use ea_record::{AbsentMeter, Scope};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which tool printed a DCMI power reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcmiFormat {
    /// `ipmitool dcmi power reading`.
    Ipmitool,
    /// FreeIPMI `ipmi-dcmi --get-system-power-statistics`.
    FreeIpmi,
    /// `ipmiutil dcmi`.
    Ipmiutil,
}

/// One DCMI power reading, in watts.
#[derive(Debug, Clone, PartialEq)]
pub struct DcmiReading {
    /// Which tool printed it.
    pub format: DcmiFormat,
    /// The instantaneous power, what the sampler integrates.
    pub current_w: f64,
    /// The BMC's own statistics over its period, where printed.
    pub minimum_w: Option<f64>,
    /// See `minimum_w`.
    pub maximum_w: Option<f64>,
    /// See `minimum_w`.
    pub average_w: Option<f64>,
}

/// The leading number of `"2578 Watts"`, `"68 watts"`.
fn leading_number(value: &str) -> Option<f64> {
    let v = value.trim();
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    v[..end].parse().ok()
}

/// Reads the output of a DCMI power-reading command (pure).
///
/// # Errors
/// When the text has no current-power line, or says that power measurement is not active
/// (the BMC then reports stale or zero values); the message quotes the first line of the text
/// so that a tool's own error ("Could not open device at /dev/ipmi0...") reaches the log.
pub fn parse_dcmi(text: &str) -> Result<DcmiReading, String> {
    let mut format = None;
    let mut current = None;
    let (mut minimum, mut maximum, mut average) = (None, None, None);
    let mut inactive: Option<String> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        match key {
            "Instantaneous power reading" => {
                format = Some(DcmiFormat::Ipmitool);
                current = leading_number(value);
            }
            "Current Power" => {
                // FreeIPMI aligns its colons in one column ("Current Power    : 332 Watts");
                // ipmiutil indents its lines and puts the colon right after the key.
                format.get_or_insert(if line.starts_with(' ') {
                    DcmiFormat::Ipmiutil
                } else {
                    DcmiFormat::FreeIpmi
                });
                current = leading_number(value);
            }
            "Minimum during sampling period"
            | "Minimum Power over sampling duration"
            | "Min Power over sample duration" => minimum = leading_number(value),
            "Maximum during sampling period"
            | "Maximum Power over sampling duration"
            | "Max Power over sample duration" => maximum = leading_number(value),
            "Average power reading over sample period"
            | "Average Power over sampling duration"
            | "Avg Power over sample duration" => average = leading_number(value),
            "Power reading state is" | "Power Measurement" => {
                let v = value.to_ascii_lowercase();
                if !(v.starts_with("activ") || v == "active") {
                    inactive = Some(value.to_string());
                }
            }
            _ => {}
        }
    }
    let first_line = || {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("(no output)")
            .to_string()
    };
    if let Some(state) = inactive {
        return Err(format!(
            "the BMC says DCMI power measurement is not active ({state:?})"
        ));
    }
    match (format, current) {
        (Some(format), Some(current_w)) => Ok(DcmiReading {
            format,
            current_w,
            minimum_w: minimum,
            maximum_w: maximum,
            average_w: average,
        }),
        _ => Err(format!(
            "no DCMI current power reading in the output: {:?}",
            first_line()
        )),
    }
}

/// One power sensor line of `ipmitool sdr` (`Chassis Power | 150 Watts | ok`).
#[derive(Debug, Clone, PartialEq)]
pub struct SdrPower {
    /// The sensor's name (`Chassis Power`).
    pub sensor: String,
    /// Its reading.
    pub watts: f64,
}

/// The sensors of an `ipmitool sdr` listing whose value is in watts (pure). Lines with
/// `no reading` or another unit are left out.
pub fn parse_sdr_watts(text: &str) -> Vec<SdrPower> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split('|').map(str::trim);
            let sensor = cols.next()?;
            let value = cols.next()?;
            let number = value.strip_suffix("Watts")?.trim();
            Some(SdrPower {
                sensor: sensor.to_string(),
                watts: number.parse().ok()?,
            })
        })
        .collect()
}

/// Runs a command and returns its standard output, killing it after `timeout`.
///
/// # Errors
/// A sentence saying that the command could not start, timed out (then the still-running
/// child is returned in `Err.1` so the caller can reap it later), or failed, with its stderr.
pub fn run_with_timeout(
    argv: &[String],
    timeout: Duration,
) -> Result<String, (String, Option<Child>)> {
    let Some((program, args)) = argv.split_first() else {
        return Err(("empty IPMI command".into(), None));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (format!("cannot run {program}: {e}"), None))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                // Reap it if it died at once; otherwise the caller keeps it and retries.
                std::thread::sleep(Duration::from_millis(5));
                let pending = match child.try_wait() {
                    Ok(Some(_)) => None,
                    _ => Some(child),
                };
                return Err((
                    format!(
                        "{} did not answer within {:.1} s and was killed",
                        argv.join(" "),
                        timeout.as_secs_f64()
                    ),
                    pending,
                ));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err((format!("cannot wait for {program}: {e}"), None)),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    if !status.success() {
        let why = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        return Err((format!("{} failed ({status}): {why}", argv.join(" ")), None));
    }
    Ok(stdout)
}

/// How the BMC meter reads: the kernel's device in-process, or a command.
#[derive(Debug)]
enum Backend {
    /// `/dev/ipmi0` by ioctl ([`crate::ipmi_dev`]).
    Device(DcmiDevice),
    /// A command such as `ipmitool dcmi power reading`.
    Command {
        argv: Vec<String>,
        /// A query that timed out and has not been reaped yet: no new query while it lives.
        stuck: Option<Child>,
    },
}

/// The BMC meter.
#[derive(Debug)]
pub struct IpmiSource {
    backend: Backend,
    timeout: Duration,
    specs: Vec<MeterSpec>,
    /// The reading taken at discovery, handed out by the first read if still fresh.
    primed: Option<(Instant, f64)>,
}

/// The BMC meter's spec; `label` says what reads it (the device or the command line), so a
/// record's provenance shows it.
fn bmc_spec(label: String, max_plausible_w: f64) -> MeterSpec {
    MeterSpec {
        id: "ipmi:dcmi".into(),
        scope: Scope::NodeBmc,
        label: Some(label),
        kind: MeterKind::Power,
        job_owned: None,
        min_plausible_w: 1.0,
        max_plausible_w,
        flags: vec![],
    }
}

/// The label of a meter read through the device at `path`.
pub fn device_label(path: &Path) -> String {
    format!("{} (DCMI Get Power Reading, in-process)", path.display())
}

/// What [`IpmiSource::discover`] found.
#[derive(Debug)]
pub struct Discovered {
    /// The meter, if the device or the command answered.
    pub source: Option<IpmiSource>,
    /// Why there is no meter.
    pub absent: Vec<AbsentMeter>,
    /// Why the device was not used although the command was (for the log).
    pub notes: Vec<String>,
}

impl IpmiSource {
    /// Finds the BMC: the device first, if given, when it opens and answers one reading within
    /// `timeout`; else the command, if given. Never fails: what was tried and why it did not
    /// work ends up in `absent` (neither worked) or `notes` (the command did).
    pub fn discover(
        device: Option<&Path>,
        command: Option<&[String]>,
        timeout: Duration,
        max_plausible_w: f64,
    ) -> Discovered {
        let device_failure = match device {
            Some(path) => match Self::open_device(path, timeout, max_plausible_w) {
                Ok(src) => {
                    return Discovered {
                        source: Some(src),
                        absent: Vec::new(),
                        notes: Vec::new(),
                    };
                }
                Err(why) => Some(why),
            },
            None => None,
        };
        let Some(argv) = command else {
            return Discovered {
                source: None,
                absent: vec![AbsentMeter {
                    source: "ipmi".into(),
                    reason: device_failure
                        .unwrap_or_else(|| "no IPMI device or command configured".into()),
                }],
                notes: Vec::new(),
            };
        };
        let (source, mut absent) = Self::open(argv, timeout, max_plausible_w);
        let mut notes = Vec::new();
        if let Some(why) = device_failure {
            match (&source, absent.first_mut()) {
                (Some(_), _) => notes.push(format!(
                    "BMC: {why}; reading it with `{}` instead",
                    argv.join(" ")
                )),
                (None, Some(a)) => a.reason = format!("{why}; and {}", a.reason),
                (None, None) => {}
            }
        }
        Discovered {
            source,
            absent,
            notes,
        }
    }

    /// Opens the OpenIPMI device and takes one reading to see whether a BMC answers.
    ///
    /// # Errors
    /// The device's error, worded for an admin (see [`crate::ipmi_dev::DeviceError`]).
    pub fn open_device(
        path: &Path,
        timeout: Duration,
        max_plausible_w: f64,
    ) -> Result<Self, String> {
        let mut dev = DcmiDevice::open(path).map_err(|e| e.to_string())?;
        let r = dev.read_power(timeout).map_err(|e| e.to_string())?;
        // An implausible first reading is kept as the command's would be: the accumulator
        // rejects and counts it (the spec's bounds), like any later one.
        let w = f64::from(r.current_w);
        Ok(Self {
            backend: Backend::Device(dev),
            timeout,
            specs: vec![bmc_spec(device_label(path), max_plausible_w)],
            primed: Some((Instant::now(), w)),
        })
    }

    /// Runs the command once to see whether the node has a working BMC. Never fails: returns
    /// `None` and the reason when it has not.
    pub fn open(
        argv: &[String],
        timeout: Duration,
        max_plausible_w: f64,
    ) -> (Option<Self>, Vec<AbsentMeter>) {
        let absent = |reason: String| {
            vec![AbsentMeter {
                source: "ipmi".into(),
                reason,
            }]
        };
        let reading = match run_with_timeout(argv, timeout) {
            Ok(out) => parse_dcmi(&out),
            Err((why, _stuck)) => return (None, absent(why)),
        };
        let reading = match reading {
            Ok(r) => r,
            Err(why) => return (None, absent(format!("{}: {why}", argv.join(" ")))),
        };
        let src = Self {
            backend: Backend::Command {
                argv: argv.to_vec(),
                stuck: None,
            },
            timeout,
            specs: vec![bmc_spec(argv.join(" "), max_plausible_w)],
            primed: Some((Instant::now(), reading.current_w)),
        };
        (Some(src), Vec::new())
    }

    /// Whether the meter reads through the device (not a command).
    pub fn uses_device(&self) -> bool {
        matches!(self.backend, Backend::Device(_))
    }

    fn query(&mut self) -> Result<f64, ReadError> {
        match &mut self.backend {
            Backend::Device(dev) => dev
                .read_power(self.timeout)
                .map(|r| f64::from(r.current_w))
                .map_err(|e| ReadError(e.to_string())),
            Backend::Command { argv, stuck } => query_command(argv, stuck, self.timeout),
        }
    }
}

/// One run of the command, unless the previous one is still stuck.
fn query_command(
    argv: &[String],
    stuck: &mut Option<Child>,
    timeout: Duration,
) -> Result<f64, ReadError> {
    if let Some(child) = stuck.as_mut() {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => *stuck = None,
            Ok(None) => {
                let _ = child.kill();
                return Err(ReadError(
                    "the previous BMC query is still stuck; not starting another".into(),
                ));
            }
        }
    }
    match run_with_timeout(argv, timeout) {
        Ok(out) => parse_dcmi(&out).map(|r| r.current_w).map_err(ReadError),
        Err((why, child)) => {
            *stuck = child;
            Err(ReadError(why))
        }
    }
}

impl Source for IpmiSource {
    fn name(&self) -> &'static str {
        "ipmi"
    }

    fn meters(&self) -> &[MeterSpec] {
        &self.specs
    }

    fn read_into(&mut self, out: &mut Vec<Result<Raw, ReadError>>) {
        if let Some((at, w)) = self.primed.take()
            && at.elapsed() < Duration::from_secs(1)
        {
            out.push(Ok(Raw::Watts(w)));
            return;
        }
        out.push(self.query().map(Raw::Watts));
    }

    /// The sampler's final reading uses a shorter timeout than the others.
    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulate::{Instant as At, MeterAccumulator};
    use ea_record::{MeterFlag, UnixMicros};
    use std::path::{Path, PathBuf};

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
            "needs the real capture {}: lay ../shared/realdata out beside the repository",
            p.display()
        );
        p
    }

    fn read(rel: &str) -> String {
        std::fs::read_to_string(realdata(rel)).unwrap()
    }

    #[test]
    fn real_ipmitool_capture() {
        let text = read("ceems/ipmi/openipmi/ipmitool.out.txt");
        let r = parse_dcmi(&text).unwrap();
        assert_eq!(r.format, DcmiFormat::Ipmitool);
        assert_eq!(
            (r.current_w, r.minimum_w, r.maximum_w, r.average_w),
            (2578.0, Some(2118.0), Some(4294.0), Some(2567.0))
        );
    }

    #[test]
    fn real_freeipmi_capture() {
        let text = read("ceems/ipmi/freeipmi/ipmi-dcmi.out.txt");
        let r = parse_dcmi(&text).unwrap();
        assert_eq!(r.format, DcmiFormat::FreeIpmi);
        assert_eq!(
            (r.current_w, r.minimum_w, r.maximum_w, r.average_w),
            (332.0, Some(68.0), Some(504.0), Some(348.0))
        );
    }

    #[test]
    fn real_ipmiutil_capture() {
        let text = read("ceems/ipmi/ipmiutils/ipmiutil.out.txt");
        let r = parse_dcmi(&text).unwrap();
        assert_eq!(r.format, DcmiFormat::Ipmiutil);
        // Not the "Power Limit: 896 Watts" line.
        assert_eq!(
            (r.current_w, r.minimum_w, r.maximum_w, r.average_w),
            (49.0, Some(6.0), Some(304.0), Some(49.0))
        );
    }

    #[test]
    fn real_capmc_capture_is_not_dcmi() {
        let text = read("ceems/ipmi/capmc/capmc.out.txt");
        let e = parse_dcmi(&text).unwrap_err();
        assert!(
            e.contains("no DCMI current power reading") && e.contains("{"),
            "{e}"
        );
    }

    #[test]
    fn inactive_measurement_and_tool_errors() {
        let text = "    Instantaneous power reading:                     0 Watts\n    Power reading state is:                   deactivated\n";
        assert!(
            parse_dcmi(text)
                .unwrap_err()
                .contains("not active (\"deactivated\")")
        );
        let text = "Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory\n";
        let e = parse_dcmi(text).unwrap_err();
        assert!(e.contains("Could not open device"), "{e}");
        assert!(parse_dcmi("").unwrap_err().contains("(no output)"));
    }

    #[test]
    fn sdr_power_lines() {
        let text = "Sys Power                | 10 Watts          | ok\nCPU Power                | no reading        | ns\nCMOS Battery             | 3.16 Volts        | ok\nChassis Power            | 25550 Watts       | ok\n";
        assert_eq!(
            parse_sdr_watts(text),
            [
                SdrPower {
                    sensor: "Sys Power".into(),
                    watts: 10.0
                },
                SdrPower {
                    sensor: "Chassis Power".into(),
                    watts: 25550.0
                }
            ]
        );
    }

    /// The real FASRC day of `ipmitool sdr` on holygpu8a29304: its Chassis Power has one
    /// 25 550 W reading. Fed through the same accumulator the BMC meter uses, it is the only
    /// reading rejected, and the energy is what the other readings integrate to.
    #[test]
    fn real_fasrc_glitch_is_rejected_and_counted() {
        let path = realdata("fasrc_ipmi_sdr/raw/holygpu8a29304-2025-06-03.txt.gz");
        let out = Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .expect("gzip, to read the compressed capture");
        let text = String::from_utf8_lossy(&out.stdout);
        // Split the log at its "Timestamp: ..." lines; one Chassis Power value per block.
        let mut series = Vec::new();
        for block in text.split("Timestamp: ").skip(1) {
            let (stamp, rest) = block.split_once('\n').unwrap();
            if let Some(p) = parse_sdr_watts(rest)
                .into_iter()
                .find(|p| p.sensor == "Chassis Power")
            {
                series.push((parse_utc_seconds(stamp.trim()), p.watts));
            }
        }
        assert!(series.len() > 200, "{}", series.len());
        let spec = MeterSpec {
            id: "ipmi:dcmi".into(),
            scope: Scope::NodeBmc,
            label: None,
            kind: MeterKind::Power,
            job_owned: None,
            min_plausible_w: 1.0,
            max_plausible_w: 20_000.0,
            flags: vec![],
        };
        let t0 = series[0].0;
        let at = |t: i64| At {
            mono_us: ((t - t0) * 1_000_000) as u64,
            wall: UnixMicros::from_secs(t),
        };
        let mut acc = MeterAccumulator::new(spec, 0, 60_000_000, 720);
        for (t, w) in &series {
            acc.add(at(*t), Ok(Raw::Watts(*w)));
        }
        let r = acc.report(None);
        assert_eq!(r.rejected, 1);
        assert!(r.flags.contains(&MeterFlag::RejectedReadings));
        assert!(r.power_w.unwrap().max < 20_000.0);
        // The same trapezoids, computed here without the glitch.
        let clean: Vec<_> = series.iter().filter(|(_, w)| *w < 20_000.0).collect();
        let expected: f64 = clean
            .windows(2)
            .map(|p| 0.5 * (p[0].1 + p[1].1) * (p[1].0 - p[0].0) as f64)
            .sum();
        assert!(
            (r.energy_j - expected).abs() / expected < 1e-9,
            "{} vs {expected}",
            r.energy_j
        );
    }

    /// `2025-06-03 00:00:11 UTC` -> seconds since the epoch (enough for one day's log).
    fn parse_utc_seconds(s: &str) -> i64 {
        let (date, time) = s.trim_end_matches(" UTC").split_once(' ').unwrap();
        let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
        // Days from 1970-01-01 to the date, by the civil-from-days algorithm.
        let (y, m) = if d[1] <= 2 {
            (d[0] - 1, d[1] + 9)
        } else {
            (d[0], d[1] - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d[2] - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
    }

    #[test]
    fn utc_helper_is_right() {
        assert_eq!(parse_utc_seconds("1970-01-01 00:00:00 UTC"), 0);
        assert_eq!(parse_utc_seconds("2025-06-03 00:00:11 UTC"), 1_748_908_811);
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn commands_run_with_a_timeout() {
        let ok = run_with_timeout(
            &sh("echo '    Instantaneous power reading: 412 Watts'"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(parse_dcmi(&ok).unwrap().current_w, 412.0);
        let start = Instant::now();
        let (why, _child) =
            run_with_timeout(&sh("exec sleep 30"), Duration::from_millis(200)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(why.contains("did not answer within 0.2 s"), "{why}");
        let (why, _) = run_with_timeout(
            &sh("echo 'Error: no BMC' >&2; exit 1"),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(why.contains("Error: no BMC"), "{why}");
        let (why, _) = run_with_timeout(
            &["/nonexistent/ipmitool".to_string()],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(why.contains("cannot run /nonexistent/ipmitool"), "{why}");
    }

    #[test]
    fn source_open_and_read() {
        let (src, absent) = IpmiSource::open(
            &sh("printf 'Current Power                        : 332 Watts\\n'"),
            Duration::from_secs(5),
            20_000.0,
        );
        let mut src = src.unwrap();
        assert!(absent.is_empty());
        assert_eq!(src.meters()[0].scope, Scope::NodeBmc);
        let mut out = Vec::new();
        src.read_into(&mut out); // primed
        src.read_into(&mut out); // a new query
        assert_eq!(out, [Ok(Raw::Watts(332.0)), Ok(Raw::Watts(332.0))]);

        let (src, absent) = IpmiSource::open(
            &sh("echo 'Could not open device at /dev/ipmi0' >&2; exit 1"),
            Duration::from_secs(5),
            20_000.0,
        );
        assert!(src.is_none());
        assert!(
            absent[0].reason.contains("Could not open device"),
            "{absent:?}"
        );
    }

    #[test]
    fn a_hung_bmc_does_not_stall_reads() {
        let dir = crate::testutil::TempDir::new("ipmi-hang");
        let flag = dir.path().join("hang");
        let script = format!(
            "if [ -e {0} ]; then exec sleep 30; fi; echo '    Instantaneous power reading: 300 Watts'",
            flag.display()
        );
        let (src, _) = IpmiSource::open(&sh(&script), Duration::from_millis(300), 20_000.0);
        let mut src = src.unwrap();
        src.primed = None;
        std::fs::write(&flag, "").unwrap();
        let start = Instant::now();
        let mut out = Vec::new();
        src.read_into(&mut out);
        src.read_into(&mut out);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert!(out.iter().all(|r| r.is_err()), "{out:?}");
        std::fs::remove_file(&flag).unwrap();
        // The stuck child was killed; the BMC answers again.
        std::thread::sleep(Duration::from_millis(50));
        out.clear();
        src.read_into(&mut out);
        if out[0].is_err() {
            out.clear();
            src.read_into(&mut out);
        }
        assert_eq!(out, [Ok(Raw::Watts(300.0))]);
    }
}
