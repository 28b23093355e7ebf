//! Manufacturing (embodied) impact of one node over its whole life: boaviztapi 2.5.0's
//! bottom-up server model, with a selectable GPU model.
//!
//! `node total = assembly + CPUs + GPUs + RAM + SSDs + HDDs + power supplies + case + motherboard`
//! (boaviztapi `DeviceServer.components`; formulas in `compute/impacts_computation.py`; factors in
//! `data/factors.yml`, bundled as `data/boavizta-2.5.0/factors.tsv`). Each term carries a min and
//! max from the documented ranges of the attributes the inventory leaves out (RAM and SSD
//! density, CPU die size, power-supply weight, case type), computed as boaviztapi computes them.
//!
//! Differences from boaviztapi, all deliberate and listed in `docs/methodology.md`: a node with
//! no disk has no disk (boaviztapi substitutes a 1 TB SSD); a node may hold several GPU models
//! (boaviztapi: one); an explicit die area per core wins over a CPU-name match; end of life is
//! included for GPUs only, as in boaviztapi.

pub mod cpu;
pub mod gpu;

pub use cpu::{CpuDie, cpu_die};
pub use gpu::{GpuCard, GpuModel, GpuSpec, PartialImpacts, effective_die_area_mm2, gpu_card};

use crate::impacts::{Impacts, Ranged};
use crate::tables::{ComponentFactors, Tables, tables};
use serde::Serialize;

/// The CPUs of a node (all sockets hold the same model).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CpuSpec {
    /// Model name as in boaviztapi's `cpu_specs` ("AMD EPYC 7543"); matched fuzzily.
    pub model: Option<String>,
    /// CPU packages on the board.
    pub sockets: u32,
    /// Cores of one package; `None`: the model's, from boaviztapi's table.
    pub cores_per_socket: Option<u32>,
    /// Hardware threads per core (Slurm counts them as CPUs when the node is configured so).
    pub threads_per_core: u32,
    /// Total die area of one package, mm².
    pub die_area_mm2: Option<f64>,
    /// Die area per core, mm² (× cores gives the package's); the other way to give the die.
    pub die_area_per_core_mm2: Option<f64>,
    /// Thermal design power of one package, W; used only to estimate energy without a meter.
    pub tdp_w: Option<f64>,
}

/// Memory modules, all alike.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RamSpec {
    /// Memory modules (DIMMs).
    pub modules: u32,
    /// Capacity of one module, GB.
    pub module_gb: f64,
    /// GB per cm² of memory die; boaviztapi's mean (1.2443636, range 0.625–2.375) if absent.
    pub density_gb_per_cm2: Option<f64>,
}

impl RamSpec {
    /// Installed memory, GB.
    pub fn total_gb(&self) -> f64 {
        f64::from(self.modules) * self.module_gb
    }
}

/// Identical drives.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DiskSpec {
    /// How many drives.
    pub count: u32,
    /// Capacity of one drive, GB.
    pub capacity_gb: f64,
    /// SSDs only: GB per cm² of flash die; boaviztapi's mean (54.884) if absent.
    pub density_gb_per_cm2: Option<f64>,
}

/// Identical power supply units.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PowerSupplySpec {
    /// How many units.
    pub count: u32,
    /// Mass of one unit, kg; boaviztapi's archetype (2.99, range 1–5) if absent.
    pub unit_kg: Option<f64>,
}

/// The enclosure. boaviztapi knows rack and blade; a tower (or an unstated case) gets its
/// default: a rack, with a range spanning rack and blade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseType {
    /// A rack server.
    Rack,
    /// A blade in a chassis.
    Blade,
    /// A tower: counted as a rack, with a range spanning rack and blade.
    Tower,
}

/// Everything the bottom-up model needs about one node.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NodeHardware {
    /// The CPUs.
    pub cpu: CpuSpec,
    /// The memory.
    pub ram: RamSpec,
    /// Solid-state drives, by kind.
    pub ssds: Vec<DiskSpec>,
    /// Hard disks, by kind.
    pub hdds: Vec<DiskSpec>,
    /// GPU cards, by model.
    pub gpus: Vec<GpuSpec>,
    /// `None`: boaviztapi's default server (2 units of 2.99 kg, range 1–5 kg).
    pub power_supply: Option<PowerSupplySpec>,
    /// `None`: boaviztapi's default (a rack, with a range spanning rack and blade).
    pub case: Option<CaseType>,
}

impl NodeHardware {
    /// Logical CPUs (sockets × cores × threads), as Slurm counts them by default.
    pub fn cpus(&self) -> u32 {
        self.cpu.sockets * self.cpu.cores_per_socket.unwrap_or(1) * self.cpu.threads_per_core.max(1)
    }

    /// GPU cards of the node, all models.
    pub fn gpu_count(&self) -> u32 {
        self.gpus.iter().map(|g| g.count).sum()
    }
}

/// A line of a node's embodied breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// Assembling the server.
    Assembly,
    /// The CPU packages.
    Cpu,
    /// The GPU cards.
    Gpu,
    /// The memory modules.
    Ram,
    /// The SSDs.
    Ssd,
    /// The hard disks.
    Hdd,
    /// The power supply units.
    PowerSupply,
    /// The enclosure.
    Case,
    /// The motherboard.
    Motherboard,
    /// Rows of a site's per-component LCA table (`[group.component_footprint]`): a GPU's compute
    /// chip, its memory chips and its board, as Jay's thesis and the Boavizta GPU proposal
    /// split a card, and the rest of the node beyond RAM and CPUs.
    GpuChip,
    /// See `GpuChip`.
    GpuMemory,
    /// See `GpuChip`.
    GpuBoard,
    /// See `GpuChip`.
    Other,
}

impl ComponentKind {
    /// The kind as reports and JSON write it (`power-supply`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Assembly => "assembly",
            ComponentKind::Cpu => "cpu",
            ComponentKind::Gpu => "gpu",
            ComponentKind::Ram => "ram",
            ComponentKind::Ssd => "ssd",
            ComponentKind::Hdd => "hdd",
            ComponentKind::PowerSupply => "power-supply",
            ComponentKind::Case => "case",
            ComponentKind::Motherboard => "motherboard",
            ComponentKind::GpuChip => "gpu-chip",
            ComponentKind::GpuMemory => "gpu-memory",
            ComponentKind::GpuBoard => "gpu-board",
            ComponentKind::Other => "other",
        }
    }
}

/// One line of the breakdown: a component (all its units) over the node's life.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentImpact {
    /// Which component.
    pub kind: ComponentKind,
    /// How many units it counts (modules, drives, cards, 1 for the assembly).
    pub units: u32,
    /// All its units together, over the node's life.
    pub impacts: Ranged<Impacts>,
    /// How the figures were obtained, in words.
    pub basis: String,
}

/// A node's embodied impact over its whole life, with its breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEmbodied {
    /// The sum of the components.
    pub total: Ranged<Impacts>,
    /// The breakdown.
    pub components: Vec<ComponentImpact>,
}

/// How to complete CPU dies and GPU cards: directly, or from answers computed beforehand for
/// many nodes at once (the inventory resolves each distinct model once).
pub(crate) trait Completion {
    fn cpu_die(&self, cpu: &CpuSpec) -> CpuDie;
    fn gpu_card(&self, gpu: &GpuSpec, model: GpuModel) -> GpuCard;
}

pub(crate) struct Direct;

impl Completion for Direct {
    fn cpu_die(&self, c: &CpuSpec) -> CpuDie {
        cpu_die(
            c.model.as_deref(),
            c.cores_per_socket,
            c.die_area_mm2,
            c.die_area_per_core_mm2,
        )
    }
    fn gpu_card(&self, g: &GpuSpec, model: GpuModel) -> GpuCard {
        gpu_card(g, model)
    }
}

/// The node's embodied impact over its whole life.
///
/// Never fails: inputs are validated by the inventory; missing attributes take boaviztapi's
/// defaults, with their ranges.
pub fn bottom_up(hw: &NodeHardware, gpu_model: GpuModel) -> NodeEmbodied {
    bottom_up_with(hw, gpu_model, &Direct)
}

pub(crate) fn bottom_up_with(
    hw: &NodeHardware,
    gpu_model: GpuModel,
    completion: &dyn Completion,
) -> NodeEmbodied {
    let t = tables();
    let f = &t.factors;
    let mut parts = Vec::with_capacity(8 + hw.gpus.len() + hw.ssds.len() + hw.hdds.len());
    parts.push(constant_part(ComponentKind::Assembly, f.assembly));
    parts.push(cpu_part(hw, f, completion));
    for g in &hw.gpus {
        let card = completion.gpu_card(g, gpu_model);
        parts.push(ComponentImpact {
            kind: ComponentKind::Gpu,
            units: g.count,
            impacts: card.impacts.scale(f64::from(g.count)),
            basis: card.basis,
        });
    }
    parts.push(ram_part(hw, t));
    disk_parts(hw, t, &mut parts);
    parts.push(power_supply_part(hw, t));
    parts.push(case_part(hw, f));
    parts.push(constant_part(ComponentKind::Motherboard, f.motherboard));
    NodeEmbodied {
        total: parts.iter().map(|p| p.impacts).sum(),
        components: parts,
    }
}

/// A component boaviztapi counts once per server at a fixed impact.
fn constant_part(kind: ComponentKind, impacts: Impacts) -> ComponentImpact {
    ComponentImpact {
        kind,
        units: 1,
        impacts: Ranged::exact(impacts),
        basis: "constant per server".into(),
    }
}

/// The CPUs: per socket, a base plus a term in the die area (given, or completed).
fn cpu_part(
    hw: &NodeHardware,
    f: &ComponentFactors,
    completion: &dyn Completion,
) -> ComponentImpact {
    let die = completion.cpu_die(&hw.cpu);
    let sockets = f64::from(hw.cpu.sockets);
    let per_die = |d: f64| (f.cpu_die_per_mm2 * d + f.cpu_base) * sockets;
    ComponentImpact {
        kind: ComponentKind::Cpu,
        units: hw.cpu.sockets,
        impacts: die.die_mm2.map(per_die),
        basis: if die.die_mm2.min == die.die_mm2.max {
            format!("die {} mm²: {}", die.die_mm2.value, die.basis)
        } else {
            format!(
                "die {} mm² [{}–{}]: {}",
                die.die_mm2.value, die.die_mm2.min, die.die_mm2.max, die.basis
            )
        },
    }
}

/// The memory modules: dies of the modules' capacity at the given (or a default) density.
fn ram_part(hw: &NodeHardware, t: &Tables) -> ComponentImpact {
    let f = &t.factors;
    let (ram_density, density_basis) = density(
        hw.ram.density_gb_per_cm2,
        &t.ram_densities,
        "ram_manufacture",
    );
    ComponentImpact {
        kind: ComponentKind::Ram,
        units: hw.ram.modules,
        impacts: die_per_capacity(
            hw.ram.module_gb,
            ram_density,
            f.ram_die_per_cm2,
            f.ram_base,
            hw.ram.modules,
        ),
        basis: format!(
            "{} × {} GB, {density_basis}",
            hw.ram.modules, hw.ram.module_gb
        ),
    }
}

/// The drives: SSDs by die area like memory, HDDs at a constant per drive.
fn disk_parts(hw: &NodeHardware, t: &Tables, parts: &mut Vec<ComponentImpact>) {
    let f = &t.factors;
    for d in &hw.ssds {
        let (density, density_basis) =
            density(d.density_gb_per_cm2, &t.ssd_densities, "ssd_manufacture");
        parts.push(ComponentImpact {
            kind: ComponentKind::Ssd,
            units: d.count,
            impacts: die_per_capacity(
                d.capacity_gb,
                density,
                f.ssd_die_per_cm2,
                f.ssd_base,
                d.count,
            ),
            basis: format!("{} × {} GB, {density_basis}", d.count, d.capacity_gb),
        });
    }
    for d in &hw.hdds {
        parts.push(ComponentImpact {
            kind: ComponentKind::Hdd,
            units: d.count,
            impacts: Ranged::exact(f.hdd * f64::from(d.count)),
            basis: format!("{} × {} GB, constant per drive", d.count, d.capacity_gb),
        });
    }
}

/// The power supplies, by mass: the given units and mass, else boaviztapi's defaults.
fn power_supply_part(hw: &NodeHardware, t: &Tables) -> ComponentImpact {
    let (v, lo, hi) = t.archetypes.psu_unit_kg;
    let (units, unit_kg, psu_basis) = match &hw.power_supply {
        Some(p) => match p.unit_kg {
            Some(kg) => (p.count, Ranged::exact(kg), format!("{} × {kg} kg", p.count)),
            None => (
                p.count,
                Ranged::new(v, lo, hi),
                format!("{} × {v} kg [{lo}–{hi}] (boaviztapi default mass)", p.count),
            ),
        },
        None => {
            let n = t.archetypes.psu_units;
            (
                n,
                Ranged::new(v, lo, hi),
                format!("{n} × {v} kg [{lo}–{hi}] (boaviztapi default server)"),
            )
        }
    };
    ComponentImpact {
        kind: ComponentKind::PowerSupply,
        units,
        impacts: unit_kg.map(|kg| t.factors.power_supply_per_kg * (kg * f64::from(units))),
        basis: psu_basis,
    }
}

/// The case: rack, blade (a share of its enclosure), or, not stated, a range spanning both.
fn case_part(hw: &NodeHardware, f: &ComponentFactors) -> ComponentImpact {
    let blade = f.blade_16_slots.map(|x| x / 16.0) + f.blade_server;
    let (case, case_basis) = match hw.case {
        Some(CaseType::Rack) => (Ranged::exact(f.case_rack), "rack".to_string()),
        Some(CaseType::Blade) => (
            Ranged::exact(blade),
            "blade (server + 1/16 of a 16-slot enclosure)".to_string(),
        ),
        // boaviztapi's default case: the rack value, the blade value as the other bound.
        other => (
            default_case(f.case_rack, blade),
            format!(
                "{}: boaviztapi's default rack, range spanning rack and blade",
                if other == Some(CaseType::Tower) {
                    "tower (not modelled by boaviztapi)"
                } else {
                    "case not stated"
                }
            ),
        ),
    };
    ComponentImpact {
        kind: ComponentKind::Case,
        units: 1,
        impacts: case,
        basis: case_basis,
    }
}

/// A density given, or the mean of a boaviztapi table with its min and max.
fn density(given: Option<f64>, table: &[f64], name: &str) -> (Ranged<f64>, String) {
    match given {
        Some(d) => (Ranged::exact(d), format!("density {d} GB/cm²")),
        None => {
            let mean = table.iter().sum::<f64>() / table.len() as f64;
            let lo = table.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = table.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (
                Ranged::new(mean, lo, hi),
                format!("density {mean:.4} GB/cm² [{lo}–{hi}] (mean of boaviztapi {name})"),
            )
        }
    }
}

/// `(capacity / density) × die factor + base`, per unit, × units. The lowest value comes from
/// the highest density.
fn die_per_capacity(
    capacity_gb: f64,
    density: Ranged<f64>,
    die: Impacts,
    base: Impacts,
    units: u32,
) -> Ranged<Impacts> {
    let n = f64::from(units);
    let at = |d: f64| (die * (capacity_gb / d) + base) * n;
    Ranged::new(at(density.value), at(density.max), at(density.min))
}

/// boaviztapi's `impact_manufacture_rack` for an archetype case: per criterion, the rack value
/// with the blade value as min or max, whichever side it falls.
fn default_case(rack: Impacts, blade: Impacts) -> Ranged<Impacts> {
    let pick = |r: f64, b: f64| if b > r { (r, r, b) } else { (r, b, r) };
    let g = pick(rack.gwp_kgco2eq, blade.gwp_kgco2eq);
    let a = pick(rack.adpe_kgsbeq, blade.adpe_kgsbeq);
    let p = pick(rack.pe_mj, blade.pe_mj);
    Ranged::new(
        Impacts::new(g.0, a.0, p.0),
        Impacts::new(g.1, a.1, p.1),
        Impacts::new(g.2, a.2, p.2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> NodeHardware {
        NodeHardware {
            cpu: CpuSpec {
                sockets: 2,
                cores_per_socket: Some(24),
                threads_per_core: 1,
                die_area_mm2: Some(400.0),
                ..Default::default()
            },
            ram: RamSpec {
                modules: 4,
                module_gb: 32.0,
                density_gb_per_cm2: Some(1.0),
            },
            ssds: vec![DiskSpec {
                count: 1,
                capacity_gb: 1000.0,
                density_gb_per_cm2: Some(50.0),
            }],
            power_supply: Some(PowerSupplySpec {
                count: 2,
                unit_kg: Some(3.0),
            }),
            case: Some(CaseType::Rack),
            ..Default::default()
        }
    }

    #[test]
    fn methodology_case_v1_full_life() {
        let e = bottom_up(&v1(), GpuModel::Boavizta);
        let t = e.total;
        assert!((t.value.gwp_kgco2eq - 755.44).abs() < 1e-9, "{t:?}");
        assert!((t.value.adpe_kgsbeq - 0.131143106).abs() < 1e-12, "{t:?}");
        assert!((t.value.pe_mj - 10150.98).abs() < 1e-8, "{t:?}");
        assert_eq!(t.min, t.value, "every attribute given: no range");
        assert_eq!(t.max, t.value);
        let gwp = |k: ComponentKind| {
            e.components
                .iter()
                .filter(|c| c.kind == k)
                .map(|c| c.impacts.value.gwp_kgco2eq)
                .sum::<f64>()
        };
        for (kind, expected) in [
            (ComponentKind::Cpu, 34.04),
            (ComponentKind::Ram, 302.48),
            (ComponentKind::Ssd, 50.34),
            (ComponentKind::PowerSupply, 145.8),
            (ComponentKind::Case, 150.0),
            (ComponentKind::Motherboard, 66.1),
            (ComponentKind::Assembly, 6.68),
        ] {
            assert!(
                (gwp(kind) - expected).abs() < 1e-9,
                "{kind:?}: {}",
                gwp(kind)
            );
        }
    }

    #[test]
    fn defaults_widen_the_range() {
        let mut hw = v1();
        hw.ram.density_gb_per_cm2 = None;
        hw.case = None;
        hw.power_supply = None;
        let e = bottom_up(&hw, GpuModel::Boavizta);
        assert!(e.total.min.gwp_kgco2eq < e.total.value.gwp_kgco2eq);
        assert!(e.total.max.gwp_kgco2eq > e.total.value.gwp_kgco2eq);
        let case = e
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::Case)
            .unwrap()
            .impacts;
        assert_eq!(case.min.gwp_kgco2eq, 85.9);
        assert_eq!(case.max.gwp_kgco2eq, 150.0);
        assert_eq!(case.max.adpe_kgsbeq, 0.000672 + 0.432 / 16.0);
    }
}
