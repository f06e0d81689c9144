"""Use cases for the Recommend page: a use case from its widgets, candidates as chart points and a table."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from asr_app import share, sweep_views, use_cases
from asr_core import sweep_table
from asr_core.recommend import USE_CASES, recommend
from fakes import fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def test_custom_use_case_and_objective_cost():
    preset = USE_CASES["Short voice commands"]
    same = use_cases.custom_use_case(preset, device="cpu", buckets=["5s"], batch_sizes=[1], objective="latency",
                                   max_latency_per_utt_s=1.0, max_rtf=None, max_memory_mib=None,
                                   max_energy_per_audio_s_j=None)
    assert same == preset
    custom = use_cases.custom_use_case(preset, device=None, buckets=[], batch_sizes=[], objective="wer",
                                     max_latency_per_utt_s=None, max_rtf=0.5, max_memory_mib=512,
                                     max_energy_per_audio_s_j=None)
    assert custom.name.endswith("(custom)") and custom.max_peak_memory_bytes == 512 * 2**20
    assert use_cases.objective_cost(custom) == "latency_per_utt_s"  # tie-break is latency
    assert use_cases.objective_cost(USE_CASES["Edge devices"]) == "energy_per_audio_s_j"


def test_recommend_points_mark_the_pick_and_the_front(sweep):
    rows = sweep_views.subset(sweep, weights="pretrained")
    rec = recommend(rows, USE_CASES["Offline lectures"])
    cost = use_cases.objective_cost(rec.use_case)
    points = use_cases.recommend_points(rec, rows, cost)
    assert points["pick"].sum() == 1
    assert points.loc[points["pick"], "model"].item() == rec.pick["model"]
    assert points["pareto"].sum() == len(rec.pareto)
    assert (points["cpu_name"] != "").all()
    table = use_cases.candidates_table(rec.candidates)
    assert list(table.columns) == list(use_cases.CANDIDATE_COLUMNS.values())
    assert table["WER (%)"].iloc[0] == pytest.approx(100 * rec.pick["wer"])
    assert use_cases.readable(rec.reason, rows["model"]) == rec.reason  # registry ids are shown as they are


def test_a_local_model_is_named_by_its_folder_in_the_pick_and_the_table(sweep):
    path = "../shared/models/whisper-tiny"
    rows = sweep_views.subset(sweep.replace({"model": {"openai/whisper-tiny": path}}), weights="pretrained")
    rec = recommend(rows, USE_CASES["Short voice commands"])
    assert rec.pick["model"] == path and path in rec.reason
    text = use_cases.readable(rec.reason, rows["model"])
    assert text.startswith("whisper-tiny (local) (") and "shared" not in text
    nothing = recommend(rows, dataclasses.replace(USE_CASES["Short voice commands"], max_latency_per_utt_s=1e-6))
    assert nothing.pick is None and path in nothing.reason
    assert "shared" not in use_cases.readable(nothing.reason, rows["model"])
    table = use_cases.candidates_table(rec.candidates)
    assert table["model"].iloc[0] == "whisper-tiny (local)" and not table["model"].str.contains("shared").any()


# --- share links: asr_app/share.py (the values a use case starts the widgets from) ---------------------

SHARE_OPTIONS = {"device": ["cpu", "cuda"], "bucket": ["5s", "15s", "30s", "60s"], "batch_size": [1, 8]}


def test_a_use_case_starts_from_its_own_constraints():
    values = share.use_case_values(USE_CASES["Short voice commands"], SHARE_OPTIONS)
    assert values[share.DEVICE] == "cpu" and values[share.BUCKETS] == ["5s"] and values[share.BATCHES] == [1]
    assert values[share.OBJECTIVE] == "latency"
    assert values["max_latency"] == 1.0 and values[share.limit_switch("max_latency")] is True
    assert values["max_rtf"] is None and values[share.limit_switch("max_rtf")] is False


def test_memory_is_in_mib_and_values_the_data_lacks_are_left_out():
    edge = share.use_case_values(USE_CASES["Edge devices"], {"device": ["cuda"], "bucket": [], "batch_size": []})
    assert edge["max_memory_mib"] == pytest.approx(1024.0) and edge["max_energy"] == 5.0
    assert edge[share.DEVICE] == share.ANY  # the preset's cpu is not in this data
    lectures = share.use_case_values(USE_CASES["Offline lectures"], {"bucket": ["30s"]})
    assert lectures[share.BUCKETS] == ["30s"] and lectures[share.BATCHES] == []


def test_a_limit_applies_only_when_switched_on_and_filled():
    assert share.chosen_limit(True, 0.5) == 0.5
    assert share.chosen_limit(False, 0.5) is None
    assert share.chosen_limit(True, None) is None


def test_every_parameter_is_named_once():
    names = [*share.FILTERS.values(), share.TAB, share.SIZE, share.COST, share.TRADEOFF_CLIPS, share.BATCH_CLIPS,
             share.STAGE_CLIPS, share.USE_CASE, share.DEVICE, share.BUCKETS, share.BATCHES, share.OBJECTIVE,
             share.PRETRAINED, *share.LIMITS.values(), *map(share.limit_switch, share.LIMITS.values())]
    assert len(names) == len(set(names))
