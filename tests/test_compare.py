"""Comparisons: class mode's ready comparisons, repeated runs' median and spread, the session's runs side by
side, and the precomputed sweep's median beside a live figure."""
from __future__ import annotations

import dataclasses
import math

import pytest

from asr_app import choices, compare, figures
from asr_core import sweep_table
from asr_core.models import CTRANSLATE2, TRANSFORMERS
from asr_core.results import Result
from fakes import fake_sweep, result

TINY = "openai/whisper-tiny"
LOCAL = "/somewhere/models/whisper-tiny.en"


def _result(latency: float = 1.0, energy: float = 10.0, **kw) -> Result:
    """A synthetic run on one 5 s clip (a configuration the fake sweep has) taking latency s and energy J."""
    return result(**{**dict(weights="synthetic", audio_s=5.0, bucket="5s", latency_s=latency, latency_per_utt_s=latency,
                            rtf=latency / 5, energy_j=energy, energy_per_utt_j=energy,
                            energy_per_audio_s_j=energy / 5, wer=math.nan, cer=math.nan), **kw})


# --- ready comparisons ---------------------------------------------------------------------------------

def test_ready_comparisons_fill_in_rows_that_differ_in_one_thing():
    weights = {LOCAL: "pretrained"}
    ready = compare.ready_comparisons(LOCAL, "cpu", lambda m: weights.get(m, "synthetic"), gpu=False)
    assert list(ready) == [compare.SMALL_VS_LARGE, compare.FP32_VS_INT8, compare.BATCH_1_VS_8]  # no GPU: no CPU vs GPU
    small, large = ready[compare.SMALL_VS_LARGE]
    assert (small.model_id, small.weights) == (LOCAL, "pretrained")
    assert (large.model_id, large.weights) == ("openai/whisper-small", "synthetic")  # its weights cannot be had
    fp32, int8 = ready[compare.FP32_VS_INT8]
    assert (fp32.precision, fp32.runtime, int8.precision, int8.runtime) == ("fp32", CTRANSLATE2, "int8", CTRANSLATE2)
    assert [r.batch_size for r in ready[compare.BATCH_1_VS_8]] == [1, 8]
    for rows in ready.values():
        assert len(set(rows)) == 2 and all(r.device == "cpu" for r in rows)
    gpu = compare.ready_comparisons(LOCAL, "cuda", lambda m: "pretrained", gpu=True)
    cpu_row, gpu_row = gpu[compare.CPU_VS_GPU]
    assert (cpu_row.device, cpu_row.precision, gpu_row.device, gpu_row.precision) == ("cpu", "fp32", "cuda", "fp16")
    assert gpu[compare.SMALL_VS_LARGE][1].model_id == "openai/whisper-large-v3-turbo"


def test_a_ready_comparison_runs_here_without_a_gpu(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ready = compare.ready_comparisons(TINY, "cpu", lambda m: "synthetic", gpu=False)
    assert {name: choices.rows_problems(rows) for name, rows in ready.items()} == dict.fromkeys(ready, [])
    assert compare.rows_text(ready[compare.BATCH_1_VS_8]).count(" vs ") == 1


# --- repeated runs ---------------------------------------------------------------------------------

def test_repeated_runs_show_the_median_run_and_the_spread():
    a = [_result(latency=x, energy=10 * x) for x in (1.0, 3.0, 2.0)]
    b = _result(latency=0.5, energy=4.0, runtime=CTRANSLATE2)
    shown = compare.by_configuration([*a, b])
    assert [s.label for s in shown] == ["openai/whisper-tiny · transformers", "openai/whisper-tiny · ctranslate2"]
    assert shown[0].result.latency_per_utt_s == 2.0 and len(shown[0].runs) == 3
    assert shown[1].result is b
    text = compare.spread_text(shown[0].runs)
    assert text == ("Over 3 runs: latency per clip median 2 s (1–3 s); energy per clip median 20 J (10–30 J, "
                    "estimate).")
    assert compare.spread_text([b]) == ""  # one run: no spread to show
    failed = dataclasses.replace(a[0], status="error", latency_per_utt_s=math.nan)
    assert compare.spread_text([failed, a[1]]) == ""  # only finished runs count


def test_headline_figures_for_class_mode():
    shown = figures.result_figures(_result())
    assert [f.label for f in compare.headline(shown)] == ["WER", "Latency per clip", "Energy per clip (estimate)"]


# --- the session's runs ---------------------------------------------------------------------------------

def test_session_frame_numbers_runs_and_names_what_differs_and_the_energy_source():
    runs = [("clip", _result(latency=1.0)), ("clip", _result(status="error")),
            ("clip", _result(latency=0.4, batch_size=8, energy_source="rapl"))]
    frame = compare.session_frame(runs)
    assert list(frame["run"]) == ["1. openai/whisper-tiny · batch 1", "3. openai/whisper-tiny · batch 8"]
    assert list(frame["latency_per_utt_s"]) == [1.0, 0.4]
    assert list(frame["energy_source"]) == ["estimate", "measured: rapl"]
    assert compare.session_frame([]).empty


# --- the precomputed sweep beside live figures ------------------------------------------------------------

@pytest.fixture(scope="module")
def medians():
    return compare.sweep_medians(sweep_table.validate(fake_sweep(), "fake.parquet"))


def test_a_live_figure_shows_what_the_sweep_measured_for_the_same_configuration(medians):
    r = _result()  # synthetic tiny on cpu fp32, batch 1, transformers, 5 s clips: in the fake sweep
    row = compare.sweep_row(medians, dataclasses.replace(r, runtime=TRANSFORMERS))
    assert row is not None and row["n_runs"] == 2
    figs = {f.label: f for f in compare.with_sweep(figures.result_figures(r), row)}
    latency = figs["Latency per clip"].sweep
    assert latency == f"the precomputed sweep measured {row['latency_per_utt_s']:.3g} s here"
    assert figs["Energy per clip (estimate)"].sweep.endswith("J (estimate) here")  # energy names its source
    assert figs["WER"].sweep == ""  # synthetic weights: the sweep has no WER either
    assert "2 run(s)" in compare.sweep_caption(row) and "(5s)" in compare.sweep_caption(row)


def test_no_sweep_figure_for_another_configuration(medians):
    for other in (dict(batch_size=4), dict(bucket="60s", batch_size=16), dict(precision="bf16"),
                  dict(snr_db=10.0, noise="white"), dict(status="error")):
        assert compare.sweep_row(medians, _result(**other)) is None, other
    figs = figures.result_figures(_result())
    assert compare.with_sweep(figs, None) == figs
    assert compare.sweep_caption(None) == ""
    assert compare.sweep_row(compare.sweep_medians(fake_sweep().iloc[0:0]), _result()) is None


def test_a_local_checkpoint_matches_the_sweep_by_its_folder_name():
    sweep = fake_sweep().replace({"model": {TINY: "../shared/models/whisper-tiny"}})
    medians = compare.sweep_medians(sweep_table.validate(sweep, "fake.parquet"))
    assert compare.sweep_row(medians, _result(model="/elsewhere/whisper-tiny")) is not None
