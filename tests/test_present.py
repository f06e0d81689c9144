"""Formatting for the app: units, and energy never shown without its source."""
from __future__ import annotations

import math

import pytest

from asr_app import present
from asr_core.energy import MeterInfo
from asr_core.results import Result


def test_numbers_units_and_missing_values():
    assert present.number(0.123456, "s") == "0.123 s"
    assert present.number(math.nan, "s") == present.MISSING
    assert present.percent(0.0833) == "8.3 %"
    assert present.bytes_(512 * 2**20) == "512 MiB"
    assert present.bytes_(3 * 2**30) == "3.00 GiB"
    assert present.bytes_(0) == present.MISSING
    assert present.flops(2.5e10) == "25 GFLOP"
    assert present.flops(3.2e12) == "3.2 TFLOP"


@pytest.mark.parametrize("source, tag", [
    ("estimate", "estimate"),
    ("nvml_counter+estimate", "estimate (partly measured: nvml_counter)"),
    ("nvml_counter+rapl", "measured: nvml_counter+rapl"),
    ("rapl", "measured: rapl"),
    ("unavailable", "unavailable"),
    ("", "unavailable"),
])
def test_energy_tag_names_the_source_and_flags_estimates(source, tag):
    assert present.energy_tag(source) == tag
    assert present.is_estimate(source) == ("estimate" in source)


def test_an_energy_value_always_carries_its_source():
    assert present.energy(12.345, "estimate") == "12.3 J (estimate)"
    assert present.energy(math.nan, "estimate") == present.MISSING


def test_explain_sources_covers_every_part_once():
    text = present.explain_sources(["nvml_counter+estimate", "estimate", "rapl"])
    assert text.count("estimate (") == 1 and "not a measurement" in text
    assert text.count("estimate") == 1  # said once: not "estimate (estimate: ...)"
    assert "nvml_counter" in text and "rapl" in text
    assert present.explain_sources([]) == "Energy: not available."


def test_hardware_caption_lists_distinct_names():
    assert present.hardware(["Xeon", "Xeon", ""], ["H100", None]) == "Measured on: CPU Xeon; GPU H100."
    assert present.hardware([], []) == "Measured on: unknown hardware."


def test_tables_for_the_home_page():
    hw = present.hardware_table({"cpu": "EPYC", "gpu": "", "cuda_available": False})
    assert hw["value"].tolist() == ["EPYC", "none found", "False"]
    meters = present.meter_table([MeterInfo("RAPL", False, "no powercap"), MeterInfo("CPU estimate", True, detail="85 W")])
    assert meters["works"].tolist() == ["no", "yes"]
    assert meters.iloc[:, 2].tolist() == ["no powercap", "85 W"]


def _run(**over) -> Result:
    base = dict(model="tiny.en", family="whisper", weights="pretrained", device="cpu", precision="fp32", n_clips=1,
                n_batches=1, batch_size=1, audio_s=7.0, latency_s=0.6, latency_per_utt_s=0.6, energy_j=30.0,
                energy_per_utt_j=30.0, energy_source="estimate", wer=0.05)
    return Result(**{**base, **over})


def test_summary_says_what_the_run_did_in_one_plain_sentence():
    assert present.summary(_run(), "tiny.en") == (
        "tiny.en transcribed 7 s of speech in 0.6 s — 12× faster than real time — using about 30 J (estimate), "
        "roughly what a 30 W laptop draws in 1 s; 1 word in 20 wrong.")
    measured = present.summary(_run(energy_source="rapl", wer=0.0), "m")
    assert "using 30 J (measured: rapl)" in measured and "about" not in measured and measured.endswith("no word wrong.")


def test_summary_claims_only_what_the_result_has():
    batch = present.summary(_run(n_clips=4, audio_s=28.0, latency_s=2.4, energy_per_utt_j=7.5, batch_size=4), "m")
    assert "7 s of speech in 0.6 s (per clip, in a batch of 4)" in batch and "about 7.5 J (estimate)" in batch
    synthetic = present.summary(_run(weights="synthetic", wer=math.nan), "m")
    assert synthetic.endswith("synthetic weights, so this is timing only (no transcript to check).")
    assert "wrong" not in synthetic
    assert present.summary(_run(wer=math.nan), "m").endswith("no reference text, so no count of wrong words.")
    no_energy = present.summary(_run(energy_per_utt_j=math.nan, energy_source="unavailable"), "m")
    assert " J" not in no_energy and "laptop" not in no_energy
    slow = present.summary(_run(latency_per_utt_s=14.0), "m")
    assert "2× slower than real time" in slow
    for latency in (7.3, 6.7):  # RTF 1.04 and 0.96: not "1× slower" nor "1× faster"
        assert "— about as fast as real time —" in present.summary(_run(latency_per_utt_s=latency), "m")
    assert present.summary(_run(n_clips=0, audio_s=0.0), "m") == "m has no finished clip to describe."
    assert "60 % of the words wrong" in present.summary(_run(wer=0.6), "m")


def test_the_busy_machine_warning_for_several_runs():
    assert present.load_warning(2.0, 61.0, runs=6).startswith("Other programs kept 61 % of the CPU busy during "
                                                               "these 6 runs (at the busiest)")


def test_memory_is_the_runs_own():
    cpu, text = present.memory("cpu", 150 * 2**20, 900 * 2**20, 940 * 2**20, 0)
    assert cpu == 190 * 2**20
    assert text == "weights 150 MiB + 40 MiB working memory (resident-memory increase during the run)"
    shrunk, text = present.memory("cpu", 150 * 2**20, 900 * 2**20, 800 * 2**20, 0)
    assert shrunk == 150 * 2**20 and "+ 0 MiB working" in text
    gpu, text = present.memory("cuda", 150 * 2**20, 900 * 2**20, 940 * 2**20, 600 * 2**20)
    assert gpu == 600 * 2**20 and "allocator" in text
    old, text = present.memory("cpu", 0, 0, 940 * 2**20, 0)
    assert old == 940 * 2**20 and "whole app" in text


def test_other_programs_load_and_its_warning():
    assert present.cpu_load(3.4, 41.0) == "3 % before · 41 % during"
    assert present.cpu_load(math.nan, 5.0) == "— before · 5 % during"
    assert present.load_warning(2.0, 10.0) == ""
    assert present.load_warning(2.0, present.BUSY_OTHERS_PCT) == ""
    assert present.load_warning(2.0, 40.0) == ("Other programs kept 40 % of the CPU busy during this run: the figures "
                                               "may be slower than this machine can do.")
    assert present.load_warning(60.0, math.nan).startswith("Other programs kept 60 %")
    assert present.load_warning(math.nan, math.nan) == ""
