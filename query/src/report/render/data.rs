//! The report for scripts: CSV (one row per group) and JSON, plain numbers in fixed base units
//! named in the column names and keys (J, kgCO2eq, MJ, kgSbeq, hours). Impact figures of a
//! group with no impacts at all are empty (CSV) or null (JSON), not zero.

use super::{CRITERIA, RenderError, crit, tz_name};
use crate::report::notes::NoImpacts;
use crate::report::{PeriodTotals, Report, Totals};
use ea_impact::{Impacts, Ranged};
use ea_sacct::timefmt::Clock;
use ea_units::plain;
use serde_json::{Value, json};

/// The CSV's columns after `section,key`.
fn csv_columns() -> Vec<String> {
    let mut c: Vec<String> = [
        "jobs",
        "jobs_measured",
        "jobs_split",
        "jobs_estimated",
        "jobs_never_ran",
        "jobs_without_impacts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.extend(
        NoImpacts::ALL
            .iter()
            .map(|r| format!("jobs_without_impacts_{}", r.key())),
    );
    c.extend(
        [
            "jobs_partial_impacts",
            "oversubscribed_jobs",
            "oversubscribed_held_node_hours",
            "oversubscribed_charged_node_hours",
            "node_hours",
            "gpu_hours",
            "energy_j",
            "energy_measured_j",
            "energy_estimated_j",
            "energy_min_j",
            "energy_max_j",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for (name, unit) in [("gwp", "kgco2eq"), ("pe", "mj"), ("adpe", "kgsbeq")] {
        for part in ["use_", "embodied_", ""] {
            for bound in ["", "_min", "_max"] {
                c.push(format!("{name}_{part}{unit}{bound}"));
            }
        }
    }
    c
}

/// A row's figures, in [`csv_columns`]' order.
fn csv_row(t: &Totals) -> Vec<String> {
    let mut v: Vec<String> = [
        t.jobs,
        t.jobs_measured,
        t.jobs_split,
        t.jobs_estimated,
        t.jobs_never_ran,
        t.jobs_without_impacts,
    ]
    .iter()
    .map(u64::to_string)
    .collect();
    v.extend(
        NoImpacts::ALL
            .iter()
            .map(|r| t.without_impacts.get(*r).to_string()),
    );
    v.push(t.jobs_partial_impacts.to_string());
    v.push(t.oversubscribed.jobs.to_string());
    v.extend(
        [
            t.oversubscribed.held_node_hours,
            t.oversubscribed.charged_node_hours,
            t.node_hours,
            t.gpu_hours,
            t.energy_j(),
            t.energy_measured_j,
            t.energy_estimated_j,
            t.energy_min_j,
            t.energy_max_j,
        ]
        .map(plain),
    );
    for (_, _, f) in CRITERIA {
        for r in [t.use_phase, t.embodied, t.total()] {
            let r = crit(r, f);
            for x in [r.value, r.min, r.max] {
                v.push(if t.has_impacts() {
                    plain(x)
                } else {
                    String::new()
                });
            }
        }
    }
    v
}

/// One row per group: the whole period, each cluster, partition, account and user, then the
/// previous period and each month of the trend (their titles as keys).
pub(super) fn csv(r: &Report) -> Result<String, RenderError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["section".to_string(), "key".to_string()]
        .into_iter()
        .chain(csv_columns());
    w.write_record(header).map_err(RenderError::Csv)?;
    let sections: [(&str, &[Totals]); 5] = [
        ("all", std::slice::from_ref(&r.all)),
        ("cluster", &r.by_cluster),
        ("partition", &r.by_partition),
        ("account", &r.by_account),
        ("user", &r.by_user),
    ];
    let periods = r
        .previous
        .iter()
        .map(|p| ("previous", p))
        .chain(r.trend.iter().map(|p| ("month", p)));
    let rows = sections
        .into_iter()
        .flat_map(|(name, rows)| rows.iter().map(move |t| (name, t.key.as_str(), t)))
        .chain(periods.map(|(name, p)| (name, p.title.as_str(), &p.totals)));
    for (section, key, t) in rows {
        let record = [section.to_string(), key.to_string()]
            .into_iter()
            .chain(csv_row(t));
        w.write_record(record).map_err(RenderError::Csv)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| RenderError::Csv(e.into_error().into()))?;
    // The writer was given strings only: its bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn ranged_json(r: Ranged<Impacts>, known: bool) -> Value {
    if !known {
        return Value::Null;
    }
    let one = |f: fn(&Impacts) -> f64| {
        let r = crit(r, f);
        json!({"value": r.value, "min": r.min, "max": r.max})
    };
    json!({"gwp_kgco2eq": one(super::gwp), "pe_mj": one(super::pe), "adpe_kgsbeq": one(super::adpe)})
}

fn totals_json(t: &Totals) -> Value {
    let known = t.has_impacts();
    let reasons: serde_json::Map<String, Value> = NoImpacts::ALL
        .iter()
        .map(|r| (r.key().to_string(), json!(t.without_impacts.get(*r))))
        .collect();
    let o = &t.oversubscribed;
    json!({
        "key": t.key,
        "jobs": t.jobs,
        "jobs_measured": t.jobs_measured,
        "jobs_split": t.jobs_split,
        "jobs_estimated": t.jobs_estimated,
        "jobs_never_ran": t.jobs_never_ran,
        "jobs_without_impacts": t.jobs_without_impacts,
        "jobs_without_impacts_by_reason": reasons,
        "jobs_partial_impacts": t.jobs_partial_impacts,
        "oversubscribed": {"jobs": o.jobs, "held_node_hours": o.held_node_hours,
                           "charged_node_hours": o.charged_node_hours,
                           "excess_node_hours": o.excess_node_hours()},
        "node_hours": t.node_hours,
        "gpu_hours": t.gpu_hours,
        "energy_j": {"total": t.energy_j(), "measured": t.energy_measured_j, "estimated": t.energy_estimated_j,
                     "min": t.energy_min_j, "max": t.energy_max_j},
        "use_phase": ranged_json(t.use_phase, known),
        "embodied": ranged_json(t.embodied, known),
        "total": ranged_json(t.total(), known),
    })
}

fn period_json(p: &PeriodTotals, clock: &Clock) -> Value {
    json!({
        "title": p.title,
        "start": clock.format(p.start),
        "end": clock.format(p.end),
        "not_final_jobs": p.not_final_jobs,
        "totals": totals_json(&p.totals),
    })
}

fn timeline_json(r: &Report) -> Value {
    let slots: Vec<Value> = r
        .timeline
        .slots
        .iter()
        .map(|s| {
            let m = &s.sums;
            json!({
                "label": s.label, "start": s.start,
                "measured_j": m.measured_j, "estimated_j": m.estimated_j,
                "energy_min_j": m.energy_min_j, "energy_max_j": m.energy_max_j,
                "gwp_kgco2eq": {"value": m.gwp_kg, "min": m.gwp_min_kg, "max": m.gwp_max_kg},
            })
        })
        .collect();
    json!({"step": r.timeline.step.as_str(), "slots": slots})
}

/// The report as JSON (energies in J, as in `acct --json`; impacts in kgCO2eq, MJ, kgSbeq).
pub fn to_json(r: &Report, clock: &Clock) -> Value {
    json!({
        "title": r.title,
        "start": clock.format(r.start),
        "end": clock.format(r.end),
        "time_zone": tz_name(clock),
        "generated_by": r.generated_by,
        "impacts": r.impacts_provenance,
        "only_user": r.only_user,
        "not_final_jobs": r.not_final_jobs,
        "all": totals_json(&r.all),
        "by_cluster": r.by_cluster.iter().map(totals_json).collect::<Vec<_>>(),
        "by_partition": r.by_partition.iter().map(totals_json).collect::<Vec<_>>(),
        "by_account": r.by_account.iter().map(totals_json).collect::<Vec<_>>(),
        "by_user": r.by_user.iter().map(totals_json).collect::<Vec<_>>(),
        "previous": r.previous.as_ref().map(|p| period_json(p, clock)),
        "trend": r.trend.iter().map(|p| period_json(p, clock)).collect::<Vec<_>>(),
        "top_jobs": r.top_jobs.iter().map(|t| json!({
            "cluster": t.cluster, "job_id": t.job_id, "user": t.user, "account": t.account,
            "partition": t.partition, "name": t.name, "node_hours": t.node_hours, "energy_j": t.energy_j,
            "source": t.source.as_str(),
            "gwp_kgco2eq": t.gwp.map(|g| json!({"value": g.value, "min": g.min, "max": g.max})),
        })).collect::<Vec<_>>(),
        "timeline": timeline_json(r),
        "unallocated": r.unallocated.as_ref().map(|u| json!({"node_hours": u.node_hours, "note": u.note, "embodied": ranged_json(u.embodied, true)})),
        "reconciliation": r.reconciliation.iter().map(|n| json!({
            "node": n.node, "meter_j": n.meter_j, "jobs_j": n.jobs_j, "residual_j": n.residual_j(), "coverage": n.coverage,
        })).collect::<Vec<_>>(),
        "calibrations": r.calibrations.iter().map(|(g, c)| json!({
            "group": g, "factor": c.factor, "static_w_per_cpu": c.static_w_per_cpu, "low": c.low, "high": c.high, "n_jobs": c.n_jobs,
        })).collect::<Vec<_>>(),
    })
}
