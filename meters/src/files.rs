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
fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    buf.clear();
    File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// The longest attribute [`read_u64`] reads: a u64 has at most 20 digits, and sysfs adds a
/// newline.
const MAX_INTEGER_FILE: usize = 32;

/// Reads and parses a file holding one unsigned integer, with one `read(2)` into a buffer on
/// the stack: open, read, close. (`read_to_string` asks the file's size and reads again until
/// EOF: six system calls a file. The sampler reads four such files a tick, and strace counted
/// 36 system calls a tick before, 24 of them these reads.) A sysfs attribute is produced
/// whole by its first read; a regular file this short is too.
///
/// # Errors
/// A sentence naming the file and what went wrong (see [`describe_io_error`]).
pub fn read_u64(path: &Path) -> Result<u64, ReadU64Error> {
    let io = |error| ReadU64Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut buf = [0u8; MAX_INTEGER_FILE];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .map_err(io)?;
    parse_integer_file(path, &buf, n)
}

/// A file holding one unsigned integer that is read again and again (a RAPL zone's
/// `energy_uj`, a hwmon sensor), held open and read with `pread` at offset 0: one system call
/// a read, and no walk of its path (sysfs paths go through symlinks), where [`read_u64`]
/// opens, reads and closes. sysfs produces an attribute afresh for each read at offset 0.
///
/// A file elsewhere than on sysfs may be replaced by a rename (the powercap simulator writes
/// that way; so might a site script that publishes a meter): for those, each read also asks
/// `fstat` for the link count, 0 for a replaced file, which is then opened again. A sysfs
/// attribute (known by `fstatfs` at open) is never replaced while open and costs one `pread`.
#[derive(Debug)]
pub struct IntegerFile {
    path: PathBuf,
    file: Option<File>,
    /// On sysfs: not checked for replacement.
    on_sysfs: bool,
}

impl IntegerFile {
    /// A file read at its first [`IntegerFile::read`].
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            on_sysfs: false,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the integer the file holds now.
    ///
    /// # Errors
    /// As [`read_u64`]; the file is opened again at the next read.
    pub fn read(&mut self) -> Result<u64, ReadU64Error> {
        let result = self.read_held();
        if result.is_err() {
            self.file = None;
        }
        result
    }

    fn read_held(&mut self) -> Result<u64, ReadU64Error> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let io = |error| ReadU64Error::Io {
            path: self.path.clone(),
            error,
        };
        let replaced = |f: &File| f.metadata().map_or(true, |m| m.nlink() == 0);
        if self
            .file
            .as_ref()
            .is_none_or(|f| !self.on_sysfs && replaced(f))
        {
            let file = File::open(&self.path).map_err(io)?;
            self.on_sysfs = crate::ffi::is_on_sysfs(&file);
            self.file = Some(file);
        }
        let mut buf = [0u8; MAX_INTEGER_FILE];
        let file = self.file.as_ref().expect("opened above");
        let n = file.read_at(&mut buf, 0).map_err(io)?;
        parse_integer_file(&self.path, &buf, n)
    }
}

/// The integer in the first `n` bytes of `buf`, read from `path`.
fn parse_integer_file(path: &Path, buf: &[u8], n: usize) -> Result<u64, ReadU64Error> {
    let text = String::from_utf8_lossy(&buf[..n]);
    let parse = |error| ReadU64Error::Parse {
        path: path.to_path_buf(),
        error,
    };
    if n == buf.len() {
        return Err(parse(NotAnInteger(format!("{}...", text.trim_start()))));
    }
    parse_u64(&text).map_err(parse)
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
    fn reads_integer_files_with_one_read() {
        let dir = std::env::temp_dir().join(format!("ea-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("energy_uj");
        std::fs::write(&file, "262143328850\n").unwrap();
        assert_eq!(read_u64(&file).unwrap(), 262_143_328_850);
        std::fs::write(&file, "1".repeat(40)).unwrap();
        let long = read_u64(&file).unwrap_err().to_string();
        assert!(long.contains("energy_uj") && long.contains("..."), "{long}");
        std::fs::write(&file, "12 J\n").unwrap();
        assert!(
            read_u64(&file)
                .unwrap_err()
                .to_string()
                .contains("\"12 J\"")
        );
        std::fs::remove_file(&file).unwrap();
        let gone = read_u64(&file).unwrap_err().to_string();
        assert!(gone.contains("does not exist"), "{gone}");
        // Held open: a value written in place is read, and so is a file renamed over it.
        std::fs::write(&file, "5\n").unwrap();
        let mut held = IntegerFile::new(file.clone());
        assert_eq!(held.read().unwrap(), 5);
        std::fs::write(&file, "60\n").unwrap();
        assert_eq!(held.read().unwrap(), 60);
        let tmp = dir.join("tmp");
        std::fs::write(&tmp, "700\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert_eq!(held.read().unwrap(), 700);
        std::fs::remove_file(&file).unwrap();
        assert!(
            held.read()
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        std::fs::write(&file, "8000\n").unwrap();
        assert_eq!(held.read().unwrap(), 8000, "opened again after an error");
        assert!(!held.on_sysfs);
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn sysfs_attributes_are_known_as_such() {
        // Every Linux machine has sysfs at /sys, even one without RAPL (this one).
        let mut seqnum = IntegerFile::new("/sys/kernel/uevent_seqnum".into());
        seqnum.read().unwrap();
        assert!(seqnum.on_sysfs);
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
