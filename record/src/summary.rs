//! What a job's records say, read like seff: a few `Key: value` lines and sentences, then a
//! small table per node and meter, every figure in the unit that fits ([`ea_units`]).
//!
//! One text for the two places a user reads it: the summary file the epilog leaves in the
//! job's directory (`--energy-assess=summary`) and `energy-assess job`, which adds the
//! footprint (the nodes have no inventory, so the file points to `job` for it).

use crate::{JobNodeRecord, RecordState, Scope, UnixMicros};
use ea_units::{ENERGY_J, EnergyUnits, POWER};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A job as its records tell it; also the JSON form of `energy-assess job --json`.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Slurm's job id.
    pub job_id: u32,
    /// `48_52` for an array task, else the job id.
    pub job: String,
    /// The records' `cluster`.
    pub cluster: Option<String>,
    /// The records' `user`.
    pub user: Option<String>,
    /// The records' `account`.
    pub account: Option<String>,
    /// The records' `partition`.
    pub partition: Option<String>,
    /// The job's node list, as Slurm writes it.
    pub node_list: Option<String>,
    /// How many nodes the job has (not how many records were found).
    pub num_nodes: Option<u32>,
    /// Nodes whose epilog has written the final record.
    pub nodes_complete: usize,
    /// Nodes where the job is still running (prolog record only).
    pub nodes_running: usize,
    /// The earliest prolog of its nodes.
    pub start: Option<UnixMicros>,
    /// The latest epilog of its nodes; `None` while a node runs.
    pub end: Option<UnixMicros>,
    /// `end - start`, s.
    pub duration_s: Option<f64>,
    /// Slurm's `code:signal`.
    pub exit_code: Option<String>,
    /// One entry per node a record was found for.
    pub nodes: Vec<NodeSummary>,
    /// Energy per meter scope over all nodes, in joules (scopes overlap).
    pub energy_by_scope_j: BTreeMap<String, f64>,
    /// Sum over nodes of each node's best whole-node figure (`JobNodeRecord::node_energy_j`),
    /// joules; `None` when a node had no meter.
    pub energy_j: Option<f64>,
    /// `energy_j` over the job's duration, W.
    pub mean_power_w: Option<f64>,
    /// The highest whole-node power a node's meter read (not a simultaneous peak).
    pub peak_power_w: Option<f64>,
    /// Record and meter flags (`node: flag`, `node: meter: flag`).
    pub flags: Vec<String>,
    /// Records that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

/// One node of the job.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    /// The Slurm node name.
    pub node: String,
    /// Whether the epilog completed this node's record.
    pub complete: bool,
    /// Prolog to epilog on this node, s.
    pub duration_s: Option<f64>,
    /// Joules.
    pub energy_j: Option<f64>,
    /// Which meters `energy_j` comes from.
    pub energy_basis: Option<&'static str>,
    /// The record's meters, as written.
    pub meters: Vec<crate::MeterReport>,
    /// The record's absent meters, with why.
    pub absent_meters: Vec<crate::AbsentMeter>,
    /// Meters whose energy is not believed ([`crate::bounds`]), with why: left out of every
    /// figure, as the store leaves them out.
    pub refused: Vec<String>,
    /// The record's and its meters' flags, in words.
    pub flags: Vec<String>,
    /// Why the summary file the user asked for was not written here.
    pub summary_error: Option<String>,
}

/// The name serde gives an enum value (`no-prolog-state`), as records spell it.
pub fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_string(),
    }
}

impl JobSummary {
    /// The summary of a job from its final records (`done`), the prolog records of nodes
    /// still running it (`running`), and what could not be read.
    pub fn from_records(
        job_id: u32,
        done: &[JobNodeRecord],
        running: &[JobNodeRecord],
        unreadable: Vec<String>,
    ) -> Self {
        let first = done.first().or(running.first());
        let all: Vec<&JobNodeRecord> = done.iter().chain(running).collect();
        let start = all.iter().filter_map(|r| r.start).min();
        let end = if running.is_empty() {
            done.iter().filter_map(|r| r.end).max()
        } else {
            None
        };
        let mut nodes: Vec<NodeSummary> = all.iter().map(|r| node_summary(r)).collect();
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let mut by_scope: BTreeMap<String, f64> = BTreeMap::new();
        for m in all.iter().flat_map(|r| r.plausible_meters()) {
            *by_scope.entry(m.scope.as_str().to_string()).or_default() += m.energy_j;
        }
        let energy_j = nodes.iter().map(|n| n.energy_j).sum::<Option<f64>>();
        let duration_s = start.zip(end).map(|(s, e)| e.seconds_since(s));
        let mean_power_w = match (energy_j, duration_s) {
            (Some(e), Some(d)) if d > 0.0 => Some(e / d),
            _ => None,
        };
        let flags = nodes
            .iter()
            .flat_map(|n| n.flags.iter().map(move |f| format!("{}: {f}", n.node)))
            .collect();
        JobSummary {
            job_id,
            job: match first.and_then(|r| r.array_job_id.zip(r.array_task_id)) {
                Some((a, t)) => format!("{a}_{t}"),
                None => job_id.to_string(),
            },
            cluster: first.and_then(|r| r.cluster.clone()),
            user: first.and_then(|r| r.user.clone()),
            account: first.and_then(|r| r.account.clone()),
            partition: first.and_then(|r| r.partition.clone()),
            node_list: first.and_then(|r| r.node_list.clone()),
            num_nodes: first.and_then(|r| r.num_nodes),
            nodes_complete: done.len(),
            nodes_running: running.len(),
            start,
            end,
            duration_s,
            exit_code: done.iter().find_map(|r| r.exit).map(|e| e.to_string()),
            peak_power_w: peak_node_power(&nodes),
            nodes,
            energy_by_scope_j: by_scope,
            energy_j,
            mean_power_w,
            flags,
            unreadable,
        }
    }

    /// Nodes the job ran on, as far as the records know (`num_nodes`, else those recorded).
    pub fn nodes_expected(&self) -> usize {
        self.num_nodes
            .map_or(self.nodes.len(), |n| n as usize)
            .max(self.nodes.len())
    }

    /// Whether every node of the job has its final record.
    pub fn is_complete(&self) -> bool {
        self.nodes_running == 0 && self.nodes_complete == self.nodes_expected()
    }
}

fn node_summary(r: &JobNodeRecord) -> NodeSummary {
    let flags = r
        .flags
        .iter()
        .map(serde_name)
        .chain(r.meters.iter().flat_map(|m| {
            m.flags
                .iter()
                .map(move |f| format!("{}: {}", m.id, serde_name(f)))
        }))
        .collect();
    let (energy_j, energy_basis) = match r.node_energy_j() {
        Some((e, b)) => (Some(e), Some(b.describe())),
        None => (None, None),
    };
    NodeSummary {
        node: r.node.clone(),
        complete: r.state == RecordState::Complete,
        duration_s: r.duration_s(),
        energy_j,
        energy_basis,
        meters: r.plausible_meters().cloned().collect(),
        absent_meters: r.absent_meters.clone(),
        refused: r
            .implausible_meters()
            .iter()
            .map(ToString::to_string)
            .collect(),
        flags,
        summary_error: r.summary_error.clone(),
    }
}

/// The highest whole-node power any node's meter read: an upper bound of each node's draw,
/// not a simultaneous peak of the job.
fn peak_node_power(nodes: &[NodeSummary]) -> Option<f64> {
    nodes
        .iter()
        .flat_map(|n| &n.meters)
        .filter(|m| matches!(m.scope, Scope::NodeBmc | Scope::NodeWattmeter))
        .filter_map(|m| m.power_w.map(|p| p.max))
        .reduce(f64::max)
}

/// A time in the system's zone, as sacct prints it.
fn local_time(t: Option<UnixMicros>) -> String {
    match t.and_then(|t| jiff::Timestamp::from_microsecond(t.0).ok()) {
        Some(ts) => ts
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        None => "?".to_string(),
    }
}

/// The summary as text: `Key: value` lines, the measurement's quality in words, then the
/// table per node and meter.
pub fn write_text(s: &JobSummary, units: EnergyUnits) -> String {
    let mut out = String::new();
    let o = &mut out;
    let or_q = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "Job {} of {}: account {}, partition {}, cluster {}",
        s.job,
        or_q(&s.user),
        or_q(&s.account),
        or_q(&s.partition),
        or_q(&s.cluster)
    );
    let _ = writeln!(o, "State:        {}", state_line(s));
    let _ = writeln!(
        o,
        "Nodes:        {} ({} of {} recorded)",
        s.node_list.as_deref().unwrap_or("?"),
        s.nodes.len(),
        s.nodes_expected()
    );
    let until = if s.nodes_running > 0 {
        "now".to_string()
    } else {
        local_time(s.end)
    };
    let took = s
        .duration_s
        .map(|d| format!(", {}", ea_units::duration(d)))
        .unwrap_or_default();
    let _ = writeln!(o, "Ran:          {} to {until}{took}", local_time(s.start));
    let _ = writeln!(o, "Energy:       {}", energy_line(s, units));
    if let Some(p) = power_line(s) {
        let _ = writeln!(o, "Power:        {p}");
    }
    write_quality(o, s);
    write_meter_table(o, s, units);
    out
}

fn state_line(s: &JobSummary) -> String {
    let exit = s
        .exit_code
        .as_deref()
        .map(|e| format!(" (exit code {e})"))
        .unwrap_or_default();
    if s.nodes_running > 0 {
        format!(
            "RUNNING on {} node(s), finished on {}",
            s.nodes_running, s.nodes_complete
        )
    } else if s.is_complete() {
        format!("finished on all {} node(s){exit}", s.nodes_complete)
    } else {
        format!(
            "finished; records from {} of its {} nodes{exit}",
            s.nodes_complete,
            s.nodes_expected()
        )
    }
}

fn energy_line(s: &JobSummary, units: EnergyUnits) -> String {
    let Some(e) = s.energy_j else {
        let unmetered: Vec<&str> = s
            .nodes
            .iter()
            .filter(|n| n.energy_j.is_none())
            .map(|n| n.node.as_str())
            .collect();
        return format!(
            "not measured: no meter on {} (see below)",
            unmetered.join(", ")
        );
    };
    let mut by_basis: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in &s.nodes {
        if let Some(b) = n.energy_basis {
            by_basis.entry(b).or_default().push(&n.node);
        }
    }
    let basis: Vec<String> = by_basis
        .iter()
        .map(|(b, nodes)| format!("{}: {b}", nodes.join(", ")))
        .collect();
    let part = if s.is_complete() {
        String::new()
    } else {
        format!(" (the nodes recorded so far, {})", s.nodes.len())
    };
    format!(
        "{} drawn at the nodes{part}, before the data centre's overhead (PUE); from {}",
        units.human(e),
        basis.join("; ")
    )
}

fn power_line(s: &JobSummary) -> Option<String> {
    let nodes = match s.nodes.len() {
        1 => String::new(),
        n => format!(" over its {n} nodes together"),
    };
    let mean = s
        .mean_power_w
        .map(|p| format!("mean {}{nodes}", POWER.human(p)));
    let peak = s
        .peak_power_w
        .map(|p| format!("highest reading of a node's meter {}", POWER.human(p)));
    let parts: Vec<String> = [mean, peak].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn write_quality(o: &mut String, s: &JobSummary) {
    let mut notes = grouped_in_words(
        s.nodes
            .iter()
            .flat_map(|n| n.flags.iter().map(move |f| format!("{}: {f}", n.node))),
    );
    for n in &s.nodes {
        notes.extend(n.refused.iter().map(|r| format!("{}: {r}", n.node)));
        if let Some(e) = &n.summary_error {
            notes.push(format!(
                "the summary file you asked for was not written: {e}"
            ));
        }
    }
    notes.extend(
        s.unreadable
            .iter()
            .map(|u| format!("unreadable record: {u}")),
    );
    if notes.is_empty() {
        let _ = writeln!(o, "Measurement:  no problem found");
        return;
    }
    let _ = writeln!(o, "Measurement:  {}", notes[0]);
    for n in &notes[1..] {
        let _ = writeln!(o, "              {n}");
    }
}

fn write_meter_table(o: &mut String, s: &JobSummary, units: EnergyUnits) {
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<10} {:<28} {:<12} {:<16} {:>10} {:>9} {:>9} {:>9}",
        "node", "meter", "scope", "method", "energy", "min", "mean", "max"
    );
    for n in &s.nodes {
        if n.meters.is_empty() {
            let why: Vec<String> = n
                .absent_meters
                .iter()
                .map(|a| format!("{}: {}", a.source, a.reason))
                .collect();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            };
            let _ = writeln!(o, "{:<10} (no meter on this node{why})", n.node);
        }
        for m in &n.meters {
            let p = |f: fn(&crate::PowerStats) -> f64| {
                m.power_w
                    .as_ref()
                    .map_or("-".into(), |ps| POWER.short(f(ps)))
            };
            let _ = writeln!(
                o,
                "{:<10} {:<28} {:<12} {:<16} {:>10} {:>9} {:>9} {:>9}",
                n.node,
                truncate(&m.id, 28),
                m.scope.as_str(),
                serde_name(&m.method),
                units.human(m.energy_j),
                p(|ps| ps.min),
                p(|ps| ps.mean),
                p(|ps| ps.max),
            );
        }
    }
    if s.energy_by_scope_j.len() > 1 {
        let scopes: Vec<String> = s
            .energy_by_scope_j
            .iter()
            .map(|(scope, j)| format!("{scope} {}", ENERGY_J.short(*j)))
            .collect();
        let _ = writeln!(
            o,
            "By scope (they overlap: platform holds cpu-package and dram, node-bmc everything): {}",
            scopes.join(", ")
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}~", s.chars().take(n - 1).collect::<String>())
    }
}

/// A data-quality flag as a sentence. Flags are written `meter: name`, `meter:name[:detail]`
/// (the store's form) or `name[:detail]`; unknown ones are returned as written.
pub fn flag_in_words(flag: &str) -> String {
    match where_and_words(flag) {
        (w, words) if w.is_empty() => words,
        (w, words) => format!("{w}: {words}"),
    }
}

/// Where a flag was raised (`n1: rapl:0`, empty for the job) and what it says.
fn where_and_words(flag: &str) -> (String, String) {
    // Each `:` may end the place; the place keeps its text as written (`n1: rapl:0`).
    let starts = std::iter::once(0).chain(flag.match_indices(':').map(|(i, _)| i + 1));
    for start in starts {
        let rest = &flag[start..];
        let (name, detail) = rest.split_once(':').unwrap_or((rest, ""));
        if let Some(words) = words_for(name.trim(), detail.trim()) {
            let place = flag[..start].trim_end_matches([':', ' ']);
            return (place.to_string(), words);
        }
    }
    (String::new(), flag.to_string())
}

/// Flags as sentences, one per thing said: the same flag on several meters or nodes (a
/// counter wrapping on every RAPL zone of every node) is one line naming where, the first
/// few of them.
pub fn grouped_in_words(flags: impl IntoIterator<Item = String>) -> Vec<String> {
    const NAMED: usize = 4;
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for f in flags {
        let (place, words) = where_and_words(&f);
        match groups.iter_mut().find(|(w, _)| *w == words) {
            Some((_, places)) => places.push(place),
            None => groups.push((words, vec![place])),
        }
    }
    groups
        .into_iter()
        .map(|(words, places)| {
            let places: Vec<String> = places.into_iter().filter(|p| !p.is_empty()).collect();
            match places.len() {
                0 => words,
                1 => format!("{}: {words}", places[0]),
                n => {
                    let more = if n > NAMED {
                        format!(" and {} more", n - NAMED)
                    } else {
                        String::new()
                    };
                    let named = places[..n.min(NAMED)].join(", ");
                    format!("{words} ({n} meters or nodes: {named}{more})")
                }
            }
        })
        .collect()
}

fn words_for(name: &str, detail: &str) -> Option<String> {
    let fixed = match name {
        "no-prolog-state" => "the epilog found no prolog state, so the start is unknown",
        "sampler-died" => "the sampler died before the end; its last checkpoint was used",
        "sampler-killed" => "the sampler did not answer in time at the end and was stopped",
        "no-end-snapshot" => "the epilog could not take its end reading",
        "config-error" => "the site configuration could not be read; defaults were used",
        "boot-changed" => "the node rebooted during the job; energy before the reboot is lost",
        "salvaged" => {
            "no epilog wrote this record; it was completed later from the last checkpoint"
        }
        "wrapped" => "the counter wrapped around (handled, no energy lost)",
        "reset" => "the counter was reset (driver reload or reboot): energy before it is lost",
        "read-errors" => "some readings failed; the energy covers the readings that worked",
        "rejected-readings" => "implausible readings were rejected",
        "interval-too-long" => {
            "readings were further apart than the counter takes to wrap; a wrap may be missed"
        }
        "power-fallback" => "no energy counter; power readings were integrated instead",
        "power-since-counter" => {
            "part of the energy is integrated power, after the counter's last reading"
        }
        "snapshots-only" => "only the start and end readings were available",
        "wraps-inferred" => {
            "the sampler stalled; counter wraps over the stall were inferred from the power"
        }
        "components-only" => {
            "no whole-node meter: the figure is CPU + DRAM + GPU and misses the rest of the node"
        }
        "shared-node-split" => "a node was shared with other jobs; its energy was split",
        // The impact engine's flags (ea_impact::allocation::Flag; a test there holds the list).
        "node-not-in-inventory" => "a node is in no inventory group: no impact for it",
        "empty-interval" => "the job's end is not after its start: nothing charged",
        "clipped-to-period" => "part of the job lies outside the period and is not charged here",
        "oversubscribed" => {
            "the jobs on a node held more than the node; their shares were scaled to its capacity"
        }
        "no-share-data" => "a shared node, and nothing known of what the job held: charged whole",
        "share-rule-fallback" => {
            "the site's share rule lacked data; the largest known fraction was used"
        }
        "held-more-than-node" => {
            "the job held more than the inventory says the node has; share capped"
        }
        "node-meter-below-devices" => {
            "a node meter read less than its devices' sum; the remainder was taken as 0"
        }
        "device-holder-unknown" => "a device meter did not say which job held it; split by share",
        "remainder-not-measured" => {
            "component meters only: power supply, fans and board are not counted"
        }
        "unknown-scope-ignored" => "a meter of unknown coverage was left out",
        "invalid-meter-value" => "a negative or non-finite meter value was left out",
        "hourly-series-partial" => {
            "the hourly grid factors did not cover the whole job; yearly factors filled the gaps"
        }
        "estimate-incomplete" => "the estimate lacked a TDP for some CPUs or GPUs held",
        "implausible-energy" => return Some(format!("energy refused as implausible ({detail})")),
        "extrapolated" => {
            return Some(format!(
                "not every node reported ({}); the total was extrapolated",
                detail.trim_end_matches("-nodes")
            ));
        }
        n if n.starts_with("implausible-") => {
            return Some(format!(
                "the record's {} count is beyond any real node ({detail}); taken as unknown",
                &n["implausible-".len()..]
            ));
        }
        _ => return None,
    };
    Some(fixed.to_string())
}

#[cfg(test)]
mod tests;
