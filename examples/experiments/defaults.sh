#!/usr/bin/env bash
# The "defaults" table of docs/results.md: `flowmap-train train` with every setting at its
# default (only --data and --seed given) on every built-in 2-D set, scored at N = 1, 2, 4 on
# 20 000 samples against a fresh reference, with the noise floor and the base noise.
#
#   examples/experiments/defaults.sh                 # all sets, seed 1 -> docs/results/defaults.md
#   SEEDS=1,2,3 SETS=checkerboard,mixed examples/experiments/defaults.sh
#
# Wall time is measured on whatever else the machine runs: state the load beside it. One
# libtorch thread by default (THREADS=0 for all cores: only on an otherwise idle machine, as
# libtorch's OpenMP threads slow down many times when they share cores with other work).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/defaults}
SEEDS=${SEEDS:-1}
TARGET=${CARGO_TARGET_DIR:-target}
ALL=$(cargo run --quiet --release -p flowmap-train -- datasets 2>/dev/null | awk '/^  [a-z]/ {print $1}' | paste -sd, -)
SETS=${SETS:-$ALL}
cargo build --release --quiet -p flowmap-train
mkdir -p docs/results
python3 examples/experiments/ablate.py --bin "$TARGET/release/flowmap-train" --out "$OUT" \
  --sets "$SETS" --seeds "$SEEDS" --threads "${THREADS:-1}" --base "" --variant defaults= --eval-steps 1,2,4
cp "$OUT/table.md" docs/results/defaults.md
echo "[defaults] wrote docs/results/defaults.md ($(lscpu | grep 'Model name' | sed 's/.*: *//'), load $(cut -d' ' -f1-3 /proc/loadavg))"
