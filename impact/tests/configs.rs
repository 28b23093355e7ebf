//! Every example in `configs/` parses and computes, so that the examples never go stale.

use ea_impact::{HourlySeries, Inventory};
use std::path::{Path, PathBuf};

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_inventory_parses() {
    let inventories = files("inventory", "toml");
    assert!(
        inventories.len() >= 3,
        "testbed plus at least two real clusters"
    );
    for path in &inventories {
        let inv = Inventory::load(path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        assert!(!inv.groups.is_empty());
        for g in &inv.groups {
            let e = &g.embodied;
            assert!(
                e.per_node.value.is_finite() && e.per_node.value.gwp_kgco2eq > 0.0,
                "{} {}",
                path.display(),
                g.name
            );
            assert!(
                e.per_node.min.gwp_kgco2eq <= e.per_node.value.gwp_kgco2eq
                    && e.per_node.value.gwp_kgco2eq <= e.per_node.max.gwp_kgco2eq
            );
            assert!(e.per_node_hour.value.pe_mj > 0.0 && e.per_node_hour.value.adpe_kgsbeq > 0.0);
        }
    }
    let testbed = Inventory::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/inventory/testbed.toml"),
    )
    .unwrap();
    for n in ["n1", "n2", "n3"] {
        assert!(
            testbed.group_of(n).is_some(),
            "the demo cluster's {n} is in testbed.toml"
        );
    }
}

#[test]
fn every_example_series_parses() {
    for path in files("factors", "csv") {
        HourlySeries::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}
