//! Generates the libmunge bindings from the installed `<munge.h>` and links libmunge.
//!
//! Where the header lives, in order:
//! 1. `MUNGE_INCLUDE_DIR` (the directory that holds `munge.h`), for a MUNGE installed under a
//!    prefix such as `/opt/munge/include`;
//! 2. `/usr/include/munge.h` or `/usr/local/include/munge.h` (Debian's `libmunge-dev`).
//!
//! With no header, or when bindgen cannot run (no libclang), the committed fallback
//! `bindings/munge_0_5.rs` (generated from MUNGE 0.5.15 by `regen-fallback.sh`) is used and
//! the build says so with a warning. libmunge's API and error numbers have been stable since
//! 0.5 (2008), so the fallback is safe on any 0.5.x. `MUNGE_SYS_USE_FALLBACK=1` forces it.
//!
//! Linking: `-lmunge` where the development symlink `libmunge.so` exists; otherwise, on a host
//! with only the runtime library (Debian's `libmunge2`), the versioned `libmunge.so.2` by its
//! exact name, so that the collector and the forwarder build where only munge is installed.
//! The output always goes to `OUT_DIR`; nothing is written into `src/`.

use std::env;
use std::path::{Path, PathBuf};

const FALLBACK: &str = "bindings/munge_0_5.rs";
const LIB_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
];

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed={FALLBACK}");
    println!("cargo:rerun-if-env-changed=MUNGE_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=MUNGE_LIB_DIR");
    println!("cargo:rerun-if-env-changed=MUNGE_SYS_USE_FALLBACK");
    println!("cargo:rustc-check-cfg=cfg(munge_sys_generated)");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let include_dir = env::var_os("MUNGE_INCLUDE_DIR").map(PathBuf::from);
    let forced = env::var("MUNGE_SYS_USE_FALLBACK").is_ok_and(|v| v == "1");

    let why_fallback = match find_header(include_dir.as_deref()) {
        _ if forced => Some("MUNGE_SYS_USE_FALLBACK=1 is set".to_string()),
        None => Some(
            "no <munge.h> was found (install libmunge-dev, or set MUNGE_INCLUDE_DIR)".to_string(),
        ),
        Some(header) => {
            println!("cargo:rerun-if-changed={}", header.display());
            match generate(include_dir.as_deref(), &out.join("bindings.rs")) {
                Ok(()) => {
                    println!("cargo:rustc-cfg=munge_sys_generated");
                    None
                }
                Err(e) => Some(format!(
                    "bindgen could not parse <munge.h> ({e}; it needs libclang: apt-get install \
                     libclang-dev)"
                )),
            }
        }
    };
    if let Some(why) = why_fallback {
        println!("cargo:warning=munge-sys: using the committed MUNGE 0.5 bindings because {why}");
        std::fs::copy(FALLBACK, out.join("bindings.rs")).expect("copy the fallback bindings");
    }
    link();
}

/// The `munge.h` the build will use, if there is one.
fn find_header(include_dir: Option<&Path>) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match include_dir {
        Some(dir) => vec![dir.join("munge.h")],
        None => vec![
            PathBuf::from("/usr/include/munge.h"),
            PathBuf::from("/usr/local/include/munge.h"),
        ],
    };
    candidates.into_iter().find(|p| p.is_file())
}

fn generate(include_dir: Option<&Path>, dest: &Path) -> Result<(), String> {
    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .allowlist_function("munge_.*")
        .allowlist_type("munge_.*")
        .allowlist_var("EMUNGE_.*")
        .allowlist_var("MUNGE_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    if let Some(dir) = include_dir {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    // bindgen panics, rather than failing, when libclang cannot be loaded.
    let generated =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()))
            .map_err(|_| "bindgen panicked".to_string())?
            .map_err(|e| e.to_string())?;
    generated.write_to_file(dest).map_err(|e| e.to_string())
}

/// Links libmunge: by `-lmunge` where the development symlink is there, else the runtime
/// library by its versioned name.
fn link() {
    let dirs: Vec<PathBuf> = match env::var_os("MUNGE_LIB_DIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => LIB_DIRS.iter().map(PathBuf::from).collect(),
    };
    for dir in &dirs {
        if dir.join("libmunge.so").exists() {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=dylib=munge");
            return;
        }
    }
    for dir in &dirs {
        if dir.join("libmunge.so.2").exists() {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=dylib:+verbatim=libmunge.so.2");
            return;
        }
    }
    // Let the linker say what is missing, with a hint first.
    println!(
        "cargo:warning=munge-sys: no libmunge.so found in {dirs:?}; install munge (Debian: \
         libmunge2 or libmunge-dev) or set MUNGE_LIB_DIR"
    );
    println!("cargo:rustc-link-lib=dylib=munge");
}
