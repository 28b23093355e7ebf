//! The values inside sacct fields and Slurm's time formats: `ea_sacct::fields` (job ids,
//! states, memory sizes, ReqMem, energies, TRES strings, counts, column lists) and
//! `ea_sacct::timefmt` (dump times, durations, `-S`/`-E` arguments, months). Each exec gives the
//! whole input, as one field, to every reader.
//!
//! Asserts:
//! - `parse_job_id` and `parse_job_id_parts` agree, and a JobID rebuilt from its parts reads back
//!   the same; an array task's master is the base number;
//! - a state normalises to a non-empty word that normalises to itself;
//! - memory sizes, ReqMem totals, energies and TRES memory/energy are finite and non-negative;
//! - a column list has no separator left in its names;
//! - a dump time printed back in the clock's form (`Clock::format`) reads as the same instant
//!   (UTC clock); a duration is finite and non-negative, and whole seconds printed as sacct's
//!   Elapsed (`format_elapsed`) read back as the same duration; a month is in 1..=12.
#![no_main]

use ea_fuzz::{clock_cet, clock_utc, quantity};
use ea_sacct::fields::{
    normalise_state, parse_count, parse_energy_j, parse_job_id, parse_job_id_parts,
    parse_req_mem_mb, parse_size_mb, parse_tres, state_from_arg, state_is_final,
};
use ea_sacct::text::{column_of, split_column_list};
use ea_sacct::timefmt::{
    format_elapsed, parse_dump_time, parse_duration, parse_month, parse_time_arg,
};
use libfuzzer_sys::fuzz_target;

fn job_ids(s: &str) {
    match (parse_job_id(s), parse_job_id_parts(s)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.job, b.job);
            assert_eq!(a.step.as_deref(), b.step);
            assert_eq!(a.array_job_id, b.array_job_id);
            assert_eq!(a.array_task.as_deref(), b.array_task);
            assert_eq!(a.base, b.base);
            if a.array_task.is_some() {
                assert_eq!(a.array_job_id, Some(a.base), "{a:?}");
            }
            let rebuilt = match &a.step {
                Some(step) => format!("{}.{step}", a.job),
                None => a.job.clone(),
            };
            assert_eq!(
                parse_job_id(&rebuilt).as_ref(),
                Ok(&a),
                "`{rebuilt}`, rebuilt from the parts of `{s}`"
            );
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("parse_job_id and parse_job_id_parts disagree on `{s}`: {a:?} / {b:?}"),
    }
}

fn states(s: &str) {
    let n = normalise_state(s);
    assert!(!n.is_empty(), "`{s}`");
    assert!(!n.contains(char::is_whitespace), "`{s}` -> `{n}`");
    assert_eq!(normalise_state(&n), n, "normalising `{s}` twice");
    if let Some(long) = state_from_arg(s) {
        assert!(state_is_final(long).is_some(), "`{s}` -> `{long}`");
        assert_eq!(normalise_state(long), long);
    }
}

fn sizes_and_energies(s: &str) {
    quantity("parse_size_mb", parse_size_mb(s), &s);
    for (nodes, cpus) in [
        (None, None),
        (Some(3), Some(96)),
        (Some(u32::MAX), Some(u32::MAX)),
    ] {
        quantity("parse_req_mem_mb", parse_req_mem_mb(s, nodes, cpus), &s);
    }
    quantity("parse_energy_j", parse_energy_j(s), &s);
    let t = parse_tres(s);
    quantity("TRES mem (MiB)", t.mem_mb, &s);
    quantity("TRES energy (J)", t.energy_j, &s);
    let _ = parse_count(s);
}

fn columns(s: &str) {
    for c in split_column_list(s) {
        assert!(
            !c.contains([',', '|', '%']) && !c.contains(char::is_whitespace),
            "column `{c}` from `{s}`"
        );
        if let Some(col) = column_of(&c) {
            assert_eq!(column_of(&c.to_ascii_uppercase()), Some(col), "`{c}`");
        }
    }
}

fn times(s: &str) {
    let utc = clock_utc();
    if let Ok(Some(t)) = parse_dump_time(s, &utc) {
        // Only years 0000 to 9999 print in the form read (an offset can move an instant out).
        if (-62_167_219_200..=253_402_300_799).contains(&t) {
            let printed = utc.format(t);
            assert_eq!(
                parse_dump_time(&printed, &utc).ok(),
                Some(Some(t)),
                "`{s}` is {t}, printed `{printed}`"
            );
        }
    }
    let _ = parse_dump_time(s, &clock_cet());
    if let Ok(Some(d)) = parse_duration(s) {
        quantity("parse_duration", Some(d), &s);
        // Elapsed's form holds days as sacct does (u32).
        if d.fract() == 0.0 && d < f64::from(u32::MAX) * 86_400.0 {
            let printed = format_elapsed(d as i64);
            assert_eq!(
                parse_duration(&printed).ok(),
                Some(Some(d)),
                "`{s}` is {d} s, printed `{printed}`"
            );
        }
    }
    let _ = parse_time_arg(s, &utc);
    let _ = parse_time_arg(s, &clock_cet());
    if let Ok((_, m)) = parse_month(s) {
        assert!((1..=12).contains(&m), "`{s}`");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    job_ids(s);
    states(s);
    sizes_and_energies(s);
    columns(s);
    times(s);
});
