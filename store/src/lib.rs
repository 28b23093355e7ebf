//! The store behind `energy-assess ingest`, `acct` and `report`.
//!
//! - [`sacct`]: Slurm accounting read from every form sacct writes it in;
//! - [`db`]: the SQLite store, its schema and migrations, its permissions;
//! - [`ingest`]: sacct dumps, live sacct, spool records and wattmeter series into the store,
//!   in one transaction, incrementally;
//! - [`measured`] and [`estimate`]: a job's energy, measured (each node split between the jobs
//!   on it by the impact engine's rule, [`ea_impact::Allocator`]) or estimated the
//!   Green-Algorithms way and calibrated from measured jobs;
//! - [`config`], [`timefmt`]: the site configuration and Slurm's time formats.
//!
//! The crate is a library so that the benchmark and the synthetic-month generator use the same
//! code as the `energy-assess` binary; the binary's subcommands are thin wrappers.
#![forbid(unsafe_code)]

pub mod acct;
pub mod bytes;
pub mod columns;
pub mod config;
pub mod db;
pub mod estimate;
pub mod fastmap;
pub mod figures;
pub mod hosts;
pub mod impact_types;
pub mod impacts;
pub mod ingest;
pub mod measured;
pub mod privacy;
pub mod profile;
pub mod render;
pub mod report;
pub mod sacct;
pub mod session;
pub mod synth;
pub mod timefmt;
