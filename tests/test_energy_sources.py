"""Energy source names: a total's parts, and an aggregate's list of totals, read back as parts."""
from __future__ import annotations

from asr_core.energy_sources import ENERGY_SOURCES, MEASURED_SOURCES, source_parts


def test_parts_of_a_total_and_of_an_aggregate():
    assert source_parts("nvml_counter+estimate") == ["nvml_counter", "estimate"]
    assert source_parts("rapl, estimate") == ["rapl", "estimate"]
    assert source_parts("") == [] and source_parts(None) == []
    assert set(MEASURED_SOURCES) < set(ENERGY_SOURCES) and "estimate" not in MEASURED_SOURCES
