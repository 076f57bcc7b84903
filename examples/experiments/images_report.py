#!/usr/bin/env python3
"""docs/results/images.md (and its pictures) from the runs of images.sh.

usage: images_report.py OUT_DIR DOCS_DIR [SEED_OUT_DIR ...]
Reads OUT_DIR/<method>/eval.json (+ config.toml, log.jsonl, grid.png) and OUT_DIR/<method>.time;
writes DOCS_DIR/images.md and copies each grid to DOCS_DIR/images-<method>.png. report.py
appends images.md to docs/results.md as its images section. Each SEED_OUT_DIR holds the same
runs with another seed (images.sh with SEED and OUT set): a table per metric then gives every
seed's value, the mean and the spread.
"""
import json, os, re, shutil, sys

ORDER = ["lsd", "psd-midpoint", "psd-uniform", "fm", "esd"]
CLASSES = ["top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def fmt(v, d=2):
    return "–" if v is None else f"{v:.{d}f}"


def config_value(path, key):
    try:
        m = re.search(rf"^{key} = (.+)$", open(path).read(), re.M)
    except OSError:
        return None
    return m.group(1).strip('"') if m else None


def seed_of(out, m):
    return config_value(os.path.join(out, m, "config.toml"), "seed") or "?"


def seeds_section(say, out, others, methods, steps):
    """Per metric: each seed's value at every N, the mean and the spread (max − min)."""
    dirs = [out] + others
    say(f"*Across seeds ({len(dirs)} trainings per method, same steps and batch; each scored on the "
        "same number of samples against the test split)*")
    say("")
    for key, title, d in [("fd", "FD", 2), ("energy_u", "energy(U)", 3)]:
        say(f"| method | N | " + " | ".join(f"{title}, seed {seed_of(o, methods[0])}" for o in dirs)
            + " | mean | spread |")
        say("|" + "---|" * (len(dirs) + 4))
        for m in methods:
            evals = []
            for o in dirs:
                p = os.path.join(o, m, "eval.json")
                evals.append(json.load(open(p)) if os.path.exists(p) else None)
            for s in steps:
                vals = []
                for r in evals:
                    row = None if r is None else next(
                        (x for x in r["flow_map"] if x["nfe"] == s and x["label"].endswith(("step", "steps"))), None)
                    vals.append(None if row is None else row.get(key))
                got = [v for v in vals if v is not None]
                mean = sum(got) / len(got) if got else None
                spread = (max(got) - min(got)) if len(got) > 1 else None
                say(f"| {m} | {s} | " + " | ".join(fmt(v, d) for v in vals)
                    + f" | {fmt(mean, d)} | {fmt(spread, d)} |")
        say("")


def main(out, docs, others=()):
    runs = []
    for m in ORDER:
        p = os.path.join(out, m, "eval.json")
        if os.path.exists(p):
            runs.append((m, json.load(open(p))))
    if not runs:
        sys.exit(f"no eval.json under {out}")
    os.makedirs(docs, exist_ok=True)
    first = runs[0][1]
    lines = []
    say = lines.append
    say("Fashion-MNIST (60 000 train / 10 000 test grey 28×28 images), U-Nets trained by "
        "`examples/experiments/images.sh` at one equal CPU budget per method (single-threaded, "
        "the step counts below; wall time measured on a 2-core machine that other jobs shared). "
        f"Every row: {first['n']} samples scored against the **test split**; the floor row is "
        f"{first['n']} train images scored against the same test split; FD is the Fréchet "
        "distance of the project's Fashion-MNIST classifier's 128-d features (test accuracy "
        f"{100 * (first.get('classifier_accuracy') or 0):.2f} %, eval/assets/); energy(U) and "
        "sliced W2 are in pixel space ([−1, 1] per pixel; energy on a subsample of "
        "8000·√(64/784) = 2285 points per set).")
    say("")
    say("| method | steps | batch | time | net |")
    say("|---|---|---|---|---|")
    for m, r in runs:
        cfg = os.path.join(out, m, "config.toml")
        try:
            t = open(os.path.join(out, f"{m}.time")).read().strip()
        except OSError:
            t = "?"
        say(f"| {m} | {config_value(cfg, 'steps')} | {config_value(cfg, 'batch')} | {t} | "
            f"U-Net `{config_value(cfg, 'unet_preset')}`, lr {config_value(cfg, 'lr')} |")
    say("")
    steps = [row["nfe"] for row in first["flow_map"] if row["label"].endswith(("step", "steps"))]
    for key, title, d in [("fd", "FD (classifier features; lower is better)", 2),
                          ("energy_u", "pixel-space energy distance (U-statistic)", 3),
                          ("sliced_w2", "pixel-space sliced W2 (512 directions)", 3)]:
        say(f"*{title}*")
        say("")
        say("| method | " + " | ".join(f"N={s}" for s in steps) + " | base noise | floor |")
        say("|" + "---|" * (len(steps) + 3))
        for m, r in runs:
            rows = r["flow_map"]
            by_nfe = {row["nfe"]: row for row in rows if row["label"].endswith(("step", "steps"))}
            base = next(row for row in rows if row["label"] == "base noise")
            floor = rows[-1]
            cells = [fmt(by_nfe.get(s, {}).get(key), d) for s in steps]
            say(f"| {m} | " + " | ".join(cells) + f" | {fmt(base.get(key), d)} | {fmt(floor.get(key), d)} |")
        say("")
    if others:
        seeds_section(say, out, list(others), [m for m, _ in runs], steps)
    say("*Class coverage (the classifier's predicted classes; TV = total variation to uniform, "
        "0 = even, 0.9 = one class)*")
    say("")
    say("| method | samples | TV | " + " | ".join(CLASSES) + " |")
    say("|" + "---|" * (len(CLASSES) + 3))
    for m, r in runs:
        for row in r["flow_map"]:
            c = row.get("coverage")
            if not c or row["label"] == "base noise":
                continue
            if row["label"].startswith("floor") and m != runs[0][0]:
                continue
            say(f"| {m if not row['label'].startswith('floor') else '–'} | {row['label']} | "
                f"{c['tv_to_uniform']:.3f} | " + " | ".join(f"{100 * f:.1f}" for f in c["fractions"]) + " |")
    say("")
    for m, _ in runs:
        p = os.path.join(out, m, "eval-ode.json")
        if not os.path.exists(p):
            continue
        r = json.load(open(p))
        say(f"*{m}: flow map vs the ODE on its diagonal velocity b_t = v_(t,t), on {r['n']} samples "
            "(FD is biased upward at smaller n: compare within this table, whose floor is at the "
            "same n)*")
        say("")
        say("| sampler | NFE | FD | energy(U) | sliced W2 |")
        say("|---|---|---|---|---|")
        for group, rows in (("flow map", r["flow_map"]), ("Euler", r["euler"][:-1]), ("Heun", r["heun"][:-1])):
            for row in rows:
                if group == "flow map" and row["label"] == "base noise":
                    continue
                label = row["label"] if group == "flow map" else f"{group}"
                say(f"| {label} | {row['nfe']} | {fmt(row.get('fd'))} | {fmt(row.get('energy_u'), 3)} | "
                    f"{fmt(row.get('sliced_w2'), 3)} |")
        say("")
        eq = r.get("equivalence", [])
        if eq:
            say("NFE equivalence (smallest ODE NFE at least as good as the flow map; – = none tried):")
            say("")
            say("| metric | flow-map steps | flow map | Euler NFE | Heun NFE |")
            say("|---|---|---|---|---|")
            for e in eq:
                say(f"| {e['metric']} | {e['steps']} | {e['flow_map']:.3f} | {e['euler_nfe'] or '–'} | "
                    f"{e['heun_nfe'] or '–'} |")
            say("")
    for m, _ in runs:
        grid = os.path.join(out, m, "grid.png")
        if os.path.exists(grid):
            shutil.copy(grid, os.path.join(docs, f"images-{m}.png"))
            say(f"**{m}** (first row data, then one row per N = {', '.join(map(str, steps))}):")
            say("")
            say(f"![{m} samples](results/images-{m}.png)")
            say("")
    open(os.path.join(docs, "images.md"), "w").write("\n".join(lines) + "\n")
    print(f"wrote {os.path.join(docs, 'images.md')}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
