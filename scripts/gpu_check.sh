#!/usr/bin/env bash
# The GPU leg of the matrix, for a bare GPU machine (an H100/H200 lent through the
# device tool: torch 2.11 + CUDA 13, jax 0.11 with CUDA, cupy 14, optax, pytest,
# hypothesis on Python 3.12; no TensorFlow, nox or array-api-compat, no network).
#
# Prepare on the development machine (pure-Python wheels travel in .whl/, ignored by git):
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl \
#       array-api-compat==1.16.0 array-api-strict==2.6.1 pytest-xdist execnet
# Run there (one call, results under $OUT):
#   bash scripts/gpu_check.sh "$OUT"           # carry: [".whl"]
# GPU_BACKENDS=jax:gpu (default torch:gpu,jax:gpu,cupy) narrows the cells, GPU_BENCH=0 skips the benchmark.
# It prints nvidia-smi, asserts each framework sees the GPU, runs every GPU cell of the
# test matrix (torch:gpu, jax:gpu, cupy) with a JUnit XML, writes summary.md, then runs the
# GPU benchmark. Commit summary.md (and the benchmark tables) under tests/gpu-results/ and
# benchmarks/results/.
set -uo pipefail
OUT="${1:-${OUT:-gpu-out}}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=2

nvidia-smi | tee "$OUT/nvidia-smi.txt"

python3 - <<'PY' 2>&1 | tee "$OUT/visible.txt"
import importlib
ok = True
for name, check in [
    ("torch", lambda m: m.cuda.is_available() and m.cuda.get_device_name()),
    ("jax", lambda m: [str(d) for d in m.devices("gpu")]),
    ("cupy", lambda m: m.cuda.runtime.getDeviceCount()),
]:
    try:
        m = importlib.import_module(name)
        seen = check(m)
    except Exception as exc:  # report, keep going
        seen = f"error: {exc}"
    print(f"{name:6s} {getattr(m, '__version__', '?'):12s} GPU: {seen}")
    ok = ok and bool(seen) and not str(seen).startswith("error")
import array_api_compat, xbackend
print("array_api_compat", array_api_compat.__version__, "xbackend", xbackend.__version__)
raise SystemExit(0 if ok else 1)
PY
visible=$?

# About 6 500 GPU cells; most of their time is Python and XLA compiles, so with
# pytest-xdist (carried in .whl/) four workers share the one GPU (JAX does not
# preallocate its memory: XLA_PYTHON_CLIENT_PREALLOCATE=false above).
workers=()
python3 -c "import xdist" 2>/dev/null && workers=(-n 4)
XBACKEND_DEVICE=cuda XBACKEND_TEST_BACKENDS="${GPU_BACKENDS:-torch:gpu,jax:gpu,cupy}" \
    timeout -s INT -k 30 330 python3 -m pytest -q -p no:cacheprovider "${workers[@]}" -k "gpu or cupy" \
    --junitxml "$OUT/junit.xml" tests 2>&1 | tail -n 60 | tee "$OUT/pytest-tail.txt"
tests=${PIPESTATUS[0]}

python3 scripts/gpu_summary.py "$OUT/junit.xml" "$OUT/visible.txt" "$OUT/pytest-tail.txt" > "$OUT/summary.md"
cat "$OUT/summary.md"

if [ "${GPU_BENCH:-1}" != 0 ]; then
    timeout 170 python3 -m xbackend bench --device cuda --time-limit 120 --repeats 7 --warmup 1 \
        --no-progress --out "$OUT" 2>&1 | tail -n 40
fi
echo "visible=$visible tests=$tests"
exit $(( visible != 0 || tests != 0 ))
