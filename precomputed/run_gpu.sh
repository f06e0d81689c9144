#!/usr/bin/env bash
# The GPU half of precomputed/: one device call measures, in priority order, as much as fits in its time and
# hands back what it reached (precomputed/gpu_plan.py: the steps, the budget, the resume). NOT YET RUN on a GPU.
#
# Here, once (with ../shared present):
#   bash precomputed/fetch_gpu_wheels.sh              # packages the device image lacks -> .whl/ (git-ignored)
#   python precomputed/gpu_plan.py --prepare          # clip source + tokenizer copies -> .clip_cache/gpu-carry/
# Device call (540 s budget inside a 600 s call; every row is written as it finishes):
#   run(command="bash precomputed/run_gpu.sh", carry=[".whl", ".clip_cache/gpu-carry"], timeout_s=600)
# then copy the returned gpu.parquet and gpu.provenance.json into precomputed/ (and the benchmark reports into
# benchmarks/), and make the same call again to go on where it stopped: finished steps are skipped at once.
# Dry run here:  bash precomputed/run_gpu.sh --device cpu --budget-s 120    (scratch output in /tmp/asr-gpu-dryrun)
# Any other flags go to gpu_plan.py (--steps, --margin-s, --out, --out-dir; see its --help).
set -uo pipefail
export GPU_PLAN_T0=${GPU_PLAN_T0:-$(date +%s)}  # the budget counts from here, wheel install included
cd "$(dirname "$0")/.."
export OUT=${OUT:-/tmp/asr-gpu-out}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv
exec python3 precomputed/gpu_plan.py "$@"
