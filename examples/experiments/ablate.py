#!/usr/bin/env python3
"""Ablations behind the CLI defaults (docs/results.md, "defaults"): one change at a time against
a base setting, same seeds, same step budget, several data sets; every run evaluated the same way.

    python3 examples/experiments/ablate.py --out out/ablate --sets checkerboard,mixed \
        --seeds 1,2 --variant base= --variant cosine="--lr-schedule cosine --lr-final 0.01"

Each variant is a name and extra `flowmap-train train` flags added to the base flags (--base).
A finished run (its eval.json exists) is reused. Prints and writes a Markdown table: per set and
variant, the mean over seeds of histogram JS at N = 1, 2 (and the spread min..max), and the
training wall time.
"""
import argparse, json, os, statistics, subprocess, sys, time

def run(cmd, log):
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}; see {log}")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("T", "target/release/flowmap-train"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", required=True)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--base", default="--steps 2000", help="flags shared by every variant")
    ap.add_argument("--variant", action="append", required=True, help="NAME=FLAGS")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--eval-steps", default="1,2,4")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--export", default="", help="export weights (default: the CLI's default)")
    ap.add_argument("--also", default="", help="comma list of other weights (raw, ema0.999, ema0.9999) "
                    "exported from the final checkpoint and scored as variant NAME+WEIGHTS")
    a = ap.parse_args()
    rows = []
    for spec in a.variant:
        name, _, flags = spec.partition("=")
        for data in a.sets.split(","):
            for seed in a.seeds.split(","):
                d = os.path.join(a.out, name, data, f"seed{seed}")
                os.makedirs(d, exist_ok=True)
                ej = os.path.join(d, "eval.json")
                if not os.path.exists(ej):
                    cmd = [a.bin, "train", "--data", data, "--seed", seed, "--threads", a.threads,
                           "--eval-samples", "0", "--quiet", "--max-loss-growth", "0", "--out", d]
                    cmd += a.base.split() + flags.split()
                    if a.export:
                        cmd += ["--export-weights", a.export]
                    t0 = time.time()
                    run(cmd, os.path.join(d, "train.log"))
                    wall = time.time() - t0
                    with open(os.path.join(d, "wall.txt"), "w") as f:
                        f.write(f"{wall:.1f}\n")
                    out = subprocess.run([a.bin, "eval", "--model", os.path.join(d, "model.safetensors"),
                                          "--data", data, "--n", str(a.n), "--steps", a.eval_steps,
                                          "--no-ode", "--json"], capture_output=True, text=True)
                    if out.returncode != 0:
                        sys.exit(f"eval failed in {d}: {out.stderr}")
                    with open(ej, "w") as f:
                        f.write(out.stdout)
                wall = float(open(os.path.join(d, "wall.txt")).read())
                evals = [(name, ej)]
                for w in filter(None, a.also.split(",")):
                    wj = os.path.join(d, f"eval_{w}.json")
                    if not os.path.exists(wj):
                        m = os.path.join(d, f"model_{w}.safetensors")
                        run([a.bin, "export", "--checkpoint", os.path.join(d, "checkpoint.safetensors"),
                             "--weights", w, "--out", m], os.path.join(d, f"export_{w}.log"))
                        out = subprocess.run([a.bin, "eval", "--model", m, "--data", data, "--n", str(a.n),
                                              "--steps", a.eval_steps, "--no-ode", "--json"],
                                             capture_output=True, text=True)
                        if out.returncode != 0:
                            sys.exit(f"eval failed in {d}: {out.stderr}")
                        open(wj, "w").write(out.stdout)
                    evals.append((f"{name}+{w}", wj))
                for vname, path in evals:
                    rep = json.load(open(path))
                    rows.append((vname, data, seed, rep, wall))
                    fm = {r["label"]: r for r in rep["flow_map"]}
                    print(f"{vname:>20} {data:>14} seed {seed}: " +
                          "  ".join(f"{k} JS {v['js']:.4f}" if v.get("js") is not None else f"{k} energy {v['energy_u']:.4f}"
                                for k, v in fm.items()) +
                          f"  ({wall:.0f} s)", flush=True)
    # Table: set x variant, mean JS over seeds (min..max) at each N, plus floor.
    lines = ["| set | variant | " + " | ".join(f"JS N={n}" for n in a.eval_steps.split(",")) +
             " | sliced W2 N=1 | energy N=1 | wall s | floor JS | base-noise JS |",
             "|---|---|" + "---|" * (len(a.eval_steps.split(",")) + 5)]
    for data in a.sets.split(","):
        names = []
        for spec in a.variant:
            base = spec.partition("=")[0]
            names += [base] + [f"{base}+{w}" for w in filter(None, a.also.split(","))]
        for name in names:
            reps = [(r, w) for (v, s, _, r, w) in [(x[0], x[1], x[2], x[3], x[4]) for x in rows] if v == name and s == data]
            if not reps:
                continue
            cells = []
            for n in a.eval_steps.split(","):
                lab = f"{n} step" if n == "1" else f"{n} steps"
                vals = [next(x for x in r["flow_map"] if x["label"] == lab)["js"] for r, _ in reps]
                if None in vals:
                    cells.append("–")
                elif len(vals) == 1:
                    cells.append(f"{vals[0]:.4f}")
                else:
                    cells.append(f"{statistics.mean(vals):.4f} ({min(vals):.3f}..{max(vals):.3f})")
            sw = statistics.mean(next(x for x in r["flow_map"] if x["label"] == "1 step")["sliced_w2"] for r, _ in reps)
            en = statistics.mean(next(x for x in r["flow_map"] if x["label"] == "1 step")["energy_u"] for r, _ in reps)
            def js_of(word):
                row = [x for x in reps[0][0]["flow_map"] if word in x["label"]]
                return f"{row[0]['js']:.4f}" if row and row[0].get("js") is not None else "–"
            wall = statistics.mean(w for _, w in reps)
            lines.append(f"| {data} | {name} | " + " | ".join(cells) +
                         f" | {sw:.4f} | {en:.5f} | {wall:.0f} | {js_of('floor')} | {js_of('base noise')} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")

if __name__ == "__main__":
    main()
