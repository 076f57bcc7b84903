#!/bin/bash
# Interleaved A/B of two trainer binaries on the default 2-D run (checkerboard, every setting at
# its default, but one phase: the LSD student's loop, --teacher-steps 0): steps/s at 1 thread
# (taskset -c 0) and 2 threads (taskset -c 0,1).
#   bash benches/trainer_ab_default.sh ROUNDS STEPS BASE NEW OUTDIR   (e.g. 3 400)
R=$1; S=$2; A=$3; B=$4; O=$5; mkdir -p $O
for r in $(seq 1 $R); do for T in 1 2; do
  if [ $T = 1 ]; then C=0; else C=0,1; fi
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for w in $order; do
    if [ $w = base ]; then bin=$A; else bin=$B; fi
    rm -rf $O/run; taskset -c $C $bin train --data checkerboard --steps $S --teacher-steps 0 --threads $T --out $O/run --quality-every 0 --eval-samples 0 > $O/$w-t$T-r$r.txt 2>&1
    echo "$w T=$T r=$r $(grep -o '([0-9.]* steps/s)' $O/$w-t$T-r$r.txt) load $(cut -d' ' -f1 /proc/loadavg)"
  done
done; done
