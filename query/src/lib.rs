//! What the post-processor shows (`ea-query`): everything `energy-assess acct`, `job` and
//! `report` read from the store and how they write it.
//!
//! - [`session`]: a query's config, identity, store, clock and impact engine, opened once;
//!   [`privacy`]: who may see which jobs;
//! - [`figures`]: every job's energy and impacts, computed when asked from the stored rows;
//!   [`impacts`]: the use phase from the impact engine, the embodied share the ingest stored;
//! - [`acct`], [`columns`], [`render`]: sacct's query grammar, its columns plus ours, and its
//!   table, parsable and JSON outputs;
//! - [`report`]: a period's figures per cluster, partition, account and user, as text, CSV,
//!   JSON and an HTML page.
//!
//! This crate reads; it never writes the store nor reads the inputs (dumps, spools:
//! `ea-ingest`), and its SQL goes through `ea-store`'s typed reads.
#![forbid(unsafe_code)]

pub mod acct;
pub mod columns;
pub mod figures;
pub mod impacts;
pub mod privacy;
pub mod render;
pub mod report;
pub mod session;
