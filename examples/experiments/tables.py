#!/usr/bin/env python3
"""Markdown tables from the eval JSON files written by run.sh (or by `flowmap-train eval --json`).

usage: tables.py OUT_DIR            # reads OUT_DIR/<dataset>/<method>/eval.json (+ train.log)
       tables.py --one EVAL.json... # one table, one row per file (label = file's parent dir)
"""
import json, os, re, sys

ORDER = ["fm", "lsd", "esd", "psd-midpoint", "psd-uniform"]
METRICS = [("energy_u", "energy distance (U-statistic, floor ≈ 0)", 5),
           ("sliced_w2", "sliced W2 (512 directions)", 4),
           ("js", "histogram JS (64×64)", 3)]


def fmt(v, d):
    if v is None:
        return "–"
    return f"{v:.{d}f}" if abs(v) >= 10 ** -d or v == 0 else f"{v:.1e}"


def train_time(path):
    """(steps, seconds) from a run's train.log ("N steps in S s"), or None."""
    try:
        m = re.search(r"(\d+) steps in ([\d.]+) s", open(path).read())
    except OSError:
        return None
    return (int(m.group(1)), float(m.group(2))) if m else None


def train_secs(path):
    t = train_time(path)
    return f"{t[1]:.0f} s" if t else "?"


def metric_table(runs, key, title, d, steps):
    has = any(r["flow_map"][0].get(key) is not None for _, r, _ in runs)
    if not has:
        return ""
    head = "| method | train | " + " | ".join(f"N={s}" for s in steps) + " | base noise | floor |"
    lines = [f"*{title}*", "", head, "|" + "---|" * (len(steps) + 4)]
    for label, rep, secs in runs:
        by = {r["nfe"]: r for r in rep["flow_map"] if r["nfe"] > 0}
        base = next(r for r in rep["flow_map"] if r["label"] == "base noise")
        floor = rep["flow_map"][-1]
        vals = [fmt(by[s][key], d) if s in by else "–" for s in steps]
        lines.append(f"| {label} | {secs} | " + " | ".join(vals)
                     + f" | {fmt(base[key], d)} | {fmt(floor[key], d)} |")
    return "\n".join(lines) + "\n"


def ode_tables(runs):
    out = []
    for label, rep, _ in runs:
        if not rep["euler"]:
            continue
        nfes = [r["nfe"] for r in rep["euler"] if r["nfe"] > 0]
        lines = [f"*ODE baseline on {label}'s diagonal velocity (same noise), energy distance (U) / JS*",
                 "", "| solver | " + " | ".join(f"NFE {n}" for n in nfes) + " |",
                 "|" + "---|" * (len(nfes) + 1)]
        for solver in ("euler", "heun"):
            by = {r["nfe"]: r for r in rep[solver] if r["nfe"] > 0}
            cells = []
            for n in nfes:
                r = by.get(n)
                cells.append("–" if r is None else fmt(r["energy_u"], 5)
                             + (f" / {fmt(r['js'], 3)}" if r.get("js") is not None else ""))
            lines.append(f"| {solver} | " + " | ".join(cells) + " |")
        lines += ["", f"*Smallest ODE NFE matching {label}'s flow map (metric ≤ flow map's)*", "",
                  "| flow map | metric | value | Euler NFE | Heun NFE |", "|---|---|---|---|---|"]
        for e in rep["equivalence"]:
            n = lambda v: f"> {max(nfes)}" if v is None else str(v)
            lines.append(f"| {e['steps']} step{'s' if e['steps'] > 1 else ''} | {e['metric']} | "
                         f"{fmt(e['flow_map'], 5)} | {n(e['euler_nfe'])} | {n(e['heun_nfe'])} |")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def tables(runs, heading):
    steps = sorted({r["nfe"] for _, rep, _ in runs for r in rep["flow_map"] if r["nfe"] > 0})
    parts = [f"### {heading}\n"]
    for key, title, d in METRICS:
        t = metric_table(runs, key, title, d, steps)
        if t:
            parts.append(t)
    o = ode_tables(runs)
    if o:
        parts.append(o)
    return "\n".join(parts)


def main():
    if sys.argv[1] == "--one":
        runs = [(os.path.basename(os.path.dirname(p)) or p, json.load(open(p)),
                 train_secs(os.path.join(os.path.dirname(p), "train.log"))) for p in sys.argv[2:]]
        print(tables(runs, "results"))
        return
    root = sys.argv[1]
    for data in sorted(os.listdir(root)):
        d = os.path.join(root, data)
        if not os.path.isdir(d):
            continue
        methods = [m for m in ORDER
                   if os.path.getsize(os.path.join(d, m, "eval.json") if os.path.exists(
                       os.path.join(d, m, "eval.json")) else os.devnull) > 0]
        runs = [(m, json.load(open(os.path.join(d, m, "eval.json"))),
                 train_secs(os.path.join(d, m, "train.log"))) for m in methods]
        if runs:
            print(tables(runs, data))


if __name__ == "__main__":
    main()
