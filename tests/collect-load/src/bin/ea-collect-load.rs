//! `ea-collect-load URL burst NODES` or `ea-collect-load URL sustained RECORDS PER_BATCH
//! MAX_SECONDS`: plays nodes against a collector on loopback (run as root: the collector takes
//! root's credentials) and prints the figures.

use ea_collect_load::{Sustained, burst, sustained};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let munge = ea_munge::Munge::new();
    // Job ids far from Slurm's, different on each run so that a run against a used store
    // stores rather than finds duplicates.
    let first_job = 3_000_000_000u32 + (std::process::id() % 1000) * 1_000_000;
    let num =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let result = match args.get(1).map(String::as_str) {
        Some("burst") => burst(&args[0], &munge, num(2, 5000), num(3, 32), first_job),
        Some("sustained") => sustained(
            &args[0],
            &munge,
            Sustained {
                records: num(2, 50_000),
                per_batch: num(3, 50),
                nodes: 5000,
                threads: 16,
                max_s: num(4, 60) as f64,
            },
            first_job,
        ),
        _ => {
            eprintln!(
                "usage: ea-collect-load URL burst [NODES] [CONNECTIONS] | URL sustained [RECORDS] [PER_BATCH] [MAX_SECONDS]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(f) => {
            println!(
                "{} records stored, {} duplicates, in {} batches; {:.3} s from first send to last ack; {:.0} records/s; slowest batch {:.3} s",
                f.stored,
                f.duplicates,
                f.batches,
                f.elapsed_s,
                f.rate(),
                f.max_latency_s
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ea-collect-load: {e}");
            ExitCode::FAILURE
        }
    }
}
