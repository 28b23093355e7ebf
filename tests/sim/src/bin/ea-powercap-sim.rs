//! `ea-powercap-sim`: a simulated RAPL powercap tree for one node (see `ea_sim`).
//!
//! ```text
//! ea-powercap-sim --root /tmp/n1 --zone package-0=60 --zone dram=8 --zone psys=90 \
//!     --max-range-uj 20000000 --period-ms 100 --truth-log /tmp/n1/truth.log \
//!     --pid-file /tmp/n1/sim.pid [--power-file /tmp/n1/powers] [--duration-s 60] [--daemon]
//! ```
//!
//! It creates the tree, writes the pid file, then advances the counters every period until
//! SIGTERM (or `--duration-s`). `--daemon` starts a copy of itself in its own process group,
//! with stdio on /dev/null, waits until that copy has created the tree, prints its pid and
//! exits. `--power-file` is re-read whenever it changes (`NAME=WATTS` lines), so a test can
//! change powers while a job runs.

use ea_sim::{PowercapSim, layout, parse_power_file, parse_zone_arg};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

const USAGE: &str = "usage: ea-powercap-sim --root DIR --zone NAME=WATTS [--zone ...] [--max-range-uj N] \
[--start-uj N] [--period-ms N] [--truth-log FILE] [--pid-file FILE] [--power-file FILE] [--duration-s S] [--daemon]";

struct Args {
    root: PathBuf,
    zones: Vec<(String, f64)>,
    max_range_uj: u64,
    start_uj: Option<u64>,
    period: Duration,
    truth_log: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    power_file: Option<PathBuf>,
    duration: Option<Duration>,
    daemon: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        root: PathBuf::new(),
        zones: Vec::new(),
        max_range_uj: 262_143_328_850,
        start_uj: None,
        period: Duration::from_millis(100),
        truth_log: None,
        pid_file: None,
        power_file: None,
        duration: None,
        daemon: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--root" => a.root = value()?.into(),
            "--zone" => a.zones.push(parse_zone_arg(&value()?)?),
            "--max-range-uj" => a.max_range_uj = num(value()?)?,
            "--start-uj" => a.start_uj = Some(num(value()?)?),
            "--period-ms" => a.period = Duration::from_millis(num(value()?)?.max(1)),
            "--truth-log" => a.truth_log = Some(value()?.into()),
            "--pid-file" => a.pid_file = Some(value()?.into()),
            "--power-file" => a.power_file = Some(value()?.into()),
            "--duration-s" => {
                let v = value()?;
                let s: f64 = v
                    .parse()
                    .map_err(|_| format!("--duration-s: {v:?} is not a number"))?;
                a.duration = Some(Duration::from_secs_f64(s.max(0.0)));
            }
            "--daemon" => a.daemon = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.root.as_os_str().is_empty() || a.zones.is_empty() {
        return Err(format!(
            "--root and at least one --zone are required\n{USAGE}"
        ));
    }
    Ok(a)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(raw.clone().into_iter()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ea-powercap-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.daemon {
        daemonize(&raw, &args)
    } else {
        run(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ea-powercap-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts a copy without `--daemon` and waits for its pid file (or tree) to appear.
fn daemonize(raw: &[String], args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let rest: Vec<&String> = raw.iter().filter(|a| *a != "--daemon").collect();
    if let Some(p) = &args.pid_file {
        let _ = std::fs::remove_file(p);
    }
    let child = Command::new(exe)
        .args(rest)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let ready = args
        .pid_file
        .clone()
        .unwrap_or_else(|| ea_sim::powercap_dir(&args.root));
    let start = Instant::now();
    while !ready.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "the simulator did not create {} within 10 s",
                ready.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{}", child.id());
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    let zones = layout(&args.zones)?;
    // Sub-zones are addressed as package-N/NAME in power files.
    let path_of = |z: &ea_sim::Zone| match z.dir.matches(':').count() {
        2 => format!(
            "package-{}/{}",
            z.dir.split(':').nth(1).unwrap_or("0"),
            z.name
        ),
        _ => z.name.clone(),
    };
    let paths: Vec<(String, String)> = zones.iter().map(|z| (path_of(z), z.dir.clone())).collect();
    let start = args.start_uj.unwrap_or(args.max_range_uj / 2);
    let mut sim = PowercapSim::create(
        &args.root,
        zones,
        args.max_range_uj,
        start,
        args.truth_log.as_deref(),
    )
    .map_err(|e| format!("cannot create the tree under {}: {e}", args.root.display()))?;
    if let Some(p) = &args.pid_file {
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", std::process::id()))
            .and_then(|_| std::fs::rename(&tmp, p))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let began = Instant::now();
    let mut power_mtime: Option<SystemTime> = None;
    loop {
        std::thread::sleep(args.period);
        if let Some(pf) = &args.power_file {
            let mtime = std::fs::metadata(pf).and_then(|m| m.modified()).ok();
            if mtime.is_some() && mtime != power_mtime {
                power_mtime = mtime;
                let text = std::fs::read_to_string(pf).unwrap_or_default();
                match parse_power_file(&text) {
                    Ok(powers) => {
                        for (name, w) in powers {
                            let dir = paths
                                .iter()
                                .find(|(p, _)| *p == name)
                                .map(|(_, d)| d.clone())
                                .unwrap_or(name);
                            if let Err(e) = sim.set_power(&dir, w) {
                                eprintln!("ea-powercap-sim: {}: {e}", pf.display());
                            }
                        }
                    }
                    Err(e) => eprintln!("ea-powercap-sim: {}: {e}", pf.display()),
                }
            }
        }
        sim.step()
            .map_err(|e| format!("cannot advance the counters: {e}"))?;
        if args.duration.is_some_and(|d| began.elapsed() >= d) {
            return Ok(());
        }
    }
}
