//! The impact engine of energy-assess: what a node costs the planet to build, and how much of
//! that, plus the electricity it drew, each Slurm job is charged.
//!
//! - [`embodied`]: boaviztapi 2.5.0's bottom-up server model (CPU, RAM, SSD, HDD, GPU,
//!   motherboard, power supply, case, assembly) with min/max ranges, and a selectable GPU
//!   model (boaviztapi's, MLCA's, or fixed per-card figures), because the sources disagree.
//! - [`inventory`]: the site's node groups, read from a TOML file and validated with errors
//!   that name the file, line and fix; each group's embodied impact per node and per node-hour.
//! - [`factors`]: electricity factors per country (boaviztapi's table, all zones) and optional
//!   hourly carbon-intensity series, each identified by a version and a content hash.
//! - [`policy`]: the share rule, the unallocated policy and node capacities, a leaf module
//!   that both the inventory (which reads them) and the allocation (which applies them) use.
//! - [`allocation`]: turns job-node pairs (interval, what the job held, measured or missing
//!   energy per meter scope) into use-phase and embodied impacts with provenance.
//!
//! Why a separate crate: the post-processor needs it, the SPANK plugin must not (it pulls in
//! rayon), and keeping the model pure (no database, no output formatting, no I/O beyond the
//! files it is asked to read) lets it be tested against boaviztapi's own numbers.
//!
//! Criteria and units everywhere: GWP in kgCO2eq, ADPe in kgSbeq, PE in MJ ([`Impacts`]);
//! energy in joules; time in [`ea_record::UnixMicros`] or hours where the name says so.
#![forbid(unsafe_code)]

mod boavizta_compat;
mod tables;

pub mod allocation;
pub mod embodied;
pub mod factors;
pub mod impacts;
pub mod inventory;
pub mod policy;

pub use allocation::{
    Allocation, AllocationError, AllocationOptions, Allocator, EnergyMethod, Flag, Flags,
    GroupUnallocated, Held, JobNodeImpact, JobNodeInput, JobSummary, MeterEnergy, Provenance,
    ScopeSet, ShareBasis, ShareRule, UnallocatedPolicy, allocate, summarise_by_job,
};
/// SHA-256 in hex (identifies inventories and factor tables); the one copy lives in `ea-record`.
pub use ea_record::sha256_hex;
pub use embodied::{GpuModel, NodeEmbodied, NodeHardware};
pub use factors::{ElectricityFactors, FactorSetId, HourlySeries};
pub use impacts::{Impacts, Ranged};
pub use inventory::{Inventory, InventoryError, InventoryErrors, NodeGroup};
