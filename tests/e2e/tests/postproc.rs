//! The post-processor on the real cluster: live sacct ingest with the spool's records, sacct-
//! style queries and the job view with its footprint.

use e2e::{Cluster, Store};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn live_ingest_measures_assessed_jobs_and_estimates_the_others() {
    let c = Cluster::acquire();
    let assessed = c.sbatch(&["-N2", "--exclusive", "--energy-assess"], "sleep 6");
    let plain = c.sbatch(&["-N1", "-w", "n3"], "sleep 2");
    c.wait_gone(assessed, T);
    c.wait_gone(plain, T);
    let records = c.records(assessed, 2, T);
    // The store splits node energy by the impact engine's rule (Jay's: methodology §4.1): the
    // job has its nodes to itself (share 1), so it gets each node's meter minus the GPUs it did
    // not hold.
    let measured_j: f64 = records.iter().map(own_share_of_node_j).sum();
    // sacct lags the epilog a little: make sure it shows both jobs final first.
    c.sacct(assessed, "JobID");
    c.sacct(plain, "JobID");

    let store = Store::new("live");
    // The last hour from the live sacct, with the spool: run twice below.
    let live_ingest = e2e::live_ingest(e2e::SPOOL);
    let summary = store.ea(&live_ingest);
    assert!(
        summary.contains("malformed") && !summary.contains(" 1 malformed"),
        "{summary}"
    );
    let ids = format!("{assessed},{plain}");
    let table = store.ea(&[
        "acct",
        "-j",
        &ids,
        "-X",
        "-P",
        "-n",
        "-o",
        "JobID,User,EnergySource,EnergyRaw,GWPUse,GWPEmbodied,GWP",
    ]);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let row = |job: u32| {
        rows.iter()
            .find(|r| r[0] == job.to_string())
            .unwrap_or_else(|| panic!("{job} missing:\n{table}"))
    };
    let (a, p) = (row(assessed), row(plain));
    assert_eq!(a[1], e2e::TEST_USER);
    assert_eq!(a[2], "measured", "{table}");
    let energy: f64 = a[3].parse().unwrap();
    assert!(
        (energy - measured_j).abs() / measured_j < 0.01,
        "store {energy} J vs records {measured_j} J"
    );
    assert_eq!(p[2], "estimated", "{table}");
    for r in [a, p] {
        let (use_, emb, total): (f64, f64, f64) = (
            r[4].parse().unwrap(),
            r[5].parse().unwrap(),
            r[6].parse().unwrap(),
        );
        assert!(use_ > 0.0 && emb > 0.0, "{r:?}");
        // Shown with four significant figures.
        assert!((use_ + emb - total).abs() <= 1e-3 * total, "{r:?}");
    }
    // Idempotent: the same window again writes nothing new.
    let again = store.ea(&live_ingest);
    assert!(
        again.contains("0 written") || again.contains(" 0 jobs"),
        "{again}"
    );

    // The job view from the spool shows the footprint the inventory gives.
    let view = store.ea(&["job", &assessed.to_string()]);
    assert!(
        view.contains("GWP:") && view.contains("CO2eq") && view.contains("embodied"),
        "{view}"
    );
}

/// What a job alone on its node is attributed of that node's energy under Jay's rule: the
/// whole-node meter (external wattmeter, else BMC) minus the GPUs the job did not hold; without
/// one, its GPUs and the CPU side (packages and DRAM, else psys).
fn own_share_of_node_j(r: &ea_record::JobNodeRecord) -> f64 {
    use ea_record::Scope;
    let sum = |f: &dyn Fn(&ea_record::MeterReport) -> bool| -> f64 {
        r.meters.iter().filter(|m| f(m)).map(|m| m.energy_j).sum()
    };
    let has = |s: Scope| r.meters.iter().any(|m| m.scope == s);
    let others_gpus = sum(&|m| m.scope == Scope::GpuBoard && m.job_owned == Some(false));
    let node = if has(Scope::NodeWattmeter) {
        Some(sum(&|m| m.scope == Scope::NodeWattmeter))
    } else if has(Scope::NodeBmc) {
        Some(sum(&|m| m.scope == Scope::NodeBmc))
    } else {
        None
    };
    match node {
        Some(n) => (n - others_gpus).max(0.0),
        None => {
            let gpus = sum(&|m| m.scope == Scope::GpuBoard && m.job_owned != Some(false));
            let cpu_side = if has(Scope::CpuPackage) || has(Scope::Dram) {
                sum(&|m| matches!(m.scope, Scope::CpuPackage | Scope::Dram))
            } else {
                sum(&|m| m.scope == Scope::Platform)
            };
            gpus + cpu_side
        }
    }
}

/// A job's embodied figure is allocated once, at ingest, over every job that shared its
/// nodes: `acct` alone, per user, per node and over the store, `job`, and the month's report
/// all show the same figure. The inventory here says node n3 has less memory than its two
/// jobs held together (as where memory is not a consumable resource): their shares are scaled
/// down, and they say so.
#[test]
fn a_job_has_one_embodied_figure_in_every_query() {
    let c = Cluster::acquire();
    let a = c.sbatch(&["-N1", "-w", "n3", "-n1", "--mem=1500M"], "sleep 8");
    let b = c.sbatch(&["-N1", "-w", "n3", "-n1", "--mem=1500M"], "sleep 8");
    c.wait_gone(a, T);
    c.wait_gone(b, T);
    c.sacct(a, "JobID");
    c.sacct(b, "JobID");
    let store = Store::new("one-figure");
    let inventory = std::fs::read_to_string(e2e::repo().join("configs/inventory/testbed.toml"))
        .unwrap()
        .replace("slurm_memory_mb = 8050", "slurm_memory_mb = 2000")
        .replace(
            "../factors/",
            &format!("{}/configs/factors/", e2e::repo().display()),
        );
    let inv_path = store.dir.join("inventory.toml");
    std::fs::write(&inv_path, inventory).unwrap();
    let config = std::fs::read_to_string(&store.config).unwrap();
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("inventory = ") {
                format!("inventory = \"{}\"", inv_path.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&store.config, config + "\n").unwrap();
    // sacct's jobs only: the spool holds records of earlier runs' jobs that sacct has
    // forgotten, which no report counts (they are not final).
    store.ea(&["ingest", "--live", "--start", "now-1hours", "--end", "now"]);

    let cols = "JobID,GWPEmbodied,GWPEmbodiedMin,GWPEmbodiedMax,GWP,PE,ADPE,Flags";
    let rows = |filter: &[&str]| -> std::collections::BTreeMap<String, String> {
        let mut args = vec!["acct", "-X", "-P", "-n", "-o", cols];
        args.extend_from_slice(filter);
        store
            .ea(&args)
            .lines()
            .map(|l| (l.split('|').next().unwrap().to_string(), l.to_string()))
            .collect()
    };
    let all = rows(&["-a", "-S", "now-1hours"]);
    let (ja, jb) = (a.to_string(), b.to_string());
    for job in [&ja, &jb] {
        let row = &all[job.as_str()];
        assert!(row.ends_with("oversubscribed"), "{row}");
        assert_eq!(rows(&["-j", job]).get(job.as_str()), Some(row), "alone");
        assert_eq!(
            rows(&["-u", e2e::TEST_USER, "-S", "now-1hours"]).get(job.as_str()),
            Some(row),
            "per user"
        );
        assert_eq!(
            rows(&["-a", "-N", "n3", "-S", "now-1hours"]).get(job.as_str()),
            Some(row),
            "per node"
        );
        // `job` shows the store's figure, and by how much its share was scaled.
        let view = store.ea(&["job", job]);
        assert!(view.contains("scaled by 0."), "{view}");
        assert!(
            view.contains("at ingest, over every job that shared its nodes"),
            "{view}"
        );
    }
    // The month's report is the sum of its jobs' figures.
    let month = String::from_utf8(e2e::run("date", &["+%Y-%m"]).stdout).unwrap();
    let month = month.trim();
    let report: serde_json::Value =
        serde_json::from_str(&store.ea(&["report", "--month", month, "--format", "json"])).unwrap();
    let in_report = report["all"]["embodied"]["gwp_kgco2eq"]["value"]
        .as_f64()
        .unwrap();
    let summed: f64 = rows(&["-a", "-S", &format!("{month}-01T00:00:00")])
        .values()
        .filter_map(|r| r.split('|').nth(1)?.parse::<f64>().ok())
        .sum();
    assert!(
        (in_report - summed).abs() <= 1e-9 * summed,
        "report {in_report} vs jobs {summed}"
    );
}
