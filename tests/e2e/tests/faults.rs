//! Faults injected into the real cluster, one class per test: extreme config values, the
//! plugin removed under `optional` and `required`, a read-only or full spool at the prolog and
//! at the epilog, daemons restarted mid-job, bad records, a locked, read-only or foreign store,
//! and arrays of 200 tasks and het jobs. Each asserts that every job completed, that no node
//! was drained unless Slurm itself must (and `docs/install.md` says so), and that each record
//! is there once or its loss is reported with the reason.
//!
//! (A sampler killed or stopped mid-job is in `meters.rs`; an ingest killed half-way in
//! `postproc/tests/queries_and_reports.rs`.)

use e2e::{
    Cluster, NODES, PluginRemoved, PlugstackLine, SPOOL, Store, TmpfsSpool, restart_daemon, run,
};
use ea_record::spool::Spool;
use ea_record::{JobNodeRecord, RecordFlag, RecordState};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn assert_completed(c: &Cluster, job: u32) {
    assert_eq!(
        c.sacct(job, "State,ExitCode"),
        ["COMPLETED", "0:0"],
        "job {job}"
    );
}

fn assert_healthy(c: &Cluster) {
    assert!(c.unhealthy_nodes().is_empty(), "{:?}", c.unhealthy_nodes());
}

/// Waits until the job's started records and samplers are up on `nodes`, and the samplers
/// have checkpointed a few times.
fn wait_sampling(c: &Cluster, job: u32, nodes: &[&str]) {
    c.wait_running(job, T);
    for n in nodes {
        c.sampler_pid(job, n, T);
    }
    std::thread::sleep(Duration::from_secs(2));
}

#[test]
fn extreme_config_values_are_refused_by_key_and_lose_no_record() {
    let c = Cluster::acquire();
    // In the site file: the whole file is refused, the built-in defaults apply.
    c.set_site_config_with(Path::new(SPOOL), "", "interval = 1e30");
    let job = c.sbatch(&["-N3", "--energy-assess"], "true");
    c.wait_gone(job, T);
    assert_completed(&c, job);
    assert_healthy(&c);
    let log = c.slurmd_log();
    assert!(
        log.contains("/etc/slurm/energy-assess.toml: line") && log.contains("`interval`"),
        "the log names the file, line and key:\n{log}"
    );
    let records = c.records(job, NODES, T);
    assert_eq!(records.len(), NODES);
    assert!(
        records
            .iter()
            .all(|r| r.flags.contains(&RecordFlag::ConfigError))
    );

    // On the plugstack line: that argument is refused, the rest applies.
    c.set_site_config("");
    let _line = PlugstackLine::with("required", "interval=100000000000000000000000");
    let job = c.sbatch(&["-N3", "--energy-assess"], "true");
    c.wait_gone(job, T);
    assert_completed(&c, job);
    assert_healthy(&c);
    let log = c.slurmd_log();
    assert!(
        log.contains("plugstack.conf: interval=100000000000000000000000")
            && log.contains("out of range"),
        "{log}"
    );
    let records = c.records(job, NODES, T);
    assert_eq!(records.len(), NODES);
    for r in &records {
        assert!(r.flags.contains(&RecordFlag::ConfigError));
        assert!(!r.meters.is_empty(), "the site file still applies: {r:?}");
    }
}

/// Runs a two-node job and removes the plugin while it runs, as an uninstall would; the
/// plugstack line says `kind`. Returns the job and its records, which the samplers salvage.
fn job_with_the_plugin_removed(c: &Cluster, kind: &str) -> (u32, Vec<JobNodeRecord>) {
    let _line = PlugstackLine::with(kind, "");
    c.set_site_config_with(Path::new(SPOOL), "", "orphan_after = \"10s\"");
    let job = c.sbatch(&["-N2", "-w", "n[1-2]", "--energy-assess"], "sleep 6");
    wait_sampling(c, job, &["n1", "n2"]);
    let pids = [c.sampler_pid(job, "n1", T), c.sampler_pid(job, "n2", T)];
    {
        let _removed = PluginRemoved::now();
        c.wait_gone(job, T);
    }
    assert_completed(c, job);
    // Within orphan_after (10 s), a look every 5 s and the final reading.
    let records = c.records(job, 2, Duration::from_secs(45));
    assert_eq!(records.len(), 2, "{kind}: both nodes' records salvaged");
    for r in &records {
        assert_eq!(r.state, RecordState::Complete);
        assert!(r.flags.contains(&RecordFlag::Salvaged), "{:?}", r.flags);
        assert!(r.duration_s().unwrap() >= 5.0, "{:?}", r.duration_s());
        assert!(!r.meters.is_empty());
    }
    e2e::wait_until(T, "the samplers to leave", || {
        pids.iter().all(|p| {
            !Path::new(&format!("/proc/{p}/cmdline")).exists()
                || std::fs::read(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .is_empty()
        })
    });
    let running: Vec<_> = c
        .any_spool_file(job)
        .into_iter()
        .filter(|p| p.starts_with(c.spool.running_dir()))
        .collect();
    assert!(running.is_empty(), "running/ cleaned: {running:?}");
    (job, records)
}

#[test]
fn a_plugin_removed_while_jobs_run_under_optional_drains_nothing_and_loses_no_record() {
    let c = Cluster::acquire();
    job_with_the_plugin_removed(&c, "optional");
    assert_healthy(&c);
}

#[test]
fn a_plugin_removed_under_required_drains_as_slurm_must_and_loses_no_record() {
    // Slurm fails the epilog of a `required` plugin it cannot load and drains the node:
    // docs/install.md says so and recommends `optional`. The records are salvaged anyway.
    let c = Cluster::acquire();
    job_with_the_plugin_removed(&c, "required");
    let drained = c.unhealthy_nodes();
    assert!(
        drained.iter().any(|n| n.starts_with("n1")) && drained.iter().any(|n| n.starts_with("n2")),
        "{drained:?}"
    );
    let reasons = String::from_utf8_lossy(&run("sinfo", &["-R", "-h"]).stdout).into_owned();
    assert!(reasons.to_lowercase().contains("epilog"), "{reasons}");
    let docs = std::fs::read_to_string(e2e::repo().join("docs/install.md")).unwrap();
    assert!(
        docs.contains("is drained") && docs.contains("Use `optional`"),
        "docs/install.md must say what `required` does"
    );
    run("scontrol", &["update", "nodename=n[1-2]", "state=resume"]);
    assert_healthy(&c);
}

/// A spool that fails at the prolog: the node's record is lost, and the slurmd log says why.
/// At the epilog: the record is kept and written when the spool comes back. (Leftovers that
/// no keeper holds are salvaged by the next job on the node: `meters/tests/sampler.rs`.)
fn spool_fault(c: &mut Cluster, fault: &dyn Fn(bool), reason: &str) {
    // At the prolog.
    fault(true);
    let job = c.sbatch(&["-N2", "-w", "n[1-2]", "--energy-assess"], "true");
    c.wait_gone(job, T);
    fault(false);
    assert_completed(c, job);
    assert_healthy(c);
    let log = c.slurmd_log();
    assert!(
        log.contains(&format!("job {job}")) && log.contains(reason),
        "the loss of job {job}'s records is reported with the reason ({reason}):\n{log}"
    );
    assert!(c.records(job, 0, Duration::ZERO).is_empty());

    // At the epilog: the epilog hands its record to a keeper, which writes it once the spool
    // can be written again; nothing is left under running/.
    let job = c.sbatch(&["-N2", "-w", "n[1-2]", "--energy-assess"], "sleep 6");
    wait_sampling(c, job, &["n1", "n2"]);
    fault(true);
    c.wait_gone(job, T);
    let log = c.slurmd_log();
    assert!(
        log.contains(&format!("job {job}: cannot write its record")) && log.contains(reason),
        "{log}"
    );
    assert!(log.contains("a keeper (pid"), "{log}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        c.records(job, 0, Duration::ZERO).is_empty(),
        "not while the fault lasts"
    );
    fault(false);
    assert_completed(c, job);
    assert_healthy(c);
    let kept = c.records(job, 2, Duration::from_secs(10));
    assert_eq!(
        kept.len(),
        2,
        "both nodes' records written by their keepers"
    );
    for r in &kept {
        assert_eq!(r.state, RecordState::Complete);
        assert!(!r.flags.contains(&RecordFlag::Salvaged), "{:?}", r.flags);
        assert!(r.duration_s().unwrap() >= 6.0, "{:?}", r.duration_s());
        let bmc = r.meters.iter().find(|m| m.id == "ipmi:dcmi").unwrap();
        assert!(bmc.energy_j > 0.0);
    }
    e2e::wait_until(T, "running/ to be cleared", || {
        c.any_spool_file(job)
            .iter()
            .all(|p| !p.starts_with(c.spool.running_dir()))
    });
    let next = c.sbatch(&["-N2", "-w", "n[1-2]", "--energy-assess"], "true");
    c.wait_gone(next, T);
    let normal = c.records(next, 2, T);
    assert!(normal.iter().all(|r| r.flags.is_empty()), "{normal:?}");
}

#[test]
fn a_read_only_or_full_spool_never_stops_a_job_and_loses_only_what_no_process_could_write() {
    let mut c = Cluster::acquire();
    let t = TmpfsSpool::mount("spool", "16M");
    c.set_site_config_with(&t.path, "", "");
    c.spool = Spool::new(&t.path);
    spool_fault(&mut c, &|on| t.read_only(on), "Read-only file system");
    spool_fault(&mut c, &|on| t.full(on), "No space left on device");
}

#[test]
fn slurmd_and_slurmctld_restarts_mid_job_lose_nothing() {
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N3", "--energy-assess"], "sleep 8");
    wait_sampling(&c, job, &["n1", "n2", "n3"]);
    restart_daemon("slurmctld");
    restart_daemon("n2");
    c.wait_gone(job, Duration::from_secs(90));
    assert_completed(&c, job);
    assert_healthy(&c);
    let records = c.records(job, NODES, T);
    assert_eq!(records.len(), NODES);
    for r in &records {
        assert!(r.flags.is_empty(), "{}: {:?}", r.node, r.flags);
        assert!(r.duration_s().unwrap() >= 8.0);
    }
}

#[test]
fn corrupt_truncated_duplicated_misnamed_and_impossible_records_are_named_and_left_out() {
    let c = Cluster::acquire();
    let bad = c.sbatch(&["-N3", "--energy-assess"], "sleep 2");
    let good = c.sbatch(&["-N1", "-w", "n3", "--energy-assess"], "sleep 2");
    c.wait_gone(bad, T);
    c.wait_gone(good, T);
    c.sacct(bad, "JobID");
    c.sacct(good, "JobID");
    assert_eq!(c.records(bad, NODES, T).len(), NODES);
    assert_eq!(c.records(good, 1, T).len(), 1);

    // A copy of the spool with this test's damage, beside the clean one.
    let copy = std::env::temp_dir().join(format!("ea-e2e-bad-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    let spool = Spool::new(&copy);
    spool.ensure().unwrap();
    for r in c
        .records(bad, NODES, T)
        .iter()
        .chain(&c.records(good, 1, T))
    {
        let src = c.spool.record_path(r.job_id, &r.node);
        let dst = spool.record_path(r.job_id, &r.node);
        // Records live in their job's shard (records/<id/10000>/<id>/).
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, dst).unwrap();
    }
    let path = |node: &str| spool.record_path(bad, node);
    let n1 = std::fs::read(path("n1")).unwrap();
    std::fs::write(path("n1"), &n1[..n1.len() / 2]).unwrap(); // truncated
    std::fs::copy(path("n2"), path("n9")).unwrap(); // a copy under another node's name
    let mut n3: JobNodeRecord = ea_record::spool::read_record(&path("n3")).unwrap();
    n3.meters[0].energy_j = 1e308; // out of bounds
    ea_record::spool::write_record_atomic(&path("n3"), &n3).unwrap();
    std::fs::write(spool.record_path(bad, "n8"), b"\x00garbage\xff").unwrap(); // corrupt

    // `job` reads the spool: each bad file named, each node once, the impossible meter out.
    let store = Store::new("bad-records");
    let view = store.ea(&["job", &bad.to_string(), "--spool", copy.to_str().unwrap()]);
    assert!(view.contains("(2 of 3 recorded)"), "{view}");
    for needle in [
        "job-", "n1.json", "n9.json", "misnamed", "n8.json", "refused",
    ] {
        assert!(view.contains(needle), "{needle} in:\n{view}");
    }

    // The store: the same files refused, the same meter flagged; the clean job's figure is
    // the same as from the clean spool.
    let ingest = |store: &Store, spool: &str| {
        let out = store.run(&e2e::live_ingest(spool));
        assert!(out.status.success(), "{}", e2e::stderr(&out));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            e2e::stderr(&out)
        )
    };
    let said = ingest(&store, copy.to_str().unwrap());
    for needle in ["n1.json", "n9.json", "n8.json"] {
        assert!(said.contains(needle), "{needle} in:\n{said}");
    }
    let clean = Store::new("clean-records");
    ingest(&clean, SPOOL);
    let energy = |s: &Store, job: u32| {
        s.ea(&[
            "acct",
            "-j",
            &job.to_string(),
            "-X",
            "-P",
            "-n",
            "-o",
            "EnergyRaw",
        ])
        .trim()
        .to_string()
    };
    assert_eq!(energy(&store, good), energy(&clean, good));
    let flags = store.ea(&[
        "acct",
        "-j",
        &bad.to_string(),
        "-X",
        "-P",
        "-n",
        "-o",
        "Flags",
    ]);
    assert!(!flags.contains("e308"), "{flags}");
    let conn = ea_store::Store::open_read(&store.db()).unwrap().conn;
    let (rows, implausible): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(flags LIKE '%implausible-energy%') FROM node_records WHERE job_id_raw = ?1",
            [bad],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, implausible), (2, 1));
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn a_locked_read_only_or_foreign_store_is_waited_for_or_refused_by_name() {
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N1", "--energy-assess"], "true");
    c.wait_gone(job, T);
    c.sacct(job, "JobID");
    let store = Store::new("locks");
    let live = e2e::live_ingest(SPOOL);
    store.ea(&live);
    let acct = [
        "acct",
        "-j",
        &job.to_string(),
        "-X",
        "-P",
        "-n",
        "-o",
        "JobID",
    ];

    // Locked by another writer for 3 s: acct waits, then answers.
    let db = store.db();
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep(3)\nc.execute('COMMIT')",
            db.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let t0 = std::time::Instant::now();
    assert_eq!(store.ea(&acct).trim(), job.to_string());
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    holder.wait().unwrap();

    // Read-only: ingest says so by name, queries still work.
    let ro = TmpfsSpool::mount("ro-store", "64M");
    let ro_db = ro.path.join("store.sqlite");
    std::fs::copy(&db, &ro_db).unwrap();
    ro.read_only(true);
    let config = store.dir.join("ro.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(&store.config)
            .unwrap()
            .replace(&db.display().to_string(), &ro_db.display().to_string()),
    )
    .unwrap();
    let bin = e2e::energy_assess_bin();
    let mut args: Vec<&str> = live.to_vec();
    args.extend(["--config", config.to_str().unwrap()]);
    let out = run(bin.to_str().unwrap(), &args);
    assert!(!out.status.success());
    let e = e2e::stderr(&out);
    assert!(
        e.contains("store.sqlite")
            && e.contains("cannot write the store")
            && e.contains("Read-only"),
        "{e}"
    );
    let mut args: Vec<&str> = acct.to_vec();
    args.extend(["--config", config.to_str().unwrap()]);
    let out = run(bin.to_str().unwrap(), &args);
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    ro.read_only(false);

    // A file that is not a store: refused, untouched.
    std::fs::write(&db, b"these are my notes\n").unwrap();
    for args in [&live[..], &acct[..]] {
        let out = store.run(args);
        assert!(!out.status.success());
        assert!(
            e2e::stderr(&out).contains("not an energy-assess store"),
            "{}",
            e2e::stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), b"these are my notes\n");
}

#[test]
fn an_array_of_200_tasks_and_a_het_job_are_each_one_job_with_their_records() {
    let c = Cluster::acquire();
    let array = c.sbatch(&["--array=1-200", "-N3", "--energy-assess"], "true");
    let dir = e2e::user_workdir();
    let script = dir.join("het.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\n#SBATCH -N1 --energy-assess\n#SBATCH hetjob\n#SBATCH -N2 --energy-assess\nsrun --het-group=0,1 true\nsleep 1\n",
    )
    .unwrap();
    let out = e2e::as_user(
        &dir,
        "sbatch",
        &["--parsable", "-o", "/dev/null", script.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let het: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    e2e::wait_until(Duration::from_secs(600), "the array to finish", || {
        String::from_utf8_lossy(&run("squeue", &["-h", "-r", "-j", &array.to_string()]).stdout)
            .trim()
            .is_empty()
    });
    c.wait_gone(het, T);

    // sacct's view: 200 tasks, each with its raw id; the het job's two components.
    let sacct = |job: u32| -> Vec<(String, u32, String)> {
        let out = run(
            "sacct",
            &[
                "-X",
                "-P",
                "-n",
                "-j",
                &job.to_string(),
                "-o",
                "JobID,JobIDRaw,State",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                (f[0].to_string(), f[1].parse().unwrap(), f[2].to_string())
            })
            .collect()
    };
    let mut tasks = Vec::new();
    e2e::wait_until(T, "sacct to show every task final", || {
        tasks = sacct(array);
        tasks.len() == 200 && tasks.iter().all(|t| t.2 == "COMPLETED")
    });
    let components = sacct(het);
    assert_eq!(components.len(), 2, "{components:?}");
    assert!(
        components.iter().all(|t| t.2 == "COMPLETED"),
        "{components:?}"
    );

    // Every task left one record per node, under its raw id.
    let spool = &c.spool;
    for (id, raw, _) in &tasks {
        let (records, errors) = spool.job_records(*raw);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(records.len(), NODES, "task {id} (raw {raw})");
    }
    // Each task's epilogs noted its own id under arrays/, where `job ARRAY_TASK` finds it by
    // name (no record read, no shard listed).
    for (id, raw, _) in &tasks {
        let task: u32 = id.rsplit('_').next().unwrap().parse().unwrap();
        assert_eq!(spool.array_task(array, task), Some(*raw), "task {id}");
    }
    assert_eq!(spool.job_records(components[0].1).0.len(), 1);
    assert_eq!(spool.job_records(components[1].1).0.len(), 2);
    assert_healthy(&c);

    // The store: one job per task and component, each measured, none made up from records.
    let store = Store::new("arrays");
    store.ea(&e2e::live_ingest(SPOOL));
    let conn = ea_store::Store::open_read(&store.db()).unwrap().conn;
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let raws: Vec<String> = tasks
        .iter()
        .chain(&components)
        .map(|t| t.1.to_string())
        .collect();
    let raws = raws.join(",");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM jobs WHERE job_id_raw IN ({raws})"
        )),
        202
    );
    assert_eq!(
        count(&format!(
            "SELECT count(DISTINCT job_id) FROM jobs WHERE job_id_raw IN ({raws})"
        )),
        202
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM jobs WHERE state_raw LIKE '%from node records%'
             AND (job_id_raw IN ({raws}) OR job_id IN ({raws}))"
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM node_records WHERE job_id_raw IN ({raws})"
        )),
        200 * NODES as i64 + 3
    );
    for (id, raw, _) in tasks.iter().chain(&components) {
        let named: String = conn
            .query_row(
                "SELECT group_concat(DISTINCT job_id) FROM node_records WHERE job_id_raw = ?1",
                [raw],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(&named, id, "raw {raw}");
    }
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM job_measured m JOIN jobs j ON j.cluster = m.cluster AND j.job_id = m.job_id WHERE j.job_id_raw IN ({raws}) AND m.energy_j > 0"
        )),
        202
    );
    let rows = store.ea(&[
        "acct",
        "-j",
        &array.to_string(),
        "-X",
        "-P",
        "-n",
        "-o",
        "JobID,EnergySource",
    ]);
    assert_eq!(rows.lines().count(), 200, "{rows}");
    // Measured, alone on their nodes or sharing them with the next task (split).
    assert!(
        rows.lines()
            .all(|l| l.ends_with("|measured") || l.ends_with("|split")),
        "{rows}"
    );

    // `energy-assess job` takes the ids sacct prints: an array task's through the store, and
    // from the records alone before any ingest (no store); a het component's.
    let (id, _, _) = &tasks[51];
    let nodes = format!("({NODES} of {NODES} recorded)");
    let view = store.ea(&["job", id, "--spool", SPOOL]);
    assert!(view.starts_with(&format!("Job {id} of ")), "{view}");
    assert!(view.contains(&nodes) && view.contains("GWP:"), "{view}");
    let no_store = store.dir.join("no-store.sqlite");
    let out = e2e::run(
        e2e::energy_assess_bin().to_str().unwrap(),
        &[
            "job",
            id,
            "--spool",
            SPOOL,
            "--db",
            no_store.to_str().unwrap(),
        ],
    );
    let view = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    assert!(
        view.starts_with(&format!("Job {id} of ")) && view.contains(&nodes),
        "{view}"
    );
    let (het, _, _) = &components[1];
    let view = store.ea(&["job", het, "--spool", SPOOL]);
    assert!(view.starts_with(&format!("Job {het} of ")), "{view}");
    assert!(view.contains("(2 of 2 recorded)"), "{view}");
}
