//! `energy-assess job JOBID`: one job's energy and footprint, read like seff.
//!
//! Read straight from the spool the nodes write to, it works the moment the epilogs have run,
//! before any ingest: the job's records in sentences and a table per node and meter
//! ([`ea_record::summary`], the same text as the summary file), then the footprint the site's
//! inventory gives (use phase and embodied, GWP, PE, ADPe, with ranges, and an everyday
//! equivalent). The spool is root's; for anyone else, and for jobs whose records have been
//! ingested and cleaned up, the figures come from the store, with its privacy rule.

use anyhow::{Context as _, Result, bail};
use ea_query::figures::JobFigures;
use ea_record::JobNodeRecord;
use ea_record::spool::Spool;
use ea_record::summary::{JobSummary, write_text};
use ea_store::embodied::StoredEmbodied;
use ea_store::read::JobRecord;
use ea_units::EnergyUnits;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The Slurm job: `123`, an array task `48_52`, or a het component `123+1`.
    pub job_id: String,
    /// The spool directory the nodes write to (a shared filesystem, or a node's local spool).
    #[arg(long, default_value = ea_record::spool::DEFAULT_SPOOL)]
    pub spool: PathBuf,
    /// Print JSON (plain numbers in base units: J, kgCO2eq, MJ, kgSbeq) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Energy unit of the text: J or Wh (the unit that fits), or a fixed unit (kJ, MJ, kWh...).
    #[arg(long, value_name = "UNIT")]
    pub units: Option<String>,
    /// Post-processor configuration (store, inventory) [default: /etc/energy-assess/postproc.toml].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The store, for jobs no longer (or not readable) in the spool [default: the config's].
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// What `job --json` prints for a job read from the spool.
#[derive(Serialize)]
struct JobJson<'a> {
    #[serde(flatten)]
    summary: &'a JobSummary,
    footprint: Option<serde_json::Value>,
    footprint_note: Option<&'a str>,
}

pub fn run(args: Args) -> Result<()> {
    let units = match args.units.as_deref() {
        None => EnergyUnits::default(),
        Some(u) => EnergyUnits::parse(u)
            .with_context(|| format!("--units {u}: write {}", EnergyUnits::CHOICES))?,
    };
    let wanted = Wanted::parse(&args.job_id)?;
    let spool = Spool::new(&args.spool);
    let loaded = wanted
        .raw_id(&args, &spool)
        .and_then(|raw| load(&spool, raw));
    let (mut summary, records) = match loaded {
        Ok(found) => found,
        Err(spool_problem) => return from_store(&args, &wanted, units, &spool_problem),
    };
    if let Wanted::JobId(job) = &wanted {
        // A het component's records know only its raw id: name it as the user did.
        summary.job = job.clone();
    }
    // The store's figure once the job is ingested (the one acct and report show); before,
    // from its records alone.
    let key = match &wanted {
        Wanted::Raw(raw) => raw.to_string(),
        Wanted::JobId(job) => job.clone(),
    };
    let stored = ea_query::session::Session::open(args.config.as_deref(), args.db.as_deref(), None)
        .ok()
        .and_then(|s| s.job(&key).ok())
        .and_then(|mut found| (found.len() == 1).then(|| found.remove(0)))
        .filter(|(job, _)| job.embodied.is_some());
    let (footprint, allocation) = match stored {
        Some((job, figures)) => (Ok(figures), Allocation::Stored(job.embodied)),
        None => match footprint_of(&records, args.config.as_deref()) {
            Ok((job, figures)) => (Ok(figures), Allocation::Alone(job.embodied)),
            Err(note) => (Err(note), Allocation::Alone(None)),
        },
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let (figures, note) = split(&footprint);
        let view = JobJson {
            summary: &summary,
            footprint: figures.map(|f| footprint_json(f, &allocation)),
            footprint_note: note,
        };
        // Serialise first so that a closed stdout surfaces as an io::Error (exit 0), not as a
        // serde error.
        let text = serde_json::to_string_pretty(&view)?;
        writeln!(out, "{text}")?;
    } else {
        out.write_all(write_text(&summary, units).as_bytes())?;
        writeln!(out)?;
        match &footprint {
            Ok(figures) => write_footprint(&mut out, figures, &allocation, units)?,
            Err(note) => writeln!(out, "Footprint:    {note}")?,
        }
    }
    out.flush()?;
    Ok(())
}

fn split(f: &Result<JobFigures, String>) -> (Option<&JobFigures>, Option<&str>) {
    match f {
        Ok(figures) => (Some(figures), None),
        Err(note) => (None, Some(note.as_str())),
    }
}

/// Which job the user named.
enum Wanted {
    /// A plain id: the raw job id the spool files are named by.
    Raw(u32),
    /// `48_52` or `123+1`: sacct's JobID, whose raw id the store (or the records) know.
    JobId(String),
}

impl Wanted {
    fn parse(text: &str) -> Result<Self> {
        let id = ea_sacct::fields::parse_job_id(text.trim())
            .map_err(|e| anyhow::anyhow!("job {text}: {e}; write 123, 48_52 or 123+1"))?;
        if let Some(step) = &id.step {
            bail!(
                "job {text}: `.{step}` is a step; `energy-assess job` shows whole jobs (write {})",
                id.job
            );
        }
        if id.job.contains('[') {
            bail!(
                "job {text}: a range of array tasks; name one task (48_52) or see them all with \
                 `energy-assess acct -j {}`",
                id.base
            );
        }
        match id.job.parse::<u32>() {
            Ok(raw) => Ok(Wanted::Raw(raw)),
            Err(_) => Ok(Wanted::JobId(id.job)),
        }
    }

    /// The raw id of the job, for its spool files.
    fn raw_id(&self, args: &Args, spool: &Spool) -> Result<u32> {
        let job = match self {
            Wanted::Raw(raw) => return Ok(*raw),
            Wanted::JobId(job) => job,
        };
        let from_store =
            ea_query::session::Session::open(args.config.as_deref(), args.db.as_deref(), None)
                .ok()
                .and_then(|s| s.job(job).ok())
                .and_then(|found| {
                    found
                        .iter()
                        .find(|(j, _)| &j.row.job_id == job)?
                        .0
                        .row
                        .job_id_raw
                })
                .and_then(|raw| u32::try_from(raw).ok());
        if let Some(raw) = from_store {
            return Ok(raw);
        }
        raw_id_from_records(spool, job)
    }
}

/// An array task's raw id from the spool, for a job no ingest has seen yet: the epilog's
/// note under `arrays/` (opened by name), else, for records of plugins before that note, one
/// record of each job flat in `records/` (the layout those plugins wrote; the sharded tree is
/// never walked).
fn raw_id_from_records(spool: &Spool, job: &str) -> Result<u32> {
    let Some((array, task)) = job.split_once('_') else {
        bail!(
            "job {job}: a het component's raw id is known only from sacct; run \
             `energy-assess ingest` first, or give the component's own job id"
        );
    };
    let (Ok(array_id), Ok(task_id)) = (array.parse::<u32>(), task.parse::<u32>()) else {
        bail!("job {job}: not an array task (ARRAY_TASK, e.g. 48_52)");
    };
    if let Some(raw) = spool.array_task(array_id, task_id) {
        return Ok(raw);
    }
    let dir = spool.records_dir();
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "cannot read {} to find job {job}: the spool is root-only",
            dir.display()
        )
    })?;
    // A record of a node where no step ran has no array ids (docs/record-format.md): the
    // job's other records are read then.
    let mut other_tasks = std::collections::HashSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((raw, _, "json")) = name.to_str().and_then(ea_record::spool::parse_file_name)
        else {
            continue;
        };
        if other_tasks.contains(&raw) {
            continue;
        }
        let Ok(r) = ea_record::spool::read_record(&entry.path()) else {
            continue;
        };
        match (r.array_job_id, r.array_task_id) {
            (Some(a), Some(t)) if (a, t) == (array_id, task_id) => return Ok(raw),
            (Some(_), Some(_)) => {
                other_tasks.insert(raw);
            }
            _ => {}
        }
    }
    bail!(
        "no records for job {job} in {} (and the store does not know it)",
        spool.root().display()
    )
}

/// Reads every record of the job from the spool.
fn load(spool: &Spool, job_id: u32) -> Result<(JobSummary, Vec<JobNodeRecord>)> {
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
    let (mut done, mut errors) = spool.job_records(job_id);
    let done_nodes = done
        .iter()
        .find_map(|r| ea_record::hostlist::expand(r.node_list.as_deref()?).ok());
    // Nodes still running it: by name when a record gave the job's nodes, else on every
    // node's directory of `running/`.
    let (running, errors2) = spool.job_started(job_id, done_nodes.as_deref());
    let nodes = done_nodes.or_else(|| {
        running
            .iter()
            .find_map(|r| ea_record::hostlist::expand(r.node_list.as_deref()?).ok())
    });
    match nodes {
        // Nodes that an older plugin left flat records on (a rolling upgrade), by name.
        Some(nodes) => (done, errors) = spool.job_records_on(job_id, &nodes),
        // A job recorded before the sharded layout: its records are flat in `records/`.
        None if done.is_empty() && errors.is_empty() => {
            (done, errors) = spool.flat_job_records(job_id)
        }
        None => {}
    }
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
    let unreadable = errors.iter().map(ToString::to_string).collect();
    let summary = JobSummary::from_records(job_id, &done, &running, unreadable);
    Ok((summary, done))
}

/// The job's footprint from its records and the site's inventory, or why there is none.
fn footprint_of(
    records: &[JobNodeRecord],
    config: Option<&std::path::Path>,
) -> Result<(JobRecord, JobFigures), String> {
    let config =
        ea_query::session::load_config(config).map_err(|e| format!("not computed: {e}"))?;
    if config.inventory.is_none() {
        return Err(
            "not computed: no inventory (set site.inventory in the post-processor \
                    config, /etc/energy-assess/postproc.toml)"
                .into(),
        );
    }
    let found = ea_ingest::unstored::job_from_records(&config, records)
        .map_err(|e| e.to_string())
        .and_then(|job| {
            job.map(|job| {
                ea_query::session::figures_unstored(&config, &job)
                    .map(|f| (job, f))
                    .map_err(|e| e.to_string())
            })
            .transpose()
        });
    match found {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err("not computed: no node measured this job".into()),
        Err(e) => Err(format!("not computed: {e}")),
    }
}

/// Where a job's embodied figure comes from: the store's allocation at ingest, over every job
/// that shared its nodes (what `acct` and `report` show), or its records alone before it is
/// ingested, as if no other job had shared its nodes.
enum Allocation {
    Stored(Option<StoredEmbodied>),
    Alone(Option<StoredEmbodied>),
}

impl Allocation {
    fn embodied(&self) -> Option<&StoredEmbodied> {
        match self {
            Allocation::Stored(e) | Allocation::Alone(e) => e.as_ref(),
        }
    }

    /// `label: value` lines on the embodied share: node-hours, the scale factor, the source.
    fn lines(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(e) = self.embodied() {
            let mut share = format!(
                "{} node-hours charged of {} held",
                ea_units::hours(e.charged_h),
                ea_units::hours(e.held_h)
            );
            if let Some(k) = e.scale().filter(|k| *k < 1.0 - 1e-9) {
                share.push_str(&format!(
                    "; scaled by {k:.3}: its nodes were oversubscribed (their jobs held more \
                     than the nodes have), so each job's share was scaled down to the node"
                ));
            }
            out.push(("Share".into(), share));
        }
        out.push((
            "Allocated".into(),
            match self {
                Allocation::Stored(_) => "at ingest, over every job that shared its nodes: the \
                    figure acct and report show; it changes only when late records or jobs on \
                    its nodes, or a new inventory, are ingested"
                    .into(),
                Allocation::Alone(_) => "from its records alone, as if no other job shared its \
                    nodes (not ingested yet): once ingested, the store's figure counts its \
                    nodes' other jobs"
                    .into(),
            },
        ));
        out
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": match self {
                Allocation::Stored(_) => "store",
                Allocation::Alone(_) => "records-alone",
            },
            "held_node_hours": self.embodied().map(|e| e.held_h),
            "charged_node_hours": self.embodied().map(|e| e.charged_h),
            "scale": self.embodied().and_then(StoredEmbodied::scale),
            "oversubscribed": self.embodied().map(|e| e.flags.contains(ea_impact::Flag::Oversubscribed)),
        })
    }
}

fn write_footprint(
    out: &mut impl Write,
    f: &JobFigures,
    allocation: &Allocation,
    units: EnergyUnits,
) -> Result<()> {
    writeln!(
        out,
        "Footprint (the use phase is the energy with the site's PUE and grid factors; embodied \
         is the job's share of making its nodes):"
    )?;
    let lines = ea_query::session::describe(f, units);
    for (label, value) in lines.into_iter().chain(allocation.lines()) {
        writeln!(out, "  {:<12}{value}", format!("{label}:"))?;
    }
    Ok(())
}

/// The figures as JSON, in base units named by their keys.
fn footprint_json(f: &JobFigures, allocation: &Allocation) -> serde_json::Value {
    use ea_impact::{Impacts, Ranged};
    let crit = |r: Ranged<Impacts>, g: fn(&Impacts) -> f64| serde_json::json!({"value": g(&r.value), "min": g(&r.min), "max": g(&r.max)});
    let three = |r: Ranged<Impacts>| {
        serde_json::json!({
            "gwp_kgco2eq": crit(r, |i| i.gwp_kgco2eq),
            "pe_mj": crit(r, |i| i.pe_mj),
            "adpe_kgsbeq": crit(r, |i| i.adpe_kgsbeq),
        })
    };
    serde_json::json!({
        "energy_j": {"value": f.energy.j, "min": f.energy.min_j, "max": f.energy.max_j,
                     "source": f.energy.source.as_str()},
        "mean_power_w": f.mean_power_w,
        "node_hours": f.node_hours,
        "gpu_hours": f.gpu_hours,
        "total": f.impacts.as_ref().map(|i| three(i.total())),
        "use_phase": f.impacts.as_ref().map(|i| three(i.use_phase)),
        "embodied": f.impacts.as_ref().map(|i| three(i.embodied)),
        "allocation": allocation.json(),
    })
}

/// A job the spool cannot give (not readable, or cleaned up): its figures from the store.
fn from_store(
    args: &Args,
    wanted: &Wanted,
    units: EnergyUnits,
    spool_problem: &anyhow::Error,
) -> Result<()> {
    let session =
        ea_query::session::Session::open(args.config.as_deref(), args.db.as_deref(), None)
            .map_err(|e| anyhow::anyhow!("{spool_problem:#}\nand the store cannot be read: {e}"))?;
    let key = match wanted {
        Wanted::Raw(raw) => raw.to_string(),
        Wanted::JobId(job) => job.clone(),
    };
    let found = session.job(&key).map_err(|e| anyhow::anyhow!(e))?;
    if found.is_empty() {
        bail!("{spool_problem:#}\nand job {key} is not in the store (or is not yours)");
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let jobs: Vec<serde_json::Value> = found
            .iter()
            .map(|(job, figures)| {
                serde_json::json!({
                    "job": job.row.job_id,
                    "cluster": job.cluster(),
                    "user": job.row.user,
                    "account": job.row.account,
                    "partition": job.row.partition,
                    "state": job.row.state,
                    "footprint": footprint_json(figures, &Allocation::Stored(job.embodied.clone())),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?;
    } else {
        for (job, figures) in &found {
            writeln!(
                out,
                "Job {} of {}: account {}, partition {}, cluster {} [from the store]",
                job.row.job_id,
                job.row.user.as_deref().unwrap_or("?"),
                job.row.account.as_deref().unwrap_or("?"),
                job.row.partition.as_deref().unwrap_or("?"),
                job.cluster(),
            )?;
            writeln!(out, "State:        {}", job.row.state)?;
            if let Some(m) = &job.measured {
                let flags = ea_record::summary::grouped_in_words(
                    m.flags
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string),
                );
                if !flags.is_empty() {
                    writeln!(out, "Measurement:  {}", flags.join("\n              "))?;
                }
            }
            write_footprint(
                &mut out,
                figures,
                &Allocation::Stored(job.embodied.clone()),
                units,
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
