//! Tests that need hardware this project's build machines lack, in one place. Each has a
//! simulated twin that runs everywhere (named in its doc comment). Run them on a real node:
//! `cargo test -p ea-meters --lib hardware_tests -- --ignored`.

use crate::accumulate::{Instant, MeterAccumulator};
use crate::source::Source;
use std::path::Path;
use std::time::Duration;

/// Twin: `rapl::tests::*` (real fixture trees) and `tests/sampler.rs` (powercap simulator).
#[test]
#[ignore = "needs RAPL (/sys/class/powercap, root): cargo test -p ea-meters --lib hardware_tests -- --ignored"]
fn real_rapl_reads_plausible_package_power() {
    let (src, absent) = crate::rapl::RaplSource::discover(Path::new("/"));
    let mut src = src.unwrap_or_else(|| panic!("no usable RAPL zone: {absent:?}"));
    let mut accs: Vec<_> = src
        .meters()
        .iter()
        .map(|s| MeterAccumulator::new(s.clone(), Instant::now().mono_us, 1_000_000, 10))
        .collect();
    for _ in 0..3 {
        let mut out = Vec::new();
        src.read_into(&mut out);
        let at = Instant::now();
        for (a, v) in accs.iter_mut().zip(out) {
            a.add(at, v);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for a in &accs {
        let r = a.report(None);
        let p = r.power_w.unwrap().mean;
        assert!(p > 0.0 && p < 2_000.0, "{}: {p} W", r.id);
        println!("{} ({:?}): {p:.1} W", r.id, r.label);
    }
}

/// Twin: `nvml::tests::fake_nvml_*` (fake libnvidia-ml); the fuller check under load is
/// `tests/gpu/real-nvml-check.sh`.
#[test]
#[ignore = "needs an NVIDIA GPU and driver: cargo test -p ea-meters --lib hardware_tests -- --ignored"]
fn real_nvml_counter_agrees_with_integrated_power() {
    let found = crate::nvml::NvmlSource::open(None, &[], true);
    let mut src = found
        .source
        .unwrap_or_else(|| panic!("no GPU meter: {:?}", found.absent));
    let mut accs: Vec<_> = src
        .meters()
        .iter()
        .map(|s| MeterAccumulator::new(s.clone(), Instant::now().mono_us, 100_000, 100))
        .collect();
    for _ in 0..50 {
        let mut out = Vec::new();
        src.read_into(&mut out);
        let at = Instant::now();
        for (a, v) in accs.iter_mut().zip(out) {
            a.add(at, v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for g in &found.gpus {
        let get = |id: String| {
            accs.iter()
                .find(|a| a.id() == id)
                .map(|a| a.report(None).energy_j)
        };
        if let (Some(c), Some(p)) = (
            get(format!("nvml:{}", g.uuid)),
            get(format!("nvml:{}:power", g.uuid)),
        ) {
            println!(
                "{} {}: counter {c:.1} J, integrated power {p:.1} J",
                g.index, g.uuid
            );
            assert!((p - c).abs() < 0.1 * c, "counter {c} J vs power {p} J");
        }
    }
}
