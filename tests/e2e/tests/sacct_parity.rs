//! `energy-assess acct` beside the real sacct on the local cluster, for the same fresh jobs:
//! `--json` in sacct's layout, `-X -o TotalCPU` and `--name`, the way users who know sacct
//! use them.

use e2e::{Cluster, Store};
use ea_query::acct::sacct_json::key_paths as paths;
use serde_json::Value as J;
use std::collections::BTreeSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// Burns about a second of CPU in each task, so that TotalCPU has seconds and milliseconds.
const BUSY: &str = "srun -n2 bash -c 'i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done'";

struct Jobs {
    /// Measured, alone on two nodes, a numbered step.
    busy: u32,
    /// Not measured, exits 3.
    failed: u32,
    /// The busy job's name, mixed case.
    name: String,
    store: Store,
}

/// Two jobs run, final in sacct, and ingested (live sacct and the spool) into a new store.
fn run_jobs(c: &Cluster, tag: &str) -> Jobs {
    let name = format!("EA-Parity-{}-{tag}", std::process::id());
    let other = format!("ea-other-{}-{tag}", std::process::id());
    let busy = c.sbatch(
        &[
            "-N2",
            "-n2",
            "--exclusive",
            "--energy-assess",
            &format!("--job-name={name}"),
        ],
        BUSY,
    );
    let failed = c.sbatch(
        &["-N1", &format!("--job-name={other}")],
        "srun true; exit 3",
    );
    c.wait_gone(busy, T);
    c.wait_gone(failed, T);
    assert_eq!(c.records(busy, 2, T).len(), 2);
    assert_eq!(c.sacct(busy, "ExitCode"), ["0:0"]);
    assert_eq!(c.sacct(failed, "ExitCode"), ["3:0"]);
    let store = Store::new(&format!("parity-{tag}"));
    // A job final under `sacct -j` may still be missing from a window query for a moment:
    // wait until the live ingest's query lists both.
    let both = [busy.to_string(), failed.to_string()];
    e2e::wait_until(T, "sacct's window query to list both jobs", || {
        let listed = sacct(&[
            "-a",
            "-X",
            "-n",
            "-P",
            "-S",
            "now-1hours",
            "-E",
            "now",
            "-o",
            "JobID",
        ]);
        both.iter().all(|id| listed.lines().any(|l| l == id))
    });
    let summary = store.ea(&e2e::live_ingest(e2e::SPOOL));
    assert!(summary.contains(" 0 malformed"), "{summary}");
    Jobs {
        busy,
        failed,
        name,
        store,
    }
}

fn sacct(args: &[&str]) -> String {
    let out = e2e::run("sacct", args);
    assert!(
        out.status.success(),
        "sacct {args:?}: {}",
        e2e::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn keys(v: &J) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn job_of(doc: &J, id: u32) -> &J {
    doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == id)
        .unwrap_or_else(|| panic!("job {id} missing from {doc}"))
}

/// What must be sacct's values, job by job (the store keeps them).
const SAME_VALUES: &[&str] = &[
    "/account",
    "/allocation_nodes",
    "/array/job_id",
    "/association/user",
    "/cluster",
    "/group",
    "/het/job_id",
    "/job_id",
    "/name",
    "/nodes",
    "/partition",
    "/qos",
    "/state/current",
    "/time/elapsed",
    "/time/end",
    "/time/limit",
    "/time/start",
    "/time/submission",
    "/user",
    "/working_directory",
];

const SAME_STEP_VALUES: &[&str] = &[
    "/nodes",
    "/state",
    "/step/job_id",
    "/step/id",
    "/step/name",
    "/tasks",
    "/time/elapsed",
    "/time/start",
    "/time/end",
];

/// The same key structure: the document's keys, each job's keys (with ours added under
/// `energy_assess`), and every path we fill is one sacct writes.
fn same_structure(id: u32, ours: &J, real: &J) {
    let mut expected = keys(real);
    expected.insert("energy_assess".into());
    assert_eq!(keys(ours), expected, "job {id}'s keys");
    let (mut real_paths, mut our_paths) = (BTreeSet::new(), BTreeSet::new());
    paths(real, "", false, &mut real_paths);
    let mut sacct_part = ours.clone();
    sacct_part.as_object_mut().unwrap().remove("energy_assess");
    paths(&sacct_part, "", true, &mut our_paths);
    let extra: Vec<&String> = our_paths.difference(&real_paths).collect();
    assert!(
        extra.is_empty(),
        "job {id}: paths sacct does not write: {extra:?}"
    );
    for p in [
        "state.current",
        "time.total.seconds",
        "tres.allocated[].count",
        "steps[].step.id",
        "steps[].time.total.microseconds",
    ] {
        assert!(our_paths.contains(p), "job {id}: {p} not filled");
    }
}

/// `exits`: compare the steps' exit codes too (sacct 22.05 writes a non-zero one as
/// `SUCCESS`, 0, where ours keep the code).
fn same_values(id: u32, ours: &J, real: &J, exits: bool) {
    for p in SAME_VALUES {
        assert_eq!(ours.pointer(p), real.pointer(p), "job {id}: {p}");
    }
    let real_steps = real["steps"].as_array().unwrap();
    assert_eq!(ours["steps"].as_array().unwrap().len(), real_steps.len());
    for (o, r) in ours["steps"].as_array().unwrap().iter().zip(real_steps) {
        for p in SAME_STEP_VALUES {
            assert_eq!(o.pointer(p), r.pointer(p), "job {id}, a step: {p}");
        }
        if exits {
            assert_eq!(o["exit_code"], r["exit_code"], "job {id}, a step");
        }
    }
}

#[test]
fn acct_json_has_the_key_structure_of_sacct_json_for_the_same_jobs() {
    let c = Cluster::acquire();
    let j = run_jobs(&c, "json");
    let ids = format!("{},{}", j.busy, j.failed);
    let ours: J = serde_json::from_str(&j.store.ea(&["acct", "-j", &ids, "--json"])).unwrap();
    let real: J = serde_json::from_str(&sacct(&["--json", "-j", &ids])).unwrap();
    assert_eq!(keys(&ours), keys(&real), "the document's keys");
    assert_eq!(
        keys(&ours["meta"]).difference(&keys(&real["meta"])).count(),
        1
    );
    assert_eq!(
        ours["meta"]["plugin"]["type"],
        real["meta"]["plugin"]["type"]
    );
    assert_eq!(ours["jobs"].as_array().unwrap().len(), 2);
    for id in [j.busy, j.failed] {
        let (o, r) = (job_of(&ours, id), job_of(&real, id));
        same_structure(id, o, r);
        same_values(id, o, r, id == j.busy);
    }
    let busy = job_of(&ours, j.busy);
    assert_eq!(busy["name"], j.name.as_str());
    assert_eq!(busy["energy_assess"]["energy_j"]["source"], "measured");
    assert!(
        busy["energy_assess"]["gwp_kgco2eq"]["value"]
            .as_f64()
            .is_some_and(|g| g > 0.0),
        "{busy:#}"
    );
    assert_eq!(busy["exit_code"], job_of(&real, j.busy)["exit_code"]);
    // sacct 22.05 writes a non-zero exit as SUCCESS, 0; ours keeps sacct -X's 3:0.
    assert_eq!(
        job_of(&ours, j.failed)["exit_code"],
        serde_json::json!({"status": "ERROR", "return_code": 3})
    );
    // -X: sacct's jobs without their steps.
    let x: J = serde_json::from_str(&j.store.ea(&["acct", "-X", "-j", &ids, "--json"])).unwrap();
    let real_x: J = serde_json::from_str(&sacct(&["--json", "-X", "-j", &ids])).unwrap();
    for id in [j.busy, j.failed] {
        assert_eq!(job_of(&x, id)["steps"], job_of(&real_x, id)["steps"]);
    }
}

/// `JobID|TotalCPU` lines of a `-P -n` output.
fn total_cpu_lines(text: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn total_cpu_reads_as_sacct_writes_it_for_the_allocation_and_its_steps() {
    let c = Cluster::acquire();
    let j = run_jobs(&c, "totalcpu");
    let ids = format!("{},{}", j.busy, j.failed);
    let args = ["-j", ids.as_str(), "-P", "-n", "-o", "JobID,TotalCPU"];
    let real = total_cpu_lines(&sacct(&args));
    let ours = total_cpu_lines(&j.store.ea(&[&["acct"][..], &args[..]].concat()));
    assert_eq!(ours, real);
    let busy = real
        .iter()
        .find(|(id, _)| *id == j.busy.to_string())
        .unwrap();
    assert!(
        busy.1.starts_with("00:0") && busy.1.contains('.'),
        "about two CPU-seconds, with milliseconds: {busy:?}"
    );
    // Under -X, the allocation lines as sacct prints them without -X: their steps' CPU time.
    // (sacct 22.05 prints 00:00:00 under -X, as it does not read the steps then.)
    let ours_x = total_cpu_lines(&j.store.ea(&[&["acct", "-X"][..], &args[..]].concat()));
    let real_allocations: Vec<(String, String)> = real
        .into_iter()
        .filter(|(id, _)| !id.contains('.'))
        .collect();
    assert_eq!(ours_x, real_allocations);
}

#[test]
fn name_selects_the_jobs_sacct_name_selects() {
    let c = Cluster::acquire();
    let j = run_jobs(&c, "name");
    let ids = |text: &str| -> BTreeSet<String> { text.lines().map(str::to_string).collect() };
    let other = format!("ea-other-{}-name", std::process::id());
    for names in [
        j.name.clone(),
        j.name.to_uppercase(),
        format!("{},{other}", j.name.to_lowercase()),
        "batch".to_string(),
    ] {
        let args = [
            "--name",
            &names,
            "-S",
            "now-1hours",
            "-X",
            "-P",
            "-n",
            "-o",
            "JobID",
        ];
        let real = ids(&sacct(&args));
        let ours = ids(&j.store.ea(&[&["acct"][..], &args[..]].concat()));
        assert_eq!(ours, real, "--name {names}");
    }
    let both = format!("{},{other}", j.name);
    let ours = ids(&j.store.ea(&[
        "acct",
        "--name",
        &both,
        "-S",
        "now-1hours",
        "-X",
        "-P",
        "-n",
        "-o",
        "JobID",
    ]));
    let expected: BTreeSet<String> = [j.busy, j.failed].iter().map(u32::to_string).collect();
    assert_eq!(ours, expected);
}

/// `--units` as sacct's: Slurm's own sizes and energies (ReqMem, ConsumedEnergy) in the unit
/// asked for, byte for byte, job and step lines alike. (The testbed has no energy plugin, so
/// sacct's ConsumedEnergy is 0; ReqMem carries the conversions.)
#[test]
fn units_convert_slurm_columns_as_sacct_does() {
    let c = Cluster::acquire();
    let j = run_jobs(&c, "units");
    let ids = format!("{},{}", j.busy, j.failed);
    let columns = "JobID,ReqMem,ConsumedEnergy,ConsumedEnergyRaw";
    for units in [None, Some("K"), Some("M"), Some("G")] {
        let mut args = vec!["-j", ids.as_str(), "-P", "-n", "-o", columns];
        let flag = units.map(|u| format!("--units={u}"));
        args.extend(flag.as_deref());
        let real = total_cpu_lines(&sacct(&args));
        let ours = total_cpu_lines(&j.store.ea(&[&["acct"][..], &args[..]].concat()));
        assert!(!real.is_empty());
        assert_eq!(ours, real, "--units {units:?}");
    }
}
