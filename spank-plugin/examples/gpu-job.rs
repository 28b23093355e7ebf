//! `gpu-job`: one assessed job on this machine, run through the plugin's own `job_prolog` and
//! `job_epilog` but without Slurm, so that the whole measuring path can be tried on a machine
//! that has real meters and no Slurm (a borrowed GPU machine): the prolog starts the real
//! sampler (`energy-assess-sampler`, which reads the GPUs through nvml-wrapper and
//! libnvidia-ml), the job is the command given, run meanwhile, and the epilog takes the
//! sampler's final reading and writes the node's record (schema 3) to the spool.
//!
//! ```text
//! gpu-job --spool DIR --sampler PATH [--job-id N] [--gpus 0] [--interval 1s]
//!         [--nvml-library PATH] -- COMMAND ARGS...
//! ```
//!
//! Prints one JSON line: the job id, the node, the wall-clock bounds of the prolog's end and
//! the epilog's start (Unix seconds), the command's exit status and the record's path. Built
//! by tests/gpu/build-real-nvml-check.sh, run by tests/gpu/gpu-job-check.sh.

use energy_assess_spank::host::{FixedHost, Level};
use energy_assess_spank::plugin;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

struct Args {
    spool: PathBuf,
    sampler: PathBuf,
    job_id: u32,
    gpus: String,
    interval: String,
    nvml_library: Option<String>,
    command: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut spool = None;
    let mut sampler = None;
    let mut job_id = 4242;
    let mut gpus = "0".to_string();
    let mut interval = "1s".to_string();
    let mut nvml_library = None;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--" {
            let command: Vec<String> = it.collect();
            if command.is_empty() {
                return Err("no command after --".into());
            }
            return Ok(Args {
                spool: spool.ok_or("--spool DIR is required")?,
                sampler: sampler.ok_or("--sampler PATH is required")?,
                job_id,
                gpus,
                interval,
                nvml_library,
                command,
            });
        }
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--spool" => spool = Some(PathBuf::from(v)),
            "--sampler" => sampler = Some(PathBuf::from(v)),
            "--job-id" => job_id = v.parse().map_err(|_| format!("--job-id: {v:?}"))?,
            "--gpus" => gpus = v,
            "--interval" => interval = v,
            "--nvml-library" => nvml_library = Some(v),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Err(
        "usage: gpu-job --spool DIR --sampler PATH [--job-id N] [--gpus 0] [--interval 1s] \
         [--nvml-library PATH] -- COMMAND..."
            .into(),
    )
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gpu-job: {e}");
            return ExitCode::from(2);
        }
    };
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "gpu-node".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut env: HashMap<&'static str, String> = [
        ("SLURMD_NODENAME", node.clone()),
        ("SLURM_CLUSTER_NAME", "gpu-check".into()),
        ("SLURM_JOB_USER", "root".into()),
        ("SLURM_JOB_ACCOUNT", "check".into()),
        ("SLURM_JOB_PARTITION", "gpu".into()),
        ("SLURM_NODELIST", node.clone()),
        ("SLURM_JOB_NUM_NODES", "1".into()),
        ("SLURM_JOB_CPUS_PER_NODE", cpus.to_string()),
        ("SLURM_JOB_GPUS", a.gpus.clone()),
    ]
    .into_iter()
    .collect();
    // The plugin's arguments, as plugstack.conf would give them; no site file.
    let mut args = vec![
        format!("spool={}", a.spool.display()),
        format!("sampler={}", a.sampler.display()),
        format!("interval={}", a.interval),
        "config=/nonexistent/energy-assess.toml".to_string(),
    ];
    if let Some(lib) = &a.nvml_library {
        args.push(format!("nvml_library={lib}"));
    }
    // What Slurm would give the plugin on a one-node job of this machine, run as root.
    let host = |env: HashMap<&'static str, String>| FixedHost {
        env,
        job_id: a.job_id,
        uid: 0,
        gid: 0,
        print_from: Level::Debug,
    };
    plugin::job_prolog(&host(env.clone()), &args);
    let started = now_s();
    let status = std::process::Command::new(&a.command[0])
        .args(&a.command[1..])
        .status();
    let ended = now_s();
    let code = match &status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("gpu-job: could not run {:?}: {e}", a.command[0]);
            127
        }
    };
    env.insert("SLURM_JOB_EXIT_CODE", (code << 8).to_string());
    env.insert("SLURM_JOB_EXIT_CODE2", format!("{code}:0"));
    plugin::job_epilog(&host(env), &args);
    let record = std::fs::read_dir(a.spool.join("records"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("job-{}.", a.job_id)))
        });
    println!(
        "{}",
        serde_json::json!({
            "job_id": a.job_id,
            "node": node,
            "command_started": started,
            "command_ended": ended,
            "exit_code": code,
            "record": record,
        })
    );
    if record.is_some() && code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
