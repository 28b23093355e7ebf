//! The three criteria every result carries, and the min/max range around a central value.
//!
//! Primary energy (PE, MJ), global warming potential (GWP, kgCO2eq) and abiotic depletion of
//! minerals and metals (ADPe, kgSbeq). boaviztapi calls the third `adp` for components and maps
//! it to the electricity factor `adpe` for the use phase (methodology §2.2); we call it ADPe
//! everywhere.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Mul, Sub};

/// One value per criterion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Impacts {
    /// Global warming potential, kgCO2eq.
    pub gwp_kgco2eq: f64,
    /// Abiotic depletion potential (minerals and metals), kgSbeq.
    pub adpe_kgsbeq: f64,
    /// Primary energy, MJ.
    pub pe_mj: f64,
}

impl Impacts {
    /// Nothing, on every criterion.
    pub const ZERO: Impacts = Impacts {
        gwp_kgco2eq: 0.0,
        adpe_kgsbeq: 0.0,
        pe_mj: 0.0,
    };

    /// GWP, ADPe and PE, in that order (the units of the fields).
    pub const fn new(gwp_kgco2eq: f64, adpe_kgsbeq: f64, pe_mj: f64) -> Self {
        Self {
            gwp_kgco2eq,
            adpe_kgsbeq,
            pe_mj,
        }
    }

    /// The same number for every criterion (a count, a mass, an area the factors multiply).
    pub const fn splat(x: f64) -> Self {
        Self::new(x, x, x)
    }

    /// Applies `f` to each criterion.
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self::new(f(self.gwp_kgco2eq), f(self.adpe_kgsbeq), f(self.pe_mj))
    }

    /// Criterion-wise product (factor per unit × quantity per criterion).
    pub fn times(self, other: Impacts) -> Self {
        Self::new(
            self.gwp_kgco2eq * other.gwp_kgco2eq,
            self.adpe_kgsbeq * other.adpe_kgsbeq,
            self.pe_mj * other.pe_mj,
        )
    }

    /// Whether every criterion is a finite number.
    pub fn is_finite(self) -> bool {
        self.gwp_kgco2eq.is_finite() && self.adpe_kgsbeq.is_finite() && self.pe_mj.is_finite()
    }
}

impl Add for Impacts {
    type Output = Impacts;
    fn add(self, o: Impacts) -> Impacts {
        Impacts::new(
            self.gwp_kgco2eq + o.gwp_kgco2eq,
            self.adpe_kgsbeq + o.adpe_kgsbeq,
            self.pe_mj + o.pe_mj,
        )
    }
}

impl AddAssign for Impacts {
    fn add_assign(&mut self, o: Impacts) {
        *self = *self + o;
    }
}

impl Sub for Impacts {
    type Output = Impacts;
    fn sub(self, o: Impacts) -> Impacts {
        Impacts::new(
            self.gwp_kgco2eq - o.gwp_kgco2eq,
            self.adpe_kgsbeq - o.adpe_kgsbeq,
            self.pe_mj - o.pe_mj,
        )
    }
}

impl Mul<f64> for Impacts {
    type Output = Impacts;
    fn mul(self, k: f64) -> Impacts {
        self.map(|x| x * k)
    }
}

impl std::iter::Sum for Impacts {
    fn sum<I: Iterator<Item = Impacts>>(iter: I) -> Impacts {
        iter.fold(Impacts::ZERO, Add::add)
    }
}

/// A central value with the lowest and highest values the documented attribute ranges allow
/// (densities, default die size, case type, PSU weight, lifetime, utilisation, PUE).
///
/// `min <= value <= max` holds whenever the inputs' ranges contain their central values; the
/// three are propagated separately, as boaviztapi does (`Impact.min`/`Impact.max`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranged<T> {
    /// The central value, from the central inputs.
    pub value: T,
    /// The lowest value the inputs' ranges allow.
    pub min: T,
    /// The highest value the inputs' ranges allow.
    pub max: T,
}

impl<T: Copy> Ranged<T> {
    /// A value known exactly.
    pub const fn exact(value: T) -> Self {
        Self {
            value,
            min: value,
            max: value,
        }
    }

    /// A central value with its bounds (not checked: see [`Ranged::contains_value`]).
    pub const fn new(value: T, min: T, max: T) -> Self {
        Self { value, min, max }
    }

    /// Applies `f` to the value and both bounds.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Ranged<U> {
        Ranged {
            value: f(self.value),
            min: f(self.min),
            max: f(self.max),
        }
    }
}

impl Ranged<f64> {
    /// Whether `min <= value <= max`.
    pub fn contains_value(&self) -> bool {
        self.min <= self.value && self.value <= self.max
    }
}

impl Ranged<Impacts> {
    /// Nothing, exactly.
    pub const ZERO: Ranged<Impacts> = Ranged::exact(Impacts::ZERO);

    /// Scales value and bounds by the same non-negative factor.
    pub fn scale(self, k: f64) -> Self {
        self.map(|i| i * k)
    }

    /// Scales value, min and max by their own factors (e.g. 1/lifetime, whose min and max
    /// swap: the lowest rate comes from the longest lifetime).
    pub fn scale_each(self, k: Ranged<f64>) -> Self {
        Ranged {
            value: self.value * k.value,
            min: self.min * k.min,
            max: self.max * k.max,
        }
    }
}

impl Add for Ranged<Impacts> {
    type Output = Ranged<Impacts>;
    fn add(self, o: Self) -> Self {
        Ranged {
            value: self.value + o.value,
            min: self.min + o.min,
            max: self.max + o.max,
        }
    }
}

impl AddAssign for Ranged<Impacts> {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl std::iter::Sum for Ranged<Impacts> {
    fn sum<I: Iterator<Item = Ranged<Impacts>>>(iter: I) -> Self {
        iter.fold(Ranged::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_per_criterion() {
        let a = Impacts::new(1.0, 2.0, 3.0);
        let b = Impacts::new(0.5, 0.25, 2.0);
        assert_eq!(a + b, Impacts::new(1.5, 2.25, 5.0));
        assert_eq!(a - b, Impacts::new(0.5, 1.75, 1.0));
        assert_eq!(a * 2.0, Impacts::new(2.0, 4.0, 6.0));
        assert_eq!(a.times(b), Impacts::new(0.5, 0.5, 6.0));
        assert_eq!([a, b].into_iter().sum::<Impacts>(), a + b);
    }

    #[test]
    fn ranges_scale_each_bound_by_its_own_factor() {
        let r = Ranged::new(
            Impacts::splat(10.0),
            Impacts::splat(5.0),
            Impacts::splat(20.0),
        );
        let per_hour = r.scale_each(Ranged::new(0.1, 0.05, 0.2));
        assert_eq!(per_hour.value, Impacts::splat(1.0));
        assert_eq!(per_hour.min, Impacts::splat(0.25));
        assert_eq!(per_hour.max, Impacts::splat(4.0));
        assert!(Ranged::new(1.0, 0.5, 2.0).contains_value());
        assert!(!Ranged::new(3.0, 0.5, 2.0).contains_value());
    }
}
