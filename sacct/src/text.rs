//! Delimited sacct dumps: `-P` (`--parsable2`), `-p` (`--parsable`, one delimiter more at the
//! end of each line), any `--delimiter` (`☃`, `^|^`, tab...), with a header line in any column
//! order and any letter case, or header-less with the column list given.
//!
//! sacct does not quote fields, so a general CSV reader would misread a job name holding a
//! quote; lines are split on the delimiter alone. A line whose field count does not match the
//! header (a delimiter inside a job name, a truncated line) is reported and skipped.

use super::fields::{
    Tres, normalise_state, parse_count, parse_energy_j, parse_job_id_parts, parse_req_mem_mb,
    parse_tres,
};
use super::{JobRow, LineError, SourceError, StepRow};
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
    JobId,
    JobIdRaw,
    JobName,
    User,
    Uid,
    Group,
    Gid,
    Account,
    Partition,
    Qos,
    State,
    ExitCode,
    Submit,
    Eligible,
    Start,
    End,
    Elapsed,
    ElapsedRaw,
    Timelimit,
    TimelimitRaw,
    NNodes,
    NCpus,
    NTasks,
    NodeList,
    ReqMem,
    AllocTres,
    TotalCpu,
    CpuTime,
    CpuTimeRaw,
    ConsumedEnergy,
    ConsumedEnergyRaw,
    TresUsageOutTot,
    Cluster,
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
    pub delimiter: String,
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
        job: Box<JobRow>,
        hash: i64,
    },
    Step(StepLine<'a>),
}

/// A step line, ready to be added to its job.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLine<'a> {
    pub cluster: Option<Cow<'a, str>>,
    /// The job's JobID, without the step.
    pub job_id: Cow<'a, str>,
    /// The step's stored form: one element of a job's steps array.
    pub encoded: String,
    pub total_cpu_s: Option<f64>,
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
pub fn parse_line<'a>(line: &'a str, layout: &Layout, clock: &Clock) -> Result<Line<'a>, String> {
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
    fn time(&mut self, s: &str, what: &str, clock: &Clock) -> Result<Option<i64>, String> {
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
) -> Result<Line<'a>, String> {
    let n_cols = layout.columns.len();
    let delimiter = layout.delimiter.as_str();
    // Field boundaries in one pass: the end of each field, then the start of the next.
    let bounds = &mut scratch.bounds;
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
    let mut n_fields = bounds.len() / 2;
    // `-p`: a delimiter closes every line.
    if n_fields == n_cols + 1 && line.ends_with(delimiter) {
        n_fields -= 1;
    }
    if n_fields != n_cols {
        return Err(format!(
            "{n_fields} fields where the header has {n_cols} (a `{delimiter}` inside a job name or comment, or a \
             truncated line)"
        ));
    }
    let mut f = Fields::default();
    for (k, col) in layout.columns.iter().enumerate() {
        let Some(col) = col else { continue };
        let v = &line[scratch.bounds[2 * k]..scratch.bounds[2 * k + 1]];
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
            Col::CpuTimeRaw => {
                f.cputime_raw = raw_seconds(v, 1).map(|s| s as f64);
            }
            Col::ConsumedEnergy => f.consumed_energy_j = parse_energy_j(v),
            Col::ConsumedEnergyRaw => f.energy_raw = parse_energy_j(v),
            Col::TresUsageOutTot => f.energy_tres = parse_tres(v).energy_j,
            Col::Cluster => f.cluster = non_empty(v),
            Col::WorkDir => f.work_dir = non_empty(v),
        }
    }
    let id_text = match (f.job_id, f.job_id_raw) {
        (Some(t), _) => t,
        (None, Some(r)) if !r.is_empty() => r,
        _ => return Err("empty JobID".to_string()),
    };
    let id = parse_job_id_parts(id_text)?;
    if f.elapsed_raw.is_some() {
        f.elapsed_s = f.elapsed_raw;
    }
    if f.timelimit_raw.is_some() {
        f.timelimit_s = f.timelimit_raw;
    }
    if f.cputime_raw.is_some() {
        f.cpu_time_s = f.cputime_raw;
    }
    // AllocTRES is read where a column it stands in for is missing, and for a job's GPUs and
    // memory: not for most steps (two lines in three of a dump).
    let mut tres_read: Option<Tres> = None;
    let mut tres = || {
        tres_read
            .get_or_insert_with(|| f.alloc_tres.map(parse_tres).unwrap_or_default())
            .clone()
    };
    // Most AllocTRES hold no energy: looked for before the whole field is parsed.
    let energy = f
        .energy_raw
        .or(f.consumed_energy_j)
        .or(f.energy_tres)
        .or_else(|| {
            f.alloc_tres
                .is_some_and(|t| t.contains("energy"))
                .then(|| tres().energy_j)
                .flatten()
        });
    let ncpus = f.ncpus.or_else(|| tres().cpu);
    let nnodes = f.nnodes.or_else(|| tres().node);
    let state_raw = f.state.unwrap_or("");
    if let Some(step) = id.step {
        let encoded = crate::rowhash::encode_step(&crate::rowhash::StepFields {
            step,
            name: f.name,
            state_raw,
            exit_code: f.exit_code,
            start: f.start,
            end: f.end,
            elapsed_s: f.elapsed_s,
            nnodes,
            ncpus,
            ntasks: f.ntasks,
            node_list: f.node_list,
            total_cpu_s: f.total_cpu_s,
            consumed_energy_j: energy,
            alloc_tres: f.alloc_tres,
        });
        return Ok(Line::Step(StepLine {
            cluster: f.cluster.map(Cow::Borrowed),
            job_id: Cow::Borrowed(id.job),
            encoded,
            total_cpu_s: f.total_cpu_s,
            consumed_energy_j: energy,
        }));
    }
    let own = |s: Option<&str>| s.map(str::to_string);
    let mut job = JobRow {
        cluster: own(f.cluster),
        job_id: id.job.to_string(),
        job_id_raw: None,
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
        state: normalise_state(state_raw),
        state_raw: state_raw.to_string(),
        exit_code: own(f.exit_code),
        submit: f.submit,
        eligible: f.eligible,
        start: f.start,
        end: f.end,
        elapsed_s: f.elapsed_s,
        timelimit_s: f.timelimit_s,
        nnodes,
        ncpus,
        node_list: own(f.node_list),
        req_mem_mb: None,
        alloc_tres: own(f.alloc_tres),
        // Most AllocTRES hold no GPU: looked for before the whole field is parsed.
        gpus: if f.alloc_tres.is_some_and(|t| t.contains("gres/gpu")) {
            tres().gpus
        } else {
            None
        },
        total_cpu_s: f.total_cpu_s,
        cpu_time_s: f.cpu_time_s,
        consumed_energy_j: energy,
        work_dir: own(f.work_dir),
        steps: Vec::new(),
    };
    if let Some(raw) = f.job_id_raw {
        let raw_job = raw.split('.').next().unwrap_or("");
        job.job_id_raw = raw_job.parse().ok();
    } else if id.array_job_id.is_none() && !id.job.contains('+') {
        job.job_id_raw = Some(id.base);
    }
    job.req_mem_mb = match f.req_mem.map(str::trim).filter(|s| !s.is_empty()) {
        Some(r) => parse_req_mem_mb(r, job.nnodes, job.ncpus),
        None => tres().mem_mb,
    };
    if job.state.is_empty() {
        job.state = "UNKNOWN".to_string();
    }
    let hash = crate::rowhash::job_hash(&job);
    Ok(Line::Job {
        job: Box::new(job),
        hash,
    })
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

fn time(s: &str, what: &str, clock: &Clock) -> Result<Option<i64>, String> {
    parse_dump_time(s, clock).map_err(|e| format!("{what} {e}"))
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

fn dur(s: &str, what: &str) -> Result<Option<f64>, String> {
    parse_duration(s).map_err(|e| format!("{what} {e}"))
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
    pub first_line: u64,
    pub bytes: Vec<u8>,
}

impl<R: Read> BlockReader<R> {
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
    type Piece<'a> = (Vec<(u64, Line<'a>)>, Vec<(u64, String)>, u64);
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
                    problem,
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
