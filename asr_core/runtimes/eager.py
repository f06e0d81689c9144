"""The eager ``transformers`` runtime: the baseline every other runtime is compared with.

Whisper generates with ``model.generate`` given the encoder output; wav2vec2 runs its CTC head, argmax
and detokenisation. ``reference_transcribe`` is the reference path a user would write without us (one
``generate`` / forward call): tests hold the measured stages to it, token for token.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..audio import SAMPLE_RATE
from ..checkpoints import load_torch_model
from ..models import CTC, LoadedModel
from .base import Stages, steps_with_end

WHISPER_LANGUAGES, WHISPER_V2_VOCAB = 99, 51865  # large-v3's vocabulary adds one language token


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    return load_torch_model(model_id, family, device, precision, weights)


def stages(lm: LoadedModel) -> Stages:
    return CTCStages(lm) if lm.family == CTC else WhisperStages(lm)


class WhisperStages(Stages):
    def __init__(self, lm: LoadedModel):
        super().__init__(lm)
        cfg = lm.model.config
        # <|startoftranscript|><|en|><|transcribe|><|notimestamps|> for multilingual models
        start, langs = cfg.decoder_start_token_id, whisper_languages(cfg)
        self.prompt = ([start, start + 1, start + langs + 2, start + langs + 6] if lm.multilingual
                       else [start, start + 105])

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = self.lm.feature_extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        x = feats.input_features.to(self.lm.device, self.lm.dtype, non_blocking=True)
        return {"input_features": x}

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.model.model.encoder(inputs["input_features"])

    def decoder_limit(self) -> int:
        return self.lm.model.config.max_target_positions - len(self.prompt)

    def forced_tokens(self, new_tokens: int | None) -> int:
        """Synthetic weights: the new tokens to force, within the decoder's positions."""
        return max(1, min(new_tokens or 1, self.decoder_limit()))

    def generate_kwargs(self, batch: int) -> dict[str, Any]:
        """Extra generate arguments (a runtime's static cache and compile settings); none for eager."""
        return {}

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        model, batch = self.lm.model, inputs["input_features"].shape[0]
        if self.lm.weights == "synthetic":
            return [""] * batch, self.forced_decode(enc, inputs, self.forced_tokens(new_tokens))
        extra = self.generate_kwargs(batch)
        kwargs = {"language": "en", "task": "transcribe"} if self.lm.multilingual else {}
        out = model.generate(encoder_outputs=enc, **kwargs, **extra)
        texts = self.lm.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts], decoder_steps(out, model.generation_config.eos_token_id,
                                                        self.decoder_limit())


    def forced_decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int) -> int:
        """Greedy decoding of exactly new_tokens per row: generate with end-of-text out of reach."""
        from transformers import GenerationMixin
        batch = inputs["input_features"].shape[0]
        prompt = torch.tensor([self.prompt] * batch, device=self.lm.device)
        out = GenerationMixin.generate(self.lm.model, encoder_outputs=enc, decoder_input_ids=prompt, do_sample=False,
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


class CTCStages(Stages):
    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        fe = self.lm.feature_extractor
        feats = fe(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True,
                   return_attention_mask=fe.return_attention_mask)
        inputs = {"input_values": feats.input_values.to(self.lm.device, self.lm.dtype, non_blocking=True),
                  "lengths": torch.tensor([a.shape[0] for a in audio])}
        if "attention_mask" in feats:
            inputs["attention_mask"] = feats.attention_mask.to(self.lm.device, non_blocking=True)
        return inputs

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.model.wav2vec2(inputs["input_values"],
                                      attention_mask=inputs.get("attention_mask")).last_hidden_state

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        ids = self.lm.model.lm_head(enc).argmax(dim=-1).cpu()
        frames = self.lm.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        texts = [self.lm.tokenizer.decode(ids[i, : int(n)]) for i, n in enumerate(frames)]
        return [t.strip() for t in texts], ids.shape[1]


# --- plain reference paths (used by tests to prove the instrumented path changes nothing) ----


@torch.inference_mode()
def reference_transcribe(lm: LoadedModel, audio: Sequence[np.ndarray]) -> list[str]:
    """Transcribe the way a user would without us: one model.generate / forward call."""
    if lm.family == CTC:
        st = CTCStages(lm)
        inputs = st.preprocess(audio)
        logits = lm.model(inputs["input_values"], attention_mask=inputs.get("attention_mask")).logits
        frames = lm.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        ids = logits.argmax(-1).cpu()
        return [lm.tokenizer.decode(ids[i, : int(n)]).strip() for i, n in enumerate(frames)]
    feats = WhisperStages(lm).preprocess(audio)["input_features"]
    kwargs = {"language": "en", "task": "transcribe"} if lm.multilingual else {}
    out = lm.model.generate(feats, **kwargs)
    return [t.strip() for t in lm.tokenizer.batch_decode(out, skip_special_tokens=True)]
