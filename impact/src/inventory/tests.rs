use super::*;
use crate::embodied::ComponentKind;

const GOOD: &str = r#"
[site]
name = "test"
location = "FRA"
pue = 1.2
lifetime_years = 6

[[group]]
name = "cpu"
nodes = "cn[001-004]"
utilisation = 0.85
[group.cpu]
model = "AMD EPYC 7543"
sockets = 2
cores_per_socket = 32
[group.ram]
modules = 16
module_gb = 32
[[group.ssd]]
count = 1
capacity_gb = 480

[[group]]
name = "gpu"
nodes = "gpu[01-02],gpu05"
location = "DEU"
case = "blade"
[group.cpu]
sockets = 2
cores_per_socket = 24
die_area_mm2 = 700
[group.ram]
total_gb = 512
[[group.gpu]]
model = "NVIDIA A100 SXM4 80GB"
count = 4
memory_gb = 80
tdp_w = 400

[[group]]
name = "archer2-like"
nodes = "nid[001000-001003]"
lifetime_years = 6
[group.per_node_hour]
gwp_kgco2eq = 0.023
[group.cpu]
model = "AMD EPYC 7742"
sockets = 2
cores_per_socket = 64
[group.ram]
modules = 16
module_gb = 16
"#;

fn parse(text: &str) -> Result<Inventory, InventoryErrors> {
    Inventory::parse(text, Path::new("site.toml"))
}

fn errors(text: &str) -> Vec<InventoryError> {
    parse(text).expect_err("the inventory should be rejected").0
}

#[test]
fn a_good_inventory_parses_and_computes() {
    let inv = parse(GOOD).unwrap();
    assert_eq!(inv.groups.len(), 3);
    assert_eq!(inv.node_count(), 4 + 3 + 4);
    let (i, g) = inv.group_of("gpu05").unwrap();
    assert_eq!((i, g.name.as_str()), (1, "gpu"));
    assert!(inv.group_of("gpu03").is_none());
    assert_eq!(g.electricity.zone, "DEU");
    assert_eq!(g.pue, Ranged::exact(1.2), "inherited from [site]");
    assert_eq!(
        g.hardware.as_ref().unwrap().ram.modules,
        16,
        "512 GB as 32 GB modules"
    );
    assert_eq!(g.capacity.gpus, 4);
    assert_eq!(g.capacity.cpus, Some(48));
    assert_eq!(inv.sha256.len(), 64);

    let cpu = &inv.groups[0];
    assert_eq!(cpu.utilisation.value, 0.85);
    let e = &cpu.embodied;
    let life_h = 6.0 * HOURS_PER_YEAR;
    assert!(
        (e.per_node_hour.value.gwp_kgco2eq - e.per_node.value.gwp_kgco2eq / (life_h * 0.85)).abs()
            < 1e-12
    );
    assert!(
        (e.per_node_life_hour.value.gwp_kgco2eq - e.per_node.value.gwp_kgco2eq / life_h).abs()
            < 1e-12
    );
    assert!(
        e.per_node.min.gwp_kgco2eq < e.per_node.value.gwp_kgco2eq,
        "default densities give a range"
    );
    assert!(
        e.components
            .iter()
            .any(|c| c.kind == ComponentKind::Cpu && c.basis.contains("AMD EPYC 7543"))
    );

    // ARCHER2-like: GWP from the site figure, ADPe and PE bottom-up.
    let a = &inv.groups[2];
    assert_eq!(a.embodied.per_node_hour.value.gwp_kgco2eq, 0.023);
    assert!(a.embodied.per_node_hour.value.pe_mj > 0.0);
    // The node's total over its life is a range in order, for every criterion (the site's
    // GWP once came out with its minimum above its maximum).
    let t = a.embodied.per_node;
    for (min, value, max) in [
        (t.min.gwp_kgco2eq, t.value.gwp_kgco2eq, t.max.gwp_kgco2eq),
        (t.min.adpe_kgsbeq, t.value.adpe_kgsbeq, t.max.adpe_kgsbeq),
        (t.min.pe_mj, t.value.pe_mj, t.max.pe_mj),
    ] {
        assert!(min <= value && value <= max, "{min} {value} {max}");
    }
    assert!(
        a.embodied.method.contains("per node-hour for GWP"),
        "{}",
        a.embodied.method
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let text = GOOD.replace("utilisation = 0.85", "utilization = 0.85");
    let e = errors(&text);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].problem.contains("unknown field `utilization`"),
        "{}",
        e[0]
    );
    assert_eq!(
        e[0].line,
        Some(
            text.lines()
                .position(|l| l.starts_with("utilization"))
                .unwrap()
                + 1
        )
    );
    assert!(e[0].to_string().starts_with("site.toml:"), "{}", e[0]);
}

#[test]
fn a_group_key_after_a_sub_table_gets_a_hint() {
    let text = GOOD.replace(
        "[[group.ssd]]\ncount = 1\ncapacity_gb = 480\n",
        "[[group.ssd]]\ncount = 1\ncapacity_gb = 480\ncase = \"rack\"\n",
    );
    let e = errors(&text);
    assert!(
        e[0].fix
            .contains("before the group's first [group.*] table"),
        "{}",
        e[0]
    );
}

#[test]
fn malformed_and_overlapping_hostlists() {
    let e = errors(&GOOD.replace("cn[001-004]", "cn[004-001]"));
    assert!(
        e.iter()
            .any(|e| e.key.ends_with(".nodes") && e.problem.contains("ends below")),
        "{e:?}"
    );
    let e = errors(&GOOD.replace("gpu[01-02],gpu05", "gpu[01-02],cn003"));
    let overlap = e
        .iter()
        .find(|e| e.problem.contains("cn003"))
        .expect("the overlap is reported");
    assert!(
        overlap.problem.contains("also in group \"cpu\""),
        "{overlap}"
    );
    assert!(overlap.fix.contains("exactly one group"));
    let e = errors(&GOOD.replace("gpu[01-02],gpu05", "gpu[01-02],gpu01"));
    assert!(
        e.iter().any(|e| e.problem.contains("listed twice")),
        "{e:?}"
    );
}

#[test]
fn absurd_and_negative_values_name_the_key_line_and_range() {
    let text = GOOD
        .replace("cores_per_socket = 32", "cores_per_socket = 32000")
        .replace("capacity_gb = 480", "capacity_gb = -480");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    let cores = e
        .iter()
        .find(|e| e.key == "group \"cpu\".cpu.cores_per_socket")
        .unwrap();
    assert_eq!(
        cores.line,
        Some(text.lines().position(|l| l.contains("32000")).unwrap() + 1)
    );
    assert!(cores.fix.contains("from 1 to 1024"));
    let disk = e
        .iter()
        .find(|e| e.key == "group \"cpu\".ssd[0].capacity_gb")
        .unwrap();
    assert!(disk.problem.contains("-480"));
    // A negative count is a type error, reported by the parser with its line.
    let e = errors(&GOOD.replace(
        "sockets = 2\ncores_per_socket = 32",
        "sockets = -2\ncores_per_socket = 32",
    ));
    assert!(
        e[0].line.is_some() && e[0].problem.contains("-2"),
        "{:?}",
        e[0]
    );
    let e = errors(&GOOD.replace("utilisation = 0.85", "utilisation = 1.5"));
    assert!(e[0].key.ends_with("utilisation"));
    let e = errors(&GOOD.replace("pue = 1.2", "pue = 0.9"));
    assert!(e.iter().all(|e| e.key.ends_with(".pue")) && !e.is_empty());
}

#[test]
fn missing_or_unknown_location_and_lifetime() {
    let e = errors(&GOOD.replace("location = \"FRA\"\n", ""));
    assert!(
        e.iter()
            .any(|e| e.key == "group \"cpu\".location" && e.fix.contains("alpha-3")),
        "{e:?}"
    );
    let e = errors(&GOOD.replace("location = \"DEU\"", "location = \"Germany\""));
    let loc = e.iter().find(|e| e.key.ends_with(".location")).unwrap();
    assert!(loc.fix.contains("DEU (Germany)"), "{loc}");
    let e = errors(&GOOD.replace("location = \"DEU\"", "location = \"deu\""));
    assert!(e[0].fix.contains("DEU"), "{}", e[0]);
    let e = errors(&GOOD.replace(
        "lifetime_years = 6\n\n[[group]]\nname = \"cpu\"",
        "\n[[group]]\nname = \"cpu\"",
    ));
    assert!(
        e.iter().any(|e| e.key == "group \"cpu\".lifetime_years"),
        "{e:?}"
    );
    // Zones without a PE factor need an override.
    let e = errors(&GOOD.replace("location = \"DEU\"", "location = \"HKG\""));
    assert!(
        e[0].problem.contains("no primary-energy factor"),
        "{}",
        e[0]
    );
    let ok = GOOD
        .replace("location = \"DEU\"", "location = \"HKG\"")
        .replace(
            "tdp_w = 400\n",
            "tdp_w = 400\n[group.electricity]\npe_mj_per_kwh = 12.0\n",
        );
    assert_eq!(
        parse(&ok).unwrap().groups[1].electricity.per_kwh.pe_mj,
        12.0
    );
}

#[test]
fn inconsistent_descriptions() {
    let e = errors(&GOOD.replace(
        "[group.per_node_hour]\ngwp_kgco2eq = 0.023",
        "[group.per_node_hour]\ngwp_kgco2eq = 0.023\n[group.footprint]\ngwp_kgco2eq = 1100",
    ));
    assert!(
        e.iter()
            .any(|e| e.problem.contains("both footprint and per_node_hour")),
        "{e:?}"
    );
    // Site figures for one criterion need hardware for the others.
    let bare = "[[group]]\nname = \"x\"\nnodes = \"x1\"\nlocation = \"FRA\"\npue = 1\nlifetime_years = 6\n[group.footprint]\ngwp_kgco2eq = 1100\n";
    let e = errors(bare);
    assert!(e[0].problem.contains("only GWP given"), "{}", e[0]);
    let complete = bare.replace(
        "gwp_kgco2eq = 1100",
        "gwp_kgco2eq = 1100\nadpe_kgsbeq = 0.1\npe_mj = 15000",
    );
    let inv = parse(&complete).unwrap();
    assert_eq!(
        inv.groups[0].embodied.per_node,
        Ranged::exact(Impacts::new(1100.0, 0.1, 15000.0))
    );
    assert!(inv.groups[0].embodied.components.is_empty());
    // Nothing at all.
    let e = errors(
        "[[group]]\nname = \"x\"\nnodes = \"x1\"\nlocation = \"FRA\"\npue = 1\nlifetime_years = 6\n",
    );
    assert!(e[0].fix.contains("describe the hardware"), "{}", e[0]);
    // Hardware without its CPU.
    let e = errors(&GOOD.replace(
        "[group.cpu]\nmodel = \"AMD EPYC 7543\"\nsockets = 2\ncores_per_socket = 32\n",
        "",
    ));
    assert!(e.iter().any(|e| e.key == "group \"cpu\".cpu"), "{e:?}");
    let e = errors(&GOOD.replace("total_gb = 512", "modules = 4"));
    assert!(e.iter().any(|e| e.key == "group \"gpu\".ram"), "{e:?}");
    let e = errors(&GOOD.replace(
        "nodes = \"cn[001-004]\"",
        "nodes = \"cn[001-004]\"\n[group.pue_range]",
    ));
    assert!(!e.is_empty());
    let e = errors(&GOOD.replace(
        "utilisation = 0.85",
        "utilisation = 0.85\nutilisation_range = [0.9, 1.0]",
    ));
    assert!(e[0].problem.contains("not a [min, max] pair"), "{}", e[0]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = GOOD
        .replace("cores_per_socket = 32", "cores_per_socket = 0")
        .replace("memory_gb = 80", "memory_gb = 0")
        .replace("gwp_kgco2eq = 0.023", "gwp_kgco2eq = 230");
    assert_eq!(errors(&text).len(), 3);
    let dup = format!(
        "{GOOD}\n[[group]]\nname = \"cpu\"\nnodes = \"z1\"\n[group.footprint]\ngwp_kgco2eq = 1\nadpe_kgsbeq = 1\npe_mj = 1\n"
    );
    assert!(
        errors(&dup)
            .iter()
            .any(|e| e.problem.contains("second group named \"cpu\""))
    );
}

#[test]
fn ranges_of_lifetime_and_utilisation_widen_the_rate() {
    let text = GOOD.replace(
        "utilisation = 0.85",
        "utilisation = 0.85\nutilisation_range = [0.6, 0.95]\nlifetime_years_range = [5, 8]",
    );
    let inv = parse(&text).unwrap();
    let e = &inv.groups[0].embodied;
    let life = |y: f64| y * HOURS_PER_YEAR;
    assert!(
        (e.per_node_hour.min.gwp_kgco2eq - e.per_node.min.gwp_kgco2eq / (life(8.0) * 0.95)).abs()
            < 1e-12
    );
    assert!(
        (e.per_node_hour.max.gwp_kgco2eq - e.per_node.max.gwp_kgco2eq / (life(5.0) * 0.6)).abs()
            < 1e-12
    );
}

#[test]
fn a_series_zone_must_exist() {
    let text = GOOD
        .replace(
            "name = \"test\"",
            "name = \"test\"\ncarbon_intensity_series = \"ci.csv\"",
        )
        .replace(
            "utilisation = 0.85",
            "utilisation = 0.85\ngrid_zone = \"FR\"",
        );
    let mut inv = parse(&text).unwrap();
    let series =
        HourlySeries::parse("zone,start,gwp_kg_per_kwh\nDE,0,0.3\n", Path::new("ci.csv")).unwrap();
    let e = inv.attach_series(series).unwrap_err();
    assert!(
        e.0[0]
            .problem
            .contains("zone `FR` is not in the hourly series"),
        "{e}"
    );
    let e = errors(&GOOD.replace(
        "utilisation = 0.85",
        "utilisation = 0.85\ngrid_zone = \"FR\"",
    ));
    assert!(
        e[0].problem.contains("no carbon_intensity_series"),
        "{}",
        e[0]
    );
}
