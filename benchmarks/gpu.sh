#!/usr/bin/env bash
# Every GPU figure in one command, on an NVIDIA GPU, from the repository root: bash benchmarks/gpu.sh
# Uses the system python3 and its CUDA build of torch; lookinside is imported from src/ (no
# install). Each script appends its section to benchmarks/RESULTS.md, copied to "$OUT/" if set.
# A script that fails is reported and the others still run; the exit status says if any failed.
# Budget: about 5 minutes on an H100/H200 (the spec allows 8; the compiled matrix case is the
# newest and least known: about a minute of compiling).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

failed=()
bench() {
    echo "=== $* ($(date -u +%H:%M:%S))"
    if ! python3 "$@"; then
        failed+=("$*")
    fi
    if [[ -n "${OUT:-}" ]]; then
        cp benchmarks/RESULTS.md "$OUT/"  # what is done so far survives a timeout
    fi
}

nvidia-smi -L
python3 -c 'import lookinside, torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
bench benchmarks/cuda_graph.py --device cuda --epochs 4 --repeats 3
# The command line end to end with a graph: Adam on one-cycle, bf16, telemetry, report.
runs=$(mktemp -d)
bench -m lookinside train --recipe fast --cuda-graph --out "$runs/fast-graph"
bench benchmarks/fast_recipe.py --device cuda --seeds 10
bench benchmarks/fast_recipe.py --device cuda --seeds 10 --cuda-graph
bench benchmarks/fast_recipe.py --device cuda --seeds 10 --cuda-graph --channels-last
bench benchmarks/loop_overhead.py --device cuda --epochs 3
bench benchmarks/telemetry_overhead.py --device cuda --epochs 3
bench benchmarks/telemetry_overhead.py --device cuda --matrix --repeats 5
bench benchmarks/telemetry_overhead.py --device cuda --matrix --compiled --repeats 5 --only cnn-bs512
bench benchmarks/loader.py --device cuda
bench benchmarks/norms.py --device cuda --skip-small
if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all GPU benchmarks ran"
