//! Hourly grid-factor series (CSV, configs/factors/hourly-series-example.csv):
//! `ea_impact::HourlySeries::parse`.
//!
//! Asserts, for a series it accepts: for every zone named in the text's first column that the
//! series has, the time-weighted mean factors over an instant, an hour and a year around each
//! row's start (and over all time) are finite and non-negative, with a coverage in [0, 1].
#![no_main]

use ea_impact::{HourlySeries, Impacts};
use ea_record::UnixMicros;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// The boaviztapi yearly factors of France, the fallback for hours the series lacks.
const YEARLY: Impacts = Impacts {
    gwp_kgco2eq: 0.098,
    adpe_kgsbeq: 4.858e-8,
    pe_mj: 11.289,
};

fn check(series: &HourlySeries, zone: &str, start: UnixMicros, end: UnixMicros) {
    let (mean, covered) = series.mean_over(zone, start, end, YEARLY);
    for v in [mean.gwp_kgco2eq, mean.adpe_kgsbeq, mean.pe_mj] {
        assert!(
            v.is_finite() && v >= 0.0,
            "zone {zone} over [{start:?}, {end:?}): {mean:?}"
        );
    }
    assert!(
        (0.0..=1.0).contains(&covered),
        "zone {zone} over [{start:?}, {end:?}): coverage {covered}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(series) = HourlySeries::parse(text, Path::new("/nonexistent/fuzz/series.csv")) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().skip(1).take(64) {
        let mut cells = line.split(',').map(str::trim);
        let (Some(zone), Some(start)) = (cells.next(), cells.next()) else {
            continue;
        };
        if !series.has_zone(zone) {
            continue;
        }
        // Rows given in Unix seconds are checked around their hour; the others around now.
        let t = start
            .parse::<i64>()
            .unwrap_or(1_795_694_400)
            .clamp(-1 << 40, 1 << 40);
        let at = |s: i64| UnixMicros(s * 1_000_000);
        check(&series, zone, at(t), at(t));
        check(&series, zone, at(t - 1800), at(t + 1800));
        check(&series, zone, at(t - 86_400 * 182), at(t + 86_400 * 183));
        if seen.insert(zone.to_string()) {
            check(&series, zone, at(-(1 << 40)), at(1 << 40));
        }
    }
});
