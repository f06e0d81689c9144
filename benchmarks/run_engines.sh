#!/usr/bin/env bash
# Every Whisper engine on this CPU (issue 13): transformers, CTranslate2, openai-whisper and whisper.cpp, each as
# our runtime and through its own front door, on the real whisper-tiny.en and a synthetic whisper-small.
# On a 2-core machine: whisper-tiny ~25 min, whisper-small ~25 min. whisper.cpp runs batch 1 only.
set -u
cd "$(dirname "$0")/.."
B="python benchmarks/runtimes.py --device cpu --runs 3 --clip-seconds 30"
$B --models whisper-tiny --batch-sizes 1,8 --runtimes transformers,ctranslate2,openai-whisper,whisper.cpp \
   --out benchmarks/results-cpu-engines-whisper-tiny.md
$B --models whisper-small --batch-sizes 1,2 --clips 2 \
   --runtimes transformers,ctranslate2:int8,openai-whisper,whisper.cpp \
   --out benchmarks/results-cpu-engines-whisper-small.md
