//! What the node is: host name, boot id, CPU model (GPUs come from NVML, in the sampler).
//!
//! Each file is looked for under the sysroot first and then under `/`: a fixture tree (or a
//! simulated node of a one-host test cluster) usually has no `/proc`, and the real boot id is
//! then the right one, since the simulated nodes share the host's boot.

use ea_record::HostInfo;
use std::path::Path;

/// The model name of the first processor in a `/proc/cpuinfo` text (pure): `model name` on
/// x86, `Model` or `CPU part` lines elsewhere are not tried.
pub fn cpu_model_from_cpuinfo(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name")
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

fn read_first(sysroot: &Path, rel: &str) -> Option<String> {
    let rooted = sysroot.join(rel);
    std::fs::read_to_string(&rooted)
        .or_else(|_| std::fs::read_to_string(Path::new("/").join(rel)))
        .ok()
}

/// Host name, boot id and CPU model; the GPU list is left empty.
pub fn collect(sysroot: &Path) -> HostInfo {
    let line = |rel: &str| {
        read_first(sysroot, rel)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    HostInfo {
        hostname: line("proc/sys/kernel/hostname"),
        boot_id: boot_id(sysroot),
        cpu_model: read_first(sysroot, "proc/cpuinfo").and_then(|t| cpu_model_from_cpuinfo(&t)),
        gpus: Vec::new(),
    }
}

/// The boot id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id(sysroot: &Path) -> Option<String> {
    read_first(sysroot, "proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model_from_cpuinfo(text).as_deref(),
            Some("Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz")
        );
        assert_eq!(cpu_model_from_cpuinfo("processor : 0\n"), None);
    }

    #[test]
    fn collects_from_the_real_root_when_the_sysroot_lacks_proc() {
        let h = collect(Path::new("/nonexistent-sysroot"));
        // This machine is Linux: it has a boot id and a host name.
        assert_eq!(h.boot_id.as_ref().map(|b| b.len()), Some(36));
        assert!(h.hostname.is_some());
    }
}
