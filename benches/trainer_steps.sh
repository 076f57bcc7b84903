#!/usr/bin/env sh
# Trainer throughput: optimiser steps per second for FM, LSD, ESD and PSD at batch 4096 on
# CPU with the paper's 2-D net (2→5×512→2), single thread. Slow (LSD ≈ 2 steps/s), so a
# few steps each; the first step (graph warm-up) is included, so treat it as a lower bound.
#   sh benches/trainer_steps.sh [STEPS] [THREADS]
set -eu
STEPS=${1:-6}
THREADS=${2:-1}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-perf}
cargo build --release -q -p flowmap-train
T="$CARGO_TARGET_DIR/release/flowmap-train"
OUT=$(mktemp -d)
printf '| method | steps | seconds | steps/s |\n|---|---:|---:|---:|\n'
for m in fm lsd esd psd-uniform psd-midpoint; do
    start=$(date +%s.%N)
    "$T" train --data checkerboard --method "$m" --batch 4096 --hidden 512x5 \
        --steps "$STEPS" --teacher-steps 0 --threads "$THREADS" --eval-samples 0 --quiet --device cpu \
        --out "$OUT/$m" > /dev/null
    end=$(date +%s.%N)
    awk -v m="$m" -v n="$STEPS" -v a="$start" -v b="$end" \
        'BEGIN { printf "| %s | %d | %.1f | %.2f |\n", m, n, b - a, n / (b - a) }'
done
rm -rf "$OUT"
