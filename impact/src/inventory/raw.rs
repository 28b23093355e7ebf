//! The inventory file as written: every table and key the format accepts, nothing else
//! (`deny_unknown_fields`), with the position of each value kept for error messages.
//! [`super::validate`] turns it into the checked [`super::Inventory`].

use crate::embodied::{CaseType, GpuModel};
use crate::policy::{ShareRule, UnallocatedPolicy};
use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInventory {
    pub site: Option<S<RawSite>>,
    #[serde(default, rename = "group")]
    pub groups: Vec<S<RawGroup>>,
}

/// Site-wide choices, and defaults for every group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub name: Option<String>,
    pub gpu_model: Option<GpuModel>,
    pub share_rule: Option<ShareRule>,
    pub unallocated: Option<UnallocatedPolicy>,
    pub carbon_intensity_series: Option<S<String>>,
    // Defaults for every group (a group's own value wins).
    pub location: Option<S<String>>,
    pub pue: Option<S<f64>>,
    pub pue_range: Option<S<Vec<f64>>>,
    pub lifetime_years: Option<S<f64>>,
    pub lifetime_years_range: Option<S<Vec<f64>>>,
    pub utilisation: Option<S<f64>>,
    pub utilisation_range: Option<S<Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub name: S<String>,
    pub nodes: S<String>,
    pub location: Option<S<String>>,
    pub pue: Option<S<f64>>,
    pub pue_range: Option<S<Vec<f64>>>,
    pub lifetime_years: Option<S<f64>>,
    pub lifetime_years_range: Option<S<Vec<f64>>>,
    pub utilisation: Option<S<f64>>,
    pub utilisation_range: Option<S<Vec<f64>>>,
    pub grid_zone: Option<S<String>>,
    pub electricity: Option<S<RawElectricity>>,
    pub gpu_model: Option<GpuModel>,
    pub case: Option<CaseType>,
    pub slurm_cpus: Option<S<u32>>,
    pub slurm_memory_mb: Option<S<u64>>,
    pub billing_per_node: Option<S<f64>>,
    pub uncovered_power_w: Option<S<f64>>,
    pub cpu: Option<S<RawCpu>>,
    pub ram: Option<S<RawRam>>,
    #[serde(default)]
    pub ssd: Vec<S<RawDisk>>,
    #[serde(default)]
    pub hdd: Vec<S<RawDisk>>,
    #[serde(default)]
    pub gpu: Vec<S<RawGpu>>,
    pub power_supply: Option<S<RawPowerSupply>>,
    pub footprint: Option<S<RawCriteria>>,
    pub per_node_hour: Option<S<RawCriteria>>,
    pub component_footprint: Option<S<RawComponentTable>>,
}

/// A per-component embodied table from an LCA, for the whole node over its life; the GPU rows
/// cover all `gpu_cards` cards together, as LCAs publish them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponentTable {
    pub source: Option<String>,
    pub gpu_cards: Option<S<u32>>,
    pub gpu_chip: Option<S<RawCriteria>>,
    pub gpu_memory: Option<S<RawCriteria>>,
    pub gpu_board: Option<S<RawCriteria>>,
    pub ram: Option<S<RawCriteria>>,
    pub cpu: Option<S<RawCriteria>>,
    pub other: Option<S<RawCriteria>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCpu {
    pub model: Option<String>,
    pub sockets: S<u32>,
    pub cores_per_socket: S<u32>,
    pub threads_per_core: Option<S<u32>>,
    pub die_area_mm2: Option<S<f64>>,
    pub die_area_per_core_mm2: Option<S<f64>>,
    pub tdp_w: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRam {
    pub modules: Option<S<u32>>,
    pub module_gb: Option<S<f64>>,
    pub total_gb: Option<S<f64>>,
    pub density_gb_per_cm2: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDisk {
    pub count: S<u32>,
    pub capacity_gb: S<f64>,
    pub density_gb_per_cm2: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGpu {
    pub model: Option<String>,
    pub count: S<u32>,
    pub memory_gb: Option<S<f64>>,
    pub die_area_mm2: Option<S<f64>>,
    pub tdp_w: Option<S<f64>>,
    pub footprint_per_card: Option<S<RawCriteria>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPowerSupply {
    pub count: S<u32>,
    pub unit_kg: Option<S<f64>>,
}

/// Figures per criterion: a manufacturer's footprint, a site's per-node-hour figure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCriteria {
    pub gwp_kgco2eq: Option<S<f64>>,
    pub adpe_kgsbeq: Option<S<f64>>,
    pub pe_mj: Option<S<f64>>,
}

/// Per-criterion overrides of the zone's yearly electricity factors (a supply contract...).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawElectricity {
    pub gwp_kg_per_kwh: Option<S<f64>>,
    pub pe_mj_per_kwh: Option<S<f64>>,
    pub adpe_kgsbeq_per_kwh: Option<S<f64>>,
}
