//! What the node side reads from outside: the BMC's DCMI reading (`ipmitool dcmi power
//! reading`, FreeIPMI's `ipmi-dcmi`, `ipmiutil dcmi`) and `ipmitool sdr` listings
//! (`ea_meters::ipmi::{parse_dcmi, parse_sdr_watts}`), sysfs integers, powercap zone and hwmon
//! attribute names, `/proc/cpuinfo`, the job's GPU variables (`SLURM_JOB_GPUS`,
//! `CUDA_VISIBLE_DEVICES`) matched against the node's GPUs, and the plugin's inputs from Slurm:
//! `--energy-assess=MODE`, `SLURM_JOB_EXIT_CODE2`, plugstack.conf arguments (durations, meter
//! sources). Whole-text readers get the whole input; the others get each of its lines.
//!
//! There is no reader of `nvidia-smi` output in the project (GPUs are read through NVML), so no
//! target for it; the nvidia-smi captures seed the GPU variables here instead.
//!
//! Asserts:
//! - a DCMI reading's powers are non-negative numbers (never NaN); an SDR power line is one of
//!   the input's lines;
//! - `match_job_gpus` says, for each GPU, whether the job holds it, and lists only items of the
//!   job's list as unmatched; an item matching no GPU is unmatched;
//! - a MODE is never both on and off; an exit code prints back as itself; meter sources print
//!   as a list that reads back as the same sources; a plugstack duration is inside the bounds
//!   asked for; a configuration built from plugstack arguments keeps the plugin's promises
//!   (`ea_fuzz::check_plugin_config`).
#![no_main]

use ea_meters::Sources;
use ea_meters::ipmi::{parse_dcmi, parse_sdr_watts};
use ea_meters::nvml::{job_gpus_from_env, match_job_gpus};
use ea_record::JobExit;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// A node's GPUs as NVML lists them (index, UUID): the A100 node of the `nvidia-smi -L` capture
/// in shared/realdata/energy/ceems/nvidia-smi.
const GPUS: &[(u32, &str)] = &[
    (0, "GPU-f124aa59-d406-d45b-9481-8fcd694e6c9e"),
    (1, "GPU-61a65011-6571-a6d2-5ab8-66cbb6f7f9c3"),
    (2, "GPU-956348bc-d43d-23ed-53d4-857749fa2b67"),
    (3, "GPU-feba7e40-d724-01ff-b00f-3a439a28a6c7"),
];

fn bmc(text: &str) {
    if let Ok(r) = parse_dcmi(text) {
        for w in [Some(r.current_w), r.minimum_w, r.maximum_w, r.average_w]
            .into_iter()
            .flatten()
        {
            assert!(!w.is_nan() && w >= 0.0, "a power of {w} W from {text:?}");
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let sdr = parse_sdr_watts(text);
    assert!(sdr.len() <= lines.len(), "{sdr:?}");
    for s in &sdr {
        assert!(
            lines.iter().any(|l| l.contains(s.sensor.as_str())),
            "sensor {:?} is on no line",
            s.sensor
        );
    }
}

fn gpus(line: &str) {
    let env = |var: &str| (var == "CUDA_VISIBLE_DEVICES").then(|| line.to_string());
    let items = job_gpus_from_env(env);
    for i in &items {
        assert!(!i.is_empty() && !i.contains(','), "item {i:?} of {line:?}");
    }
    let (owned, unmatched) = match_job_gpus(&items, GPUS);
    assert_eq!(owned.len(), GPUS.len());
    for u in &unmatched {
        assert!(items.contains(u), "unmatched {u:?} is not in {items:?}");
    }
    if owned.iter().all(|o| !o) {
        assert_eq!(
            unmatched.len(),
            items.len(),
            "nothing matched, yet {unmatched:?}"
        );
    }
}

fn plugin_line(line: &str) {
    if let Ok(m) = energy_assess_spank::mode::parse_mode(Some(line)) {
        let words: Vec<String> = line
            .split(',')
            .map(|w| w.trim().to_ascii_lowercase())
            .collect();
        assert!(
            !(m.off && words.iter().any(|w| w == "on" || w == "yes")),
            "{line:?} is both on and off"
        );
    }
    for status in [None, Some(0), Some(-1)] {
        if let Some(e) = JobExit::parse(line, status) {
            assert_eq!(JobExit::parse(&e.to_string(), status), Some(e), "{line:?}");
        }
    }
    if let Ok(s) = Sources::parse(line) {
        assert_eq!(Sources::parse(&s.to_list()), Ok(s), "{line:?}");
    }
    let (min, max) = (Duration::from_millis(50), Duration::from_secs(3600));
    if let Ok(d) = energy_assess_spank::config::parse_duration(line, min, max) {
        assert!((min..=max).contains(&d), "{line:?} is {d:?}");
    }
    let _ = ea_meters::files::parse_u64(line);
    let _ = ea_meters::rapl::parse_zone_dir_name(line);
    let _ = ea_meters::rapl::scope_for_zone_name(line);
    let _ = ea_meters::hwmon::parse_channel(line);
}

fn plugstack(lines: &[&str]) {
    // Arguments as on a plugstack.conf line; `config=` always names a file that is not there,
    // so that nothing on the machine is read.
    let mut args = vec!["config=/nonexistent/energy-assess.toml".to_string()];
    args.extend(
        lines
            .iter()
            .filter(|a| !a.starts_with("config="))
            .take(16)
            .map(|a| a.to_string()),
    );
    let (config, _problems) = energy_assess_spank::config::load(&args);
    ea_fuzz::check_plugin_config(&config);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    bmc(text);
    let _ = ea_meters::host::cpu_model_from_cpuinfo(text);
    let lines: Vec<&str> = text.lines().collect();
    for line in lines.iter().take(64) {
        gpus(line);
        plugin_line(line);
    }
    plugstack(&lines);
});
