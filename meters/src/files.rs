//! Small helpers for sysfs-like files: read, parse, and explain a failure in words a site
//! administrator can act on.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Text that is not one unsigned decimal integer (the text, trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnInteger(pub String);

impl fmt::Display for NotAnInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an unsigned integer", self.0)
    }
}

impl std::error::Error for NotAnInteger {}

/// Why a file holding one unsigned integer gave none.
#[derive(Debug)]
pub enum ReadU64Error {
    /// The file cannot be read; the message says why in a site administrator's words
    /// ([`describe_io_error`]).
    Io {
        /// The file.
        path: PathBuf,
        /// What reading it answered.
        error: io::Error,
    },
    /// The file holds something else.
    Parse {
        /// The file.
        path: PathBuf,
        /// What it holds.
        error: NotAnInteger,
    },
}

impl fmt::Display for ReadU64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadU64Error::Io { path, error } => f.write_str(&describe_io_error(path, error)),
            ReadU64Error::Parse { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ReadU64Error {}

/// Parses a sysfs integer (`"240422366267\n"`).
///
/// # Errors
/// The text, quoted, when it is not one unsigned decimal integer.
pub fn parse_u64(text: &str) -> Result<u64, NotAnInteger> {
    let t = text.trim();
    t.parse::<u64>().map_err(|_| NotAnInteger(t.to_string()))
}

/// Reads a small file into `buf` (cleared first), reusing its allocation.
pub fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    buf.clear();
    File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// Reads and parses a file holding one unsigned integer.
///
/// # Errors
/// A sentence naming the file and what went wrong (see [`describe_io_error`]).
pub fn read_u64(path: &Path, buf: &mut String) -> Result<u64, ReadU64Error> {
    read_into(path, buf).map_err(|error| ReadU64Error::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_u64(buf).map_err(|error| ReadU64Error::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads a one-line text file, trimmed; `None` if it is missing or unreadable.
pub fn read_line(path: &Path) -> Option<String> {
    let mut s = String::new();
    read_into(path, &mut s).ok()?;
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// "permission denied reading /sys/...: ..." with the fix where one is known.
pub fn describe_io_error(path: &Path, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "permission denied reading {} (energy counters are readable by root only since the \
             fix for CVE-2020-8694; the sampler must run as root, as it does when started by the \
             plugin's job_prolog)",
            path.display()
        ),
        io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_integers() {
        assert_eq!(parse_u64("240422366267\n"), Ok(240_422_366_267));
        assert_eq!(parse_u64(" 0 "), Ok(0));
        assert!(parse_u64("").unwrap_err().to_string().contains("\"\""));
        assert!(parse_u64("-5").is_err());
        assert!(parse_u64("12 J").is_err());
        assert!(parse_u64("99999999999999999999999").is_err());
    }

    #[test]
    fn explains_errors() {
        let p = Path::new("/sys/x/energy_uj");
        let denied = describe_io_error(p, &io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(
            denied.contains("permission denied reading /sys/x/energy_uj")
                && denied.contains("root")
        );
        assert!(
            describe_io_error(p, &io::Error::from(io::ErrorKind::NotFound))
                .contains("does not exist")
        );
    }
}
