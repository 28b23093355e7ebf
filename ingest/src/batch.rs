//! Records that arrive in memory, in a collector's batches, rather than as spool files.
//!
//! They take the path a spool file takes in `ingest --spool`: [`read_entry`] parses the bytes
//! with [`records::parse_record`] and checks the name against the record as
//! `records::read_one` does; [`ingest_rows`] writes the rows with [`records::RecordWriter`]
//! (so a record already stored with the same content hash is left as it is: idempotent by job,
//! node and record hash) in one transaction, and a caller acknowledges the rows only once it
//! returns; [`derive_pending`] then ends as every ingest ends (the same derivation, in a
//! transaction of its own), for all the batches stored since it last ran.

use super::{IngestError, Progress, Settings, SourceSummary, Summary, derive, finish_run, records};
use ea_record::spool::{check_name, parse_file_name};
use ea_store::{DeferredIndexes, Store};
use records::NodeRecordRow;
use rusqlite::TransactionBehavior;
use std::fmt;

/// Why an entry of a batch is not a record the store can take, whatever is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The bytes are not a record (JSON syntax, a required key missing, a wrong type).
    NotARecord(String),
    /// The name is not `job-<id>.<node>.json`, or not the name of the record it holds (a copy
    /// or a planted file, which would otherwise count twice or for the wrong job).
    Misnamed(String),
}

impl EntryError {
    /// A short stable name, for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            EntryError::NotARecord(_) => "not-a-record",
            EntryError::Misnamed(_) => "misnamed",
        }
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::NotARecord(e) => write!(f, "not a valid record: {e}"),
            EntryError::Misnamed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EntryError {}

/// Reads one record file's bytes, sent under `name`, into its row (the cluster of a record
/// that names none is `default_cluster`).
///
/// # Errors
/// Bytes that are not a record, or a name that is not the record's own.
pub fn read_entry(
    name: &str,
    bytes: &[u8],
    default_cluster: &str,
) -> Result<NodeRecordRow, EntryError> {
    if parse_file_name(name).is_none_or(|(_, _, suffix)| suffix != "json") {
        return Err(EntryError::Misnamed(format!(
            "{name:?} is not the name of a record file (job-<id>.<node>.json)"
        )));
    }
    let row = records::parse_record(bytes, default_cluster)
        .map_err(|e| EntryError::NotARecord(e.to_string()))?;
    let raw = u32::try_from(row.job_id_raw).unwrap_or(u32::MAX);
    check_name(name, raw, &row.node).map_err(|e| EntryError::Misnamed(e.to_string()))?;
    Ok(row)
}

/// What [`ingest_rows`] did.
#[derive(Debug, Default)]
pub struct RowsOutcome {
    /// For each row given, in order: whether it was written (`false`: the store already held
    /// it with the same content, or held it complete and this one is not).
    pub written: Vec<bool>,
}

/// The `meta` key that says records were committed whose measured energies are not derived
/// yet: set in the records' transaction, cleared by [`derive_pending`]'s, so that a collector
/// killed in between derives them when it starts again.
const UNDERIVED: &str = "collector_underived";

/// Records stored but not yet derived (their jobs' measured energies, calibrations).
///
/// Deriving is per job, over all its nodes' records: a job on 5,000 nodes whose nodes send
/// their records in 5,000 batches would be measured 5,000 times, each time over more records,
/// if every batch derived. So a collector stores each batch at once ([`ingest_rows`]) and
/// derives what accumulated at most every second or so ([`derive_pending`]).
#[derive(Debug, Default)]
pub struct Pending {
    window: derive::Window,
    rows: u64,
    /// The store said records were left underived by an earlier run.
    recover: bool,
}

impl Pending {
    /// What the store has left underived by an earlier collector (one killed between a batch's
    /// commit and its derivation).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn new(store: &Store) -> Result<Self, IngestError> {
        let recover = ea_store::meta::has(&store.conn, UNDERIVED)?;
        Ok(Self {
            recover,
            ..Self::default()
        })
    }

    /// Whether [`derive_pending`] has anything to do.
    pub fn is_empty(&self) -> bool {
        self.rows == 0 && !self.recover
    }
}

/// Writes record rows in one transaction and commits; nothing is kept on error. The rows
/// written are added to `pending`, for [`derive_pending`].
///
/// # Errors
/// SQLite errors; nothing was written then.
pub fn ingest_rows(
    store: &mut Store,
    rows: &[NodeRecordRow],
    pending: &mut Pending,
) -> Result<RowsOutcome, IngestError> {
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut written = Vec::with_capacity(rows.len());
    {
        let mut writer = records::RecordWriter::new(&tx)?;
        for row in rows {
            written.push(writer.upsert(row)?);
        }
    }
    if written.iter().any(|w| *w) {
        ea_store::meta::set_flag(&tx, UNDERIVED)?;
    }
    tx.commit()?;
    for (row, _) in rows.iter().zip(&written).filter(|(_, w)| **w) {
        pending.window.add_record(row);
        pending.rows += 1;
    }
    Ok(RowsOutcome { written })
}

/// Derives what [`ingest_rows`] stored since the last call, as every ingest ends (measured
/// energies of the jobs concerned, jobs known only from records, calibrations), in one
/// transaction; after a collector was killed, everything is derived again once. `None` when
/// there was nothing to do. `source` names the rows' origin in the summary.
///
/// # Errors
/// SQLite errors; `pending` is kept then, to try again.
pub fn derive_pending(
    store: &mut Store,
    pending: &mut Pending,
    source: &str,
    settings: &Settings,
) -> Result<Option<Summary>, IngestError> {
    if pending.is_empty() {
        return Ok(None);
    }
    let mut summary = Summary::default();
    let mut stats = SourceSummary::skipped("collector", source.to_string());
    (stats.read, stats.rows, stats.written) = (true, pending.rows, pending.rows);
    summary.records.written = pending.rows;
    summary.sources.push(stats);
    let store_path = store.path.clone();
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deferred = DeferredIndexes::drop_on_empty_tables(&tx)?;
    let mut window = std::mem::take(&mut pending.window);
    let outcome = (|| {
        if pending.recover {
            window.add_everything(&tx)?;
        }
        ea_store::meta::delete(&tx, UNDERIVED)?;
        let progress = Progress::new(false);
        finish_run(
            tx,
            &store_path,
            deferred,
            &mut window,
            false,
            settings,
            &mut summary,
            &progress,
        )
    })();
    match outcome {
        Ok(()) => {
            (pending.rows, pending.recover) = (0, false);
            Ok(Some(summary))
        }
        Err(e) => {
            pending.window = window;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Inputs, ingest};
    use ea_record::spool::{encode_record, file_name};
    use ea_sacct::timefmt::Clock;
    use ea_synth::{self as synth, Params};

    fn settings(p: &Params) -> Settings {
        Settings {
            cluster: "synth".into(),
            clock: Clock::fixed(jiff::tz::TimeZone::UTC, p.month_start + 40 * 86_400),
            estimate: Default::default(),
            record_grace_s: 1800,
            progress: false,
            inventory: None,
        }
    }

    fn table(store: &Store, sql: &str) -> Vec<String> {
        let mut stmt = store.conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_batch_stores_what_the_spool_ingest_stores_and_a_second_send_nothing() {
        let dir = std::env::temp_dir().join(format!("ea-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = Params {
            jobs: 60,
            assessed: 1.0,
            seed: 4,
            ..Default::default()
        };
        let jobs = synth::jobs(&p);
        synth::write_records(&p, &jobs, &dir.join("spool")).unwrap();
        let entries: Vec<(String, Vec<u8>)> = jobs
            .iter()
            .flat_map(|j| synth::records(&p, j))
            .map(|r| {
                (
                    file_name(r.job_id, &r.node, "json"),
                    encode_record(&r).unwrap(),
                )
            })
            .collect();
        assert!(entries.len() > 60);
        let s = settings(&p);

        let (mut by_spool, _) =
            Store::open_for_write(&dir.join("a.sqlite"), &Default::default()).unwrap();
        let inputs = Inputs {
            spools: vec![dir.join("spool")],
            ..Default::default()
        };
        ingest(&mut by_spool, &inputs, &s).unwrap();

        let (mut by_batch, _) =
            Store::open_for_write(&dir.join("b.sqlite"), &Default::default()).unwrap();
        let rows: Vec<NodeRecordRow> = entries
            .iter()
            .map(|(name, bytes)| read_entry(name, bytes, "synth").unwrap())
            .collect();
        let mut pending = Pending::new(&by_batch).unwrap();
        assert!(pending.is_empty());
        // In two batches, derived once.
        let (a, b) = rows.split_at(rows.len() / 2);
        for half in [a, b] {
            let first = ingest_rows(&mut by_batch, half, &mut pending).unwrap();
            assert!(first.written.iter().all(|w| *w));
        }
        assert!(
            derive_pending(&mut by_batch, &mut pending, "t", &s)
                .unwrap()
                .is_some()
        );
        assert!(
            derive_pending(&mut by_batch, &mut pending, "t", &s)
                .unwrap()
                .is_none()
        );
        let again = ingest_rows(&mut by_batch, &rows, &mut pending).unwrap();
        assert!(
            again.written.iter().all(|w| !*w),
            "a batch sent twice is stored once"
        );
        assert!(pending.is_empty());

        for sql in [
            "SELECT * FROM node_records ORDER BY cluster, job_id_raw, node",
            "SELECT * FROM job_measured ORDER BY cluster, job_id",
            "SELECT * FROM jobs ORDER BY cluster, job_id",
        ] {
            let (a, b) = (table(&by_spool, sql), table(&by_batch, sql));
            assert_eq!(a.len(), b.len(), "{sql}");
            assert_eq!(a, b, "{sql}");
        }
        assert_eq!(
            table(&by_batch, "SELECT count(*) FROM node_records"),
            [format!(
                "{:?}",
                rusqlite::types::ValueRef::Integer(entries.len() as i64)
            )]
        );
        let groups = ea_store::read::measured_energy_by_group(&by_batch.conn).unwrap();
        let total: f64 = groups.iter().map(|g| g.3).sum();
        let measured: f64 = by_batch
            .conn
            .query_row("SELECT sum(energy_j) FROM job_measured", [], |r| r.get(0))
            .unwrap();
        assert!(total > 0.0 && (total - measured).abs() < 1e-6 * measured);
        // No inventory in these settings: nothing embodied, and the query says so.
        assert!(
            ea_store::read::embodied_by_group(&by_batch.conn)
                .unwrap()
                .is_empty()
        );
        drop((by_spool, by_batch));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_left_underived_by_a_killed_collector_are_derived_on_restart() {
        let dir = std::env::temp_dir().join(format!("ea-batch-kill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = Params {
            jobs: 20,
            assessed: 1.0,
            seed: 5,
            ..Default::default()
        };
        let rows: Vec<NodeRecordRow> = synth::jobs(&p)
            .iter()
            .flat_map(|j| synth::records(&p, j))
            .map(|r| records::to_row(&r, "synth"))
            .collect();
        let db = dir.join("s.sqlite");
        let (mut store, _) = Store::open_for_write(&db, &Default::default()).unwrap();
        // Stored, then the collector dies before deriving: its `pending` is lost.
        ingest_rows(&mut store, &rows, &mut Pending::default()).unwrap();
        drop(store);
        let (mut store, _) = Store::open_for_write(&db, &Default::default()).unwrap();
        let mut pending = Pending::new(&store).unwrap();
        assert!(!pending.is_empty());
        derive_pending(&mut store, &mut pending, "t", &settings(&p)).unwrap();
        let measured = table(&store, "SELECT count(*) FROM job_measured");
        assert_ne!(measured, ["Integer(0)"]);
        assert!(Pending::new(&store).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn entries_that_are_not_their_records_are_refused_with_the_reason() {
        let p = Params {
            jobs: 5,
            assessed: 1.0,
            seed: 2,
            ..Default::default()
        };
        let r = synth::records(&p, &synth::jobs(&p)[0]).remove(0);
        let bytes = encode_record(&r).unwrap();
        let own = file_name(r.job_id, &r.node, "json");
        assert!(read_entry(&own, &bytes, "c").is_ok());
        let e = read_entry(&file_name(r.job_id + 1, &r.node, "json"), &bytes, "c").unwrap_err();
        assert_eq!(e.reason(), "misnamed", "{e}");
        let e = read_entry(&file_name(r.job_id, &r.node, "sampler.pid"), &bytes, "c").unwrap_err();
        assert_eq!(e.reason(), "misnamed", "{e}");
        let e = read_entry("../../etc/passwd", &bytes, "c").unwrap_err();
        assert_eq!(e.reason(), "misnamed", "{e}");
        let e = read_entry(&own, b"{\"job_id\":", "c").unwrap_err();
        assert_eq!(e.reason(), "not-a-record", "{e}");
    }
}
