use super::*;
use crate::record::tests::{meter, sample};
use crate::{MeterFlag, PowerStats, RecordFlag};

fn node(name: &str, bmc_j: Option<f64>) -> JobNodeRecord {
    let mut r = sample();
    r.node = name.into();
    if let Some(e) = bmc_j {
        let mut m = meter(Scope::NodeBmc, e);
        m.id = "ipmi:dcmi".into();
        m.power_w = Some(PowerStats {
            min: 200.0,
            mean: e / 3.5,
            max: 612.0,
        });
        r.meters.push(m);
    }
    r
}

/// Whether a text holds a number in scientific notation (`1.5e-7`, `2e6`).
fn has_exponent(text: &str) -> bool {
    let b = text.as_bytes();
    (1..b.len().saturating_sub(1)).any(|i| {
        b[i] == b'e'
            && b[i - 1].is_ascii_digit()
            && (b[i + 1].is_ascii_digit() || b[i + 1] == b'-' || b[i + 1] == b'+')
    })
}

#[test]
fn a_finished_job_reads_like_seff() {
    let mut n3 = node("n3", None);
    n3.meters = vec![meter(Scope::CpuPackage, 700.0), meter(Scope::Dram, 50.0)];
    n3.meters[0].flags = vec![MeterFlag::Wrapped];
    let done = [node("n1", Some(1400.0)), node("n2", Some(1450.0)), n3];
    let s = JobSummary::from_records(42, &done, &[], vec![]);
    assert!(s.is_complete());
    assert_eq!(s.energy_j, Some(3600.0));
    let text = write_text(&s, EnergyUnits::Joules);
    let want = [
        "Job 42 of alice: account energy, partition debug, cluster testbed",
        "State:        finished on all 3 node(s) (exit code 3:0)",
        "Nodes:        n[1-3] (3 of 3 recorded)",
        "Energy:       3.60 kJ drawn at the nodes, before the data centre's overhead (PUE); \
         from n1, n2: BMC; n3: CPU + DRAM + GPU meters",
        "Power:        mean 1.03 kW over its 3 nodes together; highest reading of a node's meter 612 W",
        "Measurement:  n3: CpuPackage: the counter wrapped around (handled, no energy lost)",
    ];
    for line in want {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains("ipmi:dcmi"), "{text}");
    assert!(text.contains("1.40 kJ"), "{text}");
    assert!(!has_exponent(&text), "{text}");
    // Watt-hours when asked.
    let wh = write_text(&s, EnergyUnits::WattHours);
    assert!(wh.contains("Energy:       1.00 Wh drawn"), "{wh}");
}

#[test]
fn a_job_still_running_or_missing_nodes_says_so() {
    let s = JobSummary::from_records(42, &[node("n1", Some(1400.0))], &[node("n2", None)], vec![]);
    let text = write_text(&s, EnergyUnits::Joules);
    assert!(
        text.contains("RUNNING on 1 node(s), finished on 1"),
        "{text}"
    );
    assert!(text.contains("to now"), "{text}");
    let s = JobSummary::from_records(42, &[node("n1", Some(1400.0))], &[], vec![]);
    let text = write_text(&s, EnergyUnits::Joules);
    assert!(text.contains("records from 1 of its 3 nodes"), "{text}");
    assert!(text.contains("(the nodes recorded so far, 1)"), "{text}");
    let s = JobSummary::from_records(
        42,
        &[node("n1", None)],
        &[],
        vec!["job-42.n9.json: bad".into()],
    );
    let text = write_text(&s, EnergyUnits::Joules);
    assert!(text.contains("not measured: no meter on n1"), "{text}");
    assert!(text.contains("(no meter on this node)"), "{text}");
    assert!(
        text.contains("unreadable record: job-42.n9.json: bad"),
        "{text}"
    );
}

#[test]
fn record_flags_and_refused_meters_are_in_words() {
    let mut r = node("n1", Some(1400.0));
    r.flags = vec![RecordFlag::SamplerDied, RecordFlag::Salvaged];
    r.meters.push(meter(Scope::Dram, -5000.0));
    let s = JobSummary::from_records(42, &[r], &[], vec![]);
    let text = write_text(&s, EnergyUnits::Joules);
    assert!(
        text.contains("n1: the sampler died before the end"),
        "{text}"
    );
    assert!(text.contains("n1: no epilog wrote this record"), "{text}");
    assert!(text.contains("-5000 J refused"), "{text}");
    assert_eq!(s.flags, ["n1: sampler-died", "n1: salvaged"]);
}

#[test]
fn every_flag_the_tool_writes_has_words() {
    for f in [
        "no-prolog-state",
        "sampler-killed",
        "boot-changed",
        "config-error",
        "no-end-snapshot",
        "ipmi:dcmi:read-errors",
        "rapl:intel-rapl:0: reset",
        "nvml:GPU-1: power-fallback",
        "nvml:GPU-1: power-since-counter",
        "snapshots-only",
        "interval-too-long",
        "rejected-readings",
        "wraps-inferred",
        "components-only",
        "shared-node-split",
        "extrapolated:2/3-nodes",
        "rapl:0:implausible-energy:1.0000e308J>1500W*70s",
        "implausible-cpus:100000>16384",
    ] {
        let words = flag_in_words(f);
        assert_ne!(words, f, "no words for {f}");
        assert!(words.contains(' '), "{f} -> {words}");
    }
    assert_eq!(
        flag_in_words("ipmi:dcmi:read-errors").split(':').next(),
        Some("ipmi")
    );
    assert!(flag_in_words("rapl:intel-rapl:0: reset").starts_with("rapl:intel-rapl:0: "));
    assert!(flag_in_words("extrapolated:2/3-nodes").contains("(2/3)"));
    assert_eq!(flag_in_words("something-new"), "something-new");
}

#[test]
fn the_same_flag_on_many_meters_is_one_line() {
    let flags =
        (1..=3).flat_map(|n| ["rapl:0", "rapl:0:0"].map(move |m| format!("n{n}: {m}: wrapped")));
    let lines = grouped_in_words(flags.chain(["n2: sampler-died".to_string()]));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "the counter wrapped around (handled, no energy lost) (6 meters or nodes: \
         n1: rapl:0, n1: rapl:0:0, n2: rapl:0, n2: rapl:0:0 and 2 more)"
    );
    assert_eq!(
        lines[1],
        "n2: the sampler died before the end; its last checkpoint was used"
    );
    // The store's form (`node:meter:flag`) and job-level flags group the same way.
    let lines = grouped_in_words(
        [
            "n1:ipmi:dcmi:read-errors",
            "n2:ipmi:dcmi:read-errors",
            "oversubscribed",
        ]
        .map(String::from),
    );
    assert!(
        lines[0].contains("(2 meters or nodes: n1:ipmi:dcmi, n2:ipmi:dcmi)"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("the jobs on a node held more than the node"),
        "{lines:?}"
    );
}
