//! The spool: the root-owned directory where a node keeps its job-node records.
//!
//! ```text
//! <spool>/                       0700 root
//!   running/job-<id>.<node>.json      written by job_prolog, removed by job_epilog
//!   running/job-<id>.<node>.*         sampler state (pid file, checkpoints)
//!   records/job-<id>.<node>.json      the final record, written by job_epilog
//! ```
//!
//! File names are built from the numeric job id and an escaped node name ([`escape_name`]),
//! so nothing that Slurm or a user controls can make a path leave the spool. Every write is
//! atomic: a temporary file in the same directory, `fsync`, `rename`, then `fsync` of the
//! directory, so a reader (or a crash) sees either the old file or the whole new one.
//!
//! A spool may be local to each node or on a shared filesystem that many nodes write to: names
//! include the node, and no two nodes write the same file.

use crate::record::JobNodeRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The default spool on a node.
pub const DEFAULT_SPOOL: &str = "/var/spool/energy-assess";

/// A spool operation that failed, with the path it failed on.
#[derive(Debug)]
pub struct SpoolError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn at<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A file in the spool that could not be read as a record.
#[derive(Debug)]
pub enum ReadError {
    Io(SpoolError),
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A record under a name that is not its own (see [`check_record_name`]).
    Misnamed {
        path: PathBuf,
        problem: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::Json { path, source } => {
                write!(f, "{} is not a valid record: {source}", path.display())
            }
            ReadError::Misnamed { path, problem } => write!(f, "{} {problem}", path.display()),
        }
    }
}

impl std::error::Error for ReadError {}

/// Escapes a name (a node name, a cluster name) into one safe path component: ASCII letters,
/// digits, `-` and `_` are kept; everything else, including `/`, `.` and NUL, becomes `%XX`.
/// The result is never empty, never `.` or `..`, and never contains a separator.
pub fn escape_name(name: &str) -> String {
    if name.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`escape_name`]; `None` if the text is not something it produced.
pub fn unescape_name(escaped: &str) -> Option<String> {
    if escaped == "%" {
        return Some(String::new());
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file name of a job-node file: `job-<id>.<escaped node>.<suffix>`.
pub fn file_name(job_id: u32, node: &str, suffix: &str) -> String {
    format!("job-{job_id}.{}.{suffix}", escape_name(node))
}

/// What the first step of an assessed job on a node learns from Slurm for the record
/// (`running/job-J.NODE.alloc.json`): what the job holds there, which array task it is, and
/// whether Slurm runs an extern step for it (`PrologFlags=Contain`), whose end is the end of
/// the job on the node. Only remote context (slurmstepd) has any of it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HeldOnNode {
    #[serde(flatten)]
    pub allocation: crate::record::NodeAllocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    #[serde(default)]
    pub extern_step: bool,
}

impl HeldOnNode {
    /// Adds what the step saw to a record; the GPUs stay the record's.
    pub fn complete(self, record: &mut JobNodeRecord) {
        let a = record.allocation.get_or_insert_with(Default::default);
        a.cores = self.allocation.cores;
        a.memory_mb = self.allocation.memory_mb;
        a.cpus = self.allocation.cpus.or(a.cpus);
        if let (Some(array), Some(task)) = (self.array_job_id, self.array_task_id) {
            record.array_job_id = Some(array);
            record.array_task_id = Some(task);
        }
    }
}

/// Checks that a record file's name is the one the plugin gives the record it holds
/// (`job-<job_id>.<node>.json`): a copy under another name, or a record planted under a name
/// that is not its own, would otherwise count twice or for the wrong job.
///
/// # Errors
/// The name and what the record says, in words.
pub fn check_record_name(name: &str, job_id: u32, node: &str) -> Result<(), String> {
    let own = file_name(job_id, node, "json");
    if name == own {
        Ok(())
    } else {
        Err(format!(
            "holds the record of job {job_id} on node {node}, whose file is {own}: a copy or a \
             misnamed file, left out"
        ))
    }
}

/// Reads a name made by [`file_name`] back into (job id, node, suffix).
pub fn parse_file_name(name: &str) -> Option<(u32, String, &str)> {
    let rest = name.strip_prefix("job-")?;
    let (id, rest) = rest.split_once('.')?;
    let (node, suffix) = rest.split_once('.')?;
    Some((id.parse().ok()?, unescape_name(node)?, suffix))
}

/// A spool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn running_dir(&self) -> PathBuf {
        self.root.join("running")
    }

    pub fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }

    /// Where `job_prolog` leaves its part of the record.
    pub fn started_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.running_dir().join(file_name(job_id, node, "json"))
    }

    /// Where the final record goes.
    pub fn record_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.records_dir().join(file_name(job_id, node, "json"))
    }

    /// A file whose presence says that Slurm runs extern steps on `node`
    /// (`PrologFlags=Contain`), left by the first extern step seen there: a job's leftovers
    /// whose own note of its extern step could not be written (the spool was read-only then)
    /// are salvaged on the node's word (`ea_meters::salvage`).
    pub fn extern_steps_marker(&self, node: &str) -> PathBuf {
        self.running_dir()
            .join(format!(".extern-steps.{}", escape_name(node)))
    }

    /// Another per-job file under `running/` (sampler pid, checkpoint...).
    pub fn running_path(&self, job_id: u32, node: &str, suffix: &str) -> PathBuf {
        self.running_dir().join(file_name(job_id, node, suffix))
    }

    /// Creates the spool and its subdirectories, mode 0700, and tightens the mode of an
    /// existing root whose group or others could read it. Returns a warning to log when it had
    /// to tighten one.
    pub fn ensure(&self) -> Result<Option<String>, SpoolError> {
        let mut warning = None;
        for dir in [self.root.clone(), self.running_dir(), self.records_dir()] {
            match fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                            .map_err(at(&dir, "restrict the permissions of"))?;
                        warning = Some(format!(
                            "{} had mode {mode:o}; set it to 700 so that only root reads records",
                            dir.display()
                        ));
                    }
                }
                Ok(_) => {
                    return Err(SpoolError {
                        path: dir,
                        action: "use as a directory",
                        source: io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "it is not a directory",
                        ),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(&dir)
                        .map_err(at(&dir, "create"))?;
                }
                Err(e) => return Err(at(&dir, "inspect")(e)),
            }
        }
        Ok(warning)
    }

    /// The final records of one job, from every node that wrote into this spool, sorted by
    /// node. Files that cannot be read are returned apart, so that one bad file hides nothing.
    pub fn job_records(&self, job_id: u32) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let prefix = format!("job-{job_id}.");
        self.scan(&self.records_dir(), |name| {
            name.starts_with(&prefix) && name.ends_with(".json")
        })
    }

    /// The `started` records of one job still under `running/` (the job has not ended there).
    pub fn job_started(&self, job_id: u32) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let prefix = format!("job-{job_id}.");
        self.scan(&self.running_dir(), |name| {
            parse_file_name(name).is_some_and(|(_, _, suffix)| suffix == "json")
                && name.starts_with(&prefix)
        })
    }

    fn scan(
        &self,
        dir: &Path,
        wanted: impl Fn(&str) -> bool,
    ) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (records, errors),
            Err(e) => {
                errors.push(ReadError::Io(at(dir, "list")(e)));
                return (records, errors);
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !wanted(name) {
                continue;
            }
            match read_record(&entry.path()) {
                Ok(r) => match check_record_name(name, r.job_id, &r.node) {
                    Ok(()) => records.push(r),
                    Err(problem) => errors.push(ReadError::Misnamed {
                        path: entry.path(),
                        problem,
                    }),
                },
                Err(e) => errors.push(e),
            }
        }
        records.sort_by(|a, b| a.node.cmp(&b.node));
        (records, errors)
    }
}

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReadError> {
    let bytes = fs::read(path).map_err(|e| ReadError::Io(at(path, "read")(e)))?;
    serde_json::from_slice(&bytes).map_err(|source| ReadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Where the power series of a schema 3 record begin: the series object is the record's last
/// key, written compact, and this text can occur nowhere before it (a quote inside a string is
/// escaped, and no other object of the record has a `series` key). What precedes it, closed
/// with `}`, is the record without its series: all that the ingest reads of a record.
pub const SERIES_MARKER: &[u8] = b",\"series\":{";

/// A record as the plugin writes it (schema 3): compact JSON on one line (a newline at the
/// end), every meter's power series last, in one `series` object keyed by meter id. Compact
/// because a node writes one per job, and a centre's month of them is read back at once (a
/// pretty-printed record with its series is four times the size); series last because they
/// are most of a record's bytes and the ingest, which reads every record, needs none of them:
/// it reads up to [`SERIES_MARKER`] and stops.
///
/// # Errors
/// A record that JSON cannot hold (serde_json's error; none of its fields can fail today).
pub fn encode_record(record: &JobNodeRecord) -> Result<Vec<u8>, serde_json::Error> {
    // The meters' series are not serialised with them (`MeterReport::series`).
    let mut bytes = serde_json::to_vec(record)?;
    let series: Vec<(&str, &crate::record::PowerSeries)> = record
        .meters
        .iter()
        .filter_map(|m| Some((m.id.as_str(), m.series.as_ref()?)))
        .collect();
    if !series.is_empty() {
        // A struct serialises as an object: its closing brace is the last byte.
        debug_assert_eq!(bytes.last(), Some(&b'}'));
        bytes.pop();
        bytes.extend_from_slice(SERIES_MARKER);
        for (i, (id, s)) in series.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            serde_json::to_writer(&mut bytes, id)?;
            bytes.push(b':');
            serde_json::to_writer(&mut bytes, s)?;
        }
        bytes.extend_from_slice(b"}}");
    }
    bytes.push(b'\n');
    Ok(bytes)
}

/// The bytes a plugin of record schema 2 wrote for `record`: each meter's series in the meter,
/// under `series_b64`, the version first. For the tests of readers that must still take them.
pub fn encode_record_schema_2(record: &JobNodeRecord) -> Vec<u8> {
    let mut v = serde_json::to_value(record).expect("a record is JSON");
    if let Some(meters) = v["meters"].as_array_mut() {
        for (m, meter) in meters.iter_mut().zip(&record.meters) {
            if let Some(s) = &meter.series {
                m["series_b64"] = serde_json::to_value(s).expect("a series is JSON");
            }
        }
    }
    if let Some(fields) = v.as_object_mut() {
        fields.remove("schema_version");
    }
    let text = v.to_string();
    format!("{{\"schema_version\":2,{}", &text[1..]).into_bytes()
}

/// Reads a record of any schema (see [`encode_record`]), its meters' series in them.
///
/// # Errors
/// Text that is not a record, as serde_json says it.
pub fn decode_record(bytes: &[u8]) -> Result<JobNodeRecord, serde_json::Error> {
    /// The series of a schema 3 record; every other key is passed over.
    #[derive(serde::Deserialize)]
    struct SeriesOnly {
        #[serde(default)]
        series: std::collections::HashMap<String, crate::record::PowerSeries>,
    }
    // Schema 3's top-level `series` is an unknown key to the record, which passes over it.
    let mut record: JobNodeRecord = serde_json::from_slice(bytes)?;
    if record.schema_version >= 3 && !record.meters.is_empty() {
        let mut series = serde_json::from_slice::<SeriesOnly>(bytes)?.series;
        for m in &mut record.meters {
            if let Some(s) = series.remove(&m.id) {
                m.series = Some(s);
            }
        }
    }
    Ok(record)
}

/// Reads a record file (see [`decode_record`]).
///
/// # Errors
/// The file cannot be read, or is not a record.
pub fn read_record(path: &Path) -> Result<JobNodeRecord, ReadError> {
    let bytes = fs::read(path).map_err(|e| ReadError::Io(at(path, "read")(e)))?;
    decode_record(&bytes).map_err(|source| ReadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a record atomically in the form of [`encode_record`], mode 0600. See the module docs.
pub fn write_record_atomic(path: &Path, record: &JobNodeRecord) -> Result<(), SpoolError> {
    let bytes = encode_record(record).map_err(|e| SpoolError {
        path: path.to_path_buf(),
        action: "serialise a record for",
        source: io::Error::other(e),
    })?;
    write_atomic(path, &bytes)
}

/// Writes `value` as JSON to `path` atomically, mode 0600. See the module docs.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), SpoolError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| SpoolError {
        path: path.to_path_buf(),
        action: "serialise a record for",
        source: io::Error::other(e),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes bytes to `path` atomically, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        // O_NOFOLLOW: a symlink planted at the temporary name is refused, not followed.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(at(&tmp, "create"))?;
        f.write_all(bytes).map_err(at(&tmp, "write"))?;
        f.sync_all().map_err(at(&tmp, "flush to disk"))?;
        fs::rename(&tmp, path).map_err(at(path, "rename a temporary file to"))?;
        // The rename is only durable once the directory entry is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(at(dir, "flush to disk"))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_names_inside_the_directory() {
        for name in [
            "n1",
            "gpu-001",
            "a/b",
            "..",
            ".",
            "",
            "x\0y",
            "node.example.org",
            "é",
        ] {
            let e = escape_name(name);
            assert!(
                !e.contains('/') && !e.contains('.') && !e.contains('\0'),
                "{name:?} -> {e}"
            );
            assert!(!e.is_empty());
            assert_eq!(unescape_name(&e).as_deref(), Some(name), "{name:?}");
        }
        assert_eq!(escape_name("n1"), "n1");
        assert_eq!(escape_name("../etc"), "%2E%2E%2Fetc");
    }

    #[test]
    fn file_names_round_trip() {
        let n = file_name(77, "node.a/b", "json");
        assert_eq!(n, "job-77.node%2Ea%2Fb.json");
        assert_eq!(
            parse_file_name(&n),
            Some((77, "node.a/b".to_string(), "json"))
        );
        assert_eq!(
            parse_file_name(&file_name(1, "n1", "sampler.pid"))
                .unwrap()
                .2,
            "sampler.pid"
        );
        assert!(parse_file_name("job-x.n1.json").is_none());
        assert!(parse_file_name("other").is_none());
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ea-spool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn ensure_creates_private_dirs_and_tightens_open_ones() {
        let root = tempdir("ensure");
        let spool = Spool::new(&root);
        assert_eq!(spool.ensure().unwrap(), None);
        for d in [root.clone(), spool.running_dir(), spool.records_dir()] {
            assert_eq!(
                fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(spool.ensure().unwrap().unwrap().contains("755"));
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn ensure_refuses_a_file_in_the_way() {
        let root = tempdir("file");
        fs::write(&root, b"x").unwrap();
        let e = Spool::new(&root).ensure().unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        fs::remove_file(&root).unwrap();
    }

    #[test]
    fn records_are_written_compact_on_one_line_with_the_series_last() {
        use crate::record::*;
        let root = tempdir("compact");
        fs::create_dir_all(&root).unwrap();
        // Read in schema 2's layout (series in the meter): this is also how old records come.
        let meter = |id: &str, series: serde_json::Value| {
            serde_json::json!({"id": id, "scope": "node-bmc", "label": "DCMI \",\"series\":{",
                "method": "integrated-power", "energy_j": 10.0, "first_raw": null, "last_raw": null,
                "wraps": 0, "resets": 0, "samples": 3, "power_w": null, "series_b64": series})
        };
        let r: JobNodeRecord = serde_json::from_value(serde_json::json!({
            "schema_version": 2, "state": "complete", "cluster": "c", "job_id": 5,
            "uid": 1, "gid": 1, "user": "u", "account": null, "partition": null, "node": "n1",
            "node_list": "n1", "num_nodes": 1, "cpus_on_node": 2, "start": 1, "end": 2, "exit": null,
            "mode": {"trigger": "option", "requested": null}, "plugin_version": "0.1.0",
            "slurm_version": "24.05.4",
            "meters": [
                meter("ipmi:dcmi", serde_json::json!({"start": 1, "step_s": 10.0, "watts": "AAAgQQ=="})),
                meter("hwmon:x", serde_json::Value::Null),
                meter("rapl:intel-rapl:0", serde_json::json!({"start": 1, "step_s": 5.0, "watts": "AACAvw=="})),
            ]
        }))
        .unwrap();
        assert_eq!(r.meters[0].series.as_ref().unwrap().watts, [10.0]);
        assert!(r.meters[1].series.is_none());
        let mut r = r;
        r.schema_version = SCHEMA_VERSION;
        let bytes = encode_record(&r).unwrap();
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(bytes.ends_with(b"}}}\n"));
        // The series come after everything else, once each, keyed by meter id; the text before
        // the marker, closed, is the record without them (the label holding the marker's text
        // is escaped, so the first match is the real one).
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(text.matches("series_b64").count(), 0);
        let at = text
            .find(std::str::from_utf8(SERIES_MARKER).unwrap())
            .unwrap();
        assert!(text[at..].starts_with(r#","series":{"ipmi:dcmi":{"start":1,"step_s":10.0,"watts":"AAAgQQ=="},"rapl:intel-rapl:0":"#));
        let head: JobNodeRecord = serde_json::from_str(&format!("{}}}", &text[..at])).unwrap();
        assert!(head.meters.iter().all(|m| m.series.is_none()));
        assert_eq!(head.meters.len(), 3);
        assert_eq!(
            head.meters[0].label.as_deref(),
            Some("DCMI \",\"series\":{")
        );
        let p = root.join("job-5.n1.json");
        write_record_atomic(&p, &r).unwrap();
        assert_eq!(fs::read(&p).unwrap(), bytes);
        let back = read_record(&p).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.meters[2].series.as_ref().unwrap().watts, [-1.0]);
        // Without series there is no series object.
        let mut bare = r.clone();
        bare.meters.iter_mut().for_each(|m| m.series = None);
        let bytes = encode_record(&bare).unwrap();
        assert!(
            !bytes
                .windows(SERIES_MARKER.len())
                .any(|w| w == SERIES_MARKER)
        );
        assert_eq!(decode_record(&bytes).unwrap(), bare);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let root = tempdir("atomic");
        fs::create_dir_all(&root).unwrap();
        let p = root.join("x.json");
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json_atomic(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(v["a"], 2);
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
        // Into a directory that does not exist: an error naming the path, nothing left behind.
        let e = write_atomic(&root.join("missing/y.json"), b"{}").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        fs::remove_dir_all(&root).unwrap();
    }
}
