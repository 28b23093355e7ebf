//! One batch to the first collector that takes it.

use ea_record::batch::{
    Ack, BATCH_PATH, Batch, BatchEntry, CREDENTIAL_HEADER, Status, body_digest,
};
use std::fmt;
use std::time::Duration;

/// What a collector acknowledged.
pub type Delivery = Ack;

/// Signs a batch: the credential for the header, carrying `payload` (the body's digest).
/// A trait so that the tests sign without munged.
pub trait Signer {
    /// # Errors
    /// No credential can be made now (munged down): the batch waits.
    fn sign(&self, payload: &[u8]) -> Result<String, SendError>;
}

/// The real signer: a MUNGE credential of this process (root) from the node's munged.
#[derive(Debug, Clone, Copy, Default)]
pub struct MungeSigner;

impl Signer for MungeSigner {
    fn sign(&self, payload: &[u8]) -> Result<String, SendError> {
        ea_munge::encode(payload).map_err(|e| SendError::Sign(e.to_string()))
    }
}

/// Why no collector took a batch. Every case keeps the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No credential (munged unreachable, or the test signer's refusal): try later.
    Sign(String),
    /// Each collector tried, and what it said (connection refused, a status, a bad answer):
    /// try later.
    Collectors(Vec<String>),
    /// A collector answered that it cannot take this body at all (400 or 413, see
    /// [`Status::refuses_the_body`]); what each collector said. Resending the same batch
    /// cannot help: send its records in smaller batches.
    BodyRefused(Vec<String>),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Sign(e) => write!(f, "cannot sign the batch: {e}"),
            SendError::Collectors(each) | SendError::BodyRefused(each) => {
                write!(f, "{}", each.join("; "))
            }
        }
    }
}

impl std::error::Error for SendError {}

/// How long one request may take, connection to answer: the collector answers after its
/// commit, which for a batch of a few hundred records is well under a second.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `entries` as one batch to the collectors in order, until one acknowledges it.
/// A new credential is made for each try (one collector's munged remembers it: a second
/// use would be a replay).
///
/// # Errors
/// No collector acknowledged (see [`SendError`]); [`SendError::BodyRefused`] when one of them
/// said the body itself cannot be taken.
pub fn deliver(
    collectors: &[String],
    host: &str,
    entries: &[BatchEntry],
    signer: &dyn Signer,
) -> Result<Delivery, SendError> {
    let body = serde_json::to_vec(&Batch {
        host: host.to_string(),
        records: entries.to_vec(),
    })
    .map_err(|e| SendError::Collectors(vec![format!("cannot encode the batch: {e}")]))?;
    let digest = body_digest(&body);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .new_agent();
    let mut said = Vec::new();
    let mut body_refused = false;
    for base in collectors {
        let credential = signer.sign(digest.as_bytes())?;
        let url = format!("{}{BATCH_PATH}", base.trim_end_matches('/'));
        let response = agent
            .post(&url)
            .header(CREDENTIAL_HEADER, &credential)
            .header("Content-Type", "application/json")
            .send(&body[..]);
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                said.push(format!("{url}: {e}"));
                continue;
            }
        };
        let code = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        match Status::from_code(code) {
            Status::Acknowledged => match serde_json::from_str::<Ack>(&text) {
                Ok(ack) => return Ok(ack),
                Err(e) => said.push(format!("{url}: 200 with an answer that is not an Ack: {e}")),
            },
            status => {
                body_refused |= status.refuses_the_body();
                said.push(format!(
                    "{url}: {code} ({status:?}): {}",
                    text.trim().chars().take(200).collect::<String>()
                ));
            }
        }
    }
    Err(if body_refused {
        SendError::BodyRefused(said)
    } else {
        SendError::Collectors(said)
    })
}
