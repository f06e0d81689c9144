#!/usr/bin/env bash
# The CPU runtime benchmark behind the README's table, one model per call (a stop keeps what finished).
# On a 2-core machine: whisper-tiny ~25 min, wav2vec2 ~30 min, whisper-small ~15 min, large-v3-turbo ~20 min.
# Larger models run fewer clips at batch 1 only and the runtimes that matter; see benchmarks/README.md.
set -u
cd "$(dirname "$0")/.."
B="python benchmarks/runtimes.py --device cpu --runs 5 --clip-seconds 30"
$B --models whisper-tiny --batch-sizes 1,8 --out benchmarks/results-cpu-whisper-tiny.md
$B --models wav2vec2 --batch-sizes 1,8 --runtimes transformers --out benchmarks/results-cpu-wav2vec2.md
$B --models whisper-small --batch-sizes 1 --clips 2 --runtimes transformers,ctranslate2:int8 \
   --out benchmarks/results-cpu-whisper-small.md
$B --models whisper-large-v3-turbo --batch-sizes 1 --clips 1 --runtimes transformers,ctranslate2:int8 \
   --out benchmarks/results-cpu-whisper-large-v3-turbo.md
