//! `energy-assess acct`: sacct's query grammar over the store.
//!
//! Selection follows sacct(1): `-j` lists (`123`, `123_4`, `123.batch`; an array's id selects
//! all its tasks), `-u`, `-A`, `-r`, `-s`, `-N`, `--name`, and the time window `-S`/`-E` with sacct's
//! defaults (midnight to now; from the epoch with `-j`; now with `-s`). A job is in the window
//! when it ran during it; with `-s`, RUNNING means "ran during the window" (as sacct's note
//! says) and a final state means "ended in it in that state".

use crate::columns::{self, RowRef, Selected, Value};
use crate::figures::{FigureContext, JobFigures, figures_batch};
use crate::privacy::Identity;
use crate::render::{self, OutRow, Style};
use ea_sacct::fields::{known_states, state_from_arg};
use ea_sacct::timefmt::{Clock, parse_time_arg};
use ea_store::read::{self, JobRecord};
use rusqlite::types::Value as Sql;
use std::fmt;
use std::io::Write;

pub mod sacct_json;

/// The options, as `sacct` takes them.
#[derive(Debug, Clone, Default)]
pub struct AcctOptions {
    /// `-j`: job ids, comma-separated.
    pub jobs: Option<String>,
    /// `-u`: user names or uids.
    pub users: Option<String>,
    /// `-A`: accounts.
    pub accounts: Option<String>,
    /// `-r`: partitions.
    pub partitions: Option<String>,
    /// `-s`: job states.
    pub states: Option<String>,
    /// `-S`: the window's start, in sacct's time forms.
    pub starttime: Option<String>,
    /// `-E`: the window's end.
    pub endtime: Option<String>,
    /// `-N`: nodes the jobs ran on (a host list).
    pub nodelist: Option<String>,
    /// `--name`: job names, comma-separated.
    pub names: Option<String>,
    /// `-X`: allocations only, no steps.
    pub allocations: bool,
    /// `-o`: the columns (see [`columns::parse_format`]).
    pub format: Option<String>,
    /// `-P`: parsable, `|`-separated, no trailing delimiter.
    pub parsable2: bool,
    /// `-p`: parsable with a trailing delimiter.
    pub parsable: bool,
    /// `-n`: no header line.
    pub noheader: bool,
    /// `--delimiter`: the parsable outputs' separator.
    pub delimiter: Option<String>,
    /// `--json`: sacct's JSON layout.
    pub json: bool,
    /// `--units`: how energies are shown in the table (`ea_units::EnergyUnits::parse`).
    pub units: Option<String>,
}

/// A bad option, said the way to fix it.
#[derive(Debug)]
pub enum AcctError {
    /// A bad option or value, with its fix.
    Usage(String),
    /// The store could not be read.
    Sqlite(rusqlite::Error),
    /// The output could not be written.
    Io(std::io::Error),
}

impl fmt::Display for AcctError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcctError::Usage(m) => f.write_str(m),
            AcctError::Sqlite(e) => write!(f, "store: {e}"),
            AcctError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AcctError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcctError::Io(e) => Some(e),
            AcctError::Sqlite(e) => Some(e),
            AcctError::Usage(_) => None,
        }
    }
}

impl From<rusqlite::Error> for AcctError {
    fn from(e: rusqlite::Error) -> Self {
        AcctError::Sqlite(e)
    }
}

impl From<std::io::Error> for AcctError {
    fn from(e: std::io::Error) -> Self {
        AcctError::Io(e)
    }
}

/// One `-j` item.
#[derive(Debug, Clone, PartialEq)]
struct JobSel {
    /// `123`, `123_4`, `123+1`.
    job: String,
    step: Option<String>,
}

fn list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_jobs(s: &Option<String>) -> Result<Vec<JobSel>, AcctError> {
    let mut out = Vec::new();
    for item in list(s) {
        let id = ea_sacct::fields::parse_job_id(&item).map_err(|e| {
            AcctError::Usage(format!("-j {item}: {e}; write -j 123, 123_4 or 123.batch"))
        })?;
        out.push(JobSel {
            job: id.job,
            step: id.step,
        });
    }
    Ok(out)
}

/// The SQL selection built from the options.
pub struct Selection {
    /// The SQL condition on `jobs j`.
    pub where_sql: String,
    /// Its bound parameters, in order.
    pub params: Vec<Sql>,
    /// The window's start, epoch seconds.
    pub start: i64,
    /// The window's end, epoch seconds.
    pub end: i64,
    steps_only: Vec<JobSel>,
    nodes: Option<Vec<String>>,
}

/// Turns options into a selection.
///
/// # Errors
/// Unreadable times, states, job ids or node lists.
pub fn select(opts: &AcctOptions, who: &Identity, clock: &Clock) -> Result<Selection, AcctError> {
    let jobs = parse_jobs(&opts.jobs)?;
    let states = parse_states(&opts.states)?;
    let (start, end) = window(opts, clock, jobs.is_empty(), states.is_empty())?;
    let mut w = Where::default();
    if let Some((sql, p)) = who.restriction() {
        w.conds.push(sql);
        w.params.extend(p);
    }
    w.jobs(&jobs);
    w.users(list(&opts.users));
    // Job names match without regard to case, as sacct's do against Slurm's MariaDB tables
    // (their default collation): `--name WRAP` finds `wrap` there.
    for (values, column) in [
        (list(&opts.accounts), "j.account"),
        (list(&opts.partitions), "j.partition"),
        (list(&opts.names), "j.name COLLATE NOCASE"),
    ] {
        w.one_of(column, values);
    }
    if states.is_empty() {
        w.ran_in(start, end);
    } else {
        w.states(&states, start, end);
    }
    let nodes = match &opts.nodelist {
        None => None,
        Some(l) => Some(
            ea_record::hostlist::expand(l).map_err(|e| AcctError::Usage(format!("-N {l}: {e}")))?,
        ),
    };
    let steps_only = jobs.into_iter().filter(|j| j.step.is_some()).collect();
    Ok(Selection {
        where_sql: w.conds.join(" AND "),
        params: w.params,
        start,
        end,
        steps_only,
        nodes,
    })
}

/// `-s`: each state's long name.
fn parse_states(arg: &Option<String>) -> Result<Vec<&'static str>, AcctError> {
    let mut states = Vec::new();
    for s in list(arg) {
        let long = state_from_arg(&s).ok_or_else(|| {
            let names: Vec<String> = known_states().map(|(l, sh)| format!("{sh}/{l}")).collect();
            AcctError::Usage(format!(
                "-s {s}: not a job state; use one of {}",
                names.join(", ")
            ))
        })?;
        states.push(long);
    }
    Ok(states)
}

/// The window `[start, end]` (epoch seconds) from `-S` and `-E`, with sacct's defaults: no
/// start with `-j` means all time, with `-s` now, else midnight; no end means now (the start,
/// with `-s` and `-S`).
fn window(
    opts: &AcctOptions,
    clock: &Clock,
    no_jobs: bool,
    no_states: bool,
) -> Result<(i64, i64), AcctError> {
    let time = |s: &str, flag: &str| {
        parse_time_arg(s, clock).map_err(|e| AcctError::Usage(format!("{flag} {e}")))
    };
    let start = match (&opts.starttime, no_jobs, no_states) {
        (Some(s), _, _) => time(s, "-S")?,
        (None, false, _) => 0,
        (None, true, false) => clock.now,
        (None, true, true) => {
            parse_time_arg("midnight", clock).map_err(|e| AcctError::Usage(e.to_string()))?
        }
    };
    let end = match &opts.endtime {
        Some(e) => time(e, "-E")?,
        None if !no_states && opts.starttime.is_some() => start,
        None => clock.now,
    };
    if end < start {
        return Err(AcctError::Usage(format!(
            "-E ({}) is before -S ({}); give an end after the start",
            clock.format(end),
            clock.format(start)
        )));
    }
    Ok((start, end))
}

/// The selection's conditions (joined with AND) and their parameters, in order.
#[derive(Default)]
struct Where {
    conds: Vec<String>,
    params: Vec<Sql>,
}

impl Where {
    /// `-j`: any of the jobs, by JobID, array, raw id or het leader.
    fn jobs(&mut self, jobs: &[JobSel]) {
        if jobs.is_empty() {
            return;
        }
        let mut ors = Vec::new();
        for j in jobs {
            if let Ok(n) = j.job.parse::<i64>() {
                // As sacct: a het leader's id selects every component (`7899+0`, `7899+1`).
                ors.push(
                    "(j.job_id = ? OR j.array_job_id = ? OR j.job_id_raw = ? OR j.job_id GLOB ?)"
                        .to_string(),
                );
                self.params.extend([
                    Sql::Text(j.job.clone()),
                    Sql::Integer(n),
                    Sql::Integer(n),
                    Sql::Text(format!("{n}+*")),
                ]);
            } else {
                ors.push("j.job_id = ?".to_string());
                self.params.push(Sql::Text(j.job.clone()));
            }
        }
        self.conds.push(format!("({})", ors.join(" OR ")));
    }

    /// `-u`: any of the users, by uid or name.
    fn users(&mut self, users: Vec<String>) {
        if users.is_empty() {
            return;
        }
        let mut ors = Vec::new();
        for u in users {
            match u.parse::<i64>() {
                Ok(uid) => {
                    ors.push("j.uid = ?".to_string());
                    self.params.push(Sql::Integer(uid));
                }
                Err(_) => {
                    ors.push("j.user = ?".to_string());
                    self.params.push(Sql::Text(u));
                }
            }
        }
        self.conds.push(format!("({})", ors.join(" OR ")));
    }

    /// `column` is one of `values` (nothing when there are none).
    fn one_of(&mut self, column: &str, values: Vec<String>) {
        if !values.is_empty() {
            self.conds.push(format!(
                "{column} IN ({})",
                vec!["?"; values.len()].join(",")
            ));
            self.params.extend(values.into_iter().map(Sql::Text));
        }
    }

    /// Without `-s`: jobs eligible or running at some time of the window.
    fn ran_in(&mut self, start: i64, end: i64) {
        self.conds
            .push("COALESCE(j.start, j.submit, 0) <= ? AND (j.end IS NULL OR j.end >= ?)".into());
        self.params.extend([Sql::Integer(end), Sql::Integer(start)]);
    }

    /// `-s`: jobs in any of the states during the window, as sacct reads each state.
    fn states(&mut self, states: &[&str], start: i64, end: i64) {
        let mut ors = Vec::new();
        for s in states {
            match *s {
                "RUNNING" => {
                    ors.push(
                        "(j.start IS NOT NULL AND j.start <= ? AND (j.end IS NULL OR j.end >= ?))"
                            .to_string(),
                    );
                    self.params.extend([Sql::Integer(end), Sql::Integer(start)]);
                }
                "PENDING" => {
                    ors.push(
                        "(COALESCE(j.eligible, j.submit, 0) <= ? AND (j.start IS NULL OR j.start >= ?))".to_string(),
                    );
                    self.params.extend([Sql::Integer(end), Sql::Integer(start)]);
                }
                other => {
                    ors.push(
                        "(j.state = ? AND COALESCE(j.end, j.start, j.submit, 0) BETWEEN ? AND ?)"
                            .to_string(),
                    );
                    self.params.extend([
                        Sql::Text(other.into()),
                        Sql::Integer(start),
                        Sql::Integer(end),
                    ]);
                }
            }
        }
        self.conds.push(format!("({})", ors.join(" OR ")));
    }
}

/// Loads the selected jobs (with `-N` applied).
///
/// # Errors
/// SQLite errors.
pub fn load(conn: &rusqlite::Connection, sel: &Selection) -> Result<Vec<JobRecord>, AcctError> {
    let params: Vec<&dyn rusqlite::ToSql> = sel
        .params
        .iter()
        .map(|p| p as &dyn rusqlite::ToSql)
        .collect();
    let mut jobs = read::jobs_where(conn, &sel.where_sql, &params)?;
    if let Some(nodes) = &sel.nodes {
        jobs.retain(|j| {
            j.row
                .node_list
                .as_deref()
                .and_then(|l| ea_record::hostlist::expand(l).ok())
                .is_some_and(|mine| mine.iter().any(|n| nodes.contains(n)))
        });
    }
    Ok(jobs)
}

/// Runs a query and writes its output.
///
/// `-o` is read (and refused when wrong) under `--json` too, but the JSON document has
/// sacct's fixed layout with every figure in it, as `sacct --json` ignores `-o`.
///
/// # Errors
/// Bad options, SQLite errors, write errors.
pub fn run(
    conn: &rusqlite::Connection,
    opts: &AcctOptions,
    who: &Identity,
    clock: &Clock,
    ctx: &FigureContext<'_>,
    out: &mut dyn Write,
) -> Result<(), AcctError> {
    if opts.json && (opts.parsable || opts.parsable2) {
        return Err(AcctError::Usage(
            "--json and -p/-P are different outputs: choose one".into(),
        ));
    }
    let format = opts.format.as_deref().unwrap_or(columns::DEFAULT_FORMAT);
    let selected: Vec<Selected> =
        columns::parse_format(format).map_err(|e| AcctError::Usage(format!("--format: {e}")))?;
    let energy = energy_units(opts)?;
    let sel = select(opts, who, clock)?;
    let jobs = load(conn, &sel)?;
    let refs: Vec<&JobRecord> = jobs.iter().collect();
    let figures: Vec<JobFigures> = figures_batch(&refs, ctx);
    if opts.json {
        let json_jobs: Vec<sacct_json::JsonJob<'_>> = jobs
            .iter()
            .zip(&figures)
            .map(|(job, fig)| sacct_json::JsonJob {
                job,
                figures: fig,
                steps: steps_shown(opts, &sel, job),
            })
            .collect();
        let meta = sacct_json::QueryMeta {
            window_start: sel.start,
            window_end: sel.end,
            impacts: ctx.model.provenance(),
        };
        sacct_json::write(out, &json_jobs, &meta)?;
        return Ok(());
    }
    let rows = rows_of(opts, &sel, &selected, &jobs, &figures);
    let style = if opts.parsable || opts.parsable2 {
        Style::Parsable {
            delimiter: opts.delimiter.clone().unwrap_or_else(|| "|".into()),
            trailing: opts.parsable,
            header: !opts.noheader,
        }
    } else {
        Style::Table {
            header: !opts.noheader,
        }
    };
    let cells = columns::CellFormat {
        clock,
        energy,
        plain: false,
    };
    render::write(out, &selected, &rows, &style, &cells)?;
    Ok(())
}

fn energy_units(opts: &AcctOptions) -> Result<ea_units::EnergyUnits, AcctError> {
    match opts.units.as_deref() {
        None => Ok(ea_units::EnergyUnits::default()),
        Some(u) => ea_units::EnergyUnits::parse(u).ok_or_else(|| {
            AcctError::Usage(format!(
                "--units {u}: write {}",
                ea_units::EnergyUnits::CHOICES
            ))
        }),
    }
}

/// The steps `-j` named for this job (`123.batch`); empty when it named the job itself.
fn steps_asked<'a>(sel: &'a Selection, job: &JobRecord) -> Vec<&'a str> {
    sel.steps_only
        .iter()
        .filter(|s| {
            s.job == job.row.job_id || job.row.array_job_id.is_some_and(|a| a.to_string() == s.job)
        })
        .filter_map(|s| s.step.as_deref())
        .collect()
}

/// The job's steps to show: none under `-X`, those `-j` named, else all.
fn steps_shown(opts: &AcctOptions, sel: &Selection, job: &JobRecord) -> Vec<ea_sacct::StepRow> {
    if opts.allocations {
        return Vec::new();
    }
    let asked = steps_asked(sel, job);
    let mut steps = read::decode_steps(job);
    if !asked.is_empty() {
        steps.retain(|st| asked.contains(&st.step.as_str()));
    }
    steps
}

/// The table's and `-P`'s rows: each job's line (unless `-j` named only steps of it) and its
/// steps.
fn rows_of(
    opts: &AcctOptions,
    sel: &Selection,
    selected: &[Selected],
    jobs: &[JobRecord],
    figures: &[JobFigures],
) -> Vec<OutRow> {
    let mut rows = Vec::new();
    for (job, fig) in jobs.iter().zip(figures) {
        let whole_job_asked = steps_asked(sel, job).is_empty();
        if whole_job_asked {
            let r = RowRef {
                job,
                step: None,
                figures: Some(fig),
            };
            rows.push(OutRow {
                cells: selected.iter().map(|s| (s.column.get)(&r)).collect(),
            });
        }
        for st in &steps_shown(opts, sel, job) {
            let r = RowRef {
                job,
                step: Some(st),
                figures: None,
            };
            let cells: Vec<Value> = selected.iter().map(|s| (s.column.get)(&r)).collect();
            rows.push(OutRow { cells });
        }
    }
    rows
}

/// `-e`: every column with its meaning.
pub fn helpformat(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Figures are shown in the unit that fits their size (20.5 MJ, 14.6 mg, 918 µg; --units \
         picks the energy unit); with -p, -P and --json they are plain numbers in the unit \
         named below. Slurm's own columns are written as sacct writes them.\n"
    )?;
    for c in columns::all_columns() {
        writeln!(out, "{:<18} {}", c.name, c.help)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn root() -> Identity {
        Identity {
            uid: 0,
            user: Some("root".into()),
            groups: vec![],
            admin: true,
            setgid: false,
        }
    }

    #[test]
    fn default_windows_follow_sacct() {
        let c = Clock::fixed(TimeZone::UTC, 1_000_000);
        let s = select(&AcctOptions::default(), &root(), &c).unwrap();
        assert_eq!(
            (s.start, s.end),
            (1_000_000 - 1_000_000 % 86_400, 1_000_000)
        );
        let s = select(
            &AcctOptions {
                jobs: Some("12".into()),
                ..Default::default()
            },
            &root(),
            &c,
        )
        .unwrap();
        assert_eq!((s.start, s.end), (0, 1_000_000));
        let s = select(
            &AcctOptions {
                states: Some("r".into()),
                ..Default::default()
            },
            &root(),
            &c,
        )
        .unwrap();
        assert_eq!((s.start, s.end), (1_000_000, 1_000_000));
    }

    #[test]
    fn bad_options_say_what_to_write() {
        let c = Clock::fixed(TimeZone::UTC, 1_000_000);
        let e = |o: AcctOptions| select(&o, &root(), &c).err().unwrap().to_string();
        assert!(
            e(AcctOptions {
                states: Some("done".into()),
                ..Default::default()
            })
            .contains("CD/COMPLETED")
        );
        assert!(
            e(AcctOptions {
                jobs: Some("abc".into()),
                ..Default::default()
            })
            .contains("-j abc")
        );
        assert!(
            e(AcctOptions {
                starttime: Some("yesterday".into()),
                ..Default::default()
            })
            .starts_with("-S `yesterday`")
        );
        let msg = e(AcctOptions {
            starttime: Some("now".into()),
            endtime: Some("now-1days".into()),
            ..Default::default()
        });
        assert!(msg.contains("before -S"), "{msg}");
    }
}
