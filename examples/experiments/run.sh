#!/usr/bin/env bash
# The reproducible experiment behind docs/results.md.
#
#   examples/experiments/run.sh              # everything (≈ see docs/results.md for timings)
#   DATASETS="checkerboard" METHODS="lsd psd-midpoint" examples/experiments/run.sh   # a subset
#
# Trains FM, LSD, ESD, PSD-M and PSD-U with ONE fixed budget per dataset (single-threaded
# libtorch, --threads 1), evaluates each exported model at N = 1, 2, 4, 8, 16 flow-map steps
# (plus the Euler/Heun ODE baseline on the model's own diagonal velocity for LSD and FM), and
# writes per-run JSON, logs and plots under $OUT, copies the plots to docs/results/, and writes
# the tables to $OUT/tables.md (pasted into docs/results.md).
# Datasets: built-in 2-D sets, and scikit-learn's 8x8 digits (64-dim), fetched from the PyPI
# wheel by digits.py into out/data/digits.npy (not committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/experiments}
DOCS=${DOCS:-docs/results}
STEPS=${STEPS:-800}           # optimiser steps (2-D sets)
BATCH=${BATCH:-1024}
HIDDEN=${HIDDEN:-256x3}
DIGITS_STEPS=${DIGITS_STEPS:-800}
DIGITS_HIDDEN=${DIGITS_HIDDEN:-512x3}
DIGITS_BATCH=${DIGITS_BATCH:-512}
EVAL_N=${EVAL_N:-10000}
METHODS=${METHODS:-"fm lsd esd psd-midpoint psd-uniform"}
DATASETS=${DATASETS:-"checkerboard eight-gaussians spirals digits"}
ODE_METHODS=${ODE_METHODS:-"lsd"}
TARGET=${CARGO_TARGET_DIR:-target}
T=$TARGET/release/flowmap-train

cargo build --release --quiet -p flowmap-train
mkdir -p "$OUT" "$DOCS"

for data in $DATASETS; do
  src=$data steps=$STEPS hidden=$HIDDEN batch=$BATCH
  if [ "$data" = digits ]; then
    src=out/data/digits.npy steps=$DIGITS_STEPS hidden=$DIGITS_HIDDEN batch=$DIGITS_BATCH
    [ -f "$src" ] || python3 examples/experiments/digits.py "$src"
  fi
  for m in $METHODS; do
    dir=$OUT/$data/$m
    mkdir -p "$dir"
    if [ ! -f "$dir/model.safetensors" ] || [ -n "${RETRAIN:-}" ]; then
      echo "[experiments] train $m on $data: $steps steps, batch $batch, hidden $hidden"
      # --eval-samples 0: quality is measured below, by `eval`, the same way for every run.
      "$T" train --data "$src" --method "$m" --steps "$steps" --batch "$batch" \
        --hidden "$hidden" --threads 1 --export-weights raw --eval-samples 0 --quiet \
        --out "$dir" 2> "$dir/train.log"
      grep "steps in" "$dir/train.log"
    fi
    ode="--no-ode"
    case " $ODE_METHODS " in *" $m "*) ode="--ode-nfe 1,2,4,8,16,32,64" ;; esac
    echo "[experiments] eval $m on $data"
    "$T" eval --model "$dir/model.safetensors" --data "$src" --steps 1,2,4,8,16 \
      --n "$EVAL_N" $ode --plot "$DOCS/$data-$m.png" --json > "$dir/eval.json"
  done
done
python3 examples/experiments/tables.py "$OUT" > "$OUT/tables.md"
echo "[experiments] tables in $OUT/tables.md, plots in $DOCS/"
