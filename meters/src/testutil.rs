//! Helpers for this crate's unit tests: temporary fixture trees and a way to run one test in a
//! child process as an unprivileged user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ea-meters-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// Same, mode 0755 whatever the umask, for children running as another user.
    pub fn new_world_readable(tag: &str) -> Self {
        let t = Self::new(tag);
        chmod(&t.0, 0o755);
        t
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes a powercap zone `<root>/sys/class/powercap/<dir_name>/` with directories 0755 and
/// files 0644.
pub fn write_zone(root: &Path, dir_name: &str, name: &str, energy_uj: u64, max_uj: u64) {
    let d = crate::rapl::powercap_dir(root).join(dir_name);
    fs::create_dir_all(&d).unwrap();
    let mut p = d.clone();
    while p != root {
        chmod(&p, 0o755);
        p.pop();
    }
    for (f, v) in [
        ("name", name.to_string()),
        ("energy_uj", energy_uj.to_string()),
        ("max_energy_range_uj", max_uj.to_string()),
    ] {
        fs::write(d.join(f), format!("{v}\n")).unwrap();
        chmod(&d.join(f), 0o644);
    }
}

/// Runs the ignored test `test_name` of this test binary in a child process with `root` in
/// `EA_TEST_ROOT`, as `nobody` when we are root (as ourselves otherwise), and returns its
/// stdout.
pub fn run_as_nobody(test_name: &str, root: &Path) -> String {
    let drop_root = crate::ffi::euid() == 0;
    run_child_test(test_name, &[("EA_TEST_ROOT", root.as_os_str())], drop_root)
}

/// Runs the ignored test `test_name` of this test binary in a child process with the given
/// environment (tests never change their own environment: other tests run beside them), and
/// returns its stdout. Panics with the child's output if the child test fails, cannot be
/// started, or is not there (a filter that matches no test runs none, and passes).
pub fn run_child_test(
    test_name: &str,
    env: &[(&str, &std::ffi::OsStr)],
    as_nobody: bool,
) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        test_name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if as_nobody {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start the child test {test_name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child test {test_name} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child test {test_name} did not run (no such ignored test?): {stdout}"
    );
    stdout
}

/// The fake libnvidia-ml built from `tests/fake-nvml` (a dev-dependency, so cargo builds its
/// cdylib next to this test binary, in `target/<profile>/deps/`).
pub fn fake_nvml_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let p = dir.join("libnvidia_ml_fake.so");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "libnvidia_ml_fake.so not found next to {}; build it with cargo build -p fake-nvml",
        exe.display()
    );
}
