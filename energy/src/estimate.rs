//! Energy of jobs nobody measured, the Green Algorithms way (Lannelongue et al. 2021, as
//! GA4HPC applies it to sacct; methodology.md §4.1 and §4.3):
//!
//! ```text
//! E = (CPU-hours used × W per core + GPU-hours × W per GPU + hours × memory GB × 0.3725 W/GB)
//! ```
//!
//! CPU-hours used come from TotalCPU, or CPUTime (every allocated core busy) when TotalCPU is
//! zero; GPU-hours are elapsed × GPUs from AllocTRES (GA4HPC assumes full GPU use); memory is
//! ReqMem. A caller that knows how busy the cores or GPUs were gives Green Algorithms' usage
//! factors instead ([`green_algorithms_with_usage_j`]). PUE is not applied here: like measured energies, estimates are the IT equipment's
//! energy, and the use-phase impacts apply PUE.
//!
//! Where a partition has measured jobs, they calibrate its estimates. Green Algorithms counts
//! only what a job's cores, GPUs and memory draw while busy; a measured job also pays for its
//! share of the node's idle and static draw (power supplies, fans, board, idle cores), which
//! Jay found to be large (a DGX-1 draws ~870 W idle at the wall; methodology.md §1.6). One
//! multiplier cannot stand for both: an idle job has a tiny GA figure and a large measured one,
//! so measured / GA ratios spread over orders of magnitude. The calibration therefore fits
//!
//! ```text
//! measured ≈ factor × GA + static_w_per_cpu × allocated CPU-seconds
//! ```
//!
//! (both terms non-negative, least squares on relative errors, so large and small jobs weigh
//! alike), and bounds an estimate by the 10th–90th percentiles of measured / fitted over the
//! calibrating jobs. A weak prior pulls `factor` towards 1 (Green Algorithms' own TDP model):
//! when the jobs cannot tell the two terms apart (every job as busy as the next, so GA energy
//! and CPU-seconds are proportional), the fit keeps GA as it is and puts the rest in the static
//! term, instead of scaling GA by thousands.

/// Power per device for the estimate of one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Tdp {
    /// CPU power per allocated core at full use, W.
    pub cpu_w_per_core: f64,
    /// Power per allocated GPU at full use, W.
    pub gpu_w: f64,
}

/// How unmeasured jobs are estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateSettings {
    /// The power of partitions the config does not name.
    pub default: Tdp,
    /// Per-partition powers (`[[estimate.partition]]`), by partition name.
    pub partitions: Vec<(String, Tdp)>,
    /// Memory power per requested GB, W.
    pub memory_w_per_gb: f64,
    /// (min, max) multipliers of an estimate no measured job calibrates.
    pub uncalibrated_range: (f64, f64),
    /// Measured jobs a partition needs before its estimates are calibrated.
    pub min_calibration_jobs: u32,
}

impl EstimateSettings {
    /// The TDP table for a partition.
    pub fn tdp(&self, partition: Option<&str>) -> &Tdp {
        partition
            .and_then(|p| self.partitions.iter().find(|(n, _)| n == p).map(|(_, t)| t))
            .unwrap_or(&self.default)
    }
}

impl Default for EstimateSettings {
    fn default() -> Self {
        // Green Algorithms v3.0 defaults for unknown hardware (methodology.md §4.1–4.2).
        Self {
            default: Tdp {
                cpu_w_per_core: 12.0,
                gpu_w: 200.0,
            },
            partitions: Vec::new(),
            memory_w_per_gb: 0.3725,
            // GA missed up to 20 % against a wattmeter on a DGX-1 (methodology §4.5) and TDP
            // models miss static node power, which can double a GPU node's energy (§1.2, §1.6).
            uncalibrated_range: (0.8, 2.0),
            min_calibration_jobs: 5,
        }
    }
}

/// What the estimate needs from a job.
#[derive(Debug, Clone, Copy, Default)]
pub struct EstimateInput {
    /// Elapsed time, seconds.
    pub elapsed_s: f64,
    /// Allocated CPUs.
    pub ncpus: Option<u32>,
    /// sacct's TotalCPU, seconds: the CPU time the job used.
    pub total_cpu_s: Option<f64>,
    /// sacct's CPUTime (elapsed × allocated CPUs), seconds.
    pub cpu_time_s: Option<f64>,
    /// Allocated GPUs.
    pub gpus: Option<u32>,
    /// Requested memory, MB.
    pub req_mem_mb: Option<f64>,
}

/// CPU-seconds allocated to a job: CPUTime, else NCPUS × elapsed.
pub fn allocated_cpu_s(input: &EstimateInput) -> f64 {
    let elapsed_s = input.elapsed_s.max(0.0);
    input
        .cpu_time_s
        .filter(|v| *v > 0.0)
        .or_else(|| input.ncpus.map(|c| f64::from(c) * elapsed_s))
        .unwrap_or(0.0)
}

/// The Green-Algorithms energy of a job, joules, before calibration, with sacct's view of
/// usage ([`Usage::SACCT`]).
pub fn green_algorithms_j(
    input: &EstimateInput,
    settings: &EstimateSettings,
    partition: Option<&str>,
) -> f64 {
    green_algorithms_with_usage_j(input, settings, partition, Usage::SACCT)
}

/// A usage factor: the share of its TDP a CPU core or GPU draws, 0 to 1 (Green Algorithms'
/// "usage factor"; methodology §4.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageFactor(f64);

impl UsageFactor {
    /// A core or GPU drawing all of its TDP (GA4HPC's assumption).
    pub const FULL: UsageFactor = UsageFactor(1.0);

    /// # Errors
    /// A value outside 0..=1, or not a number.
    pub fn new(x: f64) -> Result<Self, UsageOutOfRange> {
        if (0.0..=1.0).contains(&x) {
            Ok(UsageFactor(x))
        } else {
            Err(UsageOutOfRange(x))
        }
    }

    /// The factor, 0 to 1.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A usage factor outside 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageOutOfRange(pub f64);

impl std::fmt::Display for UsageOutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "usage factor {} is not between 0 and 1", self.0)
    }
}

impl std::error::Error for UsageOutOfRange {}

/// How busy a job's CPUs and GPUs were. sacct tells the CPUs' (TotalCPU) and not the GPUs',
/// which GA4HPC takes as fully used; a caller that knows better (Green Algorithms' own form,
/// a GPU utilisation log) says so here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Share of the allocated cores' TDP drawn; `None`: from TotalCPU, as sacct gives it.
    pub cpu: Option<UsageFactor>,
    /// Share of the allocated GPUs' TDP drawn.
    pub gpu: UsageFactor,
}

impl Usage {
    /// CPUs from TotalCPU, GPUs at full use (GA4HPC).
    pub const SACCT: Usage = Usage {
        cpu: None,
        gpu: UsageFactor::FULL,
    };
}

/// The Green-Algorithms energy of a job, joules, before calibration, at the usage given.
pub fn green_algorithms_with_usage_j(
    input: &EstimateInput,
    settings: &EstimateSettings,
    partition: Option<&str>,
    usage: Usage,
) -> f64 {
    let tdp = settings.tdp(partition);
    let elapsed_s = input.elapsed_s.max(0.0);
    let cpu_s = match usage.cpu {
        Some(u) => allocated_cpu_s(input) * u.get(),
        None => used_cpu_s(input),
    };
    let gpu_s = f64::from(input.gpus.unwrap_or(0)) * elapsed_s * usage.gpu.get();
    let mem_gb = input.req_mem_mb.unwrap_or(0.0).max(0.0) / 1024.0;
    // Memory power is capped at what a node can hold, so a bogus ReqMem (xdmod has one of
    // 2 PB) cannot dominate a report: 64 TiB.
    let mem_gb = mem_gb.min(65_536.0);
    cpu_s * tdp.cpu_w_per_core + gpu_s * tdp.gpu_w + elapsed_s * mem_gb * settings.memory_w_per_gb
}

/// CPU-seconds the job's processes used: TotalCPU, at most what was allocated; what was
/// allocated when TotalCPU is zero or absent.
fn used_cpu_s(input: &EstimateInput) -> f64 {
    let alloc_cpu_s = allocated_cpu_s(input);
    // TotalCPU cannot exceed what was allocated; sacct sometimes reports more for jobs whose
    // steps overlap, and 0 for jobs killed before accounting.
    match input.total_cpu_s.filter(|v| *v > 0.0) {
        Some(used) if alloc_cpu_s > 0.0 => used.min(alloc_cpu_s),
        Some(used) => used,
        None => alloc_cpu_s,
    }
}

/// A partition's calibration, fitted on its measured jobs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Multiplier of the Green-Algorithms energy.
    pub factor: f64,
    /// Power per allocated CPU that Green Algorithms leaves out (idle and static draw), W.
    pub static_w_per_cpu: f64,
    /// 10th and 90th percentiles of measured / fitted energy over the calibrating jobs
    /// (`low` ≤ 1 ≤ `high`): the range of an estimate.
    pub low: f64,
    /// See `low`: the 90th percentile.
    pub high: f64,
    /// How many measured jobs the fit used.
    pub n_jobs: u32,
}

impl Calibration {
    /// The calibrated energy, J, from a job's Green-Algorithms energy and its allocated
    /// CPU-seconds: (value, min, max).
    pub fn apply(&self, ga_j: f64, allocated_cpu_s: f64) -> (f64, f64, f64) {
        let j = self.factor * ga_j + self.static_w_per_cpu * allocated_cpu_s;
        (j, j * self.low, j * self.high)
    }

    /// `0.93 × GA + 142 W/CPU`, for people.
    pub fn describe(&self) -> String {
        format!(
            "{:.3} × GA + {:.1} W per allocated CPU",
            self.factor, self.static_w_per_cpu
        )
    }
}

/// One measured job, for calibration: its measured energy, its Green-Algorithms energy (J) and
/// its allocated CPU-seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationPoint {
    /// Energy its nodes measured, J.
    pub measured_j: f64,
    /// Its Green-Algorithms energy, J.
    pub ga_j: f64,
    /// Its allocated CPU-seconds (elapsed × CPUs).
    pub allocated_cpu_s: f64,
}

/// Fits a calibration; `None` with fewer than `min_jobs` usable points (positive, finite
/// measured energy and something to scale) or when no non-negative fit explains them.
pub fn calibrate(points: &[CalibrationPoint], min_jobs: u32) -> Option<Calibration> {
    let usable: Vec<&CalibrationPoint> = points
        .iter()
        .filter(|p| {
            p.measured_j > 0.0
                && p.measured_j.is_finite()
                && p.ga_j.is_finite()
                && p.allocated_cpu_s.is_finite()
                && p.ga_j >= 0.0
                && p.allocated_cpu_s >= 0.0
                && p.ga_j + p.allocated_cpu_s > 0.0
        })
        .collect();
    if usable.len() < min_jobs.max(1) as usize {
        return None;
    }
    // Relative residuals: minimise Σ (a·u + b·v − 1)², u = GA/measured, v = CPU-s/measured.
    let (mut uu, mut uv, mut vv, mut u1, mut v1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &usable {
        let (u, v) = (p.ga_j / p.measured_j, p.allocated_cpu_s / p.measured_j);
        uu += u * u;
        uv += u * v;
        vv += v * v;
        u1 += u;
        v1 += v;
    }
    // The prior: λ (a − 1)², with λ a hundredth of GA's own weight in the fit.
    let lambda = 0.01 * uu;
    let objective = |a: f64, b: f64| -> f64 {
        let fit: f64 = usable
            .iter()
            .map(|p| {
                (a * p.ga_j / p.measured_j + b * p.allocated_cpu_s / p.measured_j - 1.0).powi(2)
            })
            .sum();
        fit + lambda * (a - 1.0).powi(2)
    };
    let (uu, u1) = (uu + lambda, u1 + lambda);
    let mut candidates = Vec::new();
    let det = uu * vv - uv * uv;
    if det > 0.0 {
        let (a, b) = ((u1 * vv - v1 * uv) / det, (v1 * uu - u1 * uv) / det);
        if a >= 0.0 && b >= 0.0 {
            candidates.push((a, b));
        }
    }
    if uu > 0.0 {
        candidates.push((u1 / uu, 0.0));
    }
    if vv > 0.0 {
        candidates.push((0.0, v1 / vv));
    }
    let (factor, static_w_per_cpu) = candidates
        .into_iter()
        .filter(|(a, b)| *a >= 0.0 && *b >= 0.0 && a.is_finite() && b.is_finite())
        .min_by(|x, y| objective(x.0, x.1).total_cmp(&objective(y.0, y.1)))?;
    let mut ratios: Vec<f64> = usable
        .iter()
        .map(|p| p.measured_j / (factor * p.ga_j + static_w_per_cpu * p.allocated_cpu_s))
        .filter(|r| r.is_finite())
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (ratios.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        ratios[lo] + (ratios[hi] - ratios[lo]) * (pos - lo as f64)
    };
    Some(Calibration {
        factor,
        static_w_per_cpu,
        low: q(0.1).min(1.0),
        high: q(0.9).max(1.0),
        n_jobs: usable.len() as u32,
    })
}

/// The calibration group of a job: its cluster and partition (`cluster/partition`, `-`
/// without one), the key calibrations are stored and looked up by.
pub fn calibration_group(cluster: &str, partition: Option<&str>) -> String {
    format!("{cluster}/{}", partition.unwrap_or("-"))
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
    fn usage_factors_scale_what_they_cover() {
        let mut s = EstimateSettings::default();
        s.default.cpu_w_per_core = 10.0;
        s.default.gpu_w = 300.0;
        let input = EstimateInput {
            elapsed_s: 3600.0,
            ncpus: Some(4),
            total_cpu_s: Some(3600.0),
            gpus: Some(2),
            req_mem_mb: Some(1024.0),
            ..Default::default()
        };
        let at = |cpu: Option<f64>, gpu: f64| {
            let usage = Usage {
                cpu: cpu.map(|c| UsageFactor::new(c).unwrap()),
                gpu: UsageFactor::new(gpu).unwrap(),
            };
            green_algorithms_with_usage_j(&input, &s, None, usage) / 3600.0
        };
        // sacct's view: one core-hour used, both GPUs full, 1 GB.
        assert_eq!(at(None, 1.0), 10.0 + 600.0 + 0.3725);
        assert_eq!(at(None, 1.0), green_algorithms_j(&input, &s, None) / 3600.0);
        assert_eq!(at(None, 0.5), 10.0 + 300.0 + 0.3725);
        // A CPU factor replaces TotalCPU: half of the four cores allocated.
        assert_eq!(at(Some(0.5), 0.0), 20.0 + 0.3725);
        assert_eq!(at(Some(0.0), 0.0), 0.3725);
        for bad in [-0.1, 1.5, f64::NAN] {
            let e = UsageFactor::new(bad).unwrap_err();
            assert!(e.to_string().contains("not between 0 and 1"), "{e}");
        }
    }

    #[test]
    fn gpus_and_partition_tables() {
        let mut s = EstimateSettings::default();
        s.partitions.push((
            "gpu".into(),
            Tdp {
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

    fn point(measured_j: f64, ga_j: f64, allocated_cpu_s: f64) -> CalibrationPoint {
        CalibrationPoint {
            measured_j,
            ga_j,
            allocated_cpu_s,
        }
    }

    #[test]
    fn calibration_recovers_a_dynamic_factor_and_a_static_power() {
        // Jobs drawn from measured = 1.3 × GA + 40 W per CPU, busy and idle ones mixed.
        let pts: Vec<CalibrationPoint> = (1..=12)
            .map(|i| {
                let cpu_s = f64::from(i) * 3600.0;
                let ga = if i % 3 == 0 {
                    0.0
                } else {
                    f64::from(i * i) * 5.0e4
                };
                point(1.3 * ga + 40.0 * cpu_s, ga, cpu_s)
            })
            .collect();
        let c = calibrate(&pts, 5).unwrap();
        // The weak prior towards factor 1 costs a little accuracy on exact data.
        assert!(
            (c.factor - 1.3).abs() < 0.01 && (c.static_w_per_cpu - 40.0).abs() < 0.5,
            "{c:?}"
        );
        assert!(
            c.low > 0.99 && c.high < 1.01,
            "exact data, little spread: {c:?}"
        );
        assert_eq!(c.n_jobs, 12);
        let (j, lo, hi) = c.apply(1000.0, 10.0);
        let expected = c.factor * 1000.0 + c.static_w_per_cpu * 10.0;
        assert!((j - expected).abs() < 1e-9 && lo <= j && j <= hi);
        assert!(c.describe().contains(" × GA + ") && c.describe().contains("W per allocated CPU"));
    }

    #[test]
    fn idle_jobs_are_explained_by_static_power_not_by_a_huge_factor() {
        // What the demo cluster showed: sleeping jobs on nodes drawing ~150 W per CPU. A
        // single multiplier of GA (which sees almost no CPU use) came out at ~2800.
        let pts: Vec<CalibrationPoint> = (1..=8)
            .map(|i| {
                point(
                    150.0 * f64::from(i) * 20.0,
                    0.05 * f64::from(i),
                    f64::from(i) * 20.0,
                )
            })
            .collect();
        let c = calibrate(&pts, 5).unwrap();
        // GA is kept about as it is; the static term carries the idle draw.
        assert!(
            (c.factor - 1.0).abs() < 0.05 && (c.static_w_per_cpu - 150.0).abs() < 1.0,
            "{c:?}"
        );
    }

    #[test]
    fn purely_dynamic_jobs_need_no_static_term_and_noise_sets_the_range() {
        let noise = [0.9, 1.1, 1.0, 0.95, 1.05, 1.2, 0.8, 1.0, 1.02, 0.98, 1.0];
        let pts: Vec<CalibrationPoint> = noise
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let ga = (i as f64 + 1.0) * 1.0e5;
                point(2.0 * ga * n, ga, 0.0)
            })
            .collect();
        let c = calibrate(&pts, 5).unwrap();
        assert_eq!(c.static_w_per_cpu, 0.0);
        assert!((c.factor - 2.0).abs() < 0.1, "{c:?}");
        assert!(c.low < 1.0 && c.high > 1.0, "{c:?}");
    }

    #[test]
    fn too_few_or_unusable_points_give_no_calibration() {
        let pts: Vec<CalibrationPoint> = (1..=4).map(|i| point(f64::from(i), 1.0, 1.0)).collect();
        assert!(calibrate(&pts, 5).is_none());
        assert!(calibrate(&[point(1.0, 0.0, 0.0); 10], 5).is_none());
        assert!(calibrate(&[point(0.0, 1.0, 1.0); 10], 5).is_none());
        assert!(calibrate(&[point(f64::NAN, 1.0, 1.0); 10], 5).is_none());
    }
}
