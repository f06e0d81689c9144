"""Formatting for the app: units, and energy never shown without its source."""
from __future__ import annotations

import math

import pytest

from asr_app import present
from asr_core.energy import MeterInfo


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
