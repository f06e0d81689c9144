"""Paths to the real material in ../shared and small test signals, imported by tests and fixtures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TINY_EN = SHARED / "models" / "whisper-tiny.en"
SPEECH = SHARED / "speech" / "librispeech-dev-clean-3752-4944"
needs_shared = pytest.mark.skipif(not (TINY_EN.is_dir() and SPEECH.is_dir()),
                                  reason="../shared (real checkpoint and speech) is not present")


def speech_refs() -> dict[str, str]:
    lines = (SPEECH / "3752-4944.trans.txt").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines if line.strip())


def tone(seconds: float, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A deterministic test signal: a tone plus a little noise, 16 kHz float32."""
    t = np.arange(int(seconds * 16000)) / 16000
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


STAGE_TOLERANCE = 0.05  # stages must add up to the end-to-end latency within 5 % …
STAGE_SLACK_S = 0.01  # … or 10 ms: the bookkeeping between windows is a fixed cost, large on a 50 ms run


def stages_add_up(r) -> None:
    """Every stage took time, and the stages add up to the end-to-end latency."""
    total = r.preprocess_s + r.encoder_s + r.decoder_s
    assert r.latency_s > 0 and all(x > 0 for x in (r.preprocess_s, r.encoder_s, r.decoder_s))
    assert abs(total - r.latency_s) <= max(STAGE_TOLERANCE * r.latency_s, STAGE_SLACK_S), (total, r.latency_s)


def sweep_grid(folder, tmp_path, **kw):
    """A small synthetic whisper-tiny grid over a local clip folder (the clip_folder fixture)."""
    from asr_core import sweep
    base = dict(models=("openai/whisper-tiny",), weights=("synthetic",), buckets=("5s",), batch_sizes=(1, 2),
                clips_per_cell=2, repeats=2, clip_source=str(folder), cache_dir=str(tmp_path / "cache"))
    return sweep.Grid(**{**base, **kw})


def fake_row(shared, cell, first, status="ok", error=""):
    """A row as sweep.run_cell makes it (the sweep's own row code), without a model: a cell runner for tests."""
    from asr_core import sweep
    grid = shared.grid if shared is not None else sweep.Grid()
    return sweep.failed_row(grid, cell, error, status)
