//! A load generator for `energy-assess collect`, on loopback only: it plays thousands of nodes
//! that send their records with real MUNGE credentials of root, and measures how long the
//! collector takes to acknowledge them (an acknowledgement comes after the store's commit).
//!
//! - [`burst`]: one job on `nodes` nodes ends; each node sends its one record at once.
//!   Credentials and bodies are made before the clock starts; the figure is the time from the
//!   first send to the last acknowledgement.
//! - [`sustained`]: nodes send batches of records of many jobs as fast as the collector takes
//!   them, credentials made in the loop as a forwarder makes them, until `records` are
//!   acknowledged or `max_s` has passed.
//!
//! Both are bounded in count and time, and refuse a URL that is not on 127.0.0.1 or ::1.

use ea_record::JobNodeRecord;
use ea_record::batch::{Ack, BATCH_PATH, Batch, BatchEntry, CREDENTIAL_HEADER, body_digest};
use ea_record::spool::{encode_record, file_name};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why a load run stopped.
#[derive(Debug)]
pub enum LoadError {
    /// The URL is not a loopback `http://` URL.
    NotLoopback(String),
    /// munged refused to encode.
    Munge(ea_munge::MungeError),
    /// A request failed, or was not acknowledged whole.
    Send(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotLoopback(u) => {
                write!(
                    f,
                    "{u}: the load generator only sends to http://127.0.0.1 or http://[::1]"
                )
            }
            LoadError::Munge(e) => write!(f, "{e}"),
            LoadError::Send(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ea_munge::MungeError> for LoadError {
    fn from(e: ea_munge::MungeError) -> Self {
        LoadError::Munge(e)
    }
}

/// An HTTP client that reads every status (a forwarder's view), with a new connection for
/// each batch as each of thousands of nodes opens its own. (Kept-alive connections would also
/// meet tiny_http's thread pool, which serves a connection on one thread for its lifetime and,
/// when many arrive at once, leaves some queued until another connection closes.)
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// Checks that `url` is a loopback collector.
///
/// # Errors
/// Any other URL.
pub fn check_loopback(url: &str) -> Result<(), LoadError> {
    let rest = url.strip_prefix("http://").unwrap_or("");
    if rest.starts_with("127.0.0.1:")
        || rest.starts_with("[::1]:")
        || rest.starts_with("localhost:")
    {
        Ok(())
    } else {
        Err(LoadError::NotLoopback(url.to_string()))
    }
}

/// A body and its credential, ready to send.
pub struct Signed {
    /// The JSON body.
    pub body: Vec<u8>,
    /// The MUNGE credential of its digest.
    pub credential: String,
}

/// Serializes a batch and encodes its credential.
///
/// # Errors
/// munged refused.
pub fn sign(munge: &ea_munge::Munge, batch: &Batch) -> Result<Signed, LoadError> {
    let body = serde_json::to_vec(batch).expect("a batch is JSON");
    let credential = munge.encode(body_digest(&body).as_bytes())?;
    Ok(Signed { body, credential })
}

/// Sends one signed body; the status and, for a 200, the acknowledgement.
///
/// # Errors
/// The connection failed, or a 200 whose body is not an [`Ack`].
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    signed: &Signed,
) -> Result<(u16, Option<Ack>), LoadError> {
    let mut r = agent
        .post(format!("{url}{BATCH_PATH}"))
        .header(CREDENTIAL_HEADER, &signed.credential)
        .send(&signed.body[..])
        .map_err(|e| LoadError::Send(e.to_string()))?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .read_to_string()
        .map_err(|e| LoadError::Send(e.to_string()))?;
    if status != 200 {
        return Ok((status, None));
    }
    let ack = serde_json::from_str(&text).map_err(|e| LoadError::Send(format!("{e}: {text}")))?;
    Ok((status, Some(ack)))
}

/// A plausible record (a synthetic month's first multi-node job's, with its power series) to
/// copy for every node and job.
pub fn template() -> JobNodeRecord {
    let p = ea_synth::Params {
        jobs: 50,
        assessed: 1.0,
        seed: 14,
        ..Default::default()
    };
    let jobs = ea_synth::jobs(&p);
    let job = jobs
        .iter()
        .find(|j| j.nnodes >= 2)
        .expect("a synthetic month has multi-node jobs");
    ea_synth::records(&p, job).remove(0)
}

/// The name of played node `i`.
pub fn node_name(i: usize) -> String {
    format!("load{i:05}")
}

/// The entry of `template` as the record of job `job_id` on `node`.
pub fn entry(template: &JobNodeRecord, job_id: u32, node: &str, nnodes: usize) -> BatchEntry {
    let mut r = template.clone();
    r.job_id = job_id;
    r.node = node.to_string();
    r.node_list = Some(format!("load[00000-{:05}]", nnodes.saturating_sub(1)));
    r.num_nodes = Some(nnodes as u32);
    let content = String::from_utf8(encode_record(&r).expect("a record is JSON")).expect("UTF-8");
    BatchEntry {
        name: file_name(job_id, node, "json"),
        content,
    }
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Records acknowledged as stored.
    pub stored: u64,
    /// Records acknowledged as already stored (none in a fresh store).
    pub duplicates: u64,
    /// Batches sent.
    pub batches: u64,
    /// Seconds from the first send to the last acknowledgement.
    pub elapsed_s: f64,
    /// The slowest batch's round trip, in seconds.
    pub max_latency_s: f64,
}

impl Figures {
    /// Records acknowledged per second.
    pub fn rate(&self) -> f64 {
        (self.stored + self.duplicates) as f64 / self.elapsed_s.max(1e-9)
    }
}

/// Sends each signed body from `threads` threads; fails on any status but 200 or any
/// rejected entry.
fn send_all(url: &str, signed: &[Signed], threads: usize) -> Result<Figures, LoadError> {
    let next = AtomicUsize::new(0);
    let (stored, dups, worst_us) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let error: Mutex<Option<LoadError>> = Mutex::new(None);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let agent = agent();
                while let Some(one) = signed.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let t = Instant::now();
                    match post(&agent, url, one) {
                        Ok((200, Some(ack))) if ack.rejected.is_empty() => {
                            stored.fetch_add(ack.stored.len() as u64, Ordering::Relaxed);
                            dups.fetch_add(ack.duplicates.len() as u64, Ordering::Relaxed);
                        }
                        other => {
                            let e = match other {
                                Err(e) => e,
                                Ok(r) => LoadError::Send(format!("not acknowledged whole: {r:?}")),
                            };
                            *error.lock().unwrap() = Some(e);
                            next.store(signed.len(), Ordering::Relaxed);
                            return;
                        }
                    }
                    worst_us.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed_s = t0.elapsed().as_secs_f64();
    if let Some(e) = error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(Figures {
        stored: stored.into_inner(),
        duplicates: dups.into_inner(),
        batches: signed.len() as u64,
        elapsed_s,
        max_latency_s: worst_us.into_inner() as f64 / 1e6,
    })
}

/// One job of `nodes` nodes ends: each node sends its record at once, from `threads`
/// connections. Job ids start at `job_id`.
///
/// # Errors
/// Not loopback, munged refused, or a batch not acknowledged whole.
pub fn burst(
    url: &str,
    munge: &ea_munge::Munge,
    nodes: usize,
    threads: usize,
    job_id: u32,
) -> Result<Figures, LoadError> {
    check_loopback(url)?;
    let template = template();
    let signed = (0..nodes)
        .map(|i| {
            let node = node_name(i);
            let batch = Batch {
                records: vec![entry(&template, job_id, &node, nodes)],
                host: node,
            };
            sign(munge, &batch)
        })
        .collect::<Result<Vec<_>, _>>()?;
    send_all(url, &signed, threads)
}

/// `records` records of one-node jobs on `nodes` nodes, in batches of `per_batch`, sent from
/// `threads` connections; stops early after `max_s` (what was acknowledged by then counts).
/// Credentials are encoded as the batches are sent. Job ids start at `first_job`.
///
/// # Errors
/// Not loopback, munged refused, or a batch not acknowledged whole.
pub fn sustained(
    url: &str,
    munge: &ea_munge::Munge,
    shape: Sustained,
    first_job: u32,
) -> Result<Figures, LoadError> {
    check_loopback(url)?;
    let template = template();
    let batches = shape.records.div_ceil(shape.per_batch.max(1));
    let t0 = Instant::now();
    let mut total = Figures {
        stored: 0,
        duplicates: 0,
        batches: 0,
        elapsed_s: 0.0,
        max_latency_s: 0.0,
    };
    // In rounds of one batch per thread, so that encoding overlaps sending and the time bound
    // is checked between rounds.
    let mut b = 0;
    while b < batches && t0.elapsed().as_secs_f64() < shape.max_s {
        let round: Vec<Signed> = (b..(b + shape.threads * 4).min(batches))
            .map(|k| {
                let node = node_name(k % shape.nodes.max(1));
                let records = (0..shape.per_batch)
                    .map(|j| {
                        let job = first_job + (k * shape.per_batch + j) as u32;
                        entry(&template, job, &node, 1)
                    })
                    .collect();
                sign(
                    munge,
                    &Batch {
                        host: node,
                        records,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        b += round.len();
        let f = send_all(url, &round, shape.threads)?;
        total.stored += f.stored;
        total.duplicates += f.duplicates;
        total.batches += f.batches;
        total.max_latency_s = total.max_latency_s.max(f.max_latency_s);
    }
    total.elapsed_s = t0.elapsed().as_secs_f64();
    Ok(total)
}

/// The shape of a sustained run.
#[derive(Debug, Clone, Copy)]
pub struct Sustained {
    /// Records to send in all.
    pub records: usize,
    /// Records per batch.
    pub per_batch: usize,
    /// Nodes played.
    pub nodes: usize,
    /// Concurrent connections.
    pub threads: usize,
    /// Stop after this many seconds whatever is left.
    pub max_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_accepted() {
        assert!(check_loopback("http://127.0.0.1:7373").is_ok());
        assert!(check_loopback("http://[::1]:7373").is_ok());
        assert!(check_loopback("http://collector.example:7373").is_err());
        assert!(check_loopback("https://127.0.0.1:7373").is_err());
    }

    #[test]
    fn entries_are_the_records_of_their_job_and_node() {
        let t = template();
        let e = entry(&t, 77, &node_name(3), 10);
        let row = ea_ingest::batch::read_entry(&e.name, e.content.as_bytes(), "c").unwrap();
        assert_eq!((row.job_id_raw, row.node.as_str()), (77, "load00003"));
    }
}
