"""PyTorch checkpoints: pretrained from the hub or a local folder, or synthetic weights of the same shapes.

The only module that reaches the model hub. Synthetic weights build the exact architecture with random
values and download nothing: time, memory and FLOPs depend on shapes, not on values. Every runtime
starts from ``load_torch_model`` (a ``Checkpoint``); ``asr_core.runtimes.load_model`` is what users call.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import ModelError
from .models import CONFIG_FILE, CONFIG_FIX, PRECISIONS, REGISTRY, W2V2_VOCAB, WHISPER, family_of, is_file, is_folder

SYNTHETIC_SEED = 0
HUB_PROBE_TIMEOUT_S = 2.0  # a reachable hub answers a TCP connect well within this
HUB_INFO_TIMEOUT_S = 10.0  # the hub's file list of one model
# What from_pretrained fetches from a model repository's top level (use_safetensors=True): the safetensors weights
# (one file or shards and their index), configs, tokenizer and processor files; other formats are never fetched.
FETCHED_SUFFIXES = (".safetensors", ".json", ".txt", ".model")
# What to do when pretrained weights cannot be had; no mention of prefetch, which may be what is running.
DOWNLOAD_FIX = "connect to the network, or use a local checkpoint folder; --weights synthetic needs no download"
DAMAGED_FIX = "the checkpoint is damaged or incomplete, so download it again or use --weights synthetic"


@dataclass(frozen=True, eq=False, kw_only=True)
class Checkpoint:
    """A checkpoint as transformers loads it: the PyTorch model with its feature extractor and tokenizer."""

    model_id: str
    family: str  # models.WHISPER | models.CTC
    weights: str  # "pretrained" | "synthetic"
    device: str
    precision: str
    model: torch.nn.Module
    feature_extractor: Any
    tokenizer: Any | None  # None for synthetic Whisper: there is no text to decode
    multilingual: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def checkpoint_fields(self) -> dict[str, Any]:
        """This checkpoint's fields, for a runtime's model built on it."""
        return {f.name: getattr(self, f.name) for f in fields(Checkpoint)}


def pretrained_problem(model_id: str) -> str | None:
    """Why pretrained weights for model_id cannot be had right now, or None if they can.

    A local folder or a model already in the Hugging Face cache is fine; otherwise the hub must be
    reachable. Checked up front because an offline from_pretrained retries for about half a minute.
    """
    if is_folder(model_id):
        return None if is_file(Path(model_id) / CONFIG_FILE) else f"{model_id} has no {CONFIG_FILE}"
    from huggingface_hub import constants
    cached = _in_hub_cache(model_id)
    if cached is None:
        return f"'{model_id}' is neither a local folder nor a hub id of the form owner/name"
    if cached:
        return None
    if constants.HF_HUB_OFFLINE:
        return f"{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    if not _hub_reachable(constants.ENDPOINT):
        return (f"{model_id} is not in the local Hugging Face cache and the model hub "
                f"({constants.ENDPOINT}) cannot be reached from this machine")
    return None


def needs_download(model_id: str) -> bool:
    """True when pretrained weights of model_id would come from the hub: not a local folder, not in the local cache."""
    if is_folder(model_id):
        return False
    return _in_hub_cache(model_id) is False  # None, not a hub id: nothing would be downloaded (loading says why)


def _in_hub_cache(model_id: str) -> bool | None:
    """Whether a hub model's config is in the local Hugging Face cache; None when model_id is not a hub id."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError
    try:
        return isinstance(try_to_load_from_cache(model_id, CONFIG_FILE), str)
    except HFValidationError:
        return None


def download_bytes(model_id: str) -> int:
    """Bytes from_pretrained would download for a hub model, summed from the hub's file list (nothing is downloaded).

    ModelError in one sentence when the hub cannot say (no such model, a gated one, no network).
    """
    from huggingface_hub import HfApi
    try:
        info = HfApi().model_info(model_id, files_metadata=True, timeout=HUB_INFO_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub and requests raise many kinds
        raise ModelError(f"The size of {model_id} could not be read from the model hub ({type(exc).__name__}), so "
                         f"it is not downloaded: check the name, or fetch it on this machine first with "
                         f"`asr-profile prefetch --models {model_id}`.") from None
    return sum(f.size or 0 for f in info.siblings or [] if "/" not in f.rfilename
               and f.rfilename.endswith(FETCHED_SUFFIXES))


def _hub_reachable(endpoint: str) -> bool:
    import socket
    from urllib.parse import urlparse
    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=HUB_PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def load_torch_model(model_id: str, family: str, device: str, precision: str, weights: str) -> Checkpoint:
    """The PyTorch model as transformers loads it (the transformers runtime; others start from it)."""
    if weights == "synthetic":
        checkpoint = _build_synthetic(model_id, family, device, precision)
    else:
        checkpoint = _from_pretrained(model_id, family, device, precision)
    checkpoint.model.eval()
    _bake_parametrizations(checkpoint.model)
    return checkpoint


def _bake_parametrizations(model: torch.nn.Module) -> None:
    """Fold weight-norm parametrisations (wav2vec2's positional conv) into plain weights: the same
    function for inference, without recomputing the norm on every forward."""
    from torch.nn.utils import parametrize
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


def _from_pretrained(model_id: str, family: str, device: str, precision: str) -> Checkpoint:
    from transformers import (Wav2Vec2ForCTC, Wav2Vec2Processor, WhisperForConditionalGeneration,
                              WhisperProcessor)
    cls, proc_cls = ((WhisperForConditionalGeneration, WhisperProcessor) if family == WHISPER
                     else (Wav2Vec2ForCTC, Wav2Vec2Processor))
    problem = pretrained_problem(model_id)  # fail in a second, not after half a minute of retries
    if problem:
        fix = CONFIG_FIX if is_folder(model_id) else DOWNLOAD_FIX
        raise ModelError(f"Could not load '{model_id}' because {problem}: {fix}.")
    from safetensors import SafetensorError
    try:
        model = cls.from_pretrained(model_id, dtype=PRECISIONS[precision], attn_implementation="sdpa",
                                    use_safetensors=True)
        processor = proc_cls.from_pretrained(model_id)
    except SafetensorError as exc:  # model.safetensors of random bytes, or cut short
        raise ModelError(f"Could not read the weights of '{model_id}' ({_first_line(exc)}): {DAMAGED_FIX}.") \
            from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load '{model_id}' ({_first_line(exc)}): check the name, or "
                         f"{DOWNLOAD_FIX}.") from None
    except RuntimeError as exc:  # transformers' size-mismatch report; anything else (out of memory) is not ours
        if "mismatched_sizes" not in str(exc):
            raise
        raise ModelError(f"The weights of '{model_id}' do not have the shapes its {CONFIG_FILE} describes: "
                         f"{DAMAGED_FIX}.") from None
    multilingual = bool(getattr(model.generation_config, "is_multilingual", False)) if family == WHISPER else False
    return Checkpoint(model_id=model_id, family=family, weights="pretrained", device=device, precision=precision,
                      model=model.to(device), feature_extractor=processor.feature_extractor,
                      tokenizer=processor.tokenizer, multilingual=multilingual)


def synthetic_config(model_id: str, family: str) -> Any:
    """The architecture config: from the registry, a local folder, or the hub's config.json."""
    from transformers import AutoConfig, Wav2Vec2Config, WhisperConfig
    if model_id in REGISTRY:
        arch = REGISTRY[model_id].arch
        return WhisperConfig(**arch) if family == WHISPER else Wav2Vec2Config(**arch)
    if is_folder(model_id):
        return _folder_config(Path(model_id))
    try:
        return AutoConfig.from_pretrained(model_id)
    except (OSError, ValueError):
        raise ModelError(f"No architecture is known for '{model_id}' offline: use a registry model "
                         f"({', '.join(REGISTRY)}) or a local folder with {CONFIG_FILE}.") from None


def _folder_config(folder: Path) -> Any:
    """A local folder's config.json as a transformers config, with one sentence naming the file when it is bad."""
    from transformers import AutoConfig
    cfg = folder / CONFIG_FILE
    if not cfg.is_file():
        raise ModelError(f"{folder} has no {CONFIG_FILE}: {CONFIG_FIX}.")
    family_of(str(folder))  # not JSON, not an object, or no model_type we run: said in one sentence
    try:
        return AutoConfig.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{cfg} does not describe a model transformers can build ({_first_line(exc)}): "
                         f"{CONFIG_FIX}.") from None


def _first_line(exc: BaseException) -> str:
    """The head of a library's error message, short enough to quote inside one sentence."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _build_synthetic(model_id: str, family: str, device: str, precision: str) -> Checkpoint:
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
    return Checkpoint(model_id=model_id, family=family, weights="synthetic", device=device, precision=precision,
                      model=model, feature_extractor=fe, tokenizer=tok,
                      multilingual=spec.multilingual if spec else True)


def token_counter(tokenizer: str) -> Callable[[str], int]:
    """Counts a text's tokens with a tokenizer from the hub or a local folder (a sweep's synthetic Whisper is forced
    to decode as many tokens as its reference holds)."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tokenizer)
    return lambda text: len(tok(text, add_special_tokens=False).input_ids)


def _w2v2_tokenizer(cls: Any) -> Any:
    with tempfile.TemporaryDirectory() as d:
        vocab = Path(d) / "vocab.json"
        vocab.write_text(json.dumps({s: i for i, s in enumerate(W2V2_VOCAB)}))
        return cls(str(vocab), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
