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

/// CPU time (user + system) of the calling thread so far, seconds, from
/// `/proc/thread-self/stat` (in clock ticks of 10 ms, Linux's `USER_HZ`); `None` where that
/// file is not there. Against a phase's wall time it tells a thread that works from one that
/// waits or is kept off the CPU.
pub fn thread_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A phase being timed: prints its wall time, the CPU time of the thread that timed it, and the
/// peak RSS when dropped (on the thread that started it).
pub struct Phase {
    name: &'static str,
    started: Option<(Instant, f64)>,
}

impl Phase {
    /// Starts timing `name` (a no-op unless `EA_PROFILE` is set).
    pub fn start(name: &'static str) -> Self {
        Self {
            name,
            started: enabled().then(|| (Instant::now(), thread_cpu_s().unwrap_or(0.0))),
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some((t, cpu)) = self.started {
            eprintln!(
                "[ea-profile] {}: {:.2} s, this thread's CPU {:.2} s (peak RSS {:.0} MiB)",
                self.name,
                t.elapsed().as_secs_f64(),
                thread_cpu_s().unwrap_or(0.0) - cpu,
                peak_rss_mib().unwrap_or(0.0)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_is_read_on_linux() {
        let before = thread_cpu_s().expect("/proc/thread-self/stat is there on Linux");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert!(x != 1);
        let spent = thread_cpu_s().unwrap() - before;
        assert!((0.0..5.0).contains(&spent), "{spent}");
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        let mib = peak_rss_mib().expect("/proc/self/status has VmHWM on Linux");
        assert!(mib > 0.1 && mib < 1e6, "{mib}");
    }
}
