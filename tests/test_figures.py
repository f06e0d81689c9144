"""What a run shows: headline figures per clip with batch totals and energy sources, the status line, the
short-clip note."""
from __future__ import annotations

import math

from asr_app import figures
from fakes import result

TINY = "openai/whisper-tiny"


def test_result_figures_say_estimate_and_explain_missing_wer():
    figs = {f.label: f for f in figures.result_figures(result())}
    assert figs["WER"].value == "12.5 %" and figs["Energy per clip (estimate)"].value == "40 J"
    assert "not a measurement" in figs["Energy per clip (estimate)"].help
    assert figs["WER"].help == figures.WER_HELP and figs["CER"].help == figures.CER_HELP
    assert figs["Energy per audio second (estimate)"].value == "20 J"
    assert figs["FLOPs per clip"].value == "27 GFLOP"
    synthetic = {f.label: f for f in figures.result_figures(result(weights="synthetic", wer=math.nan))}
    assert synthetic["WER"].value == "—" and synthetic["WER"].help == figures.SYNTHETIC_NOTE
    measured = {f.label for f in figures.result_figures(result(energy_source="nvml_counter+rapl"))}
    assert "Energy per clip (measured: nvml_counter+rapl)" in measured


def test_headline_figures_are_per_clip_with_the_batch_totals_beside_them():
    r = result(batch_size=4, n_clips=4, audio_s=8.0, latency_s=2.0, latency_per_utt_s=0.5, energy_j=40.0,
                energy_per_utt_j=10.0, total_flops=1.2e11)
    figs = {f.label: f for f in figures.result_figures(r)}
    assert figs["Latency per clip"].value == "0.5 s" and figs["Latency per clip"].help.startswith("2 s for the whole batch of 4")
    assert figs["Energy per clip (estimate)"].value == "10 J" and figs["Energy per clip (estimate)"].help.startswith("40 J")
    assert figs["FLOPs per clip"].value == "30 GFLOP"
    assert figures.batch_totals(r) == "Whole batch of 4 clips: 2 s, 40 J (estimate)."
    assert figures.batch_totals(result()) == ""  # one clip: the headline is the total


def test_memory_figure_is_the_runs_own_and_says_what_it_counts():
    cpu = {f.label: f for f in figures.result_figures(result(model_bytes=150 * 2**20, rss_before_bytes=700 * 2**20))}
    assert cpu["Memory (weights + working)"].value == "250 MiB"  # 150 MiB weights + (800 - 700) MiB increase
    assert "resident-memory increase" in cpu["Memory (weights + working)"].help
    gpu = {f.label: f for f in figures.result_figures(result(device="cuda", peak_gpu_allocated_bytes=3 * 2**30,
                                                           peak_gpu_reserved_bytes=4 * 2**30))}
    assert gpu["GPU memory (allocator peak)"].value == "3.00 GiB"


def test_the_machines_load_is_shown():
    figs = {f.label: f for f in figures.result_figures(result(cpu_others_before_pct=2.0, cpu_others_during_pct=31.0))}
    assert figs["Other programs' CPU load"].value == "2 % before · 31 % during"


def test_progress_text_follows_the_phases():
    from asr_core.measure import Progress
    assert figures.progress_text(None, "m") == "Starting m…"
    assert figures.progress_text(Progress("compiling", 0, 2, 0.1), "m") == "m: Warming up…"  # eager: nothing to compile
    assert figures.progress_text(Progress("compiling", 0, 2, 0.1), "m", compiles=True).startswith("m: Compiling")
    assert figures.progress_text(Progress("warming up", 0, 2, 0.1), "m") == "m: Warming up…"
    assert figures.progress_text(Progress("measuring", 0, 1, 2.0, 3.2), "m") == "m: measuring batch 1 of 1, about 4 s left"
    assert figures.progress_text(Progress("measuring", 1, 3, 2.0, math.nan), "m") == "m: measuring batch 2 of 3"
    assert figures.progress_text(Progress("measuring", 3, 3, 2.0, 0.0), "m") == "m: measured 3 of 3 batch(es)"


def test_the_flops_figure_says_where_its_count_came_from():
    def flops(**kw):
        return next(f for f in figures.result_figures(result(**kw)) if f.label.startswith("FLOPs"))
    assert flops(flops_source="counted").note == figures.FLOPS_NOTES["counted"]
    assert flops(flops_source="cache").note.startswith("from the FLOP cache")
    pending = next(f for f in figures.result_figures(result(total_flops=math.nan, flops_source="deferred"), True)
                   if f.label.startswith("FLOPs"))
    assert pending.value == figures.COUNTING and "fills in when ready" in pending.help
    skipped = flops(total_flops=math.nan, flops_source="deferred")
    assert skipped.value == "—" and "class mode" in skipped.help
    engine = flops(total_flops=math.nan, flops_source="", runtime="whisper.cpp")
    assert "runs no PyTorch operators" in engine.help


def test_short_clips_on_whisper_get_a_note():
    assert "pads every clip to 30 s" in figures.short_clip_note([TINY], 0.6)
    assert figures.short_clip_note([TINY], 1.5) == ""
    assert figures.short_clip_note(["facebook/wav2vec2-base-960h"], 0.6) == ""
    assert figures.short_clip_note(["/no/such/model"], 0.6) == ""
