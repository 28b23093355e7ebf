//! A report as a terminal table, CSV, JSON, Markdown or a self-contained HTML page with SVG
//! charts (no script, no external file: it can be mailed or archived as is).
//!
//! People's formats (table, Markdown, HTML) show each figure in the unit that fits it, with
//! three significant digits and its range in the same unit (`ea-units`); energies follow
//! `--units`. Scripts' formats (CSV, JSON) give plain numbers in fixed base units named in
//! their column names and keys: J, kgCO2eq, MJ, kgSbeq, hours.

mod charts;
mod data;
mod html;
mod text;

use super::notes::NoImpacts;
use super::{Report, Totals};
use ea_impact::{Impacts, Ranged};
use ea_sacct::timefmt::Clock;
use ea_units::{ADPE, EnergyUnits, GWP, PE, Quantity, UNKNOWN};
use ea_units::{count, hours, percent};
use std::fmt;

pub use data::to_json;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// CSV, one section after the other.
    Csv,
    /// JSON.
    Json,
    /// Markdown.
    Markdown,
    /// A self-contained HTML page with charts.
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

/// How people's formats show figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Style {
    /// Energies: J, kJ, MJ, GJ (the default), watt-hours, or one fixed unit (`--units`).
    pub energy: EnergyUnits,
}

/// Why a report could not be rendered.
#[derive(Debug)]
pub enum RenderError {
    /// The chart library refused a chart.
    Chart {
        /// Which chart.
        chart: &'static str,
        /// What the plotting backend said.
        message: String,
    },
    /// CSV writing failed.
    Csv(csv::Error),
    /// JSON writing failed.
    Json(serde_json::Error),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Chart { chart, message } => {
                write!(f, "cannot draw the chart {chart}: {message}")
            }
            RenderError::Csv(e) => write!(f, "cannot write the CSV: {e}"),
            RenderError::Json(e) => write!(f, "cannot write the JSON: {e}"),
        }
    }
}

impl std::error::Error for RenderError {}

/// Renders a report.
///
/// # Errors
/// A chart, the CSV or the JSON that could not be written (none is expected of finite
/// figures; a bug would show here rather than as a page with a chart missing).
pub fn render(
    r: &Report,
    format: Format,
    style: Style,
    clock: &Clock,
) -> Result<String, RenderError> {
    Ok(match format {
        Format::Table => text::table(r, style, clock),
        Format::Csv => data::csv(r)?,
        Format::Json => {
            serde_json::to_string_pretty(&to_json(r, clock)).map_err(RenderError::Json)? + "\n"
        }
        Format::Markdown => text::markdown(r, style, clock),
        Format::Html => html::page(r, style, clock)?,
    })
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

/// A criterion: its name, its quantity and how to read it from impacts.
type Criterion = (&'static str, Quantity, fn(&Impacts) -> f64);

/// The three criteria, in the order reports list them.
const CRITERIA: [Criterion; 3] = [("GWP", GWP, gwp), ("PE", PE, pe), ("ADPe", ADPE, adpe)];

/// `20.8 kg CO2eq (14.9–38.1 kg)`.
fn ranged(q: Quantity, r: Ranged<f64>) -> String {
    q.range(r.value, r.min, r.max)
}

/// The unit energies around `j` are shown in, for axes and bounds.
fn tz_name(clock: &Clock) -> String {
    clock
        .tz
        .iana_name()
        .unwrap_or("system time zone")
        .to_string()
}

/// The columns of every summary table: (header, value).
fn summary_cells(t: &Totals, style: Style) -> Vec<(&'static str, String)> {
    let impacts = |q: Quantity, f: fn(&Impacts) -> f64| {
        if t.has_impacts() {
            ranged(q, crit(t.total(), f))
        } else {
            UNKNOWN.into()
        }
    };
    let gwp_part = |v: f64| {
        if t.has_impacts() {
            GWP.human(v)
        } else {
            UNKNOWN.into()
        }
    };
    let e = style.energy;
    vec![
        ("Jobs", count(t.jobs)),
        ("Measured", count(t.jobs_measured)),
        ("Split", count(t.jobs_split)),
        ("Estimated", count(t.jobs_estimated)),
        ("Node-hours", hours(t.node_hours)),
        ("GPU-hours", hours(t.gpu_hours)),
        (
            "Energy (range)",
            e.range(t.energy_j(), t.energy_min_j, t.energy_max_j),
        ),
        ("Estimated energy", e.human(t.energy_estimated_j)),
        ("GWP use", gwp_part(t.use_phase.value.gwp_kgco2eq)),
        ("GWP embodied", gwp_part(t.embodied.value.gwp_kgco2eq)),
        ("GWP (range)", impacts(GWP, gwp)),
        ("PE (range)", impacts(PE, pe)),
        ("ADPe (range)", impacts(ADPE, adpe)),
    ]
}

/// One figure of the headline: what, how much, its range and parts, and its change.
struct Headline {
    label: &'static str,
    value: String,
    detail: String,
    change: Option<Change>,
}

/// A figure's change from the previous period.
struct Change {
    /// `+12.3 % on 2026-10`.
    text: String,
    /// Up, down or the same.
    sign: std::cmp::Ordering,
}

fn change(now: f64, then: Option<f64>, title: &str) -> Option<Change> {
    let then = then?;
    if then == 0.0 {
        return (now != 0.0).then(|| Change {
            text: format!("none in {title}"),
            sign: std::cmp::Ordering::Greater,
        });
    }
    let rel = (now - then) / then.abs();
    let sign = rel.partial_cmp(&0.0).unwrap_or(std::cmp::Ordering::Equal);
    let plus = if rel >= 0.0 { "+" } else { "−" };
    Some(Change {
        text: format!("{plus}{} on {title}", percent(rel.abs())),
        sign,
    })
}

/// The period's totals as a headline: impacts first, then energy, jobs and node-hours.
fn headline(r: &Report, style: Style) -> Vec<Headline> {
    let t = &r.all;
    let prev = r.previous.as_ref();
    let title = prev.map_or("", |p| p.title.as_str());
    let was = |f: &dyn Fn(&Totals) -> f64| prev.map(|p| f(&p.totals));
    let mut out = if t.has_impacts() {
        impact_headline(r)
    } else {
        Vec::new()
    };
    let e = t.energy_j();
    let unit = style.energy.unit_for(e);
    let measured = if e > 0.0 {
        t.energy_measured_j / e
    } else {
        0.0
    };
    let range = ea_units::bounds_in(unit, t.energy_min_j, t.energy_max_j);
    out.push(Headline {
        label: "Energy",
        value: style.energy.human(e),
        detail: format!("range {range} · {} measured", percent(measured)),
        change: change(e, was(&|p| p.energy_j()), title),
    });
    out.push(Headline {
        label: "Jobs",
        value: count(t.jobs),
        detail: format!(
            "{} measured · {} split · {} estimated",
            count(t.jobs_measured),
            count(t.jobs_split),
            count(t.jobs_estimated)
        ),
        change: change(t.jobs as f64, was(&|p| p.jobs as f64), title),
    });
    out.push(Headline {
        label: "Node-hours",
        value: hours(t.node_hours),
        detail: format!("{} GPU-hours", hours(t.gpu_hours)),
        change: change(t.node_hours, was(&|p| p.node_hours), title),
    });
    out
}

/// GWP (with its use phase and embodied parts), PE and ADPe, with their ranges and changes.
fn impact_headline(r: &Report) -> Vec<Headline> {
    let t = &r.all;
    let prev = r.previous.as_ref();
    let title = prev.map_or("", |p| p.title.as_str());
    CRITERIA
        .into_iter()
        .map(|(label, q, f)| {
            let v = crit(t.total(), f);
            let mut detail = format!("range {}", q.bounds(v.value, v.min, v.max));
            if label == "GWP" {
                let (u, e) = (f(&t.use_phase.value), f(&t.embodied.value));
                detail += &format!(" · use {} · embodied {}", q.short(u), q.short(e));
            }
            let then = prev.map(|p| f(&p.totals.total().value));
            Headline {
                label,
                value: q.human(v.value),
                detail,
                change: change(v.value, then, title),
            }
        })
        .collect()
}

/// The headline as one line of text per figure.
fn headline_lines(r: &Report, style: Style) -> Vec<String> {
    headline(r, style)
        .into_iter()
        .map(|h| {
            let change = h
                .change
                .map(|c| format!("; {}", c.text))
                .unwrap_or_default();
            format!("{}: {} ({}){change}", h.label, h.value, h.detail)
        })
        .collect()
}

/// What a reader must know before trusting the figures, one sentence each.
fn flags(r: &Report, style: Style) -> Vec<String> {
    let t = &r.all;
    let mut out = Vec::new();
    if let Some(u) = &r.only_user {
        out.push(format!(
            "Only the jobs of {u} (a user who is not an admin sees their own)."
        ));
    }
    if r.not_final_jobs > 0 {
        out.push(format!(
            "Not final yet: {} still running or completing, left out until they are.",
            jobs(r.not_final_jobs)
        ));
    }
    out.extend(estimated_flag(r, style));
    out.extend(without_impacts_flag(t));
    if t.jobs_partial_impacts > 0 {
        out.push(format!(
            "Impacts for part of their nodes only: {} (their other nodes are not in the \
             inventory).",
            jobs(t.jobs_partial_impacts)
        ));
    }
    if t.jobs_never_ran > 0 {
        out.push(format!(
            "Never ran: {} (cancelled before they started), counted with zero figures.",
            jobs(t.jobs_never_ran)
        ));
    }
    out.extend(oversubscribed_flags(r));
    out
}

/// `1 job`, `2,424 jobs`.
fn jobs(n: u64) -> String {
    if n == 1 {
        "1 job".into()
    } else {
        format!("{} jobs", count(n))
    }
}

fn estimated_flag(r: &Report, style: Style) -> Option<String> {
    let t = &r.all;
    if t.jobs_estimated == 0 {
        return None;
    }
    let e = t.energy_j();
    let share = if e > 0.0 {
        t.energy_estimated_j / e
    } else {
        0.0
    };
    let parts: Vec<String> = r
        .by_partition
        .iter()
        .filter(|p| p.jobs_estimated > 0)
        .map(|p| format!("{} {}", p.key, count(p.jobs_estimated)))
        .collect();
    Some(format!(
        "{} of {} jobs ({}) are estimated from their accounting, not measured: {} ({}) of the \
         energy. By partition: {}.",
        count(t.jobs_estimated),
        count(t.jobs),
        percent(t.jobs_estimated as f64 / t.jobs.max(1) as f64),
        style.energy.human(t.energy_estimated_j),
        percent(share),
        parts.join(", ")
    ))
}

fn without_impacts_flag(t: &Totals) -> Option<String> {
    if t.jobs_without_impacts == 0 {
        return None;
    }
    let why: Vec<String> = t
        .without_impacts
        .nonzero()
        .map(|(r, n): (NoImpacts, u64)| format!("{} {}", count(n), r.describe()))
        .collect();
    Some(format!(
        "Without impacts: {} ({}); their energy counts, their impacts are left out.",
        jobs(t.jobs_without_impacts),
        why.join("; ")
    ))
}

fn oversubscribed_flags(r: &Report) -> Vec<String> {
    let over: Vec<String> = r
        .by_partition
        .iter()
        .filter(|p| p.oversubscribed.jobs > 0)
        .map(|p| {
            let o = &p.oversubscribed;
            format!(
                "Oversubscribed nodes in {}: {} held {} node-hours on nodes whose shares summed \
                 above 1; the engine scaled them to the nodes' capacity and charged {} ({} \
                 node-hours beyond capacity were not charged).",
                p.key,
                jobs(o.jobs),
                hours(o.held_node_hours),
                hours(o.charged_node_hours),
                hours(o.excess_node_hours())
            )
        })
        .collect();
    let engine_ran = r.all.has_impacts();
    if over.is_empty() && engine_ran {
        return vec!["No node was oversubscribed: no node's shares summed above 1.".into()];
    }
    over
}

/// The period and what the impacts were computed with.
fn header_lines(r: &Report, clock: &Clock) -> Vec<String> {
    vec![
        format!(
            "energy-assess report {}: {} to {} ({})",
            r.title,
            clock.format(r.start),
            clock.format(r.end),
            tz_name(clock)
        ),
        format!("Impacts: {}", r.impacts_provenance),
    ]
}

#[cfg(test)]
mod tests;
