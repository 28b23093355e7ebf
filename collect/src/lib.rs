//! `energy-assess collect`: the service on the admin host that receives the nodes' records and
//! stores them, so that a site needs no shared filesystem for its spool.
//!
//! Each node's forwarder `POST`s batches of record files with a MUNGE credential
//! ([`ea_record::batch`] is the protocol). For each batch the collector:
//! 1. verifies the credential with munged ([`auth`]): valid, unexpired, not replayed, of root
//!    or the SlurmUser, its payload the SHA-256 of this body; else 401/403 and nothing read;
//! 2. reads each record as `ingest --spool` reads a file, and refuses (counted by reason,
//!    logged) a record that is not its file's, or of a node the sending host does not speak
//!    for ([`config::HostMap`]);
//! 3. stores the rest through the store's ingest ([`ea_ingest::batch`]) in one
//!    transaction, concurrent batches together ([`writer`]), and answers with what was stored
//!    and what the store already had only after the commit.
//!
//! The same writer runs the sacct side (`ingest --live` over a recent window) on a schedule,
//! and [`metrics`] serves `/metrics` for Prometheus. Threads only (no async runtime): the
//! work is a credential decode, a JSON parse and a SQLite write per batch.

pub mod auth;
pub mod config;
pub mod metrics;
pub mod nodes;
pub mod server;
pub mod writer;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use config::CollectConfig;

/// Why the collector could not start.
#[derive(Debug)]
pub enum CollectError {
    /// The listening address could not be bound.
    Listen {
        /// The address asked for (`host:port`).
        addr: String,
        /// What binding it answered.
        error: String,
    },
    /// The state directory could not be made.
    StateDir {
        /// The directory.
        dir: PathBuf,
        /// What making it answered.
        error: std::io::Error,
    },
}

impl fmt::Display for CollectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectError::Listen { addr, error } => write!(
                f,
                "cannot listen on {addr}: {error} (another collector running? change `listen`)"
            ),
            CollectError::StateDir { dir, error } => {
                write!(
                    f,
                    "cannot create the state directory {}: {error}",
                    dir.display()
                )
            }
        }
    }
}

impl std::error::Error for CollectError {}

/// A running collector.
pub struct Running {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    metrics: Arc<metrics::Metrics>,
}

impl Running {
    /// The address it listens on (with the port chosen, when `listen` gave port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Serves until the process ends.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
        let _ = self.writer.join();
    }

    /// Stops taking requests, lets those in progress finish, and stops the writer once they
    /// are stored.
    pub fn stop(self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
        // The workers held the last senders: the writer ends after the queue.
        let _ = self.writer.join();
    }
}

/// Starts the collector: binds `config.listen`, starts the writer on `setup.store` and the
/// HTTP workers.
///
/// # Errors
/// The address cannot be bound, or the state directory created.
pub fn start(
    config: &CollectConfig,
    setup: writer::WriterSetup,
    verifier: Arc<dyn auth::Verifier>,
) -> Result<Running, CollectError> {
    std::fs::create_dir_all(&setup.state_dir).map_err(|error| CollectError::StateDir {
        dir: setup.state_dir.clone(),
        error,
    })?;
    let server = tiny_http::Server::http(&config.listen).map_err(|e| CollectError::Listen {
        addr: config.listen.clone(),
        error: e.to_string(),
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| CollectError::Listen {
            addr: config.listen.clone(),
            error: "not an IP address".into(),
        })?;
    let server = Arc::new(server);
    let metrics = setup.metrics.clone();
    // Room for every worker's batch: a worker waits on its own answer anyway.
    let (queue, inbox) = std::sync::mpsc::sync_channel(config.threads * 2);
    let cluster = setup.settings.cluster.clone();
    let writer = std::thread::Builder::new()
        .name("collect-writer".into())
        .spawn(move || writer::run(setup, inbox))
        .expect("spawn the writer thread");
    let shared = Arc::new(server::Shared {
        verifier,
        allowed_uids: config.allowed_uids.clone(),
        hosts: config.hosts.clone(),
        cluster,
        max_body_bytes: config.max_body_bytes,
        writer: queue,
        metrics: metrics.clone(),
    });
    let workers = (0..config.threads)
        .map(|i| {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("collect-http-{i}"))
                .spawn(move || server::work(&server, &shared))
                .expect("spawn an HTTP worker")
        })
        .collect();
    Ok(Running {
        addr,
        server,
        workers,
        writer,
        metrics,
    })
}

#[cfg(test)]
mod tests;
