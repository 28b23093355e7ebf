//! The sampler's signals and priority, and the epilog's view of a sampler process.
//!
//! The sampler blocks SIGTERM and SIGINT and waits for them with `sigtimedwait` between
//! readings: no handler, no flag polled in a loop, no thread, and a stop request that arrives
//! during a reading is answered right after it.

use std::time::Duration;

/// Blocks SIGTERM and SIGINT for this thread (and the threads it will start, such as
/// libnvidia-ml's) and ignores SIGHUP and SIGPIPE.
pub fn block_stop_signals() {
    crate::ffi::block_stop_signals();
}

/// Closes every file descriptor above 2. The sampler inherits whatever slurmstepd had open
/// without close-on-exec (sockets, the job's pipes): holding those could keep a step or a
/// connection alive after its owner closed it.
pub fn close_inherited_fds() {
    // Called first thing in main: nothing in this process uses a descriptor above 2 yet.
    crate::ffi::close_fds_above_2();
}

/// Nice 10: the sampler must never slow the job down.
pub fn lower_priority() {
    crate::ffi::nice(10);
}

/// Waits up to `timeout` for SIGTERM or SIGINT (blocked by [`block_stop_signals`]); returns
/// the signal, or `None` when the time is up.
pub fn wait_for_stop(timeout: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ts = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        let err = match crate::ffi::wait_stop_signal(&ts) {
            Ok(sig) => return Some(sig),
            Err(err) => err,
        };
        if err != Some(libc::EINTR) || left.is_zero() {
            return None;
        }
    }
}

/// Sends `signal` to `pid`. Returns false if there is no such process (or no permission).
pub fn send(pid: u32, signal: i32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 1 {
        return false; // never signal init or a process group by mistake
    }
    crate::ffi::kill(pid, signal)
}

/// Whether `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

/// The argument vector of a process, from `/proc/<pid>/cmdline`.
pub fn cmdline(pid: u32) -> Option<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    // Each argument ends with a NUL; an empty argument is an empty piece between two.
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    Some(
        raw.split(|b| *b == 0)
            .map(|a| std::ffi::OsStr::from_bytes(a).to_os_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_inspection() {
        let me = std::process::id();
        assert!(is_running(me));
        let argv = cmdline(me).unwrap();
        assert!(!argv.is_empty());
        assert!(!is_running(u32::MAX - 1));
        assert!(cmdline(u32::MAX - 1).is_none());
        assert!(!send(0, 0) && !send(1, 0));
        assert!(send(me, 0));
    }

    #[test]
    fn empty_arguments_survive_cmdline() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5; :", "x", ""])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let argv = cmdline(child.id()).unwrap();
        assert_eq!(argv, ["sh", "-c", "sleep 5; :", "x", ""]);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn zombies_are_not_running() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(200));
        // Not yet waited for: a zombie.
        assert!(!is_running(pid));
        drop(child);
    }
}
