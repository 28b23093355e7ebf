//! The plugin in real Slurm: `--energy-assess` on sbatch, srun and salloc, the site default,
//! failed and cancelled jobs, and the plugin's own failures, which must never reach the job.

use e2e::{Cluster, NODES, as_user, now_s, user_workdir};
use ea_record::{RecordState, Trigger};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn sbatch_on_three_nodes_writes_one_record_per_node() {
    let c = Cluster::acquire();
    let before = now_s();
    let job = c.sbatch(
        &["-N3", "--mem=512", "--energy-assess"],
        "srun hostname; sleep 1",
    );
    c.wait_gone(job, T);
    let records = c.records(job, NODES, T);
    let nodes: Vec<&str> = records.iter().map(|r| r.node.as_str()).collect();
    assert_eq!(nodes, ["n1", "n2", "n3"], "exactly one record per node");
    let uid = String::from_utf8_lossy(&e2e::run("id", &["-u", e2e::TEST_USER]).stdout)
        .trim()
        .parse::<u32>()
        .unwrap();
    for r in &records {
        assert_eq!(r.state, RecordState::Complete);
        assert_eq!(r.job_id, job);
        assert_eq!(r.uid, uid);
        assert_eq!(r.user.as_deref(), Some(e2e::TEST_USER));
        assert_eq!(r.account.as_deref(), Some("energy"));
        assert_eq!(r.partition.as_deref(), Some("debug"));
        assert_eq!(r.cluster.as_deref(), Some("testbed"));
        assert_eq!(r.node_list.as_deref(), Some("n[1-3]"));
        assert_eq!(r.num_nodes, Some(3));
        assert_eq!(r.cpus_on_node, Some(1));
        assert_eq!(r.mode.trigger, Trigger::Option);
        let (start, end) = (r.start.unwrap().as_secs(), r.end.unwrap().as_secs());
        assert!(
            before - 1 <= start && start <= end && end <= now_s(),
            "{start} {end}"
        );
        assert!(
            r.duration_s().unwrap() >= 1.0,
            "the job slept 1 s: {:?}",
            r.duration_s()
        );
        assert_eq!(r.exit.map(|e| (e.code, e.signal)), Some((0, 0)));
        // What the job held on the node, noted by the extern step (PrologFlags=Contain).
        let held = r.allocation.as_ref().expect("allocation");
        assert_eq!(held.memory_mb, Some(512), "{held:?}");
        assert_eq!(held.cpus, Some(1), "{held:?}");
        assert!(held.cores.is_some(), "{held:?}");
    }
    // The records agree with Slurm's own accounting.
    let sacct = c.sacct(job, "User,Account,NodeList,ExitCode");
    assert_eq!(sacct, [e2e::TEST_USER, "energy", "n[1-3]", "0:0"]);
    assert!(
        c.any_spool_file(job)
            .iter()
            .all(|p| p.starts_with(c.spool.records_dir())),
        "nothing left in running/"
    );
}

#[test]
fn jobs_without_the_option_leave_no_record_unless_the_site_says_always() {
    let c = Cluster::acquire();
    let job = c.sbatch(&["-N2"], "true");
    c.wait_gone(job, T);
    assert_eq!(c.sacct(job, "ExitCode"), ["0:0"]);
    assert!(
        c.any_spool_file(job).is_empty(),
        "an unassessed job left {:?}",
        c.any_spool_file(job)
    );

    c.set_site_config("default = \"always\"");
    let job = c.sbatch(&["-N2"], "true");
    c.wait_gone(job, T);
    let records = c.records(job, 2, T);
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.mode.trigger == Trigger::SiteDefault)
    );

    // Opting out is honoured where the site allows it (the default).
    let job = c.sbatch(&["-N1", "--energy-assess=off"], "true");
    c.wait_gone(job, T);
    assert!(c.any_spool_file(job).is_empty());
}

#[test]
fn srun_with_a_new_allocation_is_assessed() {
    let c = Cluster::acquire();
    let dir = user_workdir();
    let out = as_user(
        &dir,
        "srun",
        &[
            "-N2",
            "--energy-assess=summary",
            "bash",
            "-c",
            "echo $SLURM_JOB_ID",
        ],
    );
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let job: u32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    c.wait_gone(job, T);
    let records = c.records(job, 2, T);
    assert_eq!(
        records.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
        ["n1", "n2"]
    );
    assert!(
        records
            .iter()
            .all(|r| r.mode.requested.as_deref() == Some("summary") && r.mode.summary)
    );
}

#[test]
fn salloc_is_assessed() {
    let c = Cluster::acquire();
    let dir = user_workdir();
    let out = as_user(
        &dir,
        "salloc",
        &[
            "-N1",
            "--energy-assess",
            "bash",
            "-c",
            "echo JOB=$SLURM_JOB_ID",
        ],
    );
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let job: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("JOB="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    c.wait_gone(job, T);
    let records = c.records(job, 1, T);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, RecordState::Complete);
}

#[test]
fn a_failing_job_keeps_its_exit_code_and_state() {
    let c = Cluster::acquire();
    let plain = c.sbatch(&["-N1"], "exit 3");
    let assessed = c.sbatch(&["-N1", "--energy-assess"], "exit 3");
    c.wait_gone(plain, T);
    c.wait_gone(assessed, T);
    let expected = ["FAILED", "3:0"];
    assert_eq!(c.sacct(plain, "State,ExitCode")[..], expected);
    assert_eq!(
        c.sacct(assessed, "State,ExitCode")[..],
        expected,
        "the plugin changed nothing"
    );
    let records = c.records(assessed, 1, T);
    let exit = records[0].exit.unwrap();
    assert_eq!((exit.code, exit.signal, exit.status), (3, 0, Some(768)));
}

#[test]
fn a_cancelled_job_is_recorded_and_stays_cancelled() {
    let c = Cluster::acquire();
    let plain = c.sbatch(&["-N2"], "sleep 300");
    let assessed = c.sbatch(&["-N2", "--energy-assess"], "sleep 300");
    c.wait_running(plain, T);
    c.wait_running(assessed, T);
    let cancel = e2e::run("scancel", &[&plain.to_string(), &assessed.to_string()]);
    assert!(cancel.status.success());
    c.wait_gone(plain, T);
    c.wait_gone(assessed, T);
    assert!(c.sacct(plain, "State")[0].starts_with("CANCELLED"));
    assert!(c.sacct(assessed, "State")[0].starts_with("CANCELLED"));
    assert_eq!(c.sacct(plain, "ExitCode"), c.sacct(assessed, "ExitCode"));
    let records = c.records(assessed, 2, T);
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.state == RecordState::Complete && r.end.is_some() && r.exit.is_some())
    );
}

#[test]
fn a_broken_site_config_never_stops_a_job_or_drains_a_node() {
    let c = Cluster::acquire();
    c.set_raw_site_config("defualt = \"always\"\nspool = [\n");
    let job = c.sbatch(&["-N3", "--energy-assess"], "true");
    c.wait_gone(job, T);
    assert_eq!(c.sacct(job, "ExitCode"), ["0:0"]);
    assert_eq!(c.sacct(job, "State"), ["COMPLETED"]);
    assert!(c.unhealthy_nodes().is_empty(), "{:?}", c.unhealthy_nodes());
    let log = c.slurmd_log();
    assert!(
        log.contains("energy_assess: /etc/slurm/energy-assess.toml: line"),
        "the slurmd log must say what is wrong:\n{log}"
    );
    // The defaults still apply, so the job is recorded, flagged.
    let records = c.records(job, NODES, T);
    assert_eq!(records.len(), NODES);
    assert!(
        records
            .iter()
            .all(|r| r.flags.contains(&ea_record::RecordFlag::ConfigError))
    );
}

#[test]
fn an_unwritable_spool_never_stops_a_job_or_drains_a_node() {
    let c = Cluster::acquire();
    // A regular file where the spool's parent should be: every mkdir and write fails, even
    // for root.
    std::fs::write("/var/tmp/ea-not-a-dir", b"x").unwrap();
    c.set_raw_site_config("spool = \"/var/tmp/ea-not-a-dir/spool\"\n");
    let job = c.sbatch(&["-N3", "--energy-assess"], "echo ran");
    c.wait_gone(job, T);
    assert_eq!(c.sacct(job, "State,ExitCode"), ["COMPLETED", "0:0"]);
    assert!(c.unhealthy_nodes().is_empty(), "{:?}", c.unhealthy_nodes());
    let log = c.slurmd_log();
    assert!(
        log.contains(&format!("energy_assess: job {job}: spool unusable")),
        "slurmd log:\n{log}"
    );
    assert!(
        log.contains("/var/tmp/ea-not-a-dir/spool"),
        "the log names the path:\n{log}"
    );
}

#[test]
fn an_unknown_mode_is_refused_at_submission_with_the_valid_words() {
    let _c = Cluster::acquire();
    let dir = user_workdir();
    let out = as_user(
        &dir,
        "sbatch",
        &["--energy-assess=sumary", "--wrap", "true"],
    );
    assert!(!out.status.success(), "sbatch accepted a bad MODE");
    let err = e2e::stderr(&out);
    assert!(
        err.contains("sumary") && err.contains("on, off, summary"),
        "{err}"
    );
}

#[test]
fn the_summary_file_is_written_as_the_user_and_never_through_a_symlink() {
    use std::os::unix::fs::MetadataExt;
    let c = Cluster::acquire();
    let dir = user_workdir();
    let job = c.sbatch_in(&dir, &["-N2", "--energy-assess=summary"], "sleep 1");
    c.wait_gone(job, T);
    assert_eq!(c.records(job, 2, T).len(), 2);
    let summary = dir.join(format!("energy-assess-{job}.txt"));
    e2e::wait_until(T, "the summary file", || summary.exists());
    let meta = std::fs::metadata(&summary).unwrap();
    let alice = std::fs::metadata(&dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (alice.uid(), alice.gid()),
        "written as the job's user"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains(&format!("Job {job} of ")) && text.contains("\nn1 "),
        "{text}"
    );

    // A symlink planted where the summary goes is refused, not followed (as root it could
    // overwrite anything; as the user it must not even follow it).
    let dir = user_workdir();
    let held = c.sbatch_in(&dir, &["-N1", "--hold", "--energy-assess=summary"], "true");
    let target = std::path::PathBuf::from(format!("/var/tmp/ea-e2e-symlink-target-{held}"));
    let _ = std::fs::remove_file(&target);
    let trap = dir.join(format!("energy-assess-{held}.txt"));
    let out = as_user(
        &dir,
        "ln",
        &["-s", target.to_str().unwrap(), trap.to_str().unwrap()],
    );
    assert!(out.status.success());
    assert!(
        e2e::run("scontrol", &["release", &held.to_string()])
            .status
            .success()
    );
    c.wait_gone(held, T);
    assert_eq!(
        c.records(held, 1, T).len(),
        1,
        "the record is written all the same"
    );
    assert!(!target.exists(), "the symlink was followed");
    e2e::wait_until(T, "the refusal in the slurmd log", || {
        c.slurmd_log().contains("is a symlink; not following it")
    });
    // The user is told too: the record says why, and `energy-assess job` shows it.
    let record = &c.records(held, 1, T)[0];
    let why = record.summary_error.as_deref().unwrap_or_default();
    assert!(
        why.contains("symlink") && why.contains(trap.to_str().unwrap()),
        "{why:?}"
    );
    let view = e2e::run(
        e2e::energy_assess_bin().to_str().unwrap(),
        &["job", &held.to_string()],
    );
    let view = String::from_utf8_lossy(&view.stdout);
    assert!(
        view.contains("the summary file you asked for was not written") && view.contains("symlink"),
        "{view}"
    );
}
