"""Noise mixed into a clip at a chosen signal-to-noise ratio: white noise, or babble from other clips.

The SNR is defined on power over the whole clip: ``10 * log10(P_signal / P_noise)`` with ``P`` the mean
of the squared samples. ``math.inf`` means no noise: the clip comes back unchanged. Everything is seeded,
so the same clip, SNR, kind and seed always give the same samples.

A mix whose peak would pass 1 is scaled down as a whole (clip and noise together) rather than clipped, so
the SNR stays exactly the one asked; only the loudness changes, which Whisper's log-mel features ignore.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .errors import AudioError

NOISE_KINDS = ("white", "babble")
WHITE, BABBLE = NOISE_KINDS
CLEAN = math.inf  # snr_db of a clip with no noise added
SEED = 42
BABBLE_TALKERS = 4  # other clips summed into one babble (fewer when fewer are given)


def mix(clip: np.ndarray, snr_db: float, kind: str = WHITE, seed: int = SEED,
        babble_from: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The clip (16 kHz float32) with kind noise added at snr_db dB (power over the clip); inf: unchanged.

    babble_from: other clips of the same source, needed for babble (BABBLE_TALKERS of them, chosen with the
    seed, each from a seeded offset, looped or cut to the clip's length, at equal power, then summed). A
    silent clip has no SNR and comes back unchanged.
    """
    _check(snr_db, kind, babble_from)
    clip = np.asarray(clip, dtype=np.float32)
    p_signal = power(clip)
    if snr_db == CLEAN or p_signal == 0 or clip.size == 0:
        return clip
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(clip.shape[0]) if kind == WHITE else _babble(clip.shape[0], babble_from, rng)
    noise = noise * math.sqrt(p_signal / (power(noise) * 10 ** (snr_db / 10)))
    mixed = clip.astype(np.float64) + noise
    peak = float(np.max(np.abs(mixed)))
    return (mixed / peak if peak > 1 else mixed).astype(np.float32)


def recorded_kind(snr_db: float, kind: str) -> str:
    """The noise kind a record names: none ("") for clean audio, whatever kind was asked for."""
    return "" if snr_db == CLEAN else kind


def _check(snr_db: float, kind: str, babble_from: Sequence[np.ndarray]) -> None:
    if kind not in NOISE_KINDS:
        raise AudioError(f"Unknown noise kind {kind!r}: use {' or '.join(NOISE_KINDS)}.")
    if not isinstance(snr_db, (int, float)) or math.isnan(snr_db) or snr_db == -math.inf:
        raise AudioError(f"The SNR must be a number of dB or inf (no noise), not {snr_db!r}.")
    if kind == BABBLE and snr_db != CLEAN and not any(len(c) and power(c) > 0 for c in babble_from):
        raise AudioError("Babble noise needs other clips to mix in: give at least 2 input files, or use white noise.")


def power(x: np.ndarray) -> float:
    """Mean squared sample: the power the SNR is defined on."""
    return float(np.mean(np.square(np.asarray(x, dtype=np.float64)))) if len(x) else 0.0


def _babble(n: int, others: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """BABBLE_TALKERS seeded other clips, each from a seeded offset, looped to n samples, at equal power."""
    usable = [np.asarray(c, dtype=np.float64) for c in others if len(c) and power(c) > 0]
    picks = rng.choice(len(usable), size=min(BABBLE_TALKERS, len(usable)), replace=False)
    total = np.zeros(n)
    for i in picks:
        talker = usable[i]
        start = int(rng.integers(len(talker)))
        looped = np.resize(np.roll(talker, -start), n)  # np.resize repeats the array to fill n samples
        total += looped / math.sqrt(power(looped) or 1.0)
    return total
