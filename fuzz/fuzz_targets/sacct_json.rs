//! `sacct --json` (Slurm 21.08 to 25.x) and the controller's job list (`squeue --json`,
//! slurmrestd `/jobs`): `ea_sacct::json::parse_document`.
//!
//! Asserts: a document is read as `sacct` or `controller`; every job row has a JobID and a state,
//! its quantities (memory, CPU time, energy, durations) are finite and non-negative, and so are
//! its steps'; a refused job is reported with its index in `jobs[]`.
#![no_main]

use ea_fuzz::check_entry;
use ea_sacct::json::parse_document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = parse_document(data, "fuzz.json") else {
        return;
    };
    assert!(
        matches!(doc.kind, "sacct" | "controller"),
        "kind {}",
        doc.kind
    );
    for e in &doc.entries {
        check_entry(e);
    }
    for e in &doc.errors {
        assert!(e.problem.starts_with("jobs["), "{e:?}");
    }
});
