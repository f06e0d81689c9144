"""The ``ctranslate2`` runtime: Whisper converted once by CTranslate2 and run by its own engine.

The same checkpoint is converted by CTranslate2's converter into a cache folder and run by its own
``encode`` / ``generate`` (the engine inside faster-whisper), in its compute types: precision fp32, fp16,
bf16, int8 and int8_fp16 map to float32, float16, bfloat16, int8 and int8_float16.

INT8 for the PyTorch runtimes is left out on purpose: ``torch.ao.quantization.quantize_dynamic`` still works in
torch 2.13 but warns that it is deprecated for removal, and its maintained successor (torchao) was no faster
than fp32 on CPU for whisper-tiny.en here, so int8 means CTranslate2.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..audio import SAMPLE_RATE
from ..checkpoints import Checkpoint, load_torch_model
from ..models import CT2_COMPUTE_TYPES, CTRANSLATE2
from .base import LoadedModel, on_meta, steps_with_end
from .cache import converted_path
from .eager import EagerWhisper, whisper_languages
from .engine_files import PART, converting, record_folder, verified

CT2_CACHE_ENV = "ASR_CT2_CACHE"  # where converted models go (default: ~/.cache/asr-cost-explorer/ct2)
CT2_MAX_LENGTH = 448  # Whisper's decoder positions; generate then stops after at most 224 new tokens


def ct2_folder(model_id: str, weights: str, compute_type: str) -> Path:
    """The cache folder of one model converted to one compute type."""
    return converted_path(CT2_CACHE_ENV, "ct2", model_id, weights, compute_type)


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """Convert once (cached), then load the CTranslate2 Whisper; its `model` keeps the architecture on meta."""
    import ctranslate2
    compute_type = CT2_COMPUTE_TYPES[precision]
    folder = ct2_folder(model_id, weights, compute_type)
    converted = verified(folder, "CTranslate2", CT2_CACHE_ENV)  # a damaged conversion: ModelError, one sentence
    # Synthetic weights need real values only to convert; pretrained ones are read either way (for the processor).
    checkpoint = load_torch_model(model_id, family, "meta" if converted and weights == "synthetic" else "cpu", "fp32",
                                  weights)
    if not converted:
        convert_ct2(checkpoint, folder, compute_type)
    engine = ctranslate2.models.Whisper(str(folder), device=device, compute_type=compute_type)
    return CT2Whisper.of(checkpoint, model=on_meta(checkpoint.model), device=device, precision=precision, engine=engine)


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


def convert_ct2(checkpoint: Checkpoint, folder: Path, quantization: str) -> Path:
    """Convert the loaded PyTorch Whisper with CTranslate2's TransformersConverter; atomic, so a crash leaves none."""
    from ctranslate2.converters import TransformersConverter

    class FromLoaded(TransformersConverter):  # the model is already in memory (synthetic weights exist nowhere else)
        def load_model(self, model_class: Any, name: str, **kwargs: Any) -> Any:
            return checkpoint.model

        def load_tokenizer(self, tokenizer_class: Any, name: str, **kwargs: Any) -> Any:
            return checkpoint.tokenizer if checkpoint.tokenizer is not None else _Vocabulary(checkpoint.model.config)

    folder.parent.mkdir(parents=True, exist_ok=True)
    with converting(folder, CT2_CACHE_ENV), tempfile.TemporaryDirectory(dir=folder.parent, prefix=folder.name,
                                                                         suffix=PART) as work:
        src, out = Path(work) / "config", Path(work) / "model"
        checkpoint.model.config.save_pretrained(src)  # the converter reads the config from a folder
        FromLoaded(str(src)).convert(str(out), quantization=quantization, force=True)
        checkpoint.feature_extractor.save_pretrained(out)  # with tokenizer.json, faster-whisper can load the folder too
        if checkpoint.tokenizer is not None:
            checkpoint.tokenizer.save_pretrained(out)
        record_folder(out)
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


@dataclass(frozen=True, eq=False, kw_only=True)
class CT2Whisper(EagerWhisper):
    """Features as in the PyTorch runtimes, then CTranslate2's encode and greedy generate (beam_size=1)."""
    runtime = CTRANSLATE2
    note = "FLOPs not counted: CTranslate2 runs no PyTorch ops"
    engine: Any  # ctranslate2.models.Whisper

    @property
    def flop_model(self) -> None:
        return None  # no PyTorch ops to count

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        import ctranslate2
        feats = self.feature_extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if self.device == "cuda":  # the host-to-device copy belongs to preprocess, as in the PyTorch runtimes
            feats = torch.from_numpy(feats).to("cuda")
        # the StorageView shares feats' memory, so feats travels with it
        return {"features": feats, "storage": ctranslate2.StorageView.from_array(feats), "rows": len(audio)}

    def encode(self, inputs: dict[str, Any]) -> Any:
        return self.engine.encode(inputs["storage"], to_cpu=False)

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        rows, engine = inputs["rows"], self.engine
        prompts = [self.prompt] * rows
        if self.weights == "synthetic":  # suppress end-of-text so every row decodes exactly n tokens
            n = self.forced_tokens(new_tokens)
            out = engine.generate(enc, prompts, beam_size=1, max_length=ct2_max_length(n, len(self.prompt)),
                                  suppress_tokens=[self.model.config.eos_token_id], suppress_blank=False)
            return [""] * rows, max(len(r.sequences_ids[0]) for r in out)
        out = engine.generate(enc, prompts, beam_size=1, max_length=CT2_MAX_LENGTH)
        ids = [r.sequences_ids[0] for r in out]
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [t.strip() for t in texts], steps_with_end(max(len(i) for i in ids), CT2_MAX_LENGTH // 2)
