//! `/metrics`, in the OpenMetrics text format, for the Prometheus a centre already runs.
//!
//! Counters are the collector's own since it started (Prometheus handles restarts); the
//! energy is read from the store when scraped (at most every [`ENERGY_REFRESH`]), so that it
//! holds everything stored, whichever collector or `ingest` stored it.
//!
//! The embodied GWP, ADPe and PE that the store allocates to jobs at ingest (with an
//! inventory) are exposed the same way. The use phase's GWP, ADPe and PE are computed from each
//! job's energy as `acct` computes them ([`Metrics::refresh_use_phase`], the same figures, so
//! a Grafana panel and `acct` agree), on a thread of their own every `use_phase_refresh_s` (collect.toml, 60 s by default):
//! that costs what `acct -a` over the whole store costs, which no scrape should wait for.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// How stale the store's energy figures may be when scraped.
pub const ENERGY_REFRESH: Duration = Duration::from_secs(15);

/// What the use phase is computed with, as `acct` computes it: the site's estimate settings
/// (for jobs no record measured) and the impact engine with the site's inventory.
pub struct Footprint {
    /// How jobs without a measured record are estimated.
    pub estimate: ea_store::config::EstimateSettings,
    /// The inventory and factors the figures come from.
    pub model: Box<dyn ea_query::figures::ImpactModel + Send>,
}

/// A label of one value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: String,
}

/// The outcome of a batch.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `acknowledged`, or why not.
    pub outcome: String,
}

/// A node.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    /// Its Slurm name.
    pub node: String,
}

/// Where energy is summed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct GroupLabel {
    /// The cluster.
    pub cluster: String,
    /// The partition (empty when unknown).
    pub partition: String,
    /// The account (empty when unknown).
    pub account: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The collector's metrics.
pub struct Metrics {
    registry: Registry,
    /// Records received in batches whose credential was accepted.
    pub received: Counter,
    /// Records stored (new or changed).
    pub stored: Counter,
    /// Records the store already held unchanged.
    pub duplicates: Counter,
    /// Records refused, by reason.
    pub rejected: Family<ReasonLabel, Counter>,
    /// Batches, by outcome.
    pub batches: Family<OutcomeLabel, Counter>,
    /// Unix time of the last record stored or acknowledged of each node.
    pub last_record: Family<NodeLabel, FloatGauge>,
    /// Runs of the sacct side, by outcome.
    pub live_runs: Family<OutcomeLabel, Counter>,
    energy: Family<GroupLabel, FloatGauge>,
    embodied: [Family<GroupLabel, FloatGauge>; 3],
    use_phase: [Family<GroupLabel, FloatGauge>; 3],
    store: Option<PathBuf>,
    refreshed: Mutex<Option<Instant>>,
}

impl Metrics {
    /// Metrics whose energy is read from the store at `store` (none: no energy).
    pub fn new(store: Option<PathBuf>) -> Self {
        let mut registry = Registry::with_prefix("energy_assess_collect");
        let m = Self {
            received: Counter::default(),
            stored: Counter::default(),
            duplicates: Counter::default(),
            rejected: Family::default(),
            batches: Family::default(),
            last_record: Family::default(),
            live_runs: Family::default(),
            energy: Family::default(),
            embodied: Default::default(),
            use_phase: Default::default(),
            store,
            refreshed: Mutex::new(None),
            registry: Registry::default(),
        };
        registry.register(
            "records_received",
            "Records received in authenticated batches",
            m.received.clone(),
        );
        registry.register(
            "records_stored",
            "Records stored (new or changed)",
            m.stored.clone(),
        );
        registry.register(
            "records_duplicate",
            "Records the store already held unchanged (a batch sent again)",
            m.duplicates.clone(),
        );
        registry.register(
            "records_rejected",
            "Records refused, by reason",
            m.rejected.clone(),
        );
        registry.register("batches", "Batches, by outcome", m.batches.clone());
        registry.register(
            "node_last_record_timestamp_seconds",
            "Unix time the collector last acknowledged a record of the node",
            m.last_record.clone(),
        );
        registry.register(
            "live_runs",
            "Runs of the sacct side, by outcome",
            m.live_runs.clone(),
        );
        registry.register(
            "measured_energy_joules",
            "Measured energy of the jobs in the store, by cluster, partition and account",
            m.energy.clone(),
        );
        for (family, (name, help)) in m.embodied.iter().zip([
            (
                "embodied_gwp_kgco2eq",
                "Embodied GWP allocated to the jobs in the store (kgCO2eq)",
            ),
            (
                "embodied_adpe_kgsbeq",
                "Embodied ADPe allocated to the jobs in the store (kgSbeq)",
            ),
            (
                "embodied_pe_megajoules",
                "Embodied primary energy allocated to the jobs in the store (MJ)",
            ),
        ]) {
            registry.register(name, help, family.clone());
        }
        for (family, (name, help)) in m.use_phase.iter().zip([
            (
                "use_phase_gwp_kgco2eq",
                "Use-phase GWP of the jobs in the store, measured or estimated energy as acct shows it (kgCO2eq)",
            ),
            (
                "use_phase_adpe_kgsbeq",
                "Use-phase ADPe of the jobs in the store (kgSbeq)",
            ),
            (
                "use_phase_pe_megajoules",
                "Use-phase primary energy of the jobs in the store (MJ)",
            ),
        ]) {
            registry.register(name, help, family.clone());
        }
        Self { registry, ..m }
    }

    /// Counts a refused record.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a batch.
    pub fn batch(&self, outcome: &str) {
        self.batches
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Sets a node's last-record time.
    pub fn node_seen(&self, node: &str, unix_s: f64) {
        self.last_record
            .get_or_create(&NodeLabel {
                node: node.to_string(),
            })
            .set(unix_s);
    }

    /// The OpenMetrics text, with the store's energy refreshed if stale. A store that cannot
    /// be read leaves the last figures (and says so on standard error).
    pub fn encode(&self) -> String {
        self.refresh_energy();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }

    fn refresh_energy(&self) {
        let Some(path) = &self.store else { return };
        let mut refreshed = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
        if refreshed.is_some_and(|t| t.elapsed() < ENERGY_REFRESH) {
            return;
        }
        *refreshed = Some(Instant::now());
        let store = match ea_store::Store::open_read(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("collect: /metrics: cannot read the store: {e}");
                return;
            }
        };
        match ea_store::read::measured_energy_by_group(&store.conn) {
            Ok(groups) => {
                self.energy.clear();
                for (cluster, partition, account, joules) in groups {
                    let label = GroupLabel {
                        cluster,
                        partition,
                        account,
                    };
                    self.energy.get_or_create(&label).set(joules);
                }
            }
            Err(e) => eprintln!("collect: /metrics: cannot read the store's energy: {e}"),
        }
        match ea_store::read::embodied_by_group(&store.conn) {
            Ok(groups) => {
                self.embodied.iter().for_each(Family::clear);
                for (cluster, partition, account, values) in groups {
                    let label = GroupLabel {
                        cluster,
                        partition,
                        account,
                    };
                    for (family, v) in self.embodied.iter().zip(values) {
                        family.get_or_create(&label).set(v);
                    }
                }
            }
            Err(e) => eprintln!("collect: /metrics: cannot read the store's embodied impacts: {e}"),
        }
    }
}

impl Metrics {
    /// Recomputes the use-phase gauges: every job's use-phase impacts exactly as `acct`
    /// computes them (the same reads, [`ea_query::figures::figures_batch`]), summed by cluster,
    /// partition and account. Returns the number of jobs.
    ///
    /// # Errors
    /// The store cannot be read (the gauges keep their last values).
    pub fn refresh_use_phase(&self, footprint: &Footprint) -> Result<usize, RefreshError> {
        let Some(path) = &self.store else {
            return Ok(0);
        };
        let store = ea_store::Store::open_read(path).map_err(RefreshError::Open)?;
        let at = |source: rusqlite::Error| RefreshError::Read {
            path: path.clone(),
            source,
        };
        let calibrations = ea_store::read::calibrations(&store.conn).map_err(at)?;
        let jobs = ea_store::read::jobs_where(&store.conn, "1", &[]).map_err(at)?;
        let ctx = ea_query::figures::FigureContext {
            estimate: &footprint.estimate,
            calibrations: &calibrations,
            model: footprint.model.as_ref(),
        };
        let refs: Vec<&ea_store::read::JobRecord> = jobs.iter().collect();
        let figures = ea_query::figures::figures_batch(&refs, &ctx);
        let mut sums: std::collections::BTreeMap<GroupLabel, [f64; 3]> = Default::default();
        for (job, f) in jobs.iter().zip(&figures) {
            let Some(i) = &f.impacts else { continue };
            let v = i.use_phase.value;
            let label = GroupLabel {
                cluster: job.cluster().to_string(),
                partition: job.row.partition.clone().unwrap_or_default(),
                account: job.row.account.clone().unwrap_or_default(),
            };
            let s = sums.entry(label).or_default();
            s[0] += v.gwp_kgco2eq;
            s[1] += v.adpe_kgsbeq;
            s[2] += v.pe_mj;
        }
        self.use_phase.iter().for_each(Family::clear);
        for (label, values) in sums {
            for (family, v) in self.use_phase.iter().zip(values) {
                family.get_or_create(&label).set(v);
            }
        }
        Ok(jobs.len())
    }
}

/// Why the use-phase gauges could not be recomputed (they keep their last values).
#[derive(Debug)]
pub enum RefreshError {
    /// The store cannot be opened.
    Open(ea_store::DbError),
    /// A read of the store failed.
    Read {
        /// The store.
        path: std::path::PathBuf,
        /// What SQLite answered.
        source: rusqlite::Error,
    },
}

impl std::fmt::Display for RefreshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshError::Open(e) => e.fmt(f),
            RefreshError::Read { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for RefreshError {}

/// Keeps the use-phase gauges current: [`Metrics::refresh_use_phase`] now, then every
/// `every`, on a thread of its own for the life of the process.
pub fn keep_use_phase_current(
    metrics: std::sync::Arc<Metrics>,
    footprint: Footprint,
    every: Duration,
) {
    std::thread::Builder::new()
        .name("use-phase".into())
        .spawn(move || {
            loop {
                if let Err(e) = metrics.refresh_use_phase(&footprint) {
                    eprintln!("collect: /metrics: cannot compute the use phase: {e}");
                }
                std::thread::sleep(every);
            }
        })
        .expect("a thread can be started at the collector's start");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_labels_are_in_the_openmetrics_text() {
        let m = Metrics::new(None);
        m.received.inc_by(3);
        m.reject("node-not-of-host");
        m.batch("acknowledged");
        m.node_seen("n1", 1_700_000_000.0);
        let text = m.encode();
        assert!(
            text.contains("energy_assess_collect_records_received_total 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "energy_assess_collect_records_rejected_total{reason=\"node-not-of-host\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "energy_assess_collect_node_last_record_timestamp_seconds{node=\"n1\"} 1700000000"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
