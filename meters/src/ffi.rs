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

/// Whether `file` lives on sysfs (statfs magic `SYSFS_MAGIC`): an attribute there is never
/// replaced while held open, so its reader need not check for that. `false` when unknown.
pub(crate) fn is_on_sysfs(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: statfs is plain old data, fully written by fstatfs on success; the fd is
    // valid for the call, borrowed from `file`.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &mut st) == 0 && st.f_type == libc::SYSFS_MAGIC
    }
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

/// The kernel's OpenIPMI character device (`ipmi_devintf`, `/dev/ipmi0`): the structs and
/// ioctl numbers of `include/uapi/linux/ipmi.h`, written out by hand. Three small structs and
/// two ioctl numbers do not justify bindgen (and libclang in every build); their layout on
/// x86-64 is checked against the kernel's sizes in the tests of `crate::ipmi_dev`.
pub(crate) mod ipmi {
    use libc::{c_int, c_long, c_short, c_uint, c_ulong};
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;
    use std::time::Duration;

    /// `struct ipmi_msg`.
    #[repr(C)]
    struct IpmiMsg {
        netfn: u8,
        cmd: u8,
        data_len: u16,
        data: *mut u8,
    }

    /// `struct ipmi_req` (IPMICTL_SEND_COMMAND).
    #[repr(C)]
    pub(crate) struct IpmiReq {
        addr: *mut u8,
        addr_len: c_uint,
        msgid: c_long,
        msg: IpmiMsg,
    }

    /// `struct ipmi_recv` (IPMICTL_RECEIVE_MSG_TRUNC).
    #[repr(C)]
    pub(crate) struct IpmiRecv {
        recv_type: c_int,
        addr: *mut u8,
        addr_len: c_uint,
        msgid: c_long,
        msg: IpmiMsg,
    }

    /// `struct ipmi_system_interface_addr`: the BMC itself.
    #[repr(C)]
    pub(crate) struct SystemInterfaceAddr {
        addr_type: c_int,
        channel: c_short,
        lun: u8,
    }

    /// `IPMI_SYSTEM_INTERFACE_ADDR_TYPE`.
    const SYSTEM_INTERFACE_ADDR_TYPE: c_int = 0x0c;
    /// `IPMI_MAX_MSG_LENGTH` of `linux/ipmi.h`: the most data a request carries.
    const MAX_MSG_LENGTH: usize = 272;
    /// `IPMI_BMC_CHANNEL`.
    const BMC_CHANNEL: c_short = 0x0f;

    /// `_IOC(dir, 'i', nr, size)` of `asm-generic/ioctl.h` (x86-64, arm64: 2 direction bits
    /// at 30, 14 size bits at 16).
    const fn ioc(dir: c_ulong, nr: c_ulong, size: usize) -> c_ulong {
        (dir << 30) | ((size as c_ulong) << 16) | ((b'i' as c_ulong) << 8) | nr
    }
    /// `_IOR('i', 13, struct ipmi_req)`.
    pub(crate) const SEND_COMMAND: c_ulong = ioc(2, 13, size_of::<IpmiReq>());
    /// `_IOWR('i', 11, struct ipmi_recv)`.
    pub(crate) const RECEIVE_MSG_TRUNC: c_ulong = ioc(3, 11, size_of::<IpmiRecv>());

    /// A message the driver handed back.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Received {
        /// `IPMI_RESPONSE_RECV_TYPE` (1) for a response.
        pub recv_type: i32,
        /// The request's msgid.
        pub msgid: i64,
        /// The response's netfn (the request's + 1).
        pub netfn: u8,
        /// The command.
        pub cmd: u8,
        /// Bytes of data written to the caller's buffer.
        pub len: usize,
        /// The message was longer than the buffer and was cut (EMSGSIZE).
        pub truncated: bool,
    }

    /// An open `/dev/ipmi0`.
    #[derive(Debug)]
    pub(crate) struct Device(File);

    impl Device {
        /// `open(path, O_RDWR | O_CLOEXEC)` (std opens with O_CLOEXEC).
        pub(crate) fn open(path: &Path) -> io::Result<Self> {
            File::options().read(true).write(true).open(path).map(Self)
        }

        /// IPMICTL_SEND_COMMAND to the BMC (system interface, LUN 0).
        pub(crate) fn send(&self, msgid: i64, netfn: u8, cmd: u8, data: &[u8]) -> io::Result<()> {
            let mut addr = SystemInterfaceAddr {
                addr_type: SYSTEM_INTERFACE_ADDR_TYPE,
                channel: BMC_CHANNEL,
                lun: 0,
            };
            // On the stack: a request is a few bytes (DCMI's is 4), at most the driver's
            // IPMI_MAX_MSG_LENGTH.
            let mut buf = [0u8; MAX_MSG_LENGTH];
            let Some(request) = buf.get_mut(..data.len()) else {
                return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
            };
            request.copy_from_slice(data);
            let data = request;
            let mut req = IpmiReq {
                addr: (&raw mut addr).cast(),
                addr_len: size_of::<SystemInterfaceAddr>() as c_uint,
                msgid: msgid as c_long,
                msg: IpmiMsg {
                    netfn,
                    cmd,
                    data_len: u16::try_from(data.len())
                        .map_err(|_| io::Error::from_raw_os_error(libc::EMSGSIZE))?,
                    data: data.as_mut_ptr(),
                },
            };
            // SAFETY: `req` is a valid ipmi_req whose address and data pointers point to live
            // buffers of the lengths given; the driver only reads them during the call.
            let rc = unsafe { libc::ioctl(self.0.as_raw_fd(), SEND_COMMAND as _, &raw mut req) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// `poll(POLLIN)` for at most `timeout`: whether a message is waiting. Retries after
        /// EINTR with the time left.
        pub(crate) fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                // Round up so that a sub-millisecond remainder still waits.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as c_int;
                let mut p = libc::pollfd {
                    fd: self.0.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: `p` is one valid pollfd.
                let rc = unsafe { libc::poll(&raw mut p, 1, ms) };
                if rc > 0 {
                    return Ok(true);
                }
                if rc == 0 {
                    return Ok(false);
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }

        /// IPMICTL_RECEIVE_MSG_TRUNC into `buf`. EAGAIN (nothing waiting) is an error of kind
        /// `WouldBlock`; a message cut to fit `buf` is returned with `truncated`.
        pub(crate) fn receive(&self, buf: &mut [u8]) -> io::Result<Received> {
            let mut addr = SystemInterfaceAddr {
                addr_type: 0,
                channel: 0,
                lun: 0,
            };
            let mut recv = IpmiRecv {
                recv_type: 0,
                addr: (&raw mut addr).cast(),
                addr_len: size_of::<SystemInterfaceAddr>() as c_uint,
                msgid: 0,
                msg: IpmiMsg {
                    netfn: 0,
                    cmd: 0,
                    data_len: u16::try_from(buf.len()).unwrap_or(u16::MAX),
                    data: buf.as_mut_ptr(),
                },
            };
            // SAFETY: `recv` is a valid ipmi_recv; the driver writes at most addr_len bytes to
            // `addr` and data_len (<= buf.len()) bytes to `buf`, both live for the call.
            let rc =
                unsafe { libc::ioctl(self.0.as_raw_fd(), RECEIVE_MSG_TRUNC as _, &raw mut recv) };
            let truncated = if rc < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EMSGSIZE) {
                    return Err(e);
                }
                true
            } else {
                false
            };
            // `c_long` is i64 on 64-bit Linux only.
            #[allow(clippy::useless_conversion)]
            Ok(Received {
                recv_type: recv.recv_type,
                msgid: i64::from(recv.msgid),
                netfn: recv.msg.netfn,
                cmd: recv.msg.cmd,
                len: usize::from(recv.msg.data_len).min(buf.len()),
                truncated,
            })
        }
    }
}
