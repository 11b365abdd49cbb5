#!/usr/bin/env bash
# The benchmark suite on a lent GPU machine: Python 3.12 with jax (CUDA plugin), flax, optax and a
# CUDA build of torch installed, no network, snnx not installed. Run from the repository root:
#
#   bash benchmarks/gpu.sh                 # every GPU workload, fp32 and bf16, within ~8 minutes
#   bash benchmarks/gpu.sh --shrink 8      # anything after gpu.sh goes to run.py and wins
#
# 1. installs the wheels in .whl/ (benchmarks/gpu_wheels.sh fetches them on a machine with network:
#    nir, snntorch, norse, spyx and what they need) into /tmp/site, and puts it on PYTHONPATH;
# 2. puts this checkout's src/ on PYTHONPATH, so that snnx imports from it;
# 3. prints the GPU and the versions, then runs benchmarks/run.py --device gpu --dtype fp32,bf16,
#    which measures the GEMM peaks (fp32, bf16) and the matmul floors in the same run and writes
#    ${OUT:-benchmarks/results}/gpu.json (and gpu.log next to it);
# 4. in the last GPU_BENCH_TUNE_S seconds (default 100), benchmarks/tune_options.py re-measures the
#    engine's GPU defaults on ff100 (tune.json), also when a benchmark process failed.
#
# Time: run.py needs about 7-10 s per process on the GPU (interpreter, CUDA start-up, compilation,
# the timed steps); a round of the 9 GPU workloads x 4 frameworks x 2 dtypes is ~66 processes, more
# than 8 minutes. So one round by default, fp32 first (every workload), then bf16, and run.py stops
# starting processes after its --budget: what did not run is listed in the JSON ("not_run").
# Environment: GPU_BENCH_ROUNDS (default 1), GPU_BENCH_LIMIT_S (the whole script, default 470),
# GPU_BENCH_FRAMEWORKS (default snnx,spyx,snntorch,norse; snnx-step is left out for time).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${GPU_BENCH_ROUNDS:-1}
LIMIT_S=${GPU_BENCH_LIMIT_S:-470}
FRAMEWORKS=${GPU_BENCH_FRAMEWORKS:-snnx,spyx,snntorch,norse}
TIMEOUT_S=120  # the most one benchmark process may take
TUNE_S=${GPU_BENCH_TUNE_S:-100}  # kept at the end for tune_options.py
OUT_DIR=${OUT:-benchmarks/results}
mkdir -p "$OUT_DIR"

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi -L || echo "nvidia-smi: not available"
python3 - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "nir", "snnx", "spyx", "snntorch", "norse"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except Exception as e:  # report and go on: run.py records why a framework is skipped
        print(f"{name}: not importable ({type(e).__name__}: {e})")
try:
    import jax
    print("jax devices:", jax.devices())
    import torch
    print("torch cuda:", torch.version.cuda, torch.cuda.is_available())
except Exception as e:
    print("device check failed:", e)
EOF

# snnx itself must import (it needs nir, which a bare GPU machine lacks): else say how, and stop
if ! python3 -c "import snnx" 2>/dev/null; then
    python3 -c "import snnx" || true
    echo "gpu.sh: snnx does not import here; run 'bash benchmarks/gpu_wheels.sh' on a machine with network" >&2
    echo "gpu.sh: and bring its .whl/ folder along (it installs nir and the peers from there)" >&2
    exit 2
fi

# start no benchmark process later than TIMEOUT_S before the limit (this script's set-up counted),
# and keep TUNE_S at the end for re-measuring the engine's GPU defaults
BUDGET_S=$((LIMIT_S - SECONDS - TIMEOUT_S - TUNE_S - 10))
if ((BUDGET_S < 60)); then BUDGET_S=60; fi
echo "rounds $ROUNDS, frameworks $FRAMEWORKS, run.py budget ${BUDGET_S} s (limit ${LIMIT_S} s, ${SECONDS} s used)"
rc=0
python3 benchmarks/run.py --device gpu --dtype fp32,bf16 --snnx-python python3 --peers-python python3 \
    --rounds "$ROUNDS" --iters 5 --warmup 2 --max-seconds 3 --timeout "$TIMEOUT_S" --budget "$BUDGET_S" \
    --frameworks "$FRAMEWORKS" --out "$OUT_DIR/gpu.json" "$@" 2>&1 | tee "$OUT_DIR/gpu.log" || rc=$?

# with the time kept for it, re-measure the engine's GPU defaults (docs/design/engine-plan.md), also when a
# benchmark process failed; ff100 only, two rounds: what fits in TUNE_S
LEFT_S=$((LIMIT_S - SECONDS - 10))
if ((LEFT_S > 30)); then
    timeout "$LEFT_S" python3 benchmarks/tune_options.py --workloads ff100 --rounds 2 --steps 2 \
        --json "$OUT_DIR/tune.json" 2>&1 | tee "$OUT_DIR/tune.log" || echo "tune_options.py: did not finish"
fi
exit "$rc"
