//! The monotonic clock shared by every process of one boot.
//!
//! The prolog, the sampler and the epilog are three processes; durations between their
//! readings must not jump when NTP steps the wall clock. `CLOCK_BOOTTIME` is system-wide (the
//! same value in every process), never goes back, and keeps counting through a suspend.

/// Microseconds of `CLOCK_BOOTTIME`.
pub fn boottime_us() -> u64 {
    // CLOCK_BOOTTIME exists on every Linux that Slurm supports (since 2.6.39), so the call
    // cannot fail; 0 if it ever did.
    crate::ffi::clock_us(libc::CLOCK_BOOTTIME).unwrap_or(0)
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
