"""OpenAI's layout of a Whisper checkpoint: its tensor names and dimensions, from a transformers model.

openai-whisper loads these names directly and whisper.cpp's model format uses them too, so both runtimes
start from the same transformers checkpoint (real or synthetic) without downloading anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# transformers' names inside a layer -> OpenAI's (``encoder_attn.k_proj`` is handled apart: see openai_name)
_IN_LAYER = {
    "self_attn.q_proj": "attn.query", "self_attn.k_proj": "attn.key", "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out", "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query", "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value", "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln", "fc1": "mlp.0", "fc2": "mlp.2", "final_layer_norm": "mlp_ln",
}
# whole names outside the layers
_OUTSIDE = {
    "encoder.layer_norm.weight": "encoder.ln_post.weight", "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "decoder.layer_norm.weight": "decoder.ln.weight", "decoder.layer_norm.bias": "decoder.ln.bias",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
}


@dataclass(frozen=True)
class Dims:
    """openai-whisper's ModelDimensions (whisper.cpp's file header holds the same numbers in its own order)."""
    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def dims_of(config: Any) -> Dims:
    """The dimensions of a transformers WhisperConfig."""
    return Dims(n_mels=config.num_mel_bins, n_audio_ctx=config.max_source_positions, n_audio_state=config.d_model,
                n_audio_head=config.encoder_attention_heads, n_audio_layer=config.encoder_layers,
                n_vocab=config.vocab_size, n_text_ctx=config.max_target_positions, n_text_state=config.d_model,
                n_text_head=config.decoder_attention_heads, n_text_layer=config.decoder_layers)


def openai_name(name: str) -> str:
    """OpenAI's name for one transformers WhisperModel tensor ('encoder.layers.0.fc1.weight' ->
    'encoder.blocks.0.mlp.0.weight')."""
    if name in _OUTSIDE:
        return _OUTSIDE[name]
    parts = name.split(".")
    if len(parts) > 3 and parts[1] == "layers":
        inner = ".".join(parts[3:-1])
        if inner not in _IN_LAYER:
            raise KeyError(f"no OpenAI name for {name}")
        return ".".join([parts[0], "blocks", parts[2], _IN_LAYER[inner], parts[-1]])
    return name  # conv1 / conv2 keep their names


def openai_weights(model: Any) -> dict[str, torch.Tensor]:
    """Every tensor of a transformers WhisperForConditionalGeneration under OpenAI's names (the output
    projection is tied to the token embedding, so it is not repeated)."""
    return {openai_name(name): t for name, t in model.model.state_dict().items()}
