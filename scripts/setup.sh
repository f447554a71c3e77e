#!/usr/bin/env bash
# Idempotent setup: Tesseract (apt, when root and missing), a virtual environment in .venv, picd with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if ! command -v tesseract >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing tesseract-ocr (apt)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null
  else
    echo "Tesseract is missing: install it (sudo apt-get install tesseract-ocr / brew install tesseract) and rerun." >&2
    exit 1
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch: the CPU build (this machine keeps its wheel on disk; elsewhere set PICD_TORCH_SPEC, e.g. to your CUDA build).
TORCH_SPEC="${PICD_TORCH_SPEC:-torch==2.13.0}"
if ! .venv/bin/python -c "import picd_core, pytest, hypothesis, torch, scipy, safetensors" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.picd-installed ]; then
  echo "installing picd (with the learned codec) into .venv..." >&2
  .venv/bin/pip install -q -c constraints.txt "$TORCH_SPEC" -e ".[dev,codec,diffusion,eval]"
  touch .venv/.picd-installed
fi
