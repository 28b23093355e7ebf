//! The sampler's checkpoint on disk: a compact base state and an append-only journal of the
//! readings taken since.
//!
//! Why not the whole state every interval: with every meter's power series full (720 points
//! each), a [`SamplerState`] is about 100 KB of pretty JSON, and writing it atomically costs a
//! temporary file, two fsyncs (file and directory) and a third of a millisecond of CPU, every
//! ten seconds, on every node, for weeks. The state only changes by the readings of one tick,
//! so a tick appends those readings (a few hundred bytes of JSON, one line) to the journal and
//! `fdatasync`s it: one fsync. Every reader replays the journal's lines on the base through
//! the same code the sampler ran ([`crate::sampler::add_readings`]), so it sees exactly the
//! sampler's state. When the journal has grown as large as the base (and at least
//! [`MIN_JOURNAL_BYTES`]), the next tick writes the whole state as the new base instead
//! (compact JSON, series in base64) and empties the journal: the bytes written per tick stay
//! about twice one journal line on average, and a reader never replays more than a base's worth.
//!
//! ```text
//! running/job-<id>.<node>.sampler.json      the base: a SamplerState, version 2 (compact)
//! running/job-<id>.<node>.sampler.journal   one Tick per line, seq base.seq+1, +2, ...
//! ```
//!
//! Versions: a base of version 1 (pretty JSON, series as arrays of numbers, no journal) comes
//! from a sampler started before an upgrade and is read as it is. A journal line that does not
//! parse (a tick torn by a crash or a full disk), whose seq does not follow, or whose readings
//! do not match the meters ends the replay: what came before it stands.
//!
//! The journal is opened and closed on every tick, never held open: a held file would keep
//! the spool's filesystem from being remounted read-only (the e2e fault tests do that).

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

/// The checkpoint's layout version, in [`SamplerState::version`]: 2 is base + journal.
pub const VERSION: u32 = 2;

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
    /// The spool refused a write (read-only, full): the next tick tries a whole new base.
    Io(SpoolError),
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
    /// Ticks written (journal lines and bases).
    pub ticks: u64,
    /// Bases written (the first tick's included).
    pub bases: u64,
    /// Bytes handed to the filesystem.
    pub bytes: u64,
    /// fsync and fdatasync calls.
    pub fsyncs: u64,
}

/// Writes a sampler's checkpoint tick by tick (see the module docs).
#[derive(Debug)]
pub struct Writer {
    base: PathBuf,
    journal: PathBuf,
    base_bytes: u64,
    journal_bytes: u64,
    /// See [`MIN_JOURNAL_BYTES`].
    min_journal_bytes: u64,
    /// The next tick writes a base: the first one, or the one after a failed write (the
    /// journal may miss a tick or end in a torn line).
    base_next: bool,
    /// What writing has cost so far.
    pub stats: WriteStats,
}

impl Writer {
    /// A writer of `files`' checkpoint and journal; its first tick writes a base.
    pub fn new(files: &JobFiles) -> Self {
        Self {
            base: files.checkpoint.clone(),
            journal: files.journal.clone(),
            base_bytes: 0,
            journal_bytes: 0,
            min_journal_bytes: MIN_JOURNAL_BYTES,
            base_next: true,
            stats: WriteStats::default(),
        }
    }

    /// Lets the journal grow to `bytes` (rather than [`MIN_JOURNAL_BYTES`]) before a base is
    /// due even when the base is smaller: the tests compact after a few ticks with it.
    pub fn with_min_journal_bytes(mut self, bytes: u64) -> Self {
        self.min_journal_bytes = bytes;
        self
    }

    /// Writes `state`, which `tick` (made by [`Tick::new`] and completed) has just been added
    /// to: one journal line, or a whole new base when the journal is due for compaction.
    ///
    /// # Errors
    /// The write failed; the state stays in memory and the next tick writes a new base.
    pub fn write(&mut self, state: &SamplerState, tick: &Tick) -> Result<(), WriteError> {
        let mut line = serde_json::to_vec(tick).map_err(WriteError::Serialise)?;
        line.push(b'\n');
        let due =
            self.journal_bytes + line.len() as u64 > self.base_bytes.max(self.min_journal_bytes);
        let result = if self.base_next || due {
            self.write_base(state)
        } else {
            self.append(&line)
        };
        self.base_next = result.is_err();
        if result.is_ok() {
            self.stats.ticks += 1;
        }
        result
    }

    fn write_base(&mut self, state: &SamplerState) -> Result<(), WriteError> {
        let mut bytes = serde_json::to_vec(state).map_err(WriteError::Serialise)?;
        bytes.push(b'\n');
        // Created before the base is written, so that the base's directory fsync makes its
        // name durable too; emptied only after the base is, so that a crash between the two
        // leaves lines the reader skips (their seq is not after the new base's), never a base
        // without the lines it needs.
        let journal = open_journal(&self.journal, false)?;
        spool::write_atomic(&self.base, &bytes).map_err(WriteError::Io)?;
        self.stats.bytes += bytes.len() as u64;
        self.stats.fsyncs += 2;
        self.stats.bases += 1;
        self.base_bytes = bytes.len() as u64;
        self.journal_bytes = 0;
        // Not synced: stale lines are skipped, and the next append's fdatasync carries the size.
        let _ = journal.set_len(0);
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> Result<(), WriteError> {
        let mut f = open_journal(&self.journal, true)?;
        let at = |action| {
            let path = self.journal.clone();
            move |source| {
                WriteError::Io(SpoolError {
                    path,
                    action,
                    source,
                })
            }
        };
        f.write_all(line).map_err(at("append to"))?;
        self.stats.bytes += line.len() as u64;
        f.sync_data().map_err(at("flush to disk"))?;
        self.stats.fsyncs += 1;
        self.journal_bytes += line.len() as u64;
        Ok(())
    }
}

fn open_journal(path: &Path, append: bool) -> Result<File, WriteError> {
    OpenOptions::new()
        .write(true)
        .append(append)
        .create(true)
        .mode(0o600)
        // A symlink planted at the journal's name is refused, not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| {
            WriteError::Io(SpoolError {
                path: path.to_path_buf(),
                action: "open",
                source,
            })
        })
}

/// Reads a job's checkpoint: the base, with the journal's ticks replayed on it (version 2),
/// or a version 1 checkpoint as it is.
///
/// # Errors
/// No base, or one that is not a sampler state. A missing, torn or stale journal is not an
/// error: the state is what the readable ticks make of the base.
pub fn read(files: &JobFiles) -> Result<SamplerState, spool::ReadError> {
    let mut state: SamplerState = read_json(&files.checkpoint)?;
    if state.version < VERSION {
        return Ok(state);
    }
    let bytes = match std::fs::read(&files.journal) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(state),
        Err(e) => {
            return Err(spool::ReadError::Io(SpoolError {
                path: files.journal.clone(),
                action: "read",
                source: e,
            }));
        }
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(tick) = serde_json::from_slice::<Tick>(line) else {
            break;
        };
        if tick.seq <= state.seq {
            continue; // written before the base: emptying the journal was not yet durable
        }
        if !tick.apply(&mut state) {
            break;
        }
    }
    Ok(state)
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

    #[test]
    fn a_reader_sees_the_samplers_state_tick_after_tick_through_compactions() {
        let dir = TempDir::new("ckpt");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1_000);
        for i in 0..20 {
            run(&mut s, &mut w, i..i + 1);
            assert_eq!(read(&files).unwrap(), s, "after tick {i}");
        }
        assert!(s.finished && s.notes.iter().any(|n| n == "a note of the loop"));
        assert!(
            s.notes.iter().any(|n| n.contains("EIO on energy_uj")),
            "{:?}",
            s.notes
        );
        // The first tick and each compaction wrote a base; every other tick one line and one
        // fsync, a line being far below a page.
        let st = w.stats;
        assert!(st.bases >= 2 && st.bases < 10, "{st:?}");
        assert_eq!(st.ticks, 20);
        assert_eq!(st.fsyncs, 2 * st.bases + (20 - st.bases));
        let journal = std::fs::read_to_string(&files.journal).unwrap();
        assert!(journal.lines().all(|l| l.len() < 1_000), "{journal}");
        // A meter failing every tick would not write its message again: only the first is kept.
        assert!(!journal.contains("EIO") || journal.matches("EIO").count() == 1);
    }

    #[test]
    fn a_torn_or_stale_journal_ends_the_replay_where_it_stops_making_sense() {
        let dir = TempDir::new("ckpt-torn");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        run(&mut s, &mut w, 0..6);
        let after_six = s.clone();
        run(&mut s, &mut w, 6..8);
        let full = std::fs::read(&files.journal).unwrap();
        // A crash in the middle of tick 8's line: ticks up to 7 stand.
        let mut torn = full.clone();
        torn.extend_from_slice(b"{\"seq\":9,\"upd");
        std::fs::write(&files.journal, &torn).unwrap();
        assert_eq!(read(&files).unwrap(), s);
        // Only the lines of ticks 2..=6 are kept (the first tick was the base): a gap after 6.
        let lines: Vec<&[u8]> = full
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut gap = lines[..5].join(&b'\n');
        gap.push(b'\n');
        gap.extend_from_slice(lines[6]);
        std::fs::write(&files.journal, &gap).unwrap();
        assert_eq!(read(&files).unwrap(), after_six);
        // Lines from before the base (an emptying that did not last) are passed over.
        let mut w = Writer::new(&files);
        let (times, values) = readings(8);
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
        w.write(&s, &tick).unwrap(); // a base: the writer's first
        std::fs::write(&files.journal, &full).unwrap();
        assert_eq!(read(&files).unwrap(), s);
        // No journal at all: the base alone.
        std::fs::remove_file(&files.journal).unwrap();
        assert_eq!(read(&files).unwrap(), s);
    }

    #[test]
    fn a_failed_write_makes_the_next_one_a_whole_base() {
        let dir = TempDir::new("ckpt-fail");
        let files = files(&dir);
        let mut s = state();
        let mut w = Writer::new(&files).with_min_journal_bytes(1 << 20);
        run(&mut s, &mut w, 0..3);
        assert_eq!(w.stats.bases, 1);
        // The journal's name taken by a directory: the append fails.
        std::fs::remove_file(&files.journal).unwrap();
        std::fs::create_dir(&files.journal).unwrap();
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
        let e = w.write(&s, &tick).unwrap_err();
        assert!(e.to_string().contains("sampler.journal"), "{e}");
        std::fs::remove_dir(&files.journal).unwrap();
        // Tick 3 never reached the disk; tick 4 is written as a base that holds it.
        run(&mut s, &mut w, 4..5);
        assert_eq!(w.stats.bases, 2);
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
        std::fs::write(&files.journal, b"{\"seq\":5}\n").unwrap();
        assert_eq!(read(&files).unwrap(), s);
    }
}
