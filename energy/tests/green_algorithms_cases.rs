//! The Green Algorithms cases of the methodology notes (§7 V6 and V7, with their variants),
//! through the estimator that prices unmeasured jobs and the sacct field readers that feed it.

use ea_energy::estimate::EstimateSettings;
use ea_energy::estimate::{
    EstimateInput, Usage, UsageFactor, green_algorithms_j, green_algorithms_with_usage_j,
};
use ea_sacct::fields::parse_req_mem_mb;
use ea_sacct::timefmt::parse_duration;

fn close(got: f64, expected: f64, rel: f64) -> bool {
    (got - expected).abs() <= rel * expected.abs()
}

fn settings(cpu_w_per_core: f64, gpu_w: f64) -> EstimateSettings {
    let mut s = EstimateSettings::default();
    s.default.cpu_w_per_core = cpu_w_per_core;
    s.default.gpu_w = gpu_w;
    s
}

fn usage(cpu: f64, gpu: f64) -> Usage {
    Usage {
        cpu: Some(UsageFactor::new(cpu).unwrap()),
        gpu: UsageFactor::new(gpu).unwrap(),
    }
}

/// A sacct duration field, seconds.
fn duration(field: &str) -> f64 {
    parse_duration(field)
        .unwrap_or_else(|e| panic!("{field}: {e:?}"))
        .unwrap_or_else(|| panic!("{field}: no duration"))
}

/// V6 (GA app; CCGrid's DGX-1): 40 cores × 8.1 W at usage 0, 8 GPUs × 300 W, 512 GB at
/// 0.3725 W/GB, PUE 1. At GPU usage 1: 2,590.72 W, 43.18 Wh a minute, 176.17 kJ over the 68 s
/// EP run; GA's second case, GPU usage 0.7: 31.18 Wh a minute.
#[test]
fn v6_green_algorithms_form() {
    let s = settings(8.1, 300.0);
    let run = |seconds: f64| EstimateInput {
        elapsed_s: seconds,
        ncpus: Some(40),
        gpus: Some(8),
        req_mem_mb: parse_req_mem_mb("512G", Some(1), Some(40)),
        ..Default::default()
    };
    let wh =
        |seconds: f64, u: Usage| green_algorithms_with_usage_j(&run(seconds), &s, None, u) / 3600.0;
    let minute = wh(60.0, usage(0.0, 1.0));
    assert!(close(minute, 43.18, 2e-4), "{minute} Wh/min");
    let ep_kj = wh(68.0, usage(0.0, 1.0)) * 3.6;
    assert!(close(ep_kj, 176.17, 1e-4), "{ep_kj} kJ");
    let at_07 = wh(60.0, usage(0.0, 0.7));
    assert!(close(at_07, 31.18, 2e-4), "{at_07} Wh/min");
}

/// V7 (GA4HPC): 7.5 W per core, Elapsed 2 h, TotalCPU 24 h, ReqMem 64G, PUE 1.67:
/// E = (24·7.5 + 2·64·0.3725)/1000 × 1.67 = 0.3802256 kWh at the wall. The variants give the
/// same: ReqMem `4Gc` on 16 CPUs is 64 GB, and a TotalCPU of `00:00:00` (a job killed before
/// accounting) falls back on CPUTime, here 12 CPUs × 2 h = 24 h.
#[test]
fn v7_ga4hpc_job_and_variants() {
    let s = settings(7.5, 0.0);
    let kwh_at_wall = |input: &EstimateInput| green_algorithms_j(input, &s, None) / 3.6e6 * 1.67;
    let elapsed_s = duration("02:00:00");
    let plain = EstimateInput {
        elapsed_s,
        ncpus: Some(12),
        total_cpu_s: Some(duration("1-00:00:00")),
        cpu_time_s: Some(duration("1-00:00:00")),
        gpus: None,
        req_mem_mb: parse_req_mem_mb("64G", Some(1), Some(12)),
    };
    let per_cpu_memory = EstimateInput {
        ncpus: Some(16),
        cpu_time_s: Some(duration("1-08:00:00")),
        req_mem_mb: parse_req_mem_mb("4Gc", Some(1), Some(16)),
        ..plain
    };
    assert_eq!(per_cpu_memory.req_mem_mb, Some(64.0 * 1024.0));
    let total_cpu_zero = EstimateInput {
        total_cpu_s: Some(duration("00:00:00")),
        ..plain
    };
    for (case, input) in [
        ("64G", &plain),
        ("4Gc × 16 CPUs", &per_cpu_memory),
        ("TotalCPU 00:00:00", &total_cpu_zero),
    ] {
        let kwh = kwh_at_wall(input);
        assert!(close(kwh, 0.380_225_6, 1e-9), "{case}: {kwh} kWh");
        let g = kwh * 467.0;
        assert!(close(g, 177.565, 1e-5), "{case}: {g} gCO2e");
    }
    // The fallback is CPUTime, not a guess: with 16 CPUs allocated it is 32 core-hours.
    let busier = EstimateInput {
        total_cpu_s: Some(0.0),
        ..per_cpu_memory
    };
    let wh = green_algorithms_j(&busier, &s, None) / 3600.0;
    assert!(
        close(wh, 32.0 * 7.5 + 2.0 * 64.0 * 0.3725, 1e-12),
        "{wh} Wh"
    );
}
