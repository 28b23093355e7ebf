//! The stored row hash ([`ea_sacct::rowhash::job_hash`], over [`ea_sacct::rowhash::Fnv`])
//! against SHA-256 (the `sha2` crate) fed the same fields the same way, on the allocation rows
//! of a synthetic month (`ea-synth`'s default shape, 1,000,000 jobs). Prints nanoseconds per
//! row for both, and for reading the same fields without hashing them (what a pass over a
//! million rows in memory costs anyway); the figures are quoted in `Fnv`'s doc comment.
//!
//! ```text
//! cargo bench -p ea-sacct --bench rowhash
//! EA_ROWHASH_JOBS=100000 cargo bench -p ea-sacct --bench rowhash   # a smaller month
//! ```

use ea_sacct::JobRow;
use ea_sacct::rowhash::job_hash;
use ea_sacct::text::{self, BlockReader, Line, TextOptions};
use ea_sacct::timefmt::Clock;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::Instant;

/// Rounds of each hash over every row; the fastest counts.
const ROUNDS: usize = 5;

fn main() {
    let jobs = std::env::var("EA_ROWHASH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let t = Instant::now();
    let rows = month_rows(jobs);
    eprintln!(
        "{} allocation rows of a synthetic month, generated and parsed in {:.1} s",
        rows.len(),
        t.elapsed().as_secs_f64()
    );
    let read = per_row(&rows, touch);
    let fnv = per_row(&rows, job_hash);
    let sha = per_row(&rows, sha256_job_hash);
    println!("rowhash: reading the fields  {read:7.1} ns/row (no hash)");
    println!("rowhash: Fnv (job_hash)      {fnv:7.1} ns/row");
    println!("rowhash: SHA-256 (sha2)      {sha:7.1} ns/row");
    println!(
        "rowhash: SHA-256 / Fnv       {:7.1} x ({} rows, best of {ROUNDS})",
        sha / fnv,
        rows.len()
    );
}

/// The allocation rows of a synthetic month of `jobs` jobs, as the text reader parses them.
fn month_rows(jobs: u64) -> Vec<JobRow> {
    let params = ea_synth::Params {
        jobs,
        ..ea_synth::Params::default()
    };
    let month = ea_synth::jobs(&params);
    let clock = Clock::fixed(jiff::tz::TimeZone::UTC, params.month_start);
    let mut rows = Vec::with_capacity(month.len());
    let mut dump = Vec::new();
    // A dump of 50,000 jobs at a time (each with its header), so that the month's 700 MB of
    // text are never in memory at once.
    for chunk in month.chunks(50_000) {
        dump.clear();
        ea_synth::write_dump(&params, chunk, &mut dump).expect("writing to memory");
        let layout =
            text::detect_layout(&text::first_line(&dump), &TextOptions::default(), "synth")
                .expect("the synthetic dump has a header");
        let mut blocks = BlockReader::new(&dump[..], 64 << 20);
        while let Some(block) = blocks.next_block().expect("reading memory") {
            let (lines, errors) = text::parse_block(&block, &layout, &clock, "synth");
            assert!(errors.is_empty(), "the synthetic dump parses");
            rows.extend(lines.into_iter().filter_map(|(_, l)| match l {
                Line::Job { job, .. } => Some(*job),
                Line::Step(_) => None,
            }));
        }
    }
    rows
}

/// The fastest of [`ROUNDS`] passes of `hash` over `rows`, in nanoseconds per row.
fn per_row(rows: &[JobRow], hash: fn(&JobRow) -> i64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut acc = 0i64;
        for r in rows {
            acc ^= hash(black_box(r));
        }
        black_box(acc);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e9 / rows.len().max(1) as f64
}

/// A consumer of a row's fields, as [`job_hash`] feeds them to `Fnv`.
trait Sink {
    fn str(&mut self, s: Option<&str>);
    fn int(&mut self, v: Option<i64>);
    fn float(&mut self, v: Option<f64>) {
        self.int(v.map(|x| x.to_bits() as i64));
    }
}

/// [`job_hash`]'s fields in its order.
fn walk(j: &JobRow, h: &mut impl Sink) {
    h.str(j.cluster.as_deref());
    h.str(Some(&j.job_id));
    h.int(j.job_id_raw.map(|v| v as i64));
    h.int(j.array_job_id.map(|v| v as i64));
    h.str(j.array_task.as_deref());
    h.str(j.name.as_deref());
    h.str(j.user.as_deref());
    h.int(j.uid.map(i64::from));
    h.str(j.group.as_deref());
    h.int(j.gid.map(i64::from));
    h.str(j.account.as_deref());
    h.str(j.partition.as_deref());
    h.str(j.qos.as_deref());
    h.str(Some(&j.state));
    h.str(Some(&j.state_raw));
    h.str(j.exit_code.as_deref());
    for v in [
        j.submit,
        j.eligible,
        j.start,
        j.end,
        j.elapsed_s,
        j.timelimit_s,
    ] {
        h.int(v);
    }
    h.int(j.nnodes.map(i64::from));
    h.int(j.ncpus.map(i64::from));
    h.str(j.node_list.as_deref());
    h.float(j.req_mem_mb);
    h.str(j.alloc_tres.as_deref());
    h.int(j.gpus.map(i64::from));
    h.float(j.total_cpu_s);
    h.float(j.cpu_time_s);
    h.float(j.consumed_energy_j);
    h.str(j.work_dir.as_deref());
    h.int(Some(i64::from(j.is_final())));
}

/// Each field as `Fnv` takes it (text with its length, `None` marked, integers and floats as
/// 8 bytes), into SHA-256.
struct Sha(Sha256);

impl Sink for Sha {
    fn str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.0.update((s.len() as u64).to_le_bytes());
                self.0.update(s.as_bytes());
            }
            None => self.0.update([0xff]),
        }
    }
    fn int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.0.update(v.to_le_bytes()),
            None => self.0.update([0xff]),
        }
    }
}

/// SHA-256 of [`job_hash`]'s fields: its first 8 bytes as the hash.
fn sha256_job_hash(j: &JobRow) -> i64 {
    let mut h = Sha(Sha256::new());
    walk(j, &mut h);
    let d = h.0.finalize();
    i64::from_le_bytes(d[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
}

/// Reads each field without hashing it (each text's length and first and last bytes): what
/// either hash pays to bring a row into cache.
struct Touch(u64);

impl Sink for Touch {
    fn str(&mut self, s: Option<&str>) {
        if let Some(s) = s {
            let b = s.as_bytes();
            self.0 = self.0.wrapping_add(b.len() as u64);
            if let (Some(&first), Some(&last)) = (b.first(), b.last()) {
                self.0 = self.0.wrapping_add(u64::from(first) + u64::from(last));
            }
        }
    }
    fn int(&mut self, v: Option<i64>) {
        self.0 = self.0.wrapping_add(v.unwrap_or(1) as u64);
    }
}

fn touch(j: &JobRow) -> i64 {
    let mut t = Touch(0);
    walk(j, &mut t);
    t.0 as i64
}
