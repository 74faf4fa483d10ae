#!/usr/bin/env bash
# Fuzzes the sidecar's decoders of untrusted input (sidecar/fuzz: Douyin frames, Bilibili
# packets, BarrageGrab JSON, Open Platform pushes, replay files) with cargo-fuzz / libFuzzer.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20; CI runs it briefly, see
#        BENCHMARKS.md's robustness section for the long runs)
#
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them (this machine has one toolchain and cannot fetch another). Coverage
# instrumentation without a sanitizer (`-s none`): safe Rust, and the findings we look for are
# panics, hangs and unbounded allocation, which libFuzzer catches by itself (-rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")/../sidecar/fuzz"
secs="${1:-20}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=(douyin_frame bilibili_packet barrage_grab_json open_platform_push replay_file)
cargo fuzz build -s none -O
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${secs}s"
    cargo fuzz run -s none -O "$target" "corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1 2>&1 \
        | grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|panicked|SUMMARY" || true
    # A crash leaves an artifact and makes `cargo fuzz run` fail; surface it.
    if compgen -G "artifacts/$target/crash-*" >/dev/null || compgen -G "artifacts/$target/oom-*" >/dev/null \
        || compgen -G "artifacts/$target/timeout-*" >/dev/null; then
        echo "fuzz.sh: $target found a failing input in sidecar/fuzz/artifacts/$target" >&2
        exit 1
    fi
done
