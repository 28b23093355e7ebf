//! Whether Slurm still runs a job on this node, without asking Slurm: every `slurmstepd`
//! listens on a Unix socket named `<SlurmdSpoolDir>/<node>_<jobid>.<stepid>` while its step
//! runs, and the kernel lists every bound Unix socket in `/proc/net/unix`. One read of that
//! file answers for all steps (the extern step, under `PrologFlags=Contain`, lives exactly as
//! long as the job's allocation on the node), needs no knowledge of `slurm.conf`, and tells
//! apart the nodes of a test host that runs several slurmd (their step titles do not).

use std::path::Path;

/// The step id of a job's extern step (`SLURM_EXTERN_CONT`).
pub const EXTERN_STEP: u32 = 0xFFFF_FFFC;

/// Where the kernel lists Unix sockets.
pub const PROC_NET_UNIX: &str = "/proc/net/unix";

/// The step ids of `job_id` that have a `slurmstepd` socket for `node` in `listing` (the text
/// of `/proc/net/unix`: a header line, then one socket per line, its path last).
pub fn steps_in(listing: &str, node: &str, job_id: u32) -> Vec<u32> {
    let prefix = format!("{node}_{job_id}.");
    let mut steps: Vec<u32> = listing
        .lines()
        .skip(1)
        .filter_map(|line| line.rsplit_once(' ').map(|(_, path)| path))
        .filter_map(|path| Path::new(path).file_name()?.to_str())
        .filter_map(|name| name.strip_prefix(&prefix)?.parse().ok())
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
}

/// The steps of `job_id` Slurm runs on `node` now, from `listing` ([`PROC_NET_UNIX`] but in
/// tests); `None` when it cannot be read (then nothing can be concluded).
pub fn steps_on_node(listing: &Path, node: &str, job_id: u32) -> Option<Vec<u32>> {
    let listing = std::fs::read_to_string(listing).ok()?;
    Some(steps_in(&listing, node, job_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As read on the test cluster (Slurm 22.05, three slurmd on one host) during job 30.
    const LISTING: &str = "\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 41230 /var/lib/slurm/slurmd-n1/n1_30.4294967292
0000000000000000: 00000002 00000000 00010000 0001 01 41231 /var/lib/slurm/slurmd-n2/n2_30.4294967292
0000000000000000: 00000002 00000000 00010000 0001 01 41250 /var/lib/slurm/slurmd-n1/n1_30.4294967291
0000000000000000: 00000002 00000000 00010000 0001 01 41251 /var/lib/slurm/slurmd-n1/n1_300.0
0000000000000000: 00000003 00000000 00000000 0001 03 41260
0000000000000000: 00000002 00000000 00010000 0001 01 18000 /run/munge/munge.socket.2
";

    #[test]
    fn the_steps_of_one_job_on_one_node_are_found() {
        assert_eq!(steps_in(LISTING, "n1", 30), [4294967291, EXTERN_STEP]);
        assert_eq!(steps_in(LISTING, "n2", 30), [EXTERN_STEP]);
        assert!(steps_in(LISTING, "n3", 30).is_empty());
        assert_eq!(steps_in(LISTING, "n1", 300), [0]);
        assert!(steps_in(LISTING, "n1", 3).is_empty());
        assert!(steps_in("", "n1", 30).is_empty());
    }

    #[test]
    fn this_machine_lists_its_sockets() {
        let real = Path::new(PROC_NET_UNIX);
        assert!(steps_on_node(real, "no-such-node", 1).is_some_and(|s| s.is_empty()));
        assert!(steps_on_node(Path::new("/nonexistent"), "n1", 1).is_none());
    }
}
