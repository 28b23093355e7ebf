//! The forwarder against a tiny HTTP collector on the loopback.

use super::*;
use ea_record::batch::{Ack, Batch, Rejected, body_digest};
use ea_record::spool::{Spool, write_record_atomic};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Signs with the digest itself, so that the stub can check what was signed.
struct FakeSigner;

impl Signer for FakeSigner {
    fn sign(&self, payload: &[u8]) -> Result<String, SendError> {
        Ok(format!("fake:{}", String::from_utf8_lossy(payload)))
    }
}

/// One request the stub received: its credential header and its batch.
type Seen = Arc<Mutex<Vec<(String, Batch)>>>;

/// Serves `POST /v1/batch` on `listener`: `answer(n, batch)` gives the status and body of the
/// n-th request (0-based). Checks that the credential signs the body it came with.
fn serve(
    listener: TcpListener,
    answer: impl Fn(usize, &Batch) -> (u16, String) + Send + 'static,
) -> Seen {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut credential) = (0, String::new());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /v1/batch "), "{line}");
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap(),
                    "x-munge-credential" => credential = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert_eq!(credential, format!("fake:{}", body_digest(&body)));
            let batch: Batch = serde_json::from_slice(&body).unwrap();
            let (code, text) = answer(n, &batch);
            log.lock().unwrap().push((credential, batch));
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    seen
}

fn stored_all(batch: &Batch) -> String {
    serde_json::to_string(&Ack {
        stored: batch.records.iter().map(|r| r.name.clone()).collect(),
        ..Default::default()
    })
    .unwrap()
}

fn record(job_id: u32, node: &str) -> ea_record::JobNodeRecord {
    serde_json::from_value(serde_json::json!({
        "schema_version": 3, "state": "complete", "cluster": "c", "job_id": job_id,
        "uid": 1, "gid": 1, "user": "u", "account": null, "partition": null, "node": node,
        "node_list": node, "num_nodes": 1, "cpus_on_node": 2, "start": 1, "end": 2,
        "exit": null, "mode": {"trigger": "option", "requested": null},
        "plugin_version": "0.1.0", "slurm_version": "22.05.8", "meters": []
    }))
    .unwrap()
}

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A spool with the records of `jobs` on n1, each written and queued as the epilog does.
fn spool(tag: &str, jobs: &[u32]) -> (Dir, Spool) {
    let root = std::env::temp_dir().join(format!("ea-forward-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let spool = Spool::new(&root);
    spool.ensure().unwrap();
    for &j in jobs {
        write_record_atomic(&spool.record_path(j, "n1"), &record(j, "n1")).unwrap();
        spool.enqueue(j, "n1").unwrap();
        spool.enqueue(j, "n1").unwrap(); // twice: no error, one entry
    }
    (Dir(root), spool)
}

fn args(spool: &Spool, collectors: Vec<String>) -> Args {
    Args {
        spool: spool.root().to_path_buf(),
        host: "n1".into(),
        collectors,
        keep_delivered: DEFAULT_KEEP_DELIVERED,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
    }
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn command_lines_round_trip_and_say_what_is_missing() {
    let (_d, s) = spool("args", &[]);
    let a = args(&s, vec!["http://a:1".into(), "http://b:2".into()]);
    assert_eq!(Args::parse(a.to_args()).unwrap(), a);
    let e = Args::parse(["--spool".to_string(), "/s".into()]).unwrap_err();
    assert!(e.0.contains("--collector"), "{e}");
    assert!(Args::parse(["--bogus".to_string(), "1".into()]).is_err());
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let mut w = Duration::from_secs(1);
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(w.as_secs());
        w = next_backoff(w, MAX_BACKOFF);
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60]);
}

#[test]
fn only_acknowledged_entries_leave_the_outbox_and_rejected_ones_are_kept_aside() {
    let (_d, s) = spool("ack", &[11, 12, 13, 14]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // First answer: 11 stored, 12 already there, 13 rejected, 14 not named (stays, resent).
    let seen = serve(listener, |n, batch| {
        let ack = if n == 0 {
            Ack {
                stored: vec![batch.records[0].name.clone()],
                duplicates: vec![batch.records[1].name.clone()],
                rejected: vec![Rejected {
                    name: batch.records[2].name.clone(),
                    reason: "node n1 is not host n1's".into(),
                }],
            }
        } else {
            serde_json::from_str(&stored_all(batch)).unwrap()
        };
        (200, serde_json::to_string(&ack).unwrap())
    });
    assert_eq!(run(&args(&s, vec![url]), &FakeSigner), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1.host, "n1");
    assert_eq!(seen[0].1.records.len(), 4);
    let text = std::fs::read_to_string(s.record_path(11, "n1")).unwrap();
    assert_eq!(
        seen[0].1.records[0].content, text,
        "the record file's text, as written"
    );
    assert_eq!(
        seen[1]
            .1
            .records
            .iter()
            .map(|r| &r.name)
            .collect::<Vec<_>>(),
        ["job-14.n1.json"]
    );
    let o = Outbox::new(s.root());
    assert!(names(&o.dir()).is_empty());
    assert_eq!(
        names(&o.delivered_dir()),
        ["job-11.n1.json", "job-12.n1.json", "job-14.n1.json"]
    );
    assert_eq!(
        names(&o.rejected_dir()),
        ["job-13.n1.json", "job-13.n1.json.reason"]
    );
    let reason = std::fs::read_to_string(o.rejected_dir().join("job-13.n1.json.reason")).unwrap();
    assert!(reason.contains("not host n1's"));
    // The records themselves stay until pruned; with keep 0 they go, rejected ones never.
    assert!(s.record_path(11, "n1").exists());
    let mut log = outbox::Log::open(s.root());
    o.prune_delivered(Duration::ZERO, &mut log);
    assert!(!s.record_path(11, "n1").exists() && !s.record_path(14, "n1").exists());
    assert!(s.record_path(13, "n1").exists());
    assert!(names(&o.delivered_dir()).is_empty());
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(logged.contains("rejected by the collector"), "{logged}");
}

#[test]
fn a_collector_outage_delays_the_records_but_loses_none() {
    // Nothing listens on the port at first; 5xx and 401 come next; then the collector stores.
    let (_d, s) = spool("outage", &(1..=450).collect::<Vec<_>>());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let a = args(&s, vec![url]);
    let forwarder = std::thread::spawn(move || run(&a, &FakeSigner));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !forwarder.is_finished(),
        "it waits while records are pending"
    );
    assert_eq!(names(&Outbox::new(s.root()).dir()).len(), 450);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let seen = serve(listener, |n, batch| match n {
        0 => (503, "busy".into()),
        1 => (401, "credential replayed".into()),
        _ => (200, stored_all(batch)),
    });
    assert_eq!(forwarder.join().unwrap(), 0);
    let seen = seen.lock().unwrap();
    let mut delivered: Vec<String> = seen[2..]
        .iter()
        .flat_map(|(_, b)| b.records.iter().map(|r| r.name.clone()))
        .collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 450, "every record, once acknowledged");
    assert!(
        seen[2..]
            .iter()
            .all(|(_, b)| b.records.len() <= BATCH_MAX_RECORDS)
    );
    assert_eq!(names(&Outbox::new(s.root()).delivered_dir()).len(), 450);
    assert!(names(&Outbox::new(s.root()).dir()).is_empty());
}

#[test]
fn a_record_no_collector_can_read_is_set_aside_and_the_others_get_through() {
    // The collector answers 400 to any batch holding job 7's record (413 once, for variety):
    // the forwarder halves the batch until job 7 is alone, sets it aside, delivers the rest.
    let (_d, s) = spool("body", &(1..=10).collect::<Vec<_>>());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = serve(listener, |n, batch| {
        if batch.records.iter().any(|r| r.name == "job-7.n1.json") {
            let code = if n == 0 { 413 } else { 400 };
            (code, "not a batch: job 7 is not readable".into())
        } else {
            (200, stored_all(batch))
        }
    });
    assert_eq!(run(&args(&s, vec![url]), &FakeSigner), 0);
    let o = Outbox::new(s.root());
    assert!(names(&o.dir()).is_empty(), "nothing left pending");
    assert_eq!(names(&o.delivered_dir()).len(), 9);
    assert_eq!(
        names(&o.rejected_dir()),
        ["job-7.n1.json", "job-7.n1.json.reason"]
    );
    let reason = std::fs::read_to_string(o.rejected_dir().join("job-7.n1.json.reason")).unwrap();
    assert!(
        reason.contains("sent alone") && reason.contains("400"),
        "{reason}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].1.records.len(), 10);
    assert!(
        seen.len() <= 10,
        "halving finds the record in a few requests: {}",
        seen.len()
    );
    let sizes: Vec<usize> = seen.iter().map(|(_, b)| b.records.len()).collect();
    assert!(sizes.contains(&1), "job 7 was sent alone: {sizes:?}");
}

#[test]
fn a_record_queued_again_unchanged_leaves_the_outbox_once_acknowledged() {
    // Delivered once; then the same file is queued again (its entry and delivered/'s are two
    // links to one file, where rename(2) does nothing): acknowledged again, it must still go.
    let (_d, s) = spool("again", &[21]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = serve(listener, |_, batch| (200, stored_all(batch)));
    assert_eq!(run(&args(&s, vec![url.clone()]), &FakeSigner), 0);
    s.enqueue(21, "n1").unwrap();
    let o = Outbox::new(s.root());
    assert_eq!(names(&o.dir()), ["job-21.n1.json"]);
    assert_eq!(run(&args(&s, vec![url]), &FakeSigner), 0);
    assert!(names(&o.dir()).is_empty());
    assert_eq!(names(&o.delivered_dir()), ["job-21.n1.json"]);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "sent once each time, not in a loop"
    );
}

#[test]
fn the_next_collector_is_tried_when_the_first_is_down() {
    let (_d, s) = spool("failover", &[21]);
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = serve(listener, |_, b| (200, stored_all(b)));
    assert_eq!(
        run(&args(&s, vec![format!("http://{dead}"), url]), &FakeSigner),
        0
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn one_forwarder_per_node_at_a_time() {
    let (_d, s) = spool("lock", &[31]);
    let o = Outbox::new(s.root());
    let held = o.lock().unwrap();
    assert!(held.is_some());
    assert!(o.lock().unwrap().is_none());
    // A second forwarder leaves at once, sending nothing.
    assert_eq!(
        run(&args(&s, vec!["http://127.0.0.1:9".into()]), &FakeSigner),
        0
    );
    assert_eq!(names(&o.dir()), ["job-31.n1.json"]);
    drop(held);
    assert!(o.lock().unwrap().is_some());
}

#[test]
fn a_running_forwarder_takes_up_collectors_the_plugin_noted_since() {
    // Started during an outage with a collector that never comes back; the site moves its
    // collector, and the next epilog on the node notes the new one (the second forwarder it
    // starts exits at once on the lock): the running one sends there.
    let (_d, s) = spool("moved", &[1, 2, 3]);
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    assert!(s.note_collectors(std::slice::from_ref(&dead_url)).unwrap());
    assert!(
        !s.note_collectors(std::slice::from_ref(&dead_url)).unwrap(),
        "unchanged: no write"
    );
    let a = args(&s, vec![dead_url]);
    let forwarder = std::thread::spawn(move || run(&a, &FakeSigner));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !forwarder.is_finished(),
        "it waits while records are pending"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let new_url = format!("http://{}", listener.local_addr().unwrap());
    let seen = serve(listener, |_, batch| (200, stored_all(batch)));
    assert!(s.note_collectors(std::slice::from_ref(&new_url)).unwrap());
    assert_eq!(s.noted_collectors(), Some(vec![new_url]));
    assert_eq!(forwarder.join().unwrap(), 0);
    let delivered: usize = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.records.len())
        .sum();
    assert_eq!(delivered, 3);
    assert!(names(&Outbox::new(s.root()).dir()).is_empty());
    let log = std::fs::read_to_string(s.root().join("forwarder.log")).unwrap();
    assert!(log.contains("collectors are now"), "{log}");
}
