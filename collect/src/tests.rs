//! The collector in process, on 127.0.0.1, with a fake munged ([`crate::auth::tests::FakeMunge`])
//! and synthetic records: what a forwarder sees for each kind of batch. The real munged is in
//! the end-to-end tests (tests/e2e/tests/collector.rs).

use crate::auth::tests::FakeMunge;
use crate::config::CollectConfig;
use crate::metrics::Metrics;
use crate::writer::WriterSetup;
use ea_ingest::Settings;
use ea_record::batch::{Ack, Batch, BatchEntry};
use ea_record::spool::{encode_record, file_name};
use ea_sacct::timefmt::Clock;
use ea_store::Store;
use ea_synth::{self as synth, Params};
use std::path::PathBuf;
use std::sync::Arc;

struct Fixture {
    dir: PathBuf,
    running: Option<crate::Running>,
    agent: ureq::Agent,
}

impl Fixture {
    fn start(tag: &str, config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ea-collect-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = CollectConfig::parse(&format!(
            "listen = \"127.0.0.1:0\"\nthreads = 2\nlive_interval_s = 0\n{config}"
        ))
        .unwrap();
        let db = dir.join("store.sqlite");
        let (store, _) = Store::open_for_write(&db, &Default::default()).unwrap();
        let setup = WriterSetup {
            store,
            settings: Settings {
                cluster: "synth".into(),
                clock: Clock::fixed(jiff::tz::TimeZone::UTC, 1_800_000_000),
                estimate: Default::default(),
                record_grace_s: 1800,
                progress: false,
                inventory: None,
            },
            live: None,
            max_rows: 1000,
            state_dir: dir.clone(),
            metrics: Arc::new(Metrics::new(Some(db))),
        };
        let running = crate::start(&config, setup, Arc::new(FakeMunge::default())).unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        Self {
            dir,
            running: Some(running),
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.as_ref().unwrap().addr())
    }

    /// Sends a body with a credential; the status and the answer's text.
    fn post(&self, body: &[u8], credential: &str) -> (u16, String) {
        let mut r = self
            .agent
            .post(&self.url(ea_record::batch::BATCH_PATH))
            .header(ea_record::batch::CREDENTIAL_HEADER, credential)
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    fn send(&self, batch: &Batch, uid: u32) -> (u16, String) {
        let body = serde_json::to_vec(batch).unwrap();
        self.post(&body, &FakeMunge::encode(uid, &body))
    }

    fn metrics(&self) -> String {
        let mut r = self.agent.get(&self.url("/metrics")).call().unwrap();
        r.body_mut().read_to_string().unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        let s = Store::open_read(&self.dir.join("store.sqlite")).unwrap();
        s.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A job's records, as entries, and the nodes they are of.
fn entries(seed: u64) -> Vec<(String, BatchEntry)> {
    let p = Params {
        jobs: 40,
        assessed: 1.0,
        seed,
        ..Default::default()
    };
    let jobs = synth::jobs(&p);
    let job = jobs
        .iter()
        .find(|j| j.nodes().len() >= 3)
        .expect("a job of 3 nodes");
    synth::records(&p, job)
        .into_iter()
        .map(|r| {
            let content = String::from_utf8(encode_record(&r).unwrap()).unwrap();
            let name = file_name(r.job_id, &r.node, "json");
            (r.node, BatchEntry { name, content })
        })
        .collect()
}

#[test]
fn a_batch_is_stored_once_and_acknowledged_after_commit() {
    let f = Fixture::start("once", "");
    let records = entries(1);
    let (host, _) = &records[0];
    let batch = Batch {
        host: host.clone(),
        records: vec![records[0].1.clone()],
    };
    let (status, text) = f.send(&batch, 0);
    assert_eq!(status, 200, "{text}");
    let ack: Ack = serde_json::from_str(&text).unwrap();
    assert_eq!(ack.stored, std::slice::from_ref(&records[0].1.name));
    // The ack came after the commit: the store has it now.
    assert_eq!(f.count("SELECT count(*) FROM node_records"), 1);
    // The same batch again (a lost answer), with a new credential: stored once.
    let (status, text) = f.send(&batch, 0);
    assert_eq!(status, 200, "{text}");
    let ack: Ack = serde_json::from_str(&text).unwrap();
    assert!(ack.stored.is_empty() && ack.duplicates.len() == 1, "{text}");
    assert_eq!(f.count("SELECT count(*) FROM node_records"), 1);
    let m = f.metrics();
    assert!(
        m.contains("energy_assess_collect_records_stored_total 1"),
        "{m}"
    );
    assert!(
        m.contains("energy_assess_collect_records_duplicate_total 1"),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "node_last_record_timestamp_seconds{{node=\"{host}\"}}"
        )),
        "{m}"
    );
}

#[test]
fn records_of_other_nodes_or_misnamed_are_rejected_and_the_rest_stored() {
    let f = Fixture::start("reject", "");
    let records = entries(2);
    let (host, own) = &records[0];
    let (_, other) = &records[1];
    let mut misnamed = own.clone();
    misnamed.name = file_name(99_999, host, "json");
    let batch = Batch {
        host: host.clone(),
        records: vec![own.clone(), other.clone(), misnamed],
    };
    let (status, text) = f.send(&batch, 0);
    assert_eq!(status, 200, "{text}");
    let ack: Ack = serde_json::from_str(&text).unwrap();
    assert_eq!(ack.stored, std::slice::from_ref(&own.name));
    assert_eq!(ack.rejected.len(), 2, "{text}");
    assert_eq!(f.count("SELECT count(*) FROM node_records"), 1);
    // Measured energies are derived within a second of the commit (writer::DERIVE_EVERY).
    let t0 = std::time::Instant::now();
    while f.count("SELECT count(*) FROM job_measured") == 0 {
        assert!(t0.elapsed().as_secs() < 10, "never derived");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let m = f.metrics();
    assert!(
        m.contains("records_rejected_total{reason=\"node-not-of-host\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("records_rejected_total{reason=\"misnamed\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("energy_assess_collect_measured_energy_joules{"),
        "{m}"
    );
}

#[test]
fn a_host_speaks_for_the_nodes_the_config_gives_it() {
    let records = entries(3);
    let nodes: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    let f = Fixture::start(
        "hosts",
        &format!("[hosts]\nbox = \"{}\"\n", nodes.join(",")),
    );
    let batch = Batch {
        host: "box".into(),
        records: records.iter().map(|(_, e)| e.clone()).collect(),
    };
    let (status, text) = f.send(&batch, 0);
    assert_eq!(status, 200, "{text}");
    let ack: Ack = serde_json::from_str(&text).unwrap();
    assert_eq!(ack.stored.len(), records.len(), "{text}");
}

#[test]
fn bad_credentials_and_bodies_store_nothing() {
    let f = Fixture::start("auth", "");
    let records = entries(4);
    let batch = Batch {
        host: records[0].0.clone(),
        records: vec![records[0].1.clone()],
    };
    let body = serde_json::to_vec(&batch).unwrap();
    assert_eq!(f.post(&body, &FakeMunge::encode(1000, &body)).0, 403);
    assert_eq!(f.post(&body, &FakeMunge::encode(0, b"another body")).0, 401);
    assert_eq!(f.post(&body, "not a credential").0, 401);
    let cred = FakeMunge::encode(0, b"{}");
    assert_eq!(f.post(b"{}", &cred).0, 400);
    // Replayed: the fake, like munged, decodes a credential once.
    assert_eq!(f.post(b"{}", &cred).0, 401);
    assert_eq!(f.count("SELECT count(*) FROM node_records"), 0);
    let m = f.metrics();
    for outcome in [
        "uid-not-allowed",
        "payload-mismatch",
        "credential-invalid",
        "malformed",
        "credential-replayed",
    ] {
        assert!(
            m.contains(&format!("batches_total{{outcome=\"{outcome}\"}} 1")),
            "{outcome}: {m}"
        );
    }
}
