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

/// Why no collector took a batch. Every case means: keep the records, try later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No credential (munged unreachable, or the test signer's refusal).
    Sign(String),
    /// Each collector tried, and what it said (connection refused, a status, a bad answer).
    Collectors(Vec<String>),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Sign(e) => write!(f, "cannot sign the batch: {e}"),
            SendError::Collectors(each) => write!(f, "{}", each.join("; ")),
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
/// No collector acknowledged (see [`SendError`]).
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
            status => said.push(format!(
                "{url}: {code} ({status:?}): {}",
                text.trim().chars().take(200).collect::<String>()
            )),
        }
    }
    Err(SendError::Collectors(said))
}
