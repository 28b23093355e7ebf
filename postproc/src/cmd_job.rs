//! `energy-assess job JOBID`: a job's records, read from the spool.

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The Slurm job id.
    pub job_id: u32,
    /// The spool directory the nodes write to.
    #[arg(long, default_value = ea_record::spool::DEFAULT_SPOOL)]
    pub spool: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("not yet written")
}
