//! Node records (`node_records`) and the spool files read (`spool_reads`), as the ingest
//! writes them.

use ea_energy::measured::SCOPES;
use rusqlite::{Connection, Statement};

/// Remembers the files read in each directory: (name, size, mtime in ns), one row per
/// directory, as [`crate::read::known_files`] reads them back.
///
/// # Errors
/// SQLite errors.
pub fn remember_spool_reads<'a>(
    conn: &Connection,
    by_dir: impl IntoIterator<Item = (&'a str, Vec<(&'a str, i64, i64)>)>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("INSERT INTO spool_reads (dir, files) VALUES (?1, ?2)")?;
    for (dir, files) in by_dir {
        let text = serde_json::to_string(&files).expect("names, sizes and times are JSON");
        stmt.execute(rusqlite::params![dir, text])?;
    }
    Ok(())
}

const UPSERT_RECORD: &str =
    "INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, start, end, uid, user,
        account, partition, cpus_on_node, gpus_on_node, e_cpu_package_j, e_core_j, e_uncore_j,
        e_dram_j, e_platform_j, e_gpu_board_j, e_node_bmc_j, e_node_wattmeter_j, e_other_j,
        flags, record_hash, node_list, num_nodes, exit_code, memory_mb, e_gpu_others_j,
        e_gpu_unknown_j)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
        ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
     ON CONFLICT (cluster, job_id_raw, node) DO UPDATE SET
        job_id = CASE WHEN excluded.job_id = CAST(excluded.job_id_raw AS TEXT)
            THEN node_records.job_id ELSE excluded.job_id END,
        complete = excluded.complete, start = excluded.start,
        end = excluded.end, uid = excluded.uid, user = excluded.user, account = excluded.account,
        partition = excluded.partition, cpus_on_node = excluded.cpus_on_node,
        gpus_on_node = excluded.gpus_on_node, e_cpu_package_j = excluded.e_cpu_package_j,
        e_core_j = excluded.e_core_j, e_uncore_j = excluded.e_uncore_j,
        e_dram_j = excluded.e_dram_j, e_platform_j = excluded.e_platform_j,
        e_gpu_board_j = excluded.e_gpu_board_j, e_node_bmc_j = excluded.e_node_bmc_j,
        e_node_wattmeter_j = excluded.e_node_wattmeter_j, e_other_j = excluded.e_other_j,
        flags = excluded.flags, record_hash = excluded.record_hash,
        node_list = excluded.node_list, num_nodes = excluded.num_nodes,
        exit_code = excluded.exit_code, memory_mb = excluded.memory_mb,
        e_gpu_others_j = excluded.e_gpu_others_j, e_gpu_unknown_j = excluded.e_gpu_unknown_j
     WHERE node_records.record_hash != excluded.record_hash
        AND NOT (node_records.complete = 1 AND excluded.complete = 0)";

/// A node record's row, borrowed from the ingest's (`ea_ingest::records::NodeRecordRow`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordValues<'a> {
    /// Its cluster.
    pub cluster: &'a str,
    /// Its JobID.
    pub job_id: &'a str,
    /// Its node.
    pub node: &'a str,
    /// The raw job id it was written for.
    pub job_id_raw: u64,
    /// Whether the epilog finished it.
    pub complete: bool,
    /// When the job started on the node, epoch seconds.
    pub start: Option<f64>,
    /// When it ended there.
    pub end: Option<f64>,
    /// The owner's uid.
    pub uid: u32,
    /// The owner's login name.
    pub user: Option<&'a str>,
    /// The account.
    pub account: Option<&'a str>,
    /// The partition.
    pub partition: Option<&'a str>,
    /// CPUs the job held on the node.
    pub cpus_on_node: Option<u32>,
    /// GPUs the job held on the node.
    pub gpus_on_node: Option<u32>,
    /// Energy per scope, J, indexed like [`SCOPES`].
    pub energy_j: &'a [Option<f64>; SCOPES.len()],
    /// Its flags, comma-separated.
    pub flags: &'a str,
    /// Its content hash.
    pub hash: i64,
    /// The job's node list.
    pub node_list: Option<&'a str>,
    /// How many nodes the job has.
    pub num_nodes: Option<u32>,
    /// `code:signal`.
    pub exit_code: Option<&'a str>,
    /// Memory the job held on the node, MB.
    pub memory_mb: Option<i64>,
    /// GPU boards of the node the job did not hold, J.
    pub gpu_others_j: Option<f64>,
    /// GPU boards whose holder the record does not say, J.
    pub gpu_unknown_j: Option<f64>,
}

/// Writes record rows with a statement prepared once: a spool holds hundreds of thousands of
/// records, and looking a statement up by its text costs about as much as SQLite's insert of
/// the row.
pub struct RecordWriter<'c> {
    upsert: Statement<'c>,
}

impl<'c> RecordWriter<'c> {
    /// Prepares the statement on `conn` (the caller's transaction).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            upsert: conn.prepare(UPSERT_RECORD)?,
        })
    }

    /// Writes a record row unless the store has it unchanged, or has it complete and this one
    /// is not; returns whether it wrote.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn upsert(&mut self, row: &RecordValues<'_>) -> rusqlite::Result<bool> {
        let e = row.energy_j;
        let n = crate::execute_bound!(
            self.upsert,
            row.cluster,
            row.job_id,
            row.node,
            row.job_id_raw,
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
            row.hash,
            row.node_list,
            row.num_nodes,
            row.exit_code,
            row.memory_mb,
            row.gpu_others_j,
            row.gpu_unknown_j,
        )?;
        Ok(n > 0)
    }
}
