"""Runtimes: how a checkpoint is run. ``load_model`` is the one place a model is loaded.

Each runtime module offers ``load(model_id, family, device, precision, weights) -> LoadedModel``: a frozen model
that owns its engine and its stages (the contract in ``base.py``). ``eager`` (transformers, the baseline),
``compiled`` (static KV cache + torch.compile), ``ct2`` (CTranslate2), ``openai_whisper`` (OpenAI's reference
package) and ``whispercpp`` (whisper.cpp through pywhispercpp); the last three run Whisper only.
"""
from __future__ import annotations

from typing import Callable

from ..capabilities import precision_problem, resolve_device, runtime_problem
from ..errors import ModelError
from ..models import COMPILED, CTRANSLATE2, OPENAI_WHISPER, RUNTIMES, TRANSFORMERS, WEIGHTS, WHISPER_CPP, family_of
from . import compiled, ct2, eager, openai_whisper, whispercpp
from .base import STAGES, WHISPER_WINDOW_S, LoadedModel

# runtime -> its loader
LOADERS: dict[str, Callable[..., LoadedModel]] = {
    TRANSFORMERS: eager.load, COMPILED: compiled.load, CTRANSLATE2: ct2.load, OPENAI_WHISPER: openai_whisper.load,
    WHISPER_CPP: whispercpp.load}

__all__ = ["load_model", "LoadedModel", "STAGES", "WHISPER_WINDOW_S"]


def load_model(model_id: str, device: str = "auto", precision: str = "fp32",
               weights: str = "pretrained", runtime: str = TRANSFORMERS) -> LoadedModel:
    """Load a model ready for inference.

    model_id: a registry id (``asr-profile models``), a Whisper / wav2vec2 hub id, or a local checkpoint folder.
    device: "auto" (CUDA when present), "cpu" or "cuda". precision: fp32, fp16, bf16, or quantised: int8 /
    int8_fp16 (ctranslate2 only), q8_0 / q5_1 (whisper.cpp only). weights: "pretrained" (from the hub or folder)
    or "synthetic" (random values of the exact architecture: timing only, no download). runtime: one of
    ``models.RUNTIMES``.
    Raises ModelError with one sentence when the combination cannot run here.
    """
    device = resolve_device(device)
    if runtime not in RUNTIMES:
        raise ModelError(f"Unknown runtime '{runtime}': use one of {', '.join(RUNTIMES)}.")
    problem = precision_problem(device, precision, runtime)
    if problem:
        raise ModelError(f"Cannot run {precision} on {device} with runtime {runtime}: {problem}.")
    if weights not in WEIGHTS:
        raise ModelError(f"Unknown weights kind '{weights}': use pretrained or synthetic.")
    family = family_of(model_id)
    problem = runtime_problem(family, runtime)
    if problem:
        raise ModelError(f"Cannot run {model_id} with runtime {runtime}: {problem}.")
    return LOADERS[runtime](model_id, family, device, precision, weights)
