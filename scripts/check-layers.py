#!/usr/bin/env python3
"""Fails when the top-level modules of src/ import each other in a cycle.

A module's imports are the `crate::<name>` paths in its files (doc comments
and strings included: naming a module in prose is a dependency of the reader
too, so keep prose free of upward references). Prints the graph with -v.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def modules():
    out = {}
    for entry in sorted(os.listdir(SRC)):
        path = os.path.join(SRC, entry)
        name = entry[:-3] if entry.endswith(".rs") else entry
        if name in ("lib", "main"):
            continue
        files = []
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files += [os.path.join(root, n) for n in names if n.endswith(".rs")]
        elif entry.endswith(".rs"):
            files.append(path)
        out.setdefault(name, []).extend(files)
    return out


def graph():
    mods = modules()
    edges = {}
    for name, files in mods.items():
        deps = set()
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for m in re.finditer(r"crate::([a-z_]+)", fh.read()):
                    if m.group(1) in mods and m.group(1) != name:
                        deps.add(m.group(1))
        edges[name] = deps
    return edges


def find_cycle(edges):
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(edges[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def main():
    edges = graph()
    if "-v" in sys.argv:
        for n in sorted(edges):
            print(f"{n} -> {' '.join(sorted(edges[n]))}")
    cycle = find_cycle(edges)
    if cycle:
        print("check-layers: import cycle between top-level modules: " + " -> ".join(cycle))
        return 1
    print(f"check-layers: {len(edges)} modules, no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
