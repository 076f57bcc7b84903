#!/usr/bin/env python3
"""Writes docs/results.md from the runs of examples/experiments/run.sh.

usage: report.py OUT_DIR > docs/results.md

Reads OUT_DIR/paper-setting/<method>/eval-{raw,ema0.999}.json and OUT_DIR/<dataset>/<method>/
eval.json (each written by `flowmap-train eval --json`) and the train.log next to them, and
prints the whole results page: how quality is measured, the tables, the paper's claims checked
against our numbers (computed here, not typed in), and the hand-written discussion in
discussion.md next to this script.
"""
import datetime
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tables import ORDER, fmt, ode_tables, tables, train_secs, train_time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER_STEPS_N = [1, 2, 4, 8]
NAMES = {"fm": "FM", "lsd": "LSD", "esd": "ESD", "psd-midpoint": "PSD-M", "psd-uniform": "PSD-U"}

# The official JAX implementation, run on this machine class with the checkerboard config
# reduced to batch 4096 and 1400 steps, raw weights, 20k samples (issue 5's reference point).
OFFICIAL_JS = {
    "lsd": [0.129, 0.124, 0.097, 0.082],
    "psd-midpoint": [0.190, 0.160, 0.120, 0.090],
    "psd-uniform": [0.201, 0.161, 0.125, 0.091],
    "esd": [0.158, 0.162, 0.125, 0.097],
}
OFFICIAL_JS_FLOOR, OFFICIAL_JS_BASE = 0.024, 0.256
OFFICIAL_SW2_LSD, OFFICIAL_SW2_FLOOR = [0.034, 0.024], 0.012


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def by_nfe(report):
    return {r["nfe"]: r for r in report["flow_map"] if r["nfe"] > 0}


def base_and_floor(report):
    base = next(r for r in report["flow_map"] if r["label"] == "base noise")
    return base, report["flow_map"][-1]


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"


def paper_runs(root):
    """{method: {"raw": report, "ema0.999": report, "log": path}} for the paper setting."""
    runs = {}
    d = os.path.join(root, "paper-setting")
    for m in ORDER:
        raw = load(os.path.join(d, m, "eval-raw.json"))
        ema = load(os.path.join(d, m, "eval-ema0.999.json"))
        if raw or ema:
            runs[m] = {"raw": raw, "ema0.999": ema, "log": os.path.join(d, m, "train.log")}
    return runs


def paper_table(runs, key, digits, steps, official=None, official_floor=None):
    head = "| run | " + " | ".join(f"N={s}" for s in steps) + " | base noise | floor |"
    lines = [head, "|" + "---|" * (len(steps) + 3)]
    if official:
        for m, vals in official.items():
            cells = [fmt(v, digits) for v in vals[: len(steps)]]
            cells += ["–"] * (len(steps) - len(cells))
            base = fmt(OFFICIAL_JS_BASE, digits) if key == "js" else "–"
            lines.append(f"| official JAX {NAMES[m]}, raw | " + " | ".join(cells)
                         + f" | {base} | {fmt(official_floor, digits)} |")
    for m, r in runs.items():
        for w in ("raw", "ema0.999"):
            rep = r[w]
            if rep is None:
                continue
            by = by_nfe(rep)
            base, floor = base_and_floor(rep)
            cells = [fmt(by[s][key], digits) if s in by else "–" for s in steps]
            lines.append(f"| **ours {NAMES[m]}, {w}** | " + " | ".join(cells)
                         + f" | {fmt(base[key], digits)} | {fmt(floor[key], digits)} |")
    return "\n".join(lines) + "\n"


def speed_table(runs):
    lines = ["| method | wall time | steps/s |", "|---|---|---|"]
    for m, r in runs.items():
        t = train_time(r["log"])
        if t:
            steps, secs = t
            lines.append(f"| {NAMES[m]} | {secs:.0f} s | {steps / secs:.2f} |")
    return "\n".join(lines) + "\n"


def claim_checks(runs, small):
    """The issue's 'what must be shown' items, computed from the JSON."""
    out = []
    out.append("### LSD's 1-step energy distance vs PSD-M and PSD-U at the same budget\n")
    out.append("| setting | weights | LSD | PSD-M | PSD-U | ESD | floor | LSD strictly below PSD-M and PSD-U? |")
    out.append("|---|---|---|---|---|---|---|---|")

    def row(setting, weights, reps):
        if "lsd" not in reps or not all(k in reps for k in ("psd-midpoint", "psd-uniform")):
            return
        e = {m: by_nfe(rep)[1]["energy_u"] for m, rep in reps.items() if 1 in by_nfe(rep)}
        floor = base_and_floor(reps["lsd"])[1]["energy_u"]
        ok = e["lsd"] < e["psd-midpoint"] and e["lsd"] < e["psd-uniform"]
        out.append(f"| {setting} | {weights} | {fmt(e['lsd'], 5)} | {fmt(e['psd-midpoint'], 5)} | "
                   f"{fmt(e['psd-uniform'], 5)} | {fmt(e.get('esd'), 5)} | {fmt(floor, 5)} | "
                   f"**{'yes' if ok else 'no'}** |")

    for w in ("raw", "ema0.999"):
        row("paper setting (checkerboard)", w,
            {m: r[w] for m, r in runs.items() if r[w] is not None})
    for data, reps in small.items():
        row(f"small budget ({data})", "raw", reps)
    out.append("")
    out.append("### Which method is best at each N (lowest value; ties within 2 % shared)\n")
    out.append("| setting | metric | " + " | ".join(f"N={s}" for s in [1, 2, 4, 8, 16]) + " |")
    out.append("|---|---|" + "---|" * 5)

    def best_rows(setting, reps):
        for key, title in (("energy_u", "energy(U)"), ("sliced_w2", "sliced W2"), ("js", "JS")):
            cells = []
            for s in [1, 2, 4, 8, 16]:
                vals = {m: by_nfe(rep).get(s, {}).get(key) for m, rep in reps.items()}
                vals = {m: v for m, v in vals.items() if v is not None}
                if not vals:
                    cells.append("–")
                    continue
                lo = min(vals.values())
                tol = 0.02 * abs(lo) + 1e-12
                cells.append(", ".join(NAMES[m] for m in ORDER if m in vals and vals[m] <= lo + tol))
            if any(c != "–" for c in cells):
                out.append(f"| {setting} | {title} | " + " | ".join(cells) + " |")

    for w in ("raw", "ema0.999"):
        best_rows(f"paper setting, {w}", {m: r[w] for m, r in runs.items() if r[w] is not None})
    for data, reps in small.items():
        best_rows(data, reps)
    out.append("")
    return "\n".join(out)


def ode_section(runs):
    reps = [(f"{NAMES[m]} {w} (paper setting)", r[w], "")
            for m, r in runs.items() for w in ("raw", "ema0.999") if r[w] and r[w]["euler"]]
    return ode_tables(reps)


def failed_run(name, data, err_path, log_path):
    """A line for a run whose model could not be evaluated, with the training log's story."""
    err = open(err_path).read().strip().splitlines()
    why = err[-1] if err else "unknown error"
    story = ""
    try:
        rows = [json.loads(line) for line in open(log_path) if line.strip()]
        first_bad = next((r for r in rows if r["loss"] > 100 * min(x["loss"] for x in rows[:20])),
                         None)
        last = rows[-1]
        story = (f" Training log: loss {last['loss']:.3g} and gradient norm {last['grad_norm']:.3g}"
                 f" at step {last['step']}")
        if first_bad:
            story += (f"; the loss first exceeded 100× its early level at step {first_bad['step']}"
                      f" (off-diagonal error {first_bad['off_err']:.3g})")
        story += "."
    except (OSError, ValueError, KeyError, IndexError):
        pass
    return f"**{name} on {data}: could not be evaluated** (`{why}`).{story}\n"


def budget(config_path):
    """'Budget: N steps, batch B, hidden [...]' from a run's config.toml."""
    cfg = {}
    try:
        for line in open(config_path):
            k, _, v = line.partition(" = ")
            cfg[k.strip()] = v.strip().strip('"')
    except OSError:
        return "Budget: unknown (no config.toml)."
    return (f"Budget: {cfg.get('steps', '?')} steps, batch {cfg.get('batch', '?')}, "
            f"hidden {cfg.get('hidden', '?')}, {cfg.get('activation', '?')}, one thread.")


def small_budget(root):
    """{dataset: {method: report}} for every non-paper dataset directory."""
    out = {}
    for data in sorted(os.listdir(root)):
        d = os.path.join(root, data)
        if data.startswith("paper-setting") or not os.path.isdir(d):
            continue
        reps = {m: load(os.path.join(d, m, "eval.json")) for m in ORDER}
        reps = {m: r for m, r in reps.items() if r}
        if reps:
            out[data] = reps
    return out


def main():
    root = sys.argv[1]
    runs = paper_runs(root)
    small = small_budget(root)
    p = []
    p.append("# Measured results\n")
    p.append("<!-- Generated by examples/experiments/run.sh (report.py); do not edit by hand. "
             "The discussion comes from examples/experiments/discussion.md. -->\n")
    p.append(f"Generated {datetime.date.today().isoformat()} on {machine()}. Every training run "
             "is single-threaded (`--threads 1`); `JOBS` runs went side by side, so wall times "
             "are per run on a shared core pair.\n")
    p.append("Regenerate everything (reuses finished runs; `RETRAIN=1` to start over):\n")
    p.append("```sh\nexamples/experiments/run.sh\n```\n")
    p.append(open(os.path.join(HERE, "measuring.md")).read())

    p.append("## 1. The paper setting: all five methods on the checkerboard\n")
    p.append("Batch 4096, 2→5×512→2 tanh-GELU MLP, RAdam lr 10⁻³, clip 10, 75 % diagonal, "
             "1400 steps, seed 42, 200 000 training points (the official reference used 10⁷). "
             "Each run's raw weights and its EMA-0.999 weights (`flowmap-train export --weights "
             "ema0.999` from the same checkpoint) are evaluated on 20 000 samples against 20 000 "
             "fresh data points. The official JAX rows are the reference numbers of issue 5 (raw "
             "weights, same setting, same JS definition).\n")
    p.append("```sh\nT=target/release/flowmap-train\n"
             "$T train --config examples/configs/paper-schedule.toml --data checkerboard --method lsd \\\n"
             "  --batch 4096 --hidden 512x5 --steps 1400 \\\n"
             "  --threads 1 --export-weights raw --eval-samples 0 --out out/experiments/paper-setting/lsd\n"
             "$T export --checkpoint out/experiments/paper-setting/lsd/checkpoint.safetensors \\\n"
             "  --weights ema0.999 --out out/experiments/paper-setting/lsd/ema0.999.safetensors\n"
             "$T eval --model out/experiments/paper-setting/lsd/ema0.999.safetensors --data checkerboard \\\n"
             "  --steps 1,2,4,8 --n 20000 --ode-nfe 1,2,4,8,16,32,64 --plot lsd.png\n```\n")
    if runs:
        p.append("*Histogram Jensen–Shannon divergence (64×64 on [−1.1, 1.1]², natural log)*\n")
        p.append(paper_table(runs, "js", 3, PAPER_STEPS_N, OFFICIAL_JS, OFFICIAL_JS_FLOOR))
        p.append("*Sliced W2 (512 directions); official: LSD only, N = 1, 2*\n")
        p.append(paper_table(runs, "sliced_w2", 4, PAPER_STEPS_N,
                             {"lsd": OFFICIAL_SW2_LSD}, OFFICIAL_SW2_FLOOR))
        p.append("*Energy distance (U-statistic; its floor is ≈ 0 ± 3·10⁻⁴)*\n")
        p.append(paper_table(runs, "energy_u", 5, PAPER_STEPS_N))
        p.append("*Training time of each run (1400 steps, one thread)*\n")
        p.append(speed_table(runs))
        p.append("Plots: " + ", ".join(f"`docs/results/paper-setting-{m}-{{raw,ema0.999}}.png`"
                                       for m in runs) + ".\n")
        ode = ode_section(runs)
        if ode:
            p.append("### ODE equivalence at the paper setting\n")
            p.append("The model's own diagonal velocity b_t = v_{t,t}, integrated from the same "
                     "noise with Euler (1 evaluation per step) and Heun (2 per step).\n")
            p.append(ode)
    else:
        p.append("*(no paper-setting runs found)*\n")

    p.append("## 2. The claims, checked on these numbers\n")
    p.append(claim_checks(runs, small))

    p.append("## 3. One small budget on every data set\n")
    p.append("Raw weights, 10 000 evaluation samples against a fresh reference (digits: a random "
             "half of the file as reference, the other half as the floor). The `train` column is "
             "wall time per run; the budget of each data set is stated above its tables.\n")
    for data, _ in small.items():
        d = os.path.join(root, data)
        rs = [(m, load(os.path.join(d, m, "eval.json")), train_secs(os.path.join(d, m, "train.log")))
              for m in ORDER if os.path.exists(os.path.join(d, m, "eval.json"))]
        rs = [r for r in rs if r[1]]
        p.append(tables(rs, data))
        for m in ORDER:
            err = os.path.join(d, m, "eval.err")
            if load(os.path.join(d, m, "eval.json")) is None and os.path.exists(err):
                p.append(failed_run(NAMES[m], data, err, os.path.join(d, m, "log.jsonl")))
        p.append(budget(os.path.join(d, rs[0][0], "config.toml")) + "\n")
        p.append("Plots: " + ", ".join(f"`docs/results/{data}-{m}.png`" for m, _, _ in rs) + ".\n")

    p.append(open(os.path.join(HERE, "discussion.md")).read())
    p.append(defaults_section())
    p.append(images_section())
    print("\n".join(p))


def defaults_section():
    """§5: the CLI defaults on every built-in 2-D set (defaults.sh -> docs/results/defaults.md)
    and the ablations behind them (ablate.py -> docs/results/ablation.md), with the hand-written
    reading in defaults.md next to this script."""
    docs = os.path.join(HERE, "..", "..", "docs", "results")
    text = open(os.path.join(HERE, "defaults.md")).read()
    for name in ("defaults", "ablation"):
        path = os.path.join(docs, f"{name}.md")
        table = open(path).read() if os.path.exists(path) else f"(not measured: run {name}.sh)\n"
        text = text.replace("{" + name + "_table}", table)
    return text


def images_section():
    """§6: U-Nets on Fashion-MNIST (images.sh -> docs/results/images.md via images_report.py),
    with the hand-written reading in images.md next to this script."""
    docs = os.path.join(HERE, "..", "..", "docs", "results")
    path = os.path.join(docs, "images.md")
    table = open(path).read() if os.path.exists(path) else "(not measured: run images.sh)\n"
    return open(os.path.join(HERE, "images.md")).read().replace("{images_table}", table)


if __name__ == "__main__":
    main()
