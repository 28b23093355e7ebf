//! The Slurm boundary: the symbols Slurm looks up, and [`FfiHost`], the safe view of a
//! `spank_t` handle. All of the plugin's `unsafe` is in this file.
//!
//! Every exported function is a one-line shim into [`guard`], which runs the Rust body under
//! `catch_unwind`, so a panic becomes a logged error and never crosses into C. Callbacks
//! return `ESPANK_SUCCESS` even when the plugin fails: a job_prolog error would drain the node,
//! and the plugin's own trouble must never cost a user their job or a site its node.
#![allow(unsafe_code)]

use crate::host::{ArrayTask, Context, Level, OptionValue, SpankHost, WriteAsUserError};
use crate::plugin;
use slurm_sys as sys;
use std::cell::UnsafeCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

/// Slurm reads the *bytes at* these symbols as C strings, so they are arrays, not pointers.
#[unsafe(no_mangle)]
pub static plugin_name: [u8; 14] = *b"energy_assess\0";
#[unsafe(no_mangle)]
pub static plugin_type: [u8; 6] = *b"spank\0";
/// Slurm loads a SPANK plugin only if its major.minor equals the running Slurm's; taking the
/// number from the header the bindings came from keeps the two in step.
#[unsafe(no_mangle)]
pub static plugin_version: u32 = sys::SLURM_VERSION_NUMBER;
/// The SPANK_PLUGIN macro's second number; Slurm does not check it.
#[unsafe(no_mangle)]
pub static spank_plugin_version: u32 = 1;

/// The option table entry for `--energy-assess[=MODE]`.
///
/// It must be one `'static` object: Slurm keeps the pointer given to `spank_option_register`,
/// and `spank_option_getopt` in job_prolog/job_epilog (where `slurm_spank_init` never ran)
/// identifies the option by the same struct.
struct OptionCell(UnsafeCell<sys::spank_option>);

// SAFETY: Slurm calls a plugin from one thread per process; the struct is written only by
// Slurm's option code on that thread, never by Rust.
unsafe impl Sync for OptionCell {}

static OPTION: OptionCell = OptionCell(UnsafeCell::new(sys::spank_option {
    name: c"energy-assess".as_ptr() as *mut c_char,
    arginfo: c"MODE".as_ptr() as *mut c_char,
    usage: c"Measure the job's energy on every node and report its footprint \
              (primary energy, GWP, ADPe). Optional MODE: on, off, summary \
              (summary also writes energy-assess-JOBID.txt next to the job's output). \
              See: energy-assess job JOBID"
        .as_ptr() as *mut c_char,
    // 2: the argument is optional.
    has_arg: 2,
    val: 0,
    cb: Some(option_cb),
}));

/// The safe view of one `spank_t`.
pub struct FfiHost {
    sp: sys::spank_t,
}

impl FfiHost {
    fn item_u32(&self, item: sys::spank_item_t) -> Option<u32> {
        let mut value: u32 = 0;
        // SAFETY: for S_JOB_ID, S_JOB_STEPID, S_JOB_UID (uid_t), S_JOB_GID (gid_t), S_JOB_ARRAY_ID and
        // S_JOB_ARRAY_TASK_ID, spank_get_item writes one 32-bit unsigned integer through the
        // pointer; `value` outlives the call. Slurm returns an error instead of writing in
        // contexts where the item is unavailable.
        let rc = unsafe { sys::spank_get_item(self.sp, item, &mut value as *mut u32) };
        (rc == sys::ESPANK_SUCCESS).then_some(value)
    }
}

impl SpankHost for FfiHost {
    fn context(&self) -> Context {
        // SAFETY: spank_context takes no arguments and only reads Slurm's global state.
        match unsafe { sys::spank_context() } {
            sys::S_CTX_LOCAL => Context::Local,
            sys::S_CTX_REMOTE => Context::Remote,
            sys::S_CTX_ALLOCATOR => Context::Allocator,
            sys::S_CTX_SLURMD => Context::Slurmd,
            sys::S_CTX_JOB_SCRIPT => Context::JobScript,
            _ => Context::Unknown,
        }
    }

    fn job_id(&self) -> Option<u32> {
        self.item_u32(sys::S_JOB_ID)
    }

    fn job_uid(&self) -> Option<u32> {
        self.item_u32(sys::S_JOB_UID)
    }

    fn job_gid(&self) -> Option<u32> {
        self.item_u32(sys::S_JOB_GID)
    }

    fn getenv(&self, name: &str) -> Option<String> {
        if self.context() != Context::Remote {
            // job_prolog/job_epilog get the job's variables in their process environment;
            // spank_getenv works only in remote context.
            return std::env::var(name).ok();
        }
        let cname = CString::new(name).ok()?;
        let mut buf = vec![0u8; 8192];
        // SAFETY: `buf` is writable for `buf.len()` bytes and spank_getenv writes at most that
        // many, NUL included; `cname` is a valid C string for the duration of the call.
        let rc = unsafe {
            sys::spank_getenv(
                self.sp,
                cname.as_ptr(),
                buf.as_mut_ptr() as *mut c_char,
                buf.len() as c_int,
            )
        };
        if rc != sys::ESPANK_SUCCESS {
            return None;
        }
        let value = CStr::from_bytes_until_nul(&buf).ok()?;
        Some(value.to_string_lossy().into_owned())
    }

    fn node_name(&self) -> Option<String> {
        std::env::var("SLURMD_NODENAME")
            .ok()
            .filter(|n| !n.is_empty())
    }

    fn job_alloc(&self) -> (Option<String>, Option<u64>) {
        if self.context() != Context::Remote {
            return (None, None);
        }
        let mut cores: *const c_char = std::ptr::null();
        // SAFETY: for S_JOB_ALLOC_CORES spank_get_item stores a `char *` owned by Slurm
        // through the `char **` given; it is copied before the callback returns.
        let rc = unsafe {
            sys::spank_get_item(
                self.sp,
                sys::S_JOB_ALLOC_CORES,
                &mut cores as *mut *const c_char,
            )
        };
        let cores = (rc == sys::ESPANK_SUCCESS && !cores.is_null())
            // SAFETY: non-NULL, NUL-terminated, owned by Slurm for this callback.
            .then(|| {
                unsafe { CStr::from_ptr(cores) }
                    .to_string_lossy()
                    .into_owned()
            });
        let mut mem: u64 = 0;
        // SAFETY: for S_JOB_ALLOC_MEM spank_get_item writes one uint64_t through the pointer.
        let rc =
            unsafe { sys::spank_get_item(self.sp, sys::S_JOB_ALLOC_MEM, &mut mem as *mut u64) };
        (cores, (rc == sys::ESPANK_SUCCESS).then_some(mem))
    }

    fn job_array(&self) -> Option<ArrayTask> {
        if self.context() != Context::Remote {
            return None;
        }
        // Slurm gives 0 as the array id of a job that is not an array task, and NO_VAL
        // (0xfffffffe) as the task where the step does not know it (the extern step of
        // Slurm 22.05 says the job is its own array with task NO_VAL).
        const NO_VAL: u32 = 0xffff_fffe;
        let array_job_id = self.item_u32(sys::S_JOB_ARRAY_ID).filter(|&a| a != 0)?;
        let array_task_id = self
            .item_u32(sys::S_JOB_ARRAY_TASK_ID)
            .filter(|&t| t < NO_VAL)?;
        Some(ArrayTask {
            array_job_id,
            array_task_id,
        })
    }

    fn step_id(&self) -> Option<u32> {
        if self.context() != Context::Remote {
            return None;
        }
        self.item_u32(sys::S_JOB_STEPID)
    }

    fn option(&self) -> OptionValue {
        let mut optarg: *mut c_char = std::ptr::null_mut();
        // SAFETY: OPTION is the 'static struct Slurm knows the option by; optarg is a valid
        // out-pointer. Slurm either leaves it NULL or points it at a string it owns that
        // lives for this callback; it is copied out before returning.
        let rc = unsafe { sys::spank_option_getopt(self.sp, OPTION.0.get(), &mut optarg) };
        match rc {
            sys::ESPANK_SUCCESS => {
                let value = if optarg.is_null() {
                    None
                } else {
                    // SAFETY: non-NULL optarg is a NUL-terminated string owned by Slurm.
                    Some(
                        unsafe { CStr::from_ptr(optarg) }
                            .to_string_lossy()
                            .into_owned(),
                    )
                };
                OptionValue::given(value.as_deref())
            }
            sys::ESPANK_ERROR => OptionValue::NotGiven,
            _ => OptionValue::Unavailable,
        }
    }

    fn write_as_user(
        &self,
        dir: &Path,
        name: &str,
        bytes: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<(), WriteAsUserError> {
        write_as_user(dir, name, bytes, uid, gid)
    }

    fn log(&self, level: Level, msg: &str) {
        log(level, msg);
    }
}

/// How long the epilog waits for the child that writes as the user (a hung NFS home must not
/// hold the node's epilog).
const WRITE_AS_USER_TIMEOUT: Duration = Duration::from_secs(2);

/// Forks a child that drops to `uid:gid` (supplementary groups cleared) before it opens
/// anything, then creates `dir/name` with `O_NOFOLLOW` and writes `bytes`. Everything the
/// child needs is prepared before `fork`, and the child calls only async-signal-safe
/// functions, because the parent may have other threads.
fn write_as_user(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    uid: u32,
    gid: u32,
) -> Result<(), WriteAsUserError> {
    if uid == 0 {
        return Err(WriteAsUserError::RootJob);
    }
    if name.contains('/') || name == "." || name == ".." {
        return Err(WriteAsUserError::NotPlainName(name.to_string()));
    }
    let dir_c =
        CString::new(dir.as_os_str().as_bytes()).map_err(|_| WriteAsUserError::Nul("directory"))?;
    let name_c = CString::new(name).map_err(|_| WriteAsUserError::Nul("file name"))?;
    let groups = [gid as libc::gid_t];
    // SAFETY: fork has no preconditions; the child below only makes async-signal-safe calls
    // on memory prepared before the fork, and always ends in _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(WriteAsUserError::Fork(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: this is the child of the fork above, and the buffers were prepared before it.
        unsafe { write_in_child(&groups, gid, uid, &dir_c, &name_c, bytes) }
    }
    wait_for_writer(pid, dir, name, uid, gid)
}

/// The forked child of [`write_as_user`]: drops to `uid:gid`, creates `dir/name` and writes
/// `bytes`; its exit code says which step failed (10-12 switching user, 13 the directory, 14
/// creating, 15 a symlink at the name, 16 writing).
///
/// # Safety
/// Call only in a child just forked: it calls only async-signal-safe functions, on buffers
/// prepared before the fork (valid in the child's copy of the address space), and ends in
/// `_exit`.
unsafe fn write_in_child(
    groups: &[libc::gid_t],
    gid: u32,
    uid: u32,
    dir_c: &CString,
    name_c: &CString,
    bytes: &[u8],
) -> ! {
    // SAFETY: setgroups/setgid/setuid/open/openat/write/close/_exit are async-signal-safe;
    // the pointers are to live buffers of the caller's, of the lengths given.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
            libc::_exit(10)
        }
        if libc::setgid(gid) != 0 {
            libc::_exit(11)
        }
        if libc::setuid(uid) != 0 {
            libc::_exit(12)
        }
        let dirfd = libc::open(
            dir_c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dirfd < 0 {
            libc::_exit(13)
        }
        let fd = libc::openat(
            dirfd,
            name_c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            libc::_exit(if *libc::__errno_location() == libc::ELOOP {
                15
            } else {
                14
            })
        }
        let mut off = 0usize;
        while off < bytes.len() {
            let n = libc::write(
                fd,
                bytes.as_ptr().add(off) as *const libc::c_void,
                bytes.len() - off,
            );
            if n <= 0 {
                libc::_exit(16)
            }
            off += n as usize;
        }
        if libc::close(fd) != 0 {
            libc::_exit(16)
        }
        libc::_exit(0)
    }
}

/// Waits at most [`WRITE_AS_USER_TIMEOUT`] for the writer child `pid` of [`write_as_user`]
/// and turns its exit code into the outcome; kills it after the timeout.
fn wait_for_writer(
    pid: libc::pid_t,
    dir: &Path,
    name: &str,
    uid: u32,
    gid: u32,
) -> Result<(), WriteAsUserError> {
    let deadline = Instant::now() + WRITE_AS_USER_TIMEOUT;
    loop {
        let mut status: c_int = 0;
        // SAFETY: pid is our child; status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
                (true, 0) => Ok(()),
                (true, 10..=12) => Err(WriteAsUserError::SwitchUser { uid, gid }),
                (true, 13) => Err(WriteAsUserError::OpenDir {
                    uid,
                    dir: dir.to_path_buf(),
                }),
                (true, 14) => Err(WriteAsUserError::Create {
                    uid,
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                }),
                (true, 15) => Err(WriteAsUserError::Symlink {
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                }),
                (true, _) => Err(WriteAsUserError::Write {
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                }),
                (false, _) => Err(WriteAsUserError::Killed),
            };
        }
        if r < 0 || Instant::now() > deadline {
            // SAFETY: pid is our child; SIGKILL cannot be caught; a NULL status pointer is
            // allowed. A child stuck in the kernel (an unresponsive filesystem) is reaped by
            // init once it dies, after this process has exited.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
            return Err(WriteAsUserError::Timeout {
                dir: dir.to_path_buf(),
                after: WRITE_AS_USER_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Logs through Slurm's logger. The format is always the constant `"%s"`: text from users,
/// paths or errors is never interpreted as a format.
fn log(level: Level, msg: &str) {
    let line = format!("energy_assess: {msg}").replace('\0', "\\0");
    let Ok(line) = CString::new(line) else { return };
    // SAFETY: both arguments are valid NUL-terminated strings for the duration of the call;
    // "%s" consumes exactly the one vararg given.
    unsafe {
        match level {
            Level::Error => sys::slurm_error(c"%s".as_ptr(), line.as_ptr()),
            Level::Info => sys::slurm_info(c"%s".as_ptr(), line.as_ptr()),
            Level::Verbose => sys::slurm_verbose(c"%s".as_ptr(), line.as_ptr()),
            Level::Debug => sys::slurm_debug(c"%s".as_ptr(), line.as_ptr()),
        }
    }
}

/// Runs a callback body; a panic is logged and turned into success (see the module docs).
fn guard(callback: &str, sp: sys::spank_t, body: impl FnOnce(&FfiHost) -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(|| body(&FfiHost { sp }))) {
        Ok(rc) => rc,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log(
                Level::Error,
                &format!(
                    "{callback}: internal error ({what}); the job is not affected, please report this"
                ),
            );
            sys::ESPANK_SUCCESS as c_int
        }
    }
}

/// The `key=value` arguments from the plugstack.conf line.
fn args(ac: c_int, av: *mut *mut c_char) -> Vec<String> {
    if av.is_null() || ac <= 0 {
        return Vec::new();
    }
    (0..ac as usize)
        .filter_map(|i| {
            // SAFETY: Slurm passes `ac` valid pointers in `av`, each NULL or a C string that
            // lives for the callback.
            let p = unsafe { *av.add(i) };
            // SAFETY: checked non-NULL; NUL-terminated per the SPANK API.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// Registers `--energy-assess` where options exist (sbatch, salloc, srun, slurmstepd); in
/// slurmstepd, also notes what an assessed job holds on the node; in slurmd (its start),
/// restarts the delivery of records left in the outbox.
#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_init(sp: sys::spank_t, ac: c_int, av: *mut *mut c_char) -> c_int {
    guard("init", sp, |host| {
        match host.context() {
            Context::Remote => plugin::remote_init(host, &args(ac, av)),
            Context::Slurmd => plugin::slurmd_init(host, &args(ac, av)),
            _ => {}
        }
        if matches!(
            host.context(),
            Context::Local | Context::Remote | Context::Allocator
        ) {
            // SAFETY: OPTION is 'static (Slurm keeps the pointer) and `sp` is the handle Slurm
            // gave this callback.
            let rc = unsafe { sys::spank_option_register(host.sp, OPTION.0.get()) };
            if rc != sys::ESPANK_SUCCESS {
                host.log(
                    Level::Error,
                    &format!("cannot register --energy-assess (error {rc})"),
                );
            }
        }
        sys::ESPANK_SUCCESS as c_int
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_job_prolog(
    sp: sys::spank_t,
    ac: c_int,
    av: *mut *mut c_char,
) -> c_int {
    guard("job_prolog", sp, |host| {
        plugin::job_prolog(host, &args(ac, av));
        sys::ESPANK_SUCCESS as c_int
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_job_epilog(
    sp: sys::spank_t,
    ac: c_int,
    av: *mut *mut c_char,
) -> c_int {
    guard("job_epilog", sp, |host| {
        plugin::job_epilog(host, &args(ac, av));
        sys::ESPANK_SUCCESS as c_int
    })
}

/// Checks MODE when the option is parsed. Slurm gives no handle here, so logging goes
/// through the global logger, which in sbatch/srun/salloc prints to the user's terminal.
extern "C" fn option_cb(_val: c_int, optarg: *const c_char, remote: c_int) -> c_int {
    guard("option", std::ptr::null_mut(), |host| {
        let value = if optarg.is_null() {
            None
        } else {
            // SAFETY: non-NULL optarg is a NUL-terminated string owned by Slurm for this call.
            Some(
                unsafe { CStr::from_ptr(optarg) }
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        if plugin::option_accepted(host, value.as_deref(), remote != 0) {
            sys::ESPANK_SUCCESS as c_int
        } else {
            -1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// Needs root (as the plugin has in job_epilog); CI runs as root. Without root the test
    /// fails after the refusal paths, saying so, rather than passing without writing.
    #[test]
    fn writes_as_the_user_and_refuses_symlinks_and_root() {
        let dir = std::env::temp_dir().join(format!("ea-write-as-user-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            write_as_user(&dir, "x.txt", b"x", 0, 0)
                .unwrap_err()
                .to_string()
                .contains("root")
        );
        assert!(write_as_user(&dir, "../x.txt", b"x", 65534, 65534).is_err());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "needs root to write as another user, as the plugin does in job_epilog: run the \
             tests as root (tests/run-all.sh)"
        );
        write_as_user(&dir, "summary.txt", b"hello\n", 65534, 65534).unwrap();
        let meta = std::fs::metadata(dir.join("summary.txt")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "owned by the user, not root"
        );
        assert_eq!(std::fs::read(dir.join("summary.txt")).unwrap(), b"hello\n");

        std::os::unix::fs::symlink("/etc/passwd-energy-assess-test", dir.join("trap.txt")).unwrap();
        let e = write_as_user(&dir, "trap.txt", b"x", 65534, 65534)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symlink"), "{e}");
        assert!(!std::path::Path::new("/etc/passwd-energy-assess-test").exists());

        // Root may write into these directories; the user may not, so neither may the plugin.
        let private = dir.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = write_as_user(&private, "x.txt", b"x", 65534, 65534)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot open the directory"), "{e}");
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = write_as_user(&private, "x.txt", b"x", 65534, 65534)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot create"), "{e}");
        assert!(!private.join("x.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What the stand-ins for Slurm's logger received.
    static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    /// Stand-ins for Slurm's logger, which slurmstepd provides to the real plugin. Slurm
    /// declares these functions variadic; `log` always calls them with the format `"%s"` and
    /// one string, and on the Linux ABIs named below a variadic call with two pointer
    /// arguments passes them where these two-argument definitions read them.
    macro_rules! logger_stand_in {
        ($($name:ident => $level:literal),*) => {$(
            #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
            #[unsafe(no_mangle)]
            extern "C" fn $name(format: *const c_char, line: *const c_char) {
                // SAFETY: `log` passes two valid NUL-terminated strings.
                let (format, line) = unsafe { (CStr::from_ptr(format), CStr::from_ptr(line)) };
                assert_eq!(format.to_bytes(), b"%s");
                LOGGED.lock().unwrap().push(format!("{}: {}", $level, line.to_string_lossy()));
            }
        )*};
    }
    logger_stand_in!(slurm_error => "error", slurm_info => "info", slurm_verbose => "verbose",
        slurm_debug => "debug");

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn a_panic_in_a_callback_is_logged_and_the_job_goes_on() {
        let ok = guard("slurm_spank_job_prolog", std::ptr::null_mut(), |_| 7);
        assert_eq!(ok, 7, "a body that returns is passed through");
        assert!(LOGGED.lock().unwrap().is_empty());
        for (payload, shown) in [
            (
                Box::new("spool %s gone") as Box<dyn std::any::Any + Send>,
                "spool %s gone",
            ),
            (
                Box::new(String::from("index 3 out of range")),
                "index 3 out of range",
            ),
            (Box::new(42_u8), "unknown panic"),
        ] {
            let rc = guard("slurm_spank_job_epilog", std::ptr::null_mut(), |_| {
                std::panic::resume_unwind(payload)
            });
            assert_eq!(
                rc,
                sys::ESPANK_SUCCESS as c_int,
                "never an error that drains the node"
            );
            let line = LOGGED.lock().unwrap().pop().expect("the panic is logged");
            let want = format!(
                "error: energy_assess: slurm_spank_job_epilog: internal error ({shown}); \
                 the job is not affected, please report this"
            );
            assert_eq!(line, want);
        }
    }
}
