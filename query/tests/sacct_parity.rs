//! `acct` against what the real sacct printed for the same jobs: the local test cluster's
//! Slurm 22.05.8 (`tests/cluster/up.sh`), captured in `fixtures/sacct-22.05.8/`:
//!
//! - `jobs.txt`: `TZ=UTC SLURM_TIME_FORMAT=standard sacct -a -P --delimiter='|'
//!   -j 8120,8112,21_1,7899 --format <the live ingest's columns>`, what the store ingests;
//! - `jobs.json`: `sacct --json -j 8120,8112,21_1,7899`, the same jobs (a plain job with a
//!   numbered step, one cancelled by a signal, an array task, both components of a het job).
//!
//! The end-to-end tests (`tests/e2e/tests/sacct_parity.rs`) do the same against the live
//! sacct on fresh jobs.

use ea_ingest::{self as ingest, Inputs, Settings};
use ea_query::acct::sacct_json::key_paths as paths;
use ea_query::acct::{self, AcctOptions};
use ea_query::figures::{FigureContext, NoInventory};
use ea_query::privacy::Identity;
use ea_sacct::timefmt::Clock;
use ea_store::config::EstimateSettings;
use ea_store::{Access, Store};
use jiff::tz::TimeZone;
use serde_json::Value as J;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sacct-22.05.8");
/// A little after the jobs ran.
const NOW: i64 = 1_796_700_000;

/// A store holding `jobs.txt`, removed on drop.
struct Ingested {
    dir: PathBuf,
    store: Store,
}

impl Drop for Ingested {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn clock() -> Clock {
    Clock::fixed(TimeZone::UTC, NOW)
}

fn ingested(tag: &str) -> Ingested {
    let dir = std::env::temp_dir().join(format!("ea-sacct-parity-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("store.sqlite");
    let (mut store, _) = Store::open_for_write(&db, &Access::default()).unwrap();
    let inputs = Inputs {
        sacct: vec![Path::new(FIXTURES).join("jobs.txt")],
        ..Default::default()
    };
    let settings = Settings {
        cluster: "testbed".into(),
        clock: clock(),
        estimate: EstimateSettings::default(),
        record_grace_s: 1800,
        progress: false,
        inventory: None,
    };
    let summary = ingest::ingest(&mut store, &inputs, &settings).unwrap();
    assert_eq!(summary.error_count, 0, "{:?}", summary.errors);
    drop(store);
    let store = Store::open_read(&db).unwrap();
    Ingested { dir, store }
}

fn root() -> Identity {
    Identity {
        uid: 0,
        user: Some("root".into()),
        groups: vec![],
        admin: true,
        setgid: false,
    }
}

fn acct_out(s: &Ingested, opts: &AcctOptions) -> String {
    let estimate = EstimateSettings::default();
    let calibrations = HashMap::new();
    let ctx = FigureContext {
        estimate: &estimate,
        calibrations: &calibrations,
        model: &NoInventory,
    };
    let mut out = Vec::new();
    acct::run(&s.store.conn, opts, &root(), &clock(), &ctx, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

const ALL_JOBS: &str = "8120,8112,21_1,7899,7900";

fn real_json() -> J {
    serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join("jobs.json")).unwrap())
        .unwrap()
}

fn by_job_id(doc: &J, id: i64) -> &J {
    doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == id)
        .unwrap_or_else(|| panic!("job {id} missing"))
}

fn step_by_id<'a>(job: &'a J, id: &J) -> &'a J {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| &s["step"]["id"] == id)
        .unwrap_or_else(|| panic!("step {id} of {} missing", job["job_id"]))
}

/// Milliseconds of a `{seconds, microseconds}`, truncated as sacct prints them: the text the
/// store reads has no more.
fn millis(t: &J) -> u64 {
    t["seconds"].as_u64().unwrap() * 1000 + t["microseconds"].as_u64().unwrap() / 1000
}

/// The paths whose values must be sacct's, job by job: everything the store holds.
const SAME_VALUES: &[&str] = &[
    "/account",
    "/allocation_nodes",
    "/array/job_id",
    "/array/task_id",
    "/association/account",
    "/association/cluster",
    "/association/user",
    "/cluster",
    "/exit_code",
    "/group",
    "/het/job_id",
    "/het/job_offset",
    "/job_id",
    "/name",
    "/nodes",
    "/partition",
    "/qos",
    "/state/current",
    "/time/elapsed",
    "/time/eligible",
    "/time/end",
    "/time/limit",
    "/time/start",
    "/time/submission",
    "/user",
    "/working_directory",
];

const SAME_STEP_VALUES: &[&str] = &[
    "/exit_code",
    "/nodes",
    "/state",
    "/step/job_id",
    "/step/name",
    "/tasks",
    "/time/elapsed",
    "/time/end",
    "/time/start",
];

/// What the store fills, which must be there (so that the comparisons above compare
/// something).
const FILLED: &[&str] = &[
    "job_id",
    "name",
    "state.current",
    "time.elapsed",
    "time.total.seconds",
    "time.total.microseconds",
    "exit_code.status",
    "tres.allocated[].type",
    "tres.allocated[].count",
    "steps[].step.id",
    "steps[].time.total.microseconds",
    "steps[].nodes.list[]",
];

#[test]
fn acct_json_is_sacct_json_for_the_same_jobs_with_our_figures_under_one_key() {
    let s = ingested("json");
    let ours: J = serde_json::from_str(&acct_out(
        &s,
        &AcctOptions {
            jobs: Some(ALL_JOBS.into()),
            json: true,
            ..Default::default()
        },
    ))
    .unwrap();
    let energy_raw: HashMap<String, String> = acct_out(
        &s,
        &AcctOptions {
            jobs: Some(ALL_JOBS.into()),
            allocations: true,
            parsable2: true,
            noheader: true,
            format: Some("JobIDRaw,EnergyRaw".into()),
            ..Default::default()
        },
    )
    .lines()
    .filter_map(|l| l.split_once('|'))
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(energy_raw.len(), 5);
    let real = real_json();
    let top = |v: &J| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(top(&ours), top(&real), "the document's keys");
    assert_eq!(
        ours["meta"]["plugin"]["type"],
        real["meta"]["plugin"]["type"]
    );
    let real_jobs = real["jobs"].as_array().unwrap();
    assert_eq!(ours["jobs"].as_array().unwrap().len(), real_jobs.len());
    for rj in real_jobs {
        let id = rj["job_id"].as_i64().unwrap();
        let oj = by_job_id(&ours, id);
        let mut expected_keys = top(rj);
        expected_keys.insert("energy_assess".into());
        assert_eq!(top(oj), expected_keys, "job {id}'s keys");
        let (mut real_paths, mut our_paths) = (BTreeSet::new(), BTreeSet::new());
        paths(rj, "", false, &mut real_paths);
        let mut sacct_part = oj.clone();
        sacct_part.as_object_mut().unwrap().remove("energy_assess");
        paths(&sacct_part, "", true, &mut our_paths);
        let extra: Vec<&String> = our_paths.difference(&real_paths).collect();
        assert!(
            extra.is_empty(),
            "job {id}: paths sacct does not write: {extra:?}"
        );
        for p in FILLED {
            assert!(our_paths.contains(*p), "job {id}: {p} not filled");
        }
        for p in SAME_VALUES {
            assert_eq!(oj.pointer(p), rj.pointer(p), "job {id}: {p}");
        }
        same_tres(
            &format!("job {id}"),
            &oj["tres"]["allocated"],
            &rj["tres"]["allocated"],
        );
        same_steps(id, oj, rj);
        // The allocation line's CPU time is its steps' as sacct's text shows it; 22.05's JSON
        // writes 0 there.
        let steps_us: u64 = rj["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|st| {
                st["time"]["total"]["seconds"].as_u64().unwrap() * 1_000_000
                    + st["time"]["total"]["microseconds"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(millis(&oj["time"]["total"]), steps_us / 1000, "job {id}");
        assert_eq!(millis(&rj["time"]["total"]), 0, "job {id}");
        let ea = &oj["energy_assess"];
        assert_eq!(ea["energy_j"]["source"], "estimated", "job {id}");
        let (lo, e, hi) = (
            ea["energy_j"]["min"].as_f64().unwrap(),
            ea["energy_j"]["value"].as_f64().unwrap(),
            ea["energy_j"]["max"].as_f64().unwrap(),
        );
        assert!(lo <= e && e <= hi, "job {id}: {lo} {e} {hi}");
        assert_eq!(
            Some(&format!("{}", e.round())),
            energy_raw.get(&id.to_string()),
            "job {id}: the JSON's energy is the EnergyRaw column's"
        );
    }
}

/// The TRES sacct lists with a count are ours, in sacct's order (by TRES id); sacct also
/// lists an energy TRES without a count in some, which AllocTRES leaves out.
fn same_tres(what: &str, ours: &J, real: &J) {
    let counted: Vec<&J> = real
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["count"].is_null())
        .collect();
    let ours: Vec<&J> = ours.as_array().unwrap().iter().collect();
    assert_eq!(ours, counted, "{what}: tres.allocated");
}

/// Each real step is ours too, with the same values where the store holds them.
fn same_steps(id: i64, oj: &J, rj: &J) {
    let real_steps = rj["steps"].as_array().unwrap();
    assert_eq!(
        oj["steps"].as_array().unwrap().len(),
        real_steps.len(),
        "job {id}'s steps"
    );
    for rs in real_steps {
        let sid = &rs["step"]["id"];
        let os = step_by_id(oj, sid);
        for p in SAME_STEP_VALUES {
            assert_eq!(os.pointer(p), rs.pointer(p), "step {id}.{sid}: {p}");
        }
        assert_eq!(
            millis(&os["time"]["total"]),
            millis(&rs["time"]["total"]),
            "step {id}.{sid}"
        );
        same_tres(
            &format!("step {id}.{sid}"),
            &os["tres"]["allocated"],
            &rs["tres"]["allocated"],
        );
    }
}

#[test]
fn json_under_allocations_and_for_a_named_step_nests_what_sacct_does() {
    let s = ingested("json-steps");
    let json = |jobs: &str, allocations: bool| -> J {
        serde_json::from_str(&acct_out(
            &s,
            &AcctOptions {
                jobs: Some(jobs.into()),
                allocations,
                json: true,
                format: Some("JobID,Energy".into()),
                ..Default::default()
            },
        ))
        .unwrap()
    };
    // `sacct --json -X` writes each job with `steps: []`; `-j 8120.batch` the job with that
    // step alone; `-o` changes nothing (sacct ignores it with --json).
    let x = json("8120", true);
    assert_eq!(x["jobs"][0]["steps"], serde_json::json!([]));
    assert_eq!(x["jobs"][0]["job_id"], 8120);
    let batch = json("8120.batch", false);
    let ids: Vec<&J> = batch["jobs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| &st["step"]["id"])
        .collect();
    assert_eq!(ids, [&J::from("batch")]);
    let full = json("8120", false);
    assert_eq!(full["jobs"][0]["steps"].as_array().unwrap().len(), 3);
    assert!(full["jobs"][0]["time"]["elapsed"].is_number());
}

/// The JobID and TotalCPU of `jobs.txt`'s lines.
fn real_total_cpu() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("jobs.txt")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('|').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (id, cpu) = (col("JobID"), col("TotalCPU"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[id].to_string(), f[cpu].to_string())
        })
        .collect()
}

#[test]
fn total_cpu_is_written_byte_for_byte_as_sacct_wrote_it() {
    let s = ingested("totalcpu");
    let lines = |allocations: bool| -> Vec<(String, String)> {
        acct_out(
            &s,
            &AcctOptions {
                jobs: Some(ALL_JOBS.into()),
                allocations,
                parsable2: true,
                noheader: true,
                format: Some("JobID,TotalCPU".into()),
                ..Default::default()
            },
        )
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('|').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
    };
    let sort = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let real = real_total_cpu();
    assert_eq!(sort(lines(false)), sort(real.clone()));
    // Under -X, the allocation line as sacct prints it without -X (its steps' CPU time;
    // sacct 22.05 itself prints 00:00:00 there, as it does not read the steps).
    let allocations: Vec<(String, String)> = real
        .into_iter()
        .filter(|(id, _)| !id.contains('.'))
        .collect();
    assert_eq!(allocations.len(), 5);
    assert_eq!(sort(lines(true)), sort(allocations));
}

#[test]
fn name_selects_jobs_by_their_name_in_any_case_as_sacct_does() {
    let s = ingested("name");
    let ids = |names: &str| -> Vec<String> {
        let mut v: Vec<String> = acct_out(
            &s,
            &AcctOptions {
                names: Some(names.into()),
                starttime: Some("2026-12-01".into()),
                allocations: true,
                parsable2: true,
                noheader: true,
                format: Some("JobID".into()),
                ..Default::default()
            },
        )
        .lines()
        .map(str::to_string)
        .collect();
        v.sort();
        v
    };
    assert_eq!(ids("wrap"), ["21_1", "8112", "8120"]);
    // What the local cluster's sacct gave: case does not matter, a list is any of its names,
    // a step's name (`hostname`, `batch`) selects nothing, nor does a prefix.
    assert_eq!(ids("WRAP"), ids("wrap"));
    assert_eq!(
        ids("Het.SH,wrap"),
        ["21_1", "7899+0", "7899+1", "8112", "8120"]
    );
    assert!(ids("hostname,batch").is_empty());
    assert!(ids("wra").is_empty());
}

/// `sacct -j 7899` lists both components of the het job 7899 (`7899+0`, `7899+1`, raw ids
/// 7899 and 7900), as the real dump of `-j ...,7899` holds both; so does `acct -j 7899`.
#[test]
fn a_het_leader_id_selects_every_component_as_sacct_does() {
    let s = ingested("het");
    let out = acct_out(
        &s,
        &AcctOptions {
            jobs: Some("7899".into()),
            allocations: true,
            parsable2: true,
            noheader: true,
            format: Some("JobID,JobIDRaw".into()),
            ..Default::default()
        },
    );
    let real: Vec<i64> = real_json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["het"]["job_id"] == 7899)
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect();
    assert_eq!(real, [7899, 7900]);
    assert_eq!(out, "7899+0|7899\n7899+1|7900\n");
}
