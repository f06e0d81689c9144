"""Model registry and loading: pretrained from the hub (or a local folder), or synthetic weights.

This is the only module that reaches the model hub. Synthetic weights build the exact architecture
with random values and download nothing: time, memory and FLOPs depend on shapes, not on values.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

WHISPER = "whisper"
CTC = "ctc"
WEIGHTS = ("pretrained", "synthetic")
# Precision -> the dtype PyTorch tensors use. The int8 ones quantise the weights and run through CTranslate2
# only (see runtimes.py); their value is the dtype of what stays unquantised (features, activations).
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
              "int8": torch.float32, "int8_fp16": torch.float16}
QUANTIZED = ("int8", "int8_fp16")
DEVICES = ("auto", "cpu", "cuda")
TRANSFORMERS, COMPILED, CTRANSLATE2 = "transformers", "transformers-compiled", "ctranslate2"
RUNTIMES = (TRANSFORMERS, COMPILED, CTRANSLATE2)  # transformers (eager generate) is the baseline
CT2_WHISPER_ONLY = "the ctranslate2 runtime runs Whisper only: use runtime transformers or transformers-compiled"
SYNTHETIC_SEED = 0
HUB_PROBE_TIMEOUT_S = 2.0  # a reachable hub answers a TCP connect well within this

# Whisper architecture facts (from each checkpoint's config.json) needed to build it offline.
_WHISPER_COMMON = dict(vocab_size=51865, num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                       decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257)


def _whisper(d_model: int, enc: int, dec: int, heads: int, **over: Any) -> dict[str, Any]:
    return {**_WHISPER_COMMON, "d_model": d_model, "encoder_layers": enc, "decoder_layers": dec,
            "encoder_attention_heads": heads, "decoder_attention_heads": heads,
            "encoder_ffn_dim": 4 * d_model, "decoder_ffn_dim": 4 * d_model, **over}


# The wav2vec2-base-960h character vocabulary (32 symbols), so its synthetic twin can detokenise.
W2V2_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L",
              "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    family: str
    params_m: float  # parameters, millions
    arch: dict[str, Any] = field(default_factory=dict, compare=False)
    multilingual: bool = True


REGISTRY: dict[str, ModelSpec] = {s.model_id: s for s in (
    ModelSpec("openai/whisper-tiny", WHISPER, 39, _whisper(384, 4, 4, 6)),
    ModelSpec("openai/whisper-base", WHISPER, 74, _whisper(512, 6, 6, 8)),
    ModelSpec("openai/whisper-small", WHISPER, 244, _whisper(768, 12, 12, 12)),
    ModelSpec("openai/whisper-medium", WHISPER, 769, _whisper(1024, 24, 24, 16)),
    # large-v3-turbo: 128 mel bins, 32 encoder layers but only 4 decoder layers.
    ModelSpec("openai/whisper-large-v3-turbo", WHISPER, 809,
              _whisper(1280, 32, 4, 20, num_mel_bins=128, vocab_size=51866)),
    ModelSpec("facebook/wav2vec2-base-960h", CTC, 95,
              dict(vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, feat_extract_norm="group", do_stable_layer_norm=False,
                   pad_token_id=0, bos_token_id=1, eos_token_id=2), multilingual=False),
)}


class ModelError(ValueError):
    """A model that cannot be loaded or run as asked; the message says what to do."""


@dataclass
class LoadedModel:
    model_id: str
    family: str
    weights: str
    device: str
    precision: str
    model: torch.nn.Module
    feature_extractor: Any
    tokenizer: Any | None  # None for synthetic Whisper: there is no text to decode
    multilingual: bool = False
    runtime: str = TRANSFORMERS
    # What a runtime adds (runtimes.py): compiled callables, or the CTranslate2 model; for ctranslate2, `model`
    # is the PyTorch architecture on the meta device (config and parameter count, no weights).
    engine: Any = None

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def resolve_device(device: str) -> str:
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
    if runtime == CTRANSLATE2:
        from .runtimes import ct2_precision_problem
        return ct2_precision_problem(device, precision)
    if why := _quantized_problem(precision, runtime):
        return why
    if device == "cpu" and precision == "fp16":
        return "fp16 is not supported on CPU here (many CPU kernels lack half precision): use fp32 or bf16"
    if device == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        return "this GPU does not support bf16: use fp16"
    return None


def runtime_problem(family: str, runtime: str) -> str | None:
    """Why this runtime cannot run this model family, or None if it can."""
    if runtime not in RUNTIMES:
        return f"unknown runtime '{runtime}' (use {', '.join(RUNTIMES)})"
    if runtime == CTRANSLATE2:
        from .runtimes import ct2_problem
        return ct2_problem(family)
    return None


def combination_problem(family: str, precision: str, runtime: str) -> str | None:
    """Why this family, precision and runtime can never run together on any machine, or None.

    Only the structural mismatches (quantised precisions outside CTranslate2, CTranslate2 for CTC);
    precision_problem and runtime_problem give the same reasons and add what depends on the machine.
    """
    if runtime == CTRANSLATE2 and family == CTC:
        return CT2_WHISPER_ONLY
    return _quantized_problem(precision, runtime)


def _quantized_problem(precision: str, runtime: str) -> str | None:
    if precision in QUANTIZED and runtime != CTRANSLATE2:  # PyTorch's torch.ao.quantization is deprecated
        return f"{precision} runs with the ctranslate2 runtime only (PyTorch's int8 path is deprecated)"
    return None


def pretrained_problem(model_id: str) -> str | None:
    """Why pretrained weights for model_id cannot be had right now, or None if they can.

    A local folder or a model already in the Hugging Face cache is fine; otherwise the hub must be
    reachable. Checked up front because an offline from_pretrained retries for about half a minute.
    """
    if Path(model_id).is_dir():
        return None if (Path(model_id) / "config.json").is_file() else f"{model_id} has no config.json"
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError
    try:
        if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
            return None
    except HFValidationError:
        return f"'{model_id}' is neither a local folder nor a hub id of the form owner/name"
    if constants.HF_HUB_OFFLINE:
        return f"{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    if not _hub_reachable(constants.ENDPOINT):
        return (f"{model_id} is not in the local Hugging Face cache and the model hub "
                f"({constants.ENDPOINT}) cannot be reached from this machine")
    return None


def _hub_reachable(endpoint: str) -> bool:
    import socket
    from urllib.parse import urlparse
    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=HUB_PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def family_of(model_id: str) -> str:
    """The model family from the registry, a local config.json, or the hub id's name."""
    if model_id in REGISTRY:
        return REGISTRY[model_id].family
    cfg = Path(model_id) / "config.json"
    if cfg.is_file():
        model_type = json.loads(cfg.read_text()).get("model_type", "")
    else:
        model_type = model_id.lower()
    if "whisper" in model_type:
        return WHISPER
    if "wav2vec2" in model_type:
        return CTC
    known = ", ".join(REGISTRY)
    raise ModelError(f"Unknown model '{model_id}': use one of {known}, or a Whisper/wav2vec2 hub id or local folder.")


def load_model(model_id: str, device: str = "auto", precision: str = "fp32",
               weights: str = "pretrained", runtime: str = TRANSFORMERS) -> LoadedModel:
    """Load a model ready for inference on device in precision, run by runtime (see RUNTIMES)."""
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
    if runtime != TRANSFORMERS:
        from . import runtimes
        return runtimes.load(model_id, family, device, precision, weights, runtime)
    return load_torch_model(model_id, family, device, precision, weights)


def load_torch_model(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """The PyTorch model as transformers loads it (the transformers runtime; others start from it)."""
    if weights == "synthetic":
        lm = _build_synthetic(model_id, family, device, precision)
    else:
        lm = _from_pretrained(model_id, family, device, precision)
    lm.model.eval()
    _bake_parametrizations(lm.model)
    return lm


def _bake_parametrizations(model: torch.nn.Module) -> None:
    """Fold weight-norm parametrisations (wav2vec2's positional conv) into plain weights: the same
    function for inference, without recomputing the norm on every forward."""
    from torch.nn.utils import parametrize
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


def _from_pretrained(model_id: str, family: str, device: str, precision: str) -> LoadedModel:
    from transformers import (Wav2Vec2ForCTC, Wav2Vec2Processor, WhisperForConditionalGeneration,
                              WhisperProcessor)
    cls, proc_cls = ((WhisperForConditionalGeneration, WhisperProcessor) if family == WHISPER
                     else (Wav2Vec2ForCTC, Wav2Vec2Processor))
    problem = pretrained_problem(model_id)  # fail in a second, not after half a minute of retries
    if problem:
        raise ModelError(f"Could not load '{model_id}': {problem}. Connect to the network or run "
                         f"`asr-profile prefetch` first; --weights synthetic needs no download.")
    try:
        model = cls.from_pretrained(model_id, dtype=PRECISIONS[precision], attn_implementation="sdpa",
                                    use_safetensors=True)
        processor = proc_cls.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load '{model_id}' ({str(exc).splitlines()[0][:200]}): check the name, "
                         f"your network, or run `asr-profile prefetch` first; --weights synthetic needs no "
                         f"download.") from None
    multilingual = bool(getattr(model.generation_config, "is_multilingual", False)) if family == WHISPER else False
    return LoadedModel(model_id, family, "pretrained", device, precision, model.to(device),
                       processor.feature_extractor, processor.tokenizer, multilingual)


def synthetic_config(model_id: str, family: str) -> Any:
    """The architecture config: from the registry, a local folder, or the hub's config.json."""
    from transformers import AutoConfig, Wav2Vec2Config, WhisperConfig
    if model_id in REGISTRY:
        arch = REGISTRY[model_id].arch
        return WhisperConfig(**arch) if family == WHISPER else Wav2Vec2Config(**arch)
    try:
        return AutoConfig.from_pretrained(model_id)
    except (OSError, ValueError):
        raise ModelError(f"No architecture is known for '{model_id}' offline: use a registry model "
                         f"({', '.join(REGISTRY)}) or a local folder with config.json.") from None


def _build_synthetic(model_id: str, family: str, device: str, precision: str) -> LoadedModel:
    from transformers import (Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              WhisperFeatureExtractor, WhisperForConditionalGeneration)
    config = synthetic_config(model_id, family)
    config._attn_implementation = "sdpa"
    torch.manual_seed(SYNTHETIC_SEED)
    with torch.device(device):
        if family == WHISPER:
            model = WhisperForConditionalGeneration(config)
            fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
            tok = None
        else:
            model = Wav2Vec2ForCTC(config)
            fe = Wav2Vec2FeatureExtractor(return_attention_mask=config.feat_extract_norm == "layer")
            tok = _w2v2_tokenizer(Wav2Vec2CTCTokenizer)
    model = model.to(PRECISIONS[precision])
    spec = REGISTRY.get(model_id)
    return LoadedModel(model_id, family, "synthetic", device, precision, model, fe, tok,
                       multilingual=spec.multilingual if spec else True)


def _w2v2_tokenizer(cls: Any) -> Any:
    with tempfile.TemporaryDirectory() as d:
        vocab = Path(d) / "vocab.json"
        vocab.write_text(json.dumps({s: i for i, s in enumerate(W2V2_VOCAB)}))
        return cls(str(vocab), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
