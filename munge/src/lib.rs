//! MUNGE credentials, safely: [`encode`] a payload as the calling process's uid and gid, and
//! [`decode`] a credential into who made it and what it carries.
//!
//! The collector (`energy-assess collect`) authenticates the batches that node forwarders send
//! with it: MUNGE proves the sender's uid to the collector's host without any secret other
//! than the key every Slurm node already shares, and munged's replay cache refuses a
//! credential decoded twice. Decoding needs a running `munged` on the collector's host with the
//! same key as the nodes'.
//!
//! Errors are typed ([`MungeErrorKind`]) so that a caller can tell a credential to refuse
//! (expired, replayed, invalid) from a local problem to retry (munged unreachable).
#![deny(unsafe_code)]

mod ffi;

use std::ffi::{CString, c_int};
use std::fmt;
use std::path::{Path, PathBuf};

/// What a valid credential says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The uid of the process that encoded it, as munged on its host saw it.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// The payload it carries.
    pub payload: Vec<u8>,
}

/// Why MUNGE refused, in the classes a caller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MungeErrorKind {
    /// The credential's time-to-live has passed (`EMUNGE_CRED_EXPIRED`): refuse it; the
    /// sender encodes a new one.
    Expired,
    /// munged has decoded this credential before (`EMUNGE_CRED_REPLAYED`): refuse it.
    Replayed,
    /// The credential was encoded in the future beyond the allowed clock skew
    /// (`EMUNGE_CRED_REWOUND`): refuse it; the hosts' clocks disagree.
    Rewound,
    /// Not a credential of this realm: bad format, version, cipher, MAC, compression or realm,
    /// a key mismatch, or a decode restricted to another uid. Refuse it.
    Invalid,
    /// munged could not be reached (`EMUNGE_SOCKET`, `EMUNGE_TIMEOUT`): a local problem;
    /// retry once munged runs.
    Socket,
    /// Anything else (bad argument, length, memory, internal error).
    Other,
}

/// A refusal or failure of libmunge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MungeError {
    /// The class of the error.
    pub kind: MungeErrorKind,
    /// libmunge's error number (`EMUNGE_*`).
    pub code: u32,
    /// libmunge's message.
    pub message: String,
}

impl MungeErrorKind {
    /// The class of libmunge error number `code`.
    pub fn of(code: u32) -> Self {
        use munge_sys as s;
        match code {
            s::EMUNGE_CRED_EXPIRED => Self::Expired,
            s::EMUNGE_CRED_REPLAYED => Self::Replayed,
            s::EMUNGE_CRED_REWOUND => Self::Rewound,
            s::EMUNGE_BAD_CRED
            | s::EMUNGE_BAD_VERSION
            | s::EMUNGE_BAD_CIPHER
            | s::EMUNGE_BAD_MAC
            | s::EMUNGE_BAD_ZIP
            | s::EMUNGE_BAD_REALM
            | s::EMUNGE_CRED_INVALID
            | s::EMUNGE_CRED_UNAUTHORIZED => Self::Invalid,
            s::EMUNGE_SOCKET | s::EMUNGE_TIMEOUT => Self::Socket,
            _ => Self::Other,
        }
    }

    /// A short stable name (`expired`, `replayed`...), for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Replayed => "replayed",
            Self::Rewound => "rewound",
            Self::Invalid => "invalid",
            Self::Socket => "socket",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for MungeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "munge: {} ({})", self.message, self.kind.name())
    }
}

impl std::error::Error for MungeError {}

impl From<ffi::Failure> for MungeError {
    fn from(f: ffi::Failure) -> Self {
        Self {
            kind: MungeErrorKind::of(f.code),
            code: f.code,
            message: f.message,
        }
    }
}

/// How to reach munged: its socket and the time-to-live of the credentials encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Munge {
    socket: Option<PathBuf>,
    ttl_s: Option<u32>,
}

impl Munge {
    /// munged's default socket (`/run/munge/munge.socket.2` on Debian) and TTL (300 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// Another munged socket (`munged --socket`).
    pub fn with_socket(mut self, socket: impl AsRef<Path>) -> Self {
        self.socket = Some(socket.as_ref().to_path_buf());
        self
    }

    /// The time-to-live in seconds of the credentials this encodes (munged caps it at its
    /// `--max-ttl`, 3600 s by default).
    pub fn with_ttl(mut self, ttl_s: u32) -> Self {
        self.ttl_s = Some(ttl_s);
        self
    }

    fn ctx(&self) -> Result<ffi::Ctx, MungeError> {
        let socket = match &self.socket {
            Some(p) => Some(nul_free(p.as_os_str().as_encoded_bytes())?),
            None => None,
        };
        let ttl = self.ttl_s.map(|t| c_int::try_from(t).unwrap_or(c_int::MAX));
        Ok(ffi::Ctx::new(socket.as_deref(), ttl)?)
    }

    /// A credential of this process's uid and gid carrying `payload`, as text to send.
    ///
    /// # Errors
    /// munged unreachable ([`MungeErrorKind::Socket`]) or another libmunge failure.
    pub fn encode(&self, payload: &[u8]) -> Result<String, MungeError> {
        Ok(self.ctx()?.encode(payload)?)
    }

    /// Who encoded `cred` and what it carries; munged remembers it, so a second decode of the
    /// same credential is [`MungeErrorKind::Replayed`].
    ///
    /// # Errors
    /// A credential that is expired, replayed, rewound or invalid, or munged unreachable.
    pub fn decode(&self, cred: &str) -> Result<Decoded, MungeError> {
        let cred = nul_free(cred.trim().as_bytes())?;
        let (result, uid, gid, payload) = self.ctx()?.decode(&cred);
        result?;
        Ok(Decoded { uid, gid, payload })
    }
}

fn nul_free(bytes: &[u8]) -> Result<CString, MungeError> {
    CString::new(bytes).map_err(|_| MungeError {
        kind: MungeErrorKind::Invalid,
        code: munge_sys::EMUNGE_BAD_ARG,
        message: "a NUL byte in the credential or socket path".into(),
    })
}

/// [`Munge::encode`] with munged's default socket and TTL.
///
/// # Errors
/// As [`Munge::encode`].
pub fn encode(payload: &[u8]) -> Result<String, MungeError> {
    Munge::new().encode(payload)
}

/// [`Munge::decode`] with munged's default socket.
///
/// # Errors
/// As [`Munge::decode`].
pub fn decode(cred: &str) -> Result<Decoded, MungeError> {
    Munge::new().decode(cred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default socket the local test cluster's munged listens on (tests/cluster/up.sh).
    const SOCKET: &str = "/run/munge/munge.socket.2";

    #[test]
    fn error_numbers_fall_into_their_classes() {
        use munge_sys as s;
        assert_eq!(
            MungeErrorKind::of(s::EMUNGE_CRED_EXPIRED),
            MungeErrorKind::Expired
        );
        assert_eq!(
            MungeErrorKind::of(s::EMUNGE_CRED_REPLAYED),
            MungeErrorKind::Replayed
        );
        assert_eq!(
            MungeErrorKind::of(s::EMUNGE_CRED_REWOUND),
            MungeErrorKind::Rewound
        );
        assert_eq!(
            MungeErrorKind::of(s::EMUNGE_BAD_MAC),
            MungeErrorKind::Invalid
        );
        assert_eq!(MungeErrorKind::of(s::EMUNGE_SOCKET), MungeErrorKind::Socket);
        assert_eq!(MungeErrorKind::of(s::EMUNGE_SNAFU), MungeErrorKind::Other);
    }

    #[test]
    fn a_missing_socket_is_a_socket_error() {
        let dir = std::env::temp_dir().join(format!("ea-munge-none-{}", std::process::id()));
        let m = Munge::new().with_socket(dir.join("no.socket"));
        let e = m.encode(b"x").unwrap_err();
        assert_eq!(e.kind, MungeErrorKind::Socket, "{e}");
        let e = m.decode("MUNGE:AAAA:").unwrap_err();
        assert!(
            matches!(e.kind, MungeErrorKind::Socket | MungeErrorKind::Invalid),
            "{e}"
        );
    }

    #[test]
    fn a_nul_byte_is_refused_before_libmunge() {
        let e = decode("MUNGE:\0").unwrap_err();
        assert_eq!(e.kind, MungeErrorKind::Invalid);
    }

    #[test]
    #[ignore = "needs a running munged on the default socket (tests/cluster/up.sh starts one); the e2e tests of the collector cover it"]
    fn round_trip_then_replay_through_munged() {
        let m = Munge::new().with_socket(SOCKET);
        let cred = m.encode(b"payload").unwrap();
        let d = m.decode(&cred).unwrap();
        assert_eq!(d.payload, b"payload");
        assert_eq!(d.uid, own_uid());
        let e = m.decode(&cred).unwrap_err();
        assert_eq!(e.kind, MungeErrorKind::Replayed, "{e}");
        let mut forged = cred.clone();
        forged.insert(10, 'A');
        let e = m.decode(&forged).unwrap_err();
        assert_eq!(e.kind, MungeErrorKind::Invalid, "{e}");
    }

    #[test]
    #[ignore = "needs a running munged on the default socket, and waits 2 s for a credential to expire"]
    fn a_credential_past_its_ttl_is_expired() {
        let m = Munge::new().with_socket(SOCKET).with_ttl(1);
        let cred = m.encode(b"").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let e = m.decode(&cred).unwrap_err();
        assert_eq!(e.kind, MungeErrorKind::Expired, "{e}");
    }

    /// This process's uid, read from /proc (the crate keeps `unsafe` in ffi.rs only).
    fn own_uid() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .unwrap()
    }
}
