use super::*;
use crate::allocation::{AllocationOptions, JobNodeInput, allocate};
use ea_record::UnixMicros;
use std::path::Path;

/// Two groups with capacities, so that shares come from what jobs held.
const INVENTORY: &str = r#"
[site]
location = "FRA"
pue = 1.0
lifetime_years = 4
utilisation = 0.8

[[group]]
name = "cpu"
nodes = "c[1-6]"
slurm_cpus = 64
slurm_memory_mb = 256000
[group.footprint]
gwp_kgco2eq = 876
adpe_kgsbeq = 0.0876
pe_mj = 8760

[[group]]
name = "gpu"
nodes = "g[1-2]"
slurm_cpus = 32
slurm_memory_mb = 512000
[group.cpu]
sockets = 2
cores_per_socket = 16
[group.ram]
total_gb = 512
[[group.gpu]]
model = "NVIDIA A100 SXM4 80GB"
count = 4
[group.footprint]
gwp_kgco2eq = 3000
adpe_kgsbeq = 0.3
pe_mj = 30000
"#;

fn inventory(policy: &str) -> Inventory {
    let text = INVENTORY.replace(
        "pue = 1.0",
        &format!("pue = 1.0\nunallocated = \"{policy}\""),
    );
    Inventory::parse(&text, Path::new("batch.toml")).unwrap()
}

const NODES: [&str; 9] = ["c1", "c2", "c3", "c4", "c5", "c6", "g1", "g2", "x9"];

/// A seeded random mix of jobs: sub-node and multi-node, some beyond the node's memory, one
/// node outside the inventory.
fn jobs(seed: u64, n: usize) -> Vec<(BatchJob, Vec<&'static str>)> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    (0..n)
        .map(|_| {
            let start = next(40 * 3600) as i64;
            let end = start + 60 + next(12 * 3600) as i64;
            let k = 1 + next(3) as usize;
            let first = next(NODES.len() as u64) as usize;
            let nodes: Vec<&str> = (0..k).map(|i| NODES[(first + i) % NODES.len()]).collect();
            let held = Held {
                cpus: Some(1 + next(64) as u32),
                gpus: Some(next(3) as u32),
                memory_mb: Some(1000 + next(300_000)),
                billing: None,
            };
            (BatchJob { start, end, held }, nodes)
        })
        .collect()
}

fn batch_of(inv: &Inventory, jobs: &[(BatchJob, Vec<&str>)]) -> Batch {
    let mut b = Batch::default();
    for (j, nodes) in jobs {
        b.push(
            *j,
            nodes.iter().map(|n| inv.node_index(n).unwrap_or(OUTSIDE)),
        );
    }
    b
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// The same jobs through the pair-by-pair engine, one period at a time: the driver must give
/// every job the sum of what the engine charges it in each period.
#[test]
fn matches_the_pair_engine_period_by_period() {
    for policy in ["report", "spread"] {
        let inv = inventory(policy);
        let js = jobs(7, 300);
        let periods = [(0, 20 * 3600), (20 * 3600, 60 * 3600)];
        let got = charge_embodied(&inv, &batch_of(&inv, &js), &periods).unwrap();
        let mut want = vec![Ranged::<Impacts>::ZERO; js.len()];
        let mut want_h = vec![0.0; js.len()];
        for &(a, b) in &periods {
            let inputs: Vec<JobNodeInput> = js
                .iter()
                .enumerate()
                .flat_map(|(i, (j, nodes))| {
                    nodes.iter().map(move |n| JobNodeInput {
                        job: i as u64,
                        node: (*n).into(),
                        start: UnixMicros::from_secs(j.start),
                        end: UnixMicros::from_secs(j.end),
                        exclusive: false,
                        held: j.held,
                        meters: Vec::new(),
                    })
                })
                .collect();
            let options = AllocationOptions {
                period: Some((UnixMicros::from_secs(a), UnixMicros::from_secs(b))),
                ..Default::default()
            };
            let out = allocate(&inv, &inputs, &options).unwrap();
            for (input, pair) in inputs.iter().zip(&out.pairs) {
                if let Some(e) = pair.embodied {
                    want[input.job as usize] += e;
                    want_h[input.job as usize] += pair.charged_node_hours;
                }
            }
        }
        let mut oversubscribed = 0;
        for (i, g) in got.iter().enumerate() {
            let e = g.embodied.unwrap_or(Ranged::ZERO);
            assert!(
                close(e.value.gwp_kgco2eq, want[i].value.gwp_kgco2eq),
                "{policy} job {i}: {g:?} vs {:?}",
                want[i]
            );
            assert!(close(e.max.pe_mj, want[i].max.pe_mj), "{policy} job {i}");
            assert!(close(g.charged_node_hours, want_h[i]), "{policy} job {i}");
            if g.flags.contains(Flag::Oversubscribed) {
                oversubscribed += 1;
                if policy == "report" {
                    assert!(g.scale().unwrap() < 1.0, "job {i} scaled: {g:?}");
                }
            }
        }
        assert!(oversubscribed > 0, "the mix oversubscribes some node");
    }
}

#[test]
fn a_job_across_two_periods_is_charged_in_each() {
    let inv = inventory("report");
    let mut b = Batch::default();
    let held = Held {
        cpus: Some(64),
        ..Held::default()
    };
    b.push(
        BatchJob {
            start: 3600,
            end: 3 * 3600,
            held,
        },
        [inv.node_index("c1").unwrap()],
    );
    let out = charge_embodied(&inv, &b, &[(0, 2 * 3600), (2 * 3600, 4 * 3600)]).unwrap();
    let j = &out[0];
    assert_eq!(j.periods.len(), 2);
    assert!(close(j.periods[0].charged_node_hours, 1.0));
    assert!(close(j.periods[1].charged_node_hours, 1.0));
    assert!(close(j.held_node_hours, 2.0));
    assert_eq!(j.scale(), Some(1.0));
    let rate = inv.groups[0].embodied.per_node_hour;
    assert!(close(
        j.embodied.unwrap().value.gwp_kgco2eq,
        rate.value.gwp_kgco2eq * 2.0
    ));
}

#[test]
fn nodes_outside_the_inventory_are_counted_and_flagged() {
    let inv = inventory("report");
    let mut b = Batch::default();
    b.push(
        BatchJob {
            start: 0,
            end: 3600,
            held: Held::default(),
        },
        [OUTSIDE, OUTSIDE],
    );
    let out = charge_embodied(&inv, &b, &[(0, 7200)]).unwrap();
    assert_eq!((out[0].inside, out[0].outside), (0, 2));
    assert_eq!(out[0].embodied, None);
    assert!(out[0].flags.contains(Flag::NodeNotInInventory));
}

#[test]
fn an_empty_period_is_refused() {
    let inv = inventory("report");
    assert!(matches!(
        charge_embodied(&inv, &Batch::default(), &[(10, 10)]),
        Err(AllocationError::EmptyPeriod)
    ));
}

/// A job's figure is a fact about the job, not about the machine that computed it: the same
/// jobs give bit-identical figures on 1, 2, 3 and 7 threads (jobs span up to 3 of 9 nodes, so
/// many cross the sweep's node ranges).
#[test]
fn figures_do_not_depend_on_the_number_of_threads() {
    let inv = inventory("spread");
    let js = jobs(11, 2_000);
    let batch = batch_of(&inv, &js);
    let periods = [(0, 20 * 3600), (20 * 3600, 60 * 3600)];
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let out = pool.install(|| charge_embodied(&inv, &batch, &periods).unwrap());
        format!("{out:?}")
    };
    let one = on(1);
    assert!(one.len() > 10_000, "{}", &one[..one.len().min(200)]);
    for threads in [2, 3, 7] {
        assert!(on(threads) == one, "{threads} threads differ from 1");
    }
}
