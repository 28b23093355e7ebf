//! The HTTP side: `POST /v1/batch` (see `ea_record::batch` for the protocol), `GET /metrics`
//! and `GET /healthz`, served by a few worker threads that verify and check batches and hand
//! their rows to the one writer.

use crate::auth::{self, AuthError, Verifier};
use crate::config::HostMap;
use crate::metrics::Metrics;
use crate::writer::{Submission, SubmitError};
use ea_record::batch::{Ack, BATCH_PATH, Batch, CREDENTIAL_HEADER, Rejected};
use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use tiny_http::{Header, Method, Request, Response};

/// What every worker shares.
pub struct Shared {
    /// Decodes credentials.
    pub verifier: Arc<dyn Verifier>,
    /// uids allowed to send.
    pub allowed_uids: Vec<u32>,
    /// Which nodes each host may send records of.
    pub hosts: HostMap,
    /// The cluster of records that name none.
    pub cluster: String,
    /// The largest body read.
    pub max_body_bytes: u64,
    /// Where checked rows go.
    pub writer: SyncSender<Submission>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// An HTTP answer: status and body.
struct Reply {
    status: u16,
    body: String,
    json: bool,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            json: false,
        }
    }
}

/// Serves requests until the server is unblocked.
pub fn work(server: &tiny_http::Server, shared: &Shared) {
    while let Ok(request) = server.recv() {
        serve(request, shared);
    }
}

fn serve(mut request: Request, shared: &Shared) {
    let reply = match (request.method(), request.url()) {
        (Method::Post, BATCH_PATH) => batch(&mut request, shared),
        (Method::Get, "/metrics") => Reply {
            status: 200,
            body: shared.metrics.encode(),
            json: false,
        },
        (Method::Get, "/healthz") => Reply::text(200, "ok\n"),
        (_, BATCH_PATH | "/metrics" | "/healthz") => Reply::text(405, "method not allowed\n"),
        _ => Reply::text(404, "not found\n"),
    };
    let content_type = if reply.json {
        "application/json"
    } else if reply.status == 200 && request.url() == "/metrics" {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let header =
        Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()).expect("a valid header");
    let response = Response::from_string(reply.body)
        .with_status_code(reply.status)
        .with_header(header);
    // The sender went away: it will send again, and the batch is stored once.
    let _ = request.respond(response);
}

/// `POST /v1/batch`: authenticate, read, check each record, store, acknowledge.
fn batch(request: &mut Request, shared: &Shared) -> Reply {
    let peer = request
        .remote_addr()
        .map_or_else(|| "?".to_string(), |a| a.ip().to_string());
    if request
        .body_length()
        .is_some_and(|n| n as u64 > shared.max_body_bytes)
    {
        shared.metrics.batch("too-large");
        return Reply::text(
            413,
            "batch larger than max_body_mb: send fewer records at once\n",
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(shared.max_body_bytes + 1)
        .read_to_end(&mut body);
    if read.is_err() || body.len() as u64 > shared.max_body_bytes {
        shared.metrics.batch("unreadable");
        return Reply::text(400, "body unreadable or too large\n");
    }
    let credential = request
        .headers()
        .iter()
        .find(|h| h.field.equiv(CREDENTIAL_HEADER))
        .map(|h| h.value.as_str().to_string());
    let uid = match auth::authenticate(
        &*shared.verifier,
        credential.as_deref(),
        &body,
        &shared.allowed_uids,
    ) {
        Ok(uid) => uid,
        Err(e) => return refused(&e, &peer, shared),
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            shared.metrics.batch("malformed");
            eprintln!("collect: malformed batch from {peer} (uid {uid}): {e}");
            return Reply::text(400, format!("not a batch: {e}\n"));
        }
    };
    store(batch, &peer, shared)
}

fn refused(e: &AuthError, peer: &str, shared: &Shared) -> Reply {
    shared.metrics.batch(e.reason());
    eprintln!("collect: batch from {peer} refused: {e}");
    Reply::text(e.status(), format!("{e}\n"))
}

/// Checks each entry, stores the good ones through the writer, and acknowledges.
fn store(batch: Batch, peer: &str, shared: &Shared) -> Reply {
    let m = &shared.metrics;
    m.received.inc_by(batch.records.len() as u64);
    let mut ack = Ack::default();
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for entry in batch.records {
        let checked = ea_ingest::batch::read_entry(
            &entry.name,
            entry.content.as_bytes(),
            &shared.cluster,
        )
        .map_err(|e| (e.reason(), e.to_string()))
        .and_then(|row| {
            if shared.hosts.allows(&batch.host, &row.node) {
                Ok(row)
            } else {
                Err((
                    "node-not-of-host",
                    format!(
                        "the record is of node {}, which host {} does not speak for (see [hosts] in the collector's config)",
                        row.node, batch.host
                    ),
                ))
            }
        });
        match checked {
            Ok(row) => {
                names.push(entry.name);
                rows.push(row);
            }
            Err((reason, why)) => {
                m.reject(reason);
                eprintln!(
                    "collect: rejected {} from host {} ({peer}): {reason}: {why}",
                    entry.name, batch.host
                );
                ack.rejected.push(Rejected {
                    name: entry.name,
                    reason: why,
                });
            }
        }
    }
    if !rows.is_empty() {
        let written = match submit(rows, shared) {
            Ok(w) => w,
            Err(e) => {
                m.batch("store-failed");
                return Reply::text(503, format!("not stored, send again later: {e}\n"));
            }
        };
        for (name, w) in names.into_iter().zip(written) {
            if w {
                ack.stored.push(name);
            } else {
                ack.duplicates.push(name);
            }
        }
    }
    m.stored.inc_by(ack.stored.len() as u64);
    m.duplicates.inc_by(ack.duplicates.len() as u64);
    m.batch("acknowledged");
    Reply {
        status: 200,
        body: serde_json::to_string(&ack).expect("an Ack is JSON"),
        json: true,
    }
}

fn submit(
    rows: Vec<ea_ingest::records::NodeRecordRow>,
    shared: &Shared,
) -> Result<Vec<bool>, SubmitError> {
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    shared
        .writer
        .send(Submission { rows, reply })
        .map_err(|_| SubmitError::Stopping)?;
    answer.recv().map_err(|_| SubmitError::WriterStopped)?
}
