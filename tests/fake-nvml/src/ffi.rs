//! NVML's entry points with the C ABI and return codes of `nvml.h`, over the GPUs of the
//! [`FakeConfig`]. The only module of the crate with `unsafe` (raw pointers from the caller).
#![allow(unsafe_code)]

use crate::{CALLS_ENV, CONFIG_ENV, CallCounts, FakeConfig, FakeGpu, now_unix_s};
use std::ffi::{CStr, c_char, c_uint, c_ulonglong, c_void};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

type NvmlReturn = c_uint;
const SUCCESS: NvmlReturn = 0;
const ERROR_UNINITIALIZED: NvmlReturn = 1;
const ERROR_INVALID_ARGUMENT: NvmlReturn = 2;
const ERROR_NOT_SUPPORTED: NvmlReturn = 3;
const ERROR_NO_PERMISSION: NvmlReturn = 4;
const ERROR_INSUFFICIENT_SIZE: NvmlReturn = 7;
const ERROR_DRIVER_NOT_LOADED: NvmlReturn = 9;
const ERROR_GPU_IS_LOST: NvmlReturn = 15;
const ERROR_UNKNOWN: NvmlReturn = 999;

/// `nvmlMemory_t` (v1) of nvml.h.
#[repr(C)]
pub struct NvmlMemoryV1 {
    pub total: c_ulonglong,
    pub free: c_ulonglong,
    pub used: c_ulonglong,
}

/// `nvmlMemory_v2_t` of nvml.h.
#[repr(C)]
pub struct NvmlMemoryV2 {
    pub version: c_uint,
    pub total: c_ulonglong,
    pub reserved: c_ulonglong,
    pub free: c_ulonglong,
    pub used: c_ulonglong,
}

struct State {
    init_count: u32,
    path: Option<PathBuf>,
    mtime: Option<SystemTime>,
    config: Option<FakeConfig>,
}

/// Calls of the two reading entry points since the library was loaded (see [`CALLS_ENV`]).
static ENERGY_CALLS: AtomicU64 = AtomicU64::new(0);
static POWER_CALLS: AtomicU64 = AtomicU64::new(0);

/// Writes the call counts to `$EA_FAKE_NVML_CALLS`, when it is set (at the last shutdown).
fn write_call_counts() {
    let Some(path) = std::env::var_os(CALLS_ENV) else {
        return;
    };
    let counts = CallCounts {
        total_energy_consumption: ENERGY_CALLS.load(Ordering::Relaxed),
        power_usage: POWER_CALLS.load(Ordering::Relaxed),
    };
    // A test that asked for the counts fails on a missing file, which says more than a
    // panic across the C boundary would.
    let _ = counts.write(std::path::Path::new(&path));
}

static STATE: Mutex<State> = Mutex::new(State {
    init_count: 0,
    path: None,
    mtime: None,
    config: None,
});

/// `$EA_FAKE_NVML_CONFIG`, else `$EA_SYSROOT/fake-nvml.json` (the sampler sets `EA_SYSROOT` to
/// its sysroot, so each simulated node of a one-host cluster can have its own GPUs).
fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(std::env::var_os("EA_SYSROOT")?).join("fake-nvml.json");
    p.exists().then_some(p)
}

/// Loads the config at init, and again whenever the file's mtime changed.
fn refresh(state: &mut State) -> Result<(), NvmlReturn> {
    let path = match &state.path {
        Some(p) => p.clone(),
        None => {
            let p = config_path().ok_or(ERROR_DRIVER_NOT_LOADED)?;
            state.path = Some(p.clone());
            p
        }
    };
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map_err(|_| ERROR_UNKNOWN)?;
    if state.config.is_none() || state.mtime != Some(mtime) {
        let bytes = std::fs::read(&path).map_err(|_| ERROR_UNKNOWN)?;
        let config: FakeConfig = serde_json::from_slice(&bytes).map_err(|_| ERROR_UNKNOWN)?;
        state.config = Some(config);
        state.mtime = Some(mtime);
    }
    Ok(())
}

/// Runs `f` on the current config, if the library is initialised.
fn with_config<T>(f: impl FnOnce(&FakeConfig) -> Result<T, NvmlReturn>) -> Result<T, NvmlReturn> {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if state.init_count == 0 {
        return Err(ERROR_UNINITIALIZED);
    }
    refresh(&mut state)?;
    f(state.config.as_ref().ok_or(ERROR_UNKNOWN)?)
}

/// Runs `f` on the GPU behind a handle (the handle is the GPU's index + 1).
fn with_gpu<T>(
    device: *mut c_void,
    f: impl FnOnce(u32, &FakeGpu) -> Result<T, NvmlReturn>,
) -> Result<T, NvmlReturn> {
    with_config(|c| {
        let index = (device as usize)
            .checked_sub(1)
            .ok_or(ERROR_INVALID_ARGUMENT)?;
        let gpu = c.gpus.get(index).ok_or(ERROR_INVALID_ARGUMENT)?;
        if gpu.lost {
            return Err(ERROR_GPU_IS_LOST);
        }
        f(index as u32, gpu)
    })
}

fn code(r: Result<(), NvmlReturn>) -> NvmlReturn {
    r.err().unwrap_or(SUCCESS)
}

/// Writes `value` through an out-pointer after a null check.
///
/// # Safety
/// `out` is null or valid for writing a `T`.
unsafe fn put<T>(out: *mut T, value: T) -> Result<(), NvmlReturn> {
    if out.is_null() {
        return Err(ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: not null, and valid for writes by the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Copies a string and its NUL into a caller's buffer of `len` bytes.
///
/// # Safety
/// `buf` is null or valid for writing `len` bytes.
unsafe fn put_str(buf: *mut c_char, len: c_uint, s: &str) -> Result<(), NvmlReturn> {
    if buf.is_null() {
        return Err(ERROR_INVALID_ARGUMENT);
    }
    if s.len() + 1 > len as usize {
        return Err(ERROR_INSUFFICIENT_SIZE);
    }
    // SAFETY: `buf` holds `len` >= s.len() + 1 bytes by the caller's contract, and does not
    // overlap our string.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr().cast::<c_char>(), buf, s.len());
        buf.add(s.len()).write(0);
    }
    Ok(())
}

fn init() -> NvmlReturn {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = refresh(&mut state) {
        return e;
    }
    match state.config.as_ref().and_then(|c| c.init_error.as_deref()) {
        None => {}
        Some("driver-not-loaded") => return ERROR_DRIVER_NOT_LOADED,
        Some("no-permission") => return ERROR_NO_PERMISSION,
        Some(_) => return ERROR_UNKNOWN,
    }
    state.init_count += 1;
    SUCCESS
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInit_v2() -> NvmlReturn {
    init()
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> NvmlReturn {
    init()
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlShutdown() -> NvmlReturn {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if state.init_count == 0 {
        return ERROR_UNINITIALIZED;
    }
    state.init_count -= 1;
    if state.init_count == 0 {
        write_call_counts();
    }
    SUCCESS
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlErrorString(result: NvmlReturn) -> *const c_char {
    let s: &'static CStr = match result {
        SUCCESS => c"Success",
        ERROR_UNINITIALIZED => c"Uninitialized",
        ERROR_INVALID_ARGUMENT => c"Invalid Argument",
        ERROR_NOT_SUPPORTED => c"Not Supported",
        ERROR_NO_PERMISSION => c"Insufficient Permissions",
        ERROR_INSUFFICIENT_SIZE => c"Insufficient Size",
        ERROR_DRIVER_NOT_LOADED => c"Driver Not Loaded",
        ERROR_GPU_IS_LOST => c"GPU is lost",
        _ => c"Unknown Error",
    };
    s.as_ptr()
}

/// # Safety
/// `version` is null or valid for writing `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(
    version: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_config(|c| unsafe {
        put_str(version, length, &c.driver_version)
    }))
}

/// # Safety
/// `version` is null or valid for writing `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetNVMLVersion(
    version: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_config(|_| unsafe {
        put_str(version, length, "12.999.99-fake")
    }))
}

/// # Safety
/// `count` is null or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_config(|c| unsafe {
        put(count, c.gpus.len() as c_uint)
    }))
}

/// # Safety
/// `device` is null or valid for writing a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut *mut c_void,
) -> NvmlReturn {
    code(with_config(|c| {
        if index as usize >= c.gpus.len() {
            return Err(ERROR_INVALID_ARGUMENT);
        }
        // An opaque handle, never dereferenced: the index + 1, so that it is never null.
        let handle = (index as usize + 1) as *mut c_void;
        // SAFETY: forwarded caller contract.
        unsafe { put(device, handle) }
    }))
}

/// # Safety
/// `index` is null or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetIndex(device: *mut c_void, index: *mut c_uint) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_gpu(device, |i, _| unsafe { put(index, i) }))
}

/// # Safety
/// `uuid` is null or valid for writing `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: *mut c_void,
    uuid: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_gpu(device, |_, g| unsafe {
        put_str(uuid, length, &g.uuid)
    }))
}

/// # Safety
/// `name` is null or valid for writing `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: *mut c_void,
    name: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    // SAFETY: forwarded caller contract.
    code(with_gpu(device, |_, g| unsafe {
        put_str(name, length, &g.name)
    }))
}

/// # Safety
/// `memory` is null or valid for writing an `nvmlMemory_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo(
    device: *mut c_void,
    memory: *mut NvmlMemoryV1,
) -> NvmlReturn {
    code(with_gpu(device, |_, g| {
        let total = g.memory_total_mib * 1024 * 1024;
        // SAFETY: forwarded caller contract.
        unsafe {
            put(
                memory,
                NvmlMemoryV1 {
                    total,
                    free: total,
                    used: 0,
                },
            )
        }
    }))
}

/// # Safety
/// `memory` is null or valid for reading and writing an `nvmlMemory_v2_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo_v2(
    device: *mut c_void,
    memory: *mut NvmlMemoryV2,
) -> NvmlReturn {
    code(with_gpu(device, |_, g| {
        if memory.is_null() {
            return Err(ERROR_INVALID_ARGUMENT);
        }
        // SAFETY: not null, and valid for reads by the caller's contract; the caller sets the
        // version field before the call, as nvml.h requires.
        let version = unsafe { (*memory).version };
        let total = g.memory_total_mib * 1024 * 1024;
        // SAFETY: forwarded caller contract.
        unsafe {
            put(
                memory,
                NvmlMemoryV2 {
                    version,
                    total,
                    reserved: 0,
                    free: total,
                    used: 0,
                },
            )
        }
    }))
}

/// # Safety
/// `energy` is null or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetTotalEnergyConsumption(
    device: *mut c_void,
    energy: *mut c_ulonglong,
) -> NvmlReturn {
    ENERGY_CALLS.fetch_add(1, Ordering::Relaxed);
    code(with_gpu(device, |_, g| {
        if !g.energy_counter {
            return Err(ERROR_NOT_SUPPORTED);
        }
        // SAFETY: forwarded caller contract.
        unsafe { put(energy, g.counter_mj_at(now_unix_s())) }
    }))
}

/// # Safety
/// `power` is null or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetPowerUsage(
    device: *mut c_void,
    power: *mut c_uint,
) -> NvmlReturn {
    POWER_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: forwarded caller contract.
    code(with_gpu(device, |_, g| unsafe {
        put(power, (g.power_w * 1000.0).round() as c_uint)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_bounded() {
        let mut buf = [1 as c_char; 8];
        // SAFETY: buf holds 8 bytes.
        assert_eq!(unsafe { put_str(buf.as_mut_ptr(), 8, "GPU-123") }, Ok(()));
        assert_eq!(buf[7], 0);
        // SAFETY: as above.
        assert_eq!(
            unsafe { put_str(buf.as_mut_ptr(), 8, "GPU-1234") },
            Err(ERROR_INSUFFICIENT_SIZE)
        );
        // SAFETY: a null buffer is allowed and refused.
        assert_eq!(
            unsafe { put_str(std::ptr::null_mut(), 8, "x") },
            Err(ERROR_INVALID_ARGUMENT)
        );
    }
}
