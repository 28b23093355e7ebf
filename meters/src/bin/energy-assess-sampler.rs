//! `energy-assess-sampler`: the per-job sampler started by the SPANK plugin's job_prolog (see
//! `ea_meters::sampler`). Not meant to be run by hand, but harmless if it is:
//!
//! ```text
//! energy-assess-sampler run --spool DIR --job-id N --node NAME [--sysroot /] [--interval-ms 10000] ...
//! energy-assess-sampler snapshot --spool DIR --job-id N --node NAME --out FILE ...
//! energy-assess-sampler keep --spool DIR --job-id N --node NAME --out FILE < record
//! ```

use ea_meters::sampler::{self, SamplerCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    ea_meters::signals::close_inherited_fds();
    match SamplerCommand::parse(std::env::args_os().skip(1)) {
        Ok(SamplerCommand::Run(args)) => ExitCode::from(sampler::run(&args) as u8),
        Ok(SamplerCommand::Snapshot(args, out)) => {
            ExitCode::from(sampler::snapshot(&args, &out) as u8)
        }
        Ok(SamplerCommand::Keep(args, out)) => ExitCode::from(ea_meters::keep::run(&args, &out)),
        Err(e) => {
            eprintln!("energy-assess-sampler: {e}");
            ExitCode::from(2)
        }
    }
}
