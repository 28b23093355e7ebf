//! What the node side (the SPANK plugin and its sampler) and the post-processor share.
//!
//! - [`record`]: the job-node record, one per job per node, and its schema version;
//! - [`spool`]: where records live on a node and how they are written (atomically, under names
//!   that no job id or node name can turn into a path outside the spool);
//! - [`hostlist`]: Slurm hostlist expressions (`n[1-3]`, `gpu[001-040,044]`) and count lists
//!   (`2(x3),1`), needed by the plugin to find its node's CPU count and by the inventory;
//! - [`time`]: the one timestamp type records use;
//! - [`base64`]: the encoding of the records' power series;
//! - [`batch`]: the wire protocol between a node's forwarder and the collector;
//! - [`digest`]: SHA-256 in hex, which identifies inputs and binds batches to credentials;
//! - [`bounds`]: what a record may plausibly say, checked the same way by every reader;
//! - [`summary`]: what a job's records say, as the summary file and `energy-assess job` print it.
//!
//! This crate has no Slurm, no rayon and no SQLite in it, so that the plugin can depend on it
//! without pulling threads into slurmstepd.
#![forbid(unsafe_code)]

pub mod base64;
pub mod batch;
pub mod bounds;
pub mod digest;
pub mod hostlist;
pub mod record;
pub mod spool;
pub mod summary;
pub mod time;

pub use digest::sha256_hex;
pub use record::*;
pub use time::UnixMicros;
