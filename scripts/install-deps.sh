#!/usr/bin/env bash
# Installs the system packages the workspace needs to build and to run its end-to-end tests
# and demo: OBS Studio (+ headers for the plugin), a headless X server with software GL,
# ffmpeg, libclang for bindgen, espeak-ng/sox for offline speech, a Chinese font for OBS's
# text sources (FreeType text has no glyph fallback), redis, nginx-rtmp, libfaketime (the
# clock-jump test), Chromium (the console page is tested headless) and pip (the ONNX
# models come from PyPI wheels: scripts/install-models.sh).
#
# Idempotent and non-interactive: packages already installed are left alone, and the package
# lists are only refreshed when something is missing. Works on Debian 12 and Ubuntu.
# Usage: scripts/install-deps.sh        (as root, or as a user with sudo)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  obs-studio libobs-dev
  xvfb xauth libgl1-mesa-dri libegl1 libegl-mesa0 mesa-utils
  ffmpeg
  libclang1-14 libclang-common-14-dev
  espeak-ng sox
  redis-server
  nginx libnginx-mod-rtmp
  faketime
  pkg-config
  fonts-wqy-microhei
  python3-pip
  chromium
)

log() { printf 'install-deps: %s\n' "$*" >&2; }

# sudo only when we are not root (CI containers often have no sudo at all).
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  log "not root and sudo is not available; cannot install packages"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: only Debian/Ubuntu are supported; install these by hand: ${PACKAGES[*]}"
  exit 1
fi

is_installed() {
  # dpkg -s also succeeds for removed-but-configured packages; require "install ok installed".
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "refreshing package lists"
    "${SUDO[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
}

# Whether the (refreshed) package lists know a package that can be installed.
is_available() {
  [[ -n $(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}') ]]
}

# On a machine where an earlier run fell back to libclang-dev, that counts as the libclang
# requirement being met (otherwise every run would refresh the package lists again).
if ! is_installed libclang1-14 && is_installed libclang-dev; then
  kept=()
  for pkg in "${PACKAGES[@]}"; do
    [[ $pkg == libclang1-14 || $pkg == libclang-common-14-dev ]] || kept+=("$pkg")
  done
  PACKAGES=("${kept[@]}")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages already installed; nothing to do"
  exit 0
fi

apt_update_once

# Ubuntu releases ship other LLVM versions than Debian 12's 14: fall back to the distribution's
# default libclang, which bindgen finds just as well.
to_install=()
fallback_added=0
for pkg in "${missing[@]}"; do
  case $pkg in
    libclang1-14 | libclang-common-14-dev)
      if is_available "$pkg"; then
        to_install+=("$pkg")
      elif [[ $fallback_added -eq 0 ]]; then
        log "$pkg is not available here; using libclang-dev instead"
        to_install+=(libclang-dev)
        fallback_added=1
      fi
      ;;
    *)
      to_install+=("$pkg")
      ;;
  esac
done

# The fallback may already be installed from an earlier run.
final=()
for pkg in "${to_install[@]}"; do
  is_installed "$pkg" || final+=("$pkg")
done
if [[ ${#final[@]} -eq 0 ]]; then
  log "nothing left to install"
  exit 0
fi

log "installing: ${final[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${final[@]}"

# Packages such as redis-server and nginx start system services on install; the tests run
# their own private instances, so a failure to start them here is irrelevant and not checked.
log "installed: ${final[*]}"
