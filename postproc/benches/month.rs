//! The month benchmark: a large centre's month end to end, timed and measured as a site would
//! run it.
//!
//! ```text
//! cargo bench -p energy-assess --bench month            # 1,000,000 jobs, 10 % assessed
//! EA_BENCH_JOBS=100000 cargo bench -p energy-assess --bench month
//! EA_BENCH_DIR=/scratch/month cargo bench ...          # keep (and reuse) the generated month
//! ```
//!
//! It generates the month with `ea_store::synth` (a `sacct -P` dump with steps, the assessed
//! jobs' records as the plugin writes them, the inventory), reads the inputs once (so that they
//! are in the page cache, which this machine empties of idle files within minutes; the time it
//! took is printed), then runs the release `energy-assess` binary under `/usr/bin/time -v`:
//! `ingest` of the dump and the spool into a fresh store (with the measured jobs' split by the
//! impact engine and the calibration), the month's `report` (HTML, the heaviest format, with
//! every job's impacts), and one user's month with `acct`. It prints the inputs' sizes, the
//! load average of the machine before and after (the figures mean little on a busy machine),
//! the wall time, CPU time and peak memory of each step, each step's phases (`EA_PROFILE`), and
//! the targets of issue 5 (ingest + report within 10 s and 1 GB; one user's month within
//! 100 ms).

use ea_store::synth::{self, Params};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_energy-assess");

struct Run {
    what: &'static str,
    wall_s: f64,
    /// User + system CPU time of the process, s.
    cpu_s: f64,
    peak_mb: f64,
    /// The phases the binary timed (`EA_PROFILE`): `name: N s (peak RSS M MiB)`.
    phases: Vec<String>,
}

fn timed(what: &'static str, args: &[&str]) -> Run {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(BIN)
        .args(args)
        .env("EA_PROFILE", "1")
        .output()
        .expect("/usr/bin/time is needed (apt-get install time)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{err}");
    let field = |name: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let wall_s = wall
        .split(':')
        .fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0));
    let cpu_s = field("User time (seconds):").parse::<f64>().unwrap_or(0.0)
        + field("System time (seconds):")
            .parse::<f64>()
            .unwrap_or(0.0);
    let peak_mb = field("Maximum resident set size (kbytes):")
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1024.0;
    let phases = err
        .lines()
        .filter_map(|l| l.strip_prefix("[ea-profile] "))
        .map(str::to_string)
        .collect();
    Run {
        what,
        wall_s,
        cpu_s,
        peak_mb,
        phases,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Reads every file of the inputs once; returns the seconds it took.
fn read_inputs(dump: &Path, spool: &Path) -> f64 {
    let t = Instant::now();
    let mut files = vec![dump.to_path_buf()];
    for sub in ["records", "running"] {
        for e in std::fs::read_dir(spool.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            files.push(e.path());
        }
    }
    for f in files {
        let _ = std::fs::read(f);
    }
    t.elapsed().as_secs_f64()
}

/// Files and bytes under a directory.
fn size_of(dir: &Path) -> (u64, u64) {
    let mut n = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(m) = e.metadata()
            && m.is_file()
        {
            n = (n.0 + 1, n.1 + m.len());
        }
    }
    n
}

fn generate(dir: &Path, jobs: u64) {
    if dir.join("sacct.txt").exists() && dir.join("postproc.toml").exists() {
        eprintln!("month: reusing {}", dir.display());
        return;
    }
    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_energy-assess"))
        .arg("--version")
        .status()
        .expect("the binary runs");
    assert!(status.success());
    std::fs::create_dir_all(dir).unwrap();
    let p = Params {
        jobs,
        ..Default::default()
    };
    let js = synth::jobs(&p);
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("sacct.txt")).unwrap());
    synth::write_dump(&p, &js, &mut w).unwrap();
    drop(w);
    let records = synth::write_records(&p, &js, &dir.join("spool")).unwrap();
    std::fs::write(dir.join("inventory.toml"), synth::inventory_toml(&p)).unwrap();
    std::fs::write(
        dir.join("postproc.toml"),
        format!(
            "[store]\npath = \"{0}/store.sqlite\"\n[site]\ncluster = \"{1}\"\ntimezone = \"UTC\"\ninventory = \"{0}/inventory.toml\"\n",
            dir.display(),
            p.cluster
        ),
    )
    .unwrap();
    eprintln!(
        "month: generated {jobs} jobs and {records} node records in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let jobs: u64 = std::env::var("EA_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir: PathBuf = std::env::var_os("EA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ea-bench-month-{jobs}")));
    generate(&dir, jobs);
    for f in ["store.sqlite", "store.sqlite-journal"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let config = dir.join("postproc.toml");
    let c = config.to_str().unwrap();
    let dump = dir.join("sacct.txt");
    let spool = dir.join("spool");
    let html = dir.join("report.html");
    let warm_s = read_inputs(&dump, &spool);
    let load_before = load_average();
    let runs = [
        timed(
            "ingest (dump + records)",
            &[
                "ingest",
                "--config",
                c,
                "-q",
                "--sacct",
                dump.to_str().unwrap(),
                "--spool",
                spool.to_str().unwrap(),
            ],
        ),
        timed(
            "report --month (html)",
            &[
                "report",
                "--config",
                c,
                "--month",
                "2026-11",
                "--format",
                "html",
                "-o",
                html.to_str().unwrap(),
            ],
        ),
        timed(
            "acct, one user's month",
            &[
                "acct",
                "--config",
                c,
                "-u",
                "user0100",
                "-S",
                "2026-11-01",
                "-E",
                "2026-12-01",
                "-X",
                "-o",
                "JobID,Elapsed,Energy,EnergySource,GWP",
            ],
        ),
    ];
    println!("\nmonth benchmark: {jobs} jobs, {}", dir.display());
    let dump_bytes = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    let (records, record_bytes) = size_of(&spool.join("records"));
    println!(
        "inputs: sacct -P dump {:.0} MB; {records} node records, {:.2} GB of JSON; read once beforehand in {warm_s:.1} s",
        dump_bytes as f64 / 1e6,
        record_bytes as f64 / 1e9
    );
    println!(
        "load average before: {load_before}; after: {}",
        load_average()
    );
    println!(
        "{:<28} {:>10} {:>10} {:>12}",
        "step", "wall s", "CPU s", "peak MiB"
    );
    for r in &runs {
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>12.0}",
            r.what, r.wall_s, r.cpu_s, r.peak_mb
        );
        for p in &r.phases {
            println!("    {p}");
        }
    }
    let end_to_end = runs[0].wall_s + runs[1].wall_s;
    let peak = runs[0].peak_mb.max(runs[1].peak_mb);
    println!(
        "ingest + report: {end_to_end:.2} s (target 10 s), peak {peak:.0} MiB (target 1024 MiB); one user's month {:.0} ms (target 100 ms)",
        runs[2].wall_s * 1000.0
    );
}
