//! Job-node records from spool directories.
//!
//! A spool may be one node's local directory or a shared filesystem that every node writes
//! to; either way, `records/` holds final records and `running/` the prolog's part of jobs
//! that have not ended there. Files already read with the same size and modification time are
//! not read again; the rest are parsed in parallel.

use crate::db::Fnv;
use ea_record::spool::{Spool, parse_file_name};
use ea_record::{JobNodeRecord, MeterReport, RecordState, Scope};

use rayon::prelude::*;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A spool file found on disk.
#[derive(Debug, Clone)]
pub struct SpoolFile {
    /// The spool's `records` or `running` directory, as given (made absolute).
    pub dir: String,
    pub name: String,
    pub path: PathBuf,
    pub size: i64,
    pub mtime_ns: i64,
}

/// Lists the record files of spools. Missing subdirectories are fine (a spool with no job
/// yet); an unreadable spool is an error naming it.
///
/// # Errors
/// A spool directory that does not exist or cannot be listed.
pub fn list_spool(root: &Path) -> Result<Vec<SpoolFile>, String> {
    if !root.is_dir() {
        return Err(format!(
            "{}: not a directory; give the spool the plugin writes to (its `records/` and \
             `running/` are read)",
            root.display()
        ));
    }
    let spool = Spool::new(root);
    let mut files = Vec::new();
    for dir in [spool.records_dir(), spool.running_dir()] {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: cannot list: {e}", dir.display())),
        };
        let dir_name = fs::canonicalize(&dir)
            .unwrap_or_else(|_| dir.clone())
            .display()
            .to_string();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Only `job-<id>.<node>.json`; sampler state and temporaries are other suffixes.
            if parse_file_name(name).is_none_or(|(_, _, suffix)| suffix != "json") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            files.push(SpoolFile {
                dir: dir_name.clone(),
                name: name.to_string(),
                path: entry.path(),
                size: meta.len() as i64,
                mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            });
        }
    }
    Ok(files)
}

/// What the store keeps of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecordRow {
    pub cluster: String,
    /// `123`, or `<array>_<task>` for array tasks, matching sacct's JobID.
    pub job_id: String,
    pub job_id_raw: u64,
    pub node: String,
    pub complete: bool,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub uid: u32,
    pub user: Option<String>,
    pub account: Option<String>,
    pub partition: Option<String>,
    pub cpus_on_node: Option<u32>,
    pub gpus_on_node: Option<u32>,
    pub node_list: Option<String>,
    pub num_nodes: Option<u32>,
    /// `code:signal`, as the epilog saw it.
    pub exit_code: Option<String>,
    /// Energy per scope, joules, indexed like [`SCOPES`]; `None` where no meter of that scope.
    pub energy_j: [Option<f64>; SCOPES.len()],
    pub flags: String,
    pub meters_json: String,
    pub hash: i64,
}

/// The scopes kept as columns, in the order of [`NodeRecordRow::energy_j`].
pub const SCOPES: [Scope; 9] = [
    Scope::CpuPackage,
    Scope::Core,
    Scope::Uncore,
    Scope::Dram,
    Scope::Platform,
    Scope::GpuBoard,
    Scope::NodeBmc,
    Scope::NodeWattmeter,
    Scope::Other,
];

/// Turns a record into its row. GPU boards count only when the job held them (or when the
/// record does not say).
pub fn to_row(r: &JobNodeRecord, default_cluster: &str) -> NodeRecordRow {
    let job_id = match (r.array_job_id, r.array_task_id) {
        (Some(a), Some(t)) => format!("{a}_{t}"),
        _ => r.job_id.to_string(),
    };
    let mut energy_j = [None; SCOPES.len()];
    for m in &r.meters {
        if m.scope == Scope::GpuBoard && m.job_owned == Some(false) {
            continue;
        }
        let scope = if m.scope == Scope::Unknown {
            Scope::Other
        } else {
            m.scope
        };
        if let Some(i) = SCOPES.iter().position(|s| *s == scope) {
            if m.energy_j.is_finite() && m.energy_j >= 0.0 {
                energy_j[i] = Some(energy_j[i].unwrap_or(0.0) + m.energy_j);
            }
        }
    }
    let mut flags: Vec<String> = r
        .flags
        .iter()
        .map(|f| {
            serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    for m in &r.meters {
        for f in &m.flags {
            let name = serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            flags.push(format!("{}:{name}", m.id));
        }
    }
    let meters_json = encode_meters(&r.meters);
    let gpus_on_node = r.allocation.as_ref().map(|a| a.gpus.len() as u32);
    let cluster = r
        .cluster
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| default_cluster.to_string());
    let complete = r.state == RecordState::Complete && r.end.is_some();
    let mut h = Fnv::default();
    h.str(Some(&cluster))
        .str(Some(&job_id))
        .str(Some(&r.node))
        .int(Some(i64::from(complete)));
    h.int(r.start.map(|t| t.0))
        .int(r.end.map(|t| t.0))
        .str(Some(&meters_json))
        .str(Some(&flags.join(",")));
    h.int(r.cpus_on_node.map(i64::from))
        .str(r.user.as_deref())
        .str(r.account.as_deref());
    h.str(r.node_list.as_deref())
        .int(r.num_nodes.map(i64::from))
        .str(r.exit.map(|e| e.to_string()).as_deref());
    h.str(r.partition.as_deref());
    NodeRecordRow {
        cluster,
        job_id,
        job_id_raw: u64::from(r.job_id),
        node: r.node.clone(),
        complete,
        start: r.start.map(|t| t.as_secs_f64()),
        end: r.end.map(|t| t.as_secs_f64()),
        uid: r.uid,
        user: r.user.clone(),
        account: r.account.clone(),
        partition: r.partition.clone(),
        cpus_on_node: r.cpus_on_node.or(r.allocation.as_ref().and_then(|a| a.cpus)),
        gpus_on_node,
        node_list: r.node_list.clone(),
        num_nodes: r.num_nodes,
        exit_code: r.exit.map(|e| e.to_string()),
        energy_j,
        flags: flags.join(","),
        meters_json,
        hash: h.finish(),
    }
}

/// The meters of a record as stored: one JSON array per meter, `[id, scope, method, energy_j,
/// first_raw, last_raw, max_raw, wraps, resets, samples, rejected, job_owned, [flags]]`: the raw
/// counter readings that energies can be recomputed from, without the power series (which stay
/// in the spool file).
pub fn encode_meters(meters: &[MeterReport]) -> String {
    let name = |v: serde_json::Result<serde_json::Value>| {
        v.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    };
    let rows: Vec<_> = meters
        .iter()
        .map(|m| {
            (
                &m.id,
                m.scope.as_str(),
                name(serde_json::to_value(m.method)),
                m.energy_j,
                m.first_raw,
                m.last_raw,
                m.max_raw,
                m.wraps,
                m.resets,
                m.samples,
                m.rejected,
                m.job_owned,
                m.flags
                    .iter()
                    .map(|f| name(serde_json::to_value(f)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
}

/// A spool file that could not be read as a record.
#[derive(Debug, Clone)]
pub struct RecordError {
    pub path: PathBuf,
    pub problem: String,
}

/// Reads and converts files in parallel, in the order given.
pub fn read_all(files: &[SpoolFile], default_cluster: &str) -> Vec<Result<NodeRecordRow, RecordError>> {
    files
        .par_iter()
        .with_min_len(64)
        .map(|f| {
            let bytes = fs::read(&f.path).map_err(|e| RecordError {
                path: f.path.clone(),
                problem: e.to_string(),
            })?;
            let r: JobNodeRecord = serde_json::from_slice(&bytes).map_err(|e| RecordError {
                path: f.path.clone(),
                problem: format!("not a valid record: {e}"),
            })?;
            Ok(to_row(&r, default_cluster))
        })
        .collect()
}

/// The (size, mtime) of spool files already read, by (dir, name).
pub type KnownFiles = HashMap<(String, String), (i64, i64)>;

/// Loads what the store knows of spool files under the given directories.
///
/// # Errors
/// SQLite errors.
pub fn known_files(conn: &rusqlite::Connection, dirs: &[String]) -> rusqlite::Result<KnownFiles> {
    let mut known = HashMap::new();
    let mut stmt = conn.prepare_cached("SELECT name, size, mtime_ns FROM spool_files WHERE dir = ?1")?;
    for d in dirs {
        let rows = stmt.query_map([d], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?;
        for row in rows {
            let (name, size, mtime) = row?;
            known.insert((d.clone(), name), (size, mtime));
        }
    }
    Ok(known)
}

/// Writes a record row and remembers its file.
///
/// # Errors
/// SQLite errors.
pub fn upsert(conn: &rusqlite::Connection, row: &NodeRecordRow) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, start, end, uid, user,
            account, partition, cpus_on_node, gpus_on_node, e_cpu_package_j, e_core_j, e_uncore_j,
            e_dram_j, e_platform_j, e_gpu_board_j, e_node_bmc_j, e_node_wattmeter_j, e_other_j,
            flags, meters, record_hash, node_list, num_nodes, exit_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
         ON CONFLICT (cluster, job_id, node) DO UPDATE SET
            job_id_raw = excluded.job_id_raw, complete = excluded.complete, start = excluded.start,
            end = excluded.end, uid = excluded.uid, user = excluded.user, account = excluded.account,
            partition = excluded.partition, cpus_on_node = excluded.cpus_on_node,
            gpus_on_node = excluded.gpus_on_node, e_cpu_package_j = excluded.e_cpu_package_j,
            e_core_j = excluded.e_core_j, e_uncore_j = excluded.e_uncore_j,
            e_dram_j = excluded.e_dram_j, e_platform_j = excluded.e_platform_j,
            e_gpu_board_j = excluded.e_gpu_board_j, e_node_bmc_j = excluded.e_node_bmc_j,
            e_node_wattmeter_j = excluded.e_node_wattmeter_j, e_other_j = excluded.e_other_j,
            flags = excluded.flags, meters = excluded.meters, record_hash = excluded.record_hash,
            node_list = excluded.node_list, num_nodes = excluded.num_nodes,
            exit_code = excluded.exit_code
         WHERE node_records.record_hash != excluded.record_hash
            AND NOT (node_records.complete = 1 AND excluded.complete = 0)",
    )?;
    let e = &row.energy_j;
    let n = stmt.execute(rusqlite::params![
        row.cluster,
        row.job_id,
        row.node,
        row.job_id_raw as i64,
        row.complete,
        row.start,
        row.end,
        row.uid,
        row.user,
        row.account,
        row.partition,
        row.cpus_on_node,
        row.gpus_on_node,
        e[0],
        e[1],
        e[2],
        e[3],
        e[4],
        e[5],
        e[6],
        e[7],
        e[8],
        row.flags,
        row.meters_json,
        row.hash,
        row.node_list,
        row.num_nodes,
        row.exit_code,
    ])?;
    Ok(n > 0)
}

/// Remembers that a spool file was read.
///
/// # Errors
/// SQLite errors.
pub fn remember_file(conn: &rusqlite::Connection, f: &SpoolFile) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO spool_files (dir, name, size, mtime_ns) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (dir, name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
    )?
    .execute(rusqlite::params![f.dir, f.name, f.size, f.mtime_ns])?;
    Ok(())
}
