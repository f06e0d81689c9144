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
