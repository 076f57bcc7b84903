#!/usr/bin/env python3
"""Summary of benches/trainer_vs_official.sh: steady-state steps/s of base, new and the official
JAX code per round (ours: logged steps 20..last; JAX: the driver's steady rate after step 10),
and the median of the per-round ratios per thread count.
Usage: python3 benches/trainer_vs_official.py OUTDIR"""
import glob
import json
import os
import re
import statistics as st
import sys

D = sys.argv[1]
S0 = 20


def ours(name, T, r):
    log = os.path.join(D, f"{name}_t{T}_r{r}", "log.jsonl")
    if not os.path.exists(log):
        return None
    el = {x["step"]: x["elapsed_s"] for x in map(json.loads, open(log))}
    if not el or max(el) <= S0:
        return None
    return (max(el) - S0) / (el[max(el)] - el[S0])


def jax(T, r):
    p = os.path.join(D, f"jax_t{T}_r{r}.json")
    return json.load(open(p))["steady_steps_per_s"] if os.path.exists(p) else None


rounds = sorted({int(re.search(r"_r(\d+)", f).group(1)) for f in glob.glob(os.path.join(D, "*_r*.txt"))})
for T in (1, 2):
    rows = []
    for r in rounds:
        b, n, j = ours("base", T, r), ours("new", T, r), jax(T, r)
        if None in (b, n, j):
            continue
        rows.append((b, n, j))
        print(f"T={T} round {r}: base {b:.3f}  new {n:.3f}  jax {j:.3f} steps/s | "
              f"base/jax {b / j:.3f}  new/jax {n / j:.3f}  new/base {n / b:.3f}")
    if rows:
        med = lambda i: st.median(x[i] for x in rows)
        rat = lambda i, k: st.median(x[i] / x[k] for x in rows)
        print(f"T={T} medians of {len(rows)} rounds: base {med(0):.3f}  new {med(1):.3f}  jax {med(2):.3f} steps/s | "
              f"ratios base/jax {rat(0, 2):.3f}  new/jax {rat(1, 2):.3f}  new/base {rat(1, 0):.3f}")
