//! The plugin's own work in job_prolog and job_epilog, timed in-process (no Slurm): what an
//! assessed job pays on each node on top of Slurm's cost of running a SPANK prolog, which
//! `tests/bench/overhead.sh` measures on the real cluster.
//!
//! Two runs: without meters (this machine has none, so no sampler is started: the cost is the
//! configuration, the records and their fsyncs), and with three RAPL zones in a static powercap
//! tree under a `sysroot`, so that job_prolog starts the job's sampler (the release
//! `energy-assess-sampler`, next to this benchmark: `cargo build --release -p ea-meters`) and
//! job_epilog asks it for its final reading and waits for it.
//!
//! `cargo bench -p energy-assess-spank --bench callbacks [-- RUNS]`

use energy_assess_spank::host::{FixedHost, Level};
use energy_assess_spank::plugin;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A powercap tree with a package, its core sub-zone and a dram zone, counters standing still.
fn static_powercap(sysroot: &std::path::Path) {
    for (zone, name) in [
        ("intel-rapl:0", "package-0"),
        ("intel-rapl:0:0", "core"),
        ("intel-rapl:1", "dram"),
    ] {
        let d = sysroot.join("sys/class/powercap").join(zone);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), "123456789\n").unwrap();
        std::fs::write(d.join("max_energy_range_uj"), "262143328850\n").unwrap();
        std::fs::write(d.join("enabled"), "1\n").unwrap();
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("ea-bench-callbacks-{}", std::process::id()));
    let bare = vec![
        format!("spool={}", dir.join("spool").display()),
        format!("config={}/absent.toml", dir.display()),
    ];
    run("without meters", &dir.join("spool"), &bare, runs);
    // target/release/deps/callbacks-HASH -> target/release/energy-assess-sampler
    let sampler = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("energy-assess-sampler");
    if sampler.is_file() {
        let sysroot = dir.join("node");
        static_powercap(&sysroot);
        let metered = vec![
            format!("spool={}", dir.join("spool-metered").display()),
            format!("config={}/absent.toml", dir.display()),
            format!("sysroot={}", sysroot.display()),
            format!("sampler={}", sampler.display()),
        ];
        run(
            "3 RAPL zones, sampler started and stopped",
            &dir.join("spool-metered"),
            &metered,
            runs.min(50),
        );
    } else {
        println!(
            "no {}: cargo build --release -p ea-meters, for the run with a sampler",
            sampler.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn run(what: &str, spool: &std::path::Path, args: &[String], runs: usize) {
    let mut env: HashMap<&'static str, String> = [
        ("SLURMD_NODENAME", "n1"),
        ("SLURM_CLUSTER_NAME", "bench"),
        ("SLURM_JOB_USER", "alice"),
        ("SLURM_JOB_ACCOUNT", "energy"),
        ("SLURM_JOB_PARTITION", "debug"),
        ("SLURM_NODELIST", "n[1-512]"),
        ("SLURM_JOB_NUM_NODES", "512"),
        ("SLURM_JOB_CPUS_PER_NODE", "64(x512)"),
        ("SLURM_JOB_EXIT_CODE", "0"),
        ("SLURM_JOB_EXIT_CODE2", "0:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    env.insert("SLURMD_NODENAME", "n512".into());

    let (mut prolog, mut epilog) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for job_id in 0..runs as u32 {
        let host = FixedHost {
            env: env.clone(),
            job_id,
            uid: 1001,
            gid: 1001,
            print_from: Level::Error,
        };
        let t = Instant::now();
        plugin::job_prolog(&host, args);
        prolog.push(t.elapsed());
        let t = Instant::now();
        plugin::job_epilog(&host, args);
        epilog.push(t.elapsed());
    }
    let records: Vec<_> = std::fs::read_dir(spool.join("records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        records.len(),
        runs,
        "every prolog/epilog pair must leave one record"
    );
    let meters = std::fs::read_to_string(&records[0])
        .unwrap()
        .matches("\"energy_j\"")
        .count();
    println!(
        "{what}: {runs} jobs, node 512 of a 512-node job, spool on {}, {meters} meters in a record:\n  job_prolog median {:?}  max {:?}\n  job_epilog median {:?}  max {:?}",
        std::env::temp_dir().display(),
        median(prolog.clone()),
        prolog.iter().max().unwrap(),
        median(epilog.clone()),
        epilog.iter().max().unwrap(),
    );
}
