#!/usr/bin/env bash
# Makes the sound effects shipped in scenes/sounds/ (the project's own, synthesised with sox,
# so they carry no third-party licence). Re-run after changing a recipe; the WAVs are committed.
# Usage: scripts/make-sounds.sh
set -euo pipefail
cd "$(dirname "$0")/../scenes/sounds"
# A two-note chime for big gifts: E6 then B6, each with a bell-like decay; −12 dB peak so it
# sits under the voice it is mixed into.
sox -n -r 48000 -b 16 -c 1 ding.wav \
  synth 0.18 sine 1318.5 fade q 0.004 0.18 0.17 : \
  synth 0.55 sine 1975.5 fade q 0.004 0.55 0.52 \
  gain -n -12
echo "made $(pwd)/ding.wav"
