//! Writes, all through one connection inside the ingest transaction.
//!
//! Upserts compare a stored hash of each row's content and rewrite only rows that changed, so
//! that ingesting the same input twice writes nothing the second time. A final row (the job
//! ended) is never replaced by a non-final one from an older snapshot.

use ea_sacct::rowhash::{encode_steps, job_hash_with_steps};
use ea_sacct::{JobRow, StepRow};
use rusqlite::{Connection, params};

/// How many rows an upsert wrote, and how many it found unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upserted {
    /// Rows inserted or replaced.
    pub written: u64,
    /// Rows whose hash matched: left as they were.
    pub unchanged: u64,
}

impl std::ops::AddAssign for Upserted {
    fn add_assign(&mut self, o: Self) {
        self.written += o.written;
        self.unchanged += o.unchanged;
    }
}

const UPSERT_JOB: &str = "
INSERT INTO jobs (cluster, job_id, job_id_raw, array_job_id, array_task, name, user, uid, grp, gid,
    account, partition, qos, state, state_raw, exit_code, submit, eligible, start, end, elapsed_s,
    timelimit_s, nnodes, ncpus, node_list, req_mem_mb, alloc_tres, gpus, total_cpu_s, cpu_time_s,
    consumed_energy_j, work_dir, final, row_hash, source_id, steps)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36)
ON CONFLICT (cluster, job_id) DO UPDATE SET
    job_id_raw = excluded.job_id_raw, array_job_id = excluded.array_job_id,
    array_task = excluded.array_task, name = excluded.name, user = excluded.user,
    uid = excluded.uid, grp = excluded.grp, gid = excluded.gid, account = excluded.account,
    partition = excluded.partition, qos = excluded.qos, state = excluded.state,
    state_raw = excluded.state_raw, exit_code = excluded.exit_code, submit = excluded.submit,
    eligible = excluded.eligible, start = excluded.start, end = excluded.end,
    elapsed_s = excluded.elapsed_s, timelimit_s = excluded.timelimit_s, nnodes = excluded.nnodes,
    ncpus = excluded.ncpus, node_list = excluded.node_list, req_mem_mb = excluded.req_mem_mb,
    alloc_tres = excluded.alloc_tres, gpus = excluded.gpus, total_cpu_s = excluded.total_cpu_s,
    cpu_time_s = excluded.cpu_time_s, consumed_energy_j = excluded.consumed_energy_j,
    work_dir = excluded.work_dir, final = excluded.final, row_hash = excluded.row_hash,
    source_id = excluded.source_id, steps = COALESCE(excluded.steps, jobs.steps)
WHERE jobs.row_hash != excluded.row_hash AND NOT (jobs.final = 1 AND excluded.final = 0)";

/// Inserts or updates jobs. Every row must have its cluster set.
///
/// # Errors
/// SQLite errors.
/// `on_written` is called for each row that was inserted or changed.
pub fn upsert_jobs(
    conn: &Connection,
    rows: &[JobRow],
    source_id: i64,
    on_written: &mut dyn FnMut(&JobRow),
) -> rusqlite::Result<Upserted> {
    let prepared: Vec<PreparedJob> = rows.iter().cloned().map(PreparedJob::new).collect();
    upsert_prepared(conn, &prepared, source_id, Target::Upsert, on_written)
}

/// A job with its stored forms computed: the encoded steps and the content hash. Preparing is
/// the costly part of a write and needs no connection, so ingest does it off the writer thread.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    /// The job (its `steps` emptied: they are in `steps_json`).
    pub job: Box<JobRow>,
    /// Its steps, encoded (`rowhash::encode_steps`).
    pub steps_json: Option<String>,
    /// How many steps.
    pub n_steps: u32,
    /// The content hash of the job and its steps.
    pub hash: i64,
}

impl PreparedJob {
    /// Prepares a job whose steps are in `job.steps`.
    pub fn new(mut job: JobRow) -> Self {
        let steps = std::mem::take(&mut job.steps);
        let steps_json = encode_steps(&steps);
        let hash = job_hash_with_steps(&job, steps_json.as_deref());
        Self {
            job: Box::new(job),
            steps_json,
            n_steps: steps.len() as u32,
            hash,
        }
    }
}

/// How jobs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Insert new jobs, update changed ones, leave the rest.
    Upsert,
    /// Plain inserts: the jobs table held no job when this input started, and an input never
    /// holds a job twice (its grouper keeps the first allocation line), so no row can exist
    /// yet. Skips SQLite's conflict handling, a good part of the cost of a first, large ingest.
    FreshTable,
}

const INSERT_JOB: &str = "
INSERT INTO jobs (cluster, job_id, job_id_raw, array_job_id, array_task, name, user, uid, grp, gid,
    account, partition, qos, state, state_raw, exit_code, submit, eligible, start, end, elapsed_s,
    timelimit_s, nnodes, ncpus, node_list, req_mem_mb, alloc_tres, gpus, total_cpu_s, cpu_time_s,
    consumed_energy_j, work_dir, final, row_hash, source_id, steps)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36)";

/// Inserts or updates prepared jobs (see [`upsert_jobs`]).
///
/// # Errors
/// SQLite errors (with [`Target::FreshTable`], a job already stored is one).
pub fn upsert_prepared(
    conn: &Connection,
    rows: &[PreparedJob],
    source_id: i64,
    target: Target,
    on_written: &mut dyn FnMut(&JobRow),
) -> rusqlite::Result<Upserted> {
    let mut stmt = conn.prepare_cached(match target {
        Target::Upsert => UPSERT_JOB,
        Target::FreshTable => INSERT_JOB,
    })?;
    let mut n = Upserted::default();
    for p in rows {
        let j = &p.job;
        let changed = crate::execute_bound!(
            stmt,
            j.cluster.as_deref().unwrap_or(""),
            j.job_id,
            j.job_id_raw,
            j.array_job_id,
            j.array_task,
            j.name,
            j.user,
            j.uid,
            j.group,
            j.gid,
            j.account,
            j.partition,
            j.qos,
            j.state,
            j.state_raw,
            j.exit_code,
            j.submit,
            j.eligible,
            j.start,
            j.end,
            j.elapsed_s,
            j.timelimit_s,
            j.nnodes,
            j.ncpus,
            j.node_list,
            j.req_mem_mb,
            j.alloc_tres,
            j.gpus,
            j.total_cpu_s,
            j.cpu_time_s,
            j.consumed_energy_j,
            j.work_dir,
            j.is_final(),
            p.hash,
            source_id,
            p.steps_json,
        )?;
        if changed > 0 {
            n.written += 1;
            on_written(j);
        } else {
            n.unchanged += 1;
        }
    }
    Ok(n)
}

/// Steps whose allocation line was not in the same input (a dump of steps only): added to the
/// stored job's steps, replacing steps of the same name. Returns how many jobs changed; steps of
/// jobs the store does not have are counted apart and dropped.
///
/// # Errors
/// SQLite errors.
pub fn merge_orphan_steps(conn: &Connection, steps: &[StepRow]) -> rusqlite::Result<(u64, u64)> {
    let mut by_job: std::collections::BTreeMap<(String, String), Vec<&StepRow>> =
        Default::default();
    for s in steps {
        by_job
            .entry((s.cluster.clone().unwrap_or_default(), s.job_id.clone()))
            .or_default()
            .push(s);
    }
    let (mut changed, mut dropped) = (0, 0);
    let mut get =
        conn.prepare_cached("SELECT steps FROM jobs WHERE cluster = ?1 AND job_id = ?2")?;
    let mut put = conn.prepare_cached(
        "UPDATE jobs SET steps = ?3, row_hash = row_hash + 1 WHERE cluster = ?1 AND job_id = ?2",
    )?;
    for ((cluster, job_id), new) in by_job {
        let mut rows = get.query(params![cluster, job_id])?;
        let Some(r) = rows.next()? else {
            dropped += new.len() as u64;
            continue;
        };
        let old: Option<String> = r.get(0)?;
        drop(rows);
        let mut merged: Vec<StepRow> = old
            .as_deref()
            .map(ea_sacct::rowhash::decode_steps_rows)
            .unwrap_or_default();
        for s in new {
            merged.retain(|m| m.step != s.step);
            merged.push(s.clone());
        }
        let text = encode_steps(&merged);
        if text != old {
            put.execute(params![cluster, job_id, text])?;
            changed += 1;
        }
    }
    Ok((changed, dropped))
}

/// Whether an input with this name, size and modification time was already ingested.
///
/// # Errors
/// SQLite errors.
pub fn source_unchanged(
    conn: &Connection,
    kind: &str,
    name: &str,
    size: i64,
    mtime_ns: i64,
) -> rusqlite::Result<bool> {
    let mut stmt =
        conn.prepare_cached("SELECT size, mtime_ns FROM sources WHERE kind = ?1 AND name = ?2")?;
    let mut rows = stmt.query(params![kind, name])?;
    Ok(match rows.next()? {
        Some(r) => {
            r.get::<_, Option<i64>>(0)? == Some(size)
                && r.get::<_, Option<i64>>(1)? == Some(mtime_ns)
        }
        None => false,
    })
}

/// Records an input as ingested; returns its id.
///
/// # Errors
/// SQLite errors.
#[allow(clippy::too_many_arguments)]
pub fn record_source(
    conn: &Connection,
    kind: &str,
    name: &str,
    size: Option<i64>,
    mtime_ns: Option<i64>,
    now: i64,
    rows: u64,
    errors: u64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO sources (kind, name, size, mtime_ns, ingested_at, rows, errors)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (kind, name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
             ingested_at = excluded.ingested_at, rows = excluded.rows, errors = excluded.errors",
        params![kind, name, size, mtime_ns, now, rows as i64, errors as i64],
    )?;
    conn.query_row(
        "SELECT id FROM sources WHERE kind = ?1 AND name = ?2",
        params![kind, name],
        |r| r.get(0),
    )
}

/// Marks the jobs of `cluster` whose raw ids are given as not final (squeue shows them
/// completing).
///
/// # Errors
/// SQLite errors.
pub fn mark_not_final(conn: &Connection, cluster: &str, raw_ids: &[u64]) -> rusqlite::Result<u64> {
    // A plain job's JobID is its raw id, which the unique index finds; array tasks fall back
    // on a scan of job_id_raw (only a handful of jobs are completing at any moment).
    let set = "SET final = 0, state = 'COMPLETING', row_hash = 0";
    let mut by_id = conn.prepare_cached(&format!(
        "UPDATE jobs {set} WHERE cluster = ?1 AND job_id = ?2 AND final = 1"
    ))?;
    let mut by_raw = conn.prepare_cached(&format!(
        "UPDATE jobs {set} WHERE cluster = ?1 AND job_id_raw = ?2 AND final = 1"
    ))?;
    let mut n = 0;
    for id in raw_ids {
        let k = by_id.execute(params![cluster, id.to_string()])?;
        n += if k > 0 {
            k
        } else {
            by_raw.execute(params![cluster, id])?
        } as u64;
    }
    Ok(n)
}

/// Deletes every measured job (`job_measured`), for all to be measured again.
///
/// # Errors
/// SQLite errors.
pub fn delete_measured(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM job_measured", []).map(drop)
}

/// Writes wattmeter samples, each in place of the node's sample at the same instant; returns
/// how many were inserted or changed.
///
/// # Errors
/// SQLite errors.
pub fn power_samples(
    conn: &Connection,
    samples: &[ea_energy::wattmeter::Sample],
) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO power_samples (node, t, watts) VALUES (?1, ?2, ?3)
         ON CONFLICT (node, t) DO UPDATE SET watts = excluded.watts WHERE watts != excluded.watts",
    )?;
    let mut written = 0;
    for s in samples {
        written += stmt.execute(params![s.node, s.t, s.watts])? as u64;
    }
    Ok(written)
}
