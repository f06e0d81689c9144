"""FLOPs of a run, counted after its timed batches (so counting never warms the timer) with
``torch.utils.flop_counter`` on the model's countable twin (``LoadedModel.flop_model``).

Each distinct batch shape is counted once: the encoder whole, and the decoder at 1 and ``FLOP_STEPS`` forced
steps, so its cost splits into a fixed part (cross-attention keys and values, the prompt) and a part per
generated token, whatever the weights would have generated. A CTC head costs per frame.

A shape counted once is kept (``flop_cache``) under its architecture, runtime, precision where it changes the
operators, library versions, rows and padded length, so a later run of the same shape, in any process, reads it
back instead of counting: ``Counted.source`` says which (``COUNTED``, ``CACHED``), or ``DEFERRED`` when a caller
asked for the cache only and some shape still has to be counted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import flop_cache
from .models import CTC, QUANTIZED
from .runtimes import LoadedModel

FLOP_STEPS = 8  # forced decoder steps counted to split decoder FLOPs into a fixed and a per-token part
FLOAT = "float"  # fp32, fp16 and bf16 run the same operators: the same FLOPs, one cache entry
COUNTED, CACHED, DEFERRED = "counted", "cache", "deferred"  # where a run's FLOPs came from (Result.flops_source)
Shape = tuple[int, int]
Shapes = dict[Shape, "ShapeFlops"]


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


@dataclass(frozen=True)
class Counted:
    """The FLOPs of a run's batch shapes: those known (counted now or read from the cache), those still to count
    (only when the caller asked for the cache alone), and where they came from."""
    shapes: Shapes
    missing: frozenset[Shape] = frozenset()
    source: str = COUNTED  # COUNTED: some shape counted now; CACHED: every one read back; DEFERRED: some missing


def shape_of(model: LoadedModel, audio: Sequence[np.ndarray], batch: range) -> Shape:
    """What a batch's FLOPs depend on: its rows and, for CTC, its padded length (Whisper pads to 30 s)."""
    return len(batch), max(audio[i].shape[0] for i in batch) if model.family == CTC else 0


def count(model: LoadedModel, audio: Sequence[np.ndarray], batches: Sequence[range],
          count_new: bool = True) -> Counted | None:
    """FLOPs of every distinct batch shape of the run (audio: its rows): read from the cache, else counted on the
    model's countable twin and cached (count_new=False: left missing, to count later); None when the model has no
    twin (an engine that runs no PyTorch operators)."""
    twin = model.flop_model
    if twin is None:
        return None
    first = {shape_of(model, audio, b): b for b in reversed(batches)}  # each shape's first batch
    arch = architecture_key(model)
    keys = {shape: flop_cache.key(*arch, *shape) for shape in first}
    found = flop_cache.get_many(keys.values())
    shapes = {shape: ShapeFlops(*found[keys[shape]]) for shape in first if keys[shape] in found}
    todo = [shape for shape in first if shape not in shapes]
    if todo and not count_new:
        return Counted(shapes, frozenset(todo), DEFERRED)
    new = {shape: _count_shape(twin, [audio[i] for i in first[shape]]) for shape in todo}
    flop_cache.put({keys[shape]: (f.encoder, f.decoder_fixed, f.per_token) for shape, f in new.items()})
    return Counted({**shapes, **new}, source=COUNTED if new else CACHED)


def architecture_key(model: LoadedModel) -> tuple[str, ...]:
    """What a shape's FLOPs depend on besides the shape (rows, CTC padded length): the architecture (its config and
    prompt), the runtime, the precision where it changes the operators, and the libraries that count them."""
    import transformers
    arch = flop_cache.config_hash(model.model.config.to_dict(), model.family, model.multilingual)
    precision = model.precision if model.precision in QUANTIZED else FLOAT
    return arch, model.runtime, precision, torch.__version__, transformers.__version__


def figures(counted: Counted | None, model: LoadedModel, audio: Sequence[np.ndarray], batches: Sequence[range],
            steps: Sequence[int], n_clips: int) -> Flops:
    """The run's FLOPs over every batch (steps: decoder steps per batch, all its rows); not a number while a shape
    is missing."""
    if counted is None or counted.missing:
        return Flops()
    shapes = counted.shapes
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
