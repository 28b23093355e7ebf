//! The stored embodied allocation of each job (table `job_embodied`): what the ingest charged
//! it over every job that shared its nodes, read back by every query.

use ea_impact::Flags;
use ea_impact::{Impacts, Ranged};
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};

/// A job's part of its embodied charge in one accounting month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonthPart {
    /// First second of the month, epoch seconds.
    pub month: i64,
    /// Node-hours charged in the month.
    pub charged_h: f64,
    /// The embodied impacts charged in the month.
    pub embodied: Ranged<Impacts>,
}

/// A job's stored embodied allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbodied {
    /// The interval allocated, epoch seconds.
    pub start: i64,
    /// End of the interval allocated, epoch seconds.
    pub end: i64,
    /// Its nodes in the inventory, and outside it.
    pub inside: u32,
    /// Its nodes outside the inventory.
    pub outside: u32,
    /// The inventory group of all its nodes of the inventory, when they are in one.
    pub group: Option<String>,
    /// Share × hours held, before scaling; node-hours charged.
    pub held_h: f64,
    /// Node-hours charged.
    pub charged_h: f64,
    /// `None` when none of its nodes is in the inventory.
    pub embodied: Option<Ranged<Impacts>>,
    /// The engine's flags for the job (oversubscribed...).
    pub flags: Flags,
    /// Its parts per month, when it ran in more than one (empty: all in one month).
    pub months: Vec<MonthPart>,
}

impl StoredEmbodied {
    /// What it was charged over what it held: below 1 when its nodes were oversubscribed.
    pub fn scale(&self) -> Option<f64> {
        (self.held_h > 0.0).then(|| self.charged_h / self.held_h)
    }

    /// Its embodied part in the month starting at `month` (all of it when it lies in one).
    pub fn in_month(&self, month: i64) -> Option<Ranged<Impacts>> {
        if self.months.is_empty() {
            return self.embodied;
        }
        let part = self.months.iter().find(|p| p.month == month)?;
        self.embodied.map(|_| part.embodied)
    }
}

/// The columns [`from_row`] reads, from alias `e`, for a LEFT JOIN on the jobs.
pub const COLUMNS: &str = embodied_columns!();

/// The join that goes with [`COLUMNS`] (jobs as `j`).
pub const JOIN: &str = embodied_join!();

fn ranged(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<Ranged<Impacts>>> {
    let v: [Option<f64>; 9] = [
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
        r.get(at + 8)?,
    ];
    let Some(v) = v.into_iter().collect::<Option<Vec<f64>>>() else {
        return Ok(None);
    };
    let at = |i: usize| Impacts {
        gwp_kgco2eq: v[i],
        adpe_kgsbeq: v[i + 3],
        pe_mj: v[i + 6],
    };
    Ok(Some(Ranged {
        value: at(0),
        min: at(1),
        max: at(2),
    }))
}

/// Reads [`COLUMNS`] starting at column `at`; `None` for a job with no stored allocation.
///
/// # Errors
/// SQLite type errors, and months that are not the JSON this module writes.
pub fn from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<StoredEmbodied>> {
    let Some(start) = r.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    let months: Option<String> = r.get(at + 17)?;
    let months = match months {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 17,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })?,
    };
    Ok(Some(StoredEmbodied {
        start,
        end: r.get(at + 1)?,
        inside: r.get(at + 2)?,
        outside: r.get(at + 3)?,
        group: r.get(at + 4)?,
        held_h: r.get(at + 5)?,
        charged_h: r.get(at + 6)?,
        embodied: ranged(r, at + 7)?,
        flags: Flags::from_bits(r.get(at + 16)?),
        months,
    }))
}

/// Removes every stored allocation (a run that allocates everything again).
///
/// # Errors
/// SQLite errors.
pub fn delete_all(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM job_embodied", []).map(drop)
}

/// Removes the stored allocation of a job.
///
/// # Errors
/// SQLite errors.
pub fn delete(conn: &Connection, cluster: &str, job_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM job_embodied WHERE job = (SELECT id FROM jobs WHERE cluster = ?1 AND job_id = ?2)",
    )?
    .execute(params![cluster, job_id])
    .map(drop)
}

/// Removes allocations whose job is no longer stored (a job made from records that sacct's
/// row replaced under another JobID).
///
/// # Errors
/// SQLite errors.
pub fn delete_orphans(conn: &Connection) -> rusqlite::Result<u64> {
    conn.execute(
        "DELETE FROM job_embodied WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_embodied.job)",
        [],
    )
    .map(|n| n as u64)
}

/// The stored interval of a job's allocation, if it has one.
///
/// # Errors
/// SQLite errors.
pub fn interval_of(
    conn: &Connection,
    cluster: &str,
    job_id: &str,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.start, e.end FROM job_embodied e JOIN jobs j ON j.id = e.job
             WHERE j.cluster = ?1 AND j.job_id = ?2",
    )?;
    let mut rows = stmt.query(params![cluster, job_id])?;
    match rows.next()? {
        Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
        None => Ok(None),
    }
}

/// Writes (or replaces) jobs' allocations.
///
/// # Errors
/// SQLite errors.
pub fn write<'a>(
    conn: &Connection,
    rows: impl Iterator<Item = (i64, &'a StoredEmbodied)>,
) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO job_embodied (job, start, end, inside, outside, grp,
            held_h, charged_h, gwp, gwp_min, gwp_max, adpe, adpe_min, adpe_max, pe, pe_min,
            pe_max, flags, months)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19)",
    )?;
    let mut n = 0;
    for (job, e) in rows {
        let v = |f: fn(&Ranged<Impacts>) -> f64| e.embodied.as_ref().map(f);
        let months = if e.months.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&e.months)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            )
        };
        crate::execute_bound!(
            stmt,
            job,
            e.start,
            e.end,
            e.inside,
            e.outside,
            e.group.as_deref(),
            e.held_h,
            e.charged_h,
            v(|r| r.value.gwp_kgco2eq),
            v(|r| r.min.gwp_kgco2eq),
            v(|r| r.max.gwp_kgco2eq),
            v(|r| r.value.adpe_kgsbeq),
            v(|r| r.min.adpe_kgsbeq),
            v(|r| r.max.adpe_kgsbeq),
            v(|r| r.value.pe_mj),
            v(|r| r.min.pe_mj),
            v(|r| r.max.pe_mj),
            e.flags.bits(),
            months,
        )?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredEmbodied {
        let r = |x: f64| Ranged {
            value: Impacts {
                gwp_kgco2eq: x,
                adpe_kgsbeq: x / 1e4,
                pe_mj: x * 10.0,
            },
            min: Impacts {
                gwp_kgco2eq: x / 2.0,
                adpe_kgsbeq: x / 2e4,
                pe_mj: x * 5.0,
            },
            max: Impacts {
                gwp_kgco2eq: x * 2.0,
                adpe_kgsbeq: x / 5e3,
                pe_mj: x * 20.0,
            },
        };
        let mut flags = Flags::default();
        flags.set(ea_impact::Flag::Oversubscribed);
        StoredEmbodied {
            start: 100,
            end: 7300,
            inside: 2,
            outside: 1,
            group: Some("cpu".into()),
            held_h: 4.0,
            charged_h: 3.0,
            embodied: Some(r(3.0)),
            flags,
            months: vec![
                MonthPart {
                    month: 0,
                    charged_h: 1.0,
                    embodied: r(1.0),
                },
                MonthPart {
                    month: 3600,
                    charged_h: 2.0,
                    embodied: r(2.0),
                },
            ],
        }
    }

    #[test]
    fn written_rows_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("ea-embodied-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, _) =
            crate::Store::open_for_write(&dir.join("s.sqlite"), &Default::default()).unwrap();
        let conn = &store.conn;
        conn.execute_batch(
            "INSERT INTO jobs (cluster, job_id, state, state_raw, final, row_hash)
             VALUES ('c', '1', 'COMPLETED', 'COMPLETED', 1, 0)",
        )
        .unwrap();
        let e = stored();
        let id: i64 = conn
            .query_row("SELECT id FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(write(conn, [(id, &e)].into_iter()).unwrap(), 1);
        let sql = format!("SELECT {COLUMNS} FROM jobs j {JOIN} WHERE j.job_id = '1'");
        let back = conn.query_row(&sql, [], |r| from_row(r, 0)).unwrap();
        assert_eq!(back.as_ref(), Some(&e));
        let back = back.unwrap();
        assert_eq!(back.scale(), Some(0.75));
        assert_eq!(back.in_month(3600).unwrap().value.gwp_kgco2eq, 2.0);
        assert_eq!(back.in_month(7200), None);
        assert_eq!(interval_of(conn, "c", "1").unwrap(), Some((100, 7300)));
        conn.execute("DELETE FROM jobs", []).unwrap();
        assert_eq!(delete_orphans(conn).unwrap(), 1);
        assert_eq!(interval_of(conn, "c", "1").unwrap(), None);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
