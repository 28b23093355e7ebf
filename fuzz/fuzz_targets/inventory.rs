//! Node inventories (TOML, configs/inventory/*.toml): `ea_impact::Inventory::parse`, which
//! checks the file, expands each group's hostlist and computes each group's embodied impact with
//! the Boavizta bottom-up model.
//!
//! Asserts, for an inventory it accepts:
//! - every node belongs to exactly the group that lists it (`group_of`), and no group has more
//!   than `MAX_HOSTS` nodes;
//! - lifetime, utilisation and PUE are finite ranges with min <= value <= max, utilisation in
//!   (0, 1], PUE in [1, 5];
//! - every impact (embodied per node, per hour of life and per node-hour; each component's; the
//!   grid's factors per kWh; the use phase of 1 kWh) is finite and non-negative in each
//!   criterion, with min <= value <= max, as `Ranged` documents.
#![no_main]

use ea_impact::{Impacts, Inventory, Ranged};
use ea_record::UnixMicros;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

#[track_caller]
fn impacts(i: &Impacts, what: &str) {
    for (name, v) in [
        ("gwp", i.gwp_kgco2eq),
        ("adpe", i.adpe_kgsbeq),
        ("pe", i.pe_mj),
    ] {
        assert!(v.is_finite() && v >= 0.0, "{what}: {name} = {v}");
    }
}

#[track_caller]
fn ranged_impacts(r: &Ranged<Impacts>, what: &str) {
    impacts(&r.value, what);
    impacts(&r.min, what);
    impacts(&r.max, what);
    for (name, f) in [
        ("gwp", (|i: &Impacts| i.gwp_kgco2eq) as fn(&Impacts) -> f64),
        ("adpe", |i: &Impacts| i.adpe_kgsbeq),
        ("pe", |i: &Impacts| i.pe_mj),
    ] {
        let (lo, v, hi) = (f(&r.min), f(&r.value), f(&r.max));
        assert!(
            lo <= v && v <= hi,
            "{what}: {name} min {lo} value {v} max {hi}"
        );
    }
}

#[track_caller]
fn ranged(r: &Ranged<f64>, what: &str, lo: f64, hi: f64) {
    assert!(
        r.min.is_finite() && r.value.is_finite() && r.max.is_finite(),
        "{what}: {r:?}"
    );
    assert!(r.contains_value(), "{what}: {r:?}");
    assert!(
        lo <= r.min && r.max <= hi,
        "{what}: {r:?} outside [{lo}, {hi}]"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inv) = Inventory::parse(text, Path::new("/nonexistent/fuzz/inventory.toml")) else {
        return;
    };
    let mut nodes = 0;
    for (i, g) in inv.groups.iter().enumerate() {
        let what = format!("group {} ({})", i, g.name);
        assert!(g.nodes.len() <= ea_record::hostlist::MAX_HOSTS, "{what}");
        for n in &g.nodes {
            let found = inv.group_of(n).map(|(k, _)| k);
            assert_eq!(
                found,
                Some(i),
                "{what}: node {n} is found in group {found:?}"
            );
        }
        nodes += g.nodes.len();
        ranged(
            &g.lifetime_years,
            &format!("{what}: lifetime"),
            0.0,
            f64::MAX,
        );
        ranged(
            &g.utilisation,
            &format!("{what}: utilisation"),
            f64::MIN_POSITIVE,
            1.0,
        );
        ranged(&g.pue, &format!("{what}: PUE"), 1.0, 5.0);
        impacts(&g.electricity.per_kwh, &format!("{what}: grid factors"));
        ranged_impacts(&g.embodied.per_node, &format!("{what}: embodied per node"));
        ranged_impacts(
            &g.embodied.per_node_life_hour,
            &format!("{what}: embodied per hour of life"),
        );
        ranged_impacts(
            &g.embodied.per_node_hour,
            &format!("{what}: embodied per node-hour"),
        );
        for c in &g.embodied.components {
            ranged_impacts(&c.impacts, &format!("{what}: component {:?}", c.kind));
        }
        let (use_phase, coverage) = inv.use_phase(
            i,
            3.6e6,
            UnixMicros(1_795_694_400_000_000),
            UnixMicros(1_795_698_000_000_000),
        );
        ranged_impacts(&use_phase, &format!("{what}: use phase of 1 kWh"));
        assert!(coverage.is_none(), "{what}: no series is attached by parse");
    }
    assert_eq!(inv.node_count(), nodes, "nodes in groups and in the index");
});
