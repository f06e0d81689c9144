"""Explore's CPU vs GPU view: projected, measured and published points in one frame, each labelled with its kind,
projected ones with the validation error the fit saw; published figures matched to the exact checkpoint."""
from __future__ import annotations

import pandas as pd
import pytest

from asr_app import hardware_view as hv
from asr_core import costmodel, hourly, published
from asr_core.sweep_table import aggregate, validate
from fakes import fake_sweep

MODELS = ("openai/whisper-tiny", "facebook/wav2vec2-base-960h")
COSTS = hourly.CostSettings()  # time and energy only


@pytest.fixture(scope="module")
def model():
    return costmodel.load_hardware(), costmodel.load_fit()


def test_devices_offered_are_those_with_a_peak_this_cpu_first(model):
    table, _ = model
    offered = hv.device_options(table)
    assert list(offered)[0] == costmodel.THIS_CPU and "T4" in offered
    assert "A10G" not in offered  # the table has its bandwidth but no peak: nothing to project with
    assert hv.precision_for(table["T4"], hv.AUTO) == "fp16" and hv.precision_for(table["this-cpu"], hv.AUTO) == "fp32"


def test_projected_points_are_labelled_and_carry_the_validation_error(model):
    table, fit = model
    rows, refused = hv.projected(MODELS, ["this-cpu", "T4"], 1, "30s", "transformers", hv.AUTO, fit, table)
    assert refused == [] and len(rows) == 4
    points = hv.projected_points(rows, COSTS, fit, table)
    assert set(points["kind"]) == {"projected"} and set(points["energy_kind"]) == {"projected"}
    t4 = points[points["device_id"] == "T4"].iloc[0]
    assert t4["minutes_per_audio_h"] == pytest.approx(60 * rows[rows["hardware_id"] == "T4"].iloc[0]["rtf"])
    assert t4["validation_error"] == "unknown: no measured or published transformers figure on a GPU to check it against"
    cpu = points[points["device_id"] == "this-cpu"].iloc[0]
    assert cpu["validation_error"].endswith("worst against held-out measured CPU cells") and "median" in cpu["validation_error"]
    bf16 = hv.projected(MODELS[:1], ["T4"], 1, "30s", "transformers", "bf16", fit, table)
    assert bf16[0].empty and "NVIDIA T4" in bf16[1][0] and "bf16" in bf16[1][0]  # refused, in one sentence


def test_measured_points_are_the_sweeps_clean_cpu_cells_of_the_setting():
    cells = aggregate(validate(fake_sweep(), "fake.parquet"))
    chosen = hv.measured_cells(cells, "transformers", 8, "30s")
    assert set(chosen["device"]) == {"cpu"} and set(chosen["batch_size"]) == {8} and set(chosen["bucket"]) == {"30s"}
    points = hv.measured_points(chosen, COSTS)
    assert set(points["kind"]) == {"measured"} and set(points["energy_kind"]) == {"estimate"}
    assert set(points["device"]) == {"Intel(R) Xeon(R) Platinum 8480+ (measured)"}


def test_published_points_match_the_checkpoint_and_read_energy_per_audio_second(model):
    table, _ = model
    costs = published.load_costs()
    points = hv.published_points(costs, ["openai/whisper-tiny"], ["Jetson-Orin-Nano", "A100-80GB"], table, COSTS)
    assert set(points["kind"]) == {"published"} and set(points["model"]) == {"openai/whisper-tiny"}  # not tiny.en's
    fp16 = points[points["precision"] == "fp16"].iloc[0]
    assert fp16["minutes_per_audio_h"] == pytest.approx(60 / 5.0)  # RTFx 5.0
    assert fp16["wh_per_audio_h"] == pytest.approx(65 / 328.3)  # 65 J over 328.3 s of audio: J/s = Wh/h
    assert fp16["device"] == "Jetson-Orin-Nano"  # beside its projection on the x axis
    assert fp16["device_name"] == table["Jetson-Orin-Nano"].name
    speed_only = hv.published_points(costs, ["openai/whisper-large-v3-turbo"], ["A100-80GB"], table, COSTS)
    assert len(speed_only) and speed_only["wh_per_audio_h"].isna().all()  # no published energy: none guessed
    assert set(speed_only["energy_kind"]) == {"no figure"}


def test_one_frame_one_order_and_an_export_that_names_every_kind(model):
    table, fit = model
    rows, _ = hv.projected(MODELS, ["T4"], 1, "30s", "transformers", hv.AUTO, fit, table)
    cells = aggregate(validate(fake_sweep(), "fake.parquet"))
    frame = hv.points(hv.measured_points(hv.measured_cells(cells, "transformers", 1, "30s"), COSTS),
                      hv.projected_points(rows, COSTS, fit, table), pd.DataFrame(columns=hv.COLUMNS))
    assert list(frame["kind"].unique()) == ["measured", "projected"]
    assert hv.device_order(frame, ["T4"]) == ["Intel(R) Xeon(R) Platinum 8480+ (measured)", "T4"]
    out = hv.export(frame)
    projected = out[out["kind"] == "projected"]
    assert set(projected["minutes_per_audio_h_kind"]) == {"projected"} == set(projected["wh_per_audio_h_kind"])
    stages = hv.stage_minutes(rows, hv.measured_cells(cells, "transformers", 1, "30s"), "T4")
    assert all(label.endswith("(projected)") for label in stages["label"])  # one kind per stage chart
    assert "CTC head" in set(stages["stage"])  # wav2vec2's head, not a decoder
    t4 = rows[(rows["hardware_id"] == "T4") & (rows["model"] == "openai/whisper-tiny")].iloc[0]
    tiny = stages[stages["label"] == "openai/whisper-tiny (projected)"].set_index("stage")["seconds"]
    assert tiny["encoder"] == pytest.approx(t4["encoder_s"] * 60 / t4["audio_s"])  # minutes per hour of audio
    measured = hv.stage_minutes(rows, hv.measured_cells(cells, "transformers", 1, "30s"), "CPU (measured)")
    assert len(measured) and all(label.endswith("(measured)") for label in measured["label"])
    lines = hv.validation_lines(fit, ["T4", "this-cpu"], "transformers", table)
    assert len(lines) == 2 and all(line.startswith("Projected on ") for line in lines)
    assert frame["minutes_per_audio_h"].notna().all()
    measured = out[out["kind"] == "measured"].iloc[0]
    assert (measured["minutes_per_audio_h_kind"], measured["wh_per_audio_h_kind"]) == ("measured", "estimate")
