//! From the raw file to checked node groups: ranges, consistency, defaults, hostlists.
//!
//! Limits are generous (they catch typos and unit mistakes, not unusual hardware); each error
//! says what is expected.

use super::component_table::ComponentTable;
use super::raw::{
    RawCpu, RawCriteria, RawDisk, RawGpu, RawGroup, RawInventory, RawPowerSupply, RawRam, RawSite,
    S,
};
use super::{EmbodiedSource, InventoryError, NodeCapacity, Site};
use crate::embodied::{
    CpuSpec, DiskSpec, GpuModel, GpuSpec, NodeHardware, PartialImpacts, PowerSupplySpec, RamSpec,
};
use crate::factors::{self, ElectricityFactors};
use crate::impacts::{Impacts, Ranged};
use crate::policy::{ShareRule, UnallocatedPolicy};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Module size assumed when a group gives only its total memory: boaviztapi's default server
/// has 32 GB modules (`archetypes/server.csv`, `platform_compute_medium`).
pub(crate) const DEFAULT_MODULE_GB: f64 = 32.0;

/// A group after checking, before its embodied impact is computed.
pub(crate) struct GroupDraft {
    pub name: String,
    pub hostlist: String,
    pub nodes: Vec<String>,
    pub line: usize,
    pub hardware: Option<NodeHardware>,
    pub source: EmbodiedSource,
    pub gpu_model: GpuModel,
    pub lifetime_years: Ranged<f64>,
    pub utilisation: Ranged<f64>,
    pub pue: Ranged<f64>,
    pub electricity: ElectricityFactors,
    pub grid_zone: Option<(String, usize)>,
    pub capacity: NodeCapacity,
    pub uncovered_power_w: Option<f64>,
}

pub(crate) struct Checker<'a> {
    path: &'a Path,
    line_starts: Vec<usize>,
    pub errors: Vec<InventoryError>,
}

impl<'a> Checker<'a> {
    pub fn new(path: &'a Path, text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    pub fn error(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = Some(self.line(span.start));
        self.errors.push(InventoryError {
            path: self.path.to_path_buf(),
            line,
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// A number that must lie in `lo..=hi` (or `lo<..=hi` when `open_low`).
    fn number(
        &mut self,
        v: &S<f64>,
        key: &str,
        lo: f64,
        hi: f64,
        open_low: bool,
        unit: &str,
    ) -> Option<f64> {
        let x = *v.get_ref();
        let low_ok = if open_low { x > lo } else { x >= lo };
        if x.is_finite() && low_ok && x <= hi {
            return Some(x);
        }
        let bound = if open_low {
            format!("above {lo}")
        } else {
            format!("at least {lo}")
        };
        self.error(
            v.span(),
            key,
            format!("{x} {unit} is out of range"),
            format!("give a value {bound} and at most {hi} {unit}"),
        );
        None
    }

    pub(crate) fn count(&mut self, v: &S<u32>, key: &str, lo: u32, hi: u32) -> Option<u32> {
        let x = *v.get_ref();
        if (lo..=hi).contains(&x) {
            return Some(x);
        }
        self.error(
            v.span(),
            key,
            format!("{x} is out of range"),
            format!("give a whole number from {lo} to {hi}"),
        );
        None
    }

    /// `[min, max]` around `central`, each within `lo..=hi`.
    fn range(
        &mut self,
        central: f64,
        r: Option<&S<Vec<f64>>>,
        key: &str,
        lo: f64,
        hi: f64,
    ) -> Ranged<f64> {
        let Some(r) = r else {
            return Ranged::exact(central);
        };
        match r.get_ref()[..] {
            [a, b]
                if a.is_finite()
                    && b.is_finite()
                    && lo <= a
                    && a <= central
                    && central <= b
                    && b <= hi =>
            {
                Ranged::new(central, a, b)
            }
            _ => {
                self.error(
                    r.span(),
                    key,
                    format!(
                        "{:?} is not a [min, max] pair around {central}",
                        r.get_ref()
                    ),
                    format!("write [min, max] with {lo} <= min <= {central} <= max <= {hi}"),
                );
                Ranged::exact(central)
            }
        }
    }
}

/// Checks the site table.
pub(crate) fn site(c: &mut Checker, raw: Option<&S<RawSite>>, inventory_path: &Path) -> Site {
    let Some(s) = raw else {
        return Site {
            name: None,
            gpu_model: GpuModel::Boavizta,
            share_rule: ShareRule::Max,
            unallocated: UnallocatedPolicy::Report,
            carbon_intensity_series: None,
        };
    };
    let s = s.get_ref();
    let series = s.carbon_intensity_series.as_ref().map(|p| {
        let rel = PathBuf::from(p.get_ref());
        let path = if rel.is_absolute() {
            rel
        } else {
            inventory_path.parent().unwrap_or(Path::new(".")).join(rel)
        };
        (path, c.line(p.span().start))
    });
    Site {
        name: s.name.clone(),
        gpu_model: s.gpu_model.unwrap_or(GpuModel::Boavizta),
        share_rule: s.share_rule.unwrap_or(ShareRule::Max),
        unallocated: s.unallocated.unwrap_or(UnallocatedPolicy::Report),
        carbon_intensity_series: series,
    }
}

/// Checks every group and the hostlists together.
pub(crate) fn groups(c: &mut Checker, raw: &RawInventory, site: &Site) -> Vec<GroupDraft> {
    let defaults = raw.site.as_ref().map(|s| s.get_ref());
    let mut drafts = Vec::with_capacity(raw.groups.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    // Every group's nodes, even a group with other errors, so that overlaps show at once.
    let mut hostlists: Vec<(String, usize, Range<usize>, Vec<String>)> =
        Vec::with_capacity(raw.groups.len());
    for g in &raw.groups {
        let line = c.line(g.span().start);
        let name = g.get_ref().name.get_ref().clone();
        if let Some(first) = names.insert(name.clone(), line) {
            c.error(
                g.get_ref().name.span(),
                format!("group \"{name}\""),
                format!("a second group named \"{name}\" (first on line {first})"),
                "give every group its own name",
            );
        }
        let nodes = expand_nodes(c, g.get_ref(), &name);
        if let Some(d) = group(c, g, defaults, site, nodes.clone()) {
            drafts.push(d);
        }
        hostlists.push((name, line, g.get_ref().nodes.span(), nodes));
    }
    check_overlaps(c, &hostlists);
    drafts
}

fn expand_nodes(c: &mut Checker, g: &RawGroup, name: &str) -> Vec<String> {
    let key = format!("group \"{name}\".nodes");
    match ea_record::hostlist::expand(g.nodes.get_ref()) {
        Ok(n) if !n.is_empty() => n,
        Ok(_) => {
            c.error(
                g.nodes.span(),
                key,
                "the hostlist is empty",
                "write the group's nodes as Slurm does, e.g. \"gpu[001-040,044]\"",
            );
            Vec::new()
        }
        Err(e) => {
            c.error(g.nodes.span(), key, e.to_string(), "write the group's nodes as Slurm does, e.g. \"gpu[001-040,044]\" or \"cn[0001-1200]\"");
            Vec::new()
        }
    }
}

/// A node in two groups, or twice in one, is an error: its impact would be ambiguous.
fn check_overlaps(c: &mut Checker, groups: &[(String, usize, Range<usize>, Vec<String>)]) {
    const SHOWN: usize = 50;
    let mut owner: HashMap<&str, usize> =
        HashMap::with_capacity(groups.iter().map(|g| g.3.len()).sum());
    let mut reported = 0usize;
    for (gi, (name, _, span, nodes)) in groups.iter().enumerate() {
        for node in nodes {
            if let Some(prev) = owner.insert(node, gi) {
                // A whole overlapping range would otherwise give thousands of messages.
                if reported < SHOWN {
                    let (problem, fix) = if prev == gi {
                        (
                            format!("node {node} is listed twice in this group's hostlist"),
                            "list each node once".to_string(),
                        )
                    } else {
                        (
                            format!(
                                "node {node} is also in group \"{}\" (line {})",
                                groups[prev].0, groups[prev].1
                            ),
                            "a node belongs to exactly one group: remove it from one hostlist"
                                .to_string(),
                        )
                    };
                    c.error(
                        span.clone(),
                        format!("group \"{name}\".nodes"),
                        problem,
                        fix,
                    );
                }
                reported += 1;
            }
        }
    }
    if reported > SHOWN
        && let Some(mut e) = c.errors.last().cloned()
    {
        e.problem = format!(
            "{} more nodes are in two groups or listed twice",
            reported - SHOWN
        );
        e.fix = "fix the hostlists above".into();
        c.errors.push(e);
    }
}

fn group(
    c: &mut Checker,
    g: &S<RawGroup>,
    site: Option<&RawSite>,
    site_choice: &Site,
    nodes: Vec<String>,
) -> Option<GroupDraft> {
    let before = c.errors.len();
    let span = g.span();
    let g = g.get_ref();
    let name = g.name.get_ref().clone();
    let k = |key: &str| format!("group \"{name}\".{key}");
    let line = c.line(span.start);

    if name.trim().is_empty() {
        c.error(
            g.name.span(),
            "group.name",
            "empty group name",
            "name the group, e.g. name = \"gpu-a100\"",
        );
    }
    if nodes.is_empty() {
        return None; // the hostlist error is already reported
    }
    let inherited = Inherited { g, site };
    let lifetime_years = inherited.lifetime_years(c, &span, &k);
    let utilisation = inherited.utilisation(c, &k);
    let pue = inherited.pue(c, &span, &k);
    let electricity = match inherited.value(|s| s.location.as_ref(), g.location.as_ref()) {
        Some(loc) => electricity(c, loc, g, &k),
        None => {
            c.error(span.clone(), k("location"), "no location", "set location to the ISO 3166 alpha-3 code of the country whose grid feeds the nodes (e.g. \"FRA\"), or WOR / EEE, in the group or in [site]");
            None
        }
    };
    let grid_zone = grid_zone(c, g, site_choice, &k);

    let hardware = hardware(c, g, &k);
    let source = group_embodied_source(c, g, hardware.as_ref(), &k);
    check_embodied_computable(c, g, &span, &name, &source, hardware.as_ref());
    let capacity = capacity(c, g, hardware.as_ref(), &source, &k);
    let uncovered_power_w = g
        .uncovered_power_w
        .as_ref()
        .and_then(|v| c.number(v, &k("uncovered_power_w"), 0.0, 100_000.0, false, "W"));

    if c.errors.len() > before {
        return None;
    }
    Some(GroupDraft {
        name,
        hostlist: g.nodes.get_ref().clone(),
        nodes,
        line,
        hardware,
        source,
        gpu_model: g.gpu_model.unwrap_or(site_choice.gpu_model),
        lifetime_years,
        utilisation,
        pue,
        electricity: electricity.expect("no error, so present"),
        grid_zone,
        capacity,
        uncovered_power_w,
    })
}

/// A group's values it may inherit from `[site]`.
struct Inherited<'a> {
    g: &'a RawGroup,
    site: Option<&'a RawSite>,
}

impl<'a> Inherited<'a> {
    /// The group's own value, else the site's.
    fn value<T>(
        &self,
        of_site: impl Fn(&'a RawSite) -> Option<&'a T>,
        own: Option<&'a T>,
    ) -> Option<&'a T> {
        own.or(self.site.and_then(of_site))
    }

    /// A range goes with its central value: a group that sets its own value does not inherit
    /// the site's range around another one.
    fn range<T>(
        &self,
        of_site: impl Fn(&'a RawSite) -> Option<&'a T>,
        own_value_set: bool,
        own: Option<&'a T>,
    ) -> Option<&'a T> {
        own.or(if own_value_set {
            None
        } else {
            self.site.and_then(of_site)
        })
    }

    fn lifetime_years(
        &self,
        c: &mut Checker,
        span: &Range<usize>,
        k: &dyn Fn(&str) -> String,
    ) -> Ranged<f64> {
        let g = self.g;
        let lifetime = match self.value(|s| s.lifetime_years.as_ref(), g.lifetime_years.as_ref()) {
            Some(v) => c.number(v, &k("lifetime_years"), 0.0, 30.0, true, "years"),
            None => {
                c.error(span.clone(), k("lifetime_years"), "no lifetime", "set lifetime_years (e.g. 6, as MLCA, BLOOM and ImpactsHPC use; boaviztapi's default server is 4) in the group or in [site]");
                None
            }
        };
        lifetime.map_or(Ranged::exact(1.0), |l| {
            let range = self.range(
                |s| s.lifetime_years_range.as_ref(),
                g.lifetime_years.is_some(),
                g.lifetime_years_range.as_ref(),
            );
            c.range(l, range, &k("lifetime_years_range"), 0.1, 30.0)
        })
    }

    fn utilisation(&self, c: &mut Checker, k: &dyn Fn(&str) -> String) -> Ranged<f64> {
        let g = self.g;
        let util = match self.value(|s| s.utilisation.as_ref(), g.utilisation.as_ref()) {
            Some(v) => c
                .number(v, &k("utilisation"), 0.0, 1.0, true, "")
                .unwrap_or(1.0),
            None => 1.0,
        };
        let range = self.range(
            |s| s.utilisation_range.as_ref(),
            g.utilisation.is_some(),
            g.utilisation_range.as_ref(),
        );
        c.range(util, range, &k("utilisation_range"), 0.01, 1.0)
    }

    fn pue(&self, c: &mut Checker, span: &Range<usize>, k: &dyn Fn(&str) -> String) -> Ranged<f64> {
        let g = self.g;
        let pue = match self.value(|s| s.pue.as_ref(), g.pue.as_ref()) {
            Some(v) => c.number(v, &k("pue"), 1.0, 5.0, false, ""),
            None => {
                c.error(span.clone(), k("pue"), "no PUE", "set pue (1.0 counts IT energy only; 1.2 is ImpactsHPC's and EcoLogits' default for supercomputers, 1.56 the Uptime Institute 2024 average) in the group or in [site]");
                None
            }
        };
        pue.map_or(Ranged::exact(1.0), |p| {
            let range = self.range(
                |s| s.pue_range.as_ref(),
                g.pue.is_some(),
                g.pue_range.as_ref(),
            );
            c.range(p, range, &k("pue_range"), 1.0, 5.0)
        })
    }
}

/// The group's grid zone with its line; an error where `[site]` names no series to look it
/// up in.
fn grid_zone(
    c: &mut Checker,
    g: &RawGroup,
    site_choice: &Site,
    k: &dyn Fn(&str) -> String,
) -> Option<(String, usize)> {
    let z = g.grid_zone.as_ref()?;
    if site_choice.carbon_intensity_series.is_none() {
        c.error(
            z.span(),
            k("grid_zone"),
            "grid_zone is set but [site] names no carbon_intensity_series",
            "add carbon_intensity_series = \"file.csv\" to [site], or remove grid_zone",
        );
    }
    Some((z.get_ref().clone(), c.line(z.span().start)))
}

/// The group's given figures (`[group.footprint]`, `[group.per_node_hour]`,
/// `[group.component_footprint]`), checked, and the one its embodied impact comes from.
fn group_embodied_source(
    c: &mut Checker,
    g: &RawGroup,
    hardware: Option<&NodeHardware>,
    k: &dyn Fn(&str) -> String,
) -> EmbodiedSource {
    let footprint = g
        .footprint
        .as_ref()
        .map(|f| criteria(c, f, &k("footprint"), [1e6, 100.0, 1e8]));
    let per_node_hour = g
        .per_node_hour
        .as_ref()
        .map(|f| criteria(c, f, &k("per_node_hour"), [100.0, 1.0, 1e4]));
    let table = g.component_footprint.as_ref().and_then(|t| {
        let gpus = hardware.map(NodeHardware::gpu_count);
        super::component_table::check(c, t, &k("component_footprint"), gpus)
    });
    embodied_source(c, g, k, footprint, per_node_hour, table)
}

/// An error where the group gives neither hardware nor complete figures to compute its
/// embodied impact from.
fn check_embodied_computable(
    c: &mut Checker,
    g: &RawGroup,
    span: &Range<usize>,
    name: &str,
    source: &EmbodiedSource,
    hardware: Option<&NodeHardware>,
) {
    let missing = |p: &PartialImpacts| !p.is_complete();
    match (source, hardware) {
        (EmbodiedSource::BottomUp, None)
            if g.cpu.is_none() && g.ram.is_none() && g.component_footprint.is_none() =>
        {
            c.error(
                span.clone(),
                format!("group \"{name}\""),
                "no way to compute the embodied impact",
                "describe the hardware ([group.cpu] and [group.ram] at least), or give [group.footprint] (manufacturer's figures per node), [group.per_node_hour] or [group.component_footprint] (an LCA's table per component)",
            )
        }
        (EmbodiedSource::Manufacturer(p) | EmbodiedSource::PerNodeHour(p), None) if missing(p) && g.cpu.is_none() && g.ram.is_none() => c.error(
            span.clone(),
            format!("group \"{name}\""),
            format!("only {} given, and no hardware to compute the other criteria from", p.given()),
            "give gwp_kgco2eq, adpe_kgsbeq and pe_mj, or describe the hardware ([group.cpu], [group.ram]...) so that the bottom-up model fills the missing criteria",
        ),
        _ => {}
    }
}

/// What a node of the group offers Slurm: the configured CPUs, memory and billing, else the
/// hardware's.
fn capacity(
    c: &mut Checker,
    g: &RawGroup,
    hardware: Option<&NodeHardware>,
    source: &EmbodiedSource,
    k: &dyn Fn(&str) -> String,
) -> NodeCapacity {
    // A group known only from its table still knows its GPUs, for GPU shares.
    let gpus = match (hardware, source) {
        (Some(hw), _) => hw.gpu_count(),
        (None, EmbodiedSource::ComponentTable(t)) => t.gpu_cards,
        (None, _) => 0,
    };
    NodeCapacity {
        cpus: match &g.slurm_cpus {
            Some(v) => c.count(v, &k("slurm_cpus"), 1, 1_000_000),
            None => hardware.map(NodeHardware::cpus),
        },
        memory_mb: match &g.slurm_memory_mb {
            Some(v) if (1..=1_000_000_000).contains(v.get_ref()) => Some(*v.get_ref()),
            Some(v) => {
                c.error(
                    v.span(),
                    k("slurm_memory_mb"),
                    format!("{} MB is out of range", v.get_ref()),
                    "give Slurm's RealMemory for the node, in MB",
                );
                None
            }
            None => hardware.map(|h| (h.ram.total_gb() * 1024.0).round() as u64),
        },
        gpus,
        billing: g
            .billing_per_node
            .as_ref()
            .and_then(|v| c.number(v, &k("billing_per_node"), 0.0, 1e9, true, "")),
    }
}

/// Where the group's embodied figures come from: at most one of `[group.footprint]`,
/// `[group.per_node_hour]` and `[group.component_footprint]`, else the bottom-up model.
fn embodied_source(
    c: &mut Checker,
    g: &RawGroup,
    k: &dyn Fn(&str) -> String,
    footprint: Option<PartialImpacts>,
    per_node_hour: Option<PartialImpacts>,
    table: Option<ComponentTable>,
) -> EmbodiedSource {
    let given: Vec<(&str, Range<usize>)> = [
        ("footprint", g.footprint.as_ref().map(|v| v.span())),
        ("per_node_hour", g.per_node_hour.as_ref().map(|v| v.span())),
        (
            "component_footprint",
            g.component_footprint.as_ref().map(|v| v.span()),
        ),
    ]
    .into_iter()
    .filter_map(|(name, span)| Some((name, span?)))
    .collect();
    if let [(first, _), (second, span), ..] = &given[..] {
        c.error(
            span.clone(),
            k(first),
            format!("both {first} and {second} are given"),
            "keep one: the manufacturer's footprint per node, the site's figure per node-hour, or an LCA's table per component",
        );
        return EmbodiedSource::BottomUp;
    }
    match (footprint, per_node_hour, table) {
        (Some(f), _, _) => EmbodiedSource::Manufacturer(f),
        (_, Some(f), _) => EmbodiedSource::PerNodeHour(f),
        (_, _, Some(t)) => EmbodiedSource::ComponentTable(t),
        (None, None, None) => EmbodiedSource::BottomUp,
    }
}

/// The zone's yearly factors with the group's overrides.
fn electricity(
    c: &mut Checker,
    loc: &S<String>,
    g: &RawGroup,
    k: &dyn Fn(&str) -> String,
) -> Option<ElectricityFactors> {
    let code = loc.get_ref();
    let Some(z) = factors::zone(code) else {
        unknown_zone(c, loc, k);
        return None;
    };
    let [gwp, pe, adpe] = electricity_overrides(c, g, k);
    let Some(pe_value) = pe.or(z.pe_mj_per_kwh) else {
        c.error(
            loc.span(),
            k("location"),
            format!("boaviztapi 2.5.0 has no primary-energy factor for {code}"),
            "add [group.electricity] pe_mj_per_kwh = ..., or choose a neighbouring zone",
        );
        return None;
    };
    let source = electricity_source(&z, [gwp, pe, adpe]);
    Some(ElectricityFactors {
        per_kwh: Impacts::new(
            gwp.unwrap_or(z.gwp_kg_per_kwh),
            adpe.unwrap_or(z.adpe_kgsbeq_per_kwh),
            pe_value,
        ),
        zone: z.zone,
        source,
    })
}

/// An error for a location that is no zone of the table, suggesting zones whose code or
/// country name it starts.
fn unknown_zone(c: &mut Checker, loc: &S<String>, k: &dyn Fn(&str) -> String) {
    let code = loc.get_ref();
    let upper = code.to_uppercase();
    let by_name: Vec<String> = factors::zones()
        .into_iter()
        .filter(|(zc, country)| {
            *zc == upper || country.to_lowercase().starts_with(&code.to_lowercase())
        })
        .map(|(zc, country)| format!("{zc} ({country})"))
        .take(5)
        .collect();
    let fix = if by_name.is_empty() {
        "use an ISO 3166 alpha-3 country code from boaviztapi's table (FRA, DEU, USA, GBR...), or WOR (world) / EEE (Europe); docs/methodology.md lists them all".to_string()
    } else {
        format!("did you mean {}?", by_name.join(", "))
    };
    c.error(
        loc.span(),
        k("location"),
        format!("unknown electricity zone `{code}`"),
        fix,
    );
}

/// The group's own `[group.electricity]` factors, checked: GWP, PE and ADPe per kWh.
fn electricity_overrides(
    c: &mut Checker,
    g: &RawGroup,
    k: &dyn Fn(&str) -> String,
) -> [Option<f64>; 3] {
    let over = g.electricity.as_ref();
    let mut get = |v: Option<&S<f64>>, key: &str, hi: f64| {
        v.and_then(|v| {
            c.number(
                v,
                &k(&format!("electricity.{key}")),
                0.0,
                hi,
                false,
                "per kWh",
            )
        })
    };
    let gwp = get(
        over.and_then(|o| o.get_ref().gwp_kg_per_kwh.as_ref()),
        "gwp_kg_per_kwh",
        3.0,
    );
    let pe = get(
        over.and_then(|o| o.get_ref().pe_mj_per_kwh.as_ref()),
        "pe_mj_per_kwh",
        1000.0,
    );
    let adpe = get(
        over.and_then(|o| o.get_ref().adpe_kgsbeq_per_kwh.as_ref()),
        "adpe_kgsbeq_per_kwh",
        1e-3,
    );
    [gwp, pe, adpe]
}

/// Where the factors come from: the zone's, or the zone's with the inventory's overrides.
fn electricity_source(z: &factors::ZoneFactors, [gwp, pe, adpe]: [Option<f64>; 3]) -> String {
    let overridden: Vec<&str> = [(gwp, "GWP"), (pe, "PE"), (adpe, "ADPe")]
        .into_iter()
        .filter_map(|(v, name)| v.map(|_| name))
        .collect();
    if overridden.is_empty() {
        format!(
            "boaviztapi 2.5.0 yearly factors for {} ({}; GWP {} {})",
            z.zone, z.country, z.gwp_source, z.gwp_year
        )
    } else {
        format!(
            "boaviztapi 2.5.0 yearly factors for {} with {} set in the inventory",
            z.zone,
            overridden.join(", ")
        )
    }
}

pub(crate) fn criteria(
    c: &mut Checker,
    f: &S<RawCriteria>,
    key: &str,
    max: [f64; 3],
) -> PartialImpacts {
    let r = f.get_ref();
    let p = PartialImpacts {
        gwp_kgco2eq: r.gwp_kgco2eq.as_ref().and_then(|v| {
            c.number(
                v,
                &format!("{key}.gwp_kgco2eq"),
                0.0,
                max[0],
                true,
                "kgCO2eq",
            )
        }),
        adpe_kgsbeq: r.adpe_kgsbeq.as_ref().and_then(|v| {
            c.number(
                v,
                &format!("{key}.adpe_kgsbeq"),
                0.0,
                max[1],
                true,
                "kgSbeq",
            )
        }),
        pe_mj: r
            .pe_mj
            .as_ref()
            .and_then(|v| c.number(v, &format!("{key}.pe_mj"), 0.0, max[2], true, "MJ")),
    };
    if r.gwp_kgco2eq.is_none() && r.adpe_kgsbeq.is_none() && r.pe_mj.is_none() {
        c.error(
            f.span(),
            key,
            "no criterion given",
            "give at least gwp_kgco2eq (and adpe_kgsbeq, pe_mj if known)",
        );
    }
    p
}

/// A group's hardware, every part checked so that one pass reports every problem: the CPU
/// and memory a description needs, then the disks, GPUs and power supplies it may list.
/// `None` when the group describes no hardware or when a part is wrong (the errors say which).
fn hardware(c: &mut Checker, g: &RawGroup, k: &dyn Fn(&str) -> String) -> Option<NodeHardware> {
    let (cpu, ram) = required_parts(c, g, k)?;
    let cpu = cpu_spec(c, cpu.get_ref(), k);
    let ram = ram_spec(c, ram, k);
    let ssds = disk_specs(c, &g.ssd, "ssd", true, k);
    let hdds = disk_specs(c, &g.hdd, "hdd", false, k);
    let gpus = gpu_specs(c, &g.gpu, k);
    let power_supply = g
        .power_supply
        .as_ref()
        .and_then(|p| power_supply_spec(c, p.get_ref(), k));
    Some(NodeHardware {
        cpu: cpu?,
        ram: ram?,
        ssds,
        hdds,
        gpus,
        power_supply,
        case: g.case,
    })
}

/// The CPU and memory tables a hardware description cannot do without. `None` without an
/// error when the group describes no hardware at all (its figures come from elsewhere).
fn required_parts<'g>(
    c: &mut Checker,
    g: &'g RawGroup,
    k: &dyn Fn(&str) -> String,
) -> Option<(&'g S<RawCpu>, &'g S<RawRam>)> {
    let has_parts =
        !g.ssd.is_empty() || !g.hdd.is_empty() || !g.gpu.is_empty() || g.power_supply.is_some();
    match (&g.cpu, &g.ram) {
        (Some(cpu), Some(ram)) => Some((cpu, ram)),
        (None, None) if !has_parts => None,
        (None, _) => {
            c.error(
                g.name.span(),
                k("cpu"),
                "hardware is described without [group.cpu]",
                "add [group.cpu] with sockets and cores_per_socket (model if known)",
            );
            None
        }
        (_, None) => {
            c.error(
                g.name.span(),
                k("ram"),
                "hardware is described without [group.ram]",
                "add [group.ram] with modules and module_gb, or total_gb",
            );
            None
        }
    }
}

/// `[group.cpu]`: counts, one of the two die areas, TDP.
fn cpu_spec(c: &mut Checker, cs: &RawCpu, k: &dyn Fn(&str) -> String) -> Option<CpuSpec> {
    let sockets = c.count(&cs.sockets, &k("cpu.sockets"), 1, 16);
    let cores = c.count(&cs.cores_per_socket, &k("cpu.cores_per_socket"), 1, 1024);
    let threads = cs
        .threads_per_core
        .as_ref()
        .map_or(Some(1), |t| c.count(t, &k("cpu.threads_per_core"), 1, 8));
    let die = cs
        .die_area_mm2
        .as_ref()
        .and_then(|v| c.number(v, &k("cpu.die_area_mm2"), 1.0, 10_000.0, false, "mm²"));
    let die_per_core = cs
        .die_area_per_core_mm2
        .as_ref()
        .and_then(|v| c.number(v, &k("cpu.die_area_per_core_mm2"), 0.0, 500.0, true, "mm²"));
    if let (Some(d), Some(_)) = (&cs.die_area_mm2, &cs.die_area_per_core_mm2) {
        c.error(
            d.span(),
            k("cpu.die_area_mm2"),
            "both die_area_mm2 and die_area_per_core_mm2 are given",
            "keep one",
        );
    }
    let tdp = cs
        .tdp_w
        .as_ref()
        .and_then(|v| c.number(v, &k("cpu.tdp_w"), 0.0, 2000.0, true, "W"));
    Some(CpuSpec {
        model: cs.model.clone(),
        sockets: sockets?,
        cores_per_socket: Some(cores?),
        threads_per_core: threads?,
        die_area_mm2: die,
        die_area_per_core_mm2: die_per_core,
        tdp_w: tdp,
    })
}

/// `[group.ram]`: modules × module_gb, or total_gb (modules given, or of
/// [`DEFAULT_MODULE_GB`]), and an optional die density.
fn ram_spec(c: &mut Checker, ram: &S<RawRam>, k: &dyn Fn(&str) -> String) -> Option<RamSpec> {
    let rs = ram.get_ref();
    let density = rs.density_gb_per_cm2.as_ref().and_then(|v| {
        c.number(
            v,
            &k("ram.density_gb_per_cm2"),
            0.01,
            100.0,
            false,
            "GB/cm²",
        )
    });
    match (&rs.modules, &rs.module_gb, &rs.total_gb) {
        (Some(m), Some(gb), None) => {
            let m = c.count(m, &k("ram.modules"), 1, 1024);
            let gb = c.number(gb, &k("ram.module_gb"), 0.0, 2048.0, true, "GB");
            m.zip(gb).map(|(m, gb)| RamSpec {
                modules: m,
                module_gb: gb,
                density_gb_per_cm2: density,
            })
        }
        (m, None, Some(total)) => {
            let total = c.number(total, &k("ram.total_gb"), 0.0, 131_072.0, true, "GB");
            let m = match m {
                Some(m) => c.count(m, &k("ram.modules"), 1, 1024),
                None => total.map(|t| ((t / DEFAULT_MODULE_GB).round() as u32).max(1)),
            };
            m.zip(total).map(|(m, t)| RamSpec {
                modules: m,
                module_gb: t / f64::from(m),
                density_gb_per_cm2: density,
            })
        }
        _ => {
            c.error(ram.span(), k("ram"), "memory is not described as modules × module_gb, or total_gb", "write modules = 16 and module_gb = 32, or total_gb = 512 (32 GB modules assumed), or total_gb with modules");
            None
        }
    }
}

/// `[[group.ssd]]` or `[[group.hdd]]` (`kind`): the disks that check; a die density only for
/// SSDs (`ssd`), since the model counts a constant per hard disk.
fn disk_specs(
    c: &mut Checker,
    list: &[S<RawDisk>],
    kind: &str,
    ssd: bool,
    k: &dyn Fn(&str) -> String,
) -> Vec<DiskSpec> {
    list.iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let key = |f: &str| k(&format!("{kind}[{i}].{f}"));
            let dr = d.get_ref();
            let count = c.count(&dr.count, &key("count"), 1, 1000);
            let cap = c.number(
                &dr.capacity_gb,
                &key("capacity_gb"),
                0.0,
                1_000_000.0,
                true,
                "GB",
            );
            let density = match &dr.density_gb_per_cm2 {
                Some(v) if ssd => c.number(
                    v,
                    &key("density_gb_per_cm2"),
                    0.1,
                    10_000.0,
                    false,
                    "GB/cm²",
                ),
                Some(v) => {
                    c.error(
                        v.span(),
                        key("density_gb_per_cm2"),
                        "hard disks have no die density in the model",
                        "remove it (boaviztapi counts a constant per HDD)",
                    );
                    None
                }
                None => None,
            };
            Some(DiskSpec {
                count: count?,
                capacity_gb: cap?,
                density_gb_per_cm2: density,
            })
        })
        .collect()
}

/// `[[group.gpu]]`: the cards that check, with an optional fixed footprint per card.
fn gpu_specs(c: &mut Checker, list: &[S<RawGpu>], k: &dyn Fn(&str) -> String) -> Vec<GpuSpec> {
    list.iter()
        .enumerate()
        .filter_map(|(i, gs)| {
            let key = |f: &str| k(&format!("gpu[{i}].{f}"));
            let r = gs.get_ref();
            let count = c.count(&r.count, &key("count"), 1, 64);
            let memory = r
                .memory_gb
                .as_ref()
                .and_then(|v| c.number(v, &key("memory_gb"), 0.0, 4096.0, true, "GB"));
            let die = r
                .die_area_mm2
                .as_ref()
                .and_then(|v| c.number(v, &key("die_area_mm2"), 1.0, 10_000.0, false, "mm²"));
            let tdp = r
                .tdp_w
                .as_ref()
                .and_then(|v| c.number(v, &key("tdp_w"), 0.0, 5000.0, true, "W"));
            let fixed = r
                .footprint_per_card
                .as_ref()
                .map(|f| criteria(c, f, &key("footprint_per_card"), [1e5, 10.0, 1e7]));
            Some(GpuSpec {
                model: r.model.clone(),
                count: count?,
                memory_gb: memory,
                die_area_mm2: die,
                tdp_w: tdp,
                footprint_per_card: fixed,
            })
        })
        .collect()
}

/// `[group.power_supply]`: `None` (no power supply counted) when its count or weight is wrong.
fn power_supply_spec(
    c: &mut Checker,
    pr: &RawPowerSupply,
    k: &dyn Fn(&str) -> String,
) -> Option<PowerSupplySpec> {
    let count = c.count(&pr.count, &k("power_supply.count"), 0, 32);
    let kg = pr
        .unit_kg
        .as_ref()
        .and_then(|v| c.number(v, &k("power_supply.unit_kg"), 0.0, 50.0, true, "kg"));
    if pr.unit_kg.is_some() && kg.is_none() {
        return None;
    }
    Some(PowerSupplySpec {
        count: count?,
        unit_kg: kg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(toml_text: &str) -> RawGroup {
        toml::from_str(toml_text).expect("a raw group")
    }

    fn key(f: &str) -> String {
        format!("group.{f}")
    }

    /// The steps of [`hardware`] on one group, and the keys of the errors they reported.
    fn check(text: &str) -> (Option<NodeHardware>, Vec<String>) {
        let g = group(text);
        let mut c = Checker::new(Path::new("inv.toml"), text);
        let hw = hardware(&mut c, &g, &key);
        (hw, c.errors.into_iter().map(|e| e.key).collect())
    }

    const BASE: &str = "name = \"g\"\nnodes = \"n1\"\n";

    #[test]
    fn no_hardware_at_all_is_no_error_but_parts_without_cpu_or_ram_are() {
        assert_eq!(check(BASE), (None, vec![]));
        let (hw, keys) = check(&format!("{BASE}[[gpu]]\ncount = 1\n"));
        assert!(hw.is_none());
        assert_eq!(keys, ["group.cpu"]);
        let (_, keys) = check(&format!("{BASE}[cpu]\nsockets = 1\ncores_per_socket = 8\n"));
        assert_eq!(keys, ["group.ram"]);
    }

    #[test]
    fn every_problem_of_every_part_is_reported_in_order() {
        let text = format!(
            "{BASE}[cpu]\nsockets = 0\ncores_per_socket = 8\ndie_area_mm2 = 300\n\
             die_area_per_core_mm2 = 5\n[ram]\nmodules = 4\n\
             [[hdd]]\ncount = 1\ncapacity_gb = 1000\ndensity_gb_per_cm2 = 2\n\
             [[gpu]]\ncount = 0\n[power_supply]\ncount = 2\nunit_kg = 80\n"
        );
        let (hw, keys) = check(&text);
        assert!(hw.is_none());
        assert_eq!(
            keys,
            [
                "group.cpu.sockets",
                "group.cpu.die_area_mm2",
                "group.ram",
                "group.hdd[0].density_gb_per_cm2",
                "group.gpu[0].count",
                "group.power_supply.unit_kg",
            ]
        );
    }

    #[test]
    fn memory_as_a_total_assumes_boaviztas_modules() {
        let text = format!(
            "{BASE}[cpu]\nsockets = 2\ncores_per_socket = 32\n[ram]\ntotal_gb = 512\n\
             [[ssd]]\ncount = 2\ncapacity_gb = 480\ndensity_gb_per_cm2 = 50\n\
             [power_supply]\ncount = 2\n"
        );
        let (hw, keys) = check(&text);
        assert!(keys.is_empty(), "{keys:?}");
        let hw = hw.expect("hardware");
        assert_eq!((hw.ram.modules, hw.ram.module_gb), (16, 32.0));
        assert_eq!(hw.cpu.threads_per_core, 1);
        assert_eq!(hw.cpu.cores_per_socket, Some(32));
        assert_eq!(hw.ssds[0].density_gb_per_cm2, Some(50.0));
        assert_eq!(
            hw.power_supply.map(|p| (p.count, p.unit_kg)),
            Some((2, None))
        );
    }

    #[test]
    fn a_power_supply_of_impossible_weight_counts_none_but_the_node_still_does() {
        let text = format!(
            "{BASE}[cpu]\nsockets = 1\ncores_per_socket = 8\n[ram]\nmodules = 4\nmodule_gb = 16\n\
             [power_supply]\ncount = 2\nunit_kg = 80\n"
        );
        let (hw, keys) = check(&text);
        assert_eq!(keys, ["group.power_supply.unit_kg"]);
        assert!(hw.expect("hardware").power_supply.is_none());
    }
}
