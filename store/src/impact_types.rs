//! The impact types, from the impact engine: GWP (kgCO2eq), ADPe (kgSbeq) and PE (MJ), and a
//! central value with its min/max range.

pub use ea_impact::{Impacts, Ranged};
