"""FLOPs of a run, counted after its timed batches (so counting never warms the timer) with
``torch.utils.flop_counter`` on the model's countable twin (``LoadedModel.flop_model``).

Each distinct batch shape is counted once: the encoder whole, and the decoder at 1 and ``FLOP_STEPS`` forced
steps, so its cost splits into a fixed part (cross-attention keys and values, the prompt) and a part per
generated token, whatever the weights would have generated. A CTC head costs per frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .models import CTC
from .runtimes import LoadedModel

FLOP_STEPS = 8  # forced decoder steps counted to split decoder FLOPs into a fixed and a per-token part
Shapes = dict[tuple[int, int], "ShapeFlops"]


@dataclass(frozen=True)
class ShapeFlops:
    """FLOPs of one batch shape: the encoder, the decoder's fixed part, and each generated token."""
    encoder: float  # the whole batch
    decoder_fixed: float  # the whole batch: cross-attention keys/values and the prompt, paid once per clip
    per_token: float  # one row, one decoder step (a CTC frame for CTC models)


@dataclass(frozen=True)
class Flops:
    """A run's FLOPs: the encoder per clip, the decoder per generated token, and the total (nan: not counted)."""
    encoder_per_clip: float = math.nan
    decoder_per_token: float = math.nan
    total: float = math.nan


def shape_of(model: LoadedModel, audio: Sequence[np.ndarray], batch: range) -> tuple[int, int]:
    """What a batch's FLOPs depend on: its rows and, for CTC, its padded length (Whisper pads to 30 s)."""
    return len(batch), max(audio[i].shape[0] for i in batch) if model.family == CTC else 0


def count(model: LoadedModel, audio: Sequence[np.ndarray], batches: Sequence[range]) -> Shapes | None:
    """FLOPs of every distinct batch shape of the run (audio: its rows), on the model's countable twin; None when
    the model has none (an engine that runs no PyTorch operators)."""
    counted = model.flop_model
    if counted is None:
        return None
    shapes: Shapes = {}
    for batch in batches:
        key = shape_of(model, audio, batch)
        if key not in shapes:
            shapes[key] = _count_shape(counted, [audio[i] for i in batch])
    return shapes


def figures(shapes: Shapes | None, model: LoadedModel, audio: Sequence[np.ndarray], batches: Sequence[range],
            steps: Sequence[int], n_clips: int) -> Flops:
    """The run's FLOPs over every batch (steps: decoder steps per batch, all its rows)."""
    if shapes is None:
        return Flops()
    enc = fixed = per_token = 0.0
    for batch, n in zip(batches, steps):
        shape = shapes[shape_of(model, audio, batch)]
        enc, fixed, per_token = enc + shape.encoder, fixed + shape.decoder_fixed, per_token + shape.per_token * n
    return Flops(enc / n_clips, per_token / max(1, sum(steps)), enc + fixed + per_token)


def _counted(fn: Callable[[], Any]) -> tuple[Any, float]:
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return out, float(counter.get_total_flops())


@torch.inference_mode()
def _count_shape(model: LoadedModel, batch: list[np.ndarray]) -> ShapeFlops:
    """One batch counted: the encoder once; the decoder at 1 and FLOP_STEPS forced steps."""
    inputs = model.preprocess(batch)
    enc, enc_flops = _counted(lambda: model.encode(inputs))
    if model.family == CTC:
        (_, frames), dec_flops = _counted(lambda: model.decode(enc, inputs, None))
        return ShapeFlops(enc_flops, 0.0, dec_flops / max(1, len(batch) * frames))
    _, one = _counted(lambda: model.forced_decode(enc, inputs, 1))
    _, many = _counted(lambda: model.forced_decode(enc, inputs, FLOP_STEPS))
    per_step = (many - one) / (FLOP_STEPS - 1)
    return ShapeFlops(enc_flops, one - per_step, per_step / len(batch))
