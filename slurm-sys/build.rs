//! Generates the SPANK bindings from the installed `<slurm/spank.h>`.
//!
//! Where the headers live, in order:
//! 1. `SLURM_INCLUDE_DIR` (the directory that holds `slurm/spank.h`), for sites whose Slurm is
//!    installed under a prefix such as `/opt/slurm/include`;
//! 2. the compiler's default include path (`/usr/include`, Debian's `libslurm-dev`).
//!
//! With no headers anywhere, the committed fallback `bindings/spank_22_05.rs` (generated from
//! Slurm 22.05 by `regen-fallback.sh`) is used and the build says so with a warning: a plugin
//! built that way only loads into Slurm 22.05, because Slurm refuses a SPANK plugin whose
//! major.minor version differs from its own. `SLURM_SYS_USE_FALLBACK=1` forces the fallback.
//!
//! The output always goes to `OUT_DIR`; nothing is written into `src/`. The crate never links
//! libslurm: the `spank_*` and `slurm_*` symbols are resolved from the host process (slurmd,
//! slurmstepd, srun, sbatch, salloc) when Slurm loads the plugin.

use std::env;
use std::path::{Path, PathBuf};

const FALLBACK: &str = "bindings/spank_22_05.rs";

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed={FALLBACK}");
    println!("cargo:rerun-if-env-changed=SLURM_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=SLURM_SYS_USE_FALLBACK");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let include_dir = env::var_os("SLURM_INCLUDE_DIR").map(PathBuf::from);
    let forced_fallback = env::var("SLURM_SYS_USE_FALLBACK").is_ok_and(|v| v == "1");

    let header = find_header(include_dir.as_deref());
    match header {
        Some(header) if !forced_fallback => {
            println!("cargo:rerun-if-changed={}", header.display());
            generate(include_dir.as_deref(), &out.join("bindings.rs"));
            println!("cargo:rustc-cfg=slurm_sys_generated");
        }
        _ => {
            let why = if forced_fallback {
                "SLURM_SYS_USE_FALLBACK=1 is set".to_string()
            } else {
                match &include_dir {
                    Some(dir) => format!("{}/slurm/spank.h does not exist", dir.display()),
                    None => {
                        "no <slurm/spank.h> in the default include path (install libslurm-dev, \
                             or set SLURM_INCLUDE_DIR)"
                            .to_string()
                    }
                }
            };
            println!(
                "cargo:warning=slurm-sys: using the committed Slurm 22.05 bindings because {why}; \
                 the plugin will only load into Slurm 22.05.x"
            );
            std::fs::copy(FALLBACK, out.join("bindings.rs")).expect("copy the fallback bindings");
        }
    }
    println!("cargo:rustc-check-cfg=cfg(slurm_sys_generated)");
}

/// The `spank.h` the build will use, if there is one.
fn find_header(include_dir: Option<&Path>) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match include_dir {
        Some(dir) => vec![dir.join("slurm/spank.h")],
        None => vec![
            PathBuf::from("/usr/include/slurm/spank.h"),
            PathBuf::from("/usr/local/include/slurm/spank.h"),
        ],
    };
    candidates.into_iter().find(|p| p.is_file())
}

fn generate(include_dir: Option<&Path>, dest: &Path) {
    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        // Only the SPANK API and the few logging functions a plugin may call. Everything else in
        // slurm.h is libslurm's, which a plugin must not use.
        .allowlist_function("spank_.*")
        .allowlist_function("slurm_(info|error|verbose|debug|debug2|debug3|spank_log)")
        .allowlist_type("spank_.*")
        .allowlist_var("ESPANK_.*")
        .allowlist_var("SPANK_.*")
        .allowlist_var("SLURM_VERSION_NUMBER")
        .allowlist_var("S_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    if let Some(dir) = include_dir {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!(
            "slurm-sys: bindgen could not parse <slurm/spank.h>: {e}. bindgen needs libclang \
             (Debian: apt-get install libclang-dev). To build against the committed Slurm 22.05 \
             bindings instead, set SLURM_SYS_USE_FALLBACK=1."
        )
    });
    bindings
        .write_to_file(dest)
        .expect("write bindings.rs to OUT_DIR");
}
