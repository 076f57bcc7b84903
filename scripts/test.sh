#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set-up, formatting, lints, every crate's tests
# (including the C ABI suite compiled from C and C++ and run under valgrind), the no_std
# runtime tests and the bare-metal build.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n[test] %s\n' "$*"; }

scripts/setup.sh
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p flowmap --no-default-features --all-targets --quiet -- -D warnings
step "no import cycles between the files of a crate"
scripts/check_module_cycles.sh runtime ffi
step "cargo test (workspace)"
cargo test --workspace --quiet
step "runtime without std (host tests, then the bare-metal build)"
cargo test -p flowmap --no-default-features --quiet
cargo build -p flowmap --no-default-features --target thumbv7em-none-eabihf --quiet
step "all green"
