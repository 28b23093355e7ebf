//! CPU die size: given, given per core, or completed from boaviztapi's CPU table.
//!
//! The die area drives the CPU's embodied impact (`die × factor + base`), and most inventories
//! do not know it, so the completion order matters. We follow boaviztapi 2.5.0
//! (`models/component/cpu.py::_complete_die_size` and `_complete_die_size_from_cpu_specs`):
//!
//! 1. a die area given in the inventory;
//! 2. a die area per core given, times the cores;
//! 3. the CPU's name matched in the table (first best fuzzy score above 80): its total die
//!    (truncated to whole mm², as boaviztapi's `safe_int` does);
//! 4. otherwise, among table rows with a die size (restricted to the matched row's family when
//!    that family has any): the mean for the same core count, else a rule of three when all rows
//!    share one core count, else a linear regression on cores; with no core count, the mean of
//!    all; each rounded to 3 significant figures, min and max from the same rows.
//!
//! Two deliberate differences, both for inputs boaviztapi treats oddly: (a) an explicit die area
//! per core wins over a name match (boaviztapi lets the table win); (b) where boaviztapi's
//! arithmetic yields no number (a family whose rows lack core counts), we use the mean of all
//! CPUs and say so in the basis.

use crate::boavizta_compat::round_to_sigfig;
use crate::impacts::Ranged;
use crate::tables::{CpuRow, NAME_MATCH_THRESHOLD, tables};
use serde::Serialize;

/// A completed die size and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuDie {
    /// Total die area of one CPU package, mm² (all chiplets, I/O die included).
    pub die_mm2: Ranged<f64>,
    /// The table row the CPU's name matched, if any.
    pub matched: Option<String>,
    /// In words, for provenance: "given", "boaviztapi cpu_specs row `AMD EPYC 7543`"...
    pub basis: String,
}

/// Completes the die size of one CPU package.
///
/// `cores_per_socket` feeds the table completion only; `die_mm2` and `die_per_core_mm2` are
/// taken as given. Never fails: without any information it returns boaviztapi's documented
/// default (the mean of all known dies, 523 mm², range 41.2–3640).
pub fn cpu_die(
    model: Option<&str>,
    cores_per_socket: Option<u32>,
    die_mm2: Option<f64>,
    die_per_core_mm2: Option<f64>,
) -> CpuDie {
    if let Some(d) = die_mm2 {
        return CpuDie {
            die_mm2: Ranged::exact(d),
            matched: None,
            basis: "die area given in the inventory".into(),
        };
    }
    if let (Some(per_core), Some(cores)) = (die_per_core_mm2, cores_per_socket) {
        return CpuDie {
            die_mm2: Ranged::exact(per_core * f64::from(cores)),
            matched: None,
            basis: format!("die area per core given ({per_core} mm²) × {cores} cores"),
        };
    }
    let row = model.and_then(match_cpu);
    complete(row, cores_per_socket)
}

/// The index of the `cpu_specs` row boaviztapi would match for `model` (the costly step:
/// a fuzzy score against all 1,808 rows).
pub(crate) fn match_cpu(model: &str) -> Option<usize> {
    tables()
        .cpu_matcher
        .best(model, NAME_MATCH_THRESHOLD)
        .map(|(i, _)| i)
}

/// Steps 3 and 4, given the matched row (if any).
pub(crate) fn complete(row: Option<usize>, cores_per_socket: Option<u32>) -> CpuDie {
    let t = tables();
    let row = row.map(|i| &t.cpus[i]);
    if let Some(row) = row
        && let Some(die) = row.total_die_mm2
    {
        return CpuDie {
            die_mm2: Ranged::exact(die.trunc()),
            matched: Some(row.name.clone()),
            basis: format!("boaviztapi 2.5.0 cpu_specs row `{}`", row.name),
        };
    }
    // A matched row's core count replaces the inventory's, as in boaviztapi (the row is the
    // CPU's identity); its family narrows the rows used.
    let cores = row
        .and_then(|r| r.cores)
        .or(cores_per_socket.map(f64::from));
    let family = row.and_then(|r| r.family.as_deref());
    let mut die = from_table(family, cores);
    if let Some(row) = row {
        die.matched = Some(row.name.clone());
        die.basis = format!(
            "name matched `{}` (no die size in the table); {}",
            row.name, die.basis
        );
    }
    die
}

/// Step 4: completion from the rows with a known die size.
fn from_table(family: Option<&str>, cores: Option<f64>) -> CpuDie {
    let all: Vec<&CpuRow> = tables()
        .cpus
        .iter()
        .filter(|r| r.total_die_mm2.is_some())
        .collect();
    let in_family: Vec<&CpuRow> = match family {
        Some(f) => all
            .iter()
            .copied()
            .filter(|r| r.family.as_deref() == Some(f))
            .collect(),
        None => Vec::new(),
    };
    let (rows, scope) = if in_family.is_empty() {
        (all.clone(), "all families".to_string())
    } else {
        (in_family, format!("family {}", family.unwrap_or_default()))
    };
    let die = |r: &&CpuRow| r.total_die_mm2.unwrap_or(f64::NAN);
    let r3 = |x: f64| round_to_sigfig(x, 3);

    let completed = match cores {
        None => Some((
            stats(rows.iter().map(die)),
            format!(
                "mean die of {} CPUs of {scope} in boaviztapi 2.5.0 cpu_specs",
                rows.len()
            ),
        )),
        Some(c) => {
            let same: Vec<f64> = rows
                .iter()
                .filter(|r| r.cores == Some(c))
                .map(die)
                .collect();
            let first_cores = rows.first().and_then(|r| r.cores);
            if !same.is_empty() {
                Some((
                    stats(same.iter().copied()),
                    format!(
                        "mean die of the {} CPUs of {scope} with {c} cores in boaviztapi 2.5.0 cpu_specs",
                        same.len()
                    ),
                ))
            } else if rows.len() == 1
                || rows
                    .iter()
                    .all(|r| r.cores.is_some() && r.cores == first_cores)
            {
                let base = first_cores.unwrap_or(f64::NAN);
                let s = stats(rows.iter().map(die));
                // Same operation order as boaviztapi: (die × cores) / base cores.
                let scale = |d: f64| d * c / base;
                Some((
                    Ranged::new(
                        scale(rows[0].total_die_mm2.unwrap_or(f64::NAN)),
                        scale(s.min),
                        scale(s.max),
                    ),
                    format!(
                        "rule of three on `{}` ({base} cores) to {c} cores",
                        rows[0].name
                    ),
                ))
            } else {
                regression(&rows, c).map(|v| (Ranged::exact(v), format!("linear regression of die on cores over {scope} in boaviztapi 2.5.0 cpu_specs, at {c} cores")))
            }
        }
    };
    match completed {
        Some((d, basis))
            if d.value.is_finite() && d.min.is_finite() && d.max.is_finite() && d.value > 0.0 =>
        {
            CpuDie {
                die_mm2: d.map(r3),
                matched: None,
                basis,
            }
        }
        _ => CpuDie {
            die_mm2: stats(all.iter().map(die)).map(r3),
            matched: None,
            basis: format!(
                "mean die of all {} CPUs in boaviztapi 2.5.0 cpu_specs (the table gave no usable value for {scope}, {cores:?} cores)",
                all.len()
            ),
        },
    }
}

/// Mean, min and max, unrounded.
fn stats(values: impl Iterator<Item = f64>) -> Ranged<f64> {
    let (mut sum, mut n, mut lo, mut hi) = (0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        sum += v;
        n += 1;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Ranged::new(sum / n as f64, lo, hi)
}

/// Least squares `die = a + b·cores` over rows with a core count, evaluated at `cores`.
fn regression(rows: &[&CpuRow], cores: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.cores?, r.total_die_mm2?)))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let b = sxy / sxx;
    Some(mean_y - b * mean_x + b * cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methodology_case_v2() {
        // V2: EPYC 7543 from the table, unknown CPU → documented default.
        let epyc = cpu_die(Some("AMD EPYC 7543"), None, None, None);
        assert_eq!(epyc.die_mm2, Ranged::exact(1064.0));
        assert_eq!(epyc.matched.as_deref(), Some("AMD EPYC 7543"));
        let unknown = cpu_die(None, None, None, None);
        assert_eq!(unknown.die_mm2, Ranged::new(523.0, 41.2, 3640.0));
        // Named, in the table without a die, no core count: the same default.
        let gold = cpu_die(Some("Intel Xeon Gold 6248"), None, None, None);
        assert_eq!(gold.die_mm2.value, 523.0);
        assert_eq!(gold.matched.as_deref(), Some("Intel Xeon Gold 6248"));
    }

    #[test]
    fn explicit_inputs_win() {
        assert_eq!(
            cpu_die(Some("AMD EPYC 7543"), Some(32), Some(400.0), None).die_mm2,
            Ranged::exact(400.0)
        );
        assert_eq!(
            cpu_die(None, Some(32), None, Some(12.5)).die_mm2,
            Ranged::exact(400.0)
        );
    }

    #[test]
    fn core_count_completion() {
        // 20-core mean over all families: 1393.125 → 1390 (boaviztapi run).
        let d = cpu_die(None, Some(20), None, None);
        assert_eq!(d.die_mm2, Ranged::new(1390.0, 257.0, 1910.0));
    }
}
