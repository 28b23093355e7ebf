//! Writes, all through one connection inside the ingest transaction.
//!
//! Upserts compare a stored hash of each row's content and rewrite only rows that changed, so
//! that ingesting the same input twice writes nothing the second time. A final row (the job
//! ended) is never replaced by a non-final one from an older snapshot.

use super::Fnv;
use crate::sacct::{JobRow, StepRow};
use rusqlite::{Connection, params};

/// How many rows an upsert wrote, and how many it found unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upserted {
    pub written: u64,
    pub unchanged: u64,
}

impl std::ops::AddAssign for Upserted {
    fn add_assign(&mut self, o: Self) {
        self.written += o.written;
        self.unchanged += o.unchanged;
    }
}

/// The content hash of a job row (every stored field).
pub fn job_hash(j: &JobRow) -> i64 {
    let mut h = Fnv::default();
    h.str(j.cluster.as_deref())
        .str(Some(&j.job_id))
        .int(j.job_id_raw.map(|v| v as i64));
    h.int(j.array_job_id.map(|v| v as i64))
        .str(j.array_task.as_deref())
        .str(j.name.as_deref());
    h.str(j.user.as_deref())
        .int(j.uid.map(i64::from))
        .str(j.group.as_deref())
        .int(j.gid.map(i64::from));
    h.str(j.account.as_deref())
        .str(j.partition.as_deref())
        .str(j.qos.as_deref());
    h.str(Some(&j.state))
        .str(Some(&j.state_raw))
        .str(j.exit_code.as_deref());
    h.int(j.submit)
        .int(j.eligible)
        .int(j.start)
        .int(j.end)
        .int(j.elapsed_s)
        .int(j.timelimit_s);
    h.int(j.nnodes.map(i64::from))
        .int(j.ncpus.map(i64::from))
        .str(j.node_list.as_deref());
    h.float(j.req_mem_mb)
        .str(j.alloc_tres.as_deref())
        .int(j.gpus.map(i64::from));
    h.float(j.total_cpu_s)
        .float(j.cpu_time_s)
        .float(j.consumed_energy_j)
        .str(j.work_dir.as_deref());
    h.int(Some(i64::from(j.is_final())));
    h.finish()
}

/// The content hash of a job row with its stored steps.
pub fn job_hash_with_steps(j: &JobRow, steps: Option<&str>) -> i64 {
    combine_hash(job_hash(j), steps)
}

/// [`job_hash_with_steps`] from the job's own [`job_hash`].
pub fn combine_hash(job_hash: i64, steps: Option<&str>) -> i64 {
    let mut h = Fnv::default();
    h.int(Some(job_hash)).str(steps);
    h.finish()
}

/// One step's fields, as stored (borrowed from wherever they were read).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepFields<'a> {
    pub step: &'a str,
    pub name: Option<&'a str>,
    /// The state as written.
    pub state_raw: &'a str,
    pub exit_code: Option<&'a str>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub elapsed_s: Option<i64>,
    pub nnodes: Option<u32>,
    pub ncpus: Option<u32>,
    pub ntasks: Option<u32>,
    pub node_list: Option<&'a str>,
    pub total_cpu_s: Option<f64>,
    pub consumed_energy_j: Option<f64>,
    pub alloc_tres: Option<&'a str>,
}

impl<'a> StepFields<'a> {
    pub fn of(s: &'a StepRow) -> Self {
        Self {
            step: &s.step,
            name: s.name.as_deref(),
            state_raw: &s.state_raw,
            exit_code: s.exit_code.as_deref(),
            start: s.start,
            end: s.end,
            elapsed_s: s.elapsed_s,
            nnodes: s.nnodes,
            ncpus: s.ncpus,
            ntasks: s.ntasks,
            node_list: s.node_list.as_deref(),
            total_cpu_s: s.total_cpu_s,
            consumed_energy_j: s.consumed_energy_j,
            alloc_tres: s.alloc_tres.as_deref(),
        }
    }
}

/// One step as stored: a JSON array `[step, name, state as written, exit code, start, end,
/// elapsed s, nodes, cpus, tasks, node list, TotalCPU s, energy J, AllocTRES]`, an element of
/// the job's steps column (see [`encode_steps`]). Written by hand, byte for byte as serde_json
/// writes the same tuple (a test holds it to that): a month has two million steps, and
/// serde's general path was a tenth of the dump's parsing.
pub fn encode_step(s: &StepFields<'_>) -> String {
    let mut out = Vec::with_capacity(160);
    out.push(b'[');
    json_str(&mut out, Some(s.step));
    out.push(b',');
    json_str(&mut out, s.name);
    out.push(b',');
    json_str(&mut out, Some(s.state_raw));
    out.push(b',');
    json_str(&mut out, s.exit_code);
    for v in [s.start, s.end, s.elapsed_s] {
        out.push(b',');
        json_int(&mut out, v);
    }
    for v in [s.nnodes, s.ncpus, s.ntasks] {
        out.push(b',');
        json_int(&mut out, v.map(i64::from));
    }
    out.push(b',');
    json_str(&mut out, s.node_list);
    for v in [s.total_cpu_s, s.consumed_energy_j] {
        out.push(b',');
        json_float(&mut out, v);
    }
    out.push(b',');
    json_str(&mut out, s.alloc_tres);
    out.push(b']');
    String::from_utf8(out).expect("JSON of UTF-8 strings is UTF-8")
}

/// A JSON string (or `null`): as is when nothing in it needs escaping, else as serde_json
/// escapes it.
fn json_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(t) if !t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') => {
            out.push(b'"');
            out.extend_from_slice(t.as_bytes());
            out.push(b'"');
        }
        Some(t) => serde_json::to_writer(out, t).expect("a string is JSON"),
    }
}

fn json_int(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
    }
}

/// A number as serde_json writes an `f64` (`null` when not finite).
fn json_float(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(f) => serde_json::to_writer(out, &f).expect("a float is JSON"),
    }
}

/// A job's steps as stored: a JSON array of [`encode_step`] arrays; `None` without steps.
pub fn encode_steps(steps: &[StepRow]) -> Option<String> {
    if steps.is_empty() {
        return None;
    }
    let parts: Vec<String> = steps
        .iter()
        .map(|s| encode_step(&StepFields::of(s)))
        .collect();
    Some(format!("[{}]", parts.join(",")))
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
    pub steps_json: Option<String>,
    pub n_steps: u32,
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
        let changed = crate::db::execute_bound!(
            stmt,
            j.cluster.as_deref().unwrap_or(""),
            j.job_id,
            j.job_id_raw.map(|v| v as i64),
            j.array_job_id.map(|v| v as i64),
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
            .map(super::read::decode_steps_rows)
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
            by_raw.execute(params![cluster, *id as i64])?
        } as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_encoded_as_serde_json_encodes_their_tuple() {
        fn by_serde(s: &StepFields<'_>) -> String {
            serde_json::to_string(&(
                s.step,
                s.name,
                s.state_raw,
                s.exit_code,
                s.start,
                s.end,
                s.elapsed_s,
                s.nnodes,
                s.ncpus,
                s.ntasks,
                s.node_list,
                s.total_cpu_s,
                s.consumed_energy_j,
                s.alloc_tres,
            ))
            .unwrap()
        }
        let texts = [
            "batch",
            "",
            "a \"quoted\" name",
            "back\\slash",
            "tab\there",
            "nl\nx",
            "\u{1}\u{1f}",
            "é ü 名前",
            "\u{7f}del",
            "0:15",
        ];
        let floats = [
            0.0,
            -0.0,
            1.5,
            37475.0,
            1e21,
            1e-7,
            123456789.123,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
        ];
        let ints = [0i64, -1, 42, i64::MAX, i64::MIN, 1_794_942_543];
        let mut n = 0;
        for (a, t) in texts.iter().enumerate() {
            for (b, f) in floats.iter().enumerate() {
                let i = ints[(a + b) % ints.len()];
                let s = StepFields {
                    step: t,
                    name: (b % 3 != 0).then_some(*t),
                    state_raw: texts[(a + 1) % texts.len()],
                    exit_code: (a % 2 == 0).then_some("1:0"),
                    start: Some(i),
                    end: (b % 2 == 0).then_some(i / 3),
                    elapsed_s: None,
                    nnodes: Some(b as u32),
                    ncpus: (a % 2 == 1).then_some(u32::MAX),
                    ntasks: None,
                    node_list: Some(texts[(a + b) % texts.len()]),
                    total_cpu_s: Some(*f),
                    consumed_energy_j: (b % 2 == 1).then_some(-f),
                    alloc_tres: (a % 3 == 0).then_some("cpu=11,mem=45056M,node=1"),
                };
                assert_eq!(encode_step(&s), by_serde(&s), "{s:?}");
                n += 1;
            }
        }
        assert_eq!(n, texts.len() * floats.len());
    }
}
