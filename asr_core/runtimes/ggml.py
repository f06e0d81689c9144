"""Our converter to whisper.cpp's model file (the ``ggml`` format whisper.cpp's own scripts write).

The layout, as whisper.cpp 1.8 reads it (``whisper_model_load``): the magic ``ggml`` (0x67676d6c); eleven int32
hyperparameters (vocabulary, audio context, width, heads and layers; text context, width, heads and layers; mel
bins; ftype); the mel filterbank (n_mel, n_fft, floats); the vocabulary (count, then length-prefixed bytes per
token, specials left to whisper.cpp to name); then each tensor as n_dims, name length and type, the dims
innermost first, the name, and the data. Matrices take the file's type (f32, f16 or a ggml block format);
convolutions stay f16 unless the file is f32; vectors, convolution biases and positional embeddings stay f32.

Quantisation follows ggml's reference code (``quantize_row_q8_0_ref``, ``quantize_row_q5_1_ref``): blocks of
32 weights along a row, q8_0 as an f16 scale and 32 int8 (34 bytes), q5_1 as f16 scale and minimum, 32 high
bits and 32 low nibbles (24 bytes). whisper.cpp's own quantize tool writes the same blocks.

Synthetic weights have nothing to say, so they must not say end-of-text: whisper.cpp's greedy loop cannot
be told to skip it (its Python binding passes no logits to a filter), so the converter puts end-of-text out of
reach in the weights instead: one channel of the decoder's final norm is held at 1 and end-of-text's embedding
is -100 there (every other token's 0). That changes two numbers and no shape, so the cost is the same, and
every window decodes exactly the forced count.
"""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..checkpoints import Checkpoint
from ..errors import ModelError
from ..models import WHISPER_CPP
from .engine_files import PART, converting, damaged, header_differs, record_file
from .layout import dims_of, openai_weights

GGML_CACHE_ENV = "ASR_GGML_CACHE"  # where converted models go (default: ~/.cache/asr-cost-explorer/ggml)
MAGIC = 0x67676D6C
HEADER_FIELDS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "n_text_ctx",
                 "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype")  # after the magic, int32 each
QNT_VERSION, QNT_VERSION_FACTOR = 2, 1000  # ggml.h: a quantised file's ftype carries the format's version
# precision -> (file ftype, matrix tensor type); ggml types: f32 0, f16 1, q5_1 7, q8_0 8
FORMATS = {"fp32": (0, 0), "fp16": (1, 1), "q8_0": (QNT_VERSION * QNT_VERSION_FACTOR + 7, 8),
           "q5_1": (QNT_VERSION * QNT_VERSION_FACTOR + 9, 7)}
F32, F16 = 0, 1
BLOCK = 32
ALWAYS_F32 = ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
              "decoder.positional_embedding")
EOT_CHANNEL, EOT_LOGIT = 0, -100.0  # synthetic weights: end-of-text's logit is about -100, the others near 0
SPACE_TOKEN = 220  # " " in Whisper's byte-level BPE: whisper.cpp looks it up to suppress blanks


def write_ggml(checkpoint: Checkpoint, path: Path, precision: str) -> Path:
    """Write the checkpoint's Whisper (transformers, on CPU) as a whisper.cpp model file at path; atomic."""
    matrix_type = FORMATS[precision][1]
    cfg = checkpoint.model.config
    header = header_of(cfg, precision)
    tensors = {k: v.detach().float().numpy() for k, v in openai_weights(checkpoint.model).items()}
    if checkpoint.weights == "synthetic":
        _end_of_text_out_of_reach(tensors, cfg.eos_token_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with converting(path, GGML_CACHE_ENV):
        _write(checkpoint, tensors, header, path, precision == "fp32", matrix_type)
    return path


def _write(checkpoint: Checkpoint, tensors: dict[str, np.ndarray], header: dict[str, int], path: Path, all_f32: bool,
           matrix_type: int) -> None:
    """The file under a temporary name, its record, then the rename (engine_files)."""
    cfg = checkpoint.model.config
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=PART)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(struct.pack("<12i", MAGIC, *(header[f] for f in HEADER_FIELDS)))
            filters = np.ascontiguousarray(np.asarray(checkpoint.feature_extractor.mel_filters, dtype=np.float32).T)
            out.write(struct.pack("<2i", *filters.shape))
            out.write(filters.tobytes())
            vocab = _vocabulary(checkpoint.tokenizer, cfg.eos_token_id)
            out.write(struct.pack("<i", len(vocab)))
            for token in vocab:
                out.write(struct.pack("<i", len(token)) + token)
            for name, data in tensors.items():
                _write_tensor(out, name, data, all_f32, matrix_type)
        record_file(Path(tmp), path, header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def header_of(config: Any, precision: str) -> dict[str, int]:
    """The header fields (HEADER_FIELDS) of this checkpoint's whisper.cpp file in this precision."""
    d = dims_of(config)
    return {**{f: getattr(d, f) for f in HEADER_FIELDS[:-1]}, "ftype": FORMATS[precision][0]}


def read_header(path: Path) -> dict[str, int]:
    """The header fields of a whisper.cpp file ({} when it is too short or lacks the magic)."""
    with open(path, "rb") as f:
        raw = f.read(4 * (1 + len(HEADER_FIELDS)))
    if len(raw) < 4 * (1 + len(HEADER_FIELDS)):
        return {}
    magic, *values = struct.unpack(f"<{1 + len(HEADER_FIELDS)}i", raw)
    return dict(zip(HEADER_FIELDS, values)) if magic == MAGIC else {}


def check_header(path: Path, config: Any, precision: str) -> None:
    """ModelError in one sentence when the file's header does not describe this checkpoint in this precision."""
    found = read_header(path)
    if wrong := header_differs(found, header_of(config, precision), "the checkpoint has"):
        why = wrong if found else "it lacks whisper.cpp's header"
        raise ModelError(damaged(WHISPER_CPP, path, why, GGML_CACHE_ENV))


def _end_of_text_out_of_reach(tensors: dict[str, np.ndarray], eot: int) -> None:
    tensors["decoder.ln.weight"][EOT_CHANNEL] = 0.0
    tensors["decoder.ln.bias"][EOT_CHANNEL] = 1.0
    emb = tensors["decoder.token_embedding.weight"]
    emb[:, EOT_CHANNEL] = 0.0
    emb[eot, EOT_CHANNEL] = EOT_LOGIT


def _write_tensor(out: BinaryIO, name: str, data: np.ndarray, all_f32: bool, matrix_type: int) -> None:
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        data = data.reshape(-1, 1)
    if all_f32 or data.ndim < 2 or name in ALWAYS_F32:
        kind, raw = F32, data.astype("<f4").tobytes()
    elif data.ndim == 3 or matrix_type == F16:  # convolutions, and every matrix of an f16 file
        kind, raw = F16, data.astype("<f2").tobytes()
    else:
        kind, raw = matrix_type, quantize(data, matrix_type)
    key = name.encode()
    out.write(struct.pack(f"<3i{data.ndim}i", data.ndim, len(key), kind, *reversed(data.shape)))
    out.write(key)
    out.write(raw)


def _vocabulary(tokenizer: Any, eot: int) -> list[bytes]:
    """The bytes of every text token (ids below end-of-text); whisper.cpp names the special tokens itself.
    Synthetic Whisper has no tokenizer: distinct placeholders, and the space whisper.cpp looks up."""
    if tokenizer is None:
        return [b" " if i == SPACE_TOKEN else f"<{i}>".encode() for i in range(eot)]
    byte_of = {ch: b for b, ch in _bytes_to_unicode().items()}
    return [bytes(byte_of[ch] for ch in tokenizer.convert_ids_to_tokens(i)) for i in range(eot)]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level BPE alphabet: each byte as the printable character its vocabulary spells it with."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(others)}}


def quantize(data: np.ndarray, ggml_type: int) -> bytes:
    """A 2-D float matrix in ggml blocks of 32 along each row (q8_0: type 8, q5_1: type 7)."""
    rows = np.ascontiguousarray(data, dtype=np.float32).reshape(-1, BLOCK)
    if ggml_type == 8:
        return _q8_0(rows)
    if ggml_type == 7:
        return _q5_1(rows)
    raise ValueError(f"ggml type {ggml_type} is not one this converter writes")


def _q8_0(x: np.ndarray) -> bytes:
    d = np.abs(x).max(axis=1) / 127
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    v = x * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # C's roundf: halves away from zero
    block = np.zeros(len(x), dtype=[("d", "<f2"), ("qs", "i1", BLOCK)])
    block["d"], block["qs"] = d.astype(np.float16), q
    return block.tobytes()


def _q5_1(x: np.ndarray) -> bytes:
    lo, hi = x.min(axis=1), x.max(axis=1)
    d = (hi - lo) / 31
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = ((x - lo[:, None]) * inv[:, None] + 0.5).astype(np.uint8)  # truncation, as the C cast
    low = (q[:, :16] & 0x0F) | ((q[:, 16:] & 0x0F) << 4)
    bits = ((q >> 4) & 1).astype(np.uint32)  # bit j: weight j's fifth bit (j < 16), then the second half's
    qh = (bits << np.arange(BLOCK, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
    block = np.zeros(len(x), dtype=[("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    block["d"], block["m"], block["qh"], block["qs"] = d.astype(np.float16), lo.astype(np.float16), qh, low
    return block.tobytes()


def dequantize(raw: bytes, ggml_type: int, shape: tuple[int, ...]) -> np.ndarray:
    """The floats a block-quantised matrix stands for (ggml's dequantize_row_*), for tests and checks."""
    if ggml_type == 8:
        b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", BLOCK)])
        return (b["qs"] * b["d"].astype(np.float32)[:, None]).reshape(shape)
    b = np.frombuffer(raw, dtype=[("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    low = np.concatenate([b["qs"] & 0x0F, b["qs"] >> 4], axis=1).astype(np.uint32)
    high = ((b["qh"][:, None] >> np.arange(BLOCK, dtype=np.uint32)) & 1) << 4
    q = (low | high).astype(np.float32)
    return (q * b["d"].astype(np.float32)[:, None] + b["m"].astype(np.float32)[:, None]).reshape(shape)


def tensor_bytes(n: int, ggml_type: int) -> int:
    """Bytes of n weights stored as ggml_type (f32 0, f16 1, q5_1 7, q8_0 8)."""
    return {0: 4 * n, 1: 2 * n, 7: n // BLOCK * 24, 8: n // BLOCK * 34}[ggml_type]
