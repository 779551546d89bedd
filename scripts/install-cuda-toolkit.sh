#!/usr/bin/env bash
# Installs what the CUDA backend needs to *compile* on Debian 12 (no GPU required):
# Debian's nvidia-cuda-toolkit (nvcc 11.8, in contrib/non-free) and g++-11, because
# nvcc 11.8 refuses g++ 12 as a host compiler. Idempotent: does nothing when nvcc and
# g++-11 are already there. Needs root (CI and the dev machines run as root).
set -euo pipefail

if command -v nvcc >/dev/null 2>&1 && command -v g++-11 >/dev/null 2>&1; then
  echo "install-cuda-toolkit: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') and g++-11 already present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ] && ! grep -q 'non-free' "$src"; then
  # Same mirrors, just the extra components that carry the toolkit.
  $SUDO sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$src"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit g++-11
nvcc --version | tail -n 2
