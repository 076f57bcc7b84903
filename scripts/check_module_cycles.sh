#!/usr/bin/env bash
# Fails if files of one crate import each other in a cycle (a → b → … → a), for the src/
# trees of runtime/, trainer/, eval/ and ffi/ (or the directories given as arguments).
#
# How: every .rs file is a node (its module path follows from its place under src/). Edges are
# the paths the code names — `use` trees and inline `crate::…`, `super::…`, `self::…`, and
# child-module paths — with comments and string literals stripped, inline `mod x { … }`
# blocks (tests) resolved to their own file, and a name re-exported by a module
# (`pub use m::Name`) followed to the module that defines it. A `mod x;` declaration is not an
# import. Prints the module graph with -v.
#
#   scripts/check_module_cycles.sh            # the default crates
#   scripts/check_module_cycles.sh -v runtime # one crate, with its graph
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'EOF'
import os, re, sys

verbose = "-v" in sys.argv
crates = [a for a in sys.argv[1:] if a != "-v"] or ["runtime", "trainer", "eval", "ffi"]

def strip(src):
    # Comments, strings and char literals out (lifetimes kept): only code names paths.
    src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
    src = re.sub(r'r(#*)".*?"\1', '""', src, flags=re.S)
    src = re.sub(r'"(\\.|[^"\\])*"', '""', src, flags=re.S)
    src = re.sub(r"'(\\.|[^'\\])'", "' '", src)
    return re.sub(r'//[^\n]*', ' ', src)

def expand(tree):
    # `a::{b, c::{d, e}}` -> a::b, a::c::d, a::c::e
    tree = re.sub(r'\s+', '', tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == '{':
            if depth == 0:
                start = i
            depth += 1
        elif ch == '}':
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1:i], tree[i + 1:]
                parts, d, cur = [], 0, ''
                for c in inner:
                    if c == ',' and d == 0:
                        parts.append(cur); cur = ''
                        continue
                    d += (c == '{') - (c == '}')
                    cur += c
                parts.append(cur)
                return [p for part in parts if part for p in expand(prefix + part + rest)]
    return [re.sub(r'as\w+$', '', tree)] if tree else []

def check(crate):
    src = os.path.join(crate, "src")
    if not os.path.isdir(src):
        return True
    files = {}  # module path tuple -> file
    for dp, _, fs in os.walk(src):
        for f in fs:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dp, f), src)[:-3].split(os.sep)
            if rel[0] == "bin" or rel in (["lib"], ["main"]):
                mod = ()
                if rel[0] == "bin":
                    continue  # binaries are their own crates; they import the library by name
            elif rel[-1] == "mod":
                mod = tuple(rel[:-1])
            else:
                mod = tuple(rel)
            if mod == () and rel == ["main"] and os.path.exists(os.path.join(src, "lib.rs")):
                continue  # main.rs of a crate with a library: it imports the library by name
            files[mod] = os.path.join(src, *rel) + ".rs"
    is_dir_mod = {m: f.endswith("mod.rs") or f.endswith("lib.rs") or f.endswith("main.rs") for m, f in files.items()}
    text = {m: strip(open(f, encoding="utf-8").read()) for m, f in files.items()}
    # Re-exports: module -> {name: target module path}
    reexp = {}
    def resolve(scope, path):
        segs = [s for s in path.split("::") if s]
        if not segs:
            return None, []
        if segs[0] == "crate":
            base, segs = (), segs[1:]
        elif segs[0] in ("super", "self"):
            base = scope
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
        elif scope + (segs[0],) in files or scope + (segs[0],) in inline_mods:
            base = scope
        else:
            return None, []  # an external crate or a local name
        mod = base
        for s in segs:
            if mod + (s,) in files or mod + (s,) in inline_mods:
                mod = mod + (s,)
            else:
                return mod, segs[len(mod) - len(base):]
        return mod, []
    # Scopes: the file's module, or an inline `mod x {` block within it.
    inline_mods = set()
    scoped = {}  # file module -> list of (scope, code)
    for m, t in text.items():
        pieces, stack, depth, last = [], [(m, 0)], 0, 0
        for tok in re.finditer(r'\bmod\s+(\w+)\s*\{|\{|\}', t):
            if tok.group(1):
                pieces.append((stack[-1][0], t[last:tok.start()]))
                last = tok.end()
                depth += 1
                inner = stack[-1][0] + (tok.group(1),)
                inline_mods.add(inner)
                stack.append((inner, depth))
            elif tok.group(0) == '{':
                depth += 1
            else:
                if len(stack) > 1 and stack[-1][1] == depth:
                    pieces.append((stack[-1][0], t[last:tok.start()]))
                    last = tok.end()
                    stack.pop()
                depth -= 1
        pieces.append((stack[-1][0], t[last:]))
        scoped[m] = pieces
    def owner(mod):
        # The file a (possibly inline) module lives in.
        while mod not in files:
            mod = mod[:-1]
        return mod
    refs = {m: [] for m in files}
    for m, pieces in scoped.items():
        for scope, code in pieces:
            for u in re.finditer(r'\b(pub(\([^)]*\))?\s+)?use\s+([^;]+);', code):
                for p in expand(u.group(3)):
                    mod, rest = resolve(scope, p)
                    if mod is None:
                        continue
                    refs[m].append((mod, rest))
                    if u.group(1) and rest and rest[0] != '*':
                        name = re.sub(r'.*as', '', p.split("::")[-1]) if "as" in p else rest[-1]
                        reexp.setdefault(scope, {})[name] = mod
            for p in re.finditer(r'\b(?:crate|super|self)(?:::\w+)+', code):
                mod, rest = resolve(scope, p.group(0))
                if mod is not None:
                    refs[m].append((mod, rest))
    graph = {m: set() for m in files}
    for m, rs in refs.items():
        for mod, rest in rs:
            seen = set()
            while rest and mod in reexp and rest[0] in reexp[mod] and mod not in seen:
                seen.add(mod)
                mod = reexp[mod][rest[0]]  # the same name, defined (or re-exported) there
            target = owner(mod)
            if target != m:
                graph[m].add(target)
    name = lambda m: files[m][len(src) + 1:]
    if verbose:
        for m in sorted(graph):
            print(f"{crate}: {name(m)} -> {', '.join(sorted(name(t) for t in graph[m])) or '-'}")
    # Cycles: strongly connected components of more than one file.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)
    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    for c in comps:
        print(f"{crate}: import cycle among " + ", ".join(sorted(name(m) for m in c)))
    print(f"{crate}: {len(files)} files, {sum(len(g) for g in graph.values())} imports, "
          f"{'no cycles' if not comps else str(len(comps)) + ' cycle(s)'}")
    return not comps

ok = all([check(c) for c in crates])
sys.exit(0 if ok else 1)
EOF
