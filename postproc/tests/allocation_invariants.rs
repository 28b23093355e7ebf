//! The stored allocation's invariants over random clusters (a seeded generator): query
//! independence (a job's figures are the same alone, with its neighbours, per user, per
//! account and in the month's report), conservation (jobs + unallocated = the nodes' embodied
//! impact over the month), monotonicity (adding a job never raises another's share) and
//! idempotence (ingesting the same inputs again changes no stored figure).

mod common;
use common::{ok, tmp};
use std::collections::BTreeMap;
use std::path::Path;

const INVENTORY: &str = r#"
[site]
location = "FRA"
pue = 1.2
lifetime_years = 5
utilisation = 0.85

[[group]]
name = "cpu"
nodes = "c[1-6]"
slurm_cpus = 64
slurm_memory_mb = 256000
[group.footprint]
gwp_kgco2eq = 1500
adpe_kgsbeq = 0.15
pe_mj = 20000

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
gwp_kgco2eq = 4000
adpe_kgsbeq = 0.4
pe_mj = 50000
"#;

const HEADER: &str = "JobID|JobIDRaw|Cluster|JobName|User|UID|Group|GID|Account|Partition|QOS|State|ExitCode|Submit|Eligible|Start|End|Elapsed|Timelimit|NNodes|NCPUS|NTasks|NodeList|ReqMem|AllocTRES|TotalCPU|CPUTime|ConsumedEnergyRaw";

const NOV: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
const DEC: i64 = NOV + 30 * 86_400;

struct Rng(u64);

impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

fn iso(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// One job's allocation line; crowded nodes (memory beyond the node's) and jobs crossing the
/// month's end are common.
fn job_line(id: u64, r: &mut Rng) -> String {
    let gpu = r.next(4) == 0;
    let (prefix, count) = if gpu { ("g", 2) } else { ("c", 6) };
    let n = 1 + r.next(if gpu { 2 } else { 3 }) as u32;
    let first = 1 + r.next(count - u64::from(n) + 1);
    let nodes = if n == 1 {
        format!("{prefix}{first}")
    } else {
        format!("{prefix}[{first}-{}]", first + u64::from(n) - 1)
    };
    // Crowded in a few days around the month's end, so that nodes are shared and cut.
    let start = DEC - 4 * 86_400 + r.next(5 * 86_400) as i64;
    let elapsed = 600 + r.next(30 * 3600) as i64;
    let cpus = n * (1 + r.next(32) as u32);
    let mem = u64::from(n) * (4000 + r.next(200_000));
    let (user, account) = (1 + r.next(4), 1 + r.next(3));
    let tres = if gpu {
        format!(
            "billing={cpus},cpu={cpus},gres/gpu={},mem={mem}M,node={n}",
            n * (1 + r.next(2) as u32)
        )
    } else {
        format!("billing={cpus},cpu={cpus},mem={mem}M,node={n}")
    };
    let el = format!(
        "{:02}:{:02}:{:02}",
        elapsed / 3600,
        elapsed / 60 % 60,
        elapsed % 60
    );
    format!(
        "{id}|{id}|rand|j{id}|u{user}|{uid}|u{user}|{uid}|a{account}|{part}|normal|COMPLETED|0:0|{s}|{s}|{s}|{e}|{el}|2-00:00:00|{n}|{cpus}||{nodes}|{mem}M|{tres}|{el}|{el}|",
        uid = 1000 + user,
        part = if gpu { "gpu" } else { "cpu" },
        s = iso(start),
        e = iso(start + elapsed),
    )
}

fn cluster(dir: &Path, seed: u64, jobs: u64) -> (String, Vec<String>) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let lines: Vec<String> = (1..=jobs).map(|id| job_line(id, &mut r)).collect();
    std::fs::write(dir.join("inventory.toml"), INVENTORY).unwrap();
    let config = dir.join("postproc.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{0}/store.sqlite\"\n[site]\ncluster = \"rand\"\ntimezone = \"UTC\"\ninventory = \"{0}/inventory.toml\"\n",
            dir.display()
        ),
    )
    .unwrap();
    (config.to_str().unwrap().to_string(), lines)
}

fn dump(dir: &Path, name: &str, lines: &[String]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    p.to_str().unwrap().to_string()
}

const COLUMNS: &str =
    "JobID,User,Account,GWPEmbodied,GWPEmbodiedMin,GWPEmbodiedMax,GWP,PE,ADPE,Flags";

/// `acct -P` rows by JobID: the figures' columns, as printed.
fn acct(config: &str, filter: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut args = vec!["acct", "--config", config, "-P", "-n", "-X", "-o", COLUMNS];
    args.extend_from_slice(filter);
    ok(&args)
        .lines()
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(str::to_string).collect();
            (cells[0].clone(), cells[3..].to_vec())
        })
        .collect()
}

fn month_window() -> [&'static str; 4] {
    ["-S", "2026-10-01T00:00:00", "-E", "2027-01-01T00:00:00"]
}

#[test]
fn a_jobs_figures_do_not_depend_on_the_query_and_the_month_is_conserved() {
    for seed in 1..=4 {
        let dir = tmp("alloc-invariants", &seed.to_string());
        let (config, lines) = cluster(&dir, seed, 150);
        let input = dump(&dir, "sacct.txt", &lines);
        ok(&["ingest", "--config", &config, "-q", "--sacct", &input]);
        let w = month_window();
        let mut all_args = vec!["-a"];
        all_args.extend_from_slice(&w);
        let all = acct(&config, &all_args);
        assert_eq!(all.len(), lines.len(), "seed {seed}");
        assert!(
            all.values().any(|v| v[6].contains("oversubscribed")),
            "seed {seed}: some job is scaled down"
        );
        // Alone, per user, per account, per node: the same cells.
        for (id, cells) in all.iter().take(25) {
            let alone = acct(&config, &["-j", id]);
            assert_eq!(alone.get(id), Some(cells), "seed {seed} job {id} alone");
        }
        for (flag, value) in [("-u", "u2"), ("-A", "a3"), ("-N", "c3")] {
            let mut args = vec![flag, value];
            args.extend_from_slice(&w);
            for (id, cells) in acct(&config, &args) {
                assert_eq!(
                    all.get(&id),
                    Some(&cells),
                    "seed {seed} job {id} with {flag} {value}"
                );
            }
        }
        conservation(&config, seed);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The month's report: jobs' embodied plus unallocated is the inventory's embodied over the
/// month (8 nodes × hours × the life-hour rate).
fn conservation(config: &str, seed: u64) {
    let r: serde_json::Value = serde_json::from_str(&ok(&[
        "report", "--config", config, "--month", "2026-11", "--format", "json",
    ]))
    .unwrap();
    let jobs = r["all"]["embodied"]["gwp_kgco2eq"]["value"]
        .as_f64()
        .unwrap();
    let unallocated = r["unallocated"]["embodied"]["gwp_kgco2eq"]["value"]
        .as_f64()
        .unwrap();
    let hours = 30.0 * 24.0;
    let life_h = 5.0 * 8760.0; // the engine counts 8,760 hours a year
    let whole = (6.0 * 1500.0 + 2.0 * 4000.0) * hours / life_h;
    let rel = ((jobs + unallocated) - whole).abs() / whole;
    assert!(
        rel <= 1e-9,
        "seed {seed}: {jobs} + {unallocated} vs {whole} ({rel:e})"
    );
    assert!(jobs > 0.0 && unallocated > 0.0, "seed {seed}");
}

#[test]
fn adding_a_job_never_raises_another_and_ingesting_again_changes_nothing() {
    let dir = tmp("alloc-invariants", "monotone");
    let (config, lines) = cluster(&dir, 9, 120);
    let (first, late) = lines.split_at(100);
    let a = dump(&dir, "a.txt", first);
    ok(&["ingest", "--config", &config, "-q", "--sacct", &a]);
    let w = month_window();
    let mut all_args = vec!["-a"];
    all_args.extend_from_slice(&w);
    let before = acct(&config, &all_args);
    // Twenty late jobs, one dump at a time: each run re-allocates only their neighbours.
    for (k, line) in late.iter().enumerate() {
        let p = dump(&dir, &format!("late{k}.txt"), std::slice::from_ref(line));
        ok(&["ingest", "--config", &config, "-q", "--sacct", &p]);
    }
    let after = acct(&config, &all_args);
    let mut lowered = 0;
    for (id, cells) in &before {
        let (b, a): (f64, f64) = (cells[0].parse().unwrap(), after[id][0].parse().unwrap());
        assert!(a <= b * (1.0 + 1e-12), "job {id}: {b} -> {a}");
        lowered += usize::from(a < b);
    }
    assert!(
        lowered > 0,
        "some late job shared a node with an earlier one"
    );
    // The same figures as one ingest of everything into a new store: incremental is exact.
    let dir2 = tmp("alloc-invariants", "monotone-whole");
    let (config2, _) = cluster(&dir2, 9, 120);
    let whole = dump(&dir2, "all.txt", &lines);
    ok(&["ingest", "--config", &config2, "-q", "--sacct", &whole]);
    let at_once = acct(&config2, &all_args);
    for (id, cells) in &after {
        for (x, y) in cells[..6].iter().zip(&at_once[id][..6]) {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "job {id}: {x} vs {y}"
            );
        }
    }
    // Idempotence: the same inputs again write nothing and change no figure.
    ok(&[
        "ingest", "--config", &config2, "-q", "--force", "--sacct", &whole,
    ]);
    assert_eq!(acct(&config2, &all_args), at_once);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&dir2).unwrap();
}
