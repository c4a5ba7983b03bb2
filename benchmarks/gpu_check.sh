#!/usr/bin/env bash
# The prepared GPU check (one H100 or H200, at most about 8 minutes, no network there).
#
#   benchmarks/gpu_check.sh prepare   # here, once: copy T91, BSD100/HR and Set5/HR from
#                                     # ../shared/data into the git-ignored .gpudata/ (~38 MB)
#   benchmarks/gpu_check.sh [OUT]     # on the GPU machine: environment, CUDA smoke tests,
#                                     # throughput + FLOPs + utilisation, time to Set5 31 dB
#
# With the device tool: run(command="bash benchmarks/gpu_check.sh $OUT", carry=[".gpudata"],
# timeout_s=540). The tables land in OUT/gpu_check.md and OUT/psnr_curve.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = prepare ]; then
    shared=${SRGAN_SHARED_DATA:-../shared/data}
    rm -rf .gpudata && mkdir -p .gpudata/BSD100 .gpudata/Set5
    cp -r "$shared/T91" .gpudata/T91
    cp "$shared"/BSD100/HR/*.png .gpudata/BSD100/
    cp "$shared"/Set5/HR/*.png .gpudata/Set5/
    du -sh .gpudata
    exit 0
fi

out=${1:-${OUT:-benchmarks/out}}
mkdir -p "$out"
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
[ -d .gpudata/T91 ] || { echo "no .gpudata: run 'benchmarks/gpu_check.sh prepare' first and carry it" >&2; exit 2; }
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
    echo "## CUDA smoke tests"
    timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_imresize.py tests/test_models.py \
        tests/test_losses.py tests/test_metrics.py 2>&1 | tail -4
    timeout 420 python3 benchmarks/gpu_check.py --out "$out" --psnr-budget-s "${PSNR_BUDGET_S:-170}"
} 2>&1 | tee "$out/gpu_check.log"
