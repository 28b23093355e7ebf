//! `energy-assess inventory check|show|collect`: the site's node inventory.
//!
//! `check` validates a file and lists every problem with its line and fix; `show` prints, per
//! group, the embodied impact per node over its life and per node-hour, with the breakdown by
//! component (the bottom-up model's, or the inventory's per-component LCA table with its
//! figure per GPU card) and the min–max range; `collect`, run on a node, prints a ready-to-edit `[[group]]`
//! for it from lscpu, /proc, /sys/block and NVML.

mod collect;

use anyhow::{Context, Result};
use ea_impact::embodied::ComponentKind;
use ea_impact::factors::{electricity_factor_set, embodied_factor_set};
use ea_impact::inventory::{ComponentTable, EmbodiedSource, NodeGroup};
use ea_impact::{Impacts, Inventory, Ranged};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(clap::Subcommand)]
pub enum InventoryCommand {
    /// Validate an inventory file: every problem, with its line and how to fix it.
    Check {
        /// The inventory (TOML; see configs/inventory/).
        file: PathBuf,
    },
    /// Print each group's embodied impact per node (whole life and per node-hour), with the
    /// breakdown by component and the min-max range.
    Show {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a ready-to-edit [[group]] describing this node (lscpu, /proc, /sys/block, NVML).
    Collect {
        /// Read /proc, /sys and the captured `lscpu.txt` under this root instead of the live
        /// system (for tests and for describing another machine from a copy of its files).
        #[arg(long, default_value = "/")]
        sysroot: PathBuf,
        /// NVML library to load (default: the system's libnvidia-ml.so.1).
        #[arg(long)]
        nvml_library: Option<PathBuf>,
        /// Do not look for GPUs through NVML.
        #[arg(long)]
        no_nvml: bool,
        /// The node's Slurm name, if it differs from the host name.
        #[arg(long)]
        node: Option<String>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        InventoryCommand::Check { file } => check(&file),
        InventoryCommand::Show { file, json } => show(&file, json),
        InventoryCommand::Collect {
            sysroot,
            nvml_library,
            no_nvml,
            node,
        } => {
            let nvml = if no_nvml {
                collect::Nvml::Skip
            } else {
                collect::Nvml::Load(nvml_library)
            };
            let text = collect::collect(&sysroot, nvml, node.as_deref())?;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn load(file: &std::path::Path) -> Result<Inventory> {
    Inventory::load(file).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        anyhow::anyhow!("{} problem(s) in {}", errors.0.len(), file.display())
    })
}

fn check(file: &std::path::Path) -> Result<()> {
    let inv = load(file)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: ok, {} group(s), {} node(s), sha256 {}",
        file.display(),
        inv.groups.len(),
        inv.node_count(),
        &inv.sha256[..16]
    )?;
    for g in &inv.groups {
        let unmatched: Vec<String> = unmatched_models(g);
        for u in unmatched {
            writeln!(out, "note: group \"{}\" (line {}): {u}", g.name, g.line)?;
        }
    }
    Ok(())
}

/// What rests on table averages or fuzzy matches: valid, but worth a look.
fn unmatched_models(g: &NodeGroup) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(hw) = &g.hardware else { return notes };
    for c in &g.embodied.components {
        match c.kind {
            ComponentKind::Cpu
                if ["mean die", "rule of three", "regression"]
                    .iter()
                    .any(|w| c.basis.contains(w)) =>
            {
                notes.push(format!(
                    "CPU die size estimated ({}); give die_area_mm2 if you know it",
                    c.basis
                ))
            }
            _ => {}
        }
    }
    let cpu = ea_impact::embodied::cpu_die(
        hw.cpu.model.as_deref(),
        hw.cpu.cores_per_socket,
        hw.cpu.die_area_mm2,
        hw.cpu.die_area_per_core_mm2,
    );
    if let (Some(given), Some(matched)) = (&hw.cpu.model, &cpu.matched)
        && !given.eq_ignore_ascii_case(matched)
    {
        notes.push(format!(
            "CPU `{given}` matched boaviztapi's row `{matched}`"
        ));
    }
    for gpu in &hw.gpus {
        let card = ea_impact::embodied::gpu_card(gpu, g.gpu_model);
        match (&gpu.model, &card.matched) {
            (Some(given), Some(matched)) if !given.eq_ignore_ascii_case(matched) => {
                notes.push(format!(
                    "GPU `{given}` matched the table row `{matched}` ({})",
                    card.basis
                ))
            }
            (_, None) if gpu.footprint_per_card.is_none_or(|f| !f.is_complete()) => {
                notes.push(format!(
                    "GPU {:?} is not in the table: defaults used ({})",
                    gpu.model.as_deref().unwrap_or("(no model)"),
                    card.basis
                ))
            }
            _ => {}
        }
    }
    notes
}

fn show(file: &std::path::Path, json: bool) -> Result<()> {
    let inv = load(file)?;
    let mut out = std::io::stdout().lock();
    if json {
        let groups: Vec<serde_json::Value> = inv
            .groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.name,
                    "hostlist": g.hostlist,
                    "nodes": g.nodes.len(),
                    "line": g.line,
                    "method": g.embodied.method,
                    "gpu_model": g.gpu_model.as_str(),
                    "lifetime_years": g.lifetime_years,
                    "utilisation": g.utilisation,
                    "pue": g.pue,
                    "electricity": g.electricity,
                    "grid_zone": g.grid_zone,
                    "capacity": g.capacity,
                    "hardware": g.hardware,
                    "embodied_per_node": g.embodied.per_node,
                    "embodied_per_node_hour": g.embodied.per_node_hour,
                    "embodied_per_node_life_hour": g.embodied.per_node_life_hour,
                    "components": g.embodied.components,
                    "component_table": component_table(g),
                    "embodied_per_gpu_card": component_table(g).and_then(|t| t.gpu_per_card()),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "inventory": inv.path.display().to_string(),
            "sha256": inv.sha256,
            "embodied_factors": embodied_factor_set(),
            "electricity_factors": electricity_factor_set(),
            "hourly_series": inv.series.as_ref().map(|s| &s.id),
            "site": inv.site,
            "units": {"gwp": "kgCO2eq", "adpe": "kgSbeq", "pe": "MJ"},
            "groups": groups,
        });
        serde_json::to_writer_pretty(&mut out, &doc).context("writing JSON")?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "inventory {} (sha256 {})",
        inv.path.display(),
        &inv.sha256[..16]
    )?;
    writeln!(out, "embodied factors: {}", embodied_factor_set())?;
    writeln!(out, "electricity factors: {}", electricity_factor_set())?;
    if let Some(s) = &inv.series {
        writeln!(out, "hourly series: {}", s.id)?;
    }
    writeln!(
        out,
        "share rule: {}; unallocated node-hours: {}",
        inv.site.share_rule.as_str(),
        inv.site.unallocated.as_str()
    )?;
    for g in &inv.groups {
        writeln!(out)?;
        write_group(&mut out, g)?;
    }
    Ok(())
}

fn write_group(out: &mut impl Write, g: &NodeGroup) -> std::io::Result<()> {
    writeln!(
        out,
        "group {} (line {}): {} node(s) {}",
        g.name,
        g.line,
        g.nodes.len(),
        g.hostlist
    )?;
    writeln!(out, "  embodied: {}", g.embodied.method)?;
    writeln!(
        out,
        "  lifetime {} y, utilisation {}, PUE {}, electricity: {}",
        range_f64(g.lifetime_years),
        range_f64(g.utilisation),
        range_f64(g.pue),
        g.electricity.source
    )?;
    let p = g.electricity.per_kwh;
    writeln!(
        out,
        "  use-phase factors per kWh: {} kgCO2eq, {} kgSbeq, {} MJ",
        sig(p.gwp_kgco2eq),
        sig(p.adpe_kgsbeq),
        sig(p.pe_mj)
    )?;
    writeln!(
        out,
        "  {:<22} {:<28} {:<30} PE MJ [min-max]",
        "", "GWP kgCO2eq [min-max]", "ADPe kgSbeq [min-max]"
    )?;
    write_row(out, "per node, whole life", g.embodied.per_node)?;
    write_row(out, "per node-hour charged", g.embodied.per_node_hour)?;
    if let Some(card) = component_table(g).and_then(|t| t.gpu_per_card()) {
        write_row(out, "per GPU card, life", Ranged::exact(card))?;
    }
    if !g.embodied.components.is_empty() {
        writeln!(out, "  breakdown per node, whole life:")?;
        for c in &g.embodied.components {
            let label = if c.units > 1 {
                format!("{} x{}", c.kind.as_str(), c.units)
            } else {
                c.kind.as_str().to_string()
            };
            write_row(out, &format!("  {label}"), c.impacts)?;
        }
        writeln!(out, "  how:")?;
        for c in &g.embodied.components {
            writeln!(out, "    {}: {}", c.kind.as_str(), c.basis)?;
        }
    }
    Ok(())
}

/// The group's per-component LCA table, when that is where its embodied figures come from.
fn component_table(g: &NodeGroup) -> Option<&ComponentTable> {
    match &g.source {
        EmbodiedSource::ComponentTable(t) => Some(t),
        _ => None,
    }
}

fn write_row(out: &mut impl Write, label: &str, r: Ranged<Impacts>) -> std::io::Result<()> {
    let cell = |v: f64, lo: f64, hi: f64| {
        if lo == v && hi == v {
            sig(v)
        } else {
            format!("{} [{}-{}]", sig(v), sig(lo), sig(hi))
        }
    };
    writeln!(
        out,
        "  {:<22} {:<28} {:<30} {}",
        label,
        cell(r.value.gwp_kgco2eq, r.min.gwp_kgco2eq, r.max.gwp_kgco2eq),
        cell(r.value.adpe_kgsbeq, r.min.adpe_kgsbeq, r.max.adpe_kgsbeq),
        cell(r.value.pe_mj, r.min.pe_mj, r.max.pe_mj)
    )
}

fn range_f64(r: Ranged<f64>) -> String {
    if r.min == r.value && r.max == r.value {
        format!("{}", r.value)
    } else {
        format!("{} [{}-{}]", r.value, r.min, r.max)
    }
}

/// Four significant figures, without trailing zeros, in scientific notation when small.
pub(crate) fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::sig;

    #[test]
    fn four_significant_figures() {
        assert_eq!(sig(755.44), "755.4");
        assert_eq!(sig(10150.98), "10151");
        assert_eq!(sig(0.131143), "0.1311");
        assert_eq!(sig(0.0215592), "0.02156");
        assert_eq!(sig(3.7427e-6), "3.743e-6");
        assert_eq!(sig(2.0), "2");
        assert_eq!(sig(0.0), "0");
    }
}
