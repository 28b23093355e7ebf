//! The `meta` table: one text value per key, for what the ingest and the collector remember
//! between runs (the split rule, the allocation's provenance and longest run, a collector's
//! records left underived).

use rusqlite::{Connection, params};

/// The value stored under `key`; `None` when there is none.
///
/// # Errors
/// SQLite errors.
pub fn value(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
}

/// Stores `value` under `key`, in place of what was there.
///
/// # Errors
/// SQLite errors.
pub fn set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(drop)
}

/// Whether `key` has a value.
///
/// # Errors
/// SQLite errors.
pub fn has(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM meta WHERE key = ?1", [key], |_| Ok(()))
        .map(|()| true)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(false),
            e => Err(e),
        })
}

/// Sets the flag `key` (value `1`), leaving it as it is if it has a value already.
///
/// # Errors
/// SQLite errors.
pub fn set_flag(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key) DO NOTHING",
        [key],
    )
    .map(drop)
}

/// Removes `key`.
///
/// # Errors
/// SQLite errors.
pub fn delete(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key])
        .map(drop)
}

/// The rule the stored measured energies were split with (key `split`).
///
/// # Errors
/// SQLite errors.
pub fn split(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'split'", [], |r| {
        r.get(0)
    })
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    })
}

/// Stores the rule the measured energies were split with (key `split`).
///
/// # Errors
/// SQLite errors.
pub fn set_split(conn: &Connection, split: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('split', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [split],
    )
    .map(drop)
}

/// The longest run of an ended job, in seconds, as the embodied allocation recorded it (key
/// `allocation_longest_s`); `None` before any allocation.
///
/// # Errors
/// SQLite errors.
pub fn allocation_longest_s(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'allocation_longest_s'",
        [],
        |r| r.get(0),
    )
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    })
}

/// Forgets the embodied allocation's provenance and longest run (keys `allocation` and
/// `allocation_longest_s`).
///
/// # Errors
/// SQLite errors.
pub fn delete_allocation(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM meta WHERE key IN ('allocation', 'allocation_longest_s')",
        [],
    )
    .map(drop)
}
