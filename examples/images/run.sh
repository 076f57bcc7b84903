#!/usr/bin/env bash
# One command from a fresh clone: train a CPU-sized U-Net flow map on Fashion-MNIST (LSD),
# export it, and write one- and two-step sprite sheets through the C library (libflowmap.so,
# examples/c/flowmap_sprites.c), plus a PNG grid (data row, then 1, 2 and 4 steps).
#
#   examples/images/run.sh                     # ≈ 15 min on one core (1500 LSD steps, `small` U-Net)
#   STEPS=6000 examples/images/run.sh          # longer training, sharper sprites
#   DATA=path/to/sprites/ examples/images/run.sh   # your own PNG folder (one size, 1–4 channels)
#
# Outputs in $OUT (default out/images-example): model.safetensors, sprites-1step.ppm,
# sprites-2step.ppm, grid.png, loss.png, train.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/images-example}
STEPS=${STEPS:-1500}
PRESET=${PRESET:-small}
THREADS=${THREADS:-1}
DATA=${DATA:-.deps/fashion-mnist/train-images-idx3-ubyte.gz}
# Scored against Fashion-MNIST's test split when training on its train split; otherwise the
# reference is half of DATA.
REFERENCE=${REFERENCE:-}
if [ -z "$REFERENCE" ] && [ "$DATA" = .deps/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  REFERENCE=.deps/fashion-mnist/t10k-images-idx3-ubyte.gz
fi

scripts/setup.sh
echo "[images] building the trainer, the flowmap binary and the C library (release)"
cargo build --release --quiet -p flowmap-train -p flowmap-ffi
make --quiet examples NO_BUILD=1 >/dev/null

echo "[images] training LSD on $DATA: U-Net preset $PRESET, $STEPS steps, $THREADS thread(s)"
./target/release/flowmap-train train --arch unet --unet-preset "$PRESET" --method lsd \
  --data "$DATA" --steps "$STEPS" --threads "$THREADS" --out "$OUT" 2>&1 | tee "$OUT.train.log"
mv "$OUT.train.log" "$OUT/train.log"

echo "[images] one- and two-step sprite sheets through libflowmap.so"
for k in 1 2; do
  ./target/release/c-examples/flowmap_sprites "$OUT/model.safetensors" --n 64 --cols 8 \
    --steps "$k" --seed 7 --out "$OUT/sprites-${k}step.ppm"
done

echo "[images] PNG grid (first row data, then 1, 2, 4 steps)"
./target/release/flowmap-train eval --model "$OUT/model.safetensors" --data "$DATA" \
  ${REFERENCE:+--reference "$REFERENCE"} --steps 1,2,4 --n 2000 --no-ode --plot "$OUT/grid.png"

echo "[images] done: $OUT/sprites-1step.ppm, $OUT/sprites-2step.ppm, $OUT/grid.png"
