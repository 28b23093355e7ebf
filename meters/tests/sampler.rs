//! The real sampler binary, started by `start_job` and stopped by `finish_job`, against
//! simulated hardware: the powercap simulator (`ea-sim`, small counter ranges so that counters
//! wrap every second or two), the fake libnvidia-ml (`fake-nvml`, loaded by nvml-wrapper by
//! path), the fake ipmitool (`tests/sim/fake-ipmitool`) and a hwmon power file.
//!
//! Energies are checked against what the simulators produced: for RAPL, the exact true energy
//! between the two raw values the report names (from the simulator's truth log); for the
//! constant-power meters, power × the job's duration.

use ea_meters::sampler::{JobFiles, PidFile};
use ea_meters::{JobOnNode, Measurement, NodeConfig, Sources, cleanup_job, finish_job, start_job};
use ea_record::spool::{Spool, read_json};
use ea_record::{MeterFlag, MeterReport, Method, RecordFlag, Scope};
use ea_sim::{PowercapSim, Stepping, TruthLine, layout, read_truth_log, true_energy_between_raws};
use nvidia_ml_fake::{FakeConfig, FakeGpu, now_unix_s};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[path = "sampler/ffi.rs"]
mod ffi;

const GPU_A: &str = "GPU-11111111-2222-3333-4444-555555555555";
const GPU_B: &str = "GPU-66666666-7777-8888-9999-000000000000";
/// 100 J: at 60 W the package counter wraps every 1.7 s.
const MAX_RANGE_UJ: u64 = 100_000_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ea-sampler-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One simulated node: a sysroot with a running powercap simulation, two fake GPUs, a BMC
/// wattage file and a hwmon power sensor.
struct SimNode {
    /// Declared first, so stopped before `root` is removed (fields drop in order).
    _sim: Stepping,
    root: TempDir,
    truth: PathBuf,
}

const PACKAGE_W: f64 = 60.0;
const DRAM_W: f64 = 8.0;
const PSYS_W: f64 = 95.0;
const GPU_A_W: f64 = 250.0;
const GPU_B_W: f64 = 75.0;
const BMC_W: f64 = 420.0;
const HWMON_W: f64 = 35.0;

impl SimNode {
    fn start(tag: &str, package_w: f64) -> Self {
        let root = TempDir::new(tag);
        let truth = root.0.join("truth.log");
        let zones = layout(&[
            ("package-0".into(), package_w),
            ("package-0/dram".into(), DRAM_W),
            ("psys".into(), PSYS_W),
        ])
        .unwrap();
        // Start near the top of the range so the first wrap comes at once.
        let sim = PowercapSim::create(
            &root.0,
            zones,
            MAX_RANGE_UJ,
            MAX_RANGE_UJ - 5_000_000,
            Some(&truth),
        )
        .unwrap()
        .step_every(Duration::from_millis(20));
        let since = now_unix_s() - 3600.0;
        let mut old = FakeGpu::new(GPU_B, "Tesla P100-PCIE-16GB (fake)", GPU_B_W, since);
        old.energy_counter = false;
        let config = FakeConfig {
            init_error: None,
            driver_version: "999.1-fake".into(),
            gpus: vec![
                FakeGpu::new(GPU_A, "NVIDIA H100 80GB HBM3 (fake)", GPU_A_W, since),
                old,
            ],
        };
        // Found by the fake through EA_SYSROOT, which start_job sets for the sampler.
        config.write(&root.0.join("fake-nvml.json")).unwrap();
        std::fs::write(root.0.join("fake-ipmi-watts"), format!("{BMC_W}\n")).unwrap();
        let hwmon = root.0.join("sys/class/hwmon/hwmon0");
        std::fs::create_dir_all(&hwmon).unwrap();
        std::fs::write(hwmon.join("name"), "power_meter\n").unwrap();
        std::fs::write(
            hwmon.join("power1_average"),
            format!("{}\n", (HWMON_W * 1e6) as u64),
        )
        .unwrap();
        Self {
            _sim: sim,
            root,
            truth,
        }
    }

    fn path(&self) -> &Path {
        &self.root.0
    }

    /// The truth log, once it covers every value written before this call: the simulator
    /// writes a step's files before its log lines, so a value a reader has just seen may not
    /// be logged yet (a loaded machine can hold the simulator's thread between the two). Its
    /// steps run one after the other: a line stamped after this call ends an earlier step.
    fn truth(&self) -> Vec<TruthLine> {
        let asked = (now_unix_s() * 1e6) as u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = read_truth_log(&self.truth).unwrap();
            if log.last().is_some_and(|l| l.t_unix_us > asked) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the simulator logged nothing for 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn fake_nvml_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libnvidia_ml_fake.so"))
        .find(|p| p.exists())
        .expect("libnvidia_ml_fake.so is built next to the tests (fake-nvml is a dev-dependency)")
}

fn config(node: &SimNode, interval_ms: u64) -> NodeConfig {
    let ipmitool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sim/fake-ipmitool");
    NodeConfig {
        sysroot: node.path().to_path_buf(),
        interval: Duration::from_millis(interval_ms),
        ipmi_command: Some(vec![
            ipmitool.display().to_string(),
            "dcmi".into(),
            "power".into(),
            "reading".into(),
        ]),
        ipmi_timeout: Duration::from_secs(3),
        nvml_library: Some(fake_nvml_lib()),
        sources: Sources::all(),
        sampler_exe: PathBuf::from(env!("CARGO_BIN_EXE_energy-assess-sampler")),
        stop_timeout: Duration::from_secs(2),
        max_lifetime: Duration::from_secs(120),
        ..NodeConfig::default()
    }
}

fn job(spool: &Path, job_id: u32, node: &str, gpus: &[&str]) -> JobOnNode {
    JobOnNode {
        spool: Spool::new(spool),
        job_id,
        node: node.into(),
        job_gpus: gpus.iter().map(|s| s.to_string()).collect(),
    }
}

fn meter<'a>(m: &'a Measurement, id: &str) -> &'a MeterReport {
    m.meters.iter().find(|r| r.id == id).unwrap_or_else(|| {
        panic!(
            "no meter {id} in {:#?}\nabsent: {:#?}\nnotes: {:#?}",
            m.meters, m.absent_meters, m.notes
        )
    })
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want,
        "{what}: measured {got:.3} J, expected {want:.3} J (±{:.1} %)",
        rel * 100.0
    );
}

/// RAPL: the exact true energy between the report's first and last raw values.
fn check_rapl(m: &Measurement, node: &SimNode, dir: &str, min_wraps: u32) {
    let r = meter(m, &format!("rapl:{dir}"));
    assert_eq!(r.method, Method::Counter);
    let truth = true_energy_between_raws(
        &node.truth(),
        dir,
        r.first_raw.unwrap(),
        r.last_raw.unwrap(),
    )
    .unwrap_or_else(|| {
        panic!(
            "{dir}: raw values {:?}..{:?} not in the truth log",
            r.first_raw, r.last_raw
        )
    });
    assert_close(dir, r.energy_j, truth, 0.01);
    assert!(r.wraps >= min_wraps, "{dir}: {} wraps", r.wraps);
    assert_eq!(r.max_raw, Some(MAX_RANGE_UJ));
    if r.wraps > 0 {
        assert!(r.flags.contains(&MeterFlag::Wrapped));
    }
}

/// Constant-power meters: power × the job's duration on this node, which lies between the
/// time just before start_job and the time just after finish_job.
/// How long a job lasted, as the test can know it: the measured interval starts inside
/// `start_job` and ends inside `finish_job`, so it is at least the time from the return of the
/// one to the call of the other, and at most the time from the call of the one to the return of
/// the other. On a loaded machine the two calls take tens of milliseconds, enough for a single
/// figure to be more than 1 % off over a few seconds.
#[derive(Debug, Clone, Copy)]
struct Span {
    inner_s: f64,
    outer_s: f64,
}

impl Span {
    /// From the times (Unix s) before and after `start_job` and before and after `finish_job`.
    fn new(start_call: f64, start_return: f64, finish_call: f64, finish_return: f64) -> Span {
        Span {
            inner_s: finish_call - start_return,
            outer_s: finish_return - start_call,
        }
    }
}

/// A meter at constant power: its energy is that power over the job's span, within `rel`.
fn check_constant<'a>(
    m: &'a Measurement,
    id: &str,
    power_w: f64,
    span: Span,
    rel: f64,
) -> &'a MeterReport {
    let r = meter(m, id);
    let (lo, hi) = (
        power_w * span.inner_s * (1.0 - rel),
        power_w * span.outer_s * (1.0 + rel),
    );
    assert!(
        (lo..=hi).contains(&r.energy_j),
        "{id}: measured {:.3} J, expected {power_w} W over {span:?}: {lo:.3} to {hi:.3} J",
        r.energy_j
    );
    let p = r.power_w.unwrap();
    assert!(
        (p.mean - power_w).abs() < rel * power_w * 1.5,
        "{id}: mean {} W",
        p.mean
    );
    r
}

#[test]
fn sampler_measures_simulated_hardware_with_wraps_and_shared_node() {
    let node = SimNode::start("main", PACKAGE_W);
    let spool = TempDir::new("spool");
    let cfg = config(&node, 250);
    let job1 = job(&spool.0, 101, "n1", &["0"]);
    let job2 = job(&spool.0, 102, "n1", &[GPU_B]);

    let t0 = now_unix_s();
    let started = start_job(&cfg, &job1);
    let t0r = now_unix_s();
    assert!(started.sampler_pid.is_some(), "{:?}", started.notes);
    assert!(started.host.boot_id.is_some());
    std::thread::sleep(Duration::from_secs(3));
    // A second job on the same node, for part of the first one's time.
    let t2 = now_unix_s();
    let started2 = start_job(&cfg, &job2);
    let t2r = now_unix_s();
    assert_ne!(started2.sampler_pid, started.sampler_pid);
    std::thread::sleep(Duration::from_secs(4));
    let t2f = now_unix_s();
    let m2 = finish_job(&cfg, &job2);
    let d2 = Span::new(t2, t2r, t2f, now_unix_s());
    std::thread::sleep(Duration::from_secs(3));
    let t1f = now_unix_s();
    let m1 = finish_job(&cfg, &job1);
    let d1 = Span::new(t0, t0r, t1f, now_unix_s());

    for (m, d, owned) in [(&m1, d1, [true, false]), (&m2, d2, [false, true])] {
        assert!(m.flags.is_empty(), "{:?} {:?}", m.flags, m.notes);
        let host = m.host.as_ref().unwrap();
        assert_eq!(
            host.gpus
                .iter()
                .map(|g| g.uuid.as_str())
                .collect::<Vec<_>>(),
            [GPU_A, GPU_B]
        );
        assert_eq!(m.job_gpu_uuids, [if owned[0] { GPU_A } else { GPU_B }]);
        check_rapl(m, &node, "intel-rapl:0", 1);
        check_rapl(m, &node, "intel-rapl:0:0", 0);
        check_rapl(m, &node, "intel-rapl:1", 1);
        assert_eq!(meter(m, "rapl:intel-rapl:1").scope, Scope::Platform);
        assert_eq!(meter(m, "rapl:intel-rapl:0:0").scope, Scope::Dram);
        let a = check_constant(m, &format!("nvml:{GPU_A}"), GPU_A_W, d, 0.01);
        assert_eq!(
            (a.method, a.job_owned, a.scope),
            (Method::Counter, Some(owned[0]), Scope::GpuBoard)
        );
        // The default cadence reads the counter at the first and the final reading only
        // (power between): the job's energy between them is their difference, whole; what
        // is more covers the prolog's start before the first reading and the end after it.
        let (first, last) = (a.first_raw.unwrap(), a.last_raw.unwrap());
        let counted_j = (last - first) as f64 / 1e3;
        assert!(
            counted_j > 0.8 * GPU_A_W * d.inner_s && a.energy_j >= counted_j,
            "{counted_j} J counted, {} J reported over {d:?}",
            a.energy_j
        );
        assert!(a.flags.is_empty(), "{:?}", a.flags);
        let b = check_constant(m, &format!("nvml:{GPU_B}"), GPU_B_W, d, 0.01);
        assert_eq!(
            (b.method, b.job_owned),
            (Method::IntegratedPower, Some(owned[1]))
        );
        assert!(b.flags.contains(&MeterFlag::PowerFallback));
        let bmc = check_constant(m, "ipmi:dcmi", BMC_W, d, 0.01);
        assert_eq!(bmc.scope, Scope::NodeBmc);
        check_constant(m, "hwmon:power_meter/power1", HWMON_W, d, 0.01);
        // Every 250 ms, plus the first and the final reading.
        let samples = meter(m, "rapl:intel-rapl:0").samples as f64;
        assert!(
            samples >= d.inner_s / 0.25 * 0.8 && samples <= d.outer_s / 0.25 + 3.0,
            "{samples} samples in {d:?}"
        );
        // The simulator steps every 20 ms and the sampler reads every 250 ms, both as
        // processes the scheduler may hold back. A reading that sees a late simulator step
        // moves energy from one bucket to the next: on a busy CI machine one bucket read
        // 43 W and the next 72 W for 60 W. So single buckets are checked loosely, pairs of
        // neighbours (where such a shift cancels) tightly, and the mean tighter still.
        let series = meter(m, "rapl:intel-rapl:0").series.as_ref().unwrap();
        // The last bucket can hold only the final reading's interval, a few milliseconds
        // after the previous one: a single simulator step makes it anything.
        let full = &series.watts[..series.watts.len() - 1];
        let off = |w: f32| (w - PACKAGE_W as f32).abs() / PACKAGE_W as f32;
        assert!(full.iter().all(|w| off(*w) < 0.5), "{:?}", series.watts);
        assert!(
            full.windows(2).all(|p| off((p[0] + p[1]) / 2.0) < 0.2),
            "{:?}",
            series.watts
        );
        let mean = full.iter().sum::<f32>() / full.len() as f32;
        assert!(
            (mean - PACKAGE_W as f32).abs() < 0.02 * PACKAGE_W as f32,
            "{mean}"
        );
    }
    // The samplers are gone, and their files go with cleanup.
    for (j, s) in [(&job1, &started), (&job2, &started2)] {
        assert!(!ea_meters::signals::is_running(s.sampler_pid.unwrap()));
        assert!(cleanup_job(j).is_empty());
        assert!(
            JobFiles::new(&j.spool, j.job_id, &j.node)
                .all()
                .iter()
                .all(|f| !f.exists())
        );
    }
}

#[test]
fn a_sampler_killed_mid_job_still_gives_complete_flagged_reports() {
    let node = SimNode::start("kill", PACKAGE_W);
    let spool = TempDir::new("spool-kill");
    let cfg = config(&node, 250);
    let j = job(&spool.0, 201, "n1", &["0"]);
    let t0 = now_unix_s();
    let started = start_job(&cfg, &j);
    let t0r = now_unix_s();
    let pid = started.sampler_pid.unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(ea_meters::signals::send(pid, libc::SIGKILL));
    // Less than half a wrap period of the fastest zone (psys: 100 J at 95 W, 1.05 s): the
    // epilog cannot see more than one wrap between the last checkpoint and its snapshot.
    std::thread::sleep(Duration::from_millis(300));
    let tf = now_unix_s();
    let m = finish_job(&cfg, &j);
    let d = Span::new(t0, t0r, tf, now_unix_s());
    assert_eq!(m.flags, [RecordFlag::SamplerDied], "{:?}", m.notes);
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("had died before the epilog")),
        "{:?}",
        m.notes
    );
    // Every meter is there, completed by the epilog's end snapshot over the time after the
    // kill.
    check_rapl(&m, &node, "intel-rapl:0", 1);
    check_rapl(&m, &node, "intel-rapl:1", 1);
    check_constant(&m, &format!("nvml:{GPU_A}"), GPU_A_W, d, 0.01);
    check_constant(&m, &format!("nvml:{GPU_B}"), GPU_B_W, d, 0.01);
    check_constant(&m, "ipmi:dcmi", BMC_W, d, 0.01);
    check_constant(&m, "hwmon:power_meter/power1", HWMON_W, d, 0.01);
    assert_eq!(m.meters.len(), 7);
    cleanup_job(&j);
}

#[test]
fn a_hung_sampler_is_killed_and_its_checkpoint_used() {
    let node = SimNode::start("hang", PACKAGE_W);
    let spool = TempDir::new("spool-hang");
    let cfg = NodeConfig {
        stop_timeout: Duration::from_millis(700),
        ..config(&node, 250)
    };
    let j = job(&spool.0, 301, "n1", &[]);
    let t0 = now_unix_s();
    let started = start_job(&cfg, &j);
    let t0r = now_unix_s();
    let pid = started.sampler_pid.unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // A stopped process neither answers SIGTERM nor exits: as hung as it gets.
    assert!(ea_meters::signals::send(pid, libc::SIGSTOP));
    let before = std::time::Instant::now();
    let tf = now_unix_s();
    let m = finish_job(&cfg, &j);
    let d = Span::new(t0, t0r, tf, now_unix_s());
    assert!(
        before.elapsed() < Duration::from_millis(3 * 700 + 500),
        "{:?}",
        before.elapsed()
    );
    assert_eq!(m.flags, [RecordFlag::SamplerKilled], "{:?}", m.notes);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!ea_meters::signals::is_running(pid));
    check_rapl(&m, &node, "intel-rapl:0", 1);
    check_constant(&m, &format!("nvml:{GPU_A}"), GPU_A_W, d, 0.01);
    assert_eq!(meter(&m, &format!("nvml:{GPU_A}")).job_owned, Some(false));
    check_constant(&m, "ipmi:dcmi", BMC_W, d, 0.01);
    cleanup_job(&j);
}

#[test]
fn three_nodes_on_one_host_do_not_interfere() {
    let nodes: Vec<SimNode> = [40.0, 60.0, 80.0]
        .iter()
        .enumerate()
        .map(|(i, w)| SimNode::start(&format!("n{i}"), *w))
        .collect();
    // One spool shared by the three nodes, as on a shared filesystem.
    let spool = TempDir::new("spool-3");
    let jobs: Vec<JobOnNode> = (0..3)
        .map(|i| job(&spool.0, 401, &format!("n{}", i + 1), &[]))
        .collect();
    let cfgs: Vec<NodeConfig> = nodes
        .iter()
        .map(|n| NodeConfig {
            sources: Sources::parse("rapl").unwrap(),
            ..config(n, 200)
        })
        .collect();
    let t0 = now_unix_s();
    for (c, j) in cfgs.iter().zip(&jobs) {
        assert!(start_job(c, j).sampler_pid.is_some());
    }
    std::thread::sleep(Duration::from_secs(3));
    let ms: Vec<Measurement> = cfgs
        .iter()
        .zip(&jobs)
        .map(|(c, j)| finish_job(c, j))
        .collect();
    let d = now_unix_s() - t0;
    for ((m, n), w) in ms.iter().zip(&nodes).zip([40.0, 60.0, 80.0]) {
        assert!(m.flags.is_empty(), "{:?}", m.notes);
        assert!(m.meters.iter().all(|r| r.id.starts_with("rapl:")));
        check_rapl(m, n, "intel-rapl:0", 1);
        let p = meter(m, "rapl:intel-rapl:0");
        assert!(
            (p.energy_j - w * d).abs() < 0.05 * w * d,
            "{} J at {w} W over {d} s",
            p.energy_j
        );
    }
    for j in &jobs {
        cleanup_job(j);
    }
}

#[test]
fn an_epilog_without_prolog_says_so() {
    let spool = TempDir::new("spool-none");
    let cfg = NodeConfig {
        sysroot: spool.0.clone(),
        sampler_exe: PathBuf::from(env!("CARGO_BIN_EXE_energy-assess-sampler")),
        ..NodeConfig::default()
    };
    let m = finish_job(&cfg, &job(&spool.0, 501, "n1", &[]));
    assert_eq!(m.flags, [RecordFlag::NoPrologState]);
    assert!(m.meters.is_empty());
    assert!(m.absent_meters[0].reason.contains("job_prolog did not run"));
}

#[test]
fn a_missing_sampler_binary_leaves_snapshots_only() {
    let node = SimNode::start("nobin", PACKAGE_W);
    let spool = TempDir::new("spool-nobin");
    let cfg = NodeConfig {
        sampler_exe: "/nonexistent/energy-assess-sampler".into(),
        ..config(&node, 250)
    };
    let j = job(&spool.0, 601, "n1", &[]);
    let started = start_job(&cfg, &j);
    assert!(started.sampler_pid.is_none());
    assert!(
        started
            .notes
            .iter()
            .any(|n| n.contains("cannot start the sampler")),
        "{:?}",
        started.notes
    );
    std::thread::sleep(Duration::from_millis(1200));
    let m = finish_job(&cfg, &j);
    assert_eq!(m.flags, [RecordFlag::SamplerDied]);
    // RAPL from the prolog's and the epilog's own snapshots (the end snapshot's child cannot
    // start either); the package wrapped at most once in 1.2 s at 60 W on a 100 J range.
    let r = meter(&m, "rapl:intel-rapl:0");
    assert!(r.flags.contains(&MeterFlag::SnapshotsOnly));
    assert_eq!(r.samples, 2);
    check_rapl(&m, &node, "intel-rapl:0", 0);
    assert!(m.meters.iter().all(|r| r.id.starts_with("rapl:")));
    cleanup_job(&j);
}

#[test]
fn pid_file_names_the_job() {
    let node = SimNode::start("pid", PACKAGE_W);
    let spool = TempDir::new("spool-pid");
    let cfg = config(&node, 500);
    let j = job(&spool.0, 701, "node.with/odd name", &[]);
    // A descriptor without close-on-exec, as slurmstepd may have: the sampler must not keep it.
    let marker = spool.0.join("inherited-marker");
    let file = std::fs::File::create(&marker).unwrap();
    // The copy (without FD_CLOEXEC) is closed below.
    let leaked = ffi::dup_inheritable(&file);
    assert!(leaked > 2);
    let started = start_job(&cfg, &j);
    ffi::close(leaked);
    let pid = started.sampler_pid.unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fds: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .collect();
    assert!(
        !fds.contains(&marker),
        "the sampler kept an inherited descriptor: {fds:?}"
    );
    // Its own session (field 6 of /proc/<pid>/stat is the session id).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let session: u32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, pid);
    let files = JobFiles::new(&j.spool, j.job_id, &j.node);
    let pf: PidFile = read_json(&files.pid).unwrap();
    assert_eq!(
        pf,
        PidFile {
            pid: started.sampler_pid.unwrap(),
            job_id: 701,
            node: "node.with/odd name".into()
        }
    );
    // Removing the job's files makes the sampler leave by itself.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(cleanup_job(&j).is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while ea_meters::signals::is_running(pf.pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !ea_meters::signals::is_running(pf.pid),
        "the sampler outlived its job's files"
    );
}

/// Waits until `pid` has exited (a zombie counts), at most `limit`.
fn wait_exit(pid: u32, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while ea_meters::signals::is_running(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A started record as the prolog writes it, and the first step's note (an extern step).
fn write_started(j: &JobOnNode, extern_step: bool) {
    j.spool.ensure_node(&j.node).unwrap();
    let record = ea_record::JobNodeRecord {
        schema_version: ea_record::SCHEMA_VERSION,
        state: ea_record::RecordState::Started,
        cluster: Some("testbed".into()),
        job_id: j.job_id,
        array_job_id: None,
        array_task_id: None,
        uid: 1001,
        gid: 1001,
        user: Some("alice".into()),
        account: None,
        partition: None,
        node: j.node.clone(),
        node_list: Some(j.node.clone()),
        num_nodes: Some(1),
        cpus_on_node: Some(2),
        allocation: None,
        start: Some(ea_record::UnixMicros::now()),
        end: None,
        exit: None,
        mode: ea_record::AssessMode {
            trigger: ea_record::Trigger::Option,
            requested: None,
            summary: false,
        },
        plugin_version: "test".into(),
        slurm_version: "22.05.8".into(),
        host: None,
        meters: Vec::new(),
        absent_meters: Vec::new(),
        flags: Vec::new(),
        summary_error: None,
    };
    ea_record::spool::write_record_atomic(&j.spool.started_path(j.job_id, &j.node), &record)
        .unwrap();
    let held = ea_record::spool::HeldOnNode {
        extern_step,
        allocation: ea_record::NodeAllocation {
            memory_mb: Some(1024),
            ..Default::default()
        },
        ..Default::default()
    };
    ea_record::spool::write_json_atomic(
        &j.spool.running_path(j.job_id, &j.node, "alloc.json"),
        &held,
    )
    .unwrap();
}

/// `/proc/net/unix` as it reads while Slurm runs the job's extern step on the node, or not.
fn write_listing(path: &Path, j: &JobOnNode, running: bool) {
    let mut text = "Num       RefCount Protocol Flags    Type St Inode Path\n".to_string();
    if running {
        text.push_str(&format!(
            "0000000000000000: 00000002 00000000 00010000 0001 01 4123 /var/lib/slurm/slurmd-{0}/{0}_{1}.4294967292\n",
            j.node, j.job_id
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_sampler_whose_epilog_never_comes_salvages_the_record_itself() {
    // The plugin was removed from the node's plugstack while the job ran: no epilog comes.
    // Once the job's extern step has gone, the sampler waits `orphan_after`, then completes
    // the record from its last reading and leaves.
    let node = SimNode::start("orphan", PACKAGE_W);
    let spool = TempDir::new("spool-orphan");
    let listing = spool.0.join("unix");
    let cfg = NodeConfig {
        orphan_after: Duration::from_secs(1),
        steps_listing: listing.clone(),
        ..config(&node, 250)
    };
    let j = job(&spool.0, 601, "n1", &[]);
    write_listing(&listing, &j, true);
    write_started(&j, true);
    let pid = start_job(&cfg, &j).sampler_pid.unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(ea_meters::signals::is_running(pid));
    write_listing(&listing, &j, false);
    let job_end = ea_record::UnixMicros::now();
    // One look every 5 s, then 1 s without the step.
    wait_exit(pid, Duration::from_secs(15));
    assert!(!ea_meters::signals::is_running(pid), "the sampler left");
    let r = ea_record::spool::read_record(&j.spool.record_path(601, "n1")).unwrap();
    assert_eq!(r.state, ea_record::RecordState::Complete);
    assert_eq!(r.flags, [RecordFlag::Salvaged]);
    assert_eq!(r.allocation.as_ref().unwrap().memory_mb, Some(1024));
    let ipmi = r.meters.iter().find(|m| m.id == "ipmi:dcmi").unwrap();
    let span = r.duration_s().unwrap();
    assert!(span > 2.0 && r.end.unwrap() >= job_end, "{span}");
    assert_close("salvaged BMC energy", ipmi.energy_j, BMC_W * span, 0.05);
    let left: Vec<_> = std::fs::read_dir(Spool::new(&spool.0).running_node_dir("n1"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "running/n1/ is cleaned: {left:?}");
}

#[test]
fn a_record_the_epilog_could_not_write_is_salvaged_by_the_next_job_on_the_node() {
    // The spool was read-only at the epilog: the sampler was stopped, the record not written.
    // The next prolog on the node finds the job's leftovers, the job's steps gone, and writes
    // the record from the last checkpoint; a job still running is left alone.
    let node = SimNode::start("salvage", PACKAGE_W);
    let spool = TempDir::new("spool-salvage");
    let listing = spool.0.join("unix");
    let cfg = NodeConfig {
        steps_listing: listing.clone(),
        ..config(&node, 250)
    };
    let ended = job(&spool.0, 701, "n1", &[]);
    let running = job(&spool.0, 702, "n1", &[]);
    let other_node = job(&spool.0, 703, "n2", &[]);
    for j in [&ended, &running, &other_node] {
        write_started(j, true);
    }
    let pid = start_job(&cfg, &ended).sampler_pid.unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(ea_meters::signals::send(pid, libc::SIGKILL));
    wait_exit(pid, Duration::from_secs(2));
    let mut text = String::new();
    write_listing(&listing, &running, true);
    text.push_str(&std::fs::read_to_string(&listing).unwrap());
    std::fs::write(&listing, &text).unwrap();

    let notes = ea_meters::salvage_orphans(&cfg, &Spool::new(&spool.0), "n1", 704);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("job 701") && notes[0].contains("salvaged"),
        "{notes:?}"
    );
    let r = ea_record::spool::read_record(&ended.spool.record_path(701, "n1")).unwrap();
    assert_eq!(r.flags, [RecordFlag::Salvaged]);
    let span = r.duration_s().unwrap();
    let ipmi = r.meters.iter().find(|m| m.id == "ipmi:dcmi").unwrap();
    assert_close("salvaged BMC energy", ipmi.energy_j, BMC_W * span, 0.05);
    assert!(!ended.spool.started_path(701, "n1").exists());
    // Still running here (its step is listed), and another node's: untouched.
    assert!(running.spool.started_path(702, "n1").exists());
    assert!(other_node.spool.started_path(703, "n2").exists());
    assert!(!running.spool.record_path(702, "n1").exists());
    // Salvaging again finds nothing more to do.
    assert!(ea_meters::salvage_orphans(&cfg, &Spool::new(&spool.0), "n1", 704).is_empty());

    // A job whose first step could not note its extern step (the spool was read-only then):
    // left alone, unless the node is known to run extern steps.
    let unnoted = job(&spool.0, 705, "n1", &[]);
    write_started(&unnoted, true);
    std::fs::remove_file(Spool::new(&spool.0).running_path(705, "n1", "alloc.json")).unwrap();
    assert!(ea_meters::salvage_orphans(&cfg, &Spool::new(&spool.0), "n1", 704).is_empty());
    let marker = Spool::new(&spool.0).extern_steps_marker("n1");
    std::fs::write(&marker, b"").unwrap();
    let notes = ea_meters::salvage_orphans(&cfg, &Spool::new(&spool.0), "n1", 704);
    assert!(
        notes.len() == 1 && notes[0].contains("job 705"),
        "{notes:?}"
    );
    let r = ea_record::spool::read_record(&unnoted.spool.record_path(705, "n1")).unwrap();
    assert_eq!(r.flags, [RecordFlag::Salvaged]);
}

#[test]
fn a_record_the_epilog_cannot_write_is_kept_until_it_can_be() {
    // The spool's records/ cannot be written (here: it does not exist yet); the keeper holds
    // the record and writes it as soon as it can, then clears the job's leftovers.
    let node = SimNode::start("keep", PACKAGE_W);
    let spool = TempDir::new("spool-keep");
    let cfg = config(&node, 250);
    let j = job(&spool.0, 801, "n1", &[]);
    write_started(&j, true);
    std::fs::remove_dir(spool.0.join("records")).unwrap();
    let final_path = j.spool.record_path(801, "n1");
    let bytes = b"{\"schema_version\":3,\"the\":\"record\"}\n";
    let t0 = std::time::Instant::now();
    let pid = ea_meters::keep_record(&cfg, &j, &final_path, bytes).unwrap();
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "the epilog does not wait"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        ea_meters::signals::is_running(pid),
        "still holding the record"
    );
    assert!(!final_path.exists());
    // A later job on the node leaves the job to its keeper, which has the epilog's record.
    let notes = ea_meters::salvage_orphans(&cfg, &Spool::new(&spool.0), "n1", 802);
    assert!(notes.is_empty(), "{notes:?}");
    std::fs::create_dir_all(spool.0.join("records")).unwrap();
    wait_exit(pid, Duration::from_secs(5));
    assert!(!ea_meters::signals::is_running(pid));
    assert_eq!(std::fs::read(&final_path).unwrap(), bytes);
    assert!(
        !j.spool.started_path(801, "n1").exists(),
        "leftovers removed"
    );
}
