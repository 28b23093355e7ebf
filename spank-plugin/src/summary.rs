//! The summary file a user asks for with `--energy-assess=summary`: a few lines next to the
//! job's output, `energy-assess-<jobid>.txt` in its working directory, written by the first
//! node of the job at its epilog, as the job's user.
//!
//! Each node only knows its own record at epilog time, unless the spool is shared, in which
//! case the records of the nodes that finished first are there too. The file says how many
//! of the job's nodes it covers, and where to get the rest (`energy-assess job`).

use ea_record::JobNodeRecord;
use std::fmt::Write;

/// The file name in the job's working directory.
pub fn file_name(job_id: u32) -> String {
    format!("energy-assess-{job_id}.txt")
}

/// Renders the summary from the records at hand (this node's first).
pub fn render(records: &[JobNodeRecord]) -> String {
    let mut s = String::new();
    let Some(first) = records.first() else {
        return s;
    };
    let expected = first.num_nodes.unwrap_or(records.len() as u32);
    let _ = writeln!(
        s,
        "energy-assess: job {} on {}",
        first.job_id,
        first.node_list.as_deref().unwrap_or(&first.node)
    );
    if let Some(d) = first.duration_s() {
        let _ = writeln!(s, "duration on {}: {d:.1} s", first.node);
    }
    let mut total_j = 0.0;
    let mut all_measured = true;
    for r in records {
        match r.node_energy_j() {
            Some((e, basis)) => {
                total_j += e;
                let _ = writeln!(
                    s,
                    "node {}: {} ({})",
                    r.node,
                    fmt_energy(e),
                    basis.describe()
                );
            }
            None => {
                all_measured = false;
                let why = r
                    .absent_meters
                    .iter()
                    .map(|a| format!("{}: {}", a.source, a.reason))
                    .collect::<Vec<_>>();
                let _ = writeln!(
                    s,
                    "node {}: no energy meter{}",
                    r.node,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", why.join("; "))
                    }
                );
            }
        }
        for m in r.plausible_meters() {
            let mean = m
                .power_w
                .map(|p| format!(", mean {:.1} W, peak {:.1} W", p.mean, p.max))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<28} {:<12} {}{mean}",
                m.id,
                m.scope.as_str(),
                fmt_energy(m.energy_j)
            );
        }
        for refused in r.implausible_meters() {
            let _ = writeln!(s, "  {refused}");
        }
    }
    if all_measured && records.len() as u32 == expected {
        let _ = writeln!(
            s,
            "job total: {} over {expected} node(s)",
            fmt_energy(total_j)
        );
    } else {
        let _ = writeln!(
            s,
            "this file covers {} of the job's {expected} node(s); for all of them, and the job's \
             environmental impact (PE, GWP, ADPe), run: energy-assess job {}",
            records.len(),
            first.job_id
        );
    }
    s
}

fn fmt_energy(j: f64) -> String {
    if j >= 3600.0 {
        format!("{:.3} Wh ({j:.0} J)", j / 3600.0)
    } else {
        format!("{j:.1} J")
    }
}
