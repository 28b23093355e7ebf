//! Readers for the values inside sacct fields: job ids, states, memory sizes, TRES strings,
//! energies with unit suffixes. Pure functions, text in and value out, so that real dumps are
//! their test inputs.

/// A JobID as sacct writes it, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobIdText {
    /// The job part without the step: `123`, `123_4`, `123_[1-3]`, `123+1`.
    pub job: String,
    /// The step, if any: everything after the first dot (`0`, `batch`, `extern`).
    pub step: Option<String>,
    /// For array jobs: the array's master id and this task (`4`, or `[1-3]` for tasks still
    /// pending as one record).
    pub array_job_id: Option<u64>,
    /// The array task, for array jobs (see `array_job_id`).
    pub array_task: Option<String>,
    /// The leading number: the job id for plain jobs, the array master id for array tasks,
    /// the het leader for het components.
    pub base: u64,
}

/// A JobID's parts, borrowed from the text (see [`JobIdText`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobIdParts<'a> {
    /// See [`JobIdText::job`].
    pub job: &'a str,
    /// See [`JobIdText::step`].
    pub step: Option<&'a str>,
    /// See [`JobIdText::array_job_id`].
    pub array_job_id: Option<u64>,
    /// See [`JobIdText::array_task`].
    pub array_task: Option<&'a str>,
    /// See [`JobIdText::base`].
    pub base: u64,
}

/// Reads a JobID such as `123`, `123.batch`, `123_4.0`, `123_[1-3]` or `123+1.0`.
///
/// # Errors
/// Text that does not start with a job number.
pub fn parse_job_id(s: &str) -> Result<JobIdText, JobIdError> {
    let p = parse_job_id_parts(s)?;
    Ok(JobIdText {
        job: p.job.to_string(),
        step: p.step.map(str::to_string),
        array_job_id: p.array_job_id,
        array_task: p.array_task.map(str::to_string),
        base: p.base,
    })
}

/// [`parse_job_id`] without copying: the parts point into `s`.
///
/// # Errors
/// Text that does not start with a job number.
pub fn parse_job_id_parts(s: &str) -> Result<JobIdParts<'_>, JobIdError> {
    let s = s.trim_ascii();
    // A step never contains a bracket before its dot, but a pending array range may contain
    // commas and dashes: split at the first dot that is outside brackets.
    let mut depth = 0i32;
    let mut dot = None;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'[' => depth += 1,
            b']' => depth -= 1,
            b'.' if depth == 0 => {
                dot = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (job, step) = match dot {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = job.bytes().take_while(|c| c.is_ascii_digit()).count();
    let err = |problem| JobIdError {
        text: s.to_string(),
        problem,
    };
    if digits == 0 {
        return Err(err(JobIdProblem::NoJobNumber));
    }
    let base: u64 = job[..digits]
        .parse()
        .map_err(|_| err(JobIdProblem::OutOfRange))?;
    let rest = &job[digits..];
    let (array_job_id, array_task) = match rest.strip_prefix('_') {
        Some(task) if !task.is_empty() => (Some(base), Some(task)),
        Some(_) => return Err(err(JobIdProblem::EmptyArrayTask)),
        None if rest.is_empty() || rest.starts_with('+') => (None, None),
        None => return Err(err(JobIdProblem::NotSlurm)),
    };
    if step.is_some_and(str::is_empty) {
        return Err(err(JobIdProblem::EmptyStep));
    }
    Ok(JobIdParts {
        job,
        step,
        array_job_id,
        array_task,
        base,
    })
}

/// A JobID that [`parse_job_id`] cannot read: the text (trimmed) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobIdError {
    /// The JobID as given, trimmed.
    pub text: String,
    /// What is wrong with it.
    pub problem: JobIdProblem,
}

/// What is wrong with a JobID (see [`JobIdError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobIdProblem {
    /// No digit at the start (`abc`, `.0`).
    NoJobNumber,
    /// The job number does not fit 64 bits.
    OutOfRange,
    /// `123_` with nothing after the underscore.
    EmptyArrayTask,
    /// Something other than `_task` or `+offset` after the job number (`12x`).
    NotSlurm,
    /// `123.` with nothing after the dot.
    EmptyStep,
}

impl std::fmt::Display for JobIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.text;
        match self.problem {
            JobIdProblem::NoJobNumber => write!(f, "JobID `{s}` does not start with a job number"),
            JobIdProblem::OutOfRange => write!(f, "JobID `{s}` is out of range"),
            JobIdProblem::EmptyArrayTask => write!(f, "JobID `{s}` has an empty array task"),
            JobIdProblem::NotSlurm => write!(f, "JobID `{s}` is not a Slurm job id"),
            JobIdProblem::EmptyStep => write!(f, "JobID `{s}` has an empty step"),
        }
    }
}

impl std::error::Error for JobIdError {}

/// Slurm's job states by long name, with their short codes; `final` says whether a job in
/// that state has ended for good.
const STATES: &[(&str, &str, bool)] = &[
    ("BOOT_FAIL", "BF", true),
    ("CANCELLED", "CA", true),
    ("COMPLETED", "CD", true),
    ("CONFIGURING", "CF", false),
    ("COMPLETING", "CG", false),
    ("DEADLINE", "DL", true),
    ("FAILED", "F", true),
    ("NODE_FAIL", "NF", true),
    ("OUT_OF_MEMORY", "OOM", true),
    ("PENDING", "PD", false),
    ("PREEMPTED", "PR", true),
    ("RUNNING", "R", false),
    ("REQUEUED", "RQ", false),
    ("RESIZING", "RS", false),
    ("REVOKED", "RV", true),
    ("SUSPENDED", "S", false),
    ("SPECIAL_EXIT", "SE", true),
    ("STAGE_OUT", "SO", false),
    ("TIMEOUT", "TO", true),
];

/// The canonical long name of a state written as sacct does (`CANCELLED by 1300204`,
/// `CD`, `completed`, `["COMPLETED"]` items). Unknown states are kept, upper-cased.
pub fn normalise_state(s: &str) -> String {
    let first = s.split_whitespace().next().unwrap_or("");
    for (long, short, _) in STATES {
        if first.eq_ignore_ascii_case(long) || first.eq_ignore_ascii_case(short) {
            return (*long).to_string();
        }
    }
    if first.is_empty() {
        "UNKNOWN".to_string()
    } else {
        first.to_ascii_uppercase()
    }
}

/// Whether a state is terminal. `None` for a state Slurm does not define.
pub fn state_is_final(long: &str) -> Option<bool> {
    STATES
        .iter()
        .find(|(l, _, _)| *l == long)
        .map(|(_, _, f)| *f)
}

/// The long name for a `-s` argument (`CD`, `completed`, `ca`).
pub fn state_from_arg(s: &str) -> Option<&'static str> {
    let u = s.trim().to_ascii_uppercase();
    STATES
        .iter()
        .find(|(l, sh, _)| *l == u || *sh == u)
        .map(|(l, _, _)| *l)
}

/// Every state sacct knows, as (long, short).
pub fn known_states() -> impl Iterator<Item = (&'static str, &'static str)> {
    STATES.iter().map(|(l, s, _)| (*l, *s))
}

/// A memory size in MiB: `2252800K`, `32000M`, `199G`, `1.50T`, `4096` (MiB).
pub fn parse_size_mb(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (num, mult) = match s.as_bytes()[s.len() - 1].to_ascii_uppercase() {
        b'K' => (&s[..s.len() - 1], 1.0 / 1024.0),
        b'M' => (&s[..s.len() - 1], 1.0),
        b'G' => (&s[..s.len() - 1], 1024.0),
        b'T' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        b'P' => (&s[..s.len() - 1], 1024.0 * 1024.0 * 1024.0),
        c if c.is_ascii_digit() => (s, 1.0),
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * mult)
}

/// ReqMem as a job total in MiB. sacct marks per-node requests with `n` and per-CPU requests
/// with `c` (before Slurm 21.08); a plain size is the job's total. The per-node and per-CPU
/// forms need the job's node and CPU counts.
pub fn parse_req_mem_mb(s: &str, nnodes: Option<u32>, ncpus: Option<u32>) -> Option<f64> {
    let s = s.trim();
    if let Some(per_node) = s.strip_suffix('n') {
        return Some(parse_size_mb(per_node)? * f64::from(nnodes.unwrap_or(1).max(1)));
    }
    if let Some(per_cpu) = s.strip_suffix('c') {
        return Some(parse_size_mb(per_cpu)? * f64::from(ncpus.unwrap_or(1).max(1)));
    }
    parse_size_mb(s)
}

/// An energy in joules, as ConsumedEnergy prints it: `20543125`, `20.54M`, `33`, `1.2K`.
/// sacct scales energies by powers of 1000.
pub fn parse_energy_j(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (num, mult) = match s.as_bytes()[s.len() - 1].to_ascii_uppercase() {
        b'K' => (&s[..s.len() - 1], 1e3),
        b'M' => (&s[..s.len() - 1], 1e6),
        b'G' => (&s[..s.len() - 1], 1e9),
        b'T' => (&s[..s.len() - 1], 1e12),
        c if c.is_ascii_digit() => (s, 1.0),
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * mult)
}

/// What a TRES string (`billing=24,cpu=8,mem=199G,node=1,gres/gpu:a100=4,energy=33`) says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tres {
    /// `cpu=`: allocated CPUs.
    pub cpu: Option<u32>,
    /// `mem=`: allocated memory, MiB (unit suffixes converted).
    pub mem_mb: Option<f64>,
    /// `node=`: allocated nodes.
    pub node: Option<u32>,
    /// GPUs: `gres/gpu=N` if present, else the sum of typed `gres/gpu:TYPE=N` entries (Slurm
    /// writes both for typed GPUs, so adding them would count twice).
    pub gpus: Option<u32>,
    /// `energy=`: consumed energy, joules.
    pub energy_j: Option<f64>,
}

/// Reads a TRES string. Unknown entries (`billing`, `fs/disk`, `gres/gpumem`...) are ignored.
pub fn parse_tres(s: &str) -> Tres {
    let mut t = Tres::default();
    // None: no typed entry yet; Some(None): entries whose sum does not fit.
    let mut typed_gpus: Option<Option<u32>> = None;
    for item in s.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let key = key.trim();
        match key {
            "cpu" => t.cpu = value.parse().ok(),
            "mem" => t.mem_mb = parse_size_mb(value),
            "node" => t.node = value.parse().ok(),
            "energy" => t.energy_j = parse_energy_j(value),
            "gres/gpu" => t.gpus = value.parse().ok(),
            // A sum past u32 is no real allocation: unknown, not a wrapped or saturated count.
            k if k.starts_with("gres/gpu:") => {
                typed_gpus = match (typed_gpus, value.parse::<u32>()) {
                    (None, Ok(n)) => Some(Some(n)),
                    (Some(sum), Ok(n)) => Some(sum.and_then(|s: u32| s.checked_add(n))),
                    (sum, Err(_)) => sum,
                };
            }
            _ => {}
        }
    }
    if t.gpus.is_none() {
        t.gpus = typed_gpus.flatten();
    }
    t
}

/// A count field (`NNodes`, `NCPUS`): empty and non-numeric give `None`.
pub fn parse_count(s: &str) -> Option<u32> {
    s.trim_ascii().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids() {
        let j = parse_job_id("123").unwrap();
        assert_eq!(
            (j.job.as_str(), j.step, j.base, j.array_job_id),
            ("123", None, 123, None)
        );
        let j = parse_job_id("37403870_1.batch").unwrap();
        assert_eq!(j.job, "37403870_1");
        assert_eq!(j.step.as_deref(), Some("batch"));
        assert_eq!(j.array_job_id, Some(37403870));
        assert_eq!(j.array_task.as_deref(), Some("1"));
        let j = parse_job_id("4103947_[1-3]").unwrap();
        assert_eq!(j.array_task.as_deref(), Some("[1-3]"));
        assert_eq!(j.step, None);
        let j = parse_job_id("65638294.10").unwrap();
        assert_eq!(j.step.as_deref(), Some("10"));
        let j = parse_job_id("77+1.0").unwrap();
        assert_eq!(
            (j.job.as_str(), j.base, j.step.as_deref()),
            ("77+1", 77, Some("0"))
        );
        for bad in ["", "batch", "12x", "12_", "12."] {
            assert!(parse_job_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states() {
        assert_eq!(normalise_state("CANCELLED by 1300204"), "CANCELLED");
        assert_eq!(normalise_state("cd"), "COMPLETED");
        assert_eq!(normalise_state("FOO"), "FOO");
        assert_eq!(state_is_final("COMPLETING"), Some(false));
        assert_eq!(state_is_final("TIMEOUT"), Some(true));
        assert_eq!(state_is_final("FOO"), None);
        assert_eq!(state_from_arg("oom"), Some("OUT_OF_MEMORY"));
        assert_eq!(state_from_arg("bogus"), None);
    }

    #[test]
    fn memory() {
        assert_eq!(parse_size_mb("2252800K"), Some(2200.0));
        assert_eq!(parse_size_mb("199G"), Some(199.0 * 1024.0));
        assert_eq!(parse_size_mb("62.50G"), Some(64_000.0));
        assert_eq!(parse_req_mem_mb("6760Mc", Some(1), Some(4)), Some(27_040.0));
        assert_eq!(
            parse_req_mem_mb("250Gn", Some(2), Some(32)),
            Some(512_000.0)
        );
        assert_eq!(parse_req_mem_mb("32G", Some(4), Some(4)), Some(32_768.0));
        assert_eq!(parse_req_mem_mb("", None, None), None);
        assert_eq!(parse_req_mem_mb("0n", Some(0), Some(0)), Some(0.0));
        assert_eq!(parse_size_mb("12x"), None);
    }

    #[test]
    fn tres_gpu_counts_match_xdmod_cases() {
        // The cases of xdmod's alloc-tres-gpu-count.json (realdata/sacct/xdmod_ubccr).
        let cases = [
            ("", None),
            ("billing=1,cpu=1,mem=1000M,node=1", None),
            ("billing=10,cpu=10,gres/gpu=4,mem=374000M,node=2", Some(4)),
            ("billing=1,cpu=1,gres/gpu:p100=1,mem=125G,node=1", Some(1)),
            ("gres/gpu:volta=2,mem=125G,node=1", Some(2)),
            ("billing=1,cpu=1,gres/gpu:tesla=4", Some(4)),
            ("cpu=8,gres/gpu=4,gres/gpu:a100=4,gres/gpumem=160G", Some(4)),
            ("gres/gpu:a100=2,gres/gpu:v100=3", Some(5)),
            // Typed counts whose sum overflows u32 (a fuzzer's find): unknown, no panic.
            ("gres/gpu:a1=4103502510,gres/gpu:a1=4103510251", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_tres(s).gpus, want, "{s}");
        }
        let t = parse_tres("billing=1152,cpu=1152,energy=20543125,mem=1840000M,node=4");
        assert_eq!(
            (t.cpu, t.node, t.energy_j),
            (Some(1152), Some(4), Some(20_543_125.0))
        );
        assert_eq!(t.mem_mb, Some(1_840_000.0));
    }

    #[test]
    fn energies() {
        assert_eq!(parse_energy_j("20.54M"), Some(20_540_000.0));
        assert_eq!(parse_energy_j("33"), Some(33.0));
        assert_eq!(parse_energy_j(""), None);
        assert_eq!(parse_energy_j("-1"), None);
    }
}
