//! What one sample costs, with every meter simulated (this machine has no RAPL, GPU or BMC):
//! `cargo bench -p ea-meters --bench sample_cost` (`TMPDIR=/dev/shm` puts the spool on tmpfs,
//! where fdatasync costs nothing: the difference is what the storage's flush costs).
//!
//! 1. In this process: CPU time (CLOCK_PROCESS_CPUTIME_ID) per `MeterSet::read` + accumulate
//!    over 3 RAPL zones (powercap simulator files), 1 hwmon sensor and 2 GPUs (fake
//!    libnvidia-ml through nvml-wrapper), then the same with the BMC meter (fake ipmitool, a
//!    shell script: its own CPU is counted apart, as children's time), and the checkpoint on
//!    its own: the whole state as one file (what every tick wrote before checkpoint version 2,
//!    and what a first base is), then 3,000 ticks through `checkpoint::Writer` with every
//!    series full: bytes written per tick (mean, and most after the first), bases spread over
//!    ticks, fsyncs per tick, CPU per tick, the share of a bare append with O_DSYNC (what a
//!    tick does) and with an fdatasync after it (what it did before), and the cost of reading
//!    the checkpoint back. The GPUs are read with their counter at every reading, then as the
//!    sampler reads them by default at 100 ms (the counter at one reading in 6,000, power
//!    between); the fake answers both from the same file, at the same cost.
//! 2. The real sampler binary, started by `start_job` at a 100 ms interval for 5 s with every
//!    meter (the GPUs at the default cadence: their counter at the first reading, their power
//!    at the others in the window): its user+system CPU time divided by the readings it took, its children's CPU
//!    (the fake ipmitool runs) per reading, the bytes it wrote and its write calls per reading
//!    (`/proc/PID/io`: wchar, syscw), and its resident memory (VmRSS, VmHWM), beside what a
//!    bare wake-up costs on this machine. The BMC is read with the fake ipmitool, then
//!    in-process through a fake `/dev/ipmi0` (the `tests/fake-ipmi` shim preloaded into the
//!    sampler answers its ioctls and polls; its own work, a stat and a small file read per
//!    request, is counted in the sampler's CPU), then the same with the powercap files left
//!    unchanged during the window, as sysfs attributes are (the simulator replaces its files
//!    by rename, and each read then opens its file again; sysfs files are read with one pread).
//!
//! 3. Derived, not measured: what NVML costs per reading on an H100 node at the default
//!    interval and counter cadence, from the committed per-call figures of
//!    `tests/gpu/results/h100-run2/nvml-check.txt`.
//!
//! Simulated sources cost what reading a file or calling a library function costs; a real
//! RAPL read (an MSR read in the kernel) or a real NVML call costs more, and a real
//! `ipmitool` talks to the BMC through /dev/ipmi0. The real-GPU check (tests/gpu) times NVML.

use ea_meters::accumulate::MeterAccumulator;
use ea_meters::sampler::{JobFiles, SamplerState, sample_once};
use ea_meters::set::{MeterSet, OpenOptions};
use ea_meters::{JobOnNode, NodeConfig, Sources, cleanup_job, finish_job, start_job};
use ea_record::spool::{Spool, write_json_atomic};
use ea_sim::{PowercapSim, layout};
use nvidia_ml_fake::{FakeConfig, FakeGpu, now_unix_s};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "sample_cost/ffi.rs"]
mod ffi;

fn cpu_s(clock: libc::clockid_t) -> f64 {
    ffi::clock_s(clock)
}

fn children_cpu_s() -> f64 {
    ffi::children_cpu_s()
}

fn fake_nvml_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libnvidia_ml_fake.so"))
        .find(|p| p.exists())
        .expect("libnvidia_ml_fake.so")
}

/// The fake /dev/ipmi0 shim (`tests/fake-ipmi`, a dev-dependency), put in the sampler's
/// LD_PRELOAD by a wrapper script of the sampler's name.
fn fake_ipmi_shim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libipmi_dev_fake.so"))
        .find(|p| p.exists())
        .expect("libipmi_dev_fake.so")
}

/// `<dir>/energy-assess-sampler`: runs the real sampler with the fake device shim preloaded
/// (same name, so the epilog still recognises it; `exec` keeps the pid).
fn preloading_sampler(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let wrapper = dir.join("energy-assess-sampler");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nLD_PRELOAD='{}' exec '{}' \"$@\"\n",
            fake_ipmi_shim().display(),
            env!("CARGO_BIN_EXE_energy-assess-sampler")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; nothing to list here
    }
    let root = std::env::temp_dir().join(format!("ea-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let (sim, ipmitool) = simulated_node(&root);
    in_process(&root, &ipmitool);
    sampler_processes(&root, &sim, ipmitool);
    drop(sim);
    let _ = std::fs::remove_dir_all(&root);
    h100_derived();
}

/// The simulated node under `root`: RAPL zones stepped by a simulator, a hwmon sensor, two
/// fake GPUs and a fake BMC; returns the simulator's thread and the fake ipmitool.
fn simulated_node(root: &Path) -> (ea_sim::Stepping, String) {
    let zones = layout(&[
        ("package-0".into(), 60.0),
        ("package-0/dram".into(), 8.0),
        ("psys".into(), 95.0),
    ])
    .unwrap();
    // Paused, the powercap files stay as they are, as sysfs attributes do (the simulator
    // otherwise replaces them by rename every 50 ms, which makes each read reopen its file).
    let sim = PowercapSim::create(root, zones, 262_143_328_850, 0, None)
        .unwrap()
        .step_every(Duration::from_millis(50));
    let since = now_unix_s() - 100.0;
    let config = FakeConfig {
        init_error: None,
        driver_version: "999-fake".into(),
        gpus: vec![
            FakeGpu::new("GPU-a", "H100 (fake)", 300.0, since),
            FakeGpu::new("GPU-b", "H100 (fake)", 280.0, since),
        ],
    };
    config.write(&root.join("fake-nvml.json")).unwrap();
    std::fs::write(root.join("fake-ipmi-watts"), "400\n").unwrap();
    let hwmon = root.join("sys/class/hwmon/hwmon0");
    std::fs::create_dir_all(&hwmon).unwrap();
    std::fs::write(hwmon.join("name"), "power_meter\n").unwrap();
    std::fs::write(hwmon.join("power1_average"), "35000000\n").unwrap();
    let ipmitool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sim/fake-ipmitool")
        .display()
        .to_string();

    // The fake NVML finds its GPUs through EA_FAKE_NVML_CONFIG; in this process that has to
    // be set before NVML loads. (The sampler gets EA_SYSROOT from start_job instead.)
    // The simulator thread is the only other thread and never reads the environment.
    ffi::set_env_before_threads_read_it("EA_FAKE_NVML_CONFIG", &root.join("fake-nvml.json"));

    (sim, ipmitool)
}

/// Reading and accumulating in this process, then the checkpoint's writes.
fn in_process(root: &Path, ipmitool: &str) {
    let mut opts = OpenOptions {
        sysroot: root.to_path_buf(),
        sources: Sources::parse("rapl,hwmon,nvml").unwrap(),
        // In this process the BMC is the fake ipmitool (the device shim needs LD_PRELOAD,
        // which only the sampler process below gets).
        ipmi_device: None,
        ipmi_command: Some(vec![
            ipmitool.to_string(),
            "dcmi".into(),
            "power".into(),
            "reading".into(),
        ]),
        ipmi_timeout: Duration::from_secs(5),
        ipmi_max_power_w: 20_000.0,
        nvml_library: Some(fake_nvml_lib()),
        job_gpus: vec![],
        nvml_power_alongside: false,
        gpu_counter_every: 1,
    };
    println!(
        "sample_cost: simulated meters (powercap simulator, fake libnvidia-ml, fake ipmitool)"
    );
    for (label, sources, counter_every, n) in [
        (
            "rapl(3)+hwmon(1)+nvml(2 GPUs)",
            "rapl,hwmon,nvml",
            1,
            20_000,
        ),
        (
            "the same, GPU counter at 1 reading in 6,000 (power between)",
            "rapl,hwmon,nvml",
            6_000,
            20_000,
        ),
        ("the same + BMC (fake ipmitool)", "all", 1, 200),
    ] {
        opts.sources = Sources::parse(sources).unwrap();
        opts.gpu_counter_every = counter_every;
        let mut set = MeterSet::open(&opts);
        assert!(
            set.absent
                .iter()
                .all(|a| !a.source.starts_with("rapl") && !a.source.starts_with("nvml")),
            "{:?}",
            set.absent
        );
        let mut meters: Vec<MeterAccumulator> = set
            .specs()
            .iter()
            .map(|s| {
                MeterAccumulator::new(s.clone(), ea_meters::clock::boottime_us(), 10_000_000, 720)
            })
            .collect();
        let mut notes = Vec::new();
        sample_once(&mut set, &mut meters, &mut notes, Duration::from_secs(10));
        let (c0, k0, w0) = (
            cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID),
            children_cpu_s(),
            std::time::Instant::now(),
        );
        for _ in 0..n {
            sample_once(&mut set, &mut meters, &mut notes, Duration::from_secs(10));
        }
        let (c1, k1, w1) = (
            cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID),
            children_cpu_s(),
            w0.elapsed(),
        );
        println!(
            "  read+accumulate, {label}: {} meters, {:.1} µs CPU per sample in this process, {:.1} µs in child processes, {:.1} µs wall (n = {n})",
            meters.len(),
            (c1 - c0) / n as f64 * 1e6,
            (k1 - k0) / n as f64 * 1e6,
            w1.as_secs_f64() / n as f64 * 1e6
        );
        if sources == "all" {
            state_writes(root, &mut meters);
        }
    }
}

/// The checkpoint's costs with every power series full: the whole state written at once (as
/// before version 2, and as a base now), and journal ticks at two flush cadences.
fn state_writes(root: &Path, meters: &mut [MeterAccumulator]) {
    // A week of 10 s readings, so that every power series is at its largest.
    let t0 = ea_meters::accumulate::Instant::now();
    for (k, m) in meters.iter_mut().enumerate() {
        let mut raw = 0u64;
        for i in 0..60_480u64 {
            let at = ea_meters::accumulate::Instant {
                mono_us: t0.mono_us + (i + 1) * 10_000_000,
                wall: ea_record::UnixMicros(t0.wall.0 + (i as i64 + 1) * 10_000_000),
            };
            raw += 1_000_000_000 + (i % 7) * 1_000_000 + k as u64;
            let v = match m.spec.kind {
                ea_meters::source::MeterKind::Counter { .. } => {
                    ea_meters::source::Raw::Counter(raw)
                }
                ea_meters::source::MeterKind::Power => {
                    ea_meters::source::Raw::Watts(100.0 + (i % 13) as f64)
                }
            };
            m.add(at, Ok(v));
        }
    }
    let mut state = SamplerState {
        version: ea_meters::sampler::STATE_VERSION,
        job_id: 1,
        node: "n1".into(),
        pid: 1,
        boot_id: None,
        job_start: ea_meters::accumulate::Instant::now(),
        updated: ea_meters::accumulate::Instant::now(),
        seq: 1,
        finished: false,
        interval_s: 10.0,
        meters: meters.to_vec(),
        absent: vec![],
        host: Default::default(),
        job_gpu_uuids: vec![],
        notes: vec![],
    };
    // The whole state at once: what every tick wrote before checkpoint version 2
    // (pretty JSON), and what a base of version 2 is (compact, series in base64).
    let path = root.join("checkpoint.json");
    let n = 200;
    for (form, pretty) in [
        (
            "pretty, as each tick wrote it before version 2, series now in base64",
            true,
        ),
        ("compact, a whole base", false),
    ] {
        let (c0, w0) = (
            cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID),
            std::time::Instant::now(),
        );
        for _ in 0..n {
            if pretty {
                write_json_atomic(&path, &state).unwrap();
            } else {
                let mut bytes = serde_json::to_vec(&state).unwrap();
                bytes.push(b'\n');
                ea_record::spool::write_atomic(&path, &bytes).unwrap();
            }
        }
        let (c1, w1) = (cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID), w0.elapsed());
        println!(
            "  whole state written ({form}; {} meters, series full: 720 points each): {} bytes, 2 fsyncs, {:.1} µs CPU, {:.1} µs wall (n = {n})",
            meters.len(),
            std::fs::metadata(&path).unwrap().len(),
            (c1 - c0) / n as f64 * 1e6,
            w1.as_secs_f64() / n as f64 * 1e6
        );
    }
    // As a writer flushing every tick, and as the sampler's at the default 10 s
    // interval (a flush a minute, `checkpoint::FLUSH_EVERY`).
    let line_bytes = checkpoint_ticks(root, &mut state, 1);
    let every = (ea_meters::checkpoint::FLUSH_EVERY.as_secs() / 10) as u32;
    checkpoint_ticks(root, &mut state, every);
    bare_line_writes(root, line_bytes);
}

/// The real sampler process, with each set of meters.
fn sampler_processes(root: &Path, sim: &ea_sim::Stepping, ipmitool: String) {
    // The real sampler process.
    let spool = root.join("spool");
    let cfg = NodeConfig {
        sysroot: root.to_path_buf(),
        interval: Duration::from_millis(100),
        ipmi_device: None,
        ipmi_command: Some(vec![
            ipmitool,
            "dcmi".into(),
            "power".into(),
            "reading".into(),
        ]),
        nvml_library: Some(fake_nvml_lib()),
        sampler_exe: PathBuf::from(env!("CARGO_BIN_EXE_energy-assess-sampler")),
        max_lifetime: Duration::from_secs(60),
        ..NodeConfig::default()
    };
    // The fake device: a plain file the shim answers the ioctls of, with the watts of
    // `fake-ipmi-watts` (EA_SYSROOT is the root).
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("dev/ipmi0"), "").unwrap();
    let device_cfg = NodeConfig {
        ipmi_device: Some(root.join("dev/ipmi0")),
        sampler_exe: preloading_sampler(&root.join("preload")),
        ..cfg.clone()
    };
    // What any process that sleeps and wakes costs on this machine, sampler or not: a thread
    // of its own sleeping 100 ms 30 times, its CPU time per wake-up.
    let wake_us = std::thread::spawn(|| {
        let c0 = cpu_s(libc::CLOCK_THREAD_CPUTIME_ID);
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(100));
        }
        (cpu_s(libc::CLOCK_THREAD_CPUTIME_ID) - c0) / 30.0 * 1e6
    })
    .join()
    .unwrap();
    println!("  a bare wake-up (a thread sleeping 100 ms, nothing else): {wake_us:.1} µs CPU each");
    for (label, sources, cfg, files_stable) in [
        ("rapl+hwmon+nvml", "rapl,hwmon,nvml", &cfg, false),
        ("all meters incl. BMC (fake ipmitool)", "all", &cfg, false),
        (
            "all meters incl. BMC (in-process /dev/ipmi0, fake device shim)",
            "all",
            &device_cfg,
            false,
        ),
        (
            "all meters incl. BMC (in-process), powercap files unchanged as on sysfs",
            "all",
            &device_cfg,
            true,
        ),
    ] {
        one_sampler(label, sources, cfg, files_stable, sim, &spool);
    }
}

/// Runs the real sampler process with `cfg`'s `sources` for 5 s and prints what a reading
/// cost it; `files_stable`: the powercap files are not replaced meanwhile, as on sysfs.
fn one_sampler(
    label: &str,
    sources: &str,
    cfg: &NodeConfig,
    files_stable: bool,
    sim: &ea_sim::Stepping,
    spool: &Path,
) {
    let cfg = NodeConfig {
        sources: Sources::parse(sources).unwrap(),
        ..cfg.clone()
    };
    let job = JobOnNode {
        spool: Spool::new(spool),
        job_id: 1,
        node: "n1".into(),
        job_gpus: vec![],
    };
    let pid = start_job(&cfg, &job).sampler_pid.expect("sampler started");
    let files = JobFiles::new(&job.spool, 1, "n1");
    std::thread::sleep(Duration::from_secs(1));
    sim.pause(files_stable);
    let (own0, kids0, seq0, wchar0, syscw0) = probe(pid, &files);
    std::thread::sleep(Duration::from_secs(5));
    let (own1, kids1, seq1, wchar1, syscw1) = probe(pid, &files);
    sim.pause(false);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_string())
            .unwrap_or_default()
    };
    let n = (seq1 - seq0) as f64;
    println!(
        "  sampler process, {label}, 100 ms interval: {n} readings in 5 s, {:.0} µs CPU per reading (own, checkpoint included), {:.0} µs in child processes, {:.0} bytes written and {:.1} write calls per reading, VmRSS {}, VmHWM {}",
        (own1 - own0) / n * 1e6,
        (kids1 - kids0) / n * 1e6,
        (wchar1 - wchar0) / n,
        (syscw1 - syscw0) / n,
        field("VmRSS:"),
        field("VmHWM:")
    );
    let m = finish_job(&cfg, &job);
    assert!(m.flags.is_empty(), "{:?}", m.notes);
    if let Some(bmc) = m.meters.iter().find(|r| r.id == "ipmi:dcmi") {
        println!(
            "    BMC read by: {} ({} readings, {:.0} J)",
            bmc.label.as_deref().unwrap_or("?"),
            bmc.samples,
            bmc.energy_j
        );
    }
    cleanup_job(&job);
}

/// A sampler process's (own CPU s, children's CPU s, readings so far, bytes written, write
/// calls): the first second (exec, NVML initialisation, first BMC query) is left out by
/// taking differences.
fn probe(pid: u32, files: &JobFiles) -> (f64, f64, u64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<String> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .map(String::from)
        .collect();
    let hz = ffi::clock_ticks_per_s();
    // Fields 16-17 of proc(5) (cutime, cstime) are 13-14 after the name.
    let kids = (f[13].parse::<f64>().unwrap() + f[14].parse::<f64>().unwrap()) / hz;
    // schedstat's first field is the time on a CPU in ns, far finer than stat's ticks.
    let own = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1e9;
    let seq = ea_meters::checkpoint::read(files).unwrap().seq;
    // Bytes the process handed to write(2), and its write calls (proc(5) `io`).
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let io_field = |k: &str| -> f64 {
        io.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    (own, kids, seq, io_field("wchar:"), io_field("syscw:"))
}

/// NVML's CPU time per call on a real H100 (driver 580.159.04), from the committed
/// `tests/gpu/results/h100-run2/nvml-check.txt`: not measured by this bench, which has no GPU.
const H100_COUNTER_CPU_US: f64 = 3916.6;
/// See [`H100_COUNTER_CPU_US`].
const H100_POWER_CPU_US: f64 = 9.32;

/// What NVML costs the sampler per reading on an H100 node, derived from the committed
/// figures above at the default interval and counter cadence: the fake GPUs here cost what a
/// stat of their config costs, whatever is called.
fn h100_derived() {
    let interval = ea_meters::job::DEFAULT_INTERVAL.as_secs_f64();
    let every_s = ea_meters::job::DEFAULT_GPU_COUNTER_EVERY.as_secs_f64();
    let k = (every_s / interval).round().max(1.0);
    let amortised = (H100_COUNTER_CPU_US + (k - 1.0) * H100_POWER_CPU_US) / k;
    println!(
        "  derived, not measured here (h100-run2: {H100_COUNTER_CPU_US:.0} µs CPU per energy-counter call, {H100_POWER_CPU_US:.1} µs per power call): NVML per reading at the default {interval:.0} s interval, per H100: {H100_COUNTER_CPU_US:.0} µs with the counter at every reading, {amortised:.1} µs with it every {every_s:.0} s (the default) and power between; 8 GPUs: {:.0} µs, {:.0} µs",
        8.0 * H100_COUNTER_CPU_US,
        8.0 * amortised
    );
}

/// The checkpoint as the sampler writes it, tick after tick, with every series full (the
/// state of a week-long job): a journal line per tick, a whole base when the journal is due.
/// Readings are made up (a counter rising, a power wobbling) so that only the checkpoint's
/// cost is timed: Tick::new, add_readings, Writer::write.
/// Writes 3,000 ticks of `state`'s meters through a checkpoint writer that flushes every
/// `flush_every` ticks, and prints what a tick cost; returns the mean bytes a tick wrote.
fn checkpoint_ticks(root: &Path, state: &mut SamplerState, flush_every: u32) -> usize {
    use ea_meters::checkpoint::{Tick, Writer};
    use ea_meters::source::{MeterKind, Raw};
    let spool = Spool::new(root.join(format!("tick-spool-{flush_every}")));
    spool.ensure_node("n1").unwrap();
    let files = JobFiles::new(&spool, 1, "n1");
    let mut writer = Writer::new(&files).with_flush_every(flush_every);
    let n = 3_000u64;
    let mut max_bytes = 0;
    let mut raws: Vec<u64> = state
        .meters
        .iter()
        .map(|m| m.report(None).last_raw.unwrap_or(0))
        .collect();
    let mut t = state.updated;
    let (c0, w0) = (
        cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID),
        std::time::Instant::now(),
    );
    for i in 0..n {
        t.mono_us += 10_000_000;
        t.wall.0 += 10_000_000;
        let times = vec![t; state.meters.len()];
        let values: Vec<_> = state
            .meters
            .iter()
            .zip(&mut raws)
            .map(|(m, raw)| match m.spec.kind {
                MeterKind::Counter { .. } => {
                    *raw += 1_000_000_000 + (i % 7) * 1_000_000;
                    Ok(Raw::Counter(*raw))
                }
                MeterKind::Power => Ok(Raw::Watts(100.0 + (i % 13) as f64)),
            })
            .collect();
        let mut tick = Tick::new(state, vec![], &times, &values);
        ea_meters::sampler::add_readings(
            &mut state.meters,
            &mut state.notes,
            &times,
            &values,
            Duration::from_secs(10),
        );
        state.seq += 1;
        state.updated = t;
        tick.updated = t;
        let before = writer.stats.bytes;
        writer.write(state, &tick).unwrap();
        max_bytes = max_bytes.max(writer.stats.bytes - before);
    }
    let (c1, w1) = (cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID), w0.elapsed());
    let s = writer.stats;
    let back = ea_meters::checkpoint::read(&files).unwrap();
    assert_eq!(back.seq, state.seq);
    let r0 = std::time::Instant::now();
    let reads = 20;
    for _ in 0..reads {
        ea_meters::checkpoint::read(&files).unwrap();
    }
    let read_us = r0.elapsed().as_secs_f64() / reads as f64 * 1e6;
    // The first tick writes the whole state (here already full: in a job, its series are
    // still empty then); every later one a journal line, and a part of a base while one is
    // spread over the ticks.
    println!(
        "  checkpoint per tick (version 3, series full, flushed every {flush_every} tick(s), n = {n} ticks): {:.0} bytes written on average, {} at most after the first tick (whole base there: {max_bytes}), {} bases spread over ticks, {:.3} fsyncs, {:.1} µs CPU, {:.1} µs wall; reading it back (newest base + segments replayed) {:.0} µs",
        s.bytes as f64 / n as f64,
        s.max_steady_tick_bytes,
        s.spread_bases,
        s.fsyncs as f64 / n as f64,
        (c1 - c0) / n as f64 * 1e6,
        w1.as_secs_f64() / n as f64 * 1e6,
        read_us
    );
    (s.bytes / n).max(1) as usize
}

/// What a journal line's write alone costs here, flushed (storage-dependent: a virtio disk in
/// a VM makes the kernel's flush expensive), for a line of `line_bytes`.
fn bare_line_writes(root: &Path, line_bytes: usize) {
    let line = vec![b'x'; line_bytes];
    let m = 1_000;
    // The journal's write (O_DSYNC: the write flushes), and the write + fdatasync it replaced.
    for (how, dsync) in [
        ("open(O_DSYNC) + append + close", true),
        ("open + append + fdatasync + close", false),
    ] {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let bare = root.join(format!("bare-{dsync}"));
        let c2 = cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID);
        for _ in 0..m {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .custom_flags(if dsync { libc::O_DSYNC } else { 0 })
                .open(&bare)
                .unwrap();
            f.write_all(&line).unwrap();
            if !dsync {
                f.sync_data().unwrap();
            }
        }
        let cpu = (cpu_s(libc::CLOCK_PROCESS_CPUTIME_ID) - c2) / m as f64;
        println!(
            "  a journal line's {how} alone: {:.1} µs CPU (n = {m})",
            cpu * 1e6
        );
    }
}
