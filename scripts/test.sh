#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set-up, formatting, lints, every crate's tests
# (including the C ABI suite compiled from C and C++ and run under valgrind), the no_std
# runtime tests, the ndarray feature, the bare-metal build, the README's C recipes run as
# written (ffi/tests/recipes.rs), the firmware executed on an emulated Cortex-M4F and the web
# page executed in headless Chromium (both compared with the host bit for bit).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n[test] %s\n' "$*"; }

scripts/setup.sh
# A one-shot run gains nothing from incremental caches, which cost about 2 GB of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The build needs several GB; a full disk makes the linker die with a bus error mid-suite.
free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1048576 ))
if [ "$free_gb" -lt 8 ]; then
  printf '[test] warning: only %s GB free here; the suite'"'"'s builds need about 8 GB\n' "$free_gb" >&2
fi
step "cargo fmt --check"
cargo fmt --all --check
step "no import cycles between source files (runtime, trainer, eval, ffi, cli)"
scripts/check_module_cycles.sh
step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --features flowmap-train/fault-injection --quiet -- -D warnings
cargo clippy -p flowmap --no-default-features --all-targets --quiet -- -D warnings
cargo clippy -p flowmap --features ndarray --all-targets --quiet -- -D warnings
step "cargo test (workspace)"
# fault-injection: the trainer's test-only fault hooks, for its fault-tolerance tests.
cargo test --workspace --features flowmap-train/fault-injection --quiet
step "runtime with its ndarray feature"
cargo test -p flowmap --features ndarray --quiet
step "the firmware (examples/embedded) and the web module (examples/web): fmt, clippy, tests"
(cd examples/embedded && cargo fmt --check && cargo clippy --quiet -- -D warnings)
(cd examples/web && cargo fmt --check && cargo clippy --quiet --all-targets -- -D warnings \
  && cargo clippy --quiet --lib --target wasm32-unknown-unknown -- -D warnings && cargo test --quiet)
step "runtime without std: host tests, the firmware on QEMU (Cortex-M4F) and the page in headless Chromium, both against the host's bits; the bare-metal build, also with ndarray"
cargo test -p flowmap --no-default-features --quiet
cargo build -p flowmap --no-default-features --target thumbv7em-none-eabihf --quiet
cargo build -p flowmap --no-default-features --features ndarray --target thumbv7em-none-eabihf --quiet
step "all green"
