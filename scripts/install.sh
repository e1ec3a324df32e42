#!/usr/bin/env bash
# Install mixtune for CPU use on a fresh machine: the CPU PyTorch wheel first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then mixtune with its dev extras, then the
# headless Chromium the browser test drives. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
PY=${PYTHON:-python3}
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev]"
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: Debian's chromium is not installed; the browser test will fail until it is (apt-get install chromium)" >&2
  fi
fi
