//! The one place figures are formatted, so that a job's footprint reads the same in `acct`,
//! `job`, the epilog's summary file and every report.
//!
//! - For people ([`Quantity::human`], [`Quantity::range`]): each figure in the unit that fits
//!   its size, with three significant digits (`14.6 mg CO2eq`, `918 µg Sb eq`, `20.5 MJ`),
//!   thousands grouped (`50,271,234 node-hours`). Nobody reads an exponent.
//! - For scripts ([`plain`]): the number in the quantity's fixed base unit (J, kgCO2eq, MJ,
//!   kgSbeq, W, h), as Rust's shortest round-trip form, never scaled, never grouped.
//!
//! A value that is not a number (NaN, infinite) is never printed as such: it is [`UNKNOWN`].
#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// What a figure that is not a number prints as, in every human form.
pub const UNKNOWN: &str = "-";

/// A unit of a quantity: its symbol and how many base units it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// Written after the number (`mg`, `kWh`).
    pub symbol: &'static str,
    /// Base units in one of this unit (1e-6 for mg of a kg-based quantity).
    pub per_base: f64,
}

const fn unit(symbol: &'static str, per_base: f64) -> Unit {
    Unit { symbol, per_base }
}

/// A kind of figure: its units from the smallest to the largest, the one zero is shown in,
/// and what is measured (`CO2eq`), written after the unit in sentences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// Smallest first, so that the first unit a figure reaches 1 in is the one that fits.
    pub units: &'static [Unit],
    /// Index in `units` of the unit zero is shown in (`0 kg CO2eq` rather than `0 mg CO2eq`).
    pub zero: usize,
    /// What is measured, after the unit (`CO2eq`); empty where the unit says it all (J, W).
    pub substance: &'static str,
}

/// Global warming potential; base unit kgCO2eq.
pub const GWP: Quantity = Quantity {
    units: &[
        unit("mg", 1e-6),
        unit("g", 1e-3),
        unit("kg", 1.0),
        unit("t", 1e3),
        unit("kt", 1e6),
        unit("Mt", 1e9),
    ],
    zero: 2,
    substance: "CO2eq",
};

/// Abiotic depletion potential (elements); base unit kgSbeq.
pub const ADPE: Quantity = Quantity {
    units: &[
        unit("µg", 1e-9),
        unit("mg", 1e-6),
        unit("g", 1e-3),
        unit("kg", 1.0),
        unit("t", 1e3),
    ],
    zero: 3,
    substance: "Sb eq",
};

/// Primary energy; base unit MJ (the impact engine's unit).
pub const PE: Quantity = Quantity {
    units: &[
        unit("J", 1e-6),
        unit("kJ", 1e-3),
        unit("MJ", 1.0),
        unit("GJ", 1e3),
        unit("TJ", 1e6),
        unit("PJ", 1e9),
    ],
    zero: 2,
    substance: "",
};

/// Electricity in joules; base unit J.
pub const ENERGY_J: Quantity = Quantity {
    units: &[
        unit("J", 1.0),
        unit("kJ", 1e3),
        unit("MJ", 1e6),
        unit("GJ", 1e9),
        unit("TJ", 1e12),
        unit("PJ", 1e15),
    ],
    zero: 0,
    substance: "",
};

/// Electricity in watt-hours; base unit J (3 600 J per Wh).
pub const ENERGY_WH: Quantity = Quantity {
    units: &[
        unit("Wh", 3.6e3),
        unit("kWh", 3.6e6),
        unit("MWh", 3.6e9),
        unit("GWh", 3.6e12),
        unit("TWh", 3.6e15),
    ],
    zero: 0,
    substance: "",
};

/// Power; base unit W.
pub const POWER: Quantity = Quantity {
    units: &[
        unit("mW", 1e-3),
        unit("W", 1.0),
        unit("kW", 1e3),
        unit("MW", 1e6),
    ],
    zero: 1,
    substance: "",
};

/// The criteria in the order reports list them, with their names.
pub const CRITERIA: [(&str, Quantity); 3] = [("GWP", GWP), ("PE", PE), ("ADPe", ADPE)];

impl Quantity {
    /// The unit a value of this size is shown in: the largest unit it holds at least one of,
    /// else the smallest.
    pub fn unit_for(&self, base: f64) -> Unit {
        let a = base.abs();
        if a == 0.0 || !a.is_finite() {
            return self.units[self.zero];
        }
        *self
            .units
            .iter()
            .rev()
            .find(|u| a >= u.per_base * (1.0 - 5e-4))
            .unwrap_or(&self.units[0])
    }

    /// `14.6 mg CO2eq`: the value in the unit that fits it, and what is measured.
    pub fn human(&self, base: f64) -> String {
        self.with_substance(self.short(base))
    }

    /// `14.6 mg`: the same without the substance, for table cells under a named column.
    pub fn short(&self, base: f64) -> String {
        if !base.is_finite() {
            return UNKNOWN.into();
        }
        let u = self.unit_for(base);
        format!("{} {}", sig3(base / u.per_base), u.symbol)
    }

    /// The value in a unit the caller chose (`--units kWh`), three significant digits.
    pub fn in_unit(&self, base: f64, u: Unit) -> String {
        if !base.is_finite() {
            return UNKNOWN.into();
        }
        self.with_substance(format!("{} {}", sig3(base / u.per_base), u.symbol))
    }

    /// `5.94 t CO2eq (4.73–11.8 t)`: a value and its range, all three in the value's unit so
    /// they compare at a glance (the range in the unit of its larger end when the value is 0).
    pub fn range(&self, value: f64, min: f64, max: f64) -> String {
        if !value.is_finite() {
            return UNKNOWN.into();
        }
        let u = self.range_unit(value, min, max);
        let v = self.with_substance(format!("{} {}", sig3(value / u.per_base), u.symbol));
        if !min.is_finite() || !max.is_finite() || (min == value && max == value) {
            return v;
        }
        format!("{v} ({})", bounds_in(u, min, max))
    }

    /// `4.73–11.8 kt`: the range alone, in the unit [`Quantity::range`] shows it in.
    pub fn bounds(&self, value: f64, min: f64, max: f64) -> String {
        bounds_in(self.range_unit(value, min, max), min, max)
    }

    fn range_unit(&self, value: f64, min: f64, max: f64) -> Unit {
        let anchor = if value == 0.0 {
            min.abs().max(max.abs())
        } else {
            value
        };
        self.unit_for(anchor)
    }

    fn with_substance(&self, s: String) -> String {
        if self.substance.is_empty() || s == UNKNOWN {
            s
        } else {
            format!("{s} {}", self.substance)
        }
    }

    /// The unit of this quantity called `symbol` (case as written), if any.
    pub fn find(&self, symbol: &str) -> Option<Unit> {
        self.units.iter().copied().find(|u| u.symbol == symbol)
    }
}

/// `4.73–11.8 kt`: a range in a given unit (` to ` between negative ends, where an en dash
/// would read as a minus sign).
pub fn bounds_in(u: Unit, min: f64, max: f64) -> String {
    if !min.is_finite() || !max.is_finite() {
        return UNKNOWN.into();
    }
    let sep = if min < 0.0 || max < 0.0 {
        " to "
    } else {
        "–"
    };
    format!(
        "{}{sep}{} {}",
        sig3(min / u.per_base),
        sig3(max / u.per_base),
        u.symbol
    )
}

/// Three significant digits in fixed notation, thousands grouped: `0.00123`, `14.6`, `918`,
/// `1,460`. Values too small for six decimals show as `<0.000001` (or its negative), so no
/// exponent is ever printed; the quantity's units keep real figures well above that.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return UNKNOWN.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if a < 5e-7 {
        return if x < 0.0 { "-<0.000001" } else { "<0.000001" }.into();
    }
    // Rounded first, so that 999.6 is 1,000 and 9.996 is 10.0, not 1000 or 10.00.
    let r = round_sig(a, 3);
    let text = if r >= 100.0 {
        group_digits(&format!("{r:.0}"))
    } else {
        let decimals = (2 - r.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{r:.decimals$}")
    };
    if x < 0.0 { format!("-{text}") } else { text }
}

fn round_sig(a: f64, digits: i32) -> f64 {
    let mag = a.log10().floor() as i32;
    let scale = 10f64.powi(mag - digits + 1);
    (a / scale).round() * scale
}

/// A count with thousands grouped: `1,234,567`.
pub fn count(n: u64) -> String {
    group_digits(&n.to_string())
}

/// Hours (node-hours, GPU-hours): whole hours grouped from 100 up (`50,271,234`), three
/// significant digits below (`12.3`, `0.521`).
pub fn hours(h: f64) -> String {
    if !h.is_finite() {
        return UNKNOWN.into();
    }
    if h.abs() >= 100.0 {
        let s = group_digits(&format!("{:.0}", h.abs()));
        if h < 0.0 { format!("-{s}") } else { s }
    } else {
        sig3(h)
    }
}

/// A share as a percentage with one decimal: `42.3 %`.
pub fn percent(share: f64) -> String {
    if !share.is_finite() {
        return UNKNOWN.into();
    }
    format!("{:.1} %", share * 100.0)
}

fn group_digits(digits: &str) -> String {
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut out = String::with_capacity(int.len() + int.len() / 3 + frac.len() + 1);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        let _ = write!(out, ".{frac}");
    }
    out
}

/// A number for scripts, in its quantity's base unit: the shortest text that reads back as
/// the same f64, without exponent between 1e-9 and 1e15 (every real figure), with one beyond.
/// Not a number gives the empty string, as sacct leaves unknown fields empty.
pub fn plain(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let a = x.abs();
    if a == 0.0 || (1e-9..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// How energies are shown for people: which family of units, or one fixed unit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EnergyUnits {
    /// J, kJ, MJ, GJ: whichever fits (the default).
    #[default]
    Joules,
    /// Wh, kWh, MWh: whichever fits.
    WattHours,
    /// Always this unit of [`ENERGY_J`] or [`ENERGY_WH`].
    Fixed(Unit),
    /// Sacct's `--units K|M|G|T|P`: the raw figure scaled by that power of 1000 and written
    /// as sacct writes ConsumedEnergy (`20543.13K`).
    Sacct(char),
}

impl EnergyUnits {
    /// Reads `--units`: `J` or `Wh` (the family), a fixed unit (`kJ`, `MJ`, `GJ`, `kWh`,
    /// `MWh`, ...), or sacct's letters `K`, `M`, `G`, `T`, `P`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "J" | "j" => Some(EnergyUnits::Joules),
            "Wh" | "wh" => Some(EnergyUnits::WattHours),
            "K" | "M" | "G" | "T" | "P" => s.chars().next().map(EnergyUnits::Sacct),
            _ => ENERGY_J
                .find(s)
                .or_else(|| ENERGY_WH.find(s))
                .map(EnergyUnits::Fixed),
        }
    }

    /// The accepted `--units` values, for error messages.
    pub const CHOICES: &'static str = "J or Wh (the unit that fits), a fixed unit (kJ, MJ, GJ, kWh, MWh, GWh), or sacct's K, M, G, T, P";

    /// The unit an energy of `j` joules is shown in (for a chart's axis).
    pub fn unit_for(&self, j: f64) -> Unit {
        match *self {
            EnergyUnits::Joules => ENERGY_J.unit_for(j),
            EnergyUnits::WattHours => ENERGY_WH.unit_for(j),
            EnergyUnits::Fixed(u) => u,
            // Sacct's letters scale joules by powers of 1000: K is kJ, M is MJ...
            EnergyUnits::Sacct(c) => "KMGTP"
                .find(c)
                .map_or_else(|| ENERGY_J.unit_for(j), |i| ENERGY_J.units[i + 1]),
        }
    }

    /// An energy in joules, for people.
    pub fn human(&self, j: f64) -> String {
        match *self {
            EnergyUnits::Joules => ENERGY_J.human(j),
            EnergyUnits::WattHours => ENERGY_WH.human(j),
            EnergyUnits::Fixed(u) => ENERGY_J.in_unit(j, u),
            EnergyUnits::Sacct(letter) => sacct_scaled(j, Some(letter)),
        }
    }

    /// A value and its range.
    pub fn range(&self, j: f64, min: f64, max: f64) -> String {
        match *self {
            EnergyUnits::Joules => ENERGY_J.range(j, min, max),
            EnergyUnits::WattHours => ENERGY_WH.range(j, min, max),
            EnergyUnits::Fixed(_) | EnergyUnits::Sacct(_) => {
                format!(
                    "{} ({}–{})",
                    self.human(j),
                    self.human(min),
                    self.human(max)
                )
            }
        }
    }
}

/// Joules as sacct writes ConsumedEnergy: scaled by powers of 1000 while at least 1000
/// (`20.54M`, `2K`, `33`), or into `--units`'s letter.
pub fn sacct_scaled(j: f64, letter: Option<char>) -> String {
    sacct_convert(j, 0, letter, 1000.0, false)
}

/// Sacct's unit conversion (Slurm's `convert_num_unit2`): `num` in the unit of index `from`
/// among none, K, M, G, T, P; into `letter`'s unit when `--units` gives one, else up by
/// `divisor` while at least `divisor` (with `exact`, only while it divides exactly: ReqMem's
/// `4000M` stays, `65536M` is `64G`). Whole results print without decimals, others with two;
/// 0 is `0`.
pub fn sacct_convert(
    num: f64,
    from: usize,
    letter: Option<char>,
    divisor: f64,
    exact: bool,
) -> String {
    const LETTERS: [&str; 6] = ["", "K", "M", "G", "T", "P"];
    if !num.is_finite() {
        return String::new();
    }
    if num == 0.0 {
        return "0".into();
    }
    let (mut v, mut u) = (num, from.min(LETTERS.len() - 1));
    match letter.and_then(|l| {
        LETTERS
            .iter()
            .position(|c| c.starts_with(l) && !c.is_empty())
    }) {
        Some(to) => {
            v *= divisor.powi(u as i32 - to as i32);
            u = to;
        }
        None => {
            while v.abs() >= divisor && u < LETTERS.len() - 1 && (!exact || v % divisor == 0.0) {
                v /= divisor;
                u += 1;
            }
        }
    }
    if v.fract() == 0.0 && v.abs() < 1.8e19 {
        format!("{}{}", v as i64, LETTERS[u])
    } else {
        format!("{v:.2}{}", LETTERS[u])
    }
}

#[cfg(test)]
mod tests;

/// A duration as people read it: `45.2 s` under a minute, else Slurm's `[D-]HH:MM:SS`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return UNKNOWN.into();
    }
    if seconds < 59.95 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// Everyday equivalents, so that a footprint means something to someone who never met a
/// kgCO2eq. Factors and sources are in docs/methodology.md ("Everyday equivalents").
pub mod everyday {
    /// Average type-approval (WLTP) CO2 of new passenger cars registered in the EU, Iceland
    /// and Norway in 2023: 106.6 g CO2/km (European Environment Agency, provisional 2023
    /// data). Tailpipe only, so the distance is an upper bound of what the GWP would drive.
    pub const CAR_KG_CO2_PER_KM: f64 = 0.1066;
    /// Average electricity consumption per dwelling in the EU-27: 3.6 MWh a year
    /// (Odyssee-Mure, "Electricity consumption per dwelling", November 2025 update).
    pub const HOUSEHOLD_KWH_PER_YEAR: f64 = 3600.0;

    /// Kilometres a new car drives for `gwp_kg` of CO2.
    pub fn car_km(gwp_kg: f64) -> f64 {
        gwp_kg / CAR_KG_CO2_PER_KM
    }

    /// Hours of an average EU household's electricity in `energy_j` joules.
    pub fn household_hours(energy_j: f64) -> f64 {
        energy_j / 3.6e6 / (HOUSEHOLD_KWH_PER_YEAR / (365.25 * 24.0))
    }

    /// `about 11.5 km by a new car; the electricity, about 14.0 hours of an EU household's`.
    pub fn sentence(gwp_kg: f64, energy_j: f64) -> String {
        let km = car_km(gwp_kg);
        let h = household_hours(energy_j);
        let distance = if km < 1.0 {
            format!("{} m", super::sig3(km * 1000.0))
        } else {
            format!("{} km", super::sig3(km))
        };
        let time = if h < 1.0 {
            format!("{} minutes", super::sig3(h * 60.0))
        } else if h < 48.0 {
            format!("{} hours", super::sig3(h))
        } else {
            format!("{} days", super::sig3(h / 24.0))
        };
        format!(
            "the GWP is what a new car emits over about {distance}; the electricity is about \
             {time} of an average EU household's"
        )
    }
}
