//! The collector's configuration (`/etc/energy-assess/collect.toml`): where it listens, who
//! may send, which nodes each host speaks for, and how often it runs the sacct side.
//!
//! Two stages, as the post-processor's config: a raw `Deserialize` struct that refuses unknown
//! keys, then [`CollectConfig`], whose values are checked and resolved (user names to uids,
//! hostlists to node names).

use ea_record::hostlist;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where `energy-assess collect` reads its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/energy-assess/collect.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Option<String>,
    threads: Option<usize>,
    slurm_user: Option<String>,
    munge_socket: Option<PathBuf>,
    max_body_mb: Option<u64>,
    max_rows_per_commit: Option<usize>,
    live_interval_s: Option<u64>,
    live_lookback_s: Option<u64>,
    sacct: Option<PathBuf>,
    squeue: Option<PathBuf>,
    late_after_s: Option<u64>,
    use_phase_refresh_s: Option<u64>,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    hosts: BTreeMap<String, String>,
}

/// The sacct side, run on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSchedule {
    /// Seconds between two runs of `ingest --live`.
    pub interval_s: u64,
    /// How far back each run looks (its window is `now-<lookback>seconds`..`now`): longer than
    /// the interval, so that a job that ended during a failed run is taken by the next.
    pub lookback_s: u64,
    /// The sacct program the live ingest runs.
    pub sacct: PathBuf,
    /// The squeue program the live ingest runs.
    pub squeue: PathBuf,
}

/// A checked collector configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// HTTP worker threads (each verifies credentials and parses batches; one thread writes).
    /// Many, because each waits for the writer's commit: the batches waiting together are
    /// what one commit takes.
    pub threads: usize,
    /// The uids whose credentials may send records: root and the SlurmUser, if configured.
    pub allowed_uids: Vec<u32>,
    /// munged's socket, if not its default.
    pub munge_socket: Option<PathBuf>,
    /// The largest body accepted, in bytes.
    pub max_body_bytes: u64,
    /// At most this many rows from concurrent batches go into one transaction.
    pub max_rows_per_commit: usize,
    /// The sacct side's schedule; `None` when `live_interval_s = 0`.
    pub live: Option<LiveSchedule>,
    /// A node whose last record arrived longer ago than this is late (`collect --status`).
    pub late_after_s: u64,
    /// Seconds between two computations of the use phase over the whole store for `/metrics`
    /// (each costs what `acct -a` over the store costs).
    pub use_phase_refresh_s: u64,
    /// Where the collector keeps what it knows of the nodes (`nodes.json`); `None`: beside the
    /// store.
    pub state_dir: Option<PathBuf>,
    /// Which Slurm node names each sending host speaks for, beyond its own name.
    pub hosts: HostMap,
}

/// Which node names a sending host may send records of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMap(HashMap<String, HashSet<String>>);

impl HostMap {
    /// Whether `host` may send the record of node `node`: a host speaks for the node of its own
    /// name, and for the nodes the config's `[hosts]` gives it (several slurmd on one host,
    /// or a NodeHostname that differs from the NodeName).
    pub fn allows(&self, host: &str, node: &str) -> bool {
        node == host || self.0.get(host).is_some_and(|nodes| nodes.contains(node))
    }
}

/// A configuration that cannot be used, with what to fix.
/// Why the collector's configuration is refused; the message names the file or the key.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it answered.
        error: std::io::Error,
    },
    /// Not TOML of the expected keys.
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message.
        error: String,
    },
    /// A value that is out of range or names nothing.
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong with its value, and the fix.
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::Parse { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::Invalid { key, problem } => write!(f, "collect config, {key}: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl CollectConfig {
    /// Reads a config file; `None`, or the default path when it does not exist, gives the
    /// defaults.
    ///
    /// # Errors
    /// An unreadable file, unknown keys, or invalid values.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map_err(|e| match e {
                ConfigError::Parse { error, .. } => ConfigError::Parse { path, error },
                e => e,
            }),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Self::parse(""),
            Err(error) => Err(ConfigError::Read { path, error }),
        }
    }

    /// Parses and checks a config's text.
    ///
    /// # Errors
    /// Unknown keys or invalid values.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            error: e.to_string(),
        })?;
        let mut allowed_uids = vec![0];
        if let Some(u) = &raw.slurm_user {
            let uid = resolve_uid(u).ok_or_else(|| ConfigError::Invalid {
                key: "slurm_user",
                problem: format!("`{u}` is neither a user on this host nor a uid"),
            })?;
            if uid != 0 {
                allowed_uids.push(uid);
            }
        }
        let interval = raw.live_interval_s.unwrap_or(300);
        let live = (interval > 0).then(|| LiveSchedule {
            interval_s: interval,
            lookback_s: raw.live_lookback_s.unwrap_or((4 * interval).max(3600)),
            sacct: raw.sacct.clone().unwrap_or_else(|| "sacct".into()),
            squeue: raw.squeue.clone().unwrap_or_else(|| "squeue".into()),
        });
        let threads = raw.threads.unwrap_or(128);
        if threads == 0 {
            return Err(ConfigError::Invalid {
                key: "threads",
                problem: "must be at least 1".into(),
            });
        }
        Ok(Self {
            listen: raw.listen.unwrap_or_else(|| "0.0.0.0:7373".into()),
            threads,
            allowed_uids,
            munge_socket: raw.munge_socket,
            max_body_bytes: raw.max_body_mb.unwrap_or(64) * 1024 * 1024,
            max_rows_per_commit: raw.max_rows_per_commit.unwrap_or(20_000).max(1),
            live,
            late_after_s: raw.late_after_s.unwrap_or(3600),
            use_phase_refresh_s: raw.use_phase_refresh_s.unwrap_or(60).max(1),
            state_dir: raw.state_dir,
            hosts: host_map(&raw.hosts)?,
        })
    }
}

fn host_map(raw: &BTreeMap<String, String>) -> Result<HostMap, ConfigError> {
    let mut map = HashMap::new();
    for (host, list) in raw {
        let nodes = hostlist::expand(list).map_err(|e| ConfigError::Invalid {
            key: "hosts",
            problem: format!("{host}: {e}"),
        })?;
        map.insert(host.clone(), nodes.into_iter().collect());
    }
    Ok(HostMap(map))
}

/// A user name or a numeric uid.
fn resolve_uid(user: &str) -> Option<u32> {
    user.parse()
        .ok()
        .or_else(|| uzers::get_user_by_name(user).map(|u| u.uid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_root_only_and_run_the_sacct_side() {
        let c = CollectConfig::parse("").unwrap();
        assert_eq!(c.allowed_uids, [0]);
        assert_eq!(c.listen, "0.0.0.0:7373");
        let live = c.live.unwrap();
        assert_eq!(live.interval_s, 300);
        assert!(live.lookback_s > live.interval_s);
    }

    #[test]
    fn the_slurm_user_and_hosts_are_resolved() {
        let c = CollectConfig::parse(
            "slurm_user = \"root\"\nlive_interval_s = 0\n[hosts]\nbox = \"n[1-3]\"\n",
        )
        .unwrap();
        assert_eq!(c.allowed_uids, [0]);
        assert!(c.live.is_none());
        assert!(c.hosts.allows("box", "n2"));
        assert!(c.hosts.allows("n7", "n7"));
        assert!(!c.hosts.allows("box", "n4"));
        assert!(!c.hosts.allows("n1", "n2"));
        let c = CollectConfig::parse("slurm_user = \"64030\"").unwrap();
        assert_eq!(c.allowed_uids, [0, 64030]);
    }

    #[test]
    fn unknown_keys_and_unknown_users_are_refused() {
        assert!(CollectConfig::parse("listn = \"x\"").is_err());
        let e = CollectConfig::parse("slurm_user = \"no-such-user-here\"").unwrap_err();
        assert!(e.to_string().contains("slurm_user"), "{e}");
        assert!(CollectConfig::parse("[hosts]\nbox = \"n[1-\"").is_err());
    }

    #[test]
    fn the_example_config_is_read_and_gives_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collect.toml");
        let example = CollectConfig::load(Some(&path)).unwrap();
        let defaults = CollectConfig::parse("").unwrap();
        assert_eq!(example, defaults);
    }

    #[test]
    fn a_missing_file_is_an_error_only_when_named() {
        let missing = Path::new("/nonexistent/collect.toml");
        assert!(CollectConfig::load(Some(missing)).is_err());
    }
}
