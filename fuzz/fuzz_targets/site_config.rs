//! Site configuration files (TOML): the post-processor's `ea_store::config::Config::parse`
//! (configs/postproc.toml) and the SPANK plugin's `energy_assess_spank::config::parse_file`
//! (/etc/slurm/energy-assess.toml). Each exec gives the text to both.
//!
//! Asserts, for a file each accepts:
//! - post-processor: every power (per core, per GPU, per GB, and each partition's) is finite and
//!   non-negative, the uncalibrated range is finite with 0 < low <= 1 <= high, the cluster is not
//!   empty, at least one measured job calibrates, the grace period is not negative;
//! - plugin: the sampling interval is in [100 ms, 1 h] and the stop timeout in [50 ms, 30 s],
//!   as the file's documentation says; the spool is an absolute path and the sysroot starts
//!   with `/`; the meter sources print as a list that reads back as the same sources.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn postproc(text: &str) {
    let Ok(c) = ea_store::config::Config::parse(text, Path::new("/nonexistent/postproc.toml"))
    else {
        return;
    };
    let e = &c.estimate;
    let mut tdps = vec![("default", &e.default)];
    tdps.extend(e.partitions.iter().map(|(n, t)| (n.as_str(), t)));
    for (name, t) in tdps {
        for (what, w) in [("cpu_w_per_core", t.cpu_w_per_core), ("gpu_w", t.gpu_w)] {
            assert!(w.is_finite() && w >= 0.0, "partition {name}: {what} = {w}");
        }
    }
    assert!(
        e.memory_w_per_gb.is_finite() && e.memory_w_per_gb >= 0.0,
        "memory_w_per_gb = {}",
        e.memory_w_per_gb
    );
    let (lo, hi) = e.uncalibrated_range;
    assert!(
        lo > 0.0 && lo <= 1.0 && hi >= 1.0 && hi.is_finite(),
        "uncalibrated_range = [{lo}, {hi}]"
    );
    assert!(e.min_calibration_jobs >= 1);
    assert!(!c.cluster.trim().is_empty(), "cluster `{}`", c.cluster);
    assert!(
        c.record_grace_s >= 0,
        "record_grace_s = {}",
        c.record_grace_s
    );
}

fn plugin(text: &str) {
    let Ok(c) =
        energy_assess_spank::config::parse_file(text, Path::new("/etc/slurm/energy-assess.toml"))
    else {
        return;
    };
    ea_fuzz::check_plugin_config(&c);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    postproc(text);
    plugin(text);
});
