"""Loaded models as objects: frozen once loaded, and answering questions about themselves (the windows a clip
becomes, the token limit for some clips, what FLOPs are counted on)."""
from __future__ import annotations

import dataclasses

import pytest

from asr_core.audio import split_long
from asr_core.runtimes import WHISPER_WINDOW_S
from asr_core.runtimes.eager import EagerCTC, EagerWhisper
from helpers import tone


@pytest.fixture(scope="module")
def whisper(synthetic):
    return synthetic  # conftest's session-wide synthetic Whisper, loaded once for every test module


def test_a_loaded_model_is_frozen(whisper):
    assert isinstance(whisper, EagerWhisper) and whisper.runtime == "transformers"
    with pytest.raises(dataclasses.FrozenInstanceError):
        whisper.device = "cuda"


def test_the_token_limit_shares_a_long_clips_tokens_among_its_windows(whisper):
    limit = whisper.decoder_limit()
    assert limit == 448 - 4  # the decoder's positions less the multilingual prompt
    clip = tone(70.0)
    windows = whisper.windows(clip)
    assert [w.shape[0] for w in windows] == [w.shape[0] for w in split_long(clip, WHISPER_WINDOW_S)]
    assert len(windows) == 3 and whisper.windows(tone(5.0))[0].shape[0] == 5 * 16000
    assert whisper.token_limit([clip]) == limit * clip.shape[0] // max(w.shape[0] for w in windows)
    assert whisper.token_limit([clip, tone(5.0)]) == limit


def test_a_ctc_model_hears_a_clip_whole_and_has_no_token_limit(ctc):
    assert isinstance(ctc, EagerCTC) and len(ctc.windows(tone(70.0))) == 1
    assert ctc.decoder_limit() is None and ctc.token_limit([tone(70.0)]) is None
    assert ctc.flop_model is ctc and ctc.to_compile({1, 4}) == set()
