#!/usr/bin/env bash
# Regenerates precomputed/cpu.parquet (run from the repository root; needs ../shared).
set -euo pipefail
for grid in cpu-tiny-en-real cpu-whisper-small cpu-large-models cpu-small-models cpu-runtimes cpu-tiny-en-snr \
    cpu-tiny-en-ted cpu-engines-openai cpu-engines-whispercpp; do
  asr-profile sweep --config "precomputed/grids/$grid.toml" --out precomputed/cpu.parquet
done
