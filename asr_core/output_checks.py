"""Checks on what a run produced, said in its notes: a transcript of silence, no transcript of speech.

Neither stops a run or changes a figure; each is a plain note beside the result (the CLI prints it, the sweep
keeps it in its ``notes`` column, the app shows it under the result), so a number that looks normal is never read
without the warning that goes with it: Whisper answers silence with a short phrase ("you"), and a model (or a
converted engine file) that gives nothing at all for speech it has a reference for is more likely broken than
accurate.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .noise import power

SILENCE_RMS = 1e-3  # about -60 dBFS: below it a clip is nearly silent
SILENCE_NOTE = ("Whisper often answers silence with a short phrase such as \"you\" (a known hallucination); "
                "wav2vec2 gives an empty transcript")
EMPTY_NOTE = ("gave no transcript although the audio holds sound and has a reference: the model may be broken, or "
              "its converted engine file damaged (delete that file to convert it again)")


def nearly_silent(audio: np.ndarray) -> bool:
    """True when a clip's RMS level is below SILENCE_RMS (about -60 dBFS)."""
    return audio.size == 0 or math.sqrt(power(audio)) < SILENCE_RMS


def output_notes(clips: Sequence[np.ndarray], hypotheses: Sequence[str], references: Sequence[str],
                 weights: str) -> str:
    """The notes a result's transcripts call for ("" when none): nearly silent clips, and clips with sound and a
    reference that got an empty transcript. Synthetic weights write no meaningful text, so they get none."""
    if weights != "pretrained":
        return ""
    silent = [i for i, clip in enumerate(clips) if nearly_silent(clip)]
    empty = [i for i, (hyp, ref) in enumerate(zip(hypotheses, references))
             if not hyp.strip() and ref.strip() and i not in silent]
    notes = []
    if silent:
        notes.append(f"{_clips(silent)} nearly silent: {SILENCE_NOTE}")
    if empty:
        notes.append(f"{_clips(empty)} {EMPTY_NOTE}")
    return "; ".join(notes)


def _clips(indices: Sequence[int]) -> str:
    """'clip 2' or 'clips 1, 3' (counted from 1, as a reader counts)."""
    return ("clip " if len(indices) == 1 else "clips ") + ", ".join(str(i + 1) for i in indices)
