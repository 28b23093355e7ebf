//! Energy on every node of real Slurm jobs, on simulated meters whose true powers are known
//! (tests/sim/nodes.sh): RAPL counters that wrap every few seconds, GPUs through the real
//! nvml-wrapper code path over a fake libnvidia-ml, a BMC through a fake ipmitool.

use e2e::{Cluster, sim};
use ea_record::{JobNodeRecord, MeterFlag, RecordFlag, Scope};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

fn node_index(r: &JobNodeRecord) -> u32 {
    r.node.trim_start_matches('n').parse().unwrap()
}

fn meter<'a>(r: &'a JobNodeRecord, id: &str) -> &'a ea_record::MeterReport {
    r.meters
        .iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("{}: no meter {id} in {:?}", r.node, r.meters))
}

/// |measured - expected| / expected, in percent.
fn error_pct(measured: f64, expected: f64) -> f64 {
    (measured - expected).abs() / expected * 100.0
}

#[test]
fn every_node_is_measured_within_one_percent_across_counter_wraps() {
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N3", "--energy-assess"], "sleep 20");
    c.wait_gone(job, T);
    let records = c.records(job, 3, T);
    assert_eq!(records.len(), 3);
    // The files are schema 3: the series last, after the meters.
    let finals: Vec<_> = c
        .any_spool_file(job)
        .into_iter()
        .filter(|f| {
            f.parent() == Some(c.spool.job_records_dir(job).as_path())
                && f.file_name()
                    .and_then(|n| ea_record::spool::parse_file_name(n.to_str()?))
                    .is_some_and(|(_, _, suffix)| suffix == "json")
        })
        .collect();
    assert_eq!(finals.len(), 3, "{finals:?}");
    for f in finals {
        let text = std::fs::read_to_string(&f).unwrap();
        let series_at = text.find(",\"series\":{").expect("series in the record");
        assert!(
            text.starts_with("{\"schema_version\":3,"),
            "{}",
            f.display()
        );
        assert!(text.find("\"meters\":[").unwrap() < series_at);
    }
    for r in &records {
        let k = node_index(r);
        let dur = r.duration_s().unwrap();
        assert!(dur > 19.0, "{dur}");
        assert!(r.flags.is_empty(), "{}: {:?}", r.node, r.flags);
        let expected = [
            ("rapl:intel-rapl:0", Scope::CpuPackage, sim::package_w(k)),
            ("rapl:intel-rapl:0:0", Scope::Dram, sim::dram_w(k)),
            ("rapl:intel-rapl:1", Scope::Platform, sim::psys_w(k)),
            ("ipmi:dcmi", Scope::NodeBmc, sim::bmc_w(k)),
        ];
        for (id, scope, watts) in expected {
            let m = meter(r, id);
            assert_eq!(m.scope, scope);
            let err = error_pct(m.energy_j, watts * dur);
            println!(
                "{} {id}: {:.1} J, expected {:.1} J ({err:.3}%), {} wraps",
                r.node,
                m.energy_j,
                watts * dur,
                m.wraps
            );
            assert!(
                err < 1.0,
                "{} {id}: {} J vs {} J",
                r.node,
                m.energy_j,
                watts * dur
            );
        }
        // The power series came back from the file, where schema 3 writes them after
        // everything else: the package's points sit at its simulated power (the median, as
        // the last point may cover only a few milliseconds).
        let series = meter(r, "rapl:intel-rapl:0")
            .series
            .as_ref()
            .expect("a series");
        let mut points: Vec<f32> = series.watts.iter().copied().filter(|w| *w >= 0.0).collect();
        assert!(points.len() >= 2, "{series:?}");
        points.sort_by(f32::total_cmp);
        let median = f64::from(points[points.len() / 2]);
        assert!(
            error_pct(median, sim::package_w(k)) < 10.0,
            "{} package series median {median} W: {series:?}",
            r.node
        );
        // Several wrap periods: the package counter (300 J range) wrapped at least 3 times.
        assert!(
            meter(r, "rapl:intel-rapl:0").wraps >= 3,
            "{:?}",
            meter(r, "rapl:intel-rapl:0")
        );
        assert!(
            meter(r, "rapl:intel-rapl:1")
                .flags
                .contains(&MeterFlag::Wrapped)
        );
        if k <= 2 {
            for g in 0..2 {
                let m = meter(r, &format!("nvml:{}", sim::gpu_uuid(k, g)));
                assert_eq!(m.scope, Scope::GpuBoard);
                let err = error_pct(m.energy_j, sim::gpu_w(k, g) * dur);
                assert!(
                    err < 1.0,
                    "{} GPU {g}: {} J vs {} J",
                    r.node,
                    m.energy_j,
                    sim::gpu_w(k, g) * dur
                );
                assert_eq!(m.job_owned, Some(false), "the job asked for no GPU");
            }
        } else {
            assert!(!r.meters.iter().any(|m| m.scope == Scope::GpuBoard));
            assert!(
                r.absent_meters.iter().any(|a| a.source.contains("nvml")),
                "{:?}",
                r.absent_meters
            );
        }
        // The node's own figure is the BMC's, the most complete meter it has.
        let (e, basis) = r.node_energy_j().unwrap();
        assert_eq!(basis, ea_record::EnergyBasis::Bmc);
        assert!(error_pct(e, sim::bmc_w(k) * dur) < 1.0);
        let host = r.host.as_ref().unwrap();
        assert!(host.boot_id.is_some() && host.hostname.is_some());
    }
    // `energy-assess job` reads the same records.
    let out = e2e::run(
        e2e::energy_assess_bin().to_str().unwrap(),
        &["job", &job.to_string(), "--json"],
    );
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: f64 = records.iter().map(|r| r.node_energy_j().unwrap().0).sum();
    assert!((view["energy_j"].as_f64().unwrap() - total).abs() < 1e-6);
}

#[test]
fn a_sampler_killed_mid_job_still_yields_a_complete_flagged_record() {
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N1", "-w", "n1", "--energy-assess"], "sleep 10");
    c.wait_running(job, T);
    let pid_file = c.spool.running_path(job, "n1", "sampler.pid");
    e2e::wait_until(T, "the sampler's pid file", || pid_file.exists());
    std::thread::sleep(Duration::from_secs(3));
    let pid: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&pid_file).unwrap()).unwrap();
    let pid = pid["pid"].as_u64().unwrap().to_string();
    assert!(e2e::run("kill", &["-KILL", &pid]).status.success());
    c.wait_gone(job, T);
    let records = c.records(job, 1, T);
    let r = &records[0];
    assert!(r.flags.contains(&RecordFlag::SamplerDied), "{:?}", r.flags);
    let dur = r.duration_s().unwrap();
    // Counters are completed by the epilog's own end snapshot; GPU counters never wrap, and
    // BMC power is constant, so both still match the truth.
    for g in 0..2 {
        let m = meter(r, &format!("nvml:{}", sim::gpu_uuid(1, g)));
        assert!(
            error_pct(m.energy_j, sim::gpu_w(1, g) * dur) < 1.0,
            "{m:?} over {dur} s"
        );
    }
    assert!(error_pct(meter(r, "ipmi:dcmi").energy_j, sim::bmc_w(1) * dur) < 1.0);
    assert!(meter(r, "rapl:intel-rapl:0").energy_j > 0.0);
}

#[test]
fn a_sampler_stopped_past_a_counter_wrap_still_measures_within_one_percent() {
    // SIGSTOP for 7 s: node 3's package (70 W) and psys (96 W) counters (300 J) wrap at least
    // once unseen. The wraps are inferred from the power before the gap.
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N1", "-w", "n3", "--energy-assess"], "sleep 16");
    c.wait_running(job, T);
    let pid = c.sampler_pid(job, "n3", T).to_string();
    std::thread::sleep(Duration::from_secs(3));
    assert!(e2e::run("kill", &["-STOP", &pid]).status.success());
    std::thread::sleep(Duration::from_secs(7));
    assert!(e2e::run("kill", &["-CONT", &pid]).status.success());
    c.wait_gone(job, T);
    let records = c.records(job, 1, T);
    let r = &records[0];
    let dur = r.duration_s().unwrap();
    for (id, watts) in [
        ("rapl:intel-rapl:0", sim::package_w(3)),
        ("rapl:intel-rapl:1", sim::psys_w(3)),
    ] {
        let m = meter(r, id);
        let err = error_pct(m.energy_j, watts * dur);
        assert!(
            err < 1.0,
            "{id}: {} J vs {} J ({err:.2} %)",
            m.energy_j,
            watts * dur
        );
        assert!(
            m.flags.contains(&MeterFlag::WrapsInferred),
            "{id}: {:?}",
            m.flags
        );
    }
    let log = c.slurmd_log();
    assert!(
        log.contains("apart where the interval is 1.0 s") && log.contains("stopped or starved"),
        "the measured gap is reported:\n{log}"
    );
}

#[test]
fn jobs_sharing_a_node_get_their_own_records_allocations_and_gpus() {
    let c = Cluster::acquire();
    let args = [
        "-N1",
        "-n1",
        "-w",
        "n1",
        "--gres=gpu:1",
        "--mem=256",
        "--energy-assess",
    ];
    let a = c.sbatch(&args, "sleep 6");
    let b = c.sbatch(&args, "sleep 6");
    c.wait_gone(a, T);
    c.wait_gone(b, T);
    let (ra, rb) = (&c.records(a, 1, T)[0], &c.records(b, 1, T)[0]);
    // They ran side by side.
    assert!(
        ra.start.unwrap() < rb.end.unwrap() && rb.start.unwrap() < ra.end.unwrap(),
        "not concurrent"
    );
    let (ha, hb) = (
        ra.allocation.as_ref().unwrap(),
        rb.allocation.as_ref().unwrap(),
    );
    assert_eq!((ha.cpus, hb.cpus), (Some(1), Some(1)));
    assert_eq!((ha.memory_mb, hb.memory_mb), (Some(256), Some(256)));
    assert_ne!(ha.cores, hb.cores, "each holds its own core");
    assert_eq!(ha.gpus.len(), 1);
    assert_eq!(hb.gpus.len(), 1);
    assert_ne!(ha.gpus, hb.gpus, "each holds its own GPU");
    for (r, held) in [(ra, ha), (rb, hb)] {
        for g in 0..2 {
            let uuid = sim::gpu_uuid(1, g);
            let m = meter(r, &format!("nvml:{uuid}"));
            assert_eq!(
                m.job_owned,
                Some(held.gpus.contains(&uuid)),
                "job {}: {uuid}",
                r.job_id
            );
        }
    }
}
