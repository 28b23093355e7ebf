//! The post-processor's site configuration: where the store is, who is an admin, the site's
//! cluster and time zone, and the Green-Algorithms tables for unmeasured jobs.
//!
//! ```toml
//! # /etc/energy-assess/postproc.toml (every key optional)
//! [store]
//! path = "/var/lib/energy-assess/store.sqlite"
//! group = "energy-assess"       # give this group read access (0640), for a setgid install
//!
//! [site]
//! cluster = "mycluster"         # for dumps without a Cluster column
//! timezone = "Europe/Paris"     # sacct's local time; default: the system's
//! inventory = "/etc/energy-assess/inventory.toml"   # nodes' hardware, for embodied impacts
//!
//! [privacy]
//! admin_users = ["hpcadmin", "1042"]   # names or uids, besides root
//! admin_groups = ["hpc-staff"]
//!
//! [estimate]                    # Green Algorithms (Lannelongue et al. 2021)
//! cpu_w_per_core = 12.0         # GA v3.0 "Any" CPU
//! gpu_w = 200.0                 # GA v3.0 "Any" GPU
//! memory_w_per_gb = 0.3725
//! uncalibrated_range = [0.8, 2.0]
//! min_calibration_jobs = 5
//! [[estimate.partition]]
//! name = "gpu"
//! cpu_w_per_core = 7.5
//! gpu_w = 300.0
//!
//! [ingest]
//! record_grace_minutes = 30     # wait this long after a job's end for missing node records
//! ```
//!
//! Two stages: [`RawConfig`] is what the file says (unknown keys refused), [`Config`] what was
//! checked. Errors name the file, the line and the fix.

pub use ea_energy::estimate::{EstimateSettings, Tdp};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the post-processor's config is read from unless `--config` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/energy-assess/postproc.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// The config file as TOML gives it, before checks.
pub struct RawConfig {
    #[serde(default)]
    /// `[store]`.
    pub store: RawStore,
    #[serde(default)]
    /// `[site]`.
    pub site: RawSite,
    #[serde(default)]
    /// `[privacy]`.
    pub privacy: RawPrivacy,
    #[serde(default)]
    /// `[estimate]`.
    pub estimate: RawEstimate,
    #[serde(default)]
    /// `[ingest]`.
    pub ingest: RawIngest,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[store]`: where the store is and who may read it.
pub struct RawStore {
    /// `path`: the SQLite file.
    pub path: Option<PathBuf>,
    /// `group`: the group that may read it.
    pub group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[site]`: the cluster, its time zone and inventory.
pub struct RawSite {
    /// `cluster`: the name records and sacct rows default to.
    pub cluster: Option<String>,
    /// `timezone`: the zone of sacct's times and of reports' months.
    pub timezone: Option<String>,
    /// `inventory`: the impact engine's inventory file.
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[privacy]`: who sees every job.
pub struct RawPrivacy {
    #[serde(default)]
    /// `admin_users`: names or uids.
    pub admin_users: Vec<String>,
    #[serde(default)]
    /// `admin_groups`: group names.
    pub admin_groups: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[estimate]`: powers of unmeasured jobs and calibration.
pub struct RawEstimate {
    /// `cpu_w_per_core`, W.
    pub cpu_w_per_core: Option<f64>,
    /// `gpu_w`, W.
    pub gpu_w: Option<f64>,
    /// `memory_w_per_gb`, W.
    pub memory_w_per_gb: Option<f64>,
    /// `uncalibrated_range`: [min, max] multipliers.
    pub uncalibrated_range: Option<[f64; 2]>,
    /// `min_calibration_jobs`: measured jobs a calibration needs.
    pub min_calibration_jobs: Option<u32>,
    #[serde(default)]
    /// `[[estimate.partition]]`: per-partition powers.
    pub partition: Vec<RawPartitionTdp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[[estimate.partition]]`: one partition's powers.
pub struct RawPartitionTdp {
    /// `name`: the partition.
    pub name: String,
    /// `cpu_w_per_core`, W.
    pub cpu_w_per_core: Option<f64>,
    /// `gpu_w`, W.
    pub gpu_w: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[ingest]`: how the ingest waits for records.
pub struct RawIngest {
    /// `record_grace_minutes`: how long after a job's end its records may still come.
    pub record_grace_minutes: Option<u32>,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from; `None` for built-in defaults.
    pub source: Option<PathBuf>,
    /// The SQLite store.
    pub store_path: PathBuf,
    /// The group that may read the store.
    pub store_group: Option<String>,
    /// The default cluster name.
    pub cluster: String,
    /// The zone of sacct's times and reports' months; `None`: the system's.
    pub timezone: Option<String>,
    /// The inventory file; `None`: energies only.
    pub inventory: Option<PathBuf>,
    /// Admins by name or uid.
    pub admin_users: Vec<String>,
    /// Admins by group.
    pub admin_groups: Vec<String>,
    /// How unmeasured jobs are estimated.
    pub estimate: EstimateSettings,
    /// How long after a job's end its records may still come, seconds.
    pub record_grace_s: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: None,
            store_path: PathBuf::from(crate::DEFAULT_DB_PATH),
            store_group: None,
            cluster: "default".into(),
            timezone: None,
            inventory: None,
            admin_users: Vec::new(),
            admin_groups: Vec::new(),
            estimate: EstimateSettings::default(),
            record_grace_s: 30 * 60,
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads a file. With `required = false`, a missing file means defaults (the default
    /// path need not exist); a file given explicitly must exist.
    ///
    /// # Errors
    /// Unreadable file, TOML syntax, unknown keys, values out of range.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(ConfigError {
                    path: path.into(),
                    line: None,
                    message: format!("cannot read: {e}"),
                });
            }
        };
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` is for messages.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            path: path.into(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_string(),
        })?;
        let at = Located { text, path };
        let d = EstimateSettings::default();
        let e = &raw.estimate;
        let (default, partitions) = tdps(e, &d, &at)?;
        let uncalibrated_range = uncalibrated_range(e, &d, &at)?;
        check_site(&raw.site, &at)?;
        Ok(Self {
            source: Some(path.into()),
            store_path: raw
                .store
                .path
                .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_DB_PATH)),
            store_group: raw.store.group,
            cluster: raw.site.cluster.unwrap_or_else(|| "default".into()),
            timezone: raw.site.timezone,
            inventory: raw.site.inventory,
            admin_users: raw.privacy.admin_users,
            admin_groups: raw.privacy.admin_groups,
            estimate: EstimateSettings {
                default,
                partitions,
                memory_w_per_gb: at.positive(
                    "memory_w_per_gb",
                    e.memory_w_per_gb,
                    d.memory_w_per_gb,
                )?,
                uncalibrated_range,
                min_calibration_jobs: e
                    .min_calibration_jobs
                    .unwrap_or(d.min_calibration_jobs)
                    .max(1),
            },
            record_grace_s: i64::from(raw.ingest.record_grace_minutes.unwrap_or(30)) * 60,
        })
    }
}

/// The config's text and file, to say where a bad value is: the first line that starts with
/// its key.
struct Located<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Located<'_> {
    fn err(&self, key: &str, message: String) -> ConfigError {
        ConfigError {
            path: self.path.into(),
            line: self
                .text
                .lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1),
            message,
        }
    }

    /// A power in watts, 0 or more: `v`, or `default` when the key is absent.
    fn positive(&self, key: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        match v {
            None => Ok(default),
            Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
            Some(x) => Err(self.err(
                key,
                format!("`{key} = {x}`: give a power in watts, 0 or more"),
            )),
        }
    }
}

/// `[estimate]`'s powers: the default TDP, then each `[[estimate.partition]]`'s (what it does
/// not say taken from the default).
fn tdps(
    e: &RawEstimate,
    d: &EstimateSettings,
    at: &Located<'_>,
) -> Result<(Tdp, Vec<(String, Tdp)>), ConfigError> {
    let default = Tdp {
        cpu_w_per_core: at.positive(
            "cpu_w_per_core",
            e.cpu_w_per_core,
            d.default.cpu_w_per_core,
        )?,
        gpu_w: at.positive("gpu_w", e.gpu_w, d.default.gpu_w)?,
    };
    let mut partitions = Vec::new();
    for p in &e.partition {
        if p.name.is_empty() {
            return Err(at.err("name", "a [[estimate.partition]] has an empty name".into()));
        }
        partitions.push((
            p.name.clone(),
            Tdp {
                cpu_w_per_core: at.positive(
                    "cpu_w_per_core",
                    p.cpu_w_per_core,
                    default.cpu_w_per_core,
                )?,
                gpu_w: at.positive("gpu_w", p.gpu_w, default.gpu_w)?,
            },
        ));
    }
    Ok((default, partitions))
}

/// `uncalibrated_range`: [low, high] with 0 < low <= 1 <= high.
fn uncalibrated_range(
    e: &RawEstimate,
    d: &EstimateSettings,
    at: &Located<'_>,
) -> Result<(f64, f64), ConfigError> {
    match e.uncalibrated_range {
        None => Ok(d.uncalibrated_range),
        Some([lo, hi]) if lo > 0.0 && lo <= 1.0 && hi >= 1.0 && hi.is_finite() => Ok((lo, hi)),
        Some([lo, hi]) => Err(at.err(
            "uncalibrated_range",
            format!(
                "`uncalibrated_range = [{lo}, {hi}]`: write [low, high] with 0 < low <= 1 <= high"
            ),
        )),
    }
}

/// `[site]`: a time zone that exists, a cluster name that is not empty.
fn check_site(site: &RawSite, at: &Located<'_>) -> Result<(), ConfigError> {
    if let Some(tz) = &site.timezone {
        ea_sacct::timefmt::time_zone(Some(tz)).map_err(|e| at.err("timezone", e.to_string()))?;
    }
    if let Some(c) = &site.cluster
        && c.trim().is_empty()
    {
        return Err(at.err(
            "cluster",
            "`cluster` is empty; name the cluster as Slurm does (ClusterName)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc: String = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                format!(
                    "{}\n",
                    l.strip_prefix("//! ").unwrap_or("").trim_end_matches("//!")
                )
            })
            .collect();
        let c = Config::parse(&doc, Path::new("doc.toml")).unwrap();
        assert_eq!(c.cluster, "mycluster");
        assert_eq!(c.estimate.tdp(Some("gpu")).gpu_w, 300.0);
        assert_eq!(c.estimate.tdp(Some("cpu")).cpu_w_per_core, 12.0);
        assert_eq!(c.admin_groups, ["hpc-staff"]);
        assert_eq!(c.store_group.as_deref(), Some("energy-assess"));
    }

    #[test]
    fn the_example_in_configs_parses() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/postproc.toml"
        ));
        let c = Config::load(path, true).unwrap();
        assert_eq!(c.cluster, "testbed");
        assert_eq!(c.store_path, Path::new(crate::DEFAULT_DB_PATH));
        assert_eq!(c.estimate, EstimateSettings::default());
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let e = Config::parse(
            "[store]\npath = \"/x\"\n\n[estimate]\ngpu_w = -3\n",
            Path::new("/etc/p.toml"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(
            e.to_string().starts_with("/etc/p.toml:5: `gpu_w = -3`"),
            "{e}"
        );
        let e = Config::parse("[store]\npaht = 1\n", Path::new("p.toml")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("paht"), "{e}");
        let e = Config::parse("[site]\ntimezone = \"Mars/Olympus\"\n", Path::new("p.toml"))
            .unwrap_err();
        assert!(e.message.contains("IANA"), "{e}");
        assert!(Config::load(Path::new("/nonexistent/p.toml"), false).is_ok());
        assert!(Config::load(Path::new("/nonexistent/p.toml"), true).is_err());
    }
}
