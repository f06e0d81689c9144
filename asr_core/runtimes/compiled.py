"""The ``transformers-compiled`` runtime: static KV cache and ``torch.compile``.

Whisper generates on a static KV cache with its decoder step compiled by ``torch.compile`` (mode
"reduce-overhead", i.e. CUDA graphs, on a GPU; the default mode on CPU), and the Whisper encoder and the
wav2vec2 CTC body are compiled too. Compilation runs before the measured loop, once per new batch size,
and is reported as ``compile_s``, never as latency.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..checkpoints import load_torch_model
from ..models import COMPILED, CTC, LoadedModel
from .base import Stages
from .eager import CTCStages, WhisperStages

COMPILE_RUNS = {"cpu": 1, "cuda": 3}  # runs per new batch size: CUDA graphs warm up, record, then replay once


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    return compile_model(load_torch_model(model_id, family, device, precision, weights))


def stages(lm: LoadedModel) -> Stages:
    return CompiledCTCStages(lm) if lm.family == CTC else CompiledWhisperStages(lm)


@dataclass
class Compiled:
    """What transformers-compiled adds to a loaded model (kept on it, so compiled graphs outlive one run)."""
    encoder: Callable[..., Any]
    compile_config: Any = None  # transformers CompileConfig for generate's decoder step (Whisper)
    caches: dict[int, Any] = field(default_factory=dict)  # batch size -> static KV cache, reused across calls
    warm: set[int] = field(default_factory=set)  # batch sizes already compiled (and CUDA graphs captured)


def compile_model(lm: LoadedModel) -> LoadedModel:
    """Wrap the encoder (or CTC body) in torch.compile and set up the compiled static-cache decoder step."""
    cuda = lm.device == "cuda"
    if lm.family == CTC:
        # dynamic: wav2vec2 input lengths differ from batch to batch; a recompile per length would land in timing
        lm.engine = Compiled(torch.compile(lm.model.wav2vec2, dynamic=True))
    else:
        from transformers import CompileConfig
        config = CompileConfig(mode="reduce-overhead" if cuda else "default")
        config._compile_all_devices = not cuda  # generate compiles its step on GPUs only unless told otherwise
        lm.engine = Compiled(torch.compile(lm.model.model.encoder), config)
    lm.runtime = COMPILED
    return lm


class _CompiledStages(Stages):
    """Shared by both families: FLOPs are counted on the eager twin (same math), compile state lives on lm."""
    note = "FLOPs counted on the eager model; compile_s holds compilation and CUDA-graph capture"

    def __init__(self, lm: LoadedModel, eager: Stages):
        self._eager = eager
        self.compile_runs = COMPILE_RUNS.get(lm.device, 1)

    @property
    def flop_stages(self) -> Stages:
        return self._eager

    def to_compile(self, batch_sizes: set[int]) -> set[int]:
        return batch_sizes - self.lm.engine.warm

    def mark_compiled(self, batch_size: int) -> None:
        self.lm.engine.warm.add(batch_size)


class CompiledWhisperStages(_CompiledStages, WhisperStages):
    def __init__(self, lm: LoadedModel):
        WhisperStages.__init__(self, lm)
        _CompiledStages.__init__(self, lm, WhisperStages(lm))

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.engine.encoder(inputs["input_features"])

    def generate_kwargs(self, batch: int) -> dict[str, Any]:
        """A static cache per batch size, reset and reused, so CUDA graphs see the same addresses every call."""
        from transformers.cache_utils import EncoderDecoderCache
        engine, cfg = self.lm.engine, self.lm.model.config
        if batch not in engine.caches:
            engine.caches[batch] = EncoderDecoderCache(
                _static_cache(cfg, batch, cfg.max_target_positions, self.lm.device, self.lm.dtype),
                _static_cache(cfg, batch, cfg.max_source_positions, self.lm.device, self.lm.dtype))
        engine.caches[batch].reset()
        return {_cache_kwarg(): engine.caches[batch], "compile_config": engine.compile_config}


def _static_cache(config: Any, batch: int, length: int, device: str, dtype: torch.dtype) -> Any:
    """A StaticCache across transformers versions: before 4.56 it was sized and placed up front."""
    from transformers.cache_utils import StaticCache
    if "max_batch_size" in inspect.signature(StaticCache.__init__).parameters:
        return StaticCache(config=config, max_batch_size=batch, max_cache_len=length, device=device, dtype=dtype)
    return StaticCache(config=config, max_cache_len=length)


def _cache_kwarg() -> str:
    """generate's name for a cache object: `cache` in recent transformers, `past_key_values` before."""
    from transformers.generation import utils
    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


class CompiledCTCStages(_CompiledStages, CTCStages):
    def __init__(self, lm: LoadedModel):
        CTCStages.__init__(self, lm)
        _CompiledStages.__init__(self, lm, CTCStages(lm))

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.engine.encoder(inputs["input_values"], attention_mask=inputs.get("attention_mask")).last_hidden_state
