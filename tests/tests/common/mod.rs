//! Shared by the system tests: the workspace's binaries and C library, built once per test
//! binary with the cargo, profile and target directory that built the test, and small helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command, panicking with its output if it cannot start or fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory under the target's tmp dir.
pub fn tempdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("flowmap-system-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `<target>/<profile>`, where the binaries and libflowmap.so are, after building them once:
/// `cargo test` builds no other package's binaries, so build flowmap-train, flowmap and
/// libflowmap with the same profile and target directory as this test binary.
pub fn profile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "test".to_string(),
            other => other.to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--profile",
            &profile,
            "-p",
            "flowmap-train",
            "--bin",
            "flowmap-train",
            "-p",
            "flowmap-cli",
            "--bin",
            "flowmap",
            "-p",
            "flowmap-ffi",
            "--lib",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(repo_root());
        let under = profile_dir.parent().unwrap();
        if under != target_dir {
            cmd.arg("--target").arg(under.file_name().unwrap());
        }
        run_ok(&mut cmd);
        for f in ["flowmap-train", "flowmap", "libflowmap.so"] {
            assert!(
                profile_dir.join(f).exists(),
                "{f} missing after cargo build"
            );
        }
        profile_dir
    })
}

/// A workspace binary (`flowmap-train` or `flowmap`), one libtorch thread.
pub fn bin(name: &str) -> Command {
    let mut c = Command::new(profile_dir().join(name));
    c.env("OMP_NUM_THREADS", "1");
    c
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Flags that make `flowmap-train train` tiny.
pub const TINY: &[&str] = &[
    "--batch",
    "64",
    "--hidden",
    "16x2",
    "--data-points",
    "500",
    "--threads",
    "1",
    "--quiet",
    "--eval-samples",
    "0",
];
