#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a cycle.

ARCHITECTURE.md promises that every crate's modules form a DAG (and cargo already refuses
cycles between crates). This reads `crate::…` and `super::…` paths (resolved against the file's own module) in each crate's sources (tests excluded:
a test module may reach anywhere) and reports every strongly connected component of more than
one module, with one import line per edge, so the fix is obvious.

Usage: scripts/check-cycles.py [CRATE_SRC_DIR…]   (default: every crate in the workspace)
"""

import os
import re
import sys
from collections import defaultdict

DEFAULT_ROOTS = [
    "sidecar/src",
    "sidecar/core/src",
    "sidecar/ingest/src",
    "sidecar/ledger/src",
    "sidecar/speech/src",
    "sidecar/llm/src",
    "sidecar/avatar-link/src",
    "obs-plugin/src",
    "live2d-bridge/src",
    "tests/src",
]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def without_tests(text):
    """Drops `#[cfg(test)] mod x { … }` blocks and everything after `#[cfg(test)] mod tests;`."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\(\w+\))?\s+)?mod\s+\w+\s*([;{])", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        if m.group(3) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def first_segments(group):
    """`{a::b, c, d::{e, f}}` → [a, c, d]: the top-level names a brace group imports."""
    names, depth, token = [], 0, ""
    for ch in group[1:-1] + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and ch == ",":
            name = re.match(r"\s*(\w+)", token)
            if name:
                names.append(name.group(1))
            token = ""
        elif depth >= 0:
            token += ch
    return names


def module_path(rel):
    """The module a file is, as segments below the crate root: `a/b.rs` and `a/b/mod.rs` are
    `[a, b]`."""
    parts = rel[:-1] + ([] if rel[-1] == "mod.rs" else [rel[-1][:-3]])
    return parts


def named_after(text, m, group):
    """The names a path match imports: `x` itself, or each first segment of a `{…}` group."""
    if m.group(group) != "{":
        return [m.group(group)]
    depth, j = 1, m.end()
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return first_segments(text[m.end() - 1 : j])


def absolute_paths(text, here):
    """`super::…::x` paths, resolved against the file's module `here` to their first segment
    below the root."""
    for m in re.finditer(r"\b((?:super::)+)(\{|\w+)", text):
        up = m.group(1).count("super::")
        if up > len(here):
            continue
        base = here[: len(here) - up]
        line = text.count("\n", 0, m.start()) + 1
        if base:
            yield base[0], line  # still inside the file's own top-level module
            continue
        for name in named_after(text, m, 2):
            yield name, line


def crate_paths(text):
    """Every module named right after `crate::`, with the line it is on."""
    for m in re.finditer(r"\bcrate::(\{|\w+)", text):
        line = text.count("\n", 0, m.start()) + 1
        for name in named_after(text, m, 1):
            yield name, line


def module_graph(root):
    modules = set()
    for entry in os.listdir(root):
        path = os.path.join(root, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            modules.add(entry[:-3])
        elif os.path.isdir(path) and entry != "bin":
            modules.add(entry)
    edges = defaultdict(dict)
    for directory, _, files in os.walk(root):
        for file in files:
            if not file.endswith(".rs"):
                continue
            path = os.path.join(directory, file)
            rel = os.path.relpath(path, root).split(os.sep)
            top = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
            if top not in modules or file == "tests.rs" or file.endswith("_tests.rs") or "tests" in rel[:-1]:
                continue
            text = without_tests(strip_comments(open(path, encoding="utf-8").read()))
            here = module_path(rel)
            for name, line in [*crate_paths(text), *absolute_paths(text, here)]:
                if name in modules and name != top:
                    edges[top].setdefault(name, f"{os.path.join(root, *rel)}:{line}")
    return modules, edges


def cycles(modules, edges):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return found


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    roots = sys.argv[1:] or DEFAULT_ROOTS
    failed = False
    for root in roots:
        modules, edges = module_graph(root)
        for component in cycles(modules, edges):
            failed = True
            print(f"check-cycles: {root}: modules import each other in a cycle: {', '.join(component)}")
            for a in component:
                for b, where in sorted(edges[a].items()):
                    if b in component:
                        print(f"    {a} -> {b}  ({where})")
    if failed:
        sys.exit(1)
    print(f"check-cycles: no import cycles in {len(roots)} crates")


if __name__ == "__main__":
    main()
