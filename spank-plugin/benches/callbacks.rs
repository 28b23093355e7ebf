//! The plugin's own work in job_prolog and job_epilog, timed in-process (no Slurm): what an
//! assessed job pays on each node on top of Slurm's cost of running a SPANK prolog, which
//! `tests/bench/overhead.sh` measures on the real cluster.
//!
//! `cargo bench -p energy-assess-spank --bench callbacks [-- RUNS]`

use energy_assess::host::{Context, Level, OptionValue, SpankHost};
use energy_assess::plugin;
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct BenchHost {
    env: HashMap<&'static str, String>,
    job_id: u32,
}

impl SpankHost for BenchHost {
    fn context(&self) -> Context {
        Context::JobScript
    }
    fn job_id(&self) -> Option<u32> {
        Some(self.job_id)
    }
    fn job_uid(&self) -> Option<u32> {
        Some(1001)
    }
    fn job_gid(&self) -> Option<u32> {
        Some(1001)
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn node_name(&self) -> Option<String> {
        self.env.get("SLURMD_NODENAME").cloned()
    }
    fn job_alloc(&self) -> (Option<String>, Option<u64>) {
        (None, None)
    }
    fn option(&self) -> OptionValue {
        OptionValue::Given(None)
    }
    fn write_as_user(&self, _: &std::path::Path, _: &str, _: &[u8], _: u32, _: u32) -> Result<(), String> {
        Ok(())
    }
    fn log(&self, level: Level, msg: &str) {
        if level == Level::Error {
            eprintln!("{msg}");
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("ea-bench-callbacks-{}", std::process::id()));
    let spool = dir.join("spool");
    let args = vec![format!("spool={}", spool.display()), format!("config={}/absent.toml", dir.display())];
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
        let host = BenchHost { env: env.clone(), job_id };
        let t = Instant::now();
        plugin::job_prolog(&host, &args);
        prolog.push(t.elapsed());
        let t = Instant::now();
        plugin::job_epilog(&host, &args);
        epilog.push(t.elapsed());
    }
    let written = std::fs::read_dir(spool.join("records")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, runs, "every prolog/epilog pair must leave one record");
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{runs} jobs, node 512 of a 512-node job, spool on {}:\n  job_prolog median {:?}  max {:?}\n  job_epilog median {:?}  max {:?}",
        std::env::temp_dir().display(),
        median(prolog.clone()),
        prolog.iter().max().unwrap(),
        median(epilog.clone()),
        epilog.iter().max().unwrap(),
    );
}
