//! `energy-assess`: what each Slurm job cost in electricity and environmental impact.
//!
//! Subcommands live in their own modules; this file only parses the command line and
//! dispatches. Errors reach the user through `anyhow` with the context each layer added.
#![forbid(unsafe_code)]

mod cmd_acct;
mod cmd_collect;
mod cmd_ingest;
mod cmd_inventory;
mod cmd_job;
mod cmd_report;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Ingest and report allocate millions of small strings; mimalloc halves their cost against
// glibc's allocator (see the month benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "energy-assess",
    version,
    about = "Energy and environmental footprint (primary energy, GWP, ADPe) of Slurm jobs",
    long_about = "Energy and environmental footprint of Slurm jobs.\n\n\
        Jobs submitted with `--energy-assess` are measured on every node by the SPANK plugin; \
        this tool reads what the nodes wrote, adds the manufacturing (embodied) impact of the \
        hardware and the use-phase impact of the electricity, and answers per job, per user, \
        per account and per month."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show one job's energy per node and meter and its footprint (PE, GWP, ADPe), from the
    /// spool the moment it ends, else from the store.
    ///
    /// As root (or with read access to the spool), the nodes' records give every meter of every
    /// node as soon as the epilogs have run; the footprint adds the use-phase and embodied impacts
    /// from the inventory. Otherwise the job is read from the store, where a user who is not an
    /// admin sees only their own jobs.
    Job(cmd_job::Args),
    /// Check, show or collect the node inventory (hardware, embodied impact per node-hour).
    Inventory(cmd_inventory::Args),
    Ingest(cmd_ingest::Args),
    Acct(cmd_acct::Args),
    Report(cmd_report::Args),
    Collect(cmd_collect::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Job(args) => cmd_job::run(args),
        Command::Inventory(args) => cmd_inventory::run(args),
        Command::Ingest(args) => cmd_ingest::run(args),
        Command::Acct(args) => cmd_acct::run(args),
        Command::Report(args) => cmd_report::run(args),
        Command::Collect(args) => cmd_collect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("energy-assess: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
