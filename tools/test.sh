#!/usr/bin/env bash
# The whole test suite, set-up included: C tests under AddressSanitizer, UndefinedBehavior-
# Sanitizer and LeakSanitizer, then the Python tests against real PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=${PYTHON:-python3}

# A virtual environment that can see already-installed packages (torch is large).
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv --system-site-packages .venv
fi
VPY="$root/.venv/bin/python"
export PATH="$root/.venv/bin:$PATH"
"$VPY" -m pip install -q --disable-pip-version-check meson-python meson ninja pytest numpy hypothesis "torch==2.13.0" \
  tensorboard safetensors pillow
# LAPACK for ctorch.linalg (dlopen'ed at the first linalg call)
"$VPY" -m pip install -q --disable-pip-version-check scipy-openblas32

echo "== C tests (ASan + UBSan + LSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ ! -f build-sanitize/build.ninja ]; then
  meson setup build-sanitize -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-sanitize >/dev/null
meson test -C build-sanitize --print-errorlogs

echo "== Python package"
"$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation .

echo "== Python tests"
cd "$root/tests/python"
"$VPY" -m pytest -q -p no:cacheprovider "$@"
