#!/usr/bin/env bash
# Builds a release archive a streamer can unpack next to OBS Studio:
#
#   scripts/package.sh [--profile release|debug] [--os linux|windows|macos] [--out DIR]
#                      [--no-build]
#
#   --profile  release (default) builds and packages target/release; debug packages the
#              existing debug binaries (what the end-to-end test does: no release build)
#   --os       the layout; default from `uname` (Linux, Darwin, MINGW/MSYS/CYGWIN = windows)
#   --out      where the archive goes (default out/)
#   --no-build package the binaries as they are
#
# Layouts (PLUGIN = ai-avatar; the sidecar folder is the same everywhere):
#
#   linux    ai-vstreamer-linux-x86_64.tar.gz
#              obs-plugins/ai-avatar/bin/64bit/ai-avatar.so   → ~/.config/obs-studio/plugins/
#              obs-plugins/ai-avatar/data/locale/*.ini
#   windows  ai-vstreamer-windows-x64.zip (what .github/workflows/release.yml builds)
#              obs-plugins/64bit/ai-avatar.dll                 → C:\Program Files\obs-studio\
#              data/obs-plugins/ai-avatar/locale/*.ini
#   macos    ai-vstreamer-macos-<arch>.zip
#              ai-avatar.plugin/Contents/MacOS/ai-avatar       → ~/Library/Application Support/
#              ai-avatar.plugin/Contents/Resources/locale/*.ini     obs-studio/plugins/
#              ai-avatar.plugin/Contents/Info.plist
#   all      sidecar/  sidecar binary, live2d-bridge, config.toml (from `sidecar init`), scenes/,
#                      rooms/, scripts/, models/ (whatever scripts/install-models.sh put in
#                      models/; left out with a warning when absent), start script
#            README.md, LICENSES/ (the plugin GPL-2.0-or-later, the rest MIT OR Apache-2.0)
#
# Prints the archive's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=release
OUT="$PWD/out"
BUILD=1
case "$(uname -s)" in
  Linux) OS=linux ;;
  Darwin) OS=macos ;;
  MINGW*|MSYS*|CYGWIN*) OS=windows ;;
  *) OS=linux ;;
esac
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --os) OS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: $0 [--profile release|debug] [--os linux|windows|macos] [--out DIR] [--no-build]" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in release|debug) ;; *) echo "package.sh: --profile is release or debug" >&2; exit 2 ;; esac

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
[[ "$TARGET" = /* || "$TARGET" =~ ^[A-Za-z]: ]] || TARGET="$PWD/$TARGET"
BIN="$TARGET/$PROFILE"

if [[ "$PROFILE" = release && "$BUILD" = 1 ]]; then
  echo "== building (release): plugin, sidecar, live2d-bridge" >&2
  cargo build --release -p obs-plugin -p sidecar -p live2d-bridge >&2
fi

case "$OS" in
  linux) PLUGIN_LIB=libai_avatar.so; EXE="" ;;
  macos) PLUGIN_LIB=libai_avatar.dylib; EXE="" ;;
  windows) PLUGIN_LIB=ai_avatar.dll; EXE=".exe" ;;
  *) echo "package.sh: unknown --os $OS" >&2; exit 2 ;;
esac
for f in "$BIN/$PLUGIN_LIB" "$BIN/sidecar$EXE" "$BIN/live2d-bridge$EXE"; do
  [[ -f "$f" ]] || { echo "package.sh: $f is missing (build it first, or drop --no-build)" >&2; exit 1; }
done

ARCH="$(uname -m)"
case "$OS" in
  linux) NAME="ai-vstreamer-linux-$ARCH" ;;
  macos) NAME="ai-vstreamer-macos-$ARCH" ;;
  windows) NAME="ai-vstreamer-windows-x64" ;;
esac
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/$NAME"
mkdir -p "$ROOT"

# The plugin, in the layout OBS loads it from on each system.
case "$OS" in
  linux)
    P="$ROOT/obs-plugins/ai-avatar"
    mkdir -p "$P/bin/64bit" "$P/data"
    cp "$BIN/$PLUGIN_LIB" "$P/bin/64bit/ai-avatar.so"
    cp -r obs-plugin/data/. "$P/data/" ;;
  windows)
    mkdir -p "$ROOT/obs-plugins/64bit" "$ROOT/data/obs-plugins/ai-avatar"
    cp "$BIN/$PLUGIN_LIB" "$ROOT/obs-plugins/64bit/ai-avatar.dll"
    cp -r obs-plugin/data/. "$ROOT/data/obs-plugins/ai-avatar/" ;;
  macos)
    P="$ROOT/ai-avatar.plugin/Contents"
    mkdir -p "$P/MacOS" "$P/Resources"
    cp "$BIN/$PLUGIN_LIB" "$P/MacOS/ai-avatar"
    cp -r obs-plugin/data/. "$P/Resources/"
    cat > "$P/Info.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleName</key><string>ai-avatar</string>
  <key>CFBundleIdentifier</key><string>io.github.ai-vstreamer.ai-avatar</string>
  <key>CFBundleExecutable</key><string>ai-avatar</string>
  <key>CFBundlePackageType</key><string>BNDL</string>
  <key>CFBundleVersion</key><string>0.1.0</string>
</dict>
</plist>
PLIST
    ;;
esac

# The sidecar folder: binaries, and the starter files the binary itself writes.
S="$ROOT/sidecar"
mkdir -p "$S"
cp "$BIN/sidecar$EXE" "$BIN/live2d-bridge$EXE" "$S/"
cp live2d-bridge/bridge.example.toml "$S/"
# Written by the binary being packaged (its embedded copies): what a user gets from
# `sidecar init` is exactly what ships. Packaging for another OS than this one is not supported.
"$S/sidecar$EXE" init "$S" >/dev/null
if [[ -d models ]] && [[ -n "$(ls -A models)" ]]; then
  cp -r models "$S/models"
else
  echo "package.sh: WARNING: models/ is empty or missing (run scripts/install-models.sh); packaging without Silero VAD, ONNX Runtime and Piper" >&2
fi
if [[ "$OS" = windows ]]; then
  cat > "$S/start.cmd" <<'CMD'
@echo off
rem Runs the show with config.toml next to this script. Set AIVS_OBS_PASSWORD first
rem (OBS: Tools - WebSocket Server Settings), e.g. in the user's environment variables.
cd /d "%~dp0"
sidecar.exe run --config "%~dp0config.toml" %*
CMD
else
  cat > "$S/start" <<'SH'
#!/bin/sh
# Runs the show with config.toml next to this script, from any working directory.
# Set AIVS_OBS_PASSWORD first (OBS: Tools → WebSocket Server Settings); extra arguments go to
# `sidecar run` (e.g. ./start --exit-when-done).
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/sidecar" run --config "$here/config.toml" "$@"
SH
  chmod +x "$S/start"
fi

cp README.md "$ROOT/README.md"
cp -r LICENSES "$ROOT/LICENSES"
cat > "$ROOT/LICENSES/README.txt" <<'TXT'
The OBS plugin (ai-avatar) is GPL-2.0-or-later (GPL-2.0.txt), as OBS Studio requires.
The sidecar and live2d-bridge are MIT OR Apache-2.0 (MIT.txt, Apache-2.0.txt), at your option.
The models in sidecar/models keep their own licences (ONNX Runtime: MIT; Silero VAD: MIT;
Piper voices: see their model cards).
TXT

mkdir -p "$OUT"
case "$OS" in
  linux)
    ARCHIVE="$OUT/$NAME.tar.gz"
    tar -C "$STAGE" -czf "$ARCHIVE" "$NAME" ;;
  *)
    ARCHIVE="$OUT/$NAME.zip"
    rm -f "$ARCHIVE"
    if command -v 7z >/dev/null; then (cd "$STAGE" && 7z a -tzip "$ARCHIVE" "$NAME" >/dev/null)
    else (cd "$STAGE" && zip -qr "$ARCHIVE" "$NAME"); fi ;;
esac
echo "$ARCHIVE"
