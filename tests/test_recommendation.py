"""The Recommend page's logic: use cases from widgets, candidates as chart points and a table."""
from __future__ import annotations

import pandas as pd
import pytest

from asr_app import explore, recommendation
from asr_core import sweep_table
from asr_core.recommend import USE_CASES, recommend
from fakes import fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def test_custom_use_case_and_objective_cost():
    preset = USE_CASES["Short voice commands"]
    same = recommendation.custom_use_case(preset, device="cpu", buckets=["5s"], batch_sizes=[1], objective="latency",
                                   max_latency_per_utt_s=1.0, max_rtf=None, max_memory_mib=None,
                                   max_energy_per_audio_s_j=None)
    assert same == preset
    custom = recommendation.custom_use_case(preset, device=None, buckets=[], batch_sizes=[], objective="wer",
                                     max_latency_per_utt_s=None, max_rtf=0.5, max_memory_mib=512,
                                     max_energy_per_audio_s_j=None)
    assert custom.name.endswith("(custom)") and custom.max_peak_memory_bytes == 512 * 2**20
    assert recommendation.objective_cost(custom) == "latency_per_utt_s"  # tie-break is latency
    assert recommendation.objective_cost(USE_CASES["Edge devices"]) == "energy_per_audio_s_j"


def test_recommend_points_mark_the_pick_and_the_front(sweep):
    rows = explore.subset(sweep, weights="pretrained")
    rec = recommend(rows, USE_CASES["Offline lectures"])
    cost = recommendation.objective_cost(rec.use_case)
    points = recommendation.recommend_points(rec, rows, cost)
    assert points["pick"].sum() == 1
    assert points.loc[points["pick"], "model"].item() == rec.pick["model"]
    assert points["pareto"].sum() == len(rec.pareto)
    assert (points["cpu_name"] != "").all()
    table = recommendation.candidates_table(rec.candidates)
    assert list(table.columns) == list(recommendation.CANDIDATE_COLUMNS.values())
    assert table["WER (%)"].iloc[0] == pytest.approx(100 * rec.pick["wer"])
