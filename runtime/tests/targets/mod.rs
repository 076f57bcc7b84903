//! Shared by the cross-target tests (`targets_qemu.rs`, `targets_browser.rs`): where things
//! are, the host's reference samples, running tools with a time limit, and the rule for
//! missing tools (skip with a clear message on a developer machine, fail in CI).

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowmap::{Grid, Model};

/// The model both targets embed or bundle (a real checkerboard model from flowmap-train).
pub const MODEL: &str = "examples/models/checkerboard.safetensors";
/// Seed and batch the firmware and the page's self-test use.
pub const SEED: u64 = 42;
pub const BATCH: usize = 8;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// The host's samples of the bundled model for `steps` steps, as f32 bits, row-major
/// (`BATCH` rows × dim).
pub fn host_bits(steps: usize) -> (usize, Vec<u32>) {
    host_bits_of(&repo().join(MODEL), steps)
}

/// [`host_bits`] for the model file at `path`.
pub fn host_bits_of(path: &Path, steps: usize) -> (usize, Vec<u32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model = Model::from_bytes(&bytes).expect("load the model");
    let mut ws = model.workspace(BATCH);
    let mut out = vec![0.0f32; BATCH * model.dim()];
    model
        .sample_seeded(&mut ws, SEED, Grid::Uniform(steps), &mut out)
        .expect("sample on the host");
    (model.dim(), out.iter().map(|v| v.to_bits()).collect())
}

/// Writes straight to stderr: the test harness captures `eprintln!`, and a skip must be
/// visible even in `cargo test --quiet`.
pub fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether this run is CI (`CI=true`, as GitHub Actions and most CI systems set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` when `missing` is `None`; otherwise skips loudly (`false`), or fails in CI, where every
/// target must really be exercised.
pub fn require(test: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else { return true };
    let msg = format!("{test}: {why}; scripts/setup.sh installs it");
    if in_ci() {
        panic!("{msg} (CI=true: this check may not be skipped)");
    }
    say(&format!("\nSKIPPED {msg}"));
    false
}

/// Why `program` cannot be run (`None` when it answers `arg`, e.g. `--version`).
pub fn missing_program(program: &str, arg: &str) -> Option<String> {
    match Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => None,
        Err(e) => Some(format!("`{program}` is not available ({e})")),
    }
}

/// Why the Rust standard library for `target` is missing (`None` when installed).
pub fn missing_rust_target(target: &str) -> Option<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = Path::new(&sysroot).join("lib/rustlib").join(target);
    if dir.is_dir() {
        None
    } else {
        Some(format!(
            "Rust target {target} is not installed (rustup target add {target})"
        ))
    }
}

/// A cargo command for a crate outside the workspace: run from `dir` (so its
/// `.cargo/config.toml` applies), with its own target dir, and without the outer build's
/// flags (RUSTFLAGS would replace the crate's linker flags).
pub fn nested_cargo(dir: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(dir);
    for v in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    c.arg("--quiet").env("CARGO_TARGET_DIR", dir.join("target"));
    c
}

/// Runs `cmd` to completion; panics with its output if it fails.
pub fn run_ok(what: &str, cmd: &mut Command, limit: Duration) -> String {
    let (ok, out) = run_limited(cmd, limit);
    assert!(ok, "{what} failed:\n{out}");
    out
}

/// Runs `cmd` with stdout and stderr captured, killing it after `limit`. Returns whether
/// it exited with status 0 in time, and its stdout followed by its stderr.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = t_out.join().unwrap_or_default();
    let err = t_err.join().unwrap_or_default();
    let text = format!("{out}{err}");
    match status {
        Some(st) => (st.success(), text),
        None => (
            false,
            format!(
                "{text}\n(killed after the {} s limit: {cmd:?})",
                limit.as_secs()
            ),
        ),
    }
}

/// Parses `sample steps=<s> row=<r> <hex> <hex> ...` lines into bits per step count
/// (rows in order), checking the row numbering.
pub fn parse_samples(text: &str, steps: usize, dim: usize) -> Vec<u32> {
    let prefix = format!("sample steps={steps} row=");
    let mut bits = Vec::new();
    for (i, line) in text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        .enumerate()
    {
        let mut it = line.split_whitespace();
        let row: usize = it.next().and_then(|r| r.parse().ok()).expect("row number");
        assert_eq!(row, i, "rows out of order in:\n{text}");
        let vals: Vec<u32> = it
            .map(|h| u32::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex {h:?}")))
            .collect();
        assert_eq!(
            vals.len(),
            dim,
            "row {row} has {} values, want {dim}",
            vals.len()
        );
        bits.extend(vals);
    }
    bits
}

/// Asserts `got` equals `want` bit for bit, naming the first difference.
pub fn assert_same_bits(target: &str, steps: usize, dim: usize, got: &[u32], want: &[u32]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{target}: {} values for {steps} step(s), the host has {}",
        got.len(),
        want.len()
    );
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "{target} differs from the host's portable kernel at {steps} step(s), row {}, \
             coordinate {}: {} ({:08x}) vs host {} ({:08x})",
            i / dim,
            i % dim,
            f32::from_bits(got[i]),
            got[i],
            f32::from_bits(want[i]),
            want[i]
        );
    }
}
