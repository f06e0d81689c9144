"""The projected H100 line under a run's figures: the cost model's projection for the same model, runtime, batch and
clip length, fp16 where the run was fp32 on the CPU, labelled projected in its words and in the exported record."""
from __future__ import annotations

import math

from asr_app import history, projected
from asr_core import costmodel
from fakes import result


def test_the_line_says_projected_and_which_precision():
    r = result(audio_s=9.9, n_clips=1, batch_size=1)
    line = projected.h100_line(r)
    assert line.text.startswith("On an H100 (projected, in fp16 where this run used fp32 on the CPU): ~")
    assert line.text.endswith("per clip") and line.precision == "fp16"
    p = costmodel.project("openai/whisper-tiny", projected.TARGET, "fp16", 1, "15s", clip_s=9.9, n_clips=1)
    assert line.latency_per_clip_s == p.latency_per_clip_s and line.energy_per_clip_j == p.energy_j
    assert "not measured" in line.how and "Validation error seen: " + p.validation_error in line.how
    assert "PROJECTED" in line.how  # the cost model's own report


def test_a_batch_is_projected_as_run():
    line = projected.h100_line(result(batch_size=8, n_clips=8, audio_s=16.0, runtime="ctranslate2", precision="int8"))
    p = costmodel.project("openai/whisper-tiny", projected.TARGET, "int8", 8, "5s", "ctranslate2", clip_s=2.0,
                          n_clips=8)
    assert "in fp16" not in line.text and line.latency_per_clip_s == p.latency_per_clip_s


def test_no_line_for_a_run_that_did_not_finish_or_cannot_be_projected():
    assert projected.h100_line(result(status="error", n_clips=0)) is None
    assert projected.h100_line(result(model="/no/such/checkpoint")) is None


def test_the_exported_record_keeps_projected_figures_apart_and_labelled():
    table = history.runs_table([("clip", result())])
    row = table.iloc[0]
    assert row["projected_h100_kind"] == "projected" and "not measured" in row["projected_h100_note"]
    assert row["projected_h100_latency_per_clip_s"] > 0 and row["latency_per_utt_s"] == 1.0  # the measured one stays
    failed = history.runs_table([("clip", result(status="error", n_clips=0))]).iloc[0]
    assert failed["projected_h100_kind"] == "" and math.isnan(failed["projected_h100_latency_per_clip_s"])
