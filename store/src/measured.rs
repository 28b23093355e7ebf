//! What the ingest's derivation reads and writes (`ea_ingest::derive`): the node records and
//! wattmeter series it measures from, the jobs around them, the measured jobs
//! (`job_measured`) and the calibrations it fits.

use ea_energy::estimate::{Calibration, EstimateInput};
use ea_energy::measured::SCOPES;
use rusqlite::{Connection, params};

/// A span of time in epoch seconds, `None` at both ends when nothing was found.
pub type Span = (Option<f64>, Option<f64>);

/// The span of the node records whose job has no measured energy yet (waiting for late
/// records, or for the job to end).
///
/// # Errors
/// SQLite errors.
pub fn pending_records_span(conn: &Connection) -> rusqlite::Result<Span> {
    conn.query_row(
        "SELECT min(r.start), max(COALESCE(r.end, r.start)) FROM node_records r
             WHERE NOT EXISTS (SELECT 1 FROM job_measured m WHERE m.cluster = r.cluster AND m.job_id = r.job_id)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The span of every node record (one without an end, to its start).
///
/// # Errors
/// SQLite errors.
pub fn records_span(conn: &Connection) -> rusqlite::Result<Span> {
    conn.query_row(
        "SELECT min(start), max(COALESCE(end, start)) FROM node_records",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The span of every wattmeter sample.
///
/// # Errors
/// SQLite errors.
pub fn samples_span(conn: &Connection) -> rusqlite::Result<Span> {
    conn.query_row("SELECT min(t), max(t) FROM power_samples", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// How many jobs have a measured energy.
///
/// # Errors
/// SQLite errors.
pub fn measured_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT count(*) FROM job_measured", [], |r| r.get(0))
}

/// (cluster, raw id, sacct's JobID) of the records over `[a, b]` stored under their raw id
/// whose job sacct names otherwise (an array task, a het component), once per raw id.
///
/// # Errors
/// SQLite errors.
pub fn records_to_rename(
    conn: &Connection,
    a: f64,
    b: f64,
) -> rusqlite::Result<Vec<(String, u64, String)>> {
    // `jobs_aliases` holds only the jobs whose JobID is not their raw id.
    conn.prepare(
        "SELECT r.cluster, r.job_id_raw,
                (SELECT j.job_id FROM jobs j WHERE j.cluster = r.cluster
                   AND j.job_id_raw = r.job_id_raw AND j.job_id != CAST(j.job_id_raw AS TEXT)
                   AND j.state_raw NOT LIKE '% (from node records)') AS alias
             FROM node_records r
             WHERE (r.end IS NULL OR r.end >= ?1) AND (r.start IS NULL OR r.start <= ?2)
               AND r.job_id = CAST(r.job_id_raw AS TEXT) AND alias IS NOT NULL
             GROUP BY r.cluster, r.job_id_raw",
    )?
    .query_map(params![a, b], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect()
}

/// Gives the records of each (cluster, raw id) the JobID that goes with it (what
/// [`records_to_rename`] found).
///
/// # Errors
/// SQLite errors.
pub fn rename_records(
    conn: &Connection,
    renames: &[(String, u64, String)],
) -> rusqlite::Result<()> {
    let mut rename =
        conn.prepare("UPDATE node_records SET job_id = ?3 WHERE cluster = ?1 AND job_id_raw = ?2")?;
    for (cluster, raw, alias) in renames {
        rename.execute(params![cluster, raw, alias])?;
    }
    Ok(())
}

/// (cluster, JobID) of the jobs made from records under a raw id whose records over `[a, b]`
/// now bear another JobID.
///
/// # Errors
/// SQLite errors.
pub fn superseded_jobs(
    conn: &Connection,
    a: f64,
    b: f64,
) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare(
        "SELECT DISTINCT j.cluster, j.job_id FROM node_records r
             JOIN jobs j ON j.cluster = r.cluster AND j.job_id = CAST(r.job_id_raw AS TEXT)
             WHERE (r.end IS NULL OR r.end >= ?1) AND (r.start IS NULL OR r.start <= ?2)
               AND r.job_id != CAST(r.job_id_raw AS TEXT)
               AND j.state_raw LIKE '% (from node records)'",
    )?
    .query_map(params![a, b], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Deletes these jobs, (cluster, JobID), and their measured energies.
///
/// # Errors
/// SQLite errors.
pub fn delete_jobs_and_measured(
    conn: &Connection,
    jobs: &[(String, String)],
) -> rusqlite::Result<()> {
    for (cluster, job_id) in jobs {
        for table in ["jobs", "job_measured"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE cluster = ?1 AND job_id = ?2"),
                params![cluster, job_id],
            )?;
        }
    }
    Ok(())
}

/// A job the jobs table does not have, as its node records over a span describe it (see
/// [`jobs_only_in_records`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedJob {
    /// Its cluster.
    pub cluster: String,
    /// Its JobID, as the records give it.
    pub job_id: String,
    /// Its raw id.
    pub job_id_raw: u64,
    /// The earliest start of its records.
    pub start: Option<f64>,
    /// The latest end of its records.
    pub end: Option<f64>,
    /// The largest node count its records give.
    pub num_nodes: Option<u32>,
    /// How many records it has.
    pub nodes_recorded: u32,
    /// The CPUs of its records, added up.
    pub cpus: Option<u32>,
    /// 1 when every record is complete (the job ended on every node), else 0.
    pub complete: i64,
    /// Its owner, as the records give it.
    pub user: Option<String>,
    /// Its owner's uid.
    pub uid: Option<u32>,
    /// Its account.
    pub account: Option<String>,
    /// Its partition.
    pub partition: Option<String>,
    /// Its node list.
    pub node_list: Option<String>,
    /// Its exit code (`code:signal`).
    pub exit_code: Option<String>,
}

/// The jobs whose node records overlap `[a, b]` and that the jobs table does not have, one per
/// (cluster, JobID).
///
/// # Errors
/// SQLite errors.
pub fn jobs_only_in_records(
    conn: &Connection,
    a: f64,
    b: f64,
) -> rusqlite::Result<Vec<RecordedJob>> {
    let mut stmt = conn.prepare(
        "SELECT r.cluster, r.job_id, r.job_id_raw, min(r.start), max(r.end), max(r.num_nodes), count(*),
                sum(r.cpus_on_node), min(r.complete), max(r.user), max(r.uid), max(r.account),
                max(r.partition), max(r.node_list), max(r.exit_code)
         FROM node_records r
         WHERE (r.end IS NULL OR r.end >= ?1) AND (r.start IS NULL OR r.start <= ?2)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = r.cluster AND j.job_id = r.job_id)
         GROUP BY r.cluster, r.job_id",
    )?;
    stmt.query_map(params![a, b], |r| {
        Ok(RecordedJob {
            cluster: r.get(0)?,
            job_id: r.get(1)?,
            job_id_raw: r.get(2)?,
            start: r.get(3)?,
            end: r.get(4)?,
            num_nodes: r.get(5)?,
            nodes_recorded: r.get(6)?,
            cpus: r.get(7)?,
            complete: r.get(8)?,
            user: r.get(9)?,
            uid: r.get(10)?,
            account: r.get(11)?,
            partition: r.get(12)?,
            node_list: r.get(13)?,
            exit_code: r.get(14)?,
        })
    })?
    .collect()
}

/// A stored node record, as the derivation measures it (see [`records_in`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredRecordRow {
    /// Its JobID.
    pub job_id: String,
    /// Its node.
    pub node: String,
    /// Whether the epilog finished it.
    pub complete: bool,
    /// When the job started on the node, epoch seconds.
    pub start: Option<f64>,
    /// When it ended there.
    pub end: Option<f64>,
    /// CPUs the job held on the node.
    pub cpus_on_node: Option<u32>,
    /// GPUs the job held on the node.
    pub gpus_on_node: Option<u32>,
    /// Memory the job held on the node, MB.
    pub memory_mb: Option<u64>,
    /// How many nodes the job has.
    pub num_nodes: Option<u32>,
    /// Energy per scope, J, indexed like [`SCOPES`].
    pub energy_j: [Option<f64>; SCOPES.len()],
    /// GPU boards of the node the job did not hold, J.
    pub gpu_others_j: Option<f64>,
    /// GPU boards whose holder the record does not say, J.
    pub gpu_unknown_j: Option<f64>,
    /// Its flags, comma-separated.
    pub flags: String,
}

/// Calls `each` with the cluster and the row of every node record overlapping `[a, b]`, in
/// the store's order.
///
/// # Errors
/// SQLite errors.
pub fn records_in(
    conn: &Connection,
    a: f64,
    b: f64,
    mut each: impl FnMut(&str, MeasuredRecordRow),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT cluster, job_id, node, complete, start, end, cpus_on_node, gpus_on_node, memory_mb,
                e_cpu_package_j, e_core_j, e_uncore_j, e_dram_j, e_platform_j, e_gpu_board_j,
                e_node_bmc_j, e_node_wattmeter_j, e_other_j, e_gpu_others_j, e_gpu_unknown_j, flags,
                num_nodes
         FROM node_records WHERE (end IS NULL OR end >= ?1) AND (start IS NULL OR start <= ?2)",
    )?;
    let mut rows = stmt.query(params![a, b])?;
    while let Some(r) = rows.next()? {
        let mut energy_j = [None; SCOPES.len()];
        for (i, e) in energy_j.iter_mut().enumerate() {
            *e = r.get(9 + i)?;
        }
        let cluster = r.get_ref(0)?.as_str()?;
        each(
            cluster,
            MeasuredRecordRow {
                job_id: r.get(1)?,
                node: r.get(2)?,
                complete: r.get::<_, i64>(3)? == 1,
                start: r.get(4)?,
                end: r.get(5)?,
                cpus_on_node: r.get(6)?,
                gpus_on_node: r.get(7)?,
                memory_mb: r.get::<_, Option<i64>>(8)?.map(|m| m as u64),
                num_nodes: r.get(21)?,
                energy_j,
                gpu_others_j: r.get(18)?,
                gpu_unknown_j: r.get(19)?,
                flags: r.get(20)?,
            },
        );
    }
    Ok(())
}

/// A job as the derivation splits nodes with it, borrowed from the store's row (or from what
/// a run captured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSpan<'a> {
    /// Its JobID.
    pub job_id: &'a str,
    /// When it started.
    pub start: i64,
    /// When it ended; `None` while it runs.
    pub end: Option<i64>,
    /// NNodes.
    pub nnodes: Option<u32>,
    /// NCPUS.
    pub ncpus: Option<u32>,
    /// GPUs.
    pub gpus: Option<u32>,
    /// ReqMem, MB.
    pub req_mem_mb: Option<f64>,
    /// Its node list.
    pub node_list: Option<&'a str>,
    /// Whether its row is final.
    pub is_final: bool,
}

/// Calls `each` with the cluster and the job of every job that started by `hi` and had not
/// ended before `lo`: ended ones that started from `ended_from` on, running ones from
/// `earliest` on (epoch seconds), in the store's order.
///
/// # Errors
/// SQLite errors.
pub fn jobs_around(
    conn: &Connection,
    lo: i64,
    hi: i64,
    earliest: i64,
    ended_from: i64,
    mut each: impl FnMut(&str, &JobSpan<'_>),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT cluster, job_id, start, end, nnodes, ncpus, gpus, req_mem_mb, node_list, final FROM jobs
         WHERE start IS NOT NULL AND start <= ?2 AND start >= ?4 AND (end IS NULL OR end >= ?1)
         UNION ALL
         SELECT cluster, job_id, start, end, nnodes, ncpus, gpus, req_mem_mb, node_list, final FROM jobs
         WHERE end IS NULL AND start IS NOT NULL AND start < ?4 AND start >= ?3",
    )?;
    let mut rows = stmt.query(params![lo, hi, earliest, ended_from])?;
    while let Some(r) = rows.next()? {
        let cluster = r.get_ref(0)?.as_str()?;
        let f = JobSpan {
            job_id: r.get_ref(1)?.as_str()?,
            start: r.get(2)?,
            end: r.get(3)?,
            nnodes: r.get(4)?,
            ncpus: r.get(5)?,
            gpus: r.get(6)?,
            req_mem_mb: r.get(7)?,
            node_list: r.get_ref(8)?.as_str_or_null()?,
            is_final: r.get::<_, i64>(9)? == 1,
        };
        each(cluster, &f);
    }
    Ok(())
}

/// The nodes that have wattmeter samples, in no particular order.
///
/// # Errors
/// SQLite errors.
pub fn sampled_nodes_unordered(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT node FROM power_samples")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Each node's whole wattmeter series, (time, watts) sorted by time, in the order of `nodes`.
///
/// # Errors
/// SQLite errors.
pub fn power_series(conn: &Connection, nodes: &[String]) -> rusqlite::Result<Vec<Vec<(f64, f64)>>> {
    let mut stmt = conn.prepare("SELECT t, watts FROM power_samples WHERE node = ?1 ORDER BY t")?;
    nodes
        .iter()
        .map(|name| {
            stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(f64, f64)>>>()
        })
        .collect()
}

/// Writes measured jobs (cluster, JobID, summary) into `job_measured`, each in place of what
/// was there.
///
/// # Errors
/// SQLite errors.
pub fn write_measured<'a>(
    conn: &Connection,
    rows: impl IntoIterator<Item = (&'a str, &'a str, crate::read::MeasuredRecord)>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO job_measured (cluster, job_id, nodes_recorded, nodes_expected, energy_j,
            energy_min_j, energy_max_j, split, e_cpu_package_j, e_dram_j, e_gpu_board_j, e_node_bmc_j,
            e_node_wattmeter_j, e_platform_j, e_other_j, scope, flags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    for (cluster, job_id, m) in rows {
        crate::execute_bound!(
            stmt,
            cluster,
            job_id,
            m.nodes_recorded,
            m.nodes_expected,
            m.energy_j,
            m.energy_min_j,
            m.energy_max_j,
            m.split,
            m.e_cpu_package_j,
            m.e_dram_j,
            m.e_gpu_board_j,
            m.e_node_bmc_j,
            m.e_node_wattmeter_j,
            m.e_platform_j,
            m.e_other_j,
            m.scope,
            m.flags,
        )?;
    }
    Ok(())
}

/// A final measured job that ran, as the calibration fits it (see [`calibration_jobs`]).
#[derive(Debug, Clone)]
pub struct CalibrationJob {
    /// Its cluster.
    pub cluster: String,
    /// Its partition.
    pub partition: Option<String>,
    /// Its measured energy, J.
    pub energy_j: f64,
    /// What the estimate reads of it.
    pub input: EstimateInput,
}

/// Calls `each` with every final measured job that ran, by cluster and JobID.
///
/// # Errors
/// SQLite errors.
pub fn calibration_jobs(
    conn: &Connection,
    mut each: impl FnMut(CalibrationJob),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT j.cluster, j.partition, m.energy_j, j.elapsed_s, j.ncpus, j.total_cpu_s, j.cpu_time_s,
                j.gpus, j.req_mem_mb
         FROM job_measured m JOIN jobs j ON j.cluster = m.cluster AND j.job_id = m.job_id
         WHERE j.final = 1 AND j.elapsed_s > 0
         ORDER BY m.cluster, m.job_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let cluster: String = r.get(0)?;
        let partition: Option<String> = r.get(1)?;
        let input = EstimateInput {
            elapsed_s: r.get::<_, i64>(3)? as f64,
            ncpus: r.get(4)?,
            total_cpu_s: r.get(5)?,
            cpu_time_s: r.get(6)?,
            gpus: r.get(7)?,
            req_mem_mb: r.get(8)?,
        };
        each(CalibrationJob {
            cluster,
            partition,
            energy_j: r.get(2)?,
            input,
        });
    }
    Ok(())
}

/// Stores these calibrations, by group key, in place of every stored one.
///
/// # Errors
/// SQLite errors.
pub fn replace_calibrations(
    conn: &Connection,
    calibrations: &[(String, Calibration)],
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM calibration", [])?;
    let mut ins = conn.prepare(
        "INSERT INTO calibration (grp, factor, static_w_per_cpu, low, high, n_jobs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (grp, c) in calibrations {
        ins.execute(params![
            grp,
            c.factor,
            c.static_w_per_cpu,
            c.low,
            c.high,
            c.n_jobs
        ])?;
    }
    Ok(())
}
