//! Delimited sacct dumps: `-P` (`--parsable2`), `-p` (`--parsable`, one delimiter more at the
//! end of each line), any `--delimiter` (`☃`, `^|^`, tab...), with a header line in any column
//! order and any letter case, or header-less with the column list given.
//!
//! sacct does not quote fields, so a general CSV reader would misread a job name holding a
//! quote; lines are split on the delimiter alone. A line whose field count does not match the
//! header (a delimiter inside a job name, a truncated line) is reported and skipped.

use super::fields::{normalise_state, parse_count, parse_energy_j, parse_job_id, parse_req_mem_mb, parse_tres};
use super::{Entry, JobRow, LineError, SourceError, StepRow};
use crate::timefmt::{Clock, parse_dump_time, parse_duration};
use rayon::prelude::*;
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
pub fn detect_layout(first_line: &str, opts: &TextOptions, source: &str) -> Result<Layout, SourceError> {
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
                if !cols.iter().any(|c| matches!(c, Some(Col::JobId | Col::JobIdRaw))) {
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
        if cols.iter().any(|c| matches!(c, Some(Col::JobId | Col::JobIdRaw))) {
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

/// Reads one data line into an entry.
///
/// # Errors
/// A field count that does not match the layout, a JobID that is not one, a time or number
/// that cannot be read.
pub fn parse_line(line: &str, layout: &Layout, clock: &Clock) -> Result<Entry, String> {
    let n_cols = layout.columns.len();
    let mut fields: Vec<&str> = match layout.delimiter.as_bytes() {
        // One ASCII byte: split on the char (a memchr search), the common `|` case.
        [b] if b.is_ascii() => line.split(*b as char).collect(),
        _ => line.split(layout.delimiter.as_str()).collect(),
    };
    if fields.len() == n_cols + 1 && fields.last() == Some(&"") {
        fields.pop(); // `-p`: a delimiter closes every line
    }
    if fields.len() != n_cols {
        return Err(format!(
            "{} fields where the header has {n_cols} (a `{}` inside a job name or comment, or a \
             truncated line)",
            fields.len(),
            layout.delimiter
        ));
    }
    let mut job = JobRow::default();
    let mut step_id: Option<String> = None;
    let mut job_id_text: Option<String> = None;
    let mut raw_text: Option<&str> = None;
    let mut req_mem: Option<&str> = None;
    let mut elapsed_raw: Option<i64> = None;
    let mut cputime_raw: Option<f64> = None;
    let mut timelimit_raw: Option<i64> = None;
    let mut energy_raw: Option<f64> = None;
    let mut energy_tres: Option<f64> = None;
    let mut ntasks = None;
    let opt = |s: &str| -> Option<String> {
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    };
    let time = |s: &str, what: &str| -> Result<Option<i64>, String> {
        parse_dump_time(s, clock).map_err(|e| format!("{what} {e}"))
    };
    let dur =
        |s: &str, what: &str| -> Result<Option<f64>, String> { parse_duration(s).map_err(|e| format!("{what} {e}")) };
    for (col, value) in layout.columns.iter().zip(&fields) {
        let Some(col) = col else { continue };
        let v = *value;
        match col {
            Col::JobId => job_id_text = opt(v),
            Col::JobIdRaw => raw_text = Some(v.trim()),
            Col::JobName => job.name = opt(v),
            Col::User => job.user = opt(v),
            Col::Uid => job.uid = v.trim().parse().ok(),
            Col::Group => job.group = opt(v),
            Col::Gid => job.gid = v.trim().parse().ok(),
            Col::Account => job.account = opt(v),
            Col::Partition => job.partition = opt(v),
            Col::Qos => job.qos = opt(v),
            Col::State => {
                job.state_raw = v.trim().to_string();
                job.state = normalise_state(v);
            }
            Col::ExitCode => job.exit_code = opt(v),
            Col::Submit => job.submit = time(v, "Submit")?,
            Col::Eligible => job.eligible = time(v, "Eligible")?,
            Col::Start => job.start = time(v, "Start")?,
            Col::End => job.end = time(v, "End")?,
            Col::Elapsed => job.elapsed_s = dur(v, "Elapsed")?.map(|s| s.round() as i64),
            Col::ElapsedRaw => elapsed_raw = v.trim().parse().ok(),
            Col::Timelimit => job.timelimit_s = dur(v, "Timelimit")?.map(|s| s.round() as i64),
            Col::TimelimitRaw => timelimit_raw = v.trim().parse::<i64>().ok().map(|m| m * 60),
            Col::NNodes => job.nnodes = parse_count(v),
            Col::NCpus => job.ncpus = parse_count(v),
            Col::NTasks => ntasks = parse_count(v),
            Col::NodeList => job.node_list = opt(v).filter(|n| n != "None assigned"),
            Col::ReqMem => req_mem = Some(v),
            Col::AllocTres => job.alloc_tres = opt(v),
            Col::TotalCpu => job.total_cpu_s = dur(v, "TotalCPU")?,
            Col::CpuTime => job.cpu_time_s = dur(v, "CPUTime")?,
            Col::CpuTimeRaw => cputime_raw = v.trim().parse().ok(),
            Col::ConsumedEnergy => job.consumed_energy_j = parse_energy_j(v),
            Col::ConsumedEnergyRaw => energy_raw = parse_energy_j(v),
            Col::TresUsageOutTot => energy_tres = parse_tres(v).energy_j,
            Col::Cluster => job.cluster = opt(v),
            Col::WorkDir => job.work_dir = opt(v),
        }
    }
    let id_text = match (&job_id_text, raw_text) {
        (Some(t), _) => t.clone(),
        (None, Some(r)) if !r.is_empty() => r.to_string(),
        _ => return Err("empty JobID".to_string()),
    };
    let id = parse_job_id(&id_text)?;
    if let Some(raw) = raw_text {
        let raw_job = raw.split('.').next().unwrap_or("");
        job.job_id_raw = raw_job.parse().ok();
    } else if id.array_job_id.is_none() && !id.job.contains('+') {
        job.job_id_raw = Some(id.base);
    }
    step_id.clone_from(&id.step);
    job.job_id = id.job;
    job.array_job_id = id.array_job_id;
    job.array_task = id.array_task;
    if elapsed_raw.is_some() {
        job.elapsed_s = elapsed_raw;
    }
    if timelimit_raw.is_some() {
        job.timelimit_s = timelimit_raw;
    }
    if cputime_raw.is_some() {
        job.cpu_time_s = cputime_raw;
    }
    job.consumed_energy_j = energy_raw.or(job.consumed_energy_j).or(energy_tres);
    let tres = job.alloc_tres.as_deref().map(parse_tres).unwrap_or_default();
    job.gpus = tres.gpus;
    if job.consumed_energy_j.is_none() {
        job.consumed_energy_j = tres.energy_j;
    }
    if job.ncpus.is_none() {
        job.ncpus = tres.cpu;
    }
    if job.nnodes.is_none() {
        job.nnodes = tres.node;
    }
    job.req_mem_mb = match req_mem.map(str::trim).filter(|s| !s.is_empty()) {
        Some(r) => parse_req_mem_mb(r, job.nnodes, job.ncpus),
        None => tres.mem_mb,
    };
    if job.state.is_empty() {
        job.state = "UNKNOWN".to_string();
    }
    Ok(match step_id {
        None => Entry::Job(Box::new(job)),
        Some(step) => Entry::Step(Box::new(StepRow {
            cluster: job.cluster,
            job_id: job.job_id,
            step,
            name: job.name,
            state: job.state,
            state_raw: job.state_raw,
            exit_code: job.exit_code,
            start: job.start,
            end: job.end,
            elapsed_s: job.elapsed_s,
            nnodes: job.nnodes,
            ncpus: job.ncpus,
            ntasks,
            node_list: job.node_list,
            total_cpu_s: job.total_cpu_s,
            consumed_energy_j: job.consumed_energy_j,
            alloc_tres: job.alloc_tres,
        })),
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
            let old = buf.len();
            buf.resize(old + self.block_bytes.min(1 << 22), 0);
            let n = loop {
                match self.inner.read(&mut buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            buf.truncate(old + n);
            if n == 0 {
                self.done = true;
            }
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
        self.next_line += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        if !buf.ends_with(b"\n") {
            self.next_line += 1;
        }
        Ok(Some(Block { first_line, bytes: buf }))
    }
}

fn memchr_last_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().rposition(|&b| b == b'\n')
}

/// Parses the lines of a block in parallel, in order. Lines that fail are returned apart with
/// their numbers; blank lines and, in the first block of a dump with a header, the header
/// are skipped.
pub fn parse_block(block: &Block, layout: &Layout, clock: &Clock, source: &str) -> (Vec<(u64, Entry)>, Vec<LineError>) {
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    for (i, raw) in block.bytes.split(|&b| b == b'\n').enumerate() {
        let n = block.first_line + i as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) || (layout.has_header && n == 1) {
            continue;
        }
        lines.push((n, raw));
    }
    let results: Vec<(u64, Result<Entry, String>)> = lines
        .par_iter()
        .with_min_len(512)
        .map(|(n, raw)| {
            let text = String::from_utf8_lossy(raw);
            (*n, parse_line(&text, layout, clock))
        })
        .collect();
    let mut entries = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (n, r) in results {
        match r {
            Ok(e) => entries.push((n, e)),
            Err(problem) => errors.push(LineError {
                source: source.to_string(),
                line: n,
                problem,
            }),
        }
    }
    (entries, errors)
}

/// The first line of a byte buffer, for [`detect_layout`].
pub fn first_line(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn clock() -> Clock {
        Clock::fixed(TimeZone::UTC, 0)
    }

    fn parse_all(text: &str, opts: &TextOptions) -> (Vec<Entry>, Vec<LineError>) {
        let layout = detect_layout(&first_line(text.as_bytes()), opts, "t").unwrap();
        let block = Block {
            first_line: 1,
            bytes: text.as_bytes().to_vec(),
        };
        let (e, errs) = parse_block(&block, &layout, &clock(), "t");
        (e.into_iter().map(|(_, e)| e).collect(), errs)
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
        let Entry::Step(s) = &entries[1] else { panic!() };
        assert_eq!((s.job_id.as_str(), s.step.as_str()), ("12", "batch"));
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
        let text = "JobID|User|Start\n1|a|2026-01-01T00:00:00\n2|b|c|d\n3|c|yesterday\n4|d|Unknown\n";
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
        let e = detect_layout("4034541|EYR|user424", &TextOptions::default(), "dump.txt").unwrap_err();
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
        assert!(e.to_string().contains("does not split into the 2 columns"), "{e}");
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
