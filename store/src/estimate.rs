//! Energy of jobs nobody measured, the Green Algorithms way (Lannelongue et al. 2021, as
//! GA4HPC applies it to sacct; methodology.md §4.1 and §4.3):
//!
//! ```text
//! E = (CPU-hours used × W per core + GPU-hours × W per GPU + hours × memory GB × 0.3725 W/GB)
//! ```
//!
//! CPU-hours used come from TotalCPU, or CPUTime (every allocated core busy) when TotalCPU is
//! zero; GPU-hours are elapsed × GPUs from AllocTRES (GA4HPC assumes full GPU use); memory is
//! ReqMem. PUE is not applied here: like measured energies, estimates are the IT equipment's
//! energy, and the use-phase impacts apply PUE.
//!
//! Where a partition has measured jobs, their measured / estimated ratios calibrate the
//! partition's estimates: the median ratio scales them and the 10th–90th percentiles bound them.

use crate::config::EstimateSettings;

/// What the estimate needs from a job.
#[derive(Debug, Clone, Copy, Default)]
pub struct EstimateInput {
    pub elapsed_s: f64,
    pub ncpus: Option<u32>,
    pub total_cpu_s: Option<f64>,
    pub cpu_time_s: Option<f64>,
    pub gpus: Option<u32>,
    pub req_mem_mb: Option<f64>,
}

/// The Green-Algorithms energy of a job, joules, before calibration.
pub fn green_algorithms_j(input: &EstimateInput, settings: &EstimateSettings, partition: Option<&str>) -> f64 {
    let tdp = settings.tdp(partition);
    let elapsed_s = input.elapsed_s.max(0.0);
    let alloc_cpu_s = input
        .cpu_time_s
        .filter(|v| *v > 0.0)
        .or_else(|| input.ncpus.map(|c| f64::from(c) * elapsed_s))
        .unwrap_or(0.0);
    // TotalCPU cannot exceed what was allocated; sacct sometimes reports more for jobs whose
    // steps overlap, and 0 for jobs killed before accounting.
    let cpu_s = match input.total_cpu_s.filter(|v| *v > 0.0) {
        Some(used) if alloc_cpu_s > 0.0 => used.min(alloc_cpu_s),
        Some(used) => used,
        None => alloc_cpu_s,
    };
    let gpu_s = f64::from(input.gpus.unwrap_or(0)) * elapsed_s;
    let mem_gb = input.req_mem_mb.unwrap_or(0.0).max(0.0) / 1024.0;
    // Memory power is capped at what a node can hold, so a bogus ReqMem (xdmod has one of
    // 2 PB) cannot dominate a report: 64 TiB.
    let mem_gb = mem_gb.min(65_536.0);
    cpu_s * tdp.cpu_w_per_core + gpu_s * tdp.gpu_w + elapsed_s * mem_gb * settings.memory_w_per_gb
}

/// A partition's calibration: measured / estimated energy of its measured jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub factor: f64,
    pub low: f64,
    pub high: f64,
    pub n_jobs: u32,
}

/// Calibrates from (measured, estimated) pairs; `None` with fewer than `min_jobs` usable pairs.
pub fn calibrate(pairs: &[(f64, f64)], min_jobs: u32) -> Option<Calibration> {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(m, e)| *e > 0.0 && *m > 0.0 && m.is_finite() && e.is_finite())
        .map(|(m, e)| m / e)
        .collect();
    if ratios.len() < min_jobs.max(1) as usize {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (ratios.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        ratios[lo] + (ratios[hi] - ratios[lo]) * (pos - lo as f64)
    };
    let factor = q(0.5);
    Some(Calibration {
        factor,
        low: q(0.1).min(factor),
        high: q(0.9).max(factor),
        n_jobs: ratios.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_ga4hpc_validation_case() {
        // methodology.md §7 V7: 7.5 W/core, 2 h elapsed, 24 CPU-hours, 64 GB:
        // (24·7.5 + 2·64·0.3725) Wh = 227.68 Wh before PUE.
        let mut s = EstimateSettings::default();
        s.default.cpu_w_per_core = 7.5;
        let input = EstimateInput {
            elapsed_s: 7200.0,
            ncpus: Some(16),
            total_cpu_s: Some(24.0 * 3600.0),
            cpu_time_s: Some(32.0 * 3600.0),
            gpus: None,
            req_mem_mb: Some(64.0 * 1024.0),
        };
        let wh = green_algorithms_j(&input, &s, None) / 3600.0;
        assert!((wh - 227.68).abs() < 1e-9, "{wh}");
        // With PUE 1.67 this is the 0.3802256 kWh of the validation case.
        assert!((wh * 1.67 / 1000.0 - 0.380_225_6).abs() < 1e-9);
        // TotalCPU 0 falls back on CPUTime (all allocated cores busy).
        let idle = EstimateInput {
            total_cpu_s: Some(0.0),
            ..input
        };
        let wh = green_algorithms_j(&idle, &s, None) / 3600.0;
        assert!((wh - (32.0 * 7.5 + 2.0 * 64.0 * 0.3725)).abs() < 1e-9);
    }

    #[test]
    fn gpus_and_partition_tables() {
        let mut s = EstimateSettings::default();
        s.partitions.push((
            "gpu".into(),
            crate::config::Tdp {
                cpu_w_per_core: 0.0,
                gpu_w: 300.0,
            },
        ));
        let input = EstimateInput {
            elapsed_s: 3600.0,
            ncpus: Some(4),
            gpus: Some(2),
            ..Default::default()
        };
        assert_eq!(green_algorithms_j(&input, &s, Some("gpu")), 600.0 * 3600.0);
        assert_eq!(
            green_algorithms_j(&input, &s, Some("cpu")),
            (4.0 * 12.0 + 400.0) * 3600.0
        );
    }

    #[test]
    fn calibration_uses_median_and_deciles() {
        let pairs: Vec<(f64, f64)> = (1..=11).map(|i| (f64::from(i), 1.0)).collect();
        let c = calibrate(&pairs, 5).unwrap();
        assert_eq!(c.factor, 6.0);
        assert_eq!(c.low, 2.0);
        assert_eq!(c.high, 10.0);
        assert_eq!(c.n_jobs, 11);
        assert!(calibrate(&pairs[..4], 5).is_none());
        assert!(calibrate(&[(1.0, 0.0); 10], 5).is_none());
    }
}
