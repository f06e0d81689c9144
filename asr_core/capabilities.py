"""What this machine can run: the device asked for, a precision on a device with a runtime, and whether a
runtime's engine package is installed.

``models`` holds the facts that are the same on every machine (which precision belongs to which runtime, which
runtimes run Whisper only); this module adds what depends on the machine: a CUDA GPU and its bf16 support, the
compute types CTranslate2 offers here, the packages installed. ``runtimes.load_model`` and the app ask here.
"""
from __future__ import annotations

import torch

from .errors import ModelError
from .models import (CT2_COMPUTE_TYPES, CTRANSLATE2, DEVICES, OPENAI_WHISPER, PRECISIONS, RUNTIMES, TRANSFORMERS,
                     WHISPER_CPP, WHISPER_CPP_CPU_ONLY, family_problem, format_problem)

# runtime -> (the module its engine is imported as, what to do without it)
INSTALL = {CTRANSLATE2: ("ctranslate2", "CTranslate2 is not installed: pip install ctranslate2"),
           OPENAI_WHISPER: ("whisper", "openai-whisper is not installed: pip install openai-whisper"),
           WHISPER_CPP: ("_pywhispercpp", "whisper.cpp's Python binding is not installed: pip install pywhispercpp")}


def resolve_device(device: str) -> str:
    """'auto' as the device it means here (CUDA when present); ModelError for a device that is not here."""
    if device not in DEVICES:
        raise ModelError(f"Unknown device '{device}': use one of {', '.join(DEVICES)}.")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is available here: use --device cpu.")
    return device


def precision_problem(device: str, precision: str, runtime: str = TRANSFORMERS) -> str | None:
    """Why this precision cannot run on this device with this runtime, or None if it can."""
    if precision not in PRECISIONS:
        return f"unknown precision '{precision}' (use {', '.join(PRECISIONS)})"
    if why := format_problem(precision, runtime):
        return why
    if runtime == CTRANSLATE2:
        return _ct2_precision_problem(device, precision)
    if runtime == WHISPER_CPP:  # ggml runs its f16 weights on CPUs too
        return WHISPER_CPP_CPU_ONLY if device == "cuda" else None
    if device == "cpu" and precision == "fp16":
        return "fp16 is not supported on CPU here (many CPU kernels lack half precision): use fp32 or bf16"
    if device == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        return "this GPU does not support bf16: use fp16"
    return None


def runtime_problem(family: str, runtime: str) -> str | None:
    """Why this runtime cannot run this model family here (its package missing, too), or None if it can."""
    if runtime not in RUNTIMES:
        return f"unknown runtime '{runtime}' (use {', '.join(RUNTIMES)})"
    return family_problem(family, runtime) or installed_problem(runtime)


def installed_problem(runtime: str) -> str | None:
    """How to install the runtime's engine package when it is missing here, else None."""
    if runtime not in INSTALL:
        return None
    module, why = INSTALL[runtime]
    try:
        __import__(module)
    except ImportError:
        return why
    return None


def _ct2_precision_problem(device: str, precision: str) -> str | None:
    """Why CTranslate2 cannot compute in this precision on this device, or None if it can."""
    try:
        import ctranslate2
    except ImportError:
        return None  # installed_problem says how to install it
    try:
        supported = ctranslate2.get_supported_compute_types(device)
    except (RuntimeError, ValueError):
        return f"CTranslate2 cannot use a {device} here"
    if CT2_COMPUTE_TYPES[precision] in supported:
        return None
    usable = [p for p, c in CT2_COMPUTE_TYPES.items() if c in supported]
    return f"CTranslate2 on this {device} computes in {', '.join(usable)}, not {precision}"
