//! A node's embodied impact from a per-component LCA table (`[group.component_footprint]`).
//!
//! Life-cycle assessments publish a node's manufacturing impact split by component rather than
//! the attributes boaviztapi's bottom-up model needs: Jay's thesis gives GPU compute chips, GPU
//! memory chips, GPU boards, RAM, CPU and the rest of the node (methodology §1.4). A site with
//! such a table declares it as it is published, for the whole node over its life, the GPU rows
//! covering all `gpu_cards` cards together; the node total is the sum of the rows, and the
//! figure per card (chip + memory + board, divided by the cards) is derived from it.
//!
//! Every row gives the three criteria: rows are added up, so a criterion left out would count
//! as zero. A table that gives only GWP belongs in `[group.footprint]`, where the missing
//! criteria come from the bottom-up model.

use super::raw::{RawComponentTable, RawCriteria, S};
use super::validate::{Checker, criteria};
use crate::embodied::{ComponentImpact, ComponentKind};
use crate::impacts::{Impacts, Ranged};
use serde::Serialize;

/// Highest figures accepted for a row of one node, as for `[group.footprint]`: GWP, ADPe, PE.
const ROW_MAX: [f64; 3] = [1e6, 100.0, 1e8];

/// Most GPU cards one node may hold, as for `[[group.gpu]]`.
const MAX_GPU_CARDS: u32 = 64;

/// A checked per-component table: whole node, whole life.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentTable {
    /// Where the figures come from, as the inventory states it.
    pub source: Option<String>,
    /// How many cards the GPU rows cover together (0 when the table has no GPU row).
    pub gpu_cards: u32,
    /// The rows given, in the order GPU chips, GPU memory, GPU boards, RAM, CPU, other.
    pub rows: Vec<(ComponentKind, Impacts)>,
}

impl ComponentTable {
    /// The node's total: the sum of the rows.
    pub fn total(&self) -> Impacts {
        self.rows.iter().map(|(_, i)| *i).sum()
    }

    /// One GPU card (chip + memory + board over the cards), the figure GPU LCAs quote per
    /// card; `None` when the table has no GPU row.
    pub fn gpu_per_card(&self) -> Option<Impacts> {
        let gpu: Vec<Impacts> = self
            .rows
            .iter()
            .filter(|(k, _)| is_gpu(*k))
            .map(|(_, i)| *i)
            .collect();
        (!gpu.is_empty() && self.gpu_cards > 0)
            .then(|| gpu.into_iter().sum::<Impacts>() * (1.0 / f64::from(self.gpu_cards)))
    }

    /// The rows as a breakdown, exact (an LCA table states no range).
    pub(crate) fn breakdown(&self) -> Vec<ComponentImpact> {
        let from = self.source.as_deref().unwrap_or("source not stated");
        self.rows
            .iter()
            .map(|&(kind, impacts)| {
                let (units, basis) = if is_gpu(kind) {
                    (
                        self.gpu_cards,
                        format!(
                            "inventory table, {} cards together ({from})",
                            self.gpu_cards
                        ),
                    )
                } else {
                    (1, format!("inventory table ({from})"))
                };
                ComponentImpact {
                    kind,
                    units,
                    impacts: Ranged::exact(impacts),
                    basis,
                }
            })
            .collect()
    }

    /// The group's method in words; the hardware's bottom-up total, when the group also
    /// describes hardware, is quoted beside it for comparison (it is not used).
    pub(crate) fn method(&self, bottom_up: Option<Ranged<Impacts>>) -> String {
        let mut m = String::from("per-component table in the inventory");
        if let Some(s) = &self.source {
            m.push_str(&format!(" ({s})"));
        }
        if let Some(b) = bottom_up {
            let v = b.value;
            m.push_str(&format!(
                "; the hardware's bottom-up total, not used: {:.4} kgCO2eq, {:.4e} kgSbeq, {:.1} MJ",
                v.gwp_kgco2eq, v.adpe_kgsbeq, v.pe_mj
            ));
        }
        m
    }
}

fn is_gpu(kind: ComponentKind) -> bool {
    matches!(
        kind,
        ComponentKind::GpuChip | ComponentKind::GpuMemory | ComponentKind::GpuBoard
    )
}

/// Checks a table; `key` names it in errors (`group "x".component_footprint`) and
/// `hardware_gpus` is the card count of the group's `[[group.gpu]]`, if it describes any.
pub(crate) fn check(
    c: &mut Checker,
    t: &S<RawComponentTable>,
    key: &str,
    hardware_gpus: Option<u32>,
) -> Option<ComponentTable> {
    let before = c.errors.len();
    let r = t.get_ref();
    let named = [
        (ComponentKind::GpuChip, "gpu_chip", &r.gpu_chip),
        (ComponentKind::GpuMemory, "gpu_memory", &r.gpu_memory),
        (ComponentKind::GpuBoard, "gpu_board", &r.gpu_board),
        (ComponentKind::Ram, "ram", &r.ram),
        (ComponentKind::Cpu, "cpu", &r.cpu),
        (ComponentKind::Other, "other", &r.other),
    ];
    let mut rows = Vec::with_capacity(named.len());
    for (kind, name, raw) in named {
        if let Some(raw) = raw {
            rows.extend(row(c, raw, &format!("{key}.{name}")).map(|i| (kind, i)));
        }
    }
    if named.iter().all(|(_, _, raw)| raw.is_none()) {
        c.error(
            t.span(),
            key,
            "no component row",
            "give at least one of gpu_chip, gpu_memory, gpu_board, ram, cpu and other, each with gwp_kgco2eq, adpe_kgsbeq and pe_mj",
        );
    }
    let has_gpu_rows = named[..3].iter().any(|(_, _, raw)| raw.is_some());
    let gpu_cards = cards(c, t, key, has_gpu_rows, hardware_gpus);
    (c.errors.len() == before).then(|| ComponentTable {
        source: r.source.clone(),
        gpu_cards: gpu_cards.unwrap_or(0),
        rows,
    })
}

/// One row, with all three criteria in range; `None` after reporting what is wrong.
fn row(c: &mut Checker, raw: &S<RawCriteria>, key: &str) -> Option<Impacts> {
    let p = criteria(c, raw, key, ROW_MAX);
    let r = raw.get_ref();
    let absent: Vec<&str> = [
        ("gwp_kgco2eq", r.gwp_kgco2eq.is_none()),
        ("adpe_kgsbeq", r.adpe_kgsbeq.is_none()),
        ("pe_mj", r.pe_mj.is_none()),
    ]
    .into_iter()
    .filter_map(|(n, missing)| missing.then_some(n))
    .collect();
    // An empty row is already reported by `criteria`.
    if !absent.is_empty() && absent.len() < 3 {
        c.error(
            raw.span(),
            key,
            format!("{} missing", absent.join(" and ")),
            "give gwp_kgco2eq, adpe_kgsbeq and pe_mj in every row: the rows are added up, so a missing criterion would count as zero (figures for GWP only go in [group.footprint], with the hardware for the other criteria)",
        );
    }
    Some(Impacts::new(p.gwp_kgco2eq?, p.adpe_kgsbeq?, p.pe_mj?))
}

/// How many cards the GPU rows cover: `gpu_cards`, else the hardware's count; they must agree.
fn cards(
    c: &mut Checker,
    t: &S<RawComponentTable>,
    key: &str,
    has_gpu_rows: bool,
    hardware_gpus: Option<u32>,
) -> Option<u32> {
    let hardware_gpus = hardware_gpus.filter(|&n| n > 0);
    let given = t.get_ref().gpu_cards.as_ref();
    let k = format!("{key}.gpu_cards");
    match (has_gpu_rows, given, hardware_gpus) {
        (false, None, _) => Some(0),
        (false, Some(v), _) => {
            c.error(
                v.span(),
                k,
                "gpu_cards is given but the table has no gpu_chip, gpu_memory or gpu_board row",
                "add the GPU rows (for all the cards together), or remove gpu_cards",
            );
            None
        }
        (true, None, Some(h)) => Some(h),
        (true, None, None) => {
            c.error(
                t.span(),
                k,
                "GPU rows are given without the number of cards they cover",
                "add gpu_cards = N: the GPU rows are for all the node's N cards together",
            );
            None
        }
        (true, Some(v), h) => {
            let n = c.count(v, &k, 1, MAX_GPU_CARDS)?;
            if let Some(h) = h.filter(|&h| h != n) {
                c.error(
                    v.span(),
                    k,
                    format!("gpu_cards = {n}, but the group's [[group.gpu]] tables count {h} cards"),
                    "make them agree: gpu_cards is how many cards the table's GPU rows cover together",
                );
                return None;
            }
            Some(n)
        }
    }
}
