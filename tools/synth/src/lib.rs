//! A synthetic month of a large centre, for the benchmark and for tests at scale: a `sacct -P`
//! dump (allocations and their steps), the plugin's records for the assessed jobs, and an
//! inventory of the nodes.
//!
//! Shape (defaults; every number is a parameter):
//! - 6,500 nodes: `cpu` c[0001-5600] (128 cores, 512 GiB), `gpu` g[001-800] (64 cores, 4 GPUs),
//!   `bigmem` m[001-100] (128 cores, 2 TiB), about 70 % busy over the month;
//! - 1,000,000 jobs from 2,000 users in 400 accounts, job counts per user heavy-tailed (Zipf);
//! - node counts from 1 to 512: 70 % sub-node jobs sharing a node, 20 % one whole node, the
//!   rest 2–512 nodes, log-uniform within bands; run times log-normal (median 25 min), cut at
//!   a 48 h limit; states COMPLETED 80 %, FAILED 8 %, CANCELLED 6 %, TIMEOUT 4 %, others 2 %;
//! - 10 % of jobs assessed: one record per node, with RAPL packages and DRAM, the BMC on most
//!   nodes, every GPU of GPU nodes (the job's and the others'), and a power series per meter
//!   as the plugin keeps it (one point per 10 s sampling interval, halved in resolution until
//!   it fits in 720 points), written as the plugin writes records
//!   ([`ea_record::spool::encode_record`]: compact JSON, series in base64).
//!
//! Placement is random within the partition (no scheduler is simulated), so jobs overlap on
//! nodes about as often as on a busy machine, but not by the rules of a real scheduler.
//! Everything follows from the seed: the same parameters give the same files.
//!
//! [`Params::busy`] is the other shape, the one of issue 12's benchmark ([`Shape::BUSY`]): a
//! busy 5,000-node machine where 30 % of the jobs span 2 to 512 nodes (about 25 job-node pairs
//! per job), sub-node jobs are packed on a small shared pool, and memory is not a consumable
//! resource, so that what the jobs on a node hold sums above the node.
//!
//! This crate (`ea-synth`, not published) only writes inputs, the files a site would have; it
//! does not ingest or query them (the tests and the benchmark do, through `ea-ingest` and
//! `ea-query`). The `ea-synth` binary writes a month to a directory.
#![forbid(unsafe_code)]

use ea_record::spool::{encode_record, escape_name, file_name};
use ea_record::{
    AssessMode, GpuInfo, HostInfo, JobExit, JobNodeRecord, MeterReport, Method, NodeAllocation,
    PowerSeries, PowerStats, RecordState, Scope, Trigger, UnixMicros,
};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Params {
    /// How many jobs.
    pub jobs: u64,
    /// Fraction of jobs with records.
    pub assessed: f64,
    /// Seed of the generator: the same seed gives the same month.
    pub seed: u64,
    /// First second of the month (UTC).
    pub month_start: i64,
    /// Days in the month.
    pub month_days: u32,
    /// The cluster's name.
    pub cluster: String,
    /// How many users.
    pub users: u32,
    /// How many accounts.
    pub accounts: u32,
    /// The most points of a meter's power series: the plugin's `max_series_points` (720 by
    /// default). A record's series has one point per sampling interval (10 s) of the job,
    /// halved in resolution until it fits, as the plugin writes it.
    pub series_points: u32,
    /// The machine and the job mix ([`Shape::DEFAULT`] unless a preset says otherwise).
    pub shape: Shape,
}

impl Params {
    /// Issue 12's month: [`Shape::BUSY`], 1,000,000 jobs, 0.05 % of them assessed. The
    /// assessed share is small because the shape is about the allocation of 25 million
    /// job-node pairs, not the reading of records: 500 jobs of 25 nodes on average keep the
    /// spool near 13,000 files (the default month has 290,000).
    pub fn busy() -> Self {
        Self {
            assessed: 0.0005,
            shape: Shape::BUSY,
            ..Self::default()
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Self {
            jobs: 1_000_000,
            assessed: 0.10,
            seed: 42,
            month_start: 1_793_491_200, // 2026-11-01T00:00:00Z
            month_days: 30,
            cluster: "synth".into(),
            users: 2_000,
            accounts: 400,
            series_points: 720,
            shape: Shape::DEFAULT,
        }
    }
}

/// A partition of the synthetic machine.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// Its name in sacct.
    pub name: &'static str,
    /// Prefix of its node names.
    pub prefix: &'static str,
    /// Digits of its node numbers.
    pub digits: usize,
    /// How many nodes.
    pub nodes: u32,
    /// Cores per node.
    pub cores: u32,
    /// Memory per node, MiB.
    pub mem_mb: u64,
    /// GPUs per node.
    pub gpus: u32,
    /// Share of jobs.
    pub weight: f64,
}

/// The default machine: CPU, GPU and big-memory partitions.
pub const PARTS: [Part; 3] = [
    Part {
        name: "cpu",
        prefix: "c",
        digits: 4,
        nodes: 5600,
        cores: 128,
        mem_mb: 512 * 1024,
        gpus: 0,
        weight: 0.78,
    },
    Part {
        name: "gpu",
        prefix: "g",
        digits: 3,
        nodes: 800,
        cores: 64,
        mem_mb: 512 * 1024,
        gpus: 4,
        weight: 0.18,
    },
    Part {
        name: "bigmem",
        prefix: "m",
        digits: 3,
        nodes: 100,
        cores: 128,
        mem_mb: 2048 * 1024,
        gpus: 0,
        weight: 0.04,
    },
];

/// The busy machine's partitions: 4,000 CPU nodes with 2 GiB per core (memory is what its
/// shared jobs oversubscribe) and 1,000 GPU nodes with 4 GPUs, shares of jobs by node count.
pub const BUSY_PARTS: [Part; 2] = [
    Part {
        name: "cpu",
        prefix: "c",
        digits: 4,
        nodes: 4000,
        cores: 128,
        mem_mb: 256 * 1024,
        gpus: 0,
        weight: 0.8,
    },
    Part {
        name: "gpu",
        prefix: "g",
        digits: 4,
        nodes: 1000,
        cores: 64,
        mem_mb: 512 * 1024,
        gpus: 4,
        weight: 0.2,
    },
];

/// A band of the node-count distribution: a job whose draw falls below `upto` (cumulative
/// share of jobs; the last band takes the rest) gets a node count log-uniform in `nodes`.
#[derive(Debug, Clone, Copy)]
pub struct Band {
    /// Upper end of the band, as a cumulative share of jobs.
    pub upto: f64,
    /// Node counts of the band (log-uniform, inclusive).
    pub nodes: (u32, u32),
    /// Sub-node: the job holds part of one node (`nodes` is then (1, 1)).
    pub shared: bool,
}

/// The machine and its job mix. A shape only adds random draws where it departs from
/// [`Shape::DEFAULT`] (a band of one node count, one memory per CPU, no run-time scaling), so
/// that the default month stays the same file for file whatever shapes are added.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Its name (`--shape`).
    pub name: &'static str,
    /// Its partitions.
    pub parts: &'static [Part],
    /// Its node-count bands.
    pub bands: &'static [Band],
    /// Memory of a sub-node job per CPU, MiB, log-uniform in the range (capped at the node's).
    pub mem_per_cpu_mb: (u32, u32),
    /// Share of each partition's nodes (its first ones) where sub-node jobs are placed: a
    /// site's shared partition, where many small jobs pack onto few nodes.
    pub shared_pool: f64,
    /// A multi-node job runs the drawn time divided by `nnodes` to this power: on a busy
    /// machine where a job spans 81 nodes on average, wide jobs must be short for the node
    /// time to fit in the month at all (0: no scaling).
    pub wide_runtime_exponent: f64,
}

impl Shape {
    /// The month documented at the top of this module (the month benchmark's default).
    pub const DEFAULT: Shape = Shape {
        name: "default",
        parts: &PARTS,
        bands: &[
            Band {
                upto: 0.70,
                nodes: (1, 1),
                shared: true,
            },
            Band {
                upto: 0.90,
                nodes: (1, 1),
                shared: false,
            },
            Band {
                upto: 0.98,
                nodes: (2, 16),
                shared: false,
            },
            Band {
                upto: 0.998,
                nodes: (17, 128),
                shared: false,
            },
            Band {
                upto: 1.0,
                nodes: (129, 512),
                shared: false,
            },
        ],
        mem_per_cpu_mb: (4096, 4096),
        shared_pool: 1.0,
        wide_runtime_exponent: 0.0,
    };

    /// Issue 12's busy machine ([`BUSY_PARTS`]): 60 % sub-node jobs on a shared pool of 4 %
    /// of the nodes (160 CPU and 40 GPU nodes, about six jobs on each at a time), 10 % on
    /// one whole node, 30 % on 2 to 512 nodes. The multi-node bands (38 % of them on 2–16
    /// nodes, 42 % on 17–128, 20 % on 129–512) average 81 nodes, hence about 25 pairs per job.
    /// Sub-node jobs ask 1 to 16 GiB per CPU, and memory is not a consumable resource (Slurm's
    /// `SelectTypeParameters=CR_Core`, common where jobs rarely use what they ask): their
    /// `ReqMem` on a pool node sums above its 256 GiB while their cores fit, which is what the
    /// allocation's oversubscription scaling is for. Wide jobs run the drawn time (and have
    /// the limit) over `nnodes^0.55`, which keeps the node time of whole-node jobs near 80 %
    /// of the machine's.
    pub const BUSY: Shape = Shape {
        name: "busy",
        parts: &BUSY_PARTS,
        bands: &[
            Band {
                upto: 0.60,
                nodes: (1, 1),
                shared: true,
            },
            Band {
                upto: 0.70,
                nodes: (1, 1),
                shared: false,
            },
            Band {
                upto: 0.814,
                nodes: (2, 16),
                shared: false,
            },
            Band {
                upto: 0.94,
                nodes: (17, 128),
                shared: false,
            },
            Band {
                upto: 1.0,
                nodes: (129, 512),
                shared: false,
            },
        ],
        mem_per_cpu_mb: (1024, 16 * 1024),
        shared_pool: 0.04,
        wide_runtime_exponent: 0.55,
    };

    /// The shape of a name (`default`, `busy`), for command lines and environment variables.
    pub fn by_name(name: &str) -> Option<Shape> {
        [Shape::DEFAULT, Shape::BUSY]
            .into_iter()
            .find(|s| s.name == name)
    }

    /// The nodes of partition `p` where sub-node jobs go: the first ones, at least one.
    pub fn pool(&self, p: &Part) -> u32 {
        ((f64::from(p.nodes) * self.shared_pool).ceil() as u32).clamp(1, p.nodes)
    }
}

/// SplitMix64: small, fast and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f().max(1e-12);
        let v = self.f();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// Log-uniform integer in [lo, hi].
    pub fn log_uniform(&mut self, lo: u32, hi: u32) -> u32 {
        let (a, b) = (f64::from(lo).ln(), f64::from(hi + 1).ln());
        ((a + (b - a) * self.f()).exp().floor() as u32).clamp(lo, hi)
    }
}

/// One generated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its raw job id.
    pub id: u64,
    /// Index of its user.
    pub user: u32,
    /// Index of its account.
    pub account: u32,
    /// Index of the partition in its shape's `parts`.
    pub part: usize,
    /// That partition.
    pub partition: &'static Part,
    /// Index of its first node in the partition (the nodes wrap around).
    pub first_node: u32,
    /// NNodes.
    pub nnodes: u32,
    /// CPUs it holds per node.
    pub cpus_per_node: u32,
    /// GPUs it holds per node.
    pub gpus_per_node: u32,
    /// Memory it requests, MiB.
    pub mem_mb: u64,
    /// Submit, epoch seconds.
    pub submit: i64,
    /// Start, epoch seconds.
    pub start: i64,
    /// Elapsed, seconds.
    pub elapsed: i64,
    /// Timelimit, seconds.
    pub timelimit: i64,
    /// Its sacct state.
    pub state: &'static str,
    /// Its exit code (`0:0`).
    pub exit: &'static str,
    /// TotalCPU over CPUTime.
    pub cpu_efficiency: f64,
    /// Whether its nodes wrote records.
    pub assessed: bool,
}

impl Job {
    /// End, epoch seconds.
    pub fn end(&self) -> i64 {
        self.start + self.elapsed
    }
    /// NCPUS.
    pub fn ncpus(&self) -> u32 {
        self.cpus_per_node * self.nnodes
    }
    /// Whether the job ran on node `i` (index in its partition).
    pub fn on_node(&self, i: u32) -> bool {
        let n = self.partition.nodes;
        (i + n - self.first_node) % n < self.nnodes
    }
    /// Its node names.
    pub fn nodes(&self) -> Vec<String> {
        let p = self.partition;
        (0..self.nnodes)
            .map(|i| node_name(p, (self.first_node + i) % p.nodes))
            .collect()
    }
    /// The node list in Slurm's compressed form (`c[0001-0004]`, or two ranges on wrap).
    pub fn node_list(&self) -> String {
        let p = self.partition;
        let a = self.first_node;
        let b = a + self.nnodes - 1;
        let fmt = |i: u32| format!("{:0w$}", i + 1, w = p.digits);
        if self.nnodes == 1 {
            node_name(p, a)
        } else if b < p.nodes {
            format!("{}[{}-{}]", p.prefix, fmt(a), fmt(b))
        } else {
            let first_end = p.nodes - 1;
            let wrap_end = b - p.nodes;
            let head = if a == first_end {
                fmt(a)
            } else {
                format!("{}-{}", fmt(a), fmt(first_end))
            };
            let tail = if wrap_end == 0 {
                fmt(0)
            } else {
                format!("{}-{}", fmt(0), fmt(wrap_end))
            };
            format!("{}[{tail},{head}]", p.prefix)
        }
    }
}

/// The name of node `i` (0-based) of partition `p`.
pub fn node_name(p: &Part, i: u32) -> String {
    format!("{}{:0w$}", p.prefix, i + 1, w = p.digits)
}

/// The partition of a job: by the partitions' shares of jobs, the last taking the rest.
fn pick_part(parts: &[Part], x: f64) -> usize {
    let mut upto = 0.0;
    for (k, p) in parts.iter().enumerate() {
        upto += p.weight;
        if x < upto {
            return k;
        }
    }
    parts.len() - 1
}

/// The node count of a job and whether it shares its node (see [`Band`]).
fn pick_nodes(bands: &[Band], r: &mut Rng) -> (u32, bool) {
    let x = r.f();
    let band = bands
        .iter()
        .find(|b| x < b.upto)
        .or(bands.last())
        .expect("a shape has bands");
    let (lo, hi) = band.nodes;
    let n = if lo == hi { lo } else { r.log_uniform(lo, hi) };
    (n, band.shared)
}

/// State, exit code and elapsed seconds from the drawn run time, the limit and a draw.
fn outcome(raw: i64, timelimit: i64, s: f64) -> (&'static str, &'static str, i64) {
    if raw >= timelimit || s < 0.04 {
        ("TIMEOUT", "0:15", timelimit)
    } else if s < 0.12 {
        ("FAILED", "1:0", raw)
    } else if s < 0.18 {
        ("CANCELLED by 0", "0:15", raw / 2)
    } else if s < 0.19 {
        ("OUT_OF_MEMORY", "0:125", raw)
    } else if s < 0.195 {
        ("NODE_FAIL", "0:0", raw)
    } else {
        ("COMPLETED", "0:0", raw)
    }
}

fn gen_job(params: &Params, i: u64) -> Job {
    let shape = &params.shape;
    let mut r = Rng::new(params.seed.wrapping_mul(1_000_003).wrapping_add(i));
    // Zipf-like users: a few users submit most jobs.
    let user = ((params.users as f64).powf(r.f()) as u32).min(params.users - 1);
    let account = (user.wrapping_mul(2_654_435_761) >> 7) % params.accounts;
    let part = pick_part(shape.parts, r.f());
    let parts: &'static [Part] = shape.parts;
    let p = &parts[part];
    let (nnodes, shared) = pick_nodes(shape.bands, &mut r);
    let nnodes = nnodes.min(p.nodes);
    let cpus_per_node = if shared {
        r.log_uniform(1, p.cores / 2)
    } else {
        p.cores
    };
    let gpus_per_node = match (p.gpus, shared) {
        (0, _) => 0,
        (g, true) => 1 + r.below(u64::from(g)) as u32,
        (g, false) => g,
    };
    let mem_mb = if shared {
        let (lo, hi) = shape.mem_per_cpu_mb;
        let per_cpu = if lo == hi { lo } else { r.log_uniform(lo, hi) };
        (u64::from(cpus_per_node) * u64::from(per_cpu)).min(p.mem_mb)
    } else {
        p.mem_mb
    } * u64::from(nnodes);
    let span = i64::from(params.month_days) * 86_400;
    let submit = params.month_start + (r.f() * span as f64) as i64;
    let wait = (r.f() * r.f() * 7200.0) as i64;
    let mut timelimit = [3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600][r.below(5) as usize];
    let mut raw = (1500.0 * (1.4 * r.normal()).exp()).max(5.0) as i64;
    if shape.wide_runtime_exponent != 0.0 && nnodes > 1 {
        // Limits shrink with the run times, else a timed-out wide job would hold its nodes for
        // the full limit.
        let f = f64::from(nnodes).powf(shape.wide_runtime_exponent);
        raw = (raw as f64 / f).max(5.0) as i64;
        timelimit = ((timelimit as f64 / f) as i64 / 60 * 60).max(600);
    }
    let (state, exit, elapsed) = outcome(raw, timelimit, r.f());
    let start = (submit + wait).min(params.month_start + span - 1);
    // Keep every job inside the month, as a month's dump of finished jobs would.
    let elapsed = elapsed.min(params.month_start + span - 1 - start).max(0);
    let placed_on = if shared { shape.pool(p) } else { p.nodes };
    Job {
        id: 1_000_000 + i,
        user,
        account,
        part,
        partition: p,
        first_node: r.below(u64::from(placed_on)) as u32,
        nnodes,
        cpus_per_node,
        gpus_per_node,
        mem_mb,
        submit,
        start,
        elapsed,
        timelimit,
        state,
        exit,
        cpu_efficiency: 0.05 + 0.95 * r.f().sqrt(),
        assessed: r.f() < params.assessed,
    }
}

/// Every job of the month, in id order. Slurm numbers jobs as they are submitted, and sacct
/// lists them by id: ids are given in submission order (ties by draw), so that a dump, and
/// the store it fills, hold a month's jobs roughly in time order, as a real one does.
pub fn jobs(params: &Params) -> Vec<Job> {
    let mut jobs: Vec<Job> = (0..params.jobs)
        .into_par_iter()
        .map(|i| gen_job(params, i))
        .collect();
    jobs.par_sort_by_key(|j| (j.submit, j.id));
    for (i, j) in jobs.iter_mut().enumerate() {
        j.id = 1_000_000 + i as u64;
    }
    jobs
}

/// What a generated month amounts to, for the benchmark's printout and the shape's tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many jobs.
    pub jobs: u64,
    /// Job-node pairs: the rows the allocation sorts and sweeps.
    pub pairs: u64,
    /// Share of jobs on more than one node.
    pub multi_node: f64,
    /// Node time of the jobs that hold whole nodes over the machine's node time in the month.
    pub exclusive_held: f64,
    /// Sub-node jobs on a node of the shared pool at a time, on average.
    pub pool_jobs: f64,
}

/// What a generated month of `params` amounts to.
pub fn stats(params: &Params, jobs: &[Job]) -> Stats {
    let month = f64::from(params.month_days) * 86_400.0;
    let (mut pairs, mut multi, mut exclusive, mut shared) = (0u64, 0u64, 0.0f64, 0.0f64);
    for j in jobs {
        pairs += u64::from(j.nnodes);
        multi += u64::from(j.nnodes > 1);
        let node_seconds = j.elapsed as f64 * f64::from(j.nnodes);
        if j.cpus_per_node < j.partition.cores {
            shared += node_seconds;
        } else {
            exclusive += node_seconds;
        }
    }
    let parts = params.shape.parts.iter();
    let nodes: u32 = parts.clone().map(|p| p.nodes).sum();
    let pool: u32 = parts.map(|p| params.shape.pool(p)).sum();
    Stats {
        jobs: jobs.len() as u64,
        pairs,
        multi_node: multi as f64 / jobs.len().max(1) as f64,
        exclusive_held: exclusive / (f64::from(nodes) * month),
        pool_jobs: shared / (f64::from(pool) * month),
    }
}

/// A job that is not in the month: the next id after the generated ones, two hours from the
/// middle of the month on the first `nnodes` nodes of the first partition (where the shape's
/// shared pool is, so on the busiest nodes), holding 8 CPUs and 32 GiB of each. For timing a
/// late job's ingest into a month already stored, which touches those nodes' windows only.
pub fn late_job(params: &Params, nnodes: u32) -> Job {
    let parts: &'static [Part] = params.shape.parts;
    let p = &parts[0];
    let start = params.month_start + i64::from(params.month_days) * 86_400 / 2;
    let nnodes = nnodes.clamp(1, p.nodes);
    Job {
        id: 1_000_000 + params.jobs,
        user: 1,
        account: 1,
        part: 0,
        partition: p,
        first_node: 0,
        nnodes,
        cpus_per_node: 8,
        gpus_per_node: 0,
        mem_mb: 32 * 1024 * u64::from(nnodes),
        submit: start - 600,
        start,
        elapsed: 2 * 3600,
        timelimit: 4 * 3600,
        state: "COMPLETED",
        exit: "0:0",
        cpu_efficiency: 0.9,
        assessed: false,
    }
}

/// The columns of the dump.
pub const COLUMNS: &str = "JobID|JobIDRaw|Cluster|JobName|User|UID|Group|GID|Account|Partition|QOS|State|ExitCode|\
Submit|Eligible|Start|End|Elapsed|Timelimit|NNodes|NCPUS|NTasks|NodeList|ReqMem|AllocTRES|TotalCPU|CPUTime|\
ConsumedEnergyRaw";

fn iso(t: i64) -> String {
    let d = jiff::Timestamp::from_second(t)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

fn dur(s: i64) -> String {
    ea_sacct::timefmt::format_elapsed(s)
}

fn job_lines(j: &Job, cluster: &str, out: &mut String) {
    let lines = JobLines::of(j, cluster);
    lines.allocation(out);
    lines.steps(out);
}

/// What a job's sacct lines share: its fields as the dump writes them.
struct JobLines<'a> {
    j: &'a Job,
    cluster: &'a str,
    user: String,
    account: String,
    tres: String,
    cpu_time: i64,
    total_cpu: i64,
    start: String,
    end: String,
    nodes: String,
}

impl<'a> JobLines<'a> {
    fn of(j: &'a Job, cluster: &'a str) -> Self {
        let tres = if j.gpus_per_node > 0 {
            format!(
                "billing={0},cpu={0},gres/gpu={1},mem={2}M,node={3}",
                j.ncpus(),
                j.gpus_per_node * j.nnodes,
                j.mem_mb,
                j.nnodes
            )
        } else {
            format!(
                "billing={0},cpu={0},mem={1}M,node={2}",
                j.ncpus(),
                j.mem_mb,
                j.nnodes
            )
        };
        let cpu_time = j.elapsed * i64::from(j.ncpus());
        Self {
            j,
            cluster,
            user: format!("user{:04}", j.user),
            account: format!("acct{:03}", j.account),
            tres,
            cpu_time,
            total_cpu: (cpu_time as f64 * j.cpu_efficiency) as i64,
            start: iso(j.start),
            end: iso(j.end()),
            nodes: j.node_list(),
        }
    }

    /// The allocation's line.
    fn allocation(&self, out: &mut String) {
        let j = self.j;
        let _ = writeln!(
            out,
            "{id}|{id}|{cluster}|job{n}|{user}|{uid}|{user}|{uid}|{account}|{part}|normal|{state}|{exit}|{sub}|{sub}|{start}|{end}|{el}|{tl}|{nn}|{nc}||{nodes}|{mem}M|{tres}|{tc}|{ct}|",
            id = j.id,
            cluster = self.cluster,
            n = j.id % 997,
            user = self.user,
            uid = 10_000 + j.user,
            account = self.account,
            part = j.partition.name,
            state = j.state,
            exit = j.exit,
            sub = iso(j.submit),
            start = self.start,
            end = self.end,
            el = dur(j.elapsed),
            tl = dur(j.timelimit),
            nn = j.nnodes,
            nc = j.ncpus(),
            nodes = self.nodes,
            mem = j.mem_mb,
            tres = self.tres,
            tc = dur(self.total_cpu),
            ct = dur(self.cpu_time),
        );
    }

    /// The `batch` and `extern` steps' lines.
    fn steps(&self, out: &mut String) {
        let j = self.j;
        let step_state = if j.state.starts_with("CANCELLED") {
            "CANCELLED"
        } else {
            j.state
        };
        let batch_id = format!("{}.batch", j.id);
        let batch_tres = format!(
            "cpu={},mem={}M,node=1",
            j.cpus_per_node,
            j.mem_mb / u64::from(j.nnodes)
        );
        let first = node_name(j.partition, j.first_node);
        let batch = StepLine {
            id: &batch_id,
            name: "batch",
            state: step_state,
            exit: j.exit,
            nn: 1,
            nc: j.cpus_per_node,
            nt: 1,
            nodes: &first,
            tres: &batch_tres,
            tc: &dur(self.total_cpu),
        };
        let _ = writeln!(out, "{}", self.step(&batch));
        let extern_id = format!("{}.extern", j.id);
        let ext = StepLine {
            id: &extern_id,
            name: "extern",
            state: "COMPLETED",
            exit: "0:0",
            nn: j.nnodes,
            nc: j.ncpus(),
            nt: j.nnodes,
            nodes: &self.nodes,
            tres: &self.tres,
            tc: "00:00:00",
        };
        let _ = writeln!(out, "{}", self.step(&ext));
    }

    /// A step's line: the same 28 columns as the allocation line, most of them empty, as sacct
    /// does.
    fn step(&self, s: &StepLine<'_>) -> String {
        let (el, nn, nc, nt) = (
            dur(self.j.elapsed),
            s.nn.to_string(),
            s.nc.to_string(),
            s.nt.to_string(),
        );
        let (start, end) = (self.start.as_str(), self.end.as_str());
        let f: [&str; 28] = [
            s.id,
            s.id,
            self.cluster,
            s.name,
            "",
            "",
            "",
            "",
            &self.account,
            "",
            "",
            s.state,
            s.exit,
            start,
            start,
            start,
            end,
            &el,
            "",
            &nn,
            &nc,
            &nt,
            s.nodes,
            "",
            s.tres,
            s.tc,
            "",
            "",
        ];
        f.join("|")
    }
}

/// The fields of one step's line that differ between steps.
struct StepLine<'a> {
    id: &'a str,
    name: &'a str,
    state: &'a str,
    exit: &'a str,
    nn: u32,
    nc: u32,
    nt: u32,
    nodes: &'a str,
    tres: &'a str,
    tc: &'a str,
}

/// Writes the dump (header and every job's lines) to `out`.
///
/// # Errors
/// Write errors.
pub fn write_dump(params: &Params, jobs: &[Job], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{COLUMNS}")?;
    for chunk in jobs.chunks(20_000) {
        let texts: Vec<String> = chunk
            .par_chunks(1000)
            .map(|c| {
                let mut s = String::with_capacity(c.len() * 700);
                for j in c {
                    job_lines(j, &params.cluster, &mut s);
                }
                s
            })
            .collect();
        for t in texts {
            out.write_all(t.as_bytes())?;
        }
    }
    Ok(())
}

/// A node's power draw for a job, W: idle, plus its busy cores, plus its GPUs.
fn node_power(p: &Part, j: &Job, r: &mut Rng) -> (f64, f64, f64, f64) {
    let busy = f64::from(j.cpus_per_node) * j.cpu_efficiency;
    let pkg = 2.0 * 40.0 + busy * 2.2 * (0.9 + 0.2 * r.f());
    let dram = 12.0 + busy * 0.25;
    let gpu_each = 60.0 + 250.0 * j.cpu_efficiency * (0.8 + 0.4 * r.f());
    let other_gpus = f64::from(p.gpus.saturating_sub(j.gpus_per_node)) * 55.0;
    let node = (pkg + dram + gpu_each * f64::from(j.gpus_per_node) + other_gpus) * 1.18 + 110.0;
    (pkg, dram, gpu_each, node)
}

/// The plugin's sampling interval, s (`ea_meters`' default).
const SAMPLING_INTERVAL_S: f64 = 10.0;

/// The points and step of a meter's series over `secs`, as the plugin's accumulator keeps it:
/// one bucket per sampling interval, the step doubled until the buckets fit in `max_points`.
pub fn series_shape(secs: f64, max_points: u32) -> (usize, f64) {
    let max_points = f64::from(max_points.max(2));
    let mut step = SAMPLING_INTERVAL_S;
    while (secs / step).ceil() > max_points {
        step *= 2.0;
    }
    (((secs / step).ceil() as usize).max(1), step)
}

#[allow(clippy::too_many_arguments)]
fn meter(
    id: String,
    scope: Scope,
    label: &str,
    energy_j: f64,
    t0: i64,
    secs: f64,
    max_points: u32,
    owned: Option<bool>,
) -> MeterReport {
    let mean = if secs > 0.0 { energy_j / secs } else { 0.0 };
    let (n, step_s) = series_shape(secs, max_points);
    let watts: Vec<f32> = (0..n)
        .map(|k| (mean * (0.95 + 0.1 * ((k * 7919) % 13) as f64 / 13.0)) as f32)
        .collect();
    let counter = scope != Scope::NodeBmc;
    MeterReport {
        id,
        scope,
        label: Some(label.to_string()),
        method: if counter {
            Method::Counter
        } else {
            Method::IntegratedPower
        },
        energy_j,
        first_raw: counter.then_some(1_000_000),
        last_raw: counter.then_some(1_000_000 + (energy_j * 1e6) as u64),
        max_raw: (scope == Scope::CpuPackage || scope == Scope::Dram).then_some(262_143_328_850),
        wraps: 0,
        resets: 0,
        samples: (secs / SAMPLING_INTERVAL_S) as u32 + 2,
        rejected: 0,
        power_w: Some(PowerStats {
            min: mean * 0.95,
            mean,
            max: mean * 1.05,
        }),
        job_owned: owned,
        series: Some(PowerSeries {
            start: UnixMicros::from_secs(t0),
            step_s,
            watts,
        }),
        flags: Vec::new(),
    }
}

/// The records of one assessed job, one per node.
pub fn records(params: &Params, j: &Job) -> Vec<JobNodeRecord> {
    j.nodes()
        .into_iter()
        .enumerate()
        .map(|(k, node)| {
            let mut r = Rng::new(j.id.wrapping_mul(31).wrapping_add(k as u64));
            let meters = node_meters(params, j, &node, &mut r);
            node_record(params, j, node, meters)
        })
        .collect()
}

/// One node's meters for job `j`: two CPU packages, DRAM, every GPU of the node (the job's
/// own and the others, idle), and most of the time a BMC.
fn node_meters(params: &Params, j: &Job, node: &str, r: &mut Rng) -> Vec<MeterReport> {
    let p = j.partition;
    let secs = j.elapsed as f64;
    let (pkg, dram, gpu_each, node_w) = node_power(p, j, r);
    let at = |id: String, scope: Scope, label: &str, energy_j: f64, owned: Option<bool>| {
        meter(
            id,
            scope,
            label,
            energy_j,
            j.start,
            secs,
            params.series_points,
            owned,
        )
    };
    let mut meters = vec![
        at(
            "rapl:intel-rapl:0".into(),
            Scope::CpuPackage,
            "package-0",
            pkg / 2.0 * secs,
            None,
        ),
        at(
            "rapl:intel-rapl:1".into(),
            Scope::CpuPackage,
            "package-1",
            pkg / 2.0 * secs,
            None,
        ),
        at(
            "rapl:intel-rapl:0:0".into(),
            Scope::Dram,
            "dram",
            dram * secs,
            None,
        ),
    ];
    for g in 0..p.gpus {
        let owned = g < j.gpus_per_node;
        let e = if owned { gpu_each } else { 55.0 } * secs;
        meters.push(at(
            format!("nvml:GPU-{node}-{g}"),
            Scope::GpuBoard,
            "NVIDIA A100-SXM4-80GB",
            e,
            Some(owned),
        ));
    }
    // Most nodes have a working BMC.
    if r.f() < 0.8 {
        meters.push(at(
            "ipmi:dcmi".into(),
            Scope::NodeBmc,
            "DCMI",
            node_w * secs,
            None,
        ));
    }
    meters
}

/// The record job `j`'s plugin writes on `node`, with its `meters`.
fn node_record(params: &Params, j: &Job, node: String, meters: Vec<MeterReport>) -> JobNodeRecord {
    let p = j.partition;
    JobNodeRecord {
        schema_version: ea_record::SCHEMA_VERSION,
        state: RecordState::Complete,
        cluster: Some(params.cluster.clone()),
        job_id: j.id as u32,
        array_job_id: None,
        array_task_id: None,
        uid: 10_000 + j.user,
        gid: 10_000 + j.user,
        user: Some(format!("user{:04}", j.user)),
        account: Some(format!("acct{:03}", j.account)),
        partition: Some(p.name.into()),
        node: node.clone(),
        node_list: Some(j.node_list()),
        num_nodes: Some(j.nnodes),
        cpus_on_node: Some(j.cpus_per_node),
        allocation: Some(NodeAllocation {
            cpus: Some(j.cpus_per_node),
            cores: None,
            memory_mb: Some(j.mem_mb / u64::from(j.nnodes)),
            gpus: (0..j.gpus_per_node)
                .map(|g| format!("GPU-{node}-{g}"))
                .collect(),
        }),
        start: Some(UnixMicros::from_secs(j.start)),
        end: Some(UnixMicros::from_secs(j.end())),
        exit: JobExit::parse(j.exit, None),
        mode: AssessMode {
            trigger: Trigger::Option,
            requested: None,
            summary: false,
        },
        plugin_version: "0.1.0".into(),
        slurm_version: "24.05.4".into(),
        host: Some(HostInfo {
            hostname: Some(node.clone()),
            boot_id: Some(format!("boot-{node}")),
            cpu_model: Some("AMD EPYC 7763 64-Core Processor".into()),
            gpus: (0..p.gpus)
                .map(|g| GpuInfo {
                    index: g,
                    uuid: format!("GPU-{node}-{g}"),
                    name: Some("NVIDIA A100-SXM4-80GB".into()),
                })
                .collect(),
        }),
        meters,
        absent_meters: Vec::new(),
        flags: Vec::new(),
        summary_error: None,
    }
}

/// Writes the assessed jobs' records into `<spool>/records/`. Returns how many.
///
/// # Errors
/// Directory creation or write errors.
pub fn write_records(params: &Params, jobs: &[Job], spool: &Path) -> io::Result<u64> {
    let dir = spool.join("records");
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(spool.join("running"))?;
    let counts: Vec<io::Result<u64>> = jobs
        .par_iter()
        .filter(|j| j.assessed && j.elapsed > 0)
        .map(|j| {
            let mut n = 0;
            for r in records(params, j) {
                let name = file_name(r.job_id, &r.node, "json");
                // The bytes the plugin writes (its atomic write's fsyncs aside).
                let bytes = encode_record(&r).map_err(io::Error::other)?;
                std::fs::write(dir.join(name), bytes)?;
                n += 1;
            }
            Ok(n)
        })
        .collect();
    counts.into_iter().sum()
}

/// The inventory of the synthetic machine, in ea-impact's format.
pub fn inventory_toml(params: &Params) -> String {
    let mut s = format!(
        "# Synthetic machine of the energy-assess benchmark (generated).\n[site]\nname = \"{}\"\nlocation = \"FRA\"\npue = 1.3\npue_range = [1.2, 1.5]\nlifetime_years = 6\nlifetime_years_range = [5, 7]\nutilisation = 0.85\n\n",
        escape_name(&params.cluster)
    );
    for p in params.shape.parts {
        let (a, b) = (
            format!("{:0w$}", 1, w = p.digits),
            format!("{:0w$}", p.nodes, w = p.digits),
        );
        let _ = write!(
            s,
            "[[group]]\nname = \"{name}\"\nnodes = \"{pre}[{a}-{b}]\"\nslurm_cpus = {cores}\nslurm_memory_mb = {mem}\n\
             cpu = {{ model = \"AMD EPYC 7763\", sockets = 2, cores_per_socket = {cps}, tdp_w = 280 }}\n\
             ram = {{ total_gb = {gb} }}\nssd = [{{ count = 2, capacity_gb = 960 }}]\npower_supply = {{ count = 2 }}\n",
            name = p.name,
            pre = p.prefix,
            cores = p.cores,
            mem = p.mem_mb,
            cps = p.cores / 2,
            gb = p.mem_mb / 1024,
        );
        if p.gpus > 0 {
            let _ = writeln!(
                s,
                "gpu = [{{ model = \"NVIDIA A100 SXM4 80GB\", count = {}, memory_gb = 80, tdp_w = 400 }}]",
                p.gpus
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped_as_documented() {
        let params = Params {
            jobs: 20_000,
            ..Default::default()
        };
        let a = jobs(&params);
        let b = jobs(&params);
        assert_eq!(a.len(), 20_000);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.start == y.start && x.node_list() == y.node_list())
        );
        let single = a.iter().filter(|j| j.nnodes == 1).count() as f64 / a.len() as f64;
        assert!((0.85..0.95).contains(&single), "{single}");
        assert!(a.iter().any(|j| j.nnodes > 128));
        assert!(
            a.iter()
                .all(|j| j.nnodes <= 512 && j.end() < params.month_start + 30 * 86_400)
        );
        let assessed = a.iter().filter(|j| j.assessed).count() as f64 / a.len() as f64;
        assert!((0.09..0.11).contains(&assessed), "{assessed}");
        for j in a.iter().take(2000) {
            let expanded = ea_record::hostlist::expand(&j.node_list()).unwrap();
            assert_eq!(expanded.len() as u32, j.nnodes, "{}", j.node_list());
        }
    }
    /// The busy month at the density of the full one on a smaller scale: 1/30 of the jobs
    /// over one day instead of thirty keeps the jobs per node at a time and the pairs per job.
    fn busy_day() -> (Params, Vec<Job>) {
        let p = Params {
            jobs: 1_000_000 / 30,
            month_days: 1,
            ..Params::busy()
        };
        let js = jobs(&p);
        (p, js)
    }

    /// The most that the jobs on node `i` of partition `part` held at once, as fractions of the
    /// node: (cores, memory), each its own maximum over the node's timeline.
    fn most_held(js: &[Job], part: usize, i: u32) -> (f64, f64) {
        let mut events: Vec<(i64, f64, f64)> = Vec::new();
        for j in js
            .iter()
            .filter(|j| j.part == part && j.elapsed > 0 && j.on_node(i))
        {
            let p = j.partition;
            let c = f64::from(j.cpus_per_node) / f64::from(p.cores);
            let m = (j.mem_mb / u64::from(j.nnodes)) as f64 / p.mem_mb as f64;
            events.push((j.start, c, m));
            events.push((j.end(), -c, -m));
        }
        // Ends before starts at the same second: back-to-back jobs do not overlap.
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let (mut c, mut m, mut most) = (0.0, 0.0, (0.0f64, 0.0f64));
        for (_, dc, dm) in events {
            (c, m) = (c + dc, m + dm);
            most = (most.0.max(c), most.1.max(m));
        }
        most
    }

    #[test]
    fn busy_month_has_the_shape_of_issue_12() {
        let (p, js) = busy_day();
        let st = stats(&p, &js);
        // About 25 million pairs at 1,000,000 jobs, by proportion.
        let per_million = st.pairs as f64 * 1e6 / st.jobs as f64;
        assert!((22.5e6..27.5e6).contains(&per_million), "{per_million}");
        assert!((0.28..0.32).contains(&st.multi_node), "{}", st.multi_node);
        assert!(js.iter().all(|j| j.nnodes <= 512));
        assert!(js.iter().any(|j| j.nnodes > 400));
        // Sub-node jobs are on the shared pool only.
        let pool = p.shape.pool(&BUSY_PARTS[0]);
        assert_eq!(pool, 160);
        let shared = js
            .iter()
            .filter(|j| j.nnodes == 1 && j.cpus_per_node < j.partition.cores);
        assert!(shared.clone().count() as f64 > 0.55 * js.len() as f64);
        assert!(shared.filter(|j| j.part == 0).all(|j| j.first_node < pool));
        // A pool node is held beyond its memory while its cores fit: the scaling's case.
        let (cores, memory) = (0..8)
            .map(|i| most_held(&js, 0, i))
            .find(|&(_, m)| m > 1.0)
            .expect("a pool node whose jobs hold more memory than it has");
        assert!(memory > 1.0 && cores < memory, "{cores} {memory}");
    }

    #[test]
    fn busy_inventory_covers_every_node_and_the_late_job_is_new() {
        let p = Params {
            jobs: 2000,
            ..Params::busy()
        };
        let inv = ea_impact::Inventory::parse(&inventory_toml(&p), Path::new("busy.toml")).unwrap();
        assert_eq!(inv.node_count(), 5000);
        let (_, gpu) = inv.group_of("g1000").unwrap();
        assert_eq!(gpu.capacity.gpus, 4);
        assert!(inv.group_of("c4000").is_some() && inv.group_of("c4001").is_none());
        let late = late_job(&p, 4);
        assert!(jobs(&p).iter().all(|j| j.id != late.id));
        assert_eq!(late.node_list(), "c[0001-0004]");
        let mid = p.month_start + 15 * 86_400;
        assert!(late.start == mid && late.end() < p.month_start + 30 * 86_400);
    }

    #[test]
    fn shapes_are_found_by_name() {
        assert_eq!(Shape::by_name("busy").unwrap().parts.len(), 2);
        assert_eq!(Shape::by_name("default").unwrap().parts.len(), 3);
        assert!(Shape::by_name("huge").is_none());
    }

    #[test]
    #[ignore = "prints the busy month's figures at full size (release: a few seconds)"]
    fn busy_month_at_full_size() {
        let p = Params::busy();
        let js = jobs(&p);
        let most = |nodes: &mut dyn Iterator<Item = u32>| {
            let held: Vec<(f64, f64)> = nodes.map(|i| most_held(&js, 0, i)).collect();
            let n = held.len() as f64;
            let over = held.iter().filter(|h| h.0.max(h.1) > 1.0).count();
            let (c, m) = held.iter().fold((0.0, 0.0), |a, h| (a.0 + h.0, a.1 + h.1));
            (over, c / n, m / n)
        };
        println!("{:?}", stats(&p, &js));
        println!(
            "pool c0001-c0020 (held above capacity, mean peak cores, memory): {:?}",
            most(&mut (0..20))
        );
        println!(
            "c0001-c3981 every 20th: {:?}",
            most(&mut (0..200).map(|i| i * 20))
        );
    }
}
