//! GPU embodied impact per card: boaviztapi 2.5.0's sub-part model, MLCA's, or a fixed figure.
//!
//! The sources disagree by up to four times on GWP for the same card (methodology §3 and §8.2:
//! an A100 80 GB is 568 kgCO2eq with boaviztapi 2.5.0, 330 with MLCA, 143–150 elsewhere), so
//! the model is a site choice and every result records it.
//!
//! - **boaviztapi 2.5.0** (`models/component/gpu.py`, `gpu_impact_embedded`): casing, heatsink,
//!   printed board, GPU die and VRAM dies as *effective* wafer areas (kerf, dies per wafer,
//!   yield), upstream transport, boat/truck/plane distribution and end of life. Attributes the
//!   inventory leaves out come from the matched `gpu_specs` row, else the default "Large GPU".
//! - **MLCA** (Morand et al., ICT4S 2024; `ComponentGPU`): die area × factor + base, plus the
//!   VRAM as RAM of density 0.625 GB/cm² (Loubet et al. 2023 factors).

use crate::impacts::{Impacts, Ranged};
use crate::tables::{NAME_MATCH_THRESHOLD, tables};
use serde::Serialize;

/// Which GPU embodied model a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuModel {
    /// boaviztapi 2.5.0's sub-part model (the default).
    Boavizta,
    /// MLCA's die + VRAM-as-RAM model.
    Mlca,
}

impl GpuModel {
    /// The name recorded with results.
    pub fn as_str(self) -> &'static str {
        match self {
            GpuModel::Boavizta => "boaviztapi-2.5.0-gpu",
            GpuModel::Mlca => "mlca-ict4s-2024-gpu",
        }
    }
}

const KERF_MM: f64 = 0.2;
const WAFER_DIAMETER_MM: f64 = 300.0;
/// Defect density, per cm² (the `0.1` in boaviztapi's yield term).
const DEFECT_DENSITY_PER_CM2: f64 = 0.1;
/// boaviztapi's VRAM die area per GB, the mean of the GPUs it studied (`VRAM_DIE_SURFACE_PER_GB`).
const VRAM_MM2_PER_GB: f64 = 15.5;

/// Wafer area consumed per good die of area `die_mm2`, mm²: the die plus kerf, its share of the
/// wafer edge loss, divided by the Poisson yield `exp(-sqrt(A·D0))`.
///
/// boaviztapi 2.5.0 `_calculate_effective_area_on_circular_wafer`: 814 mm² → 2808.45 mm².
pub fn effective_die_area_mm2(die_mm2: f64) -> f64 {
    let wafer_mm2 = std::f64::consts::PI * (WAFER_DIAMETER_MM / 2.0).powf(2.0);
    let width = die_mm2.sqrt() + KERF_MM;
    let area = width.powf(2.0);
    // The dies-per-wafer estimate falls below one, then below zero, for dies near a wafer's
    // size (an inventory's 3,840 GB VRAM on 4 dies, found by fuzzing, came out at -6.9e6 kg):
    // a die takes at least a whole wafer.
    let dies_per_wafer = (wafer_mm2 / area
        - (std::f64::consts::PI * WAFER_DIAMETER_MM) / (2.0 * area).sqrt())
    .max(1.0);
    let total = dies_per_wafer * area;
    let effective = area * (wafer_mm2 / total);
    let usable = (-((area / 100.0) * DEFECT_DENSITY_PER_CM2).sqrt()).exp();
    effective / usable
}

/// What the inventory says about one GPU model in a node.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GpuSpec {
    /// Model name as in boaviztapi's `gpu_specs` ("NVIDIA A100 SXM4 80GB"); matched fuzzily.
    pub model: Option<String>,
    /// Cards of this model in one node.
    pub count: u32,
    /// Memory per card, GB; else from the matched row.
    pub memory_gb: Option<f64>,
    /// Physical GPU die area, mm² (converted to an effective area for boaviztapi's model).
    pub die_area_mm2: Option<f64>,
    /// Board power, W; used only to estimate energy when a job has no meter.
    pub tdp_w: Option<f64>,
    /// Fixed embodied figures per card (e.g. a vendor's PCF, or BLOOM's 150 kgCO2eq); criteria
    /// left out come from the group's GPU model.
    pub footprint_per_card: Option<PartialImpacts>,
}

/// Some criteria, possibly not all (a vendor may publish only GWP).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialImpacts {
    /// kgCO2eq, if given.
    pub gwp_kgco2eq: Option<f64>,
    /// kgSbeq, if given.
    pub adpe_kgsbeq: Option<f64>,
    /// MJ, if given.
    pub pe_mj: Option<f64>,
}

impl PartialImpacts {
    /// Every criterion is given.
    pub fn is_complete(&self) -> bool {
        self.gwp_kgco2eq.is_some() && self.adpe_kgsbeq.is_some() && self.pe_mj.is_some()
    }

    /// No criterion is given.
    pub fn is_empty(&self) -> bool {
        self.gwp_kgco2eq.is_none() && self.adpe_kgsbeq.is_none() && self.pe_mj.is_none()
    }

    /// The given criteria, the others from `fallback`.
    pub fn or(self, fallback: Impacts) -> Impacts {
        Impacts::new(
            self.gwp_kgco2eq.unwrap_or(fallback.gwp_kgco2eq),
            self.adpe_kgsbeq.unwrap_or(fallback.adpe_kgsbeq),
            self.pe_mj.unwrap_or(fallback.pe_mj),
        )
    }

    /// Names of the given criteria, for provenance ("gwp, pe").
    pub fn given(&self) -> String {
        let mut v = Vec::new();
        if self.gwp_kgco2eq.is_some() {
            v.push("GWP");
        }
        if self.adpe_kgsbeq.is_some() {
            v.push("ADPe");
        }
        if self.pe_mj.is_some() {
            v.push("PE");
        }
        v.join(", ")
    }
}

/// One card's impact and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuCard {
    /// One card over its life.
    pub impacts: Ranged<Impacts>,
    /// The table row the model matched, if any.
    pub matched: Option<String>,
    /// How the figures were obtained, in words.
    pub basis: String,
}

/// The embodied impact of one card of `spec` under `model` (fixed figures override it).
pub fn gpu_card(spec: &GpuSpec, model: GpuModel) -> GpuCard {
    let modelled = match model {
        GpuModel::Boavizta => boavizta_card(spec),
        GpuModel::Mlca => mlca_card(spec),
    };
    match spec.footprint_per_card {
        Some(fixed) if !fixed.is_empty() => {
            let basis = if fixed.is_complete() {
                "fixed per-card figures from the inventory".to_string()
            } else {
                format!(
                    "fixed per-card {} from the inventory; the rest: {}",
                    fixed.given(),
                    modelled.basis
                )
            };
            GpuCard {
                impacts: modelled.impacts.map(|i| fixed.or(i)),
                matched: modelled.matched,
                basis,
            }
        }
        _ => modelled,
    }
}

fn boavizta_card(spec: &GpuSpec) -> GpuCard {
    let t = tables();
    let a = &t.archetypes;
    let f = &t.factors.gpu;
    let row = spec
        .model
        .as_deref()
        .and_then(|m| t.gpu_matcher.best(m, NAME_MATCH_THRESHOLD))
        .map(|(i, _)| &t.gpus[i]);
    let pick = |from_row: Option<f64>, default: f64| from_row.unwrap_or(default);
    let weight = pick(row.and_then(|r| r.mass_kg), a.gpu_weight_kg);
    let heatsink = pick(row.and_then(|r| r.heatsink_kg), a.gpu_heatsink_kg);
    let casing = pick(row.and_then(|r| r.casing_kg), a.gpu_casing_kg);
    let pwb = pick(row.and_then(|r| r.pwb_cm2), a.gpu_pwb_cm2);
    let boat = pick(row.and_then(|r| r.boat_km), a.gpu_boat_km);
    let truck = pick(row.and_then(|r| r.truck_km), a.gpu_truck_km);
    let plane = pick(row.and_then(|r| r.plane_km), a.gpu_plane_km);
    let surface = match spec.die_area_mm2 {
        Some(die) => effective_die_area_mm2(die),
        None => row
            .and_then(|r| r.die_surface_eff_mm2)
            .unwrap_or_else(|| effective_die_area_mm2(a.gpu_surface_mm2)),
    };
    // boaviztapi takes VRAM size and die count as whole numbers from the table.
    let vram_gb = spec
        .memory_gb
        .or(row.and_then(|r| r.vram_gb).map(f64::trunc));
    let vram_dies = row
        .and_then(|r| r.vram_dies)
        .map(f64::trunc)
        .unwrap_or(a.gpu_vram_dies);
    // Without a size and without a row, boaviztapi's default server says 0 GB, which still
    // leaves the kerf of each (empty) VRAM die: 0.24 mm² in all. Kept, to match it exactly.
    let vram_surface =
        effective_die_area_mm2(vram_gb.unwrap_or(0.0) * VRAM_MM2_PER_GB / vram_dies) * vram_dies;
    let per_card = f.casing_per_kg * casing
        + f.heatsink_per_kg * heatsink
        + f.pwb_per_cm2 * pwb
        + f.die_per_mm2 * surface
        + f.vram_per_mm2 * vram_surface
        + f.upstream_transport_per_kg * weight
        + f.boat_per_km_kg * (boat * weight)
        + f.truck_per_km_kg * (truck * weight)
        + f.plane_per_km_kg * (plane * weight)
        + f.end_of_life_per_kg * weight;
    let basis = format!(
        "boaviztapi 2.5.0 GPU model, {}: die {:.2} mm² effective, VRAM {} GB on {} dies ({:.2} mm² effective), board {} cm², {} kg",
        match row {
            Some(r) => format!("gpu_specs row `{}`", r.name),
            None => "default `Large GPU` archetype (no gpu_specs row matched)".to_string(),
        },
        surface,
        vram_gb.map_or("0".to_string(), |g| g.to_string()),
        vram_dies,
        vram_surface,
        pwb,
        weight,
    );
    GpuCard {
        impacts: Ranged::exact(per_card),
        matched: row.map(|r| r.name.clone()),
        basis,
    }
}

/// MLCA's constants (MLCA `boaviztapi/model/components/component.py`, `ComponentGPU`, citing
/// Loubet et al. 2023 for the die and base terms; VRAM counted as RAM with Boavizta's RAM
/// factors at MLCA's default density). Methodology §3.2.
const MLCA_DIE_PER_CM2: Impacts = Impacts::new(1.97, 5.80e-7, 26.50);
const MLCA_BASE: Impacts = Impacts::new(26.970966666666666, 0.0170687302, 156.00);
const MLCA_RAM_DIE_PER_CM2: Impacts = Impacts::new(2.20, 6.30e-5, 27.30);
const MLCA_RAM_BASE: Impacts = Impacts::new(5.22, 1.69e-3, 74.00);
const MLCA_VRAM_DENSITY_GB_PER_CM2: f64 = 0.625;

fn mlca_card(spec: &GpuSpec) -> GpuCard {
    let t = tables();
    let row = spec
        .model
        .as_deref()
        .and_then(|m| t.mlca_matcher.best(m, NAME_MATCH_THRESHOLD))
        .map(|(i, _)| &t.mlca_gpus[i]);
    let default = t
        .mlca_gpus
        .iter()
        .find(|r| r.name == "Any")
        .expect("mlca table has its `Any` row");
    let chosen = row.unwrap_or(default);
    let die_cm2 = spec
        .die_area_mm2
        .map(|d| d / 100.0)
        .unwrap_or(chosen.die_cm2);
    let vram_gb = spec.memory_gb.unwrap_or(chosen.vram_gb);
    let vram = MLCA_RAM_DIE_PER_CM2 * (vram_gb / MLCA_VRAM_DENSITY_GB_PER_CM2) + MLCA_RAM_BASE;
    let per_card = MLCA_DIE_PER_CM2 * die_cm2 + MLCA_BASE + vram;
    GpuCard {
        impacts: Ranged::exact(per_card),
        matched: row.map(|r| r.name.clone()),
        basis: format!(
            "MLCA GPU model ({}): die {die_cm2} cm², VRAM {vram_gb} GB as RAM at {MLCA_VRAM_DENSITY_GB_PER_CM2} GB/cm²",
            match row {
                Some(r) => format!("MLCA row `{}`", r.name),
                None => "MLCA default `Any` row".to_string(),
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn a_die_as_large_as_a_wafer_takes_at_least_the_wafer() {
        let wafer = std::f64::consts::PI * (WAFER_DIAMETER_MM / 2.0).powf(2.0);
        let mut last = 0.0;
        for die in [100.0, 800.0, 5_000.0, 14_880.0, 50_000.0, 1e6] {
            let e = effective_die_area_mm2(die);
            assert!(e.is_finite() && e > last, "{die} mm² -> {e}");
            last = e;
        }
        assert!(effective_die_area_mm2(14_880.0) >= wafer);
    }

    #[test]
    fn effective_area_check_values() {
        // Methodology §2.3 (calc.py), quoted to two decimals; vectors.json has the full values.
        for (die, eff) in [
            (814.0, 2808.45),
            (826.0, 2876.29),
            (815.0, 2814.07),
            (545.0, 1500.31),
        ] {
            assert!(
                (effective_die_area_mm2(die) - eff).abs() < 0.005,
                "{die}: {}",
                effective_die_area_mm2(die)
            );
        }
    }

    fn card(model: &str, m: GpuModel) -> Impacts {
        gpu_card(
            &GpuSpec {
                model: Some(model.into()),
                count: 1,
                ..Default::default()
            },
            m,
        )
        .impacts
        .value
    }

    #[test]
    fn methodology_case_v3_boavizta_gpu() {
        let h100 = card("NVIDIA H100 SXM 80GB", GpuModel::Boavizta);
        assert!(close(h100.gwp_kgco2eq, 575.098, 1e-6), "{h100:?}");
        assert!(close(h100.adpe_kgsbeq, 5.83177e-3, 1e-5), "{h100:?}");
        assert!(close(h100.pe_mj, 7912.05, 1e-6), "{h100:?}");
        let a100 = card("NVIDIA A100 SXM4 80GB", GpuModel::Boavizta);
        assert!(close(a100.gwp_kgco2eq, 567.723, 1e-6), "{a100:?}");
        assert!(close(a100.adpe_kgsbeq, 3.76705e-3, 1e-5), "{a100:?}");
        assert!(close(a100.pe_mj, 7648.19, 1e-6), "{a100:?}");
    }

    #[test]
    fn methodology_case_v5_mlca_gpu() {
        // V100 SXM2 32 GB, die 8.15 cm²: 160.9 kg, 1844 MJ, 0.02199 kgSb (methodology §3.2).
        let spec = GpuSpec {
            model: Some("NVIDIA Tesla V100 SXM2 32GB".into()),
            count: 1,
            memory_gb: Some(32.0),
            ..Default::default()
        };
        let c = gpu_card(&spec, GpuModel::Mlca);
        assert_eq!(c.matched.as_deref(), Some("NVIDIA Tesla V100"));
        let v = c.impacts.value;
        assert!(close(v.gwp_kgco2eq, 160.886, 1e-5), "{v:?}");
        assert!(close(v.pe_mj, 1843.7, 1e-4), "{v:?}");
        assert!(close(v.adpe_kgsbeq, 0.02199, 1e-3), "{v:?}");
        // A100 80 GB: 330.1 kg (methodology §3.2 table).
        let a100 = GpuSpec {
            model: Some("NVIDIA A100 SXM4 80GB".into()),
            count: 1,
            memory_gb: Some(80.0),
            ..Default::default()
        };
        assert!(close(
            gpu_card(&a100, GpuModel::Mlca).impacts.value.gwp_kgco2eq,
            330.1,
            1e-3
        ));
    }

    #[test]
    fn fixed_figures_override_only_the_criteria_given() {
        let spec = GpuSpec {
            model: Some("NVIDIA A100 SXM4 80GB".into()),
            count: 1,
            footprint_per_card: Some(PartialImpacts {
                gwp_kgco2eq: Some(150.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = gpu_card(&spec, GpuModel::Boavizta);
        assert_eq!(c.impacts.value.gwp_kgco2eq, 150.0);
        assert!(close(c.impacts.value.pe_mj, 7648.19, 1e-6));
        assert!(c.basis.contains("fixed per-card GWP"), "{}", c.basis);
    }
}
