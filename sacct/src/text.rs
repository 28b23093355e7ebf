//! Delimited sacct dumps: `-P` (`--parsable2`), `-p` (`--parsable`, one delimiter more at the
//! end of each line), any `--delimiter` (`☃`, `^|^`, tab...), with a header line in any column
//! order and any letter case, or header-less with the column list given.
//!
//! sacct does not quote fields, so a general CSV reader would misread a job name holding a
//! quote; lines are split on the delimiter alone. A line whose field count does not match the
//! header (a delimiter inside a job name, a truncated line) is reported and skipped.

use super::fields::{
    JobIdParts, Tres, normalise_state, parse_count, parse_energy_j, parse_job_id_parts,
    parse_req_mem_mb, parse_tres,
};
use super::{JobRow, LineError, RowError, SourceError, StepRow};
use crate::bytes::{count_byte, find_byte, rfind_byte, split_byte};
use crate::timefmt::{Clock, parse_dump_time, parse_duration};
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::Read;

/// The delimiters tried, in order, when none is given. `^|^` comes before `|`, which it
/// contains.
const CANDIDATE_DELIMITERS: &[&str] = &["^|^", "\u{2603}", "|", "\t", ",", ";"];

/// The sacct columns the store uses. Others in a dump are read past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `JobID`: job or step, as sacct prints it (`123_4.batch`).
    JobId,
    /// `JobIDRaw`: the unique numeric id.
    JobIdRaw,
    /// `JobName`.
    JobName,
    /// `User`: login name.
    User,
    /// `UID`.
    Uid,
    /// `Group`: group name.
    Group,
    /// `GID`.
    Gid,
    /// `Account`.
    Account,
    /// `Partition`.
    Partition,
    /// `QOS`.
    Qos,
    /// `State`, as written (`CANCELLED by 1300204`).
    State,
    /// `ExitCode` (`0:0`).
    ExitCode,
    /// `Submit` time.
    Submit,
    /// `Eligible` time.
    Eligible,
    /// `Start` time.
    Start,
    /// `End` time.
    End,
    /// `Elapsed`, `[D-]HH:MM:SS`.
    Elapsed,
    /// `ElapsedRaw`, seconds: wins over `Elapsed`.
    ElapsedRaw,
    /// `Timelimit`, `[D-]HH:MM:SS`.
    Timelimit,
    /// `TimelimitRaw`, minutes: wins over `Timelimit`.
    TimelimitRaw,
    /// `NNodes`.
    NNodes,
    /// `NCPUS`.
    NCpus,
    /// `NTasks`.
    NTasks,
    /// `NodeList`.
    NodeList,
    /// `ReqMem` (`4000M`, `4Gc`, `16Gn`).
    ReqMem,
    /// `AllocTRES`.
    AllocTres,
    /// `TotalCPU`.
    TotalCpu,
    /// `CPUTime`.
    CpuTime,
    /// `CPUTimeRAW`, seconds: wins over `CPUTime`.
    CpuTimeRaw,
    /// `ConsumedEnergy`, with a unit suffix (`1.2K`).
    ConsumedEnergy,
    /// `ConsumedEnergyRaw`, joules: wins over `ConsumedEnergy`.
    ConsumedEnergyRaw,
    /// `TRESUsageOutTot`, whose `energy=` is read.
    TresUsageOutTot,
    /// `Cluster`.
    Cluster,
    /// `WorkDir`.
    WorkDir,
}

/// The column a header name stands for (case-insensitive, as sacct's `--format`).
pub fn column_of(name: &str) -> Option<Col> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "jobid" => Col::JobId,
        "jobidraw" => Col::JobIdRaw,
        "jobname" => Col::JobName,
        "user" => Col::User,
        "uid" => Col::Uid,
        "group" => Col::Group,
        "gid" => Col::Gid,
        "account" => Col::Account,
        "partition" => Col::Partition,
        "qos" => Col::Qos,
        "state" => Col::State,
        "exitcode" => Col::ExitCode,
        "submit" => Col::Submit,
        "eligible" => Col::Eligible,
        "start" => Col::Start,
        "end" => Col::End,
        "elapsed" => Col::Elapsed,
        "elapsedraw" => Col::ElapsedRaw,
        "timelimit" => Col::Timelimit,
        "timelimitraw" => Col::TimelimitRaw,
        "nnodes" | "allocnodes" => Col::NNodes,
        "ncpus" | "alloccpus" => Col::NCpus,
        "ntasks" => Col::NTasks,
        "nodelist" => Col::NodeList,
        "reqmem" => Col::ReqMem,
        "alloctres" => Col::AllocTres,
        "totalcpu" => Col::TotalCpu,
        "cputime" => Col::CpuTime,
        "cputimeraw" => Col::CpuTimeRaw,
        "consumedenergy" => Col::ConsumedEnergy,
        "consumedenergyraw" => Col::ConsumedEnergyRaw,
        "tresusageouttot" => Col::TresUsageOutTot,
        "cluster" => Col::Cluster,
        "workdir" => Col::WorkDir,
        _ => return None,
    })
}

/// How to read a text dump, from the command line.
#[derive(Debug, Clone, Default)]
pub struct TextOptions {
    /// The delimiter; guessed from the first line when `None`.
    pub delimiter: Option<String>,
    /// The column list of a header-less dump (the `--format` it was made with).
    pub columns: Option<Vec<String>>,
}

/// How one dump is laid out, decided from its first line.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The delimiter between fields (given, or guessed from the first line).
    pub delimiter: String,
    /// Per field of a line, in order: the column it is, `None` for a column the store does not use.
    pub columns: Vec<Option<Col>>,
    /// Whether the first line is a header (and so not data).
    pub has_header: bool,
}

/// Splits a column list as people write it: commas, `|` or spaces.
pub fn split_column_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == '|' || c.is_whitespace())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        // `JobName%30` in a --format list: the width does not matter here.
        .map(|c| c.split('%').next().unwrap_or(c).to_string())
        .collect()
}

/// Decides the layout from the first line of a dump.
///
/// # Errors
/// No header and no column list; a header without JobID/JobIDRaw; a delimiter that splits
/// neither the header nor the first line into the given columns.
pub fn detect_layout(
    first_line: &str,
    opts: &TextOptions,
    source: &str,
) -> Result<Layout, SourceError> {
    let err = |problem: String| SourceError::Format {
        source: source.to_string(),
        problem,
    };
    let first_line = first_line.trim_end_matches(['\r', '\n']);
    let candidates: Vec<&str> = match &opts.delimiter {
        Some(d) if d.is_empty() => return Err(err("the delimiter is empty".into())),
        Some(d) => vec![d.as_str()],
        None => CANDIDATE_DELIMITERS.to_vec(),
    };
    if let Some(columns) = &opts.columns {
        let wanted = columns.len();
        for d in &candidates {
            let n = first_line.split(d).count();
            let trailing = first_line.ends_with(d);
            if n == wanted || (trailing && n == wanted + 1) {
                // A dump may still carry a header although a column list was given.
                let has_header = first_line
                    .split(d)
                    .any(|f| matches!(column_of(f), Some(Col::JobId | Col::JobIdRaw)));
                let cols = columns.iter().map(|c| column_of(c)).collect::<Vec<_>>();
                if !cols
                    .iter()
                    .any(|c| matches!(c, Some(Col::JobId | Col::JobIdRaw)))
                {
                    return Err(err("the column list has neither JobID nor JobIDRaw".into()));
                }
                return Ok(Layout {
                    delimiter: d.to_string(),
                    columns: cols,
                    has_header,
                });
            }
        }
        return Err(err(format!(
            "the first line does not split into the {wanted} columns given{}; check --columns \
             against the --format the dump was made with, or give --delimiter",
            match &opts.delimiter {
                Some(d) => format!(" with delimiter `{d}`"),
                None => String::new(),
            }
        )));
    }
    for d in &candidates {
        let names: Vec<&str> = first_line.split(d).collect();
        if names.len() < 2 && opts.delimiter.is_none() {
            continue;
        }
        let cols: Vec<Option<Col>> = names.iter().map(|n| column_of(n)).collect();
        if cols
            .iter()
            .any(|c| matches!(c, Some(Col::JobId | Col::JobIdRaw)))
        {
            return Ok(Layout {
                delimiter: d.to_string(),
                columns: cols,
                has_header: true,
            });
        }
    }
    let shown: String = first_line.chars().take(60).collect();
    Err(err(format!(
        "no header line (the first line starts `{shown}`) and no column list: give the columns \
         the dump was made with, e.g. --columns JobID,User,Account,Start,End,State, or \
         --columns-from FILE"
    )))
}

/// A line of a text dump. Allocation lines become whole [`JobRow`]s; step lines are only ever
/// stored inside their job, so they are encoded for storage right away (see
/// [`crate::rowhash::encode_step`]) and keep borrowed ids to be matched with their job.
#[derive(Debug)]
pub enum Line<'a> {
    /// An allocation line, with its content hash ([`crate::rowhash::job_hash`]): the same
    /// line seen twice is a repeat, a different line for the same job is an error.
    Job {
        /// The job, without steps.
        job: Box<JobRow>,
        /// Its content hash.
        hash: i64,
    },
    /// A step line (see [`StepLine`]).
    Step(StepLine<'a>),
}

/// A step line, ready to be added to its job.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLine<'a> {
    /// The Cluster column, when the dump has one.
    pub cluster: Option<Cow<'a, str>>,
    /// The job's JobID, without the step.
    pub job_id: Cow<'a, str>,
    /// The step's stored form: one element of a job's steps array.
    pub encoded: String,
    /// TotalCPU, seconds (a job whose line has none takes its steps' sum).
    pub total_cpu_s: Option<f64>,
    /// ConsumedEnergy, joules (a job whose line has none takes its largest step's).
    pub consumed_energy_j: Option<f64>,
}

impl StepLine<'_> {
    /// The step as a row (for steps whose job is not in the same input).
    pub fn to_row(&self) -> StepRow {
        let mut rows = crate::rowhash::decode_steps_rows(&format!("[{}]", self.encoded));
        let mut row = rows.pop().unwrap_or_default();
        row.cluster = self.cluster.as_deref().map(str::to_string);
        row.job_id = self.job_id.to_string();
        row
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim_ascii();
    (!t.is_empty()).then_some(t)
}

/// Reads one data line. Fields are looked at in place; only an allocation line's stored text is
/// copied out.
///
/// # Errors
/// A field count that does not match the layout, a JobID that is not one, a time or number
/// that cannot be read.
pub fn parse_line<'a>(line: &'a str, layout: &Layout, clock: &Clock) -> Result<Line<'a>, RowError> {
    parse_line_with(line, layout, clock, &mut LineScratch::default())
}

/// What the lines of one piece of a dump share: the field boundaries' buffer, and the last
/// times read (a job's steps repeat its start and end).
#[derive(Default)]
struct LineScratch {
    bounds: Vec<usize>,
    times: [(String, Option<i64>); 4],
    next_time: usize,
}

impl LineScratch {
    fn time(
        &mut self,
        s: &str,
        what: &'static str,
        clock: &Clock,
    ) -> Result<Option<i64>, RowError> {
        if let Some((_, t)) = self.times.iter().find(|(k, _)| k == s) {
            return Ok(*t);
        }
        let t = time(s, what, clock)?;
        let slot = &mut self.times[self.next_time % 4];
        slot.0.clear();
        slot.0.push_str(s);
        slot.1 = t;
        self.next_time += 1;
        Ok(t)
    }
}

fn parse_line_with<'a>(
    line: &'a str,
    layout: &Layout,
    clock: &Clock,
    scratch: &mut LineScratch,
) -> Result<Line<'a>, RowError> {
    let mut f = read_fields(line, layout, clock, scratch)?;
    let id_text = match (f.job_id, f.job_id_raw) {
        (Some(t), _) => t,
        (None, Some(r)) if !r.is_empty() => r,
        _ => return Err(RowError::EmptyJobId),
    };
    let id = parse_job_id_parts(id_text)?;
    f.prefer_raw_columns();
    // AllocTRES is read where a column it stands in for is missing, and for a job's GPUs and
    // memory: not for most steps (two lines in three of a dump).
    let mut tres = LazyTres::new(f.alloc_tres);
    let energy = f.energy(&mut tres);
    f.ncpus = f.ncpus.or_else(|| tres.get().cpu);
    f.nnodes = f.nnodes.or_else(|| tres.get().node);
    if let Some(step) = id.step {
        return Ok(Line::Step(step_line(&f, id.job, step, energy)));
    }
    let job = job_row(&f, &id, energy, &mut tres);
    let hash = crate::rowhash::job_hash(&job);
    Ok(Line::Job {
        job: Box::new(job),
        hash,
    })
}

/// Puts in `bounds`, in one pass, the start and end of each field of `line` (`2k` and `2k + 1`
/// for field `k`).
#[inline]
fn split_fields(line: &str, delimiter: &str, bounds: &mut Vec<usize>) {
    bounds.clear();
    bounds.push(0);
    match delimiter.as_bytes() {
        // One ASCII byte (the common `|`): a byte scan.
        [d] if d.is_ascii() => {
            let bytes = line.as_bytes();
            let mut at = 0;
            while let Some(i) = find_byte(&bytes[at..], *d) {
                bounds.push(at + i);
                bounds.push(at + i + 1);
                at += i + 1;
            }
        }
        _ => {
            for (i, _) in line.match_indices(delimiter) {
                bounds.push(i);
                bounds.push(i + delimiter.len());
            }
        }
    }
    bounds.push(line.len());
}

/// Checks that the line split into `bounds` has the header's `n_cols` fields (with `-p`, a
/// delimiter closes every line: one empty field more).
#[inline]
fn check_field_count(
    bounds: &[usize],
    line: &str,
    delimiter: &str,
    n_cols: usize,
) -> Result<(), RowError> {
    let mut n_fields = bounds.len() / 2;
    if n_fields == n_cols + 1 && line.ends_with(delimiter) {
        n_fields -= 1;
    }
    if n_fields != n_cols {
        return Err(RowError::FieldCount {
            found: n_fields,
            expected: n_cols,
            delimiter: delimiter.to_string(),
        });
    }
    Ok(())
}

/// Cuts `line` into the layout's fields and reads the columns the store uses.
#[inline]
fn read_fields<'a>(
    line: &'a str,
    layout: &Layout,
    clock: &Clock,
    scratch: &mut LineScratch,
) -> Result<Fields<'a>, RowError> {
    let delimiter = layout.delimiter.as_str();
    split_fields(line, delimiter, &mut scratch.bounds);
    check_field_count(&scratch.bounds, line, delimiter, layout.columns.len())?;
    let mut f = Fields::default();
    for (k, col) in layout.columns.iter().enumerate() {
        let Some(col) = col else { continue };
        let v = &line[scratch.bounds[2 * k]..scratch.bounds[2 * k + 1]];
        f.read(*col, v, clock, scratch)?;
    }
    Ok(f)
}

/// A line's AllocTRES, parsed the first time a value is taken from it.
struct LazyTres<'a> {
    text: Option<&'a str>,
    parsed: Option<Tres>,
}

impl<'a> LazyTres<'a> {
    fn new(text: Option<&'a str>) -> Self {
        Self { text, parsed: None }
    }

    #[inline]
    fn get(&mut self) -> &Tres {
        let text = self.text;
        self.parsed
            .get_or_insert_with(|| text.map(parse_tres).unwrap_or_default())
    }
}

/// A step line: the step encoded for storage, with the ids it is matched to its job by.
fn step_line<'a>(f: &Fields<'a>, job: &'a str, step: &'a str, energy: Option<f64>) -> StepLine<'a> {
    let encoded = crate::rowhash::encode_step(&crate::rowhash::StepFields {
        step,
        name: f.name,
        state_raw: f.state.unwrap_or(""),
        exit_code: f.exit_code,
        start: f.start,
        end: f.end,
        elapsed_s: f.elapsed_s,
        nnodes: f.nnodes,
        ncpus: f.ncpus,
        ntasks: f.ntasks,
        node_list: f.node_list,
        total_cpu_s: f.total_cpu_s,
        consumed_energy_j: energy,
        alloc_tres: f.alloc_tres,
    });
    StepLine {
        cluster: f.cluster.map(Cow::Borrowed),
        job_id: Cow::Borrowed(job),
        encoded,
        total_cpu_s: f.total_cpu_s,
        consumed_energy_j: energy,
    }
}

/// An allocation line as a whole row, its text copied out of the line.
fn job_row(
    f: &Fields<'_>,
    id: &JobIdParts<'_>,
    energy: Option<f64>,
    tres: &mut LazyTres<'_>,
) -> JobRow {
    let own = |s: Option<&str>| s.map(str::to_string);
    let state_raw = f.state.unwrap_or("");
    let state = normalise_state(state_raw);
    JobRow {
        cluster: own(f.cluster),
        job_id: id.job.to_string(),
        job_id_raw: raw_job_id(f, id),
        array_job_id: id.array_job_id,
        array_task: own(id.array_task),
        name: own(f.name),
        user: own(f.user),
        uid: f.uid,
        group: own(f.group),
        gid: f.gid,
        account: own(f.account),
        partition: own(f.partition),
        qos: own(f.qos),
        state: if state.is_empty() {
            "UNKNOWN".to_string()
        } else {
            state
        },
        state_raw: state_raw.to_string(),
        exit_code: own(f.exit_code),
        submit: f.submit,
        eligible: f.eligible,
        start: f.start,
        end: f.end,
        elapsed_s: f.elapsed_s,
        timelimit_s: f.timelimit_s,
        nnodes: f.nnodes,
        ncpus: f.ncpus,
        node_list: own(f.node_list),
        req_mem_mb: match f.req_mem.map(str::trim).filter(|s| !s.is_empty()) {
            Some(r) => parse_req_mem_mb(r, f.nnodes, f.ncpus),
            None => tres.get().mem_mb,
        },
        alloc_tres: own(f.alloc_tres),
        // Most AllocTRES hold no GPU: looked for before the whole field is parsed.
        gpus: if f.alloc_tres.is_some_and(|t| t.contains("gres/gpu")) {
            tres.get().gpus
        } else {
            None
        },
        total_cpu_s: f.total_cpu_s,
        cpu_time_s: f.cpu_time_s,
        consumed_energy_j: energy,
        work_dir: own(f.work_dir),
        steps: Vec::new(),
    }
}

/// The job's numeric id: JobIDRaw's job part where the dump has it, else the JobID's number
/// when that is the job's own (not an array task's master nor a het leader's).
fn raw_job_id(f: &Fields<'_>, id: &JobIdParts<'_>) -> Option<u64> {
    if let Some(raw) = f.job_id_raw {
        raw.split('.').next().unwrap_or("").parse().ok()
    } else if id.array_job_id.is_none() && !id.job.contains('+') {
        Some(id.base)
    } else {
        None
    }
}

/// The fields of one line, borrowed from it.
#[derive(Default)]
struct Fields<'a> {
    job_id: Option<&'a str>,
    job_id_raw: Option<&'a str>,
    name: Option<&'a str>,
    user: Option<&'a str>,
    uid: Option<u32>,
    group: Option<&'a str>,
    gid: Option<u32>,
    account: Option<&'a str>,
    partition: Option<&'a str>,
    qos: Option<&'a str>,
    state: Option<&'a str>,
    exit_code: Option<&'a str>,
    submit: Option<i64>,
    eligible: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    elapsed_s: Option<i64>,
    elapsed_raw: Option<i64>,
    timelimit_s: Option<i64>,
    timelimit_raw: Option<i64>,
    nnodes: Option<u32>,
    ncpus: Option<u32>,
    ntasks: Option<u32>,
    node_list: Option<&'a str>,
    req_mem: Option<&'a str>,
    alloc_tres: Option<&'a str>,
    total_cpu_s: Option<f64>,
    cpu_time_s: Option<f64>,
    cputime_raw: Option<f64>,
    consumed_energy_j: Option<f64>,
    energy_raw: Option<f64>,
    energy_tres: Option<f64>,
    cluster: Option<&'a str>,
    work_dir: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// Reads field `v` as column `col`.
    #[inline]
    fn read(
        &mut self,
        col: Col,
        v: &'a str,
        clock: &Clock,
        scratch: &mut LineScratch,
    ) -> Result<(), RowError> {
        let f = self;
        match col {
            Col::JobId => f.job_id = non_empty(v),
            Col::JobIdRaw => f.job_id_raw = Some(v.trim_ascii()),
            Col::JobName => f.name = non_empty(v),
            Col::User => f.user = non_empty(v),
            Col::Uid => f.uid = v.trim_ascii().parse().ok(),
            Col::Group => f.group = non_empty(v),
            Col::Gid => f.gid = v.trim_ascii().parse().ok(),
            Col::Account => f.account = non_empty(v),
            Col::Partition => f.partition = non_empty(v),
            Col::Qos => f.qos = non_empty(v),
            Col::State => f.state = Some(v.trim_ascii()),
            Col::ExitCode => f.exit_code = non_empty(v),
            Col::Submit => f.submit = scratch.time(v, "Submit", clock)?,
            Col::Eligible => f.eligible = scratch.time(v, "Eligible", clock)?,
            Col::Start => f.start = scratch.time(v, "Start", clock)?,
            Col::End => f.end = scratch.time(v, "End", clock)?,
            Col::Elapsed => f.elapsed_s = dur(v, "Elapsed")?.map(|s| s.round() as i64),
            Col::ElapsedRaw => f.elapsed_raw = raw_seconds(v, 1),
            Col::Timelimit => f.timelimit_s = dur(v, "Timelimit")?.map(|s| s.round() as i64),
            Col::TimelimitRaw => f.timelimit_raw = raw_seconds(v, 60),
            Col::NNodes => f.nnodes = parse_count(v),
            Col::NCpus => f.ncpus = parse_count(v),
            Col::NTasks => f.ntasks = parse_count(v),
            Col::NodeList => f.node_list = non_empty(v).filter(|n| *n != "None assigned"),
            Col::ReqMem => f.req_mem = Some(v),
            Col::AllocTres => f.alloc_tres = non_empty(v),
            Col::TotalCpu => f.total_cpu_s = dur(v, "TotalCPU")?,
            Col::CpuTime => f.cpu_time_s = dur(v, "CPUTime")?,
            Col::CpuTimeRaw => f.cputime_raw = raw_seconds(v, 1).map(|s| s as f64),
            Col::ConsumedEnergy => f.consumed_energy_j = parse_energy_j(v),
            Col::ConsumedEnergyRaw => f.energy_raw = parse_energy_j(v),
            Col::TresUsageOutTot => f.energy_tres = parse_tres(v).energy_j,
            Col::Cluster => f.cluster = non_empty(v),
            Col::WorkDir => f.work_dir = non_empty(v),
        }
        Ok(())
    }

    /// The raw columns (`ElapsedRaw`, `TimelimitRaw`, `CPUTimeRaw`), where present, win over
    /// their formatted twins.
    #[inline]
    fn prefer_raw_columns(&mut self) {
        if self.elapsed_raw.is_some() {
            self.elapsed_s = self.elapsed_raw;
        }
        if self.timelimit_raw.is_some() {
            self.timelimit_s = self.timelimit_raw;
        }
        if self.cputime_raw.is_some() {
            self.cpu_time_s = self.cputime_raw;
        }
    }

    /// The line's energy: the raw column, else the formatted one, else TRESUsageOutTot's,
    /// else AllocTRES's (most hold none: looked for before the whole field is parsed).
    #[inline]
    fn energy(&self, tres: &mut LazyTres<'_>) -> Option<f64> {
        self.energy_raw
            .or(self.consumed_energy_j)
            .or(self.energy_tres)
            .or_else(|| {
                self.alloc_tres
                    .is_some_and(|t| t.contains("energy"))
                    .then(|| tres.get().energy_j)
                    .flatten()
            })
    }
}

fn time(s: &str, what: &'static str, clock: &Clock) -> Result<Option<i64>, RowError> {
    parse_dump_time(s, clock).map_err(|source| RowError::Time {
        field: what,
        source,
    })
}

/// A raw count of seconds (`ElapsedRaw`; `TimelimitRaw` in minutes, `per` 60): sacct writes
/// none below 0, so a negative one, or one whose seconds overflow, is unknown (fuzzing found
/// `ElapsedRaw` -3000 reaching the store).
fn raw_seconds(s: &str, per: i64) -> Option<i64> {
    s.trim_ascii()
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .and_then(|v| v.checked_mul(per))
}

fn dur(s: &str, what: &'static str) -> Result<Option<f64>, RowError> {
    parse_duration(s).map_err(|source| RowError::Time {
        field: what,
        source,
    })
}

/// Reads a dump in blocks of whole lines, so that a month of accounting is never in memory
/// at once.
pub struct BlockReader<R> {
    inner: R,
    carry: Vec<u8>,
    next_line: u64,
    done: bool,
    block_bytes: usize,
}

/// Whole lines of a dump, and the number of the first.
pub struct Block {
    /// The number of the block's first line (1-based).
    pub first_line: u64,
    /// The lines' bytes, each ending in `
    /// ` but perhaps the dump's last.
    pub bytes: Vec<u8>,
}

impl<R: Read> BlockReader<R> {
    /// Reads `inner` in blocks of about `block_bytes` (more where a line is longer).
    pub fn new(inner: R, block_bytes: usize) -> Self {
        Self {
            inner,
            carry: Vec::new(),
            next_line: 1,
            done: false,
            block_bytes: block_bytes.max(1024),
        }
    }

    /// The next block of whole lines; `Ok(None)` at the end.
    ///
    /// # Errors
    /// A read error of the underlying file or pipe.
    pub fn next_block(&mut self) -> std::io::Result<Option<Block>> {
        if self.done && self.carry.is_empty() {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.carry);
        while !self.done && buf.len() < self.block_bytes {
            // `take` and `read_to_end` read into the buffer's spare room without zeroing it
            // first (a file reads into uninitialised memory), and retry interrupted reads; less
            // than asked for means the end of the input.
            let want = self.block_bytes.min(1 << 22);
            buf.reserve(want);
            let n = self
                .inner
                .by_ref()
                .take(want as u64)
                .read_to_end(&mut buf)?;
            self.done = n < want;
        }
        if !self.done {
            match memchr_last_newline(&buf) {
                Some(i) => self.carry = buf.split_off(i + 1),
                None => {
                    // One line longer than a block: keep reading into it.
                    self.carry = buf;
                    return self.next_block();
                }
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let first_line = self.next_line;
        self.next_line += count_byte(&buf, b'\n') as u64;
        if !buf.ends_with(b"\n") {
            self.next_line += 1;
        }
        Ok(Some(Block {
            first_line,
            bytes: buf,
        }))
    }
}

fn memchr_last_newline(buf: &[u8]) -> Option<usize> {
    rfind_byte(buf, b'\n')
}

/// Parses the lines of a block in parallel, in order. Lines that fail are returned apart with
/// their numbers; blank lines and, in the first block of a dump with a header, the header
/// are skipped. A line that is not UTF-8 is read with its bad bytes replaced.
///
/// The block is cut into pieces of whole lines, each parsed by one task from its first line
/// to its last, so that no pass over the block is sequential.
pub fn parse_block<'a>(
    block: &'a Block,
    layout: &Layout,
    clock: &Clock,
    source: &str,
) -> (Vec<(u64, Line<'a>)>, Vec<LineError>) {
    let bytes = &block.bytes[..];
    let pieces = split_at_lines(bytes, 64 * 1024);
    type Piece<'a> = (Vec<(u64, Line<'a>)>, Vec<(u64, RowError)>, u64);
    let parsed: Vec<Piece<'a>> = pieces
        .par_iter()
        .map(|&(from, to)| {
            // Room for a line every 128 bytes (sacct's lines are longer).
            let mut lines = Vec::with_capacity((to - from) / 128 + 1);
            let mut errors = Vec::new();
            let mut scratch = LineScratch::default();
            let mut n = 0u64;
            for raw in split_byte(&bytes[from..to], b'\n') {
                n += 1;
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                if raw.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let parsed = match std::str::from_utf8(raw) {
                    Ok(text) => parse_line_with(text, layout, clock, &mut scratch),
                    Err(_) => {
                        let text = String::from_utf8_lossy(raw).into_owned();
                        parse_line_with(&text, layout, clock, &mut scratch).map(Line::into_owned)
                    }
                };
                match parsed {
                    Ok(l) => lines.push((n, l)),
                    Err(problem) => errors.push((n, problem)),
                }
            }
            // A piece ends with its newline: the count above includes the empty tail.
            if to > from && bytes[to - 1] == b'\n' {
                n -= 1;
            }
            (lines, errors, n)
        })
        .collect();
    let mut entries = Vec::with_capacity(parsed.iter().map(|p| p.0.len()).sum());
    let mut errors = Vec::new();
    let mut first = block.first_line;
    for (lines, errs, n) in parsed {
        let header = |k: u64| layout.has_header && first + k - 1 == 1;
        entries.extend(
            lines
                .into_iter()
                .filter(|(k, _)| !header(*k))
                .map(|(k, l)| (first + k - 1, l)),
        );
        errors.extend(
            errs.into_iter()
                .filter(|(k, _)| !header(*k))
                .map(|(k, problem)| LineError {
                    source: source.to_string(),
                    line: first + k - 1,
                    problem: problem.to_string(),
                }),
        );
        first += n;
    }
    (entries, errors)
}

/// Cuts `bytes` into ranges of whole lines of about `size` bytes each.
fn split_at_lines(bytes: &[u8], size: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < bytes.len() {
        let mut to = (from + size).min(bytes.len());
        if to < bytes.len() {
            to = match find_byte(&bytes[to..], b'\n') {
                Some(i) => to + i + 1,
                None => bytes.len(),
            };
        }
        out.push((from, to));
        from = to;
    }
    out
}

impl Line<'_> {
    /// The same line, owning its ids.
    fn into_owned(self) -> Line<'static> {
        match self {
            Line::Job { job, hash } => Line::Job { job, hash },
            Line::Step(s) => Line::Step(StepLine {
                cluster: s.cluster.map(|c| Cow::Owned(c.into_owned())),
                job_id: Cow::Owned(s.job_id.into_owned()),
                encoded: s.encoded,
                total_cpu_s: s.total_cpu_s,
                consumed_energy_j: s.consumed_energy_j,
            }),
        }
    }
}

/// The first line of a byte buffer, for [`detect_layout`].
pub fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;
    use jiff::tz::TimeZone;

    fn clock() -> Clock {
        Clock::fixed(TimeZone::UTC, 0)
    }

    /// Parses a whole text, steps decoded back into rows.
    fn parse_all(text: &str, opts: &TextOptions) -> (Vec<Entry>, Vec<LineError>) {
        let layout = detect_layout(&first_line(text.as_bytes()), opts, "t").unwrap();
        let block = Block {
            first_line: 1,
            bytes: text.as_bytes().to_vec(),
        };
        let (lines, errs) = parse_block(&block, &layout, &clock(), "t");
        let entries = lines
            .into_iter()
            .map(|(_, l)| match l {
                Line::Job { job, .. } => Entry::Job(job),
                Line::Step(s) => Entry::Step(Box::new(s.to_row())),
            })
            .collect();
        (entries, errs)
    }

    #[test]
    fn header_in_any_order_and_case() {
        let text = "state|jobid|user|ncpus|start|end|reqmem|alloctres\n\
                    COMPLETED|12|alice|4|2026-11-01T00:00:00|2026-11-01T01:00:00|1Gc|cpu=4,gres/gpu=1\n\
                    COMPLETED|12.batch||4|2026-11-01T00:00:00|2026-11-01T01:00:00||cpu=4\n";
        let (entries, errs) = parse_all(text, &TextOptions::default());
        assert!(errs.is_empty(), "{errs:?}");
        let Entry::Job(j) = &entries[0] else { panic!() };
        assert_eq!(j.job_id, "12");
        assert_eq!(j.job_id_raw, Some(12));
        assert_eq!(j.user.as_deref(), Some("alice"));
        assert_eq!(j.req_mem_mb, Some(4096.0));
        assert_eq!(j.gpus, Some(1));
        assert_eq!(j.end.unwrap() - j.start.unwrap(), 3600);
        let Entry::Step(s) = &entries[1] else {
            panic!()
        };
        assert_eq!((s.job_id.as_str(), s.step.as_str()), ("12", "batch"));
    }

    #[test]
    fn raw_seconds_below_zero_or_overflowing_are_unknown() {
        // Fuzzing found ElapsedRaw -3000 taken as the elapsed time; TimelimitRaw in minutes
        // could overflow when turned into seconds.
        let text = "jobid|elapsed|elapsedraw|timelimitraw|cputimeraw\n\
                    12|00:10:00|-3000|9223372036854775807|-5\n\
                    13|00:10:00|600|30|inf\n";
        let (entries, errs) = parse_all(text, &TextOptions::default());
        assert!(errs.is_empty(), "{errs:?}");
        let Entry::Job(j) = &entries[0] else { panic!() };
        assert_eq!(
            (j.elapsed_s, j.timelimit_s, j.cpu_time_s),
            (Some(600), None, None)
        );
        let Entry::Job(j) = &entries[1] else { panic!() };
        assert_eq!(
            (j.elapsed_s, j.timelimit_s, j.cpu_time_s),
            (Some(600), Some(1800), None)
        );
    }

    #[test]
    fn parsable_with_trailing_delimiter_and_odd_delimiters() {
        let opts = TextOptions {
            delimiter: None,
            columns: Some(split_column_list("JobID,User,State,NCPUS")),
        };
        let (entries, errs) = parse_all("7\u{2603}bob\u{2603}FAILED\u{2603}2\u{2603}\n", &opts);
        assert!(errs.is_empty(), "{errs:?}");
        let Entry::Job(j) = &entries[0] else { panic!() };
        assert_eq!(
            (j.user.as_deref(), j.state.as_str(), j.ncpus),
            (Some("bob"), "FAILED", Some(2))
        );
        let (entries, errs) = parse_all(
            "^|^bob^|^7^|^CD^|^\n",
            &TextOptions {
                delimiter: Some("^|^".into()),
                columns: Some(split_column_list("AdminComment|User|JobID|State")),
            },
        );
        assert!(errs.is_empty(), "{errs:?}");
        let Entry::Job(j) = &entries[0] else { panic!() };
        assert_eq!((j.job_id.as_str(), j.state.as_str()), ("7", "COMPLETED"));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_the_rest_kept() {
        let text =
            "JobID|User|Start\n1|a|2026-01-01T00:00:00\n2|b|c|d\n3|c|yesterday\n4|d|Unknown\n";
        let (entries, errs) = parse_all(text, &TextOptions::default());
        assert_eq!(entries.len(), 2);
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4]);
        assert!(
            errs[0].problem.contains("4 fields where the header has 3"),
            "{}",
            errs[0].problem
        );
        assert!(errs[1].problem.contains("Start"), "{}", errs[1].problem);
        assert_eq!(errs[1].to_string(), format!("t:4: {}", errs[1].problem));
    }

    #[test]
    fn missing_header_says_what_to_give() {
        let e =
            detect_layout("4034541|EYR|user424", &TextOptions::default(), "dump.txt").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("dump.txt: no header line"), "{msg}");
        assert!(msg.contains("--columns"), "{msg}");
        let cols = Some(vec!["JobID".into(), "User".into()]);
        let e = detect_layout(
            "a|b|c",
            &TextOptions {
                delimiter: None,
                columns: cols,
            },
            "d",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("does not split into the 2 columns"),
            "{e}"
        );
    }

    #[test]
    fn blocks_split_on_line_boundaries() {
        let text: String = (1..=5000).map(|i| format!("{i}|user{i}\n")).collect();
        let mut r = BlockReader::new(text.as_bytes(), 1024);
        let mut lines = 0u64;
        let mut expected_first = 1;
        while let Some(b) = r.next_block().unwrap() {
            assert_eq!(b.first_line, expected_first);
            assert!(b.bytes.ends_with(b"\n"));
            let n = b.bytes.iter().filter(|&&c| c == b'\n').count() as u64;
            let first = first_line(&b.bytes);
            assert_eq!(first, format!("{0}|user{0}", b.first_line));
            lines += n;
            expected_first += n;
        }
        assert_eq!(lines, 5000);
    }
}
