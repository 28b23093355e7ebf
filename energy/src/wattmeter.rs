//! External wattmeter series: CSV of node, time and watts, such as Grid'5000's kwollect
//! exports (`timestamp,device_id,metric_id,value,labels`) or a plain `node,time,watts`.
//!
//! Columns are found by name in the header; quoted fields (kwollect's `labels` holds commas)
//! are read by the `csv` crate. When the file mixes metrics (kwollect puts the wattmeter and
//! the BMC in one export), the wattmeter one is kept: the metric given, or
//! `wattmetre_power_watt`, or the only one present.

use ea_sacct::timefmt::{Clock, TimeError, parse_dump_time};

/// One power reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The node, by its short name (before the first dot).
    pub node: String,
    /// Epoch seconds (fractional).
    pub t: f64,
    /// Power, W.
    pub watts: f64,
}

/// The metric kept by default from a multi-metric export (kwollect's name for the external
/// wattmeters).
pub const DEFAULT_METRIC: &str = "wattmetre_power_watt";

/// Samples read from a file, and the lines that could not be read.
#[derive(Debug, Default)]
pub struct Series {
    /// The readings, sorted by node then time, one per (node, time).
    pub samples: Vec<Sample>,
    /// (line, problem) of every row that could not be read.
    pub errors: Vec<(u64, String)>,
    /// Rows of other metrics, left out.
    pub skipped_other_metric: u64,
}

fn find(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

/// A wattmeter CSV that cannot be read as a whole (a row that cannot be read is only that
/// row's error, in [`Series::errors`]).
#[derive(Debug)]
pub enum WattmeterError {
    /// The header line is not CSV.
    Header(csv::Error),
    /// The header, joined with commas, lacks a node, time or watts column.
    Columns(String),
    /// No row has the metric asked for.
    NoSuchMetric {
        /// The metric asked for.
        wanted: String,
        /// The metrics the file has.
        found: Vec<String>,
    },
    /// The file mixes metrics, none of them [`DEFAULT_METRIC`], and none was asked for.
    MixedMetrics(Vec<String>),
}

impl std::fmt::Display for WattmeterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WattmeterError::Header(e) => write!(f, "cannot read the header: {e}"),
            WattmeterError::Columns(header) => write!(
                f,
                "the header ({header}) lacks a node, time or watts column; expected names such \
                 as node/device_id, time/timestamp, watts/value"
            ),
            WattmeterError::NoSuchMetric { wanted, found } => write!(
                f,
                "no rows of metric `{wanted}`; the file has: {}",
                found.join(", ")
            ),
            WattmeterError::MixedMetrics(found) => write!(
                f,
                "the file mixes metrics ({}); say which is the wattmeter with --wattmeter-metric",
                found.join(", ")
            ),
        }
    }
}

impl std::error::Error for WattmeterError {}

/// Reads a wattmeter CSV.
///
/// # Errors
/// A header without node, time and watts columns, or a metric column with several metrics and
/// none of them the one asked for (a row that cannot be read is only that row's error, in
/// [`Series::errors`]).
pub fn read(bytes: &[u8], clock: &Clock, metric: Option<&str>) -> Result<Series, WattmeterError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = rdr.headers().map_err(WattmeterError::Header)?.clone();
    let cols = Columns::of(&headers)?;
    let mut records = Vec::new();
    let mut series = Series::default();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        match rec {
            Ok(r) => records.push((line, r)),
            Err(e) => series.errors.push((line, e.to_string())),
        }
    }
    let wanted_metric = match cols.metric {
        None => None,
        Some(c) => wanted_metric(&records, c, metric)?,
    };
    for (line, r) in records {
        if let (Some(c), Some(want)) = (cols.metric, &wanted_metric)
            && r.get(c) != Some(want.as_str())
        {
            series.skipped_other_metric += 1;
            continue;
        }
        match cols.sample(&r, clock) {
            Ok(sample) => series.samples.push(sample),
            Err(problem) => series.errors.push((line, problem.to_string())),
        }
    }
    series
        .samples
        .sort_by(|a, b| a.node.cmp(&b.node).then(a.t.total_cmp(&b.t)));
    series
        .samples
        .dedup_by(|a, b| a.node == b.node && a.t == b.t);
    Ok(series)
}

/// Where a wattmeter CSV's columns are, found by name in its header.
struct Columns {
    node: usize,
    time: usize,
    watts: usize,
    metric: Option<usize>,
}

impl Columns {
    /// The columns of `headers`; an error naming the header when node, time or watts is
    /// missing.
    fn of(headers: &csv::StringRecord) -> Result<Self, WattmeterError> {
        let node = find(
            headers,
            &["node", "device_id", "host", "hostname", "node_name"],
        );
        let time = find(
            headers,
            &["time", "timestamp", "timestamp_utc", "date", "datetime"],
        );
        let watts = find(
            headers,
            &["watts", "value", "power", "power_w", "power_watt"],
        );
        let (Some(node), Some(time), Some(watts)) = (node, time, watts) else {
            return Err(WattmeterError::Columns(
                headers.iter().collect::<Vec<_>>().join(","),
            ));
        };
        let metric = find(headers, &["metric_id", "metric", "sensor"]);
        Ok(Self {
            node,
            time,
            watts,
            metric,
        })
    }

    /// One row's reading, or what is wrong with it.
    fn sample(&self, r: &csv::StringRecord, clock: &Clock) -> Result<Sample, RowError> {
        // kwollect names nodes by their short name; keep the part before the first dot so that
        // `gemini-1.lyon.grid5000.fr` and `gemini-1` meet (`.x` has no short name: fuzzing).
        let node = r.get(self.node).unwrap_or("").trim();
        let node = node.split('.').next().unwrap_or(node);
        let time = r.get(self.time).unwrap_or("").trim();
        let watts = r.get(self.watts).unwrap_or("").trim();
        if node.is_empty() {
            return Err(RowError::EmptyNode);
        }
        let t = parse_epoch_or_time(time, clock).map_err(RowError::Time)?;
        let Some(w) = watts
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
        else {
            return Err(RowError::Watts(watts.to_string()));
        };
        Ok(Sample {
            node: node.to_string(),
            t,
            watts: w,
        })
    }
}

/// The metric kept from a file whose column `c` names each row's metric: the one asked for,
/// else none when there is only one, else [`DEFAULT_METRIC`]; an error when the one asked for
/// is absent or the file mixes metrics without the default one.
fn wanted_metric(
    records: &[(u64, csv::StringRecord)],
    c: usize,
    metric: Option<&str>,
) -> Result<Option<String>, WattmeterError> {
    let mut metrics: Vec<&str> = records.iter().filter_map(|(_, r)| r.get(c)).collect();
    metrics.sort_unstable();
    metrics.dedup();
    match metric {
        Some(m) if metrics.contains(&m) => Ok(Some(m.to_string())),
        Some(m) => Err(WattmeterError::NoSuchMetric {
            wanted: m.to_string(),
            found: metrics.iter().map(|m| m.to_string()).collect(),
        }),
        None if metrics.len() <= 1 => Ok(None),
        None if metrics.contains(&DEFAULT_METRIC) => Ok(Some(DEFAULT_METRIC.to_string())),
        None => Err(WattmeterError::MixedMetrics(
            metrics.iter().map(|m| m.to_string()).collect(),
        )),
    }
}

/// What is wrong with one row, for its line's error.
#[derive(Debug)]
enum RowError {
    /// The node cell is empty.
    EmptyNode,
    /// The time cell is no time.
    Time(TimeCellError),
    /// The watts cell (as written) is not a power.
    Watts(String),
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::EmptyNode => f.write_str("empty node name"),
            RowError::Time(e) => e.fmt(f),
            RowError::Watts(w) => write!(f, "`{w}` is not a power in watts"),
        }
    }
}

/// A time cell that is no time, for the line's error.
#[derive(Debug)]
enum TimeCellError {
    /// Not a date-time Slurm writes (nor epoch seconds).
    Bad(TimeError),
    /// An empty or `Unknown`-like cell.
    Missing(String),
}

impl std::fmt::Display for TimeCellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeCellError::Bad(e) => write!(f, "time {e}"),
            TimeCellError::Missing(s) => write!(f, "no time in `{s}`"),
        }
    }
}

/// A time as epoch seconds (`1711985086.5`) or as a date-time in the clock's zone (fractional
/// seconds kept).
fn parse_epoch_or_time(s: &str, clock: &Clock) -> Result<f64, TimeCellError> {
    if let Ok(v) = s.parse::<f64>()
        && v > 1e8
    {
        return Ok(v);
    }
    let whole = parse_dump_time(s, clock)
        .map_err(TimeCellError::Bad)?
        .ok_or_else(|| TimeCellError::Missing(s.to_string()))?;
    let frac = s
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|f| {
            f.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|f| !f.is_empty())
        .and_then(|f| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok(whole as f64 + frac)
}

/// The longest gap between two readings that is bridged by a straight line; longer gaps count
/// as not covered.
pub const MAX_GAP_S: f64 = 300.0;

/// Energy (J) over `[t0, t1]` from one node's samples sorted by time (trapezoids, clipped to
/// the interval), and the fraction of the interval the samples covered.
pub fn integrate(samples: &[(f64, f64)], t0: f64, t1: f64) -> (f64, f64) {
    if t1 <= t0 || samples.len() < 2 {
        return (0.0, 0.0);
    }
    let first = samples.partition_point(|&(t, _)| t < t0).saturating_sub(1);
    let mut energy = 0.0;
    let mut covered = 0.0;
    for w in samples[first..].windows(2) {
        let ((ta, pa), (tb, pb)) = (w[0], w[1]);
        if ta >= t1 {
            break;
        }
        if tb <= t0 || tb - ta > MAX_GAP_S || tb <= ta {
            continue;
        }
        let (a, b) = (ta.max(t0), tb.min(t1));
        let p = |t: f64| pa + (pb - pa) * (t - ta) / (tb - ta);
        energy += (p(a) + p(b)) / 2.0 * (b - a);
        covered += b - a;
    }
    (energy, covered / (t1 - t0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    #[test]
    fn reads_kwollect_exports_and_keeps_the_wattmeter() {
        let csv = ",timestamp,device_id,metric_id,value,labels._device_orig\n\
            0,2022-04-01 17:24:46.000000,gemini-1,wattmetre_power_watt,1172.738,\"['p6', 'p7']\"\n\
            1,2022-04-01 17:24:47.000000,gemini-1,wattmetre_power_watt,1172.834,\"['p6', 'p7']\"\n\
            3,2022-04-01 17:24:48.540647,gemini-1,bmc_node_power_watt,1044.0,\n\
            4,2022-04-01 17:24:48.500000,gemini-1.lyon.grid5000.fr,wattmetre_power_watt,x,\n";
        let c = Clock::fixed(TimeZone::UTC, 0);
        let s = read(csv.as_bytes(), &c, None).unwrap();
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.skipped_other_metric, 1);
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].0, 5);
        assert_eq!(s.samples[1].t - s.samples[0].t, 1.0);
        assert_eq!(s.samples[0].node, "gemini-1");
        let e = read(b"a,b\n1,2\n", &c, None).unwrap_err().to_string();
        assert!(e.contains("lacks a node"), "{e}");
        let e = read(csv.as_bytes(), &c, Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bmc_node_power_watt"), "{e}");
    }

    #[test]
    fn a_node_without_a_short_name_is_an_error_of_its_line() {
        // Found by fuzzing: `.holy2c112501` became a sample of the node "".
        let csv =
            "node,time,watts\n.holy2c112501,2025-06-03 00:00:01,10\nn1,2025-06-03 00:00:01,10\n";
        let s = read(csv.as_bytes(), &Clock::fixed(TimeZone::UTC, 0), None).unwrap();
        assert_eq!(s.samples.len(), 1);
        assert_eq!(s.errors, [(2, "empty node name".to_string())]);
    }

    #[test]
    fn integration_clips_and_skips_gaps() {
        let s = [
            (0.0, 100.0),
            (10.0, 100.0),
            (20.0, 200.0),
            (1000.0, 200.0),
            (1010.0, 200.0),
        ];
        // 5..20: 5 s at 100 W, then 10 s ramping 100 -> 200 W.
        let (e, cov) = integrate(&s, 5.0, 20.0);
        assert!((e - (500.0 + 1500.0)).abs() < 1e-9, "{e}");
        assert!((cov - 1.0).abs() < 1e-12);
        // The 980 s gap is not bridged.
        let (e, cov) = integrate(&s, 0.0, 1010.0);
        assert!((e - (1000.0 + 1500.0 + 2000.0)).abs() < 1e-9, "{e}");
        assert!((cov - 30.0 / 1010.0).abs() < 1e-12);
        assert_eq!(integrate(&s, 5.0, 5.0), (0.0, 0.0));
    }
}
