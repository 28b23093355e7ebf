//! `energy-assess collect`: the collector service, and `--status` for the nodes whose records
//! are late.

use anyhow::{Context, Result};
use ea_collect::CollectConfig;
use ea_collect::metrics::{Footprint, Metrics};
use ea_collect::nodes::{self, NodeBook};
use ea_collect::writer::WriterSetup;
use ea_query::session::load_config;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
#[command(
    about = "Receive the nodes' records over HTTP (MUNGE-authenticated) into the store, run the sacct side on a schedule, serve /metrics",
    long_about = "Receive the nodes' records into the store: the service of the admin host that \
        replaces a shared spool filesystem.\n\n\
        Each node's forwarder sends its records in batches (POST /v1/batch) with a MUNGE \
        credential of root (or the collector config's slurm_user) bound to the batch's bytes. \
        Records are stored through the same ingest as `ingest --spool`, one transaction per \
        batch, and acknowledged only after the commit, so a node removes a record only once it \
        is stored; a batch sent twice is stored once. The sacct side (`ingest --live` over a \
        recent window) runs every live_interval_s. GET /metrics serves OpenMetrics for \
        Prometheus.\n\n\
        Examples:\n  \
        energy-assess collect\n  \
        energy-assess collect --collect-config /etc/energy-assess/collect.toml --listen 127.0.0.1:7373\n  \
        energy-assess collect --status --late-after 7200 --expect 'n[001-480]'"
)]
pub struct Args {
    /// The collector's own configuration [default: /etc/energy-assess/collect.toml, if it exists].
    #[arg(long, value_name = "FILE")]
    pub collect_config: Option<PathBuf>,
    /// Listen on this address instead of the config's `listen` (host:port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Do not run the sacct side (records only).
    #[arg(long)]
    pub no_live: bool,
    /// List the nodes whose last record arrived longer ago than --late-after, then exit.
    #[arg(long)]
    pub status: bool,
    /// With --status: seconds after which a node is late [default: the config's late_after_s, 3600].
    #[arg(long, value_name = "SECONDS", requires = "status")]
    pub late_after: Option<u64>,
    /// With --status: the nodes that should send (a hostlist); those never seen are listed too.
    #[arg(long, value_name = "HOSTLIST", requires = "status")]
    pub expect: Option<String>,
    /// The store [default: the config's store.path, else /var/lib/energy-assess/store.sqlite].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Site configuration [default: /etc/energy-assess/postproc.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let config = load_config(args.config.as_deref()).map_err(anyhow::Error::msg)?;
    let mut collect = CollectConfig::load(args.collect_config.as_deref())?;
    if let Some(l) = &args.listen {
        collect.listen.clone_from(l);
    }
    if args.no_live {
        collect.live = None;
    }
    let path = args.db.clone().unwrap_or_else(|| config.store_path.clone());
    let state_dir = nodes::state_dir(collect.state_dir.as_deref(), &path);
    if args.status {
        return status(&collect, &state_dir, &args);
    }
    let store = crate::cmd_ingest::open_store(&config, &path)?;
    let settings = crate::cmd_ingest::settings(&config, None, None, false)?;
    let mut munge = ea_munge::Munge::new();
    if let Some(s) = &collect.munge_socket {
        munge = munge.with_socket(s);
    }
    let metrics = Arc::new(Metrics::new(Some(path.clone())));
    if let Some(inventory) = &config.inventory {
        let engine = ea_query::impacts::Engine::load(inventory).map_err(anyhow::Error::msg)?;
        let footprint = Footprint {
            estimate: config.estimate.clone(),
            model: Box::new(engine),
        };
        ea_collect::metrics::keep_use_phase_current(
            metrics.clone(),
            footprint,
            std::time::Duration::from_secs(collect.use_phase_refresh_s),
        );
    }
    let setup = WriterSetup {
        store,
        settings,
        live: collect.live.clone(),
        max_rows: collect.max_rows_per_commit,
        state_dir,
        metrics,
    };
    let running = ea_collect::start(&collect, setup, Arc::new(munge))?;
    eprintln!(
        "collect: listening on http://{} (store {}; sacct side {})",
        running.addr(),
        path.display(),
        match &collect.live {
            Some(l) => format!("every {} s", l.interval_s),
            None => "off".into(),
        }
    );
    running.wait();
    Ok(())
}

fn status(collect: &CollectConfig, state_dir: &std::path::Path, args: &Args) -> Result<()> {
    let book = NodeBook::load(state_dir)
        .with_context(|| format!("the collector's node book in {}", state_dir.display()))?;
    let expected = match &args.expect {
        Some(list) => ea_record::hostlist::expand(list).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let after = args.late_after.unwrap_or(collect.late_after_s);
    let now = jiff::Timestamp::now().as_second();
    let late = book.late(now, after, &expected);
    if late.is_empty() {
        println!(
            "no node is late: {} nodes seen, each with a record in the last {after} s",
            book.nodes.len()
        );
        return Ok(());
    }
    println!("{:<24} {:>12}  LAST RECORD (UTC)", "NODE", "LATE BY (S)");
    for l in &late {
        match l.age_s {
            Some(age) => {
                let when = jiff::Timestamp::from_second(now - age)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                println!("{:<24} {:>12}  {when}", l.node, age);
            }
            None => println!("{:<24} {:>12}  never", l.node, "-"),
        }
    }
    println!(
        "{} of {} nodes late (no record for over {after} s)",
        late.len(),
        book.nodes.len().max(expected.len())
    );
    Ok(())
}
