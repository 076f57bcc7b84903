#!/usr/bin/env python3
"""Lists import cycles between the source files of a crate.

An edge A -> B means file A names an item of file B through `use crate::…`, `use super::…`,
`use self::…` / a child module path, or a `crate::…` / `super::…` path in code. `mod x;`
declarations alone are not edges (declaring a child is not using it). Prints every cycle
(strongly connected component of more than one file) and exits 1 if there is any.

Usage: scripts/module_cycles.py runtime/src trainer/src eval/src cli/src
"""
import os
import re
import sys


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def file_of(mods, m):
    """The file defining module path m, or its nearest ancestor that exists."""
    while m not in mods and m:
        m = m[:-1]
    return mods.get(m)


def paths_in(text):
    """Module paths (as lists of segments) mentioned in use declarations and code. An inline
    `#[cfg(test)] mod tests { … }` (by convention the end of a file) is left out: its `super`
    is the file itself."""
    text = re.sub(r"//[^\n]*", "", text)
    inline_tests = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if inline_tests:
        text = text[: inline_tests.start()]
    out = []
    for m in re.finditer(r"\buse\s+([^;]+);", text, re.S):
        body = re.sub(r"\s+", "", m.group(1))
        out.extend(expand(body))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        out.append(m.group(1).split("::"))
    return out


def expand(body):
    """a::{b,c::{d}} -> [[a,b],[a,c,d]] (enough for module resolution)."""
    if "{" not in body:
        return [body.split("::")]
    i = body.index("{")
    prefix = body[:i].rstrip(":").split("::") if body[:i] else []
    inner = body[i + 1 : body.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    res = []
    for p in parts:
        for e in expand(p):
            res.append(prefix + e)
    return res


def cycles(root):
    files = []
    for d, _, fs in os.walk(root):
        files += [os.path.join(d, f) for f in fs if f.endswith(".rs")]
    mods = {module_of(root, f): f for f in files}
    edges = {f: set() for f in files}
    for f in files:
        me = module_of(root, f)
        for p in paths_in(open(f, encoding="utf8").read()):
            if p[0] == "crate":
                target = tuple(p[1:])
            elif p[0] in ("super", "self"):
                base = list(me)  # self = this module; each super = one level up
                i = 0
                while i < len(p) and p[i] in ("super", "self"):
                    if p[i] == "super":
                        base = base[:-1]
                    i += 1
                target = tuple(base) + tuple(p[i:])
            else:
                # A child module named directly (`use ode::x` inside quality/mod.rs).
                target = me + (p[0],) + tuple(p[1:]) if me + (p[0],) in mods else None
            if target is None:
                continue
            g = file_of(mods, target)
            if g and g != f:
                edges[f].add(g)
    # Tarjan's strongly connected components.
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in files:
        if v not in index:
            visit(v)
    return comps, sum(len(e) for e in edges.values()), len(files)


bad = 0
for root in sys.argv[1:]:
    comps, n_edges, n_files = cycles(root)
    print(f"{root}: {n_files} files, {n_edges} import edges, {len(comps)} cycle(s)")
    for c in comps:
        print("  cycle:", " <-> ".join(c))
    bad += len(comps)
sys.exit(1 if bad else 0)
