//! Fixture for the end-to-end tests: a real local Slurm cluster with the freshly built plugin,
//! and simulated meters on its nodes (this machine has no RAPL, GPU or BMC).
//!
//! [`Cluster::acquire`] builds the plugin, the sampler and the simulators, runs
//! `tests/cluster/up.sh` (idempotent: it installs, starts and restarts only what is needed)
//! and `tests/sim/nodes.sh start`, writes the default site config, and holds an exclusive file
//! lock for the duration of the test, so tests that change the site config never overlap,
//! whichever runner (nextest processes or cargo-test threads) runs them. It needs root, as
//! Slurm does.
//!
//! Nothing here mocks Slurm: jobs are submitted with the real sbatch/srun/salloc as the
//! unprivileged test user, and results are read from the spool, `sacct` and the slurmd logs.
#![forbid(unsafe_code)]

use ea_record::JobNodeRecord;
use ea_record::spool::Spool;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TEST_USER: &str = "alice";
pub const SITE_CONFIG: &str = "/etc/slurm/energy-assess.toml";
pub const SPOOL: &str = "/var/spool/energy-assess";
const LOCK_FILE: &str = "/var/lib/energy-assess-testbed/e2e.lock";
pub const NODES: usize = 3;

static IN_PROCESS: Mutex<()> = Mutex::new(());

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Exclusive use of the local cluster for one test.
pub struct Cluster {
    _lock: File,
    _thread: std::sync::MutexGuard<'static, ()>,
    log_offsets: Vec<(PathBuf, u64)>,
    pub spool: Spool,
    /// The `[meters]` section that points the plugin at the simulated meters.
    pub meters_section: String,
}

impl Cluster {
    /// Brings the cluster up with the current plugin and takes it for this test.
    ///
    /// # Panics
    /// When not root, or when the build or the cluster fails: these tests cannot run then,
    /// and saying so loudly beats skipping.
    pub fn acquire() -> Cluster {
        let thread = IN_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            is_root(),
            "the end-to-end tests start Slurm daemons and need root; run them with tests/run-all.sh as root"
        );
        fs::create_dir_all(Path::new(LOCK_FILE).parent().unwrap()).unwrap();
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_FILE)
            .unwrap();
        lock.lock().expect("lock the test cluster");

        let bin = build();
        let up = repo().join("tests/cluster/up.sh");
        let out = Command::new(&up)
            .env("PLUGIN_SO", bin.join("libenergy_assess.so"))
            .env("SAMPLER", bin.join("energy-assess-sampler"))
            .env("NODES", NODES.to_string())
            .output()
            .expect("run tests/cluster/up.sh");
        assert!(
            out.status.success(),
            "tests/cluster/up.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let sims = Command::new(repo().join("tests/sim/nodes.sh"))
            .arg("start")
            .env("NODES", NODES.to_string())
            .env("BIN_DIR", &bin)
            .output()
            .expect("run tests/sim/nodes.sh");
        assert!(
            sims.status.success(),
            "tests/sim/nodes.sh start failed: {}",
            stderr(&sims)
        );
        let meters_section = String::from_utf8_lossy(&sims.stdout).into_owned();
        let log_offsets = slurmd_logs()
            .into_iter()
            .map(|p| {
                let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, len)
            })
            .collect();
        let c = Cluster {
            _lock: lock,
            _thread: thread,
            log_offsets,
            spool: Spool::new(SPOOL),
            meters_section,
        };
        c.set_site_config("");
        c
    }

    /// Writes the site config for this test: the spool, `extra` top-level keys, and the
    /// simulated meters (restored by the next `acquire`).
    pub fn set_site_config(&self, extra: &str) {
        let text = format!(
            "# written by the e2e tests\nspool = \"{SPOOL}\"\n{extra}\n{}",
            self.meters_section
        );
        fs::write(SITE_CONFIG, text).unwrap();
    }

    /// Replaces the site config with exactly `toml` (for tests of broken configs).
    pub fn set_raw_site_config(&self, toml: &str) {
        fs::write(SITE_CONFIG, toml).unwrap();
    }

    /// What the slurmd logs gained since this test acquired the cluster.
    pub fn slurmd_log(&self) -> String {
        let mut text = String::new();
        for (path, offset) in &self.log_offsets {
            let bytes = fs::read(path).unwrap_or_default();
            let start = (*offset as usize).min(bytes.len());
            text.push_str(&String::from_utf8_lossy(&bytes[start..]));
        }
        text
    }

    /// Submits a batch job as the test user, from a fresh working directory; returns its id.
    pub fn sbatch(&self, args: &[&str], script: &str) -> u32 {
        self.sbatch_in(&user_workdir(), args, script)
    }

    /// Submits a batch job as the test user from `dir`; returns its id.
    pub fn sbatch_in(&self, dir: &Path, args: &[&str], script: &str) -> u32 {
        let mut all = vec!["--parsable", "-o", "slurm-%j.out"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--wrap", script]);
        let out = as_user(dir, "sbatch", &all);
        assert!(
            out.status.success(),
            "sbatch {all:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap()
            .parse()
            .expect("sbatch --parsable prints the job id")
    }

    /// Waits until Slurm has forgotten the job in squeue (past CG: every epilog has run).
    pub fn wait_gone(&self, job: u32, timeout: Duration) {
        wait_until(timeout, &format!("job {job} to leave squeue"), || {
            let out = run("squeue", &["-h", "-j", &job.to_string(), "-o", "%T"]);
            String::from_utf8_lossy(&out.stdout).trim().is_empty()
        });
    }

    /// Waits until the job is RUNNING.
    pub fn wait_running(&self, job: u32, timeout: Duration) {
        wait_until(timeout, &format!("job {job} to run"), || {
            let out = run("squeue", &["-h", "-j", &job.to_string(), "-o", "%T"]);
            String::from_utf8_lossy(&out.stdout).trim() == "RUNNING"
        });
    }

    /// The final records of a job, after waiting for `expected` of them (or the timeout).
    pub fn records(&self, job: u32, expected: usize, timeout: Duration) -> Vec<JobNodeRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let (records, errors) = self.spool.job_records(job);
            assert!(errors.is_empty(), "unreadable records: {errors:?}");
            if records.len() >= expected || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Any file of this job in the spool, final or running.
    pub fn any_spool_file(&self, job: u32) -> Vec<PathBuf> {
        let prefix = format!("job-{job}.");
        [self.spool.records_dir(), self.spool.running_dir()]
            .iter()
            .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect()
    }

    /// `sacct -X -P -n` fields of the job's allocation, once its state is final.
    pub fn sacct(&self, job: u32, fields: &str) -> Vec<String> {
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = run(
                "sacct",
                &[
                    "-X",
                    "-P",
                    "-n",
                    "-j",
                    &job.to_string(),
                    &format!("--format=State,{fields}"),
                ],
            );
            last = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let mut cols: Vec<String> = last.split('|').map(str::to_string).collect();
            let state = cols.first().cloned().unwrap_or_default();
            if !state.is_empty()
                && !["PENDING", "RUNNING", "COMPLETING", "REQUEUED"].contains(&state.as_str())
            {
                cols.remove(0);
                return cols;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("sacct never showed job {job} final; last output: {last:?}");
    }

    /// Nodes that are drained, down or failing, as `sinfo` says.
    pub fn unhealthy_nodes(&self) -> Vec<String> {
        let out = run("sinfo", &["-h", "-N", "-o", "%N %T"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| ["drain", "down", "fail"].iter().any(|s| l.contains(s)))
            .map(str::to_string)
            .collect()
    }
}

fn is_root() -> bool {
    run("id", &["-u"]).stdout.starts_with(b"0\n")
}

fn slurmd_logs() -> Vec<PathBuf> {
    (1..=NODES)
        .map(|i| PathBuf::from(format!("/var/log/slurm/slurmd-n{i}.log")))
        .collect()
}

/// Builds the plugin, the sampler, the powercap simulator and the fake NVML (the same dev
/// profile as the tests, so nothing is compiled twice; a no-op when fresh) and returns the
/// directory that holds them.
fn build() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(repo())
        .args([
            "build",
            "-p",
            "energy-assess-spank",
            "-p",
            "ea-meters",
            "--bins",
            "--lib",
        ])
        .args(["-p", "ea-sim", "-p", "fake-nvml", "-p", "energy-assess"])
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the plugin and simulators failed:\n{}",
        stderr(&out)
    );
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target"));
    target.join("debug")
}

/// The `energy-assess` binary built by [`Cluster::acquire`].
pub fn energy_assess_bin() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target"));
    target.join("debug/energy-assess")
}

/// The constant powers tests/sim/nodes.sh gives node `k` (1-based): see that script.
pub mod sim {
    pub fn package_w(k: u32) -> f64 {
        (40 + 10 * k) as f64
    }
    pub fn dram_w(k: u32) -> f64 {
        (5 + k) as f64
    }
    pub fn psys_w(k: u32) -> f64 {
        package_w(k) + dram_w(k) + 20.0
    }
    /// GPU `g` of node `k`, on the first two nodes.
    pub fn gpu_w(k: u32, g: u32) -> f64 {
        (100 + 50 * g) as f64 - (10 * k) as f64
    }
    pub fn gpu_uuid(k: u32, g: u32) -> String {
        format!("GPU-simulated-n{k}-{g}")
    }
    pub fn bmc_w(k: u32) -> f64 {
        (250 + 25 * k) as f64
    }
}

/// A new directory owned by the test user, to submit from.
pub fn user_workdir() -> PathBuf {
    let out = Command::new("runuser")
        .args(["-u", TEST_USER, "--", "mktemp", "-d", "/tmp/ea-e2e-XXXXXX"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mktemp as {TEST_USER}: {}",
        stderr(&out)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs a Slurm command as the test user in `dir`.
pub fn as_user(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new("runuser")
        .current_dir(dir)
        .args(["-u", TEST_USER, "--", program])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Runs a command as root.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn wait_until(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Seconds since the epoch, now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
