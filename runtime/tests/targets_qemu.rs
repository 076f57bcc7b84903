//! The runtime executed on a Cortex-M4F: builds the bare-metal firmware in
//! examples/embedded (thumbv7em-none-eabihf), boots it on QEMU's Netduino Plus 2
//! (STM32F405), and checks that its one- and two-step samples of the bundled model equal
//! the host's bit for bit.
//!
//! Bit-identical is the right expectation, not a tolerance: this file is compiled only
//! without the `std` feature (`cargo test -p flowmap --no-default-features`, part of
//! scripts/test.sh), where the host runs the portable kernel — the same IEEE single-precision
//! operations in the same order as the Cortex-M4F's FPU (separate multiply and add; Rust never
//! contracts them), and the same software `libm` for the noise and the activations. (With
//! `std` on an FMA-capable x86-64 the host would use the fused kernels, which differ by
//! rounding; see runtime/src/kernels/mod.rs.)
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` Rust target (scripts/setup.sh
//! installs both); without them it says so and skips, except under `CI=true`, where it fails.
#![cfg(not(feature = "std"))]

mod targets;

use std::time::Duration;

use targets::*;

const QEMU: &str = "qemu-system-arm";
const TARGET: &str = "thumbv7em-none-eabihf";

#[test]
fn firmware_on_cortex_m4f_matches_host_bits() {
    let name = "firmware_on_cortex_m4f_matches_host_bits";
    if !require(name, missing_program(QEMU, "--version"))
        || !require(name, missing_rust_target(TARGET))
    {
        return;
    }
    let dir = repo().join("examples/embedded");
    run_ok(
        "building the firmware (examples/embedded)",
        nested_cargo(&dir).args(["build", "--release"]),
        Duration::from_secs(900),
    );
    let elf = dir
        .join("target")
        .join(TARGET)
        .join("release/flowmap-firmware");
    // The same machine and options as the crate's `cargo run` runner.
    let (ok, out) = run_limited(
        std::process::Command::new(QEMU)
            .args([
                "-machine",
                "netduinoplus2",
                "-nographic",
                "-monitor",
                "none",
                "-serial",
                "none",
                "-semihosting-config",
                "enable=on,target=native",
                "-kernel",
            ])
            .arg(&elf),
        Duration::from_secs(60),
    );
    assert!(ok, "the firmware failed under QEMU:\n{out}");
    assert!(
        out.lines().any(|l| l.trim() == "done"),
        "no `done` in:\n{out}"
    );

    for steps in [1, 2] {
        let (dim, want) = host_bits(steps);
        let got = parse_samples(&out, steps, dim);
        assert_same_bits("Cortex-M4F (QEMU)", steps, dim, &got, &want);
    }
    // The firmware meters its heap: sampling itself must not allocate.
    let heap = out
        .lines()
        .find(|l| l.starts_with("heap "))
        .unwrap_or_else(|| panic!("no heap line in:\n{out}"));
    assert!(
        heap.contains(" sampling_allocations=0"),
        "sampling allocated on the device: {heap}"
    );
    say(&format!(
        "firmware on QEMU netduinoplus2: samples bit-identical to the host's portable kernel; {heap}"
    ));
}
