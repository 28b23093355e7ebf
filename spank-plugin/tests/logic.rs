//! The plugin's callbacks run against a fake Slurm: what each writes to the spool, and that
//! its own failures are logged, never returned.

use ea_record::spool::{self, Spool};
use ea_record::{JobNodeRecord, RecordFlag, RecordState, Trigger};
use energy_assess_spank::host::{
    ArrayTask, Context, Level, OptionValue, SpankHost, WriteAsUserError,
};
use energy_assess_spank::plugin;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct FakeHost {
    env: HashMap<String, String>,
    option: OptionValue,
    job_id: Option<u32>,
    logs: RefCell<Vec<(Level, String)>>,
    written: RefCell<Vec<(PathBuf, String, u32, u32)>>,
}

impl FakeHost {
    fn new(node: &str, job_id: u32, option: OptionValue) -> Self {
        let env = [
            ("SLURMD_NODENAME", node),
            ("SLURM_CLUSTER_NAME", "testbed"),
            ("SLURM_JOB_USER", "alice"),
            ("SLURM_JOB_ACCOUNT", "energy"),
            ("SLURM_JOB_PARTITION", "debug"),
            ("SLURM_NODELIST", "n[1-3]"),
            ("SLURM_JOB_NUM_NODES", "3"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x2),1"),
            ("SLURM_JOB_UID", "1001"),
            ("SLURM_JOB_GID", "1001"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Self {
            env,
            option,
            job_id: Some(job_id),
            logs: RefCell::new(Vec::new()),
            written: RefCell::new(Vec::new()),
        }
    }

    fn errors(&self) -> Vec<String> {
        self.logs
            .borrow()
            .iter()
            .filter(|(l, _)| *l == Level::Error)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl SpankHost for FakeHost {
    fn context(&self) -> Context {
        Context::JobScript
    }
    fn job_id(&self) -> Option<u32> {
        self.job_id
    }
    fn job_uid(&self) -> Option<u32> {
        Some(1001)
    }
    fn job_gid(&self) -> Option<u32> {
        Some(1001)
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn node_name(&self) -> Option<String> {
        self.env.get("SLURMD_NODENAME").cloned()
    }
    fn job_alloc(&self) -> (Option<String>, Option<u64>) {
        (
            self.env.get("ALLOC_CORES").cloned(),
            self.env.get("ALLOC_MEM").and_then(|m| m.parse().ok()),
        )
    }
    fn job_array(&self) -> Option<ArrayTask> {
        let num = |k: &str| self.env.get(k)?.parse().ok();
        Some(ArrayTask {
            array_job_id: num("ARRAY_JOB_ID")?,
            array_task_id: num("ARRAY_TASK_ID")?,
        })
    }
    fn step_id(&self) -> Option<u32> {
        self.env.get("STEP_ID")?.parse().ok()
    }
    fn option(&self) -> OptionValue {
        self.option.clone()
    }
    fn write_as_user(
        &self,
        dir: &Path,
        name: &str,
        bytes: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<(), WriteAsUserError> {
        if let Some(why) = self.env.get("WRITE_FAILS") {
            return Err(WriteAsUserError::Io(std::io::Error::other(why.clone())));
        }
        self.written.borrow_mut().push((
            dir.join(name),
            String::from_utf8_lossy(bytes).into_owned(),
            uid,
            gid,
        ));
        Ok(())
    }
    fn log(&self, level: Level, msg: &str) {
        self.logs.borrow_mut().push((level, msg.to_string()));
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ea-plugin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn args(spool: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        format!("spool={}", spool.display()),
        // No site file: these tests must not depend on /etc.
        format!("config={}.absent.toml", spool.display()),
        // No meters: these tests are about the plugin's bookkeeping; the meters have their
        // own tests, and the end-to-end tests run both together on simulated hardware.
        "sources=".to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn prolog_then_epilog_writes_one_complete_record() {
    let dir = TempDir::new("full");
    let spool_dir = dir.0.join("spool");
    let a = args(&spool_dir, &[]);
    let mut host = FakeHost::new("n2", 77, OptionValue::given(Some("(null)")));
    plugin::job_prolog(&host, &a);
    let spool = Spool::new(&spool_dir);
    let started: JobNodeRecord = spool::read_json(&spool.started_path(77, "n2")).unwrap();
    assert_eq!(started.state, RecordState::Started);
    assert!(started.start.is_some() && started.end.is_none());

    host.env.insert("SLURM_JOB_EXIT_CODE".into(), "768".into());
    host.env.insert("SLURM_JOB_EXIT_CODE2".into(), "3:0".into());
    plugin::job_epilog(&host, &a);
    assert!(host.errors().is_empty(), "{:?}", host.errors());
    assert!(
        !spool.started_path(77, "n2").exists(),
        "the started file is removed"
    );

    let (records, errors) = spool.job_records(77);
    assert!(errors.is_empty());
    let [r] = records.as_slice() else {
        panic!("{records:?}")
    };
    assert_eq!(r.state, RecordState::Complete);
    assert_eq!((r.job_id, r.uid, r.gid), (77, 1001, 1001));
    assert_eq!(r.user.as_deref(), Some("alice"));
    assert_eq!(r.account.as_deref(), Some("energy"));
    assert_eq!(r.partition.as_deref(), Some("debug"));
    assert_eq!(r.cluster.as_deref(), Some("testbed"));
    assert_eq!(r.node, "n2");
    assert_eq!(r.node_list.as_deref(), Some("n[1-3]"));
    assert_eq!(r.num_nodes, Some(3));
    assert_eq!(
        r.cpus_on_node,
        Some(2),
        "n2 is second in n[1-3] and 2(x2),1 gives it 2"
    );
    assert_eq!(r.mode.trigger, Trigger::Option);
    assert_eq!(r.mode.requested, None, "(null) means no MODE");
    let exit = r.exit.unwrap();
    assert_eq!((exit.code, exit.signal, exit.status), (3, 0, Some(768)));
    assert!(r.end.unwrap() >= r.start.unwrap());
    assert!(r.flags.is_empty(), "{:?}", r.flags);
    assert_eq!(r.slurm_version, plugin::slurm_version());
}

#[test]
fn with_collectors_the_epilog_queues_the_record_and_starts_the_forwarder_detached() {
    let dir = TempDir::new("forward");
    let spool_dir = dir.0.join("spool");
    // A stand-in forwarder that writes down how it was started.
    let seen = dir.0.join("forwarder-args");
    let fake = dir.0.join("fake-forwarder");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > {}.tmp\nmv {0}.tmp {0}\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let a = args(
        &spool_dir,
        &[
            "collector=http://127.0.0.1:9,http://127.0.0.2:9",
            &format!("forwarder={}", fake.display()),
        ],
    );
    let host = FakeHost::new("n1", 91, OptionValue::given(None));
    plugin::job_prolog(&host, &a);
    let t0 = std::time::Instant::now();
    plugin::job_epilog(&host, &a);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the epilog does not wait"
    );
    assert!(host.errors().is_empty(), "{:?}", host.errors());
    let spool = Spool::new(&spool_dir);
    let entry = spool.outbox_dir().join("job-91.n1.json");
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        std::fs::read(spool.record_path(91, "n1")).unwrap(),
        "the outbox entry is the record (a hard link)"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !seen.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = std::fs::read_to_string(&seen).unwrap();
    assert!(
        line.contains(&format!("--spool {}", spool_dir.display())),
        "{line}"
    );
    assert!(
        line.contains("--collector http://127.0.0.1:9 --collector http://127.0.0.2:9"),
        "{line}"
    );
    assert!(line.contains("--keep-delivered-s 604800"), "{line}");
    // A forwarder that cannot start is logged; the record is written and queued all the same.
    let missing = args(
        &spool_dir,
        &[
            "collector=http://127.0.0.1:9",
            "forwarder=/nonexistent/forwarder",
        ],
    );
    let host = FakeHost::new("n1", 92, OptionValue::given(None));
    plugin::job_prolog(&host, &missing);
    plugin::job_epilog(&host, &missing);
    assert!(spool.record_path(92, "n1").exists());
    assert!(spool.outbox_dir().join("job-92.n1.json").exists());
    assert!(
        host.errors()
            .iter()
            .any(|e| e.contains("forwarder") && e.contains("cannot start")),
        "{:?}",
        host.errors()
    );
}

#[test]
fn jobs_without_the_option_leave_nothing_unless_the_site_says_always() {
    let dir = TempDir::new("optin");
    let spool_dir = dir.0.join("spool");
    let host = FakeHost::new("n1", 5, OptionValue::NotGiven);
    plugin::job_prolog(&host, &args(&spool_dir, &[]));
    plugin::job_epilog(&host, &args(&spool_dir, &[]));
    assert!(
        !spool_dir.exists(),
        "an unassessed job must not even create the spool"
    );

    let always = args(&spool_dir, &["default=always"]);
    plugin::job_prolog(&host, &always);
    plugin::job_epilog(&host, &always);
    let (records, _) = Spool::new(&spool_dir).job_records(5);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].mode.trigger, Trigger::SiteDefault);
}

#[test]
fn opting_out_is_honoured_when_allowed() {
    let dir = TempDir::new("optout");
    let spool_dir = dir.0.join("spool");
    let host = FakeHost::new("n1", 6, OptionValue::given(Some("off")));
    let a = args(&spool_dir, &["default=always"]);
    plugin::job_prolog(&host, &a);
    plugin::job_epilog(&host, &a);
    assert!(Spool::new(&spool_dir).job_records(6).0.is_empty());

    let strict = args(&spool_dir, &["default=always", "allow_opt_out=false"]);
    plugin::job_prolog(&host, &strict);
    plugin::job_epilog(&host, &strict);
    assert_eq!(Spool::new(&spool_dir).job_records(6).0.len(), 1);
}

#[test]
fn epilog_without_prolog_state_still_records_and_flags_it() {
    let dir = TempDir::new("noprolog");
    let spool_dir = dir.0.join("spool");
    let host = FakeHost::new("n3", 8, OptionValue::given(Some("summary")));
    plugin::job_epilog(&host, &args(&spool_dir, &[]));
    let (records, _) = Spool::new(&spool_dir).job_records(8);
    assert_eq!(records[0].flags, [RecordFlag::NoPrologState]);
    assert!(records[0].start.is_none() && records[0].end.is_some());
    assert!(records[0].mode.summary);
}

#[test]
fn an_unusable_spool_is_logged_and_nothing_else_happens() {
    let dir = TempDir::new("badspool");
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let spool_dir = file.join("spool");
    let a = vec![
        format!("spool={}", spool_dir.display()),
        format!("config={}/absent.toml", dir.0.display()),
        "sources=".into(),
    ];
    let host = FakeHost::new("n1", 9, OptionValue::given(None));
    plugin::job_prolog(&host, &a);
    plugin::job_epilog(&host, &a);
    let errors = host.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("spool unusable") && errors[0].contains("a-file"),
        "{errors:?}"
    );
}

#[test]
fn a_broken_site_config_is_logged_and_flagged_but_the_job_is_recorded() {
    let dir = TempDir::new("badconfig");
    let spool_dir = dir.0.join("spool");
    let cfg = dir.0.join("site.toml");
    std::fs::write(&cfg, "defualt = \"always\"\n").unwrap();
    let a = vec![
        format!("spool={}", spool_dir.display()),
        format!("config={}", cfg.display()),
        "sources=".into(),
    ];
    let host = FakeHost::new("n1", 10, OptionValue::given(None));
    plugin::job_prolog(&host, &a);
    plugin::job_epilog(&host, &a);
    let errors = host.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("site.toml") && e.contains("defualt")),
        "{errors:?}"
    );
    let (records, _) = Spool::new(&spool_dir).job_records(10);
    assert_eq!(records[0].flags, [RecordFlag::ConfigError]);
}

#[test]
fn hostile_node_names_stay_inside_the_spool() {
    let dir = TempDir::new("hostile");
    let spool_dir = dir.0.join("spool");
    let host = FakeHost::new("../../etc/evil", 11, OptionValue::given(None));
    plugin::job_prolog(&host, &args(&spool_dir, &[]));
    plugin::job_epilog(&host, &args(&spool_dir, &[]));
    let (records, _) = Spool::new(&spool_dir).job_records(11);
    assert_eq!(records[0].node, "../../etc/evil");
    let names: Vec<_> = std::fs::read_dir(spool_dir.join("records"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(names.len(), 1);
    assert!(!dir.0.join("etc").exists());
}

#[test]
fn option_callback_refuses_bad_modes_only_at_submission() {
    let host = FakeHost::new("n1", 1, OptionValue::NotGiven);
    assert!(plugin::option_accepted(&host, Some("summary"), false));
    assert!(plugin::option_accepted(&host, None, false));
    assert!(plugin::option_accepted(&host, Some("(null)"), false));
    assert!(!plugin::option_accepted(&host, Some("bogus"), false));
    assert!(host.errors()[0].contains("bogus"));
    assert!(plugin::option_accepted(&host, Some("bogus"), true));
}

#[test]
fn the_first_step_notes_the_allocation_and_the_epilog_records_it() {
    let dir = TempDir::new("alloc");
    let spool_dir = dir.0.join("spool");
    let a = args(&spool_dir, &[]);
    let mut host = FakeHost::new("n1", 12, OptionValue::given(None));
    host.env.insert("SLURM_JOB_GPUS".into(), "1,3".into());
    host.env.insert("ALLOC_CORES".into(), "0-1,4".into());
    host.env.insert("ALLOC_MEM".into(), "3072".into());

    // Before the prolog (or for an unassessed job) the step notes nothing.
    plugin::remote_init(&host, &a);
    assert!(!spool_dir.exists());

    plugin::job_prolog(&host, &a);
    plugin::remote_init(&host, &a);
    host.env.insert("ALLOC_MEM".into(), "1".into());
    plugin::remote_init(&host, &a); // a later step does not overwrite the first note
    plugin::job_epilog(&host, &a);

    let (records, _) = Spool::new(&spool_dir).job_records(12);
    let held = records[0].allocation.clone().unwrap();
    assert_eq!(held.cores.as_deref(), Some("0-1,4"));
    assert_eq!(held.cpus, Some(3));
    assert_eq!(held.memory_mb, Some(3072));
    assert_eq!(held.gpus, ["1", "3"]);
    assert_eq!(
        (records[0].array_job_id, records[0].array_task_id),
        (None, None),
        "not an array task"
    );
    assert_eq!(
        std::fs::read_dir(Spool::new(&spool_dir).running_node_dir("n1"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != ".extern-steps")
            .count(),
        0,
        "running/n1/ is cleaned (but the node's extern-steps marker)"
    );
}

#[test]
fn an_array_task_is_named_by_what_its_first_step_learns_from_slurm() {
    let dir = TempDir::new("array");
    let spool_dir = dir.0.join("spool");
    let a = args(&spool_dir, &[]);
    // Job 100 is task 52 of array 48. The prolog's environment says nothing of it, as Slurm's
    // does not; a SLURM_ARRAY_* variable there must not be trusted either.
    let mut host = FakeHost::new("n2", 100, OptionValue::given(None));
    host.env.insert("SLURM_ARRAY_JOB_ID".into(), "7".into());
    host.env.insert("SLURM_ARRAY_TASK_ID".into(), "7".into());
    plugin::job_prolog(&host, &a);
    let started = spool::read_record(&Spool::new(&spool_dir).started_path(100, "n2")).unwrap();
    assert_eq!((started.job_id, started.array_job_id), (100, None));

    // The extern step comes first and does not know the task; the batch step does.
    host.env.insert("ALLOC_MEM".into(), "2048".into());
    plugin::remote_init(&host, &a);
    host.env.insert("ARRAY_JOB_ID".into(), "48".into());
    host.env.insert("ARRAY_TASK_ID".into(), "52".into());
    host.env.insert("ALLOC_MEM".into(), "1".into());
    plugin::remote_init(&host, &a);
    plugin::job_epilog(&host, &a);
    let (records, _) = Spool::new(&spool_dir).job_records(100);
    let [r] = records.as_slice() else {
        panic!("{records:?}")
    };
    assert_eq!(
        (r.job_id, r.array_job_id, r.array_task_id),
        (100, Some(48), Some(52))
    );
    let memory = r.allocation.as_ref().and_then(|a| a.memory_mb);
    assert_eq!(memory, Some(2048), "the first step's allocation stays");
}

#[test]
fn a_summary_is_written_by_the_first_node_only_as_the_user() {
    let dir = TempDir::new("summary");
    let spool_dir = dir.0.join("spool");
    let a = args(&spool_dir, &[]);
    for node in ["n1", "n2"] {
        let mut host = FakeHost::new(node, 13, OptionValue::given(Some("summary")));
        host.env
            .insert("SLURM_JOB_WORK_DIR".into(), "/home/alice/run".into());
        plugin::job_prolog(&host, &a);
        plugin::job_epilog(&host, &a);
        let written = host.written.borrow();
        if node == "n1" {
            let [(path, text, uid, gid)] = written.as_slice() else {
                panic!("{written:?}")
            };
            assert_eq!(path, Path::new("/home/alice/run/energy-assess-13.txt"));
            assert_eq!((*uid, *gid), (1001, 1001));
            assert!(
                text.contains("Job 13 of ") && text.contains("not measured: no meter on n1"),
                "{text}"
            );
            assert!(text.contains("n1         (no meter on this node"), "{text}");
            assert!(text.contains("covers 1 of the job's 3 node(s)"), "{text}");
            assert!(text.contains("energy-assess job 13"), "{text}");
        } else {
            assert!(written.is_empty(), "only the first node writes the summary");
        }
    }
}

#[test]
fn a_summary_file_that_cannot_be_written_is_said_in_the_record() {
    let dir = TempDir::new("summary-fails");
    let spool_dir = dir.0.join("spool");
    let a = args(&spool_dir, &[]);
    let mut host = FakeHost::new("n1", 14, OptionValue::given(Some("summary")));
    host.env
        .insert("SLURM_JOB_WORK_DIR".into(), "/home/alice/run".into());
    host.env.insert(
        "WRITE_FAILS".into(),
        "the working directory is a symlink; refused".into(),
    );
    plugin::job_prolog(&host, &a);
    plugin::job_epilog(&host, &a);
    let (records, _) = Spool::new(&spool_dir).job_records(14);
    assert_eq!(
        records[0].summary_error.as_deref(),
        Some("/home/alice/run/energy-assess-14.txt: the working directory is a symlink; refused")
    );
    assert!(host.errors().iter().any(|e| e.contains("no summary file")));
}
