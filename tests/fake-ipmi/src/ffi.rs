//! The interposed `ioctl` and `poll`, with the structs of the kernel's
//! `include/uapi/linux/ipmi.h` (written out by hand, as in the meters crate: three structs).
//! The only module of the crate with `unsafe` (raw pointers from the caller).
//!
//! A descriptor becomes "fake" at its first IPMI ioctl when its `(st_dev, st_ino)` is the fake
//! device's; until then nothing here reads the environment or the disk, so the
//! shim is inert in the processes it is preloaded into that never touch the device (the
//! shells, `ipmitool` fakes, std's start-up `poll` of fds 0–2).
#![allow(unsafe_code)]

use crate::{Script, device_path};
use libc::{c_int, c_long, c_short, c_uint, c_ulong, c_void, nfds_t, pollfd};
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[repr(C)]
struct IpmiMsg {
    netfn: u8,
    cmd: u8,
    data_len: u16,
    data: *mut u8,
}

#[repr(C)]
struct IpmiReq {
    addr: *mut u8,
    addr_len: c_uint,
    msgid: c_long,
    msg: IpmiMsg,
}

#[repr(C)]
struct IpmiRecv {
    recv_type: c_int,
    addr: *mut u8,
    addr_len: c_uint,
    msgid: c_long,
    msg: IpmiMsg,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SystemInterfaceAddr {
    addr_type: c_int,
    channel: c_short,
    lun: u8,
}

const fn ioc(dir: c_ulong, nr: c_ulong, size: usize) -> c_ulong {
    (dir << 30) | ((size as c_ulong) << 16) | ((b'i' as c_ulong) << 8) | nr
}
const SEND_COMMAND: c_ulong = ioc(2, 13, size_of::<IpmiReq>());
const RECEIVE_MSG_TRUNC: c_ulong = ioc(3, 11, size_of::<IpmiRecv>());

/// One queued response.
struct Pending {
    ready_at: Instant,
    msgid: c_long,
    netfn: u8,
    cmd: u8,
    data: Vec<u8>,
}

struct State {
    /// Descriptors seen to be the fake device, with its `(st_dev, st_ino)`.
    fds: Vec<(c_int, (u64, u64))>,
    queue: VecDeque<Pending>,
}

static STATE: Mutex<State> = Mutex::new(State {
    fds: Vec::new(),
    queue: VecDeque::new(),
});

type IoctlFn = unsafe extern "C" fn(c_int, c_ulong, *mut c_void) -> c_int;
type PollFn = unsafe extern "C" fn(*mut pollfd, nfds_t, c_int) -> c_int;

fn next_symbol(name: &'static [u8]) -> usize {
    // SAFETY: `name` is a NUL-terminated symbol name; RTLD_NEXT finds the definition after
    // this library (libc's).
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    assert!(
        !p.is_null(),
        "fake-ipmi: no next definition of a libc symbol"
    );
    p as usize
}

fn real_ioctl() -> IoctlFn {
    static P: OnceLock<usize> = OnceLock::new();
    let p = *P.get_or_init(|| next_symbol(b"ioctl\0"));
    // SAFETY: `p` is libc's `ioctl`, whose ABI on x86-64 for one pointer argument is this.
    unsafe { std::mem::transmute::<usize, IoctlFn>(p) }
}

fn real_poll() -> PollFn {
    static P: OnceLock<usize> = OnceLock::new();
    let p = *P.get_or_init(|| next_symbol(b"poll\0"));
    // SAFETY: `p` is libc's `poll`, of this type.
    unsafe { std::mem::transmute::<usize, PollFn>(p) }
}

fn fd_identity(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: a zeroed stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable; a bad fd is answered with EBADF.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn device_identity() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(device_path()?).ok()?;
    Some((m.dev(), m.ino()))
}

/// Whether `fd` is (still) a known fake descriptor.
fn is_known(state: &State, fd: c_int) -> bool {
    state
        .fds
        .iter()
        .any(|(f, id)| *f == fd && fd_identity(fd) == Some(*id))
}

fn set_errno(e: c_int) -> c_int {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
    -1
}

/// `ioctl(2)`, interposed.
///
/// # Safety
/// As `ioctl(2)`: `arg` must be what `request` expects.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    if request != SEND_COMMAND && request != RECEIVE_MSG_TRUNC {
        // SAFETY: passed on unchanged.
        return unsafe { real_ioctl()(fd, request, arg) };
    }
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if !is_known(&state, fd) {
        let id = fd_identity(fd);
        if id.is_none() || id != device_identity() {
            drop(state);
            // SAFETY: passed on unchanged.
            return unsafe { real_ioctl()(fd, request, arg) };
        }
        state.fds.retain(|(f, _)| *f != fd);
        state.fds.push((fd, id.unwrap_or_default()));
    }
    if request == SEND_COMMAND {
        // SAFETY: the caller passes a valid ipmi_req for IPMICTL_SEND_COMMAND.
        unsafe { send(&mut state, arg.cast()) }
    } else {
        // SAFETY: the caller passes a valid ipmi_recv for IPMICTL_RECEIVE_MSG_TRUNC.
        unsafe { receive(&mut state, arg.cast()) }
    }
}

/// # Safety
/// `req` points to a valid `ipmi_req` whose pointers are valid for their lengths.
unsafe fn send(state: &mut State, req: *const IpmiReq) -> c_int {
    // SAFETY: the caller's contract.
    let req = unsafe { &*req };
    if req.addr.is_null() || (req.addr_len as usize) < size_of::<SystemInterfaceAddr>() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: addr is valid for addr_len bytes, at least a system interface address.
    let addr = unsafe { std::ptr::read_unaligned(req.addr.cast::<SystemInterfaceAddr>()) };
    if addr.addr_type != 0x0c || addr.channel != 0x0f {
        return set_errno(libc::EINVAL);
    }
    let data = if req.msg.data.is_null() {
        &[][..]
    } else {
        // SAFETY: data is valid for data_len bytes.
        unsafe { std::slice::from_raw_parts(req.msg.data, usize::from(req.msg.data_len)) }
    };
    let is_power_reading =
        req.msg.netfn == 0x2C && req.msg.cmd == 0x02 && data.first() == Some(&0xDC);
    let answer = if is_power_reading {
        Script::current().response()
    } else {
        Some((vec![0xC1], Duration::ZERO)) // invalid command
    };
    if let Some((data, delay)) = answer {
        state.queue.push_back(Pending {
            ready_at: Instant::now() + delay,
            msgid: req.msgid,
            netfn: req.msg.netfn | 1,
            cmd: req.msg.cmd,
            data,
        });
    }
    0
}

/// # Safety
/// `recv` points to a valid `ipmi_recv` whose pointers are valid for their lengths.
unsafe fn receive(state: &mut State, recv: *mut IpmiRecv) -> c_int {
    let now = Instant::now();
    let Some(i) = state.queue.iter().position(|p| p.ready_at <= now) else {
        return set_errno(libc::EAGAIN);
    };
    let Some(p) = state.queue.remove(i) else {
        return set_errno(libc::EAGAIN);
    };
    // SAFETY: the caller's contract.
    let recv = unsafe { &mut *recv };
    let addr = SystemInterfaceAddr {
        addr_type: 0x0c,
        channel: 0x0f,
        lun: 0,
    };
    if recv.addr.is_null() || (recv.addr_len as usize) < size_of::<SystemInterfaceAddr>() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: addr is valid for addr_len bytes, at least a system interface address.
    unsafe { std::ptr::write_unaligned(recv.addr.cast::<SystemInterfaceAddr>(), addr) };
    recv.addr_len = size_of::<SystemInterfaceAddr>() as c_uint;
    recv.recv_type = 1;
    recv.msgid = p.msgid;
    recv.msg.netfn = p.netfn;
    recv.msg.cmd = p.cmd;
    let room = usize::from(recv.msg.data_len);
    let n = p.data.len().min(room);
    if n > 0 && !recv.msg.data.is_null() {
        // SAFETY: data is valid for data_len (>= n) bytes and does not overlap ours.
        unsafe { std::ptr::copy_nonoverlapping(p.data.as_ptr(), recv.msg.data, n) };
    }
    recv.msg.data_len = n as u16;
    // As the kernel: a message cut to fit is consumed and answered EMSGSIZE.
    if n < p.data.len() {
        return set_errno(libc::EMSGSIZE);
    }
    0
}

/// `poll(2)`, interposed: fake descriptors are readable when a response is due; the others
/// are polled by libc.
///
/// # Safety
/// As `poll(2)`: `fds` points to `nfds` pollfd structs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let fake: Vec<bool> = {
        let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if state.fds.is_empty() || fds.is_null() {
            drop(state);
            // SAFETY: passed on unchanged.
            return unsafe { real_poll()(fds, nfds, timeout) };
        }
        // SAFETY: the caller's contract.
        let all = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
        all.iter().map(|p| is_known(&state, p.fd)).collect()
    };
    if !fake.contains(&true) {
        // SAFETY: passed on unchanged.
        return unsafe { real_poll()(fds, nfds, timeout) };
    }
    // SAFETY: the caller's contract; nothing else holds the slice while we run.
    let all = unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) };
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    loop {
        let (ready, next) = {
            let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let ready = state.queue.iter().any(|p| p.ready_at <= now);
            let next = state.queue.iter().map(|p| p.ready_at).min();
            (ready, next)
        };
        let now = Instant::now();
        let mut wait = deadline.map_or(Duration::from_millis(50), |d| {
            d.saturating_duration_since(now)
        });
        if let Some(n) = next {
            wait = wait.min(n.saturating_duration_since(now));
        }
        if ready {
            wait = Duration::ZERO;
        }
        let mut others: Vec<pollfd> = all
            .iter()
            .zip(&fake)
            .map(|(p, f)| pollfd {
                fd: if *f { -1 } else { p.fd },
                events: p.events,
                revents: 0,
            })
            .collect();
        // SAFETY: `others` is a valid array of its length.
        let rc = unsafe {
            real_poll()(
                others.as_mut_ptr(),
                others.len() as nfds_t,
                wait.as_millis() as c_int,
            )
        };
        if rc < 0 {
            return rc;
        }
        let mut count = 0;
        for ((p, o), f) in all.iter_mut().zip(&others).zip(&fake) {
            p.revents = if *f {
                if ready { p.events & libc::POLLIN } else { 0 }
            } else {
                o.revents
            };
            count += c_int::from(p.revents != 0);
        }
        if count > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return count;
        }
    }
}
