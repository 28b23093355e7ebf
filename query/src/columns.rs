//! The columns of `energy-assess acct`: sacct's usual ones plus energy and impacts, each with a
//! default width and a typed value, and `--format` lists parsed like sacct's (`Name%width`,
//! `%-width` to left-justify, names in any case).

use crate::figures::JobFigures;
use ea_impact::{Impacts, Ranged};
use ea_sacct::StepRow;
use ea_sacct::timefmt::{format_cpu, format_elapsed};
use ea_store::read::JobRecord;

/// A typed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (printed empty).
    Null,
    /// Text as is.
    Text(String),
    /// An integer.
    Int(i64),
    /// Epoch seconds, shown in the site's zone.
    Time(i64),
    /// Whole seconds, shown as `[D-]HH:MM:SS`.
    Duration(i64),
    /// CPU seconds, shown as sacct's TotalCPU.
    CpuDuration(f64),
    /// Slurm's own joules (ConsumedEnergy), shown as sacct shows them (`20.54M`, `--units`).
    SlurmEnergy(f64),
    /// energy-assess's joules: `20.5 MJ` for people (`--units` picks the unit), J in `-P`.
    Energy(f64),
    /// An impact in its criterion's base unit (kgCO2eq, MJ, kgSbeq): `14.6 mg` for people.
    Impact(f64, Criterion),
    /// Watts.
    Power(f64),
    /// Hours (node-hours, GPU-hours): grouped for people.
    Hours(f64),
    /// MiB, shown like ReqMem (`4000M`, `64G`).
    MemMb(f64),
}

/// One row: a job allocation (with its figures) or one of its steps.
pub struct RowRef<'a> {
    /// The job.
    pub job: &'a JobRecord,
    /// The step, for a step's line; `None` for the job's own line.
    pub step: Option<&'a StepRow>,
    /// The job's figures, when computed.
    pub figures: Option<&'a JobFigures>,
}

type Getter = fn(&RowRef<'_>) -> Value;

/// A column: its name as sacct spells it, default width, whether it is left-justified by
/// default, its unit and meaning (for `-e`), and how to get its value.
pub struct Column {
    /// Its name in `--format` and the header.
    pub name: &'static str,
    /// Default width in the table.
    pub width: usize,
    /// Whether the table aligns it to the left.
    pub left: bool,
    /// What `-e` says of it.
    pub help: &'static str,
    /// How its value is read from a row.
    pub get: Getter,
}

fn text(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |t| Value::Text(t.clone()))
}

fn int<T: Into<i64> + Copy>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |x| Value::Int(x.into()))
}

/// A value of the job's own line: steps have none.
fn job_only(r: &RowRef<'_>, f: impl Fn(&JobRecord) -> Value) -> Value {
    if r.step.is_some() {
        Value::Null
    } else {
        f(r.job)
    }
}

fn fig(r: &RowRef<'_>, f: impl Fn(&JobFigures) -> Value) -> Value {
    job_only(r, |_| r.figures.map_or(Value::Null, &f))
}

fn measured_scope(
    r: &RowRef<'_>,
    f: impl Fn(&ea_store::read::MeasuredRecord) -> Option<f64>,
) -> Value {
    job_only(r, |j| {
        j.measured
            .as_ref()
            .and_then(&f)
            .map_or(Value::Null, Value::Energy)
    })
}

fn job_id_text(r: &RowRef<'_>) -> String {
    match r.step {
        Some(s) => format!("{}.{}", r.job.row.job_id, s.step),
        None => r.job.row.job_id.clone(),
    }
}

/// Which criterion an impact value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Global warming potential, kgCO2eq.
    Gwp,
    /// Primary energy, MJ.
    Pe,
    /// Abiotic depletion, kgSbeq.
    Adpe,
}

impl Criterion {
    /// How the criterion is shown to people.
    pub fn quantity(self) -> ea_units::Quantity {
        match self {
            Criterion::Gwp => ea_units::GWP,
            Criterion::Pe => ea_units::PE,
            Criterion::Adpe => ea_units::ADPE,
        }
    }
}

/// Which phase an impact column reads.
#[derive(Clone, Copy)]
enum Phase {
    Use,
    Embodied,
    Total,
}

/// Which bound.
#[derive(Clone, Copy)]
enum Bound {
    Value,
    Min,
    Max,
}

fn impact(r: &RowRef<'_>, phase: Phase, bound: Bound, crit: Criterion) -> Value {
    fig(r, |f| {
        let Some(i) = &f.impacts else {
            return Value::Null;
        };
        let ranged: Ranged<Impacts> = match phase {
            Phase::Use => i.use_phase,
            Phase::Embodied => i.embodied,
            Phase::Total => i.total(),
        };
        let v = match bound {
            Bound::Value => ranged.value,
            Bound::Min => ranged.min,
            Bound::Max => ranged.max,
        };
        let x = match crit {
            Criterion::Gwp => v.gwp_kgco2eq,
            Criterion::Pe => v.pe_mj,
            Criterion::Adpe => v.adpe_kgsbeq,
        };
        Value::Impact(x, crit)
    })
}

const GWP: Criterion = Criterion::Gwp;
const PE: Criterion = Criterion::Pe;
const ADPE: Criterion = Criterion::Adpe;

macro_rules! impact_columns {
    ($( $name:literal, $help:literal, $phase:ident, $bound:ident, $crit:ident; )*) => {
        &[ $( Column {
            name: $name,
            width: 10,
            left: false,
            help: $help,
            get: |r| impact(r, Phase::$phase, Bound::$bound, $crit),
        }, )* ]
    };
}

/// sacct's columns, in `-e` order.
pub const SLURM_COLUMNS: &[Column] = &[
    Column {
        name: "JobID",
        width: 12,
        left: true,
        help: "job id (array_task, +het, .step)",
        get: |r| Value::Text(job_id_text(r)),
    },
    Column {
        name: "JobIDRaw",
        width: 12,
        left: true,
        help: "unique numeric job id",
        get: |r| match (r.job.row.job_id_raw, r.step) {
            (Some(raw), Some(s)) => Value::Text(format!("{raw}.{}", s.step)),
            (Some(raw), None) => Value::Text(raw.to_string()),
            (None, _) => Value::Text(job_id_text(r)),
        },
    },
    Column {
        name: "JobName",
        width: 10,
        left: false,
        help: "job or step name",
        get: |r| match r.step {
            Some(s) => text(&s.name),
            None => text(&r.job.row.name),
        },
    },
    Column {
        name: "User",
        width: 9,
        left: false,
        help: "user name",
        get: |r| job_only(r, |j| text(&j.row.user)),
    },
    Column {
        name: "UID",
        width: 6,
        left: false,
        help: "user id",
        get: |r| job_only(r, |j| int(j.row.uid)),
    },
    Column {
        name: "Group",
        width: 9,
        left: false,
        help: "group name",
        get: |r| job_only(r, |j| text(&j.row.group)),
    },
    Column {
        name: "GID",
        width: 6,
        left: false,
        help: "group id",
        get: |r| job_only(r, |j| int(j.row.gid)),
    },
    Column {
        name: "Account",
        width: 10,
        left: false,
        help: "account",
        get: |r| text(&r.job.row.account),
    },
    Column {
        name: "Partition",
        width: 10,
        left: false,
        help: "partition",
        get: |r| job_only(r, |j| text(&j.row.partition)),
    },
    Column {
        name: "QOS",
        width: 10,
        left: false,
        help: "quality of service",
        get: |r| job_only(r, |j| text(&j.row.qos)),
    },
    Column {
        name: "Cluster",
        width: 10,
        left: false,
        help: "cluster",
        get: |r| Value::Text(r.job.cluster().to_string()),
    },
    Column {
        name: "State",
        width: 10,
        left: false,
        help: "job state as sacct writes it",
        get: |r| match r.step {
            Some(s) => Value::Text(s.state_raw.clone()),
            None => Value::Text(r.job.row.state_raw.clone()),
        },
    },
    Column {
        name: "ExitCode",
        width: 8,
        left: false,
        help: "exit code:signal",
        get: |r| match r.step {
            Some(s) => text(&s.exit_code),
            None => text(&r.job.row.exit_code),
        },
    },
    Column {
        name: "Submit",
        width: 19,
        left: false,
        help: "submit time",
        get: |r| {
            job_only(r, |j| {
                j.row
                    .submit
                    .map_or(Value::Text("Unknown".into()), Value::Time)
            })
        },
    },
    Column {
        name: "Eligible",
        width: 19,
        left: false,
        help: "eligible time",
        get: |r| {
            job_only(r, |j| {
                j.row
                    .eligible
                    .map_or(Value::Text("Unknown".into()), Value::Time)
            })
        },
    },
    Column {
        name: "Start",
        width: 19,
        left: false,
        help: "start time",
        get: |r| {
            let t = r.step.map_or(r.job.row.start, |s| s.start);
            t.map_or(Value::Text("Unknown".into()), Value::Time)
        },
    },
    Column {
        name: "End",
        width: 19,
        left: false,
        help: "end time",
        get: |r| {
            let t = r.step.map_or(r.job.row.end, |s| s.end);
            t.map_or(Value::Text("Unknown".into()), Value::Time)
        },
    },
    Column {
        name: "Elapsed",
        width: 10,
        left: false,
        help: "elapsed time",
        get: |r| {
            let e = r.step.map_or(r.job.row.elapsed_s, |s| s.elapsed_s);
            e.map_or(Value::Null, Value::Duration)
        },
    },
    Column {
        name: "ElapsedRaw",
        width: 10,
        left: false,
        help: "elapsed time, seconds",
        get: |r| int(r.step.map_or(r.job.row.elapsed_s, |s| s.elapsed_s)),
    },
    Column {
        name: "Timelimit",
        width: 10,
        left: false,
        help: "time limit",
        get: |r| {
            job_only(r, |j| {
                j.row
                    .timelimit_s
                    .map_or(Value::Text("UNLIMITED".into()), Value::Duration)
            })
        },
    },
    Column {
        name: "NNodes",
        width: 8,
        left: false,
        help: "nodes allocated",
        get: |r| int(r.step.map_or(r.job.row.nnodes, |s| s.nnodes)),
    },
    Column {
        name: "NCPUS",
        width: 10,
        left: false,
        help: "CPUs allocated",
        get: |r| int(r.step.map_or(r.job.row.ncpus, |s| s.ncpus)),
    },
    Column {
        name: "AllocCPUS",
        width: 10,
        left: false,
        help: "CPUs allocated (same as NCPUS)",
        get: |r| int(r.step.map_or(r.job.row.ncpus, |s| s.ncpus)),
    },
    Column {
        name: "NTasks",
        width: 8,
        left: false,
        help: "tasks (steps only)",
        get: |r| int(r.step.and_then(|s| s.ntasks)),
    },
    Column {
        name: "NodeList",
        width: 15,
        left: false,
        help: "nodes",
        get: |r| match r.step {
            Some(s) => text(&s.node_list),
            None => text(&r.job.row.node_list),
        },
    },
    Column {
        name: "ReqMem",
        width: 10,
        left: false,
        help: "requested memory, whole job",
        get: |r| job_only(r, |j| j.row.req_mem_mb.map_or(Value::Null, Value::MemMb)),
    },
    Column {
        name: "AllocTRES",
        width: 10,
        left: false,
        help: "trackable resources allocated",
        get: |r| match r.step {
            Some(s) => text(&s.alloc_tres),
            None => text(&r.job.row.alloc_tres),
        },
    },
    Column {
        name: "TotalCPU",
        width: 10,
        left: false,
        help: "CPU time used",
        get: |r| {
            r.step
                .map_or(r.job.row.total_cpu_s, |s| s.total_cpu_s)
                .map_or(Value::Null, Value::CpuDuration)
        },
    },
    Column {
        name: "CPUTime",
        width: 10,
        left: false,
        help: "CPU time allocated (Elapsed × NCPUS)",
        get: |r| {
            job_only(r, |j| {
                j.row
                    .cpu_time_s
                    .map_or(Value::Null, |c| Value::Duration(c.round() as i64))
            })
        },
    },
    Column {
        name: "CPUTimeRAW",
        width: 10,
        left: false,
        help: "CPU time allocated, seconds",
        get: |r| {
            job_only(r, |j| {
                j.row
                    .cpu_time_s
                    .map_or(Value::Null, |c| Value::Int(c.round() as i64))
            })
        },
    },
    Column {
        name: "ConsumedEnergy",
        width: 14,
        left: false,
        help: "Slurm's own energy figure (whole nodes only)",
        get: |r| {
            r.step
                .map_or(r.job.row.consumed_energy_j, |s| s.consumed_energy_j)
                .map_or(Value::Null, Value::SlurmEnergy)
        },
    },
    Column {
        name: "ConsumedEnergyRaw",
        width: 17,
        left: false,
        help: "Slurm's own energy figure, J",
        get: |r| {
            r.step
                .map_or(r.job.row.consumed_energy_j, |s| s.consumed_energy_j)
                .map_or(Value::Null, |e| Value::Int(e.round() as i64))
        },
    },
    Column {
        name: "WorkDir",
        width: 20,
        left: false,
        help: "working directory",
        get: |r| job_only(r, |j| text(&j.row.work_dir)),
    },
];

/// energy-assess's columns.
pub const ENERGY_COLUMNS: &[Column] = &[
    Column {
        name: "Energy",
        width: 10,
        left: false,
        help: "energy the job drew at its nodes (before PUE), J",
        get: |r| fig(r, |f| Value::Energy(f.energy.j)),
    },
    Column {
        name: "EnergyRaw",
        width: 12,
        left: false,
        help: "the same, J",
        get: |r| fig(r, |f| Value::Int(f.energy.j.round() as i64)),
    },
    Column {
        name: "EnergyMin",
        width: 10,
        left: false,
        help: "lowest plausible energy, J",
        get: |r| fig(r, |f| Value::Energy(f.energy.min_j)),
    },
    Column {
        name: "EnergyMax",
        width: 10,
        left: false,
        help: "highest plausible energy, J",
        get: |r| fig(r, |f| Value::Energy(f.energy.max_j)),
    },
    Column {
        name: "EnergySource",
        width: 12,
        left: false,
        help: "measured, split (shared node) or estimated",
        get: |r| fig(r, |f| Value::Text(f.energy.source.as_str().into())),
    },
    Column {
        name: "EnergyScope",
        width: 14,
        left: false,
        help: "meter scope a measured energy rests on",
        get: |r| {
            job_only(r, |j| {
                j.measured
                    .as_ref()
                    .map_or(Value::Null, |m| Value::Text(m.scope.clone()))
            })
        },
    },
    Column {
        name: "EnergyCPU",
        width: 10,
        left: false,
        help: "CPU packages as read (RAPL), J",
        get: |r| measured_scope(r, |m| m.e_cpu_package_j),
    },
    Column {
        name: "EnergyDRAM",
        width: 10,
        left: false,
        help: "DRAM as read (RAPL), J",
        get: |r| measured_scope(r, |m| m.e_dram_j),
    },
    Column {
        name: "EnergyGPU",
        width: 10,
        left: false,
        help: "the job's GPU boards as read (NVML), J",
        get: |r| measured_scope(r, |m| m.e_gpu_board_j),
    },
    Column {
        name: "EnergyNodeBMC",
        width: 13,
        left: false,
        help: "whole nodes as their BMCs read, J",
        get: |r| measured_scope(r, |m| m.e_node_bmc_j),
    },
    Column {
        name: "EnergyWattmeter",
        width: 15,
        left: false,
        help: "whole nodes from external wattmeters, J",
        get: |r| measured_scope(r, |m| m.e_node_wattmeter_j),
    },
    Column {
        name: "EnergyPsys",
        width: 10,
        left: false,
        help: "RAPL platform (psys), J",
        get: |r| measured_scope(r, |m| m.e_platform_j),
    },
    Column {
        name: "EnergyOther",
        width: 11,
        left: false,
        help: "other meters (hwmon), J",
        get: |r| measured_scope(r, |m| m.e_other_j),
    },
    Column {
        name: "MeanPower",
        width: 10,
        left: false,
        help: "energy / elapsed, W",
        get: |r| fig(r, |f| f.mean_power_w.map_or(Value::Null, Value::Power)),
    },
    Column {
        name: "NodeHours",
        width: 10,
        left: false,
        help: "elapsed × nodes, h",
        get: |r| fig(r, |f| Value::Hours(f.node_hours)),
    },
    Column {
        name: "GPUs",
        width: 5,
        left: false,
        help: "GPUs allocated",
        get: |r| job_only(r, |j| int(j.row.gpus)),
    },
    Column {
        name: "GPUHours",
        width: 10,
        left: false,
        help: "elapsed × GPUs, h",
        get: |r| fig(r, |f| Value::Hours(f.gpu_hours)),
    },
    Column {
        name: "Calibration",
        width: 12,
        left: false,
        help: "estimate calibrated by measured jobs of the partition: factor×GA+W per CPU(n jobs)",
        get: |r| {
            fig(r, |f| {
                f.energy.calibration.as_ref().map_or(Value::Null, |c| {
                    Value::Text(format!(
                        "{:.3}x+{:.1}W({})",
                        c.factor, c.static_w_per_cpu, c.n_jobs
                    ))
                })
            })
        },
    },
    Column {
        name: "MeasuredNodes",
        width: 13,
        left: false,
        help: "nodes that reported / nodes of the job",
        get: |r| {
            job_only(r, |j| {
                j.measured.as_ref().map_or(Value::Null, |m| {
                    Value::Text(format!(
                        "{}/{}",
                        m.nodes_recorded,
                        m.nodes_expected.unwrap_or(m.nodes_recorded)
                    ))
                })
            })
        },
    },
    Column {
        name: "Flags",
        width: 20,
        left: false,
        help: "measurement quality flags, and `oversubscribed` when the job's nodes held more \
            than their capacity and its embodied share was scaled down",
        get: |r| job_only(r, |j| flags_of(j).map_or(Value::Null, Value::Text)),
    },
];

/// A job's flags: its measurement's, then what its stored allocation says of its share.
pub fn flags_of(j: &ea_store::read::JobRecord) -> Option<String> {
    let mut flags: Vec<&str> = j
        .measured
        .as_ref()
        .map(|m| m.flags.split(',').filter(|f| !f.is_empty()).collect())
        .unwrap_or_default();
    let over = ea_impact::Flag::Oversubscribed;
    if j.embodied.as_ref().is_some_and(|e| e.flags.contains(over))
        && !flags.contains(&over.as_str())
    {
        flags.push(over.as_str());
    }
    (!flags.is_empty()).then(|| flags.join(","))
}

/// Impact columns: use phase, embodied and total, each with its range. GWP in kgCO2eq, PE in
/// MJ, ADPe in kgSbeq.
pub const IMPACT_COLUMNS: &[Column] = impact_columns![
    "GWP", "use + embodied GWP, kgCO2eq", Total, Value, GWP;
    "GWPMin", "lowest plausible total GWP, kgCO2eq", Total, Min, GWP;
    "GWPMax", "highest plausible total GWP, kgCO2eq", Total, Max, GWP;
    "GWPUse", "use-phase GWP (energy × PUE × grid factor), kgCO2eq", Use, Value, GWP;
    "GWPUseMin", "lowest use-phase GWP, kgCO2eq", Use, Min, GWP;
    "GWPUseMax", "highest use-phase GWP, kgCO2eq", Use, Max, GWP;
    "GWPEmbodied", "embodied GWP allocated to the job, kgCO2eq", Embodied, Value, GWP;
    "GWPEmbodiedMin", "lowest embodied GWP, kgCO2eq", Embodied, Min, GWP;
    "GWPEmbodiedMax", "highest embodied GWP, kgCO2eq", Embodied, Max, GWP;
    "PE", "use + embodied primary energy, MJ", Total, Value, PE;
    "PEMin", "lowest total PE, MJ", Total, Min, PE;
    "PEMax", "highest total PE, MJ", Total, Max, PE;
    "PEUse", "use-phase PE, MJ", Use, Value, PE;
    "PEUseMin", "lowest use-phase PE, MJ", Use, Min, PE;
    "PEUseMax", "highest use-phase PE, MJ", Use, Max, PE;
    "PEEmbodied", "embodied PE allocated to the job, MJ", Embodied, Value, PE;
    "PEEmbodiedMin", "lowest embodied PE, MJ", Embodied, Min, PE;
    "PEEmbodiedMax", "highest embodied PE, MJ", Embodied, Max, PE;
    "ADPe", "use + embodied abiotic depletion, kgSbeq", Total, Value, ADPE;
    "ADPeMin", "lowest total ADPe, kgSbeq", Total, Min, ADPE;
    "ADPeMax", "highest total ADPe, kgSbeq", Total, Max, ADPE;
    "ADPeUse", "use-phase ADPe, kgSbeq", Use, Value, ADPE;
    "ADPeUseMin", "lowest use-phase ADPe, kgSbeq", Use, Min, ADPE;
    "ADPeUseMax", "highest use-phase ADPe, kgSbeq", Use, Max, ADPE;
    "ADPeEmbodied", "embodied ADPe allocated to the job, kgSbeq", Embodied, Value, ADPE;
    "ADPeEmbodiedMin", "lowest embodied ADPe, kgSbeq", Embodied, Min, ADPE;
    "ADPeEmbodiedMax", "highest embodied ADPe, kgSbeq", Embodied, Max, ADPE;
];

/// Every column, in `-e` order.
pub fn all_columns() -> impl Iterator<Item = &'static Column> {
    SLURM_COLUMNS
        .iter()
        .chain(ENERGY_COLUMNS)
        .chain(IMPACT_COLUMNS)
}

/// The default `--format`: sacct's default plus energy and GWP.
pub const DEFAULT_FORMAT: &str =
    "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode,Energy,EnergySource,GWP";

/// A column chosen by `--format`, with its width and justification.
#[derive(Clone, Copy)]
pub struct Selected {
    /// The column.
    pub column: &'static Column,
    /// Its width in the table.
    pub width: usize,
    /// Whether it is left-aligned.
    pub left: bool,
}

/// A `--format` list that cannot be used, said the way to fix it.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatError {
    /// A name that is no column, with the closest known names (none when nothing is close).
    UnknownColumn {
        /// The name as written.
        name: String,
        /// Known columns whose names contain it or are contained in it (at most five).
        near: Vec<&'static str>,
    },
    /// A width that is not a number from 1 to 1000.
    BadWidth {
        /// The column's name as written.
        name: String,
        /// What followed its `%`.
        width: String,
    },
    /// No column at all.
    Empty,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::UnknownColumn { name, near } if near.is_empty() => write!(
                f,
                "unknown column `{name}`; `energy-assess acct -e` lists the columns"
            ),
            FormatError::UnknownColumn { name, near } => write!(
                f,
                "unknown column `{name}` (did you mean {}?); `-e` lists the columns",
                near.join(", ")
            ),
            FormatError::BadWidth { name, width } => write!(
                f,
                "bad width `%{width}` for {name}: write Name%20 or Name%-20"
            ),
            FormatError::Empty => f.write_str("the format list is empty"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Parses a `--format` list: `JobID,JobName%30,State%-12` (case-insensitive names).
///
/// # Errors
/// An unknown column (with the closest known names) or a bad width.
pub fn parse_format(list: &str) -> Result<Vec<Selected>, FormatError> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, width) = match item.split_once('%') {
            Some((n, w)) => (n, Some(w)),
            None => (item, None),
        };
        let Some(column) = all_columns().find(|c| c.name.eq_ignore_ascii_case(name)) else {
            let lower = name.to_ascii_lowercase();
            let near: Vec<&'static str> = all_columns()
                .filter(|c| {
                    let l = c.name.to_ascii_lowercase();
                    l.contains(&lower) || lower.contains(&l)
                })
                .map(|c| c.name)
                .take(5)
                .collect();
            return Err(FormatError::UnknownColumn {
                name: name.to_string(),
                near,
            });
        };
        let (w, left) = match width {
            None => (column.width, column.left),
            Some(w) => {
                let (neg, digits) = match w.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, w),
                };
                let n: usize = digits
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= 1000)
                    .ok_or_else(|| FormatError::BadWidth {
                        name: name.to_string(),
                        width: w.to_string(),
                    })?;
                (n, neg)
            }
        };
        out.push(Selected {
            column,
            width: w,
            left,
        });
    }
    if out.is_empty() {
        return Err(FormatError::Empty);
    }
    Ok(out)
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}%{}{}",
            self.column.name,
            if self.left { "-" } else { "" },
            self.width
        )
    }
}

/// How cells are written: for people (the unit that fits) or for scripts (plain numbers in
/// each column's base unit, `-e` names it), and the `--units` of energies.
#[derive(Clone, Copy)]
pub struct CellFormat<'a> {
    /// The zone and format times are written in.
    pub clock: &'a ea_sacct::timefmt::Clock,
    /// The unit energies are shown in.
    pub energy: ea_units::EnergyUnits,
    /// Plain numbers in base units, for scripts.
    pub plain: bool,
}

/// Text of a value, as the table and parsable outputs print it. Slurm's own columns are
/// written as sacct writes them in both (scripts written for sacct read them unchanged).
pub fn display(v: &Value, f: &CellFormat<'_>) -> String {
    use ea_units::plain;
    match v {
        Value::Null => String::new(),
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Time(t) => f.clock.format(*t),
        Value::Duration(s) => format_elapsed(*s),
        Value::CpuDuration(s) => format_cpu(*s),
        Value::SlurmEnergy(j) => ea_units::sacct_scaled(*j, sacct_letter(f.energy)),
        // ReqMem as sacct writes it: MiB, in larger units only where exact, or `--units`'s.
        Value::MemMb(mb) => ea_units::sacct_convert(*mb, 2, sacct_letter(f.energy), 1024.0, true),
        Value::Energy(x) | Value::Impact(x, _) | Value::Power(x) | Value::Hours(x) if f.plain => {
            plain(*x)
        }
        Value::Energy(j) => f.energy.human(*j),
        Value::Impact(x, c) => c.quantity().short(*x),
        Value::Power(w) => ea_units::POWER.short(*w),
        Value::Hours(h) => ea_units::hours(*h),
    }
}

/// Sacct's `--units` letter, when the user gave one.
fn sacct_letter(units: ea_units::EnergyUnits) -> Option<char> {
    match units {
        ea_units::EnergyUnits::Sacct(c) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_lists_like_sacct() {
        let f = parse_format("jobid,JobName%30,state%-12").unwrap();
        assert_eq!(
            f.iter()
                .map(|s| (s.column.name, s.width, s.left))
                .collect::<Vec<_>>(),
            [
                ("JobID", 12, true),
                ("JobName", 30, false),
                ("State", 12, true)
            ]
        );
        let e = parse_format("JobID,Energi").unwrap_err().to_string();
        assert!(e.contains("unknown column `Energi`"), "{e}");
        let e = parse_format("gwpuse%x").unwrap_err().to_string();
        assert!(e.contains("bad width"), "{e}");
        let e = parse_format("Power").unwrap_err().to_string();
        assert!(e.contains("MeanPower"), "{e}");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = all_columns().map(|c| c.name.to_ascii_lowercase()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn cells_for_people_and_for_scripts() {
        use ea_units::EnergyUnits;
        let clock = ea_sacct::timefmt::Clock::fixed(jiff::tz::TimeZone::UTC, 0);
        let people = CellFormat {
            clock: &clock,
            energy: EnergyUnits::Joules,
            plain: false,
        };
        let scripts = CellFormat {
            plain: true,
            ..people
        };
        let wh = CellFormat {
            energy: EnergyUnits::parse("Wh").unwrap(),
            ..people
        };
        let sacct_k = CellFormat {
            energy: EnergyUnits::parse("K").unwrap(),
            ..people
        };
        let cases = [
            (
                Value::Energy(20_543_125.0),
                "20.5 MJ",
                "20543125",
                "5.71 kWh",
            ),
            (
                Value::SlurmEnergy(20_543_125.0),
                "20.54M",
                "20.54M",
                "20.54M",
            ),
            (
                Value::Impact(1.458e-5, Criterion::Gwp),
                "14.6 mg",
                "0.00001458",
                "14.6 mg",
            ),
            (
                Value::Impact(9.18e-7, Criterion::Adpe),
                "918 µg",
                "0.000000918",
                "918 µg",
            ),
            (
                Value::Impact(41_320.0, Criterion::Pe),
                "41.3 GJ",
                "41320",
                "41.3 GJ",
            ),
            (Value::Power(212.0), "212 W", "212", "212 W"),
            (
                Value::Hours(5.027e7),
                "50,270,000",
                "50270000",
                "50,270,000",
            ),
            (Value::Energy(f64::NAN), "-", "", "-"),
        ];
        for (v, human, plain, in_wh) in cases {
            assert_eq!(display(&v, &people), human, "{v:?}");
            assert_eq!(display(&v, &scripts), plain, "{v:?}");
            assert_eq!(display(&v, &wh), in_wh, "{v:?}");
        }
        assert_eq!(
            display(&Value::SlurmEnergy(20_543_126.0), &sacct_k),
            "20543.13K"
        );
        assert_eq!(display(&Value::Energy(20_543_126.0), &sacct_k), "20543.13K");
    }

    #[test]
    fn sacct_columns_follow_sacct_units() {
        let clock = ea_sacct::timefmt::Clock::fixed(jiff::tz::TimeZone::UTC, 0);
        let mut f = CellFormat {
            clock: &clock,
            energy: ea_units::EnergyUnits::default(),
            plain: false,
        };
        assert_eq!(display(&Value::MemMb(65_536.0), &f), "64G");
        assert_eq!(display(&Value::MemMb(4000.0), &f), "4000M");
        f.energy = ea_units::EnergyUnits::parse("K").unwrap();
        assert_eq!(display(&Value::MemMb(768.0), &f), "786432K");
        assert_eq!(display(&Value::SlurmEnergy(0.0), &f), "0");
    }
}
