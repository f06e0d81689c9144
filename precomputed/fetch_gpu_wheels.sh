#!/usr/bin/env bash
# Wheels of the packages asr_core needs that the device machine's image (Python 3.12, torch, transformers,
# pandas, pyarrow, psutil, nvidia-ml-py, tqdm, onnxruntime) lacks, into .whl/ (git-ignored; carried with a call).
# ~47 MiB with ctranslate2: the tree plus these stay under the 64 MiB a call carries.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl jiwer rapidfuzz soundfile ctranslate2 faster-whisper
# openai-whisper (the openai-whisper runtime) is a source package: built here into a wheel, pure Python. The image
# has its other needs (numba, tiktoken, triton) but more-itertools. whisper.cpp is not carried: the binding on the
# package index (pywhispercpp) is a CPU build, so the GPU comparison covers the other engines.
python3 -m pip download --no-deps --only-binary=:all: -d .whl more-itertools
python3 -m pip wheel --no-deps -w .whl openai-whisper
du -sh .whl
