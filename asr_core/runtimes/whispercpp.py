"""The ``whisper.cpp`` runtime: whisper.cpp's own ``whisper_full``, through its Python binding ``pywhispercpp``.

The checkpoint (real or synthetic) is written once by our converter (``ggml.py``) in whisper.cpp's model format
and precision (f32, f16, or the ggml block formats q8_0 and q5_1), cached like CTranslate2's conversions, and run
by ``whisper_full``: log-mel, encoder and greedy decoder in one call per 30 s window (temperature 0 and no
fallback, no timestamps, one segment, no context carried between windows, non-speech tokens suppressed as in the
other runtimes). CPU only (the binding on the package index is a CPU build), one clip at a time.

Stages: whisper.cpp times its own steps (``whisper_print_timings``): ``mel`` is the log-mel spectrogram
(preprocess), ``encode`` the encoder (convolutions and transformer), and ``sample`` + ``prompt`` + ``decode``
+ ``batchd`` the decoder (the prompt's pass, each new token's pass, and choosing tokens). Each call is measured
by our clock and energy window as a whole; its time and energy are split among the stages in the proportion
of whisper.cpp's own timers (what they leave out, setting up the call, is under 1% here).
"""
from __future__ import annotations

import atexit
import re
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..checkpoints import load_torch_model
from ..errors import ModelError
from ..models import WHISPER_CPP
from ..system import package_version
from .base import STAGES, LoadedModel, on_meta, steps_with_end
from .cache import converted_path
from .engine_files import verified
from .ggml import GGML_CACHE_ENV, check_header, read_header, write_ggml

TIMER = re.compile(r"\b(mel|sample|encode|decode|batchd|prompt) time =\s*([0-9.]+) ms")
LOAD_FAILED = "failed to load model"  # what whisper.cpp logs when a model file cannot be read
STAGE_OF = {"mel": "preprocess", "encode": "encoder", "sample": "decoder", "prompt": "decoder", "decode": "decoder",
            "batchd": "decoder"}


def forced_max_tokens(new_tokens: int) -> int:
    """whisper_full's max_tokens that makes a window decode new_tokens (end-of-text out of reach in synthetic
    weights): max_tokens n ends it after n + 1 tokens, and 0 means no limit, so 1 token cannot be asked for."""
    return max(1, new_tokens - 1)


def ggml_path(model_id: str, weights: str, precision: str) -> Path:
    """The cached whisper.cpp model file of one checkpoint in one precision."""
    path = converted_path(GGML_CACHE_ENV, "ggml", model_id, weights, precision)
    return path.with_name(path.name + ".bin")  # not with_suffix: names such as whisper-tiny.en-... hold dots


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """Convert once (cached), then load the file with whisper.cpp; its `model` keeps the architecture on meta."""
    path = ggml_path(model_id, weights, precision)
    converted = verified(path, WHISPER_CPP, GGML_CACHE_ENV, read_header)  # a damaged file: ModelError, one sentence
    checkpoint = load_torch_model(model_id, family, "meta" if converted and weights == "synthetic" else "cpu", "fp32",
                                  weights)
    if not converted:
        write_ggml(checkpoint, path, precision)
    check_header(path, checkpoint.model.config, precision)
    engine = WhisperCppContext(path, threads=torch.get_num_threads())
    return WhisperCpp.of(checkpoint, model=on_meta(checkpoint.model), device=device, precision=precision,
                         engine=engine)


class _Log:
    """whisper.cpp's log, kept instead of printed (its load messages would flood the console): the last lines,
    numbered, so that the lines since mark() are what whisper_print_timings wrote."""
    lines: deque[str] = deque(maxlen=200)
    written = 0
    lock = threading.Lock()
    installed = False

    @classmethod
    def install(cls) -> None:
        import _pywhispercpp as pw
        if not cls.installed:
            pw.whisper_log_set(cls.write)
            atexit.register(pw.whisper_log_set, None)  # no calls into Python while the interpreter shuts down
            cls.installed = True

    @classmethod
    def write(cls, level: int, text: str) -> None:
        with cls.lock:
            cls.lines.append(text)
            cls.written += 1

    @classmethod
    def mark(cls) -> int:
        with cls.lock:
            return cls.written

    @classmethod
    def since(cls, mark: int) -> str:
        with cls.lock:
            n = min(cls.written - mark, len(cls.lines))
            return "".join(list(cls.lines)[len(cls.lines) - n:]) if n > 0 else ""


class WhisperCppContext:
    """One whisper.cpp context and its greedy whisper_full settings."""

    def __init__(self, path: Path, threads: int):
        import _pywhispercpp as pw
        _Log.install()
        self.pw, self.threads = pw, threads
        cparams = pw.whisper_context_default_params()
        cparams.use_gpu = False
        mark = _Log.mark()
        self.ctx = pw.whisper_init_from_file_with_params(str(path), cparams)
        said = _Log.since(mark)
        if LOAD_FAILED in said:  # the binding wraps a NULL context instead of returning None: its log says so
            why = next((line.split(": ", 1)[-1].strip() for line in said.splitlines() if "whisper_model_load" in line
                        and ("invalid" in line or "wrong" in line or "unknown" in line or "ERROR" in line)),
                       "no reason given")
            raise ModelError(f"whisper.cpp could not load {path} ({why}): delete the file to convert the checkpoint "
                             f"again.")
        weakref.finalize(self, pw.whisper_free, self.ctx)  # the context's memory goes with this object
        self.eot = pw.whisper_token_eot(self.ctx)
        self.max_new = pw.whisper_n_text_ctx(self.ctx) // 2 - 4  # whisper_full's own limit per window

    def params(self, max_tokens: int) -> Any:
        p = self.pw.whisper_full_default_params(self.pw.WHISPER_SAMPLING_GREEDY)
        p.n_threads, p.language, p.translate, p.detect_language = self.threads, "en", False, False
        p.no_context, p.no_timestamps, p.single_segment = True, True, True
        p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = False
        p.temperature, p.temperature_inc, p.greedy = 0.0, 0.0, {"best_of": 1}
        p.suppress_blank, p.suppress_nst, p.max_tokens = True, True, max_tokens
        return p

    def transcribe(self, pcm: np.ndarray, max_tokens: int = 0) -> tuple[str, int, dict[str, float]]:
        """One window: (text, new text tokens, seconds per stage by whisper.cpp's timers)."""
        pw, ctx = self.pw, self.ctx
        pw.whisper_reset_timings(ctx)
        if pw.whisper_full(ctx, self.params(max_tokens), pcm, len(pcm)) != 0:
            raise RuntimeError("whisper.cpp's whisper_full failed")
        texts, tokens = [], 0
        for s in range(pw.whisper_full_n_segments(ctx)):
            texts.append(pw.whisper_full_get_segment_text(ctx, s).decode("utf-8", errors="replace"))
            tokens += sum(pw.whisper_full_get_token_id(ctx, s, i) < self.eot
                          for i in range(pw.whisper_full_n_tokens(ctx, s)))
        mark = _Log.mark()
        pw.whisper_print_timings(ctx)
        split = dict.fromkeys(STAGES, 0.0)
        for name, ms in TIMER.findall(_Log.since(mark)):
            split[STAGE_OF[name]] += float(ms) / 1000
        return "".join(texts).strip(), tokens, split


NOTE = ("FLOPs not counted: whisper.cpp runs no PyTorch ops; stages split by whisper.cpp's own timers "
        "(mel; encode; sample + prompt + decode), time and energy of each call in that proportion")


@dataclass(frozen=True, eq=False, kw_only=True)
class WhisperCpp(LoadedModel):
    """whisper_full per window, split into stages by whisper.cpp's own timers (see the module's doc)."""
    runtime = WHISPER_CPP
    engine_timed = True
    engine: WhisperCppContext

    @cached_property
    def note(self) -> str:
        return f"{package_version('pywhispercpp')}; {NOTE}"

    @property
    def flop_model(self) -> None:
        return None  # no PyTorch ops to count

    def decoder_limit(self) -> int:
        return self.engine.max_new

    def run(self, audio: Sequence[np.ndarray], new_tokens: int | None) -> tuple[list[str], int, dict[str, float]]:
        engine = self.engine
        forced = self.weights == "synthetic"
        max_tokens = forced_max_tokens(min(new_tokens or 1, engine.max_new)) if forced else 0
        texts, steps, split = [], 0, dict.fromkeys(STAGES, 0.0)
        for clip in audio:
            text, tokens, own = engine.transcribe(np.ascontiguousarray(clip, dtype=np.float32), max_tokens)
            texts.append("" if forced else text)
            steps = max(steps, tokens if forced else steps_with_end(tokens, engine.max_new))
            for stage, s in own.items():
                split[stage] += s
        return texts, steps, split
