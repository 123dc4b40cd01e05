#!/usr/bin/env bash
# What to run the moment a machine with an NVIDIA GPU and CuPy is lent: in under eight minutes,
#   1. the test suite on the CuPy backend, with NODE_REQUIRE_CUPY=1 (a CuPy test that skips fails);
#   2. the examples with --device gpu, on a small generated MNIST (the machine may have no data);
#   3. the MLP and LeNets++ training steps on the GPU, eager and captured (node.compile), against
#      PyTorch CUDA when it is installed, and the device waits per step of each (gpu_syncs.py).
# Everything it prints also goes to one report file (default: gpu_check_report.txt; or give a path):
#     bash benchmarks/gpu_check.sh [REPORT]
# Put what it printed into docs/performance.md. Under ../shared/fake_cupy (PYTHONPATH) it runs on
# the CPU as a dry run of the script itself; its timings then mean nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
report="${1:-gpu_check_report.txt}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0

step() {  # step SECONDS TITLE COMMAND...: run one part under a time limit, note its exit status and time
    local limit="$1" title="$2"
    shift 2
    echo
    echo "== $title"
    local began=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    echo "-- $title: exit $rc, $((SECONDS - began)) s"
    [ "$rc" -eq 0 ] || status=1
}

{
    echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
    python - <<'EOF'
import platform
import numpy
import node
print(f"Python {platform.python_version()}, NumPy {numpy.__version__}, node {node.__version__}, CuPy usable: {node.cupy_available()}")
try:
    import cupy
    print(f"CuPy {cupy.__version__}")
except ImportError:
    print("CuPy: not installed")
try:
    import torch
    print(f"PyTorch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
except ImportError:
    print("PyTorch: not installed (its rows are skipped)")
EOF

    step 330 "the suite on CuPy (NODE_REQUIRE_CUPY=1; the notebooks and text examples are left to CI)" \
        env NODE_REQUIRE_CUPY=1 python -m pytest -q -x -p no:cacheprovider \
        --ignore=tests/project/test_notebooks.py --ignore=tests/project/test_text_examples.py

    python - "$work/data" <<'EOF'
import sys
from pathlib import Path
import numpy as np
import node
rng = np.random.default_rng(0)
for prefix, n in (("train", 2000), ("t10k", 500)):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):  # each class a bright square in its own place
        r, c = 3 + 7 * (label // 4), 3 + 6 * (label % 4)
        images[i, r : r + 6, c : c + 6] = 220
    node.write_idx(Path(sys.argv[1]) / "mnist" / f"{prefix}-images-idx3-ubyte.gz", images)
    node.write_idx(Path(sys.argv[1]) / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", labels)
EOF
    step 60 "examples/center_loss_mnist.py --device gpu" \
        python examples/center_loss_mnist.py --device gpu --data "$work/data" --epochs 2 --out "$work/mlp"
    step 90 "examples/center_loss_convnet.py --device gpu" \
        python examples/center_loss_convnet.py --device gpu --data "$work/data" --epochs 1 --limit 1000 --out "$work/conv"
    step 60 "examples/tiny_gpt.py --device gpu --tiny" \
        python examples/tiny_gpt.py --device gpu --tiny --out "$work/gpt"

    step 120 "the notebook's MLP step on the GPU (node vs PyTorch CUDA)" \
        python benchmarks/mlp_step.py --device gpu --repeats 3 --limit 20000 --no-memory
    step 120 "LeNets++ step on the GPU (node vs PyTorch CUDA)" \
        python benchmarks/conv_step.py --device gpu --repeats 3 --steps 5 --no-memory --models LeNets++
    step 90 "device waits per step, eager and captured (cupyx.allow_synchronize(False))" \
        python benchmarks/gpu_syncs.py --steps 20

    echo
    echo "gpu_check: $([ "$status" -eq 0 ] && echo 'every part passed' || echo 'a part FAILED (see its exit status above)')"
    exit "$status"
} 2>&1 | tee "$report"
exit "${PIPESTATUS[0]}"
