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
// 20 public items have no doc comment yet (issue 13): the workspace's missing_docs lint is
// allowed in this crate until they are written; remove this line then.
#![allow(missing_docs)]

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
            .env("PLUGIN_SO", bin.join("libenergy_assess_spank.so"))
            .env("SAMPLER", bin.join("energy-assess-sampler"))
            .env("FORWARDER", bin.join("energy-assess-forwarder"))
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
        self.set_site_config_with(Path::new(SPOOL), extra, "");
    }

    /// [`Cluster::set_site_config`] with another spool and `meters_extra` keys added to the
    /// `[meters]` section (the simulated meters' keys may be overridden by them).
    pub fn set_site_config_with(&self, spool: &Path, extra: &str, meters_extra: &str) {
        let overridden: Vec<&str> = meters_extra
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .collect();
        let meters: String = self
            .meters_section
            .lines()
            .filter(|l| {
                l.split_once('=')
                    .is_none_or(|(k, _)| !overridden.contains(&k.trim()))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!(
            "# written by the e2e tests\nspool = \"{}\"\n{extra}\n{meters}{meters_extra}\n",
            spool.display()
        );
        fs::write(SITE_CONFIG, text).unwrap();
    }

    /// The pid of the job's sampler on `node`, once its pid file is there.
    pub fn sampler_pid(&self, job: u32, node: &str, timeout: Duration) -> u32 {
        let path = self.spool.running_path(job, node, "sampler.pid");
        let mut pid = None;
        wait_until(timeout, &format!("{}", path.display()), || {
            pid = ea_record::spool::read_json::<serde_json::Value>(&path)
                .ok()
                .and_then(|v| v["pid"].as_u64());
            pid.is_some()
        });
        pid.unwrap() as u32
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
        // running/ has a directory per node (and flat files of the layout before).
        let node_dirs: Vec<PathBuf> = fs::read_dir(self.spool.running_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        [
            self.spool.job_records_dir(job),
            self.spool.records_dir(),
            self.spool.running_dir(),
        ]
        .into_iter()
        .chain(node_dirs)
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
            "-p",
            "ea-forward",
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

/// Where tests/cluster/up.sh installs the plugin and names it in plugstack.conf.
pub const PLUGIN_PATH: &str = "/usr/local/lib/slurm-spank/energy_assess.so";
pub const PLUGSTACK_FILE: &str = "/etc/slurm/plugstack.conf.d/energy-assess.conf";

/// The plugin's plugstack line replaced for one test, and put back as it was (so that the
/// next `acquire` finds nothing changed and restarts no slurmd).
pub struct PlugstackLine {
    before: String,
}

impl PlugstackLine {
    /// Writes `line` (e.g. `optional /usr/local/.../energy_assess.so config=...`).
    pub fn set(line: &str) -> Self {
        let before = fs::read_to_string(PLUGSTACK_FILE).expect("the plugstack file");
        fs::write(PLUGSTACK_FILE, format!("{line}\n")).unwrap();
        Self { before }
    }

    /// The line up.sh wrote, with its `optional` (or `required`) replaced by `kind` and `args`
    /// added.
    pub fn with(kind: &str, args: &str) -> Self {
        let before = fs::read_to_string(PLUGSTACK_FILE).expect("the plugstack file");
        let rest = before.trim();
        let rest = rest
            .strip_prefix("optional")
            .or_else(|| rest.strip_prefix("required"))
            .unwrap_or(rest)
            .trim();
        Self::set(&format!("{kind} {rest} {args}"))
    }
}

impl Drop for PlugstackLine {
    fn drop(&mut self) {
        let _ = fs::write(PLUGSTACK_FILE, &self.before);
    }
}

/// The installed plugin moved away for one test (as an uninstall would), and put back.
pub struct PluginRemoved;

impl PluginRemoved {
    pub fn now() -> Self {
        fs::rename(PLUGIN_PATH, format!("{PLUGIN_PATH}.removed")).expect("move the plugin");
        PluginRemoved
    }
}

impl Drop for PluginRemoved {
    fn drop(&mut self) {
        let _ = fs::rename(format!("{PLUGIN_PATH}.removed"), PLUGIN_PATH);
    }
}

/// A small tmpfs for a spool, that a test can fill or make read-only; unmounted on drop.
pub struct TmpfsSpool {
    pub path: PathBuf,
}

impl TmpfsSpool {
    pub fn mount(name: &str, size: &str) -> Self {
        let path = PathBuf::from(format!("/var/tmp/ea-e2e-{name}"));
        let _ = run("umount", &["-l", path.to_str().unwrap()]);
        fs::create_dir_all(&path).unwrap();
        let out = run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
                path.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "mount a tmpfs: {}", stderr(&out));
        Self { path }
    }

    /// Read-only (`true`) or writable again.
    pub fn read_only(&self, ro: bool) {
        let opt = if ro { "remount,ro" } else { "remount,rw" };
        // A sampler writing its checkpoint at that moment makes the remount busy: try again.
        let mut out = run("mount", &["-o", opt, self.path.to_str().unwrap()]);
        for _ in 0..50 {
            if out.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            out = run("mount", &["-o", opt, self.path.to_str().unwrap()]);
        }
        assert!(out.status.success(), "mount -o {opt}: {}", stderr(&out));
    }

    /// Fills every free byte (`true`) or frees them again.
    pub fn full(&self, full: bool) {
        let ballast = self.path.join("ballast");
        if full {
            let _ = run(
                "dd",
                &[
                    "if=/dev/zero",
                    &format!("of={}", ballast.display()),
                    "bs=4k",
                ],
            );
        } else {
            fs::remove_file(&ballast).unwrap();
        }
    }
}

impl Drop for TmpfsSpool {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", self.path.to_str().unwrap()]);
    }
}

/// Stops and starts slurmctld, or node `n`'s slurmd, while jobs run (their state is kept).
pub fn restart_daemon(which: &str) {
    let (pidfile, start): (String, Vec<String>) = match which {
        "slurmctld" => (
            "/run/slurmctld.pid".into(),
            vec!["/usr/sbin/slurmctld".into()],
        ),
        node => (
            format!("/run/slurmd-{node}.pid"),
            vec!["/usr/sbin/slurmd".into(), "-N".into(), node.into()],
        ),
    };
    let pid = fs::read_to_string(&pidfile).unwrap().trim().to_string();
    assert!(run("kill", &["-TERM", &pid]).status.success());
    wait_until(Duration::from_secs(30), &format!("{which} to stop"), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    let args: Vec<&str> = start[1..].iter().map(String::as_str).collect();
    let out = run(&start[0], &args);
    assert!(out.status.success(), "start {which}: {}", stderr(&out));
    wait_until(
        Duration::from_secs(30),
        &format!("{which} to answer"),
        || run("scontrol", &["ping"]).status.success(),
    );
}

/// `energy-assess ingest` of `spool` and the last hour of the live sacct.
pub fn live_ingest(spool: &str) -> [&str; 8] {
    [
        "ingest",
        "--spool",
        spool,
        "--live",
        "--start",
        "now-1hours",
        "--end",
        "now",
    ]
}

/// A store of the tests' own, with a post-processor config naming the testbed's inventory;
/// removed on drop.
pub struct Store {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Store {
    pub fn new(tag: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("ea-e2e-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("postproc.toml");
        let inventory = repo().join("configs/inventory/testbed.toml");
        fs::write(
            &config,
            format!(
                "[store]\npath = \"{}/store.sqlite\"\n[site]\ncluster = \"testbed\"\ninventory = \"{}\"\n",
                dir.display(),
                inventory.display()
            ),
        )
        .unwrap();
        Store { dir, config }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("store.sqlite")
    }

    /// `energy-assess ARGS --config <this store's>`, as root.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        run(energy_assess_bin().to_str().unwrap(), &all)
    }

    /// [`Store::run`], which must succeed; its standard output.
    pub fn ea(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "energy-assess {args:?}: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
