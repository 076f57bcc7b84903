#!/bin/bash
# Our CLI defaults against the paper's official JAX code at equal wall time, on the checkerboard
# (the defaults issue's side-by-side; docs/results.md §5).
#
#   JAXSIDE=/path/to/harness bash examples/experiments/vs_official.sh OUT
#
# JAXSIDE is the official-code harness of ../shared/anchors/official-jax (its README: a venv with
# jax, flax, optax, ml_collections, numpy, and the official `py/` tree in $JAXSIDE/official).
# Per seed: `flowmap-train train --data checkerboard` with every default, timed (W seconds, the
# whole command); then the official code (its checker config, LSD, at each batch in JAX_BATCHES)
# measures its steady speed in a short probe and trains round(W x speed) steps, so its training
# loop gets W seconds too (its JIT compile is not counted against it). Both draw 20 000 samples
# at N = 1, 2 (ours `flowmap-train sample`, theirs the official sampler, raw and EMA-0.999
# weights), scored by the anchor's metrics2d.py against 20 000 official-sampler points; the floor
# is that truth against a second truth set, the base-noise row a Gaussian with the truth's mean and
# spread. Env: THREADS (1), SEEDS ("1 2"),
# JAX_BATCHES ("4096 1024"), ANCHOR (../shared/anchors/official-jax), FLOWMAP_TRAIN.
set -euo pipefail
: "${JAXSIDE:?set JAXSIDE to the official-code harness (see README.md of the anchor)}"
OUT=${1:?usage: vs_official.sh OUT}
T=${THREADS:-1}; SEEDS=${SEEDS:-1 2}; BATCHES=${JAX_BATCHES:-4096 1024}
ANCHOR=${ANCHOR:-../shared/anchors/official-jax}
B=${FLOWMAP_TRAIN:-target/release/flowmap-train}
PY=$JAXSIDE/venv/bin/python; DRV=$ANCHOR/jax_driver.py; M=$ANCHOR/metrics2d.py
if [ "$T" = 1 ]; then CPUS=1; XF="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
else CPUS=0-$((T - 1)); XF=""; fi
mkdir -p "$OUT/samples"

# Truth sets from the official sampler (its global numpy RNG, seeded here).
"$PY" - "$JAXSIDE/official/py" "$OUT/samples" <<'EOF'
import sys, types, numpy as np
tf = types.ModuleType("tensorflow"); tf.data = types.SimpleNamespace(Dataset=object, AUTOTUNE=-1)
tf.Tensor = object; sys.modules["tensorflow"] = tf
sys.modules["tensorflow_datasets"] = types.ModuleType("tensorflow_datasets")
sys.path.insert(0, sys.argv[1])
import common.datasets as ds
for name, seed in (("truth", 1001), ("truth2", 2002)):
    np.random.seed(seed)
    np.save(f"{sys.argv[2]}/{name}.npy", ds.sample_checkerboard(20000, None, n_squares=4).astype(np.float32))
# Base noise: a Gaussian with the truth's mean and per-coordinate spread (what an untrained map gives).
t = np.load(f"{sys.argv[2]}/truth.npy")
rng = np.random.default_rng(3003)
np.save(f"{sys.argv[2]}/base.npy", (t.mean(0) + t.std(0) * rng.standard_normal(t.shape)).astype(np.float32))
EOF

for seed in $SEEDS; do
  D=$OUT/ours_s$seed
  if [ ! -f "$D/model.safetensors" ]; then
    s=$(date +%s.%N)
    taskset -c $CPUS "$B" train --data checkerboard --seed "$seed" --threads "$T" --eval-samples 0 \
      --quiet --out "$D" > "$OUT/ours_s$seed.txt" 2>&1
    echo "$(date +%s.%N) - $s" | bc > "$D/wall_s"
  fi
  W=$(cat "$D/wall_s")
  for N in 1 2; do
    "$B" sample --model "$D/model.safetensors" --n 20000 --steps $N --seed 5 \
      --out "$OUT/samples/ours_s${seed}_N$N.npy" > /dev/null
  done
  echo "seed $seed: ours trained in $W s ($(grep -c . "$D/log.jsonl") log lines)"
  for bs in $BATCHES; do
    J=$OUT/jax_bs${bs}_s$seed
    mkdir -p "$J"
    if [ ! -f "$J/train.json" ]; then
      XLA_FLAGS="$XF" taskset -c $CPUS "$PY" "$DRV" --official "$JAXSIDE/official/py" --steps 40 \
        --warmup 10 --bs "$bs" --out "$J/probe.json" > "$J/probe.txt" 2>&1
      rate=$("$PY" -c "import json; print(json.load(open('$J/probe.json'))['steady_steps_per_s'])")
      steps=$("$PY" -c "print(max(2, round($W * $rate)))")
      XLA_FLAGS="$XF" taskset -c $CPUS "$PY" "$DRV" --official "$JAXSIDE/official/py" --steps "$steps" \
        --warmup 10 --bs "$bs" --seed "$seed" --out "$J/train.json" --save-dir "$J" \
        --n-samples 20000 --sample-seed 5 > "$J/train.txt" 2>&1
    fi
    "$PY" -c "import json; r = json.load(open('$J/train.json')); print(f\"seed $seed: official batch $bs trained {r['steps']} steps, loop {r['total_loop_s']:.1f} s\")"
  done
done

{
  echo "floor truth vs truth2: $("$PY" "$M" "$OUT/samples/truth.npy" "$OUT/samples/truth2.npy")"
  echo "base noise: $("$PY" "$M" "$OUT/samples/truth.npy" "$OUT/samples/base.npy")"
  for seed in $SEEDS; do
    for N in 1 2; do
      echo "ours defaults seed $seed N=$N: $("$PY" "$M" "$OUT/samples/truth.npy" "$OUT/samples/ours_s${seed}_N$N.npy")"
    done
    for bs in $BATCHES; do for w in raw ema0.999; do for N in 1 2; do
      echo "official batch $bs $w seed $seed N=$N: $("$PY" "$M" "$OUT/samples/truth.npy" "$OUT/jax_bs${bs}_s$seed/jax_${w}_N$N.npy")"
    done; done; done
  done
} | tee "$OUT/scores.txt"
