//! Which periods a report covers: a month and the month before it, any period and the one of
//! the same length before it, or a run of months with each month's totals as a trend.

use super::{Period, Request};
use ea_sacct::timefmt::{Clock, TimeError, parse_month};

/// The most months a trend holds (ten years).
pub const MAX_MONTHS: usize = 120;

/// The month `(year, month)` in the clock's zone.
///
/// # Errors
/// A month the calendar or the zone cannot place.
pub fn month(clock: &Clock, year: i16, month: i8) -> Result<Period, TimeError> {
    let (start, end) = clock.month_bounds(year, month)?;
    Ok(Period {
        title: format!("{year:04}-{month:02}"),
        start,
        end,
    })
}

fn month_before(year: i16, month: i8) -> (i16, i8) {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

fn month_after(year: i16, month: i8) -> (i16, i8) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

impl Request {
    /// A month (`YYYY-MM`), compared with the month before.
    ///
    /// # Errors
    /// A month that is not `YYYY-MM`, or that the zone cannot place.
    pub fn for_month(clock: &Clock, m: &str) -> Result<Self, TimeError> {
        let (y, mo) = parse_month(m)?;
        let (py, pm) = month_before(y, mo);
        Ok(Self {
            period: month(clock, y, mo)?,
            previous: month(clock, py, pm).ok(),
            trend: Vec::new(),
        })
    }

    /// `[start, end)`, compared with the period of the same length just before.
    pub fn for_span(clock: &Clock, start: i64, end: i64) -> Self {
        let before = start - (end - start);
        let title = |a: i64, b: i64| format!("{} to {}", clock.format(a), clock.format(b));
        Self {
            period: Period {
                title: title(start, end),
                start,
                end,
            },
            previous: Some(Period {
                title: title(before, start),
                start: before,
                end: start,
            }),
            trend: Vec::new(),
        }
    }

    /// The months from `from` to `to` (both `YYYY-MM`, both included) as one period, with
    /// each month's totals as its trend.
    ///
    /// # Errors
    /// A month that is not `YYYY-MM`, `to` before `from`, or more than [`MAX_MONTHS`].
    pub fn for_months(clock: &Clock, from: &str, to: &str) -> Result<Self, TimeError> {
        let first = parse_month(from)?;
        let last = parse_month(to)?;
        if last < first {
            return Err(TimeError {
                input: to.to_string(),
                problem: format!("is before the first month ({from}); give the later month last"),
            });
        }
        let mut trend = Vec::new();
        let mut m = first;
        while m <= last {
            if trend.len() == MAX_MONTHS {
                return Err(TimeError {
                    input: format!("{from} to {to}"),
                    problem: format!("more than {MAX_MONTHS} months; report fewer at a time"),
                });
            }
            trend.push(month(clock, m.0, m.1)?);
            m = month_after(m.0, m.1);
        }
        let (start, end) = (trend[0].start, trend[trend.len() - 1].end);
        Ok(Self {
            period: Period {
                title: format!("{from} to {to}"),
                start,
                end,
            },
            previous: None,
            trend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Clock {
        Clock::fixed(jiff::tz::TimeZone::UTC, 0)
    }

    #[test]
    fn a_month_is_compared_with_the_month_before_across_a_new_year() {
        let r = Request::for_month(&utc(), "2026-01").unwrap();
        assert_eq!(r.period.title, "2026-01");
        let p = r.previous.unwrap();
        assert_eq!(p.title, "2025-12");
        assert_eq!(p.end, r.period.start);
        assert_eq!(p.end - p.start, 31 * 86_400);
        assert!(Request::for_month(&utc(), "2026-13").is_err());
    }

    #[test]
    fn a_span_is_compared_with_the_span_of_the_same_length_before() {
        let r = Request::for_span(&utc(), 86_400 * 10, 86_400 * 17);
        let p = r.previous.unwrap();
        assert_eq!((p.start, p.end), (86_400 * 3, 86_400 * 10));
        assert_eq!(p.title, "1970-01-04T00:00:00 to 1970-01-11T00:00:00");
    }

    #[test]
    fn months_from_to_make_one_period_and_a_trend_of_each_month() {
        let r = Request::for_months(&utc(), "2025-11", "2026-02").unwrap();
        let titles: Vec<&str> = r.trend.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["2025-11", "2025-12", "2026-01", "2026-02"]);
        assert_eq!(r.period.start, r.trend[0].start);
        assert_eq!(r.period.end, r.trend[3].end);
        for w in r.trend.windows(2) {
            assert_eq!(w[0].end, w[1].start, "months follow each other");
        }
        assert_eq!(r.period.title, "2025-11 to 2026-02");
        let e = Request::for_months(&utc(), "2026-03", "2026-02").unwrap_err();
        assert!(
            e.problem.contains("before the first month (2026-03)"),
            "{e}"
        );
        let e = Request::for_months(&utc(), "2000-01", "2026-02").unwrap_err();
        assert!(e.problem.contains("more than 120 months"), "{e}");
        assert!(Request::for_months(&utc(), "2026-1", "2026-02").is_err());
    }
}
