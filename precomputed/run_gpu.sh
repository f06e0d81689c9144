#!/usr/bin/env bash
# The GPU half of precomputed/ and the GPU checks of issues 2 and 6, in stages that each fit one device call
# (10 minutes a command, 30 minutes of device time a session). NOT YET RUN: no GPU has been lent to this
# project's sessions so far. Every stage is resumable: the sweep skips rows already in precomputed/gpu.parquet,
# so carry that file back and forth (it is tracked) and re-run a stage until it reports nothing left.
#
# Here, once:   bash precomputed/fetch_gpu_wheels.sh     # the packages the device image lacks -> .whl/
#               asr-profile prefetch --clips ../shared/speech/librispeech-dev-clean-3752-4944 \
#                   --cache-dir .clip_cache/librispeech-8 --clips-per-bucket 8   # the clips, in case ../shared is absent there
# Device call:  run(command="bash precomputed/run_gpu.sh STAGE", carry=[".whl", ".clip_cache"])
# Stages:       checks   issue 2's CLI runs (whisper-small synthetic fp16 batch 8 on 30 s; wav2vec2 synthetic fp16)
#               fp16     gpu-fp16 grid (six models)          fp32      gpu-fp32 grid
#               real     gpu-tiny-en-real grid (WER)         runtimes  gpu-runtimes grid (compiled, CTranslate2)
#               bench    benchmarks/runtimes.py on cuda (whisper-tiny, whisper-small, wav2vec2; batch 1 and 8)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/asr-gpu-out}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
CLIP30=.clip_cache/librispeech-8/$(python3 -c "import json; print(next(c['path'] for c in map(json.loads, open(
  '.clip_cache/librispeech-8/manifest.jsonl')) if c['bucket'] == '30s'))")
sweep() { timeout 530 python3 -m asr_core sweep --config "precomputed/grids/$1.toml" --out precomputed/gpu.parquet; }
case "${1:-}" in
  checks)
    python3 -m asr_core transcribe "$CLIP30" --model openai/whisper-small --weights synthetic --device cuda \
      --precision fp16 --batch-size 8 --tokens 100 --json > "$OUT/cli-whisper-small.json"
    python3 -m asr_core transcribe "$CLIP30" --model facebook/wav2vec2-base-960h --weights synthetic --device cuda \
      --precision fp16 --json > "$OUT/cli-wav2vec2.json"
    python3 -m asr_core transcribe "$CLIP30" --model openai/whisper-small --weights synthetic --device cuda \
      --precision fp16 --batch-size 8 --tokens 100 ;;
  fp16|fp32|real|runtimes)
    grid=gpu-$1; [ "$1" = real ] && grid=gpu-tiny-en-real
    sweep "$grid"; echo "sweep exit $? (124: stopped at the time cap; run the stage again to go on)" ;;
  bench)
    timeout 560 python3 benchmarks/runtimes.py --device cuda --models whisper-tiny,whisper-small,wav2vec2 \
      --batch-sizes 1,8 --runs 5 --out "$OUT/results-gpu.md" ;;
  *) echo "usage: $0 checks|fp16|fp32|real|runtimes|bench"; exit 2 ;;
esac
cp -f precomputed/gpu.parquet precomputed/gpu.provenance.json "$OUT/" 2>/dev/null || true
