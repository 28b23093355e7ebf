//! Speed of the impact engine, for the figures quoted in docs/methodology.md:
//!
//! 1. computing an inventory of 10,000 node groups (parse, check, embodied impact of every
//!    group) from TOML text;
//! 2. allocating 1,000,000 job-node pairs (shared and exclusive nodes, node and component
//!    meters, missing energy) and summing them per job.
//!
//! Run in release: `cargo run --release -p ea-impact --example bench`. Inputs are generated
//! deterministically (a fixed-seed xorshift), so every run measures the same work.

use ea_impact::Inventory;
use ea_impact::allocation::{
    AllocationOptions, Held, JobNodeInput, MeterEnergy, allocate, summarise_by_job,
};
use ea_record::{Scope, UnixMicros};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// xorshift64*: deterministic, good enough to vary inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const CPUS: &[(&str, u32)] = &[
    ("AMD EPYC 7742", 64),
    ("AMD EPYC 7543", 32),
    ("AMD EPYC 7513", 32),
    ("AMD EPYC 7452", 32),
    ("AMD EPYC 7642", 48),
    ("AMD EPYC 9654", 96),
    ("AMD EPYC 7251", 8),
    ("Intel Xeon Gold 6248", 20),
    ("Intel Xeon Gold 6130", 16),
    ("Intel Xeon Gold 5220", 18),
    ("Intel Xeon Gold 6126", 12),
    ("Intel Xeon E5-2698 v4", 20),
    ("Intel Xeon E5-2620 v4", 8),
    ("Intel Xeon Platinum 8468", 48),
    ("Intel Xeon Platinum 8470", 52),
    ("Intel Xeon Platinum 8260", 24),
    ("Intel Xeon Max 9480", 56),
    ("Ampere Altra Q80-30", 80),
    ("AWS Graviton3", 64),
    ("Mystery CPU 9000", 40),
];
const GPUS: &[(&str, u32)] = &[
    ("NVIDIA A100 SXM4 80GB", 80),
    ("NVIDIA A100 SXM4 40GB", 40),
    ("NVIDIA H100 SXM 80GB", 80),
    ("NVIDIA Tesla V100 SXM2 32GB", 32),
    ("NVIDIA L40S 48GB", 48),
    ("NVIDIA T4", 16),
    ("AMD Instinct MI300X 192GB", 192),
    ("Custom Accelerator", 64),
];

/// An inventory of `groups` groups of `nodes_per_group` nodes, with varied hardware.
fn inventory_text(groups: usize, nodes_per_group: usize, rng: &mut Rng) -> String {
    let mut t = String::from(
        "[site]\nlocation = \"FRA\"\npue = 1.3\npue_range = [1.2, 1.5]\nlifetime_years = 6\nlifetime_years_range = [5, 8]\nutilisation = 0.85\n",
    );
    for g in 0..groups {
        let (cpu, cores) = *rng.pick(CPUS);
        writeln!(
            t,
            "\n[[group]]\nname = \"g{g}\"\nnodes = \"g{g}n[1-{nodes_per_group}]\""
        )
        .unwrap();
        writeln!(
            t,
            "case = \"{}\"",
            if rng.below(3) == 0 { "blade" } else { "rack" }
        )
        .unwrap();
        if g % 50 == 7 {
            writeln!(t, "[group.per_node_hour]\ngwp_kgco2eq = 0.023").unwrap();
        }
        writeln!(t, "[group.cpu]\nmodel = \"{cpu}\"\nsockets = {}\ncores_per_socket = {cores}\nthreads_per_core = 2\ntdp_w = 200", 1 + rng.below(2)).unwrap();
        writeln!(
            t,
            "[group.ram]\nmodules = {}\nmodule_gb = {}",
            4 << rng.below(3),
            16 << rng.below(3)
        )
        .unwrap();
        for _ in 0..1 + rng.below(3) {
            writeln!(
                t,
                "[[group.ssd]]\ncount = {}\ncapacity_gb = {}",
                1 + rng.below(4),
                240 << rng.below(5)
            )
            .unwrap();
        }
        if rng.below(4) == 0 {
            writeln!(
                t,
                "[[group.hdd]]\ncount = {}\ncapacity_gb = 8000",
                1 + rng.below(12)
            )
            .unwrap();
        }
        if rng.below(2) == 0 {
            let (gpu, mem) = *rng.pick(GPUS);
            writeln!(
                t,
                "[[group.gpu]]\nmodel = \"{gpu}\"\ncount = {}\nmemory_gb = {mem}\ntdp_w = 400",
                [1, 2, 4, 8][rng.below(4) as usize]
            )
            .unwrap();
        }
        if rng.below(2) == 0 {
            writeln!(t, "[group.power_supply]\ncount = 2\nunit_kg = 2.5").unwrap();
        }
    }
    t
}

/// `pairs` job-node pairs over the inventory's nodes: jobs of 1-8 nodes, a third of them sharing
/// nodes with overlapping neighbours, with BMC, GPU and RAPL meters, some with none.
fn pairs(inv: &Inventory, pairs: usize, rng: &mut Rng) -> Vec<JobNodeInput> {
    let nodes: Vec<&str> = inv
        .groups
        .iter()
        .flat_map(|g| g.nodes.iter().map(String::as_str))
        .collect();
    let mut out = Vec::with_capacity(pairs);
    let mut job = 0u64;
    let hour = 3_600_000_000i64;
    while out.len() < pairs {
        job += 1;
        let width = 1 + rng.below(8) as usize;
        let first = rng.below(nodes.len() as u64) as usize;
        let start = rng.below(30 * 24) as i64 * hour + rng.below(3600) as i64 * 1_000_000;
        let end = start + (1 + rng.below(48 * 3600)) as i64 * 1_000_000;
        let shared = rng.below(3) == 0;
        for k in 0..width.min(pairs - out.len()) {
            let node = nodes[(first + k) % nodes.len()];
            let secs = (end - start) as f64 / 1e6;
            let meters = match rng.below(5) {
                0 => vec![],
                1 => vec![MeterEnergy {
                    scope: Scope::CpuPackage,
                    energy_j: 150.0 * secs,
                    job_owned: None,
                }],
                _ => vec![
                    MeterEnergy {
                        scope: Scope::NodeBmc,
                        energy_j: 900.0 * secs,
                        job_owned: None,
                    },
                    MeterEnergy {
                        scope: Scope::GpuBoard,
                        energy_j: 250.0 * secs,
                        job_owned: Some(true),
                    },
                    MeterEnergy {
                        scope: Scope::GpuBoard,
                        energy_j: 60.0 * secs,
                        job_owned: Some(false),
                    },
                    MeterEnergy {
                        scope: Scope::CpuPackage,
                        energy_j: 180.0 * secs,
                        job_owned: None,
                    },
                ],
            };
            out.push(JobNodeInput {
                job,
                node: node.to_string(),
                start: UnixMicros(start),
                end: UnixMicros(end),
                exclusive: !shared,
                held: Held {
                    cpus: Some(8),
                    gpus: Some(1),
                    memory_mb: Some(32 * 1024),
                    billing: None,
                },
                meters,
            });
        }
    }
    out
}

fn main() {
    // `bench allocation` skips the repeated inventory runs (for profiling the allocation).
    let only_allocation = std::env::args().nth(1).as_deref() == Some("allocation");
    println!("threads: {}", rayon::current_num_threads());
    println!(
        "sizes: JobNodeInput {} B (+ meters), JobNodeImpact {} B",
        std::mem::size_of::<JobNodeInput>(),
        std::mem::size_of::<ea_impact::JobNodeImpact>()
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let text = inventory_text(10_000, 10, &mut rng);
    let runs = if only_allocation { 1 } else { 5 };
    let mut best = f64::INFINITY;
    let mut inv = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let i = Inventory::parse(&text, Path::new("bench.toml"))
            .expect("the generated inventory is valid");
        best = best.min(t0.elapsed().as_secs_f64());
        inv = Some(i);
    }
    let inv = inv.unwrap();
    println!(
        "inventory: {} groups, {} nodes, {} KiB of TOML: parse + check + embodied of every group, best of {runs}: {:.3} s",
        inv.groups.len(),
        inv.node_count(),
        text.len() / 1024,
        best
    );

    let inputs = pairs(&inv, 1_000_000, &mut rng);
    let period = Some((UnixMicros(0), UnixMicros(32 * 24 * 3_600_000_000)));
    let runs = 5;
    let mut best_alloc = f64::INFINITY;
    let mut best_sum = f64::INFINITY;
    let mut checksum = 0.0;
    let mut jobs = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let a = allocate(
            &inv,
            &inputs,
            &AllocationOptions {
                period,
                ..Default::default()
            },
        )
        .expect("valid options");
        best_alloc = best_alloc.min(t0.elapsed().as_secs_f64());
        let t1 = Instant::now();
        let s = summarise_by_job(&inputs, &a);
        best_sum = best_sum.min(t1.elapsed().as_secs_f64());
        jobs = s.len();
        checksum = s.iter().map(|j| j.total().value.gwp_kgco2eq).sum::<f64>();
    }
    println!(
        "allocation: {} job-node pairs ({jobs} jobs, period of 32 days with unallocated figures), best of {runs}: allocate {best_alloc:.3} s, per-job sums {best_sum:.3} s",
        inputs.len()
    );
    println!("checksum: total GWP {checksum:.1} kgCO2eq");
    // The machine is shared: say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at the end: {}", load.trim());
    }
}
