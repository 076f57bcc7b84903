#!/bin/bash
# LSD steps/s of two flowmap-train binaries (BASE, NEW: e.g. main and a branch) interleaved with
# the official JAX code in every round, at 1 and 2 threads — the anchor's run_speed.sh
# (../shared/anchors/official-jax) extended to a before/after. Same network on both sides:
# the paper's schedule config and the raw state (--state-frequencies none), as the official MLP.
#   BASE=... NEW=... JAXSIDE=... bash benches/trainer_vs_official.sh ROUNDS OUTDIR
# Then: python3 benches/trainer_vs_official.py OUTDIR (median ratios per thread count).
# THREADS_LIST="1" runs only the 1-thread half; FIRST_ROUND=N appends rounds to OUTDIR.
# JAXSIDE holds the anchor's venv and official/py (see its README.md); ANCHOR is the anchor dir.
set -u
: "${JAXSIDE:?}" "${BASE:?}" "${NEW:?}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/anchors/official-jax}
CFG=$ROOT/examples/configs/paper-schedule.toml
ROUNDS=${1:-3}; OUT=${2:-${JAXSIDE}/speed}
PY=${PY:-${JAXSIDE}/venv/bin/python}; DRV=$ANCHOR/jax_driver.py
OURS_STEPS=${OURS_STEPS:-120}; JAX_STEPS=${JAX_STEPS:-110}
mkdir -p "$OUT"
note() { echo "r$1 T$2 $3 $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) busy: $(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1>20' | tr '\n' ' ')" >> "$OUT/load.log"; }
ours() { # name binary T CPUS round
  local D=$OUT/$1_t$3_r$5; rm -rf "$D"; note "$5" "$3" "$1"
  local s; s=$(date +%s.%N)
  taskset -c "$4" "$2" train --config "$CFG" --state-frequencies none --quality-every 0 --data checkerboard \
    --method lsd --batch 4096 --hidden 512x5 --steps "$OURS_STEPS" --threads "$3" --eval-samples 0 --quiet \
    --device cpu --log-every 10 --out "$D" > "$OUT/$1_t$3_r$5.txt" 2>&1
  echo "wall_s=$(echo "$(date +%s.%N) - $s" | bc)" >> "$OUT/$1_t$3_r$5.txt"
}
for r in $(seq "${FIRST_ROUND:-1}" "$ROUNDS"); do
  for T in ${THREADS_LIST:-1 2}; do
    if [ "$T" = 1 ]; then CPUS=0; XF="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"; else CPUS=0,1; XF=""; fi
    # Alternate which binary goes first, so neither always runs right after the JAX run.
    if [ $((r % 2)) = 1 ]; then ours base "$BASE" $T $CPUS "$r"; ours new "$NEW" $T $CPUS "$r"
    else ours new "$NEW" $T $CPUS "$r"; ours base "$BASE" $T $CPUS "$r"; fi
    note "$r" "$T" jax
    XLA_FLAGS="$XF" taskset -c $CPUS "$PY" "$DRV" --steps "$JAX_STEPS" --warmup 10 \
      --out "$OUT/jax_t${T}_r${r}.json" > "$OUT/jax_t${T}_r${r}.txt" 2>&1
    echo "round $r T=$T done $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
