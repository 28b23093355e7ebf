//! `energy-assess inventory check|show|collect`, run as a user runs them.

use ea_impact::Inventory;
use nvidia_ml_fake::{CONFIG_ENV, FakeConfig, FakeGpu};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn energy_assess(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_energy-assess"))
        .args(args)
        .output()
        .expect("run energy-assess")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ea-inventory-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn check_accepts_every_example() {
    for entry in std::fs::read_dir(repo().join("configs/inventory")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let o = energy_assess(&["inventory", "check", path.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
            assert!(stdout(&o).contains(": ok, "), "{}", stdout(&o));
        }
    }
}

#[test]
fn check_lists_every_problem_with_line_and_fix() {
    let dir = scratch("bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[site]\nlocation = \"FRA\"\npue = 1.2\nlifetime_years = 6\n\n[[group]]\nname = \"a\"\nnodes = \"n[1-4]\"\n\
         [group.cpu]\nsockets = 2\ncores_per_socket = 0\n[group.ram]\ntotal_gb = 64\n\n\
         [[group]]\nname = \"b\"\nnodes = \"n[4-5]\"\n[group.cpu]\nsockets = 1\ncores_per_socket = 8\n[group.ram]\ntotal_gb = 32\n",
    )
    .unwrap();
    let o = energy_assess(&["inventory", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.toml:11: group \"a\".cpu.cores_per_socket: 0 is out of range (fix: give a whole number from 1 to 1024)"), "{err}");
    assert!(
        err.contains("bad.toml:17: group \"b\".nodes: node n4 is also in group \"a\" (line 6)"),
        "{err}"
    );
    assert!(err.contains("2 problem(s) in"), "{err}");
}

#[test]
fn show_prints_text_and_json() {
    let file = repo().join("configs/inventory/grid5000-lyon.toml");
    let text = energy_assess(&["inventory", "show", file.to_str().unwrap()]);
    assert!(text.status.success(), "{}", stderr(&text));
    let t = stdout(&text);
    for needle in [
        "group gemini",
        "per node, whole life",
        "per node-hour charged",
        "gpu x8",
        "GWP kgCO2eq [min-max]",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let json = energy_assess(&["inventory", "show", "--json", file.to_str().unwrap()]);
    assert!(json.status.success(), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4);
    let gemini = &groups[0];
    assert_eq!(gemini["nodes"], 2);
    let per_node = gemini["embodied_per_node"]["value"]["gwp_kgco2eq"]
        .as_f64()
        .unwrap();
    let per_hour = gemini["embodied_per_node_hour"]["value"]["gwp_kgco2eq"]
        .as_f64()
        .unwrap();
    assert!((per_hour - per_node / (6.0 * 8760.0)).abs() < 1e-12 * per_node);
    assert_eq!(v["embodied_factors"]["version"], "2.5.0");
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
}

/// A group described by an LCA's table per component shows its rows, total and figure per
/// GPU card (methodology §1.4: Champollion, 138.4 kgCO2eq per A100).
#[test]
fn show_prints_a_component_table() {
    let file = repo().join("configs/inventory/champollion-lca.toml");
    let text = energy_assess(&["inventory", "show", file.to_str().unwrap()]);
    assert!(text.status.success(), "{}", stderr(&text));
    let t = stdout(&text);
    for needle in [
        "embodied: per-component table in the inventory (Jay 2024",
        "per node, whole life   3264 ",
        "per GPU card, life     138.4 ",
        "gpu-chip x8",
        "gpu-memory x8",
        "gpu-board x8",
        "  ram ",
        "  other ",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let json = energy_assess(&["inventory", "show", "--json", file.to_str().unwrap()]);
    assert!(json.status.success(), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let g = &v["groups"][0];
    let card = g["embodied_per_gpu_card"]["gwp_kgco2eq"].as_f64().unwrap();
    assert!((card - 138.4).abs() <= 0.05, "{card}");
    assert_eq!(g["component_table"]["gpu_cards"], 8);
    assert_eq!(g["components"].as_array().unwrap().len(), 6);
}

#[test]
fn collect_on_the_captured_vm_gives_a_valid_group() {
    let sysroot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory-collect/vm");
    let o = energy_assess(&[
        "inventory",
        "collect",
        "--sysroot",
        sysroot.to_str().unwrap(),
        "--no-nvml",
        "--node",
        "n1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    for needle in [
        "nodes = \"n1\"",
        "model = \"AMD EPYC\"",
        "a partial name",
        "cores_per_socket = 2",
        "total_gb = 24",
        "[[group.hdd]]  # vda",
        "capacity_gb = 275",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    assert!(
        !t.contains("loop0") && !t.contains("zram0"),
        "virtual devices are skipped"
    );
    let inv =
        Inventory::parse(&t, Path::new("collected.toml")).unwrap_or_else(|e| panic!("{e}\n{t}"));
    assert_eq!(inv.groups[0].capacity.cpus, Some(2));
}

/// A DGX-1 (Grid'5000 gemini-1) as `collect` would see it: lscpu fields from the CCGrid'23
/// repository's record of that node, disks and memory from the Grid'5000 description, eight
/// V100s through the fake NVML.
#[test]
fn collect_on_a_dgx1_with_gpus_through_nvml() {
    let root = scratch("gemini");
    std::fs::write(
        root.join("lscpu.txt"),
        "Architecture:        x86_64\nCPU(s):              80\nThread(s) per core:  1\nCore(s) per socket:  20\nSocket(s):           2\nModel name:          Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    std::fs::write(root.join("proc/sys/kernel/hostname"), "gemini-1\n").unwrap();
    let memory = root.join("sys/devices/system/memory");
    std::fs::create_dir_all(&memory).unwrap();
    std::fs::write(memory.join("block_size_bytes"), "80000000\n").unwrap();
    for i in 0..256 {
        std::fs::create_dir_all(memory.join(format!("memory{i}"))).unwrap();
        std::fs::write(memory.join(format!("memory{i}/online")), "1\n").unwrap();
    }
    for (dev, bytes) in [
        ("sda", 480_103_981_056u64),
        ("sdb", 1_920_383_410_176),
        ("sdc", 1_920_383_410_176),
        ("sdd", 1_920_383_410_176),
        ("sde", 1_920_383_410_176),
    ] {
        let d = root.join("sys/block").join(dev);
        std::fs::create_dir_all(d.join("queue")).unwrap();
        std::fs::write(d.join("size"), format!("{}\n", bytes / 512)).unwrap();
        std::fs::write(d.join("removable"), "0\n").unwrap();
        std::fs::write(d.join("queue/rotational"), "0\n").unwrap();
    }
    let mut gpus = Vec::new();
    for i in 0..8 {
        let mut g = FakeGpu::new(
            &format!("GPU-{i:08}-0000-0000-0000-000000000000"),
            "Tesla V100-SXM2-32GB",
            60.0,
            0.0,
        );
        g.memory_total_mib = 32_510;
        gpus.push(g);
    }
    let config = root.join("fake-nvml.json");
    std::fs::write(
        &config,
        serde_json::to_string(&FakeConfig {
            init_error: None,
            driver_version: "535.0".into(),
            gpus,
        })
        .unwrap(),
    )
    .unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_energy-assess"))
        .args([
            "inventory",
            "collect",
            "--sysroot",
            root.to_str().unwrap(),
            "--nvml-library",
            fake_nvml_lib().to_str().unwrap(),
        ])
        .env(CONFIG_ENV, &config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    for needle in [
        "name = \"gemini\"",
        "nodes = \"gemini-1\"",
        "model = \"Intel Xeon E5-2698 v4\"",
        "boaviztapi row: Intel Xeon E5-2698 V4",
        "the system reports 80 CPUs, not 40",
        "total_gb = 512  # 256 memory blocks of 2048 MiB",
        "model = \"NVIDIA Tesla V100 SXM2 32GB\"  # NVML: \"Tesla V100-SXM2-32GB\"",
        "count = 8",
        "memory_gb = 32",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let inv =
        Inventory::parse(&t, Path::new("collected.toml")).unwrap_or_else(|e| panic!("{e}\n{t}"));
    let hw = inv.groups[0].hardware.as_ref().unwrap();
    assert_eq!(
        hw.ssds
            .iter()
            .map(|d| (d.count, d.capacity_gb))
            .collect::<Vec<_>>(),
        [(1, 480.0), (4, 1920.0)]
    );
    assert_eq!(hw.gpu_count(), 8);

    // A node without NVML: no GPU lines, and the reason.
    let none = energy_assess(&[
        "inventory",
        "collect",
        "--sysroot",
        root.to_str().unwrap(),
        "--nvml-library",
        "/nonexistent/libnvidia-ml.so.1",
    ]);
    assert!(none.status.success());
    assert!(
        stdout(&none).contains("# GPUs: none found through NVML"),
        "{}",
        stdout(&none)
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn fake_nvml_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libnvidia_ml_fake.so"))
        .find(|p| p.exists())
        .expect("libnvidia_ml_fake.so is built next to the tests (fake-nvml is a dev-dependency)")
}
