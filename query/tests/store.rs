//! Integration tests of the store: every real sacct dump of `shared/realdata/sacct/`,
//! idempotency, incremental ingest, jobs still completing, missing node records, wattmeter
//! series.

use ea_ingest::{self as ingest, Inputs, LiveWindow, Settings, Summary};
use ea_sacct::text::{TextOptions, split_column_list};
use ea_sacct::timefmt::Clock;
use ea_store::config::EstimateSettings;
use ea_store::{Access, Store};
use ea_synth::{self as synth, Params};
use jiff::tz::TimeZone;
use std::path::{Path, PathBuf};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ea-store-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn settings(now: i64) -> Settings {
    Settings {
        cluster: "test".into(),
        clock: Clock::fixed(TimeZone::UTC, now),
        estimate: EstimateSettings::default(),
        record_grace_s: 1800,
        progress: false,
        inventory: None,
    }
}

fn run(db: &Path, inputs: &Inputs, now: i64) -> Result<Summary, String> {
    let (mut store, _) =
        Store::open_for_write(db, &Access::default()).map_err(|e| e.to_string())?;
    ingest::ingest(&mut store, inputs, &settings(now)).map_err(|e| e.to_string())
}

fn count(db: &Path, sql: &str) -> i64 {
    let s = Store::open_read(db).unwrap();
    s.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The rows of `snapshot` of the tables named.
fn rows_of(db: &Path, tables: &[&str]) -> String {
    snapshot(db)
        .lines()
        .filter(|l| tables.iter().any(|t| l.starts_with(&format!("{t}: "))))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every table's content, in a fixed order, without the times inputs were ingested at.
fn snapshot(db: &Path) -> String {
    let s = Store::open_read(db).unwrap();
    let mut out = String::new();
    for (table, order) in [
        ("jobs", "cluster, job_id"),
        ("node_records", "cluster, job_id, node"),
        ("job_measured", "cluster, job_id"),
        ("calibration", "grp"),
        ("power_samples", "node, t"),
        ("spool_reads", "id"),
    ] {
        let mut stmt = s
            .conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            out.push_str(&format!("{table}: {}\n", cells.join("|")));
        }
    }
    out
}

const REALDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/realdata/sacct");

/// What each file of `realdata/sacct/` is and how it is read. A file missing from this list
/// fails the test, so a new file is looked at, not silently skipped.
enum Expect {
    /// Accounting: ingests without a source error; at least this many allocations.
    Jobs {
        min_jobs: i64,
        columns: Option<&'static str>,
        delimiter: Option<&'static str>,
    },
    /// A column list or documentation that goes with a dump, not accounting itself.
    Companion(&'static str),
    /// Another Slurm command's output: refused as a whole, with a message saying so.
    Refused(&'static str),
}

fn manifest() -> Vec<(&'static str, Expect)> {
    use Expect::*;
    let j = |min_jobs| Jobs {
        min_jobs,
        columns: None,
        delimiter: None,
    };
    vec![
        ("aalto_slurm2sql/test-data1.csv", j(2)),
        ("aalto_slurm2sql/test-data2.csv", j(2)),
        (
            "aalto_slurm2sql/test-data3.csv",
            Jobs {
                min_jobs: 1,
                columns: None,
                delimiter: Some(","),
            },
        ),
        (
            "cscs_santis/README.md",
            Companion("markdown table of the same job as sacct_38113_parsable2.txt"),
        ),
        (
            "cscs_santis/sacct.sh",
            Companion("the script that made the dump"),
        ),
        ("cscs_santis/sacct_38113_parsable2.txt", j(1)),
        (
            "ga4hpc_examples/cluster_info.yaml",
            Companion("GA4HPC cluster configuration"),
        ),
        (
            "ga4hpc_examples/example_output_workloadManager.tsv",
            Refused("no header line"),
        ),
        ("ga4hpc_examples/example_sacctOutput_raw.txt", j(2)),
        ("ga4hpc_examples/example_sacctOutput_raw_asDF.tsv", j(2)),
        (
            "ga4hpc_examples/fixed_parameters.yaml",
            Companion("GA4HPC constants"),
        ),
        ("mila_clockwork_cedar/sacct_1", j(2)),
        ("mila_clockwork_cedar/sacct_2", j(2)),
        (
            "mila_clockwork_cedar/scontrol_job_2",
            Refused("no header line"),
        ),
        (
            "mila_clockwork_cedar/scontrol_node_2",
            Refused("no header line"),
        ),
        (
            "mila_clockwork_cedar/scontrol_node_3",
            Refused("no header line"),
        ),
        (
            "mila_clockwork_cedar/sinfo_1",
            Refused("without a `jobs` array"),
        ),
        (
            "mila_clockwork_cedar/sinfo_2",
            Refused("without a `jobs` array"),
        ),
        (
            "pm100_schema/job_features.md",
            Companion("column documentation of a dataset not in the repository"),
        ),
        ("princeton_reportseff/test_energy_reporting.psv", j(4)),
        (
            "princeton_reportseff/test_energy_reporting.raw.txt",
            Jobs {
                min_jobs: 4,
                columns: Some(
                    "AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,TRESUsageOutTot,Timelimit,TotalCPU",
                ),
                delimiter: Some("^|^"),
            },
        ),
        ("princeton_reportseff/test_issue_16.psv", j(1)),
        (
            "princeton_reportseff/test_issue_16.raw.txt",
            Jobs {
                min_jobs: 1,
                columns: Some(
                    "AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,Timelimit,TotalCPU",
                ),
                delimiter: Some("^|^"),
            },
        ),
        (
            "rivos_exporter_fixtures/sacctmgr.txt",
            Refused("no header line"),
        ),
        ("rivos_exporter_fixtures/sdiag_2405.json", Refused("sdiag")),
        (
            "rivos_exporter_fixtures/sinfo_fallback.txt",
            Refused("not valid JSON"),
        ),
        (
            "rivos_exporter_fixtures/sinfo_out.json",
            Refused("without a `jobs` array"),
        ),
        (
            "rivos_exporter_fixtures/squeue_fallback.txt",
            Refused("not valid JSON"),
        ),
        ("rivos_exporter_fixtures/squeue_out.json", j(2)),
        ("rug_habrok/README.md", Companion("how the dumps were made")),
        (
            "rug_habrok/generate_data.sh",
            Companion("the script that made the dumps"),
        ),
        (
            "rug_habrok/sacct.txt",
            Jobs {
                min_jobs: 90,
                columns: Some("@rug_habrok/sacct_columns.txt"),
                delimiter: None,
            },
        ),
        (
            "rug_habrok/sacct_columns.txt",
            Companion("the column list of sacct.txt"),
        ),
        ("rug_habrok/scontrol.txt", Refused("no header line")),
        ("rug_habrok/squeue.txt", Refused("no header line")),
        ("rug_habrok/sstat.txt", Refused("no header line")),
        (
            "rug_peregrine/README.md",
            Companion("how the dumps were made"),
        ),
        (
            "rug_peregrine/sacct.txt",
            Jobs {
                min_jobs: 20,
                columns: Some("@rug_peregrine/sacct_columns.txt"),
                delimiter: None,
            },
        ),
        (
            "rug_peregrine/sacct_columns.txt",
            Companion("the column list of sacct.txt"),
        ),
        ("rug_peregrine/scontrol.txt", Refused("no header line")),
        ("rug_peregrine/squeue.txt", Refused("no header line")),
        ("rug_peregrine/sstat.txt", Refused("no header line")),
        (
            "uoregon_talapas_slurmrestd/V0040OpenapiDiagResp.json",
            Refused("sdiag"),
        ),
        (
            "uoregon_talapas_slurmrestd/V0040OpenapiJobInfoResp.json",
            j(2),
        ),
        (
            "uoregon_talapas_slurmrestd/V0040OpenapiNodesResp.json",
            Refused("sinfo"),
        ),
        (
            "uoregon_talapas_slurmrestd/V0040OpenapiPartitionResp.json",
            Refused("partitions"),
        ),
        (
            "uoregon_talapas_slurmrestd/V0040OpenapiSharesResp.json",
            Refused("not valid JSON"),
        ),
        (
            "xdmod_ubccr/COLUMNS.txt",
            Companion("the column list of the xdmod logs"),
        ),
        (
            "xdmod_ubccr/alloc-tres-gpu-count.json",
            Refused("without a `jobs` array"),
        ),
        (
            "xdmod_ubccr/pozidriv.log",
            Jobs {
                min_jobs: 11_704,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/robertson-filter-test.log",
            Jobs {
                min_jobs: 1,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/shredder_unit_accounting-logs-with-job-arrays.log",
            Jobs {
                min_jobs: 3,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/shredder_unit_accounting-logs.log",
            Jobs {
                min_jobs: 4,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/shredder_unit_non-ended-job-state.log",
            Jobs {
                min_jobs: 2,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/shredder_unit_unknown-job-state.log",
            Jobs {
                min_jobs: 2,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
        (
            "xdmod_ubccr/shredder_unit_utf8-multibyte-chars.log",
            Jobs {
                min_jobs: 1,
                columns: Some("@xdmod_ubccr/COLUMNS.txt"),
                delimiter: None,
            },
        ),
    ]
}

#[test]
fn every_real_sacct_dump_ingests_and_everything_else_is_named() {
    let root = Path::new(REALDATA);
    assert!(
        root.is_dir(),
        "needs {REALDATA}: lay ../shared/realdata out beside the repository"
    );
    let manifest = manifest();
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                on_disk.push(f.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    for f in &on_disk {
        assert!(
            manifest.iter().any(|(m, _)| m == f),
            "{f} is in realdata/sacct but not in this test's manifest: say what it is"
        );
    }
    let work = tmp("realdata");
    for (file, expect) in manifest {
        let path = root.join(file);
        assert!(
            path.exists(),
            "{file} is in this test's manifest but not in {REALDATA}: restore it, or take it out \
             of the manifest"
        );
        let db = work.join(format!("{}.sqlite", file.replace('/', "_")));
        match expect {
            Expect::Companion(what) => assert!(!what.is_empty()),
            Expect::Jobs {
                min_jobs,
                columns,
                delimiter,
            } => {
                let columns = columns.map(|c| match c.strip_prefix('@') {
                    Some(f) => split_column_list(&std::fs::read_to_string(root.join(f)).unwrap()),
                    None => split_column_list(c),
                });
                let inputs = Inputs {
                    sacct: vec![path.clone()],
                    text: TextOptions {
                        delimiter: delimiter.map(str::to_string),
                        columns,
                    },
                    ..Default::default()
                };
                let summary =
                    run(&db, &inputs, 1_800_000_000).unwrap_or_else(|e| panic!("{file}: {e}"));
                let jobs = count(&db, "SELECT count(*) FROM jobs");
                assert!(
                    jobs >= min_jobs,
                    "{file}: {jobs} jobs, expected at least {min_jobs}; errors: {:?}",
                    summary.errors
                );
                // Malformed lines are reported with the file and line.
                for e in &summary.errors {
                    assert!(e.contains(file), "{file}: error without its file: {e}");
                }
            }
            Expect::Refused(words) => {
                let inputs = Inputs {
                    sacct: vec![path.clone()],
                    ..Default::default()
                };
                let e = run(&db, &inputs, 1_800_000_000).expect_err(file);
                assert!(
                    e.contains(words),
                    "{file}: refused, but the message does not say `{words}`: {e}"
                );
                assert!(
                    e.contains(file),
                    "{file}: the message does not name the file: {e}"
                );
            }
        }
    }
    // The xdmod log's 11,704 real jobs, and the CSCS dump's mislabelled step line reported.
    let db = work.join("cscs_santis_sacct_38113_parsable2.txt.sqlite");
    assert_eq!(count(&db, "SELECT count(*) FROM jobs"), 1);
    assert_eq!(
        count(&db, "SELECT CAST(consumed_energy_j AS INTEGER) FROM jobs"),
        20_543_125
    );
    let _ = std::fs::remove_dir_all(&work);
}

fn small_month(dir: &Path, jobs: u64) -> (Params, PathBuf, PathBuf) {
    let p = Params {
        jobs,
        assessed: 0.3,
        seed: 7,
        ..Default::default()
    };
    let js = synth::jobs(&p);
    let dump = dir.join("sacct.txt");
    let mut f = std::fs::File::create(&dump).unwrap();
    synth::write_dump(&p, &js, &mut f).unwrap();
    synth::write_records(&p, &js, &dir.join("spool")).unwrap();
    (p, dump, dir.join("spool"))
}

const AFTER_THE_MONTH: i64 = 1_793_491_200 + 40 * 86_400;

#[test]
fn ingest_is_idempotent_and_incremental() {
    let dir = tmp("idem");
    let (_, dump, spool) = small_month(&dir, 3000);
    let db = dir.join("s.sqlite");
    let inputs = Inputs {
        sacct: vec![dump.clone()],
        spools: vec![spool.clone()],
        ..Default::default()
    };
    let first = run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert_eq!(first.jobs.written, 3000);
    assert!(first.records.written > 0);
    assert!(first.derived.measured_jobs > 0);
    let before = snapshot(&db);
    // Same inputs: the files are skipped as unchanged and nothing moves.
    let again = run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert!(
        again.sources.iter().all(|s| s.kind == "spool" || !s.read),
        "{:?}",
        again.sources
    );
    assert_eq!((again.jobs.written, again.records.written), (0, 0));
    assert_eq!(snapshot(&db), before);
    // Forced to read them again: every row is found unchanged, and the store is the same.
    let forced = run(
        &db,
        &Inputs {
            force: true,
            ..inputs.clone()
        },
        AFTER_THE_MONTH,
    )
    .unwrap();
    assert_eq!(forced.jobs.written, 0);
    assert_eq!(forced.jobs.unchanged, 3000);
    assert_eq!(snapshot(&db), before);
    // Only what is new is written: a job appended to the dump.
    let mut text = std::fs::read_to_string(&dump).unwrap();
    text.push_str("9999999|9999999|synth|late|user0001|10001|user0001|10001|acct001|cpu|normal|COMPLETED|0:0|2026-11-30T10:00:00|2026-11-30T10:00:00|2026-11-30T10:00:00|2026-11-30T11:00:00|01:00:00|02:00:00|1|4||c0001|4096M|cpu=4,mem=4096M,node=1|03:00:00|04:00:00|\n");
    std::fs::write(&dump, text).unwrap();
    let inc = run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert_eq!((inc.jobs.written, inc.jobs.unchanged), (1, 3000));
    assert_eq!(count(&db, "SELECT count(*) FROM jobs"), 3001);
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn jobs_squeue_shows_completing_are_not_final_until_they_leave_cg() {
    let dir = tmp("cg");
    let sacct = dir.join("sacct");
    let squeue = dir.join("squeue");
    // sacct already says COMPLETED (as it does while epilogs still run), squeue says CG.
    let header = ea_sacct::live::LIVE_FORMAT.replace(',', "|");
    let line = "77|77|c1|j|alice|1001|alice|1001|acc|debug|normal|COMPLETED|0:0|2026-11-01T10:00:00|2026-11-01T10:00:00|2026-11-01T10:00:00|2026-11-01T11:00:00|3600|60|1|2|1|n1|2048M|cpu=2,mem=2048M,node=1|01:00:00|7200||/home/alice";
    write_script(&sacct, &format!("cat <<'EOF'\n{header}\n{line}\nEOF"));
    write_script(&squeue, "echo 77");
    let db = dir.join("s.sqlite");
    let live = LiveWindow {
        start: "2026-11-01".into(),
        end: "now".into(),
        sacct: sacct.clone(),
        squeue: squeue.clone(),
    };
    let inputs = Inputs {
        live: Some(live),
        ..Default::default()
    };
    let s = run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert_eq!(s.not_final, 1);
    assert_eq!(count(&db, "SELECT final FROM jobs WHERE job_id = '77'"), 0);
    // The epilog has finished: squeue no longer lists it, and the next ingest makes it final.
    write_script(&squeue, "true");
    run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert_eq!(count(&db, "SELECT final FROM jobs WHERE job_id = '77'"), 1);
    // A failing sacct is an error that says so, and nothing is kept.
    write_script(
        &sacct,
        "echo 'sacct: error: Problem talking to the database' >&2; exit 1",
    );
    let e = run(&db, &inputs, AFTER_THE_MONTH).unwrap_err();
    assert!(e.contains("Problem talking to the database"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_node_records_are_waited_for_then_extrapolated() {
    let dir = tmp("grace");
    let p = Params {
        jobs: 400,
        assessed: 1.0,
        seed: 3,
        ..Default::default()
    };
    let js = synth::jobs(&p);
    let multi = js
        .iter()
        .find(|j| j.nnodes >= 2 && j.elapsed > 600)
        .expect("a multi-node job")
        .clone();
    let dump = dir.join("sacct.txt");
    synth::write_dump(
        &p,
        std::slice::from_ref(&multi),
        &mut std::fs::File::create(&dump).unwrap(),
    )
    .unwrap();
    synth::write_records(&p, std::slice::from_ref(&multi), &dir.join("spool")).unwrap();
    // One node's epilog has not written its record yet.
    let records = dir.join("spool/records");
    let mut names: Vec<_> = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    std::fs::remove_file(&names[0]).unwrap();
    let db = dir.join("s.sqlite");
    let inputs = Inputs {
        sacct: vec![dump],
        spools: vec![dir.join("spool")],
        ..Default::default()
    };
    let just_after = multi.end() + 60;
    let s = run(&db, &inputs, just_after).unwrap();
    assert_eq!(
        (s.derived.measured_jobs, s.derived.measured_pending),
        (0, 1)
    );
    // After the grace period, the job is measured from the nodes that reported.
    let s = run(
        &db,
        &Inputs {
            force: true,
            ..inputs
        },
        multi.end() + 3 * 3600,
    )
    .unwrap();
    assert_eq!(s.derived.measured_jobs, 1);
    let flags: String = Store::open_read(&db)
        .unwrap()
        .conn
        .query_row("SELECT flags FROM job_measured", [], |r| r.get(0))
        .unwrap();
    assert!(
        flags.contains(&format!(
            "extrapolated:{}/{}-nodes",
            multi.nnodes - 1,
            multi.nnodes
        )),
        "{flags}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wattmeter_series_measures_the_jobs_it_covers() {
    // Grid'5000 gemini-1's wattmeter, as kwollect exported it (realdata/energy/...).
    let series = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/realdata/energy/g5k_gemini_powermeter_comparison/kwollect-powerapi_powerapi.csv"
    );
    assert!(
        Path::new(series).exists(),
        "needs {series}: lay ../shared/realdata out beside the repository"
    );
    let dir = tmp("watt");
    // A job on gemini-1 inside the series' span (the export is in the site's local time,
    // here read as UTC: the test cares about the overlap, not the zone).
    let dump = dir.join("sacct.txt");
    std::fs::write(
        &dump,
        "JobID|User|Account|Partition|State|Start|End|Elapsed|NNodes|NCPUS|NodeList\n\
         501|alice|acc|gemini|COMPLETED|2022-04-01T17:25:00|2022-04-01T17:28:00|00:03:00|1|40|gemini-1\n",
    )
    .unwrap();
    let db = dir.join("s.sqlite");
    let inputs = Inputs {
        sacct: vec![dump],
        wattmeters: vec![PathBuf::from(series)],
        ..Default::default()
    };
    let s = run(&db, &inputs, 1_800_000_000).unwrap();
    assert!(s.samples_written > 100, "{}", s.samples_written);
    assert_eq!(s.derived.measured_jobs, 1);
    let (scope, e): (String, f64) = Store::open_read(&db)
        .unwrap()
        .conn
        .query_row(
            "SELECT scope, energy_j FROM job_measured WHERE job_id = '501'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(scope, "node-wattmeter");
    // The DGX-1 drew about 1.17 kW at the wall: 3 minutes is about 211 kJ.
    assert!((150e3..300e3).contains(&e), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_job_gets_its_impacts_from_its_records_alone() {
    // What `energy-assess job` uses for a job not ingested yet.
    let dir = tmp("records-only");
    let p = Params {
        jobs: 200,
        assessed: 1.0,
        seed: 9,
        ..Default::default()
    };
    let js = synth::jobs(&p);
    let job = js
        .iter()
        .find(|j| j.part == 1 && j.elapsed > 600 && j.cpus_per_node == j.partition.cores)
        .expect("a GPU job holding its nodes whole");
    std::fs::write(dir.join("inventory.toml"), synth::inventory_toml(&p)).unwrap();
    let config = ea_store::config::Config {
        inventory: Some(dir.join("inventory.toml")),
        ..Default::default()
    };
    let records = synth::records(&p, job);
    let (rec, figs) = figures_from_records(&config, &records).unwrap().unwrap();
    assert_eq!(rec.row.job_id, job.id.to_string());
    assert_eq!(figs.energy.source, ea_query::figures::Source::Measured);
    let i = figs
        .impacts
        .as_ref()
        .expect("the inventory knows the GPU nodes");
    assert!(i.use_phase.value.gwp_kgco2eq > 0.0 && i.embodied.value.gwp_kgco2eq > 0.0);
    assert!(
        i.total().min.gwp_kgco2eq <= i.total().value.gwp_kgco2eq
            && i.total().value.gwp_kgco2eq <= i.total().max.gwp_kgco2eq
    );
    let units = ea_units::EnergyUnits::default();
    let lines = ea_query::session::describe(&figs, units);
    let line = |lines: &[(String, String)], k: &str| {
        lines
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {lines:?}"))
    };
    let gwp = line(&lines, "GWP");
    assert!(gwp.contains("CO2eq") && gwp.contains("embodied"), "{gwp}");
    assert!(line(&lines, "ADPe").contains("Sb eq"), "{lines:?}");
    assert!(line(&lines, "Everyday").contains("km"), "{lines:?}");
    assert!(line(&lines, "Charged").contains("measured"), "{lines:?}");
    // A split energy says what the job was charged, since it is less than its nodes' meters.
    let mut split = figs.clone();
    split.energy.source = ea_query::figures::Source::Split;
    let lines = ea_query::session::describe(&split, units);
    assert!(line(&lines, "Charged").contains("share rule"), "{lines:?}");
    // A job of under a second (start and end in the same second, as sacct then shows
    // Elapsed 0) still has the footprint its nodes measured, and no embodied share.
    let mut instant = records.clone();
    for r in &mut instant {
        r.start = Some(ea_record::UnixMicros(1_764_000_000_100_000));
        r.end = Some(ea_record::UnixMicros(1_764_000_000_300_000));
    }
    let (_, f) = figures_from_records(&config, &instant).unwrap().unwrap();
    let i = f.impacts.expect("the inventory knows the nodes");
    assert!(i.use_phase.value.gwp_kgco2eq > 0.0, "{i:?}");
    assert_eq!(i.embodied.value.gwp_kgco2eq, 0.0);
    // No meter at all: nothing to say from the records.
    let mut bare = records.clone();
    for r in &mut bare {
        r.meters.clear();
    }
    assert!(figures_from_records(&config, &bare).unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_first_ingest_derives_from_what_it_wrote_as_from_the_store() {
    // One run into an empty store derives measured jobs from the rows it kept in memory; the
    // same inputs in two runs (the second reads the store back) must give the same store.
    let dir = tmp("capture");
    let (_, dump, spool) = small_month(&dir, 3000);
    let one = dir.join("one.sqlite");
    let s = run(
        &one,
        &Inputs {
            sacct: vec![dump.clone()],
            spools: vec![spool.clone()],
            ..Default::default()
        },
        AFTER_THE_MONTH,
    )
    .unwrap();
    assert!(
        s.derived.measured_early && s.derived.calibrated_early,
        "a first run splits while it builds the indexes, and fits the calibration from memory"
    );
    let two = dir.join("two.sqlite");
    run(
        &two,
        &Inputs {
            sacct: vec![dump],
            ..Default::default()
        },
        AFTER_THE_MONTH,
    )
    .unwrap();
    let s = run(
        &two,
        &Inputs {
            spools: vec![spool],
            ..Default::default()
        },
        AFTER_THE_MONTH,
    )
    .unwrap();
    assert!(s.derived.measured_jobs > 100, "{:?}", s.derived);
    assert!(
        !s.derived.measured_early && !s.derived.calibrated_early,
        "the second run reads the store back"
    );
    let measured = |db: &Path| rows_of(db, &["job_measured", "calibration"]);
    assert_eq!(measured(&one), measured(&two));
    // The calibration too: the first run fits it from the jobs in memory, the second from the
    // store.
    assert!(count(&one, "SELECT count(*) FROM calibration") > 0);
    let split = count(&one, "SELECT count(*) FROM job_measured WHERE split = 1");
    let whole = count(&one, "SELECT count(*) FROM job_measured WHERE split = 0");
    assert!(split > 0 && whole > 0, "{split} split, {whole} whole");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn measured_energy_is_split_by_the_inventorys_rule_and_again_when_it_changes() {
    let dir = tmp("rule");
    let (p, dump, spool) = small_month(&dir, 2000);
    let db = dir.join("s.sqlite");
    let inputs = Inputs {
        sacct: vec![dump],
        spools: vec![spool],
        ..Default::default()
    };
    let with = |rule: &str| {
        let text = synth::inventory_toml(&p)
            .replace("[site]\n", &format!("[site]\nshare_rule = \"{rule}\"\n"));
        let inv = ea_impact::Inventory::parse(&text, &dir.join(format!("{rule}.toml"))).unwrap();
        Settings {
            inventory: Some(std::sync::Arc::new(inv)),
            ..settings(AFTER_THE_MONTH)
        }
    };
    let ingest_with = |rule: &str, force: bool| {
        let (mut store, _) = Store::open_for_write(&db, &Access::default()).unwrap();
        ingest::ingest(
            &mut store,
            &Inputs {
                force,
                ..inputs.clone()
            },
            &with(rule),
        )
        .unwrap()
    };
    let total = |db: &Path| {
        let s = Store::open_read(db).unwrap();
        s.conn
            .query_row(
                "SELECT sum(energy_j), count(*) FROM job_measured",
                [],
                |r| Ok((r.get::<_, f64>(0)?, r.get::<_, i64>(1)?)),
            )
            .unwrap()
    };
    ingest_with("max", false);
    let max = total(&db);
    // The same inventory again: nothing is split anew.
    let again = ingest_with("max", true);
    assert_eq!(again.derived.measured_jobs, 0, "{:?}", again.derived);
    assert_eq!(total(&db), max);
    // Cores only: a job's share can only shrink (the max rule takes the largest fraction).
    let cores = ingest_with("cores", false);
    assert_eq!(
        cores.derived.measured_jobs as i64, max.1,
        "every measured job split again"
    );
    let by_cores = total(&db);
    assert_eq!(by_cores.1, max.1);
    assert!(by_cores.0 < max.0, "{by_cores:?} {max:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_first_run_with_records_of_jobs_its_dump_lacks_measures_through_the_store() {
    // Records of a job missing from the dump first make the job, through the store: the split
    // then waits for the indexes instead of starting early, and gives what two runs give. A
    // file that is not a record is named and skipped; a job's started part under running/
    // gives way to its final record.
    let dir = tmp("first-run-odd-spool");
    let (p, _, spool) = small_month(&dir, 2000);
    let js = synth::jobs(&p);
    let lost = js
        .iter()
        .find(|j| j.assessed && j.elapsed > 600)
        .expect("an assessed job");
    let dump = dir.join("partial.txt");
    let kept: Vec<synth::Job> = js.iter().filter(|j| j.id != lost.id).cloned().collect();
    synth::write_dump(&p, &kept, &mut std::fs::File::create(&dump).unwrap()).unwrap();
    std::fs::write(
        spool.join("records/job-77.c0001.json"),
        b"{\"schema_version\":3,\"state\":",
    )
    .unwrap();
    let running = synth::records(
        &p,
        kept.iter().find(|j| j.assessed && j.elapsed > 0).unwrap(),
    )
    .swap_remove(0);
    let mut started = running.clone();
    (started.state, started.end, started.meters) =
        (ea_record::RecordState::Started, None, Vec::new());
    ea_record::spool::write_record_atomic(
        &ea_record::spool::Spool::new(&spool).started_path(started.job_id, &started.node),
        &started,
    )
    .unwrap();
    let inputs = |sacct: bool, spools: bool| Inputs {
        sacct: if sacct { vec![dump.clone()] } else { vec![] },
        spools: if spools { vec![spool.clone()] } else { vec![] },
        ..Default::default()
    };
    let one = dir.join("one.sqlite");
    let s = run(&one, &inputs(true, true), AFTER_THE_MONTH).unwrap();
    assert!(!s.derived.measured_early, "{:?}", s.derived);
    assert_eq!(s.derived.jobs_from_records, 1, "{:?}", s.derived);
    assert!(s.derived.measured_jobs > 100, "{:?}", s.derived);
    // sacct never told how it ended: not passed off as COMPLETED.
    let (state, raw): (String, String) = Store::open_read(&one)
        .unwrap()
        .conn
        .query_row(
            "SELECT state, state_raw FROM jobs WHERE job_id = ?1",
            [lost.id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(state, "UNKNOWN");
    assert!(
        raw.contains("not in sacct") && raw.ends_with(" (from node records)"),
        "{raw}"
    );
    assert_eq!(s.error_count, 1);
    assert!(
        s.errors[0].contains("job-77.c0001.json") && s.errors[0].contains("not a valid record"),
        "{:?}",
        s.errors
    );
    let id = running.job_id.to_string();
    let complete = |db: &Path| {
        count(
            db,
            &format!(
                "SELECT complete FROM node_records WHERE job_id = '{id}' AND node = '{}'",
                running.node
            ),
        )
    };
    assert_eq!(complete(&one), 1);
    assert_eq!(
        count(
            &one,
            &format!(
                "SELECT count(*) FROM job_measured WHERE job_id = '{}'",
                lost.id
            )
        ),
        1
    );
    let two = dir.join("two.sqlite");
    run(&two, &inputs(true, false), AFTER_THE_MONTH).unwrap();
    run(&two, &inputs(false, true), AFTER_THE_MONTH).unwrap();
    assert_eq!(complete(&two), 1);
    let measured = |db: &Path| rows_of(db, &["job_measured"]);
    assert_eq!(measured(&one), measured(&two));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_repeated_allocation_line_is_kept_once_and_a_different_one_is_reported() {
    // Dumps appended to one file repeat their lines: no error. A different line under the same
    // JobID (a step written as its job, as in CSCS's santis dump) is reported with both line
    // numbers, and the first line and its steps are kept; the steps after a repeat are dropped.
    let dir = tmp("repeated-lines");
    let dump = dir.join("dump.txt");
    std::fs::write(
        &dump,
        "JobID|JobName|User|Account|Partition|State|Start|End|NNodes|NCPUS|NodeList\n\
         7|a|ann|acct|cpu|COMPLETED|2026-11-02T10:00:00|2026-11-02T11:00:00|1|4|c1\n\
         7.batch|batch||||COMPLETED|2026-11-02T10:00:00|2026-11-02T11:00:00|1|4|c1\n\
         8|b|bob|acct|cpu|COMPLETED|2026-11-02T10:00:00|2026-11-02T12:00:00|1|8|c2\n\
         7|a|ann|acct|cpu|COMPLETED|2026-11-02T10:00:00|2026-11-02T11:00:00|1|4|c1\n\
         7.batch|batch||||COMPLETED|2026-11-02T10:00:00|2026-11-02T11:00:00|1|4|c1\n\
         8|b2|bob|acct|cpu|FAILED|2026-11-02T10:00:00|2026-11-02T12:00:00|1|8|c2\n\
         8.0|step||||FAILED|2026-11-02T10:00:00|2026-11-02T12:00:00|1|8|c2\n",
    )
    .unwrap();
    let db = dir.join("s.sqlite");
    let inputs = Inputs {
        sacct: vec![dump.clone()],
        ..Default::default()
    };
    let s = run(&db, &inputs, AFTER_THE_MONTH).unwrap();
    assert_eq!(s.error_count, 1, "{:?}", s.errors);
    assert!(
        s.errors[0].ends_with(
            "dump.txt:7: a second, different allocation line for job 8 (the first is at line 4); kept the first"
        ),
        "{:?}",
        s.errors
    );
    assert_eq!(count(&db, "SELECT count(*) FROM jobs"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM jobs WHERE job_id = '8' AND name = 'b' AND state = 'COMPLETED' AND steps IS NULL"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT json_array_length(steps) FROM jobs WHERE job_id = '7'"
        ),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Renames jobs in a dump: sacct's JobID of raw id `raw` becomes `alias` (its steps too), its
/// JobIDRaw stays, as for an array task (`9000_7`) or a het component (`9100+1`).
fn alias_in_dump(dump: &Path, aliases: &[(u64, &str)]) {
    let text = std::fs::read_to_string(dump).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let (id, rest) = line.split_once('|').unwrap();
        let (base, step) = id.split_once('.').map_or((id, None), |(b, s)| (b, Some(s)));
        match aliases.iter().find(|(raw, _)| raw.to_string() == base) {
            Some((_, alias)) => {
                out.push_str(alias);
                if let Some(s) = step {
                    out.push('.');
                    out.push_str(s);
                }
            }
            None => out.push_str(id),
        }
        out.push('|');
        out.push_str(rest);
        out.push('\n');
    }
    std::fs::write(dump, out).unwrap();
}

#[test]
fn array_tasks_and_het_components_meet_their_records_by_raw_id_in_any_order() {
    // Records carry the raw id only (a node where no step of the job ran cannot learn its
    // array task); sacct names the jobs `9000_7` and `9100+1`. Whether records or sacct rows
    // come first, or together, there is one job each, measured, and no job "from node
    // records" under the raw id.
    let dir = tmp("aliases");
    let (p, dump, spool) = small_month(&dir, 400);
    let js = synth::jobs(&p);
    let mut assessed = js.iter().filter(|j| j.assessed && j.elapsed > 600);
    let (a, b) = (assessed.next().unwrap().id, assessed.next().unwrap().id);
    alias_in_dump(&dump, &[(a, "9000_7"), (b, "9100+1")]);
    let jobs_in_dump = js.len() as i64;
    // One node of job a had only its prolog's part when the first ingest ran.
    let first = synth::records(&p, js.iter().find(|j| j.id == a).unwrap()).swap_remove(0);
    let mut started = first.clone();
    (started.state, started.end, started.meters) =
        (ea_record::RecordState::Started, None, Vec::new());
    let only_started = dir.join("started-spool");
    std::fs::create_dir_all(only_started.join("running")).unwrap();
    ea_record::spool::write_record_atomic(
        &ea_record::spool::Spool::new(&only_started).started_path(started.job_id, &started.node),
        &started,
    )
    .unwrap();
    let inputs = |sacct: bool, spool_dir: Option<&Path>| Inputs {
        sacct: if sacct { vec![dump.clone()] } else { vec![] },
        spools: spool_dir.map(Path::to_path_buf).into_iter().collect(),
        ..Default::default()
    };
    let check = |db: &Path| {
        assert_eq!(
            count(db, "SELECT count(*) FROM jobs"),
            jobs_in_dump,
            "{db:?}"
        );
        for (raw, alias) in [(a, "9000_7"), (b, "9100+1")] {
            assert_eq!(
                count(
                    db,
                    &format!("SELECT count(*) FROM jobs WHERE job_id IN ('{raw}', '{alias}')")
                ),
                1,
                "{db:?}: one job for raw id {raw}"
            );
            assert_eq!(
                count(
                    db,
                    &format!(
                        "SELECT count(*) FROM node_records WHERE job_id_raw = {raw} AND job_id != '{alias}'"
                    )
                ),
                0,
                "{db:?}: every record of {raw} is {alias}'s"
            );
            assert_eq!(
                count(
                    db,
                    &format!(
                        "SELECT count(*) FROM job_measured WHERE job_id = '{alias}' AND energy_j > 0"
                    )
                ),
                1,
                "{db:?}: {alias} is measured"
            );
        }
        assert_eq!(
            count(
                db,
                &format!("SELECT count(*) FROM job_measured WHERE job_id IN ('{a}', '{b}')")
            ),
            0
        );
    };
    let measured = |db: &Path| rows_of(db, &["job_measured"]);
    // Together, in one first run.
    let together = dir.join("together.sqlite");
    run(&together, &inputs(true, Some(&spool)), AFTER_THE_MONTH).unwrap();
    check(&together);
    // Records first (a started part, then the final records), sacct later.
    let records_first = dir.join("records-first.sqlite");
    let s = run(
        &records_first,
        &inputs(false, Some(&only_started)),
        AFTER_THE_MONTH,
    )
    .unwrap();
    assert_eq!(s.derived.jobs_from_records, 1);
    run(
        &records_first,
        &inputs(false, Some(&spool)),
        AFTER_THE_MONTH,
    )
    .unwrap();
    let s = run(&records_first, &inputs(true, None), AFTER_THE_MONTH).unwrap();
    assert_eq!(s.derived.records_renamed, 2, "{:?}", s.derived);
    check(&records_first);
    // sacct first, records later.
    let sacct_first = dir.join("sacct-first.sqlite");
    run(&sacct_first, &inputs(true, None), AFTER_THE_MONTH).unwrap();
    run(&sacct_first, &inputs(false, Some(&spool)), AFTER_THE_MONTH).unwrap();
    check(&sacct_first);
    // Records first again, but the final ones name their array task, as a node where a step
    // of the task ran does: the job made from the started part goes at once.
    let named = dir.join("named-spool");
    std::fs::create_dir_all(named.join("records")).unwrap();
    for mut r in synth::records(&p, js.iter().find(|j| j.id == a).unwrap()) {
        (r.array_job_id, r.array_task_id) = (Some(9000), Some(7));
        let path = ea_record::spool::Spool::new(&named).record_path(r.job_id, &r.node);
        ea_record::spool::write_record_atomic(&path, &r).unwrap();
    }
    let named_first = dir.join("named-first.sqlite");
    run(
        &named_first,
        &inputs(false, Some(&only_started)),
        AFTER_THE_MONTH,
    )
    .unwrap();
    run(&named_first, &inputs(false, Some(&named)), AFTER_THE_MONTH).unwrap();
    let job_ids: String = Store::open_read(&named_first)
        .unwrap()
        .conn
        .query_row("SELECT group_concat(job_id, ',') FROM jobs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(job_ids, "9000_7");
    run(&named_first, &inputs(true, Some(&spool)), AFTER_THE_MONTH).unwrap();
    check(&named_first);
    assert_eq!(measured(&together), measured(&records_first));
    assert_eq!(measured(&together), measured(&sacct_first));
    // Ingesting it all again changes nothing.
    let before = snapshot(&records_first);
    run(
        &records_first,
        &Inputs {
            force: true,
            ..inputs(true, Some(&spool))
        },
        AFTER_THE_MONTH,
    )
    .unwrap();
    let after = snapshot(&records_first);
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("spool_reads"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&before), strip(&after));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A job's figures from its node records alone, as `energy-assess job` computes them for a job
/// the store does not have: the ingest's job from the records, the query's figures of it.
fn figures_from_records(
    config: &ea_store::config::Config,
    records: &[ea_record::JobNodeRecord],
) -> Result<
    Option<(ea_store::read::JobRecord, ea_query::figures::JobFigures)>,
    Box<dyn std::error::Error>,
> {
    let Some(job) = ea_ingest::unstored::job_from_records(config, records)? else {
        return Ok(None);
    };
    let figures = ea_query::session::figures_unstored(config, &job)?;
    Ok(Some((job, figures)))
}
