#!/usr/bin/env bash
# Every GPU figure in one command, on an NVIDIA GPU, from the repository root: bash benchmarks/gpu.sh
# Uses the system python3 and its CUDA build of torch; lookinside is imported from src/ (no
# install). Each script appends its section to benchmarks/RESULTS.md, copied to "$OUT/" if set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

nvidia-smi -L
python3 -c 'import lookinside, torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
python3 benchmarks/loop_overhead.py --device cuda --epochs 3
python3 benchmarks/loader.py --device cuda
python3 benchmarks/telemetry_overhead.py --device cuda --epochs 3
python3 benchmarks/norms.py --device cuda --skip-small
python3 benchmarks/fast_recipe.py --device cuda --seeds 10
if [[ -n "${OUT:-}" ]]; then
    cp benchmarks/RESULTS.md "$OUT/"
fi
