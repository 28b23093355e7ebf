//! What the CLI's integration tests share: running the built `energy-assess`, and a scratch
//! directory per test.
#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_energy-assess");

/// A fresh directory `ea-<group>-<tag>-<pid>` under the system's temporary directory.
pub fn tmp(group: &str, tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ea-{group}-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `energy-assess args`, in UTC.
pub fn ea(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

/// Its standard output; the command must succeed.
pub fn ok(args: &[&str]) -> String {
    let o = ea(args);
    assert!(
        o.status.success(),
        "energy-assess {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}
