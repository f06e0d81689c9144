"""Segments: transcribed utterances of a recording, the unit every clip source yields.

Shared by the TED-LIUM reader (``tedlium``) and the clip builder (``clips``), so neither imports the other
for its types.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio import load_audio


@dataclass(frozen=True)
class Segment:
    """One transcribed utterance of a recording; its audio is decoded only when a clip needs it."""

    recording: str  # talk id / chapter id
    start_s: float
    end_s: float
    text: str
    audio: np.ndarray | None = field(default=None, compare=False, repr=False)  # float32 mono 16 kHz
    ignored: bool = False  # TED-LIUM ignore_time_segment_in_scoring
    path: str = ""  # audio file to decode when audio is None
    encoded: bytes = field(default=b"", compare=False, repr=False)  # or encoded audio (FLAC/WAV)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def samples(self) -> np.ndarray:
        """The segment's audio as float32 mono 16 kHz."""
        if self.audio is not None:
            return self.audio
        if self.encoded or self.path:
            return load_audio(self.encoded or self.path, max_duration_s=None)
        raise ValueError(f"segment {self.recording} at {self.start_s:.2f} s has no audio")


Window = tuple[Segment, ...]  # consecutive segments of one recording: one clip
