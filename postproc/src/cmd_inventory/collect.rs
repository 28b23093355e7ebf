//! `energy-assess inventory collect`: what this node can tell about its own hardware, written
//! as an inventory group to review and paste.
//!
//! Sources: `lscpu` (or `/proc/cpuinfo`), `/sys/devices/system/memory` (or `/proc/meminfo`),
//! `/sys/block`, and NVML for NVIDIA GPUs (`ea_meters::list_gpus`). Under `--sysroot DIR`,
//! everything is read below DIR and `lscpu` is not run: a captured `DIR/lscpu.txt` stands for
//! its output. The parsers are pure functions of the text, tested on captured fixtures.
//! What a node cannot know (lifetime, location, PUE, power supplies, case, DIMM layout) is
//! written as a commented placeholder to fill in.

use anyhow::Result;
use ea_impact::embodied::{GpuModel, GpuSpec, cpu_die, gpu_card};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// Whether and how to ask NVML for GPUs.
pub enum Nvml {
    Skip,
    /// `None`: the system's libnvidia-ml.
    Load(Option<PathBuf>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuInfo {
    pub model: String,
    pub sockets: Option<u32>,
    pub cores_per_socket: Option<u32>,
    pub threads_per_core: Option<u32>,
    pub logical_cpus: Option<u32>,
}

/// `lscpu` output (C locale): `Key:   value` lines.
pub(crate) fn parse_lscpu(text: &str) -> Option<CpuInfo> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let number = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok());
    Some(CpuInfo {
        model: field("Model name")?,
        sockets: number("Socket(s)"),
        cores_per_socket: number("Core(s) per socket"),
        threads_per_core: number("Thread(s) per core"),
        logical_cpus: number("CPU(s)"),
    })
}

/// `/proc/cpuinfo` (x86 layout): model name, distinct physical ids, cores and siblings.
pub(crate) fn parse_cpuinfo(text: &str) -> Option<CpuInfo> {
    let mut model = None;
    let (mut ids, mut cores, mut siblings, mut logical) =
        (std::collections::BTreeSet::new(), None, None, 0u32);
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => logical += 1,
            "model name" if model.is_none() => model = Some(v.to_string()),
            "physical id" => {
                ids.insert(v.to_string());
            }
            "cpu cores" => cores = v.parse::<u32>().ok(),
            "siblings" => siblings = v.parse::<u32>().ok(),
            _ => {}
        }
    }
    let sockets = if ids.is_empty() {
        None
    } else {
        Some(ids.len() as u32)
    };
    Some(CpuInfo {
        model: model?,
        sockets,
        cores_per_socket: cores,
        threads_per_core: match (siblings, cores) {
            (Some(s), Some(c)) if c > 0 => Some((s / c).max(1)),
            _ => None,
        },
        logical_cpus: (logical > 0).then_some(logical),
    })
}

/// `MemTotal` from `/proc/meminfo`, kB.
pub(crate) fn parse_meminfo_kb(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// A CPU name as boaviztapi's table writes it: without (R), (TM), "CPU", the clock and the core
/// count suffix. `Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz` → `Intel Xeon Gold 6130`.
pub(crate) fn clean_cpu_name(name: &str) -> String {
    let name = name.split(" @ ").next().unwrap_or(name);
    name.replace("(R)", "")
        .replace("(TM)", "")
        .replace("(tm)", "")
        .split_whitespace()
        .filter(|w| *w != "CPU" && *w != "Processor" && !w.ends_with("-Core"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Disk {
    pub name: String,
    pub rotational: bool,
    pub size_bytes: u64,
}

/// Whole disks under `/sys/block`, without virtual and removable devices.
fn block_devices(sysroot: &Path) -> Vec<Disk> {
    let dir = sysroot.join("sys/block");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut disks: Vec<Disk> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let virtual_prefixes = ["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "zd"];
            if virtual_prefixes.iter().any(|p| name.starts_with(p)) {
                return None;
            }
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(&name).join(f))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            if read("removable").as_deref() == Some("1") {
                return None;
            }
            // `size` counts 512-byte sectors whatever the device's block size.
            let sectors: u64 = read("size")?.parse().ok()?;
            let rotational = read("queue/rotational").as_deref() == Some("1");
            (sectors > 0).then_some(Disk {
                rotational,
                size_bytes: sectors * 512,
                name,
            })
        })
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

/// Installed memory from the memory-block sysfs (what the firmware reports, not what the kernel
/// keeps for itself), bytes, with the block count and size.
fn memory_blocks(sysroot: &Path) -> Option<(u64, u64, u64)> {
    let dir = sysroot.join("sys/devices/system/memory");
    let size = u64::from_str_radix(
        std::fs::read_to_string(dir.join("block_size_bytes"))
            .ok()?
            .trim(),
        16,
    )
    .ok()?;
    let online = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("memory"))
        .filter(|e| std::fs::read_to_string(e.path().join("online")).is_ok_and(|s| s.trim() == "1"))
        .count() as u64;
    (online > 0).then_some((online * size, online, size))
}

fn hostname(sysroot: &Path) -> String {
    ["proc/sys/kernel/hostname", "etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(sysroot.join(p))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "node".into())
}

fn cpu_info(sysroot: &Path) -> (Option<CpuInfo>, &'static str) {
    if sysroot == Path::new("/") {
        let out = std::process::Command::new("lscpu")
            .env("LC_ALL", "C")
            .output();
        if let Ok(o) = out
            && let Some(c) = o
                .status
                .success()
                .then(|| parse_lscpu(&String::from_utf8_lossy(&o.stdout)))
                .flatten()
        {
            return (Some(c), "lscpu");
        }
    } else if let Ok(t) = std::fs::read_to_string(sysroot.join("lscpu.txt"))
        && let Some(c) = parse_lscpu(&t)
    {
        return (Some(c), "lscpu.txt");
    }
    match std::fs::read_to_string(sysroot.join("proc/cpuinfo")) {
        Ok(t) => (parse_cpuinfo(&t), "/proc/cpuinfo"),
        Err(_) => (None, "nothing (no lscpu, no /proc/cpuinfo)"),
    }
}

/// The group text for this node.
///
/// # Errors
/// Only an output formatting failure; unreadable sources become comments.
pub fn collect(sysroot: &Path, nvml: Nvml, node: Option<&str>) -> Result<String> {
    let host = hostname(sysroot);
    let node = node.map_or(host.clone(), str::to_string);
    let mut t = String::new();
    write_group_keys(&mut t, &host, &node)?;
    let (cpu, cpu_source) = cpu_info(sysroot);
    write_cpu(&mut t, cpu.as_ref(), cpu_source)?;
    write_ram(&mut t, sysroot)?;
    write_disks(&mut t, &disk_groups(&block_devices(sysroot)))?;
    write_gpus(&mut t, nvml)?;
    write_power_supply(&mut t)?;
    Ok(t)
}

/// The group's name from a node's: its trailing digits and separator dropped (`gpu-012` ->
/// `gpu`), or the node's name when nothing else is left.
fn group_name(node: &str) -> String {
    let group = node
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['-', '_']);
    if group.is_empty() {
        node.to_string()
    } else {
        group.to_string()
    }
}

/// The header and the keys of the group itself, site figures as placeholders to fill in.
fn write_group_keys(t: &mut String, host: &str, node: &str) -> fmt::Result {
    let group = group_name(node);
    writeln!(
        t,
        "# Collected on {host} by `energy-assess inventory collect`."
    )?;
    writeln!(
        t,
        "# Review every value, widen `nodes` to all identical nodes, and fill in what a node"
    )?;
    writeln!(
        t,
        "# cannot know. Keys that apply to the group come before its [group.*] tables."
    )?;
    writeln!(t, "[[group]]")?;
    writeln!(t, "name = {:?}", group)?;
    writeln!(
        t,
        "nodes = {:?}  # Slurm hostlist of identical nodes, e.g. \"{group}[1-40]\"",
        node
    )?;
    writeln!(
        t,
        "location = \"WOR\"  # ISO 3166 alpha-3 code of the grid feeding the node (FRA, DEU, USA...); WOR = world average"
    )?;
    writeln!(
        t,
        "pue = 1.2  # your data centre's PUE (1.2: ImpactsHPC and EcoLogits default)"
    )?;
    writeln!(t, "lifetime_years = 6  # years the node will be in service")?;
    writeln!(
        t,
        "# utilisation = 0.85  # share of its life the node runs jobs (default 1)"
    )?;
    writeln!(t, "# case = \"rack\"  # rack, blade or tower")
}

/// `[group.cpu]`: the model as boaviztapi will match it (with what it matched, or why not),
/// the counts, and a warning where the counts do not multiply to the CPUs the system reports.
fn write_cpu(t: &mut String, cpu: Option<&CpuInfo>, cpu_source: &str) -> fmt::Result {
    writeln!(t, "[group.cpu]  # from {cpu_source}")?;
    match cpu {
        Some(c) => {
            let cleaned = clean_cpu_name(&c.model);
            let die = cpu_die(Some(&cleaned), c.cores_per_socket, None, None);
            let words = |s: &str| s.to_lowercase().split_whitespace().count();
            let note = match &die.matched {
                // boaviztapi's match takes a name contained in a longer one as perfect.
                Some(m) if words(m) > words(&cleaned) => format!(
                    "as reported: {:?}; a partial name: boaviztapi picks the first row containing it ({m}); give the full model or die_area_mm2",
                    c.model
                ),
                Some(m) => format!("as reported: {:?}; boaviztapi row: {m}", c.model),
                None => format!(
                    "as reported: {:?}; not in boaviztapi's table: give die_area_mm2 if known",
                    c.model
                ),
            };
            writeln!(t, "model = {:?}  # {note}", cleaned)?;
            writeln!(
                t,
                "sockets = {}{}",
                c.sockets.unwrap_or(1),
                if c.sockets.is_none() {
                    "  # not reported: check"
                } else {
                    ""
                }
            )?;
            writeln!(
                t,
                "cores_per_socket = {}{}",
                c.cores_per_socket.unwrap_or(1),
                if c.cores_per_socket.is_none() {
                    "  # not reported: check"
                } else {
                    ""
                }
            )?;
            let threads = c.threads_per_core.unwrap_or(1);
            let product = c.sockets.unwrap_or(1) * c.cores_per_socket.unwrap_or(1) * threads;
            match c.logical_cpus {
                Some(n) if n != product => writeln!(
                    t,
                    "threads_per_core = {threads}  # the system reports {n} CPUs, not {product}: check"
                )?,
                _ => writeln!(t, "threads_per_core = {threads}")?,
            }
        }
        None => {
            writeln!(t, "model = \"unknown\"  # could not read the CPU: fill in")?;
            writeln!(t, "sockets = 1")?;
            writeln!(t, "cores_per_socket = 1")?;
        }
    }
    writeln!(
        t,
        "# die_area_mm2 = 0  # total die area of one package, if known"
    )?;
    writeln!(
        t,
        "# tdp_w = 0  # per package; used only to estimate jobs without meters"
    )
}

/// `[group.ram]`: installed memory from the memory blocks, else `MemTotal` rounded up.
fn write_ram(t: &mut String, sysroot: &Path) -> fmt::Result {
    writeln!(t, "[group.ram]")?;
    match memory_blocks(sysroot) {
        Some((bytes, n, size)) => writeln!(
            t,
            "total_gb = {}  # {n} memory blocks of {} MiB; give modules and module_gb if known (dmidecode -t memory)",
            (bytes as f64 / (1u64 << 30) as f64).round(),
            size >> 20
        ),
        None => match std::fs::read_to_string(sysroot.join("proc/meminfo"))
            .ok()
            .as_deref()
            .and_then(parse_meminfo_kb)
        {
            Some(kb) => writeln!(
                t,
                "total_gb = {}  # MemTotal {kb} kB rounded up (the kernel keeps some); give modules and module_gb if known",
                (kb as f64 / (1u64 << 20) as f64).ceil()
            ),
            None => writeln!(t, "total_gb = 0  # could not read the memory size: fill in"),
        },
    }
}

/// Disks of the same kind (rotational or not) and size in GB, in order of first appearance:
/// one `[[group.ssd]]` or `[[group.hdd]]` table each.
fn disk_groups(disks: &[Disk]) -> Vec<(bool, u64, Vec<String>)> {
    let mut groups: Vec<(bool, u64, Vec<String>)> = Vec::new();
    for d in disks {
        let gb = (d.size_bytes as f64 / 1e9).round() as u64;
        match groups.iter_mut().find(|g| g.0 == d.rotational && g.1 == gb) {
            Some(g) => g.2.push(d.name.clone()),
            None => groups.push((d.rotational, gb, vec![d.name.clone()])),
        }
    }
    groups
}

fn write_disks(t: &mut String, groups: &[(bool, u64, Vec<String>)]) -> fmt::Result {
    if groups.is_empty() {
        writeln!(
            t,
            "# no disk found under /sys/block (a diskless node has none)"
        )?;
    }
    for (rotational, gb, names) in groups {
        writeln!(
            t,
            "[[group.{}]]  # {} (queue/rotational = {})",
            if *rotational { "hdd" } else { "ssd" },
            names.join(", "),
            u8::from(*rotational)
        )?;
        writeln!(t, "count = {}", names.len())?;
        writeln!(t, "capacity_gb = {gb}")?;
    }
    Ok(())
}

/// One `[[group.gpu]]` per NVML model and memory size, with boaviztapi's name for it; or a
/// comment saying why there are none.
fn write_gpus(t: &mut String, nvml: Nvml) -> fmt::Result {
    let gpus = match nvml {
        Nvml::Skip => return writeln!(t, "# GPUs: NVML not queried (--no-nvml)"),
        Nvml::Load(lib) => match ea_meters::list_gpus(lib.as_deref()) {
            Err(e) => return writeln!(t, "# GPUs: none found through NVML ({e})"),
            Ok(gpus) if gpus.is_empty() => return writeln!(t, "# GPUs: NVML reports none"),
            Ok(gpus) => gpus,
        },
    };
    let mut models: Vec<(String, u64, u32)> = Vec::new();
    for g in &gpus {
        let gb = (g.memory_total_mib as f64 / 1024.0).round() as u64;
        match models.iter_mut().find(|m| m.0 == g.name && m.1 == gb) {
            Some(m) => m.2 += 1,
            None => models.push((g.name.clone(), gb, 1)),
        }
    }
    for (name, gb, count) in models {
        writeln!(t, "[[group.gpu]]  # from NVML")?;
        match table_gpu_name(&name) {
            Some(m) => writeln!(t, "model = {m:?}  # NVML: {name:?}")?,
            None => writeln!(
                t,
                "model = {name:?}  # not in boaviztapi's gpu_specs: defaults will be used; add die_area_mm2"
            )?,
        }
        writeln!(t, "count = {count}")?;
        writeln!(t, "memory_gb = {gb}")?;
        writeln!(
            t,
            "# tdp_w = 0  # board power; used only to estimate jobs without meters"
        )?;
    }
    Ok(())
}

/// Power supplies cannot be seen from the OS: boaviztapi's default, commented out.
fn write_power_supply(t: &mut String) -> fmt::Result {
    writeln!(
        t,
        "# [group.power_supply]  # not visible from the OS; boaviztapi's default is 2 × 2.99 kg"
    )?;
    writeln!(t, "# count = 2")?;
    writeln!(t, "# unit_kg = 2.99")
}

/// The boaviztapi table name for an NVML name, trying the spellings NVML uses.
fn table_gpu_name(nvml_name: &str) -> Option<String> {
    let spaced = nvml_name.replace('-', " ");
    let prefixed = if spaced.to_lowercase().starts_with("nvidia") {
        spaced.clone()
    } else {
        format!("NVIDIA {spaced}")
    };
    [nvml_name.to_string(), spaced, prefixed]
        .into_iter()
        .find_map(|candidate| {
            gpu_card(
                &GpuSpec {
                    model: Some(candidate),
                    count: 1,
                    ..Default::default()
                },
                GpuModel::Boavizta,
            )
            .matched
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lscpu_and_cpuinfo() {
        let lscpu = "Architecture:   x86_64\nCPU(s):   2\nModel name:   AMD EPYC\nThread(s) per core:  1\nCore(s) per socket:  2\nSocket(s):  1\n";
        let c = parse_lscpu(lscpu).unwrap();
        assert_eq!(
            (
                c.model.as_str(),
                c.sockets,
                c.cores_per_socket,
                c.threads_per_core,
                c.logical_cpus
            ),
            ("AMD EPYC", Some(1), Some(2), Some(1), Some(2))
        );
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\nphysical id\t: 0\nsiblings\t: 32\ncpu cores\t: 16\n\n\
                       processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\nphysical id\t: 1\nsiblings\t: 32\ncpu cores\t: 16\n";
        let c = parse_cpuinfo(cpuinfo).unwrap();
        assert_eq!(
            (
                c.sockets,
                c.cores_per_socket,
                c.threads_per_core,
                c.logical_cpus
            ),
            (Some(2), Some(16), Some(2), Some(2))
        );
        assert_eq!(
            parse_meminfo_kb("MemTotal:       24684084 kB\nMemFree: 1 kB\n"),
            Some(24_684_084)
        );
    }

    #[test]
    fn cpu_names_are_cleaned_to_the_tables_spelling() {
        assert_eq!(
            clean_cpu_name("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"),
            "Intel Xeon Gold 6130"
        );
        assert_eq!(
            clean_cpu_name("AMD EPYC 7742 64-Core Processor"),
            "AMD EPYC 7742"
        );
        assert_eq!(
            clean_cpu_name("Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz"),
            "Intel Xeon E5-2698 v4"
        );
    }

    #[test]
    fn nvml_names_find_their_table_row() {
        assert_eq!(
            table_gpu_name("Tesla V100-SXM2-32GB").as_deref(),
            Some("NVIDIA Tesla V100 SXM2 32GB")
        );
        assert_eq!(
            table_gpu_name("NVIDIA A100-SXM4-40GB").as_deref(),
            Some("NVIDIA A100 SXM4 40GB")
        );
        assert_eq!(
            table_gpu_name("NVIDIA H100 80GB HBM3").as_deref(),
            Some("NVIDIA H100 SXM 80GB")
        );
        assert_eq!(table_gpu_name("NVIDIA GeForce RTX 4080 SUPER"), None);
    }

    #[test]
    fn the_group_is_named_after_the_node_without_its_number() {
        assert_eq!(group_name("gpu-012"), "gpu");
        assert_eq!(group_name("cn0042"), "cn");
        assert_eq!(group_name("login_3"), "login");
        assert_eq!(group_name("1234"), "1234");
    }

    #[test]
    fn disks_of_one_kind_and_size_make_one_table_in_order_of_appearance() {
        let disk = |name: &str, rotational, gb: u64| Disk {
            name: name.into(),
            rotational,
            size_bytes: gb * 1_000_000_000,
        };
        let groups = disk_groups(&[
            disk("nvme0n1", false, 960),
            disk("sda", true, 4000),
            disk("nvme1n1", false, 960),
        ]);
        assert_eq!(
            groups,
            [
                (
                    false,
                    960,
                    vec!["nvme0n1".to_string(), "nvme1n1".to_string()]
                ),
                (true, 4000, vec!["sda".to_string()]),
            ]
        );
        let mut t = String::new();
        write_disks(&mut t, &groups).unwrap();
        assert!(t.starts_with("[[group.ssd]]  # nvme0n1, nvme1n1 (queue/rotational = 0)\ncount = 2\ncapacity_gb = 960\n"), "{t}");
        t.clear();
        write_disks(&mut t, &[]).unwrap();
        assert!(t.starts_with("# no disk found"), "{t}");
    }

    #[test]
    fn cpu_counts_that_do_not_multiply_to_the_cpus_reported_are_flagged() {
        let cpu = CpuInfo {
            model: "AMD EPYC 7742 64-Core Processor".into(),
            sockets: Some(2),
            cores_per_socket: Some(64),
            threads_per_core: Some(2),
            logical_cpus: Some(128),
        };
        let mut t = String::new();
        write_cpu(&mut t, Some(&cpu), "lscpu").unwrap();
        assert!(
            t.starts_with("[group.cpu]  # from lscpu\nmodel = \"AMD EPYC 7742\""),
            "{t}"
        );
        assert!(
            t.contains("threads_per_core = 2  # the system reports 128 CPUs, not 256: check"),
            "{t}"
        );
        t.clear();
        write_cpu(&mut t, None, "nothing").unwrap();
        assert!(
            t.contains("model = \"unknown\"  # could not read the CPU: fill in\nsockets = 1\n"),
            "{t}"
        );
    }

    #[test]
    fn gpus_not_queried_say_so() {
        let mut t = String::new();
        write_gpus(&mut t, Nvml::Skip).unwrap();
        assert_eq!(t, "# GPUs: NVML not queried (--no-nvml)\n");
    }
}
