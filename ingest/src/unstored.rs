//! A job the store does not have yet, straight from its node records: what `energy-assess
//! job` shows for a job no ingest has seen.

use crate::allocate::alone;
use crate::records::to_row;
use ea_energy::measured::{NodeEnergy, SCOPES, combine};
use ea_impact::Inventory;
use ea_record::JobNodeRecord;
use ea_sacct::JobRow;
use ea_store::config::Config;
use ea_store::read::{JobRecord, MeasuredRecord};

/// Why a job could not be computed from its records.
#[derive(Debug)]
pub enum UnstoredError {
    /// The inventory the config names cannot be read; the errors name its file and lines.
    Inventory(ea_impact::InventoryErrors),
    /// The impact engine refused the records' allocation.
    Allocation(ea_impact::AllocationError),
}

impl std::fmt::Display for UnstoredError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnstoredError::Inventory(e) => e.fmt(f),
            UnstoredError::Allocation(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for UnstoredError {}

/// A job straight from its node records (the spool), for a job the store does not have yet,
/// as the store would give it back after an ingest of those records alone: measured energy
/// per node as the impact engine attributes it (best meter, the job's share of each node by
/// the inventory's rule; nobody else is known to have shared its nodes) and, with an
/// inventory, its embodied share as if alone on its nodes. `None` when the records hold no
/// meter at all. Its figures are then `ea_query::session::figures_unstored`'s.
///
/// # Errors
/// An inventory named by the config that cannot be read.
pub fn job_from_records(
    config: &Config,
    records: &[JobNodeRecord],
) -> Result<Option<JobRecord>, UnstoredError> {
    let complete: Vec<&JobNodeRecord> = records
        .iter()
        .filter(|r| r.end.is_some() && r.start.is_some())
        .collect();
    let Some(first) = complete.first() else {
        return Ok(None);
    };
    // The engine's split, as for any measured job: its share of each node by the site's rule
    // (nobody else is known to have been on its nodes).
    let site_inventory = match &config.inventory {
        Some(p) => Some(Inventory::load(p).map_err(UnstoredError::Inventory)?),
        None => None,
    };
    let without_nodes = Inventory::without_nodes();
    let inventory = site_inventory.as_ref().unwrap_or(&without_nodes);
    let inputs: Vec<ea_impact::JobNodeInput> = complete
        .iter()
        .filter_map(|r| ea_impact::JobNodeInput::from_record(0, r, false, None))
        .collect();
    let allocation = ea_impact::allocate(inventory, &inputs, &Default::default())
        .map_err(UnstoredError::Allocation)?;
    let mut nodes = Vec::new();
    let mut scope_sums = [None; SCOPES.len()];
    for (r, pair) in complete.iter().zip(&allocation.pairs) {
        let row = to_row(r, &config.cluster);
        if let Some(n) = NodeEnergy::from_engine(&r.node, pair, &row.flags) {
            nodes.push(n);
            for (sum, v) in scope_sums.iter_mut().zip(row.energy_j) {
                if let Some(v) = v {
                    *sum = Some(sum.unwrap_or(0.0) + v);
                }
            }
        }
    }
    let Some(m) = combine(&nodes, scope_sums, first.num_nodes) else {
        return Ok(None);
    };
    let start = complete
        .iter()
        .filter_map(|r| r.start)
        .min()
        .map(|t| t.as_secs());
    let end = complete
        .iter()
        .filter_map(|r| r.end)
        .max()
        .map(|t| t.as_secs());
    let node_list: Vec<&str> = complete.iter().map(|r| r.node.as_str()).collect();
    let mut job = JobRecord {
        row: JobRow {
            cluster: Some(
                first
                    .cluster
                    .clone()
                    .unwrap_or_else(|| config.cluster.clone()),
            ),
            job_id: match (first.array_job_id, first.array_task_id) {
                (Some(a), Some(t)) => format!("{a}_{t}"),
                _ => first.job_id.to_string(),
            },
            job_id_raw: Some(u64::from(first.job_id)),
            user: first.user.clone(),
            uid: Some(first.uid),
            account: first.account.clone(),
            partition: first.partition.clone(),
            state: "COMPLETED".into(),
            state_raw: "COMPLETED (from node records)".into(),
            start,
            end,
            elapsed_s: start.zip(end).map(|(a, b)| b - a),
            nnodes: Some(first.num_nodes.unwrap_or(complete.len() as u32)),
            ncpus: Some(complete.iter().filter_map(|r| r.cpus_on_node).sum()),
            node_list: Some(node_list.join(",")),
            ..Default::default()
        },
        is_final: true,
        measured: Some(MeasuredRecord::of(&m)),
        ..Default::default()
    };
    // Not ingested: no neighbour is known, so it is charged as if alone on its nodes.
    if let Some(inventory) = &site_inventory {
        job.embodied = alone(inventory, &job.row).map_err(UnstoredError::Allocation)?;
    }
    Ok(Some(job))
}
