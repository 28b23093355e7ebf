//! The sampler's checkpoint on disk: a compact base state and an append-only journal of the
//! readings taken since, in two segments that take turns.
//!
//! Why not the whole state every interval: with every meter's power series full (720 points
//! each), a [`SamplerState`] is about 30 KB of compact JSON (100 KB pretty), and writing it
//! atomically costs a temporary file, two fsyncs (file and directory) and a quarter of a
//! millisecond of CPU, every ten seconds, on every node, for weeks. The state only changes by
//! the readings of one tick, so a tick appends those readings (a few hundred bytes of JSON,
//! one line) to the journal: one write, flushed to disk with `O_DSYNC` (the flush of an
//! `fdatasync`, done by the write itself) once every [`FLUSH_EVERY`] and on the final tick. Every reader replays the journal's lines on the base through the
//! same code the sampler ran ([`crate::sampler::add_readings`]), so it sees exactly the
//! sampler's state.
//!
//! Why two segments: the journal must be compacted into a new base now and then, or readers
//! would replay weeks of ticks. Writing that base at once is a 30 KB tick; instead, when the
//! current segment's ticks have grown as large as the last base (and at least
//! [`MIN_JOURNAL_BYTES`]), the writer starts the other segment with the state of that tick and
//! writes it a part per tick (at most [`TICK_BYTES`] with the tick's line), each tick's line
//! after its part. Until the last part is down, a reader takes the old segment's state and the
//! new segment's lines; after it, the new segment alone. The old segment is emptied only when
//! the next one starts, by which time the base after it is complete.
//!
//! ```text
//! running/<node>/job-<id>.<node>.sampler.json        the first base (and one after a failed
//!                                                    write), a SamplerState, compact
//! running/<node>/job-<id>.<node>.sampler.journal     segments 2, 4, ... (and version 2's journal)
//! running/<node>/job-<id>.<node>.sampler.journal.1   segments 1, 3, ...
//!
//! a segment:  S <number> <length of its base, 0 when it has none>
//!             B <part of the base's JSON>      a part, before the line of the tick it came with
//!             {"seq":..., "readings": [...]}   one Tick per line
//! ```
//!
//! The reader starts from `sampler.json`, then takes the segments in order of number: a
//! segment's base, when all of it is there and it is not older than the state so far, replaces
//! that state; then the segment's ticks that follow are replayed.
//!
//! Versions: a base of version 1 (pretty JSON, series as arrays of numbers, no journal) or 2
//! (compact, one journal of ticks) comes from a sampler started before an upgrade and is read
//! as it was written. A journal line that does not parse (a tick torn by a crash or a full
//! disk), whose seq does not follow, or whose readings do not match the meters ends the replay
//! of its segment: what came before it stands. A failed write makes the next tick write the
//! whole state as `sampler.json` and start a new segment.
//!
//! The journals are opened and closed on every tick, never held open: a held file would keep
//! the spool's filesystem from being remounted read-only (the e2e fault tests do that). They
//! are created with the first base only, so a sampler whose job's files were cleaned up cannot
//! recreate them by writing a tick.

use crate::accumulate::Instant;
use crate::sampler::{JobFiles, SamplerState, add_readings};
use crate::source::{Raw, ReadError};
use ea_record::UnixMicros;
use ea_record::spool::{self, SpoolError, read_json};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The checkpoint's layout version, in [`SamplerState::version`]: 3 is a base and two
/// journal segments that spread later bases over ticks; 2 was a base and one journal.
pub const VERSION: u32 = 3;

/// The journal may always grow to this size before the next tick writes a new base: early in a
/// job the base is small, and rewriting it every few ticks would cost more than it saves.
pub const MIN_JOURNAL_BYTES: u64 = 32 * 1024;

/// One meter's reading, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Value {
    /// A counter value in the meter's unit.
    Counter(u64),
    /// Power in watts.
    Watts(f64),
    /// The read failed. The text is kept only for a meter's first error (the accumulator
    /// keeps no other): a meter failing every tick does not write its message every tick.
    Error(String),
}

/// One tick of the sampler: what it read, and what it learnt besides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// The state's `seq` after this tick.
    pub seq: u64,
    /// The state's `updated` after this tick.
    pub updated: Instant,
    /// The final reading was taken with this tick.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
    /// Notes the sampler added before this tick's readings (lifetime, orphan, failed write).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// One per meter, in the state's order: monotonic µs, wall-clock µs, value.
    pub readings: Vec<(u64, i64, Value)>,
}

impl Tick {
    /// The tick that adds `values` (read at `times`) to `state`, before they are added.
    pub fn new(
        state: &SamplerState,
        notes: Vec<String>,
        times: &[Instant],
        values: &[Result<Raw, ReadError>],
    ) -> Self {
        let readings = times
            .iter()
            .zip(values)
            .enumerate()
            .map(|(i, (at, v))| {
                let value = match v {
                    Ok(Raw::Counter(c)) => Value::Counter(*c),
                    Ok(Raw::Watts(w)) => Value::Watts(*w),
                    Err(e)
                        if state
                            .meters
                            .get(i)
                            .is_some_and(|m| m.first_error().is_none()) =>
                    {
                        Value::Error(e.0.clone())
                    }
                    Err(_) => Value::Error(String::new()),
                };
                (at.mono_us, at.wall.0, value)
            })
            .collect();
        Self {
            seq: state.seq + 1,
            updated: state.updated,
            finished: state.finished,
            notes,
            readings,
        }
    }

    /// Adds this tick to `state`, as the sampler did. `false` (and `state` untouched) when the
    /// tick does not follow the state or does not match its meters.
    pub fn apply(self, state: &mut SamplerState) -> bool {
        if self.seq != state.seq + 1 || self.readings.len() != state.meters.len() {
            return false;
        }
        let mut times = Vec::with_capacity(self.readings.len());
        let mut values = Vec::with_capacity(self.readings.len());
        for (mono_us, wall, value) in self.readings {
            times.push(Instant {
                mono_us,
                wall: UnixMicros(wall),
            });
            values.push(match value {
                Value::Counter(c) => Ok(Raw::Counter(c)),
                Value::Watts(w) => Ok(Raw::Watts(w)),
                Value::Error(text) => Err(ReadError(text)),
            });
        }
        state.notes.extend(self.notes);
        let interval = Duration::from_secs_f64(state.interval_s.max(0.0));
        add_readings(
            &mut state.meters,
            &mut state.notes,
            &times,
            &values,
            interval,
        );
        state.seq = self.seq;
        state.updated = self.updated;
        state.finished = self.finished;
        true
    }
}

/// A checkpoint that could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// The state could not be serialised (serde_json's error; none of its fields can fail).
    Serialise(serde_json::Error),
    /// The spool refused a write (read-only, full, or the files were removed): the next tick
    /// tries a whole new base.
    Io(SpoolError),
}

impl WriteError {
    /// The journal or base is gone (the epilog cleaned the job's files up).
    pub fn is_not_found(&self) -> bool {
        matches!(self, WriteError::Io(e) if e.source.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Serialise(e) => write!(f, "cannot serialise the sampler's state: {e}"),
            WriteError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {}

/// What the writer has cost so far (the benchmark reports it per tick).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Ticks written (journal lines and whole bases).
    pub ticks: u64,
    /// Whole bases written at once (the first tick's, and one after each failed write).
    pub bases: u64,
    /// Bases written in parts, one part with each tick's line, into a new segment.
    pub spread_bases: u64,
    /// Bytes handed to the filesystem.
    pub bytes: u64,
    /// The most bytes one tick handed to the filesystem.
    pub max_tick_bytes: u64,
    /// The most bytes one tick wrote after the first tick (a failed write's recovery base
    /// aside): what the per-tick budget bounds.
    pub max_steady_tick_bytes: u64,
    /// Flushes to disk: fsync calls and writes synchronised by O_DSYNC (each as one
    /// fdatasync).
    pub fsyncs: u64,
}

/// A base being written into the current segment a part per tick.
#[derive(Debug)]
struct SpreadBase {
    bytes: Vec<u8>,
    written: usize,
}

/// Writes a sampler's checkpoint tick by tick (see the module docs).
#[derive(Debug)]
pub struct Writer {
    base: PathBuf,
    journals: [PathBuf; 2],
    /// The segment ticks go to: its number, and which of `journals` holds it.
    segment: u64,
    /// Tick bytes in the current segment.
    journal_bytes: u64,
    /// The size of the last base written, whole or spread.
    base_bytes: u64,
    /// See [`MIN_JOURNAL_BYTES`].
    min_journal_bytes: u64,
    /// See [`TICK_BYTES`].
    tick_bytes: usize,
    /// The base being spread over the current segment's ticks, until all of it is written.
    spreading: Option<SpreadBase>,
    /// The next tick writes a whole base: the first one, or the one after a failed write (the
    /// segment may miss a tick or end in a torn line).
    base_next: bool,
    /// The next tick starts a new segment (after a whole base: the old one's tail is stale).
    segment_next: bool,
    /// What writing has cost so far.
    pub stats: WriteStats,
    /// Flush every this many ticks (see [`FLUSH_EVERY`]); 1: every tick.
    flush_every: u32,
    /// Ticks written since the last flush.
    unflushed: u32,
    /// A tick's line, serialised; kept for the next tick's.
    line: Vec<u8>,
    /// What a tick writes (segment header, base part, line); kept for the next tick's.
    out: Vec<u8>,
}

impl Writer {
    /// A writer of `files`' checkpoint and journal; its first tick writes a base.
    pub fn new(files: &JobFiles) -> Self {
        Self {
            base: files.checkpoint.clone(),
            journals: files.journals.clone(),
            segment: 0,
            journal_bytes: 0,
            base_bytes: 0,
            min_journal_bytes: MIN_JOURNAL_BYTES,
            tick_bytes: TICK_BYTES,
            spreading: None,
            base_next: true,
            segment_next: false,
            stats: WriteStats::default(),
            flush_every: 1,
            unflushed: 0,
            line: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Lets the journal grow to `bytes` (rather than [`MIN_JOURNAL_BYTES`]) before a base is
    /// due even when the base is smaller: the tests compact after a few ticks with it.
    pub fn with_min_journal_bytes(mut self, bytes: u64) -> Self {
        self.min_journal_bytes = bytes;
        self
    }

    /// Flushes the journal every `ticks` ticks (at least 1) rather than at every tick: the
    /// sampler gives the ticks of [`FLUSH_EVERY`] at its interval.
    pub fn with_flush_every(mut self, ticks: u32) -> Self {
        self.flush_every = ticks.max(1);
        self
    }

    /// Writes at most `bytes` per tick (rather than [`TICK_BYTES`]) while a base is spread.
    pub fn with_tick_bytes(mut self, bytes: usize) -> Self {
        self.tick_bytes = bytes;
        self
    }

    /// A whole base is due: the next [`Writer::write`] writes the state at once (two
    /// fsyncs). The sampler checks that the job's files are still its own before such a tick.
    pub fn whole_base_next(&self) -> bool {
        self.base_next
    }

    /// Writes `state`, which `tick` (made by [`Tick::new`] and completed) has just been added
    /// to: one journal line, with a part of a base when one is being spread, or a whole base
    /// on the first tick and after a failed write.
    ///
    /// # Errors
    /// The write failed; the state stays in memory and the next tick writes a whole base.
    pub fn write(&mut self, state: &SamplerState, tick: &Tick) -> Result<(), WriteError> {
        let before = self.stats.bytes;
        let first = self.stats.ticks == 0;
        let result = if self.base_next {
            self.write_whole_base(state)
        } else {
            self.append_tick(state, tick)
        };
        self.base_next = result.is_err();
        if result.is_ok() {
            self.stats.ticks += 1;
            let wrote = self.stats.bytes - before;
            self.stats.max_tick_bytes = self.stats.max_tick_bytes.max(wrote);
            if !first && self.stats.bases <= 1 {
                self.stats.max_steady_tick_bytes = self.stats.max_steady_tick_bytes.max(wrote);
            }
        }
        result
    }

    fn write_whole_base(&mut self, state: &SamplerState) -> Result<(), WriteError> {
        let mut bytes = serde_json::to_vec(state).map_err(WriteError::Serialise)?;
        bytes.push(b'\n');
        // Both journals are created before the base is written, so that the base's directory
        // fsync makes their names durable too: later ticks open them without O_CREAT, and so
        // never recreate the files of a job whose epilog has cleaned them up.
        // The first tick also empties them: lines of an earlier sampler of the same job
        // would otherwise be read as newer segments. Later whole bases keep them, since their
        // segments are older than the ones this writer numbers next and the reader skips them.
        let how = if self.stats.ticks == 0 && self.stats.bases == 0 {
            OpenFor::CreateEmpty
        } else {
            OpenFor::Create
        };
        for journal in &self.journals {
            open_journal(journal, how, false)?;
        }
        spool::write_atomic(&self.base, &bytes).map_err(WriteError::Io)?;
        self.stats.bytes += bytes.len() as u64;
        self.stats.fsyncs += 2;
        self.stats.bases += 1;
        self.base_bytes = bytes.len() as u64;
        self.spreading = None;
        self.segment_next = true;
        Ok(())
    }

    /// One tick's write: its line, after a part of the base being spread, into the current
    /// segment, or into a new one when a base is due or after a whole base. One flush (O_DSYNC).
    fn append_tick(&mut self, state: &SamplerState, tick: &Tick) -> Result<(), WriteError> {
        // The two buffers are the writer's, kept between ticks: a tick allocates nothing here.
        let mut line = std::mem::take(&mut self.line);
        let mut out = std::mem::take(&mut self.out);
        line.clear();
        out.clear();
        let result = self.append_into(state, tick, &mut line, &mut out);
        self.line = line;
        self.out = out;
        result
    }

    fn append_into(
        &mut self,
        state: &SamplerState,
        tick: &Tick,
        line: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        serde_json::to_writer(&mut *line, tick).map_err(WriteError::Serialise)?;
        line.push(b'\n');
        let due = self.spreading.is_none()
            && self.journal_bytes + line.len() as u64 > self.base_bytes.max(self.min_journal_bytes);
        let new_segment = self.segment_next || due;
        let (segment, mut spreading) = if new_segment {
            let spread = due.then(|| -> Result<SpreadBase, WriteError> {
                // Compact JSON has no newline (serde_json escapes them in strings): its parts
                // are lines of their own.
                let bytes = serde_json::to_vec(state).map_err(WriteError::Serialise)?;
                Ok(SpreadBase { bytes, written: 0 })
            });
            let spread = spread.transpose()?;
            let len = spread.as_ref().map_or(0, |s| s.bytes.len());
            let segment = self.segment + 1;
            writeln!(out, "S {segment} {len}").expect("writing to a Vec cannot fail");
            (segment, spread)
        } else {
            (self.segment, self.spreading.take())
        };
        if let Some(s) = spreading.as_mut() {
            let room = self
                .tick_bytes
                .saturating_sub(out.len() + line.len() + 3)
                .max(MIN_PART_BYTES);
            let end = (s.written + room).min(s.bytes.len());
            out.extend_from_slice(b"B ");
            out.extend_from_slice(&s.bytes[s.written..end]);
            out.push(b'\n');
            s.written = end;
        }
        out.extend_from_slice(line);
        let path = &self.journals[(segment % 2) as usize];
        let how = if new_segment {
            OpenFor::Truncate
        } else {
            OpenFor::Append
        };
        let flush = new_segment || tick.finished || self.unflushed + 1 >= self.flush_every;
        write_tick(path, how, flush, out)?;
        self.stats.bytes += out.len() as u64;
        if flush {
            self.stats.fsyncs += 1;
            self.unflushed = 0;
        } else {
            self.unflushed += 1;
        }
        if new_segment {
            self.segment = segment;
            self.segment_next = false;
            self.journal_bytes = 0;
            if spreading.is_some() {
                self.stats.spread_bases += 1;
            }
        }
        self.journal_bytes += line.len() as u64;
        match spreading {
            Some(s) if s.written == s.bytes.len() => self.base_bytes = s.bytes.len() as u64,
            other => self.spreading = other,
        }
        Ok(())
    }
}

/// What a tick writes at most while a base is spread over ticks: one page, so that a tick
/// costs one page of writeback however large the state.
pub const TICK_BYTES: usize = 4096;

/// How often the journal is flushed to disk (`O_DSYNC`); the ticks between are written to the
/// page cache only. What a flush protects against is the node itself failing (a kernel panic,
/// a power cut): a sampler that dies, or an epilog that never comes, leaves the page cache
/// intact, and every reader sees each tick as soon as it is written. When the node fails its
/// job fails with it, and a record salvaged after the reboot loses at most this much of the
/// end. A flush is what most of a tick's CPU costs where the spool is on a disk (on this VM's
/// virtio disk, 0.34 ms a reading with a flush per tick against 0.15 ms on tmpfs, `sample_cost`),
/// so a flush a minute keeps the sampler's cost that of a tmpfs spool. A new segment, a whole
/// base and the final tick are always flushed.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A spread base's part is never smaller than this, even when a tick's line alone fills
/// [`TICK_BYTES`] (hundreds of meters): the base must still be written in finite ticks.
const MIN_PART_BYTES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenFor {
    Create,
    CreateEmpty,
    Truncate,
    Append,
}

fn open_journal(path: &Path, how: OpenFor, flush: bool) -> Result<File, WriteError> {
    // A symlink planted at the journal's name is refused, not followed. A flushed tick's
    // write is synchronised by O_DSYNC (the data and the size, as fdatasync does) rather than
    // by an fdatasync after it: the same flush in one system call fewer.
    let flags = if flush {
        libc::O_NOFOLLOW | libc::O_DSYNC
    } else {
        libc::O_NOFOLLOW
    };
    OpenOptions::new()
        .write(true)
        .append(how == OpenFor::Append)
        .truncate(matches!(how, OpenFor::Truncate | OpenFor::CreateEmpty))
        .create(matches!(how, OpenFor::Create | OpenFor::CreateEmpty))
        .mode(0o600)
        .custom_flags(flags)
        .open(path)
        .map_err(|source| {
            WriteError::Io(SpoolError {
                path: path.to_path_buf(),
                action: "open",
                source,
            })
        })
}

/// Opens `path` (never creating it), with O_DSYNC when the tick is to be flushed, and writes
/// `bytes` with one write call, which then returns once they are on disk. The file is closed
/// again: a file held open for
/// writing would keep the spool's filesystem from being remounted read-only (the e2e fault
/// tests do that), and a tick could then write into a journal the epilog has removed, where
/// opening it by name tells the sampler that the job's files are gone. (Open and close cost
/// two of the 11 system calls a tick makes on a node with RAPL, hwmon and a BMC device.)
fn write_tick(path: &Path, how: OpenFor, flush: bool, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = open_journal(path, how, flush)?;
    let at = |action| {
        move |source| {
            WriteError::Io(SpoolError {
                path: path.to_path_buf(),
                action,
                source,
            })
        }
    };
    f.write_all(bytes).map_err(at("append to"))
}

/// One journal segment as read back: its number, its base when every part of it is there,
/// and its ticks up to the first line that does not parse.
#[derive(Debug, Default)]
struct Segment {
    number: u64,
    base: Option<SamplerState>,
    ticks: Vec<Tick>,
}

impl Segment {
    /// Parses a segment file; `None` when it has no header (empty, or torn in its first line).
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut lines = bytes.split(|b| *b == b'\n');
        let header = std::str::from_utf8(lines.next()?).ok()?;
        let mut words = header.strip_prefix("S ")?.split(' ');
        let number = words.next()?.parse().ok()?;
        let base_len: usize = words.next()?.parse().ok()?;
        let mut segment = Segment {
            number,
            ..Segment::default()
        };
        let mut base = Vec::with_capacity(base_len);
        for line in lines.filter(|l| !l.is_empty()) {
            if let Some(part) = line.strip_prefix(b"B ") {
                base.extend_from_slice(part);
                if base.len() == base_len {
                    segment.base = serde_json::from_slice(&base).ok();
                }
                continue;
            }
            let Ok(tick) = serde_json::from_slice::<Tick>(line) else {
                break;
            };
            segment.ticks.push(tick);
        }
        Some(segment)
    }
}

/// Reads a job's checkpoint: the newest complete base, with the ticks written since replayed
/// on it (version 3; version 2: the base and its one journal), or a version 1 checkpoint as
/// it is.
///
/// # Errors
/// No base, or one that is not a sampler state. A missing, torn or stale journal is not an
/// error: the state is what the readable ticks make of the newest base.
pub fn read(files: &JobFiles) -> Result<SamplerState, spool::ReadError> {
    let mut state: SamplerState = read_json(&files.checkpoint)?;
    if state.version < 2 {
        return Ok(state);
    }
    if state.version == 2 {
        let bytes = read_journal(&files.journals[0])?.unwrap_or_default();
        replay(&mut state, parse_ticks(&bytes));
        return Ok(state);
    }
    let mut segments = Vec::with_capacity(2);
    for path in &files.journals {
        if let Some(s) = read_journal(path)?.and_then(|b| Segment::parse(&b)) {
            segments.push(s);
        }
    }
    segments.sort_by_key(|s| s.number);
    for segment in segments {
        if let Some(base) = segment.base
            && base.seq >= state.seq
        {
            state = base;
        }
        replay(&mut state, segment.ticks);
    }
    Ok(state)
}

/// Applies the ticks that follow `state`, passing over those it already holds (written before
/// its base) and stopping at the first that does not follow.
fn replay(state: &mut SamplerState, ticks: impl IntoIterator<Item = Tick>) {
    for tick in ticks {
        if tick.seq <= state.seq {
            continue;
        }
        if !tick.apply(state) {
            break;
        }
    }
}

/// The ticks of a version 2 journal, up to the first line that does not parse.
fn parse_ticks(bytes: &[u8]) -> Vec<Tick> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map_while(|l| serde_json::from_slice(l).ok())
        .collect()
}

fn read_journal(path: &Path) -> Result<Option<Vec<u8>>, spool::ReadError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(spool::ReadError::Io(SpoolError {
            path: path.to_path_buf(),
            action: "read",
            source: e,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulate::MeterAccumulator;
    use crate::source::{CounterUnit, MeterKind, MeterSpec};
    use crate::testutil::TempDir;
    use ea_record::Scope;
    use ea_record::spool::Spool;

    fn spec(id: &str, kind: MeterKind) -> MeterSpec {
        MeterSpec {
            id: id.into(),
            scope: Scope::CpuPackage,
            label: None,
            kind,
            job_owned: None,
            min_plausible_w: 0.0,
            max_plausible_w: 5_000.0,
            flags: vec![],
        }
    }

    fn at(s: u64) -> Instant {
        Instant {
            mono_us: 1_000_000_000 + s * 1_000_000,
            wall: UnixMicros(1_700_000_000_000_000 + s as i64 * 1_000_000),
        }
    }

    fn state() -> SamplerState {
        let counter = MeterKind::Counter {
            unit: CounterUnit::Microjoule,
            max_raw: Some(262_143_328_850),
        };
        let meters = vec![
            MeterAccumulator::new(spec("rapl:0", counter), at(0).mono_us, 1_000_000, 8),
            MeterAccumulator::new(
                spec("ipmi:dcmi", MeterKind::Power),
                at(0).mono_us,
                1_000_000,
                8,
            ),
        ];
        SamplerState {
            version: VERSION,
            job_id: 7,
            node: "n1".into(),
            pid: 1,
            boot_id: Some("b".into()),
            job_start: at(0),
            updated: at(0),
            seq: 0,
            finished: false,
            interval_s: 1.0,
            meters,
            absent: vec![],
            host: Default::default(),
            job_gpu_uuids: vec![],
            notes: vec![],
        }
    }

    /// Readings of tick `i`: a counter at 50 W (an error at tick 3), a power of 100 + i W.
    fn readings(i: u64) -> (Vec<Instant>, Vec<Result<Raw, ReadError>>) {
        let counter = if i == 3 {
            Err(ReadError("EIO on energy_uj".into()))
        } else {
            Ok(Raw::Counter(5_000_000 + i * 50_000_000))
        };
        (
            vec![at(i), at(i)],
            vec![counter, Ok(Raw::Watts(100.0 + i as f64))],
        )
    }

    /// Runs ticks `from..to` as the sampler does: Tick::new, add_readings, write.
    fn run(state: &mut SamplerState, w: &mut Writer, ticks: std::ops::Range<u64>) {
        for i in ticks {
            let (times, values) = readings(i);
            let notes = if i == 5 {
                vec!["a note of the loop".to_string()]
            } else {
                vec![]
            };
            state.notes.extend(notes.iter().cloned());
            let mut tick = Tick::new(state, notes, &times, &values);
            add_readings(
                &mut state.meters,
                &mut state.notes,
                &times,
                &values,
                Duration::from_secs(1),
            );
            state.seq += 1;
            state.updated = at(i);
            state.finished = i == 19;
            tick.updated = state.updated;
            tick.finished = state.finished;
            w.write(state, &tick).unwrap();
        }
    }

    fn files(dir: &TempDir) -> JobFiles {
        let spool = Spool::new(dir.path());
        spool.ensure_node("n1").unwrap();
        JobFiles::new(&spool, 7, "n1")
    }

    /// Runs ticks `from..to` as the sampler does and keeps the state after each in `history`
    /// (index = seq), with the journals' bytes after it in `disk`.
    fn run_keeping(
        state: &mut SamplerState,
        w: &mut Writer,
        ticks: std::ops::Range<u64>,
        files: &JobFiles,
        history: &mut Vec<SamplerState>,
        disk: &mut Vec<[Vec<u8>; 2]>,
    ) {
        for i in ticks {
            run(state, w, i..i + 1);
            history.push(state.clone());
            disk.push(
                files
                    .journals
                    .clone()
                    .map(|p| std::fs::read(p).unwrap_or_default()),
            );
        }
    }

    #[test]
    fn the_journal_is_flushed_every_n_ticks_and_on_the_final_one_yet_read_at_every_tick() {
        let dir = TempDir::new("ckpt-flush");
        let files = files(&dir);
        let mut s = state();
        // Segments never turn over here: every flush comes from the cadence or the end.
        let mut w = Writer::new(&files)
            .with_min_journal_bytes(1 << 30)
            .with_flush_every(6);
        for i in 0..20 {
            run(&mut s, &mut w, i..i + 1);
            // Unflushed ticks are in the page cache: a reader (the epilog, a salvage) sees them.
            assert_eq!(read(&files).unwrap(), s, "after tick {i}");
        }
        assert!(s.finished, "tick 19 is the final one");
        let st = w.stats;
        // Tick 0: the whole base (2). Tick 1 starts the first segment (1). Then ticks 2..=18
        // flush every sixth (7, 13) and tick 19, the final one, flushes whatever the count.
        assert_eq!((st.ticks, st.bases), (20, 1), "{st:?}");
        assert_eq!(st.fsyncs, 2 + 1 + 2 + 1, "{st:?}");
    }

    #[test]
    fn ticks_in_a_flush_span() {
        use crate::sampler::ticks_in;
        assert_eq!(ticks_in(FLUSH_EVERY, Duration::from_secs(10)), 6);
        assert_eq!(ticks_in(FLUSH_EVERY, Duration::from_millis(100)), 600);
        assert_eq!(
            ticks_in(FLUSH_EVERY, Duration::from_secs(600)),
            1,
            "at least every tick"
        );
    }

    #[test]
    fn a_reader_sees_the_samplers_state_tick_after_tick_through_spread_bases() {
        let dir = TempDir::new("ckpt");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files)
            .with_min_journal_bytes(1_000)
            .with_tick_bytes(900);
        for i in 0..60 {
            run(&mut s, &mut w, i..i + 1);
            assert_eq!(read(&files).unwrap(), s, "after tick {i}");
        }
        assert!(s.finished || s.seq == 60);
        assert!(s.notes.iter().any(|n| n == "a note of the loop"));
        assert!(
            s.notes.iter().any(|n| n.contains("EIO on energy_uj")),
            "{:?}",
            s.notes
        );
        let st = w.stats;
        // Only the first tick wrote a whole base (two fsyncs); every other tick one write of
        // at most the budget and one fdatasync, the bases that followed in parts.
        assert_eq!((st.ticks, st.bases), (60, 1), "{st:?}");
        assert!(st.spread_bases >= 3, "{st:?}");
        assert_eq!(st.fsyncs, 2 + 59);
        assert!(st.max_steady_tick_bytes <= 900, "{st:?}");
        assert!(
            st.bytes - st.max_tick_bytes > 3 * 900 * st.spread_bases / 2,
            "the bases are larger than a tick's budget: {st:?}"
        );
        // A meter failing every tick would not write its message again: only the first is kept.
        for journal in &files.journals {
            let text = std::fs::read_to_string(journal).unwrap();
            let ticks = text.lines().filter(|l| l.starts_with('{'));
            assert!(ticks.filter(|l| l.contains("EIO")).count() <= 1, "{text}");
        }
    }

    #[test]
    fn a_crash_anywhere_in_a_ticks_write_leaves_the_state_before_it_or_after_it() {
        let dir = TempDir::new("ckpt-crash");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files)
            .with_min_journal_bytes(800)
            .with_tick_bytes(600);
        let (mut history, mut disk) = (vec![], vec![]);
        run_keeping(&mut s, &mut w, 0..40, &files, &mut history, &mut disk);
        assert!(w.stats.spread_bases >= 3, "{:?}", w.stats);
        for t in 1..history.len() {
            // The journal tick t wrote to, and what it held before (nothing when t began it).
            let which = (0..2).find(|&j| disk[t][j] != disk[t - 1][j]).unwrap();
            let after = &disk[t][which];
            let before = if after.starts_with(&disk[t - 1][which]) {
                disk[t - 1][which].len()
            } else {
                0
            };
            let other = 1 - which;
            std::fs::write(&files.journals[other], &disk[t][other]).unwrap();
            // Short of the line's final newline only, the tick is whole and may be read.
            let cuts = (before..after.len() - 1)
                .step_by(37)
                .chain([after.len() - 2]);
            for cut in cuts {
                std::fs::write(&files.journals[which], &after[..cut]).unwrap();
                assert_eq!(
                    read(&files).unwrap(),
                    history[t - 1],
                    "tick {t} cut at {cut} of {}..{}",
                    before,
                    after.len()
                );
            }
            std::fs::write(&files.journals[which], after).unwrap();
            assert_eq!(read(&files).unwrap(), history[t], "tick {t} whole");
        }
    }

    #[test]
    fn a_gap_ends_the_replay_until_a_complete_base_follows() {
        let dir = TempDir::new("ckpt-gap");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        let (mut history, mut disk) = (vec![], vec![]);
        run_keeping(&mut s, &mut w, 0..8, &files, &mut history, &mut disk);
        // Segment 1 (journal .1) holds ticks 2..=8 after its header; drop tick 5's line.
        let text = std::fs::read_to_string(&files.journals[1]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("S 1 0"), "{text}");
        let gap: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 4)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        std::fs::write(&files.journals[1], gap).unwrap();
        assert_eq!(read(&files).unwrap(), history[3], "ticks 1..=4 stand");
        // No journal at all: the first base alone.
        std::fs::remove_file(&files.journals[1]).unwrap();
        assert_eq!(read(&files).unwrap(), history[0]);
    }

    #[test]
    fn an_earlier_samplers_journals_are_emptied_by_the_first_tick() {
        let dir = TempDir::new("ckpt-stale");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        run(&mut s, &mut w, 0..6);
        let stale = files.journals.clone().map(|p| std::fs::read(p).unwrap());
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        for (p, b) in files.journals.iter().zip(&stale) {
            std::fs::write(p, b).unwrap();
        }
        run(&mut s, &mut w, 0..2);
        assert_eq!(read(&files).unwrap(), s);
        assert_eq!(s.seq, 2);
    }

    #[test]
    fn a_failed_write_makes_the_next_one_a_whole_base() {
        let dir = TempDir::new("ckpt-fail");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files)
            .with_min_journal_bytes(1_000)
            .with_tick_bytes(600);
        run(&mut s, &mut w, 0..3);
        assert_eq!(w.stats.bases, 1);
        // The current journal's name taken by a directory: the append fails.
        let current = &files.journals[1];
        std::fs::remove_file(current).unwrap();
        std::fs::create_dir(current).unwrap();
        let (times, values) = readings(3);
        let mut tick = Tick::new(&s, vec![], &times, &values);
        add_readings(
            &mut s.meters,
            &mut s.notes,
            &times,
            &values,
            Duration::from_secs(1),
        );
        s.seq += 1;
        tick.updated = s.updated;
        assert!(!w.whole_base_next());
        let e = w.write(&s, &tick).unwrap_err();
        assert!(e.to_string().contains("sampler.journal.1"), "{e}");
        assert!(w.whole_base_next() && !e.is_not_found());
        std::fs::remove_dir(current).unwrap();
        // Tick 3 never reached the disk; tick 4 is written as a whole base that holds it, and
        // the ticks after it go on through spread bases.
        run(&mut s, &mut w, 4..30);
        assert_eq!(w.stats.bases, 2);
        assert!(w.stats.spread_bases >= 2, "{:?}", w.stats);
        assert_eq!(read(&files).unwrap(), s);
    }

    #[test]
    fn a_removed_journal_is_not_recreated_by_a_tick() {
        let dir = TempDir::new("ckpt-gone");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        run(&mut s, &mut w, 0..3);
        for p in files.all() {
            let _ = std::fs::remove_file(p);
        }
        let (times, values) = readings(3);
        let tick = Tick::new(&s, vec![], &times, &values);
        let e = w.write(&s, &tick).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(files.all().iter().all(|p| !p.exists()));
    }

    #[test]
    fn version_2_checkpoints_are_still_read() {
        // Version 2: a compact base and one journal of ticks, no segment header.
        let dir = TempDir::new("ckpt-v2");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        run(&mut s, &mut w, 0..1);
        let mut base = s.clone();
        run(&mut s, &mut w, 1..6);
        base.version = 2;
        s.version = 2;
        let segment = std::fs::read_to_string(&files.journals[1]).unwrap();
        let ticks: String = segment.lines().skip(1).map(|l| format!("{l}\n")).collect();
        std::fs::write(&files.checkpoint, serde_json::to_vec(&base).unwrap()).unwrap();
        std::fs::write(&files.journals[0], ticks).unwrap();
        std::fs::remove_file(&files.journals[1]).unwrap();
        assert_eq!(read(&files).unwrap(), s);
    }

    #[test]
    fn a_version_1_checkpoint_is_still_read() {
        // Version 1: the whole state, pretty, each series' floats as arrays of numbers.
        let dir = TempDir::new("ckpt-v1");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files);
        run(&mut s, &mut w, 0..4);
        s.version = 1;
        let mut v = serde_json::to_value(&s).unwrap();
        for (m, acc) in v["meters"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(&s.meters)
        {
            let series = acc.report(None).series.unwrap();
            assert!(!series.watts.is_empty());
            for key in ["energy_j", "time_s"] {
                let text = m["series"][key].as_str().unwrap();
                let bytes = ea_record::base64::decode(text).unwrap();
                let floats: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                m["series"][key] = serde_json::json!(floats);
            }
        }
        std::fs::write(&files.checkpoint, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        // A journal beside a version 1 base is not its own: left unread.
        std::fs::write(&files.journals[0], b"{\"seq\":5}\n").unwrap();
        assert_eq!(read(&files).unwrap(), s);
    }
}
