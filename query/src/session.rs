//! Everything a query needs, opened once: the config, the caller's identity, the store, the
//! clock and the impact engine. The `acct`, `report` and `job` subcommands start here.

use crate::figures::{FigureContext, ImpactModel, JobFigures, NoInventory, figures_batch};
use crate::impacts::Engine;
use crate::privacy::{Identity, OverrideRefused};
use ea_energy::estimate::Calibration;
use ea_impact::InventoryErrors;
use ea_sacct::timefmt::{Clock, TimeError, time_zone};
use ea_store::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use ea_store::read::{self, JobRecord};
use ea_store::{DbError, Store};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// An open query session.
pub struct Session {
    /// The post-processor's config.
    pub config: Config,
    /// Who asks, and what they may see.
    pub who: Identity,
    /// The store, read-only.
    pub store: Store,
    /// The zone times are read and shown in.
    pub clock: Clock,
    /// The store's calibrations by group.
    pub calibrations: HashMap<String, Calibration>,
    model: Box<dyn ImpactModel>,
    /// Things to tell the user (an inventory that could not be read...).
    pub warnings: Vec<String>,
}

/// Why a session could not be opened, or a job not read: each names the file and the fix.
#[derive(Debug)]
pub enum SessionError {
    /// The config file is unreadable or invalid (its path and line in the message).
    Config(ConfigError),
    /// `--config` or `--db` asked for by a non-admin under a setgid install.
    Refused(OverrideRefused),
    /// The store cannot be opened.
    Store(DbError),
    /// The time zone asked for (`--timezone` or the config's) is unknown.
    TimeZone(TimeError),
    /// A read of the store failed.
    Read {
        /// The store.
        path: PathBuf,
        /// What SQLite answered.
        source: rusqlite::Error,
    },
    /// The inventory named by the config cannot be used (every problem, with its line).
    Inventory(InventoryErrors),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Config(e) => e.fmt(f),
            SessionError::Refused(e) => e.fmt(f),
            SessionError::Store(e) => e.fmt(f),
            SessionError::TimeZone(e) => e.fmt(f),
            SessionError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            SessionError::Inventory(e) => e.fmt(f),
        }
    }
}

/// No `source`: the message already holds the inner error's, and the CLI prints the chain.
impl std::error::Error for SessionError {}

/// Loads the config: the one given (which must exist) or the default one (which may not).
///
/// # Errors
/// An unreadable or invalid config file.
pub fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    match path {
        Some(p) => Config::load(p, true),
        None => Config::load(Path::new(DEFAULT_CONFIG_PATH), false),
    }
}

impl Session {
    /// Opens a session: config, identity, store (read-only), inventory.
    ///
    /// # Errors
    /// A bad config, a path override refused to a non-admin, a store that cannot be opened, a
    /// bad time zone. An unreadable inventory is not an error: impacts are left out and a
    /// warning says why.
    pub fn open(
        config_path: Option<&Path>,
        db: Option<&Path>,
        timezone: Option<&str>,
    ) -> Result<Self, SessionError> {
        // Judge the caller against the site's config before honouring any override.
        let site = load_config(None).map_err(SessionError::Config)?;
        let who = Identity::current(&site);
        if config_path.is_some() || db.is_some() {
            who.may_override_paths().map_err(SessionError::Refused)?;
        }
        let config = match config_path {
            Some(_) => load_config(config_path).map_err(SessionError::Config)?,
            None => site,
        };
        let who = Identity::current(&config);
        let path: PathBuf = db
            .map(Path::to_path_buf)
            .unwrap_or_else(|| config.store_path.clone());
        let store = Store::open_read(&path).map_err(SessionError::Store)?;
        let tz =
            time_zone(timezone.or(config.timezone.as_deref())).map_err(SessionError::TimeZone)?;
        let calibrations =
            read::calibrations(&store.conn).map_err(|source| SessionError::Read {
                path: path.clone(),
                source,
            })?;
        let mut warnings = Vec::new();
        let model: Box<dyn ImpactModel> = match &config.inventory {
            None => Box::new(NoInventory),
            Some(inv) => match Engine::load(inv) {
                Ok(e) => Box::new(e),
                Err(e) => {
                    warnings.push(format!(
                        "impacts left out: the inventory cannot be used:\n{e}"
                    ));
                    Box::new(NoInventory)
                }
            },
        };
        Ok(Self {
            config,
            who,
            store,
            clock: Clock::system(tz),
            calibrations,
            model,
            warnings,
        })
    }

    /// A session over an already open store (tests, benchmarks).
    ///
    /// # Errors
    /// The store's calibrations cannot be read.
    pub fn with(
        config: Config,
        who: Identity,
        store: Store,
        clock: Clock,
        model: Box<dyn ImpactModel>,
    ) -> Result<Self, SessionError> {
        let calibrations =
            read::calibrations(&store.conn).map_err(|source| SessionError::Read {
                path: store.path.clone(),
                source,
            })?;
        Ok(Self {
            config,
            who,
            store,
            clock,
            calibrations,
            model,
            warnings: Vec::new(),
        })
    }

    /// What figures are computed with.
    pub fn figure_context(&self) -> FigureContext<'_> {
        FigureContext {
            estimate: &self.config.estimate,
            calibrations: &self.calibrations,
            model: self.model.as_ref(),
        }
    }

    /// One job's records and figures, for `energy-assess job JOBID`: the job whose JobID or
    /// JobIDRaw is `job_id` (every task for an array's id), as far as the caller may see it.
    /// Empty when the store has no such job (or it is someone else's and the caller is not an
    /// admin).
    ///
    /// # Errors
    /// SQLite errors, naming the store.
    pub fn job(&self, job_id: &str) -> Result<Vec<(JobRecord, JobFigures)>, SessionError> {
        let mut where_sql =
            String::from("(j.job_id = ?1 OR j.job_id_raw = ?2 OR j.array_job_id = ?2)");
        let mut params: Vec<rusqlite::types::Value> = vec![
            job_id.to_string().into(),
            job_id
                .parse::<i64>()
                .map_or(rusqlite::types::Value::Null, Into::into),
        ];
        if let Some((sql, p)) = self.who.restriction() {
            where_sql.push_str(" AND ");
            // Anonymous `?` after `?2` are numbered 3 and 4 by SQLite.
            where_sql.push_str(&sql);
            params.extend(p);
        }
        let p: Vec<&dyn rusqlite::ToSql> =
            params.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
        let jobs = read::jobs_where(&self.store.conn, &where_sql, &p).map_err(|source| {
            SessionError::Read {
                path: self.store.path.clone(),
                source,
            }
        })?;
        let refs: Vec<&JobRecord> = jobs.iter().collect();
        let figs = figures_batch(&refs, &self.figure_context());
        Ok(jobs.into_iter().zip(figs).collect())
    }
}

/// The figures of a job the store does not have yet (`ea_ingest::unstored::job_from_records`
/// builds it from its node records): its measured energy and the impacts the site's inventory
/// gives, with no calibration.
///
/// # Errors
/// An inventory named by the config that cannot be read.
pub fn figures_unstored(config: &Config, job: &JobRecord) -> Result<JobFigures, SessionError> {
    let model: Box<dyn ImpactModel> = match &config.inventory {
        None => Box::new(NoInventory),
        Some(p) => Box::new(Engine::load(p).map_err(SessionError::Inventory)?),
    };
    let calibrations = HashMap::new();
    let ctx = FigureContext {
        estimate: &config.estimate,
        calibrations: &calibrations,
        model: model.as_ref(),
    };
    let mut figs = figures_batch(&[job], &ctx);
    Ok(figs.remove(0))
}

/// A job's figures as `label: value` lines, the second half of `energy-assess job`: the
/// energy it is charged, then each criterion with its range and its use-phase and embodied
/// parts, in the units that fit ([`ea_units`]), and an everyday equivalent.
pub fn describe(f: &JobFigures, units: ea_units::EnergyUnits) -> Vec<(String, String)> {
    use crate::figures::Source;
    let e = &f.energy;
    let how = match (e.source, &e.calibration) {
        (Source::Measured, _) => "measured by the job's nodes".to_string(),
        (Source::Split, _) => "its share of shared nodes' meters: its own GPUs plus, by the \
             inventory's share rule over time, part of what the rest of each node drew \
             (docs/methodology.md, section 4.1)"
            .to_string(),
        (Source::Estimated, Some(c)) => format!(
            "estimated the Green Algorithms way, calibrated as {} from {} measured jobs of \
             its partition",
            c.describe(),
            c.n_jobs
        ),
        (Source::Estimated, None) => {
            "estimated the Green Algorithms way (no measured job of its partition to \
             calibrate it)"
                .to_string()
        }
    };
    let mut v = vec![(
        "Charged".to_string(),
        format!("{}, {how}", units.range(e.j, e.min_j, e.max_j)),
    )];
    if let Some(p) = f.mean_power_w {
        v.push(("Mean power".into(), ea_units::POWER.human(p)));
    }
    v.push((
        "Node-hours".into(),
        format!(
            "{}{}",
            ea_units::hours(f.node_hours),
            if f.gpu_hours > 0.0 {
                format!(", GPU-hours {}", ea_units::hours(f.gpu_hours))
            } else {
                String::new()
            }
        ),
    ));
    let Some(i) = &f.impacts else {
        v.push((
            "Footprint".into(),
            "unknown: no inventory describes these nodes".into(),
        ));
        return v;
    };
    let t = i.total();
    for (name, q) in ea_units::CRITERIA {
        let pick = |x: &ea_impact::Impacts| match name {
            "GWP" => x.gwp_kgco2eq,
            "PE" => x.pe_mj,
            _ => x.adpe_kgsbeq,
        };
        v.push((
            name.into(),
            format!(
                "{}: use phase {}, embodied {}",
                q.range(pick(&t.value), pick(&t.min), pick(&t.max)),
                q.short(pick(&i.use_phase.value)),
                q.short(pick(&i.embodied.value)),
            ),
        ));
    }
    v.push((
        "Everyday".into(),
        ea_units::everyday::sentence(t.value.gwp_kgco2eq, e.j),
    ));
    v
}
