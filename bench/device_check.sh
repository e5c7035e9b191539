#!/usr/bin/env bash
# One H200 lease, one script: build, GPU tests, bandwidth benchmark. Results under $OUT:
#   env.txt, build.log, gpu_tests.log, gpu_code.log and .txt (compiled code), triton_direct.log,
#   results.json, bandwidth.png, table.txt (printed last).
# The benchmark runs its quick subset (serving k = 4, 64 MB and 256 MB) unless FULL=1.
# Budget: under 8 minutes. Run from the repository root:
#   OUT=/tmp/out bash bench/device_check.sh
set -uo pipefail
OUT=${OUT:-$(pwd)/device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
start=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - start )) s] $*"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  $PY -c "import torch, triton, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
  nvcc --version | tail -1; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

elapsed "build"
if ! $PY -m pip install --no-build-isolation --no-deps -e . > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; exit 1
fi
$PY -c "import parity_kernels._C_cuda, parity_kernels as pk; print('CUDA extension:', parity_kernels._C_cuda.__file__)" \
  || { echo "CUDA extension missing"; tail -40 "$OUT/build.log"; }

elapsed "GPU tests"
timeout 270 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit code $?"
grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -3
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head -20

elapsed "compiled code (this triton's sm_90 PTX, cuobjdump)"
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_gpu_code.py > "$OUT/gpu_code.log" 2>&1
echo "gpu code tests exit code $?"
grep -E "passed|failed|error" "$OUT/gpu_code.log" | tail -2
timeout 60 $PY -m parity_kernels.bench.gpu_code > "$OUT/gpu_code.txt" 2>&1 || echo "gpu_code report failed"
# this Triton's launcher call against the direct launches' (a stand-in driver records both)
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_triton_direct.py > "$OUT/triton_direct.log" 2>&1
echo "triton direct-launch tests exit code $?"
grep -E "passed|failed|error" "$OUT/triton_direct.log" | tail -2

elapsed "bandwidth benchmark"
timeout 240 $PY -m parity_kernels bench --device cuda $([ -n "${FULL:-}" ] || echo --quick) --json "$OUT/results.json" \
  --plot "$OUT/bandwidth.png" > "$OUT/table.txt" 2> "$OUT/bench_progress.txt"
echo "benchmark exit code $?"
elapsed "done"
tail -80 "$OUT/table.txt"
