//! Phase timings for finding where a large ingest or report spends its time, printed to
//! standard error when `EA_PROFILE` is set (to anything). Off, it costs one environment lookup
//! per phase.
//!
//! ```text
//! EA_PROFILE=1 energy-assess ingest --sacct month.txt --spool /var/spool/energy-assess
//! [ea-profile] sacct dump: 2.41 s (peak RSS 412 MiB)
//! ```

use std::time::Instant;

/// Whether phase timings are printed.
pub fn enabled() -> bool {
    std::env::var_os("EA_PROFILE").is_some()
}

/// The process's peak resident set so far, MiB, from `/proc/self/status` (`VmHWM`); `None`
/// where that file is not there.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// A phase being timed: prints its wall time and the peak RSS when dropped.
pub struct Phase {
    name: &'static str,
    started: Option<Instant>,
}

impl Phase {
    /// Starts timing `name` (a no-op unless `EA_PROFILE` is set).
    pub fn start(name: &'static str) -> Self {
        Self {
            name,
            started: enabled().then(Instant::now),
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(t) = self.started {
            eprintln!(
                "[ea-profile] {}: {:.2} s (peak RSS {:.0} MiB)",
                self.name,
                t.elapsed().as_secs_f64(),
                peak_rss_mib().unwrap_or(0.0)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_on_linux() {
        let mib = peak_rss_mib().expect("/proc/self/status has VmHWM on Linux");
        assert!(mib > 0.1 && mib < 1e6, "{mib}");
    }
}
