//! The plugin is loaded into slurmstepd, which forks: a thread pool or an async runtime in its
//! dependency tree is a deadlock waiting to happen, and SQLite has no business on a compute
//! node's job path. This keeps them out.

use std::process::Command;

#[test]
fn no_threads_runtimes_or_databases_in_the_plugin() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "energy-assess-spank",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"slurm-sys"),
        "unexpected cargo tree output:\n{tree}"
    );
    for forbidden in [
        "rayon",
        "tokio",
        "async-std",
        "rusqlite",
        "crossbeam-utils",
        "tracing-subscriber",
        "env_logger",
    ] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} is in the plugin's dependency tree:\n{tree}"
        );
    }
}
