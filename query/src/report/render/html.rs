//! The report as one HTML page for people who decide: the period's totals and their change
//! first, what to know before trusting them, charts, then every table. No script and no
//! external file; it fits a 1366-pixel screen (tables scroll inside their own box, charts
//! scale to their column) and prints on A4 landscape.

use super::charts::{self, Bar, Chart, Line, OverTime, Spread};
use super::text::{self, Table};
use super::{ADPE, GWP, PE, RenderError, Style, crit, flags, header_lines, headline, tz_name};
use crate::report::timeline::{Step, Sums};
use crate::report::{Report, Totals};
use ea_sacct::timefmt::Clock;
use std::cmp::Ordering;
use std::fmt::Write as _;

const STYLE: &str = "\
:root{--ink:#1d2430;--muted:#5b6472;--line:#d8dde4;--bg:#f4f5f7}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{max-width:1280px;margin:0 auto;padding:20px 24px 40px}\
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px}\
p{margin:6px 0}.sub,.foot{color:var(--muted)}.foot{font-size:13px;overflow-wrap:anywhere}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:16px 0 8px}\
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px}\
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}\
.card .value{font-size:20px;font-weight:650;margin:2px 0}\
.card .detail,.card .change{font-size:13px;color:var(--muted)}\
.change.up{color:#b42318}.change.down{color:#067647}.change.neutral{color:var(--muted)}\
.notes{background:#fff8e6;border:1px solid #ecd38b;border-radius:8px;padding:8px 18px 8px 34px;margin:12px 0}\
.notes li{margin:4px 0}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;align-items:start}\
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px;min-width:0}\
figcaption{font-weight:600;margin:0 0 6px}\
svg.chart{display:block;width:100%;height:auto;max-width:100%}\
.scroll{overflow-x:auto;max-width:100%;background:#fff;border:1px solid var(--line);border-radius:8px}\
table{border-collapse:collapse;font-size:13px;width:100%}\
caption{text-align:left;font-weight:600;padding:8px 10px}\
th,td{padding:4px 10px;border-top:1px solid var(--line);white-space:nowrap;text-align:left}\
th{background:#eef0f3;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
@media (max-width:700px){.grid{grid-template-columns:1fr}}\
@media print{@page{size:A4 landscape;margin:12mm}\
body{background:#fff;font-size:11pt}main{max-width:none;padding:0}\
.grid{grid-template-columns:1fr 1fr}figure,.card,.notes,tr{break-inside:avoid}\
.scroll{overflow:visible;border:none}table{font-size:8pt}th,td{white-space:normal}\
h2{break-after:avoid}}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
pub(super) fn page(r: &Report, style: Style, clock: &Clock) -> Result<String, RenderError> {
    let charts = charts_of(r, style)?;
    let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(s, "<title>energy-assess report {}</title>", esc(&r.title));
    let _ = write!(s, "<style>{STYLE}</style></head><body><main>");
    let _ = write!(
        s,
        "<h1>Energy and environmental footprint: {}</h1>",
        esc(&r.title)
    );
    let _ = write!(
        s,
        "<p class=\"sub\">{} to {} ({}); every job of the period, measured or estimated.</p>",
        esc(&clock.format(r.start).replacen('T', " ", 1)),
        esc(&clock.format(r.end).replacen('T', " ", 1)),
        esc(&tz_name(clock))
    );
    s.push_str(&cards(r, style));
    s.push_str(&notes(r, style));
    s.push_str("<h2>Charts</h2><div class=\"grid\">");
    for c in &charts {
        let _ = write!(
            s,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(&c.caption),
            c.svg
        );
    }
    s.push_str("</div>");
    for t in text::tables(r, style) {
        s.push_str(&html_table(&t));
    }
    s.push_str(&unallocated(r));
    for l in header_lines(r, clock).into_iter().skip(1) {
        let _ = write!(s, "<p class=\"foot\">{}</p>", esc(&l));
    }
    let _ = writeln!(
        s,
        "<p class=\"foot\">{}</p></main></body></html>",
        esc(&r.generated_by)
    );
    Ok(s)
}

/// The headline figures as cards, and what they amount to in everyday terms.
fn cards(r: &Report, style: Style) -> String {
    let mut s = String::from("<section class=\"cards\" aria-label=\"Totals\">");
    for h in headline(r, style) {
        let impact = ["GWP", "PE", "ADPe", "Energy"].contains(&h.label);
        let change = h.change.map(|c| {
            let (class, arrow) = match (c.sign, impact) {
                (Ordering::Greater, true) => ("up", "▲"),
                (Ordering::Less, true) => ("down", "▼"),
                (Ordering::Greater, false) => ("neutral", "▲"),
                (Ordering::Less, false) => ("neutral", "▼"),
                (Ordering::Equal, _) => ("neutral", "="),
            };
            format!(
                "<div class=\"change {class}\">{arrow} {}</div>",
                esc(&c.text)
            )
        });
        let _ = write!(
            s,
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
             <div class=\"detail\">{}</div>{}</div>",
            esc(h.label),
            esc(&h.value),
            esc(&h.detail),
            change.unwrap_or_default()
        );
    }
    s.push_str("</section>");
    let t = &r.all;
    if t.has_impacts() {
        let sentence = ea_units::everyday::sentence(t.total().value.gwp_kgco2eq, t.energy_j());
        let _ = write!(s, "<p>In everyday terms: {}.</p>", esc(&sentence));
    }
    s
}

fn notes(r: &Report, style: Style) -> String {
    let mut s = String::from("<h2>What to know</h2><ul class=\"notes\">");
    for f in flags(r, style) {
        let _ = write!(s, "<li>{}</li>", esc(&f));
    }
    s.push_str("</ul>");
    s
}

fn html_table(t: &Table) -> String {
    let mut s = format!(
        "<h2>{}</h2><div class=\"scroll\"><table><thead><tr>",
        esc(&t.title)
    );
    let class = |i: usize| {
        if i < t.text_columns {
            ""
        } else {
            " class=\"n\""
        }
    };
    for (i, h) in t.headers.iter().enumerate() {
        let _ = write!(s, "<th{}>{}</th>", class(i), esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        s.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(s, "<td{}>{}</td>", class(i), esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

/// The node-hours no job held, as a table of its figures.
fn unallocated(r: &Report) -> String {
    let Some(u) = &r.unallocated else {
        return format!("<p>{}</p>", esc(&text::unallocated_line(r)));
    };
    let row = |name: &str, v: String| vec![name.to_string(), v];
    let t = Table {
        title: "Node-hours no job held".into(),
        headers: vec!["Figure".into(), "Value".into()],
        rows: vec![
            row("Node-hours", ea_units::hours(u.node_hours)),
            row(
                "Embodied GWP",
                super::ranged(GWP, crit(u.embodied, super::gwp)),
            ),
            row(
                "Embodied PE",
                super::ranged(PE, crit(u.embodied, super::pe)),
            ),
            row(
                "Embodied ADPe",
                super::ranged(ADPE, crit(u.embodied, super::adpe)),
            ),
            row("How", u.note.clone()),
        ],
        text_columns: 1,
    };
    html_table(&t)
}

fn bar_of(t: &Totals) -> Bar {
    let total = t.total();
    Bar {
        label: t.key.clone(),
        use_kg: t.use_phase.value.gwp_kgco2eq,
        embodied_kg: t.embodied.value.gwp_kgco2eq,
        min_kg: total.min.gwp_kgco2eq,
        max_kg: total.max.gwp_kgco2eq,
    }
}

/// The `n` heaviest of `rows` by GWP, heaviest first, and a caption saying how many there were.
fn heaviest(rows: &[Totals], n: usize, what: &str) -> (Vec<Bar>, String) {
    let mut v: Vec<&Totals> = rows.iter().filter(|t| t.has_impacts()).collect();
    v.sort_by(|a, b| {
        let (x, y) = (a.total().value.gwp_kgco2eq, b.total().value.gwp_kgco2eq);
        y.total_cmp(&x).then(a.key.cmp(&b.key))
    });
    let caption = if v.len() > n {
        format!(
            "GWP of the {n} heaviest {what} (of {}), use phase and embodied",
            v.len()
        )
    } else {
        format!(
            "GWP per {}, use phase and embodied",
            what.trim_end_matches('s')
        )
    };
    (v.into_iter().take(n).map(bar_of).collect(), caption)
}

/// Every chart the report has data for, in the page's order: where and when the impacts
/// are, then how sure they are.
fn charts_of(r: &Report, style: Style) -> Result<Vec<Chart>, RenderError> {
    let t = &r.all;
    let mut out = timelines(r, style)?;
    if t.has_impacts() {
        out.extend(impact_bars(r)?);
    }
    out.push(charts::ranges(
        "chart-ranges",
        "How sure: each total's range around its central value",
        &spreads(r, style),
    )?);
    let e = t.energy_j();
    let energy_share = if e > 0.0 {
        t.energy_measured_j / e
    } else {
        0.0
    };
    let job_share = (t.jobs_measured + t.jobs_split) as f64 / t.jobs.max(1) as f64;
    out.push(charts::measured_share(
        "chart-measured-share",
        "Measured against estimated",
        energy_share,
        job_share,
    )?);
    Ok(out)
}

/// GWP per partition, account and user, and month by month for a trend.
fn impact_bars(r: &Report) -> Result<Vec<Chart>, RenderError> {
    let mut out = Vec::new();
    let groups = [
        ("chart-partition-impacts", &r.by_partition, 12, "partitions"),
        ("chart-account-impacts", &r.by_account, 12, "accounts"),
        ("chart-top-users", &r.by_user, 10, "users"),
    ];
    for (id, rows, n, what) in groups {
        let (bars, caption) = heaviest(rows, n, what);
        if !bars.is_empty() {
            out.push(charts::gwp_bars(id, &caption, &bars)?);
        }
    }
    if !r.trend.is_empty() {
        let months: Vec<Bar> = r
            .trend
            .iter()
            .map(|p| Bar {
                label: p.title.clone(),
                ..bar_of(&p.totals)
            })
            .collect();
        out.push(charts::trend("chart-trend", "GWP month by month", &months)?);
    }
    Ok(out)
}

/// The headline figures with their ranges, for the chart of ranges.
fn spreads(r: &Report, style: Style) -> Vec<Spread> {
    let t = &r.all;
    let mut v = vec![Spread {
        label: "Energy",
        value: t.energy_j(),
        min: t.energy_min_j,
        max: t.energy_max_j,
        text: style
            .energy
            .range(t.energy_j(), t.energy_min_j, t.energy_max_j),
    }];
    if t.has_impacts() {
        for (label, q, f) in super::CRITERIA {
            let c = crit(t.total(), f);
            v.push(Spread {
                label,
                value: c.value,
                min: c.min,
                max: c.max,
                text: super::ranged(q, c),
            });
        }
    }
    v
}

/// Energy and GWP over the period's days (or hours).
fn timelines(r: &Report, style: Style) -> Result<Vec<Chart>, RenderError> {
    let slots = &r.timeline.slots;
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let labels: Vec<String> = slots.iter().map(|s| s.label.clone()).collect();
    let per = match r.timeline.step {
        Step::Hour => "hour by hour",
        Step::Day => "day by day",
    };
    let each = |f: fn(&Sums) -> f64| -> Vec<f64> { slots.iter().map(|s| f(&s.sums)).collect() };
    let top = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let energy = each(Sums::energy_j);
    let e = OverTime {
        labels: &labels,
        unit: style.energy.unit_for(top(&energy)),
        lines: vec![
            line("all jobs", charts::EMBODIED, energy),
            line(
                "measured or split",
                charts::MEASURED,
                each(|s| s.measured_j),
            ),
        ],
        band: Some((each(|s| s.energy_min_j), each(|s| s.energy_max_j))),
        substance: "",
    };
    let caption = format!("Energy, {per}");
    let mut out = vec![charts::over_time("chart-timeline-energy", &caption, &e)?];
    if r.all.has_impacts() {
        let gwp = each(|s| s.gwp_kg);
        let g = OverTime {
            labels: &labels,
            unit: GWP.unit_for(top(&gwp)),
            lines: vec![line("GWP", charts::USE, gwp)],
            band: Some((each(|s| s.gwp_min_kg), each(|s| s.gwp_max_kg))),
            substance: "CO2eq",
        };
        let caption = format!("GWP, {per}");
        out.push(charts::over_time("chart-timeline-gwp", &caption, &g)?);
    }
    Ok(out)
}

fn line(name: &str, color: plotters::style::RGBColor, values: Vec<f64>) -> Line {
    Line {
        name: name.into(),
        color,
        values,
    }
}
