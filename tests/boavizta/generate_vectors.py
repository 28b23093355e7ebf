#!/usr/bin/env python3
"""Computes reference vectors with boaviztapi 2.5.0's own Python functions (no server).

Each node configuration is written in the inventory's vocabulary (the same keys as a
`[[group]]` of `configs/inventory/*.toml`); `to_boavizta` maps it onto boaviztapi's server DTO
the way ea-impact maps an inventory group onto its model. The output, `vectors.json`, holds for
each configuration the embodied impacts over the whole lifetime, per component kind and in
total, as value / min / max for gwp, adp and pe, unrounded. The Rust test
`impact/tests/boavizta_vectors.rs` recomputes every one and compares.

Run through `regenerate.sh`.
"""
import json
import math
import sys

from boaviztapi.compute.impacts_computation import compute_impacts
from boaviztapi.data.archetype import get_server_archetype
from boaviztapi.dto.component import CPU, GPU, RAM, Disk, PowerSupply
from boaviztapi.dto.device.device import ConfigurationServer, ModelServer, Server, mapper_server
from boaviztapi.dto.usage import UsageServer
from boaviztapi.models.component.cpu import _cpu_specs
from boaviztapi.models.component.gpu import _calculate_effective_area_on_circular_wafer, _gpu_specs
from rapidfuzz import fuzz

HOURS_PER_YEAR = 8760
# ea-impact's reading of `ram.total_gb` without a module count: modules of this size.
DEFAULT_MODULE_GB = 32

NODES = [
    {"name": "v1-hand-checkable", "case": "rack", "lifetime_years": 4,
     "cpu": {"sockets": 2, "cores_per_socket": 24, "die_area_mm2": 400},
     "ram": {"modules": 4, "module_gb": 32, "density_gb_per_cm2": 1.0},
     "ssd": [{"count": 1, "capacity_gb": 1000, "density_gb_per_cm2": 50}],
     "power_supply": {"count": 2, "unit_kg": 3.0}},
    {"name": "unknown-cpu-defaults-everywhere", "lifetime_years": 4,
     "cpu": {"model": "Mystery Processor 9000", "sockets": 2, "cores_per_socket": 24},
     "ram": {"modules": 8, "module_gb": 32},
     "ssd": [{"count": 1, "capacity_gb": 1000}]},
    {"name": "no-cpu-model-20-cores", "case": "rack", "lifetime_years": 5,
     "cpu": {"sockets": 1, "cores_per_socket": 20},
     "ram": {"total_gb": 192},
     "ssd": [{"count": 2, "capacity_gb": 480}],
     "power_supply": {"count": 1}},
    {"name": "epyc7543-8xa100-80gb", "case": "rack", "lifetime_years": 6,
     "cpu": {"model": "AMD EPYC 7543", "sockets": 2, "cores_per_socket": 32},
     "ram": {"modules": 16, "module_gb": 32},
     "ssd": [{"count": 1, "capacity_gb": 480}],
     "gpu": [{"model": "NVIDIA A100 SXM4 80GB", "count": 8, "memory_gb": 80}],
     "power_supply": {"count": 2, "unit_kg": 2.99}},
    {"name": "gold6248-blade-4xv100", "case": "blade", "lifetime_years": 5,
     "cpu": {"model": "Intel Xeon Gold 6248", "sockets": 2, "cores_per_socket": 20},
     "ram": {"modules": 12, "module_gb": 16},
     "ssd": [{"count": 1, "capacity_gb": 480}],
     "gpu": [{"model": "NVIDIA Tesla V100 SXM2 32GB", "count": 4, "memory_gb": 32}],
     "power_supply": {"count": 2, "unit_kg": 2.5}},
    {"name": "dgx1-gemini-like", "case": "rack", "lifetime_years": 6,
     "cpu": {"model": "Intel Xeon E5-2698 v4", "sockets": 2, "cores_per_socket": 20},
     "ram": {"modules": 16, "module_gb": 32},
     "ssd": [{"count": 1, "capacity_gb": 480}, {"count": 4, "capacity_gb": 1920}],
     "gpu": [{"model": "NVIDIA Tesla V100 SXM2 32GB", "count": 8, "memory_gb": 32}],
     "power_supply": {"count": 4, "unit_kg": 2.99}},
    {"name": "gold6130-blade-hdd-density", "case": "blade", "lifetime_years": 7,
     "cpu": {"model": "Intel Xeon Gold 6130", "sockets": 2, "cores_per_socket": 16},
     "ram": {"modules": 12, "module_gb": 16, "density_gb_per_cm2": 1.25},
     "ssd": [{"count": 1, "capacity_gb": 240}, {"count": 1, "capacity_gb": 480, "density_gb_per_cm2": 48.5}],
     "hdd": [{"count": 1, "capacity_gb": 4000}],
     "power_supply": {"count": 2, "unit_kg": 1.8}},
    {"name": "epyc7742-storage-12hdd", "case": "rack", "lifetime_years": 6,
     "cpu": {"model": "AMD EPYC 7742", "sockets": 1, "cores_per_socket": 64},
     "ram": {"modules": 8, "module_gb": 64},
     "ssd": [{"count": 2, "capacity_gb": 960}],
     "hdd": [{"count": 12, "capacity_gb": 16000}],
     "power_supply": {"count": 2}},
    {"name": "per-core-die-custom-gpu", "case": "rack", "lifetime_years": 5,
     "cpu": {"sockets": 2, "cores_per_socket": 32, "die_area_per_core_mm2": 12.5},
     "ram": {"modules": 16, "module_gb": 64},
     "ssd": [{"count": 1, "capacity_gb": 3840}],
     "gpu": [{"model": "Custom Accelerator X", "count": 4, "memory_gb": 48, "die_area_mm2": 600}],
     "power_supply": {"count": 2, "unit_kg": 3.5}},
    {"name": "platinum8468-8xh100", "case": "rack", "lifetime_years": 5,
     "cpu": {"model": "Intel Xeon Platinum 8468", "sockets": 2, "cores_per_socket": 48},
     "ram": {"modules": 32, "module_gb": 64},
     "ssd": [{"count": 2, "capacity_gb": 3840}],
     "gpu": [{"model": "NVIDIA H100 SXM 80GB", "count": 8, "memory_gb": 80}],
     "power_supply": {"count": 6, "unit_kg": 2.0}},
    {"name": "family-rule-naples-epyc7251", "case": "rack", "lifetime_years": 6,
     "cpu": {"model": "AMD EPYC 7251", "sockets": 2, "cores_per_socket": 8},
     "ram": {"modules": 8, "module_gb": 16},
     "ssd": [{"count": 1, "capacity_gb": 240}],
     "power_supply": {"count": 2, "unit_kg": 2.0}},
    {"name": "family-mean-cascade-lake-sp-8260", "case": "blade", "lifetime_years": 6,
     "cpu": {"model": "Intel Xeon Platinum 8260", "sockets": 2, "cores_per_socket": 24},
     "ram": {"modules": 12, "module_gb": 32},
     "ssd": [{"count": 1, "capacity_gb": 480}],
     "power_supply": {"count": 2, "unit_kg": 2.4}},
    {"name": "default-gpu-archetype-24gb-tower", "case": "tower", "lifetime_years": 4,
     "cpu": {"model": "AMD EPYC 7513", "sockets": 1, "cores_per_socket": 32},
     "ram": {"modules": 8, "module_gb": 32},
     "ssd": [{"count": 1, "capacity_gb": 1920}],
     "gpu": [{"count": 2, "memory_gb": 24}],
     "power_supply": {"count": 1, "unit_kg": 1.5}},
    {"name": "mi300x-and-h200-vram-from-table", "case": "rack", "lifetime_years": 5,
     "cpu": {"model": "Intel Xeon Platinum 8470", "sockets": 2, "cores_per_socket": 52},
     "ram": {"modules": 32, "module_gb": 64},
     "ssd": [{"count": 1, "capacity_gb": 3200}],
     "gpu": [{"model": "AMD Instinct MI300X 192GB", "count": 8}],
     "power_supply": {"count": 6, "unit_kg": 2.0}},
    {"name": "p100-pcie-chifflot-like", "case": "rack", "lifetime_years": 6,
     "cpu": {"model": "Intel Xeon Gold 6126", "sockets": 2, "cores_per_socket": 12},
     "ram": {"modules": 12, "module_gb": 16},
     "ssd": [{"count": 2, "capacity_gb": 480}],
     "hdd": [{"count": 4, "capacity_gb": 4000}],
     "gpu": [{"model": "NVIDIA P100", "count": 2, "memory_gb": 16}],
     "power_supply": {"count": 2, "unit_kg": 2.99}},
]

# CPU names as people write them, with and without a core count: each gives the die size
# boaviztapi completes (value, min, max) and the row it matched.
CPU_QUERIES = [
    ("AMD EPYC 7543", 32), ("AMD EPYC 7543", None), ("amd epyc 7742", 64),
    ("Intel Xeon Gold 6248", 20), ("Intel Xeon Gold 6248", None), ("Xeon Gold 6248", 20),
    ("Intel Xeon E5-2698 v4", 20), ("Intel Xeon E5-2698 V4", None),
    ("Intel Xeon Gold 6130", 16), ("Intel Xeon Gold 5220", 18), ("Intel Xeon Gold 6126", 12),
    ("Intel Xeon E5-2630", 6), ("Intel Xeon E5-2620 v4", 8), ("Intel Xeon E5-2640 v4", 10),
    ("AMD EPYC 7513", 32), ("AMD EPYC 7452", 32), ("AMD EPYC 7642", 48),
    ("Intel Xeon Platinum 8470", 52), ("Intel Xeon Platinum 8468", 48),
    ("AMD EPYC 7251", 8), ("AMD EPYC 7251", 12), ("AMD EPYC 7251", None), ("AMD EPYC 7V12", 64),
    ("Intel Xeon Platinum 8260", 24), ("Intel Xeon Platinum 8260", 30), ("Intel Xeon Platinum 8253", 16),
    ("AMD EPYC", 2), ("AMD EPYC", None), ("Intel Xeon", 16), ("Neoverse-V2", 72),
    ("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", 16), ("AMD EPYC 7742 64-Core Processor", 64),
    ("Mystery Processor 9000", 24), ("Mystery Processor 9000", 7), ("Mystery Processor 9000", 200),
    (None, 24), (None, 20), (None, 13), (None, None),
    ("Intel Core i7-8700K", 6), ("AMD Ryzen 9 7950X", 16), ("Ampere Altra Q80-30", 80),
    ("AWS Graviton3", 64), ("Intel Xeon Max 9480", 56), ("AMD EPYC 9654", 96),
]

GPU_QUERIES = [
    "NVIDIA A100 SXM4 80GB", "NVIDIA A100 SXM4 40GB", "A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB",
    "Tesla V100-SXM2-32GB", "NVIDIA Tesla V100 SXM2 32GB", "Tesla P100-PCIE-16GB", "NVIDIA P100",
    "NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM 80GB", "H100 PCIe", "NVIDIA L40S", "NVIDIA T4",
    "AMD Instinct MI300X", "Radeon Instinct MI50 32GB", "GH200", "NVIDIA GeForce RTX 4080 SUPER",
    "Custom Accelerator X",
]


def to_boavizta(node):
    cpu = node["cpu"]
    cpu_dto = CPU(units=cpu["sockets"], name=cpu.get("model"),
                  core_units=cpu.get("cores_per_socket"), die_size=cpu.get("die_area_mm2"),
                  die_size_per_core=cpu.get("die_area_per_core_mm2"))
    ram = node["ram"]
    if "total_gb" in ram:
        modules = max(1, round(ram["total_gb"] / DEFAULT_MODULE_GB))
        capacity = ram["total_gb"] / modules
        assert capacity == int(capacity)
        ram_dto = RAM(units=modules, capacity=int(capacity), density=ram.get("density_gb_per_cm2"))
    else:
        ram_dto = RAM(units=ram["modules"], capacity=ram["module_gb"],
                      density=ram.get("density_gb_per_cm2"))
    disks = [Disk(type="ssd", units=d["count"], capacity=d["capacity_gb"],
                  density=d.get("density_gb_per_cm2")) for d in node.get("ssd", [])]
    disks += [Disk(type="hdd", units=d["count"], capacity=d["capacity_gb"])
              for d in node.get("hdd", [])]
    assert disks, "boaviztapi replaces an empty disk list by its archetype SSD"
    gpus = node.get("gpu", [])
    assert len(gpus) <= 1, "boaviztapi's server has one GPU component"
    gpu_dto = None
    if gpus:
        g = gpus[0]
        surface = g.get("die_area_mm2")
        gpu_dto = GPU(units=g["count"], name=g.get("model"), vram=g.get("memory_gb"),
                      gpu_surface=None if surface is None
                      else _calculate_effective_area_on_circular_wafer(surface))
    psu = node.get("power_supply")
    psu_dto = None if psu is None else PowerSupply(units=psu["count"], unit_weight=psu.get("unit_kg"))
    model = ModelServer(type=node["case"]) if "case" in node else None
    return Server(model=model,
                  configuration=ConfigurationServer(cpu=cpu_dto, ram=[ram_dto], disk=disks,
                                                    gpu=gpu_dto, power_supply=psu_dto),
                  usage=UsageServer(hours_life_time=node["lifetime_years"] * HOURS_PER_YEAR))


def triple(impact):
    return {"value": impact.value, "min": impact.min, "max": impact.max}


def embodied(model):
    return {c: triple(model.impacts[c]["embedded"]) for c in ("gwp", "adp", "pe")}


def compute_node(node):
    server = mapper_server(to_boavizta(node), archetype=get_server_archetype("platform_compute_medium"))
    duration = server.usage.hours_life_time.value
    compute_impacts(model=server, selected_criteria=["gwp", "adp", "pe"], duration=duration)
    by_kind = {}
    for component in server.components:
        kind = component.NAME.lower()
        impacts = embodied(component)
        if kind in by_kind:
            for c in impacts:
                for k in ("value", "min", "max"):
                    by_kind[kind][c][k] += impacts[c][k]
        else:
            by_kind[kind] = impacts
    die = server.cpu.die_size
    return {
        "node": node,
        "hours_life_time": duration,
        "cpu_die_size_mm2": {"value": die.value, "min": die.min, "max": die.max},
        "components": by_kind,
        "total": embodied(server),
    }


def cpu_query(name, cores):
    node = {"lifetime_years": 4, "cpu": {"sockets": 1}, "ram": {"modules": 1, "module_gb": 8},
            "ssd": [{"count": 1, "capacity_gb": 100}]}
    if name is not None:
        node["cpu"]["model"] = name
    if cores is not None:
        node["cpu"]["cores_per_socket"] = cores
    server = mapper_server(to_boavizta(node), archetype=get_server_archetype("platform_compute_medium"))
    compute_impacts(model=server, selected_criteria=["gwp"], duration=server.usage.hours_life_time.value)
    die = server.cpu.die_size
    matched = server.cpu.name._value if server.cpu.name.is_completed() else None
    return {"model": name, "cores_per_socket": cores, "matched": matched,
            "die_size_mm2": {"value": float(die.value), "min": float(die.min), "max": float(die.max)}}


def gpu_query(name):
    node = {"lifetime_years": 4, "cpu": {"sockets": 1, "die_area_mm2": 100},
            "ram": {"modules": 1, "module_gb": 8}, "ssd": [{"count": 1, "capacity_gb": 100}],
            "gpu": [{"model": name, "count": 1}]}
    server = mapper_server(to_boavizta(node), archetype=get_server_archetype("platform_compute_medium"))
    compute_impacts(model=server, selected_criteria=["gwp", "adp", "pe"],
                    duration=server.usage.hours_life_time.value)
    gpu = server.gpu
    matched = gpu.name._value if gpu.name.is_completed() else None
    return {"model": name, "matched": matched, "per_card": embodied(gpu)}


def fuzzy_scores():
    """rapidfuzz's own token_set_ratio on lower-cased names, as boaviztapi calls it."""
    out = []
    cpu_names = list(_cpu_specs["name"])[::90]
    for query, _ in CPU_QUERIES:
        if query is not None:
            for name in cpu_names:
                out.append([name, query, fuzz.token_set_ratio(name.lower(), query.lower())])
    for query in GPU_QUERIES:
        for name in _gpu_specs["name"]:
            out.append([name, query, fuzz.token_set_ratio(name.lower(), query.lower())])
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/boavizta/vectors.json"
    vectors = {
        "generator": "tests/boavizta/generate_vectors.py with boaviztapi==2.5.0 from PyPI",
        "effective_area_mm2": {str(a): _calculate_effective_area_on_circular_wafer(a)
                               for a in (545.0, 600.0, 814.0, 815.0, 826.0, 41.25, 206.6667)},
        "nodes": [compute_node(n) for n in NODES],
        "cpu_queries": [cpu_query(n, c) for n, c in CPU_QUERIES],
        "gpu_queries": [gpu_query(n) for n in GPU_QUERIES],
        "fuzzy_scores": fuzzy_scores(),
    }

    def finite(o):
        if isinstance(o, float):
            assert math.isfinite(o), o
        elif isinstance(o, dict):
            for v in o.values():
                finite(v)
        elif isinstance(o, list):
            for v in o:
                finite(v)
    finite(vectors)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
