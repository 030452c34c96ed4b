#!/usr/bin/env bash
# The main job, set-up included: build and install ctorch into .venv, then train the digits
# CNN (examples/digits_cnn.py) and print its test accuracy. Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv --system-site-packages .venv
fi
export PATH="$root/.venv/bin:$PATH"
.venv/bin/python -m pip install -q --disable-pip-version-check meson-python meson ninja scipy-openblas32
.venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation .
cd "$root"
exec .venv/bin/python examples/digits_cnn.py "$@"
