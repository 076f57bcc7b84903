#!/usr/bin/env bash
# The main job, end to end on a fresh machine:
#   set up libtorch → train a flow map with LSD on the built-in checkerboard → export it →
#   print energy distance (and more) for 1, 2 and 4 steps next to the noise floor → write plots →
#   generate one- and two-step samples through the C library (libflowmap.so + examples/c).
# Everything lands in $OUT (default out/demo). Trains with the CLI's defaults (4000 LSD steps,
# cosine schedule from lr 1.5e-2, Fourier features of the state, minibatch-OT pairing, grid-started
# rows; under two minutes on an idle 2-core machine after the first build: 103 s in session 10);
# STEPS=12000 draws a sharper checkerboard.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/demo}
STEPS=${STEPS:-}

scripts/setup.sh
echo "[demo] building the trainer and the C library (release; the first build takes a few minutes)"
cargo build --release --quiet -p flowmap-train -p flowmap-ffi

echo "[demo] training LSD on the checkerboard with the default settings${STEPS:+ for $STEPS steps}"
./target/release/flowmap-train train --data checkerboard --method lsd ${STEPS:+--steps "$STEPS"} \
  --out "$OUT" --eval-samples 20000

echo "[demo] sampling the exported model through the C library"
make --quiet examples NO_BUILD=1 >/dev/null
./target/release/c-examples/flowmap_sample "$OUT/model.safetensors" --n 20000 --steps 1,2 --seed 7 --out "$OUT/c"

echo "[demo] done. Look at $OUT/samples.png (data vs 1/2/4 steps), $OUT/loss.png and $OUT/c/"
