//! A job's energy, the three ways the post-processor knows it (`ea-energy`):
//!
//! - [`measured`]: measured on its nodes, as the impact engine split each node between the
//!   jobs on it (`ea_impact::allocate`), added up over its nodes with the range of each
//!   meter scope;
//! - [`wattmeter`]: an external wattmeter's series (CSV), and the integral of a series over a
//!   job's time on a node;
//! - [`estimate`]: estimated the Green Algorithms way where nobody measured, calibrated per
//!   partition from the measured jobs.
//!
//! Pure functions over values: this crate reads no store (`ea-store`) and decides nothing of
//! what is ingested (`ea-ingest`) or shown (`ea-query`). Both of those use it, and the store
//! reads and writes its [`estimate::Calibration`]. The target layout
//! (`docs/architecture.md`) has these models in the impact engine; they are a crate of their
//! own until it takes them.
#![forbid(unsafe_code)]

pub mod estimate;
pub mod measured;
pub mod wattmeter;
