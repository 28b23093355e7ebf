//! The report for a terminal (aligned columns) and as Markdown.

use super::{
    ADPE, GWP, PE, Style, crit, flags, header_lines, headline_lines, ranged, summary_cells, tz_name,
};
use crate::report::{PeriodTotals, Report, Totals};
use ea_sacct::timefmt::Clock;
use ea_units::{count, hours, percent};
use std::fmt::Write as _;

/// A table: a title, its headers and its rows of cells, numbers right-aligned.
pub(super) struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns holding text (left-aligned); the others hold numbers.
    pub text_columns: usize,
}

/// The summary table of `rows`, their names under `first`.
pub(super) fn summary(title: &str, first: &str, rows: &[Totals], style: Style) -> Option<Table> {
    let head = rows.first()?;
    let headers = std::iter::once(first.to_string())
        .chain(
            summary_cells(head, style)
                .into_iter()
                .map(|(h, _)| h.to_string()),
        )
        .collect();
    let rows = rows
        .iter()
        .map(|t| {
            std::iter::once(t.key.clone())
                .chain(summary_cells(t, style).into_iter().map(|(_, v)| v))
                .collect()
        })
        .collect();
    Some(Table {
        title: title.into(),
        headers,
        rows,
        text_columns: 1,
    })
}

/// The months of a trend, or the previous period, as a summary table.
pub(super) fn periods(title: &str, periods: &[&PeriodTotals], style: Style) -> Option<Table> {
    let rows: Vec<Totals> = periods
        .iter()
        .map(|p| Totals {
            key: p.title.clone(),
            ..p.totals.clone()
        })
        .collect();
    summary(title, "Period", &rows, style)
}

/// Every table of the report's figures, in the order they are printed.
pub(super) fn tables(r: &Report, style: Style) -> Vec<Table> {
    let trend: Vec<&PeriodTotals> = r.trend.iter().collect();
    let previous: Vec<&PeriodTotals> = r.previous.iter().collect();
    [
        summary("All jobs", "Scope", std::slice::from_ref(&r.all), style),
        periods("Previous period", &previous, style),
        periods("Months", &trend, style),
        summary("By cluster", "Cluster", &r.by_cluster, style),
        summary("By partition", "Partition", &r.by_partition, style),
        summary("By account", "Account", &r.by_account, style),
        summary("By user", "User", &r.by_user, style),
        top_jobs(r, style),
        reconciliation(r, style),
        calibrations(r),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub(super) fn top_jobs(r: &Report, style: Style) -> Option<Table> {
    if r.top_jobs.is_empty() {
        return None;
    }
    let headers = [
        "#",
        "Cluster",
        "Job",
        "User",
        "Account",
        "Partition",
        "Source",
        "Node-hours",
        "Energy",
        "GWP (range)",
    ];
    let rows = r
        .top_jobs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            vec![
                (i + 1).to_string(),
                t.cluster.clone(),
                t.job_id.clone(),
                t.user.clone(),
                t.account.clone(),
                t.partition.clone(),
                t.source.as_str().to_string(),
                hours(t.node_hours),
                style.energy.human(t.energy_j),
                t.gwp
                    .map_or_else(|| ea_units::UNKNOWN.into(), |g| ranged(GWP, g)),
            ]
        })
        .collect();
    Some(Table {
        title: "Top jobs".into(),
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
        text_columns: 7,
    })
}

pub(super) fn reconciliation(r: &Report, style: Style) -> Option<Table> {
    if r.reconciliation.is_empty() {
        return None;
    }
    let e = style.energy;
    let rows = r
        .reconciliation
        .iter()
        .map(|n| {
            vec![
                n.node.clone(),
                e.human(n.meter_j),
                e.human(n.jobs_j),
                e.human(n.residual_j()),
                percent(n.coverage),
            ]
        })
        .collect();
    Some(Table {
        title: "Reconciliation against node meters".into(),
        headers: [
            "Node",
            "Meter",
            "Jobs",
            "Residual (idle, unmeasured)",
            "Coverage",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        rows,
        text_columns: 1,
    })
}

pub(super) fn calibrations(r: &Report) -> Option<Table> {
    if r.calibrations.is_empty() {
        return None;
    }
    let rows = r
        .calibrations
        .iter()
        .map(|(g, c)| {
            vec![
                g.clone(),
                c.describe(),
                format!("×{:.3}–{:.3}", c.low, c.high),
                count(c.n_jobs as u64),
            ]
        })
        .collect();
    Some(Table {
        title: "Estimates calibrated from measured jobs".into(),
        headers: ["Group", "Fit", "Measured / fit (p10–p90)", "Jobs"]
            .iter()
            .map(|h| h.to_string())
            .collect(),
        rows,
        text_columns: 3,
    })
}

/// The node-hours no job held, in a sentence.
pub(super) fn unallocated_line(r: &Report) -> String {
    match &r.unallocated {
        Some(u) => format!(
            "Unallocated node-hours: {} ({}); their embodied impacts: GWP {}, PE {}, ADPe {}.",
            hours(u.node_hours),
            u.note,
            ranged(GWP, crit(u.embodied, super::gwp)),
            ranged(PE, crit(u.embodied, super::pe)),
            ranged(ADPE, crit(u.embodied, super::adpe))
        ),
        None => "Unallocated node-hours: not computed (needs an inventory of the nodes; admins \
                 only)."
            .into(),
    }
}

fn aligned(t: &Table) -> String {
    let widths: Vec<usize> = (0..t.headers.len())
        .map(|i| {
            t.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([t.headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - c.chars().count());
            let sep = if i == 0 { "" } else { "  " };
            if i < t.text_columns {
                let _ = write!(l, "{sep}{c}{pad}");
            } else {
                let _ = write!(l, "{sep}{pad}{c}");
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut s = format!("\n{}\n", t.title);
    s.push_str(&line(&t.headers));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    s.push_str(&line(&rule));
    for r in &t.rows {
        s.push_str(&line(r));
    }
    s
}

pub(super) fn table(r: &Report, style: Style, clock: &Clock) -> String {
    let mut s = header_lines(r, clock).join("\n") + "\n\n";
    for l in headline_lines(r, style) {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(
        s,
        "In everyday terms: {}.",
        ea_units::everyday::sentence(r.all.total().value.gwp_kgco2eq, r.all.energy_j())
    );
    s.push_str("\nWhat to know\n");
    for f in flags(r, style) {
        let _ = writeln!(s, "- {f}");
    }
    for t in tables(r, style) {
        s.push_str(&aligned(&t));
    }
    let _ = writeln!(s, "\n{}", unallocated_line(r));
    if r.reconciliation.is_empty() {
        s.push_str("Reconciliation: no node-level meter series ingested for this period.\n");
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_table(t: &Table) -> String {
    let mut s = format!("\n## {}\n\n|", t.title);
    for h in &t.headers {
        let _ = write!(s, " {} |", md_escape(h));
    }
    s.push_str("\n|");
    for i in 0..t.headers.len() {
        s.push_str(if i < t.text_columns { "---|" } else { "---:|" });
    }
    s.push('\n');
    for r in &t.rows {
        s.push('|');
        for c in r {
            let _ = write!(s, " {} |", md_escape(c));
        }
        s.push('\n');
    }
    s
}

pub(super) fn markdown(r: &Report, style: Style, clock: &Clock) -> String {
    let mut s = format!("# energy-assess report {}\n\n", md_escape(&r.title));
    let _ = writeln!(
        s,
        "Period: {} to {} ({})  ",
        clock.format(r.start),
        clock.format(r.end),
        tz_name(clock)
    );
    let _ = writeln!(s, "Impacts: {}\n", md_escape(&r.impacts_provenance));
    for h in super::headline(r, style) {
        let change = h
            .change
            .map(|c| format!("; {}", c.text))
            .unwrap_or_default();
        let (v, d) = (md_escape(&h.value), md_escape(&h.detail));
        let _ = writeln!(s, "- **{}:** {v} ({d}){change}", h.label);
    }
    let _ = writeln!(
        s,
        "\nIn everyday terms: {}.",
        ea_units::everyday::sentence(r.all.total().value.gwp_kgco2eq, r.all.energy_j())
    );
    s.push_str("\n## What to know\n\n");
    for f in flags(r, style) {
        let _ = writeln!(s, "- {}", md_escape(&f));
    }
    for t in tables(r, style) {
        s.push_str(&md_table(&t));
    }
    let _ = writeln!(s, "\n{}", md_escape(&unallocated_line(r)));
    if r.reconciliation.is_empty() {
        s.push_str("\nReconciliation: no node-level meter series ingested for this period.\n");
    }
    s
}
