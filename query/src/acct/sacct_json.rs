//! `acct --json`: the document `sacct --json` writes, so that a tool written for sacct reads
//! ours unchanged, with energy-assess's figures added under one key per job.
//!
//! The layout is Slurm 22.05's (openapi/dbv0.0.38, the installed Slurm): `meta`, `errors`
//! and `jobs[]`, each job with sacct's keys, in sacct's order, nested as sacct nests them
//! (`state.current`, `time.{elapsed,start,end,...}`, `exit_code.{status,return_code}`,
//! `tres.allocated[]`, `steps[]`...). A key the store has no value for is still written, with
//! `null` (a list with `[]`), so that paths a tool follows exist; the store keeps sacct's
//! usual columns, not everything sacct knows (comments, wckeys, priorities, reservations).
//!
//! Where the store knows better than 22.05's JSON, it says so: a non-zero exit is written
//! with its code (22.05 writes `SUCCESS` and 0 for `3:0`), and a job's `time.total` is its
//! steps' CPU time, as sacct's allocation line shows it (22.05's JSON writes 0).
//!
//! `energy_assess` holds the figures, in the base units its key names say (J, W, h, kgCO2eq,
//! MJ, kgSbeq); `meta.energy_assess` the tool, the query's window and the impact model.

use crate::figures::{Energy, JobFigures, JobImpacts};
use ea_impact::{Impacts, Ranged};
use ea_sacct::StepRow;
use ea_sacct::fields::{parse_job_id_parts, parse_size_mb};
use ea_sacct::timefmt::cpu_sec_usec;
use ea_store::read::{JobRecord, MeasuredRecord};
use serde::Serialize;
use serde_json::{Value as J, json};
use std::io::{self, Write};

/// The data_parser (openapi plugin) whose layout this follows.
pub const LAYOUT_PLUGIN: &str = "openapi/dbv0.0.38";

/// One job to write: its row, its figures and the steps to nest in it (none under `-X`).
pub struct JsonJob<'a> {
    /// The job as stored.
    pub job: &'a JobRecord,
    /// Its figures.
    pub figures: &'a JobFigures,
    /// Its steps.
    pub steps: Vec<StepRow>,
}

/// What `meta.energy_assess` says about the query.
pub struct QueryMeta {
    /// The window's start, epoch seconds.
    pub window_start: i64,
    /// The window's end, epoch seconds.
    pub window_end: i64,
    /// How impacts were computed (the engine's provenance).
    pub impacts: String,
}

/// Writes the document indented by two spaces, as sacct does, and a newline. Serialised
/// from typed structs, not through a `serde_json::Value`, so that keys keep sacct's order.
///
/// # Errors
/// Write errors.
pub fn write(out: &mut dyn Write, jobs: &[JsonJob<'_>], meta: &QueryMeta) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(jobs, meta))?;
    out.write_all(b"\n")
}

fn document(jobs: &[JsonJob<'_>], meta: &QueryMeta) -> Document {
    Document {
        meta: Meta {
            plugin: Plugin {
                r#type: LAYOUT_PLUGIN,
                name: format!(
                    "energy-assess {} (the layout of Slurm OpenAPI DB v0.0.38)",
                    env!("CARGO_PKG_VERSION")
                ),
            },
            slurm: SlurmVersion {
                version: json!({"major": 22, "micro": null, "minor": 5}),
                release: "22.05",
            },
            energy_assess: ToolMeta {
                tool: "energy-assess",
                version: env!("CARGO_PKG_VERSION"),
                window: Window {
                    start: meta.window_start,
                    end: meta.window_end,
                },
                impacts: meta.impacts.clone(),
            },
        },
        errors: Vec::new(),
        jobs: jobs.iter().map(job).collect(),
    }
}

#[derive(Serialize)]
struct Document {
    meta: Meta,
    errors: Vec<String>,
    jobs: Vec<Job>,
}

#[derive(Serialize)]
struct Meta {
    plugin: Plugin,
    #[serde(rename = "Slurm")]
    slurm: SlurmVersion,
    energy_assess: ToolMeta,
}

#[derive(Serialize)]
struct Plugin {
    r#type: &'static str,
    name: String,
}

/// The Slurm release whose layout this is (not the release that ran the jobs: the store
/// does not know it for text dumps).
#[derive(Serialize)]
struct SlurmVersion {
    version: J,
    release: &'static str,
}

#[derive(Serialize)]
struct ToolMeta {
    tool: &'static str,
    version: &'static str,
    window: Window,
    impacts: String,
}

/// Epoch seconds, as sacct's times.
#[derive(Serialize)]
struct Window {
    start: i64,
    end: i64,
}

/// A job, its keys in sacct 22.05's order.
#[derive(Serialize)]
struct Job {
    account: Option<String>,
    comment: J,
    allocation_nodes: Option<u32>,
    array: Array,
    association: Association,
    cluster: String,
    constraints: Option<String>,
    container: Option<String>,
    derived_exit_code: ExitCode,
    time: JobTime,
    exit_code: ExitCode,
    flags: Vec<String>,
    group: Option<String>,
    het: Het,
    job_id: u64,
    name: Option<String>,
    mcs: J,
    nodes: String,
    partition: Option<String>,
    priority: Option<i64>,
    qos: Option<String>,
    required: J,
    kill_request_user: Option<String>,
    reservation: J,
    state: State,
    steps: Vec<Step>,
    tres: JobTres,
    user: Option<String>,
    wckey: J,
    working_directory: Option<String>,
    energy_assess: EnergyAssess,
}

fn job(j: &JsonJob<'_>) -> Job {
    let r = j.job;
    let raw = raw_job_id(r);
    Job {
        account: r.row.account.clone(),
        comment: json!({"administrator": null, "job": null, "system": null}),
        allocation_nodes: r.row.nnodes,
        array: array(r),
        association: Association {
            account: r.row.account.clone(),
            cluster: r.cluster().to_string(),
            partition: None,
            user: r.row.user.clone(),
        },
        cluster: r.cluster().to_string(),
        constraints: None,
        container: None,
        derived_exit_code: ExitCode::unknown(),
        time: job_time(r),
        exit_code: ExitCode::from_text(r.row.exit_code.as_deref()),
        flags: Vec::new(),
        group: r.row.group.clone(),
        het: het(r),
        job_id: raw,
        name: r.row.name.clone(),
        mcs: json!({"label": null}),
        nodes: nodes_text(r.row.node_list.as_deref()),
        partition: r.row.partition.clone(),
        priority: None,
        qos: r.row.qos.clone(),
        required: json!({"CPUs": null, "memory": null}),
        kill_request_user: None,
        reservation: json!({"id": null, "name": null}),
        state: State {
            current: r.row.state.clone(),
            reason: None,
        },
        steps: j.steps.iter().map(|s| step(s, raw)).collect(),
        tres: JobTres {
            allocated: tres_list(r.row.alloc_tres.as_deref()),
            requested: Vec::new(),
        },
        user: r.row.user.clone(),
        wckey: json!({"wckey": null, "flags": []}),
        working_directory: r.row.work_dir.clone(),
        energy_assess: energy_assess(r, j.figures),
    }
}

/// Slurm's numeric id: the raw id, else the number the JobID starts with (a job known only
/// from records has no raw id of its own).
fn raw_job_id(r: &JobRecord) -> u64 {
    r.row
        .job_id_raw
        .unwrap_or_else(|| parse_job_id_parts(&r.row.job_id).map_or(0, |p| p.base))
}

/// sacct's text for a job without nodes.
fn nodes_text(list: Option<&str>) -> String {
    list.unwrap_or("None assigned").to_string()
}

#[derive(Serialize)]
struct Array {
    job_id: u64,
    limits: J,
    task: Option<String>,
    task_id: Option<i64>,
}

/// `array.job_id` is 0 outside arrays (as sacct writes it); a task still pending as one
/// record (`[1-3]`) has its range as `task` and no `task_id`.
fn array(r: &JobRecord) -> Array {
    let task = r.row.array_task.as_deref();
    let task_id = task.and_then(|t| t.parse::<i64>().ok());
    Array {
        job_id: r.row.array_job_id.unwrap_or(0),
        limits: json!({"max": {"running": {"tasks": null}}}),
        task: task.filter(|_| task_id.is_none()).map(str::to_string),
        task_id,
    }
}

#[derive(Serialize)]
struct Het {
    job_id: u64,
    job_offset: Option<u32>,
}

/// A het component `123+1`: its leader's id and its offset; `0` and `null` otherwise.
fn het(r: &JobRecord) -> Het {
    let offset = r
        .row
        .job_id
        .split_once('+')
        .and_then(|(_, o)| o.parse::<u32>().ok());
    let leader = offset.and_then(|_| parse_job_id_parts(&r.row.job_id).ok());
    Het {
        job_id: leader.map_or(0, |p| p.base),
        job_offset: offset,
    }
}

#[derive(Serialize)]
struct Association {
    account: Option<String>,
    cluster: String,
    partition: Option<String>,
    user: Option<String>,
}

#[derive(Serialize)]
struct State {
    current: String,
    reason: Option<String>,
}

/// `{seconds, microseconds}`, as sacct writes CPU times.
#[derive(Serialize)]
struct CpuTime {
    seconds: Option<u64>,
    microseconds: Option<u32>,
}

impl CpuTime {
    fn of(secs: Option<f64>) -> Self {
        let parts = secs.map(cpu_sec_usec);
        CpuTime {
            seconds: parts.map(|p| p.0),
            microseconds: parts.map(|p| p.1),
        }
    }
}

#[derive(Serialize)]
struct JobTime {
    elapsed: Option<i64>,
    eligible: i64,
    end: i64,
    start: i64,
    submission: i64,
    suspended: Option<i64>,
    system: CpuTime,
    /// Minutes; `null` for UNLIMITED, as 22.05 writes it.
    limit: Option<i64>,
    total: CpuTime,
    user: CpuTime,
}

/// sacct writes 0 for a time not reached yet (a running job's end).
fn epoch(t: Option<i64>) -> i64 {
    t.unwrap_or(0)
}

fn job_time(r: &JobRecord) -> JobTime {
    JobTime {
        elapsed: r.row.elapsed_s,
        eligible: epoch(r.row.eligible),
        end: epoch(r.row.end),
        start: epoch(r.row.start),
        submission: epoch(r.row.submit),
        suspended: None,
        system: CpuTime::of(None),
        limit: r.row.timelimit_s.map(|s| s / 60),
        total: CpuTime::of(r.row.total_cpu_s),
        user: CpuTime::of(None),
    }
}

/// An exit code as 22.05 writes it: `{status, return_code}`, and `signal` when signalled.
#[derive(Serialize)]
struct ExitCode {
    status: Option<&'static str>,
    return_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<Signal>,
}

#[derive(Serialize)]
struct Signal {
    signal_id: i64,
    name: Option<&'static str>,
}

impl ExitCode {
    fn unknown() -> Self {
        ExitCode {
            status: None,
            return_code: None,
            signal: None,
        }
    }

    /// From sacct's `return_code:signal` text.
    fn from_text(text: Option<&str>) -> Self {
        let Some((rc, sig)) = text.and_then(|t| t.split_once(':')) else {
            return Self::unknown();
        };
        let (Ok(rc), Ok(sig)) = (rc.trim().parse::<i64>(), sig.trim().parse::<i64>()) else {
            return Self::unknown();
        };
        let (status, return_code, signal) = match (rc, sig) {
            (_, s) if s > 0 => (
                "SIGNALED",
                None,
                Some(Signal {
                    signal_id: s,
                    name: signal_name(s),
                }),
            ),
            (0, _) => ("SUCCESS", Some(0), None),
            (rc, _) => ("ERROR", Some(rc), None),
        };
        ExitCode {
            status: Some(status),
            return_code,
            signal,
        }
    }
}

/// The signal's description as glibc's `strsignal` gives it, which is what 22.05 writes.
fn signal_name(sig: i64) -> Option<&'static str> {
    const NAMES: [&str; 15] = [
        "Hangup",
        "Interrupt",
        "Quit",
        "Illegal instruction",
        "Trace/breakpoint trap",
        "Aborted",
        "Bus error",
        "Floating point exception",
        "Killed",
        "User defined signal 1",
        "Segmentation fault",
        "User defined signal 2",
        "Broken pipe",
        "Alarm clock",
        "Terminated",
    ];
    usize::try_from(sig - 1)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
}

#[derive(Serialize)]
struct JobTres {
    allocated: Vec<TresItem>,
    requested: Vec<TresItem>,
}

#[derive(Serialize)]
struct TresItem {
    r#type: String,
    name: Option<String>,
    id: Option<u32>,
    count: Option<u64>,
}

/// Slurm's fixed TRES ids; gres, licenses and the like are numbered by each site's database.
fn tres_id(ty: &str, name: Option<&str>) -> Option<u32> {
    match (ty, name) {
        ("cpu", None) => Some(1),
        ("mem", None) => Some(2),
        ("energy", None) => Some(3),
        ("node", None) => Some(4),
        ("billing", None) => Some(5),
        ("fs", Some("disk")) => Some(6),
        ("vmem", None) => Some(7),
        ("pages", None) => Some(8),
        _ => None,
    }
}

/// A TRES string (`cpu=3,mem=1.50G,gres/gpu:a100=2`) as sacct's list: memory in MiB, the
/// name after the type's `/`.
/// Sorted by id as sacct lists them (AllocTRES text is alphabetical); site-numbered ones
/// after, in the text's order.
fn tres_list(text: Option<&str>) -> Vec<TresItem> {
    let Some(text) = text else {
        return Vec::new();
    };
    let mut items: Vec<TresItem> = text
        .split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(key, value)| {
            let (ty, name) = match key.trim().split_once('/') {
                Some((t, n)) => (t, Some(n)),
                None => (key.trim(), None),
            };
            let count = if ty == "mem" {
                parse_size_mb(value).map(|mb| mb.round() as u64)
            } else {
                value.trim().parse().ok()
            };
            TresItem {
                r#type: ty.to_string(),
                name: name.map(str::to_string),
                id: tres_id(ty, name),
                count,
            }
        })
        .collect();
    items.sort_by_key(|t| t.id.unwrap_or(u32::MAX));
    items
}

#[derive(Serialize)]
struct Step {
    nodes: StepNodes,
    tres: StepTres,
    time: StepTime,
    exit_code: ExitCode,
    tasks: J,
    pid: Option<i64>,
    #[serde(rename = "CPU")]
    cpu: J,
    kill_request_user: Option<String>,
    state: String,
    statistics: J,
    step: StepId,
    task: J,
}

#[derive(Serialize)]
struct StepNodes {
    list: Vec<String>,
    count: Option<u32>,
    range: Option<String>,
}

#[derive(Serialize)]
struct StepTres {
    requested: TresStats,
    consumed: TresStats,
    allocated: Vec<TresItem>,
}

/// sacct's per-task usage statistics: the store does not keep them.
#[derive(Serialize, Default)]
struct TresStats {
    max: Vec<TresItem>,
    min: Vec<TresItem>,
    average: Vec<TresItem>,
    total: Vec<TresItem>,
}

#[derive(Serialize)]
struct StepTime {
    elapsed: Option<i64>,
    end: i64,
    start: i64,
    suspended: Option<i64>,
    system: CpuTime,
    total: CpuTime,
    user: CpuTime,
}

#[derive(Serialize)]
struct StepId {
    job_id: u64,
    het: J,
    /// `"batch"`, `"extern"`, or the step's number as a number (as 22.05 writes it).
    id: J,
    name: Option<String>,
}

fn step(s: &StepRow, job_id: u64) -> Step {
    let list = s
        .node_list
        .as_deref()
        .and_then(|l| ea_record::hostlist::expand(l).ok())
        .unwrap_or_default();
    let id = s
        .step
        .parse::<u64>()
        .map_or_else(|_| J::from(s.step.as_str()), J::from);
    Step {
        nodes: StepNodes {
            list,
            count: s.nnodes,
            range: s.node_list.clone(),
        },
        tres: StepTres {
            requested: TresStats::default(),
            consumed: TresStats::default(),
            allocated: tres_list(s.alloc_tres.as_deref()),
        },
        time: StepTime {
            elapsed: s.elapsed_s,
            end: epoch(s.end),
            start: epoch(s.start),
            suspended: None,
            system: CpuTime::of(None),
            total: CpuTime::of(s.total_cpu_s),
            user: CpuTime::of(None),
        },
        exit_code: ExitCode::from_text(s.exit_code.as_deref()),
        tasks: json!({ "count": s.ntasks }),
        pid: None,
        cpu: json!({"requested_frequency": {"min": null, "max": null}, "governor": []}),
        kill_request_user: None,
        state: s.state.clone(),
        statistics: json!({
            "CPU": {"actual_frequency": null},
            "energy": {"consumed": s.consumed_energy_j.map(|j| j.round() as u64)},
        }),
        step: StepId {
            job_id,
            het: json!({"component": null}),
            id,
            name: s.name.clone(),
        },
        task: json!({"distribution": null}),
    }
}

/// energy-assess's figures for one job, in the base units the keys name.
#[derive(Serialize)]
struct EnergyAssess {
    energy_j: EnergyOut,
    /// For estimates calibrated by the partition's measured jobs.
    calibration: Option<CalibrationOut>,
    mean_power_w: Option<f64>,
    node_hours: f64,
    gpu_hours: f64,
    gpus: Option<u32>,
    /// What the nodes' meters said, for measured and split jobs.
    measured: Option<MeasuredOut>,
    /// `null` without an inventory (see `meta.energy_assess.impacts`).
    gwp_kgco2eq: Option<ImpactOut>,
    pe_mj: Option<ImpactOut>,
    adpe_kgsbeq: Option<ImpactOut>,
    /// Measurement quality flags (`extrapolated:2/3-nodes`, `shared-node-split`...), and
    /// `oversubscribed` when its embodied share was scaled down.
    flags: Vec<String>,
    /// Its embodied allocation as the ingest stored it (`null`: none).
    allocation: Option<AllocationOut>,
}

/// What the ingest charged a job of its nodes' embodied impact.
#[derive(Serialize)]
struct AllocationOut {
    /// Share × hours it held, before scaling.
    held_node_hours: f64,
    charged_node_hours: f64,
    /// Charged over held: below 1 when its nodes were oversubscribed.
    scale: Option<f64>,
    nodes_in_inventory: u32,
    nodes_outside_inventory: u32,
}

#[derive(Serialize)]
struct EnergyOut {
    value: f64,
    min: f64,
    max: f64,
    /// `measured`, `split` or `estimated`.
    source: &'static str,
}

#[derive(Serialize)]
struct CalibrationOut {
    factor: f64,
    static_w_per_cpu: f64,
    /// The 10th and 90th percentiles of measured / fitted energy: the estimate's range.
    ratio_low: f64,
    ratio_high: f64,
    jobs: u32,
}

#[derive(Serialize)]
struct RangeOut {
    value: f64,
    min: f64,
    max: f64,
}

/// A criterion's total (use phase + embodied) with its range, and both phases.
#[derive(Serialize)]
struct ImpactOut {
    value: f64,
    min: f64,
    max: f64,
    use_phase: RangeOut,
    embodied: RangeOut,
}

#[derive(Serialize)]
struct MeasuredOut {
    scope: String,
    nodes_recorded: u32,
    nodes_expected: Option<u32>,
    meters_j: MetersOut,
}

/// Each meter scope's energy as read, J.
#[derive(Serialize)]
struct MetersOut {
    cpu_package: Option<f64>,
    dram: Option<f64>,
    gpu_board: Option<f64>,
    node_bmc: Option<f64>,
    node_wattmeter: Option<f64>,
    platform: Option<f64>,
    other: Option<f64>,
}

fn energy_assess(r: &JobRecord, f: &JobFigures) -> EnergyAssess {
    let crit = |pick: fn(&Impacts) -> f64| f.impacts.as_ref().map(|i| impact(i, pick));
    EnergyAssess {
        energy_j: energy_out(&f.energy),
        calibration: f.energy.calibration.as_ref().map(|c| CalibrationOut {
            factor: c.factor,
            static_w_per_cpu: c.static_w_per_cpu,
            ratio_low: c.low,
            ratio_high: c.high,
            jobs: c.n_jobs,
        }),
        mean_power_w: f.mean_power_w,
        node_hours: f.node_hours,
        gpu_hours: f.gpu_hours,
        gpus: r.row.gpus,
        measured: r.measured.as_ref().map(measured_out),
        gwp_kgco2eq: crit(|i| i.gwp_kgco2eq),
        pe_mj: crit(|i| i.pe_mj),
        adpe_kgsbeq: crit(|i| i.adpe_kgsbeq),
        flags: crate::columns::flags_of(r)
            .map(|f| f.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        allocation: r.embodied.as_ref().map(|e| AllocationOut {
            held_node_hours: e.held_h,
            charged_node_hours: e.charged_h,
            scale: e.scale(),
            nodes_in_inventory: e.inside,
            nodes_outside_inventory: e.outside,
        }),
    }
}

fn energy_out(e: &Energy) -> EnergyOut {
    EnergyOut {
        value: e.j,
        min: e.min_j,
        max: e.max_j,
        source: e.source.as_str(),
    }
}

fn range_out(r: Ranged<Impacts>, pick: fn(&Impacts) -> f64) -> RangeOut {
    RangeOut {
        value: pick(&r.value),
        min: pick(&r.min),
        max: pick(&r.max),
    }
}

fn impact(i: &JobImpacts, pick: fn(&Impacts) -> f64) -> ImpactOut {
    let total = range_out(i.total(), pick);
    ImpactOut {
        value: total.value,
        min: total.min,
        max: total.max,
        use_phase: range_out(i.use_phase, pick),
        embodied: range_out(i.embodied, pick),
    }
}

fn measured_out(m: &MeasuredRecord) -> MeasuredOut {
    MeasuredOut {
        scope: m.scope.clone(),
        nodes_recorded: m.nodes_recorded,
        nodes_expected: m.nodes_expected,
        meters_j: MetersOut {
            cpu_package: m.e_cpu_package_j,
            dram: m.e_dram_j,
            gpu_board: m.e_gpu_board_j,
            node_bmc: m.e_node_bmc_j,
            node_wattmeter: m.e_node_wattmeter_j,
            platform: m.e_platform_j,
            other: m.e_other_j,
        },
    }
}

/// Every leaf path of `v` (`time.total.seconds`, `steps[].step.id`; a list's items merged).
/// With `filled`, only the paths that hold something: not `null`, not an empty list. How the
/// layout is compared with the document real sacct writes (`store/tests/sacct_parity.rs`,
/// the e2e test of the same name).
pub fn key_paths(v: &J, prefix: &str, filled: bool, out: &mut std::collections::BTreeSet<String>) {
    match v {
        J::Object(o) => {
            for (k, x) in o {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(x, &p, filled, out);
            }
        }
        J::Array(a) => {
            if a.is_empty() && !filled {
                out.insert(format!("{prefix}[]"));
            }
            for x in a {
                key_paths(x, &format!("{prefix}[]"), filled, out);
            }
        }
        J::Null if filled => {}
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[cfg(test)]
mod tests;
