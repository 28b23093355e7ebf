//! Central values, minima and maxima match boaviztapi 2.5.0 to 1e-6 relative, on the vectors
//! that `tests/boavizta/generate_vectors.py` computed with boaviztapi's own functions.
//!
//! Each node is written in the inventory's vocabulary; it goes through the same path as a site
//! file (`Inventory::parse`), so the mapping from inventory to model is tested too.

use ea_impact::embodied::{
    ComponentKind, GpuModel, GpuSpec, cpu_die, effective_die_area_mm2, gpu_card,
};
use ea_impact::{Impacts, Inventory, Ranged};
use serde_json::Value;
use std::path::Path;

const REL: f64 = 1e-6;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/boavizta/vectors.json"
    );
    serde_json::from_str(
        &std::fs::read_to_string(path).expect("tests/boavizta/vectors.json is committed"),
    )
    .unwrap()
}

fn close(got: f64, expected: f64) -> bool {
    (got - expected).abs() <= REL * expected.abs().max(1e-300)
}

/// boaviztapi's `{gwp|adp|pe: {value, min, max}}` as our ranged impacts.
fn ranged(v: &Value) -> Ranged<Impacts> {
    let at = |k: &str| {
        Impacts::new(
            v["gwp"][k].as_f64().unwrap(),
            v["adp"][k].as_f64().unwrap(),
            v["pe"][k].as_f64().unwrap(),
        )
    };
    Ranged::new(at("value"), at("min"), at("max"))
}

/// The largest relative difference seen, printed by the node test (`--nocapture`).
static WORST: std::sync::Mutex<f64> = std::sync::Mutex::new(0.0);

fn assert_close(what: &str, got: Ranged<Impacts>, expected: Ranged<Impacts>) {
    for (bound, g, e) in [
        ("value", got.value, expected.value),
        ("min", got.min, expected.min),
        ("max", got.max, expected.max),
    ] {
        for (crit, gv, ev) in [
            ("gwp", g.gwp_kgco2eq, e.gwp_kgco2eq),
            ("adpe", g.adpe_kgsbeq, e.adpe_kgsbeq),
            ("pe", g.pe_mj, e.pe_mj),
        ] {
            let mut worst = WORST.lock().unwrap();
            *worst = worst.max((gv - ev).abs() / ev.abs().max(1e-300));
            drop(worst);
            assert!(
                close(gv, ev),
                "{what}: {crit} {bound} = {gv}, boaviztapi {ev} (relative error {:e})",
                (gv - ev).abs() / ev.abs()
            );
        }
    }
}

/// A one-group inventory from a vector's node description.
fn inventory_for(node: &Value) -> Inventory {
    let mut group = node.as_object().unwrap().clone();
    group.insert("nodes".into(), "n1".into());
    group.insert("location".into(), "FRA".into());
    group.insert("pue".into(), 1.0.into());
    let doc = serde_json::json!({ "group": [group] });
    let text = toml::to_string(&toml::Value::try_from(doc).unwrap()).unwrap();
    Inventory::parse(&text, Path::new("vector.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn node_configurations_match_boaviztapi() {
    let v = vectors();
    let nodes = v["nodes"].as_array().unwrap();
    assert!(nodes.len() >= 10, "at least ten configurations");
    for n in nodes {
        let name = n["node"]["name"].as_str().unwrap();
        let inv = inventory_for(&n["node"]);
        let g = &inv.groups[0];
        assert_close(
            &format!("{name} total"),
            g.embodied.per_node,
            ranged(&n["total"]),
        );
        for (kind, expected) in n["components"].as_object().unwrap() {
            let kind = match kind.as_str() {
                "assembly" => ComponentKind::Assembly,
                "cpu" => ComponentKind::Cpu,
                "gpu" => ComponentKind::Gpu,
                "ram" => ComponentKind::Ram,
                "ssd" => ComponentKind::Ssd,
                "hdd" => ComponentKind::Hdd,
                "power_supply" => ComponentKind::PowerSupply,
                "case" => ComponentKind::Case,
                "motherboard" => ComponentKind::Motherboard,
                other => panic!("unknown component {other}"),
            };
            let ours: Ranged<Impacts> = g
                .embodied
                .components
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.impacts)
                .sum();
            assert_close(&format!("{name} {kind:?}"), ours, ranged(expected));
        }
        // Per node-hour is the total over the lifetime boaviztapi used (utilisation 1).
        let hours = n["hours_life_time"].as_f64().unwrap();
        assert!(close(
            g.embodied.per_node_hour.value.gwp_kgco2eq,
            n["total"]["gwp"]["value"].as_f64().unwrap() / hours
        ));
    }
    println!(
        "largest relative difference from boaviztapi so far: {:e}",
        *WORST.lock().unwrap()
    );
}

#[test]
fn cpu_die_completion_matches_boaviztapi() {
    let v = vectors();
    for q in v["cpu_queries"].as_array().unwrap() {
        let model = q["model"].as_str();
        let cores = q["cores_per_socket"].as_u64().map(|c| c as u32);
        let die = cpu_die(model, cores, None, None);
        let expected = &q["die_size_mm2"];
        for (bound, got) in [
            ("value", die.die_mm2.value),
            ("min", die.die_mm2.min),
            ("max", die.die_mm2.max),
        ] {
            let e = expected[bound].as_f64().unwrap();
            assert!(
                close(got, e),
                "{model:?} with {cores:?} cores: die {bound} {got}, boaviztapi {e} ({})",
                die.basis
            );
        }
        assert_eq!(
            die.matched.as_deref(),
            q["matched"].as_str(),
            "{model:?}: matched row"
        );
    }
}

#[test]
fn gpu_cards_match_boaviztapi() {
    let v = vectors();
    for q in v["gpu_queries"].as_array().unwrap() {
        let model = q["model"].as_str().unwrap();
        let card = gpu_card(
            &GpuSpec {
                model: Some(model.into()),
                count: 1,
                ..Default::default()
            },
            GpuModel::Boavizta,
        );
        assert_eq!(
            card.matched.as_deref(),
            q["matched"].as_str(),
            "{model}: matched row"
        );
        assert_close(model, card.impacts, ranged(&q["per_card"]));
    }
}

#[test]
fn effective_areas_match_boaviztapi() {
    let v = vectors();
    for (die, eff) in v["effective_area_mm2"].as_object().unwrap() {
        let got = effective_die_area_mm2(die.parse().unwrap());
        assert!(
            (got - eff.as_f64().unwrap()).abs() <= 1e-12 * got,
            "{die}: {got} vs {eff}"
        );
    }
}
