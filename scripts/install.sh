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
# Toolchains of the languages `mixtune eval` runs (evals/languages.py), only those missing:
# node (+ js-md5, which HumanEval-X's JavaScript tests require), g++ (+ boost and OpenSSL
# headers for HumanEval-X's C++), javac/java (+ javatuples for MultiPL-E's Java), rustc, and
# bubblewrap (the sandbox's engine when present).
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  [ -e /usr/include/boost/any.hpp ] || missing+=(libboost-dev)
  [ -e /usr/include/openssl/md5.h ] || missing+=(libssl-dev)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  [ -e /usr/share/java/javatuples.jar ] || missing+=(libjavatuples-java)
  command -v rustc >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/rustc" ] || missing+=(rustc)
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)  # the sandbox's default engine
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if command -v npm >/dev/null 2>&1 && [ ! -d "$(npm root -g)/js-md5" ]; then
    npm install -g --silent js-md5 >/dev/null
  fi
else
  echo "note: run as root to install the eval toolchains (node, g++, javac, rustc); missing ones are named by mixtune eval" >&2
fi
