//! The bundled factual tables (see `data/SOURCES.md`), parsed once on first use.
//!
//! They are compiled in so that a result never depends on which files happen to be on the
//! machine, and hashed so that every result can name the exact table it used.

use crate::boavizta_compat::NameMatcher;
use crate::impacts::Impacts;
use ea_record::sha256_hex;
use std::sync::OnceLock;

pub(crate) const BOAVIZTA_FACTORS: &str = include_str!("../data/boavizta-2.5.0/factors.tsv");
pub(crate) const BOAVIZTA_ELECTRICITY: &str =
    include_str!("../data/boavizta-2.5.0/electricity.tsv");
const BOAVIZTA_CPUS: &str = include_str!("../data/boavizta-2.5.0/cpu_specs.tsv");
const BOAVIZTA_GPUS: &str = include_str!("../data/boavizta-2.5.0/gpu_specs.tsv");
const BOAVIZTA_RAM: &str = include_str!("../data/boavizta-2.5.0/ram_density.tsv");
const BOAVIZTA_SSD: &str = include_str!("../data/boavizta-2.5.0/ssd_density.tsv");
const BOAVIZTA_ARCHETYPES: &str = include_str!("../data/boavizta-2.5.0/archetypes.tsv");
const MLCA_GPUS: &str = include_str!("../data/mlca/gpu_infos.tsv");

/// boaviztapi's fuzzy-match threshold for CPU and GPU names (`utils/config.py`).
pub(crate) const NAME_MATCH_THRESHOLD: f64 = 80.0;

/// Embodied factors per unit for the three criteria (`factors.yml`).
#[derive(Debug)]
pub(crate) struct ComponentFactors {
    pub cpu_die_per_mm2: Impacts,
    pub cpu_base: Impacts,
    pub ram_die_per_cm2: Impacts,
    pub ram_base: Impacts,
    pub ssd_die_per_cm2: Impacts,
    pub ssd_base: Impacts,
    pub hdd: Impacts,
    pub motherboard: Impacts,
    pub power_supply_per_kg: Impacts,
    pub case_rack: Impacts,
    pub blade_server: Impacts,
    pub blade_16_slots: Impacts,
    pub assembly: Impacts,
    pub gpu: GpuFactors,
}

#[derive(Debug)]
pub(crate) struct GpuFactors {
    pub casing_per_kg: Impacts,
    pub heatsink_per_kg: Impacts,
    pub pwb_per_cm2: Impacts,
    pub die_per_mm2: Impacts,
    pub vram_per_mm2: Impacts,
    pub upstream_transport_per_kg: Impacts,
    pub boat_per_km_kg: Impacts,
    pub truck_per_km_kg: Impacts,
    pub plane_per_km_kg: Impacts,
    pub end_of_life_per_kg: Impacts,
}

#[derive(Debug)]
pub(crate) struct CpuRow {
    pub name: String,
    pub family: Option<String>,
    pub cores: Option<f64>,
    pub total_die_mm2: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct GpuRow {
    pub name: String,
    pub vram_dies: Option<f64>,
    pub vram_gb: Option<f64>,
    /// Already the effective area (wafer loss and yield included), as boaviztapi stores it.
    pub die_surface_eff_mm2: Option<f64>,
    pub pwb_cm2: Option<f64>,
    pub boat_km: Option<f64>,
    pub truck_km: Option<f64>,
    pub plane_km: Option<f64>,
    pub casing_kg: Option<f64>,
    pub heatsink_kg: Option<f64>,
    pub mass_kg: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct MlcaGpuRow {
    pub name: String,
    pub die_cm2: f64,
    pub vram_gb: f64,
}

/// One electricity zone (`factors.yml` → `electricity`).
#[derive(Debug, Clone)]
pub(crate) struct ElectricityRow {
    pub zone: String,
    pub country: String,
    pub gwp_kg_per_kwh: f64,
    pub gwp_source: String,
    pub gwp_year: String,
    /// Missing for three zones in boaviztapi 2.5.0.
    pub pe_mj_per_kwh: Option<f64>,
    pub adpe_kgsbeq_per_kwh: f64,
}

/// The attributes boaviztapi takes from its default server (`platform_compute_medium`) and
/// default GPU archetypes when a configuration leaves them out.
#[derive(Debug)]
pub(crate) struct Archetypes {
    pub psu_units: u32,
    pub psu_unit_kg: (f64, f64, f64),
    pub gpu_weight_kg: f64,
    pub gpu_heatsink_kg: f64,
    pub gpu_pwb_cm2: f64,
    pub gpu_casing_kg: f64,
    pub gpu_surface_mm2: f64,
    pub gpu_vram_dies: f64,
    pub gpu_boat_km: f64,
    pub gpu_truck_km: f64,
    pub gpu_plane_km: f64,
}

#[derive(Debug)]
pub(crate) struct Tables {
    pub factors: ComponentFactors,
    pub cpus: Vec<CpuRow>,
    pub cpu_matcher: NameMatcher,
    pub gpus: Vec<GpuRow>,
    pub gpu_matcher: NameMatcher,
    pub mlca_gpus: Vec<MlcaGpuRow>,
    pub mlca_matcher: NameMatcher,
    pub ram_densities: Vec<f64>,
    pub ssd_densities: Vec<f64>,
    pub electricity: Vec<ElectricityRow>,
    pub archetypes: Archetypes,
    /// SHA-256 of every embodied table, in a fixed order.
    pub embodied_sha256: String,
    pub electricity_sha256: String,
}

/// The parsed tables. The bundled files are part of the source, so a malformed one is a bug:
/// this panics with the file and line, and the crate's tests load every table.
pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(load)
}

/// A tab-separated table: `#` comment lines, a header, then rows.
struct Tsv<'a> {
    file: &'static str,
    header: Vec<&'a str>,
    rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Tsv<'a> {
    fn parse(file: &'static str, text: &'a str) -> Self {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("{file}: no header"))
            .1
            .split('\t')
            .collect();
        let rows = lines
            .map(|(n, l)| (n + 1, l.split('\t').collect()))
            .collect();
        Tsv { file, header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{}: no column `{name}`", self.file))
    }

    fn text(&self, row: &(usize, Vec<&'a str>), name: &str) -> &'a str {
        row.1.get(self.col(name)).copied().unwrap_or("")
    }

    fn opt(&self, row: &(usize, Vec<&'a str>), name: &str) -> Option<f64> {
        let t = self.text(row, name).trim();
        if t.is_empty() {
            return None;
        }
        Some(t.parse().unwrap_or_else(|_| {
            panic!(
                "{} line {}: `{t}` in `{name}` is not a number",
                self.file, row.0
            )
        }))
    }

    fn num(&self, row: &(usize, Vec<&'a str>), name: &str) -> f64 {
        self.opt(row, name)
            .unwrap_or_else(|| panic!("{} line {}: `{name}` is empty", self.file, row.0))
    }
}

fn load() -> Tables {
    let factors = load_factors();
    let cpus_tsv = Tsv::parse("cpu_specs.tsv", BOAVIZTA_CPUS);
    let cpus: Vec<CpuRow> = cpus_tsv
        .rows
        .iter()
        .map(|r| CpuRow {
            name: cpus_tsv.text(r, "name").to_string(),
            family: Some(cpus_tsv.text(r, "code_name").to_string()).filter(|s| !s.is_empty()),
            cores: cpus_tsv.opt(r, "cores"),
            total_die_mm2: cpus_tsv.opt(r, "total_die_size"),
        })
        .collect();
    let gpus_tsv = Tsv::parse("gpu_specs.tsv", BOAVIZTA_GPUS);
    let gpus: Vec<GpuRow> = gpus_tsv
        .rows
        .iter()
        .map(|r| GpuRow {
            name: gpus_tsv.text(r, "name").to_string(),
            vram_dies: gpus_tsv.opt(r, "number"),
            vram_gb: gpus_tsv.opt(r, "vram"),
            die_surface_eff_mm2: gpus_tsv.opt(r, "die_surface"),
            pwb_cm2: gpus_tsv.opt(r, "pwb_surface"),
            boat_km: gpus_tsv.opt(r, "distance_boat"),
            truck_km: gpus_tsv.opt(r, "distance_truck"),
            plane_km: gpus_tsv.opt(r, "distance_plane"),
            casing_kg: gpus_tsv.opt(r, "mass_casing"),
            heatsink_kg: gpus_tsv.opt(r, "mass_heatsink"),
            mass_kg: gpus_tsv.opt(r, "mass"),
        })
        .collect();
    let mlca_tsv = Tsv::parse("mlca/gpu_infos.tsv", MLCA_GPUS);
    let mlca_gpus: Vec<MlcaGpuRow> = mlca_tsv
        .rows
        .iter()
        .map(|r| MlcaGpuRow {
            name: mlca_tsv.text(r, "name").to_string(),
            die_cm2: mlca_tsv.num(r, "die_cm2"),
            vram_gb: mlca_tsv.num(r, "vram_gb"),
        })
        .collect();
    let ram = Tsv::parse("ram_density.tsv", BOAVIZTA_RAM);
    let ram_densities = ram
        .rows
        .iter()
        .map(|r| ram.num(r, "density_gb_per_cm2"))
        .collect();
    let ssd = Tsv::parse("ssd_density.tsv", BOAVIZTA_SSD);
    let ssd_densities = ssd
        .rows
        .iter()
        .map(|r| ssd.num(r, "density_gb_per_cm2"))
        .collect();
    let elec = Tsv::parse("electricity.tsv", BOAVIZTA_ELECTRICITY);
    let electricity = elec
        .rows
        .iter()
        .map(|r| ElectricityRow {
            zone: elec.text(r, "zone").to_string(),
            country: elec.text(r, "country").to_string(),
            gwp_kg_per_kwh: elec.num(r, "gwp_kg_per_kwh"),
            gwp_source: elec.text(r, "gwp_source").to_string(),
            gwp_year: elec.text(r, "gwp_year").to_string(),
            pe_mj_per_kwh: elec.opt(r, "pe_mj_per_kwh"),
            adpe_kgsbeq_per_kwh: elec.num(r, "adpe_kgsbeq_per_kwh"),
        })
        .collect();
    let embodied_sha256 = sha256_hex(
        [
            BOAVIZTA_FACTORS,
            BOAVIZTA_CPUS,
            BOAVIZTA_GPUS,
            BOAVIZTA_RAM,
            BOAVIZTA_SSD,
            BOAVIZTA_ARCHETYPES,
            MLCA_GPUS,
        ]
        .concat()
        .as_bytes(),
    );
    Tables {
        factors,
        cpu_matcher: NameMatcher::new(cpus.iter().map(|c| c.name.as_str())),
        cpus,
        gpu_matcher: NameMatcher::new(gpus.iter().map(|g| g.name.as_str())),
        gpus,
        mlca_matcher: NameMatcher::new(mlca_gpus.iter().map(|g| g.name.as_str())),
        mlca_gpus,
        ram_densities,
        ssd_densities,
        electricity,
        archetypes: load_archetypes(),
        embodied_sha256,
        electricity_sha256: sha256_hex(BOAVIZTA_ELECTRICITY.as_bytes()),
    }
}

fn load_factors() -> ComponentFactors {
    let t = Tsv::parse("factors.tsv", BOAVIZTA_FACTORS);
    let get = |item: &str, key: &str| -> Impacts {
        let one = |crit: &str| -> f64 {
            let row = t
                .rows
                .iter()
                .find(|r| {
                    t.text(r, "item") == item
                        && t.text(r, "criterion") == crit
                        && t.text(r, "key") == key
                })
                .unwrap_or_else(|| panic!("factors.tsv: no {item}/{crit}/{key}"));
            t.num(row, "value")
        };
        Impacts::new(one("gwp"), one("adp"), one("pe"))
    };
    ComponentFactors {
        cpu_die_per_mm2: get("cpu", "die_impact"),
        cpu_base: get("cpu", "impact"),
        ram_die_per_cm2: get("ram", "die_impact"),
        ram_base: get("ram", "impact"),
        ssd_die_per_cm2: get("ssd", "die_impact"),
        ssd_base: get("ssd", "impact"),
        hdd: get("hdd", "impact"),
        motherboard: get("motherboard", "impact"),
        power_supply_per_kg: get("power_supply", "impact"),
        case_rack: get("case", "rack"),
        blade_server: get("case", "impact_blade_server"),
        blade_16_slots: get("case", "impact_blade_16_slots"),
        assembly: get("assembly", "impact"),
        gpu: GpuFactors {
            casing_per_kg: get("gpu.casing", "manufacture"),
            heatsink_per_kg: get("gpu.heatsink", "manufacture"),
            pwb_per_cm2: get("gpu.pwb", "manufacture"),
            die_per_mm2: get("gpu.gpu", "manufacture"),
            vram_per_mm2: get("gpu.vram", "manufacture"),
            upstream_transport_per_kg: get("gpu.upstream_transport", "manufacture"),
            boat_per_km_kg: get("gpu.transport_boat", "distribution"),
            truck_per_km_kg: get("gpu.transport_truck", "distribution"),
            plane_per_km_kg: get("gpu.transport_plane", "distribution"),
            end_of_life_per_kg: get("gpu.end_of_life", "eol"),
        },
    }
}

fn load_archetypes() -> Archetypes {
    let t = Tsv::parse("archetypes.tsv", BOAVIZTA_ARCHETYPES);
    let raw = |arch: &str, key: &str| -> &str {
        let row = t
            .rows
            .iter()
            .find(|r| t.text(r, "archetype") == arch && t.text(r, "key") == key)
            .unwrap_or_else(|| panic!("archetypes.tsv: no {arch}/{key}"));
        t.text(row, "value")
    };
    // "value;min;max" or a single value.
    let triple = |arch: &str, key: &str| -> (f64, f64, f64) {
        let v: Vec<f64> = raw(arch, key)
            .split(';')
            .map(|x| x.parse().expect("archetypes.tsv: a number"))
            .collect();
        match v[..] {
            [x] => (x, x, x),
            [x, lo, hi] => (x, lo, hi),
            _ => panic!("archetypes.tsv: {arch}/{key} is neither `v` nor `v;min;max`"),
        }
    };
    let gpu = |key: &str| triple("gpu.DEFAULT", key).0;
    let server = "server.platform_compute_medium";
    Archetypes {
        psu_units: triple(server, "POWER_SUPPLY.units").0 as u32,
        psu_unit_kg: triple(server, "POWER_SUPPLY.unit_weight"),
        gpu_weight_kg: gpu("weight"),
        gpu_heatsink_kg: gpu("heatsink_weight"),
        gpu_pwb_cm2: gpu("pwb_surface"),
        gpu_casing_kg: gpu("casing_weight"),
        gpu_surface_mm2: gpu("gpu_surface"),
        gpu_vram_dies: gpu("vram_dies"),
        gpu_boat_km: gpu("transport_boat"),
        gpu_truck_km: gpu("transport_truck"),
        gpu_plane_km: gpu("transport_plane"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_table_loads_with_the_expected_sizes() {
        let t = tables();
        assert_eq!(
            t.cpus.len(),
            1808,
            "boaviztapi 2.5.0 cpu_specs.csv has 1808 rows"
        );
        assert_eq!(t.gpus.len(), 33);
        assert_eq!(t.ram_densities.len(), 11);
        assert_eq!(t.ssd_densities.len(), 19);
        assert_eq!(t.electricity.len(), 139);
        assert_eq!(
            t.electricity
                .iter()
                .filter(|e| e.pe_mj_per_kwh.is_none())
                .count(),
            3
        );
        assert_eq!(t.mlca_gpus.len(), 5);
        assert_eq!(t.archetypes.psu_units, 2);
        assert_eq!(t.archetypes.psu_unit_kg, (2.99, 1.0, 5.0));
        assert_eq!(t.embodied_sha256.len(), 64);
    }

    #[test]
    fn component_factors_are_boaviztas() {
        // Methodology §2.2 table.
        let f = &tables().factors;
        assert_eq!(f.cpu_die_per_mm2, Impacts::new(0.0197, 5.87e-9, 0.265));
        assert_eq!(f.cpu_base, Impacts::new(9.14, 0.0204, 156.0));
        assert_eq!(f.ram_die_per_cm2, Impacts::new(2.2, 6.3e-5, 27.3));
        assert_eq!(f.ssd_base, Impacts::new(6.34, 0.000563, 73.98));
        assert_eq!(f.hdd, Impacts::new(31.11, 0.00025, 276.0));
        assert_eq!(f.power_supply_per_kg, Impacts::new(24.3, 0.0083, 352.0));
        assert_eq!(f.blade_16_slots, Impacts::new(880.0, 0.432, 12700.0));
        assert_eq!(f.gpu.vram_per_mm2, Impacts::new(0.18379, 5.0731e-9, 2.452));
    }
}
