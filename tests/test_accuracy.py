"""Which WER a ranking uses (asr_core/accuracy.py): one source per ranking, the best covering first; the
uncertainty of a measured WER on its reference words."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from asr_core.accuracy import accuracy_sources, wer_interval
from test_recommend import shipped


def test_accuracy_sources_offer_one_source_each_the_best_covering_first():
    data, table = shipped()
    labels = list(accuracy_sources(table, data["model"].unique()))
    # the Whisper paper has LibriSpeech test-clean figures for 5 of the sweep's 7 checkpoints, the leaderboard for 3
    assert labels[:3] == ["published LibriSpeech test-clean (Radford et al. 2022)", "measured here",
                          "published LibriSpeech test-clean (Hugging Face Open ASR Leaderboard)"]
    assert "published TED-LIUM 3 test (Radford et al. 2022)" in labels
    assert not [label for label in labels if "where it exists" in label]  # no mixed source any more


def test_wilson_interval_on_word_errors():
    low, high = wer_interval(pd.Series([0.1, 0.1, 0.02]), pd.Series([100.0, math.nan, 50.0]))
    assert low.tolist() == pytest.approx([0.05523, 0.1, 0.003539], abs=1e-5)  # 10 of 100 words; words unknown; 1 of 50
    assert high.tolist() == pytest.approx([0.17437, 0.1, 0.104957], abs=1e-5)
