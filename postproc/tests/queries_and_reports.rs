//! `energy-assess ingest`, `acct` and `report` as a user runs them: golden outputs on a small
//! synthetic month, privacy for users who are not admins, an ingest killed half-way, help texts
//! and error messages. The HTML report in a real browser, and what reports flag, are in
//! `tests/report.rs`.
//!
//! Golden files live in `tests/golden/`; after a deliberate change of output, regenerate them
//! with `UPDATE_GOLDEN=1 cargo test -p energy-assess --test queries_and_reports` and review
//! the diff.

use ea_synth::{self as synth, Params};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{BIN, ea, ok};

fn tmp(tag: &str) -> PathBuf {
    common::tmp("cli", tag)
}

/// A small month: dump, records, inventory and a config pointing at them.
fn month(dir: &Path, extra_config: &str) -> PathBuf {
    let p = Params {
        jobs: 60,
        assessed: 0.5,
        seed: 11,
        ..Default::default()
    };
    let jobs = synth::jobs(&p);
    synth::write_dump(
        &p,
        &jobs,
        &mut std::fs::File::create(dir.join("sacct.txt")).unwrap(),
    )
    .unwrap();
    synth::write_records(&p, &jobs, &dir.join("spool")).unwrap();
    std::fs::write(dir.join("inventory.toml"), synth::inventory_toml(&p)).unwrap();
    let config = dir.join("postproc.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{0}/store.sqlite\"\n{extra_config}\n[site]\ncluster = \"synth\"\ntimezone = \"UTC\"\ninventory = \"{0}/inventory.toml\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

fn ingest(config: &Path, dir: &Path) -> String {
    let c = config.to_str().unwrap();
    let dump = dir.join("sacct.txt");
    let spool = dir.join("spool");
    ok(&[
        "ingest",
        "--config",
        c,
        "-q",
        "--sacct",
        dump.to_str().unwrap(),
        "--spool",
        spool.to_str().unwrap(),
    ])
}

fn golden(name: &str, actual: &str, dir: &Path) {
    let actual = actual.replace(&dir.display().to_string(), "<DIR>");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{name} differs from its golden file (first differing line {first:?}).\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

#[test]
fn outputs_match_their_golden_files_and_are_stable() {
    let dir = tmp("golden");
    let config = month(&dir, "");
    let summary = ingest(&config, &dir);
    assert!(summary.contains("jobs 60 written"), "{summary}");
    let c = config.to_str().unwrap();
    let window = ["-S", "2026-11-01", "-E", "2026-12-01"];
    let table = ok(&[
        &["acct", "--config", c, "-X"],
        &window[..],
        &[
            "-o",
            "JobID,User,Account,Partition,State,Elapsed,NNodes,Energy,EnergySource,MeanPower,GWP,GWPUse,GWPEmbodied",
        ],
    ]
    .concat());
    golden("acct_table.txt", &table, &dir);
    // Byte for byte the same when run again.
    assert_eq!(table, ok(&[&["acct", "--config", c, "-X"], &window[..], &[
        "-o",
        "JobID,User,Account,Partition,State,Elapsed,NNodes,Energy,EnergySource,MeanPower,GWP,GWPUse,GWPEmbodied",
    ]]
    .concat()));
    let parsable = ok(&[&["acct", "--config", c, "-P", "-n", "-r", "gpu"], &window[..], &[
        "-o",
        "JobID,JobName%30,State,AllocTRES,EnergyRaw,EnergyMin,EnergyMax,EnergySource,EnergyScope,EnergyGPU,PEUse,ADPeEmbodied,GWPMin,GWPMax",
    ]]
    .concat());
    golden("acct_parsable.txt", &parsable, &dir);
    let first_id = table
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let json = ok(&[
        "acct",
        "--config",
        c,
        "-j",
        &first_id,
        "-S",
        "2026-11-01",
        "-E",
        "2026-12-01",
        "--json",
    ]);
    // sacct --json's layout, the figures under "energy_assess".
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["jobs"][0]["job_id"],
        first_id.parse::<u64>().unwrap(),
        "{json}"
    );
    assert!(
        v["jobs"][0]["steps"].as_array().unwrap().len() >= 2,
        "{json}"
    );
    assert!(v["jobs"][0]["energy_assess"]["energy_j"]["value"].is_number());
    golden("acct_job.json", &json, &dir);
    for (format, name) in [
        ("table", "report.txt"),
        ("md", "report.md"),
        ("csv", "report.csv"),
        ("json", "report.json"),
    ] {
        let r = ok(&[
            "report", "--config", c, "--month", "2026-11", "--format", format,
        ]);
        golden(name, &r, &dir);
    }
    let csv = ok(&[
        "report", "--config", c, "--month", "2026-11", "--format", "csv",
    ]);
    assert_eq!(csv.lines().filter(|l| l.starts_with("all,")).count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_job_gets_a_figure_and_measured_jobs_calibrate_the_rest() {
    let dir = tmp("figures");
    let config = month(&dir, "");
    ingest(&config, &dir);
    let c = config.to_str().unwrap();
    let rows = ok(&[
        "acct",
        "--config",
        c,
        "-X",
        "-S",
        "2026-11-01",
        "-E",
        "2026-12-01",
        "-P",
        "-n",
        "-o",
        "JobID,EnergySource,EnergyRaw,GWP,Calibration",
    ]);
    let mut sources = std::collections::BTreeMap::new();
    for line in rows.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 5, "{line}");
        *sources.entry(f[1].to_string()).or_insert(0) += 1;
        assert!(
            !f[2].is_empty() && !f[3].is_empty(),
            "a job without a figure: {line}"
        );
        if f[1] == "estimated" && !f[4].is_empty() {
            assert!(f[4].contains('('), "{line}");
        }
    }
    assert_eq!(sources.values().sum::<i32>(), 60);
    assert!(
        sources.get("estimated").is_some_and(|&n| n > 0),
        "{sources:?}"
    );
    assert!(
        sources.get("measured").or(sources.get("split")).is_some(),
        "{sources:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn users_who_are_not_admins_see_only_their_own_jobs() {
    let dir = tmp("privacy");
    // The store readable by group nogroup (65534), as a site would give it to a group that
    // energy-assess runs setgid to.
    let config = month(&dir, "group = \"nogroup\"\n");
    ingest(&config, &dir);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(dir.join("store.sqlite")).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o640,
        "the store must not be readable by others"
    );
    assert_eq!(meta.gid(), 65534);
    let c = config.to_str().unwrap();
    let all = ok(&[
        "acct",
        "--config",
        c,
        "-X",
        "-S",
        "2026-11-01",
        "-E",
        "2026-12-01",
        "-P",
        "-n",
        "-o",
        "JobID,UID",
    ]);
    let uid = all
        .lines()
        .next()
        .unwrap()
        .split('|')
        .nth(1)
        .unwrap()
        .to_string();
    let theirs = all
        .lines()
        .filter(|l| l.ends_with(&format!("|{uid}")))
        .count();
    assert!(
        theirs < all.lines().count(),
        "the test needs jobs of several users"
    );
    let as_user = |groups: &str, args: &[&str]| -> Output {
        Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                groups,
                "--",
                BIN,
            ])
            .args(args)
            .env("TZ", "UTC")
            .output()
            .unwrap()
    };
    assert!(
        Command::new("setpriv").arg("--version").output().is_ok() && !not_root(),
        "needs root and setpriv (util-linux) to run as another user: run the tests as root \
         (tests/run-all.sh)"
    );
    let acct_args = [
        "acct",
        "--config",
        c,
        "-X",
        "-S",
        "2026-11-01",
        "-E",
        "2026-12-01",
        "-a",
        "-P",
        "-n",
        "-o",
        "JobID,UID",
    ];
    let o = as_user("--groups=65534", &acct_args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = String::from_utf8(o.stdout).unwrap();
    assert_eq!(seen.lines().count(), theirs, "{seen}");
    assert!(
        seen.lines().all(|l| l.ends_with(&format!("|{uid}"))),
        "{seen}"
    );
    // The same for a job of someone else, asked by id, and for the report.
    let other = all
        .lines()
        .find(|l| !l.ends_with(&format!("|{uid}")))
        .unwrap()
        .split('|')
        .next()
        .unwrap();
    let o = as_user(
        "--groups=65534",
        &["acct", "--config", c, "-j", other, "-P", "-n"],
    );
    assert!(o.status.success());
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = as_user(
        "--groups=65534",
        &[
            "report", "--config", c, "--month", "2026-11", "--format", "json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["all"]["jobs"].as_u64().unwrap() as usize, theirs);
    assert_eq!(r["only_user"], uid.as_str());
    assert!(r["unallocated"].is_null());
    // Without the store's group, the file cannot be read at all, and the error says what to do.
    let o = as_user("--clear-groups", &acct_args);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("store.sqlite") && e.contains("store.group"),
        "{e}"
    );
    // An admin named in the config sees everyone.
    let admin_config = dir.join("admin.toml");
    std::fs::write(
        &admin_config,
        std::fs::read_to_string(&config).unwrap()
            + &format!("\n[privacy]\nadmin_users = [\"{uid}\"]\n"),
    )
    .unwrap();
    let o = as_user(
        "--groups=65534",
        &[
            "acct",
            "--config",
            admin_config.to_str().unwrap(),
            "-X",
            "-S",
            "2026-11-01",
            "-E",
            "2026-12-01",
            "-P",
            "-n",
            "-o",
            "JobID,UID",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        o.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        all.lines().count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn not_root() -> bool {
    // The uid of this process, from /proc (no unsafe code needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) != Some("0"))
        })
        .unwrap_or(true)
}

#[test]
fn an_ingest_killed_half_way_leaves_the_store_as_it_was() {
    let dir = tmp("kill");
    let config = month(&dir, "");
    ingest(&config, &dir);
    let c = config.to_str().unwrap();
    let count = || {
        ok(&[
            "acct",
            "--config",
            c,
            "-X",
            "-S",
            "2000-01-01",
            "-E",
            "2030-01-01",
            "-P",
            "-n",
            "-o",
            "JobID",
        ])
        .lines()
        .count()
    };
    assert_eq!(count(), 60);
    // A big dump, killed while it is being written.
    let p = Params {
        jobs: 100_000,
        seed: 5,
        assessed: 0.0,
        ..Default::default()
    };
    let big = dir.join("big.txt");
    synth::write_dump(
        &p,
        &synth::jobs(&p),
        &mut std::io::BufWriter::new(std::fs::File::create(&big).unwrap()),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "ingest",
            "--config",
            c,
            "-q",
            "--sacct",
            big.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let journal = dir.join("store.sqlite-journal");
    let t = std::time::Instant::now();
    while !journal.exists() && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !finished,
        "the ingest ended before it could be killed; make the dump bigger"
    );
    assert_eq!(count(), 60, "a killed ingest must leave nothing of itself");
    // The next ingest takes it all, in one go (the synthetic job ids start at the same number,
    // so the big dump's jobs replace the small month's 60).
    ok(&[
        "ingest",
        "--config",
        c,
        "-q",
        "--sacct",
        big.to_str().unwrap(),
    ]);
    assert_eq!(count(), 100_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_errors_say_what_to_do() {
    for cmd in ["ingest", "acct", "report"] {
        let help = ok(&[cmd, "--help"]);
        assert!(help.contains("Examples:"), "{cmd} --help has no examples");
    }
    let columns = ok(&["acct", "-e"]);
    assert!(columns.contains("GWPEmbodied") && columns.contains("EnergySource"));
    let dir = tmp("errors");
    let db = dir.join("none.sqlite");
    let o = ea(&["acct", "--db", db.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("run `energy-assess ingest` first"));
    let o = ea(&["ingest", "--db", db.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to ingest"));
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "4034541|EYR|user424\n").unwrap();
    let o = ea(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        "--sacct",
        bad.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("bad.txt") && e.contains("--columns"),
        "{e}"
    );
    let config = month(&dir, "");
    ingest(&config, &dir);
    let c = config.to_str().unwrap();
    for (args, words) in [
        (vec!["acct", "--config", c, "-s", "done"], "CD/COMPLETED"),
        (
            vec!["acct", "--config", c, "-S", "yesterday"],
            "-S `yesterday`",
        ),
        (
            vec!["acct", "--config", c, "-o", "JobID,Energi"],
            "unknown column `Energi`",
        ),
        (
            vec!["report", "--config", c, "--month", "2026-13"],
            "YYYY-MM",
        ),
        (
            vec![
                "report", "--config", c, "--month", "2026-11", "--format", "pdf",
            ],
            "choose table, csv, json, md or html",
        ),
    ] {
        let o = ea(&args);
        assert!(!o.status.success(), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(words), "{args:?}: {e}");
    }
    // A closed pipe is not an error.
    let mut child = Command::new(BIN)
        .args([
            "acct",
            "--config",
            c,
            "-S",
            "2026-11-01",
            "-E",
            "2026-12-01",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sacct_selection_options() {
    let dir = tmp("select");
    let config = month(&dir, "");
    ingest(&config, &dir);
    let c = config.to_str().unwrap();
    let w = ["-S", "2026-11-01", "-E", "2026-12-01"];
    let rows = |extra: &[&str]| -> Vec<Vec<String>> {
        ok(&[&["acct", "--config", c, "-P", "-n"], &w[..], extra].concat())
            .lines()
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    let all = rows(&["-X", "-o", "JobID,State,NodeList,User,Account,Partition"]);
    assert_eq!(all.len(), 60);
    // -N: the jobs that ran on a node.
    let node = &all[0][2];
    let first_node = ea_record::hostlist::expand(node).unwrap()[0].clone();
    let on_node = rows(&["-X", "-N", &first_node, "-o", "JobID,NodeList"]);
    assert!(on_node.iter().any(|r| r[0] == all[0][0]));
    assert!(
        on_node.iter().all(|r| ea_record::hostlist::expand(&r[1])
            .unwrap()
            .contains(&first_node)),
        "{on_node:?}"
    );
    // -s with sacct's short names; -u, -A, -r lists.
    let done = rows(&["-X", "-s", "CD", "-o", "JobID,State"]);
    assert!(
        !done.is_empty() && done.iter().all(|r| r[1] == "COMPLETED"),
        "{done:?}"
    );
    assert_eq!(
        done.len(),
        all.iter().filter(|r| r[1] == "COMPLETED").count()
    );
    let user = &all[0][3];
    let mine = rows(&["-X", "-u", user, "-o", "User"]);
    assert_eq!(mine.len(), all.iter().filter(|r| &r[3] == user).count());
    let two = format!("{},{}", all[0][4], all[1][4]);
    assert_eq!(
        rows(&["-X", "-A", &two]).len(),
        all.iter()
            .filter(|r| r[4] == all[0][4] || r[4] == all[1][4])
            .count()
    );
    assert_eq!(
        rows(&["-X", "-r", "gpu"]).len(),
        all.iter().filter(|r| r[5] == "gpu").count()
    );
    // -j with a step, and steps under their job without -X.
    let id = &all[0][0];
    let batch = rows(&["-j", &format!("{id}.batch"), "-o", "JobID"]);
    assert_eq!(batch, vec![vec![format!("{id}.batch")]]);
    let with_steps = rows(&["-j", id, "-o", "JobID"]);
    assert_eq!(
        with_steps.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        [id.clone(), format!("{id}.batch"), format!("{id}.extern")]
    );
    // -p closes lines with the delimiter; --delimiter changes it.
    let p = ok(&[
        "acct",
        "--config",
        c,
        "-X",
        "-p",
        "-n",
        "--delimiter",
        ";",
        "-j",
        id,
        "-o",
        "JobID,State",
    ]);
    assert_eq!(p, format!("{id};{};\n", all[0][1]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn job_and_the_store_refuse_the_same_implausible_records_and_count_each_node_once() {
    // A record claiming 1e308 J, one claiming -5000 J, and a copy of a record under another
    // node's name, as a careless admin or a forger would leave them in the spool.
    let dir = tmp("implausible");
    let config = month(&dir, "");
    let c = config.to_str().unwrap();
    let p = Params {
        jobs: 60,
        assessed: 0.5,
        seed: 11,
        ..Default::default()
    };
    let job = synth::jobs(&p)
        .into_iter()
        .find(|j| j.assessed && j.nnodes >= 3 && j.elapsed > 60)
        .expect("an assessed job on three nodes or more");
    let spool = ea_record::spool::Spool::new(dir.join("spool"));
    let mut records = synth::records(&p, &job);
    records.sort_by(|a, b| a.node.cmp(&b.node));
    records[0].meters[0].energy_j = 1e308;
    records[1].meters[0].energy_j = -5000.0;
    // The month's spool is in the flat layout (before sharding), as synth writes it: the
    // planted files are put there too.
    for r in &records[..2] {
        ea_record::spool::write_record_atomic(&spool.flat_record_path(r.job_id, &r.node), r)
            .unwrap();
    }
    std::fs::copy(
        spool.flat_record_path(records[2].job_id, &records[2].node),
        spool.flat_record_path(records[2].job_id, "n-copied"),
    )
    .unwrap();
    // What the job's energy is without the two refused meters, removed by hand.
    let expected: f64 = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.meters.retain(|m| {
                m.energy_j.is_finite() && m.energy_j.abs() < 1e300 && m.energy_j >= 0.0
            });
            r.node_energy_j().map_or(0.0, |(e, _)| e)
        })
        .sum();
    assert!(expected > 0.0);

    let id = job.id.to_string();
    let spool_arg = dir.join("spool");
    let view: serde_json::Value = serde_json::from_str(&ok(&[
        "job",
        &id,
        "--spool",
        spool_arg.to_str().unwrap(),
        "--config",
        c,
        "--json",
    ]))
    .unwrap();
    assert_eq!(view["nodes"].as_array().unwrap().len(), job.nnodes as usize);
    assert_eq!(view["nodes_complete"], job.nnodes as u64);
    let energy = view["energy_j"].as_f64().unwrap();
    assert!(
        (energy - expected).abs() <= 1e-9 * expected,
        "{energy} vs {expected}"
    );
    let refused: Vec<&str> = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["refused"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r.contains("1.0000e308 J") && r.contains("1500 W")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r.contains("-5000") && r.contains("not an energy"))
    );
    let unreadable = view["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(unreadable[0].as_str().unwrap().contains("misnamed"));
    let table = ok(&[
        "job",
        &id,
        "--spool",
        spool_arg.to_str().unwrap(),
        "--config",
        c,
    ]);
    assert!(table.contains("refused"), "{table}");
    assert!(
        table.contains(&format!("({} of {} recorded)", job.nnodes, job.nnodes)),
        "{table}"
    );

    // The store refuses the same: the copy is an error of the ingest, the meters are flagged
    // and left out, and the month's total stays finite.
    let spool_dir = dir.join("spool");
    let dump = dir.join("sacct.txt");
    let o = ea(&[
        "ingest",
        "--config",
        c,
        "--sacct",
        dump.to_str().unwrap(),
        "--spool",
        spool_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        said.contains("n-copied") && said.contains("misnamed"),
        "{said}"
    );
    let db = dir.join("store.sqlite");
    let conn = ea_store::Store::open_read(&db).unwrap().conn;
    let flags: String = conn
        .query_row(
            "SELECT group_concat(flags, ' ') FROM node_records WHERE job_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(flags.matches("implausible-energy").count(), 2, "{flags}");
    let records_stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM node_records WHERE job_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(records_stored, i64::from(job.nnodes));
    let largest: f64 = conn
        .query_row(
            "SELECT max(max(COALESCE(e_cpu_package_j, 0), COALESCE(e_dram_j, 0),
                COALESCE(e_gpu_board_j, 0), COALESCE(e_node_bmc_j, 0))) FROM node_records",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(largest < 1e12, "{largest}");
    let acct = ok(&[
        "acct",
        "--config",
        c,
        "-j",
        &id,
        "-X",
        "-P",
        "-n",
        "-o",
        "EnergyRaw",
    ]);
    let stored: f64 = acct.trim().parse().unwrap();
    assert!(
        stored.is_finite() && stored > 0.0 && stored < 1e12,
        "{acct}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
