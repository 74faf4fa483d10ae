#!/usr/bin/env python3
"""Fails when a source file of the sidecar's crates grows past ~500 lines of code.

Small modules, one concept each, are what keep the sidecar readable (ARCHITECTURE.md). Tests
do not count: `tests.rs` / `*_tests.rs` files, `tests/` directories, and everything from a
file's first `#[cfg(test)]` on. Generated code lives in OUT_DIR and is not seen here.

Usage: scripts/check-file-sizes.py [LIMIT]   (default 500)
"""

import os
import sys

ROOT = "sidecar"
SKIP_DIRS = {"fuzz", "target", "tests", "benches"}


def code_lines(path):
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip().startswith("#[cfg(test)]"):
                break
            count += 1
    return count


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    over = []
    for directory, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for file in files:
            if not file.endswith(".rs") or file == "tests.rs" or file.endswith("_tests.rs"):
                continue
            path = os.path.join(directory, file)
            n = code_lines(path)
            if n > limit:
                over.append((n, path))
    for n, path in sorted(over, reverse=True):
        print(f"check-file-sizes: {path}: {n} lines of code (limit {limit}); split it by concept")
    if over:
        sys.exit(1)
    print(f"check-file-sizes: every file in {ROOT}/ is within {limit} lines of code")


if __name__ == "__main__":
    main()
