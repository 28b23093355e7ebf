//! Fidelity cases from Jay's thesis (methodology notes §1.4 and §1.5), computed through the
//! public API: an inventory read from TOML, its embodied figures per node, and the engine's
//! allocation of them to a run. (V8, her node-remainder rule, is in validation_cases.rs.)

use ea_impact::allocation::{AllocationOptions, JobNodeInput, allocate};
use ea_impact::embodied::ComponentKind;
use ea_impact::inventory::{EmbodiedSource, HOURS_PER_YEAR};
use ea_impact::{Impacts, Inventory, NodeGroup};
use ea_record::UnixMicros;
use std::path::{Path, PathBuf};

/// The example inventory holding Champollion's per-component table (methodology §1.4).
fn champollion_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/inventory/champollion-lca.toml")
}

fn group(inv: &Inventory) -> &NodeGroup {
    inv.group_of("champollion")
        .unwrap_or_else(|| panic!("no champollion group in {}", inv.path.display()))
        .1
}

/// Within half a unit of the last digit a published figure gives: `digit` is that unit.
fn assert_published(what: &str, got: f64, published: f64, digit: f64) {
    assert!(
        (got - published).abs() <= digit / 2.0,
        "{what} = {got}, published {published} (to {digit})"
    );
}

fn assert_impacts(what: &str, got: Impacts, published: [f64; 3], digits: [f64; 3]) {
    assert_published(
        &format!("{what} GWP"),
        got.gwp_kgco2eq,
        published[0],
        digits[0],
    );
    assert_published(
        &format!("{what} ADPe"),
        got.adpe_kgsbeq,
        published[1],
        digits[1],
    );
    assert_published(&format!("{what} PE"), got.pe_mj, published[2], digits[2]);
}

/// §1.4: Champollion's 8 × A100 80 GB node from the inventory's per-component table: node
/// totals 3,264.1 kgCO2eq, 0.20154 kgSbeq, 41,320 MJ, and 138.4 kgCO2eq, 4.90e-3 kgSbeq,
/// 1,762.5 MJ per A100 (GPU chips + memory + boards, over the 8 cards).
#[test]
fn champollion_node_from_its_component_table() {
    let inv = Inventory::load(&champollion_file()).unwrap_or_else(|e| panic!("{e}"));
    let g = group(&inv);
    let e = &g.embodied;
    assert_eq!(
        e.per_node.min, e.per_node.value,
        "an LCA table has no range"
    );
    assert_impacts(
        "node",
        e.per_node.value,
        [3264.1, 0.20154, 41_320.0],
        [0.1, 1e-5, 10.0],
    );
    let EmbodiedSource::ComponentTable(table) = &g.source else {
        panic!("source is {:?}", g.source)
    };
    let card = table.gpu_per_card().expect("the table has GPU rows");
    assert_impacts("per A100", card, [138.4, 4.90e-3, 1762.5], [0.1, 1e-5, 0.1]);
    // The breakdown is the table's six rows, the GPU rows for the 8 cards together.
    let kinds: Vec<(ComponentKind, u32)> = e.components.iter().map(|c| (c.kind, c.units)).collect();
    assert_eq!(
        kinds,
        [
            (ComponentKind::GpuChip, 8),
            (ComponentKind::GpuMemory, 8),
            (ComponentKind::GpuBoard, 8),
            (ComponentKind::Ram, 1),
            (ComponentKind::Cpu, 1),
            (ComponentKind::Other, 1),
        ]
    );
    assert_eq!(g.capacity.gpus, 8, "a table-only group knows its cards");
    // Charged per node-hour over 6 years at 80 % use.
    let hours = 6.0 * HOURS_PER_YEAR * 0.8;
    let rate = e.per_node_hour.value.gwp_kgco2eq;
    assert!(
        (rate * hours - e.per_node.value.gwp_kgco2eq).abs() < 1e-9,
        "{rate}"
    );
}

/// `text` with `from` replaced by `to`; `from` must occur exactly once.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} in the example");
    text.replacen(from, to, 1)
}

/// Hours of node life × active utilisation the ResNet-50 run's manufacturing row implies:
/// 0.479 h / 17,125 h = 2.797e-5, the ratio of that row to the node totals (§1.5). The
/// thesis's own lifetime and utilisation cannot be recovered (§1.5); we take LCE24's 80 %
/// for training GPUs and the lifetime that gives this product, 17,125 / (0.8 × 8,760) =
/// 2.444 years.
const LIFE_TIMES_USE_H: f64 = 17_125.0;
const UTILISATION: f64 = 0.8;
const RUN_H: f64 = 0.479;

/// §1.5: the ResNet-50 MLPerf run on one Champollion node (0.479 h: 1.639 kWh at 3,425 W),
/// with the node totals that use "others_old" (2,892.1 kgCO2eq, 0.14794 kgSbeq, 36,110 MJ),
/// allocated by the engine per node-hour over lifetime × utilisation: 8.09e-2 kgCO2eq,
/// 4.14e-6 kgSbeq, 1.01 MJ, within half a unit of the last published digit.
#[test]
fn resnet50_manufacturing_row() {
    let example = std::fs::read_to_string(champollion_file()).unwrap();
    let others_old = "other = { gwp_kgco2eq = 223, adpe_kgsbeq = 2.39e-2, pe_mj = 3110 }";
    let lifetime = LIFE_TIMES_USE_H / (UTILISATION * HOURS_PER_YEAR);
    let text = replaced(
        &example,
        "other = { gwp_kgco2eq = 595, adpe_kgsbeq = 7.75e-2, pe_mj = 8320 }",
        others_old,
    );
    let text = replaced(
        &text,
        "lifetime_years = 6\nlifetime_years_range = [4, 8]\nutilisation = 0.8\n",
        &format!("lifetime_years = {lifetime}\nutilisation = {UTILISATION}\n"),
    );
    let inv = Inventory::parse(&text, &champollion_file()).unwrap_or_else(|e| panic!("{e}"));
    let node = group(&inv).embodied.per_node.value;
    assert_impacts(
        "node, others_old",
        node,
        [2892.1, 0.14794, 36_110.0],
        [0.1, 1e-5, 10.0],
    );
    let run = JobNodeInput {
        job: 1,
        node: "champollion".into(),
        start: UnixMicros(0),
        end: UnixMicros((RUN_H * 3.6e9).round() as i64),
        exclusive: true,
        held: Default::default(),
        meters: vec![],
    };
    let a = allocate(&inv, &[run], &AllocationOptions::default()).unwrap();
    let m = a.pairs[0]
        .embodied
        .expect("the node is in the inventory")
        .value;
    assert_impacts(
        "manufacturing",
        m,
        [8.09e-2, 4.14e-6, 1.01],
        [1e-4, 1e-8, 1e-2],
    );
    // The same 2.797e-5 of the node for every criterion.
    for (part, whole) in [
        (m.gwp_kgco2eq, node.gwp_kgco2eq),
        (m.adpe_kgsbeq, node.adpe_kgsbeq),
        (m.pe_mj, node.pe_mj),
    ] {
        assert_published("share of the node", part / whole, 2.797e-5, 1e-8);
    }
}
