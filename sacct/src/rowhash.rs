//! How a job row and its steps are stored, and the hash that notices they changed: the
//! content hash of a row ([`job_hash`], over every stored field, with [`Fnv`]), the compact
//! JSON array each step is stored as ([`encode_step`], [`encode_steps`]) and its reading back
//! ([`decode_steps_rows`]).
//!
//! These belong to the row types ([`JobRow`], [`StepRow`]), not to the database: the text
//! parser encodes each step and hashes each job while it reads them (one pass over a month's
//! dump), and the store (`ea-store`) writes what they give.

use crate::{JobRow, StepRow};

/// A stable 64-bit hash for change detection: stored, so it must not change across builds
/// or platforms (unlike `std`'s hasher). It mixes 8 bytes at a time (multiply and rotate, as
/// FxHash does); it is not meant to resist crafted collisions, only to notice that a row
/// changed.
///
/// The workspace's one in-house hasher (maps use `rustc-hash`, digests `sha2`), kept for two
/// reasons:
/// - **the stored format**: every stored job row and node record carries its value, so another
///   hash would need a schema version and a migration re-hashing every row, for no gain in
///   what the hash is for (`rustc-hash` does not promise a stable output across versions, so
///   it cannot take this place);
/// - **cost per row**: `benches/rowhash.rs` (`cargo bench -p ea-sacct --bench rowhash`) hashes
///   the allocation rows of `ea-synth`'s month, 1,000,000 rows, with [`job_hash`] and with
///   SHA-256 (`sha2`, using the CPU's SHA extensions) fed the same fields. On the 2-core AMD
///   EPYC dev machine: reading the fields alone 188 ns/row, `Fnv` 306 ns/row, SHA-256
///   656 ns/row, i.e. about 120 ns of hashing against 470 (4 times as much; 2.1 times the whole
///   pass). SHA-256 would add about 0.35 s of CPU to each million-row ingest, more on CPUs
///   without SHA extensions.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Fnv {
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
    /// Mixes in bytes, their length with them (so that `"ab","c"` and `"a","bc"` differ).
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        // The last 0 to 7 bytes, little-endian, as `u64::from_le_bytes` of them zero-padded
        // would give (without a call to memcpy for each field of each row).
        let last = chunks
            .remainder()
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
        self.word(last ^ ((b.len() as u64) << 56));
        self
    }
    /// Mixes in a text field; `None` differs from the empty string.
    pub fn str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.bytes(s.as_bytes()),
            None => {
                self.word(0x00ff_00ff_00ff_00ff);
                self
            }
        }
    }
    /// Mixes in an integer field; `None` differs from every value.
    pub fn int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.word(v as u64 ^ 0x5555),
            None => self.word(0x00ff_00ff_00ff_00ff),
        }
        self
    }
    /// Mixes in a float field by its bits (`-0.0` and `0.0` differ).
    pub fn float(&mut self, v: Option<f64>) -> &mut Self {
        self.int(v.map(|x| x.to_bits() as i64))
    }
    /// The hash, as SQLite's signed integer.
    pub fn finish(&self) -> i64 {
        self.0 as i64
    }
}

/// The content hash of a job row (every stored field).
pub fn job_hash(j: &JobRow) -> i64 {
    let mut h = Fnv::default();
    h.str(j.cluster.as_deref())
        .str(Some(&j.job_id))
        .int(j.job_id_raw.map(|v| v as i64));
    h.int(j.array_job_id.map(|v| v as i64))
        .str(j.array_task.as_deref())
        .str(j.name.as_deref());
    h.str(j.user.as_deref())
        .int(j.uid.map(i64::from))
        .str(j.group.as_deref())
        .int(j.gid.map(i64::from));
    h.str(j.account.as_deref())
        .str(j.partition.as_deref())
        .str(j.qos.as_deref());
    h.str(Some(&j.state))
        .str(Some(&j.state_raw))
        .str(j.exit_code.as_deref());
    h.int(j.submit)
        .int(j.eligible)
        .int(j.start)
        .int(j.end)
        .int(j.elapsed_s)
        .int(j.timelimit_s);
    h.int(j.nnodes.map(i64::from))
        .int(j.ncpus.map(i64::from))
        .str(j.node_list.as_deref());
    h.float(j.req_mem_mb)
        .str(j.alloc_tres.as_deref())
        .int(j.gpus.map(i64::from));
    h.float(j.total_cpu_s)
        .float(j.cpu_time_s)
        .float(j.consumed_energy_j)
        .str(j.work_dir.as_deref());
    h.int(Some(i64::from(j.is_final())));
    h.finish()
}

/// The content hash of a job row with its stored steps.
pub fn job_hash_with_steps(j: &JobRow, steps: Option<&str>) -> i64 {
    combine_hash(job_hash(j), steps)
}

/// [`job_hash_with_steps`] from the job's own [`job_hash`].
pub fn combine_hash(job_hash: i64, steps: Option<&str>) -> i64 {
    let mut h = Fnv::default();
    h.int(Some(job_hash)).str(steps);
    h.finish()
}

/// One step's fields, as stored (borrowed from wherever they were read).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepFields<'a> {
    /// See [`StepRow::step`].
    pub step: &'a str,
    /// See [`StepRow::name`].
    pub name: Option<&'a str>,
    /// The state as written.
    pub state_raw: &'a str,
    /// See [`StepRow::exit_code`].
    pub exit_code: Option<&'a str>,
    /// See [`StepRow::start`].
    pub start: Option<i64>,
    /// See [`StepRow::end`].
    pub end: Option<i64>,
    /// See [`StepRow::elapsed_s`].
    pub elapsed_s: Option<i64>,
    /// See [`StepRow::nnodes`].
    pub nnodes: Option<u32>,
    /// See [`StepRow::ncpus`].
    pub ncpus: Option<u32>,
    /// See [`StepRow::ntasks`].
    pub ntasks: Option<u32>,
    /// See [`StepRow::node_list`].
    pub node_list: Option<&'a str>,
    /// See [`StepRow::total_cpu_s`].
    pub total_cpu_s: Option<f64>,
    /// See [`StepRow::consumed_energy_j`].
    pub consumed_energy_j: Option<f64>,
    /// See [`StepRow::alloc_tres`].
    pub alloc_tres: Option<&'a str>,
}

impl<'a> StepFields<'a> {
    /// The fields of a parsed step, borrowed, to encode it as a text line's step is.
    pub fn of(s: &'a StepRow) -> Self {
        Self {
            step: &s.step,
            name: s.name.as_deref(),
            state_raw: &s.state_raw,
            exit_code: s.exit_code.as_deref(),
            start: s.start,
            end: s.end,
            elapsed_s: s.elapsed_s,
            nnodes: s.nnodes,
            ncpus: s.ncpus,
            ntasks: s.ntasks,
            node_list: s.node_list.as_deref(),
            total_cpu_s: s.total_cpu_s,
            consumed_energy_j: s.consumed_energy_j,
            alloc_tres: s.alloc_tres.as_deref(),
        }
    }
}

/// One step as stored: a JSON array `[step, name, state as written, exit code, start, end,
/// elapsed s, nodes, cpus, tasks, node list, TotalCPU s, energy J, AllocTRES]`, an element of
/// the job's steps column (see [`encode_steps`]). Written by hand, byte for byte as serde_json
/// writes the same tuple (a test holds it to that): a month has two million steps, and
/// serde's general path was a tenth of the dump's parsing.
pub fn encode_step(s: &StepFields<'_>) -> String {
    let mut out = Vec::with_capacity(160);
    out.push(b'[');
    json_str(&mut out, Some(s.step));
    out.push(b',');
    json_str(&mut out, s.name);
    out.push(b',');
    json_str(&mut out, Some(s.state_raw));
    out.push(b',');
    json_str(&mut out, s.exit_code);
    for v in [s.start, s.end, s.elapsed_s] {
        out.push(b',');
        json_int(&mut out, v);
    }
    for v in [s.nnodes, s.ncpus, s.ntasks] {
        out.push(b',');
        json_int(&mut out, v.map(i64::from));
    }
    out.push(b',');
    json_str(&mut out, s.node_list);
    for v in [s.total_cpu_s, s.consumed_energy_j] {
        out.push(b',');
        json_float(&mut out, v);
    }
    out.push(b',');
    json_str(&mut out, s.alloc_tres);
    out.push(b']');
    String::from_utf8(out).expect("JSON of UTF-8 strings is UTF-8")
}

/// A JSON string (or `null`): as is when nothing in it needs escaping, else as serde_json
/// escapes it.
fn json_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(t) if !t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') => {
            out.push(b'"');
            out.extend_from_slice(t.as_bytes());
            out.push(b'"');
        }
        Some(t) => serde_json::to_writer(out, t).expect("a string is JSON"),
    }
}

fn json_int(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
    }
}

/// A number as serde_json writes an `f64` (`null` when not finite).
fn json_float(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        None => out.extend_from_slice(b"null"),
        Some(f) => serde_json::to_writer(out, &f).expect("a float is JSON"),
    }
}

/// A job's steps as stored: a JSON array of [`encode_step`] arrays; `None` without steps.
pub fn encode_steps(steps: &[StepRow]) -> Option<String> {
    if steps.is_empty() {
        return None;
    }
    let parts: Vec<String> = steps
        .iter()
        .map(|s| encode_step(&StepFields::of(s)))
        .collect();
    Some(format!("[{}]", parts.join(",")))
}

type StepTuple = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);

/// Decodes the stored steps column into step rows (see [`encode_steps`]). A column that
/// does not decode gives no steps.
pub fn decode_steps_rows(text: &str) -> Vec<crate::StepRow> {
    let rows: Vec<StepTuple> = serde_json::from_str(text).unwrap_or_default();
    rows.into_iter()
        .map(|t| crate::StepRow {
            cluster: None,
            job_id: String::new(),
            step: t.0,
            name: t.1,
            state: crate::fields::normalise_state(&t.2),
            state_raw: t.2,
            exit_code: t.3,
            start: t.4,
            end: t.5,
            elapsed_s: t.6,
            nnodes: t.7,
            ncpus: t.8,
            ntasks: t.9,
            node_list: t.10,
            total_cpu_s: t.11,
            consumed_energy_j: t.12,
            alloc_tres: t.13,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_encoded_as_serde_json_encodes_their_tuple() {
        fn by_serde(s: &StepFields<'_>) -> String {
            serde_json::to_string(&(
                s.step,
                s.name,
                s.state_raw,
                s.exit_code,
                s.start,
                s.end,
                s.elapsed_s,
                s.nnodes,
                s.ncpus,
                s.ntasks,
                s.node_list,
                s.total_cpu_s,
                s.consumed_energy_j,
                s.alloc_tres,
            ))
            .unwrap()
        }
        let texts = [
            "batch",
            "",
            "a \"quoted\" name",
            "back\\slash",
            "tab\there",
            "nl\nx",
            "\u{1}\u{1f}",
            "é ü 名前",
            "\u{7f}del",
            "0:15",
        ];
        let floats = [
            0.0,
            -0.0,
            1.5,
            37475.0,
            1e21,
            1e-7,
            123456789.123,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
        ];
        let ints = [0i64, -1, 42, i64::MAX, i64::MIN, 1_794_942_543];
        let mut n = 0;
        for (a, t) in texts.iter().enumerate() {
            for (b, f) in floats.iter().enumerate() {
                let i = ints[(a + b) % ints.len()];
                let s = StepFields {
                    step: t,
                    name: (b % 3 != 0).then_some(*t),
                    state_raw: texts[(a + 1) % texts.len()],
                    exit_code: (a % 2 == 0).then_some("1:0"),
                    start: Some(i),
                    end: (b % 2 == 0).then_some(i / 3),
                    elapsed_s: None,
                    nnodes: Some(b as u32),
                    ncpus: (a % 2 == 1).then_some(u32::MAX),
                    ntasks: None,
                    node_list: Some(texts[(a + b) % texts.len()]),
                    total_cpu_s: Some(*f),
                    consumed_energy_j: (b % 2 == 1).then_some(-f),
                    alloc_tres: (a % 3 == 0).then_some("cpu=11,mem=45056M,node=1"),
                };
                assert_eq!(encode_step(&s), by_serde(&s), "{s:?}");
                n += 1;
            }
        }
        assert_eq!(n, texts.len() * floats.len());
    }

    #[test]
    fn hash_is_stable_and_tells_fields_apart() {
        // Stored hashes must not change between builds: pin values (a whole word and a
        // remainder; a short string and an integer).
        assert_eq!(
            Fnv::default().bytes(b"abcdefghij").finish() as u64,
            12_879_102_565_085_364_914
        );
        assert_eq!(
            Fnv::default().str(Some("job")).int(Some(7)).finish() as u64,
            PINNED
        );
        let a = Fnv::default().str(Some("x")).int(None).finish();
        let b = Fnv::default().str(None).str(Some("x")).finish();
        assert_ne!(a, b);
        assert_ne!(
            Fnv::default().str(Some("ab")).str(Some("c")).finish(),
            Fnv::default().str(Some("a")).str(Some("bc")).finish()
        );
    }

    const PINNED: u64 = 7_787_211_237_140_464_435;
}
