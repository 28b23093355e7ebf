//! Electricity factors: per country and year (boaviztapi 2.5.0, every zone), or an hourly
//! grid carbon-intensity series integrated over each job's interval.
//!
//! Every factor set has a [`FactorSetId`] (name, version, SHA-256 of its content) that results
//! record, so that a stored result can be recomputed, or at least recognised as stale, when the
//! factors change.

use crate::impacts::Impacts;
use crate::tables::tables;
use ea_record::UnixMicros;
use ea_record::sha256_hex;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which table or series a figure came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FactorSetId {
    /// What the table or series is (`boaviztapi electricity factors`, a series' file).
    pub name: String,
    /// Its version (`2.5.0`, `hourly`).
    pub version: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

impl fmt::Display for FactorSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (sha256 {})",
            self.name,
            self.version,
            &self.sha256[..12.min(self.sha256.len())]
        )
    }
}

/// The embodied tables (component factors, CPU and GPU specs, densities, archetypes, MLCA GPUs).
pub fn embodied_factor_set() -> FactorSetId {
    FactorSetId {
        name: "boaviztapi embodied factors and specs (+ MLCA GPU table)".into(),
        version: "2.5.0".into(),
        sha256: tables().embodied_sha256.clone(),
    }
}

/// The per-country electricity factors.
pub fn electricity_factor_set() -> FactorSetId {
    FactorSetId {
        name: "boaviztapi electricity factors".into(),
        version: "2.5.0".into(),
        sha256: tables().electricity_sha256.clone(),
    }
}

/// Yearly-average factors of one electricity zone (ISO 3166 alpha-3, or `WOR`, `EEE`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneFactors {
    /// The zone's code (`FRA`).
    pub zone: String,
    /// The country (or region) the code stands for.
    pub country: String,
    /// kgCO2eq per kWh.
    pub gwp_kg_per_kwh: f64,
    /// `None` for the three zones boaviztapi 2.5.0 gives no PE factor (ANT, GIB, HKG).
    pub pe_mj_per_kwh: Option<f64>,
    /// kgSbeq per kWh.
    pub adpe_kgsbeq_per_kwh: f64,
    /// Where the GWP figure comes from, and its reference year.
    pub gwp_source: String,
    /// See `gwp_source`.
    pub gwp_year: String,
}

/// The factors of `zone`, if boaviztapi's table has it (codes are upper case).
pub fn zone(zone: &str) -> Option<ZoneFactors> {
    tables()
        .electricity
        .iter()
        .find(|e| e.zone == zone)
        .map(|e| ZoneFactors {
            zone: e.zone.clone(),
            country: e.country.clone(),
            gwp_kg_per_kwh: e.gwp_kg_per_kwh,
            pe_mj_per_kwh: e.pe_mj_per_kwh,
            adpe_kgsbeq_per_kwh: e.adpe_kgsbeq_per_kwh,
            gwp_source: e.gwp_source.clone(),
            gwp_year: e.gwp_year.clone(),
        })
}

/// Every zone code with its country name, in code order.
pub fn zones() -> Vec<(String, String)> {
    tables()
        .electricity
        .iter()
        .map(|e| (e.zone.clone(), e.country.clone()))
        .collect()
}

/// Use-phase factors a node group applies, per kWh drawn from the grid (PUE applied first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElectricityFactors {
    /// kgCO2eq, kgSbeq and MJ per kWh.
    pub per_kwh: Impacts,
    /// The zone whose yearly factors these are (or that was overridden).
    pub zone: String,
    /// "boaviztapi 2.5.0", or which criteria the inventory overrides.
    pub source: String,
}

/// An hourly series of grid factors per zone, integrated over each job's interval instead of
/// the yearly average.
///
/// CSV, `#` comment lines allowed, a header naming the columns:
/// `zone,start,gwp_kg_per_kwh[,pe_mj_per_kwh][,adpe_kgsbeq_per_kwh]`. `start` is the UTC hour the
/// row covers, as `2026-01-31T13:00:00Z`, `2026-01-31 13:00:00` or Unix seconds; each row covers
/// one hour. A criterion without a column, or an empty cell, falls back to the zone's yearly
/// factor; so do hours the series lacks.
#[derive(Debug, Clone)]
pub struct HourlySeries {
    /// The series' file and content hash, for provenance.
    pub id: FactorSetId,
    zones: HashMap<String, ZoneSeries>,
}

#[derive(Debug, Clone, Default)]
struct ZoneSeries {
    /// Hour starts, Unix seconds, strictly increasing.
    start_s: Vec<i64>,
    /// Per hour; NaN where the cell was empty or the column absent.
    per_kwh: Vec<Impacts>,
}

/// A series that could not be read: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesError {
    /// The series' file.
    pub path: PathBuf,
    /// 1-based line; `None` for the file as a whole.
    pub line: Option<usize>,
    /// What is wrong, and the fix.
    pub problem: String,
}

impl fmt::Display for SeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.problem),
            None => write!(f, "{}: {}", self.path.display(), self.problem),
        }
    }
}

impl std::error::Error for SeriesError {}

const HOUR_S: i64 = 3600;

impl HourlySeries {
    /// Reads a series file.
    ///
    /// # Errors
    /// The file cannot be read, or [`HourlySeries::parse`] rejects it.
    pub fn load(path: &Path) -> Result<Self, SeriesError> {
        let text = std::fs::read_to_string(path).map_err(|e| SeriesError {
            path: path.to_path_buf(),
            line: None,
            problem: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses series text; `path` names it in errors and in the [`FactorSetId`].
    ///
    /// # Errors
    /// No header or no `zone`/`start`/`gwp_kg_per_kwh` column, an unknown column, a bad time or
    /// number, a negative or absurd factor (GWP above 3 kgCO2eq/kWh), an hour not on the hour,
    /// or the same zone and hour twice.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SeriesError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim_start().starts_with('#') && !l.trim().is_empty());
        let (header_no, header) = lines
            .next()
            .ok_or_else(|| series_error(path, None, "empty: no header line".into()))?;
        let columns = SeriesColumns::of(header, header_no + 1, path)?;
        let mut rows: HashMap<String, Vec<(i64, Impacts, usize)>> = HashMap::new();
        for (no, line) in lines {
            let line_no = no + 1;
            let (zone, start, per_kwh) = columns.row(line, line_no, path)?;
            rows.entry(zone.to_string())
                .or_default()
                .push((start, per_kwh, line_no));
        }
        let zones = zone_series(rows, path)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(HourlySeries {
            id: FactorSetId {
                name: format!("hourly series {name}"),
                version: "hourly".into(),
                sha256: sha256_hex(text.as_bytes()),
            },
            zones,
        })
    }

    /// Whether the series has rows for `zone`.
    pub fn has_zone(&self, zone: &str) -> bool {
        self.zones.contains_key(zone)
    }

    /// The time-weighted mean factors over `[start, end)` (energy assumed evenly spread over
    /// the interval), per criterion falling back to `yearly` where the series has no value.
    /// Also returns the fraction of the interval the series covered (for GWP).
    pub fn mean_over(
        &self,
        zone: &str,
        start: UnixMicros,
        end: UnixMicros,
        yearly: Impacts,
    ) -> (Impacts, f64) {
        let (s, e) = (start.as_secs_f64(), end.as_secs_f64());
        let Some(series) = self.zones.get(zone) else {
            return (yearly, 0.0);
        };
        if e <= s {
            // An instant: the factor of its hour.
            return match series
                .start_s
                .binary_search(&(start.as_secs().div_euclid(HOUR_S) * HOUR_S))
            {
                Ok(i) => (fill(series.per_kwh[i], yearly), 1.0),
                Err(_) => (yearly, 0.0),
            };
        }
        let first_hour = start.as_secs().div_euclid(HOUR_S) * HOUR_S;
        let mut i = series.start_s.partition_point(|&h| h < first_hour);
        let (mut sum, mut present, mut covered) = (Impacts::ZERO, 0.0, 0.0);
        while i < series.start_s.len() && (series.start_s[i] as f64) < e {
            let h = series.start_s[i] as f64;
            let overlap = (e.min(h + HOUR_S as f64) - s.max(h)).max(0.0);
            sum += fill(series.per_kwh[i], yearly) * overlap;
            present += overlap;
            if !series.per_kwh[i].gwp_kgco2eq.is_nan() {
                covered += overlap;
            }
            i += 1;
        }
        let total = e - s;
        // Hours the series lacks take the yearly factor.
        sum += yearly * (total - present);
        (sum * (1.0 / total), covered / total)
    }
}

/// An error of the series file at `path`, on `line` (1-based) if it is one line's.
fn series_error(path: &Path, line: Option<usize>, problem: String) -> SeriesError {
    SeriesError {
        path: path.to_path_buf(),
        line,
        problem,
    }
}

/// Where a series file's columns are, from its header.
struct SeriesColumns {
    count: usize,
    zone: usize,
    start: usize,
    gwp: usize,
    pe: Option<usize>,
    adpe: Option<usize>,
}

impl SeriesColumns {
    /// Reads the header (line `line_no`): only known columns, `zone`, `start` and
    /// `gwp_kg_per_kwh` required.
    fn of(header: &str, line_no: usize, path: &Path) -> Result<Self, SeriesError> {
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let known = [
            "zone",
            "start",
            "gwp_kg_per_kwh",
            "pe_mj_per_kwh",
            "adpe_kgsbeq_per_kwh",
        ];
        if let Some(bad) = columns.iter().find(|c| !known.contains(c)) {
            return Err(series_error(
                path,
                Some(line_no),
                format!("unknown column `{bad}`; columns are {}", known.join(", ")),
            ));
        }
        let at = |name: &str| columns.iter().position(|c| *c == name);
        let (Some(zone), Some(start), Some(gwp)) = (at("zone"), at("start"), at("gwp_kg_per_kwh"))
        else {
            return Err(series_error(
                path,
                Some(line_no),
                "the header must name `zone`, `start` and `gwp_kg_per_kwh`".into(),
            ));
        };
        Ok(Self {
            count: columns.len(),
            zone,
            start,
            gwp,
            pe: at("pe_mj_per_kwh"),
            adpe: at("adpe_kgsbeq_per_kwh"),
        })
    }

    /// One data line: its zone, the UTC hour it starts (on the hour) and its factors (NaN
    /// where a cell is empty or the column absent).
    fn row<'a>(
        &self,
        line: &'a str,
        line_no: usize,
        path: &Path,
    ) -> Result<(&'a str, i64, Impacts), SeriesError> {
        let err = |problem: String| series_error(path, Some(line_no), problem);
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != self.count {
            return Err(err(format!(
                "{} cells, the header has {}",
                cells.len(),
                self.count
            )));
        }
        let start = parse_utc_seconds(cells[self.start]).ok_or_else(|| {
            err(format!(
                "`{}` is not a UTC time (2026-01-31T13:00:00Z or Unix seconds)",
                cells[self.start]
            ))
        })?;
        if start.rem_euclid(HOUR_S) != 0 {
            return Err(err(format!(
                "`{}` is not on the hour; each row covers one whole UTC hour",
                cells[self.start]
            )));
        }
        let number = |col: Option<usize>, name: &str, max: f64| -> Result<f64, SeriesError> {
            let Some(c) = col else { return Ok(f64::NAN) };
            let cell = cells[c];
            if cell.is_empty() {
                return Ok(f64::NAN);
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| err(format!("`{cell}` in `{name}` is not a number")))?;
            if !(0.0..=max).contains(&v) {
                return Err(err(format!(
                    "{name} = {v} is outside 0..={max}; check the unit (kg, not g)"
                )));
            }
            Ok(v)
        };
        let per_kwh = Impacts::new(
            number(Some(self.gwp), "gwp_kg_per_kwh", 3.0)?,
            number(self.adpe, "adpe_kgsbeq_per_kwh", 1e-3)?,
            number(self.pe, "pe_mj_per_kwh", 1000.0)?,
        );
        let zone = cells[self.zone];
        if zone.is_empty() {
            return Err(err("empty zone".into()));
        }
        Ok((zone, start, per_kwh))
    }
}

/// Each zone's rows as a series sorted by hour; an hour given twice is an error.
fn zone_series(
    rows: HashMap<String, Vec<(i64, Impacts, usize)>>,
    path: &Path,
) -> Result<HashMap<String, ZoneSeries>, SeriesError> {
    let mut zones = HashMap::new();
    for (zone, mut r) in rows {
        r.sort_by_key(|x| x.0);
        if let Some(w) = r.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(series_error(
                path,
                Some(w[1].2),
                format!(
                    "zone {zone} has the hour starting at {} twice (first on line {})",
                    w[1].0, w[0].2
                ),
            ));
        }
        zones.insert(
            zone,
            ZoneSeries {
                start_s: r.iter().map(|x| x.0).collect(),
                per_kwh: r.iter().map(|x| x.1).collect(),
            },
        );
    }
    Ok(zones)
}

fn fill(v: Impacts, yearly: Impacts) -> Impacts {
    let pick = |x: f64, y: f64| if x.is_nan() { y } else { x };
    Impacts::new(
        pick(v.gwp_kgco2eq, yearly.gwp_kgco2eq),
        pick(v.adpe_kgsbeq, yearly.adpe_kgsbeq),
        pick(v.pe_mj, yearly.pe_mj),
    )
}

/// `2026-01-31T13:00:00Z`, `2026-01-31 13:00:00` (UTC) or Unix seconds.
fn parse_utc_seconds(text: &str) -> Option<i64> {
    if let Ok(s) = text.parse::<i64>() {
        return Some(s);
    }
    let t = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = t.split_once(['T', ' '])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut h = time.split(':');
    let (hh, mm): (i64, i64) = (h.next()?.parse().ok()?, h.next()?.parse().ok()?);
    let ss: i64 = h.next().map_or(Some(0), |x| x.parse().ok())?;
    // Bounded before the arithmetic: a year of 19 digits overflowed it (found by fuzzing).
    if d.next().is_some()
        || !(0..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0..=60).contains(&ss)
    {
        return None;
    }
    Some(days_from_civil(y, mo, da) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methodology_case_v4_yearly_factors() {
        // 10 kWh: FRA 0.98 kg, 112.89 MJ, 4.85798e-7 kgSb; DEU, WOR, EEE likewise.
        for (code, gwp, pe, adpe) in [
            ("FRA", 0.98, 112.89, 4.85798e-7),
            ("DEU", 4.22, 162.60, 8.78733e-7),
            ("WOR", 3.90, 99.88, 7.37708e-7),
            ("EEE", 3.80, 128.73, 6.42317e-7),
        ] {
            let z = zone(code).unwrap();
            assert!((z.gwp_kg_per_kwh * 10.0 - gwp).abs() < 1e-9, "{code}");
            assert!(
                (z.pe_mj_per_kwh.unwrap() * 10.0 - pe).abs() < 1e-9,
                "{code}"
            );
            assert!(
                (z.adpe_kgsbeq_per_kwh * 10.0 - adpe).abs() < 1e-18,
                "{code}"
            );
        }
        assert!(zone("ANT").unwrap().pe_mj_per_kwh.is_none());
        assert!(zone("FR").is_none());
        assert_eq!(zones().len(), 139);
    }

    #[test]
    fn utc_times() {
        assert_eq!(parse_utc_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc_seconds("2026-01-31T13:00:00Z"),
            Some(1_769_864_400)
        );
        assert_eq!(parse_utc_seconds("2026-01-31 13:00"), Some(1_769_864_400));
        assert_eq!(parse_utc_seconds("1769864400"), Some(1_769_864_400));
        assert_eq!(parse_utc_seconds("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc_seconds("yesterday"), None);
    }

    fn series() -> HourlySeries {
        let text = "# test\nzone,start,gwp_kg_per_kwh,pe_mj_per_kwh\n\
                    FR,2026-01-01T00:00:00Z,0.1,\n\
                    FR,2026-01-01T01:00:00Z,0.3,20\n\
                    FR,2026-01-01T03:00:00Z,0.5,\n";
        HourlySeries::parse(text, Path::new("fr.csv")).unwrap()
    }

    #[test]
    fn integrates_over_the_interval_and_falls_back_outside() {
        let s = series();
        let yearly = Impacts::new(0.2, 1e-8, 10.0);
        let t0 = parse_utc_seconds("2026-01-01T00:30:00Z").unwrap();
        // 00:30–01:30: half at 0.1, half at 0.3.
        let (f, cov) = s.mean_over(
            "FR",
            UnixMicros::from_secs(t0),
            UnixMicros::from_secs(t0 + 3600),
            yearly,
        );
        assert!((f.gwp_kgco2eq - 0.2).abs() < 1e-12);
        assert!(
            (f.pe_mj - 15.0).abs() < 1e-12,
            "PE: half yearly 10, half 20"
        );
        assert_eq!(f.adpe_kgsbeq, 1e-8);
        assert_eq!(cov, 1.0);
        // 01:30–03:30: 0.3 for 30 min, yearly 0.2 for 60 min (02:00 missing), 0.5 for 30 min.
        let (f, cov) = s.mean_over(
            "FR",
            UnixMicros::from_secs(t0 + 3600),
            UnixMicros::from_secs(t0 + 3 * 3600),
            yearly,
        );
        assert!(
            (f.gwp_kgco2eq - (0.3 * 0.25 + 0.2 * 0.5 + 0.5 * 0.25)).abs() < 1e-12,
            "{f:?}"
        );
        assert!((cov - 0.5).abs() < 1e-12);
        // Unknown zone: yearly, nothing covered.
        assert_eq!(
            s.mean_over("DE", UnixMicros(0), UnixMicros(1), yearly),
            (yearly, 0.0)
        );
        assert_eq!(s.id.sha256.len(), 64);
    }

    #[test]
    fn bad_series_name_the_line() {
        let e = HourlySeries::parse("zone,start,gwp\nFR,0,1\n", Path::new("x.csv")).unwrap_err();
        assert!(e.to_string().contains("unknown column `gwp`"), "{e}");
        let e = HourlySeries::parse(
            "zone,start,gwp_kg_per_kwh\nFR,0,0.1\nFR,1800,0.1\n",
            Path::new("x.csv"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = HourlySeries::parse("zone,start,gwp_kg_per_kwh\nFR,0,56\n", Path::new("x.csv"))
            .unwrap_err();
        assert!(e.problem.contains("kg, not g"), "{e}");
        let e = HourlySeries::parse(
            "zone,start,gwp_kg_per_kwh\nFR,0,0.1\nFR,0,0.2\n",
            Path::new("x.csv"),
        )
        .unwrap_err();
        assert!(e.problem.contains("twice"), "{e}");
    }

    #[test]
    fn out_of_range_times_are_refused_not_overflowed() {
        for t in [
            "999999999999999999-01-01T00:00:00Z",
            "2026-01-01T-1:00:00Z",
            "2026-01-01T00:-5:00Z",
            "-2026-01-01 00:00:00",
        ] {
            assert_eq!(parse_utc_seconds(t), None, "{t}");
        }
        assert_eq!(parse_utc_seconds("1970-01-02T00:00:00Z"), Some(86_400));
    }
}
