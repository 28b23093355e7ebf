//! sacct text dumps (`-P`, `-p`, any delimiter): `ea_sacct::text`.
//!
//! The layout comes from the input's first line, as `energy-assess ingest` takes it
//! (`detect_layout` on `first_line`, delimiter guessed). A harness convention adds the
//! header-less form of `--columns LIST`: an input whose first line is `#columns LIST` is read as
//! that list (split the way the command line splits it) and a dump without a header after it.
//!
//! Asserts:
//! - `parse_block` (what ingest runs, in parallel pieces with a shared time cache) reports every
//!   non-blank data line exactly once, under its line number, and agrees with `parse_line` on
//!   each, line by line and value by value;
//! - a job line's JobID is a job id without a step, and its quantities (memory, CPU time,
//!   energy, durations) are finite and non-negative;
//! - a step line's stored form reads back (`StepLine::to_row`) as one step with the same CPU
//!   time and energy.
#![no_main]

use ea_fuzz::{check_job_row, check_step_row, clock_utc, same_opt_float};
use ea_sacct::fields::parse_job_id;
use ea_sacct::text::{self, Block, Line, TextOptions};
use libfuzzer_sys::fuzz_target;

const COLUMNS_PREFIX: &[u8] = b"#columns ";

fn check_line(l: &Line<'_>) {
    match l {
        Line::Job { job, .. } => {
            check_job_row(job);
            let id = parse_job_id(&job.job_id)
                .unwrap_or_else(|e| panic!("a job's JobID does not read back: {e}; {job:?}"));
            assert_eq!(
                id.job, job.job_id,
                "a job's JobID is not its job part: {job:?}"
            );
            assert!(id.step.is_none(), "a job's JobID has a step: {job:?}");
        }
        Line::Step(s) => {
            let rows = ea_sacct::rowhash::decode_steps_rows(&format!("[{}]", s.encoded));
            assert_eq!(
                rows.len(),
                1,
                "a step's stored form does not read back: {s:?}"
            );
            let row = s.to_row();
            check_step_row(&row);
            assert_eq!(row.job_id, s.job_id, "{s:?}");
            assert!(!row.step.is_empty(), "a step without its step id: {s:?}");
            assert!(
                same_opt_float(row.total_cpu_s, s.total_cpu_s),
                "a step's TotalCPU changed in its stored form: {:?} vs {:?}",
                row.total_cpu_s,
                s.total_cpu_s
            );
            assert!(
                same_opt_float(row.consumed_energy_j, s.consumed_energy_j),
                "a step's energy changed in its stored form: {:?} vs {:?}",
                row.consumed_energy_j,
                s.consumed_energy_j
            );
        }
    }
}

fn same_line(a: &Line<'_>, b: &Line<'_>) -> bool {
    match (a, b) {
        (Line::Job { job: ja, hash: ha }, Line::Job { job: jb, hash: hb }) => ja == jb && ha == hb,
        (Line::Step(sa), Line::Step(sb)) => sa == sb,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    // The dump, and how it is read.
    let (dump, opts) = match data.strip_prefix(COLUMNS_PREFIX) {
        Some(rest) => {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let list = String::from_utf8_lossy(&rest[..end]);
            let opts = TextOptions {
                delimiter: None,
                columns: Some(text::split_column_list(&list)),
            };
            (rest.get(end + 1..).unwrap_or_default(), opts)
        }
        None => (data, TextOptions::default()),
    };
    let Ok(layout) = text::detect_layout(&text::first_line(dump), &opts, "fuzz") else {
        return;
    };
    assert!(!layout.delimiter.is_empty(), "{layout:?}");
    assert!(!layout.columns.is_empty(), "{layout:?}");
    if opts.columns.is_none() {
        assert!(
            layout.has_header,
            "a layout guessed from a header: {layout:?}"
        );
    }
    let clock = clock_utc();
    let block = Block {
        first_line: 1,
        bytes: dump.to_vec(),
    };
    let (lines, errors) = text::parse_block(&block, &layout, &clock, "fuzz");

    // Line by line, as a reader of one line at a time would.
    let mut expected = Vec::new();
    for (i, raw) in dump.split(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        if n == 1 && layout.has_header {
            continue;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = String::from_utf8_lossy(raw);
        let one = text::parse_line(&text, &layout, &clock);
        if let Ok(l) = &one {
            check_line(l);
        }
        let in_block = lines.iter().find(|(k, _)| *k == n).map(|(_, l)| l);
        match (&one, in_block) {
            (Ok(a), Some(b)) => assert!(
                same_line(a, b),
                "line {n}: parse_block and parse_line disagree:\n{a:?}\n{b:?}"
            ),
            (Err(_), None) => assert!(
                errors.iter().any(|e| e.line == n),
                "line {n}: parse_line refuses it, parse_block neither reads nor refuses it"
            ),
            (Ok(_), None) => panic!("line {n}: parse_line reads it, parse_block does not"),
            (Err(e), Some(_)) => panic!("line {n}: parse_block reads it, parse_line says {e}"),
        }
        expected.push(n);
    }
    let mut reported: Vec<u64> = lines
        .iter()
        .map(|(k, _)| *k)
        .chain(errors.iter().map(|e| e.line))
        .collect();
    reported.sort_unstable();
    assert_eq!(
        reported, expected,
        "parse_block does not report each data line once"
    );
});
