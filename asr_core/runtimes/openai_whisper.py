"""The ``openai-whisper`` runtime: OpenAI's reference implementation, loaded from the same checkpoint.

The transformers checkpoint (real or synthetic) is read as usual and its tensors are renamed to OpenAI's
layout (``layout.openai_weights``) and loaded into ``whisper.model.Whisper``: nothing is downloaded. The
stages are OpenAI's own code: ``log_mel_spectrogram`` per 30 s window, ``model.embed_audio`` (the encoder),
and ``whisper.decode`` given the encoder's output (its greedy loop with key/value cache, no timestamps,
temperature 0, no fallback), which is what ``whisper.transcribe`` runs per window. Precisions fp32 and fp16
(OpenAI's fp16 option; GPU only, as for the other PyTorch runtimes).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from ..checkpoints import load_torch_model
from ..models import OPENAI_WHISPER
from ..system import package_version
from .base import LoadedModel, on_meta, steps_with_end
from .layout import dims_of, openai_weights

NOTE = "OpenAI's whisper.decode per 30 s window (greedy, no timestamps, no temperature fallback)"


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """The checkpoint through transformers, then its weights in OpenAI's Whisper; `model` stays on meta."""
    import whisper.model
    checkpoint = load_torch_model(model_id, family, "cpu", "fp32", weights)
    engine = whisper.model.Whisper(whisper.model.ModelDimensions(**vars(dims_of(checkpoint.model.config))))
    engine.load_state_dict(openai_weights(checkpoint.model), strict=True)
    engine = engine.to(device=device, dtype=torch.float16 if precision == "fp16" else torch.float32).eval()
    return OpenAIWhisper.of(checkpoint, model=on_meta(checkpoint.model), device=device, precision=precision,
                            engine=engine)


@dataclass(frozen=True, eq=False, kw_only=True)
class OpenAIWhisper(LoadedModel):
    """OpenAI's log-mel, encoder and decoding loop; FLOPs counted on the same PyTorch modules."""
    runtime = OPENAI_WHISPER
    engine: Any  # whisper.model.Whisper

    @cached_property
    def note(self) -> str:
        return f"{package_version('openai-whisper')}; {NOTE}"

    @cached_property
    def openai_tokenizer(self) -> Any:
        from whisper.tokenizer import get_tokenizer
        return get_tokenizer(self.engine.is_multilingual, num_languages=self.engine.num_languages, language="en",
                             task="transcribe")

    @property
    def sample_len(self) -> int:
        return self.engine.dims.n_text_ctx // 2  # whisper.decode's own limit of new tokens

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        from whisper.audio import log_mel_spectrogram, pad_or_trim
        # one window at a time: log_mel_spectrogram clamps to 8 below the maximum of all it is given
        mels = [log_mel_spectrogram(pad_or_trim(torch.from_numpy(np.asarray(a, dtype=np.float32))),
                                    self.engine.dims.n_mels, device=self.device) for a in audio]
        return {"mel": torch.stack(mels).to(self.device, next(self.engine.parameters()).dtype)}

    def encode(self, inputs: dict[str, Any]) -> Any:
        return self.engine.embed_audio(inputs["mel"])

    def decoder_limit(self) -> int:
        return self.sample_len

    def _decode(self, enc: Any, sample_len: int, forced: bool) -> list[Any]:
        from whisper.decoding import DecodingOptions, decode
        # end-of-text (with OpenAI's default non-speech list, -1) suppressed makes the loop run sample_len steps
        suppress: Any = [-1, self.openai_tokenizer.eot] if forced else "-1"
        options = DecodingOptions(task="transcribe", language="en", temperature=0.0, sample_len=sample_len,
                                  without_timestamps=True, suppress_tokens=suppress, fp16=self.precision == "fp16")
        return decode(self.engine, enc, options)  # enc has the encoder's shape, so decode skips the encoder

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        rows = enc.shape[0]
        if self.weights == "synthetic":
            return [""] * rows, self.forced_decode(enc, inputs, max(1, min(new_tokens or 1, self.sample_len)))
        results = self._decode(enc, self.sample_len, forced=False)
        return [r.text.strip() for r in results], steps_with_end(max(len(r.tokens) for r in results), self.sample_len)

    def forced_decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int) -> int:
        results = self._decode(enc, new_tokens, forced=True)
        return max(len(r.tokens) for r in results)
