"""The stage contract: what a runtime gives the measured loop (``asr_core.measure``).

A runtime's stages turn a batch of audio into text in three steps the loop times separately:
``preprocess`` (features, padding, host-to-device copy), ``encode`` and ``decode`` (Whisper's
autoregressive decoder, or a CTC head). The class attributes and hooks below have defaults that
suit an eager runtime; a runtime overrides what it adds (compilation, no FLOP counting, a note).

An engine that runs all three stages in one call (whisper.cpp's ``whisper_full``) sets ``engine_timed`` and
implements ``run`` instead; the loop measures each call as one window and splits it among the stages in the
proportion of the engine's own timers (``last_split``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..models import LoadedModel

STAGES = ("preprocess", "encoder", "decoder")


def steps_with_end(tokens: int, limit: int) -> int:
    """Decoder steps of a row that generated tokens: one more for its end-of-text step, unless it was cut off at
    limit, the decoder's own cap (how transformers counts them; every runtime reports steps this way)."""
    return tokens + int(tokens < limit)


class Stages:
    """One loaded model's three stages. Subclasses implement preprocess, encode and decode."""

    note: str = ""  # what every result of this runtime should say (e.g. where FLOPs were counted)
    compile_runs: int = 0  # runs that compile (and capture) one new batch size; 0: nothing to compile
    engine_timed: bool = False  # True: run() does all three stages in one call, split by last_split
    last_split: dict[str, float] = {}  # engine_timed: seconds per stage of the last run() by the engine's timers

    def __init__(self, lm: LoadedModel):
        self.lm = lm

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        """Features for a batch of 16 kHz clips, on the model's device."""
        raise NotImplementedError

    def encode(self, inputs: dict[str, Any]) -> Any:
        """The encoder's output for preprocess's inputs."""
        raise NotImplementedError

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        """(text per row, decoder steps per row); synthetic Whisper is forced to new_tokens steps."""
        raise NotImplementedError

    def run(self, audio: Sequence[np.ndarray], new_tokens: int | None) -> tuple[list[str], int]:
        """engine_timed runtimes: all three stages in one engine call; (text per row, decoder steps per row)."""
        raise NotImplementedError

    def decoder_limit(self) -> int | None:
        """New tokens the decoder can emit per row (after its prompt); None without autoregression."""
        return None

    def forced_decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int) -> int:
        """Decode exactly new_tokens steps per row whatever the weights say (for counting FLOPs per step);
        the steps taken. Stages without autoregression just decode."""
        return self.decode(enc, inputs, new_tokens)[1]

    @property
    def flop_stages(self) -> Stages | None:
        """The stages FLOPs are counted on (an eager twin of the same math), or None when uncountable."""
        return self

    def to_compile(self, batch_sizes: set[int]) -> set[int]:
        """The batch sizes of a run that still need compiling before anything is measured."""
        return set()

    def mark_compiled(self, batch_size: int) -> None:
        """Remember that batch_size is compiled (kept on the loaded model, across runs)."""
