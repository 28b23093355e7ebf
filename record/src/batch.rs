//! The collector's wire protocol: what a node's forwarder sends to `energy-assess collect` and
//! what it gets back.
//!
//! A forwarder `POST`s a [`Batch`] as JSON to [`BATCH_PATH`] with the MUNGE credential in the
//! [`CREDENTIAL_HEADER`] header. The credential's payload is [`body_digest`] of the exact body
//! bytes sent, so a credential cannot be moved onto another body, and MUNGE's replay cache
//! keeps one body from being stored under the same credential twice.
//!
//! The collector answers 200 with an [`Ack`] only after the store's transaction committed:
//! - everything in [`Ack::stored`] and [`Ack::duplicates`] is safe in the store; the forwarder
//!   removes those entries from its queue;
//! - an entry in [`Ack::rejected`] will never be stored as sent (wrong node, unreadable record,
//!   misnamed file): the forwarder moves it aside for an admin, never retries and never deletes
//!   it.
//!
//! The other statuses say what to do with the whole batch (see [`Status`]): 401 and 403 are a
//! credential or uid problem on the node (fix the node, the batch stays queued), 400 a body the
//! collector cannot read, 503 and any other 5xx mean retry later.
//!
//! This module is plain data and one hash: no HTTP and no MUNGE, so that the plugin's forwarder
//! and the collector agree on the format without either pulling the other's dependencies.

use serde::{Deserialize, Serialize};

/// The collector's batch endpoint.
pub const BATCH_PATH: &str = "/v1/batch";

/// The HTTP header that carries the MUNGE credential (the text `munge_encode` returns).
pub const CREDENTIAL_HEADER: &str = "X-Munge-Credential";

/// One request: the records a node sends at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The sending host's short name (the part of its hostname before the first dot): the
    /// collector checks each record's `node` against it.
    pub host: String,
    /// The records, in any order.
    pub records: Vec<BatchEntry>,
}

/// One record file of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    /// The record's spool file name, as [`crate::spool::file_name`] gives it
    /// (`job-<id>.<escaped node>.json`); the collector checks it against the record.
    pub name: String,
    /// The record file's bytes, UTF-8 JSON as the plugin wrote them.
    pub content: String,
}

/// The collector's answer to a batch it read (HTTP 200), sent after the store committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Names of the entries this batch stored.
    pub stored: Vec<String>,
    /// Names of the entries the store already held with the same content (a batch resent after
    /// a lost answer): as safe as stored.
    pub duplicates: Vec<String>,
    /// Entries that will never be stored as sent, and why.
    pub rejected: Vec<Rejected>,
}

/// An entry the collector refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The entry's name, as sent.
    pub name: String,
    /// Why, in words an admin can act on.
    pub reason: String,
}

/// What an HTTP status from the collector tells a forwarder to do with the whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200: read the [`Ack`] and act on each entry.
    Acknowledged,
    /// 401: the credential was invalid, expired, replayed or did not match the body. Encode a
    /// new credential and resend later; if it persists, the node's munged or clock is wrong.
    CredentialRefused,
    /// 403: the credential's uid may not send records (only root or the SlurmUser may).
    UidRefused,
    /// 400: the collector could not read the body (not JSON, not a [`Batch`]).
    Malformed,
    /// 413: the body is larger than the collector takes (its `max_body_mb`).
    TooLarge,
    /// 503 or another 5xx, or an unexpected status: retry later, with backoff.
    RetryLater,
}

impl Status {
    /// What the HTTP status code `code` means for the batch.
    pub fn from_code(code: u16) -> Self {
        match code {
            200 => Status::Acknowledged,
            401 => Status::CredentialRefused,
            403 => Status::UidRefused,
            400 => Status::Malformed,
            413 => Status::TooLarge,
            _ => Status::RetryLater,
        }
    }

    /// The batch as sent can never be taken: resending it cannot help, sending its records
    /// in smaller batches may (one record the collector cannot read is then found and set
    /// aside instead of holding up every record queued behind it).
    pub fn refuses_the_body(self) -> bool {
        matches!(self, Status::Malformed | Status::TooLarge)
    }
}

/// The MUNGE payload that binds a credential to a body: the lowercase hex SHA-256 of the exact
/// body bytes sent (64 characters).
pub fn body_digest(body: &[u8]) -> String {
    crate::digest::sha256_hex(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_in_lowercase_hex() {
        // FIPS 180-2's test vector for "abc".
        assert_eq!(
            body_digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(body_digest(b"").len(), 64);
    }

    #[test]
    fn batch_round_trips_through_json() {
        let batch = Batch {
            host: "n1".into(),
            records: vec![BatchEntry {
                name: crate::spool::file_name(7, "n1", "json"),
                content: "{\"job_id\":7}".into(),
            }],
        };
        let text = serde_json::to_string(&batch).unwrap();
        assert_eq!(serde_json::from_str::<Batch>(&text).unwrap(), batch);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"host":"n1","records":[],"extra":1}"#;
        assert!(serde_json::from_str::<Batch>(text).is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(Status::from_code(200), Status::Acknowledged);
        assert_eq!(Status::from_code(401), Status::CredentialRefused);
        assert_eq!(Status::from_code(403), Status::UidRefused);
        assert_eq!(Status::from_code(400), Status::Malformed);
        assert_eq!(Status::from_code(413), Status::TooLarge);
        assert!(Status::from_code(400).refuses_the_body());
        assert!(Status::from_code(413).refuses_the_body());
        assert!(!Status::from_code(503).refuses_the_body());
        assert!(!Status::from_code(401).refuses_the_body());
        assert_eq!(Status::from_code(503), Status::RetryLater);
        assert_eq!(Status::from_code(502), Status::RetryLater);
    }
}
