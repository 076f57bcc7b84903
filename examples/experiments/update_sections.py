#!/usr/bin/env python3
"""Regenerates §5 (defaults, ablations) and §6 (images) of docs/results.md from their own
tables (docs/results/{defaults,ablation,images}.md) and hand-written readings
(examples/experiments/{defaults,images}.md), keeping §1–4 as they are: those come from the long
run.sh experiments, which need not be rerun when only the later sections change.

    python3 examples/experiments/update_sections.py           # rewrite docs/results.md
    python3 examples/experiments/update_sections.py --check   # exit 1 if it would change
"""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

RESULTS = os.path.join(HERE, "..", "..", "docs", "results.md")
FIRST_REGENERATED = "## 5. Defaults"


def main():
    text = open(RESULTS).read()
    head = text[: text.index(FIRST_REGENERATED)]
    new = head + report.defaults_section() + report.images_section()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if new == text else "docs/results.md §5–6 are out of date: run update_sections.py")
    open(RESULTS, "w").write(new)
    print("updated docs/results.md §5-6")


if __name__ == "__main__":
    main()
