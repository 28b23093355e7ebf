//! `energy-assess ingest`: accounting, node records and meter series into the store.

use anyhow::{Context, Result, bail};
use ea_ingest::{self as ingest, Inputs, LiveWindow, Settings};
use ea_query::session::load_config;
use ea_sacct::text::{TextOptions, split_column_list};
use ea_sacct::timefmt::{Clock, time_zone};
use ea_store::{Access, Store};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    about = "Store sacct accounting, the plugin's node records and wattmeter series, for queries and reports",
    long_about = "Store sacct accounting, the plugin's node records and wattmeter series in the \
        store (SQLite), for `acct` and `report`.\n\n\
        One run is one transaction: if it is interrupted nothing of it is kept. Running it again \
        on the same inputs changes nothing; unchanged files are skipped and only new or changed \
        rows are written. Malformed lines are reported with their file and line, counted and \
        skipped. Jobs still running or completing (squeue's CG) are stored as not final and \
        taken again later.\n\n\
        Examples:\n  \
        energy-assess ingest --sacct month.txt --spool /var/spool/energy-assess\n  \
        energy-assess ingest --sacct dump.txt --columns-from columns.txt --delimiter '☃'\n  \
        energy-assess ingest --live --start 2026-11-01 --end now\n  \
        energy-assess ingest --wattmeter kwollect.csv"
)]
pub struct Args {
    /// Spool directory the plugin writes records to (its records/ and running/); repeatable.
    #[arg(long, value_name = "DIR")]
    pub spool: Vec<PathBuf>,
    /// sacct dump: `-P`/`-p` text with any delimiter, or `--json`; `-` reads standard input; repeatable.
    #[arg(long, value_name = "FILE")]
    pub sacct: Vec<PathBuf>,
    /// Columns of a header-less dump, as given to sacct's --format (JobID,User,...).
    #[arg(long, value_name = "LIST", conflicts_with = "columns_from")]
    pub columns: Option<String>,
    /// File holding the column list of a header-less dump (commas, `|` or spaces between names).
    #[arg(long, value_name = "FILE")]
    pub columns_from: Option<PathBuf>,
    /// Field delimiter of the dumps (guessed from the first line when not given).
    #[arg(long, value_name = "TEXT")]
    pub delimiter: Option<String>,
    /// Run sacct (and squeue, for jobs still completing) for the window --start..--end.
    #[arg(long, requires = "start")]
    pub live: bool,
    /// Start of the live window, in sacct's time syntax (2026-11-01, now-1days...).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// End of the live window [default: now].
    #[arg(long, value_name = "TIME", default_value = "now")]
    pub end: String,
    /// The sacct program for --live.
    #[arg(long, value_name = "PATH", default_value = "sacct")]
    pub sacct_bin: PathBuf,
    /// The squeue program for --live.
    #[arg(long, value_name = "PATH", default_value = "squeue")]
    pub squeue_bin: PathBuf,
    /// External wattmeter series: CSV with node, time and watts columns (Grid'5000 kwollect exports work as they are); repeatable.
    #[arg(long, value_name = "FILE")]
    pub wattmeter: Vec<PathBuf>,
    /// Which metric of a multi-metric wattmeter file is the wattmeter [default: wattmetre_power_watt].
    #[arg(long, value_name = "NAME")]
    pub wattmeter_metric: Option<String>,
    /// Cluster of dumps without a Cluster column [default: the config's site.cluster].
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Time zone the dumps' times are in [default: the config's site.timezone, else the system's].
    #[arg(long, value_name = "IANA")]
    pub timezone: Option<String>,
    /// Read files again even if they have not changed since the last ingest.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// The store [default: the config's store.path, else /var/lib/energy-assess/store.sqlite].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Site configuration [default: /etc/energy-assess/postproc.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    if args.spool.is_empty() && args.sacct.is_empty() && !args.live && args.wattmeter.is_empty() {
        bail!(
            "nothing to ingest: give --sacct FILE, --spool DIR, --live --start TIME or --wattmeter FILE"
        );
    }
    let config = load_config(args.config.as_deref()).map_err(anyhow::Error::msg)?;
    let columns = match (&args.columns, &args.columns_from) {
        (Some(c), _) => Some(split_column_list(c)),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the column list {}", f.display()))?;
            Some(split_column_list(&text))
        }
        (None, None) => None,
    };
    let path = args.db.clone().unwrap_or_else(|| config.store_path.clone());
    let mut store = open_store(&config, &path)?;
    let inputs = Inputs {
        spools: args.spool,
        sacct: args.sacct,
        text: TextOptions {
            delimiter: args.delimiter,
            columns,
        },
        live: args.live.then(|| LiveWindow {
            start: args.start.clone().unwrap_or_default(),
            end: args.end.clone(),
            sacct: args.sacct_bin.clone(),
            squeue: args.squeue_bin.clone(),
        }),
        wattmeters: args.wattmeter,
        wattmeter_metric: args.wattmeter_metric,
        force: args.force,
    };
    let settings = settings(
        &config,
        args.cluster.clone(),
        args.timezone.as_deref(),
        !args.quiet,
    )?;
    let summary = ingest::ingest(&mut store, &inputs, &settings).map_err(anyhow::Error::msg)?;
    print_summary(&summary, &path);
    Ok(())
}

/// Opens the store for writing, with the config's group access; warnings go to standard
/// error. Shared with `collect`.
pub fn open_store(config: &ea_store::config::Config, path: &std::path::Path) -> Result<Store> {
    let group_gid = match &config.store_group {
        None => None,
        Some(g) => Some(uzers_gid(g).with_context(|| {
            format!("store.group `{g}` is not a group on this host; create it or fix the config")
        })?),
    };
    let (store, warnings) =
        Store::open_for_write(path, &Access { group_gid }).map_err(anyhow::Error::msg)?;
    for w in warnings {
        eprintln!("energy-assess: warning: {w}");
    }
    Ok(store)
}

/// How to ingest, from the config and the command line's overrides. Shared with `collect`,
/// so that records stored by the collector are split and derived as `ingest` would.
pub fn settings(
    config: &ea_store::config::Config,
    cluster: Option<String>,
    timezone: Option<&str>,
    progress: bool,
) -> Result<Settings> {
    let tz = time_zone(timezone.or(config.timezone.as_deref())).map_err(anyhow::Error::msg)?;
    // The inventory's share rule and node sizes split measured energy on shared nodes: an
    // inventory that cannot be read stops the ingest rather than split with another rule.
    let inventory = match &config.inventory {
        None => None,
        Some(p) => Some(std::sync::Arc::new(
            ea_impact::Inventory::load(p)
                .map_err(|e| anyhow::anyhow!("{e}\n(measured energies are split by the inventory's share rule: fix it, or remove [site] inventory from the config)"))?,
        )),
    };
    Ok(Settings {
        cluster: cluster.unwrap_or_else(|| config.cluster.clone()),
        clock: Clock::system(tz),
        estimate: config.estimate.clone(),
        record_grace_s: config.record_grace_s,
        progress,
        inventory,
    })
}

fn uzers_gid(name: &str) -> Option<u32> {
    ea_store::group_id(name)
}

fn print_summary(s: &ingest::Summary, path: &std::path::Path) {
    for src in &s.sources {
        if src.read {
            println!(
                "{} {}: {} rows, {} written, {} unchanged, {} malformed",
                src.kind, src.name, src.rows, src.written, src.unchanged, src.errors
            );
        } else {
            println!(
                "{} {}: unchanged since the last ingest, skipped (--force reads it again)",
                src.kind, src.name
            );
        }
    }
    let d = &s.derived;
    println!(
        "store {}: jobs {} written, {} unchanged; steps {} written; node records {} written; {} not final yet",
        path.display(),
        s.jobs.written,
        s.jobs.unchanged,
        s.steps.written,
        s.records.written,
        s.not_final
    );
    if d.measured_jobs > 0 || d.measured_pending > 0 || d.jobs_from_records > 0 {
        println!(
            "measured jobs: {} derived, {} waiting for node records; {} jobs known only from records",
            d.measured_jobs, d.measured_pending, d.jobs_from_records
        );
    }
    for (g, c) in &d.calibrations {
        println!(
            "calibration {g}: estimate = {} (p10–p90 of measured/fit ×{:.3}–{:.3}) from {} measured jobs",
            c.describe(),
            c.low,
            c.high,
            c.n_jobs
        );
    }
    if s.error_count > 0 {
        eprintln!(
            "energy-assess: {} malformed lines or unreadable records were skipped:",
            s.error_count
        );
        for e in &s.errors {
            eprintln!("  {e}");
        }
        if s.error_count as usize > s.errors.len() {
            eprintln!("  ... and {} more", s.error_count as usize - s.errors.len());
        }
    }
    for w in &s.warnings {
        eprintln!("energy-assess: warning: {w}");
    }
}
