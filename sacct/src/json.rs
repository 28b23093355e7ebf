//! `sacct --json` (Slurm 21.08 to 25.x) and the controller's job list (`squeue --json`,
//! slurmrestd `/slurm/v0.0.4x/jobs`).
//!
//! The layout moved between plugin versions; the readers here accept every variant seen:
//! - numbers are plain (openapi dbv0.0.37/38, Slurm 21.08–22.05) or wrapped as
//!   `{"set": true, "infinite": false, "number": N}` (data_parser v0.0.39 and later, Slurm
//!   23.02+), where `set: false` or `infinite: true` mean "no value";
//! - states are a string (`"COMPLETED"`) or a list of flags (`["COMPLETED"]`, 23.02+);
//! - a step's id is its bare name (`"batch"`, 21.08) or `"<job>.<step>"` (23.02+).
//!
//! A job that cannot be read is reported with its index in `jobs[]` and skipped; a document
//! without `jobs[]` is refused as a whole, saying what it seems to be instead.

use super::fields::{normalise_state, parse_tres};
use super::{Entry, JobRow, LineError, RowError, SourceError, StepRow};
use serde_json::Value;

/// What a JSON document turned out to hold.
#[derive(Debug)]
pub struct JsonJobs {
    /// `sacct` (the accounting database) or `controller` (squeue / slurmrestd `/jobs`).
    pub kind: &'static str,
    /// The Slurm release the document names, when it names one.
    pub slurm_release: Option<String>,
    /// The jobs and steps read, in document order.
    pub entries: Vec<Entry>,
    /// The elements that could not be read (line 0, named by their index in `jobs`).
    pub errors: Vec<LineError>,
}

/// Reads a whole JSON document.
///
/// # Errors
/// Invalid JSON, or a document without a `jobs` array (sinfo, sdiag, a partitions list...).
pub fn parse_document(bytes: &[u8], source: &str) -> Result<JsonJobs, SourceError> {
    let err = |problem: String| SourceError::Format {
        source: source.to_string(),
        problem,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        err(format!(
            "not valid JSON ({e}); a sacct --json dump is one JSON object"
        ))
    })?;
    let Some(jobs) = doc.get("jobs").and_then(Value::as_array) else {
        let keys: Vec<&str> = doc
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let guess = if keys.contains(&"nodes") {
            " (it lists nodes: sinfo --json or a slurmrestd nodes response?)"
        } else if keys.contains(&"partitions") {
            " (it lists partitions)"
        } else if keys.contains(&"statistics") {
            " (it looks like sdiag --json)"
        } else if keys.contains(&"shares") {
            " (it looks like sshare --json)"
        } else {
            ""
        };
        return Err(err(format!(
            "a JSON document without a `jobs` array is not job accounting{guess}; give the output \
             of `sacct --json`"
        )));
    };
    let slurm_release = meta_release(&doc);
    let controller = jobs.iter().any(|j| j.get("job_state").is_some());
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let r = if controller {
            controller_job(job)
        } else {
            sacct_job(job)
        };
        match r {
            Ok(mut es) => entries.append(&mut es),
            Err(problem) => errors.push(LineError {
                source: source.to_string(),
                line: 0,
                problem: format!("jobs[{i}]: {problem}"),
            }),
        }
    }
    Ok(JsonJobs {
        kind: if controller { "controller" } else { "sacct" },
        slurm_release,
        entries,
        errors,
    })
}

fn meta_release(doc: &Value) -> Option<String> {
    let meta = doc.get("meta")?;
    let slurm = meta.get("Slurm").or_else(|| meta.get("slurm"))?;
    slurm
        .get("release")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A number, plain or wrapped; `None` when absent, unset, infinite or not a number.
fn num(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(o) => {
            if o.get("set").and_then(Value::as_bool) == Some(false)
                || o.get("infinite").and_then(Value::as_bool) == Some(true)
            {
                return None;
            }
            o.get("number").and_then(Value::as_f64)
        }
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    num(v).map(|f| f as i64)
}

/// A duration in seconds: a negative one is no duration (sacct never writes one; found by
/// fuzzing, where it reached the store).
fn seconds(v: Option<&Value>) -> Option<i64> {
    int(v).filter(|&s| s >= 0)
}

/// A count or an id (nodes, tasks, CPUs, uid): a negative one would wrap to four billion.
fn count(v: Option<&Value>) -> Option<u32> {
    int(v).and_then(|n| u32::try_from(n).ok())
}

/// A time limit, given in minutes, in seconds.
fn limit_s(v: Option<&Value>) -> Option<i64> {
    seconds(v).and_then(|m| m.checked_mul(60))
}

/// An epoch time; Slurm writes 0 for "not yet".
fn epoch(v: Option<&Value>) -> Option<i64> {
    int(v).filter(|&t| t > 0)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A state: a string, or the first of a list of flags.
fn state(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|x| x.as_str().map(str::to_string)),
        _ => None,
    }
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(*k))
}

/// `return_code:signal`, as sacct prints ExitCode.
fn exit_code(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if let Some(n) = v.as_i64() {
        return Some(format!("{n}:0"));
    }
    let rc = int(v.get("return_code"));
    // slurmrestd writes `signal.id`; sacct 22.05 `signal.signal_id`, with a null return code
    // for a job killed by a signal.
    let sig = int(path(v, &["signal", "id"]))
        .or_else(|| int(path(v, &["signal", "signal_id"])))
        .or_else(|| int(v.get("signal")));
    if rc.is_none() && sig.is_none() {
        return None;
    }
    Some(format!("{}:{}", rc.unwrap_or(0), sig.unwrap_or(0)))
}

/// TRES entries `[{type, name, count}]` as a `cpu=4,mem=40960M,gres/gpu=1` string.
fn tres_string(v: Option<&Value>) -> Option<String> {
    let items = v?.as_array()?;
    let mut parts = Vec::new();
    for t in items {
        let ty = t.get("type").and_then(Value::as_str).unwrap_or("");
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(count) = int(t.get("count")) else {
            continue;
        };
        let key = if name.is_empty() {
            ty.to_string()
        } else {
            format!("{ty}/{name}")
        };
        if key.is_empty() {
            continue;
        }
        let value = if ty == "mem" {
            format!("{count}M")
        } else {
            count.to_string()
        };
        parts.push(format!("{key}={value}"));
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

fn cpu_seconds(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    let s = num(v.get("seconds"))?;
    let us = num(v.get("microseconds")).unwrap_or(0.0);
    Some(s + us / 1e6)
}

fn sacct_job(j: &Value) -> Result<Vec<Entry>, RowError> {
    let job_id = int(j.get("job_id")).ok_or(RowError::NoJobId)?;
    if job_id <= 0 {
        return Err(RowError::NotAJob(job_id));
    }
    let mut row = JobRow {
        job_id_raw: Some(job_id as u64),
        ..Default::default()
    };
    let array_master = int(path(j, &["array", "job_id"])).filter(|&a| a > 0);
    let array_task = int(path(j, &["array", "task_id"]));
    let het_leader = int(path(j, &["het", "job_id"])).filter(|&h| h > 0);
    let het_offset = int(path(j, &["het", "job_offset"]));
    row.job_id = match (array_master, array_task, het_leader, het_offset) {
        (Some(a), Some(t), _, _) => {
            row.array_job_id = Some(a as u64);
            row.array_task = Some(t.to_string());
            format!("{a}_{t}")
        }
        (Some(a), None, _, _) if a != job_id => {
            // A pending array record: the task range is a string.
            let range = text(path(j, &["array", "task"])).unwrap_or_else(|| "[]".into());
            row.array_job_id = Some(a as u64);
            row.array_task = Some(format!("[{}]", range.trim_matches(['[', ']'])));
            format!("{a}_[{}]", range.trim_matches(['[', ']']))
        }
        (_, _, Some(h), Some(o)) => format!("{h}+{o}"),
        _ => job_id.to_string(),
    };
    row.cluster = text(j.get("cluster"));
    row.name = text(j.get("name"));
    row.user = text(j.get("user")).or_else(|| text(path(j, &["association", "user"])));
    row.group = text(j.get("group"));
    row.account = text(j.get("account")).or_else(|| text(path(j, &["association", "account"])));
    row.partition = text(j.get("partition"));
    row.qos = text(j.get("qos"));
    let st = state(path(j, &["state", "current"]))
        .or_else(|| state(j.get("state")))
        .unwrap_or_default();
    row.state = normalise_state(&st);
    row.state_raw = st;
    row.exit_code = exit_code(j.get("exit_code"));
    let t = j.get("time");
    let tf = |k: &str| t.and_then(|t| t.get(k));
    row.submit = epoch(tf("submission"));
    row.eligible = epoch(tf("eligible"));
    row.start = epoch(tf("start"));
    row.end = epoch(tf("end"));
    row.elapsed_s = seconds(tf("elapsed"));
    row.timelimit_s = limit_s(tf("limit"));
    row.total_cpu_s = cpu_seconds(tf("total")).filter(|&s| s > 0.0);
    row.node_list = text(j.get("nodes")).filter(|n| n != "None assigned");
    row.nnodes = count(j.get("allocation_nodes"));
    row.work_dir = text(j.get("working_directory"));
    row.alloc_tres = tres_string(path(j, &["tres", "allocated"]));
    let alloc = row
        .alloc_tres
        .as_deref()
        .map(parse_tres)
        .unwrap_or_default();
    let req = tres_string(path(j, &["tres", "requested"]))
        .map(|s| parse_tres(&s))
        .unwrap_or_default();
    row.ncpus = alloc.cpu.or(count(path(j, &["required", "CPUs"])));
    if row.nnodes.is_none_or(|n| n == 0) {
        row.nnodes = alloc.node.or(row.nnodes);
    }
    row.gpus = alloc.gpus;
    row.req_mem_mb = req.mem_mb.or(alloc.mem_mb);
    if let (Some(e), Some(c)) = (row.elapsed_s, row.ncpus) {
        row.cpu_time_s = Some(e as f64 * f64::from(c));
    }
    let mut entries = Vec::new();
    let mut steps = Vec::new();
    if let Some(list) = j.get("steps").and_then(Value::as_array) {
        for s in list {
            steps.push(sacct_step(s, &row)?);
        }
    }
    row.absorb_steps(&steps);
    row.steps = steps;
    entries.push(Entry::Job(Box::new(row)));
    Ok(entries)
}

fn sacct_step(s: &Value, job: &JobRow) -> Result<StepRow, RowError> {
    let id = match path(s, &["step", "id"]) {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Object(o)) => {
            // {"job_id":..,"step_id":..} in some dbv0.0.38 builds.
            o.get("step_id")
                .map(|v| v.to_string().trim_matches('"').to_string())
                .ok_or(RowError::StepWithoutId)?
        }
        _ => return Err(RowError::StepWithoutId),
    };
    // 23.02+ writes `<job>.<step>`; older versions the step alone.
    let step = match id.split_once('.') {
        Some((head, tail)) if head.bytes().next().is_some_and(|c| c.is_ascii_digit()) => {
            tail.to_string()
        }
        _ => id,
    };
    let t = s.get("time");
    let tf = |k: &str| t.and_then(|t| t.get(k));
    let st = state(s.get("state")).unwrap_or_default();
    let tres = tres_string(path(s, &["tres", "allocated"]));
    let consumed = tres_string(path(s, &["tres", "consumed", "total"])).map(|c| parse_tres(&c));
    let energy = num(path(s, &["statistics", "energy", "consumed"]))
        .filter(|&e| e > 0.0)
        .or(consumed.and_then(|c| c.energy_j));
    Ok(StepRow {
        cluster: job.cluster.clone(),
        job_id: job.job_id.clone(),
        step,
        name: text(path(s, &["step", "name"])),
        state: normalise_state(&st),
        state_raw: st,
        exit_code: exit_code(s.get("exit_code")),
        start: epoch(tf("start")),
        end: epoch(tf("end")),
        elapsed_s: seconds(tf("elapsed")),
        nnodes: count(path(s, &["nodes", "count"])),
        ncpus: tres.as_deref().map(parse_tres).and_then(|t| t.cpu),
        ntasks: count(path(s, &["tasks", "count"])),
        node_list: text(path(s, &["nodes", "range"])),
        total_cpu_s: cpu_seconds(tf("total")),
        consumed_energy_j: energy,
        alloc_tres: tres,
    })
}

/// A job from the controller's list. These are live jobs: finished ones the controller still
/// remembers are read too, but ingest treats the list as a snapshot of what is not final.
fn controller_job(j: &Value) -> Result<Vec<Entry>, RowError> {
    let job_id = int(j.get("job_id")).ok_or(RowError::NoJobId)?;
    let mut row = JobRow {
        job_id_raw: Some(job_id as u64),
        ..Default::default()
    };
    let array_master = int(j.get("array_job_id")).filter(|&a| a > 0);
    let array_task = int(j.get("array_task_id"));
    row.job_id = match (array_master, array_task) {
        (Some(a), Some(t)) => {
            row.array_job_id = Some(a as u64);
            row.array_task = Some(t.to_string());
            format!("{a}_{t}")
        }
        _ => job_id.to_string(),
    };
    row.cluster = text(j.get("cluster"));
    row.name = text(j.get("name"));
    row.user = text(j.get("user_name"));
    row.uid = count(j.get("user_id"));
    row.group = text(j.get("group_name"));
    row.gid = count(j.get("group_id"));
    row.account = text(j.get("account"));
    row.partition = text(j.get("partition"));
    row.qos = text(j.get("qos"));
    let st = state(j.get("job_state")).unwrap_or_default();
    row.state = normalise_state(&st);
    row.state_raw = st;
    row.exit_code = exit_code(j.get("exit_code"));
    row.submit = epoch(j.get("submit_time"));
    row.eligible = epoch(j.get("eligible_time"));
    row.start = epoch(j.get("start_time"));
    row.end = epoch(j.get("end_time"));
    // The controller's end time of a running job is its time limit, not an end.
    if !row.is_final() {
        row.end = None;
    }
    if let (Some(s), Some(e)) = (row.start, row.end) {
        row.elapsed_s = Some(e - s).filter(|&d| d >= 0);
    }
    row.timelimit_s = limit_s(j.get("time_limit"));
    row.node_list = text(j.get("nodes"));
    row.nnodes = count(j.get("node_count"));
    row.ncpus = count(j.get("cpus"));
    row.alloc_tres = text(j.get("tres_alloc_str"));
    let tres = row
        .alloc_tres
        .as_deref()
        .map(parse_tres)
        .unwrap_or_default();
    row.gpus = tres.gpus;
    row.req_mem_mb = text(j.get("tres_req_str"))
        .and_then(|r| parse_tres(&r).mem_mb)
        .or(tres.mem_mb);
    row.work_dir = text(j.get("current_working_directory"));
    Ok(vec![Entry::Job(Box::new(row))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_and_plain_numbers() {
        let v: Value = serde_json::json!({"a": 3, "b": {"set": true, "infinite": false, "number": 7},
            "c": {"set": false, "infinite": false, "number": 0}, "d": {"set": true, "infinite": true, "number": 0}});
        assert_eq!(int(v.get("a")), Some(3));
        assert_eq!(int(v.get("b")), Some(7));
        assert_eq!(int(v.get("c")), None);
        assert_eq!(int(v.get("d")), None);
        assert_eq!(int(v.get("e")), None);
    }

    #[test]
    fn exit_codes_in_each_layout() {
        let e = |v: Value| exit_code(Some(&v));
        assert_eq!(e(serde_json::json!(3)), Some("3:0".into()));
        assert_eq!(
            e(serde_json::json!({"status": "SUCCESS", "return_code": 0})),
            Some("0:0".into())
        );
        // sacct 22.05 (tests/fixtures/sacct-22.05.8/jobs.json, job 8112): killed by SIGTERM.
        let signalled = serde_json::json!({"status": "SIGNALED", "return_code": null,
            "signal": {"signal_id": 15, "name": "Terminated"}});
        assert_eq!(e(signalled), Some("0:15".into()));
        let restd = serde_json::json!({"return_code": 1, "signal": {"id": 9, "name": "KILL"}});
        assert_eq!(e(restd), Some("1:9".into()));
        assert_eq!(e(serde_json::json!({"status": "PENDING"})), None);
    }

    #[test]
    fn refuses_documents_without_jobs_and_says_what_they_look_like() {
        let e = parse_document(br#"{"nodes": [], "meta": {}}"#, "x.json").unwrap_err();
        assert!(e.to_string().contains("sinfo"), "{e}");
        let e = parse_document(b"{not json", "x.json").unwrap_err();
        assert!(e.to_string().starts_with("x.json: not valid JSON"), "{e}");
    }

    #[test]
    fn a_bad_job_is_skipped_and_the_rest_kept() {
        let doc = br#"{"jobs": [{"job_id": 0}, {"job_id": 5, "state": {"current": ["COMPLETED"]},
            "time": {"start": 100, "end": 200, "elapsed": 100, "submission": 90,
                     "total": {"seconds": 50, "microseconds": 500000}},
            "tres": {"allocated": [{"type": "cpu", "name": "", "id": 1, "count": 2},
                                   {"type": "gres", "name": "gpu", "id": 1001, "count": 1}]},
            "steps": [{"step": {"id": "5.batch", "name": "batch"}, "state": ["COMPLETED"],
                       "time": {"start": {"set": true, "infinite": false, "number": 100}, "end": 200,
                                "elapsed": 100, "total": {"seconds": 50, "microseconds": 500000}},
                       "statistics": {"energy": {"consumed": {"set": true, "infinite": false, "number": 4200}}},
                       "nodes": {"count": 1, "range": "n1"}}]}]}"#;
        let r = parse_document(doc, "d").unwrap();
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].problem.starts_with("jobs[0]"));
        let Entry::Job(j) = &r.entries[0] else {
            panic!()
        };
        assert_eq!(
            (j.job_id.as_str(), j.state.as_str(), j.gpus, j.ncpus),
            ("5", "COMPLETED", Some(1), Some(2))
        );
        assert_eq!(j.total_cpu_s, Some(50.5));
        assert_eq!(j.consumed_energy_j, Some(4200.0));
        let s = &j.steps[0];
        assert_eq!(
            (s.step.as_str(), s.start, s.node_list.as_deref()),
            ("batch", Some(100), Some("n1"))
        );
    }

    #[test]
    fn negative_durations_and_counts_are_unknown_not_wrapped() {
        // Found by fuzzing: a negative elapsed reached the store, and a negative count would
        // have become four billion nodes.
        let doc = br#"{"jobs": [{"job_id": 6, "state": {"current": ["COMPLETED"]},
            "allocation_nodes": -1, "time": {"start": 100, "end": 200, "elapsed": -100, "limit": -5},
            "steps": [{"step": {"id": "6.0", "name": "x"}, "state": ["COMPLETED"],
                       "time": {"start": 100, "end": 200, "elapsed": -100},
                       "nodes": {"count": -3, "range": "n1"}, "tasks": {"count": -1}}]}]}"#;
        let r = parse_document(doc, "d").unwrap();
        let Entry::Job(j) = &r.entries[0] else {
            panic!()
        };
        assert_eq!((j.elapsed_s, j.timelimit_s, j.nnodes), (None, None, None));
        let s = &j.steps[0];
        assert_eq!((s.elapsed_s, s.nnodes, s.ntasks), (None, None, None));
    }
}
