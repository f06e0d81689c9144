"""The ``transformers-compiled`` runtime: static KV cache and ``torch.compile``.

Whisper generates on a static KV cache with its decoder step compiled by ``torch.compile`` (mode
"reduce-overhead", i.e. CUDA graphs, on a GPU; the default mode on CPU), and the Whisper encoder and the
wav2vec2 CTC body are compiled too. Compilation runs before the measured loop, once per new batch size,
and is reported as ``compile_s``, never as latency.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import torch

from ..checkpoints import Checkpoint, load_torch_model
from ..models import COMPILED, CTC
from .base import LoadedModel
from .eager import EagerCTC, EagerWhisper, eager_twin

COMPILE_RUNS = {"cpu": 1, "cuda": 3}  # runs per new batch size: CUDA graphs warm up, record, then replay once


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    checkpoint = load_torch_model(model_id, family, device, precision, weights)
    if family == CTC:
        return CompiledCTC.of(checkpoint, compiled=compile_ctc(checkpoint))
    return CompiledWhisper.of(checkpoint, compiled=compile_whisper(checkpoint))


@dataclass
class Compiled:
    """What transformers-compiled adds to a checkpoint: compiled callables, and the state that lets compiled graphs
    outlive one run (it changes as batch sizes compile; the loaded model that holds it does not)."""
    encoder: Callable[..., Any]
    compile_config: Any = None  # transformers CompileConfig for generate's decoder step (Whisper)
    caches: dict[int, Any] = field(default_factory=dict)  # batch size -> static KV cache, reused across calls
    warm: set[int] = field(default_factory=set)  # batch sizes already compiled (and CUDA graphs captured)


def compile_ctc(checkpoint: Checkpoint) -> Compiled:
    # dynamic: wav2vec2 input lengths differ from batch to batch; a recompile per length would land in timing
    return Compiled(torch.compile(checkpoint.model.wav2vec2, dynamic=True))


def compile_whisper(checkpoint: Checkpoint) -> Compiled:
    """The encoder in torch.compile, and generate's compiled static-cache decoder step."""
    from transformers import CompileConfig
    cuda = checkpoint.device == "cuda"
    config = CompileConfig(mode="reduce-overhead" if cuda else "default")
    config._compile_all_devices = not cuda  # generate compiles its step on GPUs only unless told otherwise
    return Compiled(torch.compile(checkpoint.model.model.encoder), config)


class _Compiling:
    """Shared by both families: FLOPs are counted on the eager twin (same math), compile state is `compiled`'s."""
    runtime = COMPILED
    note = "FLOPs counted on the eager model; compile_s holds compilation and CUDA-graph capture"
    compiled: Compiled
    device: str

    @cached_property
    def flop_model(self) -> LoadedModel:
        return eager_twin(self)

    @property
    def compile_runs(self) -> int:
        return COMPILE_RUNS.get(self.device, 1)

    def to_compile(self, batch_sizes: set[int]) -> set[int]:
        return batch_sizes - self.compiled.warm

    def mark_compiled(self, batch_size: int) -> None:
        self.compiled.warm.add(batch_size)


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledWhisper(_Compiling, EagerWhisper):
    compiled: Compiled

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.compiled.encoder(inputs["input_features"])

    def generate_kwargs(self, batch: int) -> dict[str, Any]:
        """A static cache per batch size, reset and reused, so CUDA graphs see the same addresses every call."""
        from transformers.cache_utils import EncoderDecoderCache
        compiled, cfg = self.compiled, self.model.config
        if batch not in compiled.caches:
            compiled.caches[batch] = EncoderDecoderCache(
                _static_cache(cfg, batch, cfg.max_target_positions, self.device, self.dtype),
                _static_cache(cfg, batch, cfg.max_source_positions, self.device, self.dtype))
        compiled.caches[batch].reset()
        return {_cache_kwarg(): compiled.caches[batch], "compile_config": compiled.compile_config}


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


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledCTC(_Compiling, EagerCTC):
    compiled: Compiled

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.compiled.encoder(inputs["input_values"], attention_mask=inputs.get("attention_mask")).last_hidden_state
