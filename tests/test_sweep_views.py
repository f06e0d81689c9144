"""Sweep tables shaped for Explore's views: filters, series labels, WER rows, trade-off points, captions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asr_app import charts, sweep_views
from asr_core import sweep_table
from fakes import FAKE_CLIP_SOURCE, fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def test_filter_options_are_in_natural_order(sweep):
    opts = sweep_views.filter_options(sweep)
    assert opts["bucket"] == ["5s", "15s", "30s", "60s"]
    assert opts["batch_size"] == [1, 8, 32]
    assert set(sweep_views.FILTERS) - {"host"} == set(opts)  # these rows do not name their machine
    with_hosts = sweep_views.filter_options(sweep.assign(host=["box-b", "box-a"] * (len(sweep) // 2) + ["box-a"] * (len(sweep) % 2)))
    assert with_hosts["host"] == ["box-a", "box-b"]


def test_filters_keep_only_selected_rows(sweep):
    rows = sweep_views.apply_filters(sweep, {"model": ["openai/whisper-tiny"], "device": ["cpu"]})
    assert set(rows["model"]) == {"openai/whisper-tiny"} and set(rows["device"]) == {"cpu"}
    assert len(rows) == 4 * 2 * 2 * 2  # buckets x batch sizes x repeats x weights
    assert sweep_views.apply_filters(sweep, {"model": []}).empty


def test_series_name_only_what_varies(sweep):
    ok, _ = sweep_table.split_status(sweep_views.apply_filters(sweep, {"device": ["cpu"], "batch_size": [1]}))
    agg = sweep_views.aggregate(ok)
    assert set(agg["series"]) == {"facebook/wav2vec2-base-960h · pretrained", "openai/whisper-base · pretrained",
                                  "openai/whisper-tiny · pretrained", "openai/whisper-tiny · synthetic"}
    one = sweep_views.aggregate(sweep_views.subset(ok, weights="pretrained", model="openai/whisper-base"))
    assert set(one["series"]) == {"openai/whisper-base"}


def test_a_local_model_folder_is_named_by_its_folder_never_its_path(sweep):
    local = sweep.replace({"model": {"openai/whisper-base": "../shared/models/whisper-base"}})
    ok, _ = sweep_table.split_status(local)
    agg = sweep_views.aggregate(sweep_views.subset(ok, device="cpu", batch_size=1, weights="pretrained"))
    assert "whisper-base (local)" in set(agg["series"])
    assert not any("shared" in s for s in agg["series"])
    board = sweep_views.leaderboard(agg)
    assert "whisper-base (local)" in set(board["model"]) and not board["model"].str.contains("/shared").any()


def test_wer_rows_and_the_count_without(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = sweep_views.aggregate(ok, keys=sweep_table.WER_KEYS)
    has, missing = sweep_views.with_wer(agg)
    assert missing == 2 * 4  # synthetic whisper-tiny: two precisions x four buckets
    assert has["wer"].notna().all()


def test_tradeoff_marks_the_pareto_front():
    agg = pd.DataFrame({"wer": [0.10, 0.05, 0.20, 0.07, np.nan], "rtf": [0.1, 0.5, 0.05, 0.6, 0.01]})
    points = sweep_views.tradeoff(agg, "rtf")
    assert len(points) == 4  # the NaN WER row cannot be placed
    assert points["pareto"].tolist() == [True, True, True, False]
    assert sweep_views.pareto_line(points, "rtf")["rtf"].tolist() == [0.05, 0.1, 0.5]


def test_caption_names_hardware_repeats_and_energy_sources(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = sweep_views.aggregate(ok)
    text = sweep_views.caption(agg)
    assert "Intel(R) Xeon(R) Platinum 8480+" in text and "NVIDIA H100" in text
    assert "Medians over 2 run(s)" in text
    assert "estimate" in text and "not a measurement" in text
    cpu_only = sweep_views.caption(sweep_views.subset(agg, device="cpu"), energy=False)
    assert "GPU" not in cpu_only and "Energy" not in cpu_only
    assert sweep_views.clip_sources(sweep) == [FAKE_CLIP_SOURCE]


def test_leaderboard_has_one_row_per_configuration_best_wer_first(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = sweep_views.aggregate(ok)
    board = sweep_views.leaderboard(agg)
    assert list(board.columns) == list(sweep_views.LEADERBOARD.values())
    assert len(board) == len(agg) == len(ok.drop_duplicates(sweep_table.CELL_KEYS))
    wer = board["WER (%)"].dropna()
    assert wer.is_monotonic_increasing and wer.iloc[0] == pytest.approx(100 * agg["wer"].min())
    assert board["WER (%)"].isna().sum() == agg["wer"].isna().sum()  # synthetic runs last, not dropped
    row = board.iloc[-1]
    keys = {"runtime": "runtime", "weights": "weights", "precision": "precision", "device": "device",
            "batch_size": "batch", "bucket": "clips"}
    match = agg[(agg["model"] == row["model"]) & np.logical_and.reduce([agg[k] == row[h] for k, h in keys.items()])]
    assert len(match) == 1
    match = match.iloc[0]
    assert row["peak memory (MiB)"] == pytest.approx(match["peak_memory_bytes"] / 2**20)
    assert row["energy source"] == match["energy_source"] and row["runs"] == match["n_runs"]


def test_published_points_belong_to_each_checkpoint_and_never_change_measured_wer(sweep):
    from asr_core import published
    table = published.load()
    points = sweep_views.published_points(table, ["openai/whisper-tiny", "openai/whisper-tiny.en"])
    tiny = points[points["model"] == "openai/whisper-tiny"]
    assert sorted(tiny["wer_pct"]) == [7.6, 22.0]  # the paper and the study: tiny's own, not tiny.en's
    assert set(points["series"]) == {"openai/whisper-tiny (published)", "openai/whisper-tiny.en (published)"}
    before = sweep_views.aggregate(sweep, keys=sweep_table.WER_KEYS)["wer"].fillna(-1).tolist()
    chart = charts.wer_with_published(sweep_views.aggregate(sweep, keys=sweep_table.WER_KEYS), points, "WER", ["5s"])
    assert sweep_views.aggregate(sweep, keys=sweep_table.WER_KEYS)["wer"].fillna(-1).tolist() == before
    spec = chart.to_dict()
    assert spec["layer"][-1]["mark"]["shape"] == "diamond" and spec["layer"][-1]["mark"]["filled"] is False
    assert sweep_views.published_caption(points).startswith("Hollow diamonds are published WER on full test sets "
                                                         "(published: 2025 profiling study")
    assert sweep_views.published_caption(points.iloc[:0]) == ""


def test_filter_values_read_as_words():
    assert sweep_views.value_label("host")("") == "not recorded" and sweep_views.value_label("host")("vm") == "vm"
    assert sweep_views.value_label("batch_size")(8) == "8"
