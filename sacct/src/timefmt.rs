//! Times and durations as Slurm writes and reads them.
//!
//! Everything in the store is UTC seconds since the epoch (`i64`). Slurm's text output is in
//! the local time of the machine that ran `sacct`, so turning it into an instant needs a time
//! zone: the site's (config key `timezone`) or the system's. jiff does that conversion, DST
//! gaps and folds included (a folded hour resolves to its earlier instant, as Slurm does).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use std::fmt;

/// The time zone and the current instant that relative times (`now-7days`, `today`) are read
/// against. Tests fix `now`; the command line takes the system clock.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The site's time zone, that dump times without an offset are in.
    pub tz: TimeZone,
    /// Seconds since the epoch.
    pub now: i64,
}

impl Clock {
    /// The system clock in the given zone.
    pub fn system(tz: TimeZone) -> Self {
        Self {
            tz,
            now: Timestamp::now().as_second(),
        }
    }

    /// A fixed clock, for tests and for reproducible reports.
    pub fn fixed(tz: TimeZone, now: i64) -> Self {
        Self { tz, now }
    }

    fn today(&self) -> Date {
        self.tz.to_datetime(ts(self.now)).date()
    }

    /// Seconds since the epoch of a civil date and time in this zone.
    ///
    /// # Errors
    /// A date-time outside the range jiff represents.
    pub fn civil_to_epoch(&self, dt: DateTime) -> Result<i64, TimeError> {
        self.tz
            .to_timestamp(dt)
            .map(|t| t.as_second())
            .map_err(|e| TimeError::new(&dt.to_string(), &e.to_string()))
    }

    /// The civil date and time of an instant in this zone.
    pub fn epoch_to_civil(&self, epoch_s: i64) -> DateTime {
        self.tz.to_datetime(ts(epoch_s))
    }

    /// `YYYY-MM-DDTHH:MM:SS` in this zone, as sacct prints times.
    pub fn format(&self, epoch_s: i64) -> String {
        let d = self.epoch_to_civil(epoch_s);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }

    /// The first instant of the month `year-month` and of the month after it, in this zone.
    ///
    /// # Errors
    /// A month outside 1..=12 or a year jiff cannot represent.
    pub fn month_bounds(&self, year: i16, month: i8) -> Result<(i64, i64), TimeError> {
        let what = format!("{year:04}-{month:02}");
        let first = Date::new(year, month, 1).map_err(|e| TimeError::new(&what, &e.to_string()))?;
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let next = Date::new(ny, nm, 1).map_err(|e| TimeError::new(&what, &e.to_string()))?;
        Ok((
            self.civil_to_epoch(first.to_datetime_midnight())?,
            self.civil_to_epoch(next.to_datetime_midnight())?,
        ))
    }
}

impl Clock {
    /// The months of this zone that `[start, end)` touches, in order, as `[first second, first
    /// second of the next)`: the accounting periods a job's embodied charge is cut into. At
    /// most `limit` months (a bound against garbage times); `None` past it.
    pub fn months_covering(&self, start: i64, end: i64, limit: usize) -> Option<Vec<(i64, i64)>> {
        let first = self.epoch_to_civil(start).date();
        let (mut y, mut m) = (first.year(), first.month());
        let mut out = Vec::new();
        loop {
            let (a, b) = self.month_bounds(y, m).ok()?;
            out.push((a, b));
            if b >= end || out.len() > limit {
                break;
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        (out.len() <= limit).then_some(out)
    }
}

fn ts(epoch_s: i64) -> Timestamp {
    Timestamp::from_second(epoch_s).unwrap_or(Timestamp::UNIX_EPOCH)
}

trait Midnight {
    fn to_datetime_midnight(self) -> DateTime;
}

impl Midnight for Date {
    fn to_datetime_midnight(self) -> DateTime {
        self.to_datetime(jiff::civil::Time::midnight())
    }
}

/// A time or duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    /// The text that could not be read.
    pub input: String,
    /// Why.
    pub problem: String,
}

impl TimeError {
    fn new(input: &str, problem: &str) -> Self {
        Self {
            input: input.to_string(),
            problem: problem.to_string(),
        }
    }
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.input, self.problem)
    }
}

impl std::error::Error for TimeError {}

/// Reads a timestamp from a sacct dump or a meter series: `2024-03-15T20:24:16`, with `-`,
/// space or `T` between date and time, `/` or `-` in the date, optional fractional seconds,
/// and an optional `Z` or `±HH:MM` offset (which then wins over the clock's zone). sacct's
/// `Unknown`, `None` and the empty field mean "no time" and give `Ok(None)`.
///
/// # Errors
/// Anything else, for example a `SLURM_TIME_FORMAT=relative` dump (`Tomorr 16:10`).
pub fn parse_dump_time(s: &str, clock: &Clock) -> Result<Option<i64>, TimeError> {
    let s = s.trim_ascii();
    if s.is_empty() || s.eq_ignore_ascii_case("unknown") || s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bad = || {
        TimeError::new(
            s,
            "not a time sacct writes (expected YYYY-MM-DDTHH:MM:SS; if SLURM_TIME_FORMAT was set \
             when the dump was made, unset it and dump again)",
        )
    };
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err(bad());
    }
    // Digits read in place: a month's dump holds a dozen million times.
    let num = |r: std::ops::Range<usize>| -> Option<i32> {
        b.get(r)?.iter().try_fold(0i32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i32::from(c - b'0'))
        })
    };
    let date_sep_ok = (b[4] == b'-' && b[7] == b'-') || (b[4] == b'/' && b[7] == b'/');
    let mid_ok = matches!(b[10], b'T' | b' ' | b'-');
    if !date_sep_ok || !mid_ok || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (y, mo, d, h, mi, sec) = match (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) => (y, mo, d, h, mi, sec),
        _ => return Err(bad()),
    };
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(bad());
        }
        rest = &frac[n..];
    }
    let dt = DateTime::new(y as i16, mo as i8, d as i8, h as i8, mi as i8, sec as i8, 0)
        .map_err(|e| TimeError::new(s, &e.to_string()))?;
    let offset_s: Option<i64> = match rest {
        "" => None,
        "Z" | "z" => Some(0),
        o if (o.starts_with('+') || o.starts_with('-')) && (o.len() == 6 || o.len() == 5) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let hh: i64 = digits[..2].parse().map_err(|_| bad())?;
            let mm: i64 = digits[2..].parse().map_err(|_| bad())?;
            Some(sign * (hh * 3600 + mm * 60))
        }
        _ => return Err(bad()),
    };
    match offset_s {
        Some(off) => {
            let utc = TimeZone::UTC
                .to_timestamp(dt)
                .map_err(|e| TimeError::new(s, &e.to_string()))?;
            Ok(Some(utc.as_second() - off))
        }
        None => clock.civil_to_epoch(dt).map(Some),
    }
}

/// Reads a `-S`/`-E` argument in any of sacct's forms:
/// `HH:MM[:SS][AM|PM]`, `MMDD[YY][-HH:MM[:SS]]`, `MM.DD[.YY][-HH:MM[:SS]]`,
/// `MM/DD[/YY][-HH:MM[:SS]]`, `YYYY-MM-DD[THH:MM[:SS]]`, `today`, `midnight`, `noon`,
/// `elevenses`, `fika`, `teatime`, `now[{+|-}count[seconds|minutes|hours|days|weeks]]`.
/// As sacct does for past queries, a time of day without a date that is still to come today
/// means yesterday, and a month-day without a year that is still to come means last year.
///
/// # Errors
/// Text in none of these forms, or an impossible date.
pub fn parse_time_arg(arg: &str, clock: &Clock) -> Result<i64, TimeError> {
    let s = arg.trim();
    let lower = s.to_ascii_lowercase();
    let today = clock.today();
    if let Some(hour) = named_hour(&lower) {
        return local_at(clock, s, today, (hour, 0, 0));
    }
    if let Some(rest) = lower.strip_prefix("now") {
        return parse_now_offset(rest)
            .map(|d| clock.now + d)
            .ok_or_else(|| {
                TimeError::new(
                    s,
                    "expected now[{+|-}count[seconds|minutes|hours|days|weeks]], e.g. now-7days",
                )
            });
    }
    // YYYY-MM-DD[THH:MM[:SS]]
    if s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' {
        // `get`, not `[..10]`: a character of several bytes may straddle byte 10.
        let date = s
            .get(..10)
            .and_then(parse_ymd)
            .ok_or_else(|| not_a_time(s))?;
        let hms = match s.get(10..) {
            None | Some("") => (0, 0, 0),
            Some(t) => t
                .strip_prefix('T')
                .and_then(parse_hms)
                .ok_or_else(|| not_a_time(s))?,
        };
        return local_at(clock, s, date, hms);
    }
    // A date without a year, optionally followed by -HH:MM[:SS].
    let (date_part, time_part) = match s.split_once('-') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    if let Some(month_day) = parse_month_day(date_part) {
        return month_day_at(clock, s, month_day, time_part);
    }
    // HH:MM[:SS][AM|PM]
    if s.contains(':') {
        return clock_time_at(clock, s, &lower);
    }
    Err(not_a_time(s))
}

/// The hour of the day sacct's named times stand for (`noon`, `teatime`...).
fn named_hour(lower: &str) -> Option<i8> {
    match lower {
        "today" | "midnight" => Some(0),
        "noon" => Some(12),
        "elevenses" => Some(11),
        "fika" => Some(15),
        "teatime" => Some(16),
        _ => None,
    }
}

/// The error for an argument in none of sacct's time forms.
fn not_a_time(s: &str) -> TimeError {
    TimeError::new(
        s,
        "not a sacct time: use YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], MMDD[YY], HH:MM[:SS], \
         today, midnight or now-7days",
    )
}

/// `date` at `(h, m, sec)` in the clock's zone; `s`, the argument, names an impossible one.
fn local_at(
    clock: &Clock,
    s: &str,
    date: Date,
    (h, m, sec): (i8, i8, i8),
) -> Result<i64, TimeError> {
    let dt = DateTime::new(date.year(), date.month(), date.day(), h, m, sec, 0)
        .map_err(|e| TimeError::new(s, &e.to_string()))?;
    clock.civil_to_epoch(dt)
}

/// `MM/DD[/YY]` (or `MMDD[YY]`) with an optional time: without a year, the last such day
/// not in the future.
fn month_day_at(
    clock: &Clock,
    s: &str,
    (month, day, year): (i8, i8, Option<i16>),
    time_part: Option<&str>,
) -> Result<i64, TimeError> {
    let hms = match time_part {
        None => (0, 0, 0),
        Some(t) => parse_hms(t).ok_or_else(|| not_a_time(s))?,
    };
    let on = |y: i16| {
        let date = Date::new(y, month, day).map_err(|e| TimeError::new(s, &e.to_string()))?;
        local_at(clock, s, date, hms)
    };
    let y = match year {
        Some(yy) => 2000 + yy,
        None => clock.today().year(),
    };
    let when = on(y)?;
    if year.is_none() && when > clock.now {
        return on(y - 1);
    }
    Ok(when)
}

/// `HH:MM[:SS]`, with an optional `AM`/`PM`: today, or yesterday if that is in the future.
fn clock_time_at(clock: &Clock, s: &str, lower: &str) -> Result<i64, TimeError> {
    let (t, ampm) = if lower.ends_with("am") || lower.ends_with("pm") {
        (&s[..s.len() - 2], Some(lower.ends_with("pm")))
    } else {
        (s, None)
    };
    let (mut h, m, sec) = parse_hms(t).ok_or_else(|| not_a_time(s))?;
    if let Some(pm) = ampm {
        if !(1..=12).contains(&h) {
            return Err(not_a_time(s));
        }
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    let today = clock.today();
    let when = local_at(clock, s, today, (h, m, sec))?;
    if when > clock.now {
        let yesterday = today
            .yesterday()
            .map_err(|e| TimeError::new(s, &e.to_string()))?;
        return local_at(clock, s, yesterday, (h, m, sec));
    }
    Ok(when)
}

fn parse_ymd(s: &str) -> Option<Date> {
    let y: i16 = s.get(0..4)?.parse().ok()?;
    let m: i8 = s.get(5..7)?.parse().ok()?;
    let d: i8 = s.get(8..10)?.parse().ok()?;
    Date::new(y, m, d).ok()
}

/// `HH:MM` or `HH:MM:SS`.
fn parse_hms(s: &str) -> Option<(i8, i8, i8)> {
    let parts: Vec<&str> = s.split(':').collect();
    let n = |p: &str| -> Option<i8> {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (n(h)?, n(m)?, 0),
        [h, m, sec] => (n(h)?, n(m)?, n(sec)?),
        _ => return None,
    };
    (h < 24 && m < 60 && sec < 60).then_some((h, m, sec))
}

/// `MMDD[YY]`, `MM.DD[.YY]`, `MM/DD[/YY]` into (month, day, two-digit year).
fn parse_month_day(s: &str) -> Option<(i8, i8, Option<i16>)> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    for sep in ['.', '/'] {
        if s.contains(sep) {
            let parts: Vec<&str> = s.split(sep).collect();
            if !parts.iter().all(|p| digits(p) && p.len() <= 2) {
                return None;
            }
            return match parts.as_slice() {
                [m, d] => Some((m.parse().ok()?, d.parse().ok()?, None)),
                [m, d, y] => Some((m.parse().ok()?, d.parse().ok()?, Some(y.parse().ok()?))),
                _ => None,
            };
        }
    }
    if !digits(s) {
        return None;
    }
    match s.len() {
        4 => Some((s[0..2].parse().ok()?, s[2..4].parse().ok()?, None)),
        6 => Some((
            s[0..2].parse().ok()?,
            s[2..4].parse().ok()?,
            Some(s[4..6].parse().ok()?),
        )),
        _ => None,
    }
}

/// The part after `now`: empty, or `+N[unit]` / `-N[unit]`; seconds.
fn parse_now_offset(rest: &str) -> Option<i64> {
    if rest.is_empty() {
        return Some(0);
    }
    let sign = match rest.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &rest[1..];
    let n_digits = body.bytes().take_while(|c| c.is_ascii_digit()).count();
    if n_digits == 0 {
        return None;
    }
    let count: i64 = body[..n_digits].parse().ok()?;
    let unit = &body[n_digits..];
    let secs = match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    count.checked_mul(secs)?.checked_mul(sign)
}

/// Reads a Slurm duration: `[D-]HH:MM:SS[.frac]`, `MM:SS[.frac]` (how TotalCPU prints short
/// times), or plain seconds. `UNLIMITED`, `Partition_Limit`, `INVALID` and the empty field
/// give `Ok(None)`.
///
/// # Errors
/// Anything else.
pub fn parse_duration(s: &str) -> Result<Option<f64>, TimeError> {
    match whole_seconds(s.as_bytes()) {
        Some(secs) => Ok(Some(secs as f64)),
        None => parse_duration_in_full(s),
    }
}

/// The usual forms of a duration, `[D-]H:MM:SS`, `M:SS` and `S` in whole seconds, digits
/// only, read in one pass over the bytes: sacct prints four durations a line and a month of
/// accounting has millions of lines. `None` for anything else (a fraction, spaces, words, a
/// value too large to be exact in an `f64`), which [`parse_duration_in_full`] reads or
/// refuses; what this reads, that reads the same.
fn whole_seconds(text: &[u8]) -> Option<u64> {
    // Days (once, before any `:`), then up to three `:`-separated parts.
    let (mut days, mut parts, mut n) = (None::<u64>, [0u64; 3], 0);
    let (mut value, mut digits) = (0u64, 0);
    for &c in text {
        match c {
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                digits += 1;
            }
            b'-' if days.is_none() && n == 0 && digits > 0 => {
                // The full reader takes days as a u32.
                u32::try_from(value).ok()?;
                (days, value, digits) = (Some(value), 0, 0);
            }
            b':' if n < 2 && digits > 0 => {
                parts[n] = value;
                (n, value, digits) = (n + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    parts[n] = value;
    let secs = match n {
        0 => parts[0],
        1 => parts[0].checked_mul(60)?.checked_add(parts[1])?,
        _ => parts[0]
            .checked_mul(3600)?
            .checked_add(parts[1].checked_mul(60)?)?
            .checked_add(parts[2])?,
    };
    let total = days.unwrap_or(0).checked_mul(86_400)?.checked_add(secs)?;
    (total < 1 << 53).then_some(total)
}

/// [`parse_duration`] for every form.
fn parse_duration_in_full(s: &str) -> Result<Option<f64>, TimeError> {
    let s = s.trim_ascii();
    if s.is_empty()
        || s.eq_ignore_ascii_case("unlimited")
        || s.eq_ignore_ascii_case("partition_limit")
        || s.eq_ignore_ascii_case("invalid")
        || s.eq_ignore_ascii_case("unknown")
    {
        return Ok(None);
    }
    let bad = || TimeError::new(s, "not a Slurm duration ([D-]HH:MM:SS)");
    let (days, clock_part) = match s.split_once('-') {
        Some((d, rest)) => (d.parse::<u32>().map_err(|_| bad())? as f64, rest),
        None => (0.0, s),
    };
    let int = |p: &str| -> Result<f64, TimeError> {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<u64>().map(|v| v as f64).map_err(|_| bad())
    };
    let secs_frac = |p: &str| -> Result<f64, TimeError> {
        match p.split_once('.') {
            Some((i, f)) => {
                if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                Ok(int(i)? + fraction(f).ok_or_else(bad)?)
            }
            None => int(p),
        }
    };
    // Up to three `:`-separated parts, read without collecting them (durations are read
    // millions of times per month of accounting).
    let mut parts = clock_part.split(':');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() {
        return Err(bad());
    }
    let secs = match (a, b, c) {
        (Some(sec), None, None) => secs_frac(sec)?,
        (Some(m), Some(sec), None) => int(m)? * 60.0 + secs_frac(sec)?,
        (Some(h), Some(m), Some(sec)) => int(h)? * 3600.0 + int(m)? * 60.0 + secs_frac(sec)?,
        _ => return Err(bad()),
    };
    Ok(Some(days * 86_400.0 + secs))
}

/// `0.<digits>` as Rust reads it (correctly rounded), without a heap allocation for the
/// usual few digits.
fn fraction(digits: &str) -> Option<f64> {
    let mut buf = [0u8; 40];
    if digits.len() + 2 > buf.len() {
        return format!("0.{digits}").parse().ok();
    }
    buf[..2].copy_from_slice(b"0.");
    buf[2..2 + digits.len()].copy_from_slice(digits.as_bytes());
    std::str::from_utf8(&buf[..2 + digits.len()])
        .ok()?
        .parse()
        .ok()
}

/// Formats whole seconds as sacct's Elapsed: `HH:MM:SS`, or `D-HH:MM:SS` from one day.
pub fn format_elapsed(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// CPU seconds as Slurm keeps them: whole seconds and microseconds. The `f64` the store holds
/// came from sacct's milli- or microseconds, so rounding to the microsecond gives them back
/// exactly (a bare truncation would turn 0.022 s, stored as 0.021999..., into 21 ms).
pub fn cpu_sec_usec(secs: f64) -> (u64, u32) {
    let micros = (secs.max(0.0) * 1e6).round();
    // Saturating: a CPU time past u64 microseconds (584,000 years) is no real job's.
    let micros = if micros >= u64::MAX as f64 {
        u64::MAX
    } else {
        micros as u64
    };
    (micros / 1_000_000, (micros % 1_000_000) as u32)
}

/// Formats CPU seconds byte for byte as sacct writes TotalCPU, UserCPU and SystemCPU (its
/// `_elapsed_time`), since scripts written for sacct parse this text: `D-HH:MM:SS` from a
/// day, `HH:MM:SS` from an hour (sub-seconds dropped), `MM:SS.mmm` below an hour when there
/// are milliseconds (truncated, not rounded), and `00:MM:SS` when there are none (a job that
/// used no CPU reads `00:00:00`, not `00:00.000`).
pub fn format_cpu(secs: f64) -> String {
    let (whole, micros) = cpu_sec_usec(secs);
    let millis = micros / 1000;
    let (d, h, m, s) = (
        whole / 86_400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else if h > 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if millis > 0 {
        format!("{m:02}:{s:02}.{millis:03}")
    } else {
        format!("00:{m:02}:{s:02}")
    }
}

/// Reads a month `YYYY-MM`.
///
/// # Errors
/// Anything else.
pub fn parse_month(s: &str) -> Result<(i16, i8), TimeError> {
    let bad = || TimeError::new(s, "expected a month as YYYY-MM, e.g. 2026-11");
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i16 = y.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok((y, m))
}

/// Reads an IANA time zone name, or the system zone for `None`.
///
/// # Errors
/// An unknown zone name.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, TimeError> {
    match name {
        None => Ok(TimeZone::system()),
        Some(n) => TimeZone::get(n).map_err(|e| {
            TimeError::new(
                n,
                &format!("unknown time zone ({e}); use an IANA name such as Europe/Paris or UTC"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris(now: &str) -> Clock {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let c = Clock::fixed(tz.clone(), 0);
        let now = parse_dump_time(now, &c).unwrap().unwrap();
        Clock::fixed(tz, now)
    }

    #[test]
    fn dump_times_in_every_form_sacct_writes() {
        let c = Clock::fixed(TimeZone::UTC, 0);
        let want = 1_710_534_256; // 2024-03-15T20:24:16Z
        for s in [
            "2024-03-15T20:24:16",
            "2024-03-15-20:24:16",
            "2024/03/15-20:24:16",
            "2024-03-15 20:24:16.000000",
        ] {
            assert_eq!(parse_dump_time(s, &c).unwrap(), Some(want), "{s}");
        }
        assert_eq!(
            parse_dump_time("2024-03-15T21:24:16+01:00", &c).unwrap(),
            Some(want)
        );
        assert_eq!(
            parse_dump_time("2024-03-15T20:24:16Z", &c).unwrap(),
            Some(want)
        );
        for s in ["Unknown", "None", ""] {
            assert_eq!(parse_dump_time(s, &c).unwrap(), None);
        }
        for s in [
            "Tomorr 16:10",
            "2024-13-15T20:24:16",
            "2024-03-15T20:24",
            "2024-03-15T20:24:16+1",
            "2024-0x-15T20:24:16",
            "2024-03-15T2 :24:16",
            "2024-03-15T20:24:1\u{e9}",
            "-024-03-15T20:24:16",
        ] {
            assert!(parse_dump_time(s, &c).is_err(), "{s}");
        }
    }

    #[test]
    fn dump_times_follow_the_zone_across_dst() {
        let c = paris("2024-01-01T00:00:00");
        // Before and after the 2024-03-31 spring-forward in Paris.
        let winter = parse_dump_time("2024-03-30T12:00:00", &c).unwrap().unwrap();
        let summer = parse_dump_time("2024-03-31T12:00:00", &c).unwrap().unwrap();
        assert_eq!(summer - winter, 23 * 3600);
        assert_eq!(c.format(summer), "2024-03-31T12:00:00");
    }

    #[test]
    fn sacct_time_arguments() {
        let c = paris("2026-11-26T14:30:00");
        let p = |s| parse_time_arg(s, &c).unwrap();
        assert_eq!(c.format(p("now")), "2026-11-26T14:30:00");
        assert_eq!(c.format(p("now-7days")), "2026-11-19T14:30:00");
        assert_eq!(c.format(p("now-3600")), "2026-11-26T13:30:00");
        assert_eq!(c.format(p("now+2hours")), "2026-11-26T16:30:00");
        assert_eq!(c.format(p("today")), "2026-11-26T00:00:00");
        assert_eq!(c.format(p("teatime")), "2026-11-26T16:00:00");
        assert_eq!(c.format(p("2026-11-01")), "2026-11-01T00:00:00");
        assert_eq!(c.format(p("2026-11-01T08:15")), "2026-11-01T08:15:00");
        assert_eq!(c.format(p("11/02")), "2026-11-02T00:00:00");
        assert_eq!(c.format(p("11/02/25")), "2025-11-02T00:00:00");
        assert_eq!(c.format(p("1102-10:30")), "2026-11-02T10:30:00");
        assert_eq!(c.format(p("11.02.25-10:30:05")), "2025-11-02T10:30:05");
        // Still to come this year or today: sacct means the past one.
        assert_eq!(c.format(p("12/24")), "2025-12-24T00:00:00");
        assert_eq!(c.format(p("10:00")), "2026-11-26T10:00:00");
        assert_eq!(c.format(p("16:00")), "2026-11-25T16:00:00");
        assert_eq!(c.format(p("9:05am")), "2026-11-26T09:05:00");
        assert_eq!(c.format(p("1:05PM")), "2026-11-26T13:05:00");
        for bad in [
            "yesterday",
            "now-7fortnights",
            "2026-02-30",
            "25:00",
            "13/45",
            "now7days",
        ] {
            let e = parse_time_arg(bad, &c).unwrap_err();
            assert_eq!(e.input, bad);
        }
    }

    #[test]
    fn the_quick_duration_reader_agrees_with_the_full_one() {
        // Strings of the characters durations are made of, and a few others: wherever the
        // quick reader gives a value, the full one gives the same; where it gives none, the
        // full one decides.
        let alphabet = b"0123456789012345678901234567890123456789-::: .+x";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        let (mut quick, mut total) = (0, 0);
        for _ in 0..300_000 {
            let len = next() % 14;
            let text: String = (0..len)
                .map(|_| alphabet[next() % alphabet.len()] as char)
                .collect();
            total += 1;
            if let Some(secs) = whole_seconds(text.as_bytes()) {
                quick += 1;
                assert_eq!(
                    parse_duration_in_full(&text).ok(),
                    Some(Some(secs as f64)),
                    "{text:?}"
                );
            }
            assert_eq!(
                parse_duration(&text).ok(),
                parse_duration_in_full(&text).ok(),
                "{text:?}"
            );
        }
        assert!(quick > total / 100, "{quick} of {total} read quickly");
        for text in [
            "0-00:00:00",
            "12-01:02:03",
            "4294967295-00:00:01",
            "4294967296-00:00:01",
            "99999999999999999999",
            "9007199254740991",
            "9007199254740992",
            "00000000000000000000000007",
            "-1:00",
            "1--1",
            "1-2-3",
            "1-",
            ":1",
            "1::2",
        ] {
            let full = parse_duration_in_full(text).ok();
            assert_eq!(parse_duration(text).ok(), full, "{text:?}");
            if let Some(secs) = whole_seconds(text.as_bytes()) {
                assert_eq!(full, Some(Some(secs as f64)), "{text:?}");
            }
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(d("00:47.734"), Some(47.734));
        assert_eq!(
            d("1-04:33:44"),
            Some(86_400.0 + 4.0 * 3600.0 + 33.0 * 60.0 + 44.0)
        );
        assert_eq!(
            d("4-23:56:21"),
            Some(4.0 * 86_400.0 + 23.0 * 3600.0 + 56.0 * 60.0 + 21.0)
        );
        assert_eq!(d("03:33:25"), Some(12_805.0));
        assert_eq!(d("UNLIMITED"), None);
        assert_eq!(d("Partition_Limit"), None);
        assert!(parse_duration("1-xx:00:00").is_err());
        assert!(parse_duration("1:2:3:4").is_err());
        assert!(parse_duration("1:.5").is_err() && parse_duration("00:01.").is_err());
        let long = format!("00:01.{}", "3".repeat(60));
        assert_eq!(
            d(&long),
            Some(1.0 + format!("0.{}", "3".repeat(60)).parse::<f64>().unwrap())
        );
        assert_eq!(whole_seconds(b"4-23:56:21"), Some(431_781));
        assert_eq!(format_elapsed(12_805), "03:33:25");
        assert_eq!(format_elapsed(86_400 + 5), "1-00:00:05");
        assert_eq!(format_cpu(47.734), "00:47.734");
        assert_eq!(format_cpu(4000.0), "01:06:40");
    }

    #[test]
    fn cpu_times_read_as_sacct_writes_them() {
        // sacct 22.05's _elapsed_time, and what the local cluster's sacct printed for the
        // same microseconds (8120: steps of 13,568, 4,176 and 4,819 us, the job 22,563 us).
        for (secs, text) in [
            (0.022_563, "00:00.022"),
            (0.013_568, "00:00.013"),
            (0.022, "00:00.022"),
            (0.0, "00:00:00"),
            (0.000_9, "00:00:00"),
            (47.0, "00:00:47"),
            (59.999_6, "00:59.999"),
            (125.5, "02:05.500"),
            (3599.999, "59:59.999"),
            (3600.9, "01:00:00"),
            (86_399.0, "23:59:59"),
            (86_400.0 + 3661.5, "1-01:01:01"),
            (12.0 * 86_400.0, "12-00:00:00"),
            (-1.0, "00:00:00"),
        ] {
            assert_eq!(format_cpu(secs), text, "{secs}");
        }
        assert_eq!(cpu_sec_usec(0.022), (0, 22_000));
        assert_eq!(cpu_sec_usec(3_661.000_001), (3661, 1));
        assert_eq!(cpu_sec_usec(f64::INFINITY).0, u64::MAX / 1_000_000);
    }

    #[test]
    fn months() {
        let c = paris("2026-01-01T00:00:00");
        let (a, b) = c.month_bounds(2026, 3).unwrap();
        assert_eq!(c.format(a), "2026-03-01T00:00:00");
        assert_eq!(c.format(b), "2026-04-01T00:00:00");
        assert_eq!(b - a, 31 * 86_400 - 3600); // DST starts in March
        let (_, b) = c.month_bounds(2026, 12).unwrap();
        assert_eq!(c.format(b), "2027-01-01T00:00:00");
        assert_eq!(parse_month("2026-11").unwrap(), (2026, 11));
        assert!(parse_month("2026-13").is_err());
        assert!(parse_month("26-11").is_err());
    }

    #[test]
    fn a_character_of_several_bytes_where_the_date_ends_is_refused_not_a_panic() {
        // Found by fuzzing (fuzz/seeds/sacct_fields/crash-*): byte 10 inside `Ы`.
        let c = Clock::fixed(TimeZone::UTC, 1_700_000_000);
        for s in ["2024-03-1Ы20:24:16", "2024-03-1\u{e9}", "2024-03-\u{1F600}"] {
            assert!(parse_time_arg(s, &c).is_err(), "{s}");
            assert!(parse_dump_time(s, &c).is_err(), "{s}");
        }
    }
}
