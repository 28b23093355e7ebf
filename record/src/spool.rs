//! The spool: the root-owned directory where a node keeps its job-node records.
//!
//! ```text
//! <spool>/                       0700 root
//!   running/<node>/job-<id>.<node>.json  written by job_prolog, removed by job_epilog
//!   running/<node>/job-<id>.<node>.*     sampler state (pid file, checkpoints)
//!   records/<id / 10000>/<id>/job-<id>.<node>.json
//!                                        the final record, written by job_epilog
//!   arrays/<array id / 10000>/<array id>/<task>  a symbolic link whose target is the task's
//!                                        own job id (written by job_epilog)
//!   running/job-<id>.<node>.*, records/job-<id>.<node>.json
//!                                        the same, as plugins before the sharded layout wrote them
//! ```
//!
//! What runs is kept per node (`running/<node>/`): on a shared spool each node creates and
//! removes files in its own directory only, and the epilog's look for its node's leftovers
//! lists that directory alone. An array task is found by its array id and task id through
//! `arrays/`, by name, without reading any record ([`Spool::array_task`]).
//!
//! Records are sharded by job id ([`record_relative_path`]): a job's records are all in one
//! directory whose path follows from its id, so finding them lists that directory alone (the
//! epilog's summary, `energy-assess job`), never the whole tree; no directory grows without
//! bound (a bucket holds at most 10,000 job directories, a job directory one file per node);
//! and a shared filesystem sees each node create one file in its job's directory. Readers take
//! both layouts: spools written before sharding keep their flat `records/` (see
//! `docs/record-format.md`).
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
    /// The file or directory.
    pub path: PathBuf,
    /// What was being done to it (`create`, `write`, `rename`...), for the message.
    pub action: &'static str,
    /// What the system answered.
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
    /// The file could not be read.
    Io(SpoolError),
    /// The file is not a record of any schema version.
    Json {
        /// The file.
        path: PathBuf,
        /// What the decoder answered.
        source: serde_json::Error,
    },
    /// A record under a name that is not its own (see [`check_name`]).
    Misnamed {
        /// The file.
        path: PathBuf,
        /// How its name and its content disagree.
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
    /// What the job holds on the node.
    #[serde(flatten)]
    pub allocation: crate::record::NodeAllocation,
    /// The array's job id, for an array task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<u32>,
    /// The task's index in its array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    /// Whether Slurm runs an extern step for the job on this node.
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

/// A record file under a name or in a directory that is not its own, said after the file's
/// path: what the record holds and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misplaced {
    /// Its name is not the one its plugin gives it.
    Name {
        /// The job the record holds.
        job_id: u32,
        /// The node the record holds.
        node: String,
        /// The record's own file name.
        own: String,
    },
    /// Its name is right but its directory is neither its job's shard nor its node's.
    Directory {
        /// The directory it is in.
        dir: String,
        /// The job the record holds.
        job_id: u32,
        /// Its job's shard.
        own: String,
    },
}

impl fmt::Display for Misplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misplaced::Name { job_id, node, own } => write!(
                f,
                "holds the record of job {job_id} on node {node}, whose file is {own}: a copy or a \
                 misnamed file, left out"
            ),
            Misplaced::Directory { dir, job_id, own } => write!(
                f,
                "is in {dir}/ but holds the record of job {job_id}, whose directory is {own}/: \
                 a copy or a misplaced file, left out"
            ),
        }
    }
}

impl std::error::Error for Misplaced {}

/// Checks that a record file's name is the one the plugin gives the record it holds
/// (`job-<job_id>.<node>.json`): a copy under another name, or a record planted under a name
/// that is not its own, would otherwise count twice or for the wrong job.
///
/// # Errors
/// [`Misplaced::Name`]: the name is not the record's own (its `Display` says so in words).
pub fn check_name(name: &str, job_id: u32, node: &str) -> Result<(), Misplaced> {
    let own = file_name(job_id, node, "json");
    if name == own {
        Ok(())
    } else {
        Err(Misplaced::Name {
            job_id,
            node: node.to_string(),
            own,
        })
    }
}

/// Reads a name made by [`file_name`] back into (job id, node, suffix).
pub fn parse_file_name(name: &str) -> Option<(u32, String, &str)> {
    let rest = name.strip_prefix("job-")?;
    let (id, rest) = rest.split_once('.')?;
    let (node, suffix) = rest.split_once('.')?;
    Some((id.parse().ok()?, unescape_name(node)?, suffix))
}

/// How many jobs' directories one bucket of `records/` holds: job ids `k * 10000` to
/// `k * 10000 + 9999` are under `records/<k>/`.
pub const JOBS_PER_BUCKET: u32 = 10_000;

/// A job's directory under `records/`, relative: `<id / 10000>/<id>`.
pub fn job_shard(job_id: u32) -> String {
    format!("{}/{job_id}", job_id / JOBS_PER_BUCKET)
}

/// A final record's path under `records/`, relative: `<id / 10000>/<id>/job-<id>.<node>.json`.
pub fn record_relative_path(job_id: u32, node: &str) -> String {
    format!("{}/{}", job_shard(job_id), file_name(job_id, node, "json"))
}

/// Checks a record file's path relative to `records/` or `running/` against the record it
/// holds: its own name, flat (the layout before sharding), in its job's shard
/// ([`record_relative_path`]) or in its node's directory (`running/<node>/`).
///
/// # Errors
/// [`Misplaced`]: a name that is not the record's own (see [`check_name`]), or a directory
/// that is neither its job's shard nor its node's.
pub fn check_relative_path(rel: &str, job_id: u32, node: &str) -> Result<(), Misplaced> {
    match rel.rsplit_once('/') {
        None => check_name(rel, job_id, node),
        Some((dir, name)) => {
            check_name(name, job_id, node)?;
            let own = job_shard(job_id);
            if dir == own || dir == escape_name(node) {
                Ok(())
            } else {
                Err(Misplaced::Directory {
                    dir: dir.to_string(),
                    job_id,
                    own,
                })
            }
        }
    }
}

/// A directory's entries; `None` when it is not there (yet, or no longer: a job's directory
/// may be removed while it is walked).
fn list_if_there(dir: &Path) -> Result<Option<fs::ReadDir>, SpoolError> {
    match fs::read_dir(dir) {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(at(dir, "list")(e)),
    }
}

/// Calls `visit` with the path relative to `records_dir` and the directory entry of every
/// file in both layouts: flat files at the top, and the files of each `<bucket>/<job>/`
/// (directories with numeric names). Only what a full read of the spool needs (an ingest);
/// finding one job goes to its shard ([`Spool::job_records`]).
///
/// # Errors
/// `records_dir` or a shard cannot be listed (a missing `records_dir` is no error).
pub fn walk_records(
    records_dir: &Path,
    mut visit: impl FnMut(&str, &fs::DirEntry),
) -> Result<(), SpoolError> {
    let numeric = |e: &fs::DirEntry| -> Option<String> {
        let name = e.file_name().into_string().ok()?;
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())).then_some(name)
    };
    let Some(top) = list_if_there(records_dir)? else {
        return Ok(());
    };
    for entry in top.flatten() {
        if let Some(bucket) =
            numeric(&entry).filter(|_| entry.file_type().is_ok_and(|t| t.is_dir()))
        {
            let Some(jobs) = list_if_there(&entry.path())? else {
                continue;
            };
            for job in jobs.flatten() {
                let Some(job_dir) = numeric(&job) else {
                    continue;
                };
                let Some(files) = list_if_there(&job.path())? else {
                    continue;
                };
                for f in files.flatten() {
                    if let Some(name) = f.file_name().to_str() {
                        visit(&format!("{bucket}/{job_dir}/{name}"), &f);
                    }
                }
            }
        } else if let Some(name) = entry.file_name().to_str() {
            visit(name, &entry);
        }
    }
    Ok(())
}

/// Calls `visit` with the path relative to `running_dir` and the directory entry of every
/// file in both layouts: flat files at the top (before per-node directories), and the files of
/// each `<node>/`. Only for a full read of the spool (an ingest).
///
/// # Errors
/// `running_dir` or a node's directory cannot be listed (a missing `running_dir` is no error).
pub fn walk_running(
    running_dir: &Path,
    mut visit: impl FnMut(&str, &fs::DirEntry),
) -> Result<(), SpoolError> {
    let Some(top) = list_if_there(running_dir)? else {
        return Ok(());
    };
    for entry in top.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            visit(&name, &entry);
            continue;
        }
        let Some(files) = list_if_there(&entry.path())? else {
            continue;
        };
        for f in files.flatten() {
            if let Some(file) = f.file_name().to_str() {
                visit(&format!("{name}/{file}"), &f);
            }
        }
    }
    Ok(())
}

/// A spool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// The spool at `root` (nothing is created until something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The spool's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where running jobs' files live (prolog parts, sampler state), per node.
    pub fn running_dir(&self) -> PathBuf {
        self.root.join("running")
    }

    /// Where final records live, sharded by job id.
    pub fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }

    /// The directory of what runs on `node`: `running/<node>` (escaped).
    pub fn running_node_dir(&self, node: &str) -> PathBuf {
        self.running_dir().join(escape_name(node))
    }

    /// Where `job_prolog` leaves its part of the record.
    pub fn started_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.running_path(job_id, node, "json")
    }

    /// Where a plugin before the per-node layout left the prolog's part (`running/` itself):
    /// read by an epilog of a job that started before the upgrade.
    pub fn flat_started_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.running_dir().join(file_name(job_id, node, "json"))
    }

    /// The link that names array task `task` of array `array_job_id`'s own job id.
    pub fn array_task_link(&self, array_job_id: u32, task: u32) -> PathBuf {
        self.root
            .join("arrays")
            .join(job_shard(array_job_id))
            .join(task.to_string())
    }

    /// Notes that array task `task` of `array_job_id` is job `job_id` (see the module docs): a
    /// symbolic link made once; every node of the task may make it, and the first one wins.
    ///
    /// # Errors
    /// The link or its directories cannot be made.
    pub fn note_array_task(
        &self,
        array_job_id: u32,
        task: u32,
        job_id: u32,
    ) -> Result<(), SpoolError> {
        let link = self.array_task_link(array_job_id, task);
        if let Some(dir) = link.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(at(dir, "create"))?;
        }
        match std::os::unix::fs::symlink(job_id.to_string(), &link) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                Err(at(&link, "link array task as")(e))
            }
            _ => Ok(()),
        }
    }

    /// The own job id of array task `task` of `array_job_id`, if an epilog noted it.
    pub fn array_task(&self, array_job_id: u32, task: u32) -> Option<u32> {
        fs::read_link(self.array_task_link(array_job_id, task))
            .ok()?
            .to_str()?
            .parse()
            .ok()
    }

    /// Removes the note of an array task if it names `job_id` (its records are pruned).
    pub fn forget_array_task(&self, array_job_id: u32, task: u32, job_id: u32) {
        if self.array_task(array_job_id, task) == Some(job_id) {
            let _ = fs::remove_file(self.array_task_link(array_job_id, task));
        }
    }

    /// The directory of one job's final records: `records/<id / 10000>/<id>`.
    pub fn job_records_dir(&self, job_id: u32) -> PathBuf {
        self.records_dir().join(job_shard(job_id))
    }

    /// Where the final record goes (in its job's shard; [`write_record_atomic`] creates it).
    pub fn record_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.records_dir().join(record_relative_path(job_id, node))
    }

    /// Where a plugin before the sharded layout wrote the final record (`records/` itself).
    pub fn flat_record_path(&self, job_id: u32, node: &str) -> PathBuf {
        self.records_dir().join(file_name(job_id, node, "json"))
    }

    /// Where the epilog queues a record for the forwarder (a hard link to the record, under
    /// its file name): `outbox/`, see the crate `ea-forward`.
    pub fn outbox_dir(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// Whether any record waits in the outbox (stops at the first entry: the outbox holds what
    /// one node has not delivered yet, never the spool's records).
    pub fn outbox_has_entries(&self) -> bool {
        fs::read_dir(self.outbox_dir()).is_ok_and(|mut entries| {
            entries.any(|e| {
                e.ok()
                    .and_then(|e| e.file_name().into_string().ok())
                    .is_some_and(|n| parse_file_name(&n).is_some_and(|(_, _, s)| s == "json"))
            })
        })
    }

    /// The collectors the node's plugin was last configured with, one URL per line: a
    /// forwarder already running (it outlives a collector's outage) takes them up, so a site
    /// that moves its collector during an outage need not restart anything on the nodes.
    pub fn collectors_path(&self) -> PathBuf {
        self.outbox_dir().join(".collectors")
    }

    /// Writes `collectors` to [`Spool::collectors_path`] when they differ from what it holds
    /// (an epilog with an unchanged config reads one small file and writes nothing). `true`
    /// when it wrote.
    ///
    /// # Errors
    /// The file cannot be written (atomically, as every spool file).
    pub fn note_collectors(&self, collectors: &[String]) -> Result<bool, SpoolError> {
        if self.noted_collectors().as_deref() == Some(collectors) {
            return Ok(false);
        }
        let text: String = collectors.iter().map(|c| format!("{c}\n")).collect();
        write_atomic(&self.collectors_path(), text.as_bytes())?;
        Ok(true)
    }

    /// The collectors last noted by [`Spool::note_collectors`]; `None` when none were.
    pub fn noted_collectors(&self) -> Option<Vec<String>> {
        let text = fs::read_to_string(self.collectors_path()).ok()?;
        let list: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// Queues the final record of `job_id` on `node` for delivery to the collector: a hard
    /// link in [`Spool::outbox_dir`] (created 0700 when missing), so the record is written
    /// once and the entry costs one directory entry. Queuing it again is no error.
    ///
    /// # Errors
    /// The outbox cannot be created or the link made.
    pub fn enqueue(&self, job_id: u32, node: &str) -> Result<PathBuf, SpoolError> {
        let dir = self.outbox_dir();
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(at(&dir, "create")(e));
            }
            _ => {}
        }
        let entry = dir.join(file_name(job_id, node, "json"));
        match fs::hard_link(self.record_path(job_id, node), &entry) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                Err(at(&entry, "queue the record as")(e))
            }
            _ => Ok(entry),
        }
    }

    /// A file whose presence says that Slurm runs extern steps on `node`
    /// (`PrologFlags=Contain`), left by the first extern step seen there: a job's leftovers
    /// whose own note of its extern step could not be written (the spool was read-only then)
    /// are salvaged on the node's word (`ea_meters::salvage`).
    pub fn extern_steps_marker(&self, node: &str) -> PathBuf {
        self.running_node_dir(node).join(".extern-steps")
    }

    /// Another per-job file under `running/<node>/` (sampler pid, checkpoint...).
    pub fn running_path(&self, job_id: u32, node: &str, suffix: &str) -> PathBuf {
        self.running_node_dir(node)
            .join(file_name(job_id, node, suffix))
    }

    /// [`Spool::ensure`], and `running/<node>/` (mode 0700).
    ///
    /// # Errors
    /// As [`Spool::ensure`], or the node's directory cannot be made.
    pub fn ensure_node(&self, node: &str) -> Result<Option<String>, SpoolError> {
        let warning = self.ensure()?;
        let dir = self.running_node_dir(node);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(at(&dir, "create")(e)),
            _ => Ok(warning),
        }
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
    /// node: its shard's directory is listed, nothing else. Files that cannot be read are
    /// returned apart, so that one bad file hides nothing. A spool written before sharding
    /// needs [`Spool::job_records_on`] or [`Spool::flat_job_records`].
    pub fn job_records(&self, job_id: u32) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let prefix = format!("job-{job_id}.");
        self.scan(&self.job_records_dir(job_id), |name| {
            name.starts_with(&prefix) && name.ends_with(".json")
        })
    }

    /// [`Spool::job_records`], and the flat records (the layout before sharding) of the given
    /// nodes of the job that its shard does not have, each opened by its name: a node that
    /// still ran an older plugin, or a job that ended before the upgrade.
    pub fn job_records_on(
        &self,
        job_id: u32,
        nodes: &[String],
    ) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let (mut records, mut errors) = self.job_records(job_id);
        for node in nodes {
            if records.iter().any(|r| &r.node == node) {
                continue;
            }
            let path = self.flat_record_path(job_id, node);
            match read_record(&path) {
                Ok(r) if r.job_id == job_id && &r.node == node => records.push(r),
                Ok(r) => errors.push(ReadError::Misnamed {
                    problem: check_name(&file_name(job_id, node, "json"), r.job_id, &r.node)
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                    path,
                }),
                Err(ReadError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => errors.push(e),
            }
        }
        records.sort_by(|a, b| a.node.cmp(&b.node));
        (records, errors)
    }

    /// The flat records of one job (the layout before sharding), found by listing `records/`
    /// itself: only for a spool that has them, when the job's nodes are not known.
    pub fn flat_job_records(&self, job_id: u32) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let prefix = format!("job-{job_id}.");
        self.scan(&self.records_dir(), |name| {
            name.starts_with(&prefix) && name.ends_with(".json")
        })
    }

    /// The `started` records of one job still under `running/` (the job has not ended there),
    /// on `nodes`, each opened by its name; with no nodes given, on every node that has a
    /// directory there (one listing of `running/` itself, whose entries are nodes). Started
    /// records of the layout before per-node directories are found by the same listing.
    pub fn job_started(
        &self,
        job_id: u32,
        nodes: Option<&[String]>,
    ) -> (Vec<JobNodeRecord>, Vec<ReadError>) {
        let prefix = format!("job-{job_id}.");
        let (mut records, mut errors) = match nodes {
            Some(_) => (Vec::new(), Vec::new()),
            None => self.scan(&self.running_dir(), |name| {
                parse_file_name(name).is_some_and(|(_, _, suffix)| suffix == "json")
                    && name.starts_with(&prefix)
            }),
        };
        let listed: Vec<String>;
        let nodes = match nodes {
            Some(n) => n,
            None => {
                listed = fs::read_dir(self.running_dir())
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .filter_map(|e| unescape_name(e.file_name().to_str()?))
                            .collect()
                    })
                    .unwrap_or_default();
                &listed
            }
        };
        for node in nodes {
            for path in [
                self.started_path(job_id, node),
                self.flat_started_path(job_id, node),
            ] {
                match read_record(&path) {
                    Ok(r) if r.job_id == job_id && &r.node == node => {
                        if !records.iter().any(|k: &JobNodeRecord| &k.node == node) {
                            records.push(r);
                        }
                        break;
                    }
                    Ok(_) => {}
                    Err(ReadError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        records.sort_by(|a, b| a.node.cmp(&b.node));
        (records, errors)
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
                Ok(r) => match check_name(name, r.job_id, &r.node) {
                    Ok(()) => records.push(r),
                    Err(problem) => errors.push(ReadError::Misnamed {
                        path: entry.path(),
                        problem: problem.to_string(),
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

/// Writes a record atomically in the form of [`encode_record`], mode 0600, creating its
/// directory (a job's shard, mode 0700) when it is missing. See the module docs.
pub fn write_record_atomic(path: &Path, record: &JobNodeRecord) -> Result<(), SpoolError> {
    let bytes = encode_record(record).map_err(|e| SpoolError {
        path: path.to_path_buf(),
        action: "serialise a record for",
        source: io::Error::other(e),
    })?;
    write_record_bytes_atomic(path, &bytes)
}

/// Writes a record's bytes (as [`encode_record`] made them) atomically, creating its
/// directory (a job's shard, mode 0700) when it is missing.
pub fn write_record_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    if let Some(dir) = path.parent() {
        ensure_shard(dir)?;
    }
    write_atomic(path, bytes)
}

/// Creates a job's shard `dir` (`records/<bucket>/<job>`) and its bucket where missing, mode
/// 0700, each made durable in its parent (the record's own fsync covers only its directory).
/// `records/` itself is never created here: a spool without it is one `Spool::ensure` did not
/// prepare, and the write fails as it should. Another node creating either at the same time is
/// fine.
fn ensure_shard(dir: &Path) -> Result<(), SpoolError> {
    if dir.is_dir() {
        return Ok(());
    }
    let bucket = dir.parent().unwrap_or(Path::new("."));
    for d in [bucket, dir] {
        match fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => {
                let parent = d.parent().unwrap_or(Path::new("."));
                File::open(parent)
                    .and_then(|p| p.sync_all())
                    .map_err(at(parent, "flush to disk"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(at(d, "create")(e)),
        }
    }
    Ok(())
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

    fn sample_record(job_id: u32, node: &str) -> JobNodeRecord {
        let mut r: JobNodeRecord = serde_json::from_value(serde_json::json!({
            "schema_version": 3, "state": "complete", "cluster": "c", "job_id": job_id,
            "uid": 1, "gid": 1, "user": "u", "account": null, "partition": null, "node": node,
            "node_list": "n[1-3]", "num_nodes": 3, "cpus_on_node": 2, "start": 1, "end": 2,
            "exit": null, "mode": {"trigger": "option", "requested": null},
            "plugin_version": "0.1.0", "slurm_version": "22.05.8", "meters": []
        }))
        .unwrap();
        r.job_id = job_id;
        r
    }

    #[test]
    fn what_runs_is_kept_per_node_and_found_by_name() {
        let root = tempdir("running");
        let spool = Spool::new(&root);
        assert!(
            write_atomic(&spool.started_path(5, "n1"), b"{}").is_err(),
            "no node directory before ensure_node"
        );
        for node in ["n1", "n2", "a/b"] {
            spool.ensure_node(node).unwrap();
            let mut r = sample_record(5, node);
            r.state = crate::RecordState::Started;
            write_record_atomic(&spool.started_path(5, node), &r).unwrap();
        }
        assert_eq!(
            spool.started_path(5, "n2"),
            root.join("running/n2/job-5.n2.json")
        );
        assert_eq!(
            fs::metadata(spool.running_node_dir("n1"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        // A started record of the layout before per-node directories.
        let mut old = sample_record(5, "n3");
        old.state = crate::RecordState::Started;
        write_record_atomic(&spool.flat_started_path(5, "n3"), &old).unwrap();
        let nodes = |rs: &[JobNodeRecord]| rs.iter().map(|r| r.node.clone()).collect::<Vec<_>>();
        let (by_name, errors) =
            spool.job_started(5, Some(&["n1".into(), "n3".into(), "n9".into()]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(nodes(&by_name), ["n1", "n3"]);
        let (all, errors) = spool.job_started(5, None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(nodes(&all), ["a/b", "n1", "n2", "n3"]);
        assert!(spool.job_started(6, None).0.is_empty());
        // A full read sees every file of both layouts, relative to running/.
        let mut seen = Vec::new();
        walk_running(&spool.running_dir(), |rel, _| seen.push(rel.to_string())).unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                "a%2Fb/job-5.a%2Fb.json",
                "job-5.n3.json",
                "n1/job-5.n1.json",
                "n2/job-5.n2.json"
            ]
        );
        assert!(check_relative_path("n2/job-5.n2.json", 5, "n2").is_ok());
        assert!(check_relative_path("n1/job-5.n2.json", 5, "n2").is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_array_task_is_found_by_its_note_and_forgotten_with_its_records() {
        let root = tempdir("arrays");
        let spool = Spool::new(&root);
        spool.ensure().unwrap();
        assert_eq!(spool.array_task(4_200, 7), None);
        spool.note_array_task(4_200, 7, 4_207).unwrap();
        spool.note_array_task(4_200, 7, 4_207).unwrap(); // every node of the task notes it
        spool.note_array_task(4_200, 8, 4_208).unwrap();
        assert_eq!(spool.array_task(4_200, 7), Some(4_207));
        assert_eq!(
            spool.array_task_link(4_200, 7),
            root.join("arrays/0/4200/7")
        );
        spool.forget_array_task(4_200, 7, 9_999); // another job's: kept
        assert_eq!(spool.array_task(4_200, 7), Some(4_207));
        spool.forget_array_task(4_200, 7, 4_207);
        assert_eq!(spool.array_task(4_200, 7), None);
        assert_eq!(spool.array_task(4_200, 8), Some(4_208));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn records_go_to_their_jobs_shard_and_one_job_is_found_there_alone() {
        let root = tempdir("shards");
        let spool = Spool::new(&root);
        spool.ensure().unwrap();
        assert_eq!(
            record_relative_path(412_345, "n1"),
            "41/412345/job-412345.n1.json"
        );
        assert_eq!(job_shard(7), "0/7");
        for (job, node) in [(412_345, "n1"), (412_345, "n2"), (412_346, "n1")] {
            write_record_atomic(&spool.record_path(job, node), &sample_record(job, node)).unwrap();
        }
        let shard = spool.job_records_dir(412_345);
        assert_eq!(
            fs::metadata(&shard).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Anything outside the job's shard is not looked at: a flat file of the job is not
        // found by job_records, only by the lookups that name it.
        fs::write(
            spool.flat_record_path(412_345, "n3"),
            encode_record(&sample_record(412_345, "n3")).unwrap(),
        )
        .unwrap();
        let (records, errors) = spool.job_records(412_345);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            records.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
            ["n1", "n2"]
        );
        let nodes: Vec<String> = ["n1", "n2", "n3", "n4"].map(String::from).into();
        let (records, errors) = spool.job_records_on(412_345, &nodes);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            records.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
            ["n1", "n2", "n3"]
        );
        let (flat, _) = spool.flat_job_records(412_345);
        assert_eq!(flat.len(), 1);
        // A full walk sees both layouts, by their paths under records/.
        let mut seen = Vec::new();
        walk_records(&spool.records_dir(), |rel, _| seen.push(rel.to_string())).unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                "41/412345/job-412345.n1.json",
                "41/412345/job-412345.n2.json",
                "41/412346/job-412346.n1.json",
                "job-412345.n3.json"
            ]
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_record_is_checked_against_its_path_in_either_layout() {
        assert!(check_relative_path("job-5.n1.json", 5, "n1").is_ok());
        assert!(check_relative_path("0/5/job-5.n1.json", 5, "n1").is_ok());
        let e = check_relative_path("0/6/job-5.n1.json", 5, "n1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0/6/") && e.contains("0/5/"), "{e}");
        assert!(check_relative_path("0/5/job-5.n2.json", 5, "n1").is_err());
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
