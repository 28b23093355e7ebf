//! Records that arrive in memory, in a collector's batches, rather than as spool files.
//!
//! They take the path a spool file takes in `ingest --spool`: [`read_entry`] parses the bytes
//! with [`records::parse_record`] and checks the name against the record as
//! `records::read_one` does; [`ingest_rows`] writes the rows with [`records::RecordWriter`]
//! (so a record already stored with the same content hash is left as it is: idempotent by job,
//! node and record hash) and ends with the same derivation and commit as every ingest, in one
//! transaction. A caller acknowledges the rows only once this returns.

use super::{IngestError, Progress, Settings, SourceSummary, Summary, derive, finish_run, records};
use crate::db::{DeferredIndexes, Store};
use ea_record::spool::{check_record_name, parse_file_name};
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
    let row = records::parse_record(bytes, default_cluster).map_err(EntryError::NotARecord)?;
    let raw = u32::try_from(row.job_id_raw).unwrap_or(u32::MAX);
    check_record_name(name, raw, &row.node).map_err(EntryError::Misnamed)?;
    Ok(row)
}

/// What [`ingest_rows`] did.
#[derive(Debug, Default)]
pub struct RowsOutcome {
    /// For each row given, in order: whether it was written (`false`: the store already held
    /// it with the same content, or held it complete and this one is not).
    pub written: Vec<bool>,
    /// The run's summary (derived jobs, warnings), as `ingest` prints it.
    pub summary: Summary,
}

/// Writes record rows in one transaction, then derives and commits as every ingest does;
/// nothing is kept on error. `source` names where the rows came from in the summary.
///
/// # Errors
/// SQLite errors; nothing was written then.
pub fn ingest_rows(
    store: &mut Store,
    rows: Vec<NodeRecordRow>,
    source: &str,
    settings: &Settings,
) -> Result<RowsOutcome, IngestError> {
    let mut summary = Summary::default();
    let store_path = store.path.clone();
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deferred = DeferredIndexes::drop_on_empty_tables(&tx)?;
    let mut window = derive::Window::default();
    let fresh: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM jobs) AND NOT EXISTS (SELECT 1 FROM node_records)
            AND NOT EXISTS (SELECT 1 FROM power_samples) AND NOT EXISTS (SELECT 1 FROM job_measured)",
        [],
        |r| r.get(0),
    )?;
    if fresh {
        window.capture();
        window.reserve_records(rows.len());
    }
    let mut written = Vec::with_capacity(rows.len());
    let mut stats = SourceSummary::skipped("collector", source.to_string());
    stats.read = true;
    {
        let mut writer = records::RecordWriter::new(&tx)?;
        for row in rows {
            stats.rows += 1;
            let wrote = writer.upsert(&row)?;
            if wrote {
                stats.written += 1;
                summary.records.written += 1;
                window.add_record(&row);
                window.capture_record(row);
            } else {
                stats.unchanged += 1;
                summary.records.unchanged += 1;
            }
            written.push(wrote);
        }
    }
    summary.sources.push(stats);
    let progress = Progress::new(false);
    finish_run(
        tx,
        &store_path,
        deferred,
        &mut window,
        fresh,
        settings,
        &mut summary,
        &progress,
    )?;
    Ok(RowsOutcome { written, summary })
}

/// Measured energy the store holds, in joules, by (cluster, partition, account): the sum of
/// the measured jobs' energies (`job_measured`, each job's share of its nodes), as the
/// collector's `/metrics` exposes it. Jobs known only from their records have the partition
/// and account their records give.
///
/// # Errors
/// SQLite errors.
pub fn measured_energy_by_group(
    conn: &rusqlite::Connection,
) -> rusqlite::Result<Vec<(String, String, String, f64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.cluster, coalesce(j.partition, ''), coalesce(j.account, ''), sum(m.energy_j)
           FROM job_measured m LEFT JOIN jobs j ON j.cluster = m.cluster AND j.job_id = m.job_id
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Inputs, ingest};
    use crate::synth::{self, Params};
    use crate::timefmt::Clock;
    use ea_record::spool::{encode_record, file_name};

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
        let first = ingest_rows(&mut by_batch, rows.clone(), "test", &s).unwrap();
        assert!(first.written.iter().all(|w| *w));
        let again = ingest_rows(&mut by_batch, rows, "test", &s).unwrap();
        assert!(
            again.written.iter().all(|w| !*w),
            "a batch sent twice is stored once"
        );

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
        let groups = measured_energy_by_group(&by_batch.conn).unwrap();
        let total: f64 = groups.iter().map(|g| g.3).sum();
        let measured: f64 = by_batch
            .conn
            .query_row("SELECT sum(energy_j) FROM job_measured", [], |r| r.get(0))
            .unwrap();
        assert!(total > 0.0 && (total - measured).abs() < 1e-6 * measured);
        drop((by_spool, by_batch));
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
