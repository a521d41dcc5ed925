#!/usr/bin/env bash
# Installs the benchmark-only peers (PyTorch Lightning, poutyne, JAX for Keras 3's
# JAX backend) into the project's .venv. The test command never needs them.
# The constraints file pins torch to the local CPU build: without it, lightning's
# "torch>=..." requirement could pull a different torch with gigabytes of CUDA wheels.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
"$python" -m pip install -c constraints.txt lightning poutyne jax jaxlib
"$python" - <<'PY'
import torch
if not torch.__version__.startswith("2.13.0"):
    raise SystemExit(f"torch must stay 2.13.0 (constraints.txt). Received: {torch.__version__}")
print("peers installed; torch", torch.__version__)
PY
