//! The BMC read in-process through an OpenIPMI device: the real sampler binary, started by
//! `start_job`, with the fake device shim (`tests/fake-ipmi`) in its `LD_PRELOAD`, so that its
//! real ioctl and poll calls on `<sysroot>/dev/ipmi0` (a plain file) are answered with DCMI
//! power readings from the script file `<sysroot>/fake-ipmi-dev`. The other meters are the
//! powercap simulator and the fake libnvidia-ml, checked against what they produced.

use ea_meters::sampler::{SamplerArgs, SamplerCommand};
use ea_meters::set::Snapshot;
use ea_meters::{JobOnNode, Measurement, NodeConfig, Sources, finish_job, start_job};
use ea_record::spool::{Spool, read_json};
use ea_record::{MeterFlag, MeterReport, Method, Scope};
use ea_sim::{PowercapSim, Stepping, layout, read_truth_log, true_energy_between_raws};
use nvidia_ml_fake::{FakeConfig, FakeGpu, now_unix_s};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const GPU: &str = "GPU-11111111-2222-3333-4444-555555555555";
const PACKAGE_W: f64 = 60.0;
const GPU_W: f64 = 250.0;
const BMC_W: f64 = 420.0;

/// A sysroot with a running powercap simulation, a fake GPU, a fake `/dev/ipmi0` and a
/// wrapper `energy-assess-sampler` that preloads the device shim. Removed when dropped.
struct Node {
    root: PathBuf,
    /// Stopped before the root is removed.
    sim: Option<Stepping>,
}

impl Node {
    fn start(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "ea-ipmi-dev-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dev")).unwrap();
        let zones = layout(&[("package-0".into(), PACKAGE_W)]).unwrap();
        let truth = root.join("truth.log");
        let sim = PowercapSim::create(&root, zones, 262_143_328_850, 0, Some(&truth)).unwrap();
        let sim = sim.step_every(Duration::from_millis(20));
        FakeConfig {
            init_error: None,
            driver_version: "999.1-fake".into(),
            gpus: vec![FakeGpu::new(GPU, "H100 (fake)", GPU_W, now_unix_s() - 60.0)],
        }
        .write(&root.join("fake-nvml.json"))
        .unwrap();
        std::fs::write(root.join("dev/ipmi0"), "").unwrap();
        let node = Self {
            root,
            sim: Some(sim),
        };
        node.script(&BMC_W.to_string());
        node
    }

    /// What the fake BMC answers from now on (see `ipmi_dev_fake::Script`).
    fn script(&self, line: &str) {
        let tmp = self.root.join("fake-ipmi-dev.tmp");
        std::fs::write(&tmp, format!("{line}\n")).unwrap();
        std::fs::rename(tmp, self.root.join("fake-ipmi-dev")).unwrap();
    }

    fn device(&self) -> PathBuf {
        self.root.join("dev/ipmi0")
    }

    /// `<root>/bin/energy-assess-sampler`: the real sampler with the shim preloaded (same
    /// name, so the epilog recognises it in /proc; `exec` keeps the pid).
    fn sampler(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.root.join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let wrapper = dir.join("energy-assess-sampler");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nLD_PRELOAD='{}' exec '{}' \"$@\"\n",
                built_lib("libipmi_dev_fake.so").display(),
                env!("CARGO_BIN_EXE_energy-assess-sampler")
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        wrapper
    }

    fn config(&self, interval_ms: u64) -> NodeConfig {
        NodeConfig {
            sysroot: self.root.clone(),
            interval: Duration::from_millis(interval_ms),
            ipmi_device: Some(self.device()),
            // Must not be used while the device answers: it fails, saying so.
            ipmi_command: Some(vec![
                fake_ipmitool(),
                "--fail".into(),
                "the command was run instead of the device".into(),
            ]),
            ipmi_timeout: Duration::from_secs(2),
            nvml_library: Some(built_lib("libnvidia_ml_fake.so")),
            sources: Sources::all(),
            sampler_exe: self.sampler(),
            stop_timeout: Duration::from_secs(2),
            max_lifetime: Duration::from_secs(120),
            ..NodeConfig::default()
        }
    }

    fn job(&self, job_id: u32) -> JobOnNode {
        JobOnNode {
            spool: Spool::new(self.root.join("spool")),
            job_id,
            node: "n1".into(),
            job_gpus: vec!["0".into()],
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        drop(self.sim.take());
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A cdylib of a dev-dependency, built next to this test binary.
fn built_lib(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is built next to the tests (a dev-dependency)"))
}

fn fake_ipmitool() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sim/fake-ipmitool")
        .display()
        .to_string()
}

fn meter<'a>(m: &'a Measurement, id: &str) -> &'a MeterReport {
    m.meters.iter().find(|r| r.id == id).unwrap_or_else(|| {
        panic!(
            "no meter {id} in {:#?}\nabsent: {:#?}\nnotes: {:#?}",
            m.meters, m.absent_meters, m.notes
        )
    })
}

/// Runs one job for `secs` (calling `during` half-way) and returns its measurement and the
/// bounds of its span (from the return of `start_job` to the call of `finish_job`, and from
/// the call of the one to the return of the other).
fn run_job(
    node: &Node,
    cfg: &NodeConfig,
    secs: f64,
    during: impl FnOnce(),
) -> (Measurement, (f64, f64)) {
    let j = node.job(7);
    let t0 = now_unix_s();
    let started = start_job(cfg, &j);
    let t0r = now_unix_s();
    assert!(started.sampler_pid.is_some(), "{:?}", started.notes);
    std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
    during();
    std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
    let tf = now_unix_s();
    let m = finish_job(cfg, &j);
    let span = (tf - t0r, now_unix_s() - t0);
    ea_meters::cleanup_job(&j);
    (m, span)
}

fn assert_constant(r: &MeterReport, watts: f64, (inner, outer): (f64, f64), rel: f64) {
    let (lo, hi) = (watts * inner * (1.0 - rel), watts * outer * (1.0 + rel));
    assert!(
        (lo..=hi).contains(&r.energy_j),
        "{}: {:.1} J, expected {lo:.1}..{hi:.1} J",
        r.id,
        r.energy_j
    );
}

fn check_other_meters(m: &Measurement, node: &Node, span: (f64, f64)) {
    let package = meter(m, "rapl:intel-rapl:0");
    let truth = true_energy_between_raws(
        &read_truth_log(&node.root.join("truth.log")).unwrap(),
        "intel-rapl:0",
        package.first_raw.unwrap(),
        package.last_raw.unwrap(),
    )
    .unwrap();
    assert!(
        (package.energy_j - truth).abs() <= 0.01 * truth,
        "{} vs {truth}",
        package.energy_j
    );
    let gpu = meter(m, &format!("nvml:{GPU}"));
    assert_eq!(gpu.method, Method::Counter);
    assert_constant(gpu, GPU_W, span, 0.01);
}

#[test]
fn the_bmc_is_measured_through_the_device() {
    let node = Node::start("ok");
    let cfg = node.config(200);
    let (m, span) = run_job(&node, &cfg, 3.0, || {});
    assert!(m.flags.is_empty(), "{:?} {:?}", m.flags, m.notes);
    let bmc = meter(&m, "ipmi:dcmi");
    assert_eq!(bmc.scope, Scope::NodeBmc);
    assert_eq!(
        bmc.label.as_deref(),
        Some(ea_meters::ipmi::device_label(&node.device()).as_str()),
        "the record names the device it was read through"
    );
    assert!(bmc.flags.is_empty(), "{:?} {:?}", bmc.flags, m.notes);
    assert_constant(bmc, BMC_W, span, 0.01);
    // A reading per tick (200 ms), plus the first and the last.
    assert!(
        bmc.samples as f64 >= span.0 / 0.2 * 0.7,
        "{} samples",
        bmc.samples
    );
    check_other_meters(&m, &node, span);
}

/// Half-way through the job the BMC stops answering in time: first its answers come late
/// (after the read's timeout, at another wattage, so that taking a late answer as the current
/// one would show in the energy), then never. Every tick still reads the other meters; each
/// BMC read gives up after its timeout; the late answers are drained and ignored; once the BMC
/// answers again the readings resume.
#[test]
fn a_hung_device_does_not_stall_the_other_meters() {
    let node = Node::start("hang");
    let cfg = NodeConfig {
        ipmi_timeout: Duration::from_millis(300),
        ..node.config(200)
    };
    let (m, span) = run_job(&node, &cfg, 6.0, || {
        node.script("delay 450 900");
        std::thread::sleep(Duration::from_millis(1200));
        node.script("hang");
        std::thread::sleep(Duration::from_millis(1000));
        node.script(&BMC_W.to_string());
    });
    assert!(m.flags.is_empty(), "{:?} {:?}", m.flags, m.notes);
    let bmc = meter(&m, "ipmi:dcmi");
    assert!(
        bmc.flags.contains(&MeterFlag::ReadErrors),
        "{:?}",
        bmc.flags
    );
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("did not answer DCMI Get Power Reading within 0.3 s")),
        "{:?}",
        m.notes
    );
    // Good readings at 420 W on both sides of the gap, none of the late 900 W answers.
    let p = bmc.power_w.unwrap();
    assert_eq!(p.max, BMC_W, "{p:?}");
    assert_constant(bmc, BMC_W, span, 0.01);
    check_other_meters(&m, &node, span);
    // The ticks went on: each lasted at most the interval plus one BMC timeout.
    let ticks = meter(&m, "rapl:intel-rapl:0").samples as f64;
    assert!(ticks >= span.0 / 0.5 * 0.8, "{ticks} ticks in {span:?}");
}

/// One `energy-assess-sampler snapshot` with the shim preloaded.
fn snapshot(node: &Node, cfg: &NodeConfig) -> Snapshot {
    let out = node.root.join("snap.json");
    let args = SamplerArgs {
        spool: node.root.join("spool"),
        job_id: 1,
        node: "n1".into(),
        sysroot: node.root.clone(),
        interval: cfg.interval,
        sources: Sources::parse("ipmi").unwrap(),
        ipmi_device: cfg.ipmi_device.clone(),
        ipmi_command: cfg.ipmi_command.clone(),
        ipmi_timeout: Duration::from_millis(500),
        ipmi_max_power_w: 20_000.0,
        nvml_library: None,
        job_gpus: vec![],
        max_series_points: 720,
        gpu_counter_every: cfg.gpu_counter_every,
        max_lifetime: Duration::from_secs(60),
        stop_timeout: Duration::from_secs(2),
        orphan_after: Duration::from_secs(120),
        steps_listing: node.root.join("unix"),
    };
    let mut argv = vec!["snapshot".into()];
    argv.extend(args.to_args());
    argv.extend(["--out".into(), out.clone().into()]);
    assert!(matches!(
        SamplerCommand::parse(argv.clone()),
        Ok(SamplerCommand::Snapshot(..))
    ));
    let status = std::process::Command::new(&cfg.sampler_exe)
        .args(argv)
        .env("EA_SYSROOT", &node.root)
        .status()
        .unwrap();
    assert!(status.success());
    read_json(&out).unwrap()
}

/// A device that refuses at discovery (measurement inactive, a completion code, a short
/// answer, no answer) is not used: the command reads the BMC, and the note says why.
#[test]
fn a_device_that_refuses_falls_back_to_the_command() {
    let node = Node::start("refuse");
    let cfg = NodeConfig {
        ipmi_command: Some(vec![fake_ipmitool(), "--watts".into(), "333".into()]),
        ..node.config(200)
    };
    for (script, why) in [
        (
            "inactive 300",
            "power measurement is not active (state 0x00)",
        ),
        ("cc 0xC1", "completion code 0xC1 (invalid command"),
        ("short", "has 5 bytes, not 19"),
        ("hang", "did not answer DCMI Get Power Reading within 0.5 s"),
    ] {
        node.script(script);
        let snap = snapshot(&node, &cfg);
        let r = &snap.readings[0];
        assert_eq!(r.spec.id, "ipmi:dcmi");
        assert_eq!(
            r.spec.label.as_deref(),
            Some(cfg.ipmi_command.as_ref().unwrap().join(" ").as_str())
        );
        assert_eq!(r.value, Some(ea_meters::source::Raw::Watts(333.0)));
        assert!(
            snap.notes
                .iter()
                .any(|n| n.contains(why) && n.contains("reading it with")),
            "{script}: {:?}",
            snap.notes
        );
    }
    // Neither works: the meter is absent with both reasons.
    node.script("inactive");
    let snap = snapshot(
        &node,
        &NodeConfig {
            ipmi_command: Some(vec![fake_ipmitool(), "--fail".into(), "no BMC here".into()]),
            ..cfg.clone()
        },
    );
    assert!(snap.readings.is_empty());
    let reason = &snap.absent[0].reason;
    assert!(
        reason.contains("not active") && reason.contains("no BMC here"),
        "{reason}"
    );
    // Without the shim the plain file refuses the ioctls (ENOTTY): not an IPMI device.
    let plain = NodeConfig {
        sampler_exe: PathBuf::from(env!("CARGO_BIN_EXE_energy-assess-sampler")),
        ..cfg.clone()
    };
    node.script("420");
    let snap = snapshot(&node, &plain);
    assert!(
        snap.notes
            .iter()
            .any(|n| n.contains("is not an OpenIPMI device")),
        "{:?}",
        snap.notes
    );
}

/// The real device of this node, through the sampler (no shim).
#[test]
#[ignore = "needs a BMC at /dev/ipmi0"]
fn a_real_bmc_through_the_device() {
    let node = Node::start("real");
    let cfg = NodeConfig {
        ipmi_device: Some(PathBuf::from("/dev/ipmi0")),
        ipmi_command: None,
        sampler_exe: PathBuf::from(env!("CARGO_BIN_EXE_energy-assess-sampler")),
        ..node.config(500)
    };
    let snap = snapshot(&node, &cfg);
    let w = match snap.readings[0].value {
        Some(ea_meters::source::Raw::Watts(w)) => w,
        ref other => panic!("{other:?} {:?}", snap.absent),
    };
    assert!((1.0..20_000.0).contains(&w), "{w}");
}
