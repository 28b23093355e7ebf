//! Site configuration: a TOML file, overridden key by key by the arguments on the plugin's
//! `plugstack.conf` line.
//!
//! ```toml
//! # /etc/slurm/energy-assess.toml (every key optional)
//! default = "opt-in"          # or "always": assess every job unless it opts out
//! allow_opt_out = true        # may users write --energy-assess=off under default = "always"?
//! spool = "/var/spool/energy-assess"
//! summary = false             # write a summary file next to every assessed job's output
//! collector = ["http://admin:7373"]   # send records to these collectors, tried in order
//! forwarder = "/usr/local/libexec/energy-assess/energy-assess-forwarder"
//! keep_delivered = "7d"       # (ms, s, m, h, d) a delivered record stays in the local spool this long
//!
//! [meters]
//! sysroot = "/"               # where /sys and /proc are read; "%n" becomes the node name
//! interval = "10s"            # sampling interval
//! sources = ["rapl", "nvml", "ipmi", "hwmon"]
//! ipmi_device = "/dev/ipmi0"  # the BMC read in-process; "" for the command only
//! ipmi_command = ["ipmitool", "dcmi", "power", "reading"]   # when the device fails
//! nvml_library = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
//! sampler = "/usr/local/libexec/energy-assess/energy-assess-sampler"
//! stop_timeout = "2s"
//! orphan_after = "2m"        # no epilog this long after the job's end: the sampler salvages
//! gpu_counter_every = "10m"  # GPU energy counters read this often (power between); "0s": every reading
//! ```
//!
//! Plugstack arguments use the same names (`config=`, `spool=`, `default=`, `allow_opt_out=`,
//! `summary=`, `collector=` (comma-separated), `forwarder=`, `keep_delivered=`, `sysroot=`, `interval=`, `sources=`, `ipmi_device=`, `ipmi_command=`, `nvml_library=`,
//! `sampler=`, `stop_timeout=`, `orphan_after=`, `gpu_counter_every=`); `config=` names the file. A file that is absent means
//! defaults. A file that cannot be read, or a bad key or value anywhere, is reported (file,
//! line, what to write instead) and never stops a job: the broken file is ignored as a whole and
//! the built-in defaults plus the plugstack arguments are used, because a half-applied config
//! is harder to reason about than either.
//!
//! The BMC: `ipmi_device` (default `/dev/ipmi0`) is read in-process when it opens and answers
//! at discovery, else `ipmi_command`. A file (or a plugstack line) that sets `ipmi_command`
//! without `ipmi_device` means the command only: the site chose it. `ipmi_device = ""`
//! never uses the device.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The site file read when the plugstack line gives no `config=`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/slurm/energy-assess.toml";
/// Where the sampler is installed unless `sampler=` says otherwise (the meters crate owns it).
pub const DEFAULT_SAMPLER: &str = ea_meters::job::DEFAULT_SAMPLER_EXE;
/// Where the forwarder is installed unless `forwarder=` says otherwise.
pub const DEFAULT_FORWARDER: &str = "/usr/local/libexec/energy-assess/energy-assess-forwarder";

/// `keep_delivered` within these: a delivered record is kept at least an hour (time to look
/// at it) and at most a year.
const KEEP_DELIVERED_MIN: Duration = Duration::from_secs(3600);
const KEEP_DELIVERED_MAX: Duration = Duration::from_secs(366 * 86_400);

/// `orphan_after` within these: shorter could beat a slow epilog, longer leaves a job's
/// record missing for a day.
const ORPHAN_AFTER_MIN: Duration = Duration::from_secs(10);
const ORPHAN_AFTER_MAX: Duration = Duration::from_secs(86_400);
/// `gpu_counter_every` at most this: a day of power between two counter readings is already
/// far from what the counter gives.
const GPU_COUNTER_EVERY_MAX: Duration = Duration::from_secs(86_400);

/// Whether jobs are assessed without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPolicy {
    /// Only jobs that pass `--energy-assess`.
    OptIn,
    /// Every job, unless it passes `--energy-assess=off` and opting out is allowed.
    Always,
}

pub use ea_meters::Sources;

/// The validated configuration the plugin runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Whether jobs are assessed without asking (`default=`).
    pub default: DefaultPolicy,
    /// Whether a user may pass `--energy-assess=off` under `default=always`.
    pub allow_opt_out: bool,
    /// The node's spool, where records are written (absolute).
    pub spool: PathBuf,
    /// Whether the epilog writes the job's summary file by default.
    pub summary: bool,
    /// The collectors' base URLs (`http://host:port`), tried in order; empty: records stay in
    /// the spool (read by `ingest --spool`), nothing is forwarded.
    pub collector: Vec<String>,
    /// The forwarder binary the epilog starts when `collector` is set.
    pub forwarder: PathBuf,
    /// How long a delivered record stays in the local spool.
    pub keep_delivered: Duration,
    /// What the sampler measures and how.
    pub meters: MeterSettings,
}

/// The sampler's settings, handed to it by the prolog.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSettings {
    /// Root under which `/sys` and `/proc` are read; `%n` is replaced by the node name.
    pub sysroot: String,
    /// Time between two readings of every meter.
    pub interval: Duration,
    /// Which meters to read (`rapl,nvml,ipmi,hwmon`).
    pub sources: Sources,
    /// The OpenIPMI device read in-process for the BMC (`/dev/ipmi0`); `None`: the command
    /// only (see the module's doc for when).
    pub ipmi_device: Option<PathBuf>,
    /// The BMC's power reading command and its arguments (`ipmitool dcmi power reading`),
    /// used when there is no device or it does not answer.
    pub ipmi_command: Vec<String>,
    /// libnvidia-ml to load; `None`: the system's.
    pub nvml_library: Option<PathBuf>,
    /// The sampler binary the prolog starts.
    pub sampler: PathBuf,
    /// How long the epilog waits for the sampler's last reading before it reads alone.
    pub stop_timeout: Duration,
    /// How long after the job's extern step is gone the sampler waits for the epilog before
    /// it salvages the record itself.
    pub orphan_after: Duration,
    /// How often each GPU's energy counter is read, power being read between (see
    /// `ea_meters::job::DEFAULT_GPU_COUNTER_EVERY`); zero: at every reading.
    pub gpu_counter_every: Duration,
}

impl MeterSettings {
    /// The node side's configuration for one node: `%n` in `sysroot` becomes the node name
    /// (several slurmd on one test host each read their own simulated tree).
    pub fn node_config(&self, node: &str) -> ea_meters::NodeConfig {
        ea_meters::NodeConfig {
            sysroot: PathBuf::from(self.sysroot.replace("%n", node)),
            interval: self.interval,
            ipmi_device: self.ipmi_device.clone().filter(|_| self.sources.ipmi),
            ipmi_command: (self.sources.ipmi && !self.ipmi_command.is_empty())
                .then(|| self.ipmi_command.clone()),
            nvml_library: self.nvml_library.clone(),
            sources: self.sources,
            sampler_exe: self.sampler.clone(),
            stop_timeout: self.stop_timeout,
            orphan_after: self.orphan_after,
            gpu_counter_every: self.gpu_counter_every,
            ..ea_meters::NodeConfig::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default: DefaultPolicy::OptIn,
            allow_opt_out: true,
            spool: PathBuf::from(ea_record::spool::DEFAULT_SPOOL),
            summary: false,
            collector: Vec::new(),
            forwarder: PathBuf::from(DEFAULT_FORWARDER),
            keep_delivered: Duration::from_secs(7 * 86_400),
            meters: MeterSettings {
                sysroot: "/".into(),
                // RAPL's 32-bit counters wrap after 262 kJ: 22 min at 200 W, ~4 min at
                // 1 kW for a big socket. 10 s is far inside that and costs little.
                interval: Duration::from_secs(10),
                sources: Sources::all(),
                ipmi_device: Some(PathBuf::from(ea_meters::ipmi_dev::DEFAULT_DEVICE)),
                ipmi_command: ["ipmitool", "dcmi", "power", "reading"]
                    .map(String::from)
                    .to_vec(),
                nvml_library: None,
                sampler: PathBuf::from(DEFAULT_SAMPLER),
                stop_timeout: Duration::from_secs(2),
                orphan_after: ea_meters::job::DEFAULT_ORPHAN_AFTER,
                gpu_counter_every: ea_meters::job::DEFAULT_GPU_COUNTER_EVERY,
            },
        }
    }
}

/// A problem with the configuration, worded for the slurmd log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem(pub String);

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file as written; every field optional so that an absent key means the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default: Option<String>,
    allow_opt_out: Option<bool>,
    spool: Option<PathBuf>,
    summary: Option<bool>,
    collector: Option<Vec<String>>,
    forwarder: Option<PathBuf>,
    keep_delivered: Option<toml::Value>,
    meters: Option<RawMeters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeters {
    sysroot: Option<String>,
    interval: Option<toml::Value>,
    sources: Option<Vec<String>>,
    ipmi_device: Option<String>,
    ipmi_command: Option<Vec<String>>,
    nvml_library: Option<PathBuf>,
    sampler: Option<PathBuf>,
    stop_timeout: Option<toml::Value>,
    orphan_after: Option<toml::Value>,
    gpu_counter_every: Option<toml::Value>,
}

/// The plugstack keys, and where each goes.
const ARG_KEYS: &[&str] = &[
    "config",
    "spool",
    "default",
    "allow_opt_out",
    "summary",
    "collector",
    "forwarder",
    "keep_delivered",
    "sysroot",
    "interval",
    "sources",
    "ipmi_device",
    "ipmi_command",
    "nvml_library",
    "sampler",
    "stop_timeout",
    "orphan_after",
    "gpu_counter_every",
];

/// Builds the configuration from the plugstack arguments and the file they (or the default)
/// name. Always returns a usable config; the problems found along the way are returned for
/// logging.
pub fn load(args: &[String]) -> (Config, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let mut pairs = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) if ARG_KEYS.contains(&k) => pairs.push((k.to_string(), v.to_string())),
            Some((k, _)) => problems.push(ConfigProblem(format!(
                "plugstack.conf: unknown argument `{k}`; known arguments are {}",
                ARG_KEYS.join(", ")
            ))),
            None => problems.push(ConfigProblem(format!(
                "plugstack.conf: argument `{arg}` is not of the form key=value (e.g. spool=/var/spool/energy-assess)"
            ))),
        }
    }
    let file = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "config")
        .map(|(_, v)| PathBuf::from(v))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));

    let mut config = Config::default();
    match std::fs::read_to_string(&file) {
        Ok(text) => match parse_file(&text, &file) {
            Ok(c) => config = c,
            Err(p) => problems.push(p),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(ConfigProblem(format!(
            "{}: cannot read: {e}; using built-in defaults",
            file.display()
        ))),
    }
    for (key, value) in pairs.iter().filter(|(k, _)| k != "config") {
        if let Err(p) = apply_arg(&mut config, key, value) {
            problems.push(ConfigProblem(format!("plugstack.conf: {key}={value}: {p}")));
        }
    }
    let has = |key: &str| pairs.iter().any(|(k, _)| k == key);
    if has("ipmi_command") && !has("ipmi_device") {
        config.meters.ipmi_device = None; // the plugstack line chose the command
    }
    (config, problems)
}

/// Parses the site file. On error, the whole file is rejected with a message that names it,
/// the line, and what is wrong.
pub fn parse_file(text: &str, path: &Path) -> Result<Config, ConfigProblem> {
    let fail = |msg: String| {
        ConfigProblem(format!(
            "{}: {msg}; ignoring this file, using built-in defaults",
            path.display()
        ))
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| fail(describe_toml_error(text, &e)))?;
    let mut c = Config::default();
    let at = |key: &str| -> String {
        match line_of(text, key) {
            Some(line) => format!("line {line}: `{key}`"),
            None => format!("`{key}`"),
        }
    };
    if let Some(v) = raw.default {
        c.default = parse_policy(&v).map_err(|e| fail(format!("{}: {e}", at("default"))))?;
    }
    if let Some(v) = raw.allow_opt_out {
        c.allow_opt_out = v;
    }
    if let Some(v) = raw.spool {
        c.spool = check_spool(&v).map_err(|e| fail(format!("{}: {e}", at("spool"))))?;
    }
    if let Some(v) = raw.summary {
        c.summary = v;
    }
    if let Some(v) = raw.collector {
        c.collector = check_collectors(v).map_err(|e| fail(format!("{}: {e}", at("collector"))))?;
    }
    if let Some(v) = raw.forwarder {
        c.forwarder = v;
    }
    if let Some(v) = raw.keep_delivered {
        c.keep_delivered = duration_value(&v, KEEP_DELIVERED_MIN, KEEP_DELIVERED_MAX)
            .map_err(|e| fail(format!("{}: {e}", at("keep_delivered"))))?;
    }
    if let Some(m) = raw.meters {
        let mm = &mut c.meters;
        if let Some(v) = m.sysroot {
            mm.sysroot = check_absolute(&v).map_err(|e| fail(format!("{}: {e}", at("sysroot"))))?;
        }
        if let Some(v) = m.interval {
            mm.interval = duration_value(&v, Duration::from_millis(100), Duration::from_secs(3600))
                .map_err(|e| fail(format!("{}: {e}", at("interval"))))?;
        }
        if let Some(v) = m.sources {
            mm.sources = Sources::parse(&v.join(","))
                .map_err(|e| fail(format!("{}: {e}", at("sources"))))?;
        }
        if m.ipmi_command.is_some() && m.ipmi_device.is_none() {
            mm.ipmi_device = None; // the site chose the command
        }
        if let Some(v) = m.ipmi_device {
            mm.ipmi_device =
                ipmi_device(&v).map_err(|e| fail(format!("{}: {e}", at("ipmi_device"))))?;
        }
        if let Some(v) = m.ipmi_command {
            mm.ipmi_command = v;
        }
        if let Some(v) = m.nvml_library {
            mm.nvml_library = Some(v);
        }
        if let Some(v) = m.sampler {
            mm.sampler = v;
        }
        if let Some(v) = m.stop_timeout {
            mm.stop_timeout =
                duration_value(&v, Duration::from_millis(50), Duration::from_secs(30))
                    .map_err(|e| fail(format!("{}: {e}", at("stop_timeout"))))?;
        }
        if let Some(v) = m.orphan_after {
            mm.orphan_after = duration_value(&v, ORPHAN_AFTER_MIN, ORPHAN_AFTER_MAX)
                .map_err(|e| fail(format!("{}: {e}", at("orphan_after"))))?;
        }
        if let Some(v) = m.gpu_counter_every {
            mm.gpu_counter_every = duration_value(&v, Duration::ZERO, GPU_COUNTER_EVERY_MAX)
                .map_err(|e| fail(format!("{}: {e}", at("gpu_counter_every"))))?;
        }
    }
    Ok(c)
}

fn apply_arg(c: &mut Config, key: &str, value: &str) -> Result<(), ValueError> {
    match key {
        "spool" => c.spool = check_spool(Path::new(value))?,
        "default" => c.default = parse_policy(value)?,
        "allow_opt_out" => c.allow_opt_out = parse_bool(value)?,
        "summary" => c.summary = parse_bool(value)?,
        "collector" => {
            c.collector = check_collectors(
                value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )?
        }
        "forwarder" => c.forwarder = PathBuf::from(value),
        "keep_delivered" => {
            c.keep_delivered = parse_duration(value, KEEP_DELIVERED_MIN, KEEP_DELIVERED_MAX)?
        }
        "sysroot" => c.meters.sysroot = check_absolute(value)?,
        "interval" => {
            c.meters.interval =
                parse_duration(value, Duration::from_millis(100), Duration::from_secs(3600))?
        }
        "sources" => c.meters.sources = Sources::parse(value)?,
        "ipmi_device" => c.meters.ipmi_device = ipmi_device(value)?,
        "ipmi_command" => {
            c.meters.ipmi_command = value.split(',').map(|s| s.trim().to_string()).collect()
        }
        "nvml_library" => c.meters.nvml_library = Some(PathBuf::from(value)),
        "sampler" => c.meters.sampler = PathBuf::from(value),
        "stop_timeout" => {
            c.meters.stop_timeout =
                parse_duration(value, Duration::from_millis(50), Duration::from_secs(30))?
        }
        "orphan_after" => {
            c.meters.orphan_after = parse_duration(value, ORPHAN_AFTER_MIN, ORPHAN_AFTER_MAX)?
        }
        "gpu_counter_every" => {
            c.meters.gpu_counter_every =
                parse_duration(value, Duration::ZERO, GPU_COUNTER_EVERY_MAX)?
        }
        _ => unreachable!("load() only passes known keys"),
    }
    Ok(())
}

/// Collector URLs: plain `http://host:port` (the forwarder's client has no TLS; MUNGE
/// authenticates and binds the body, which is not secret beyond the site's network).
fn check_collectors(urls: Vec<String>) -> Result<Vec<String>, ValueError> {
    for u in &urls {
        let rest = u
            .strip_prefix("http://")
            .ok_or_else(|| ValueError::NotHttpUrl(u.clone()))?;
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(ValueError::NoHost(u.clone()));
        }
    }
    Ok(urls)
}

fn parse_policy(v: &str) -> Result<DefaultPolicy, ValueError> {
    match v {
        "opt-in" => Ok(DefaultPolicy::OptIn),
        "always" => Ok(DefaultPolicy::Always),
        other => Err(ValueError::NotPolicy(other.to_string())),
    }
}

fn parse_bool(v: &str) -> Result<bool, ValueError> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => Err(ValueError::NotBool(other.to_string())),
    }
}

fn check_spool(p: &Path) -> Result<PathBuf, ValueError> {
    if !p.is_absolute() {
        return Err(ValueError::NotAbsolute(p.display().to_string()));
    }
    Ok(p.to_path_buf())
}

/// `ipmi_device`: an absolute path, or `""` for none.
fn ipmi_device(v: &str) -> Result<Option<PathBuf>, ValueError> {
    if v.is_empty() {
        return Ok(None);
    }
    check_absolute(v).map(|p| Some(PathBuf::from(p)))
}

fn check_absolute(v: &str) -> Result<String, ValueError> {
    if !v.starts_with('/') {
        return Err(ValueError::NotAbsolute(v.to_string()));
    }
    Ok(v.to_string())
}

fn duration_value(v: &toml::Value, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    match v {
        toml::Value::Integer(secs) if *secs >= 0 => parse_duration(&format!("{secs}s"), min, max),
        toml::Value::Float(secs) if *secs >= 0.0 => parse_duration(&format!("{secs}s"), min, max),
        toml::Value::String(s) => parse_duration(s, min, max),
        other => Err(ValueError::NotDurationValue(other.to_string())),
    }
}

/// Parses `500ms`, `10s`, `10`, `1.5s`, `2m` within [min, max].
pub fn parse_duration(v: &str, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    let v = v.trim();
    let (number, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| ValueError::NotDuration(v.to_string()))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        other => {
            return Err(ValueError::UnknownUnit {
                unit: other.to_string(),
                value: v.to_string(),
            });
        }
    };
    // Checked before it becomes a Duration, which cannot hold 1e30 s (and panics on it).
    if !(secs.is_finite() && secs >= min.as_secs_f64() && secs <= max.as_secs_f64()) {
        return Err(ValueError::OutOfRange {
            value: v.to_string(),
            min,
            max,
        });
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Why one value of the configuration is refused. The message is logged after the key and
/// where it was set (`plugstack.conf: interval=5: ...`, `file:line: interval: ...`).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueError {
    /// A collector that is not an `http://` URL.
    NotHttpUrl(String),
    /// A collector URL with nothing after `http://`.
    NoHost(String),
    /// `default=` other than `opt-in` or `always`.
    NotPolicy(String),
    /// A yes/no key given something else.
    NotBool(String),
    /// A path that must be absolute (spool, sysroot).
    NotAbsolute(String),
    /// A duration in the file that is neither a number nor a string.
    NotDurationValue(String),
    /// Duration text whose number does not read.
    NotDuration(String),
    /// Duration text with a unit other than ms, s, m, h, d.
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole value.
        value: String,
    },
    /// A duration outside what the key allows.
    OutOfRange {
        /// The value as written.
        value: String,
        /// The shortest allowed.
        min: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// `sources=` with an unknown meter source.
    Source(ea_meters::source::UnknownSource),
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::NotHttpUrl(u) => {
                write!(
                    f,
                    "`{u}` is not an http:// URL; write e.g. \"http://admin:7373\""
                )
            }
            ValueError::NoHost(u) => {
                write!(f, "`{u}` names no host; write e.g. \"http://admin:7373\"")
            }
            ValueError::NotPolicy(v) => {
                write!(f, "`{v}` is not a policy; write \"opt-in\" or \"always\"")
            }
            ValueError::NotBool(v) => write!(f, "`{v}` is not true or false"),
            ValueError::NotAbsolute(v) => write!(f, "`{v}` must be an absolute path"),
            ValueError::NotDurationValue(v) => {
                write!(
                    f,
                    "`{v}` is not a duration; write e.g. \"10s\" or \"500ms\""
                )
            }
            ValueError::NotDuration(v) => write!(
                f,
                "`{v}` is not a duration; write e.g. \"10s\", \"500ms\" or \"2m\""
            ),
            ValueError::UnknownUnit { unit, value } => {
                write!(
                    f,
                    "unknown unit `{unit}` in `{value}`; use ms, s, m, h or d"
                )
            }
            ValueError::OutOfRange { value, min, max } => {
                write!(
                    f,
                    "`{value}` is out of range; use between {min:?} and {max:?}"
                )
            }
            ValueError::Source(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ValueError {}

impl From<ea_meters::source::UnknownSource> for ValueError {
    fn from(e: ea_meters::source::UnknownSource) -> Self {
        ValueError::Source(e)
    }
}

/// 1-based line of the first line that sets `key`, for error messages.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// toml's message, reduced to one line that starts with the line number.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let msg = e.message().trim().replace('\n', " ");
    match line {
        Some(line) => format!("line {line}: {msg}"),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigProblem> {
        parse_file(text, Path::new("/etc/slurm/energy-assess.toml"))
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn collectors_and_delivery_keys_are_read_and_checked() {
        let c = parse(
            r#"
            collector = ["http://admin:7373", "http://backup:7373"]
            forwarder = "/opt/ea/forwarder"
            keep_delivered = "2d"
            "#,
        )
        .unwrap();
        assert_eq!(c.collector, ["http://admin:7373", "http://backup:7373"]);
        assert_eq!(c.forwarder, PathBuf::from("/opt/ea/forwarder"));
        assert_eq!(c.keep_delivered, Duration::from_secs(2 * 86_400));
        assert!(
            Config::default().collector.is_empty(),
            "nothing forwarded by default"
        );
        let e = parse(r#"collector = ["https://admin:7373"]"#).unwrap_err();
        assert!(e.0.contains("line 1") && e.0.contains("http://"), "{e}");
        assert!(parse(r#"keep_delivered = "1m""#).is_err(), "under an hour");
        let (c, problems) = load(&[
            "config=/nonexistent".into(),
            "collector=http://a:1, http://b:2".into(),
            "keep_delivered=12h".into(),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.collector, ["http://a:1", "http://b:2"]);
        assert_eq!(c.keep_delivered, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn the_shipped_example_parses_and_names_the_collectors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/energy-assess.toml");
        let text = std::fs::read_to_string(&path).expect("configs/energy-assess.toml");
        let c = parse_file(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.collector, ["http://admin1:7373", "http://admin2:7373"]);
        assert_eq!(c.keep_delivered, Duration::from_secs(7 * 86_400));
        assert_eq!(c.forwarder, PathBuf::from(DEFAULT_FORWARDER));
        // The device first, ipmitool when it fails.
        assert_eq!(c.meters.ipmi_device, Some(PathBuf::from("/dev/ipmi0")));
        assert_eq!(c.meters.ipmi_command[0], "ipmitool");
        let n = c.meters.node_config("n1");
        assert_eq!(n.ipmi_device, Some(PathBuf::from("/dev/ipmi0")));
        assert!(n.ipmi_command.is_some());
    }

    #[test]
    fn ipmi_device_and_command_precedence() {
        let dev = |c: &Config| c.meters.ipmi_device.clone();
        let d0 = Some(PathBuf::from("/dev/ipmi0"));
        assert_eq!(dev(&Config::default()), d0);
        assert_eq!(dev(&parse("[meters]\ninterval = \"5s\"").unwrap()), d0);
        // A command alone: the command only.
        let c = parse("[meters]\nipmi_command = [\"ipmi-dcmi\"]").unwrap();
        assert_eq!(dev(&c), None);
        assert_eq!(c.meters.node_config("n").ipmi_device, None);
        // Both: the device first, the command as the fallback.
        let c = parse("[meters]\nipmi_device = \"/dev/ipmi1\"\nipmi_command = [\"x\"]").unwrap();
        assert_eq!(dev(&c), Some(PathBuf::from("/dev/ipmi1")));
        assert_eq!(dev(&parse("[meters]\nipmi_device = \"\"").unwrap()), None);
        let e = parse("[meters]\nipmi_device = \"ipmi0\"").unwrap_err().0;
        assert!(
            e.contains("line 2: `ipmi_device`") && e.contains("absolute"),
            "{e}"
        );
        // No BMC meter: no device either.
        let c = parse("[meters]\nsources = [\"rapl\"]").unwrap();
        assert_eq!(c.meters.node_config("n").ipmi_device, None);
        // The plugstack line, the same way.
        let args = |a: &[&str]| {
            let mut v = vec!["config=/nonexistent/ea.toml".to_string()];
            v.extend(a.iter().map(|s| s.to_string()));
            let (c, problems) = load(&v);
            assert!(problems.is_empty(), "{problems:?}");
            c
        };
        assert_eq!(
            dev(&args(&["ipmi_command=ipmitool,dcmi,power,reading"])),
            None
        );
        assert_eq!(
            dev(&args(&["ipmi_command=ipmitool", "ipmi_device=/dev/ipmi2"])),
            Some(PathBuf::from("/dev/ipmi2"))
        );
        assert_eq!(dev(&args(&["ipmi_device="])), None);
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
            default = "always"
            allow_opt_out = false
            spool = "/srv/ea"
            summary = true
            [meters]
            sysroot = "/sim/%n"
            interval = "500ms"
            sources = ["rapl", "nvml"]
            ipmi_command = ["ipmi-dcmi", "--get-system-power-statistics"]
            nvml_library = "/opt/fake/libnvidia-ml.so"
            sampler = "/opt/ea/sampler"
            stop_timeout = 3
            orphan_after = "30s"
            gpu_counter_every = "5m"
            "#,
        )
        .unwrap();
        assert_eq!(c.default, DefaultPolicy::Always);
        assert!(!c.allow_opt_out && c.summary);
        assert_eq!(c.spool, PathBuf::from("/srv/ea"));
        assert_eq!(c.meters.sysroot, "/sim/%n");
        assert_eq!(c.meters.interval, Duration::from_millis(500));
        assert_eq!(
            c.meters.sources,
            Sources {
                rapl: true,
                nvml: true,
                ipmi: false,
                hwmon: false
            }
        );
        assert_eq!(Config::default().meters.sources, Sources::all());
        assert_eq!(c.meters.ipmi_command[0], "ipmi-dcmi");
        assert_eq!(c.meters.stop_timeout, Duration::from_secs(3));
        assert_eq!(c.meters.orphan_after, Duration::from_secs(30));
        assert_eq!(c.meters.gpu_counter_every, Duration::from_secs(300));
        assert_eq!(
            c.meters.node_config("n1").gpu_counter_every,
            Duration::from_secs(300),
            "handed to the sampler"
        );
        let every_reading = parse("[meters]\ngpu_counter_every = 0").unwrap();
        assert_eq!(every_reading.meters.gpu_counter_every, Duration::ZERO);
        let e = parse("[meters]\ngpu_counter_every = \"2d\"").unwrap_err().0;
        assert!(e.contains("gpu_counter_every"), "{e}");
    }

    #[test]
    fn unknown_key_names_line_and_known_keys() {
        let e = parse("spool = \"/srv\"\ndefualt = \"always\"\n")
            .unwrap_err()
            .0;
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("defualt") && e.contains("default"), "{e}");
        assert!(e.contains("/etc/slurm/energy-assess.toml"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let e = parse("\ndefault = \"sometimes\"").unwrap_err().0;
        assert!(e.contains("line 2") && e.contains("opt-in"), "{e}");
        let e = parse("spool = \"relative/dir\"").unwrap_err().0;
        assert!(e.contains("absolute"), "{e}");
        let e = parse("[meters]\ninterval = \"10 parsecs\"").unwrap_err().0;
        assert!(e.contains("line 2") && e.contains("unit"), "{e}");
        let e = parse("[meters]\ninterval = \"0.001s\"").unwrap_err().0;
        assert!(e.contains("out of range"), "{e}");
        for huge in ["1e30", "1.0e300", "inf", "nan", "100000000000000000000000"] {
            let e = parse(&format!("[meters]\ninterval = {huge}"))
                .unwrap_err()
                .0;
            assert!(
                e.contains("line 2") && e.contains("energy-assess.toml"),
                "{huge}: {e}"
            );
            // TOML itself refuses an integer beyond 64 bits, at its line; the rest name the key.
            assert!(huge.len() > 20 || e.contains("interval"), "{huge}: {e}");
        }
        let e = parse("[meters]\nstop_timeout = 1e30").unwrap_err().0;
        assert!(
            e.contains("stop_timeout") && e.contains("out of range"),
            "{e}"
        );
        let e = parse("[meters]\nsources = [\"rapl\", \"msr\"]")
            .unwrap_err()
            .0;
        assert!(e.contains("line 2") && e.contains("msr"), "{e}");
        let e = parse("default = = 3").unwrap_err().0;
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn plugstack_arguments_override_the_file() {
        let dir = std::env::temp_dir().join(format!("ea-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("site.toml");
        std::fs::write(&file, "default = \"always\"\nspool = \"/from/file\"\n").unwrap();
        let args: Vec<String> = [
            format!("config={}", file.display()),
            "spool=/from/args".into(),
            "interval=2s".into(),
            "bogus=1".into(),
            "noequals".into(),
        ]
        .into();
        let (c, problems) = load(&args);
        assert_eq!(c.default, DefaultPolicy::Always);
        assert_eq!(c.spool, PathBuf::from("/from/args"));
        assert_eq!(c.meters.interval, Duration::from_secs(2));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].0.contains("unknown argument `bogus`"));
        assert!(problems[1].0.contains("key=value"));
        let (c, problems) = load(&[
            format!("config={}/absent.toml", dir.display()),
            "interval=100000000000000000000000".to_string(),
        ]);
        assert_eq!(c.meters.interval, Config::default().meters.interval);
        assert!(
            problems[0].0.contains("plugstack.conf: interval=") && problems[0].0.contains("range"),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_file_falls_back_to_defaults_plus_arguments() {
        let dir = std::env::temp_dir().join(format!("ea-config-broken-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("site.toml");
        std::fs::write(&file, "default = \"always\"\nthis is not toml\n").unwrap();
        let (c, problems) = load(&[
            format!("config={}", file.display()),
            "spool=/from/args".to_string(),
        ]);
        assert_eq!(c.default, DefaultPolicy::OptIn);
        assert_eq!(c.spool, PathBuf::from("/from/args"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].0.contains("line 2"), "{:?}", problems);
        // A missing file is not a problem.
        let (_, problems) = load(&[format!("config={}/absent.toml", dir.display())]);
        assert!(problems.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn durations() {
        let (min, max) = (Duration::from_millis(1), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("10", min, max).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            parse_duration("1.5s", min, max).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_duration("2m", min, max).unwrap(),
            Duration::from_secs(120)
        );
        assert!(parse_duration("fast", min, max).is_err());
        // Beyond what a Duration holds: refused with the range, never a panic.
        for huge in [
            "100000000000000000000000",
            "1e30s",
            "184467440737095516160s",
        ] {
            let e = parse_duration(huge, min, max).unwrap_err().to_string();
            assert!(
                ["out of range", "not a duration", "unknown unit"]
                    .iter()
                    .any(|m| e.contains(m)),
                "{e}"
            );
        }
        assert!(parse_duration("2h", min, max).is_err());
    }
}
