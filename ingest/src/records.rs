//! Job-node records from spool directories.
//!
//! A spool may be one node's local directory or a shared filesystem that every node writes
//! to; either way, `records/` holds final records and `running/` the prolog's part of jobs
//! that have not ended there. Files already read with the same size and modification time are
//! not read again; the rest are parsed in parallel.

use ea_energy::measured::{SCOPES, scope_index};
use ea_record::spool::{SERIES_MARKER, Spool, parse_file_name};
use ea_record::{JobExit, JobNodeRecord, MeterFlag, RecordFlag, RecordState, Scope, UnixMicros};
use ea_sacct::bytes::find_byte;
use ea_sacct::rowhash::Fnv;
use ea_store::read::KnownFiles;
use rayon::prelude::*;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A spool file found on disk.
#[derive(Debug, Clone)]
pub struct SpoolFile {
    /// The spool's `records` or `running` directory, as given (made absolute); one string
    /// for all its files.
    pub dir: std::sync::Arc<str>,
    /// The path under `dir` (`job-J.N.json`, or `B/J/job-J.N.json` in the sharded layout).
    pub name: String,
    /// Size and modification time, from the listing for a file the store knows (to tell
    /// whether it changed), else from the open file when it is read.
    pub size: i64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// The size and modification time the store remembers of it, if any.
    pub known: Option<(i64, i64)>,
}

/// The `records` and `running` directories of a spool, as the store names them (made
/// absolute where they exist).
pub fn spool_dirs(root: &Path) -> Vec<(PathBuf, String)> {
    let spool = Spool::new(root);
    [spool.records_dir(), spool.running_dir()]
        .into_iter()
        .map(|dir| {
            let name = fs::canonicalize(&dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
                .to_string();
            (dir, name)
        })
        .collect()
}

/// What a listing found: the files to read, and how many were left as unchanged.
#[derive(Debug, Default)]
pub struct Listing {
    /// The files to read: new, or changed since the store read them.
    pub files: Vec<SpoolFile>,
    /// Files the store knows as they are, left unread.
    pub unchanged: u64,
}

/// Why a spool cannot be listed.
#[derive(Debug)]
pub enum ListError {
    /// The path given as the spool is not a directory.
    NotADirectory(std::path::PathBuf),
    /// A directory of the spool cannot be read.
    Walk(ea_record::spool::SpoolError),
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::NotADirectory(root) => write!(
                f,
                "{}: not a directory; give the spool the plugin writes to (its `records/` and \
                 `running/` are read)",
                root.display()
            ),
            ListError::Walk(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ListError {}

/// Lists the record files of a spool that need reading: new ones, and those whose size or
/// modification time differs from what `known` remembers (every one with `force`). Only
/// known files are looked at before they are read, so a first ingest of a large spool does
/// not stat its files twice. Missing subdirectories are fine (a spool with no job yet); an
/// unreadable spool is an error naming it.
///
/// # Errors
/// A spool directory that does not exist or cannot be listed.
pub fn list_spool(root: &Path, known: &KnownFiles, force: bool) -> Result<Listing, ListError> {
    if !root.is_dir() {
        return Err(ListError::NotADirectory(root.to_path_buf()));
    }
    let mut out = Listing::default();
    for (dir, dir_name) in spool_dirs(root) {
        let known_here = known.get(&dir_name);
        let dir_name: std::sync::Arc<str> = dir_name.into();
        // `name` is the path under `dir`: `job-J.N.json`, or `B/J/job-J.N.json` in `records/`
        // (the sharded layout; `ea_record::spool::walk_records` takes both), or
        // `N/job-J.N.json` in `running/` (per node; `walk_running` takes both).
        let mut visit = |name: &str, entry: &fs::DirEntry| {
            // Only `job-<id>.<node>.json`; sampler state and temporaries are other suffixes.
            let file = name.rsplit('/').next().unwrap_or(name);
            if parse_file_name(file).is_none_or(|(_, _, suffix)| suffix != "json") {
                return;
            }
            let (mut size, mut mtime_ns) = (0, 0);
            let known = known_here.and_then(|k| k.get(name)).copied();
            if let Some((known_size, known_mtime)) = known {
                let Ok(meta) = entry.metadata() else { return };
                (size, mtime_ns) = (
                    meta.len() as i64,
                    meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                );
                if !force && (size, mtime_ns) == (known_size, known_mtime) {
                    out.unchanged += 1;
                    return;
                }
            } else if entry
                .file_type()
                .is_ok_and(|t| !t.is_file() && !t.is_symlink())
            {
                return;
            }
            out.files.push(SpoolFile {
                dir: dir_name.clone(),
                name: name.to_string(),
                size,
                mtime_ns,
                known,
            });
        };
        if dir == Spool::new(root).records_dir() {
            ea_record::spool::walk_records(&dir, &mut visit).map_err(ListError::Walk)?;
        } else {
            ea_record::spool::walk_running(&dir, &mut visit).map_err(ListError::Walk)?;
        }
    }
    Ok(out)
}

/// What the store keeps of one record: what the impact engine needs to split the node's
/// energy (meter sums by scope, the GPUs the job held and those it did not, what it held), and
/// what queries show of jobs known only from their records. The meters' raw counter readings
/// and power series stay in the spool file.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecordRow {
    /// The record's cluster, else the site's.
    pub cluster: String,
    /// `123`, or `<array>_<task>` for array tasks, matching sacct's JobID.
    pub job_id: String,
    /// The numeric job id the record was written for (`SLURM_JOB_ID`).
    pub job_id_raw: u64,
    /// The node the record measured.
    pub node: String,
    /// Whether the epilog finished it (a record still in `running/` is not).
    pub complete: bool,
    /// When the job started on the node, epoch seconds.
    pub start: Option<f64>,
    /// When it ended on the node; `None` while running.
    pub end: Option<f64>,
    /// The job owner's uid.
    pub uid: u32,
    /// The owner's login name, when the plugin could resolve it.
    pub user: Option<String>,
    /// The account the job was charged to.
    pub account: Option<String>,
    /// The partition it ran in.
    pub partition: Option<String>,
    /// CPUs the job held on the node.
    pub cpus_on_node: Option<u32>,
    /// GPUs the job held on the node.
    pub gpus_on_node: Option<u32>,
    /// Memory the job held on the node, MB.
    pub memory_mb: Option<u64>,
    /// The job's whole node list, as Slurm writes it.
    pub node_list: Option<String>,
    /// How many nodes the job has (so that missing records are noticed).
    pub num_nodes: Option<u32>,
    /// `code:signal`, as the epilog saw it.
    pub exit_code: Option<String>,
    /// Energy per scope, joules, indexed like [`SCOPES`]; `None` where no meter of that scope.
    /// GPU boards count here when the job held them or the record does not say.
    pub energy_j: [Option<f64>; SCOPES.len()],
    /// GPU boards of the node the job did not hold, J.
    pub gpu_others_j: Option<f64>,
    /// GPU boards whose holder the record does not say, J (also in the GPU scope's sum).
    pub gpu_unknown_j: Option<f64>,
    /// The record's and its meters' flags, comma-separated (`<meter>:<flag>`).
    pub flags: String,
    /// The row's content hash: an unchanged row is not written again.
    pub hash: i64,
}

impl NodeRecordRow {
    /// The meters as the impact engine takes them: one per scope sum, GPU boards by holder.
    pub fn meters(&self) -> Vec<ea_impact::MeterEnergy> {
        let mut out = Vec::with_capacity(6);
        for (i, e) in self.energy_j.iter().enumerate() {
            let Some(e) = *e else { continue };
            let scope = SCOPES[i];
            if scope == Scope::GpuBoard {
                let unknown = self.gpu_unknown_j.unwrap_or(0.0);
                if self.gpu_unknown_j.is_some() {
                    out.push(ea_impact::MeterEnergy {
                        scope,
                        energy_j: unknown,
                        job_owned: None,
                    });
                }
                let own = e - unknown;
                if own > 0.0 || self.gpu_unknown_j.is_none() {
                    out.push(ea_impact::MeterEnergy {
                        scope,
                        energy_j: own.max(0.0),
                        job_owned: Some(true),
                    });
                }
            } else {
                out.push(ea_impact::MeterEnergy {
                    scope,
                    energy_j: e,
                    job_owned: None,
                });
            }
        }
        if let Some(e) = self.gpu_others_j {
            out.push(ea_impact::MeterEnergy {
                scope: Scope::GpuBoard,
                energy_j: e,
                job_owned: Some(false),
            });
        }
        out
    }
}

/// A record as far as the store reads it. Keys it does not name (the host, the meters'
/// readings and power statistics, absent meters) are passed over; the power series are cut
/// out before parsing (see [`without_values_of`]).
#[derive(Debug, Deserialize)]
struct LeanRecord<'a> {
    /// Required, as in [`JobNodeRecord`], though not kept.
    #[allow(dead_code)]
    schema_version: IgnoredAny,
    state: RecordState,
    #[serde(borrow)]
    cluster: Option<Cow<'a, str>>,
    job_id: u32,
    array_job_id: Option<u32>,
    array_task_id: Option<u32>,
    uid: u32,
    #[allow(dead_code)]
    gid: IgnoredAny,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    partition: Option<Cow<'a, str>>,
    #[serde(borrow)]
    node: Cow<'a, str>,
    #[serde(borrow)]
    node_list: Option<Cow<'a, str>>,
    num_nodes: Option<u32>,
    cpus_on_node: Option<u32>,
    allocation: Option<LeanAllocation>,
    start: Option<UnixMicros>,
    end: Option<UnixMicros>,
    exit: Option<JobExit>,
    #[allow(dead_code)]
    mode: IgnoredAny,
    #[allow(dead_code)]
    plugin_version: IgnoredAny,
    #[allow(dead_code)]
    slurm_version: IgnoredAny,
    #[serde(default, borrow)]
    meters: Vec<LeanMeter<'a>>,
    #[serde(default)]
    flags: Vec<RecordFlag>,
}

#[derive(Debug, Deserialize)]
struct LeanAllocation {
    cpus: Option<u32>,
    memory_mb: Option<u64>,
    #[serde(default)]
    gpus: Vec<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct LeanMeter<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    scope: Scope,
    energy_j: f64,
    #[serde(default)]
    job_owned: Option<bool>,
    #[serde(default)]
    flags: Vec<MeterFlag>,
}

fn flag_name<T: serde::Serialize>(f: &T) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Reads a record file's bytes into its row.
///
/// # Errors
/// Text that is not a record (JSON syntax, a required key missing, a value of the wrong
/// type), as serde_json says it.
pub fn parse_record(
    bytes: &[u8],
    default_cluster: &str,
) -> Result<NodeRecordRow, serde_json::Error> {
    thread_local! {
        static STRIPPED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    STRIPPED.with_borrow_mut(|out| {
        out.clear();
        // Series are three quarters of a record and the store does not read them: schema 3
        // writes them last (the text before them is taken, closed), schema 2's base64 strings
        // are found with a SIMD search, schema 1's arrays of numbers by a scan of the JSON's
        // strings.
        let version = leading_schema_version(bytes);
        let cut = if version.is_some_and(|v| v >= 3) {
            series_start(bytes).is_some_and(|at| {
                out.extend_from_slice(&bytes[..at]);
                out.push(b'}');
                true
            })
        } else if version == Some(2) {
            without_base64_watts(bytes, out)
        } else {
            without_values_into(bytes, b"series", out)
        };
        let text: &[u8] = if cut { out } else { bytes };
        let r: LeanRecord<'_> = serde_json::from_slice(text)?;
        Ok(lean_to_row(&r, default_cluster))
    })
}

/// Turns a record into its row (the form [`parse_record`] reads from a file).
pub fn to_row(r: &JobNodeRecord, default_cluster: &str) -> NodeRecordRow {
    let lean = LeanRecord {
        schema_version: IgnoredAny,
        state: r.state,
        cluster: r.cluster.as_deref().map(Cow::Borrowed),
        job_id: r.job_id,
        array_job_id: r.array_job_id,
        array_task_id: r.array_task_id,
        uid: r.uid,
        gid: IgnoredAny,
        user: r.user.as_deref().map(Cow::Borrowed),
        account: r.account.as_deref().map(Cow::Borrowed),
        partition: r.partition.as_deref().map(Cow::Borrowed),
        node: Cow::Borrowed(&r.node),
        node_list: r.node_list.as_deref().map(Cow::Borrowed),
        num_nodes: r.num_nodes,
        cpus_on_node: r.cpus_on_node,
        allocation: r.allocation.as_ref().map(|a| LeanAllocation {
            cpus: a.cpus,
            memory_mb: a.memory_mb,
            gpus: vec![IgnoredAny; a.gpus.len()],
        }),
        start: r.start,
        end: r.end,
        exit: r.exit,
        mode: IgnoredAny,
        plugin_version: IgnoredAny,
        slurm_version: IgnoredAny,
        meters: r
            .meters
            .iter()
            .map(|m| LeanMeter {
                id: Cow::Borrowed(&m.id),
                scope: m.scope,
                energy_j: m.energy_j,
                job_owned: m.job_owned,
                flags: m.flags.clone(),
            })
            .collect(),
        flags: r.flags.clone(),
    };
    lean_to_row(&lean, default_cluster)
}

fn lean_to_row(r: &LeanRecord<'_>, default_cluster: &str) -> NodeRecordRow {
    let job_id = match (r.array_job_id, r.array_task_id) {
        (Some(a), Some(t)) => format!("{a}_{t}"),
        _ => r.job_id.to_string(),
    };
    let sums = MeterSums::of(r);
    let mut flags: Vec<String> = r.flags.iter().map(flag_name).collect();
    for m in &r.meters {
        for f in &m.flags {
            flags.push(format!("{}:{}", m.id, flag_name(f)));
        }
    }
    flags.extend(sums.refused);
    use ea_record::bounds::{self, check_count};
    let gpus = r.allocation.as_ref().map(|a| a.gpus.len() as u32);
    let gpus_on_node = check_count("gpus", gpus, bounds::MAX_GPUS_ON_NODE, &mut flags);
    let memory = r.allocation.as_ref().and_then(|a| a.memory_mb);
    let memory_mb = check_count("memory-mb", memory, bounds::MAX_MEMORY_MB, &mut flags);
    let cpus = r
        .cpus_on_node
        .or(r.allocation.as_ref().and_then(|a| a.cpus));
    let cpus_on_node = check_count("cpus", cpus, bounds::MAX_CPUS_ON_NODE, &mut flags);
    let num_nodes = check_count("nodes", r.num_nodes, bounds::MAX_NODES, &mut flags);
    let cluster = r
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or(default_cluster)
        .to_string();
    let mut row = NodeRecordRow {
        cluster,
        job_id,
        job_id_raw: u64::from(r.job_id),
        node: r.node.to_string(),
        complete: r.state == RecordState::Complete && r.end.is_some(),
        start: r.start.map(|t| t.as_secs_f64()),
        end: r.end.map(|t| t.as_secs_f64()),
        uid: r.uid,
        user: r.user.as_deref().map(str::to_string),
        account: r.account.as_deref().map(str::to_string),
        partition: r.partition.as_deref().map(str::to_string),
        cpus_on_node,
        gpus_on_node,
        memory_mb,
        node_list: r.node_list.as_deref().map(str::to_string),
        num_nodes,
        exit_code: r.exit.map(|e| e.to_string()),
        energy_j: sums.energy_j,
        gpu_others_j: sums.gpu_others_j,
        gpu_unknown_j: sums.gpu_unknown_j,
        flags: flags.join(","),
        hash: 0,
    };
    row.hash = row_hash(&row, r.start.map(|t| t.0), r.end.map(|t| t.0));
    row
}

/// A record's meters added up by scope, with the GPU boards of other jobs and of unknown
/// holders apart, and the flags of the meters refused as implausible.
struct MeterSums {
    energy_j: [Option<f64>; SCOPES.len()],
    gpu_others_j: Option<f64>,
    gpu_unknown_j: Option<f64>,
    refused: Vec<String>,
}

impl MeterSums {
    fn of(r: &LeanRecord<'_>) -> Self {
        let mut s = MeterSums {
            energy_j: [None; SCOPES.len()],
            gpu_others_j: None,
            gpu_unknown_j: None,
            refused: Vec::new(),
        };
        let add = |slot: &mut Option<f64>, e: f64| *slot = Some(slot.unwrap_or(0.0) + e);
        let span = r.start.zip(r.end).map(|(s, e)| e.seconds_since(s));
        for m in &r.meters {
            if let Err(why) = ea_record::bounds::check_energy(&m.id, m.scope, m.energy_j, span) {
                s.refused.push(why.flag());
                continue;
            }
            if m.scope == Scope::GpuBoard {
                match m.job_owned {
                    Some(false) => {
                        add(&mut s.gpu_others_j, m.energy_j);
                        continue;
                    }
                    None => add(&mut s.gpu_unknown_j, m.energy_j),
                    Some(true) => {}
                }
            }
            let scope = if m.scope == Scope::Unknown {
                Scope::Other
            } else {
                m.scope
            };
            add(&mut s.energy_j[scope_index(scope)], m.energy_j);
        }
        s
    }
}

/// The row's content hash (times as the record's microseconds): a row that hashes the same
/// is not written again.
fn row_hash(row: &NodeRecordRow, start_us: Option<i64>, end_us: Option<i64>) -> i64 {
    let mut h = Fnv::default();
    h.str(Some(&row.cluster))
        .str(Some(&row.job_id))
        .str(Some(&row.node))
        .int(Some(i64::from(row.complete)));
    h.int(start_us).int(end_us).str(Some(&row.flags));
    for e in row
        .energy_j
        .iter()
        .chain([&row.gpu_others_j, &row.gpu_unknown_j])
    {
        h.float(*e);
    }
    h.int(row.cpus_on_node.map(i64::from))
        .int(row.gpus_on_node.map(i64::from))
        .int(row.memory_mb.map(|m| m as i64));
    h.int(Some(i64::from(row.uid)))
        .str(row.user.as_deref())
        .str(row.account.as_deref())
        .str(row.partition.as_deref());
    h.str(row.node_list.as_deref())
        .int(row.num_nodes.map(i64::from))
        .str(row.exit_code.as_deref());
    h.finish()
}

/// `json` with the value of every object key named `key` (at any depth) replaced by `null`,
/// found by scanning eight bytes at a time: a record's power series are nine tenths of its
/// bytes and the store does not read them. The cut values are not checked; the rest is left
/// to the JSON parser. Text without such a key comes back as it is.
pub fn without_values_of<'a>(json: &'a [u8], key: &[u8]) -> Cow<'a, [u8]> {
    let mut out = Vec::new();
    if without_values_into(json, key, &mut out) {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(json)
    }
}

/// [`without_values_of`] into `out` (appended to); returns whether a value was cut (if not,
/// `out` is left as it was).
fn without_values_into(json: &[u8], key: &[u8], out: &mut Vec<u8>) -> bool {
    let mut cut = false;
    let (mut copied, mut i) = (0, 0);
    while let Some(q) = find_byte(&json[i..], b'"').map(|q| i + q) {
        let Some(end) = string_end(json, q + 1) else {
            break;
        };
        i = end + 1;
        if &json[q + 1..end] != key {
            continue;
        }
        let mut j = skip_ws(json, end + 1);
        if json.get(j) != Some(&b':') {
            continue;
        }
        j = skip_ws(json, j + 1);
        let Some(after) = skip_value(json, j) else {
            break;
        };
        out.extend_from_slice(&json[copied..j]);
        out.extend_from_slice(b"null");
        copied = after;
        i = after;
        cut = true;
    }
    if cut {
        out.extend_from_slice(&json[copied..]);
    }
    cut
}

/// `json` with the value of every `"watts":"…"` emptied, into `out` (appended to); returns
/// whether any was (if not, `out` is left as it was). Schema 2 writes each series' watts so,
/// in base64, which holds no quote or backslash: the value ends at the next quote. A value
/// that does not (an escaped quote in it) leaves the text to the parser whole.
fn without_base64_watts(json: &[u8], out: &mut Vec<u8>) -> bool {
    const KEY: &[u8] = b"\"watts\":\"";
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let start = out.len();
    let mut copied = 0;
    for at in FINDER.find_iter(json) {
        let value = at + KEY.len();
        let Some(len) = memchr::memchr(b'"', &json[value..]) else {
            break;
        };
        if len > 0 && json[value + len - 1] == b'\\' {
            out.truncate(start);
            return false;
        }
        out.extend_from_slice(&json[copied..value]);
        copied = value + len;
    }
    if copied == 0 {
        return false;
    }
    out.extend_from_slice(&json[copied..]);
    true
}

/// Where a schema 3 record's series begin ([`SERIES_MARKER`]), if it has any in `json`.
fn series_start(json: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(SERIES_MARKER));
    FINDER.find(json)
}

/// How much of a record file is read first: the part of a schema 3 record before its series
/// (identity, host, a few hundred bytes per meter: 2 to 6 kB) mostly fits; the rest is read
/// as needed, in larger pieces.
const FIRST_READ: usize = 4096;
const NEXT_READ: usize = 16384;

/// Reads into `buf` what the store needs of a record file: a schema 3 record up to its series
/// ([`SERIES_MARKER`], where reading stops), closed with `}`; any other record whole. The
/// series are most of a record's bytes, and a spool on a shared file system is read over the
/// network. Returns whether the series were left unread.
fn read_record_text(file: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut want = FIRST_READ;
    let mut searched: usize = 0;
    loop {
        let len = buf.len();
        // One `read` (zeroing 4 kB costs less than the extra `read` that `read_to_end` makes
        // to find the end of a shorter file).
        buf.resize(len + want, 0);
        let n = loop {
            match file.read(&mut buf[len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(len);
                    return Err(e);
                }
                Ok(n) => break n,
            }
        };
        buf.truncate(len + n);
        if n == 0 {
            return Ok(false);
        }
        if len == 0 && leading_schema_version(buf).is_none_or(|v| v < 3) {
            file.read_to_end(buf)?;
            return Ok(false);
        }
        // The marker may straddle two reads.
        let from = searched.saturating_sub(SERIES_MARKER.len() - 1);
        if let Some(at) = series_start(&buf[from..]) {
            buf.truncate(from + at);
            buf.push(b'}');
            return Ok(true);
        }
        searched = buf.len();
        want = NEXT_READ;
    }
}

/// The `schema_version` of a record whose first key it is (as the plugin writes them);
/// `None` for any other text.
fn leading_schema_version(json: &[u8]) -> Option<u32> {
    let i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    let i = skip_ws(json, i + 1);
    let rest = json.get(i..)?.strip_prefix(b"\"schema_version\"")?;
    let i = skip_ws(rest, 0);
    if rest.get(i) != Some(&b':') {
        return None;
    }
    let digits = &rest[skip_ws(rest, i + 1)..];
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        i += 1;
    }
    i
}

/// The index of the quote that closes a string whose text starts at `from`.
fn string_end(json: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let q = from + find_byte(&json[from..], b'"')?;
        // The quote is escaped if an odd number of backslashes precede it.
        let backslashes = json[from..q]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(q);
        }
        from = q + 1;
    }
}

/// The index just past the JSON value starting at `at`; `None` if the text ends first.
fn skip_value(json: &[u8], at: usize) -> Option<usize> {
    match *json.get(at)? {
        b'"' => string_end(json, at + 1).map(|e| e + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                // Jump to the next byte that can matter: a bracket, a brace, a quote (or any
                // byte from `[` up, or non-ASCII, which are looked at one by one).
                i += next_structural(&json[i..])?;
                match json[i] {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    b'"' => i = string_end(json, i + 1)?,
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let n = json[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(json.len() - at);
            Some(at + n)
        }
    }
}

/// The offset of the first byte that is a quote, or `[` (0x5b) and above, or non-ASCII.
fn next_structural(hay: &[u8]) -> Option<usize> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = ea_sacct::bytes::word(c);
        // High bit per byte: byte >= 0x5b (adding 0x25 to its low seven bits reaches 0x80)
        // or byte >= 0x80; and, exactly, byte == '"'.
        let big = ((x & LOW7) + 0x2525_2525_2525_2525) | x;
        let q = x ^ 0x2222_2222_2222_2222;
        let quote = !(((q & LOW7) + LOW7) | q | LOW7);
        let m = (big & HIGH) | quote;
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b >= 0x5b)
        .map(|i| at + i)
}

impl SpoolFile {
    /// Where the file is.
    pub fn path(&self) -> PathBuf {
        Path::new(&*self.dir).join(&self.name)
    }
}

/// A spool file that could not be read as a record.
#[derive(Debug, Clone)]
pub struct RecordError {
    /// The file.
    pub path: PathBuf,
    /// Why it is not a record, for the message.
    pub problem: String,
}

/// Reads and converts files in parallel, in the order given; fills in each file's size and
/// modification time from the open file.
pub fn read_all(
    files: &mut [SpoolFile],
    default_cluster: &str,
) -> Vec<Result<NodeRecordRow, RecordError>> {
    let dirs = OpenDirs::of(files);
    files
        .par_iter_mut()
        .with_min_len(64)
        .map(|f| read_one(f, &dirs, default_cluster))
        .collect()
}

/// [`read_all`] on the calling thread alone.
pub fn read_all_here(
    files: &mut [SpoolFile],
    default_cluster: &str,
) -> Vec<Result<NodeRecordRow, RecordError>> {
    let dirs = OpenDirs::of(files);
    files
        .iter_mut()
        .map(|f| read_one(f, &dirs, default_cluster))
        .collect()
}

/// The directories of some spool files, each opened once: a file is then opened by its name
/// in its directory (`openat`), so that the kernel does not walk the whole path again for each
/// of a month's hundreds of thousands of records (a tenth of their system time). The files of
/// a directory that cannot be opened are opened by their path, so that an error names them.
struct OpenDirs(Vec<(std::sync::Arc<str>, Option<std::os::fd::OwnedFd>)>);

impl OpenDirs {
    fn of(files: &[SpoolFile]) -> Self {
        let mut dirs = Self(Vec::new());
        for f in files {
            if dirs.entry(f).is_none() {
                let flags = rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC;
                let fd = rustix::fs::open(&*f.dir, flags, rustix::fs::Mode::empty()).ok();
                dirs.0.push((f.dir.clone(), fd));
            }
        }
        dirs
    }

    /// The entry of a file's directory. The files of one listing share their directory's
    /// string: compared by address first.
    fn entry(&self, f: &SpoolFile) -> Option<&(std::sync::Arc<str>, Option<std::os::fd::OwnedFd>)> {
        self.0
            .iter()
            .find(|(d, _)| std::sync::Arc::ptr_eq(d, &f.dir) || *d == f.dir)
    }

    fn open(&self, f: &SpoolFile) -> std::io::Result<fs::File> {
        match self.entry(f).and_then(|(_, fd)| fd.as_ref()) {
            Some(dir) => {
                let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
                let fd =
                    rustix::fs::openat(dir, f.name.as_str(), flags, rustix::fs::Mode::empty())?;
                Ok(fs::File::from(fd))
            }
            None => fs::File::open(f.path()),
        }
    }
}

fn read_one(
    f: &mut SpoolFile,
    dirs: &OpenDirs,
    default_cluster: &str,
) -> Result<NodeRecordRow, RecordError> {
    thread_local! {
        // One buffer per thread, reused from file to file: a month holds hundreds of thousands
        // of records of tens of kilobytes.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let spool_file: &SpoolFile = f;
    // The path is made only for an error message.
    let err = |problem: String| RecordError {
        path: spool_file.path(),
        problem,
    };
    let (row, size, mtime_ns) = BUF.with_borrow_mut(|buf| {
        buf.clear();
        let mut file = dirs.open(spool_file).map_err(|e| err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        let cut = read_record_text(&mut file, buf).map_err(|e| err(e.to_string()))?;
        let row = if cut {
            serde_json::from_slice::<LeanRecord<'_>>(buf).map(|r| lean_to_row(&r, default_cluster))
        } else {
            parse_record(buf, default_cluster)
        };
        let row = row.map_err(|e| err(format!("not a valid record: {e}")))?;
        // `job` refuses the same files (`Spool::job_records`).
        let raw = u32::try_from(row.job_id_raw).unwrap_or(u32::MAX);
        ea_record::spool::check_relative_path(&spool_file.name, raw, &row.node)
            .map_err(|e| err(e.to_string()))?;
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        Ok((row, meta.len() as i64, mtime_ns))
    })?;
    (f.size, f.mtime_ns) = (size, mtime_ns);
    Ok(row)
}

/// Remembers the files a run read, as they were then (one row per directory): those the
/// store knew as they are now are left out, so that reading unchanged files again (`--force`)
/// leaves the store as it was.
///
/// # Errors
/// SQLite errors.
pub fn remember_files(conn: &rusqlite::Connection, files: &[SpoolFile]) -> rusqlite::Result<()> {
    let mut by_dir: std::collections::BTreeMap<&str, Vec<(&str, i64, i64)>> = Default::default();
    for f in files {
        if f.known != Some((f.size, f.mtime_ns)) {
            by_dir
                .entry(&*f.dir)
                .or_default()
                .push((f.name.as_str(), f.size, f.mtime_ns));
        }
    }
    ea_store::records::remember_spool_reads(conn, by_dir)
}

/// Writes record rows with a statement prepared once (`ea_store::records::RecordWriter`).
pub struct RecordWriter<'c>(ea_store::records::RecordWriter<'c>);

impl<'c> RecordWriter<'c> {
    /// Prepares the writer's statement on `conn` (the caller's transaction).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn new(conn: &'c rusqlite::Connection) -> rusqlite::Result<Self> {
        ea_store::records::RecordWriter::new(conn).map(Self)
    }

    /// Writes a record row unless the store has it unchanged, or has it complete and this one
    /// is not; returns whether it wrote.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn upsert(&mut self, row: &NodeRecordRow) -> rusqlite::Result<bool> {
        self.0.upsert(&ea_store::records::RecordValues {
            cluster: &row.cluster,
            job_id: &row.job_id,
            node: &row.node,
            job_id_raw: row.job_id_raw,
            complete: row.complete,
            start: row.start,
            end: row.end,
            uid: row.uid,
            user: row.user.as_deref(),
            account: row.account.as_deref(),
            partition: row.partition.as_deref(),
            cpus_on_node: row.cpus_on_node,
            gpus_on_node: row.gpus_on_node,
            energy_j: &row.energy_j,
            flags: &row.flags,
            hash: row.hash,
            node_list: row.node_list.as_deref(),
            num_nodes: row.num_nodes,
            exit_code: row.exit_code.as_deref(),
            memory_mb: row.memory_mb.map(|m| m as i64),
            gpu_others_j: row.gpu_others_j,
            gpu_unknown_j: row.gpu_unknown_j,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ea_synth::{self as synth, Params};

    /// A record as a schema 1 plugin wrote it: pretty-printed, its series as JSON arrays.
    fn as_schema_1(r: &JobNodeRecord) -> Vec<u8> {
        let mut v: serde_json::Value =
            serde_json::from_slice(&ea_record::spool::encode_record_schema_2(r)).unwrap();
        v.as_object_mut().unwrap().remove("schema_version");
        for m in v["meters"].as_array_mut().unwrap() {
            let m = m.as_object_mut().unwrap();
            if let Some(mut s) = m.remove("series_b64") {
                let watts = base64_floats(s["watts"].as_str().unwrap());
                s["watts"] = serde_json::json!(watts);
                m.insert("series".into(), s);
            }
        }
        // The version first, as the plugin's struct order puts it.
        let text = serde_json::to_string_pretty(&v).unwrap();
        format!("{{\n  \"schema_version\": 1,{}", &text[1..]).into_bytes()
    }

    fn base64_floats(text: &str) -> Vec<f32> {
        ea_record::base64::decode(text)
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// A reader that counts what was taken from it.
    struct Counted<'a>(std::io::Cursor<&'a [u8]>, usize);

    impl Read for Counted<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(out)?;
            self.1 += n;
            Ok(n)
        }
    }

    /// What the ingest reads of a file holding `bytes`: the text and how many bytes it took.
    fn read_as_ingest(bytes: &[u8]) -> (Vec<u8>, bool, usize) {
        let mut r = Counted(std::io::Cursor::new(bytes), 0);
        let mut buf = Vec::new();
        let cut = read_record_text(&mut r, &mut buf).unwrap();
        (buf, cut, r.1)
    }

    /// A synthetic month of `jobs` jobs, every one assessed.
    fn all_assessed(jobs: u64, seed: u64) -> (Params, Vec<synth::Job>) {
        let p = Params {
            jobs,
            assessed: 1.0,
            seed,
            ..Default::default()
        };
        let js = synth::jobs(&p);
        (p, js)
    }

    #[test]
    fn every_schema_gives_the_row_the_record_gives() {
        let (p, jobs) = all_assessed(400, 9);
        let mut seen = 0;
        for j in jobs.iter().filter(|j| j.elapsed > 600).take(40) {
            for r in synth::records(&p, j) {
                let v3 = ea_record::spool::encode_record(&r).unwrap();
                let v2 = ea_record::spool::encode_record_schema_2(&r);
                let v1 = as_schema_1(&r);
                assert_eq!(leading_schema_version(&v3), Some(3));
                assert_eq!(leading_schema_version(&v2), Some(2));
                assert_eq!(leading_schema_version(&v1), Some(1));
                assert!(v1.len() > 2 * v2.len(), "{} vs {}", v1.len(), v2.len());
                // The full reader takes every form alike; the lean one gives the same row.
                // (Against the record read back, not `r`: serde_json may read a float one
                // unit in the last place from the one it wrote.)
                let c = ea_record::spool::decode_record(&v3).unwrap();
                let b = ea_record::spool::decode_record(&v2).unwrap();
                let a = ea_record::spool::decode_record(&v1).unwrap();
                assert_eq!(a.meters, b.meters);
                assert!(b.schema_version == 2 && c.schema_version == 3);
                assert!(
                    JobNodeRecord {
                        schema_version: 3,
                        ..b.clone()
                    } == c
                );
                let want = to_row(&b, "x");
                assert_eq!(parse_record(&v3, "x").unwrap(), want);
                assert_eq!(parse_record(&v2, "x").unwrap(), want);
                assert_eq!(parse_record(&v1, "x").unwrap(), want);
                // As the ingest reads files: schema 3 up to its series, the others whole.
                let (text, cut, n) = read_as_ingest(&v3);
                let at = series_start(&v3).unwrap();
                assert!(cut);
                assert!(at + SERIES_MARKER.len() <= FIRST_READ, "{at}");
                assert_eq!(n, v3.len().min(FIRST_READ), "one read, of {}", v3.len());
                assert_eq!(&text[..text.len() - 1], &v3[..at]);
                let lean: LeanRecord<'_> = serde_json::from_slice(&text).unwrap();
                assert_eq!(lean_to_row(&lean, "x"), want);
                for old in [&v2, &v1] {
                    let (text, cut, n) = read_as_ingest(old);
                    assert!(!cut && n == old.len() && &text == old);
                }
                seen += 1;
            }
        }
        assert!(seen > 40, "{seen}");
    }

    #[test]
    fn the_series_marker_is_found_across_reads_and_in_no_string() {
        let p = Params {
            jobs: 50,
            assessed: 1.0,
            seed: 3,
            ..Default::default()
        };
        let jobs = synth::jobs(&p);
        let mut r = synth::records(&p, &jobs[0]).remove(0);
        assert!(r.meters.iter().any(|m| m.series.is_some()));
        // A label holding the marker's text is escaped, so it is not taken for the marker.
        r.meters[0].label = Some(r#"odd ","series":{ label"#.into());
        let plain = ea_record::spool::encode_record(&r).unwrap();
        let at = series_start(&plain).unwrap();
        // Lengthen a field so that the marker straddles the first read's end, then lies
        // wholly in the second read.
        for pad_to in [FIRST_READ - 3, FIRST_READ + 5] {
            let mut r = r.clone();
            r.plugin_version.push_str(&"x".repeat(pad_to - at));
            let bytes = ea_record::spool::encode_record(&r).unwrap();
            assert_eq!(series_start(&bytes), Some(pad_to));
            let (text, cut, n) = read_as_ingest(&bytes);
            assert!(cut, "{pad_to}");
            assert_eq!(n, (FIRST_READ + NEXT_READ).min(bytes.len()));
            assert_eq!(text.len(), pad_to + 1);
            let lean: LeanRecord<'_> = serde_json::from_slice(&text).unwrap();
            let want = to_row(&ea_record::spool::decode_record(&bytes).unwrap(), "x");
            assert_eq!(lean_to_row(&lean, "x"), want);
        }
        // Without series, the record is read whole and parsed as such.
        r.meters.iter_mut().for_each(|m| m.series = None);
        let bytes = ea_record::spool::encode_record(&r).unwrap();
        let (text, cut, n) = read_as_ingest(&bytes);
        assert!(!cut && n == bytes.len() && text == bytes);
        assert_eq!(
            parse_record(&text, "x").unwrap(),
            to_row(&ea_record::spool::decode_record(&bytes).unwrap(), "x")
        );
    }

    #[test]
    fn base64_watts_are_emptied_and_anything_else_left_whole() {
        let mut out = Vec::new();
        let json = br#"{"a":{"watts":"AAAgQQ=="},"b":[{"watts":"AAAA","x":1}],"watts_n":"q"}"#;
        assert!(without_base64_watts(json, &mut out));
        assert_eq!(
            out,
            br#"{"a":{"watts":""},"b":[{"watts":"","x":1}],"watts_n":"q"}"#
        );
        for whole in [
            &br#"{"watts":[1,2]}"#[..],
            br#"{"watts": "AAAA"}"#,
            br#"{"watts":"a\"b"}"#,
            br#"{"watts":"AAAA"#,
        ] {
            out.clear();
            assert!(
                !without_base64_watts(whole, &mut out),
                "{}",
                String::from_utf8_lossy(whole)
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn files_read_are_remembered_once_and_the_latest_reading_counts() {
        let dir = std::env::temp_dir().join(format!("ea-remember-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (store, _) =
            ea_store::Store::open_for_write(&dir.join("s.sqlite"), &Default::default()).unwrap();
        let conn = &store.conn;
        let d: std::sync::Arc<str> = "/spool/records".into();
        let file = |name: &str, size, known| SpoolFile {
            dir: d.clone(),
            name: name.into(),
            size,
            mtime_ns: 7,
            known,
        };
        let rows = || -> i64 {
            conn.query_row("SELECT count(*) FROM spool_reads", [], |r| r.get(0))
                .unwrap()
        };
        remember_files(conn, &[file("a", 1, None), file("b", 2, None)]).unwrap();
        assert_eq!(rows(), 1);
        // Read again unchanged (forced): nothing new to remember.
        remember_files(
            conn,
            &[file("a", 1, Some((1, 7))), file("b", 2, Some((2, 7)))],
        )
        .unwrap();
        remember_files(conn, &[]).unwrap();
        assert_eq!(rows(), 1);
        // `b` changed since: its new reading replaces the old one.
        remember_files(conn, &[file("b", 3, Some((2, 7)))]).unwrap();
        assert_eq!(rows(), 2);
        let known =
            ea_store::read::known_files(conn, &["/spool/records".to_string(), "/x".to_string()])
                .unwrap();
        assert_eq!(known["/spool/records"]["a"], (1, 7));
        assert_eq!(known["/spool/records"]["b"], (3, 7));
        assert!(known["/x"].is_empty());
        drop(store);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn impossible_counts_and_energies_are_left_out_with_their_bounds_in_the_flags() {
        let (p, jobs) = all_assessed(20, 3);
        let mut r = synth::records(&p, &jobs[0]).remove(0);
        let a = r.allocation.get_or_insert_with(Default::default);
        a.memory_mb = Some(u64::MAX);
        r.cpus_on_node = Some(u32::MAX);
        r.num_nodes = Some(u32::MAX);
        r.meters[0].energy_j = 1e308;
        let row = to_row(&r, "x");
        assert_eq!(
            (row.memory_mb, row.cpus_on_node, row.num_nodes),
            (None, None, None)
        );
        for what in ["memory-mb", "cpus", "nodes"] {
            assert!(
                row.flags.contains(&format!("implausible-{what}:")),
                "{}",
                row.flags
            );
        }
        assert!(row.flags.contains("implausible-energy"), "{}", row.flags);
        assert!(
            row.energy_j.iter().flatten().all(|e| *e < 1e12),
            "{:?}",
            row.energy_j
        );
    }

    #[test]
    fn files_are_read_in_their_directory_and_errors_name_their_path() {
        let root = std::env::temp_dir().join(format!("ea-open-dirs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let records = root.join("records");
        fs::create_dir_all(&records).unwrap();
        let (p, jobs) = all_assessed(50, 3);
        let record = synth::records(&p, &jobs[0]).remove(0);
        let good = ea_record::spool::encode_record(&record).unwrap();
        let good_name = ea_record::spool::file_name(record.job_id, &record.node, "json");
        fs::write(records.join(&good_name), &good).unwrap();
        // A copy under another node's name: refused, as `job` refuses it.
        let copy_name = ea_record::spool::file_name(record.job_id, "elsewhere", "json");
        fs::write(records.join(&copy_name), &good).unwrap();
        fs::write(records.join("bad.json"), b"{\"schema_version\":3,").unwrap();
        let dir: std::sync::Arc<str> = records.display().to_string().into();
        // The same directory under a string of its own, and one that is not there.
        let same_dir: std::sync::Arc<str> = records.display().to_string().into();
        let missing: std::sync::Arc<str> = root.join("gone").display().to_string().into();
        let file = |dir: &std::sync::Arc<str>, name: &str| SpoolFile {
            dir: dir.clone(),
            name: name.into(),
            size: 0,
            mtime_ns: 0,
            known: None,
        };
        let mut files = vec![
            file(&dir, &good_name),
            file(&same_dir, &good_name),
            file(&dir, "bad.json"),
            file(&missing, &good_name),
            file(&dir, &copy_name),
        ];
        let rows = read_all_here(&mut files, "x");
        let want = to_row(&ea_record::spool::decode_record(&good).unwrap(), "x");
        assert_eq!(rows[0].as_ref().unwrap(), &want);
        assert_eq!(rows[1].as_ref().unwrap(), &want);
        let meta = fs::metadata(records.join(&good_name)).unwrap();
        assert_eq!(files[0].size, good.len() as i64);
        assert_eq!(
            files[0].mtime_ns,
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
        );
        let bad = rows[2].as_ref().unwrap_err();
        assert_eq!(bad.path, records.join("bad.json"));
        assert!(
            bad.problem.starts_with("not a valid record"),
            "{}",
            bad.problem
        );
        let gone = rows[3].as_ref().unwrap_err();
        assert_eq!(gone.path, root.join("gone").join(&good_name));
        assert!(gone.problem.contains("No such file"), "{}", gone.problem);
        let copy = rows[4].as_ref().unwrap_err();
        assert!(
            copy.problem.contains("misnamed") && copy.problem.contains(&good_name),
            "{}",
            copy.problem
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn flat_and_sharded_records_are_listed_read_and_remembered_alike() {
        let root = std::env::temp_dir().join(format!("ea-layouts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let spool = Spool::new(&root);
        spool.ensure().unwrap();
        let (p, jobs) = all_assessed(50, 5);
        let mut recs = synth::records(&p, &jobs[0]);
        recs.extend(synth::records(&p, &jobs[1]));
        assert!(recs.len() >= 2);
        // The first flat, as before sharding; the others in their job's shard.
        let flat = spool.flat_record_path(recs[0].job_id, &recs[0].node);
        fs::write(&flat, ea_record::spool::encode_record(&recs[0]).unwrap()).unwrap();
        for r in &recs[1..] {
            ea_record::spool::write_record_atomic(&spool.record_path(r.job_id, &r.node), r)
                .unwrap();
        }
        // A record in another job's shard: listed, refused when read.
        let wrong = spool.records_dir().join(format!(
            "{}/{}",
            ea_record::spool::job_shard(recs[0].job_id + 1),
            ea_record::spool::file_name(recs[0].job_id, &recs[0].node, "json")
        ));
        fs::create_dir_all(wrong.parent().unwrap()).unwrap();
        fs::write(&wrong, ea_record::spool::encode_record(&recs[0]).unwrap()).unwrap();
        let mut listing = list_spool(&root, &KnownFiles::new(), false).unwrap();
        assert_eq!(listing.files.len(), recs.len() + 1);
        let rows = read_all_here(&mut listing.files, "x");
        let mut ok: Vec<_> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        ok.sort_by(|a, b| (a.job_id_raw, &a.node).cmp(&(b.job_id_raw, &b.node)));
        // As written: the row of the record read back (a float's last digit may differ).
        let as_read = |r: &JobNodeRecord| {
            let bytes = ea_record::spool::encode_record(r).unwrap();
            to_row(&ea_record::spool::decode_record(&bytes).unwrap(), "x")
        };
        let mut want: Vec<_> = recs.iter().map(as_read).collect();
        want.sort_by(|a, b| (a.job_id_raw, &a.node).cmp(&(b.job_id_raw, &b.node)));
        assert_eq!(ok, want.iter().collect::<Vec<_>>());
        let refused: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].path, wrong);
        assert!(
            refused[0].problem.contains("misplaced"),
            "{}",
            refused[0].problem
        );
        // Remembered by their path under `records/`: the next listing skips every one read.
        let mut known = KnownFiles::new();
        for f in listing.files.iter().filter(|f| f.path() != wrong) {
            known
                .entry(f.dir.to_string())
                .or_default()
                .insert(f.name.clone(), (f.size, f.mtime_ns));
        }
        let again = list_spool(&root, &known, false).unwrap();
        assert_eq!((again.files.len(), again.unchanged), (1, recs.len() as u64));
        assert_eq!(again.files[0].path(), wrong);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn the_version_is_read_only_where_a_record_starts_with_it() {
        assert_eq!(
            leading_schema_version(b" {\n  \"schema_version\" : 12,"),
            Some(12)
        );
        assert_eq!(
            leading_schema_version(b"{\"state\":\"complete\",\"schema_version\":2}"),
            None
        );
        assert_eq!(leading_schema_version(b"[1]"), None);
        assert_eq!(leading_schema_version(b"{\"schema_version\":\"2\"}"), None);
        assert_eq!(leading_schema_version(b""), None);
        // A record that does not start with its version is still read, by the slower path.
        let e = parse_record(b"{\"state\":\"complete\"}", "x").unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}
