"""The ``openai-whisper`` runtime: OpenAI's reference implementation, loaded from the same checkpoint.

The transformers checkpoint (real or synthetic) is read as usual and its tensors are renamed to OpenAI's
layout (``layout.openai_weights``) and loaded into ``whisper.model.Whisper``: nothing is downloaded. The
stages are OpenAI's own code: ``log_mel_spectrogram`` per 30 s window, ``model.embed_audio`` (the encoder),
and ``whisper.decode`` given the encoder's output (its greedy loop with key/value cache, no timestamps,
temperature 0, no fallback), which is what ``whisper.transcribe`` runs per window. Precisions fp32 and fp16
(OpenAI's fp16 option; GPU only, as for the other PyTorch runtimes).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..checkpoints import load_torch_model
from ..system import package_version
from ..models import OPENAI_WHISPER, LoadedModel
from .base import Stages, steps_with_end
from .layout import dims_of, openai_weights


def load(model_id: str, family: str, device: str, precision: str, weights: str) -> LoadedModel:
    """The checkpoint through transformers, then its weights in OpenAI's Whisper; lm.model stays on meta."""
    import whisper.model
    lm = load_torch_model(model_id, family, "cpu", "fp32", weights)
    engine = whisper.model.Whisper(whisper.model.ModelDimensions(**vars(dims_of(lm.model.config))))
    engine.load_state_dict(openai_weights(lm.model), strict=True)
    engine = engine.to(device=device, dtype=torch.float16 if precision == "fp16" else torch.float32).eval()
    lm.model = lm.model.to("meta")
    lm.model.tie_weights()
    lm.engine, lm.device, lm.precision, lm.runtime = engine, device, precision, OPENAI_WHISPER
    return lm


def stages(lm: LoadedModel) -> Stages:
    return OpenAIWhisperStages(lm)


class OpenAIWhisperStages(Stages):
    """OpenAI's log-mel, encoder and decoding loop; FLOPs counted on the same PyTorch modules."""
    note = "OpenAI's whisper.decode per 30 s window (greedy, no timestamps, no temperature fallback)"

    def __init__(self, lm: LoadedModel):
        super().__init__(lm)
        from whisper.tokenizer import get_tokenizer
        engine = lm.engine
        self.tokenizer = get_tokenizer(engine.is_multilingual, num_languages=engine.num_languages, language="en",
                                       task="transcribe")
        self.sample_len = engine.dims.n_text_ctx // 2  # whisper.decode's own limit of new tokens
        self.note = f"{package_version('openai-whisper')}; {self.note}"

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, Any]:
        from whisper.audio import log_mel_spectrogram, pad_or_trim
        engine = self.lm.engine
        # one window at a time: log_mel_spectrogram clamps to 8 below the maximum of all it is given
        mels = [log_mel_spectrogram(pad_or_trim(torch.from_numpy(np.asarray(a, dtype=np.float32))),
                                    engine.dims.n_mels, device=self.lm.device) for a in audio]
        return {"mel": torch.stack(mels).to(self.lm.device, next(engine.parameters()).dtype)}

    def encode(self, inputs: dict[str, Any]) -> Any:
        return self.lm.engine.embed_audio(inputs["mel"])

    def decoder_limit(self) -> int:
        return self.sample_len

    def _decode(self, enc: Any, sample_len: int, forced: bool) -> list[Any]:
        from whisper.decoding import DecodingOptions, decode
        # end-of-text (with OpenAI's default non-speech list, -1) suppressed makes the loop run sample_len steps
        suppress: Any = [-1, self.tokenizer.eot] if forced else "-1"
        options = DecodingOptions(task="transcribe", language="en", temperature=0.0, sample_len=sample_len,
                                  without_timestamps=True, suppress_tokens=suppress, fp16=self.lm.precision == "fp16")
        return decode(self.lm.engine, enc, options)  # enc has the encoder's shape, so decode skips the encoder

    def decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int | None) -> tuple[list[str], int]:
        rows = enc.shape[0]
        if self.lm.weights == "synthetic":
            return [""] * rows, self.forced_decode(enc, inputs, max(1, min(new_tokens or 1, self.sample_len)))
        results = self._decode(enc, self.sample_len, forced=False)
        return [r.text.strip() for r in results], steps_with_end(max(len(r.tokens) for r in results), self.sample_len)

    def forced_decode(self, enc: Any, inputs: dict[str, Any], new_tokens: int) -> int:
        results = self._decode(enc, new_tokens, forced=True)
        return max(len(r.tokens) for r in results)
