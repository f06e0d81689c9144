"""Explore's defaults for a projector: clean audio and the headline models first, a note where no GPU was measured,
and at most a few configurations per chart, each model's reference run first."""
from __future__ import annotations

import math

import pandas as pd

from asr_app import sweep_filters as sf
from asr_app.sweep_views import add_series
from asr_core.sweep_table import CELL_KEYS


def test_audio_labels_and_their_order():
    df = sf.with_audio(pd.DataFrame({"snr_db": [math.inf, 10.0, 0.0, 20.0, math.nan],
                                     "noise": ["", "white", "white", "babble", ""]}))
    assert df[sf.AUDIO].tolist() == ["clean", "white noise, SNR 10 dB", "white noise, SNR 0 dB",
                                     "babble noise, SNR 20 dB", "clean"]
    assert sf.audio_options(df) == ["clean", "babble noise, SNR 20 dB", "white noise, SNR 10 dB",
                                    "white noise, SNR 0 dB"]


def test_defaults_are_clean_audio_and_the_headline_models_with_those_measured_on_real_weights():
    options = {"model": ["../shared/models/whisper-tiny.en", "openai/whisper-base", "openai/whisper-base.en",
                         "my/fine-tune"], sf.AUDIO: ["clean", "white noise, SNR 10 dB"], "batch_size": [1, 8]}
    start = sf.defaults(options, pretrained=["../shared/models/whisper-tiny.en"])
    assert start == {"model": ["../shared/models/whisper-tiny.en", "openai/whisper-base"], sf.AUDIO: ["clean"],
                     "batch_size": [1, 8]}
    assert sf.defaults({"model": ["my/fine-tune"]})["model"] == ["my/fine-tune"]  # none of the six: all of them
    assert sf.defaults({sf.AUDIO: ["white noise, SNR 10 dB"]})[sf.AUDIO] == ["white noise, SNR 10 dB"]


def test_the_audio_filter_sits_after_weights():
    labels = list(sf.labels())
    assert labels[labels.index("weights") + 1] == sf.AUDIO


def test_a_device_choice_without_gpu_rows_says_so():
    assert sf.device_note(["cpu"]).startswith("No GPU measurements yet")
    assert sf.device_note(["cpu", "cuda:0"]) == ""


def _frame(configs: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = [dict(model=m, runtime=r, precision=p, weights="pretrained", device="cpu", batch_size=1, bucket="5s",
                 snr_db=math.inf, noise="") for m, r, p in configs]
    return add_series(pd.DataFrame(rows), CELL_KEYS)


def test_top_series_name_every_model_once_before_any_second_configuration():
    frame = _frame([("openai/whisper-tiny", "ctranslate2", "int8"), ("openai/whisper-tiny", "transformers", "fp32"),
                    ("openai/whisper-tiny", "whisper.cpp", "q5_1"), ("openai/whisper-small", "transformers", "fp32"),
                    ("openai/whisper-base", "ctranslate2", "fp32"), ("openai/whisper-base", "transformers", "fp32")])
    order = sf.series_order(frame)
    firsts = [frame.set_index("series").loc[s, ["model", "runtime"]].tolist() for s in order[:3]]
    assert firsts == [["openai/whisper-tiny", "transformers"], ["openai/whisper-base", "transformers"],
                      ["openai/whisper-small", "transformers"]]  # the reference run of each, smallest model first
    kept, note = sf.top_series(frame, show_all=False, n=4)
    assert kept["series"].nunique() == 4 and set(kept["series"]) == set(order[:4])
    assert note.startswith("Showing 4 of 6 configurations")
    everything, none = sf.top_series(frame, show_all=True, n=4)
    assert len(everything) == len(frame) and none == ""
