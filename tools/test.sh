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
  tensorboard safetensors pillow onnx onnxruntime
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

echo "== libFuzzer: checkpoint and safetensors loaders (60 s)"
if ! command -v clang >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # Debian's clang with its compiler runtime (libFuzzer, sanitizers)
  (apt-get install -y -q clang libclang-rt-14-dev >/dev/null 2>&1 ||
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q clang libclang-rt-14-dev >/dev/null 2>&1)) || true
fi
if command -v clang >/dev/null 2>&1; then
  if [ ! -f build-fuzz/build.ninja ]; then
    # clang < 15 has no _Float16 on x86; __fp16 is its storage-only equivalent
    CC=clang meson setup build-fuzz -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
      -Dtests=false "-Dc_args=-fsanitize=fuzzer-no-link -D_Float16=__fp16" >/dev/null
  fi
  ninja -C build-fuzz libctorch_core.a >/dev/null
  clang -w -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild-fuzz/include -Ibuild-fuzz \
    tests/fuzz/fuzz_load.c build-fuzz/libctorch_core.a -lm -lpthread -ldl -o build-fuzz/fuzz_load
  corpus=$(mktemp -d)
  "$VPY" tools/make_fuzz_corpus.py "$corpus"
  ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz_load -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "$corpus" 2>&1 | tail -n 4
  rm -rf "$corpus"
else
  echo "clang not found: fuzzing skipped (apt-get install -y clang to enable it)"
fi

echo "== Python package"
"$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation .

echo "== Python tests"
cd "$root/tests/python"
"$VPY" -m pytest -q -p no:cacheprovider "$@"
