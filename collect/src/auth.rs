//! Who sent a batch: the MUNGE credential in its header, checked against the body it came with.
//!
//! A batch is accepted only with a credential that munged decodes (valid, unexpired, never
//! decoded before), whose payload is the SHA-256 of the exact body received
//! ([`ea_record::batch::body_digest`]), and whose uid may send records (root, or the
//! configured SlurmUser). A user on a node can encode a credential of their own uid, but not
//! of root's; a credential seen in transit cannot be sent again (replay) nor carry another
//! body (payload).

use ea_munge::{Decoded, MungeError, MungeErrorKind};
use std::fmt;

/// What decodes credentials: munged in production, a fake in unit tests.
pub trait Verifier: Send + Sync {
    /// Decodes a credential.
    ///
    /// # Errors
    /// As [`ea_munge::Munge::decode`].
    fn decode(&self, credential: &str) -> Result<Decoded, MungeError>;
}

impl Verifier for ea_munge::Munge {
    fn decode(&self, credential: &str) -> Result<Decoded, MungeError> {
        ea_munge::Munge::decode(self, credential)
    }
}

/// Why a batch was refused before its records were looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credential header.
    Missing,
    /// munged refused the credential (expired, replayed, rewound, invalid).
    Credential(MungeError),
    /// munged could not be asked: not the sender's fault, retry later.
    Unavailable(MungeError),
    /// The credential is valid but was made for another body.
    PayloadMismatch,
    /// The credential is valid, of a uid that may not send records.
    Uid(u32),
}

impl AuthError {
    /// The HTTP status the forwarder gets (see `ea_record::batch::Status`).
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Credential(_) | AuthError::PayloadMismatch => 401,
            AuthError::Uid(_) => 403,
            AuthError::Unavailable(_) => 503,
        }
    }

    /// A short stable name, for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "no-credential",
            AuthError::Credential(e) => match e.kind {
                MungeErrorKind::Expired => "credential-expired",
                MungeErrorKind::Replayed => "credential-replayed",
                MungeErrorKind::Rewound => "credential-rewound",
                _ => "credential-invalid",
            },
            AuthError::Unavailable(_) => "munged-unavailable",
            AuthError::PayloadMismatch => "payload-mismatch",
            AuthError::Uid(_) => "uid-not-allowed",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => write!(
                f,
                "no {} header: batches must carry a MUNGE credential",
                ea_record::batch::CREDENTIAL_HEADER
            ),
            AuthError::Credential(e) => write!(f, "credential refused: {e}"),
            AuthError::Unavailable(e) => write!(f, "cannot verify credentials now: {e}"),
            AuthError::PayloadMismatch => write!(
                f,
                "the credential's payload is not the SHA-256 of this body (made for another batch)"
            ),
            AuthError::Uid(uid) => write!(
                f,
                "uid {uid} may not send records: only root and the configured slurm_user may"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

/// The uid that sent `body` with `credential`, if it may.
///
/// # Errors
/// Any of [`AuthError`]'s cases.
pub fn authenticate(
    verifier: &dyn Verifier,
    credential: Option<&str>,
    body: &[u8],
    allowed_uids: &[u32],
) -> Result<u32, AuthError> {
    let credential = credential.ok_or(AuthError::Missing)?;
    let decoded = verifier.decode(credential).map_err(|e| match e.kind {
        MungeErrorKind::Socket | MungeErrorKind::Other => AuthError::Unavailable(e),
        _ => AuthError::Credential(e),
    })?;
    if !allowed_uids.contains(&decoded.uid) {
        return Err(AuthError::Uid(decoded.uid));
    }
    let digest = ea_record::batch::body_digest(body);
    if decoded.payload != digest.as_bytes() {
        return Err(AuthError::PayloadMismatch);
    }
    Ok(decoded.uid)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// Credentials `fake:<uid>:<serial>:<payload>`, each accepted once (as munged's replay
    /// cache does); the serial makes two credentials of the same body differ, as munged's do.
    #[derive(Default)]
    pub(crate) struct FakeMunge(Mutex<HashSet<String>>);

    impl FakeMunge {
        pub(crate) fn encode(uid: u32, body: &[u8]) -> String {
            static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("fake:{uid}:{n}:{}", ea_record::batch::body_digest(body))
        }
    }

    impl Verifier for FakeMunge {
        fn decode(&self, credential: &str) -> Result<Decoded, MungeError> {
            let err = |kind, code| MungeError {
                kind,
                code,
                message: "fake".into(),
            };
            let mut parts = credential.splitn(4, ':');
            let (Some("fake"), Some(uid), Some(_serial), Some(payload)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(err(MungeErrorKind::Invalid, 14));
            };
            if !self.0.lock().unwrap().insert(credential.to_string()) {
                return Err(err(MungeErrorKind::Replayed, 17));
            }
            Ok(Decoded {
                uid: uid.parse().map_err(|_| err(MungeErrorKind::Invalid, 14))?,
                gid: 0,
                payload: payload.as_bytes().to_vec(),
            })
        }
    }

    #[test]
    fn root_with_the_body_s_digest_is_accepted_once() {
        let m = FakeMunge::default();
        let cred = FakeMunge::encode(0, b"body");
        assert_eq!(authenticate(&m, Some(&cred), b"body", &[0]), Ok(0));
        let e = authenticate(&m, Some(&cred), b"body", &[0]).unwrap_err();
        assert_eq!((e.status(), e.reason()), (401, "credential-replayed"));
    }

    #[test]
    fn another_uid_body_or_no_credential_is_refused() {
        let m = FakeMunge::default();
        let e = authenticate(&m, Some(&FakeMunge::encode(1000, b"b")), b"b", &[0]).unwrap_err();
        assert_eq!((e.status(), e.reason()), (403, "uid-not-allowed"));
        let e = authenticate(&m, Some(&FakeMunge::encode(0, b"b")), b"other", &[0]).unwrap_err();
        assert_eq!((e.status(), e.reason()), (401, "payload-mismatch"));
        let e = authenticate(&m, None, b"b", &[0]).unwrap_err();
        assert_eq!(e.status(), 401);
        let e = authenticate(&m, Some("garbage"), b"b", &[0]).unwrap_err();
        assert_eq!((e.status(), e.reason()), (401, "credential-invalid"));
        assert_eq!(
            authenticate(&m, Some(&FakeMunge::encode(64030, b"b")), b"b", &[0, 64030]),
            Ok(64030)
        );
    }
}
