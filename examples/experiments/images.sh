#!/usr/bin/env bash
# The images experiment behind docs/results.md §6: LSD vs PSD-M vs FM U-Nets on Fashion-MNIST
# at one equal CPU budget, then FD (classifier features), pixel-space energy distance and
# sliced W2, class coverage and image grids at N = 1, 2, 4, 8, with the ODE baseline on the
# flow-matching model's velocity (on ODE_N samples).
#
#   examples/experiments/images.sh             # train (finished runs are reused), evaluate
#   PHASE=train examples/experiments/images.sh # only train
#   PHASE=eval  examples/experiments/images.sh # only evaluate the finished runs
#   BUDGET_MIN=45 JOBS=1 examples/experiments/images.sh   # the issue's longest budget, one at a time
#   SEED=2 OUT=out/images-seed2 ODE_METHODS= DOCS=out/images-seed2/docs \
#     examples/experiments/images.sh                       # the same runs with another seed
#   SEED_DIRS=out/images-seed2 PHASE=report examples/experiments/images.sh   # both seeds reported
#
# Every training is single-threaded (--threads 1); JOBS of them run side by side (3 by default,
# so on 2 cores each gets about two thirds of one). The step counts give each method the same
# budget: BUDGET_MIN minutes at the speed each method runs alone on one core of this machine
# class (measured on the `small` preset at batch 64: LSD 1.9, PSD-M 3.1, FM 3.6 steps/s; LSD's
# time-JVP costs the most per step). The counts are fixed (not a timer) so a rerun reproduces
# the same weights; each run's wall and CPU time are in the report.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/images}
PHASE=${PHASE:-all}
PRESET=${PRESET:-small}
BATCH=${BATCH:-64}
BUDGET_MIN=${BUDGET_MIN:-8}
N=${N:-10000}
STEPS_LIST=${STEPS_LIST:-1,2,4,8}
ODE_NFE=${ODE_NFE:-2,4,8}
ODE_N=${ODE_N:-2000}
DATA=${DATA:-.deps/fashion-mnist/train-images-idx3-ubyte.gz}
REFERENCE=${REFERENCE:-.deps/fashion-mnist/t10k-images-idx3-ubyte.gz}
TARGET=${CARGO_TARGET_DIR:-target}
T=$TARGET/release/flowmap-train

# Steps per second per method on one core (see above); steps = budget × rate.
declare -A RATE=([lsd]=1.9 [psd-midpoint]=3.1 [fm]=3.6)
METHODS=${METHODS:-"lsd psd-midpoint fm"}
# The ODE baseline (Euler/Heun on the diagonal velocity b_t = v_{t,t}) runs on these models.
ODE_METHODS=${ODE_METHODS:-"fm"}
JOBS=${JOBS:-3}
LR=${LR:-}
SEED=${SEED:-42}

[ -f "$DATA" ] || scripts/setup.sh
cargo build --release --quiet -p flowmap-train
mkdir -p "$OUT"

steps_for() { python3 -c "print(int($BUDGET_MIN * 60 * ${RATE[$1]}))"; }

train_one() {
  local m=$1 dir=$OUT/$1 steps
  steps=$(steps_for "$m")
  if [ -f "$dir/model.safetensors" ] && grep -q "^steps = $steps\$" "$dir/config.toml" 2>/dev/null \
    && grep -q "^seed = $SEED\$" "$dir/config.toml"; then
    echo "[images] $m: finished run in $dir reused"
    return
  fi
  echo "[images] $m: $steps steps (budget $BUDGET_MIN min at ${RATE[$m]} steps/s), preset $PRESET, batch $BATCH"
  rm -rf "$dir"
  /usr/bin/time -f "%e s wall, %U s user CPU" -o "$OUT/$m.time" "$T" train --arch unet \
    --unet-preset "$PRESET" --method "$m" --data "$DATA" --batch "$BATCH" --steps "$steps" \
    ${LR:+--lr "$LR"} --seed "$SEED" --threads 1 --checkpoint-every 1000 --quiet --out "$dir" > "$OUT/$m.train.log" 2>&1
  echo "[images] $m: done ($(cat "$OUT/$m.time"))"
}

eval_one() {
  local m=$1
  echo "[images] $m: evaluating at N = $STEPS_LIST on $N samples against the test split"
  "$T" eval --model "$OUT/$m/model.safetensors" --data "$DATA" --reference "$REFERENCE" \
    --steps "$STEPS_LIST" --n "$N" --no-ode --json > "$OUT/$m/eval.json"
  "$T" eval --model "$OUT/$m/model.safetensors" --data "$DATA" --reference "$REFERENCE" \
    --steps "$STEPS_LIST" --n 64 --no-ode --plot "$OUT/$m/grid.png" > /dev/null
}

# The ODE baseline costs ODE_NFE evaluations per sample for each of Euler and Heun; ODE_N
# can make its sample smaller (its table then has its own floor row at that size: FD grows as
# n falls).
ode_one() {
  local m=$1
  echo "[images] $m: ODE baseline (Euler/Heun at NFE $ODE_NFE) on $ODE_N samples"
  "$T" eval --model "$OUT/$m/model.safetensors" --data "$DATA" --reference "$REFERENCE" \
    --steps 1,2 --n "$ODE_N" --ode-nfe "$ODE_NFE" --json > "$OUT/$m/eval-ode.json"
}

source examples/experiments/jobs.sh

if [ "$PHASE" = all ] || [ "$PHASE" = train ]; then
  for m in $METHODS; do spawn train_one "$m"; done
  wait_all "$OUT/*.train.log"
fi
if [ "$PHASE" = all ] || [ "$PHASE" = eval ]; then
  for m in $METHODS; do spawn eval_one "$m"; done
  for m in $ODE_METHODS; do spawn ode_one "$m"; done
  wait_all "$OUT/*.train.log"
fi
if [ "$PHASE" = all ] || [ "$PHASE" = eval ] || [ "$PHASE" = report ]; then
  # SEED_DIRS: finished runs of other seeds (e.g. out/images-seed2), reported beside these.
  python3 examples/experiments/images_report.py "$OUT" "${DOCS:-docs/results}" ${SEED_DIRS:-}
fi
