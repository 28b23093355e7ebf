//! The node's forwarder as the epilog starts it (the real `energy-assess-forwarder` binary,
//! detached, with real MUNGE credentials from the cluster's munged), against a collector stand-in
//! on the loopback that is down at first: records wait, then all arrive, once each, and the
//! forwarder exits. The real collector's end-to-end tests are in `collector.rs`.

use e2e::Cluster;
use ea_record::batch::{Ack, Batch, body_digest};
use ea_record::spool::{Spool, write_record_atomic};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts batches whose credential MUNGE decodes to uid 0 with the body's digest as payload,
/// and stores every record (by name); answers 401 to any other.
fn collector(listener: TcpListener) -> Arc<Mutex<Vec<String>>> {
    let stored: Arc<Mutex<Vec<String>>> = Arc::default();
    let out = stored.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut credential) = (0usize, String::new());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
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
            let ok = ea_munge::decode(&credential)
                .is_ok_and(|d| d.uid == 0 && d.payload == body_digest(&body).as_bytes());
            let (code, text) = if ok {
                let batch: Batch = serde_json::from_slice(&body).unwrap();
                let names: Vec<String> = batch.records.iter().map(|r| r.name.clone()).collect();
                out.lock().unwrap().extend(names.iter().cloned());
                let ack = Ack {
                    stored: names,
                    ..Default::default()
                };
                (200, serde_json::to_string(&ack).unwrap())
            } else {
                (401, "credential refused".to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    stored
}

fn record(job_id: u32) -> ea_record::JobNodeRecord {
    serde_json::from_value(serde_json::json!({
        "schema_version": 3, "state": "complete", "cluster": "testbed", "job_id": job_id,
        "uid": 1001, "gid": 1001, "user": "alice", "account": null, "partition": null,
        "node": "n1", "node_list": "n1", "num_nodes": 1, "cpus_on_node": 2, "start": 1,
        "end": 2, "exit": null, "mode": {"trigger": "option", "requested": null},
        "plugin_version": "0.1.0", "slurm_version": "22.05.8", "meters": []
    }))
    .unwrap()
}

fn pending(spool: &Spool) -> usize {
    std::fs::read_dir(spool.outbox_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_collector_outage_delays_the_records_and_loses_none_with_real_munge_credentials() {
    let _c = Cluster::acquire(); // munged, and the forwarder built
    let exe = e2e::energy_assess_bin().with_file_name("energy-assess-forwarder");
    let root = std::env::temp_dir().join(format!("ea-e2e-forwarder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let spool = Spool::new(&root);
    spool.ensure().unwrap();
    let jobs: Vec<u32> = (500..750).collect();
    for &j in &jobs {
        write_record_atomic(&spool.record_path(j, "n1"), &record(j)).unwrap();
        spool.enqueue(j, "n1").unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args: Vec<String> = [
        "--spool",
        root.to_str().unwrap(),
        "--host",
        "vm",
        "--collector",
        &format!("http://127.0.0.1:{port}"),
        "--first-backoff-ms",
        "200",
        "--max-backoff-ms",
        "1000",
    ]
    .map(String::from)
    .into();
    let pid = ea_meters_spawn(&exe, &args);
    // Down: the forwarder keeps the records and keeps running.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        running(pid),
        "the forwarder waits while records are pending"
    );
    assert_eq!(pending(&spool), jobs.len());
    // Up: everything arrives within the capped backoff, and the forwarder leaves.
    let t0 = Instant::now();
    let stored = collector(TcpListener::bind(("127.0.0.1", port)).unwrap());
    while (pending(&spool) > 0 || running(pid)) && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = t0.elapsed();
    assert_eq!(pending(&spool), 0, "{}", log(&root));
    assert!(!running(pid), "it exits once the outbox is empty");
    let mut stored = stored.lock().unwrap().clone();
    stored.sort();
    let mut want: Vec<String> = jobs.iter().map(|j| format!("job-{j}.n1.json")).collect();
    want.sort();
    assert_eq!(stored, want, "every record once");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let _ = std::fs::remove_dir_all(&root);
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("forwarder.log")).unwrap_or_default()
}

/// Started as the epilog starts it: its own session, stdio on /dev/null, not waited for.
fn ea_meters_spawn(exe: &Path, args: &[String]) -> u32 {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let child = cmd.spawn().expect("start energy-assess-forwarder");
    let pid = child.id();
    // Reaped by a thread so that its exit is seen (the epilog's forwarder goes to init).
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    pid
}
