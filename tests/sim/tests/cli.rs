//! The simulator binary as the end-to-end tests drive it: `--daemon` with a pid file, a power
//! file changed while it runs, a truth log; and the fake ipmitool script.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ea-sim-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

#[test]
fn daemon_with_pid_file_power_file_and_truth_log() {
    let root = tmp("daemon");
    let pid_file = root.join("sim.pid");
    let powers = root.join("powers");
    std::fs::write(&powers, "package-0=100\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ea-powercap-sim"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--zone",
            "package-0=100",
            "--zone",
            "dram=10",
            "--zone",
            "psys=150",
        ])
        .args([
            "--max-range-uj",
            "20000000",
            "--period-ms",
            "20",
            "--daemon",
        ])
        .args([
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--power-file",
            powers.to_str().unwrap(),
        ])
        .args([
            "--truth-log",
            root.join("truth.log").to_str().unwrap(),
            "--duration-s",
            "30",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(printed, pid);
    let zones = root.join("sys/class/powercap");
    assert_eq!(
        std::fs::read_to_string(zones.join("intel-rapl:0/name")).unwrap(),
        "package-0\n"
    );
    assert_eq!(
        std::fs::read_to_string(zones.join("intel-rapl:0:0/name")).unwrap(),
        "dram\n"
    );
    assert_eq!(
        std::fs::read_to_string(zones.join("intel-rapl:1/name")).unwrap(),
        "psys\n"
    );
    assert_eq!(
        read_u64(&zones.join("intel-rapl:0/max_energy_range_uj")),
        20_000_000
    );
    std::thread::sleep(Duration::from_millis(500));
    // At 100 W a 20 J counter wraps every 0.2 s: after 0.5 s the log has seen wraps.
    let log = ea_sim::read_truth_log(&root.join("truth.log")).unwrap();
    let pkg: Vec<_> = log.iter().filter(|l| l.dir == "intel-rapl:0").collect();
    assert!(
        pkg.windows(2).any(|w| w[1].raw_uj < w[0].raw_uj),
        "no wrap seen"
    );
    let last = pkg.last().unwrap();
    assert_eq!(last.raw_uj, (10_000_000 + last.cumulative_uj) % 20_000_001);
    // Change the package's power to 0 W: its true energy stops growing.
    std::fs::write(&powers, "package-0=0\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let a = ea_sim::read_truth_log(&root.join("truth.log"))
        .unwrap()
        .iter()
        .rfind(|l| l.dir == "intel-rapl:0")
        .unwrap()
        .cumulative_uj;
    std::thread::sleep(Duration::from_millis(300));
    let b = ea_sim::read_truth_log(&root.join("truth.log"))
        .unwrap()
        .iter()
        .rfind(|l| l.dir == "intel-rapl:0")
        .unwrap()
        .cumulative_uj;
    assert_eq!(a, b);
    // SIGTERM stops it.
    assert!(
        Command::new("kill")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap()
                .is_empty()
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_arguments_are_explained() {
    let out = Command::new(env!("CARGO_BIN_EXE_ea-powercap-sim"))
        .args(["--root", "/tmp/x", "--zone", "gpu=5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown zone \"gpu\""));
    let out = Command::new(env!("CARGO_BIN_EXE_ea-powercap-sim"))
        .args(["--zone", "package-0=5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
}

fn fake_ipmitool(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fake-ipmitool");
    let mut c = Command::new(script);
    c.args(args)
        .env_remove("EA_FAKE_IPMI_WATTS")
        .env_remove("EA_SYSROOT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn fake_ipmitool_formats_and_sources_of_watts() {
    let text = |o: std::process::Output| String::from_utf8(o.stdout).unwrap();
    let t = text(fake_ipmitool(
        &["dcmi", "power", "reading", "--watts", "412"],
        &[],
    ));
    assert!(
        t.contains("Instantaneous power reading:")
            && t.contains(" 412 Watts")
            && t.contains("activated"),
        "{t}"
    );
    let t = text(fake_ipmitool(
        &["--format", "freeipmi"],
        &[("EA_FAKE_IPMI_WATTS", "333")],
    ));
    assert!(
        t.starts_with("Current Power                        : 333 Watts"),
        "{t}"
    );
    let root = tmp("ipmi");
    std::fs::write(root.join("fake-ipmi-watts"), "275\n").unwrap();
    let t = text(fake_ipmitool(
        &[],
        &[("EA_SYSROOT", root.to_str().unwrap())],
    ));
    assert!(t.contains(" 275 Watts"), "{t}");
    let o = fake_ipmitool(&["--fail", "Could not open device at /dev/ipmi0"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/dev/ipmi0"));
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/realdata/energy/ceems/ipmi/openipmi/ipmitool.out.txt");
    assert!(
        capture.exists(),
        "needs {}: lay ../shared/realdata out beside the repository",
        capture.display()
    );
    let t = text(fake_ipmitool(&["--replay", capture.to_str().unwrap()], &[]));
    assert_eq!(t, std::fs::read_to_string(&capture).unwrap());
    let _ = std::fs::remove_dir_all(&root);
}
