//! The report's formats: units for people, base units for scripts, the flags, the page.

use super::*;
use crate::report::notes::{ByReason, Oversubscribed};
use crate::report::tests::Month;
use crate::report::timeline::{Step, Timeline};
use crate::report::{PeriodTotals, Report, Totals};

/// Whether `s` writes a number with an exponent (`1e6`, `2.5e-3`): digits, `e`, digits, not
/// inside a word or a colour (`#fff8e6`).
pub(super) fn has_exponent(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(1)).any(|i| {
        let next = match b[i + 1] {
            b'+' | b'-' => b.get(i + 2),
            _ => b.get(i + 1),
        };
        let mut start = i;
        while start > 0 && (b[start - 1].is_ascii_digit() || b[start - 1] == b'.') {
            start -= 1;
        }
        let in_word = start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'#');
        matches!(b[i], b'e' | b'E')
            && b[i - 1].is_ascii_digit()
            && next.is_some_and(u8::is_ascii_digit)
            && !in_word
    })
}

#[test]
fn an_exponent_is_found_and_words_are_not() {
    assert!(has_exponent("x 5.938e6 y") && has_exponent("1E-3") && has_exponent("2e+9"));
    assert!(!has_exponent("stroke-width=\"1\" free 3e x1e2 #fff8e6"));
}

fn utc() -> Clock {
    Clock::fixed(jiff::tz::TimeZone::UTC, 0)
}

/// A report of the given totals and partitions, nothing else.
fn report_of(all: Totals, partitions: Vec<Totals>) -> Report {
    Report {
        title: "2026-11".into(),
        start: 0,
        end: 30 * 86_400,
        generated_by: "test".into(),
        impacts_provenance: "test".into(),
        only_user: None,
        all,
        by_cluster: Vec::new(),
        by_partition: partitions,
        by_account: Vec::new(),
        by_user: Vec::new(),
        top_jobs: Vec::new(),
        timeline: Timeline {
            step: Step::Day,
            slots: Vec::new(),
        },
        unallocated: None,
        reconciliation: Vec::new(),
        calibrations: Vec::new(),
        not_final_jobs: 0,
        previous: None,
        trend: Vec::new(),
    }
}

fn totals(key: &str, jobs: u64, gwp_kg: f64) -> Totals {
    let mut t = Totals::new(key);
    t.jobs = jobs;
    t.jobs_estimated = jobs / 2;
    t.jobs_measured = jobs - jobs / 2;
    t.energy_measured_j = 3.0e9;
    t.energy_estimated_j = 1.0e9;
    t.energy_min_j = 3.5e9;
    t.energy_max_j = 8.0e9;
    let i = |g: f64| Impacts::new(g, g * 1e-5, g * 60.0);
    t.use_phase = Ranged::new(i(gwp_kg * 0.6), i(gwp_kg * 0.5), i(gwp_kg));
    t.embodied = Ranged::new(i(gwp_kg * 0.4), i(gwp_kg * 0.3), i(gwp_kg));
    t.node_hours = 50_271_234.4;
    t
}

#[test]
fn a_change_is_signed_and_a_period_without_any_says_so() {
    let up = change(112.3, Some(100.0), "2026-10").unwrap();
    assert_eq!(
        (up.text.as_str(), up.sign),
        ("+12.3 % on 2026-10", std::cmp::Ordering::Greater)
    );
    let down = change(50.0, Some(200.0), "2026-10").unwrap();
    assert_eq!(down.text, "−75.0 % on 2026-10");
    assert_eq!(
        change(5.0, Some(0.0), "2026-10").unwrap().text,
        "none in 2026-10"
    );
    assert!(change(0.0, Some(0.0), "x").is_none() && change(1.0, None, "x").is_none());
}

#[test]
fn the_headline_gives_each_total_in_its_unit_with_its_range_and_change() {
    let mut r = report_of(totals("all", 2000, 5.938e6), Vec::new());
    r.previous = Some(PeriodTotals {
        title: "2026-10".into(),
        start: 0,
        end: 0,
        totals: totals("all", 1000, 4.0e6),
        not_final_jobs: 0,
    });
    let lines = headline_lines(&r, Style::default());
    assert_eq!(
        lines[0],
        "GWP: 5.94 kt CO2eq (range 4.75–11.9 kt · use 3.56 kt · embodied 2.38 kt); +48.4 % on 2026-10"
    );
    assert!(
        lines[3].starts_with("Energy: 4.00 GJ (range 3.50–8.00 GJ · 75.0 % measured)"),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        "Jobs: 2,000 (1,000 measured · 0 split · 1,000 estimated); +100.0 % on 2026-10"
    );
    assert!(
        lines[5].starts_with("Node-hours: 50,271,234 (0 GPU-hours)"),
        "{}",
        lines[5]
    );
    let wh = headline_lines(
        &r,
        Style {
            energy: EnergyUnits::WattHours,
        },
    );
    assert!(
        wh[3].starts_with("Energy: 1.11 MWh (range 0.972–2.22 MWh"),
        "{}",
        wh[3]
    );
}

#[test]
fn flags_say_what_a_reader_must_know_with_counts() {
    let mut all = totals("all", 10, 1.0);
    all.jobs_without_impacts = 3;
    let mut why = ByReason::default();
    why.count(crate::report::notes::NoImpacts::NodesNotInInventory);
    why.count(crate::report::notes::NoImpacts::NodesNotInInventory);
    why.count(crate::report::notes::NoImpacts::NoNodeList);
    all.without_impacts = why;
    all.jobs_never_ran = 1;
    all.jobs_partial_impacts = 2;
    let mut cpu = totals("c/cpu", 10, 1.0);
    cpu.oversubscribed = Oversubscribed {
        jobs: 2,
        held_node_hours: 6.0,
        charged_node_hours: 5.0,
    };
    let gpu = totals("c/gpu", 4, 1.0);
    let mut r = report_of(all, vec![cpu, gpu]);
    r.not_final_jobs = 1;
    let f = flags(&r, Style::default());
    assert_eq!(
        f[0],
        "Not final yet: 1 job still running or completing, left out until they are."
    );
    assert_eq!(
        f[1],
        "5 of 10 jobs (50.0 %) are estimated from their accounting, not measured: 1.00 GJ (25.0 %) \
         of the energy. By partition: c/cpu 5, c/gpu 2."
    );
    assert_eq!(
        f[2],
        "Without impacts: 3 jobs (1 no node list in the accounting; 2 none of their nodes is in \
         the inventory); their energy counts, their impacts are left out."
    );
    assert!(
        f[3].starts_with("Impacts for part of their nodes only: 2 jobs"),
        "{}",
        f[3]
    );
    assert!(f[4].starts_with("Never ran: 1 job"), "{}", f[4]);
    assert_eq!(
        f[5],
        "Oversubscribed nodes in c/cpu: 2 jobs held 6.00 node-hours on nodes whose shares summed \
         above 1; the engine scaled them to the nodes' capacity and charged 5.00 (1.00 node-hours \
         beyond capacity were not charged)."
    );
    assert_eq!(f.len(), 6, "{f:?}");
    // Nothing oversubscribed: said, once the engine ran.
    let quiet = report_of(totals("all", 10, 1.0), vec![totals("c/cpu", 10, 1.0)]);
    assert!(
        flags(&quiet, Style::default())
            .iter()
            .any(|l| l.starts_with("No node was oversubscribed"))
    );
}

#[test]
fn people_get_units_that_fit_and_never_an_exponent() {
    let r = report_of(
        totals("all", 50_271_234, 5.938e6),
        vec![totals("c/cpu", 3, 2.5e-6)],
    );
    for format in [Format::Table, Format::Markdown, Format::Html] {
        for energy in [
            EnergyUnits::Joules,
            EnergyUnits::WattHours,
            EnergyUnits::parse("kWh").unwrap(),
        ] {
            let text = render(&r, format, Style { energy }, &utc()).unwrap();
            assert!(!has_exponent(&text), "{format:?} {energy:?}");
            assert!(
                text.contains("50,271,234"),
                "counts are grouped ({format:?})"
            );
            assert!(text.contains("5.94 kt CO2eq (4.75–11.9 kt)"), "{format:?}");
            // 2.5e-6 kg in the unit that fits: 2.50 mg.
            assert!(text.contains("2.50 mg CO2eq"), "{format:?}");
        }
    }
    let kwh = render(
        &r,
        Format::Table,
        Style {
            energy: EnergyUnits::parse("kWh").unwrap(),
        },
        &utc(),
    )
    .unwrap();
    assert!(kwh.contains("1,110 kWh (972 kWh–2,220 kWh)"), "{kwh}");
    let joules = render(&r, Format::Table, Style::default(), &utc()).unwrap();
    assert!(joules.contains("4.00 GJ (3.50–8.00 GJ)"), "{joules}");
}

#[test]
fn scripts_get_plain_numbers_in_base_units_named_by_their_columns_and_keys() {
    let m = Month::new("render-data", 300, true);
    let r = m.report();
    let csv_text = render(&r, Format::Csv, Style::default(), &m.clock).unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for c in [
        "energy_j",
        "gwp_kgco2eq",
        "gwp_use_kgco2eq_min",
        "pe_mj_max",
        "adpe_embodied_kgsbeq",
    ] {
        assert!(header.iter().any(|h| h == c), "no column {c}: {header:?}");
    }
    assert!(
        header
            .iter()
            .any(|h| h == "jobs_without_impacts_nodes_not_in_inventory")
    );
    assert!(header.iter().any(|h| h == "oversubscribed_held_node_hours"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let all = rows.iter().find(|r| &r[0] == "all").unwrap();
    // Read back, the same f64 as the report's.
    assert_eq!(
        all[col("energy_j")].parse::<f64>().unwrap(),
        r.all.energy_j()
    );
    assert_eq!(
        all[col("gwp_kgco2eq_max")].parse::<f64>().unwrap(),
        r.all.total().max.gwp_kgco2eq
    );
    assert_eq!(
        rows.iter().filter(|r| &r[0] == "partition").count(),
        r.by_partition.len()
    );
    for row in &rows {
        for (i, v) in row.iter().enumerate().skip(2) {
            assert!(
                v.parse::<f64>().is_ok(),
                "{} of {} is {v:?}",
                header[i],
                &row[1]
            );
        }
    }
    check_json(&r, &m.clock);
}

/// The JSON of `r`: base units in its keys, the same numbers as the report's.
fn check_json(r: &Report, clock: &Clock) {
    let json: serde_json::Value =
        serde_json::from_str(&render(r, Format::Json, Style::default(), clock).unwrap()).unwrap();
    assert_eq!(
        json["all"]["energy_j"]["total"].as_f64().unwrap(),
        r.all.energy_j()
    );
    assert_eq!(
        json["all"]["total"]["gwp_kgco2eq"]["value"]
            .as_f64()
            .unwrap(),
        r.all.total().value.gwp_kgco2eq
    );
    assert_eq!(json["timeline"]["step"], "day");
    assert!(json["all"]["jobs_without_impacts_by_reason"]["no_node_list"].is_u64());
}

#[test]
fn groups_without_impacts_are_empty_in_csv_and_null_in_json() {
    let mut t = totals("all", 4, 1.0);
    t.jobs_without_impacts = 4;
    let r = report_of(t, Vec::new());
    let text = render(&r, Format::Csv, Style::default(), &utc()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let at = header.iter().position(|h| h == "gwp_kgco2eq").unwrap();
    assert_eq!(&row[at], "");
    assert_eq!(
        &row[header.iter().position(|h| h == "energy_j").unwrap()],
        "4000000000"
    );
    let json = to_json(&r, &utc());
    assert!(json["all"]["total"].is_null());
    let table = render(&r, Format::Table, Style::default(), &utc()).unwrap();
    assert!(
        !table.contains("GWP:"),
        "no impact in the headline: {table}"
    );
}

#[test]
fn the_page_has_every_chart_no_script_and_nothing_from_outside() {
    let m = Month::new("render-page", 400, true);
    let r = m.report();
    let page = render(&r, Format::Html, Style::default(), &m.clock).unwrap();
    for id in [
        "chart-timeline-energy",
        "chart-timeline-gwp",
        "chart-partition-impacts",
        "chart-account-impacts",
        "chart-top-users",
        "chart-ranges",
        "chart-measured-share",
    ] {
        assert_eq!(
            page.matches(&format!("<svg id=\"{id}\"")).count(),
            1,
            "{id}"
        );
    }
    assert!(!page.contains("chart-trend"), "a single month has no trend");
    assert!(!page.contains("<script") && !page.contains("<pre"));
    for outside in ["src=", "href=", "url(", "@import", "<link"] {
        assert!(!page.contains(outside), "{outside}");
    }
    // The only address is the SVG namespace's.
    assert_eq!(
        page.matches("http").count(),
        page.matches("http://www.w3.org/2000/svg").count()
    );
    assert_eq!(
        page.matches("<svg ").count(),
        page.matches("viewBox=").count()
    );
    assert!(page.contains("svg.chart{display:block;width:100%;height:auto;max-width:100%}"));
    assert!(page.contains("@media print"));
    assert!(
        page.contains("<div class=\"scroll\"><table>"),
        "tables scroll in their box"
    );
    assert!(page.contains("<h2>What to know</h2>"));
}
