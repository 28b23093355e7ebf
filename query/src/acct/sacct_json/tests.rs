//! The layout's rules on jobs the real fixtures (`store/tests/sacct_parity.rs`) do not have:
//! a non-zero exit, a kill, a pending array range, no nodes, typed GPUs, a measured job with
//! impacts.

use super::*;
use crate::figures::Source;
use ea_energy::estimate::Calibration;
use ea_sacct::JobRow;

fn impacts(gwp: f64) -> Impacts {
    Impacts {
        gwp_kgco2eq: gwp,
        adpe_kgsbeq: gwp / 1e4,
        pe_mj: gwp * 10.0,
    }
}

fn ranged(gwp: f64) -> Ranged<Impacts> {
    Ranged {
        value: impacts(gwp),
        min: impacts(gwp * 0.5),
        max: impacts(gwp * 2.0),
    }
}

fn figures(source: Source, with_impacts: bool) -> JobFigures {
    JobFigures {
        energy: Energy {
            j: 3.6e6,
            min_j: 3.0e6,
            max_j: 4.0e6,
            source,
            calibration: (source == Source::Estimated).then_some(Calibration {
                factor: 1.1,
                static_w_per_cpu: 2.5,
                low: 0.8,
                high: 1.3,
                n_jobs: 12,
            }),
        },
        elapsed_s: 3600.0,
        mean_power_w: Some(1000.0),
        node_hours: 2.0,
        gpu_hours: 4.0,
        impacts: with_impacts.then(|| JobImpacts {
            use_phase: ranged(0.1),
            embodied: ranged(0.02),
        }),
    }
}

fn write_one(job: &JobRecord, fig: &JobFigures, steps: Vec<StepRow>) -> J {
    let mut out = Vec::new();
    let meta = QueryMeta {
        window_start: 100,
        window_end: 200,
        impacts: "test model".into(),
    };
    write(
        &mut out,
        &[JsonJob {
            job,
            figures: fig,
            steps,
        }],
        &meta,
    )
    .unwrap();
    assert_eq!(out.last(), Some(&b'\n'));
    serde_json::from_slice(&out).unwrap()
}

fn gpu_job() -> JobRecord {
    JobRecord {
        row: JobRow {
            cluster: Some("c".into()),
            job_id: "500+1".into(),
            job_id_raw: Some(501),
            name: Some("train".into()),
            state: "FAILED".into(),
            state_raw: "FAILED".into(),
            exit_code: Some("3:0".into()),
            start: Some(1000),
            end: None,
            elapsed_s: Some(3600),
            timelimit_s: Some(7200),
            nnodes: Some(2),
            node_list: Some("g[1-2]".into()),
            alloc_tres: Some("billing=8,cpu=8,gres/gpu:a100=4,gres/gpu=4,mem=64G,node=2".into()),
            total_cpu_s: Some(3_661.000_25),
            gpus: Some(4),
            ..Default::default()
        },
        measured: Some(MeasuredRecord {
            nodes_recorded: 1,
            nodes_expected: Some(2),
            scope: "node_bmc".into(),
            flags: "extrapolated:1/2-nodes,shared-node-split".into(),
            e_node_bmc_j: Some(1.8e6),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn exits_het_offsets_tres_and_unknown_times_follow_sacct() {
    let job = gpu_job();
    let killed = StepRow {
        step: "0".into(),
        name: Some("python".into()),
        state: "CANCELLED".into(),
        exit_code: Some("0:9".into()),
        node_list: Some("g[1-2]".into()),
        nnodes: Some(2),
        ntasks: Some(8),
        total_cpu_s: Some(0.000_5),
        consumed_energy_j: Some(1234.6),
        ..Default::default()
    };
    let v = write_one(&job, &figures(Source::Split, true), vec![killed]);
    let j = &v["jobs"][0];
    // 22.05 writes SUCCESS and 0 for any exit; the code is kept here.
    assert_eq!(j["exit_code"], json!({"status": "ERROR", "return_code": 3}));
    assert_eq!(j["job_id"], 501);
    assert_eq!(j["het"], json!({"job_id": 500, "job_offset": 1}));
    assert_eq!(j["array"]["job_id"], 0);
    assert_eq!(j["time"]["end"], 0, "not ended: 0, as sacct writes it");
    assert_eq!(j["time"]["limit"], 120, "minutes");
    assert_eq!(
        j["time"]["total"],
        json!({"seconds": 3661, "microseconds": 250})
    );
    let tres: Vec<(J, J, J, J)> = j["tres"]["allocated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].clone(),
                t["name"].clone(),
                t["id"].clone(),
                t["count"].clone(),
            )
        })
        .collect();
    let t = |ty: &str, name: J, id: J, count: u64| (J::from(ty), name, id, J::from(count));
    assert_eq!(
        tres,
        [
            t("cpu", J::Null, J::from(1), 8),
            t("mem", J::Null, J::from(2), 65_536),
            t("node", J::Null, J::from(4), 2),
            t("billing", J::Null, J::from(5), 8),
            t("gres", J::from("gpu:a100"), J::Null, 4),
            t("gres", J::from("gpu"), J::Null, 4),
        ]
    );
    let s = &j["steps"][0];
    assert_eq!(s["step"]["id"], 0, "a numbered step's id is a number");
    assert_eq!(s["step"]["job_id"], 501);
    assert_eq!(
        s["exit_code"],
        json!({"status": "SIGNALED", "return_code": null, "signal": {"signal_id": 9, "name": "Killed"}})
    );
    assert_eq!(s["nodes"]["list"], json!(["g1", "g2"]));
    assert_eq!(s["tasks"]["count"], 8);
    assert_eq!(
        s["time"]["total"],
        json!({"seconds": 0, "microseconds": 500})
    );
    assert_eq!(s["statistics"]["energy"]["consumed"], 1235);
}

#[test]
fn energy_assess_holds_every_figure_in_base_units() {
    let v = write_one(&gpu_job(), &figures(Source::Split, true), vec![]);
    let ea = &v["jobs"][0]["energy_assess"];
    assert_eq!(
        ea["energy_j"],
        json!({"value": 3.6e6, "min": 3.0e6, "max": 4.0e6, "source": "split"})
    );
    let gwp = &ea["gwp_kgco2eq"];
    let close = |a: &J, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-12;
    assert!(close(&gwp["value"], 0.12) && close(&gwp["min"], 0.06) && close(&gwp["max"], 0.24));
    assert!(close(&gwp["use_phase"]["value"], 0.1));
    assert!(close(&gwp["embodied"]["max"], 0.04));
    assert!(close(&ea["pe_mj"]["value"], 1.2));
    assert!(close(&ea["adpe_kgsbeq"]["embodied"]["value"], 2e-6));
    assert_eq!(ea["mean_power_w"], 1000.0);
    assert_eq!(
        (&ea["node_hours"], &ea["gpu_hours"]),
        (&json!(2.0), &json!(4.0))
    );
    assert_eq!(ea["gpus"], 4);
    assert_eq!(ea["calibration"], J::Null);
    assert_eq!(
        ea["measured"],
        json!({
            "scope": "node_bmc", "nodes_recorded": 1, "nodes_expected": 2,
            "meters_j": {"cpu_package": null, "dram": null, "gpu_board": null,
                         "node_bmc": 1.8e6, "node_wattmeter": null, "platform": null, "other": null}
        })
    );
    assert_eq!(
        ea["flags"],
        json!(["extrapolated:1/2-nodes", "shared-node-split"])
    );
    let meta = &v["meta"];
    assert_eq!(meta["plugin"]["type"], LAYOUT_PLUGIN);
    assert_eq!(meta["Slurm"]["release"], "22.05");
    assert_eq!(
        meta["energy_assess"]["window"],
        json!({"start": 100, "end": 200})
    );
    assert_eq!(meta["energy_assess"]["impacts"], "test model");
    assert_eq!(v["errors"], json!([]));
}

#[test]
fn an_estimate_without_inventory_pending_array_and_no_nodes() {
    let job = JobRecord {
        row: JobRow {
            cluster: Some("c".into()),
            job_id: "77_[1-3]".into(),
            array_job_id: Some(77),
            array_task: Some("[1-3]".into()),
            state: "PENDING".into(),
            state_raw: "PENDING".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let v = write_one(&job, &figures(Source::Estimated, false), vec![]);
    let j = &v["jobs"][0];
    assert_eq!(j["job_id"], 77, "no raw id: the id's number");
    assert_eq!(j["array"]["task"], "[1-3]");
    assert_eq!(j["array"]["task_id"], J::Null);
    assert_eq!(j["het"], json!({"job_id": 0, "job_offset": null}));
    assert_eq!(j["nodes"], "None assigned");
    assert_eq!(j["state"], json!({"current": "PENDING", "reason": null}));
    assert_eq!(j["exit_code"], json!({"status": null, "return_code": null}));
    assert_eq!(j["time"]["limit"], J::Null);
    assert_eq!(j["steps"], json!([]));
    let ea = &j["energy_assess"];
    assert_eq!(ea["energy_j"]["source"], "estimated");
    assert_eq!(ea["calibration"]["jobs"], 12);
    assert_eq!(ea["calibration"]["ratio_high"], 1.3);
    for k in ["gwp_kgco2eq", "pe_mj", "adpe_kgsbeq", "measured"] {
        assert_eq!(ea[k], J::Null, "{k}");
    }
    assert_eq!(ea["flags"], json!([]));
}

/// A JSON object's keys in the order written (`serde_json::Value` sorts them).
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

#[derive(serde::Deserialize)]
struct JobsKeys {
    jobs: Vec<KeyOrder>,
}

#[test]
fn keys_keep_sacct_order() {
    let real: JobsKeys = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sacct-22.05.8/jobs.json"
    )))
    .unwrap();
    let mut out = Vec::new();
    let meta = QueryMeta {
        window_start: 0,
        window_end: 0,
        impacts: String::new(),
    };
    let (job, fig) = (gpu_job(), figures(Source::Measured, false));
    let one = JsonJob {
        job: &job,
        figures: &fig,
        steps: vec![],
    };
    write(&mut out, &[one], &meta).unwrap();
    let ours: JobsKeys = serde_json::from_slice(&out).unwrap();
    let mut expected = real.jobs[0].0.clone();
    expected.push("energy_assess".into());
    assert_eq!(ours.jobs[0].0, expected);
}
