#!/usr/bin/env bash
# The main job, on the embedded defaults: build, install the AI Avatar plugin into OBS, run the
# sidecar on the bundled sample room (local espeak-ng voice, SQLite ledger, no accounts), record
# OBS's program output, and print the recording's path at the end.
#
#   scripts/demo.sh                       private headless OBS under Xvfb (no display needed)
#   scripts/demo.sh --obs HOST:PORT       your own OBS (set AIVS_OBS_PASSWORD to its websocket
#                                         password; the plugin is installed into
#                                         ~/.config/obs-studio/plugins, restart OBS once to load it)
#   extra flags after -- go to `sidecar run` (e.g. -- --speed 2)
set -euo pipefail
cd "$(dirname "$0")/.."

OBS_TARGET=""
SIDECAR_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --obs) OBS_TARGET="$2"; shift 2 ;;
    --) shift; SIDECAR_ARGS=("$@"); break ;;
    *) echo "usage: $0 [--obs HOST:PORT] [-- sidecar args]" >&2; exit 2 ;;
  esac
done

command -v cargo >/dev/null || { echo "demo.sh: cargo not found; install Rust from rustup.rs" >&2; exit 1; }
scripts/install-deps.sh
scripts/install-models.sh

echo "== building (release)"
cargo build --release -p obs-plugin -p sidecar -p e2e

OUT="$PWD/out"
mkdir -p "$OUT/recordings"
LEDGER="$OUT/demo-ledger.sqlite3"
rm -f "$LEDGER" "$LEDGER-wal" "$LEDGER-shm"   # a fresh ledger, so every sample gift is thanked

cleanup() { [[ -n "${OBS_PID:-}" ]] && kill -INT "$OBS_PID" 2>/dev/null && wait "$OBS_PID" 2>/dev/null || true; }
trap cleanup EXIT

if [[ -z "$OBS_TARGET" ]]; then
  export AIVS_OBS_PASSWORD="${AIVS_OBS_PASSWORD:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "== starting a private headless OBS (its config lives in a temp dir, yours is untouched)"
  # The password goes through the environment: a command line is visible to every user.
  OBS_WS_PASSWORD="$AIVS_OBS_PASSWORD" target/release/headless-obs --ws-port "$PORT" \
    --recording-dir "$OUT/recordings" --plugin-profile release > "$OUT/headless-obs.log" 2>&1 &
  OBS_PID=$!
  # headless-obs prints OBS_WS=…, OBS_HOME=… and, last, OBS_READY=1 once OBS accepts clients.
  for _ in $(seq 1 120); do
    grep -q '^OBS_READY=1' "$OUT/headless-obs.log" 2>/dev/null && break
    kill -0 "$OBS_PID" 2>/dev/null || { cat "$OUT/headless-obs.log" >&2; exit 1; }
    sleep 0.5
  done
  grep -q '^OBS_READY=1' "$OUT/headless-obs.log" || { echo "OBS did not come up" >&2; cat "$OUT/headless-obs.log" >&2; exit 1; }
  HOST=127.0.0.1
else
  HOST="${OBS_TARGET%:*}"; PORT="${OBS_TARGET##*:}"
  DEST="$HOME/.config/obs-studio/plugins/ai-avatar"
  mkdir -p "$DEST/bin/64bit" "$DEST/data"
  cp target/release/libai_avatar.so "$DEST/bin/64bit/ai-avatar.so"
  cp -r obs-plugin/data/. "$DEST/data/"
  echo "== plugin installed into $DEST (restart OBS once if it was running without it)"
fi

echo "== running the sidecar on the sample room (about 3.5 minutes)"
RECORDING=$(target/release/sidecar run --config config/default.toml --ledger "$LEDGER" \
  --obs-host "$HOST" --obs-port "$PORT" --record --exit-when-done "${SIDECAR_ARGS[@]}" | sed -n 's/^recording: //p')

echo
echo "Ledger:    $LEDGER"
echo "Recording: ${RECORDING:-none}"
