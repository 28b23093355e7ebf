//! The bench's calls into libc, each behind a safe function (the workspace denies `unsafe`
//! outside FFI modules).
#![allow(unsafe_code)]

/// Seconds of `clock` (a CPU-time clock of this process or thread).
pub fn clock_s(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds (user + system) of this process's waited-for children.
pub fn children_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
pub fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Sets `key` in this process's environment. Call it only while no other thread reads or
/// writes the environment (here: the simulator thread, which never does).
pub fn set_env_before_threads_read_it(key: &str, value: &std::path::Path) {
    // SAFETY: per this function's contract, no other thread touches the environment.
    unsafe { std::env::set_var(key, value) };
}
