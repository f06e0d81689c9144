"""Recommend's GPU answers: devices nobody measured are offered as projected, answered from the cost model's
projections, and mixed with measured runs only when asked."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from asr_app import projected_picks as pp
from asr_core import costmodel, hourly, published
from asr_core.recommend import LIVE_CAPTIONS, OFFLINE_LECTURES
from asr_core.sweep_table import validate
from fakes import fake_sweep


@pytest.fixture(scope="module")
def model():
    return costmodel.load_hardware(), costmodel.load_fit()


@pytest.fixture(scope="module")
def cpu_rows():
    rows = validate(fake_sweep(), "fake.parquet")
    return rows[(rows["device"] == "cpu") & (rows["status"] == "ok")].assign(snr_db=math.inf)


def test_device_choices_offer_unmeasured_gpus_as_projected(model):
    table, _ = model
    choices = pp.device_choices(["cpu"], table)
    assert list(choices)[:2] == ["any", "cpu"] and choices["T4"] == "T4 (projected)"
    assert "this-cpu" not in choices and "A10G" not in choices  # not a GPU; no peak to project with
    assert pp.is_projected("T4", ["cpu"], table) and not pp.is_projected("cpu", ["cpu"], table)


def test_a_gpu_use_case_is_answered_from_projections(model, cpu_rows):
    table, fit = model
    rows, mixed = pp.candidate_rows(cpu_rows, "T4", OFFLINE_LECTURES, False, fit, table)
    assert not mixed and set(rows["device"]) == {"T4"} and set(rows["energy_source"]) == {"projected"}
    assert set(rows["bucket"]) == set(OFFLINE_LECTURES.buckets) and set(rows["precision"]) == {"fp16"}
    same, mixed = pp.candidate_rows(cpu_rows, None, LIVE_CAPTIONS, False, fit, table)
    assert not mixed and same is cpu_rows  # no GPU asked for: the measured rows alone
    both, mixed = pp.candidate_rows(cpu_rows, None, LIVE_CAPTIONS, True, fit, table)
    assert mixed and {"cpu", "T4", "A100-80GB", "H100-SXM"} <= set(both["device"])


def test_notes_beside_a_projected_pick(model):
    table, fit = model
    pick = pd.Series({"model": "openai/whisper-large-v3-turbo", "device": "A100-80GB", "runtime": "transformers",
                      "energy_source": "projected"})
    assert pp.validation_note(pick, fit, table).startswith("Projected on the NVIDIA A100 80GB SXM4; the cost model's "
                                                           "error unknown: ")
    beside = pp.published_beside(pick, published.load_costs(), hourly.CostSettings())
    assert beside.startswith("Published for comparison: openai/whisper-large-v3-turbo ran 200× faster than real time")
    assert "Hugging Face Open ASR Leaderboard" in beside
    measured = pick.copy()
    measured["energy_source"] = "rapl"
    assert pp.validation_note(measured, fit, table) == ""
