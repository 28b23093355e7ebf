//! `energy-assess job JOBID`: one job's energy and footprint.
//!
//! Read straight from the spool the nodes write to, it works the moment the epilogs have run,
//! before any ingest: energy per node and meter, then the footprint the site's inventory gives
//! (use phase and embodied, PE, GWP, ADPe, with ranges). The spool is root's; for anyone else,
//! and for jobs whose records have been ingested and cleaned up, the figures come from the
//! store, with its privacy rule (a user sees only their own jobs).

use anyhow::{Context as _, Result, bail};
use ea_record::spool::Spool;
use ea_record::{JobNodeRecord, RecordState, Scope, UnixMicros};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The Slurm job id.
    pub job_id: u32,
    /// The spool directory the nodes write to (a shared filesystem, or a node's local spool).
    #[arg(long, default_value = ea_record::spool::DEFAULT_SPOOL)]
    pub spool: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Post-processor configuration (store, inventory) [default: /etc/energy-assess/postproc.toml].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The store, for jobs no longer (or not readable) in the spool [default: the config's].
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// What `job` shows, also its JSON form.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub job_id: u32,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub account: Option<String>,
    pub partition: Option<String>,
    pub node_list: Option<String>,
    pub num_nodes: Option<u32>,
    /// Nodes whose epilog has written the final record.
    pub nodes_complete: usize,
    /// Nodes where the job is still running (prolog record only).
    pub nodes_running: usize,
    pub start: Option<UnixMicros>,
    pub end: Option<UnixMicros>,
    pub duration_s: Option<f64>,
    pub exit_code: Option<String>,
    pub nodes: Vec<NodeView>,
    /// Energy per meter scope over all nodes, in joules.
    pub energy_by_scope_j: BTreeMap<String, f64>,
    /// Sum over nodes of each node's best whole-node figure (`JobNodeRecord::node_energy_j`).
    pub energy_j: Option<f64>,
    pub mean_power_w: Option<f64>,
    pub peak_power_w: Option<f64>,
    pub flags: Vec<String>,
    /// Records that could not be read, with the reason.
    pub unreadable: Vec<String>,
    /// The footprint as (label, value) lines; empty when it could not be computed.
    pub footprint: Vec<(String, String)>,
    /// Why the footprint is missing, when it is.
    pub footprint_note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NodeView {
    pub node: String,
    pub complete: bool,
    pub duration_s: Option<f64>,
    pub energy_j: Option<f64>,
    /// Which meters `energy_j` comes from.
    pub energy_basis: Option<&'static str>,
    pub meters: Vec<ea_record::MeterReport>,
    pub absent_meters: Vec<ea_record::AbsentMeter>,
    /// Meters whose energy is not believed (`ea_record::bounds`), with why: left out of
    /// every figure, as the store leaves them out.
    pub refused: Vec<String>,
    pub flags: Vec<String>,
    /// Why the summary file the user asked for was not written here.
    pub summary_error: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let spool = Spool::new(&args.spool);
    let view = match load(&spool, args.job_id) {
        Ok(mut view) => {
            add_footprint(&mut view, &spool, args.config.as_deref());
            view
        }
        Err(spool_problem) => return from_store(&args, &spool_problem),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        // Serialise first so that a closed stdout surfaces as an io::Error (exit 0), not as a
        // serde error.
        let text = serde_json::to_string_pretty(&view)?;
        writeln!(out, "{text}")?;
    } else {
        write_table(&mut out, &view)?;
    }
    out.flush()?;
    Ok(())
}

/// The job's footprint from its records and the site's inventory.
fn add_footprint(view: &mut JobView, spool: &Spool, config: Option<&std::path::Path>) {
    let config = match ea_store::session::load_config(config) {
        Ok(c) => c,
        Err(e) => {
            view.footprint_note = Some(format!("footprint not computed: {e}"));
            return;
        }
    };
    if config.inventory.is_none() {
        view.footprint_note = Some(
            "footprint not computed: no inventory (set site.inventory in the post-processor \
             config, /etc/energy-assess/postproc.toml)"
                .into(),
        );
        return;
    }
    let (records, _) = spool.job_records(view.job_id);
    match ea_store::session::figures_from_records(&config, &records) {
        Ok(Some((_, figures))) => view.footprint = ea_store::session::describe(&figures),
        Ok(None) => {
            view.footprint_note = Some("footprint not computed: no node measured this job".into())
        }
        Err(e) => view.footprint_note = Some(format!("footprint not computed: {e}")),
    }
}

/// A job the spool cannot give (not readable, or cleaned up): its figures from the store.
fn from_store(args: &Args, spool_problem: &anyhow::Error) -> Result<()> {
    let session =
        ea_store::session::Session::open(args.config.as_deref(), args.db.as_deref(), None)
            .map_err(|e| anyhow::anyhow!("{spool_problem:#}\nand the store cannot be read: {e}"))?;
    let found = session
        .job(&args.job_id.to_string())
        .map_err(|e| anyhow::anyhow!(e))?;
    if found.is_empty() {
        bail!(
            "{spool_problem:#}\nand job {} is not in the store (or is not yours)",
            args.job_id
        );
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let jobs: Vec<serde_json::Value> = found
            .iter()
            .map(|(job, figures)| {
                serde_json::json!({
                    "job_id": job.job_id,
                    "cluster": job.cluster,
                    "user": job.user,
                    "account": job.account,
                    "partition": job.partition,
                    "footprint": ea_store::session::describe(figures),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?;
    } else {
        for (job, figures) in &found {
            writeln!(
                out,
                "Job {} ({}, account {}, partition {}, cluster {}) [from the store]",
                job.job_id,
                job.user.as_deref().unwrap_or("?"),
                job.account.as_deref().unwrap_or("?"),
                job.partition.as_deref().unwrap_or("?"),
                job.cluster,
            )?;
            for (label, value) in ea_store::session::describe(figures) {
                writeln!(out, "  {label:<14} {value}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Reads every record of the job from the spool.
pub fn load(spool: &Spool, job_id: u32) -> Result<JobView> {
    if !spool.root().exists() {
        bail!(
            "no spool at {} (give the nodes' spool with --spool; reading it needs root)",
            spool.root().display()
        );
    }
    std::fs::read_dir(spool.root()).with_context(|| {
        format!(
            "cannot read the spool {}: it is root-only",
            spool.root().display()
        )
    })?;
    let (done, mut errors) = spool.job_records(job_id);
    let (running, errors2) = spool.job_started(job_id);
    errors.extend(errors2);
    let running: Vec<_> = running
        .into_iter()
        .filter(|r| !done.iter().any(|d| d.node == r.node))
        .collect();
    if done.is_empty() && running.is_empty() && errors.is_empty() {
        bail!(
            "no records for job {job_id} in {}: was it submitted with --energy-assess, and have \
             its epilogs run? (a job in CG state is still finishing)",
            spool.root().display()
        );
    }
    Ok(build(
        job_id,
        done,
        running,
        errors.iter().map(|e| e.to_string()).collect(),
    ))
}

fn build(
    job_id: u32,
    done: Vec<JobNodeRecord>,
    running: Vec<JobNodeRecord>,
    unreadable: Vec<String>,
) -> JobView {
    let first = done.first().or(running.first());
    let all: Vec<&JobNodeRecord> = done.iter().chain(running.iter()).collect();
    let start = all.iter().filter_map(|r| r.start).min();
    let end = if running.is_empty() {
        done.iter().filter_map(|r| r.end).max()
    } else {
        None
    };
    let mut by_scope: BTreeMap<String, f64> = BTreeMap::new();
    let mut flags: Vec<String> = Vec::new();
    let mut nodes = Vec::new();
    for r in &all {
        for m in r.plausible_meters() {
            *by_scope.entry(m.scope.as_str().to_string()).or_default() += m.energy_j;
        }
        let refused = r.implausible_meters();
        let node_flags: Vec<String> = r
            .flags
            .iter()
            .map(serde_name)
            .chain(r.meters.iter().flat_map(|m| {
                m.flags
                    .iter()
                    .map(move |f| format!("{}: {}", m.id, serde_name(f)))
            }))
            .collect();
        for f in r.flags.iter().map(serde_name) {
            if !flags.contains(&f) {
                flags.push(f);
            }
        }
        let (energy_j, basis) = match r.node_energy_j() {
            Some((e, b)) => (Some(e), Some(b.describe())),
            None => (None, None),
        };
        nodes.push(NodeView {
            node: r.node.clone(),
            complete: r.state == RecordState::Complete,
            duration_s: r.duration_s(),
            energy_j,
            energy_basis: basis,
            meters: r.plausible_meters().cloned().collect(),
            absent_meters: r.absent_meters.clone(),
            refused: refused.iter().map(ToString::to_string).collect(),
            flags: node_flags,
            summary_error: r.summary_error.clone(),
        });
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    let energy_j = nodes.iter().map(|n| n.energy_j).sum::<Option<f64>>();
    let duration_s = match (start, end) {
        (Some(s), Some(e)) => Some(e.seconds_since(s)),
        _ => None,
    };
    let mean_power_w = match (energy_j, duration_s) {
        (Some(e), Some(d)) if d > 0.0 => Some(e / d),
        _ => None,
    };
    // Peak: the sum over nodes of each node's whole-node peak is an upper bound, not a
    // simultaneous peak; per-node peaks are what the meters give.
    let peak_power_w = nodes
        .iter()
        .filter_map(|n| {
            n.meters
                .iter()
                .filter(|m| matches!(m.scope, Scope::NodeBmc | Scope::NodeWattmeter))
                .filter_map(|m| m.power_w.map(|p| p.max))
                .fold(None, |a: Option<f64>, p| Some(a.map_or(p, |a| a.max(p))))
        })
        .reduce(f64::max);
    JobView {
        job_id,
        cluster: first.and_then(|r| r.cluster.clone()),
        user: first.and_then(|r| r.user.clone()),
        account: first.and_then(|r| r.account.clone()),
        partition: first.and_then(|r| r.partition.clone()),
        node_list: first.and_then(|r| r.node_list.clone()),
        num_nodes: first.and_then(|r| r.num_nodes),
        nodes_complete: done.len(),
        nodes_running: running.len(),
        start,
        end,
        duration_s,
        exit_code: done.iter().find_map(|r| r.exit).map(|e| e.to_string()),
        nodes,
        energy_by_scope_j: by_scope,
        energy_j,
        mean_power_w,
        peak_power_w,
        flags,
        unreadable,
        footprint: Vec::new(),
        footprint_note: None,
    }
}

/// The name serde gives an enum value (`no-prolog-state`), as records spell it.
fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_string(),
    }
}

fn fmt_time(t: Option<UnixMicros>) -> String {
    match t.and_then(|t| jiff::Timestamp::from_microsecond(t.0).ok()) {
        Some(ts) => ts
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        None => "?".to_string(),
    }
}

fn fmt_energy(j: f64) -> String {
    if j >= 3.6e6 {
        format!("{:.3} kWh", j / 3.6e6)
    } else if j >= 3600.0 {
        format!("{:.2} Wh", j / 3600.0)
    } else {
        format!("{j:.1} J")
    }
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub fn write_table(out: &mut impl Write, v: &JobView) -> Result<()> {
    writeln!(
        out,
        "Job {} ({}, account {}, partition {}, cluster {})",
        v.job_id,
        v.user.as_deref().unwrap_or("?"),
        v.account.as_deref().unwrap_or("?"),
        v.partition.as_deref().unwrap_or("?"),
        v.cluster.as_deref().unwrap_or("?"),
    )?;
    let state = if v.nodes_running > 0 {
        format!(
            "RUNNING on {} node(s), finished on {}",
            v.nodes_running, v.nodes_complete
        )
    } else {
        format!("finished, exit {}", v.exit_code.as_deref().unwrap_or("?"))
    };
    writeln!(
        out,
        "Nodes {} ({} of {} recorded); {} -> {} ({}); {}",
        v.node_list.as_deref().unwrap_or("?"),
        v.nodes_complete + v.nodes_running,
        fmt_opt(v.num_nodes),
        fmt_time(v.start),
        if v.nodes_running > 0 {
            "now".to_string()
        } else {
            fmt_time(v.end)
        },
        v.duration_s
            .map_or("?".to_string(), |d| format!("{d:.1} s")),
        state,
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<8} {:<28} {:<12} {:<16} {:>14} {:>9} {:>9} {:>9}  flags",
        "node", "meter", "scope", "method", "energy", "min W", "mean W", "max W"
    )?;
    for n in &v.nodes {
        if n.meters.is_empty() && n.refused.is_empty() {
            let why = n
                .absent_meters
                .iter()
                .map(|a| format!("{}: {}", a.source, a.reason))
                .collect::<Vec<_>>()
                .join("; ");
            writeln!(
                out,
                "{:<8} (no meter on this node{}{})",
                n.node,
                if why.is_empty() { "" } else { ": " },
                why
            )?;
        }
        for m in &n.meters {
            let p = m.power_w;
            writeln!(
                out,
                "{:<8} {:<28} {:<12} {:<16} {:>14} {:>9} {:>9} {:>9}  {}",
                n.node,
                truncate(&m.id, 28),
                m.scope.as_str(),
                serde_name(&m.method),
                fmt_energy(m.energy_j),
                p.map_or("-".into(), |p| format!("{:.1}", p.min)),
                p.map_or("-".into(), |p| format!("{:.1}", p.mean)),
                p.map_or("-".into(), |p| format!("{:.1}", p.max)),
                m.flags.iter().map(serde_name).collect::<Vec<_>>().join(","),
            )?;
        }
    }
    for n in &v.nodes {
        for refused in &n.refused {
            writeln!(out, "{:<8} {refused}", n.node)?;
        }
    }
    writeln!(out)?;
    if !v.energy_by_scope_j.is_empty() {
        writeln!(
            out,
            "Energy by scope (scopes overlap: platform includes cpu-package and dram; node-bmc includes everything):"
        )?;
        for (scope, j) in &v.energy_by_scope_j {
            writeln!(out, "  {scope:<14} {}", fmt_energy(*j))?;
        }
    }
    for n in &v.nodes {
        if let (Some(e), Some(b)) = (n.energy_j, n.energy_basis) {
            writeln!(out, "  node {:<8} {} (from {b})", n.node, fmt_energy(e))?;
        }
    }
    match v.energy_j {
        Some(e) => writeln!(
            out,
            "Total energy {}; mean power {}; peak node power {}",
            fmt_energy(e),
            v.mean_power_w.map_or("-".into(), |p| format!("{p:.1} W")),
            v.peak_power_w.map_or("-".into(), |p| format!("{p:.1} W")),
        )?,
        None => writeln!(
            out,
            "Total energy: not measured (no meter on at least one node)"
        )?,
    }
    if !v.flags.is_empty() {
        writeln!(out, "Flags: {}", v.flags.join(", "))?;
    }
    for u in &v.unreadable {
        writeln!(out, "Unreadable record: {u}")?;
    }
    for n in &v.nodes {
        if let Some(e) = &n.summary_error {
            writeln!(out, "The summary file you asked for was not written: {e}")?;
        }
    }
    if !v.footprint.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Footprint (use phase with PUE and grid factors, plus embodied impact of the node-hours):"
        )?;
        for (label, value) in &v.footprint {
            writeln!(out, "  {label:<14} {value}")?;
        }
    }
    if let Some(note) = &v.footprint_note {
        writeln!(out, "{note}")?;
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}~", s.chars().take(n - 1).collect::<String>())
    }
}
