"""What this machine can run, as the Transcribe page offers it: devices, precisions, runtimes, batch sizes and
weights, each with why it cannot run where it cannot (the Run button stays disabled and says why).

The reasons come from the library (``asr_core.capabilities``, ``models``); this module words them for the page
and checks a whole comparison, row by row.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from asr_core.capabilities import precision_problem, runtime_problem
from asr_core.checkpoints import pretrained_problem
from asr_core.errors import ModelError
from asr_core.models import (COMPILED, CTRANSLATE2, OPENAI_WHISPER, PRECISIONS, QUANTIZED, RUNTIME_PRECISIONS, RUNTIMES,
                             TRANSFORMERS, WHISPER_CPP, batch_problem, family_of)

from .configs import RunRequest, config_labels
from .inputs import model_label
from .model_access import local_checkpoints, model_options

APP_DEVICES = ("cpu", "cuda")
BATCH_SIZES = (1, 4, 8, 16, 32)
MAX_REPEATS = 10  # a repeated run: each configuration measured this many times at most
NO_GPU = "no CUDA GPU found"
# runtime -> what it is, in a few words for the page
RUNTIME_CAPTIONS = {TRANSFORMERS: "eager generate: what most users run",
                    COMPILED: "static KV cache + torch.compile; the first run compiles",
                    CTRANSLATE2: "CTranslate2 engine (faster-whisper's); Whisper only",
                    OPENAI_WHISPER: "OpenAI's own whisper package; Whisper only",
                    WHISPER_CPP: "whisper.cpp (ggml) on the CPU, one clip at a time; Whisper only"}


def device_problems() -> dict[str, str | None]:
    """Device -> why it cannot be used here (None when it can)."""
    return {"cpu": None, "cuda": None if torch.cuda.is_available() else NO_GPU}


def precision_problems(device: str, runtime: str = TRANSFORMERS) -> dict[str, str | None]:
    """Precision -> why it cannot run on device with runtime (None when it can)."""
    unusable = device_problems().get(device)
    return {p: unusable or precision_problem(device, p, runtime) for p in PRECISIONS}


def precision_captions(device: str, runtime: str = TRANSFORMERS) -> list[str]:
    """A caption under each precision: 'available', a quantised format of another runtime in a few words, or why not."""
    allowed = RUNTIME_PRECISIONS.get(runtime)

    def caption(p: str, why: str | None) -> str:
        owner = QUANTIZED.get(p)
        if why is None:
            return "available"
        if owner not in (None, runtime):
            return f"{owner} runtime only"
        if allowed is not None and p not in allowed:  # the whole reason is on the Run button's message
            return f"{runtime} runs {', '.join(allowed)} only"
        return why
    return [caption(p, why) for p, why in precision_problems(device, runtime).items()]


def runtime_problems(models: Sequence[str]) -> dict[str, str | None]:
    """Runtime -> why it cannot run one of the chosen models (None when it can run them all)."""
    def problem(runtime: str) -> str | None:
        for m in models:
            try:
                why = runtime_problem(family_of(m), runtime)
            except ModelError:  # an unknown model is reported when it runs
                continue
            if why:
                return f"{model_label(m)}: {why}"
        return None
    return {r: problem(r) for r in RUNTIMES}


def default_device() -> str:
    return "cuda" if device_problems()["cuda"] is None else "cpu"


def run_problems(models: Sequence[str], device: str, precision: str, runtime: str = TRANSFORMERS,
                 batch_size: int = 1) -> list[str]:
    """Reasons the Run button must stay disabled; empty when it can run."""
    problems = []
    if not models:
        problems.append("choose at least one model")
    if device_problems().get(device):
        problems.append(f"{device}: {device_problems()[device]}")
    elif why := precision_problems(device, runtime).get(precision):
        problems.append(f"{precision} on {device} with {runtime}: {why}" if runtime != TRANSFORMERS
                        else f"{precision} on {device}: {why}")
    if why := runtime_problems(models).get(runtime):
        problems.append(f"runtime {runtime}: {why}")
    if why := batch_problem(runtime, batch_size):
        problems.append(f"batch {batch_size} with {runtime}: {why}")
    return problems


def rows_problems(rows: Sequence[RunRequest]) -> list[str]:
    """run_problems of each compared row, each named by the row's label."""
    return [f"{label}: {why}" for row, label in zip(rows, config_labels(rows))
            for why in run_problems([row.model_id], row.device, row.precision, row.runtime, row.batch_size)]


def weights_warnings(models: Sequence[str], weights: str,
                     check: Callable[[str], str | None] = pretrained_problem) -> list[str]:
    """Why pretrained weights of some models cannot be had here (checked before a long hub timeout)."""
    if weights != "pretrained":
        return []
    return [weights_unavailable(problem) for m in models if (problem := check(m))]


def weights_unavailable(problem: str) -> str:
    """The one sentence for pretrained weights this machine cannot have, and what to do instead."""
    return (f"Pretrained weights unavailable: {problem}. Use synthetic weights (timing only), a local checkpoint "
            f"folder, or run `asr-profile prefetch` on a machine with network first.")




def weights_for(model_id: str, check: Callable[[str], str | None] = pretrained_problem) -> str:
    """Pretrained where its weights can be had here, else synthetic (timing only)."""
    return "synthetic" if check(model_id) else "pretrained"


def default_model(options: Sequence[str], local: Sequence[str]) -> str:
    """The model the Transcribe page starts with, of the picker's options: the first local checkpoint
    (../shared/models' tiny.en), else the registry's first model."""
    return local[0] if local else options[0]


def default_request(root: str, check: Callable[[str], str | None] = pretrained_problem) -> RunRequest:
    """The configuration the page starts with (what the server warms up): the default model, its weights where they
    can be had, the default device, the first precision and runtime, batch 1."""
    model = default_model(model_options(root), local_checkpoints(root))
    return RunRequest(model, default_device(), next(iter(PRECISIONS)), weights_for(model, check), 1,
                      next(iter(RUNTIMES)))
