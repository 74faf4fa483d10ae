#!/usr/bin/env bash
# The test command: everything the project claims, checked on this machine.
# Installs missing system packages (OBS, Xvfb, ffmpeg, espeak-ng, …), builds the workspace
# (the end-to-end tests load the freshly built plugin into a private headless OBS), checks
# formatting and lints, then runs every test.
#
# Usage: scripts/test.sh     (root, or a user with sudo, for the package install)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo not found; install Rust from rustup.rs" >&2; exit 1; }

scripts/install-deps.sh
scripts/install-models.sh

# Disk: every cargo invocation below selects the same packages (`--workspace`), so cargo
# resolves one feature set and reuses one set of artifacts; `-p e2e` or `--exclude e2e` would
# each build the whole dependency tree again with different features (that, plus incremental
# caches, filled a CI disk). Incremental compilation buys nothing on a one-shot run.
export CARGO_INCREMENTAL=0
# The end-to-end suites (tests/tests/*.rs) run one at a time; everything else in parallel.
e2e_suites=()
for suite in tests/tests/*.rs; do e2e_suites+=(--test "$(basename "$suite" .rs)"); done
other_suites=()
for suite in sidecar/tests/*.rs live2d-bridge/tests/*.rs; do other_suites+=(--test "$(basename "$suite" .rs)"); done

echo "== build"
cargo build --workspace --all-targets

echo "== layout (no import cycles; ARCHITECTURE.md's crate rules; small files)"
scripts/check-cycles.py
scripts/check-file-sizes.py

echo "== fmt + clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== unit and component tests"
cargo test --workspace --lib --bins "${other_suites[@]}"
cargo test --workspace --doc

echo "== fuzzing the decoders of untrusted input (briefly)"
scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

echo "== end-to-end tests (real OBS, headless; one at a time: each runs its own OBS)"
cargo test --workspace --no-fail-fast "${e2e_suites[@]}" -- --test-threads=1
