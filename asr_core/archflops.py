"""FLOPs and bytes of a Whisper or wav2vec2 architecture, from its shape alone (no model is built).

The cost model (``costmodel``) projects time from these counts. Every count is 2 FLOPs per multiply-add and
comes in two parts, because the measured sweep counts only one of them: ``linear`` (matrix products with
weights and the convolutions, which ``torch.utils.flop_counter`` counts) and ``attention`` (query x key and
scores x value, which it does not count on the CPU, where SDPA runs a fused kernel). Tests check ``linear``
against the FLOPs counted in ``precomputed/cpu.parquet``; the time model uses both.

Activations are assumed to move through a fused attention kernel (flash / memory-efficient SDPA), so no
T x T score matrix is written to memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .models import (BYTES_PER_PARAM, CONFIG_FILE, CONFIG_FIX, CTC, MODEL_TYPES, REGISTRY, WHISPER, ModelError,
                     checkpoint_of, read_config)

SAMPLE_RATE = 16_000
WHISPER_WINDOW_S = 30.0  # Whisper pads every window to 30 s: 3000 mel frames, 1500 encoder positions
WHISPER_SOURCE_POSITIONS = 1500
WHISPER_MEL_BINS = 80
WHISPER_CONV_KERNEL = 3  # both encoder convolutions; the second has stride 2
# Prompt tokens fed before the first generated one: <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
# for multilingual checkpoints, <|startoftranscript|><|notimestamps|> for the English-only ones.
PROMPT_TOKENS = {True: 4, False: 2}
ENGLISH_ONLY_VOCAB = 51864  # the .en checkpoints' vocabulary; multilingual ones have 51865 or more
# wav2vec2's feature encoder and positional convolution when a config does not say (transformers' defaults,
# which wav2vec2-base-960h uses).
W2V2_CONV_DIM = (512,) * 7
W2V2_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
W2V2_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)
W2V2_POS_CONV_KERNEL = 128
W2V2_POS_CONV_GROUPS = 16
# Elements of a T x d activation read or written per transformer layer by the linear kernels: LayerNorms,
# q/k/v/o projections, residual adds (18 d) and the FFN's wide tensors (4 F); the attention kernel reads q, k, v
# and writes its output (4 d).
ACT_D_PER_LAYER, ACT_F_PER_LAYER, ACT_ATTENTION_PER_LAYER = 18, 4, 4
CONV_PASSES = 4  # a feature-encoder conv output is written, read and written by GELU, read by the next conv
GROUP_NORM_PASSES = 2  # wav2vec2-base normalises its first conv output (one more read and write)
ACTIVATION_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 4, "int8_fp16": 2, "q8_0": 4, "q5_1": 4}
LOGITS_BYTES = 4  # logits are written in fp32 whatever the weights
# Checkpoints others published figures for that the registry does not run: their config.json's shape
# (large-v3 is large-v2 with 128 mel bins and one more token; large-v3-turbo keeps 4 of its 32 decoder layers).
PUBLISHED_ARCHS = {
    "openai/whisper-large-v2": dict(model_type="whisper", d_model=1280, encoder_layers=32, decoder_layers=32,
                                    encoder_ffn_dim=5120, decoder_ffn_dim=5120, vocab_size=51865, num_mel_bins=80),
    "openai/whisper-large-v3": dict(model_type="whisper", d_model=1280, encoder_layers=32, decoder_layers=32,
                                    encoder_ffn_dim=5120, decoder_ffn_dim=5120, vocab_size=51866, num_mel_bins=128),
}


@dataclass(frozen=True)
class Arch:
    """The shape facts a cost projection needs (a registry entry's or a config.json's)."""
    name: str
    family: str
    d_model: int
    enc_layers: int
    dec_layers: int
    enc_ffn: int
    dec_ffn: int
    vocab: int
    mel_bins: int = WHISPER_MEL_BINS
    source_positions: int = WHISPER_SOURCE_POSITIONS
    conv_dim: tuple[int, ...] = W2V2_CONV_DIM
    conv_kernel: tuple[int, ...] = W2V2_CONV_KERNEL
    conv_stride: tuple[int, ...] = W2V2_CONV_STRIDE
    pos_conv_kernel: int = W2V2_POS_CONV_KERNEL
    pos_conv_groups: int = W2V2_POS_CONV_GROUPS
    group_norm: bool = True  # wav2vec2-base: GroupNorm on the first conv ("group"); large: LayerNorm on each

    @property
    def multilingual(self) -> bool:
        return self.vocab != ENGLISH_ONLY_VOCAB

    @property
    def prompt_tokens(self) -> int:
        return PROMPT_TOKENS[self.multilingual]


@dataclass(frozen=True)
class Work:
    """One piece of work as two kinds of kernel run one after the other: the linear ones (matrix products with
    weights, convolutions: their FLOPs, the weights and the activations they read and write) and attention
    (its FLOPs and the keys, values, queries and outputs it moves)."""
    linear_flops: float = 0.0
    attention_flops: float = 0.0
    weight_bytes: float = 0.0
    activation_bytes: float = 0.0
    attention_bytes: float = 0.0

    @property
    def flops(self) -> float:
        return self.linear_flops + self.attention_flops

    @property
    def linear_bytes(self) -> float:
        return self.weight_bytes + self.activation_bytes

    @property
    def bytes(self) -> float:
        return self.linear_bytes + self.attention_bytes


# --- architectures ------------------------------------------------------------------------------------

def arch_of(model: str) -> Arch:
    """The architecture of a registry id, a published-only checkpoint (PUBLISHED_ARCHS), a local folder's (or
    file's) config.json, or an absent folder a sweep row names ('../shared/models/whisper-tiny.en' is the
    registry's tiny.en); ModelError (one sentence) for anything else or a config that is not Whisper or wav2vec2."""
    if model in REGISTRY:
        spec = REGISTRY[model]
        return arch_from_config(model, {**spec.arch, "model_type": "whisper" if spec.family == WHISPER
                                        else "wav2vec2"})
    if model in PUBLISHED_ARCHS:
        return arch_from_config(model, PUBLISHED_ARCHS[model])
    path = Path(model)
    cfg = path / CONFIG_FILE if path.is_dir() else path
    if cfg.name == CONFIG_FILE and cfg.is_file():
        return arch_from_config(str(path), read_config(cfg))
    if not path.exists() and (named := checkpoint_of(model)) != model and named in REGISTRY:
        return arch_of(named)
    known = ", ".join(REGISTRY)
    raise ModelError(f"No architecture is known for '{model}' offline: use a registry model ({known}), or a "
                     f"folder (or path) with a Whisper or wav2vec2 {CONFIG_FILE}.")


def arch_from_config(name: str, cfg: dict[str, Any]) -> Arch:
    """An Arch from a config.json's keys (transformers' names)."""
    family = MODEL_TYPES.get(cfg.get("model_type"))
    if family is None:
        raise ModelError(f"{name}: its {CONFIG_FILE} has model_type {cfg.get('model_type')!r}, which the cost "
                         f"model cannot project: {CONFIG_FIX}.")
    try:
        if family == WHISPER:
            d = int(cfg["d_model"])
            return Arch(name, family, d, int(cfg["encoder_layers"]), int(cfg["decoder_layers"]),
                        int(cfg.get("encoder_ffn_dim", 4 * d)), int(cfg.get("decoder_ffn_dim", 4 * d)),
                        int(cfg["vocab_size"]), int(cfg.get("num_mel_bins", WHISPER_MEL_BINS)),
                        int(cfg.get("max_source_positions", WHISPER_SOURCE_POSITIONS)))
        d = int(cfg["hidden_size"])
        return Arch(name, family, d, int(cfg["num_hidden_layers"]), 0, int(cfg.get("intermediate_size", 4 * d)), 0,
                    int(cfg["vocab_size"]), conv_dim=tuple(cfg.get("conv_dim", W2V2_CONV_DIM)),
                    conv_kernel=tuple(cfg.get("conv_kernel", W2V2_CONV_KERNEL)),
                    conv_stride=tuple(cfg.get("conv_stride", W2V2_CONV_STRIDE)),
                    pos_conv_kernel=int(cfg.get("num_conv_pos_embeddings", W2V2_POS_CONV_KERNEL)),
                    pos_conv_groups=int(cfg.get("num_conv_pos_embedding_groups", W2V2_POS_CONV_GROUPS)),
                    group_norm=cfg.get("feat_extract_norm", "group") == "group")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{name}: its {CONFIG_FILE} lacks a usable {exc} for the cost model: {CONFIG_FIX}.") \
            from None


def _layer_params(d: int, ffn: int) -> int:
    """Weights of one transformer layer's attention projections (q, k, v, o) and FFN (biases ignored)."""
    return 4 * d * d + 2 * d * ffn


def _layer_activations(tokens: float, d: int, ffn: int) -> float:
    return tokens * (ACT_D_PER_LAYER * d + ACT_F_PER_LAYER * ffn)


def _attention_bytes(layers: int, tokens: float, d: int, precision: str) -> float:
    """Self-attention over its own tokens (fused: no T x T scores in memory): q, k, v read, output written."""
    return layers * ACT_ATTENTION_PER_LAYER * tokens * d * ACTIVATION_BYTES[precision]


# --- Whisper --------------------------------------------------------------------------------------------

def whisper_windows(clip_s: float) -> int:
    """30-second windows a clip of this length is cut into (at least one)."""
    return max(1, math.ceil(clip_s / WHISPER_WINDOW_S - 1e-9))


def whisper_encoder(a: Arch, precision: str) -> Work:
    """One 30-second window through the encoder (two convolutions, then the layers)."""
    t, d = a.source_positions, a.d_model
    conv_params = a.mel_bins * d * WHISPER_CONV_KERNEL + d * d * WHISPER_CONV_KERNEL
    conv = 2 * (2 * t * a.mel_bins * d * WHISPER_CONV_KERNEL + t * d * d * WHISPER_CONV_KERNEL)
    layers = a.enc_layers * 2 * t * _layer_params(d, a.enc_ffn)
    attention = a.enc_layers * 2 * 2 * t * t * d
    weights = (conv_params + a.enc_layers * _layer_params(d, a.enc_ffn) + t * d) * BYTES_PER_PARAM[precision]
    acts = (2 * t * a.mel_bins + a.enc_layers * _layer_activations(t, d, a.enc_ffn)) * ACTIVATION_BYTES[precision]
    return Work(conv + layers, attention, weights, acts, _attention_bytes(a.enc_layers, t, d, precision))


def whisper_decoder_fixed(a: Arch, precision: str) -> Work:
    """Per window, once: the cross-attention keys and values of the encoder output (every decoder layer)."""
    t, d = a.source_positions, a.d_model
    kv = a.dec_layers * 2 * t * 2 * d * d
    weights = a.dec_layers * 2 * d * d * BYTES_PER_PARAM[precision]
    acts = a.dec_layers * 3 * t * d * ACTIVATION_BYTES[precision]  # read the encoder output, write K and V
    return Work(kv, 0.0, weights, acts)


def whisper_step_linear_flops(a: Arch) -> float:
    """One decoder step, one row: self-attention q/k/v/o, cross-attention q/o, FFN, and the logits."""
    d = a.d_model
    return 2 * (a.dec_layers * (6 * d * d + 2 * d * a.dec_ffn) + d * a.vocab)


def whisper_step_weight_bytes(a: Arch, precision: str) -> float:
    """Weights a decoder step reads whatever the batch: every layer's (but the cross K/V projections, used once
    per window) and the output embedding for the logits."""
    d = a.d_model
    return (a.dec_layers * (6 * d * d + 2 * d * a.dec_ffn) + d * a.vocab) * BYTES_PER_PARAM[precision]


def whisper_step(a: Arch, precision: str, rows: int, position: float) -> Work:
    """One decoder step for a batch of rows at this position (tokens already in the self-attention cache):
    FLOPs per row, decoder weights once, and each row's self- and cross-attention keys and values."""
    d, t = a.d_model, a.source_positions
    each = np.ones_like(np.asarray(position, dtype=float))  # position may be an array of steps: one value each
    attention = rows * a.dec_layers * 2 * 2 * (position + t) * d
    kv = rows * a.dec_layers * 2 * (position + t) * d * ACTIVATION_BYTES[precision]
    # a step's per-row activations are vectors that stay in cache; what reaches memory per row is the residual
    # stream between layers and the logits
    small = rows * (a.dec_layers * 2 * d * ACTIVATION_BYTES[precision] + a.vocab * LOGITS_BYTES)
    return Work(rows * whisper_step_linear_flops(a) * each, attention, whisper_step_weight_bytes(a, precision) * each,
                small * each, kv)


# --- wav2vec2 (CTC) -----------------------------------------------------------------------------------------

def conv_lengths(a: Arch, samples: int) -> list[int]:
    """Output length of each feature-encoder convolution for this many input samples (no padding)."""
    lengths, n = [], samples
    for k, s in zip(a.conv_kernel, a.conv_stride):
        n = max(0, (n - k) // s + 1)
        lengths.append(n)
    return lengths


def ctc_samples(a: Arch, frames: float) -> int:
    """The fewest samples that give this many frames: the feature encoder's receptive field, then one hop per
    frame (400 and 320 samples for wav2vec2-base)."""
    hop = math.prod(a.conv_stride)
    field = 1 + sum((k - 1) * math.prod(a.conv_stride[:i]) for i, k in enumerate(a.conv_kernel))
    return int(round((frames - 1) * hop + field))


def ctc_frames(a: Arch, samples: int) -> int:
    """Encoder frames (CTC outputs) for this many samples: 49 to 50 a second for wav2vec2-base."""
    return conv_lengths(a, samples)[-1]


def ctc_encoder(a: Arch, precision: str, samples: int) -> Work:
    """One clip of this many samples through the feature encoder, projection, positional conv and layers."""
    d, lengths = a.d_model, conv_lengths(a, samples)
    frames, channels = lengths[-1], (1, *a.conv_dim)
    conv = sum(2 * n * c_out * c_in * k for n, c_in, c_out, k in zip(lengths, channels, a.conv_dim, a.conv_kernel))
    conv_params = sum(c_out * c_in * k for c_in, c_out, k in zip(channels, a.conv_dim, a.conv_kernel))
    pos_params = d * (d // a.pos_conv_groups) * a.pos_conv_kernel
    # the positional conv pads by kernel/2 each side: one output more than frames (the last is dropped)
    pos = 2 * (frames + 1) * pos_params
    projection = 2 * frames * a.conv_dim[-1] * d
    layers = a.enc_layers * 2 * frames * _layer_params(d, a.enc_ffn)
    attention = a.enc_layers * 2 * 2 * frames * frames * d
    params = conv_params + pos_params + a.conv_dim[-1] * d + a.enc_layers * _layer_params(d, a.enc_ffn)
    conv_acts = sum(c * n for c, n in zip(a.conv_dim, lengths)) * CONV_PASSES
    norm_acts = a.conv_dim[0] * lengths[0] * GROUP_NORM_PASSES if a.group_norm else 0
    acts = (samples + conv_acts + norm_acts + a.enc_layers * _layer_activations(frames, d, a.enc_ffn))
    return Work(conv + pos + projection + layers, attention, params * BYTES_PER_PARAM[precision],
                acts * ACTIVATION_BYTES[precision], _attention_bytes(a.enc_layers, frames, d, precision))


def ctc_head(a: Arch, precision: str, frames: int) -> Work:
    """The CTC head (a linear layer to the vocabulary) over a clip's frames."""
    return Work(2 * frames * a.d_model * a.vocab, 0.0, a.d_model * a.vocab * BYTES_PER_PARAM[precision],
                frames * (a.d_model * ACTIVATION_BYTES[precision] + a.vocab * LOGITS_BYTES))
