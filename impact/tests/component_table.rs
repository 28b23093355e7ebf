//! `[group.component_footprint]`, an LCA's embodied figures per component: what it accepts,
//! what it refuses (each error with its line, key and fix), and how it sits beside hardware.

use ea_impact::embodied::ComponentKind;
use ea_impact::inventory::EmbodiedSource;
use ea_impact::{Impacts, Inventory, InventoryError};
use std::path::Path;

const HEAD: &str =
    "[[group]]\nname = \"g\"\nnodes = \"g1\"\nlocation = \"FRA\"\npue = 1\nlifetime_years = 5\n";

/// A two-card table: the GPU rows for both cards, RAM and the rest.
const TABLE: &str = r#"[group.component_footprint]
source = "a vendor LCA"
gpu_cards = 2
gpu_chip = { gwp_kgco2eq = 30, adpe_kgsbeq = 1e-5, pe_mj = 400 }
gpu_memory = { gwp_kgco2eq = 200, adpe_kgsbeq = 6e-3, pe_mj = 2800 }
gpu_board = { gwp_kgco2eq = 20, adpe_kgsbeq = 4e-3, pe_mj = 300 }
ram = { gwp_kgco2eq = 400, adpe_kgsbeq = 1e-2, pe_mj = 5000 }
other = { gwp_kgco2eq = 150, adpe_kgsbeq = 2e-2, pe_mj = 2000 }
"#;

const HARDWARE: &str = r#"[group.cpu]
sockets = 2
cores_per_socket = 32
[group.ram]
total_gb = 512
[[group.gpu]]
model = "NVIDIA A100 SXM4 80GB"
count = 2
tdp_w = 400
"#;

fn parse(text: &str) -> Result<Inventory, Vec<InventoryError>> {
    Inventory::parse(text, Path::new("site.toml")).map_err(|e| e.0)
}

/// The only error of `text`.
fn error(text: &str) -> InventoryError {
    let mut e = parse(text).expect_err("the text is refused");
    assert_eq!(e.len(), 1, "{e:?}");
    e.remove(0)
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

#[test]
fn the_node_total_is_the_sum_of_the_rows() {
    let inv = parse(&format!("{HEAD}{TABLE}")).unwrap();
    let g = &inv.groups[0];
    let total = g.embodied.per_node.value;
    assert!((total.gwp_kgco2eq - 800.0).abs() < 1e-9, "{total:?}");
    assert!((total.adpe_kgsbeq - 0.04001).abs() < 1e-12, "{total:?}");
    assert!((total.pe_mj - 10_500.0).abs() < 1e-9, "{total:?}");
    let EmbodiedSource::ComponentTable(t) = &g.source else {
        panic!("{:?}", g.source)
    };
    assert_eq!(
        t.gpu_per_card(),
        Some(Impacts::new(125.0, 0.005005, 1750.0))
    );
    assert!(
        g.embodied.method.contains("a vendor LCA"),
        "{}",
        g.embodied.method
    );
    let rate = g.embodied.per_node_hour.value.gwp_kgco2eq;
    assert!((rate - 800.0 / (5.0 * 8760.0)).abs() < 1e-12, "{rate}");
    assert_eq!(g.capacity.gpus, 2);
    assert!(
        g.embodied
            .components
            .iter()
            .all(|c| c.kind != ComponentKind::Cpu)
    );
}

#[test]
fn beside_hardware_the_table_decides_and_the_hardware_gives_capacities() {
    let no_count = TABLE.replace("gpu_cards = 2\n", "");
    let inv = parse(&format!("{HEAD}{HARDWARE}{no_count}")).unwrap();
    let g = &inv.groups[0];
    assert!((g.embodied.per_node.value.gwp_kgco2eq - 800.0).abs() < 1e-9);
    let EmbodiedSource::ComponentTable(t) = &g.source else {
        panic!("{:?}", g.source)
    };
    assert_eq!(t.gpu_cards, 2, "from [[group.gpu]]");
    assert_eq!(g.capacity.cpus, Some(64));
    assert!(
        g.embodied.method.contains("bottom-up total, not used"),
        "{}",
        g.embodied.method
    );
    let gpu_rows: Vec<u32> = g
        .embodied
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::GpuChip)
        .map(|c| c.units)
        .collect();
    assert_eq!(gpu_rows, [2]);
}

#[test]
fn a_row_without_every_criterion_is_refused() {
    let text = format!(
        "{HEAD}{}",
        TABLE.replace(
            "ram = { gwp_kgco2eq = 400, adpe_kgsbeq = 1e-2, pe_mj = 5000 }",
            "ram = { gwp_kgco2eq = 400 }"
        )
    );
    let e = error(&text);
    assert_eq!(e.line, Some(line_of(&text, "ram = {")));
    assert_eq!(e.key, "group \"g\".component_footprint.ram");
    assert_eq!(e.problem, "adpe_kgsbeq and pe_mj missing");
    assert!(
        e.fix.contains("every row") && e.fix.contains("[group.footprint]"),
        "{e}"
    );
}

#[test]
fn gpu_rows_need_their_card_count() {
    let text = format!("{HEAD}{}", TABLE.replace("gpu_cards = 2\n", ""));
    let e = error(&text);
    assert_eq!(e.key, "group \"g\".component_footprint.gpu_cards");
    assert_eq!(e.line, Some(line_of(&text, "[group.component_footprint]")));
    assert!(e.fix.contains("add gpu_cards = N"), "{e}");
    // Counted twice, differently.
    let text = format!(
        "{HEAD}{HARDWARE}{}",
        TABLE.replace("gpu_cards = 2", "gpu_cards = 8")
    );
    let e = error(&text);
    assert_eq!(e.line, Some(line_of(&text, "gpu_cards = 8")));
    assert!(e.problem.contains("count 2 cards"), "{e}");
    // A count with nothing to count.
    let text = format!(
        "{HEAD}[group.component_footprint]\ngpu_cards = 4\nram = {{ gwp_kgco2eq = 1, adpe_kgsbeq = 1e-3, pe_mj = 10 }}\n"
    );
    let e = error(&text);
    assert!(
        e.problem
            .contains("no gpu_chip, gpu_memory or gpu_board row"),
        "{e}"
    );
    assert_eq!(e.line, Some(line_of(&text, "gpu_cards = 4")));
}

#[test]
fn other_mistakes_name_their_place() {
    let e = error(&format!(
        "{HEAD}[group.component_footprint]\nsource = \"x\"\n"
    ));
    assert_eq!(e.problem, "no component row");
    let text = format!(
        "{HEAD}{}",
        TABLE.replace("gwp_kgco2eq = 200", "gwp_kgco2eq = -200")
    );
    let e = error(&text);
    assert_eq!(
        e.key,
        "group \"g\".component_footprint.gpu_memory.gwp_kgco2eq"
    );
    assert_eq!(e.line, Some(line_of(&text, "-200")));
    // One source of embodied figures per group.
    let text =
        format!("{HEAD}[group.footprint]\ngwp_kgco2eq = 1\nadpe_kgsbeq = 1\npe_mj = 1\n{TABLE}");
    let e = error(&text);
    assert_eq!(
        e.problem,
        "both footprint and component_footprint are given"
    );
    assert_eq!(e.line, Some(line_of(&text, "[group.component_footprint]")));
    // A misspelt row.
    let text = format!("{HEAD}{}", TABLE.replace("other = {", "others = {"));
    let e = error(&text);
    assert!(e.problem.contains("unknown field `others`"), "{e}");
    assert_eq!(e.line, Some(line_of(&text, "others = {")));
}
