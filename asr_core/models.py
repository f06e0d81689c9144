"""What can run: the model registry, devices, precisions and runtimes, and why a combination cannot.

Facts only, the same on every machine: nothing here loads a model, reaches the hub or probes this machine
(``capabilities`` says what runs here, ``checkpoints`` builds PyTorch models, ``runtimes.load_model`` is the one
entry point that loads).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ModelError

WHISPER = "whisper"
CTC = "ctc"
WEIGHTS = ("pretrained", "synthetic")
# Precision -> the dtype PyTorch tensors use. The quantised ones store the weights quantised and run through one
# runtime only (QUANTIZED); their value is the dtype of what stays unquantised (features, activations).
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
              "int8": torch.float32, "int8_fp16": torch.float16, "q8_0": torch.float32, "q5_1": torch.float32}
DEVICES = ("auto", "cpu", "cuda")
TRANSFORMERS, COMPILED, CTRANSLATE2 = "transformers", "transformers-compiled", "ctranslate2"
OPENAI_WHISPER, WHISPER_CPP = "openai-whisper", "whisper.cpp"
# transformers (eager generate) is the baseline
RUNTIMES = (TRANSFORMERS, COMPILED, CTRANSLATE2, OPENAI_WHISPER, WHISPER_CPP)
# quantised precision -> the one runtime that runs it: CTranslate2's int8 types, whisper.cpp's ggml block formats
QUANTIZED = {"int8": CTRANSLATE2, "int8_fp16": CTRANSLATE2, "q8_0": WHISPER_CPP, "q5_1": WHISPER_CPP}
# bytes a parameter takes at each precision (int8: the quantised weights, their scales ignored; ggml's q8_0 and
# q5_1 blocks hold 32 weights in 34 and 24 bytes, scales included)
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int8_fp16": 1, "q8_0": 34 / 32, "q5_1": 24 / 32}
# what each runtime can run where it cannot run everything (precisions, devices, batch sizes)
RUNTIME_PRECISIONS = {OPENAI_WHISPER: ("fp32", "fp16"), WHISPER_CPP: ("fp16", "q8_0", "q5_1")}
WHY_PRECISIONS = {OPENAI_WHISPER: "OpenAI's decoding offers fp32 and fp16 only",
                  WHISPER_CPP: "whisper.cpp's model files are f16 or ggml-quantised (its CPU convolution takes f16 "
                               "kernels only; an f32 file aborts it)"}
WHISPER_ONLY = {CTRANSLATE2: "the ctranslate2 runtime", OPENAI_WHISPER: "openai-whisper (OpenAI's own package)",
                WHISPER_CPP: "whisper.cpp"}
WHISPER_CPP_CPU_ONLY = ("the whisper.cpp wheel on the package index (pywhispercpp) is built for CPUs only: use "
                        "--device cpu, or runtime ctranslate2 or openai-whisper on the GPU")
WHISPER_CPP_BATCH = ("whisper.cpp transcribes one clip at a time (its Python binding has one decoding state per "
                     "model): use batch size 1")
# precision -> CTranslate2 compute type
CT2_COMPUTE_TYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8",
                     "int8_fp16": "int8_float16"}
CONFIG_FILE = "config.json"  # a local checkpoint folder's architecture; its model_type names the family
MODEL_TYPES = {"whisper": WHISPER, "wav2vec2": CTC}  # config.json model_type -> family
CONFIG_FIX = ('give the folder the config.json of a Whisper or wav2vec2 checkpoint (with "model_type": "whisper" '
              'or "wav2vec2")')

# Whisper architecture facts (from each checkpoint's config.json) needed to build it offline.
_WHISPER_COMMON = dict(vocab_size=51865, num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                       decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257)
# The English-only (.en) checkpoints: one token fewer (no language tokens shift the specials down by one).
_ENGLISH_ONLY = dict(vocab_size=51864, decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256,
                     bos_token_id=50256)
# A local checkpoint folder may name the hub checkpoint it holds in this file (first line), e.g. a fine-tune
# that should not be taken for the checkpoint whose architecture it shares.
CHECKPOINT_NAME_FILE = "checkpoint.txt"
# config.json keys compared when a local folder is identified by its architecture
IDENTITY_KEYS = ("vocab_size", "num_mel_bins", "d_model", "encoder_layers", "decoder_layers",
                 "encoder_attention_heads", "hidden_size", "num_hidden_layers")
NAME_MAX_BYTES = 255  # one file or folder name (Linux, macOS, Windows); a hub id's parts are at most 96 characters
PATH_MAX_BYTES = 4095  # a whole path (Linux's PATH_MAX less the NUL)


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
    ModelSpec("openai/whisper-tiny.en", WHISPER, 39, _whisper(384, 4, 4, 6, **_ENGLISH_ONLY), multilingual=False),
    ModelSpec("openai/whisper-base.en", WHISPER, 74, _whisper(512, 6, 6, 8, **_ENGLISH_ONLY), multilingual=False),
    ModelSpec("openai/whisper-small.en", WHISPER, 244, _whisper(768, 12, 12, 12, **_ENGLISH_ONLY), multilingual=False),
    ModelSpec("openai/whisper-medium.en", WHISPER, 769, _whisper(1024, 24, 24, 16, **_ENGLISH_ONLY),
              multilingual=False),
    # large-v3-turbo: 128 mel bins, 32 encoder layers but only 4 decoder layers.
    ModelSpec("openai/whisper-large-v3-turbo", WHISPER, 809,
              _whisper(1280, 32, 4, 20, num_mel_bins=128, vocab_size=51866)),
    ModelSpec("facebook/wav2vec2-base-960h", CTC, 95,
              dict(vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, feat_extract_norm="group", do_stable_layer_norm=False,
                   pad_token_id=0, bos_token_id=1, eos_token_id=2), multilingual=False),
)}


def batch_problem(runtime: str, batch_size: int) -> str | None:
    """Why this runtime cannot run batches of this size, or None if it can."""
    if runtime == WHISPER_CPP and batch_size > 1:
        return WHISPER_CPP_BATCH
    return None


def combination_problem(family: str, precision: str, runtime: str) -> str | None:
    """Why this family, precision and runtime can never run together on any machine, or None.

    Only the structural mismatches (a quantised precision outside its runtime, a Whisper-only runtime for CTC);
    capabilities.precision_problem and runtime_problem give the same reasons and add what depends on the machine.
    """
    return family_problem(family, runtime) or format_problem(precision, runtime)


def family_problem(family: str, runtime: str) -> str | None:
    """Why this runtime can never run this model family (a Whisper-only runtime for CTC), or None."""
    if runtime in WHISPER_ONLY and family == CTC:
        return f"{WHISPER_ONLY[runtime]} runs Whisper only: use runtime transformers or transformers-compiled"
    return None


def format_problem(precision: str, runtime: str) -> str | None:
    """Why this runtime can never run this precision (a quantised format of another runtime), or None."""
    owner = QUANTIZED.get(precision)
    if owner == CTRANSLATE2 and runtime != CTRANSLATE2:  # PyTorch's torch.ao.quantization is deprecated
        return f"{precision} runs with the ctranslate2 runtime only (PyTorch's int8 path is deprecated)"
    if owner is not None and runtime != owner:
        return f"{precision} is a ggml block format: it runs with the {owner} runtime only"
    allowed = RUNTIME_PRECISIONS.get(runtime)
    if allowed is not None and precision not in allowed:
        return f"the {runtime} runtime runs {', '.join(allowed)}, not {precision}: {WHY_PRECISIONS[runtime]}"
    return None


def check_model_id(model_id: str) -> None:
    """ModelError in one sentence when model_id can name neither a folder nor a hub model (a name too long for any
    file system, a NUL), before anything asks the file system about it."""
    longest = max((len(part.encode("utf-8", "replace")) for part in model_id.split("/")), default=0)
    if "\0" in model_id or longest > NAME_MAX_BYTES or len(model_id.encode("utf-8", "replace")) > PATH_MAX_BYTES:
        raise ModelError(f"That model name ({len(model_id)} characters) cannot name a folder or hub model: a part "
                         f"between slashes has at most {NAME_MAX_BYTES} characters and no NUL; check the name.")


def is_file(path: str | Path) -> bool:
    """Path.is_file that says False, not OSError, for a name no file can have (too long, a NUL)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def is_folder(path: str | Path) -> bool:
    """Path.is_dir that says False, not OSError, for a name no folder can have (too long, a NUL)."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def family_of(model_id: str) -> str:
    """The model family from the registry, a local config.json, or the hub id's name."""
    if model_id in REGISTRY:
        return REGISTRY[model_id].family
    check_model_id(model_id)
    cfg = Path(model_id) / CONFIG_FILE
    if is_file(cfg):
        return _family_of_config(cfg)
    model_type = model_id.lower()
    if "whisper" in model_type:
        return WHISPER
    if "wav2vec2" in model_type:
        return CTC
    known = ", ".join(REGISTRY)
    raise ModelError(f"Unknown model '{model_id}': use one of {known}, or a Whisper/wav2vec2 hub id or local folder.")


def _family_of_config(cfg: Path) -> str:
    """The family a local checkpoint's config.json names in its model_type; ModelError if it names none we run."""
    model_type = read_config(cfg).get("model_type")
    if model_type is None:
        raise ModelError(f"{cfg} has no \"model_type\": {CONFIG_FIX}.")
    if model_type not in MODEL_TYPES:
        raise ModelError(f"{cfg} has model_type {model_type!r}, which this tool cannot run: {CONFIG_FIX}.")
    return MODEL_TYPES[model_type]


def checkpoint_of(model_id: str) -> str:
    """The hub checkpoint a model id names: a registry or hub id as it is; a local folder by its
    checkpoint.txt, else its config's ``_name_or_path`` when that is a hub id, else the one registry entry
    whose architecture and vocabulary its config.json matches; else the id as given.

    Matching by architecture cannot tell a fine-tune from its base: give a fine-tuned folder a checkpoint.txt.
    """
    folder = Path(model_id)
    if model_id in REGISTRY:
        return model_id
    if not is_file(folder / CONFIG_FILE):  # a hub id, or a folder named in a shipped sweep but absent here
        return _registry_id_named(folder.name) or model_id if looks_like_path(model_id) else model_id
    named = folder / CHECKPOINT_NAME_FILE
    if is_file(named):
        return named.read_text(encoding="utf-8").strip().splitlines()[0].strip() or model_id
    config = read_config(folder / CONFIG_FILE)
    name = str(config.get("_name_or_path", ""))
    if name.count("/") == 1 and not is_folder(name):
        return name
    return _matching_registry_id(config) or model_id


def looks_like_path(model_id: str) -> bool:
    """A folder on disk, or written as a path: absolute, relative ('./', '../', '~') or deeper than a hub id's
    'owner/name'."""
    return (model_id.startswith(("/", ".", "~")) or "\\" in model_id or model_id.strip("/").count("/") > 1
            or is_folder(model_id))


def _registry_id_named(name: str) -> str | None:
    """The registry id whose last part is a folder's name ('whisper-tiny.en' -> 'openai/whisper-tiny.en'), or
    None when none or several match: a sweep's rows name local folders by path, and a user without that
    folder should still see which checkpoint they were."""
    found = [m for m in REGISTRY if m.rsplit("/", 1)[-1] == name]
    return found[0] if len(found) == 1 else None


def _matching_registry_id(config: dict[str, Any]) -> str | None:
    """The one registry id whose family and architecture facts (IDENTITY_KEYS) the config shares, or None."""
    family = MODEL_TYPES.get(config.get("model_type"))
    found = [s.model_id for s in REGISTRY.values() if s.family == family and
             all(config.get(k) == s.arch[k] for k in IDENTITY_KEYS if k in s.arch)]
    return found[0] if len(found) == 1 else None


def read_config(cfg: Path) -> dict[str, Any]:
    """A checkpoint's config.json as a dict; ModelError naming the file when it is unreadable or not an object."""
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"Could not read {cfg} ({exc.strerror or type(exc).__name__}): check its permissions.") \
            from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise ModelError(f"{cfg} is not valid JSON: {CONFIG_FIX}.") from None
    if not isinstance(config, dict):
        raise ModelError(f"{cfg} holds a JSON {type(config).__name__}, not an object: {CONFIG_FIX}.")
    return config

