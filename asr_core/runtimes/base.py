"""The loaded model: a checkpoint as one runtime runs it, and the contract the measured loop (``asr_core.measure``)
times.

A loaded model owns its engine and turns a batch of audio into text in three steps the loop times separately:
``preprocess`` (features, padding, host-to-device copy), ``encode`` and ``decode`` (Whisper's autoregressive
decoder, or a CTC head). It answers questions about itself: the windows a long clip is cut into, the tokens
its decoder can emit (``decoder_limit``, ``token_limit``), the model FLOPs are counted on (``flop_model``), the
batch sizes still to compile. The defaults here suit an eager runtime; each runtime (``eager``, ``compiled``,
``ct2``, ``openai_whisper``, ``whispercpp``) overrides what it adds. A loaded model is frozen: loading builds it
whole, and nothing sets its fields later (a compiled runtime keeps its compiled graphs in its own record).

An engine that runs all three stages in one call (whisper.cpp's ``whisper_full``) sets ``engine_timed`` and
implements ``run`` instead; the loop measures each call as one window and splits it among the stages in the
proportion of the engine's own timers, which ``run`` returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from ..audio import split_long
from ..checkpoints import Checkpoint
from ..models import TRANSFORMERS

STAGES = ("preprocess", "encoder", "decoder")
WHISPER_WINDOW_S = 30.0  # Whisper hears at most 30 s at once: a longer clip is cut into windows at quiet points


def steps_with_end(tokens: int, limit: int) -> int:
    """Decoder steps of a row that generated tokens: one more for its end-of-text step, unless it was cut off at
    limit, the decoder's own cap (how transformers counts them; every runtime reports steps this way)."""
    return tokens + int(tokens < limit)


def on_meta(model: torch.nn.Module) -> torch.nn.Module:
    """The architecture without its weights (config and parameter count), for a runtime whose engine holds them."""
    model = model.to("meta")
    model.tie_weights()  # moving to meta unties the output projection from the token embedding
    return model


@dataclass(frozen=True, eq=False, kw_only=True)
class LoadedModel(Checkpoint):
    """A checkpoint loaded by one runtime. Subclasses implement preprocess, encode and decode (or run)."""

    runtime: ClassVar[str] = TRANSFORMERS
    note: ClassVar[str] = ""  # what every result of this runtime should say (e.g. where FLOPs were counted)
    engine_timed: ClassVar[bool] = False  # True: run() does all three stages in one call

    @classmethod
    def of(cls, checkpoint: Checkpoint, **more: Any) -> LoadedModel:
        """This runtime's model on a checkpoint; more: its engine, and what differs from the checkpoint."""
        return cls(**{**checkpoint.checkpoint_fields(), **more})

    # --- the stages -------------------------------------------------------------------------------

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        """Features for a batch of 16 kHz clips, on the model's device."""
        raise NotImplementedError

    def encode(self, inputs: dict[str, Any]) -> Any:
        """The encoder's output for preprocess's inputs."""
        raise NotImplementedError

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        """(text per row, decoder steps per row); synthetic Whisper is forced to new_tokens steps."""
        raise NotImplementedError

    def run(self, audio: Sequence[np.ndarray], new_tokens: int | None) -> tuple[list[str], int, dict[str, float]]:
        """engine_timed runtimes: all three stages in one engine call; (text per row, decoder steps per row,
        seconds per stage by the engine's own timers)."""
        raise NotImplementedError

    def forced_decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int) -> int:
        """Decode exactly new_tokens steps per row whatever the weights say (for counting FLOPs per step);
        the steps taken. Models without autoregression just decode."""
        return self.decode(enc, inputs, new_tokens)[1]

    # --- what it answers about itself -------------------------------------------------------------

    def windows(self, clip: np.ndarray) -> list[np.ndarray]:
        """The rows one clip becomes: Whisper's <= 30 s windows, cut at quiet points."""
        return split_long(clip, WHISPER_WINDOW_S)

    def decoder_limit(self) -> int | None:
        """New tokens the decoder can emit per row (after its prompt); None without autoregression."""
        return None

    def token_limit(self, clips: Sequence[np.ndarray]) -> int | None:
        """The most new tokens each of these clips can be forced to decode: the decoder's limit per window, a long
        clip's tokens shared among its windows by length (as the measured loop shares them); None: no decoder."""
        limit = self.decoder_limit()
        if limit is None:
            return None
        return min(limit * clip.shape[0] // max(w.shape[0] for w in self.windows(clip)) for clip in clips)

    @property
    def flop_model(self) -> LoadedModel | None:
        """The model FLOPs are counted on (an eager twin of the same math), or None when uncountable."""
        return self

    @property
    def compile_runs(self) -> int:
        """Runs that compile (and capture) one new batch size; 0: nothing to compile."""
        return 0

    def to_compile(self, batch_sizes: set[int]) -> set[int]:
        """The batch sizes of a run that still need compiling before anything is measured."""
        return set()

    def mark_compiled(self, batch_size: int) -> None:
        """Remember that batch_size is compiled (kept with the model, across runs)."""
