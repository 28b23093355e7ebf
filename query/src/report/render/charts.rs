//! The HTML page's charts, drawn by `plotters` into inline SVG: bars of GWP split use phase
//! and embodied with the range of each total as a whisker, lines of energy and GWP over the
//! period with their range as a band, the ranges of the headline figures, the measured share
//! and a trend of months. Each SVG keeps the crate's viewBox and gets an id, so that the page
//! scales it to its column and a test can find it.

use super::RenderError;
use ea_units::{GWP, Unit, sig3};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Root<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

pub(super) const USE: RGBColor = RGBColor(217, 95, 2);
pub(super) const EMBODIED: RGBColor = RGBColor(117, 112, 179);
pub(super) const MEASURED: RGBColor = RGBColor(27, 158, 119);
pub(super) const ESTIMATED: RGBColor = RGBColor(160, 160, 160);
const INK: RGBColor = RGBColor(29, 36, 48);
const BAND: RGBColor = RGBColor(210, 214, 222);
const FONT: &str = "sans-serif";

/// Width of every chart in the SVG's own units (the page scales it).
const WIDTH: u32 = 640;
/// Room for the names left of horizontal bars.
const NAMES_W: u32 = 150;

/// A drawn chart.
#[derive(Debug)]
pub(super) struct Chart {
    pub caption: String,
    pub svg: String,
}

/// Draws a chart of `size` with `draw` and names its SVG.
fn chart(
    id: &'static str,
    caption: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Root<'_>) -> Drawn,
) -> Result<Chart, RenderError> {
    let failed = |e: DrawingAreaErrorKind<std::io::Error>| RenderError::Chart {
        chart: id,
        message: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    let label = caption
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let named = format!("<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-label=\"{label}\" ");
    Ok(Chart {
        caption: caption.to_string(),
        svg: svg.replacen("<svg ", &named, 1),
    })
}

/// Text of `px` pixels: the SVG backend writes font sizes smaller by this much.
const SVG_FONT_SCALE: f64 = 1.24;

fn font(px: f64) -> TextStyle<'static> {
    (FONT, px * SVG_FONT_SCALE).into_font().color(&INK)
}

/// A row of coloured squares and names along the top of a chart.
fn legend(root: &Root<'_>, items: &[(&str, RGBColor)]) -> Drawn {
    let mut x = 8;
    for (name, color) in items {
        root.draw(&Rectangle::new([(x, 8), (x + 11, 19)], color.filled()))?;
        root.draw(&Text::new(
            name.to_string(),
            (x + 16, 14),
            font(13.0).pos(left_middle()),
        ))?;
        x += 16 + 8 * name.chars().count() as i32 + 18;
    }
    Ok(())
}

fn left_middle() -> Pos {
    Pos::new(HPos::Left, VPos::Center)
}

fn right_middle() -> Pos {
    Pos::new(HPos::Right, VPos::Center)
}

/// A name short enough for the room left of a bar.
fn short_name(s: &str) -> String {
    if s.chars().count() <= 20 {
        s.to_string()
    } else {
        s.chars().take(19).collect::<String>() + "…"
    }
}

/// One bar: a group's GWP, use phase and embodied, and the range of their sum (kgCO2eq).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bar {
    pub label: String,
    pub use_kg: f64,
    pub embodied_kg: f64,
    pub min_kg: f64,
    pub max_kg: f64,
}

impl Bar {
    fn total(&self) -> f64 {
        self.use_kg + self.embodied_kg
    }
}

/// The largest figure of `bars` (their range's upper ends included) and the GWP unit for it.
fn bars_scale(bars: &[Bar]) -> (f64, Unit) {
    let top = bars
        .iter()
        .map(|b| b.max_kg.max(b.total()))
        .fold(0.0, f64::max);
    (top, GWP.unit_for(top))
}

/// Horizontal bars, heaviest first: use phase then embodied, a whisker from the range's
/// lower to its upper end, the total written after it.
pub(super) fn gwp_bars(
    id: &'static str,
    caption: &str,
    bars: &[Bar],
) -> Result<Chart, RenderError> {
    let n = bars.len();
    let (top, unit) = bars_scale(bars);
    let k = 1.0 / unit.per_base;
    let x_max = (top * k * 1.25).max(f64::MIN_POSITIVE);
    let height = 80 + 26 * n as u32;
    chart(id, caption, (WIDTH, height), |root| {
        legend(
            root,
            &[("use phase", USE), ("embodied", EMBODIED), ("range", INK)],
        )?;
        let area = root.margin(26, 4, 4, 12);
        let mut c = ChartBuilder::on(&area)
            .x_label_area_size(40)
            .y_label_area_size(NAMES_W)
            .build_cartesian_2d(0f64..x_max, 0f64..n as f64)?;
        let x_desc = format!("{} CO2eq", unit.symbol);
        let fmt = |v: &f64| sig3(*v);
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_label_formatter(&fmt)
            .x_desc(x_desc)
            .label_style(font(12.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;
        draw_bars(&mut c, bars, k)?;
        name_bars(root, &c, bars, k)
    })
}

/// A chart over two axes of numbers.
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The bars of [`gwp_bars`], row 0 at the top, values × `k`.
fn draw_bars(c: &mut Plot<'_, '_>, bars: &[Bar], k: f64) -> Drawn {
    let n = bars.len();
    let y = |i: usize| (n - 1 - i) as f64;
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        Rectangle::new(
            [(0.0, y(i) + 0.2), (b.use_kg * k, y(i) + 0.8)],
            USE.filled(),
        )
    }))?;
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let (a, z) = (b.use_kg * k, b.total() * k);
        Rectangle::new([(a, y(i) + 0.2), (z, y(i) + 0.8)], EMBODIED.filled())
    }))?;
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let (lo, mid, hi) = (b.min_kg * k, b.total() * k, b.max_kg * k);
        ErrorBar::new_horizontal(y(i) + 0.5, lo, mid, hi, INK.filled().stroke_width(1), 8)
    }))?;
    Ok(())
}

/// Each bar's name left of it and its total after its whisker.
fn name_bars(root: &Root<'_>, c: &Plot<'_, '_>, bars: &[Bar], k: f64) -> Drawn {
    let n = bars.len();
    for (i, b) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64 + 0.5;
        let (x0, yc) = c.backend_coord(&(0.0, y));
        let name = short_name(&b.label);
        root.draw(&Text::new(
            name,
            (x0 - 8, yc),
            font(14.0).pos(right_middle()),
        ))?;
        let (x1, _) = c.backend_coord(&(b.max_kg.max(b.total()) * k, y));
        // Each total in the unit that fits it, whatever the axis's.
        let value = GWP.short(b.total());
        root.draw(&Text::new(
            value,
            (x1 + 6, yc),
            font(13.0).pos(left_middle()),
        ))?;
    }
    Ok(())
}

/// A figure and its range, for the chart of how sure the headline is.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spread {
    pub label: &'static str,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    /// The figure and its range as the headline writes them.
    pub text: String,
}

/// Each headline figure's range as a whisker around its central value (100 %), so that the
/// uncertainty of energy, GWP, PE and ADPe compare at a glance.
pub(super) fn ranges(
    id: &'static str,
    caption: &str,
    rows: &[Spread],
) -> Result<Chart, RenderError> {
    let rows: Vec<&Spread> = rows.iter().filter(|s| s.value > 0.0).collect();
    let n = rows.len();
    let pct = |s: &Spread, x: f64| x / s.value * 100.0;
    let x_max = rows.iter().map(|s| pct(s, s.max)).fold(110.0, f64::max) * 1.08;
    chart(id, caption, (WIDTH, 70 + 34 * n as u32), |root| {
        let area = root.margin(8, 4, 4, 230);
        let mut c = ChartBuilder::on(&area)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..n.max(1) as f64)?;
        let fmt = |v: &f64| format!("{v:.0} %");
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_label_formatter(&fmt)
            .x_desc("of the central value")
            .label_style(font(12.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;
        let y = |i: usize| (n - 1 - i) as f64 + 0.5;
        c.draw_series(std::iter::once(PathElement::new(
            vec![(100.0, 0.0), (100.0, n as f64)],
            BAND.stroke_width(2),
        )))?;
        c.draw_series(rows.iter().enumerate().map(|(i, s)| {
            let (lo, hi) = (pct(s, s.min), pct(s, s.max));
            ErrorBar::new_horizontal(y(i), lo, 100.0, hi, USE.filled().stroke_width(2), 12)
        }))?;
        for (i, s) in rows.iter().enumerate() {
            let (x0, yc) = c.backend_coord(&(0.0, y(i)));
            root.draw(&Text::new(
                s.label,
                (x0 - 8, yc),
                font(14.0).pos(right_middle()),
            ))?;
            let (x1, _) = c.backend_coord(&(x_max, y(i)));
            root.draw(&Text::new(
                s.text.clone(),
                (x1 + 10, yc),
                font(13.0).pos(left_middle()),
            ))?;
        }
        Ok(())
    })
}

/// A line over the period's slots, in base units.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub name: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// What a line chart over time shows: its slots' labels, lines, the range as a band, and the
/// unit of its axis.
pub(super) struct OverTime<'a> {
    pub labels: &'a [String],
    pub lines: Vec<Line>,
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    pub unit: Unit,
    pub substance: &'a str,
}

/// `11-07` for a day, `11-07 13:00` for an hour.
fn slot_label(s: &str) -> String {
    s.get(5..).unwrap_or(s).to_string()
}

/// Lines over time with the range as a band behind them.
pub(super) fn over_time(
    id: &'static str,
    caption: &str,
    t: &OverTime<'_>,
) -> Result<Chart, RenderError> {
    let n = t.labels.len().max(1);
    let k = 1.0 / t.unit.per_base;
    let y_max = (t.top() * k * 1.1).max(f64::MIN_POSITIVE);
    let mut items: Vec<(&str, RGBColor)> =
        t.lines.iter().map(|l| (l.name.as_str(), l.color)).collect();
    if t.band.is_some() {
        items.push(("range", BAND));
    }
    chart(id, caption, (WIDTH, 300), |root| {
        legend(root, &items)?;
        let area = root.margin(26, 4, 4, 16);
        let mut c = ChartBuilder::on(&area)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..y_max)?;
        let labels = t.labels;
        let x_fmt = |v: &f64| {
            at_index(labels, *v)
                .map(|l| slot_label(l))
                .unwrap_or_default()
        };
        let y_fmt = |v: &f64| sig3(*v);
        let y_desc = format!("{} {}", t.unit.symbol, t.substance);
        c.configure_mesh()
            .x_labels(n.min(8))
            .x_label_formatter(&x_fmt)
            .y_labels(6)
            .y_label_formatter(&y_fmt)
            .y_desc(y_desc.trim())
            .label_style(font(12.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;
        draw_over_time(&mut c, t, k)
    })
}

impl OverTime<'_> {
    /// The largest value of the lines and of the band.
    fn top(&self) -> f64 {
        let band = self.band.iter().flat_map(|(_, hi)| hi.iter().copied());
        let lines = self.lines.iter().flat_map(|l| l.values.iter().copied());
        band.chain(lines).fold(0.0, f64::max)
    }
}

/// The item of `items` at `x` when `x` is a whole index of it (axes label whole slots only).
fn at_index<T>(items: &[T], x: f64) -> Option<&T> {
    let i = x.round();
    ((x - i).abs() < 1e-6 && i >= 0.0)
        .then(|| items.get(i as usize))
        .flatten()
}

/// The band behind, then each line with a dot per slot where there are few.
fn draw_over_time(c: &mut Plot<'_, '_>, t: &OverTime<'_>, k: f64) -> Drawn {
    if let Some((lo, hi)) = &t.band {
        let upper = hi.iter().enumerate().map(|(i, v)| (i as f64, v * k));
        let lower = lo.iter().enumerate().rev().map(|(i, v)| (i as f64, v * k));
        let points: Vec<(f64, f64)> = upper.chain(lower).collect();
        c.draw_series(std::iter::once(Polygon::new(points, BAND.filled())))?;
    }
    for l in &t.lines {
        let points = l.values.iter().enumerate().map(|(i, v)| (i as f64, v * k));
        c.draw_series(LineSeries::new(points.clone(), l.color.stroke_width(2)))?;
        if l.values.len() <= 40 {
            c.draw_series(points.map(|p| Circle::new(p, 2, l.color.filled())))?;
        }
    }
    Ok(())
}

/// Two bars of 100 %: the measured (or split) share of the energy and of the jobs.
pub(super) fn measured_share(
    id: &'static str,
    caption: &str,
    energy: f64,
    jobs: f64,
) -> Result<Chart, RenderError> {
    let rows = [("energy", energy), ("jobs", jobs)];
    chart(id, caption, (WIDTH, 130), |root| {
        legend(
            root,
            &[("measured or split", MEASURED), ("estimated", ESTIMATED)],
        )?;
        let area = root.margin(26, 4, 4, 16);
        let mut c = ChartBuilder::on(&area)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..100.0, 0f64..2.0)?;
        let fmt = |v: &f64| format!("{v:.0} %");
        c.configure_mesh()
            .disable_mesh()
            .y_labels(0)
            .x_labels(5)
            .x_label_formatter(&fmt)
            .label_style(font(12.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;
        for (i, (name, share)) in rows.iter().enumerate() {
            let y = (1 - i) as f64;
            let m = share * 100.0;
            c.draw_series([
                Rectangle::new([(0.0, y + 0.2), (m, y + 0.8)], MEASURED.filled()),
                Rectangle::new([(m, y + 0.2), (100.0, y + 0.8)], ESTIMATED.filled()),
            ])?;
            let (x0, yc) = c.backend_coord(&(0.0, y + 0.5));
            root.draw(&Text::new(
                *name,
                (x0 - 8, yc),
                font(14.0).pos(right_middle()),
            ))?;
            // On the green bar when it has room, else on the grey after it.
            let label = format!("{m:.1} % measured");
            let (x, color) = if m >= 25.0 {
                (x0 + 6, WHITE)
            } else {
                (c.backend_coord(&(m, y)).0 + 6, INK)
            };
            root.draw(&Text::new(
                label,
                (x, yc),
                font(13.0).color(&color).pos(left_middle()),
            ))?;
        }
        Ok(())
    })
}

/// Vertical bars per month: use phase then embodied GWP, the range as a whisker.
pub(super) fn trend(id: &'static str, caption: &str, months: &[Bar]) -> Result<Chart, RenderError> {
    let n = months.len().max(1);
    let (top, unit) = bars_scale(months);
    let k = 1.0 / unit.per_base;
    let y_max = (top * k * 1.15).max(f64::MIN_POSITIVE);
    chart(id, caption, (WIDTH, 300), |root| {
        legend(
            root,
            &[("use phase", USE), ("embodied", EMBODIED), ("range", INK)],
        )?;
        let area = root.margin(26, 4, 4, 16);
        let mut c = ChartBuilder::on(&area)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..y_max)?;
        let x_fmt = |v: &f64| {
            at_index(months, *v)
                .map(|m| m.label.clone())
                .unwrap_or_default()
        };
        let y_fmt = |v: &f64| sig3(*v);
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&x_fmt)
            .y_labels(6)
            .y_label_formatter(&y_fmt)
            .y_desc(format!("{} CO2eq", unit.symbol))
            .label_style(font(12.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;
        let x = |i: usize| i as f64;
        c.draw_series(months.iter().enumerate().map(|(i, m)| {
            Rectangle::new(
                [(x(i) - 0.3, 0.0), (x(i) + 0.3, m.use_kg * k)],
                USE.filled(),
            )
        }))?;
        c.draw_series(months.iter().enumerate().map(|(i, m)| {
            let (a, z) = (m.use_kg * k, m.total() * k);
            Rectangle::new([(x(i) - 0.3, a), (x(i) + 0.3, z)], EMBODIED.filled())
        }))?;
        c.draw_series(months.iter().enumerate().map(|(i, m)| {
            let (lo, mid, hi) = (m.min_kg * k, m.total() * k, m.max_kg * k);
            ErrorBar::new_vertical(x(i), lo, mid, hi, INK.filled().stroke_width(1), 10)
        }))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::tests::has_exponent;

    fn bar(label: &str, use_kg: f64, embodied_kg: f64) -> Bar {
        let t = use_kg + embodied_kg;
        Bar {
            label: label.into(),
            use_kg,
            embodied_kg,
            min_kg: t * 0.7,
            max_kg: t * 1.8,
        }
    }

    /// The fill colours of an SVG's rectangles.
    fn fills(svg: &str) -> Vec<&str> {
        svg.split("<rect")
            .skip(1)
            .filter_map(|r| r.split("fill=\"").nth(1)?.split('"').next())
            .collect()
    }

    #[test]
    fn bars_are_stacked_with_a_whisker_and_named_in_the_svg() {
        let c = gwp_bars(
            "chart-x",
            "GWP <per> account",
            &[bar("a&b", 3000.0, 1000.0), bar("z", 10.0, 5.0)],
        )
        .unwrap();
        assert!(
            c.svg.starts_with("<svg id=\"chart-x\" class=\"chart\""),
            "{}",
            &c.svg[..80]
        );
        assert!(
            c.svg.contains("viewBox=\"0 0 640 "),
            "the page scales it by its viewBox"
        );
        assert!(c.svg.contains("aria-label=\"GWP &lt;per> account\""));
        let f = fills(&c.svg);
        // Two use-phase and two embodied bars, and the legend's squares.
        assert_eq!(f.iter().filter(|c| **c == "#D95F02").count(), 3, "{f:?}");
        assert_eq!(f.iter().filter(|c| **c == "#7570B3").count(), 3, "{f:?}");
        // Whiskers: a line and two caps per bar, a dot at the total.
        assert!(c.svg.matches("<circle").count() >= 2);
        assert!(c.svg.contains("a&amp;b"), "names are escaped");
        // The axis is in tonnes (4 t at most) and no figure has an exponent.
        assert!(c.svg.contains("t CO2eq"));
        assert!(c.svg.contains(">\n4.00 t\n<"), "{}", c.svg);
        // Each total in its own unit, whatever the axis's.
        assert!(c.svg.contains(">\n15.0 kg\n<"), "{}", c.svg);
        assert!(!has_exponent(&c.svg), "{}", c.svg);
    }

    #[test]
    fn a_line_over_time_draws_its_band_and_points_and_labels_its_slots() {
        let labels: Vec<String> = (1..=30).map(|d| format!("2026-11-{d:02}")).collect();
        let values: Vec<f64> = (0..30).map(|i| 1e6 * (1.0 + i as f64)).collect();
        let t = OverTime {
            labels: &labels,
            lines: vec![Line {
                name: "energy".into(),
                color: MEASURED,
                values: values.clone(),
            }],
            band: Some((
                values.iter().map(|v| v * 0.5).collect(),
                values.iter().map(|v| v * 2.0).collect(),
            )),
            unit: ea_units::ENERGY_J.unit_for(3e7),
            substance: "",
        };
        let c = over_time("chart-t", "Energy", &t).unwrap();
        assert!(c.svg.contains("<polygon"), "the range band");
        assert!(c.svg.contains("<polyline"), "the line");
        assert_eq!(c.svg.matches("<circle").count(), 30);
        assert!(c.svg.contains("11-01"), "slots are labelled by day");
        assert!(c.svg.contains("MJ"));
    }

    #[test]
    fn the_ranges_chart_leaves_out_figures_of_zero_and_the_trend_has_one_bar_per_month() {
        let rows = [
            Spread {
                label: "GWP",
                value: 10.0,
                min: 7.0,
                max: 18.0,
                text: "10 kg".into(),
            },
            Spread {
                label: "ADPe",
                value: 0.0,
                min: 0.0,
                max: 0.0,
                text: "0".into(),
            },
        ];
        let c = ranges("chart-r", "Ranges", &rows).unwrap();
        assert!(c.svg.contains(">\nGWP\n<") && !c.svg.contains(">\nADPe\n<"));
        assert!(
            c.svg.contains(">\n100 %\n<"),
            "the central value is marked: {}",
            c.svg
        );
        let months = [bar("2026-10", 1.0, 2.0), bar("2026-11", 2.0, 2.0)];
        let t = trend("chart-m", "Trend", &months).unwrap();
        assert_eq!(fills(&t.svg).iter().filter(|c| **c == "#D95F02").count(), 3);
        assert!(t.svg.contains("2026-10") && t.svg.contains("2026-11"));
    }

    #[test]
    fn the_measured_share_is_written_on_its_bar() {
        let c = measured_share("chart-s", "Share", 0.25, 0.5).unwrap();
        assert!(c.svg.contains("25.0 % measured") && c.svg.contains("50.0 % measured"));
        assert_eq!(fills(&c.svg).iter().filter(|c| **c == "#1B9E77").count(), 3);
    }
}
