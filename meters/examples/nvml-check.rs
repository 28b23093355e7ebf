//! `nvml-check`: runs the NVML meter of `ea-meters` (the same `NvmlSource` and
//! `MeterAccumulator` the sampler uses) on every GPU for a while, with the energy counter and
//! integrated board power side by side, and reports the energy by each method, their relative
//! difference, and the idle and load power when a load script wrote its phase times.
//!
//! ```text
//! nvml-check [--nvml-library PATH] [--interval-ms 150] [--duration-s 85]
//!            [--phases FILE] [--json FILE]
//! ```
//!
//! `--phases FILE`: lines `load_start <unix seconds>` and `load_end <unix seconds>`, written by
//! the load (tests/gpu/load.py); read at the end. Built by tests/gpu/build-real-nvml-check.sh,
//! run by tests/gpu/real-nvml-check.sh on a GPU machine, and by the tests here against the
//! fake libnvidia-ml.

use ea_meters::accumulate::{Instant, MeterAccumulator};
use ea_meters::nvml::NvmlSource;
use ea_meters::source::{Raw, Source};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[path = "nvml-check/ffi.rs"]
mod ffi;

struct Args {
    library: Option<PathBuf>,
    interval: Duration,
    duration: Duration,
    phases: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        library: None,
        interval: Duration::from_millis(150),
        duration: Duration::from_secs(85),
        phases: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let secs = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{k}: {v:?} is not a number"))
        };
        match k.as_str() {
            "--nvml-library" => a.library = Some(v.into()),
            "--interval-ms" => a.interval = Duration::from_secs_f64(secs(&v)? / 1000.0),
            "--duration-s" => a.duration = Duration::from_secs_f64(secs(&v)?),
            "--phases" => a.phases = Some(v.into()),
            "--json" => a.json = Some(v.into()),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

/// One reading of one GPU: wall time, counter (mJ), power (W).
#[derive(Clone, Copy)]
struct Point {
    t: f64,
    counter_mj: Option<u64>,
    power_w: Option<f64>,
}

fn cpu_s() -> f64 {
    ffi::process_cpu_s()
}

/// Energy over `[t0, t1]` by the counter (difference of the first and last reading inside) and
/// by trapezoids of power, and the mean power; `None` with fewer than two points.
fn window(points: &[Point], t0: f64, t1: f64) -> Option<(f64, f64, f64, f64)> {
    let p: Vec<&Point> = points.iter().filter(|p| p.t >= t0 && p.t <= t1).collect();
    if p.len() < 2 {
        return None;
    }
    let span = p[p.len() - 1].t - p[0].t;
    let counter_j = match (p[0].counter_mj, p[p.len() - 1].counter_mj) {
        (Some(a), Some(b)) if b >= a => (b - a) as f64 / 1e3,
        _ => f64::NAN,
    };
    let power_j: f64 = p
        .windows(2)
        .map(|w| {
            0.5 * (w[0].power_w.unwrap_or(0.0) + w[1].power_w.unwrap_or(0.0)) * (w[1].t - w[0].t)
        })
        .sum();
    Some((counter_j, power_j, power_j / span, span))
}

/// CPU and wall µs per call of `nvmlDeviceGetHandleByIndex`, `...TotalEnergyConsumption` and
/// `...PowerUsage` on GPU 0.
fn profile_calls(library: Option<&std::path::Path>) -> serde_json::Value {
    let nvml = match library {
        Some(p) => nvml_wrapper::Nvml::builder().lib_path(p.as_os_str()).init(),
        None => nvml_wrapper::Nvml::init(),
    };
    let Ok(nvml) = nvml else { return json!(null) };
    let Ok(d) = nvml.device_by_index(0) else {
        return json!(null);
    };
    let n = 200;
    let time = |f: &dyn Fn()| {
        let (c0, w0) = (cpu_s(), std::time::Instant::now());
        for _ in 0..n {
            f();
        }
        json!({"cpu_us": (cpu_s() - c0) / n as f64 * 1e6, "wall_us": w0.elapsed().as_secs_f64() / n as f64 * 1e6})
    };
    json!({
        "handle_by_index": time(&|| { let _ = nvml.device_by_index(0); }),
        "total_energy_consumption": time(&|| { let _ = d.total_energy_consumption(); }),
        "power_usage": time(&|| { let _ = d.power_usage(); }),
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nvml-check: {e}");
            return ExitCode::from(2);
        }
    };
    let found = NvmlSource::open(args.library.as_deref(), &[], true);
    let Some(mut src) = found.source else {
        eprintln!("nvml-check: no GPU meter: {:?}", found.absent);
        return ExitCode::FAILURE;
    };
    let specs = src.meters().to_vec();
    let start = Instant::now();
    let step_us = args.interval.as_micros() as u64;
    let mut accs: Vec<MeterAccumulator> = specs
        .iter()
        .map(|s| MeterAccumulator::new(s.clone(), start.mono_us, step_us, 720))
        .collect();
    // Per GPU: the index of its counter meter and of its power meter among the specs.
    let gpus: Vec<(String, Option<usize>, Option<usize>)> = found
        .gpus
        .iter()
        .map(|g| {
            let c = specs.iter().position(|s| {
                s.id == format!("nvml:{}", g.uuid)
                    && matches!(s.kind, ea_meters::source::MeterKind::Counter { .. })
            });
            let p = specs.iter().position(|s| {
                s.id == format!("nvml:{}:power", g.uuid)
                    || (s.id == format!("nvml:{}", g.uuid)
                        && s.kind == ea_meters::source::MeterKind::Power)
            });
            (g.uuid.clone(), c, p)
        })
        .collect();
    // What each NVML call costs on its own: 200 calls of each kind on GPU 0, through a second
    // NVML handle (NVML counts its initialisations).
    let call_cost = profile_calls(args.library.as_deref());
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); gpus.len()];
    let mut read_cpu_s = 0.0;
    let mut reads = 0u32;
    let mut out = Vec::new();
    let began = std::time::Instant::now();
    let mut next = began;
    while began.elapsed() < args.duration {
        out.clear();
        let c0 = cpu_s();
        src.read_into(&mut out);
        read_cpu_s += cpu_s() - c0;
        reads += 1;
        let at = Instant::now();
        let t = at.wall.as_secs_f64();
        for (acc, v) in accs.iter_mut().zip(&out) {
            acc.add(at, v.clone());
        }
        for (k, (_, c, p)) in gpus.iter().enumerate() {
            let counter_mj = c.and_then(|i| match out[i] {
                Ok(Raw::Counter(v)) => Some(v),
                _ => None,
            });
            let power_w = p.and_then(|i| match out[i] {
                Ok(Raw::Watts(w)) => Some(w),
                _ => None,
            });
            points[k].push(Point {
                t,
                counter_mj,
                power_w,
            });
        }
        next += args.interval;
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let phases = args
        .phases
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let phase = |name: &str| {
        phases.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
    };
    let (load_start, load_end) = (phase("load_start"), phase("load_end"));

    println!("NVML calls on GPU 0 (CPU / wall per call): {call_cost}");
    println!(
        "nvml-check: {} GPU(s), {} readings every {:.0} ms over {:.1} s; NVML read (counter + power, all GPUs): {:.1} µs CPU each",
        gpus.len(),
        reads,
        args.interval.as_secs_f64() * 1e3,
        began.elapsed().as_secs_f64(),
        read_cpu_s / reads as f64 * 1e6
    );
    let mut results = Vec::new();
    for (k, (uuid, c, p)) in gpus.iter().enumerate() {
        let name = found.gpus[k].name.clone().unwrap_or_default();
        let counter = c.map(|i| accs[i].report(None));
        let power = p.map(|i| accs[i].report(None));
        let e_counter = counter.as_ref().map(|r| r.energy_j);
        let e_power = power.as_ref().map(|r| r.energy_j);
        let rel = match (e_counter, e_power) {
            (Some(a), Some(b)) if a > 0.0 => Some((b - a) / a),
            _ => None,
        };
        println!("GPU {k} {name} {uuid}");
        println!(
            "  whole run: counter {:.1} J, integrated power {:.1} J, (power - counter)/counter = {}",
            e_counter.unwrap_or(f64::NAN),
            e_power.unwrap_or(f64::NAN),
            rel.map_or("n/a".into(), |r| format!("{:+.2} %", r * 100.0))
        );
        let mut idle = None;
        let mut load = None;
        if let (Some(ls), Some(le)) = (load_start, load_end) {
            // Margins: the power reading is a 1 s average on recent GPUs.
            idle = window(&points[k], f64::MIN, ls - 1.0);
            load = window(&points[k], ls + 2.0, le - 0.5);
            for (label, w) in [("idle", idle), ("load", load)] {
                if let Some((ec, ep, pw, span)) = w {
                    println!(
                        "  {label}: {span:.1} s, mean power {pw:.1} W, counter {ec:.1} J, integrated power {ep:.1} J, diff {:+.2} %",
                        (ep - ec) / ec * 100.0
                    );
                }
            }
        }
        let w = |x: Option<(f64, f64, f64, f64)>| {
            x.map(|(ec, ep, pw, span)| json!({"seconds": span, "mean_power_w": pw, "energy_counter_j": ec, "energy_integrated_power_j": ep}))
        };
        results.push(json!({
            "index": k, "uuid": uuid, "name": name,
            "energy_counter_j": e_counter, "energy_integrated_power_j": e_power,
            "relative_difference_power_vs_counter": rel,
            "counter_report": counter, "power_report": power,
            "idle": w(idle), "load": w(load),
        }));
    }
    let doc = json!({
        "tool": "ea-meters nvml-check",
        "interval_ms": args.interval.as_secs_f64() * 1e3,
        "readings": reads,
        "seconds": began.elapsed().as_secs_f64(),
        "nvml_read_cpu_us": read_cpu_s / reads as f64 * 1e6,
        "nvml_call_cost": call_cost,
        "load_start_unix_s": load_start, "load_end_unix_s": load_end,
        "absent": found.absent.iter().map(|a| format!("{}: {}", a.source, a.reason)).collect::<Vec<_>>(),
        "gpus": results,
    });
    if let Some(path) = &args.json
        && let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap_or_default())
    {
        eprintln!("nvml-check: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
