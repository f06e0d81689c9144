"""Optimised runtimes behind the same three stages as runners.py: compiled PyTorch and CTranslate2.

- ``transformers-compiled``: Whisper generates on a static KV cache with its decoder step compiled by
  ``torch.compile`` (mode "reduce-overhead", i.e. CUDA graphs, on a GPU; the default mode on CPU), and the
  Whisper encoder and the wav2vec2 CTC body are compiled too. Compilation runs before the measured loop, once
  per new batch size, and is reported as ``compile_s``, never as latency.
- ``ctranslate2``: the same Whisper checkpoint converted once by CTranslate2's converter into a cache folder and
  run by its own ``encode`` / ``generate`` (the engine inside faster-whisper), in its compute types: precision
  fp32, fp16, bf16, int8 and int8_fp16 map to float32, float16, bfloat16, int8 and int8_float16.

INT8 for the PyTorch runtimes is left out on purpose: ``torch.ao.quantization.quantize_dynamic`` still works in
torch 2.13 but warns that it is deprecated for removal, and its maintained successor (torchao) was no faster
than fp32 on CPU for whisper-tiny.en here, so int8 means CTranslate2.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .audio import SAMPLE_RATE
from .models import COMPILED, CT2_WHISPER_ONLY, CTC, CTRANSLATE2, LoadedModel, load_torch_model
from .runners import CTCStages, WhisperStages, whisper_languages

CT2_CACHE_ENV = "ASR_CT2_CACHE"  # where converted models go (default below)
CT2_CACHE_DEFAULT = Path.home() / ".cache" / "asr-cost-explorer" / "ct2"
CT2_COMPUTE_TYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8",
                     "int8_fp16": "int8_float16"}
CT2_MAX_LENGTH = 448  # Whisper's decoder positions; generate then stops after at most 224 new tokens
COMPILE_RUNS = {"cpu": 1, "cuda": 3}  # runs per new batch size: CUDA graphs warm up, record, then replay once


# --- what each runtime can run ---------------------------------------------------------------


def ct2_problem(family: str) -> str | None:
    """Why the ctranslate2 runtime cannot run this family here, or None if it can."""
    if family == CTC:
        return CT2_WHISPER_ONLY
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return "CTranslate2 is not installed: pip install ctranslate2"
    return None


def ct2_precision_problem(device: str, precision: str) -> str | None:
    """Why CTranslate2 cannot compute in this precision on this device, or None if it can."""
    try:
        import ctranslate2
    except ImportError:
        return None  # ct2_problem says how to install it
    try:
        supported = ctranslate2.get_supported_compute_types(device)
    except (RuntimeError, ValueError):
        return f"CTranslate2 cannot use a {device} here"
    if CT2_COMPUTE_TYPES[precision] in supported:
        return None
    usable = [p for p, c in CT2_COMPUTE_TYPES.items() if c in supported]
    return f"CTranslate2 on this {device} computes in {', '.join(usable)}, not {precision}"


def load(model_id: str, family: str, device: str, precision: str, weights: str, runtime: str) -> LoadedModel:
    """Load for an optimised runtime; models.load_model has checked the combination already."""
    if runtime == CTRANSLATE2:
        return load_ctranslate2(model_id, family, device, precision, weights)
    lm = load_torch_model(model_id, family, device, precision, weights)
    return compile_model(lm)


def stages_for(lm: LoadedModel) -> Any:
    if lm.runtime == CTRANSLATE2:
        return CT2WhisperStages(lm)
    return CompiledCTCStages(lm) if lm.family == CTC else CompiledWhisperStages(lm)


# --- transformers-compiled -------------------------------------------------------------------


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


class _CompiledStages:
    """Shared by both families: FLOPs are counted on the eager model (same math), compile state lives on lm."""
    note = "FLOPs counted on the eager model; compile_s holds compilation and CUDA-graph capture"

    def __init__(self, lm: LoadedModel, eager: Any):
        self.flop_stages = eager
        self.warm = lm.engine.warm
        self.compile_runs = COMPILE_RUNS.get(lm.device, 1)


class CompiledWhisperStages(WhisperStages, _CompiledStages):
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


class CompiledCTCStages(CTCStages, _CompiledStages):
    def __init__(self, lm: LoadedModel):
        CTCStages.__init__(self, lm)
        _CompiledStages.__init__(self, lm, CTCStages(lm))

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.engine.encoder(inputs["input_values"], attention_mask=inputs.get("attention_mask")).last_hidden_state


# --- ctranslate2 -----------------------------------------------------------------------------


def ct2_folder(model_id: str, weights: str, compute_type: str) -> Path:
    """The cache folder of one model converted to one compute type."""
    root = Path(os.environ.get(CT2_CACHE_ENV) or CT2_CACHE_DEFAULT)
    path = Path(model_id)
    if path.is_dir():  # a local folder: its name plus a digest of where it is and when its files last changed
        stamp = f"{path.resolve()}:{max(f.stat().st_mtime_ns for f in path.iterdir())}"
        name = f"{path.name}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    else:
        name = model_id.replace("/", "--")
    return root / f"{name}-{weights}-{compute_type}"


def load_ctranslate2(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """Convert once (cached), then load the CTranslate2 Whisper; lm.model keeps the architecture on meta."""
    import ctranslate2
    compute_type = CT2_COMPUTE_TYPES[precision]
    folder = ct2_folder(model_id, weights, compute_type)
    converted = (folder / "model.bin").is_file()
    # Synthetic weights need real values only to convert; pretrained ones are read either way (for the processor).
    lm = load_torch_model(model_id, family, "meta" if converted and weights == "synthetic" else "cpu", "fp32", weights)
    if not converted:
        convert_ct2(lm, folder, compute_type)
    lm.model = lm.model.to("meta")
    lm.model.tie_weights()  # moving to meta unties the output projection from the token embedding
    lm.engine = ctranslate2.models.Whisper(str(folder), device=device, compute_type=compute_type)
    lm.device, lm.precision, lm.runtime = device, precision, CTRANSLATE2
    return lm


class _Vocabulary:
    """Whisper's token layout, by name, for a model without a tokenizer: CTranslate2 finds the special tokens
    (start of transcript, end of text, no timestamps) by name; synthetic text means nothing."""
    additional_special_tokens: list[str] = []

    def __init__(self, config: Any):
        eos, langs = config.eos_token_id, whisper_languages(config)
        self.vocab = {f"<|text{i}|>": i for i in range(eos)}
        special = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|lang{i}|>" for i in range(langs)), "<|translate|>",
                   "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
        self.vocab.update({name: eos + i for i, name in enumerate(special)})  # timestamps follow (the converter)

    def get_vocab(self) -> dict[str, int]:
        return self.vocab


def convert_ct2(lm: LoadedModel, folder: Path, quantization: str) -> Path:
    """Convert the loaded PyTorch Whisper with CTranslate2's TransformersConverter; atomic, so a crash leaves none."""
    from ctranslate2.converters import TransformersConverter

    class FromLoaded(TransformersConverter):  # the model is already in memory (synthetic weights exist nowhere else)
        def load_model(self, model_class: Any, name: str, **kwargs: Any) -> Any:
            return lm.model

        def load_tokenizer(self, tokenizer_class: Any, name: str, **kwargs: Any) -> Any:
            return lm.tokenizer if lm.tokenizer is not None else _Vocabulary(lm.model.config)

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as work:
        src, out = Path(work) / "config", Path(work) / "model"
        lm.model.config.save_pretrained(src)  # the converter reads the config from a folder
        FromLoaded(str(src)).convert(str(out), quantization=quantization, force=True)
        lm.feature_extractor.save_pretrained(out)  # with tokenizer.json, faster-whisper can load the folder too
        if lm.tokenizer is not None:
            lm.tokenizer.save_pretrained(out)
        if not (folder / "model.bin").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(out, folder)
    return folder


def ct2_max_length(new_tokens: int, prompt_len: int) -> int:
    """The max_length that makes CTranslate2's Whisper.generate stop after exactly new_tokens (end-of-text suppressed).

    Measured with ctranslate2 4.8: it stops after min(max_length // 2, max_length - prompt_len + 1) new tokens,
    openai-whisper's cap of half the decoder context.
    """
    return max(2 * new_tokens, new_tokens + prompt_len - 1)


class CT2WhisperStages(WhisperStages):
    """Features as in the PyTorch runtimes, then CTranslate2's encode and greedy generate (beam_size=1)."""
    flop_stages = None  # no PyTorch ops to count
    note = "FLOPs not counted: CTranslate2 runs no PyTorch ops"

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        import ctranslate2
        feats = self.lm.feature_extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if self.lm.device == "cuda":  # the host-to-device copy belongs to preprocess, as in the PyTorch runtimes
            feats = torch.from_numpy(feats).to("cuda")
        # the StorageView shares feats' memory, so feats travels with it
        return {"features": feats, "storage": ctranslate2.StorageView.from_array(feats), "rows": len(audio)}

    def encode(self, inputs: dict[str, Any]) -> Any:
        return self.lm.engine.encode(inputs["storage"], to_cpu=False)

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        rows, engine = inputs["rows"], self.lm.engine
        prompts = [self.prompt] * rows
        if self.lm.weights == "synthetic":  # suppress end-of-text so every row decodes exactly n tokens
            n = self.forced_tokens(new_tokens)
            out = engine.generate(enc, prompts, beam_size=1, max_length=ct2_max_length(n, len(self.prompt)),
                                  suppress_tokens=[self.lm.model.config.eos_token_id], suppress_blank=False)
            return [""] * rows, max(len(r.sequences_ids[0]) for r in out)
        out = engine.generate(enc, prompts, beam_size=1, max_length=CT2_MAX_LENGTH)
        ids = [r.sequences_ids[0] for r in out]
        texts = self.lm.tokenizer.batch_decode(ids, skip_special_tokens=True)
        longest = max(len(i) for i in ids)
        # decoder steps per row as transformers counts them: the tokens plus the end-of-text step, unless cut off
        return [t.strip() for t in texts], longest + int(longest < CT2_MAX_LENGTH // 2)
