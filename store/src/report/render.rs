//! A report as a terminal table, CSV, JSON, Markdown or a self-contained HTML page with SVG
//! charts (no script, no external file: it can be mailed or archived as is).
//!
//! Units in reports: energy in kWh, GWP in kgCO2eq, PE in MJ, ADPe in kgSbeq; ranges are
//! `[min–max]`.

use super::{Report, Totals};
use crate::impact_types::{Impacts, Ranged};
use crate::timefmt::Clock;
use serde_json::{Value, json};
use std::fmt::Write as _;

const J_PER_KWH: f64 = 3.6e6;

fn sig4(x: f64) -> String {
    ea_units::sig3(x)
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Markdown,
    Html,
}

impl Format {
    /// Reads `table`, `csv`, `json`, `md`/`markdown`, `html`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "table" | "text" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "md" | "markdown" => Format::Markdown,
            "html" => Format::Html,
            _ => return None,
        })
    }
}

/// Renders a report.
pub fn render(r: &Report, format: Format, clock: &Clock) -> String {
    match format {
        Format::Table => table(r, clock),
        Format::Csv => csv(r),
        Format::Json => serde_json::to_string_pretty(&to_json(r, clock)).unwrap_or_default() + "\n",
        Format::Markdown => markdown(r, clock),
        Format::Html => html(r, clock),
    }
}

fn kwh(j: f64) -> String {
    sig4(j / J_PER_KWH)
}

fn range(r: Ranged<f64>) -> String {
    format!("{} [{}–{}]", sig4(r.value), sig4(r.min), sig4(r.max))
}

fn crit(r: Ranged<Impacts>, f: fn(&Impacts) -> f64) -> Ranged<f64> {
    Ranged::new(f(&r.value), f(&r.min), f(&r.max))
}

fn gwp(i: &Impacts) -> f64 {
    i.gwp_kgco2eq
}
fn pe(i: &Impacts) -> f64 {
    i.pe_mj
}
fn adpe(i: &Impacts) -> f64 {
    i.adpe_kgsbeq
}

fn header_lines(r: &Report, clock: &Clock) -> Vec<String> {
    let mut v = vec![
        format!(
            "energy-assess report {}: {} to {} ({})",
            r.title,
            clock.format(r.start),
            clock.format(r.end),
            tz_name(clock)
        ),
        format!("Impacts: {}", r.impacts_provenance),
    ];
    if let Some(u) = &r.only_user {
        v.push(format!("Only the jobs of {u} (non-admin view)."));
    }
    if r.not_final_jobs > 0 {
        v.push(format!(
            "{} jobs still running or completing are left out until they are final.",
            r.not_final_jobs
        ));
    }
    v
}

fn tz_name(clock: &Clock) -> String {
    clock
        .tz
        .iana_name()
        .unwrap_or("system time zone")
        .to_string()
}

/// The columns of every summary table: (header, value).
fn summary_cells(t: &Totals) -> Vec<(&'static str, String)> {
    let has = t.jobs > t.jobs_without_impacts;
    let opt = |s: String| if has { s } else { "-".into() };
    vec![
        ("Jobs", t.jobs.to_string()),
        ("Measured", t.jobs_measured.to_string()),
        ("Split", t.jobs_split.to_string()),
        ("Estimated", t.jobs_estimated.to_string()),
        ("NodeHours", sig4(t.node_hours)),
        ("GPUHours", sig4(t.gpu_hours)),
        ("Energy kWh", kwh(t.energy_j())),
        ("Measured kWh", kwh(t.energy_measured_j)),
        ("Estimated kWh", kwh(t.energy_estimated_j)),
        (
            "Energy range kWh",
            format!("{}–{}", kwh(t.energy_min_j), kwh(t.energy_max_j)),
        ),
        ("GWP use kg", opt(sig4(t.use_phase.value.gwp_kgco2eq))),
        ("GWP embodied kg", opt(sig4(t.embodied.value.gwp_kgco2eq))),
        ("GWP kg [range]", opt(range(crit(t.total(), gwp)))),
        ("PE MJ [range]", opt(range(crit(t.total(), pe)))),
        ("ADPe kgSb [range]", opt(range(crit(t.total(), adpe)))),
    ]
}

fn text_table(title: &str, first: &str, rows: &[Totals]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let headers: Vec<&str> = std::iter::once(first)
        .chain(summary_cells(&rows[0]).iter().map(|(h, _)| *h))
        .collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            std::iter::once(t.key.clone())
                .chain(summary_cells(t).into_iter().map(|(_, v)| v))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = format!("\n{title}\n");
    let line = |cells: Vec<String>| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                let _ = write!(l, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(l, "  {}{c}", " ".repeat(pad));
            }
        }
        l.push('\n');
        l
    };
    s.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    s.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for r in body {
        s.push_str(&line(r));
    }
    s
}

fn table(r: &Report, clock: &Clock) -> String {
    let mut s = header_lines(r, clock).join("\n");
    s.push('\n');
    s.push_str(&text_table(
        "All jobs",
        "Scope",
        std::slice::from_ref(&r.all),
    ));
    s.push_str(&text_table("By cluster", "Cluster", &r.by_cluster));
    s.push_str(&text_table("By partition", "Partition", &r.by_partition));
    s.push_str(&text_table("By account", "Account", &r.by_account));
    s.push_str(&text_table("By user", "User", &r.by_user));
    if !r.top_jobs.is_empty() {
        s.push_str("\nTop jobs\n");
        for (i, t) in r.top_jobs.iter().enumerate() {
            let _ = writeln!(
                s,
                "{:>2}. {} {} user={} account={} partition={} node-hours={} energy={} kWh ({}){}",
                i + 1,
                t.cluster,
                t.job_id,
                t.user,
                t.account,
                t.partition,
                sig4(t.node_hours),
                kwh(t.energy_j),
                t.source.as_str(),
                t.gwp
                    .map(|g| format!(" GWP={} kgCO2eq", range(g)))
                    .unwrap_or_default()
            );
        }
    }
    s.push_str(&tail_text(r));
    s
}

fn tail_text(r: &Report) -> String {
    let mut s = String::new();
    match &r.unallocated {
        Some(u) => {
            let _ = writeln!(
                s,
                "\nUnallocated node-hours: {} ({}); embodied GWP {} kgCO2eq, PE {} MJ, ADPe {} kgSbeq",
                sig4(u.node_hours),
                u.note,
                range(crit(u.embodied, gwp)),
                range(crit(u.embodied, pe)),
                range(crit(u.embodied, adpe))
            );
        }
        None => s.push_str("\nUnallocated node-hours: not computed (needs an inventory of the nodes; admins only)\n"),
    }
    if r.reconciliation.is_empty() {
        s.push_str("Reconciliation: no node-level meter series ingested for this period\n");
    } else {
        s.push_str(
            "Reconciliation against node meters (kWh): node, meter, jobs, residual, coverage\n",
        );
        for n in &r.reconciliation {
            let _ = writeln!(
                s,
                "  {} {} {} {} {:.0}%",
                n.node,
                kwh(n.meter_j),
                kwh(n.jobs_j),
                kwh(n.residual_j()),
                n.coverage * 100.0
            );
        }
    }
    if !r.calibrations.is_empty() {
        s.push_str(
            "Estimates calibrated from measured jobs (group: fit [p10–p90 of measured/fit], n):\n",
        );
        for (g, c) in &r.calibrations {
            let _ = writeln!(
                s,
                "  {g}: {} [×{:.3}–{:.3}], {} jobs",
                c.describe(),
                c.low,
                c.high,
                c.n_jobs
            );
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(r: &Report) -> String {
    let mut s = String::from(
        "section,key,jobs,jobs_measured,jobs_split,jobs_estimated,node_hours,gpu_hours,energy_kwh,\
         energy_measured_kwh,energy_estimated_kwh,energy_min_kwh,energy_max_kwh,\
         gwp_use_kg,gwp_use_min_kg,gwp_use_max_kg,gwp_embodied_kg,gwp_embodied_min_kg,gwp_embodied_max_kg,\
         gwp_kg,gwp_min_kg,gwp_max_kg,pe_use_mj,pe_embodied_mj,pe_mj,pe_min_mj,pe_max_mj,\
         adpe_use_kgsb,adpe_embodied_kgsb,adpe_kgsb,adpe_min_kgsb,adpe_max_kgsb,jobs_without_impacts\n",
    );
    let sections: [(&str, &[Totals]); 5] = [
        ("all", std::slice::from_ref(&r.all)),
        ("cluster", &r.by_cluster),
        ("partition", &r.by_partition),
        ("account", &r.by_account),
        ("user", &r.by_user),
    ];
    for (name, rows) in sections {
        for t in rows {
            let tot = t.total();
            let nums = [
                t.node_hours,
                t.gpu_hours,
                t.energy_j() / J_PER_KWH,
                t.energy_measured_j / J_PER_KWH,
                t.energy_estimated_j / J_PER_KWH,
                t.energy_min_j / J_PER_KWH,
                t.energy_max_j / J_PER_KWH,
                t.use_phase.value.gwp_kgco2eq,
                t.use_phase.min.gwp_kgco2eq,
                t.use_phase.max.gwp_kgco2eq,
                t.embodied.value.gwp_kgco2eq,
                t.embodied.min.gwp_kgco2eq,
                t.embodied.max.gwp_kgco2eq,
                tot.value.gwp_kgco2eq,
                tot.min.gwp_kgco2eq,
                tot.max.gwp_kgco2eq,
                t.use_phase.value.pe_mj,
                t.embodied.value.pe_mj,
                tot.value.pe_mj,
                tot.min.pe_mj,
                tot.max.pe_mj,
                t.use_phase.value.adpe_kgsbeq,
                t.embodied.value.adpe_kgsbeq,
                tot.value.adpe_kgsbeq,
                tot.min.adpe_kgsbeq,
                tot.max.adpe_kgsbeq,
            ];
            let _ = write!(
                s,
                "{name},{},{},{},{},{}",
                csv_field(&t.key),
                t.jobs,
                t.jobs_measured,
                t.jobs_split,
                t.jobs_estimated
            );
            for n in nums {
                let _ = write!(s, ",{n}");
            }
            let _ = writeln!(s, ",{}", t.jobs_without_impacts);
        }
    }
    s
}

fn ranged_json(r: Ranged<Impacts>) -> Value {
    let one =
        |f: fn(&Impacts) -> f64| json!({"value": f(&r.value), "min": f(&r.min), "max": f(&r.max)});
    json!({"gwp_kgco2eq": one(gwp), "pe_mj": one(pe), "adpe_kgsbeq": one(adpe)})
}

fn totals_json(t: &Totals) -> Value {
    json!({
        "key": t.key,
        "jobs": t.jobs,
        "jobs_measured": t.jobs_measured,
        "jobs_split": t.jobs_split,
        "jobs_estimated": t.jobs_estimated,
        "jobs_without_impacts": t.jobs_without_impacts,
        "node_hours": t.node_hours,
        "gpu_hours": t.gpu_hours,
        "energy_j": {"total": t.energy_j(), "measured": t.energy_measured_j, "estimated": t.energy_estimated_j,
                     "min": t.energy_min_j, "max": t.energy_max_j},
        "use_phase": ranged_json(t.use_phase),
        "embodied": ranged_json(t.embodied),
        "total": ranged_json(t.total()),
    })
}

/// The report as JSON (energies in J here, as in `acct --json`).
pub fn to_json(r: &Report, clock: &Clock) -> Value {
    json!({
        "title": r.title,
        "start": clock.format(r.start),
        "end": clock.format(r.end),
        "time_zone": tz_name(clock),
        "generated_by": r.generated_by,
        "impacts": r.impacts_provenance,
        "only_user": r.only_user,
        "not_final_jobs": r.not_final_jobs,
        "all": totals_json(&r.all),
        "by_cluster": r.by_cluster.iter().map(totals_json).collect::<Vec<_>>(),
        "by_partition": r.by_partition.iter().map(totals_json).collect::<Vec<_>>(),
        "by_account": r.by_account.iter().map(totals_json).collect::<Vec<_>>(),
        "by_user": r.by_user.iter().map(totals_json).collect::<Vec<_>>(),
        "top_jobs": r.top_jobs.iter().map(|t| json!({
            "cluster": t.cluster, "job_id": t.job_id, "user": t.user, "account": t.account,
            "partition": t.partition, "name": t.name, "node_hours": t.node_hours, "energy_j": t.energy_j,
            "source": t.source.as_str(),
            "gwp_kgco2eq": t.gwp.map(|g| json!({"value": g.value, "min": g.min, "max": g.max})),
        })).collect::<Vec<_>>(),
        "days": r.days.iter().map(|d| json!({"date": d.date, "measured_j": d.measured_j, "estimated_j": d.estimated_j})).collect::<Vec<_>>(),
        "unallocated": r.unallocated.as_ref().map(|u| json!({"node_hours": u.node_hours, "note": u.note, "embodied": ranged_json(u.embodied)})),
        "reconciliation": r.reconciliation.iter().map(|n| json!({
            "node": n.node, "meter_j": n.meter_j, "jobs_j": n.jobs_j, "residual_j": n.residual_j(), "coverage": n.coverage,
        })).collect::<Vec<_>>(),
        "calibrations": r.calibrations.iter().map(|(g, c)| json!({
            "group": g, "factor": c.factor, "static_w_per_cpu": c.static_w_per_cpu, "low": c.low, "high": c.high, "n_jobs": c.n_jobs,
        })).collect::<Vec<_>>(),
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_table(title: &str, first: &str, rows: &[Totals]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let cells = summary_cells(&rows[0]);
    let mut s = format!("\n## {title}\n\n| {first} |");
    for (h, _) in &cells {
        let _ = write!(s, " {h} |");
    }
    s.push_str("\n|---|");
    for _ in &cells {
        s.push_str("---:|");
    }
    s.push('\n');
    for t in rows {
        let _ = write!(s, "| {} |", md_escape(&t.key));
        for (_, v) in summary_cells(t) {
            let _ = write!(s, " {} |", md_escape(&v));
        }
        s.push('\n');
    }
    s
}

fn markdown(r: &Report, clock: &Clock) -> String {
    let mut s = format!("# energy-assess report {}\n\n", r.title);
    for l in header_lines(r, clock).into_iter().skip(1) {
        let _ = writeln!(s, "{l}  ");
    }
    let _ = writeln!(
        s,
        "Period: {} to {} ({})",
        clock.format(r.start),
        clock.format(r.end),
        tz_name(clock)
    );
    s.push_str(&md_table("All jobs", "Scope", std::slice::from_ref(&r.all)));
    s.push_str(&md_table("By cluster", "Cluster", &r.by_cluster));
    s.push_str(&md_table("By partition", "Partition", &r.by_partition));
    s.push_str(&md_table("By account", "Account", &r.by_account));
    s.push_str(&md_table("By user", "User", &r.by_user));
    if !r.top_jobs.is_empty() {
        s.push_str("\n## Top jobs\n\n| # | Job | User | Account | Partition | Node-hours | Energy kWh | Source | GWP kg [range] |\n|---:|---|---|---|---|---:|---:|---|---:|\n");
        for (i, t) in r.top_jobs.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                md_escape(&t.cluster),
                md_escape(&t.job_id),
                md_escape(&t.user),
                md_escape(&t.account),
                md_escape(&t.partition),
                sig4(t.node_hours),
                kwh(t.energy_j),
                t.source.as_str(),
                t.gwp.map(range).unwrap_or_else(|| "-".into())
            );
        }
    }
    s.push_str("\n## Unallocated node-hours, reconciliation, calibration\n\n```\n");
    s.push_str(tail_text(r).trim_start());
    s.push_str("```\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal stacked bars: per account, use-phase and embodied GWP.
fn svg_accounts(r: &Report) -> String {
    let mut rows: Vec<&Totals> = r.by_account.iter().collect();
    rows.sort_by(|a, b| {
        b.total()
            .value
            .gwp_kgco2eq
            .total_cmp(&a.total().value.gwp_kgco2eq)
            .then(a.key.cmp(&b.key))
    });
    rows.truncate(15);
    let max = rows
        .iter()
        .map(|t| t.total().value.gwp_kgco2eq)
        .fold(0.0, f64::max);
    let (w, bar_h, label_w) = (720.0, 22.0, 160.0);
    let h = 40.0 + bar_h * rows.len() as f64;
    let mut s = format!(
        "<svg id=\"chart-account-impacts\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"GWP per account, use phase and embodied\">"
    );
    let _ = write!(
        s,
        "<text x=\"0\" y=\"14\" class=\"t\">GWP per account (kgCO2eq): <tspan class=\"use\">■ use phase</tspan> <tspan class=\"emb\">■ embodied</tspan></text>"
    );
    for (i, t) in rows.iter().enumerate() {
        let y = 28.0 + i as f64 * bar_h;
        let scale = if max > 0.0 {
            (w - label_w - 80.0) / max
        } else {
            0.0
        };
        let (u, e) = (
            t.use_phase.value.gwp_kgco2eq * scale,
            t.embodied.value.gwp_kgco2eq * scale,
        );
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" class=\"l\">{}</text><rect class=\"use\" x=\"{label_w}\" y=\"{y}\" width=\"{u:.2}\" height=\"{}\"><title>{}: use {} kg</title></rect><rect class=\"emb\" x=\"{:.2}\" y=\"{y}\" width=\"{e:.2}\" height=\"{}\"><title>{}: embodied {} kg</title></rect><text x=\"{:.2}\" y=\"{}\" class=\"l\">{}</text>",
            y + 15.0,
            esc(&t.key),
            bar_h - 6.0,
            esc(&t.key),
            sig4(t.use_phase.value.gwp_kgco2eq),
            label_w + u,
            bar_h - 6.0,
            esc(&t.key),
            sig4(t.embodied.value.gwp_kgco2eq),
            label_w + u + e + 4.0,
            y + 15.0,
            sig4(t.total().value.gwp_kgco2eq)
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical stacked bars: energy per day, measured and estimated.
fn svg_days(r: &Report) -> String {
    let (w, h, left, bottom) = (720.0, 240.0, 50.0, 30.0);
    let max = r
        .days
        .iter()
        .map(|d| d.measured_j + d.estimated_j)
        .fold(0.0, f64::max)
        / J_PER_KWH;
    let n = r.days.len().max(1) as f64;
    let bw = (w - left) / n;
    let mut s = format!(
        "<svg id=\"chart-daily-energy\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Energy per day\">"
    );
    let _ = write!(
        s,
        "<text x=\"0\" y=\"14\" class=\"t\">Energy per day (kWh, max {}): <tspan class=\"meas\">■ measured</tspan> <tspan class=\"est\">■ estimated</tspan></text>",
        sig4(max)
    );
    let plot_h = h - bottom - 24.0;
    for (i, d) in r.days.iter().enumerate() {
        let x = left + i as f64 * bw;
        let scale = if max > 0.0 { plot_h / max } else { 0.0 };
        let (m, e) = (
            d.measured_j / J_PER_KWH * scale,
            d.estimated_j / J_PER_KWH * scale,
        );
        let base = h - bottom;
        let _ = write!(
            s,
            "<rect class=\"meas\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{m:.2}\"><title>{} measured {} kWh</title></rect><rect class=\"est\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{e:.2}\"><title>{} estimated {} kWh</title></rect>",
            base - m,
            (bw - 1.0).max(0.5),
            d.date,
            sig4(d.measured_j / J_PER_KWH),
            base - m - e,
            (bw - 1.0).max(0.5),
            d.date,
            sig4(d.estimated_j / J_PER_KWH)
        );
        if i % 7 == 0 {
            let _ = write!(
                s,
                "<text x=\"{x:.2}\" y=\"{}\" class=\"l\">{}</text>",
                h - 10.0,
                &d.date[5..]
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The measured and estimated shares of energy and of jobs, as two 100 % bars.
fn svg_share(r: &Report) -> String {
    let t = &r.all;
    let (w, bar_w) = (720.0, 480.0);
    let e_total = t.energy_j();
    let e_share = if e_total > 0.0 {
        t.energy_measured_j / e_total
    } else {
        0.0
    };
    let j_share = if t.jobs > 0 {
        (t.jobs_measured + t.jobs_split) as f64 / t.jobs as f64
    } else {
        0.0
    };
    let mut s = format!(
        "<svg id=\"chart-measured-share\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"110\" role=\"img\" aria-label=\"Measured and estimated shares\">"
    );
    s.push_str("<text x=\"0\" y=\"14\" class=\"t\">Measured vs estimated: <tspan class=\"meas\">■ measured or split</tspan> <tspan class=\"est\">■ estimated</tspan></text>");
    for (i, (label, share)) in [("energy", e_share), ("jobs", j_share)]
        .into_iter()
        .enumerate()
    {
        let y = 30.0 + i as f64 * 36.0;
        let m = bar_w * share;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" class=\"l\">{label}</text><rect class=\"meas\" x=\"80\" y=\"{y}\" width=\"{m:.2}\" height=\"24\"><title>{label}: {:.1}% measured</title></rect><rect class=\"est\" x=\"{:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"24\"><title>{label}: {:.1}% estimated</title></rect><text x=\"{}\" y=\"{}\" class=\"l\">{:.1}% measured</text>",
            y + 16.0,
            share * 100.0,
            80.0 + m,
            bar_w - m,
            (1.0 - share) * 100.0,
            90.0 + bar_w,
            y + 16.0,
            share * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

fn html_table(title: &str, first: &str, rows: &[Totals]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "<h2>{}</h2><table><thead><tr><th>{}</th>",
        esc(title),
        esc(first)
    );
    for (h, _) in summary_cells(&rows[0]) {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for t in rows {
        let _ = write!(s, "<tr><td>{}</td>", esc(&t.key));
        for (_, v) in summary_cells(t) {
            let _ = write!(s, "<td class=\"n\">{}</td>", esc(&v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn html(r: &Report, clock: &Clock) -> String {
    let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(s, "<title>energy-assess report {}</title>", esc(&r.title));
    s.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
         th,td{border:1px solid #ccc;padding:2px 6px;font-size:13px}td.n{text-align:right}th{background:#f3f3f3}\
         .use{fill:#d95f02;color:#d95f02}.emb{fill:#7570b3;color:#7570b3}.meas{fill:#1b9e77;color:#1b9e77}\
         .est{fill:#bbb;color:#999}svg{display:block;margin:1em 0}svg .t{font-size:14px;font-weight:bold}svg .l{font-size:12px}\
         pre{background:#f7f7f7;padding:1em}</style></head><body>",
    );
    let _ = write!(s, "<h1>energy-assess report {}</h1>", esc(&r.title));
    for l in header_lines(r, clock).into_iter().skip(1) {
        let _ = write!(s, "<p>{}</p>", esc(&l));
    }
    let _ = write!(
        s,
        "<p>Period: {} to {} ({})</p>",
        clock.format(r.start),
        clock.format(r.end),
        esc(&tz_name(clock))
    );
    s.push_str(&svg_accounts(r));
    s.push_str(&svg_days(r));
    s.push_str(&svg_share(r));
    s.push_str(&html_table(
        "All jobs",
        "Scope",
        std::slice::from_ref(&r.all),
    ));
    s.push_str(&html_table("By cluster", "Cluster", &r.by_cluster));
    s.push_str(&html_table("By partition", "Partition", &r.by_partition));
    s.push_str(&html_table("By account", "Account", &r.by_account));
    s.push_str(&html_table("By user", "User", &r.by_user));
    if !r.top_jobs.is_empty() {
        s.push_str("<h2>Top jobs</h2><table><thead><tr><th>#</th><th>Job</th><th>User</th><th>Account</th><th>Partition</th><th>Node-hours</th><th>Energy kWh</th><th>Source</th><th>GWP kg [range]</th></tr></thead><tbody>");
        for (i, t) in r.top_jobs.iter().enumerate() {
            let _ = write!(
                s,
                "<tr><td class=\"n\">{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                i + 1,
                esc(&t.cluster),
                esc(&t.job_id),
                esc(&t.user),
                esc(&t.account),
                esc(&t.partition),
                sig4(t.node_hours),
                kwh(t.energy_j),
                t.source.as_str(),
                t.gwp.map(range).unwrap_or_else(|| "-".into())
            );
        }
        s.push_str("</tbody></table>");
    }
    let _ = write!(
        s,
        "<h2>Unallocated node-hours, reconciliation, calibration</h2><pre>{}</pre>",
        esc(tail_text(r).trim())
    );
    let _ = writeln!(
        s,
        "<p><small>{}</small></p></body></html>",
        esc(&r.generated_by)
    );
    s
}
