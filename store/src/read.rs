//! Reads: jobs (with what was measured of them), steps, calibrations.

use ea_energy::estimate::Calibration;
use ea_sacct::{JobRow, StepRow};
use rusqlite::{Connection, Row, ToSql};
use std::collections::HashMap;

/// A stored job: the [`JobRow`] sacct (or its records) gave, the same type the parsers
/// produce, with what the store adds to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRecord {
    /// The job as it was ingested. Its `cluster` is always set; its `steps` are left empty,
    /// since most queries never show them (see `steps_json`).
    pub row: JobRow,
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

impl JobRecord {
    /// Its cluster (a stored job always has one).
    pub fn cluster(&self) -> &str {
        self.row.cluster.as_deref().unwrap_or_default()
    }
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

impl MeasuredRecord {
    /// What is stored of a job measured by [`ea_energy::measured::combine`]: the one
    /// conversion, for the ingest's writes and for a job shown before any ingest.
    pub fn of(m: &ea_energy::measured::JobMeasured) -> Self {
        use ea_energy::measured::scope_index;
        use ea_record::Scope as S;
        let e = &m.scope_sums;
        MeasuredRecord {
            nodes_recorded: m.nodes_recorded,
            nodes_expected: m.nodes_expected,
            energy_j: m.energy_j,
            energy_min_j: m.min_j,
            energy_max_j: m.max_j,
            split: m.split,
            e_cpu_package_j: e[scope_index(S::CpuPackage)],
            e_dram_j: e[scope_index(S::Dram)],
            e_gpu_board_j: e[scope_index(S::GpuBoard)],
            e_node_bmc_j: e[scope_index(S::NodeBmc)],
            e_node_wattmeter_j: e[scope_index(S::NodeWattmeter)],
            e_platform_j: e[scope_index(S::Platform)],
            e_other_j: e[scope_index(S::Other)],
            scope: m.scope.clone(),
            flags: m.flags.join(","),
        }
    }
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
        row: JobRow {
            cluster: Some(r.get(0)?),
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
            steps: Vec::new(),
        },
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

/// Decodes a job's stored steps, in sacct's order: batch, extern, then numbered steps.
pub fn decode_steps(job: &JobRecord) -> Vec<StepRow> {
    let mut v: Vec<StepRow> = job
        .steps_json
        .as_deref()
        .map(ea_sacct::rowhash::decode_steps_rows)
        .unwrap_or_default()
        .into_iter()
        .map(|s| StepRow {
            cluster: job.row.cluster.clone(),
            job_id: job.row.job_id.clone(),
            ..s
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

/// Whether the store is fresh: no job and no node record.
///
/// # Errors
/// SQLite errors.
pub fn is_fresh(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM jobs) AND NOT EXISTS (SELECT 1 FROM node_records)",
        [],
        |r| r.get(0),
    )
}

/// Whether nothing is measured: no wattmeter sample and no measured job.
///
/// # Errors
/// SQLite errors.
pub fn nothing_measured(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM power_samples) AND NOT EXISTS (SELECT 1 FROM job_measured)",
        [],
        |r| r.get(0),
    )
}

/// Whether the jobs table holds no job.
///
/// # Errors
/// SQLite errors.
pub fn no_jobs(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM jobs)", [], |r| r.get(0))
}

/// The clusters of the jobs last written from the input `source_id` (see
/// [`crate::write::record_source`]).
///
/// # Errors
/// SQLite errors.
pub fn clusters_of_source(conn: &Connection, source_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT cluster FROM jobs WHERE source_id = ?1")?;
    stmt.query_map([source_id], |r| r.get(0))?.collect()
}

/// Measured energy the store holds, in joules, by (cluster, partition, account): the sum of
/// the measured jobs' energies (`job_measured`, each job's share of its nodes), as the
/// collector's `/metrics` exposes it. Jobs known only from their records have the partition
/// and account their records give.
///
/// # Errors
/// SQLite errors.
pub fn measured_energy_by_group(
    conn: &Connection,
) -> rusqlite::Result<Vec<(String, String, String, f64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.cluster, coalesce(j.partition, ''), coalesce(j.account, ''), sum(m.energy_j)
           FROM job_measured m LEFT JOIN jobs j ON j.cluster = m.cluster AND j.job_id = m.job_id
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

/// (cluster, partition, account, [GWP kgCO2eq, ADPe kgSbeq, PE MJ]).
pub type EmbodiedRow = (String, String, String, [f64; 3]);

/// Embodied impacts the store holds (allocated at ingest, `job_embodied`), by (cluster,
/// partition, account): GWP (kgCO2eq), ADPe (kgSbeq) and PE (MJ), for the collector's
/// `/metrics`. Jobs whose nodes the inventory does not describe have none.
///
/// # Errors
/// SQLite errors.
pub fn embodied_by_group(conn: &Connection) -> rusqlite::Result<Vec<EmbodiedRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT j.cluster, coalesce(j.partition, ''), coalesce(j.account, ''),
                total(e.gwp), total(e.adpe), total(e.pe)
           FROM job_embodied e JOIN jobs j ON j.id = e.job
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            [r.get(3)?, r.get(4)?, r.get(5)?],
        ))
    })?;
    rows.collect()
}

/// A measured job's energy, J, its bounds, and whether some node's energy was split:
/// (energy, min, max, split).
pub type MeasuredEnergy = (f64, f64, f64, bool);

/// Calls `each` with the cluster, the JobID and the energy of every measured job.
///
/// # Errors
/// SQLite errors.
pub fn measured_energies(
    conn: &Connection,
    mut each: impl FnMut(String, String, MeasuredEnergy),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT cluster, job_id, energy_j, energy_min_j, energy_max_j, split FROM job_measured",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        each(
            r.get(0)?,
            r.get(1)?,
            (r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, i64>(5)? == 1),
        );
    }
    Ok(())
}

/// The smallest and the largest store id of a job (`jobs.id`); `None` without jobs.
///
/// # Errors
/// SQLite errors.
pub fn job_id_range(conn: &Connection) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    conn.query_row("SELECT min(id), max(id) FROM jobs", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// A final job of a period, as a report reads it (see [`period_jobs`]), borrowed from the
/// store's row.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRow<'a> {
    /// Its store id (`jobs.id`).
    pub id: i64,
    /// Its start, else its submission, else 0.
    pub first: i64,
    /// Its cluster.
    pub cluster: &'a str,
    /// Its JobID.
    pub job_id: &'a str,
    /// User.
    pub user: Option<&'a str>,
    /// Account.
    pub account: Option<&'a str>,
    /// Partition.
    pub partition: Option<&'a str>,
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
    /// GPUs.
    pub gpus: Option<u32>,
    /// ReqMem, MB.
    pub req_mem_mb: Option<f64>,
    /// TotalCPU, seconds.
    pub total_cpu_s: Option<f64>,
    /// CPUTime, seconds.
    pub cpu_time_s: Option<f64>,
    /// NodeList.
    pub node_list: Option<&'a str>,
    /// Its embodied allocation, as the ingest stored it.
    pub embodied: Option<crate::embodied::StoredEmbodied>,
}

/// A job of a period: final, with what a report reads of it, or not final yet.
#[derive(Debug, Clone, PartialEq)]
// Handed by value to a callback one row at a time, never stored: boxing the large variant
// would allocate once per job of the period.
#[allow(clippy::large_enum_variant)]
pub enum PeriodJobRow<'a> {
    /// A final job.
    Final(PeriodRow<'a>),
    /// A job whose row is not final: its first instant (start, else submission, else 0) and
    /// its end.
    NotFinal {
        /// Its start, else its submission, else 0.
        first: i64,
        /// Its end, epoch seconds.
        end: Option<i64>,
    },
}

/// Calls `each`, in id order, with every job whose store id is in `ids` (inclusive) that
/// belongs to `[start, end)` (its start, else its submission, before `end`; not ended before
/// `start`). `restriction` is a further condition on the jobs (alias `j`) with its values,
/// numbered from `?5` on (anonymous `?` are).
///
/// # Errors
/// SQLite errors, and `each`'s.
pub fn period_jobs(
    conn: &Connection,
    ids: (i64, i64),
    start: i64,
    end: i64,
    restriction: Option<(String, Vec<rusqlite::types::Value>)>,
    mut each: impl FnMut(PeriodJobRow<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut where_sql =
        "j.id BETWEEN ?3 AND ?4 AND COALESCE(j.start, j.submit, 0) < ?1 AND (j.end IS NULL OR j.end >= ?2)".to_string();
    let mut params: Vec<rusqlite::types::Value> =
        vec![end.into(), start.into(), ids.0.into(), ids.1.into()];
    if let Some((sql, p)) = restriction {
        where_sql.push_str(" AND ");
        // Anonymous `?` after `?4` are numbered 5, 6... by SQLite.
        where_sql.push_str(&sql);
        params.extend(p);
    }
    let sql = format!(
        "SELECT j.id, j.cluster, j.job_id, j.user, j.account, j.partition, j.start, j.end, j.elapsed_s,
                j.nnodes, j.ncpus, j.gpus, j.req_mem_mb, j.total_cpu_s, j.cpu_time_s, j.node_list, j.final,
                COALESCE(j.start, j.submit, 0), {}
         FROM jobs j {} WHERE {where_sql} ORDER BY j.id",
        crate::embodied::COLUMNS,
        crate::embodied::JOIN
    );
    let mut stmt = conn.prepare(&sql)?;
    let p: Vec<&dyn ToSql> = params.iter().map(|v| v as &dyn ToSql).collect();
    let mut rows = stmt.query(p.as_slice())?;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(17)?;
        if r.get::<_, i64>(16)? != 1 {
            each(PeriodJobRow::NotFinal {
                first,
                end: r.get(7)?,
            })?;
            continue;
        }
        each(PeriodJobRow::Final(PeriodRow {
            id: r.get(0)?,
            first,
            cluster: r.get_ref(1)?.as_str()?,
            job_id: r.get_ref(2)?.as_str()?,
            user: r.get_ref(3)?.as_str_or_null()?,
            account: r.get_ref(4)?.as_str_or_null()?,
            partition: r.get_ref(5)?.as_str_or_null()?,
            start: r.get(6)?,
            end: r.get(7)?,
            elapsed_s: r.get(8)?,
            nnodes: r.get(9)?,
            ncpus: r.get(10)?,
            gpus: r.get(11)?,
            req_mem_mb: r.get(12)?,
            total_cpu_s: r.get(13)?,
            cpu_time_s: r.get(14)?,
            node_list: r.get_ref(15)?.as_str_or_null()?,
            embodied: crate::embodied::from_row(r, 18)?,
        }))?;
    }
    Ok(())
}

/// A job's JobID and name, by its store id (`jobs.id`).
///
/// # Errors
/// SQLite errors (no such job is one).
pub fn job_name(conn: &Connection, id: i64) -> rusqlite::Result<(String, Option<String>)> {
    let mut stmt = conn.prepare_cached("SELECT job_id, name FROM jobs WHERE id = ?1")?;
    stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// A job as the embodied allocation reads it (see [`allocation_jobs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationJob {
    /// Its store id (`jobs.id`).
    pub row: i64,
    /// Start, epoch seconds.
    pub start: i64,
    /// End, epoch seconds.
    pub end: i64,
    /// NodeList.
    pub node_list: String,
    /// NCPUS.
    pub ncpus: Option<u32>,
    /// GPUs.
    pub gpus: Option<u32>,
    /// ReqMem, MB.
    pub req_mem_mb: Option<f64>,
}

/// Which jobs [`allocation_jobs`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationSpan {
    /// Every job that ran.
    All,
    /// The jobs that started in `[from, to)` and ended after `ended_after` (epoch seconds).
    Around {
        /// The earliest start.
        from: i64,
        /// The start they came before.
        to: i64,
        /// The end they came after.
        ended_after: i64,
    },
}

const ALLOCATION_JOBS: &str = "SELECT cluster, id, start, end, node_list, ncpus, gpus, req_mem_mb
    FROM jobs WHERE start IS NOT NULL AND end > start AND node_list IS NOT NULL";

/// The statement of [`allocation_jobs`] and its parameters.
pub(crate) fn allocation_query(span: &AllocationSpan) -> (String, Vec<i64>) {
    match *span {
        AllocationSpan::All => (ALLOCATION_JOBS.to_string(), vec![]),
        AllocationSpan::Around {
            from,
            to,
            ended_after,
        } => (
            format!("{ALLOCATION_JOBS} AND start >= ?1 AND start < ?2 AND end > ?3"),
            vec![from, to, ended_after],
        ),
    }
}

/// Calls `each` with the cluster and the row of every job that ran (started, ended after it
/// started, with a node list) within `span`, in the store's order.
///
/// # Errors
/// SQLite errors.
pub fn allocation_jobs(
    conn: &Connection,
    span: AllocationSpan,
    mut each: impl FnMut(&str, AllocationJob),
) -> rusqlite::Result<()> {
    let (sql, args) = allocation_query(&span);
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        let cluster = r.get_ref(0)?.as_str()?;
        each(
            cluster,
            AllocationJob {
                row: r.get(1)?,
                start: r.get(2)?,
                end: r.get(3)?,
                node_list: r.get(4)?,
                ncpus: r.get(5)?,
                gpus: r.get(6)?,
                req_mem_mb: r.get(7)?,
            },
        );
    }
    Ok(())
}
