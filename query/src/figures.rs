//! Every job's figure: its energy (measured, split from a shared node, or estimated), its mean
//! power, node- and GPU-hours, and its use-phase and embodied impacts with ranges.
//!
//! Figures are computed when asked (by `acct`, `job` and `report`), not stored: they depend on
//! the inventory and factor tables, which a site may change, and computing one is a few
//! arithmetic operations.

use ea_energy::estimate::{self, Calibration, EstimateInput};
use ea_impact::{Impacts, Ranged};
use ea_store::config::EstimateSettings;
use ea_store::read::JobRecord;
use rayon::prelude::*;
use std::collections::HashMap;

/// Where a job's energy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Its nodes' meters, the job alone on them.
    Measured,
    /// Its nodes' meters, the job holding part of a node or sharing it in time: split by the
    /// impact engine's rule (the inventory's share rule, time overlap, Jay's rule for GPUs).
    Split,
    /// Nobody measured it: Green Algorithms from its sacct fields.
    Estimated,
}

impl Source {
    /// The source's name in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Split => "split",
            Source::Estimated => "estimated",
        }
    }
}

/// A job's energy, joules.
#[derive(Debug, Clone, PartialEq)]
pub struct Energy {
    /// The energy, J.
    pub j: f64,
    /// Its lower bound, J.
    pub min_j: f64,
    /// Its upper bound, J.
    pub max_j: f64,
    /// Where it comes from.
    pub source: Source,
    /// For estimates: the calibration of the job's partition, when it had one.
    pub calibration: Option<Calibration>,
}

/// A job's use-phase and embodied impacts, as the impact engine gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct JobImpacts {
    /// Use phase: energy × PUE × electricity factors.
    pub use_phase: Ranged<Impacts>,
    /// The job's share of its nodes' embodied impacts.
    pub embodied: Ranged<Impacts>,
}

impl JobImpacts {
    /// Use phase plus embodied.
    pub fn total(&self) -> Ranged<Impacts> {
        self.use_phase + self.embodied
    }
}

/// What the figures need from the impact engine.
pub trait ImpactModel: Sync {
    /// Use-phase impacts of a job that drew `energy` at its nodes (before PUE); `None` when the
    /// engine does not know its nodes.
    fn use_phase(&self, job: &JobRecord, energy: &Energy) -> Option<Ranged<Impacts>>;
    /// Names the inventory and factor sets used, for reports.
    fn provenance(&self) -> String;
    /// The inventory, where the model has one (reports allocate a whole period with it).
    fn inventory(&self) -> Option<&ea_impact::Inventory> {
        None
    }
}

/// The model used without an inventory: energies only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInventory;

impl ImpactModel for NoInventory {
    fn use_phase(&self, _: &JobRecord, _: &Energy) -> Option<Ranged<Impacts>> {
        None
    }
    fn provenance(&self) -> String {
        "no inventory configured ([site] inventory in the config): energies only, no impacts".into()
    }
}

/// One job's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFigures {
    /// Its energy.
    pub energy: Energy,
    /// Elapsed time, seconds.
    pub elapsed_s: f64,
    /// Energy over elapsed time, W; `None` for a job that did not run.
    pub mean_power_w: Option<f64>,
    /// Nodes × elapsed hours.
    pub node_hours: f64,
    /// GPUs × elapsed hours.
    pub gpu_hours: f64,
    /// Its impacts; `None` when the engine could not give them (no inventory, unknown nodes, not allocated).
    pub impacts: Option<JobImpacts>,
}

/// What figures are computed with.
pub struct FigureContext<'a> {
    /// How unmeasured jobs are estimated.
    pub estimate: &'a EstimateSettings,
    /// Calibrations by group ([`ea_energy::estimate::calibration_group`]).
    pub calibrations: &'a HashMap<String, Calibration>,
    /// The impact engine, or [`NoInventory`].
    pub model: &'a dyn ImpactModel,
}

/// The elapsed time of a job, seconds: Elapsed, else end − start, else 0.
pub fn elapsed_s(job: &JobRecord) -> f64 {
    match (job.row.elapsed_s, job.row.start, job.row.end) {
        (Some(e), _, _) => e.max(0) as f64,
        (None, Some(s), Some(e)) => (e - s).max(0) as f64,
        _ => 0.0,
    }
}

/// What a job's energy is computed from.
#[derive(Debug, Clone, Copy)]
pub struct EnergyFields<'a> {
    /// Measured (energy, min, max, split), when the job was measured.
    pub measured: Option<(f64, f64, f64, bool)>,
    /// Elapsed time, seconds.
    pub elapsed_s: f64,
    /// Allocated CPUs.
    pub ncpus: Option<u32>,
    /// sacct's TotalCPU, seconds.
    pub total_cpu_s: Option<f64>,
    /// sacct's CPUTime, seconds.
    pub cpu_time_s: Option<f64>,
    /// Allocated GPUs.
    pub gpus: Option<u32>,
    /// Requested memory, MB.
    pub req_mem_mb: Option<f64>,
    /// The partition, for its TDP and calibration.
    pub partition: Option<&'a str>,
}

impl<'a> EnergyFields<'a> {
    /// The fields of a stored job.
    pub fn of(job: &'a JobRecord) -> Self {
        Self {
            measured: job
                .measured
                .as_ref()
                .map(|m| (m.energy_j, m.energy_min_j, m.energy_max_j, m.split)),
            elapsed_s: elapsed_s(job),
            ncpus: job.row.ncpus,
            total_cpu_s: job.row.total_cpu_s,
            cpu_time_s: job.row.cpu_time_s,
            gpus: job.row.gpus,
            req_mem_mb: job.row.req_mem_mb,
            partition: job.row.partition.as_deref(),
        }
    }
}

/// The calibration of a job's partition, if it has one.
pub fn calibration_of(
    ctx: &FigureContext<'_>,
    cluster: &str,
    partition: Option<&str>,
) -> Option<Calibration> {
    // A handful of groups: compared in place rather than formatting a key for every job.
    let partition = partition.unwrap_or("-");
    ctx.calibrations
        .iter()
        .find(|(k, _)| k.strip_prefix(cluster).and_then(|r| r.strip_prefix('/')) == Some(partition))
        .map(|(_, c)| *c)
}

/// The energy of a job: measured when its nodes reported, else the calibrated estimate.
pub fn energy(job: &JobRecord, ctx: &FigureContext<'_>) -> Energy {
    let calibration = calibration_of(ctx, job.cluster(), job.row.partition.as_deref());
    energy_of(&EnergyFields::of(job), ctx.estimate, calibration)
}

/// [`energy`] from a job's fields and its partition's calibration.
pub fn energy_of(
    f: &EnergyFields<'_>,
    estimate: &EstimateSettings,
    calibration: Option<Calibration>,
) -> Energy {
    if let Some((j, min_j, max_j, split)) = f.measured {
        return Energy {
            j,
            min_j,
            max_j,
            source: if split {
                Source::Split
            } else {
                Source::Measured
            },
            calibration: None,
        };
    }
    let input = EstimateInput {
        elapsed_s: f.elapsed_s,
        ncpus: f.ncpus,
        total_cpu_s: f.total_cpu_s,
        cpu_time_s: f.cpu_time_s,
        gpus: f.gpus,
        req_mem_mb: f.req_mem_mb,
    };
    let ga = estimate::green_algorithms_j(&input, estimate, f.partition);
    match calibration {
        Some(c) => {
            let (j, min_j, max_j) = c.apply(ga, estimate::allocated_cpu_s(&input));
            Energy {
                j,
                min_j,
                max_j,
                source: Source::Estimated,
                calibration: Some(c),
            }
        }
        None => {
            let (lo, hi) = estimate.uncalibrated_range;
            Energy {
                j: ga,
                min_j: ga * lo,
                max_j: ga * hi,
                source: Source::Estimated,
                calibration: None,
            }
        }
    }
}

/// Whether a job ran: Slurm gave it an elapsed time, or its nodes measured energy for it (a
/// job of under a second has Elapsed 0 with Start = End, yet its records measured it: the
/// e2e parity test's jobs on a fast node).
pub fn ran(elapsed: f64, energy: &Energy) -> bool {
    elapsed > 0.0 || (energy.source != Source::Estimated && energy.j > 0.0)
}

impl JobFigures {
    /// See [`ran`].
    pub fn ran(&self) -> bool {
        ran(self.elapsed_s, &self.energy)
    }
}

/// The figures of a job from its energy and what the engine charged it (`None` when the
/// engine could not: no inventory, unknown nodes). A job that never ran is charged nothing
/// for its use phase.
pub fn job_figures_of(
    energy: Energy,
    elapsed: f64,
    nnodes: Option<u32>,
    gpus: Option<u32>,
    use_phase: Option<Ranged<Impacts>>,
    embodied: Option<Ranged<Impacts>>,
) -> JobFigures {
    let impacts = if !ran(elapsed, &energy) {
        Some(JobImpacts {
            use_phase: Ranged::ZERO,
            embodied: embodied.unwrap_or(Ranged::ZERO),
        })
    } else {
        // No node-hours, no embodied share: the engine charges an empty interval nothing
        // and says so by giving none.
        let embodied = embodied.or((elapsed <= 0.0).then_some(Ranged::ZERO));
        match (use_phase, embodied) {
            (Some(u), Some(e)) => Some(JobImpacts {
                use_phase: u,
                embodied: e,
            }),
            _ => None,
        }
    };
    JobFigures {
        mean_power_w: (elapsed > 0.0).then(|| energy.j / elapsed),
        node_hours: elapsed * f64::from(nnodes.unwrap_or(0)) / 3600.0,
        gpu_hours: elapsed * f64::from(gpus.unwrap_or(0)) / 3600.0,
        elapsed_s: elapsed,
        energy,
        impacts,
    }
}

/// Figures of a batch of jobs, in order: each job's embodied impacts as the ingest stored
/// them ([`JobRecord::embodied`]), its use phase from its energy.
pub fn figures_batch(jobs: &[&JobRecord], ctx: &FigureContext<'_>) -> Vec<JobFigures> {
    jobs.par_iter()
        .map(|job| {
            let energy = energy(job, ctx);
            let elapsed = elapsed_s(job);
            let use_phase = if ran(elapsed, &energy) {
                ctx.model.use_phase(job, &energy)
            } else {
                None
            };
            let embodied = job.embodied.as_ref().and_then(|e| e.embodied);
            job_figures_of(
                energy,
                elapsed,
                job.row.nnodes,
                job.row.gpus,
                use_phase,
                embodied,
            )
        })
        .collect()
}

/// One job's figures (outside any period).
pub fn job_figures(job: &JobRecord, ctx: &FigureContext<'_>) -> JobFigures {
    figures_batch(&[job], ctx).remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ea_energy::estimate::calibration_group;
    use ea_sacct::JobRow;
    use ea_store::read::MeasuredRecord;

    fn job() -> JobRecord {
        JobRecord {
            row: JobRow {
                cluster: Some("c".into()),
                job_id: "1".into(),
                partition: Some("p".into()),
                state: "COMPLETED".into(),
                elapsed_s: Some(3600),
                ncpus: Some(2),
                nnodes: Some(1),
                gpus: Some(1),
                total_cpu_s: Some(3600.0),
                node_list: Some("n1".into()),
                ..Default::default()
            },
            is_final: true,
            ..Default::default()
        }
    }

    #[test]
    fn estimates_are_calibrated_when_the_partition_has_measured_jobs() {
        let est = EstimateSettings::default();
        let none = HashMap::new();
        let ctx = FigureContext {
            estimate: &est,
            calibrations: &none,
            model: &NoInventory,
        };
        let f = job_figures(&job(), &ctx);
        // 1 CPU-hour × 12 W + 1 GPU-hour × 200 W.
        assert_eq!(f.energy.j, 212.0 * 3600.0);
        assert_eq!(f.energy.source, Source::Estimated);
        assert_eq!(
            (f.energy.min_j, f.energy.max_j),
            (212.0 * 3600.0 * 0.8, 212.0 * 3600.0 * 2.0)
        );
        assert_eq!(f.mean_power_w, Some(212.0));
        assert_eq!((f.node_hours, f.gpu_hours), (1.0, 1.0));
        assert!(f.impacts.is_none());
        let mut cal = HashMap::new();
        cal.insert(
            "c/p".to_string(),
            Calibration {
                factor: 1.5,
                static_w_per_cpu: 10.0,
                low: 0.8,
                high: 2.0,
                n_jobs: 9,
            },
        );
        let ctx = FigureContext {
            estimate: &est,
            calibrations: &cal,
            model: &NoInventory,
        };
        let f = job_figures(&job(), &ctx);
        // 1.5 × GA + 10 W per allocated CPU.
        let cpu_s = ea_energy::estimate::allocated_cpu_s(&EstimateInput {
            elapsed_s: job().row.elapsed_s.unwrap() as f64,
            ncpus: job().row.ncpus,
            total_cpu_s: job().row.total_cpu_s,
            cpu_time_s: job().row.cpu_time_s,
            gpus: job().row.gpus,
            req_mem_mb: job().row.req_mem_mb,
        });
        assert!(cpu_s > 0.0);
        assert_eq!(f.energy.j, 212.0 * 3600.0 * 1.5 + 10.0 * cpu_s);
        assert_eq!(
            (f.energy.min_j, f.energy.max_j),
            (f.energy.j * 0.8, f.energy.j * 2.0)
        );
        assert_eq!(f.energy.calibration.as_ref().unwrap().n_jobs, 9);
        assert_eq!(calibration_group("c", Some("p")), "c/p");
    }

    #[test]
    fn a_measured_job_of_under_a_second_ran() {
        let e = |source, j| Energy {
            j,
            min_j: j,
            max_j: j,
            source,
            calibration: None,
        };
        assert!(ran(0.0, &e(Source::Measured, 120.0)));
        assert!(ran(0.0, &e(Source::Split, 1.0)));
        assert!(!ran(0.0, &e(Source::Estimated, 0.0)));
        assert!(!ran(0.0, &e(Source::Measured, 0.0)));
        let u = Ranged::exact(Impacts {
            gwp_kgco2eq: 1e-6,
            pe_mj: 1e-5,
            adpe_kgsbeq: 1e-10,
        });
        let f = job_figures_of(
            e(Source::Measured, 120.0),
            0.0,
            Some(1),
            None,
            Some(u),
            None,
        );
        // Zero node-hours: embodied zero, whatever the engine gave; the use phase measured.
        let i = f.impacts.expect("a figure");
        assert_eq!((i.use_phase, i.embodied), (u, Ranged::ZERO));
        // The engine does not know the nodes: no use phase, no figure.
        let f = job_figures_of(e(Source::Measured, 1.0), 0.0, Some(1), None, None, None);
        assert!(f.impacts.is_none());
        let f = job_figures_of(
            e(Source::Measured, 120.0),
            0.0,
            Some(1),
            None,
            Some(u),
            Some(Ranged::ZERO),
        );
        assert_eq!(f.impacts.unwrap().use_phase, u);
        assert_eq!(f.mean_power_w, None);
    }

    #[test]
    fn measured_jobs_keep_their_measurement() {
        let est = EstimateSettings::default();
        let none = HashMap::new();
        let ctx = FigureContext {
            estimate: &est,
            calibrations: &none,
            model: &NoInventory,
        };
        let mut j = job();
        j.measured = Some(MeasuredRecord {
            nodes_recorded: 1,
            energy_j: 1000.0,
            energy_min_j: 1000.0,
            energy_max_j: 1200.0,
            split: true,
            scope: "node-bmc".into(),
            ..Default::default()
        });
        let f = job_figures(&j, &ctx);
        assert_eq!((f.energy.j, f.energy.source), (1000.0, Source::Split));
    }
}
