//! The site inventory: node groups by Slurm hostlist, each with its hardware (or the
//! manufacturer's footprint, or a site figure per node-hour), lifetime, utilisation, location
//! and PUE; and each group's embodied impact per node and per node-hour.
//!
//! Read in two stages, as every config of the project: a raw `Deserialize` form that rejects
//! unknown keys ([`raw`]), then checks that collect *every* problem with its file, line and fix
//! ([`validate`]). The example files in `configs/inventory/` document the format; a test parses
//! each of them.
//!
//! Computing 10,000 groups is fast because each distinct CPU and GPU model is matched against
//! boaviztapi's tables once, and groups are computed in parallel (rayon).

mod component_table;
mod error;
mod raw;
mod validate;

pub use component_table::ComponentTable;
pub use error::{InventoryError, InventoryErrors};

pub use crate::policy::NodeCapacity;

use crate::embodied::{
    Completion, ComponentImpact, CpuDie, CpuSpec, GpuCard, GpuModel, GpuSpec, NodeEmbodied,
    NodeHardware, PartialImpacts, bottom_up_with, gpu_card,
};
use crate::factors::{ElectricityFactors, HourlySeries};
use crate::impacts::{Impacts, Ranged};
use crate::policy::{ShareRule, UnallocatedPolicy};
use ea_record::UnixMicros;
use ea_record::sha256_hex;
use rayon::prelude::*;
use rustc_hash::FxHashMap as FastMap;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Keys of a `[[group]]` table itself (not of its sub-tables), for error hints.
const GROUP_KEYS: &[&str] = &[
    "name",
    "nodes",
    "location",
    "pue",
    "pue_range",
    "lifetime_years",
    "lifetime_years_range",
    "utilisation",
    "utilisation_range",
    "grid_zone",
    "gpu_model",
    "case",
    "slurm_cpus",
    "slurm_memory_mb",
    "billing_per_node",
    "uncovered_power_w",
];

/// Hours in a year, as boaviztapi counts them (35,040 h = 4 years).
pub const HOURS_PER_YEAR: f64 = 8760.0;

/// Site-wide choices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    /// The site's name, for reports.
    pub name: Option<String>,
    /// The default GPU model of the groups.
    pub gpu_model: GpuModel,
    /// How a job's share of a shared node is computed.
    pub share_rule: ShareRule,
    /// What happens to node-hours no job used.
    pub unallocated: UnallocatedPolicy,
    /// The hourly series file named in `[site]`, resolved against the inventory's directory,
    /// with the line that names it.
    pub carbon_intensity_series: Option<(PathBuf, usize)>,
}

/// Where a group's embodied figures come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "figures")]
pub enum EmbodiedSource {
    /// The bottom-up model from the hardware description.
    BottomUp,
    /// The manufacturer's footprint per node, whole life; missing criteria bottom-up.
    Manufacturer(PartialImpacts),
    /// The site's figure per node-hour of life (ARCHER2 publishes 23 gCO2e); missing criteria
    /// bottom-up.
    PerNodeHour(PartialImpacts),
    /// An LCA's figures per component for the whole node (`[group.component_footprint]`); the
    /// hardware, if described, gives capacities and TDPs, not the embodied figures.
    ComponentTable(ComponentTable),
}

/// A group's embodied impact per node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupEmbodied {
    /// Whole life.
    pub per_node: Ranged<Impacts>,
    /// Per hour of the node's life: `per_node / lifetime hours` (min over the longest life).
    pub per_node_life_hour: Ranged<Impacts>,
    /// What a job pays per node-hour it holds the whole node:
    /// `per_node / (lifetime hours × utilisation)`.
    pub per_node_hour: Ranged<Impacts>,
    /// The breakdown: the bottom-up model's, or the inventory's component table (empty when
    /// site figures cover every criterion and no hardware is described).
    pub components: Vec<ComponentImpact>,
    /// How it was obtained, in words (model, GPU model, which criteria came from where).
    pub method: String,
}

/// One checked node group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeGroup {
    /// The group's name, unique in the file.
    pub name: String,
    /// The hostlist as written.
    pub hostlist: String,
    /// The hostlist expanded.
    pub nodes: Vec<String>,
    /// Line of the group in the file.
    pub line: usize,
    /// What one node is made of, where the group describes it.
    pub hardware: Option<NodeHardware>,
    /// Where the embodied figures come from.
    pub source: EmbodiedSource,
    /// Which GPU model this group's cards are computed with.
    pub gpu_model: GpuModel,
    /// Years the nodes are in service, over which their embodied impact is spread.
    pub lifetime_years: Ranged<f64>,
    /// Share of its life the node is in use (boaviztapi: 1; BLOOM/MLCA: 0.85; LCE24: AUR).
    pub utilisation: Ranged<f64>,
    /// The data centre's power usage effectiveness, applied to measured energy.
    pub pue: Ranged<f64>,
    /// The yearly factors of the group's zone (or the inventory's overrides).
    pub electricity: ElectricityFactors,
    /// The zone of this group in the hourly series, if the site has one.
    pub grid_zone: Option<String>,
    /// What one node offers to jobs, for their shares.
    pub capacity: NodeCapacity,
    /// Calibrated power of what component meters miss (PSU losses, fans, board), W; added to
    /// jobs measured by component meters only.
    pub uncovered_power_w: Option<f64>,
    /// The embodied impact per node and per node-hour.
    pub embodied: GroupEmbodied,
}

/// A checked inventory with every group's embodied impact computed.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's content: results record it.
    pub sha256: String,
    /// The site's choices.
    pub site: Site,
    /// The node groups, in file order.
    pub groups: Vec<NodeGroup>,
    /// The hourly series the site names, once [`Inventory::load`] has read it.
    pub series: Option<HourlySeries>,
    /// Node name → (group index, node index over the whole inventory).
    node_group: FastMap<String, (u32, u32)>,
}

impl Inventory {
    /// Reads, checks and computes an inventory file, and the hourly series it names.
    ///
    /// # Errors
    /// Every problem in the file (and in the series), each with file, line and fix.
    pub fn load(path: &Path) -> Result<Self, InventoryErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InventoryErrors(vec![InventoryError {
                path: path.to_path_buf(),
                line: None,
                key: String::new(),
                problem: format!("cannot read the inventory: {e}"),
                fix: "check the path and permissions".into(),
            }])
        })?;
        let mut inv = Self::parse(&text, path)?;
        if let Some((series_path, line)) = inv.site.carbon_intensity_series.clone() {
            let series = HourlySeries::load(&series_path).map_err(|e| {
                InventoryErrors(vec![InventoryError {
                    path: path.to_path_buf(),
                    line: Some(line),
                    key: "site.carbon_intensity_series".into(),
                    problem: e.to_string(),
                    fix: "fix the series file, or remove carbon_intensity_series to use yearly factors".into(),
                }])
            })?;
            inv.attach_series(series)?;
        }
        Ok(inv)
    }

    /// Checks and computes inventory text; `path` names it in errors and relative paths are
    /// resolved against its directory. Does not read the hourly series (see [`Inventory::load`]
    /// and [`Inventory::attach_series`]).
    ///
    /// # Errors
    /// Every problem found: TOML syntax, unknown keys, out-of-range values, malformed or
    /// overlapping hostlists, unknown zones, missing required values.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InventoryErrors> {
        let mut checker = validate::Checker::new(path, text);
        let raw: raw::RawInventory = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let line = e.span().map(|s| checker.line(s.start));
                let message = e.message().to_string();
                let unknown = message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split('`').next());
                let fix = match unknown {
                    // The usual TOML trap: a group key written after one of its sub-tables.
                    Some(key) if GROUP_KEYS.contains(&key) => format!(
                        "`{key}` is a key of the group: write it before the group's first [group.*] table (in TOML, keys after a table header belong to that table)"
                    ),
                    Some(_) => "remove the key or correct its spelling; configs/inventory/testbed.toml shows every key".to_string(),
                    None if message.contains("missing field") => "add the key; configs/inventory/testbed.toml shows every key".to_string(),
                    None => "fix the TOML at that place".to_string(),
                };
                return Err(InventoryErrors(vec![InventoryError {
                    path: path.to_path_buf(),
                    line,
                    key: String::new(),
                    problem: message,
                    fix,
                }]));
            }
        };
        let site = validate::site(&mut checker, raw.site.as_ref(), path);
        if raw.groups.is_empty() {
            checker.errors.push(InventoryError {
                path: path.to_path_buf(),
                line: None,
                key: "group".into(),
                problem: "no node group".into(),
                fix: "add at least one [[group]] with name, nodes and the hardware".into(),
            });
        }
        let drafts = validate::groups(&mut checker, &raw, &site);
        if !checker.errors.is_empty() {
            return Err(InventoryErrors(checker.errors));
        }
        let groups = compute_groups(drafts);
        let mut node_group = FastMap::with_capacity_and_hasher(
            groups.iter().map(|g| g.nodes.len()).sum(),
            Default::default(),
        );
        for (i, g) in groups.iter().enumerate() {
            for n in &g.nodes {
                let id = node_group.len() as u32;
                node_group.insert(n.clone(), (i as u32, id));
            }
        }
        Ok(Inventory {
            path: path.to_path_buf(),
            sha256: sha256_hex(text.as_bytes()),
            site,
            groups,
            series: None,
            node_group,
        })
    }

    /// An inventory that knows no node, for allocating energy where the site has described
    /// none: every node is outside it (flagged `node-not-in-inventory`), so there is no
    /// embodied or use-phase impact, and a job on a shared node has no known share (the engine
    /// charges it the whole node, flagged `no-share-data`, and divides the node evenly between
    /// the jobs present, flagged `oversubscribed`). Site choices are the defaults.
    pub fn without_nodes() -> Self {
        Inventory {
            path: PathBuf::new(),
            sha256: String::new(),
            site: Site {
                name: None,
                gpu_model: GpuModel::Boavizta,
                share_rule: ShareRule::Max,
                unallocated: UnallocatedPolicy::Report,
                carbon_intensity_series: None,
            },
            groups: Vec::new(),
            series: None,
            node_group: FastMap::default(),
        }
    }

    /// Attaches an hourly series, checking that every group's `grid_zone` is in it.
    ///
    /// # Errors
    /// A group names a zone the series lacks.
    pub fn attach_series(&mut self, series: HourlySeries) -> Result<(), InventoryErrors> {
        let missing: Vec<InventoryError> = self
            .groups
            .iter()
            .filter_map(|g| {
                let zone = g.grid_zone.as_ref()?;
                (!series.has_zone(zone)).then(|| InventoryError {
                    path: self.path.clone(),
                    line: Some(g.line),
                    key: format!("group \"{}\".grid_zone", g.name),
                    problem: format!(
                        "zone `{zone}` is not in the hourly series {}",
                        series.id.name
                    ),
                    fix: "use a zone the series has, or remove grid_zone to use the yearly factors"
                        .into(),
                })
            })
            .collect();
        if !missing.is_empty() {
            return Err(InventoryErrors(missing));
        }
        self.series = Some(series);
        Ok(())
    }

    /// The group a node belongs to, by Slurm node name.
    pub fn group_of(&self, node: &str) -> Option<(usize, &NodeGroup)> {
        self.node_group
            .get(node)
            .map(|&(g, _)| (g as usize, &self.groups[g as usize]))
    }

    /// The node's index among all the inventory's nodes (`0..node_count()`), for drivers
    /// that number nodes once ([`crate::allocation::batch`]).
    pub fn node_index(&self, node: &str) -> Option<u32> {
        self.node_group.get(node).map(|&(_, n)| n)
    }

    /// The index of the group of that name.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// The group of each node, by node index.
    pub fn group_by_node_index(&self) -> Vec<u32> {
        let mut groups = vec![0; self.node_count()];
        for &(g, n) in self.node_group.values() {
            groups[n as usize] = g;
        }
        groups
    }

    /// The node's group index and its index among all the inventory's nodes.
    pub(crate) fn node_id(&self, node: &str) -> Option<(u32, u64)> {
        self.node_group.get(node).map(|&(g, n)| (g, u64::from(n)))
    }

    /// The use-phase impact of `energy_j` joules of IT energy drawn by a node of group `group`
    /// over `[start, end)`: energy × the group's PUE (with its range) × its factors, from the
    /// hourly series over the interval when the group has a `grid_zone`, else yearly. Also
    /// returns the fraction of the interval the series covered (`None`: yearly factors).
    ///
    /// # Panics
    /// If `group` is not an index of `self.groups`.
    pub fn use_phase(
        &self,
        group: usize,
        energy_j: f64,
        start: UnixMicros,
        end: UnixMicros,
    ) -> (Ranged<Impacts>, Option<f64>) {
        let g = &self.groups[group];
        let (per_kwh, coverage) = match (&g.grid_zone, &self.series) {
            (Some(zone), Some(series)) => {
                let (f, covered) = series.mean_over(zone, start, end, g.electricity.per_kwh);
                (f, Some(covered))
            }
            _ => (g.electricity.per_kwh, None),
        };
        let kwh = energy_j / 3.6e6;
        (g.pue.map(|pue| per_kwh * (kwh * pue)), coverage)
    }

    /// Total nodes over all groups.
    pub fn node_count(&self) -> usize {
        self.node_group.len()
    }
}

/// Computes every group's embodied impact, matching each distinct CPU and GPU model once.
fn compute_groups(drafts: Vec<validate::GroupDraft>) -> Vec<NodeGroup> {
    let completions = Completions::resolve(&drafts);
    drafts
        .into_par_iter()
        .map(|d| finish(d, &completions))
        .collect()
}

fn finish(d: validate::GroupDraft, completions: &Completions) -> NodeGroup {
    let life_h = d.lifetime_years.map(|y| y * HOURS_PER_YEAR);
    let bottom = d
        .hardware
        .as_ref()
        .map(|hw| bottom_up_with(hw, d.gpu_model, completions));
    let model_name = format!("boaviztapi 2.5.0 bottom-up, GPUs: {}", d.gpu_model.as_str());
    // Per hour of life, and whole life, for each source.
    let (per_node, per_life_hour, components, method) = match (&d.source, bottom) {
        (crate::inventory::EmbodiedSource::BottomUp, Some(b)) => {
            let per_hour = per_hour_of_life(b.total, life_h);
            (b.total, per_hour, b.components, model_name)
        }
        (EmbodiedSource::Manufacturer(f), b) => manufacturer_figures(f, b, life_h, &model_name),
        (EmbodiedSource::PerNodeHour(f), b) => per_node_hour_figures(f, b, life_h, &model_name),
        (EmbodiedSource::ComponentTable(t), b) => {
            let total = Ranged::exact(t.total());
            let per_hour = per_hour_of_life(total, life_h);
            (total, per_hour, t.breakdown(), t.method(b.map(|b| b.total)))
        }
        (EmbodiedSource::BottomUp, None) => {
            unreachable!("validation requires hardware for the bottom-up model")
        }
    };
    let u = d.utilisation;
    let per_node_hour =
        per_life_hour.scale_each(Ranged::new(1.0 / u.value, 1.0 / u.max, 1.0 / u.min));
    NodeGroup {
        name: d.name,
        hostlist: d.hostlist,
        nodes: d.nodes,
        line: d.line,
        hardware: d.hardware,
        source: d.source,
        gpu_model: d.gpu_model,
        lifetime_years: d.lifetime_years,
        utilisation: d.utilisation,
        pue: d.pue,
        electricity: d.electricity,
        grid_zone: d.grid_zone.map(|z| z.0),
        capacity: d.capacity,
        uncovered_power_w: d.uncovered_power_w,
        embodied: GroupEmbodied {
            per_node,
            per_node_life_hour: per_life_hour,
            per_node_hour,
            components,
            method,
        },
    }
}

/// A group's embodied figures from one source: per node, per hour of its life, by
/// component, and how they were found.
type SourceFigures = (
    Ranged<Impacts>,
    Ranged<Impacts>,
    Vec<ComponentImpact>,
    String,
);

/// A node's whole-life impacts spread over its life, `life_h` hours: a longer life gives the
/// lower rate, so the range's bounds swap.
fn per_hour_of_life(total: Ranged<Impacts>, life_h: Ranged<f64>) -> Ranged<Impacts> {
    total.scale_each(Ranged::new(
        1.0 / life_h.value,
        1.0 / life_h.max,
        1.0 / life_h.min,
    ))
}

/// The manufacturer's footprint per node, its missing criteria from the bottom-up model.
fn manufacturer_figures(
    f: &PartialImpacts,
    b: Option<NodeEmbodied>,
    life_h: Ranged<f64>,
    model_name: &str,
) -> SourceFigures {
    let fallback = b.as_ref().map(|b| b.total).unwrap_or(Ranged::ZERO);
    let total = fallback.map(|i| f.or(i));
    let per_hour = per_hour_of_life(total, life_h);
    let method = if f.is_complete() {
        "manufacturer's footprint per node".to_string()
    } else {
        format!(
            "manufacturer's footprint for {}; other criteria: {model_name}",
            f.given()
        )
    };
    (
        total,
        per_hour,
        b.map(|b| b.components).unwrap_or_default(),
        method,
    )
}

/// The site's figure per node-hour, its missing criteria from the bottom-up model.
fn per_node_hour_figures(
    f: &PartialImpacts,
    b: Option<NodeEmbodied>,
    life_h: Ranged<f64>,
    model_name: &str,
) -> SourceFigures {
    let fallback_per_hour = b
        .as_ref()
        .map(|b| per_hour_of_life(b.total, life_h))
        .unwrap_or(Ranged::ZERO);
    let per_hour = fallback_per_hour.map(|i| f.or(i));
    // The site's criteria over the node's life, in order: a longer life holds more
    // node-hours (the reverse pairing gave a minimum above the maximum; found by
    // fuzzing). The other criteria keep the bottom-up model's totals.
    let site_total = per_hour.scale_each(Ranged::new(life_h.value, life_h.min, life_h.max));
    let model_total = b.as_ref().map_or(Ranged::ZERO, |b| b.total);
    let pick = |site: Impacts, model: Impacts| {
        Impacts::new(
            f.gwp_kgco2eq
                .map_or(model.gwp_kgco2eq, |_| site.gwp_kgco2eq),
            f.adpe_kgsbeq
                .map_or(model.adpe_kgsbeq, |_| site.adpe_kgsbeq),
            f.pe_mj.map_or(model.pe_mj, |_| site.pe_mj),
        )
    };
    let total = Ranged {
        value: pick(site_total.value, model_total.value),
        min: pick(site_total.min, model_total.min),
        max: pick(site_total.max, model_total.max),
    };
    let method = if f.is_complete() {
        "site figure per node-hour".to_string()
    } else {
        format!(
            "site figure per node-hour for {}; other criteria: {model_name}",
            f.given()
        )
    };
    (
        total,
        per_hour,
        b.map(|b| b.components).unwrap_or_default(),
        method,
    )
}

/// The key of a CPU completion: the inputs that decide it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CpuKey(Option<String>, Option<u32>, Option<u64>, Option<u64>);

impl CpuKey {
    fn of(c: &CpuSpec) -> Self {
        CpuKey(
            c.model.clone(),
            c.cores_per_socket,
            c.die_area_mm2.map(f64::to_bits),
            c.die_area_per_core_mm2.map(f64::to_bits),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GpuKey(
    Option<String>,
    Option<u64>,
    Option<u64>,
    [Option<u64>; 3],
    GpuModel,
);

impl GpuKey {
    fn of(g: &GpuSpec, model: GpuModel) -> Self {
        let f = g.footprint_per_card.unwrap_or_default();
        GpuKey(
            g.model.clone(),
            g.memory_gb.map(f64::to_bits),
            g.die_area_mm2.map(f64::to_bits),
            [
                f.gwp_kgco2eq.map(f64::to_bits),
                f.adpe_kgsbeq.map(f64::to_bits),
                f.pe_mj.map(f64::to_bits),
            ],
            model,
        )
    }
}

/// CPU dies and GPU cards for every distinct model in the inventory, computed once each.
struct Completions {
    cpus: HashMap<CpuKey, CpuDie>,
    gpus: HashMap<GpuKey, GpuCard>,
}

impl Completions {
    fn resolve(drafts: &[validate::GroupDraft]) -> Self {
        let mut cpu_specs: HashMap<CpuKey, &CpuSpec> = HashMap::new();
        let mut gpu_specs: HashMap<GpuKey, (&GpuSpec, GpuModel)> = HashMap::new();
        for d in drafts {
            if let Some(hw) = &d.hardware {
                cpu_specs.entry(CpuKey::of(&hw.cpu)).or_insert(&hw.cpu);
                for g in &hw.gpus {
                    gpu_specs
                        .entry(GpuKey::of(g, d.gpu_model))
                        .or_insert((g, d.gpu_model));
                }
            }
        }
        // Name matching is the costly part: once per distinct name, then each (name, cores,
        // die) combination completes cheaply from the matched row.
        let mut names: Vec<&str> = cpu_specs
            .values()
            .filter_map(|c| c.model.as_deref())
            .collect();
        names.sort_unstable();
        names.dedup();
        let matched: HashMap<&str, Option<usize>> = names
            .into_par_iter()
            .map(|n| (n, crate::embodied::cpu::match_cpu(n)))
            .collect();
        let cpus = cpu_specs
            .into_par_iter()
            .map(|(k, c)| {
                let die = if c.die_area_mm2.is_some()
                    || (c.die_area_per_core_mm2.is_some() && c.cores_per_socket.is_some())
                {
                    crate::embodied::Direct.cpu_die(c)
                } else {
                    crate::embodied::cpu::complete(
                        c.model.as_deref().and_then(|m| matched[m]),
                        c.cores_per_socket,
                    )
                };
                (k, die)
            })
            .collect();
        let gpus = gpu_specs
            .into_par_iter()
            .map(|(k, (g, m))| (k, gpu_card(g, m)))
            .collect();
        Completions { cpus, gpus }
    }
}

impl Completion for Completions {
    fn cpu_die(&self, cpu: &CpuSpec) -> CpuDie {
        self.cpus
            .get(&CpuKey::of(cpu))
            .cloned()
            .unwrap_or_else(|| crate::embodied::Direct.cpu_die(cpu))
    }
    fn gpu_card(&self, gpu: &GpuSpec, model: GpuModel) -> GpuCard {
        self.gpus
            .get(&GpuKey::of(gpu, model))
            .cloned()
            .unwrap_or_else(|| gpu_card(gpu, model))
    }
}

#[cfg(test)]
mod tests;
