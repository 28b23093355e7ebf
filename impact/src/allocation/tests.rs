use super::*;
use crate::factors::HourlySeries;
use std::path::Path;

const INVENTORY: &str = r#"
[site]
location = "FRA"
pue = 1.0
lifetime_years = 4

[[group]]
name = "gpu"
nodes = "g[1-4]"
case = "rack"
[group.cpu]
sockets = 2
cores_per_socket = 32
die_area_mm2 = 400
tdp_w = 200
[group.ram]
modules = 16
module_gb = 32
density_gb_per_cm2 = 1.0
[[group.ssd]]
count = 1
capacity_gb = 1000
density_gb_per_cm2 = 50
[[group.gpu]]
model = "NVIDIA A100 SXM4 80GB"
count = 4
tdp_w = 400
[group.power_supply]
count = 2
unit_kg = 3

[[group]]
name = "cpu"
nodes = "c[1-2]"
pue = 1.5
uncovered_power_w = 100
[group.footprint]
gwp_kgco2eq = 876
adpe_kgsbeq = 0.0876
pe_mj = 8760
"#;

fn inventory() -> Inventory {
    Inventory::parse(INVENTORY, Path::new("alloc.toml")).unwrap()
}

const H: i64 = 3_600_000_000;

fn pair(job: u64, node: &str, start_h: f64, end_h: f64, meters: Vec<MeterEnergy>) -> JobNodeInput {
    JobNodeInput {
        job,
        node: node.into(),
        start: UnixMicros((start_h * H as f64) as i64),
        end: UnixMicros((end_h * H as f64) as i64),
        exclusive: true,
        held: Held::default(),
        meters,
    }
}

fn meter(scope: Scope, kwh: f64, job_owned: Option<bool>) -> MeterEnergy {
    MeterEnergy {
        scope,
        energy_j: kwh * 3.6e6,
        job_owned,
    }
}

fn run(inputs: &[JobNodeInput], options: AllocationOptions) -> Allocation {
    allocate(&inventory(), inputs, &options).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

#[test]
fn exclusive_node_meter_is_the_jobs_energy() {
    let a = run(
        &[pair(
            1,
            "g1",
            0.0,
            2.0,
            vec![meter(Scope::NodeBmc, 3.0, None)],
        )],
        AllocationOptions::default(),
    );
    let p = &a.pairs[0];
    assert_eq!(
        p.energy_method,
        EnergyMethod::NodeMeter {
            scope: Scope::NodeBmc,
            with_devices: false
        }
    );
    assert!(close(p.energy_j.unwrap(), 3.0 * 3.6e6));
    let fra = crate::factors::zone("FRA").unwrap();
    assert!(close(
        p.use_phase.unwrap().value.gwp_kgco2eq,
        3.0 * fra.gwp_kg_per_kwh
    ));
    assert!(close(
        p.use_phase.unwrap().value.pe_mj,
        3.0 * fra.pe_mj_per_kwh.unwrap()
    ));
    let g = &inventory().groups[0];
    assert!(close(
        p.embodied.unwrap().value.gwp_kgco2eq,
        2.0 * g.embodied.per_node_hour.value.gwp_kgco2eq
    ));
    assert_eq!(p.charged_node_hours, 2.0);
    assert!(p.flags.is_empty(), "{}", p.flags);
    assert!(
        a.unallocated.is_empty(),
        "no period, no unallocated figures"
    );
    assert_eq!(a.provenance.inventory_sha256.len(), 64);
    assert_eq!(a.provenance.groups[0].gpu_model, "boaviztapi-2.5.0-gpu");
}

#[test]
fn jays_rule_charges_own_devices_and_the_remainder_not_idle_gpus() {
    let meters = vec![
        meter(Scope::NodeWattmeter, 10.0, None),
        meter(Scope::NodeBmc, 9.0, None),
        meter(Scope::GpuBoard, 2.0, Some(true)),
        meter(Scope::GpuBoard, 0.5, Some(false)),
        meter(Scope::GpuBoard, 0.5, Some(false)),
        meter(Scope::CpuPackage, 1.0, None),
    ];
    let a = run(
        &[pair(1, "g1", 0.0, 1.0, meters)],
        AllocationOptions::default(),
    );
    let p = &a.pairs[0];
    // 2 (own GPU) + (10 − 2 − 1) remainder: CPU package stays in the remainder.
    assert!(close(p.energy_j.unwrap(), 9.0 * 3.6e6), "{:?}", p.energy_j);
    assert_eq!(
        p.energy_method,
        EnergyMethod::NodeMeter {
            scope: Scope::NodeWattmeter,
            with_devices: true
        }
    );
    assert!(
        p.scopes_used.contains(Scope::NodeWattmeter) && p.scopes_used.contains(Scope::GpuBoard)
    );
    assert!(!p.scopes_used.contains(Scope::NodeBmc));
}

#[test]
fn node_meter_below_devices_is_clamped_and_flagged() {
    let meters = vec![
        meter(Scope::NodeBmc, 1.0, None),
        meter(Scope::GpuBoard, 1.5, Some(true)),
    ];
    let p = &run(
        &[pair(1, "g1", 0.0, 1.0, meters)],
        AllocationOptions::default(),
    )
    .pairs[0];
    assert!(close(p.energy_j.unwrap(), 1.5 * 3.6e6));
    assert!(p.flags.contains(Flag::NodeMeterBelowDevices));
}

#[test]
fn shared_node_is_split_by_share_and_overlap() {
    // Two jobs holding a quarter and half of g2's GPUs, overlapping for one hour.
    let mut a = pair(1, "g2", 0.0, 2.0, vec![meter(Scope::NodeBmc, 2.0, None)]);
    a.exclusive = false;
    a.held = Held {
        cpus: Some(8),
        gpus: Some(1),
        memory_mb: Some(1024),
        billing: None,
    };
    let mut b = pair(2, "g2", 1.0, 3.0, vec![meter(Scope::NodeBmc, 2.0, None)]);
    b.exclusive = false;
    b.held = Held {
        cpus: Some(8),
        gpus: Some(2),
        memory_mb: Some(1024),
        billing: None,
    };
    let period = Some((UnixMicros(0), UnixMicros(4 * H)));
    let report = run(
        &[a.clone(), b.clone()],
        AllocationOptions {
            period,
            ..Default::default()
        },
    );
    let (pa, pb) = (&report.pairs[0], &report.pairs[1]);
    assert_eq!((pa.share, pa.share_basis), (0.25, ShareBasis::Gpus));
    assert_eq!(pb.share, 0.5);
    assert!(matches!(
        pa.energy_method,
        EnergyMethod::NodeMeterSplit { .. }
    ));
    // Each job measured 1 kW on the node: it pays its share of it.
    assert!(close(pa.energy_j.unwrap(), 0.25 * 2.0 * 3.6e6));
    assert!(close(pb.energy_j.unwrap(), 0.5 * 2.0 * 3.6e6));
    assert!(close(pa.charged_node_hours, 0.5) && close(pb.charged_node_hours, 1.0));
    // Unallocated over the period: g2 idle time and the unheld shares, all four g nodes.
    let g = &report.unallocated[0];
    assert!(close(g.node_hours, 4.0 * 4.0 - 1.5), "{}", g.node_hours);
    // 0–1 h: 0.75 free; 1–2 h: 0.25 free; 2–3 h: 0.5 free; at 1 kW.
    assert!(
        close(g.energy_j, (0.75 + 0.25 + 0.5) * 3.6e6),
        "{}",
        g.energy_j
    );
    let per_h = inventory().groups[0]
        .embodied
        .per_node_life_hour
        .value
        .gwp_kgco2eq;
    assert!(close(g.embodied.value.gwp_kgco2eq, per_h * (16.0 - 1.5)));

    // Spread: the node's period cost goes to the two jobs, pro rata of their charged time.
    let spread = run(
        &[a, b],
        AllocationOptions {
            period,
            unallocated: Some(UnallocatedPolicy::Spread),
            ..Default::default()
        },
    );
    let total: f64 = spread
        .pairs
        .iter()
        .map(|p| p.embodied.unwrap().value.gwp_kgco2eq)
        .sum();
    assert!(close(total, per_h * 4.0), "the node's 4 h all charged");
    let e: f64 = spread.pairs.iter().map(|p| p.energy_j.unwrap()).sum();
    assert!(
        close(e, 3.0 * 3.6e6),
        "within jobs, the whole node energy is charged"
    );
    assert!(
        close(spread.unallocated[0].node_hours, 3.0 * 4.0),
        "g1, g3, g4 unused"
    );
}

#[test]
fn spread_needs_a_period() {
    let e = allocate(
        &inventory(),
        &[],
        &AllocationOptions {
            unallocated: Some(UnallocatedPolicy::Spread),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e, AllocationError::SpreadNeedsPeriod);
    let e = allocate(
        &inventory(),
        &[],
        &AllocationOptions {
            period: Some((UnixMicros(5), UnixMicros(5))),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e, AllocationError::EmptyPeriod);
}

#[test]
fn components_only_with_and_without_a_calibrated_remainder() {
    let meters = vec![
        meter(Scope::CpuPackage, 0.3, None),
        meter(Scope::Dram, 0.1, None),
    ];
    let g = &run(
        &[pair(1, "g1", 0.0, 1.0, meters.clone())],
        AllocationOptions::default(),
    )
    .pairs[0];
    assert_eq!(
        g.energy_method,
        EnergyMethod::Components {
            calibrated_remainder: false
        }
    );
    assert!(close(g.energy_j.unwrap(), 0.4 * 3.6e6));
    assert!(g.flags.contains(Flag::RemainderNotMeasured));
    let c = &run(
        &[pair(1, "c1", 0.0, 1.0, meters)],
        AllocationOptions::default(),
    )
    .pairs[0];
    assert_eq!(
        c.energy_method,
        EnergyMethod::Components {
            calibrated_remainder: true
        }
    );
    assert!(
        close(c.energy_j.unwrap(), (0.4 + 0.1) * 3.6e6),
        "100 W uncovered for an hour"
    );
    assert!(close(
        c.use_phase.unwrap().value.gwp_kgco2eq,
        0.5 * 1.5 * crate::factors::zone("FRA").unwrap().gwp_kg_per_kwh
    ));
    // Manufacturer footprint: 876 kg over 4 years.
    assert!(close(
        c.embodied.unwrap().value.gwp_kgco2eq,
        876.0 / (4.0 * 8760.0)
    ));
}

#[test]
fn no_meter_is_estimated_from_tdp_or_missing() {
    let mut p = pair(1, "g1", 0.0, 1.0, vec![]);
    p.exclusive = false;
    p.held = Held {
        cpus: Some(32),
        gpus: Some(2),
        memory_mb: Some(128 * 1024),
        billing: None,
    };
    let a = run(&[p.clone()], AllocationOptions::default());
    let e = &a.pairs[0];
    assert_eq!(e.energy_method, EnergyMethod::Estimated);
    // Half the CPUs of 2 × 200 W, 2 GPUs × 400 W, 128 GB × 0.3725 W.
    assert!(
        close(
            e.energy_j.unwrap(),
            (200.0 + 800.0 + 128.0 * 0.3725) * 3600.0
        ),
        "{:?}",
        e.energy_j
    );
    let m = &run(
        &[pair(2, "c1", 0.0, 1.0, vec![])],
        AllocationOptions::default(),
    )
    .pairs[0];
    assert_eq!(m.energy_method, EnergyMethod::Missing);
    assert!(m.energy_j.is_none() && m.use_phase.is_none());
    assert!(m.embodied.is_some(), "embodied needs no meter");
}

#[test]
fn nodes_outside_the_inventory_and_bad_intervals_are_flagged() {
    let a = run(
        &[
            pair(
                1,
                "elsewhere",
                0.0,
                1.0,
                vec![meter(Scope::NodeBmc, 1.0, None)],
            ),
            pair(2, "g1", 2.0, 1.0, vec![meter(Scope::NodeBmc, 1.0, None)]),
        ],
        AllocationOptions::default(),
    );
    let out = &a.pairs[0];
    assert!(out.flags.contains(Flag::NodeNotInInventory));
    assert!(out.embodied.is_none() && out.use_phase.is_none());
    assert!(
        close(out.energy_j.unwrap(), 3.6e6),
        "IT energy is still known"
    );
    let bad = &a.pairs[1];
    assert!(bad.flags.contains(Flag::EmptyInterval));
    assert_eq!(bad.charged_node_hours, 0.0);
    assert!(bad.energy_j.is_none());
}

#[test]
fn period_clips_energy_and_embodied() {
    let a = run(
        &[pair(
            1,
            "g1",
            0.0,
            4.0,
            vec![meter(Scope::NodeBmc, 4.0, None)],
        )],
        AllocationOptions {
            period: Some((UnixMicros(H), UnixMicros(3 * H))),
            ..Default::default()
        },
    );
    let p = &a.pairs[0];
    assert!(p.flags.contains(Flag::ClippedToPeriod));
    assert!(close(p.hours, 2.0) && close(p.energy_j.unwrap(), 2.0 * 3.6e6));
}

#[test]
fn hourly_series_replaces_yearly_factors_over_the_interval() {
    let text = INVENTORY
        .replace(
            "lifetime_years = 4\n",
            "lifetime_years = 4\ncarbon_intensity_series = \"ci.csv\"\n",
        )
        .replace(
            "nodes = \"g[1-4]\"",
            "nodes = \"g[1-4]\"\ngrid_zone = \"FR\"",
        );
    let mut inv = Inventory::parse(&text, Path::new("alloc.toml")).unwrap();
    inv.attach_series(
        HourlySeries::parse(
            "zone,start,gwp_kg_per_kwh\nFR,0,0.1\nFR,3600,0.3\n",
            Path::new("ci.csv"),
        )
        .unwrap(),
    )
    .unwrap();
    let a = allocate(
        &inv,
        &[pair(
            1,
            "g1",
            0.5,
            2.5,
            vec![meter(Scope::NodeBmc, 2.0, None)],
        )],
        &AllocationOptions::default(),
    )
    .unwrap();
    let p = &a.pairs[0];
    let yearly = crate::factors::zone("FRA").unwrap();
    // Half an hour at 0.1, an hour at 0.3, half an hour yearly; 1 kWh per hour.
    let expected = 0.5 * 0.1 + 1.0 * 0.3 + 0.5 * yearly.gwp_kg_per_kwh;
    assert!(
        close(p.use_phase.unwrap().value.gwp_kgco2eq, expected),
        "{:?}",
        p.use_phase
    );
    assert!(
        close(
            p.use_phase.unwrap().value.pe_mj,
            2.0 * yearly.pe_mj_per_kwh.unwrap()
        ),
        "PE from the yearly table"
    );
    assert_eq!(p.hourly_coverage, Some(0.75));
    assert!(p.flags.contains(Flag::HourlySeriesPartial));
    assert!(a.provenance.hourly_series.is_some());
}

#[test]
fn pue_range_carries_into_the_use_phase() {
    let text = INVENTORY.replace("pue = 1.0\n", "pue = 1.2\npue_range = [1.1, 1.4]\n");
    let inv = Inventory::parse(&text, Path::new("alloc.toml")).unwrap();
    let a = allocate(
        &inv,
        &[pair(
            1,
            "g1",
            0.0,
            1.0,
            vec![meter(Scope::NodeBmc, 10.0, None)],
        )],
        &AllocationOptions::default(),
    )
    .unwrap();
    let u = a.pairs[0].use_phase.unwrap();
    let f = crate::factors::zone("FRA").unwrap().gwp_kg_per_kwh;
    assert!(
        close(u.value.gwp_kgco2eq, 10.0 * 1.2 * f)
            && close(u.min.gwp_kgco2eq, 10.0 * 1.1 * f)
            && close(u.max.gwp_kgco2eq, 10.0 * 1.4 * f)
    );
}

#[test]
fn jobs_are_summed_over_their_nodes() {
    let inputs = [
        pair(7, "g1", 0.0, 1.0, vec![meter(Scope::NodeBmc, 1.0, None)]),
        pair(8, "g3", 0.0, 1.0, vec![]),
        pair(7, "g2", 0.0, 1.0, vec![meter(Scope::NodeBmc, 2.0, None)]),
        pair(8, "c2", 0.0, 1.0, vec![]),
    ];
    let a = run(&inputs, AllocationOptions::default());
    let s = summarise_by_job(&inputs, &a);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].job, s[0].nodes), (7, 2));
    assert!(close(s[0].energy_j, 3.0 * 3.6e6) && s[0].energy_complete);
    assert!(close(
        s[0].embodied.value.gwp_kgco2eq,
        2.0 * inventory().groups[0]
            .embodied
            .per_node_hour
            .value
            .gwp_kgco2eq
    ));
    assert!(close(
        s[0].total().value.gwp_kgco2eq,
        s[0].use_phase.value.gwp_kgco2eq + s[0].embodied.value.gwp_kgco2eq
    ));
    assert_eq!(
        s[1].energy_methods,
        [EnergyMethod::Estimated, EnergyMethod::Missing]
    );
    assert!(!s[1].energy_complete);
}

#[test]
fn inputs_map_from_records() {
    let json = serde_json::json!({
        "schema_version": 1, "state": "complete", "cluster": "c", "job_id": 5, "uid": 1, "gid": 1,
        "user": null, "account": null, "partition": null, "node": "g1", "node_list": "g1", "num_nodes": 1,
        "cpus_on_node": 16, "allocation": {"cpus": 16, "memory_mb": 2048, "gpus": ["GPU-a", "GPU-b"]},
        "start": 0, "end": 3_600_000_000i64, "exit": null,
        "mode": {"trigger": "option", "requested": null}, "plugin_version": "0", "slurm_version": "22.05.8",
        "meters": [{"id": "nvml:GPU-a", "scope": "gpu-board", "label": null, "method": "counter", "energy_j": 100.0,
                    "first_raw": 0, "last_raw": 100000, "wraps": 0, "resets": 0, "samples": 2, "power_w": null, "job_owned": true}]
    });
    let record: ea_record::JobNodeRecord = serde_json::from_value(json).unwrap();
    let input = JobNodeInput::from_record(5, &record, false, Some(3.0)).unwrap();
    assert_eq!(
        input.held,
        Held {
            cpus: Some(16),
            gpus: Some(2),
            memory_mb: Some(2048),
            billing: Some(3.0)
        }
    );
    assert_eq!(
        input.meters,
        [MeterEnergy {
            scope: Scope::GpuBoard,
            energy_j: 100.0,
            job_owned: Some(true)
        }]
    );
}

#[test]
fn zero_length_and_clipped_out_jobs_on_a_shared_node() {
    // Debug builds used to overflow in the time sweep when a job's end sorted before its own
    // start (start == end), which also happens to a job clipped out of the period.
    let shared = |job: u64, start_h: f64, end_h: f64| {
        let mut p = pair(
            job,
            "g3",
            start_h,
            end_h,
            vec![meter(Scope::NodeBmc, 1.0, None)],
        );
        p.exclusive = false;
        p.held = Held {
            cpus: Some(16),
            gpus: Some(1),
            ..Default::default()
        };
        p
    };
    let inputs = [
        shared(1, 1.0, 1.0),
        shared(2, 1.0, 3.0),
        shared(3, 2.0, 2.0),
        shared(4, 3.0, 3.0),
        shared(5, 5.0, 6.0),
    ];
    let a = run(
        &inputs,
        AllocationOptions {
            period: Some((UnixMicros(0), UnixMicros(4 * H))),
            ..Default::default()
        },
    );
    for empty in [0, 2, 3, 4] {
        let p = &a.pairs[empty];
        assert_eq!(p.charged_node_hours, 0.0, "pair {empty}");
        assert!(p.embodied.unwrap().value.gwp_kgco2eq == 0.0, "pair {empty}");
    }
    assert!(a.pairs[0].flags.contains(Flag::EmptyInterval));
    assert!(a.pairs[4].flags.contains(Flag::ClippedToPeriod));
    // The one real job is alone on the node for its two hours: a quarter of it (1 of 4 GPUs).
    let real = &a.pairs[1];
    assert!(
        close(real.charged_node_hours, 0.5),
        "{}",
        real.charged_node_hours
    );
    assert!(close(real.energy_j.unwrap(), 0.25 * 3.6e6));
}

/// Jobs coming and going on shared and exclusive nodes, inside and outside the inventory,
/// some measured, some clipped by the period.
fn busy_nodes() -> Vec<JobNodeInput> {
    let nodes = ["g1", "g2", "g3", "c1", "c2", "elsewhere"];
    let mut inputs = Vec::new();
    for k in 0..60u64 {
        let node = nodes[(k * 7 % 6) as usize];
        let start = (k % 11) as f64 * 0.7;
        let end = start + 0.5 + (k % 5) as f64 * 0.9;
        let meters = match k % 4 {
            0 => vec![
                meter(Scope::NodeBmc, 1.5, None),
                meter(Scope::GpuBoard, 0.2, Some(true)),
            ],
            1 => vec![
                meter(Scope::CpuPackage, 0.4, None),
                meter(Scope::Dram, 0.1, None),
            ],
            2 => vec![meter(Scope::NodeWattmeter, 1.0, None)],
            _ => Vec::new(),
        };
        let mut p = pair(k / 2, node, start, end, meters);
        p.exclusive = k % 3 == 0;
        p.held = Held {
            cpus: Some(8 + (k % 4) as u32 * 8),
            gpus: Some((k % 3) as u32),
            memory_mb: Some(4096),
            billing: None,
        };
        inputs.push(p);
    }
    inputs
}

#[test]
fn shards_of_whole_nodes_give_the_whole_batchs_results() {
    let inputs = busy_nodes();
    let inv = inventory();
    for policy in [UnallocatedPolicy::Report, UnallocatedPolicy::Spread] {
        let options = AllocationOptions {
            period: Some((UnixMicros(H / 2), UnixMicros(6 * H))),
            unallocated: Some(policy),
            ..Default::default()
        };
        let whole = allocate(&inv, &inputs, &options).unwrap();
        // Two shards by node: g* and the rest.
        let (first, second): (Vec<usize>, Vec<usize>) =
            (0..inputs.len()).partition(|&i| inputs[i].node.starts_with('g'));
        let mut allocator = Allocator::new(&inv, &options).unwrap();
        let mut pairs: Vec<Option<JobNodeImpact>> = vec![None; inputs.len()];
        for shard in [&first, &second] {
            let batch: Vec<JobNodeInput> = shard.iter().map(|&i| inputs[i].clone()).collect();
            let out = allocator.allocate_shard(&batch).unwrap();
            for (&i, p) in shard.iter().zip(out) {
                pairs[i] = Some(p);
            }
        }
        let (unallocated, provenance) = allocator.finish();
        let pairs: Vec<JobNodeImpact> = pairs.into_iter().map(Option::unwrap).collect();
        assert_eq!(pairs, whole.pairs, "{policy:?}");
        assert_eq!(provenance, whole.provenance);
        assert_eq!(unallocated.len(), whole.unallocated.len());
        for (a, b) in unallocated.iter().zip(&whole.unallocated) {
            assert!(close(a.node_hours, b.node_hours), "{policy:?}");
            assert!(
                close(a.energy_j, b.energy_j) || a.energy_j == b.energy_j,
                "{policy:?}"
            );
            assert!(close(
                a.embodied.value.gwp_kgco2eq,
                b.embodied.value.gwp_kgco2eq
            ));
        }
        assert!(pairs.iter().any(|p| p.co_tenants) && pairs.iter().any(|p| !p.co_tenants));
    }
}

#[test]
fn a_node_split_across_shards_is_refused() {
    let inputs = busy_nodes();
    let inv = inventory();
    let mut allocator = Allocator::new(&inv, &AllocationOptions::default()).unwrap();
    let g1: Vec<JobNodeInput> = inputs.iter().filter(|p| p.node == "g1").cloned().collect();
    assert!(g1.len() >= 2);
    allocator.allocate_shard(&g1[..1]).unwrap();
    let e = allocator.allocate_shard(&g1[1..]).unwrap_err();
    assert_eq!(e, AllocationError::NodeInTwoShards("g1".into()));
    assert!(e.to_string().contains("same shard"), "{e}");
    // Outside the inventory too.
    let out: Vec<JobNodeInput> = inputs
        .iter()
        .filter(|p| p.node == "elsewhere")
        .cloned()
        .collect();
    allocator.allocate_shard(&out[..1]).unwrap();
    assert!(allocator.allocate_shard(&out[1..]).is_err());
}

#[test]
fn without_an_inventory_jobs_together_share_a_node_evenly() {
    // No node is known: a job alone on a node gets all its energy; two jobs present together
    // share it half and half (no share is known), which the flags say.
    let inv = Inventory::without_nodes();
    let shared = |job: u64, start_h: f64, end_h: f64| {
        let mut p = pair(
            job,
            "n1",
            start_h,
            end_h,
            vec![meter(Scope::NodeBmc, end_h - start_h, None)],
        );
        p.exclusive = false;
        p.held.cpus = Some(4);
        p
    };
    let a = allocate(
        &inv,
        &[shared(1, 0.0, 2.0), shared(2, 1.0, 2.0)],
        &AllocationOptions::default(),
    )
    .unwrap();
    let (first, second) = (&a.pairs[0], &a.pairs[1]);
    // 1 kW measured by each over its own interval: the first alone for an hour, then half.
    assert!(
        close(first.energy_j.unwrap(), 1.5 * 3.6e6),
        "{:?}",
        first.energy_j
    );
    assert!(close(second.energy_j.unwrap(), 0.5 * 3.6e6));
    for p in &a.pairs {
        assert!(p.flags.contains(Flag::NodeNotInInventory) && p.flags.contains(Flag::NoShareData));
        assert!(p.flags.contains(Flag::Oversubscribed) && p.co_tenants);
        assert!(p.embodied.is_none() && p.use_phase.is_none());
    }
    assert_eq!(inv.node_count(), 0);
}

/// `energy-assess job` says each flag in words (`ea_record::summary`): every flag the engine
/// can raise has its sentence there.
#[test]
fn every_flag_has_words_for_the_job_view() {
    for f in Flag::ALL {
        let words = ea_record::summary::flag_in_words(f.as_str());
        assert!(words != f.as_str() && words.contains(' '), "{f:?}: {words}");
    }
}
