#!/usr/bin/env bash
# The prepared GPU check (one H100 or H200, at most about 9.5 minutes, no network there).
#
#   benchmarks/gpu_check.sh prepare [DIR]  # here, once: copy T91, BSD100/HR and Set5/HR from DIR
#                                     # (default $SRGAN_SHARED_DATA, else ../shared/data) into the
#                                     # git-ignored .gpudata/ (~38 MB); without DIR, download Set5,
#                                     # B100 and Set14 through the pipeline's checksummed registry
#   benchmarks/gpu_check.sh [OUT]     # on the GPU machine: environment, CUDA smoke tests,
#                                     # throughput (eager fp32, bf16, CUDA graphs) + FLOPs +
#                                     # fraction of bf16 peak, time to Set5 31 dB
#
# With the device tool: run(command="bash benchmarks/gpu_check.sh $OUT", carry=[".gpudata"],
# timeout_s=590). The tables land in OUT/gpu_check.md and OUT/psnr_curve.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = prepare ]; then
    # From a folder holding T91/, BSD100/HR/ and Set5/HR/ (the argument, else $SRGAN_SHARED_DATA,
    # else ../shared/data); without one, the pipeline's own checksummed downloads of Set5, B100
    # and Set14 (Set14 then trains in T91's place).
    data=${2:-${SRGAN_SHARED_DATA:-../shared/data}}
    rm -rf .gpudata && mkdir -p .gpudata
    if [ -d "$data/T91" ] && [ -d "$data/BSD100/HR" ] && [ -d "$data/Set5/HR" ]; then
        mkdir -p .gpudata/BSD100 .gpudata/Set5
        cp -r "$data/T91" .gpudata/T91
        cp "$data"/BSD100/HR/*.png .gpudata/BSD100/
        cp "$data"/Set5/HR/*.png .gpudata/Set5/
    else
        echo "no T91/, BSD100/HR/ and Set5/HR/ under $data: downloading Set5, B100 and Set14" \
             "(checksummed, into resources/downloads/) instead" >&2
        python=${PYTHON:-python3}
        [ -x .venv/bin/python ] && python=${PYTHON:-.venv/bin/python}
        PYTHONPATH="$PWD/src" "$python" -c '
from pathlib import Path
from srgan.datasets import fetch_dataset
for name, folder in (("Set5", "Set5"), ("B100", "BSD100"), ("Set14", "Set14")):
    fetch_dataset(name, out_dir=Path(".gpudata", folder), manifest=Path(".gpudata", folder + ".tsv"),
                  download_dir=Path("resources/downloads"))'
    fi
    du -sh .gpudata
    exit 0
fi

out=${1:-${OUT:-benchmarks/out}}
mkdir -p "$out"
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
[ -d .gpudata/Set5 ] || { echo "no .gpudata: run 'benchmarks/gpu_check.sh prepare' first and carry it" >&2; exit 2; }
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
    echo "## CUDA smoke tests"
    timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_imresize.py tests/test_models.py \
        tests/test_losses.py tests/test_metrics.py 2>&1 | tail -4
    # the CUDA-graph rows compile first (torch.compile mode reduce-overhead): the time-to-PSNR run
    # gets what is left of 450 s
    timeout 480 python3 benchmarks/gpu_check.py --out "$out" --psnr-budget-s "${PSNR_BUDGET_S:-170}" \
        --deadline-s 450
} 2>&1 | tee "$out/gpu_check.log"
