//! Every call into C of this crate (libc, and NVML's raw device handles), each behind a safe
//! function, so that the rest of the crate needs no `unsafe` (the workspace denies it outside
//! the FFI modules).
#![allow(unsafe_code)]

use std::process::Command;

/// `clock_gettime(clock)` in microseconds; `None` if the clock cannot be read.
pub(crate) fn clock_us(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an unknown clock id is answered with EINVAL.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000)
}

/// A signal set holding SIGTERM and SIGINT, the sampler's stop signals.
fn stop_set() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it;
    // sigaddset cannot fail with these valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM and SIGINT for this thread and ignores SIGHUP and SIGPIPE.
pub(crate) fn block_stop_signals() {
    let set = stop_set();
    // SAFETY: `set` is an initialised sigset_t and a null old-set pointer is allowed; installing
    // SIG_IGN has no handler code to be unsafe.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// `sigtimedwait` for SIGTERM or SIGINT: the signal, or the errno.
pub(crate) fn wait_stop_signal(ts: &libc::timespec) -> Result<i32, Option<i32>> {
    let set = stop_set();
    // SAFETY: `set` is an initialised sigset_t and `ts` a valid timespec; a null siginfo
    // pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), ts) };
    if sig > 0 {
        Ok(sig)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error())
    }
}

/// Closes every file descriptor above 2.
pub(crate) fn close_fds_above_2() {
    // SAFETY: close_range(3, MAX, 0) only closes descriptors; the caller (the sampler's main,
    // first thing) uses none above 2 yet. Kernels older than 5.9 answer ENOSYS and the loop
    // below does the same work.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc != 0 {
        for fd in 3..4096 {
            // SAFETY: as above; EBADF for descriptors that are not open is ignored.
            unsafe { libc::close(fd) };
        }
    }
}

/// `nice(inc)`, failure ignored.
pub(crate) fn nice(inc: i32) {
    // SAFETY: nice() only changes this process's priority; a failure (-1 with errno) is
    // harmless.
    unsafe {
        libc::nice(inc);
    }
}

/// `kill(pid, signal)` for a positive pid; whether it was delivered.
pub(crate) fn kill(pid: libc::pid_t, signal: i32) -> bool {
    debug_assert!(pid > 0, "never signal a process group by mistake");
    // SAFETY: kill() with a positive pid only signals that process.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Makes `cmd`'s child call `setsid()` before it runs its program.
pub(crate) fn setsid_before_exec(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid() is async-signal-safe and touches no memory of the parent, as a
    // pre_exec hook must.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// This process's effective uid.
#[cfg(test)]
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// NVML's raw handle of one GPU, kept so that a reading does not look the GPU up by index (an
/// NVML call per GPU per reading). Valid until `nvmlShutdown`, that is while the `Nvml` it came
/// from lives: keep it beside that `Nvml`, as `NvmlSource` does.
#[derive(Debug)]
pub(crate) struct DeviceHandle(nvml_wrapper_sys::bindings::nvmlDevice_t);

impl DeviceHandle {
    /// The handle of a live device.
    pub(crate) fn of(device: &nvml_wrapper::Device<'_>) -> Self {
        // SAFETY: reading the raw handle out of a live Device has no preconditions; it is used
        // only through [`DeviceHandle::device`], with the `Nvml` it came from.
        Self(unsafe { device.handle() })
    }

    /// The device again, for one reading. `nvml` must be the instance this handle came from
    /// (crate-internal: `NvmlSource` keeps both together and passes its own).
    pub(crate) fn device<'n>(&self, nvml: &'n nvml_wrapper::Nvml) -> nvml_wrapper::Device<'n> {
        // SAFETY: the handle came from `nvml` (the caller's contract above), which is still
        // initialised since we borrow it.
        unsafe { nvml_wrapper::Device::new(self.0, nvml) }
    }
}
