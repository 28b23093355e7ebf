//! The monotonic clock shared by every process of one boot.
//!
//! The prolog, the sampler and the epilog are three processes; durations between their
//! readings must not jump when NTP steps the wall clock. `CLOCK_BOOTTIME` is system-wide (the
//! same value in every process), never goes back, and keeps counting through a suspend.

/// Microseconds of `CLOCK_BOOTTIME`.
pub fn boottime_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every Linux that
    // Slurm supports (since 2.6.39), so the call cannot fail with these arguments.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    #[test]
    fn boottime_moves_forward() {
        let a = super::boottime_us();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = super::boottime_us();
        assert!(a > 0 && b >= a + 5_000, "{a} {b}");
    }
}
