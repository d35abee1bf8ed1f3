#!/usr/bin/env bash
# Installs the system packages Cortex builds against on Debian 12 (Swift 6.3 is expected at
# /opt/swift or on PATH). Safe to run again: it skips apt when everything is present.
set -euo pipefail
packages=(libopenblas-dev zlib1g-dev dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  echo "note: add /opt/swift/usr/bin to PATH" >&2
fi
