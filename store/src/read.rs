//! Reads: jobs (with what was measured of them), steps, calibrations.

use ea_energy::estimate::Calibration;
use rusqlite::{Connection, Row, ToSql};
use std::collections::HashMap;

/// A stored job, joined with its measured summary when it has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRecord {
    /// Its cluster.
    pub cluster: String,
    /// sacct's JobID (`123`, `48_52`, `123+1`).
    pub job_id: String,
    /// JobIDRaw.
    pub job_id_raw: Option<i64>,
    /// ArrayJobID, for an array's task.
    pub array_job_id: Option<i64>,
    /// ArrayTaskID.
    pub array_task: Option<String>,
    /// JobName.
    pub name: Option<String>,
    /// User.
    pub user: Option<String>,
    /// UID.
    pub uid: Option<u32>,
    /// Group.
    pub group: Option<String>,
    /// GID.
    pub gid: Option<u32>,
    /// Account.
    pub account: Option<String>,
    /// Partition.
    pub partition: Option<String>,
    /// QOS.
    pub qos: Option<String>,
    /// State, normalised (`CANCELLED by 1000` becomes `CANCELLED`).
    pub state: String,
    /// State as written by sacct.
    pub state_raw: String,
    /// ExitCode.
    pub exit_code: Option<String>,
    /// Submit, epoch seconds.
    pub submit: Option<i64>,
    /// Eligible, epoch seconds.
    pub eligible: Option<i64>,
    /// Start, epoch seconds.
    pub start: Option<i64>,
    /// End, epoch seconds.
    pub end: Option<i64>,
    /// Elapsed, seconds.
    pub elapsed_s: Option<i64>,
    /// Timelimit, seconds.
    pub timelimit_s: Option<i64>,
    /// NNodes.
    pub nnodes: Option<u32>,
    /// NCPUS.
    pub ncpus: Option<u32>,
    /// NodeList (a host list).
    pub node_list: Option<String>,
    /// ReqMem, MB.
    pub req_mem_mb: Option<f64>,
    /// AllocTRES.
    pub alloc_tres: Option<String>,
    /// GPUs from AllocTRES.
    pub gpus: Option<u32>,
    /// TotalCPU, seconds.
    pub total_cpu_s: Option<f64>,
    /// CPUTime, seconds.
    pub cpu_time_s: Option<f64>,
    /// ConsumedEnergy (Slurm's own meter), J.
    pub consumed_energy_j: Option<f64>,
    /// WorkDir.
    pub work_dir: Option<String>,
    /// Whether the job is in a final state (its row will not change).
    pub is_final: bool,
    /// Its measured energy, when its nodes recorded it.
    pub measured: Option<MeasuredRecord>,
    /// The stored steps, undecoded (see [`decode_steps`]); `None` when not selected.
    pub steps_json: Option<String>,
    /// Its embodied allocation, as the ingest stored it; `None` when it has none (no
    /// inventory, no nodes or times, still running).
    pub embodied: Option<crate::embodied::StoredEmbodied>,
}

/// A measured job's summary (see [`ea_energy::measured`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasuredRecord {
    /// Nodes whose records were found.
    pub nodes_recorded: u32,
    /// Nodes the job had, when sacct says.
    pub nodes_expected: Option<u32>,
    /// Energy, J.
    pub energy_j: f64,
    /// Its lower bound, J.
    pub energy_min_j: f64,
    /// Its upper bound, J.
    pub energy_max_j: f64,
    /// Some node's energy was split with other jobs.
    pub split: bool,
    /// CPU packages' energy (RAPL), J.
    pub e_cpu_package_j: Option<f64>,
    /// DRAM's energy (RAPL), J.
    pub e_dram_j: Option<f64>,
    /// GPU boards' energy (NVML), J.
    pub e_gpu_board_j: Option<f64>,
    /// Whole nodes' energy by the BMC (IPMI DCMI), J.
    pub e_node_bmc_j: Option<f64>,
    /// Whole nodes' energy by an external wattmeter, J.
    pub e_node_wattmeter_j: Option<f64>,
    /// Platform energy (RAPL psys), J.
    pub e_platform_j: Option<f64>,
    /// Other scopes' energy, J.
    pub e_other_j: Option<f64>,
    /// The scopes used, comma-separated.
    pub scope: String,
    /// The nodes' flags, comma-separated.
    pub flags: String,
}

/// The columns [`job_from_row`] reads, for `SELECT ... FROM jobs j LEFT JOIN job_measured m`.
pub const JOB_COLUMNS: &str = concat!("j.cluster, j.job_id, j.job_id_raw, j.array_job_id, j.array_task, j.name, j.user,
    j.uid, j.grp, j.gid, j.account, j.partition, j.qos, j.state, j.state_raw, j.exit_code, j.submit,
    j.eligible, j.start, j.end, j.elapsed_s, j.timelimit_s, j.nnodes, j.ncpus, j.node_list,
    j.req_mem_mb, j.alloc_tres, j.gpus, j.total_cpu_s, j.cpu_time_s, j.consumed_energy_j, j.work_dir,
    j.final, m.nodes_recorded, m.nodes_expected, m.energy_j, m.energy_min_j, m.energy_max_j, m.split,
    m.e_cpu_package_j, m.e_dram_j, m.e_gpu_board_j, m.e_node_bmc_j, m.e_node_wattmeter_j,
    m.e_platform_j, m.e_other_j, m.scope, m.flags, j.steps, ",
    embodied_columns!()
);

/// The FROM clause that goes with [`JOB_COLUMNS`].
pub const JOB_FROM: &str = concat!(
    "jobs j LEFT JOIN job_measured m ON m.cluster = j.cluster AND m.job_id = j.job_id ",
    embodied_join!()
);

/// Reads a row selected with [`JOB_COLUMNS`].
///
/// # Errors
/// SQLite type errors.
pub fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let measured = match r.get::<_, Option<u32>>(33)? {
        None => None,
        Some(nodes_recorded) => Some(MeasuredRecord {
            nodes_recorded,
            nodes_expected: r.get(34)?,
            energy_j: r.get(35)?,
            energy_min_j: r.get(36)?,
            energy_max_j: r.get(37)?,
            split: r.get::<_, i64>(38)? == 1,
            e_cpu_package_j: r.get(39)?,
            e_dram_j: r.get(40)?,
            e_gpu_board_j: r.get(41)?,
            e_node_bmc_j: r.get(42)?,
            e_node_wattmeter_j: r.get(43)?,
            e_platform_j: r.get(44)?,
            e_other_j: r.get(45)?,
            scope: r.get(46)?,
            flags: r.get(47)?,
        }),
    };
    Ok(JobRecord {
        cluster: r.get(0)?,
        job_id: r.get(1)?,
        job_id_raw: r.get(2)?,
        array_job_id: r.get(3)?,
        array_task: r.get(4)?,
        name: r.get(5)?,
        user: r.get(6)?,
        uid: r.get(7)?,
        group: r.get(8)?,
        gid: r.get(9)?,
        account: r.get(10)?,
        partition: r.get(11)?,
        qos: r.get(12)?,
        state: r.get(13)?,
        state_raw: r.get(14)?,
        exit_code: r.get(15)?,
        submit: r.get(16)?,
        eligible: r.get(17)?,
        start: r.get(18)?,
        end: r.get(19)?,
        elapsed_s: r.get(20)?,
        timelimit_s: r.get(21)?,
        nnodes: r.get(22)?,
        ncpus: r.get(23)?,
        node_list: r.get(24)?,
        req_mem_mb: r.get(25)?,
        alloc_tres: r.get(26)?,
        gpus: r.get(27)?,
        total_cpu_s: r.get(28)?,
        cpu_time_s: r.get(29)?,
        consumed_energy_j: r.get(30)?,
        work_dir: r.get(31)?,
        is_final: r.get::<_, i64>(32)? == 1,
        measured,
        steps_json: r.get(48)?,
        embodied: crate::embodied::from_row(r, 49)?,
    })
}

/// Jobs matching a WHERE clause (on aliases `j` and `m`), in a stable order.
///
/// # Errors
/// SQLite errors.
pub fn jobs_where(
    conn: &Connection,
    where_sql: &str,
    params: &[&dyn ToSql],
) -> rusqlite::Result<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE {where_sql}
         ORDER BY j.cluster, COALESCE(j.array_job_id, j.job_id_raw), CAST(j.array_task AS INTEGER), j.job_id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params, job_from_row)?;
    rows.collect()
}

/// A stored step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    /// Its cluster.
    pub cluster: String,
    /// Its job's JobID.
    pub job_id: String,
    /// The step (`batch`, `extern`, `0`...).
    pub step: String,
    /// JobName.
    pub name: Option<String>,
    /// State, normalised.
    pub state: String,
    /// State as written by sacct.
    pub state_raw: String,
    /// ExitCode.
    pub exit_code: Option<String>,
    /// Start, epoch seconds.
    pub start: Option<i64>,
    /// End, epoch seconds.
    pub end: Option<i64>,
    /// Elapsed, seconds.
    pub elapsed_s: Option<i64>,
    /// NNodes.
    pub nnodes: Option<u32>,
    /// NCPUS.
    pub ncpus: Option<u32>,
    /// NTasks.
    pub ntasks: Option<u32>,
    /// NodeList.
    pub node_list: Option<String>,
    /// TotalCPU, seconds.
    pub total_cpu_s: Option<f64>,
    /// ConsumedEnergy, J.
    pub consumed_energy_j: Option<f64>,
    /// AllocTRES.
    pub alloc_tres: Option<String>,
}

/// Decodes a job's stored steps, in sacct's order: batch, extern, then numbered steps.
pub fn decode_steps(job: &JobRecord) -> Vec<StepRecord> {
    let mut v: Vec<StepRecord> = job
        .steps_json
        .as_deref()
        .map(ea_sacct::rowhash::decode_steps_rows)
        .unwrap_or_default()
        .into_iter()
        .map(|s| StepRecord {
            cluster: job.cluster.clone(),
            job_id: job.job_id.clone(),
            state: ea_sacct::fields::normalise_state(&s.state_raw),
            step: s.step,
            name: s.name,
            state_raw: s.state_raw,
            exit_code: s.exit_code,
            start: s.start,
            end: s.end,
            elapsed_s: s.elapsed_s,
            nnodes: s.nnodes,
            ncpus: s.ncpus,
            ntasks: s.ntasks,
            node_list: s.node_list,
            total_cpu_s: s.total_cpu_s,
            consumed_energy_j: s.consumed_energy_j,
            alloc_tres: s.alloc_tres,
        })
        .collect();
    v.sort_by_key(|a| step_order(&a.step));
    v
}

/// sacct's step order: batch, extern, interactive, then numbered steps by number.
fn step_order(step: &str) -> (u8, u64, String) {
    match step {
        "batch" => (0, 0, String::new()),
        "extern" => (1, 0, String::new()),
        s => match s.split('.').next().and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => (3, n, s.to_string()),
            None => (2, 0, s.to_string()),
        },
    }
}

/// The (size, mtime) of spool files already read, by directory and name.
pub type KnownFiles = HashMap<String, HashMap<String, (i64, i64)>>;

/// Loads what the store knows of spool files under the given directories.
///
/// # Errors
/// SQLite errors, and a list of files that is not what `ea_ingest::records::remember_files` writes.
pub fn known_files(conn: &rusqlite::Connection, dirs: &[String]) -> rusqlite::Result<KnownFiles> {
    let mut known: KnownFiles = HashMap::new();
    let mut stmt =
        conn.prepare_cached("SELECT id, files FROM spool_reads WHERE dir = ?1 ORDER BY id")?;
    for d in dirs {
        let here = known.entry(d.clone()).or_default();
        let mut rows = stmt.query([d])?;
        while let Some(r) = rows.next()? {
            let files: Vec<(String, i64, i64)> = serde_json::from_str(r.get_ref(1)?.as_str()?)
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        format!("spool_reads row {}: {e}", r.get::<_, i64>(0).unwrap_or(0)).into(),
                    )
                })?;
            here.extend(
                files
                    .into_iter()
                    .map(|(name, size, mtime)| (name, (size, mtime))),
            );
        }
    }
    Ok(known)
}

/// Every calibration, by group (`cluster/partition`).
///
/// # Errors
/// SQLite errors.
pub fn calibrations(conn: &Connection) -> rusqlite::Result<HashMap<String, Calibration>> {
    let mut stmt =
        conn.prepare("SELECT grp, factor, static_w_per_cpu, low, high, n_jobs FROM calibration")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Calibration {
                factor: r.get(1)?,
                static_w_per_cpu: r.get(2)?,
                low: r.get(3)?,
                high: r.get(4)?,
                n_jobs: r.get(5)?,
            },
        ))
    })?;
    rows.collect()
}

/// The wattmeter samples of one node between two instants (epoch seconds), sorted by time.
///
/// # Errors
/// SQLite errors.
pub fn power_samples(
    conn: &Connection,
    node: &str,
    a: f64,
    b: f64,
) -> rusqlite::Result<Vec<(f64, f64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t, watts FROM power_samples WHERE node = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t",
    )?;
    let rows = stmt.query_map(rusqlite::params![node, a, b], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

/// Nodes that have wattmeter samples.
///
/// # Errors
/// SQLite errors.
pub fn sampled_nodes(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT node FROM power_samples ORDER BY node")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}
