"""The Explore page's logic: filters, series labels, WER rows, trade-off points, captions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asr_app import explore
from asr_core import sweep_table
from fakes import FAKE_CLIP_SOURCE, fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def test_precomputed_dir_honours_the_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv(explore.PRECOMPUTED_ENV, raising=False)
    assert explore.precomputed_dir(tmp_path) == tmp_path / "precomputed"
    monkeypatch.setenv(explore.PRECOMPUTED_ENV, "/elsewhere")
    assert str(explore.precomputed_dir(tmp_path)) == "/elsewhere"


def test_filter_options_are_in_natural_order(sweep):
    opts = explore.filter_options(sweep)
    assert opts["bucket"] == ["5s", "15s", "30s", "60s"]
    assert opts["batch_size"] == [1, 8, 32]
    assert set(explore.FILTERS) == set(opts)


def test_filters_keep_only_selected_rows(sweep):
    rows = explore.apply_filters(sweep, {"model": ["openai/whisper-tiny"], "device": ["cpu"]})
    assert set(rows["model"]) == {"openai/whisper-tiny"} and set(rows["device"]) == {"cpu"}
    assert len(rows) == 4 * 2 * 2 * 2  # buckets x batch sizes x repeats x weights
    assert explore.apply_filters(sweep, {"model": []}).empty


def test_series_name_only_what_varies(sweep):
    ok, _ = sweep_table.split_status(explore.apply_filters(sweep, {"device": ["cpu"], "batch_size": [1]}))
    agg = explore.aggregate(ok)
    assert set(agg["series"]) == {"wav2vec2-base-960h · pretrained", "whisper-base · pretrained",
                                  "whisper-tiny · pretrained", "whisper-tiny · synthetic"}
    one = explore.aggregate(explore.subset(ok, weights="pretrained", model="openai/whisper-base"))
    assert set(one["series"]) == {"whisper-base"}


def test_wer_rows_and_the_count_without(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = explore.aggregate(ok, keys=sweep_table.WER_KEYS)
    has, missing = explore.with_wer(agg)
    assert missing == 2 * 4  # synthetic whisper-tiny: two precisions x four buckets
    assert has["wer"].notna().all()


def test_tradeoff_marks_the_pareto_front():
    agg = pd.DataFrame({"wer": [0.10, 0.05, 0.20, 0.07, np.nan], "rtf": [0.1, 0.5, 0.05, 0.6, 0.01]})
    points = explore.tradeoff(agg, "rtf")
    assert len(points) == 4  # the NaN WER row cannot be placed
    assert points["pareto"].tolist() == [True, True, True, False]
    assert explore.pareto_line(points, "rtf")["rtf"].tolist() == [0.05, 0.1, 0.5]


def test_caption_names_hardware_repeats_and_energy_sources(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = explore.aggregate(ok)
    text = explore.caption(agg)
    assert "Intel(R) Xeon(R) Platinum 8480+" in text and "NVIDIA H100" in text
    assert "Medians over 2 run(s)" in text
    assert "estimate" in text and "not a measurement" in text
    cpu_only = explore.caption(explore.subset(agg, device="cpu"), energy=False)
    assert "GPU" not in cpu_only and "Energy" not in cpu_only
    assert explore.clip_sources(sweep) == [FAKE_CLIP_SOURCE]
