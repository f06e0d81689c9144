"""The eager ``transformers`` runtime: the baseline every other runtime is compared with.

Whisper generates with ``model.generate`` given the encoder output; wav2vec2 runs its CTC head, argmax
and detokenisation. ``reference_transcribe`` is the reference path a user would write without us (one
``generate`` / forward call): tests hold the measured stages to it, token for token.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from ..audio import SAMPLE_RATE
from ..checkpoints import Checkpoint, load_torch_model
from ..models import CTC
from .base import LoadedModel, steps_with_end

WHISPER_LANGUAGES, WHISPER_V2_VOCAB = 99, 51865  # large-v3's vocabulary adds one language token


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    checkpoint = load_torch_model(model_id, family, device, precision, weights)
    return (EagerCTC if family == CTC else EagerWhisper).of(checkpoint)


@dataclass(frozen=True, eq=False, kw_only=True)
class EagerWhisper(LoadedModel):
    """Whisper through transformers: its feature extractor, encoder and ``generate``."""

    @cached_property
    def prompt(self) -> list[int]:
        """<|startoftranscript|><|en|><|transcribe|><|notimestamps|> for multilingual models."""
        cfg = self.model.config
        start, langs = cfg.decoder_start_token_id, whisper_languages(cfg)
        return [start, start + 1, start + langs + 2, start + langs + 6] if self.multilingual else [start, start + 105]

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = self.feature_extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return {"input_features": feats.input_features.to(self.device, self.dtype, non_blocking=True)}

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.model.model.encoder(inputs["input_features"])

    def decoder_limit(self) -> int:
        return self.model.config.max_target_positions - len(self.prompt)

    def forced_tokens(self, new_tokens: int | None) -> int:
        """Synthetic weights: the new tokens to force, within the decoder's positions."""
        return max(1, min(new_tokens or 1, self.decoder_limit()))

    def generate_kwargs(self, batch: int) -> dict[str, Any]:
        """Extra generate arguments (a runtime's static cache and compile settings); none for eager."""
        return {}

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        batch = inputs["input_features"].shape[0]
        if self.weights == "synthetic":
            return [""] * batch, self.forced_decode(enc, inputs, self.forced_tokens(new_tokens))
        kwargs = {"language": "en", "task": "transcribe"} if self.multilingual else {}
        out = self.model.generate(encoder_outputs=enc, **kwargs, **self.generate_kwargs(batch))
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts], decoder_steps(out, self.model.generation_config.eos_token_id,
                                                        self.decoder_limit())

    def forced_decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int) -> int:
        """Greedy decoding of exactly new_tokens per row: generate with end-of-text out of reach."""
        from transformers import GenerationMixin
        batch = inputs["input_features"].shape[0]
        prompt = torch.tensor([self.prompt] * batch, device=self.device)
        out = GenerationMixin.generate(self.model, encoder_outputs=enc, decoder_input_ids=prompt, do_sample=False,
                                       num_beams=1, min_new_tokens=new_tokens, max_new_tokens=new_tokens,
                                       **self.generate_kwargs(batch))
        return out.shape[1] - prompt.shape[1]


def whisper_languages(config: Any) -> int:
    """Language tokens in a multilingual Whisper vocabulary (99; large-v3 added one)."""
    return WHISPER_LANGUAGES + max(0, config.vocab_size - WHISPER_V2_VOCAB)


def decoder_steps(out: torch.Tensor, eos: int, limit: int) -> int:
    """Decoder steps of the longest row of generate's output: its text tokens (ids below end-of-text; the prompt,
    end-of-text and padding sit at or above it) plus the end-of-text step, unless the row was cut off at limit.
    transformers 4.x returns the prompt and end-of-text, 5.x neither: counting text tokens serves both."""
    return steps_with_end(int((out < eos).sum(dim=1).max()) if out.numel() else 0, limit)


@dataclass(frozen=True, eq=False, kw_only=True)
class EagerCTC(LoadedModel):
    """wav2vec2 through transformers: its feature extractor, the wav2vec2 body, and the CTC head's argmax."""

    def windows(self, clip: np.ndarray) -> list[np.ndarray]:
        return [clip]  # a CTC model hears a clip whole

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        fe = self.feature_extractor
        feats = fe(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True,
                   return_attention_mask=fe.return_attention_mask)
        inputs = {"input_values": feats.input_values.to(self.device, self.dtype, non_blocking=True),
                  "lengths": torch.tensor([a.shape[0] for a in audio])}
        if "attention_mask" in feats:
            inputs["attention_mask"] = feats.attention_mask.to(self.device, non_blocking=True)
        return inputs

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.model.wav2vec2(inputs["input_values"], attention_mask=inputs.get("attention_mask")).last_hidden_state

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        ids = self.model.lm_head(enc).argmax(dim=-1).cpu()
        frames = self.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        texts = [self.tokenizer.decode(ids[i, : int(n)]) for i, n in enumerate(frames)]
        return [t.strip() for t in texts], ids.shape[1]


def eager_twin(model: Checkpoint) -> LoadedModel:
    """The eager model of the same checkpoint and weights: the same math, countable by PyTorch's FLOP counter."""
    return (EagerCTC if model.family == CTC else EagerWhisper).of(model)


# --- plain reference paths (used by tests to prove the instrumented path changes nothing) ----


@torch.inference_mode()
def reference_transcribe(model: Checkpoint, audio: Sequence[np.ndarray]) -> list[str]:
    """Transcribe the way a user would without us: one model.generate / forward call."""
    eager = eager_twin(model)
    if model.family == CTC:
        inputs = eager.preprocess(audio)
        logits = model.model(inputs["input_values"], attention_mask=inputs.get("attention_mask")).logits
        frames = model.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        ids = logits.argmax(-1).cpu()
        return [model.tokenizer.decode(ids[i, : int(n)]).strip() for i, n in enumerate(frames)]
    feats = eager.preprocess(audio)["input_features"]
    kwargs = {"language": "en", "task": "transcribe"} if model.multilingual else {}
    out = model.model.generate(feats, **kwargs)
    return [t.strip() for t in model.tokenizer.batch_decode(out, skip_special_tokens=True)]
