//! The SQLite store (`ea-store`): where it lives, who may read it, its schema and migrations,
//! and the typed reads ([`read`], [`embodied`]) and writes ([`write`](mod@write); [`records`],
//! the node records; [`measured`], what the ingest's derivation reads and writes; [`meta`],
//! the key-value table) every other crate goes through: no other library crate writes SQL.
//!
//! The file holds every user's jobs, so it is created `0600` (or `0640` with the group named
//! by the config key `store.group`, for a setgid-group deployment; see
//! `docs/queries-and-reports.md`), and every writer puts those permissions back if someone
//! loosened them. SQLite gives its journal the database file's mode. A reader that is not an
//! admin never gets rows that are not its own from this crate's queries; the file mode is
//! what keeps it from reading the file directly.
//!
//! Besides the database, two leaf modules that both the ingest (`ea-ingest`) and the queries
//! (`ea-query`) read, and that depend on nothing above this crate: [`config`], the
//! post-processor's site configuration, and [`profile`], the phase timer of
//! `EA_PROFILE=1`.
//!
//! Not here: parsing sacct (`ea-sacct`, which also owns how a row is encoded and hashed), what
//! goes into the store and when (`ea-ingest`), figures, privacy and reports (`ea-query`).
#![forbid(unsafe_code)]

/// Runs a prepared statement with the values bound to `?1`, `?2`... in order, each with its
/// own type: what `stmt.execute(params![...])` does, without a `dyn ToSql` call per value (a
/// month's first ingest binds some 46 million). Every parameter must be given, as a value left
/// out would keep the previous run's.
#[macro_export]
macro_rules! execute_bound {
    ($stmt:expr, $($value:expr),+ $(,)?) => {{
        let stmt = &mut $stmt;
        let mut column: usize = 0;
        $(
            column += 1;
            stmt.raw_bind_parameter(column, &$value)?;
        )+
        debug_assert_eq!(column, stmt.parameter_count());
        stmt.raw_execute()
    }};
}

/// The columns of `job_embodied` that `embodied::from_row` reads, from alias `e`, as a literal
/// for `concat!` (the jobs' query in `read.rs` selects them too).
macro_rules! embodied_columns {
    () => {
        "e.start, e.end, e.inside, e.outside, e.grp, e.held_h, e.charged_h, e.gwp, e.gwp_min, e.gwp_max,
        e.adpe, e.adpe_min, e.adpe_max, e.pe, e.pe_min, e.pe_max, e.flags, e.months"
    };
}

/// The join that goes with them (jobs as `j`), as a literal for `concat!`.
macro_rules! embodied_join {
    () => {
        "LEFT JOIN job_embodied e ON e.job = j.id"
    };
}

pub mod config;
pub mod embodied;
pub mod measured;
pub mod meta;
pub mod profile;
pub mod read;
pub mod records;
pub mod schema;
pub mod write;

use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the store lives unless the config or `--db` says otherwise.
pub const DEFAULT_DB_PATH: &str = "/var/lib/energy-assess/store.sqlite";

/// The schema version this build writes.
pub fn schema_version() -> u32 {
    schema::MIGRATIONS.len() as u32
}

/// A store that could not be opened or used.
#[derive(Debug)]
pub enum DbError {
    /// SQLite refused an operation.
    Sqlite {
        /// The store.
        path: PathBuf,
        /// What was being done, for the message.
        action: String,
        /// What SQLite answered.
        source: rusqlite::Error,
    },
    /// The file system refused an operation.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, for the message.
        action: String,
        /// What the system answered.
        source: std::io::Error,
    },
    /// The file was written by a newer energy-assess.
    TooNew {
        /// The store.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// There is no store yet.
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file is not a SQLite database: left exactly as it was.
    NotAStore {
        /// The file.
        path: PathBuf,
    },
    /// The store cannot be written here (read-only file system, or a file this user may not
    /// write); reading it still works.
    ReadOnly {
        /// The store.
        path: PathBuf,
        /// Why it cannot be written.
        source: std::io::Error,
    },
}

/// How long a connection waits for another's lock (an ingest holds the write lock for its
/// whole run, and every reader briefly while it commits) before failing with "database is
/// locked".
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite {
                path,
                action,
                source,
            } => {
                write!(f, "{}: cannot {action}: {source}", path.display())?;
                if let rusqlite::Error::SqliteFailure(e, _) = source
                    && (e.code == rusqlite::ErrorCode::CannotOpen
                        || e.code == rusqlite::ErrorCode::PermissionDenied)
                {
                    write!(
                        f,
                        " (the store is readable only by its owner and its group: run as an \
                             admin, or ask one to set `store.group` and install energy-assess \
                             setgid to that group)"
                    )?;
                }
                if let rusqlite::Error::SqliteFailure(e, _) = source
                    && (e.code == rusqlite::ErrorCode::DatabaseBusy
                        || e.code == rusqlite::ErrorCode::DatabaseLocked)
                {
                    write!(
                        f,
                        " (another process held the store's lock for more than {} s: an \
                             `energy-assess ingest` writes in one transaction; run this again \
                             when it has finished)",
                        BUSY_TIMEOUT.as_secs()
                    )?;
                }
                Ok(())
            }
            DbError::Io {
                path,
                action,
                source,
            } => write!(f, "{}: cannot {action}: {source}", path.display()),
            DbError::TooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "{}: schema version {found} was written by a newer energy-assess (this one knows up \
                 to {supported}); upgrade energy-assess",
                path.display()
            ),
            DbError::NotAStore { path } => write!(
                f,
                "{}: not an energy-assess store (not a SQLite database); it was left as it is: \
                 move it away, or point --db (or the config key store.path) at the store",
                path.display()
            ),
            DbError::ReadOnly { path, source } => write!(
                f,
                "{}: cannot write the store ({source}); `ingest` needs to write it, queries and \
                 reports read it as it is: run the ingest where the store is writable",
                path.display()
            ),
            DbError::Missing { path } => write!(
                f,
                "{}: no store there yet; run `energy-assess ingest` first, or point --db (or the \
                 config key store.path) at the store",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DbError {}

fn sqlite_err<'a>(path: &'a Path, action: &str) -> impl FnOnce(rusqlite::Error) -> DbError + 'a {
    let action = action.to_string();
    move |source| DbError::Sqlite {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn io_err<'a>(path: &'a Path, action: &str) -> impl FnOnce(std::io::Error) -> DbError + 'a {
    let action = action.to_string();
    move |source| DbError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The id of a group by name, through the system's group database (NSS).
pub fn group_id(name: &str) -> Option<u32> {
    uzers::get_group_by_name(name).map(|g| g.gid())
}

/// Who may read the store besides its owner.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// A group given read access (`0640`); `None` keeps the file `0600`.
    pub group_gid: Option<u32>,
}

impl Access {
    fn file_mode(&self) -> u32 {
        if self.group_gid.is_some() {
            0o640
        } else {
            0o600
        }
    }
    fn dir_mode(&self) -> u32 {
        if self.group_gid.is_some() {
            0o750
        } else {
            0o700
        }
    }
}

/// An open store.
pub struct Store {
    /// The SQLite connection.
    pub conn: Connection,
    /// The store's file.
    pub path: PathBuf,
}

impl Store {
    /// Opens the store for writing, creating it (and its directory) with private permissions
    /// if needed, tightening them if they were loosened, and running pending migrations.
    /// Returns warnings to show (permissions that were tightened).
    ///
    /// # Errors
    /// The directory or file cannot be created or opened, a migration fails, or the file comes
    /// from a newer version.
    pub fn open_for_write(path: &Path, access: &Access) -> Result<(Self, Vec<String>), DbError> {
        let mut warnings = Vec::new();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(access.dir_mode())
                .create(dir)
                .map_err(io_err(dir, "create the store's directory"))?;
            if let Some(gid) = access.group_gid {
                std::os::unix::fs::chown(dir, None, Some(gid))
                    .map_err(io_err(dir, "set the group of"))?;
            }
        }
        if !path.exists() {
            // Create the file ourselves so that it never exists with a looser mode.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(access.file_mode())
                .open(path)
                .map_err(io_err(path, "create the store"))?;
        }
        check_is_store(path)?;
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| DbError::ReadOnly {
                path: path.to_path_buf(),
                source,
            })?;
        warnings.extend(enforce_permissions(path, access)?);
        let mut conn = Connection::open(path).map_err(sqlite_err(path, "open the store"))?;
        // Before anything that reads the file: even a PRAGMA waits for a writer's lock.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite_err(path, "configure the store"))?;
        // 16 KiB pages (taken only by a new, empty file): a job row with its steps is about
        // 500 bytes, and inserting a month of them costs a third less than with 4 KiB pages.
        conn.execute_batch(
            "PRAGMA page_size = 16384; PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -65536;",
        )
        .map_err(sqlite_err(path, "configure the store"))?;
        migrate(&mut conn, path)?;
        Ok((
            Self {
                conn,
                path: path.to_path_buf(),
            },
            warnings,
        ))
    }

    /// Opens an existing store read-only.
    ///
    /// # Errors
    /// No store at `path`, no permission to read it, or a schema this version does not know.
    pub fn open_read(path: &Path) -> Result<Self, DbError> {
        if !path.exists() {
            return Err(DbError::Missing {
                path: path.to_path_buf(),
            });
        }
        check_is_store(path)?;
        // An ingest that was killed leaves a hot journal; the first connection that may write
        // rolls it back. Without that, a read-only connection could not read the store.
        let mut journal = path.as_os_str().to_os_string();
        journal.push("-journal");
        if std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0)
            && let Ok(rw) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        {
            let _ = rw.busy_timeout(BUSY_TIMEOUT);
            let _ = rw.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err(path, "open the store"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite_err(path, "configure the store"))?;
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sqlite_err(path, "read the store"))?;
        if version > schema_version() {
            return Err(DbError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: schema_version(),
            });
        }
        if version < schema_version() {
            return Err(DbError::Sqlite {
                path: path.to_path_buf(),
                action: format!("read schema version {version}"),
                source: rusqlite::Error::InvalidQuery,
            });
        }
        // 16 MiB: a query reads its jobs in one pass (an index range, or the table for a
        // report), so a larger cache only holds pages it will not read again, and counts in
        // the report's resident memory (a month's scan filled 64 MiB of it).
        conn.execute_batch("PRAGMA cache_size = -16384;")
            .map_err(sqlite_err(path, "configure the store"))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }
}

/// Secondary indexes that a bulk load into an empty table builds at the end rather than row by
/// row: one sort of the finished table costs a fraction of a million random index inserts.
/// (table, index, its definition); the definitions are those of the schema.
const DEFERRABLE_INDEXES: &[(&str, &str, &str)] = &[
    (
        "jobs",
        "jobs_user_end",
        "CREATE INDEX IF NOT EXISTS jobs_user_end ON jobs (user, end)",
    ),
    (
        "jobs",
        "jobs_start_end",
        "CREATE INDEX IF NOT EXISTS jobs_start_end ON jobs (start, end)",
    ),
    (
        "node_records",
        "node_records_end",
        "CREATE INDEX IF NOT EXISTS node_records_end ON node_records (end)",
    ),
];

/// The secondary indexes dropped for a bulk load, to build again with [`DeferredIndexes::build`]
/// before the transaction commits (if it does not, the drop is rolled back with the rest).
#[derive(Debug, Default)]
pub struct DeferredIndexes(Vec<&'static str>);

impl DeferredIndexes {
    /// Drops the deferrable indexes of the tables that are empty now.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn drop_on_empty_tables(conn: &Connection) -> rusqlite::Result<Self> {
        let mut dropped = Vec::new();
        for (table, index, create) in DEFERRABLE_INDEXES {
            let empty: bool = conn.query_row(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"),
                [],
                |r| r.get(0),
            )?;
            if empty {
                conn.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))?;
                dropped.push(*create);
            }
        }
        Ok(Self(dropped))
    }

    /// Builds the dropped indexes again.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn build(self, conn: &Connection) -> rusqlite::Result<()> {
        for create in self.0 {
            conn.execute_batch(create)?;
        }
        Ok(())
    }
}

/// Puts the file back to the mode (and group) `access` asks for; returns a warning when it
/// had to.
/// Refuses a file that is not empty and does not start as every SQLite database does, before
/// anything changes it (its mode, its group, a journal beside it). A file this user cannot
/// read is left to SQLite, whose refusal says how to get access.
fn check_is_store(path: &Path) -> Result<(), DbError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let Ok(mut file) = fs::File::open(path) else {
        return Ok(());
    };
    let n = file
        .read(&mut head)
        .map_err(io_err(path, "read the store"))?;
    if n == 0 || head == *b"SQLite format 3\0" {
        Ok(())
    } else {
        Err(DbError::NotAStore {
            path: path.to_path_buf(),
        })
    }
}

fn enforce_permissions(path: &Path, access: &Access) -> Result<Option<String>, DbError> {
    let meta = fs::metadata(path).map_err(io_err(path, "inspect"))?;
    let mode = meta.permissions().mode() & 0o777;
    let want = access.file_mode();
    let mut warning = None;
    if let Some(gid) = access.group_gid {
        use std::os::unix::fs::MetadataExt;
        if meta.gid() != gid {
            std::os::unix::fs::chown(path, None, Some(gid))
                .map_err(io_err(path, "set the group of"))?;
        }
    }
    if mode != want {
        fs::set_permissions(path, fs::Permissions::from_mode(want))
            .map_err(io_err(path, "restrict"))?;
        if mode & !want != 0 {
            warning = Some(format!(
                "{} had mode {mode:o}, which let others read every user's jobs; set it to {want:o}",
                path.display()
            ));
        }
    }
    Ok(warning)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), DbError> {
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite_err(path, "read the schema version"))?;
    if version > schema_version() {
        return Err(DbError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: schema_version(),
        });
    }
    if version == schema_version() {
        return Ok(());
    }
    let tx = conn
        .transaction()
        .map_err(sqlite_err(path, "start a migration"))?;
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(sqlite_err(
            path,
            &format!("migrate the schema to version {}", i + 1),
        ))?;
    }
    tx.pragma_update(None, "user_version", schema_version())
        .map_err(sqlite_err(path, "record the schema version"))?;
    tx.commit()
        .map_err(sqlite_err(path, "commit a migration"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ea-db-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn creates_private_store_and_migrates_once() {
        let dir = tmp("create");
        let path = dir.join("sub/store.sqlite");
        let (s, warnings) = Store::open_for_write(&path, &Access::default()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let v: u32 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema_version());
        drop(s);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (_s, warnings) = Store::open_for_write(&path, &Access::default()).unwrap();
        assert!(warnings[0].contains("644"), "{warnings:?}");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_untouched() {
        let dir = tmp("garbage");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sqlite");
        fs::write(&path, b"not a database at all\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let access = Access { group_gid: Some(0) };
        for e in [
            Store::open_for_write(&path, &access).err().unwrap(),
            Store::open_read(&path).err().unwrap(),
        ] {
            let msg = e.to_string();
            assert!(
                matches!(e, DbError::NotAStore { .. }) && msg.contains("not a SQLite database"),
                "{msg}"
            );
        }
        assert_eq!(fs::read(&path).unwrap(), b"not a database at all\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no journal beside it"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn readers_wait_for_a_writers_lock_instead_of_failing() {
        let dir = tmp("busy");
        let path = dir.join("s.sqlite");
        drop(Store::open_for_write(&path, &Access::default()).unwrap());
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let t0 = std::time::Instant::now();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(800));
            writer.execute_batch("COMMIT").unwrap();
        });
        let reader = Store::open_read(&path).unwrap();
        let jobs: i64 = reader
            .conn
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jobs, 0);
        assert!(t0.elapsed() >= std::time::Duration::from_millis(700));
        release.join().unwrap();
        drop(reader);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_held_too_long_is_explained() {
        let e = DbError::Sqlite {
            path: "/s.sqlite".into(),
            action: "read the store".into(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            ),
        };
        assert!(e.to_string().contains("energy-assess ingest"), "{e}");
    }

    #[test]
    fn records_of_version_4_are_keyed_by_raw_id_in_version_5() {
        // A store of version 4 with two records of one job on a node (an array task's, once
        // under its raw id and once under its JobID: what version 4 let happen).
        let dir = tmp("v4");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            for m in &schema::MIGRATIONS[..4] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 4).unwrap();
            let insert = |job_id: &str, complete: i64, e: f64| {
                c.execute(
                    "INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, flags,
                        record_hash, e_cpu_package_j) VALUES ('c', ?1, 'n1', 100, ?2, '', 1, ?3)",
                    rusqlite::params![job_id, complete, e],
                )
                .unwrap()
            };
            insert("100", 0, 1.0);
            insert("48_52", 1, 2.0);
            // Job 101 is array task 48_53, whose records version 4 kept under 101, with a
            // job made from them; sacct's row came later.
            c.execute_batch(
                "INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, flags,
                    record_hash) VALUES ('c', '101', 'n1', 101, 1, '', 3);
                 INSERT INTO jobs (cluster, job_id, job_id_raw, state, state_raw, final, row_hash)
                    VALUES ('c', '101', 101, 'COMPLETED', 'COMPLETED (from node records)', 1, 1),
                           ('c', '48_53', 101, 'COMPLETED', 'COMPLETED', 1, 2),
                           ('c', '7', 7, 'COMPLETED', 'COMPLETED (from node records)', 1, 3);
                 INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, flags,
                    record_hash) VALUES ('c', '7', 'n2', 7, 1, '', 4);
                 INSERT INTO job_measured VALUES ('c', '101', 1, 1, 5.0, 5.0, 5.0, 0, NULL, NULL,
                    NULL, NULL, NULL, NULL, NULL, 'cpu-package', '');",
            )
            .unwrap();
        }
        let (s, _) = Store::open_for_write(&path, &Access::default()).unwrap();
        let rows: Vec<(String, i64, f64)> = s
            .conn
            .prepare(
                "SELECT job_id, job_id_raw, e_cpu_package_j FROM node_records
                 WHERE job_id_raw = 100",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // The complete record of raw id 100 on n1 is kept.
        assert_eq!(rows, [("48_52".to_string(), 100, 2.0)]);
        let jobs: Vec<(String, String)> = s
            .conn
            .prepare("SELECT job_id, state FROM jobs ORDER BY job_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            jobs,
            [
                ("48_53".to_string(), "COMPLETED".to_string()),
                ("7".to_string(), "UNKNOWN".to_string())
            ]
        );
        let renamed: String = s
            .conn
            .query_row(
                "SELECT job_id FROM node_records WHERE job_id_raw = 101",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(renamed, "48_53");
        let measured: i64 = s
            .conn
            .query_row("SELECT count(*) FROM job_measured", [], |r| r.get(0))
            .unwrap();
        assert_eq!(measured, 0, "derived again by the next ingest");
        let dup = s.conn.execute(
            "INSERT INTO node_records (cluster, job_id, node, job_id_raw, complete, flags,
                record_hash) VALUES ('c', '100', 'n1', 100, 1, '', 2)",
            [],
        );
        assert!(dup.is_err(), "one row per raw id and node");
        let plan: String = s
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT job_id FROM jobs
                 WHERE cluster = 'c' AND job_id_raw = 100 AND job_id != CAST(job_id_raw AS TEXT)",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("jobs_aliases"), "{plan}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_read_before_version_4_are_still_known() {
        // A store of version 3, with the spool files it had read one row each.
        let dir = tmp("v3");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            for m in &schema::MIGRATIONS[..3] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            c.execute_batch(
                "INSERT INTO spool_files VALUES ('/s/records', 'job-1.n1.json', 10, 100);
                 INSERT INTO spool_files VALUES ('/s/records', 'job-2.n\"1.json', 20, 200);
                 INSERT INTO spool_files VALUES ('/s/running', 'job-3.n1.json', 30, 300);",
            )
            .unwrap();
        }
        let (s, _) = Store::open_for_write(&path, &Access::default()).unwrap();
        let dirs = ["/s/records".to_string(), "/s/running".to_string()];
        let known = read::known_files(&s.conn, &dirs).unwrap();
        assert_eq!(known["/s/records"].len(), 2);
        assert_eq!(known["/s/records"]["job-2.n\"1.json"], (20, 200));
        assert_eq!(known["/s/running"]["job-3.n1.json"], (30, 300));
        let rows: i64 = s
            .conn
            .query_row("SELECT count(*) FROM spool_reads", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn version_7_finds_the_jobs_around_a_late_one_by_start_and_end_in_the_index() {
        let dir = tmp("v6");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            for m in &schema::MIGRATIONS[..6] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 6).unwrap();
            c.execute_batch(
                "INSERT INTO jobs (cluster, job_id, state, state_raw, final, row_hash, start, end,
                    node_list) VALUES ('c', '1', 'COMPLETED', 'COMPLETED', 1, 1, 100, 200, 'n1');",
            )
            .unwrap();
        }
        let (s, _) = Store::open_for_write(&path, &Access::default()).unwrap();
        let indexes: Vec<String> = s
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'jobs' AND type = 'index'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            indexes.contains(&"jobs_start_end".to_string()),
            "{indexes:?}"
        );
        assert!(!indexes.contains(&"jobs_start".to_string()), "{indexes:?}");
        let around = read::AllocationSpan::Around {
            from: 0,
            to: 150,
            ended_after: 150,
        };
        let (sql, args) = read::allocation_query(&around);
        let plan: String = s
            .conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {sql}"),
                rusqlite::params_from_iter(&args),
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("jobs_start_end"), "{plan}");
        let mut found = Vec::new();
        read::allocation_jobs(&s.conn, around, |_, j| found.push((j.start, j.end))).unwrap();
        assert_eq!(found, [(100, 200)], "the job stored before the migration");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_newer_schema_and_a_missing_store() {
        let dir = tmp("newer");
        let path = dir.join("s.sqlite");
        let (s, _) = Store::open_for_write(&path, &Access::default()).unwrap();
        s.conn.pragma_update(None, "user_version", 999).unwrap();
        drop(s);
        let e = Store::open_read(&path).err().unwrap();
        assert!(e.to_string().contains("newer energy-assess"), "{e}");
        let e = Store::open_read(&dir.join("none.sqlite")).err().unwrap();
        assert!(
            e.to_string().contains("run `energy-assess ingest` first"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
