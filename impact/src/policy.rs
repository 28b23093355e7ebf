//! The site's policy choices and the node figures that both the inventory and the allocation
//! need: how a shared node is divided ([`ShareRule`]), what happens to node time no job used
//! ([`UnallocatedPolicy`]), and what a node offers to jobs ([`NodeCapacity`]).
//!
//! A leaf module (it imports nothing from the crate) so that the inventory, which reads these
//! choices from its file, and the allocation, which applies them, do not import each other.
//! The old paths (`allocation::ShareRule`, `allocation::UnallocatedPolicy`,
//! `inventory::NodeCapacity`) are re-exports of these.

use serde::{Deserialize, Serialize};

/// How a shared node is divided between the jobs on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareRule {
    /// CPUs held / CPUs of the node.
    Cores,
    /// GPUs held / GPUs of the node (falls back to cores on a node without GPUs).
    Gpus,
    /// Memory held / memory of the node.
    Memory,
    /// The largest of the cores, GPUs and memory fractions (the default).
    Max,
    /// Slurm TRES billing units held / the node's billing weight (`billing_per_node`).
    Billing,
}

impl ShareRule {
    /// The rule as the inventory writes it (`max`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShareRule::Cores => "cores",
            ShareRule::Gpus => "gpus",
            ShareRule::Memory => "memory",
            ShareRule::Max => "max",
            ShareRule::Billing => "billing",
        }
    }
}

/// What to do with node time no job used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnallocatedPolicy {
    /// Jobs pay their share; the rest is reported per group as unallocated (default).
    Report,
    /// Over a period, each node's whole embodied cost, and within jobs' intervals the node's
    /// whole energy, go to the jobs that used it, pro rata ("full cost"). Needs a period.
    Spread,
}

impl UnallocatedPolicy {
    /// The policy as the inventory writes it (`report`).
    pub fn as_str(self) -> &'static str {
        match self {
            UnallocatedPolicy::Report => "report",
            UnallocatedPolicy::Spread => "spread",
        }
    }
}

/// What a node offers to jobs, to turn what a job held into a share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NodeCapacity {
    /// Logical CPUs as Slurm counts them (`slurm_cpus`, else sockets × cores × threads).
    pub cpus: Option<u32>,
    /// Memory jobs can request, MB (`slurm_memory_mb`, else the installed RAM).
    pub memory_mb: Option<u64>,
    /// GPUs of the node (0 without).
    pub gpus: u32,
    /// The node's total TRES billing weight (`billing_per_node`), for the billing share rule.
    pub billing: Option<f64>,
}
