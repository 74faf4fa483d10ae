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

echo "== build"
cargo build --workspace --all-targets

echo "== fmt + clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== unit and component tests"
cargo test --workspace --exclude e2e

echo "== fuzzing the decoders of untrusted input (briefly)"
scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

echo "== end-to-end tests (real OBS, headless; one at a time: each runs its own OBS)"
cargo test -p e2e -- --test-threads=1
