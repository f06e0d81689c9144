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
    assert list(ready) == ["tiny vs small", compare.FP32_VS_INT8, compare.BATCH_1_VS_8]  # no GPU: no CPU vs GPU
    small, large = ready["tiny vs small"]
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
    assert gpu["tiny vs large-v3-turbo"][1].model_id == "openai/whisper-large-v3-turbo"


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


def test_models_are_named_by_size():
    assert [compare.size_of(m) for m in (TINY, LOCAL, "openai/whisper-large-v3-turbo", "facebook/wav2vec2-base-960h",
                                         "openai/whisper-small.en")] == ["tiny", "tiny", "large-v3-turbo",
                                                                         "wav2vec2-base", "small"]
    assert compare.size_vs(TINY, "openai/whisper-medium") == "tiny vs medium"


def test_a_ready_comparisons_help_says_it_runs_rounds_in_turn():
    rows = compare.ready_comparisons(TINY, "cpu", lambda m: "synthetic", gpu=False)[compare.BATCH_1_VS_8]
    assert f"{compare.READY_ROUNDS} rounds, the rows in turn" in compare.ready_help(rows)


def test_headline_figures_for_class_mode():
    shown = figures.result_figures(_result())
    assert [f.label for f in compare.headline(shown)] == ["WER"]  # time and energy: the hour's figures stand for them


def _rounds(latencies: list[float], **kw) -> list[Result]:
    return [_result(latency=x, **kw) for x in latencies]


def test_a_difference_beyond_the_ranges_is_named_with_its_ratio():
    shown = compare.by_configuration([*_rounds([1.0, 1.2, 1.1]), *_rounds([0.3, 0.25, 0.35], batch_size=8)], 3)
    assert compare.short_names(shown) == ["batch 1", "batch 8"]
    assert compare.verdict(shown) == ("batch 8 was 3.7× as fast as batch 1 per clip (median over 3 rounds; the ranges "
                                      "do not overlap, so the difference is beyond this machine's noise).")


def test_overlapping_ranges_are_within_noise():
    shown = compare.by_configuration([*_rounds([1.0, 1.4, 1.1]), *_rounds([1.2, 0.9, 1.3], runtime=CTRANSLATE2)], 3)
    assert "within this machine's noise" in compare.verdict(shown)
    assert compare.verdict(shown[:1]) == "" and compare.verdict(compare.by_configuration(_rounds([1.0]))) == ""


def test_models_compared_are_named_by_size_in_the_verdict():
    shown = compare.by_configuration([*_rounds([1.0, 1.1], model=LOCAL, weights="pretrained"),
                                      *_rounds([4.0, 4.4], model="openai/whisper-small")], 2)
    assert compare.short_names(shown) == ["tiny (pretrained)", "small (synthetic)"]
    assert compare.verdict(shown).startswith("tiny (pretrained) was 4× as fast as small (synthetic)")


def test_a_stopped_run_says_how_far_it_got():
    done = _result()
    stopped = _result(status="cancelled", n_clips=0, error="Stopped during the warm-up: nothing measured for m.")
    shown, = compare.by_configuration([done, stopped], rounds=3)
    assert compare.stopped_text(shown) == "Stopped after 1 of 3 runs: the figures are from the run that finished."
    partial = _result(status="cancelled", n_clips=1, notes="stopped after 1 of 3 batches: figures cover the first 1 "
                                                          "of 3 clips (time and energy include …)")
    assert compare.stopped_text(compare.by_configuration([partial])[0]).startswith("Stopped after 1 of 3 batches")
    assert compare.stopped_text(compare.by_configuration([done])[0]) == ""


def test_the_busy_machine_warning_is_said_once_for_the_busiest_run():
    calm, busy = _result(cpu_others_during_pct=5.0), _result(cpu_others_during_pct=61.0, batch_size=8)
    text = compare.load_warning(compare.by_configuration([calm, busy, calm]))
    assert text.startswith("Other programs kept 61 % of the CPU busy during these 3 runs")
    assert compare.load_warning(compare.by_configuration([calm])) == ""


def test_a_synthetic_run_shows_its_checkpoints_published_wer_labelled_published():
    from asr_core import published
    table = published.load()
    fig = compare.published_wer(table, _result(model="openai/whisper-small"))
    row = published.row_for(table, "openai/whisper-small", compare.PUBLISHED_BENCHMARK)
    assert fig.label == "WER (published)" and fig.value == f"{100 * row['wer']:.1f} %"
    assert "Published, not measured here" in fig.help
    assert compare.published_wer(table, _result(weights="pretrained")) is None  # its own WER is measured
    figs = figures.result_figures(_result(model="openai/whisper-small"), published_wer=fig)
    assert [f.label for f in compare.headline(figs)] == ["WER (published)"]


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


def test_a_clip_between_the_sweeps_lengths_is_told_why_no_sweep_figure_shows():
    between = _result(bucket="", audio_s=8.5)
    text = compare.sweep_caption(None, between)
    assert "3–7 s, 10–20 s" in text and "this 8.5 s clip falls between those lengths" in text
    assert compare.sweep_caption(None, _result()) == ""  # in a bucket: the sweep simply has no such configuration


def test_a_figure_with_no_value_gets_no_sweep_figure_beneath(medians):
    mic = _result(weights="pretrained", wer=math.nan)  # a microphone clip: no reference, no WER
    row = dict(compare.sweep_row(medians, _result()), wer=0.04)
    figs = {f.label: f for f in compare.with_sweep(figures.result_figures(mic), row)}
    assert figs["WER"].value == "—" and figs["WER"].sweep == ""  # no sweep WER sitting under a missing one
    assert figs["Latency per clip"].sweep
    assert compare.sweep_row(compare.sweep_medians(fake_sweep().iloc[0:0]), _result()) is None


def test_a_local_checkpoint_matches_the_sweep_by_its_folder_name():
    sweep = fake_sweep().replace({"model": {TINY: "../shared/models/whisper-tiny"}})
    medians = compare.sweep_medians(sweep_table.validate(sweep, "fake.parquet"))
    assert compare.sweep_row(medians, _result(model="/elsewhere/whisper-tiny")) is not None
